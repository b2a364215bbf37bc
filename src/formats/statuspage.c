/* Atlassian Statuspage "component_update" webhooks (seed 001).
 *
 * The monitor is the component: its id is the component id, its new status is in
 * both `component.status` and `component_update.new_status`.  Keys follow the
 * seed's order.  Statuspage's own status names: a DOWN monitor is a
 * `partial_outage` while only some of its regions fail and a `major_outage` when
 * all do; the page indicator follows the component (none / major / critical, with
 * Statuspage's descriptions), since the receiver sees one component per alert. */
#include "tocsin/format.h"

#include <inttypes.h>
#include <stdio.h>

struct sp_status {
    const char *component;   /* component.status */
    const char *indicator;   /* page.status_indicator */
    const char *description; /* page.status_description */
};

static const struct sp_status operational = {"operational", "none", "All Systems Operational"};
static const struct sp_status partial = {"partial_outage", "major", "Partial System Outage"};
static const struct sp_status major = {"major_outage", "critical", "Major System Outage"};

static const struct sp_status *new_status(const struct tocsin_alert *a)
{
    if (a->monitor_status != TOCSIN_STATUS_DOWN)
        return &operational;
    return tocsin_alert_all_regions_down(a) ? &major : &partial;
}

/* Before an incident the component was operational (also when tocsin never knew:
 * a status page shows an unknown component as operational).  Before a recovery
 * it was down; how many regions failed then is not carried by the recovery, so it
 * is reported as the major outage the incident began as at worst. */
static const struct sp_status *old_status(const struct tocsin_alert *a)
{
    return a->previous_status == TOCSIN_STATUS_DOWN ? &major : &operational;
}

static json_t *build_page(const struct tocsin_webhook_conf *w, const struct sp_status *s)
{
    json_t *o = json_object();
    int err = 0;

    err |= tocsin_format_put(o, "id", tocsin_json_string(w->name));
    err |= tocsin_format_put(o, "status_indicator", json_string(s->indicator));
    err |= tocsin_format_put(o, "status_description", json_string(s->description));
    return tocsin_format_object(o, err);
}

static json_t *build_update(const struct tocsin_alert *a)
{
    const int64_t ts = a->check_result.timestamp;
    char id[128];
    json_t *o = json_object();
    int err = 0;

    /* One id per update: the component and the check's second. */
    snprintf(id, sizeof(id), "%s-%" PRId64, a->monitor->id ? a->monitor->id : "", ts);
    err |= tocsin_format_put(o, "created_at", tocsin_format_time(ts));
    err |= tocsin_format_put(o, "new_status", json_string(new_status(a)->component));
    err |= tocsin_format_put(o, "old_status", json_string(old_status(a)->component));
    err |= tocsin_format_put(o, "id", tocsin_json_string(id));
    err |= tocsin_format_put(o, "component_id", tocsin_json_string(a->monitor->id));
    return tocsin_format_object(o, err);
}

static json_t *build_component(const struct tocsin_alert *a)
{
    json_t *o = json_object();
    int err = 0;

    err |= tocsin_format_put(o, "created_at", tocsin_format_time(a->check_result.timestamp));
    err |= tocsin_format_put(o, "id", tocsin_json_string(a->monitor->id));
    err |= tocsin_format_put(o, "name", tocsin_json_string(a->monitor->name));
    err |= tocsin_format_put(o, "status", json_string(new_status(a)->component));
    return tocsin_format_object(o, err);
}

static int sp_build_body(const struct tocsin_alert *alert,
                         const struct tocsin_webhook_conf *webhook, char **body, size_t *len)
{
    json_t *root = json_object();
    int err = 0;

    err |= tocsin_format_put(root, "meta", tocsin_format_meta());
    err |= tocsin_format_put(root, "page", build_page(webhook, new_status(alert)));
    err |= tocsin_format_put(root, "component_update", build_update(alert));
    err |= tocsin_format_put(root, "component", build_component(alert));
    return tocsin_format_finish(root, err, body, len);
}

const struct tocsin_format tocsin_format_statuspage = {
    .name = "statuspage",
    /* The seed: answer within 30 s of connecting; 2xx only (3xx fails). */
    .default_timeout_ms = 30000,
    .default_connect_timeout_ms = 10000,
    .default_retries = 5,
    .default_retry_backoff_ms = 30000,
    .build_body = sp_build_body,
    .sign = tocsin_format_no_headers, /* Statuspage webhooks are unsigned */
};
