/* StatusStack webhooks, "monitor.down" / "monitor.recovered" (seed 004).
 *
 * The seed shows only a component.status_changed body; monitor events keep its
 * envelope {event, timestamp, stack, ..., incident} and carry the monitor in a
 * `monitor` object whose status keys (`previous_status`, `current_status`) and
 * names (`operational`, `critical`) are the seed's.  The incident id is stable
 * for one incident (monitor id + start), so the recovery names the incident it
 * ends.  Signature: X-StatusStack-Signature = bare hex HMAC-SHA256 of the body,
 * what the seed's verifyWebhook compares (timingSafeEqual with the hex digest). */
#include "tocsin/format.h"

#include <inttypes.h>
#include <stdio.h>

#define SIGNATURE_HEADER "X-StatusStack-Signature"

static const char *status_name(enum tocsin_status s)
{
    return s == TOCSIN_STATUS_DOWN ? "critical" : "operational";
}

static int64_t incident_start(const struct tocsin_alert *a)
{
    return a->incident_started ? a->incident_started : a->check_result.timestamp;
}

static json_t *build_monitor(const struct tocsin_alert *a)
{
    const struct tocsin_result *r = &a->check_result;
    json_t *o = json_object();
    int err = 0;

    err |= tocsin_format_put(o, "id", tocsin_json_string(a->monitor->id));
    err |= tocsin_format_put(o, "name", tocsin_json_string(a->monitor->name));
    err |= tocsin_format_put(o, "url", tocsin_format_url(a->monitor));
    err |= tocsin_format_put(o, "previous_status", json_string(status_name(a->previous_status)));
    err |= tocsin_format_put(o, "current_status", json_string(status_name(a->monitor_status)));
    err |= tocsin_format_put(o, "region", tocsin_json_string(a->region));
    if (r->status == TOCSIN_STATUS_DOWN)
        err |= tocsin_format_put(o, "error_message", tocsin_json_string(r->error_message));
    err |= tocsin_format_put(o, "response_time_ms", json_integer(r->response_time_ms));
    err |= tocsin_format_put(o, "status_code",
                             r->status_code ? json_integer(r->status_code) : json_null());
    return tocsin_format_object(o, err);
}

static json_t *build_incident(const struct tocsin_alert *a)
{
    char id[128];
    json_t *o = json_object();
    int err = 0;

    snprintf(id, sizeof(id), "%s-%" PRId64, a->monitor->id ? a->monitor->id : "",
             incident_start(a));
    err |= tocsin_format_put(o, "id", tocsin_json_string(id));
    err |= tocsin_format_put(o, "created_at", tocsin_format_time(incident_start(a)));
    if (a->type == TOCSIN_NOTIFY_RECOVERY)
        err |= tocsin_format_put(o, "resolved_at", tocsin_format_time(a->check_result.timestamp));
    return tocsin_format_object(o, err);
}

static int ss_build_body(const struct tocsin_alert *alert,
                         const struct tocsin_webhook_conf *webhook, char **body, size_t *len)
{
    const char *event =
        alert->type == TOCSIN_NOTIFY_RECOVERY ? "monitor.recovered" : "monitor.down";
    json_t *root = json_object();
    int err = 0;

    err |= tocsin_format_put(root, "event", json_string(event));
    err |= tocsin_format_put(root, "timestamp", tocsin_format_time(alert->check_result.timestamp));
    err |= tocsin_format_put(root, "stack", tocsin_format_webhook_object(webhook));
    err |= tocsin_format_put(root, "monitor", build_monitor(alert));
    err |= tocsin_format_put(root, "incident", build_incident(alert));
    return tocsin_format_finish(root, err, body, len);
}

static int ss_sign(const struct tocsin_webhook_conf *webhook, const char *request_id,
                   const char *body, size_t len, struct tocsin_format_headers *out)
{
    (void)request_id;
    return tocsin_format_hex_signatures(webhook, SIGNATURE_HEADER, "", body, len, out);
}

const struct tocsin_format tocsin_format_statusstack = {
    .name = "statusstack",
    /* The seed: receivers answer within 5 s; it gives no retry count, so the
     * default format's (StatusPageOne) 5 retries apply. */
    .default_timeout_ms = 5000,
    .default_connect_timeout_ms = 5000,
    .default_retries = 5,
    .default_retry_backoff_ms = 30000,
    .build_body = ss_build_body,
    .sign = ss_sign,
};
