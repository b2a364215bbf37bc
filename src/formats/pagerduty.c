/* PagerDuty Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/).
 *
 * An incident is a "trigger", a recovery a "resolve" of the same dedup_key,
 * "tocsin-<monitor id>": one PagerDuty alert per monitor whichever agent or
 * region saw it, and a later incident after a resolve opens a new one.  A resolve
 * carries only routing_key, event_action and dedup_key, as the API asks.
 * summary is at most 1024 characters (the API's limit), cut on a character
 * boundary after cleaning, counting UTF-16 units so that the limit holds however
 * the receiver counts.  No signature: the routing key is the credential.  202 is
 * PagerDuty's success, a 2xx like any other for the sender. */
#include "tocsin/format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUMMARY_MAX 1024

/* Bytes of the longest prefix of the valid UTF-8 S that is at most MAX UTF-16
 * units (a 4-byte sequence is a surrogate pair: two). */
static size_t utf16_prefix(const char *s, size_t n, size_t max)
{
    size_t i = 0, units = 0;

    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        size_t u = len == 4 ? 2 : 1;
        if (units + u > max)
            break;
        units += u;
        i += len;
    }
    return i;
}

/* TEXT cleaned (tocsin_json_string), then cut to SUMMARY_MAX. */
static json_t *summary_string(const char *text)
{
    json_t *str = tocsin_json_string(text);
    const char *s;
    size_t n, cut;

    if (str == NULL)
        return NULL;
    s = json_string_value(str);
    n = json_string_length(str);
    cut = utf16_prefix(s, n, SUMMARY_MAX);
    if (cut < n && json_string_setn_nocheck(str, s, cut) != 0) {
        json_decref(str);
        return NULL;
    }
    return str;
}

static json_t *build_summary(const struct tocsin_alert *a)
{
    const char *name = a->monitor->name ? a->monitor->name : "";
    const char *region = a->region ? a->region : "";
    const char *error = tocsin_alert_error(a);
    size_t size = strlen(name) + strlen(region) + strlen(error) + 32;
    char *text = malloc(size);
    json_t *str;

    if (text == NULL)
        return NULL;
    snprintf(text, size, "%s is DOWN in %s: %s", name, region, error);
    str = summary_string(text);
    free(text);
    return str;
}

static json_t *build_details(const struct tocsin_alert *a)
{
    const struct tocsin_result *r = &a->check_result;
    json_t *o = json_object();
    int err = 0;

    err |= tocsin_format_put(o, "monitor_id", tocsin_json_string(a->monitor->id));
    err |= tocsin_format_put(o, "monitor_name", tocsin_json_string(a->monitor->name));
    err |= tocsin_format_put(o, "url", tocsin_format_url(a->monitor));
    err |= tocsin_format_put(o, "region", tocsin_json_string(a->region));
    err |= tocsin_format_put(o, "error_message", tocsin_json_string(tocsin_alert_error(a)));
    err |= tocsin_format_put(o, "status_code",
                             r->status_code ? json_integer(r->status_code) : json_null());
    err |= tocsin_format_put(o, "response_time_ms", json_integer(r->response_time_ms));
    err |= tocsin_format_put(o, "consecutive_failures", json_integer(a->consecutive_failures));
    err |= tocsin_format_put(o, "notification_level", json_integer(a->notification_level));
    err |= tocsin_format_put(o, "previous_status",
                             json_string(tocsin_status_name(a->previous_status)));
    err |= tocsin_format_put(o, "regions_down", json_integer(a->regions_down));
    err |= tocsin_format_put(o, "regions_total", json_integer(a->regions_total));
    return tocsin_format_object(o, err);
}

static json_t *build_payload(const struct tocsin_alert *a)
{
    const char *kind = tocsin_error_kind_name(a->check_result.error_kind);
    /* source is required and must not be empty. */
    const char *source = a->region && a->region[0] ? a->region : "tocsin";
    json_t *o = json_object();
    int err = 0;

    err |= tocsin_format_put(o, "summary", build_summary(a));
    err |= tocsin_format_put(o, "source", tocsin_json_string(source));
    err |= tocsin_format_put(o, "severity", json_string(tocsin_alert_severity(a)));
    err |= tocsin_format_put(o, "timestamp", tocsin_format_time(a->check_result.timestamp));
    err |= tocsin_format_put(o, "component", tocsin_json_string(a->monitor->id));
    if (kind && kind[0])
        err |= tocsin_format_put(o, "class", json_string(kind));
    err |= tocsin_format_put(o, "custom_details", build_details(a));
    return tocsin_format_object(o, err);
}

static int pd_build_body(const struct tocsin_alert *alert,
                         const struct tocsin_webhook_conf *webhook, char **body, size_t *len)
{
    const bool resolve = alert->type == TOCSIN_NOTIFY_RECOVERY;
    size_t id_len = alert->monitor->id ? strlen(alert->monitor->id) : 0;
    char *dedup = malloc(id_len + sizeof("tocsin-"));
    json_t *root = json_object();
    int err = dedup == NULL;

    if (dedup)
        snprintf(dedup, id_len + sizeof("tocsin-"), "tocsin-%s",
                 alert->monitor->id ? alert->monitor->id : "");
    err |= tocsin_format_put(root, "routing_key", tocsin_json_string(webhook->routing_key));
    err |= tocsin_format_put(root, "event_action", json_string(resolve ? "resolve" : "trigger"));
    err |= tocsin_format_put(root, "dedup_key", dedup ? tocsin_json_string(dedup) : NULL);
    if (!resolve) {
        err |= tocsin_format_put(root, "payload", build_payload(alert));
        err |= tocsin_format_put(root, "client", json_string("tocsin"));
    }
    free(dedup);
    return tocsin_format_finish(root, err, body, len);
}

const struct tocsin_format tocsin_format_pagerduty = {
    .name = "pagerduty",
    .default_timeout_ms = 30000,
    .default_connect_timeout_ms = 10000,
    .default_retries = 5,
    .default_retry_backoff_ms = 30000,
    .build_body = pd_build_body,
    .sign = tocsin_format_no_headers, /* the routing key authenticates */
};
