/* Better Stack status page "component_update" webhooks (seed 000).
 *
 * The monitor is the component.  Better Stack's status names: `operational`,
 * `degraded` (some regions fail), `downtime` (all do); the page indicator uses
 * the same names with the seed's descriptions.  Header X-BetterUptime-Event
 * names the event, as the seed lists for every request; Better Stack does not
 * sign its webhooks, so signing: default adds nothing (standard still can). */
#include "tocsin/format.h"

#define EVENT "component_update"

struct bs_status {
    const char *name;
    const char *description;
};

static const struct bs_status operational = {"operational", "All systems operational"};
static const struct bs_status degraded = {"degraded", "Some services are degraded"};
static const struct bs_status downtime = {"downtime", "Some services are down"};

static const struct bs_status *current(const struct tocsin_alert *a)
{
    if (a->monitor_status != TOCSIN_STATUS_DOWN)
        return &operational;
    return tocsin_alert_all_regions_down(a) ? &downtime : &degraded;
}

/* Unknown before a first incident shows as operational (what the page showed);
 * before a recovery the component was down. */
static const struct bs_status *previous(const struct tocsin_alert *a)
{
    return a->previous_status == TOCSIN_STATUS_DOWN ? &downtime : &operational;
}

static json_t *build_page(const struct tocsin_webhook_conf *w, const struct bs_status *s)
{
    json_t *o = json_object();
    int err = 0;

    err |= tocsin_format_put(o, "id", tocsin_json_string(w->name));
    err |= tocsin_format_put(o, "status_indicator", json_string(s->name));
    err |= tocsin_format_put(o, "status_description", json_string(s->description));
    return tocsin_format_object(o, err);
}

static json_t *build_component(const struct tocsin_alert *a)
{
    json_t *o = json_object();
    int err = 0;

    err |= tocsin_format_put(o, "id", tocsin_json_string(a->monitor->id));
    err |= tocsin_format_put(o, "name", tocsin_json_string(a->monitor->name));
    err |= tocsin_format_put(o, "status", json_string(current(a)->name));
    err |= tocsin_format_put(o, "previous_status", json_string(previous(a)->name));
    err |= tocsin_format_put(o, "updated_at", tocsin_format_time(a->check_result.timestamp));
    return tocsin_format_object(o, err);
}

static int bs_build_body(const struct tocsin_alert *alert,
                         const struct tocsin_webhook_conf *webhook, char **body, size_t *len)
{
    json_t *root = json_object();
    int err = 0;

    err |= tocsin_format_put(root, "event_type", json_string(EVENT));
    err |= tocsin_format_put(root, "meta", tocsin_format_meta());
    err |= tocsin_format_put(root, "page", build_page(webhook, current(alert)));
    err |= tocsin_format_put(root, "component", build_component(alert));
    return tocsin_format_finish(root, err, body, len);
}

static int bs_sign(const struct tocsin_webhook_conf *webhook, const char *request_id,
                   const char *body, size_t len, struct tocsin_format_headers *out)
{
    (void)webhook;
    (void)request_id;
    (void)body;
    (void)len;
    return tocsin_format_add_header(out, "X-BetterUptime-Event", EVENT);
}

const struct tocsin_format tocsin_format_betterstack = {
    .name = "betterstack",
    /* The seed: 10 s to connect, 30 s to answer, retries after 30 s doubling,
     * up to 10 retries. */
    .default_timeout_ms = 30000,
    .default_connect_timeout_ms = 10000,
    .default_retries = 10,
    .default_retry_backoff_ms = 30000,
    .build_body = bs_build_body,
    .sign = bs_sign,
};
