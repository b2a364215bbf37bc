/* ATStatus custom webhooks, "component.status_changed" (seed 003).
 *
 * Envelope {event, timestamp, statusPage, data} as the seed shows, the monitor
 * as the component in `data`.  ATStatus' document shows `operational` and
 * `degraded`; a monitor failing in some regions is `partial_outage`, in all of
 * them `major_outage` (the same scale as Statuspage, which ATStatus follows).
 * `uptimePercent` is left out: tocsin keeps no uptime, and a made-up number or a
 * real one (not an integer, DESIGN §5) would be worse than none.
 * Headers: X-Webhook-Event, and X-Webhook-Signature = bare hex HMAC-SHA256 of the
 * body, no prefix, because the seed's verifyWebhook compares the header with the
 * hex digest itself.  X-Request-ID is the sender's, on every format. */
#include "tocsin/format.h"

#define EVENT "component.status_changed"
#define SIGNATURE_HEADER "X-Webhook-Signature"

static const char *status_name(enum tocsin_status s, const struct tocsin_alert *a)
{
    if (s != TOCSIN_STATUS_DOWN)
        return "operational"; /* UNKNOWN too: what the page showed before */
    return a == NULL || tocsin_alert_all_regions_down(a) ? "major_outage" : "partial_outage";
}

static json_t *build_data(const struct tocsin_alert *a)
{
    json_t *o = json_object();
    int err = 0;

    err |= tocsin_format_put(o, "id", tocsin_json_string(a->monitor->id));
    err |= tocsin_format_put(o, "name", tocsin_json_string(a->monitor->name));
    /* A recovery's previous state: how many regions failed then is not known. */
    err |= tocsin_format_put(o, "previousStatus",
                             json_string(status_name(a->previous_status, NULL)));
    err |= tocsin_format_put(o, "newStatus", json_string(status_name(a->monitor_status, a)));
    err |= tocsin_format_put(o, "url", tocsin_format_url(a->monitor));
    err |= tocsin_format_put(o, "region", tocsin_json_string(a->region));
    if (a->check_result.status == TOCSIN_STATUS_DOWN)
        err |= tocsin_format_put(o, "message", tocsin_json_string(tocsin_alert_error(a)));
    return tocsin_format_object(o, err);
}

static int at_build_body(const struct tocsin_alert *alert,
                         const struct tocsin_webhook_conf *webhook, char **body, size_t *len)
{
    json_t *root = json_object();
    int err = 0;

    err |= tocsin_format_put(root, "event", json_string(EVENT));
    err |= tocsin_format_put(root, "timestamp", tocsin_format_time(alert->check_result.timestamp));
    err |= tocsin_format_put(root, "statusPage", tocsin_format_webhook_object(webhook));
    err |= tocsin_format_put(root, "data", build_data(alert));
    return tocsin_format_finish(root, err, body, len);
}

static int at_sign(const struct tocsin_webhook_conf *webhook, const char *request_id,
                   const char *body, size_t len, struct tocsin_format_headers *out)
{
    int rc = tocsin_format_add_header(out, "X-Webhook-Event", EVENT);

    (void)request_id;
    if (rc == 0)
        rc = tocsin_format_hex_signatures(webhook, SIGNATURE_HEADER, "", body, len, out);
    return rc;
}

const struct tocsin_format tocsin_format_atstatus = {
    .name = "atstatus",
    /* The seed: 10 s timeout, 3 attempts in all (= 2 retries), exponential backoff. */
    .default_timeout_ms = 10000,
    .default_connect_timeout_ms = 10000,
    .default_retries = 2,
    .default_retry_backoff_ms = 30000,
    .build_body = at_build_body,
    .sign = at_sign,
};
