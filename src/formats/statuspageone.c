/* StatusPageOne "monitor_alert" webhooks (seed 002): the default format.
 *
 * The body is the seed's payload field for field, in its key order, so that
 * receivers written against the vendor docs work unchanged.  The signature is
 * "sha256=" + hex HMAC-SHA256(secret, body); because the body is built to equal
 * JSON.stringify(JSON.parse(body)), the seed's validator (which signs that
 * re-serialisation) accepts it too. */
#include "tocsin/crypto.h"
#include "tocsin/format.h"
#include "tocsin/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGNATURE_HEADER "X-StatusPageOne-Signature"

/* Adds VALUE under KEY, keeping insertion order.  jansson takes VALUE even on
 * failure and fails on a NULL VALUE or OBJ, so a failed allocation anywhere
 * surfaces here as -1 without leaks. */
static int put(json_t *obj, const char *key, json_t *value)
{
    return json_object_set_new_nocheck(obj, key, value) == 0 ? 0 : -1;
}

static json_t *build_monitor(const struct tocsin_alert *a)
{
    json_t *o = json_object();
    int err = 0;

    err |= put(o, "id", tocsin_json_string(a->monitor->id));
    err |= put(o, "name", tocsin_json_string(a->monitor->name));
    err |= put(o, "url", tocsin_format_url(a->monitor));
    err |= put(o, "status", json_string(tocsin_status_name(a->monitor_status)));
    if (err) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *build_check_result(const struct tocsin_alert *a)
{
    const struct tocsin_result *r = &a->check_result;
    char ts[32];
    json_t *o = json_object();
    int err = 0;

    tocsin_rfc3339(r->timestamp, ts, sizeof(ts));
    err |= put(o, "status", json_string(tocsin_status_name(r->status)));
    err |= put(o, "timestamp", json_string(ts));
    err |= put(o, "region", tocsin_json_string(a->region));
    /* The seed's recovery payload has no error_message at all (not null). */
    if (r->status == TOCSIN_STATUS_DOWN)
        err |= put(o, "error_message", tocsin_json_string(r->error_message));
    err |= put(o, "response_time_ms", json_integer(r->response_time_ms));
    err |= put(o, "status_code", r->status_code ? json_integer(r->status_code) : json_null());
    if (err) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *build_context(const struct tocsin_alert *a)
{
    json_t *o = json_object();
    int err = 0;

    err |= put(o, "consecutive_failures", json_integer(a->consecutive_failures));
    err |= put(o, "previous_status", json_string(tocsin_status_name(a->previous_status)));
    err |= put(o, "notification_level", json_integer(a->notification_level));
    err |= put(o, "notification_type", json_string(tocsin_notification_name(a->type)));
    if (err) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int spo_build_body(const struct tocsin_alert *alert,
                          const struct tocsin_webhook_conf *webhook, char **body, size_t *len)
{
    json_t *root = json_object();
    int err = 0, rc;

    (void)webhook;
    *body = NULL;
    *len = 0;
    err |= put(root, "event_type", json_string("monitor_alert"));
    err |= put(root, "monitor", build_monitor(alert));
    err |= put(root, "check_result", build_check_result(alert));
    err |= put(root, "context", build_context(alert));
    rc = err ? -ENOMEM : tocsin_json_dump(root, TOCSIN_BODY_MAX, body, len);
    json_decref(root);
    return rc;
}

/* One signature per secret while rotating: the newest under the seed's header,
 * older ones under X-StatusPageOne-Signature-2... (docs/decisions.md, Formats). */
static int spo_sign(const struct tocsin_webhook_conf *webhook, const char *request_id,
                    const char *body, size_t len, struct tocsin_format_headers *out)
{
    (void)request_id;
    return tocsin_format_hex_signatures(webhook, SIGNATURE_HEADER, "sha256=", body, len, out);
}

const struct tocsin_format tocsin_format_statuspageone = {
    .name = "statuspageone",
    /* The seed: 30 s timeout, up to 5 retries with exponential backoff. */
    .default_timeout_ms = 30000,
    .default_connect_timeout_ms = 10000,
    .default_retries = 5,
    .default_retry_backoff_ms = 30000,
    .build_body = spo_build_body,
    .sign = spo_sign,
};
