/* Webhook format registry and the helpers every format shares. */
#include "tocsin/format.h"

#include "tocsin/crypto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One entry per src/formats/<name>.c; the config validator and the sender look
 * formats up here by name, never with a switch. */
static const struct tocsin_format *const formats[] = {
    &tocsin_format_statuspageone, &tocsin_format_statuspage,   &tocsin_format_betterstack,
    &tocsin_format_atstatus,      &tocsin_format_statusstack,  &tocsin_format_pagerduty,
    &tocsin_format_alertmanager,
};

const struct tocsin_format *const *tocsin_formats(size_t *n)
{
    *n = sizeof(formats) / sizeof(formats[0]);
    return formats;
}

const struct tocsin_format *tocsin_format_find(const char *name)
{
    size_t i;

    if (name == NULL)
        return NULL;
    for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (strcmp(formats[i]->name, name) == 0)
            return formats[i];
    }
    return NULL;
}

void tocsin_monitor_display_url(const struct tocsin_monitor_conf *monitor, char *buf, size_t size)
{
    const char *host;

    if (size == 0)
        return;
    if (monitor->type != TOCSIN_PROBE_TCP) {
        tocsin_config_redact_url(monitor->url ? monitor->url : "", buf, size);
        return;
    }
    host = monitor->host ? monitor->host : "";
    /* An IPv6 literal needs brackets to keep its colons apart from the port. */
    if (strchr(host, ':') != NULL && host[0] != '[')
        snprintf(buf, size, "tcp://[%s]:%d", host, monitor->port);
    else
        snprintf(buf, size, "tcp://%s:%d", host, monitor->port);
}

const char *tocsin_notification_name(enum tocsin_notification type)
{
    return type == TOCSIN_NOTIFY_RECOVERY ? "recovery" : "incident";
}

/* Standard Webhooks lives here, not in each format, so that `signing: standard`
 * means the same three headers whatever the body looks like. */
int tocsin_format_sign(const struct tocsin_format *format,
                       const struct tocsin_webhook_conf *webhook, const char *request_id,
                       int64_t now, const char *body, size_t len,
                       struct tocsin_format_headers *out)
{
    int rc = format->sign ? format->sign(webhook, request_id, body, len, out) : 0;

    if (rc == 0 && webhook->signing == TOCSIN_SIGNING_STANDARD)
        rc = tocsin_standard_webhooks_headers(webhook, request_id, now, body, len, out);
    return rc;
}

int tocsin_format_no_headers(const struct tocsin_webhook_conf *webhook, const char *request_id,
                             const char *body, size_t len, struct tocsin_format_headers *out)
{
    (void)webhook;
    (void)request_id;
    (void)body;
    (void)len;
    (void)out;
    return 0;
}

int tocsin_format_add_header(struct tocsin_format_headers *out, const char *name,
                             const char *value)
{
    struct tocsin_header *h;

    if (out->n >= TOCSIN_FORMAT_HEADERS_MAX)
        return -ENOBUFS;
    h = &out->items[out->n++];
    snprintf(h->name, sizeof(h->name), "%s", name);
    snprintf(h->value, sizeof(h->value), "%s", value);
    return 0;
}

/* Hand-built configs (tests, test-webhook) may set only `secret`. */
static size_t secret_count(const struct tocsin_webhook_conf *w)
{
    return w->n_secrets ? w->n_secrets : w->secret != NULL;
}

static const char *secret_at(const struct tocsin_webhook_conf *w, size_t i)
{
    return w->n_secrets ? w->secrets[i] : w->secret;
}

int tocsin_format_hex_signatures(const struct tocsin_webhook_conf *webhook, const char *header,
                                 const char *prefix, const char *body, size_t len,
                                 struct tocsin_format_headers *out)
{
    size_t n = webhook->signing == TOCSIN_SIGNING_DEFAULT ? secret_count(webhook) : 0;
    char name[64], value[128], hex[65];
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *secret = secret_at(webhook, i);
        rc = tocsin_hmac_sha256_hex(secret, strlen(secret), body, len, hex);
        if (i == 0)
            snprintf(name, sizeof(name), "%s", header);
        else
            snprintf(name, sizeof(name), "%s-%zu", header, i + 1);
        snprintf(value, sizeof(value), "%s%s", prefix, hex);
        if (rc == 0)
            rc = tocsin_format_add_header(out, name, value);
    }
    return rc;
}

int tocsin_standard_webhooks_headers(const struct tocsin_webhook_conf *webhook,
                                     const char *request_id, int64_t now, const char *body,
                                     size_t len, struct tocsin_format_headers *out)
{
    char value[sizeof(out->items[0].value)], sig[TOCSIN_STANDARD_SIG_SIZE], ts[24];
    size_t n = secret_count(webhook), used = 0;
    int rc = 0;

    value[0] = '\0';
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = tocsin_standard_webhooks_sign(secret_at(webhook, i), request_id, now, body, len, sig);
        if (rc == 0 && used + 1 + strlen(sig) >= sizeof(value))
            rc = -ENOBUFS;
        if (rc == 0)
            used += (size_t)snprintf(value + used, sizeof(value) - used, "%s%s", i ? " " : "", sig);
    }
    snprintf(ts, sizeof(ts), "%lld", (long long)now);
    if (rc == 0 && out->n + 3 > TOCSIN_FORMAT_HEADERS_MAX)
        rc = -ENOBUFS;
    if (rc == 0)
        rc = tocsin_format_add_header(out, "webhook-id", request_id);
    if (rc == 0)
        rc = tocsin_format_add_header(out, "webhook-timestamp", ts);
    /* Unsigned with standard signing is a config error; still send id and time. */
    if (rc == 0 && n > 0)
        rc = tocsin_format_add_header(out, "webhook-signature", value);
    return rc;
}

int tocsin_format_put(json_t *obj, const char *key, json_t *value)
{
    return json_object_set_new_nocheck(obj, key, value) == 0 ? 0 : -1;
}

json_t *tocsin_format_object(json_t *obj, int err)
{
    if (err || obj == NULL) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

int tocsin_format_finish(json_t *root, int err, char **body, size_t *len)
{
    int rc;

    *body = NULL;
    *len = 0;
    rc = err || root == NULL ? -ENOMEM : tocsin_json_dump(root, TOCSIN_BODY_MAX, body, len);
    json_decref(root);
    return rc;
}

json_t *tocsin_format_time(int64_t t)
{
    char ts[32];

    tocsin_rfc3339(t, ts, sizeof(ts));
    return json_string(ts);
}

json_t *tocsin_format_url(const struct tocsin_monitor_conf *m)
{
    const char *src = m->type == TOCSIN_PROBE_TCP ? m->host : m->url;
    size_t size = (src ? strlen(src) : 0) + 32; /* scheme, brackets, port */
    char *buf = malloc(size);
    json_t *str;

    if (buf == NULL)
        return NULL;
    tocsin_monitor_display_url(m, buf, size);
    str = tocsin_json_string(buf);
    free(buf);
    return str;
}

bool tocsin_alert_all_regions_down(const struct tocsin_alert *alert)
{
    return alert->regions_down <= 0 || alert->regions_down >= alert->regions_total;
}

const char *tocsin_alert_severity(const struct tocsin_alert *alert)
{
    if (alert->notification_level >= 3)
        return "critical";
    return alert->notification_level == 2 ? "error" : "warning";
}

const char *tocsin_alert_error(const struct tocsin_alert *alert)
{
    return alert->check_result.status == TOCSIN_STATUS_DOWN ? alert->check_result.error_message
                                                             : "";
}

json_t *tocsin_format_meta(void)
{
    json_t *o = json_object();
    int err = 0;

    err |= tocsin_format_put(o, "unsubscribe", json_string(""));
    err |= tocsin_format_put(o, "documentation", json_string(""));
    return tocsin_format_object(o, err);
}

json_t *tocsin_format_webhook_object(const struct tocsin_webhook_conf *w)
{
    json_t *o = json_object();
    int err = 0;

    err |= tocsin_format_put(o, "id", tocsin_json_string(w->name));
    err |= tocsin_format_put(o, "name", tocsin_json_string(w->name));
    err |= tocsin_format_put(o, "slug", tocsin_json_string(w->name));
    return tocsin_format_object(o, err);
}
