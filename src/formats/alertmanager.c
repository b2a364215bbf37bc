/* Prometheus Alertmanager API v2 (POST <url>/api/v2/alerts, a JSON array).
 *
 * Labels identify an alert in Alertmanager, so they hold only what is the same
 * wherever the check ran: alertname, monitor, severity.  Agent/region, error,
 * summary and url are annotations, so agents on many hosts make one alert.
 * startsAt is when the incident began; endsAt is now + 5 min while firing (the
 * sender re-posts every minute, so a dead agent's alert resolves by itself) and
 * now on recovery.  "Now" is check_result.timestamp, which the sender sets when
 * it re-posts, so that this builder stays a pure function of the alert.
 * generatorURL is left out: Alertmanager rejects the whole post when it is not a
 * valid URI, and a monitor's URL (or tcp://host:port) need not be one.
 * Unsigned: Alertmanager has no webhook signatures (signing: standard still adds
 * its headers, which Alertmanager ignores). */
#include "tocsin/format.h"

#define ALERTNAME "TocsinMonitorDown"
#define FIRING_FOR 300 /* seconds: five re-posts may be lost before it resolves */

static json_t *build_labels(const struct tocsin_alert *a)
{
    json_t *o = json_object();
    int err = 0;

    err |= tocsin_format_put(o, "alertname", json_string(ALERTNAME));
    err |= tocsin_format_put(o, "monitor", tocsin_json_string(a->monitor->id));
    err |= tocsin_format_put(o, "severity", json_string(tocsin_alert_severity(a)));
    return tocsin_format_object(o, err);
}

static json_t *build_summary(const struct tocsin_alert *a)
{
    const bool down = a->type != TOCSIN_NOTIFY_RECOVERY;
    json_t *name = tocsin_json_string(a->monitor->name);
    json_t *str = name ? json_sprintf("%s is %s", json_string_value(name),
                                      down ? "DOWN" : "UP again")
                       : NULL;

    json_decref(name);
    return str;
}

static json_t *build_annotations(const struct tocsin_alert *a)
{
    json_t *o = json_object();
    int err = 0;

    err |= tocsin_format_put(o, "region", tocsin_json_string(a->region));
    if (a->check_result.status == TOCSIN_STATUS_DOWN)
        err |= tocsin_format_put(o, "error", tocsin_json_string(tocsin_alert_error(a)));
    err |= tocsin_format_put(o, "summary", build_summary(a));
    err |= tocsin_format_put(o, "url", tocsin_format_url(a->monitor));
    return tocsin_format_object(o, err);
}

static json_t *build_alert(const struct tocsin_alert *a)
{
    const int64_t now = a->check_result.timestamp;
    const int64_t start = a->incident_started ? a->incident_started : now;
    const bool resolved = a->type == TOCSIN_NOTIFY_RECOVERY;
    json_t *o = json_object();
    int err = 0;

    err |= tocsin_format_put(o, "labels", build_labels(a));
    err |= tocsin_format_put(o, "annotations", build_annotations(a));
    err |= tocsin_format_put(o, "startsAt", tocsin_format_time(start));
    err |= tocsin_format_put(o, "endsAt", tocsin_format_time(resolved ? now : now + FIRING_FOR));
    return tocsin_format_object(o, err);
}

static int am_build_body(const struct tocsin_alert *alert,
                         const struct tocsin_webhook_conf *webhook, char **body, size_t *len)
{
    json_t *root = json_array();
    int err = root == NULL || json_array_append_new(root, build_alert(alert)) != 0;

    (void)webhook;
    return tocsin_format_finish(root, err, body, len);
}

const struct tocsin_format tocsin_format_alertmanager = {
    .name = "alertmanager",
    .default_timeout_ms = 30000,
    .default_connect_timeout_ms = 10000,
    /* Few retries: the firing alert is re-posted every minute anyway. */
    .default_retries = 5,
    .default_retry_backoff_ms = 30000,
    .url_suffix = "/api/v2/alerts",
    .refire = true,
    .build_body = am_build_body,
    .sign = tocsin_format_no_headers,
};
