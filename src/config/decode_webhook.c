/* The webhooks section: one receiver each, its format (src/formats/) supplying
 * what the webhook does not set. */
#include "decode_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "tocsin/format.h"

/* ---- webhooks ------------------------------------------------------------- */

#define RETRIES_MAX 100
#define RETRY_BACKOFF_MAX_MS 3600000u /* the sender caps each delay at 1h */
#define MAX_AGE_DEFAULT_MS 86400000u
#define RATE_LIMIT_DEFAULT 100
#define RATE_PERIOD_DEFAULT_MS 60000u
#define SECRETS_MAX 4 /* newest first: one while stable, two (or a few) while rotating */

/* What the walk saw: the nodes of keys whose checks need the whole webhook. */
struct webhook_dec {
    struct tocsin_webhook_conf *w;
    const struct tocsin_format *fmt;   /* NULL after a bad "format" */
    char *one;                         /* the secret of "secret" or "secret_file" */
    struct cnode *url, *secret, *secret_file, *secrets, *routing_key, *urls, *tls;
    struct cnode *retries, *retry_backoff, *timeout, *connect_timeout;
};

static void wh_name(struct dctx *d, struct cnode *val, void *obj)
{
    dec_set_str(d, val, &((struct webhook_dec *)obj)->w->name);
}

static void wh_url(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;

    wd->url = val;
    dec_set_url(d, val, &wd->w->url);
}

static void wh_format(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;
    size_t n;
    const struct tocsin_format *const *formats = tocsin_formats(&n);
    const char *names[16];

    if (!dec_want(d, val, CNODE_SCALAR)) {
        wd->fmt = NULL;
        return;
    }
    wd->fmt = tocsin_format_find(val->value);
    if (wd->fmt)
        return dec_set_str(d, val, &wd->w->format);
    for (size_t i = 0; i < n && i < N(names); i++)
        names[i] = formats[i]->name;
    dec_unknown_name(d, val, "format", names, n < N(names) ? n : N(names));
}

static void wh_signing(struct dctx *d, struct cnode *val, void *obj)
{
    static const char *const names[] = { "default", "standard", "none" };
    static const enum tocsin_signing values[] = { TOCSIN_SIGNING_DEFAULT, TOCSIN_SIGNING_STANDARD,
                                                  TOCSIN_SIGNING_NONE };
    int i = dec_get_enum(d, val, names, N(names), "default, standard or none");

    if (i >= 0)
        ((struct webhook_dec *)obj)->w->signing = values[i];
}

/* An empty key signs nothing a receiver can trust: almost always an empty variable. */
static bool check_secret(struct dctx *d, const struct cnode *val, const char *what)
{
    if (val->value[0] != '\0')
        return true;
    cfg_error_at(d->log, val, "%s is empty", what);
    return false;
}

static void wh_secret(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;

    val->sensitive = true; /* a secret is never echoed, expanded or not */
    if (!dec_want(d, val, CNODE_SCALAR))
        return;
    wd->secret = val;
    if (check_secret(d, val, "\"secret\""))
        dec_set_str(d, val, &wd->one);
}

static void wh_secret_file(struct dctx *d, struct cnode *val, void *obj)
{
    if (dec_want(d, val, CNODE_SCALAR))
        ((struct webhook_dec *)obj)->secret_file = val;
}

/* secrets: [new, old]: every one signs each attempt while a secret rotates. */
static void wh_secrets(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;
    struct tocsin_webhook_conf *w = wd->w;
    bool ok = true;

    val->sensitive = true; /* INI items inherit it when the value is split */
    if (!dec_want_list(d, val))
        return;
    wd->secrets = val;
    if (val->n == 0 || val->n > SECRETS_MAX) {
        if (val->n == 0)
            cfg_error_at(d->log, val, "\"secrets\" must not be empty");
        else
            cfg_error_at(d->log, val, "\"secrets\" must list at most %d secrets", SECRETS_MAX);
        return;
    }
    for (size_t i = 0; i < val->n; i++) {
        struct cnode *it = val->items[i];

        it->sensitive = true;
        if (it->kind != CNODE_SCALAR) {
            cfg_error_at(d->log, it, "each item of \"secrets\" must be a string");
            ok = false;
        } else if (!check_secret(d, it, "a secret in \"secrets\"")) {
            ok = false;
        }
    }
    if (!ok)
        return;
    w->secrets = calloc(val->n + 1, sizeof(*w->secrets));
    if (!w->secrets)
        return dec_oom(d);
    for (size_t i = 0; i < val->n; i++)
        if (!(w->secrets[w->n_secrets++] = strdup(val->items[i]->value)))
            return dec_oom(d);
    w->secret = w->secrets[0];
}

static void wh_events(struct dctx *d, struct cnode *val, void *obj)
{
    static const char *const names[] = { "incident", "recovery" };
    struct tocsin_webhook_conf *w = ((struct webhook_dec *)obj)->w;
    size_t *idx, n = 0;

    if (!dec_want_list(d, val))
        return;
    idx = dec_resolve_names(d, val, "event", names, N(names), false, &n);
    if (!idx)
        return;
    w->events = 0;
    for (size_t i = 0; i < n; i++)
        w->events |= idx[i] == 0 ? TOCSIN_EVENT_INCIDENT : TOCSIN_EVENT_RECOVERY;
    if (val->n == 0)
        cfg_error_at(d->log, val, "\"events\" must not be empty");
    free(idx);
}

static void wh_rate_limit(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_webhook_conf *w = ((struct webhook_dec *)obj)->w;

    if (!dec_want(d, val, CNODE_SCALAR))
        return;
    if (tocsin_config_parse_rate(val->value, &w->rate_limit, &w->rate_period_ms) < 0)
        cfg_error_at(d->log, val,
                     "bad rate \"%s\" for \"rate_limit\": use N/s, N/min or N/h with N from 1 "
                     "to %u (e.g. 100/min)",
                     cnode_shown(val), TOCSIN_RATE_MAX);
}

static void wh_retries(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;

    if (dec_get_int(d, val, 0, RETRIES_MAX, &wd->w->retries))
        wd->retries = val;
}

static void wh_retry_backoff(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;

    if (!dec_get_duration(d, val, &wd->w->retry_backoff_ms))
        return;
    wd->retry_backoff = val;
    /* Each delay is capped at 1h: a longer first one would silently be 1h. */
    if (wd->w->retry_backoff_ms > RETRY_BACKOFF_MAX_MS)
        cfg_error_at(d->log, val, "\"retry_backoff\" must be at most 1h");
}

static void wh_max_age(struct dctx *d, struct cnode *val, void *obj)
{
    dec_get_duration(d, val, &((struct webhook_dec *)obj)->w->max_age_ms);
}

static void wh_timeout(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;

    if (dec_get_duration(d, val, &wd->w->timeout_ms))
        wd->timeout = val;
}

static void wh_connect_timeout(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;

    if (dec_get_duration(d, val, &wd->w->connect_timeout_ms))
        wd->connect_timeout = val;
}

static void wh_headers(struct dctx *d, struct cnode *val, void *obj)
{
    dec_set_headers(d, val, &((struct webhook_dec *)obj)->w->headers);
}

static void wh_method(struct dctx *d, struct cnode *val, void *obj)
{
    static const char *const names[] = { "POST", "PUT", "PATCH" };

    dec_set_method(d, val, &((struct webhook_dec *)obj)->w->method, names, N(names),
                   "POST, PUT or PATCH");
}

static void wt_server_name(struct dctx *d, struct cnode *val, void *obj)
{
    (void)obj;
    cfg_error_at(d->log, val,
                 "\"server_name\" is not valid for a webhook: the URL's host is checked");
}

/* A webhook's TLS: the URL scheme turns it on, these only tune it. */
static const struct directive webhook_tls_table[] = {
    { "ca_file", dec_tl_ca_file, 0 },     { "skip_verify", dec_tl_skip_verify, 0 },
    { "cert_file", dec_tl_cert_file, 0 }, { "key_file", dec_tl_key_file, 0 },
    { "server_name", wt_server_name, 0 },
};

static void wh_tls(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;

    if (!dec_want(d, val, CNODE_MAP))
        return;
    wd->tls = val;
    dec_tls(d, val, webhook_tls_table, N(webhook_tls_table), &wd->w->tls);
}

static void wh_proxy(struct dctx *d, struct cnode *val, void *obj)
{
    dec_set_proxy(d, val, &((struct webhook_dec *)obj)->w->proxy);
}

static void wh_routing_key(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;

    val->sensitive = true; /* whoever has it can open incidents */
    if (!dec_want(d, val, CNODE_SCALAR))
        return;
    wd->routing_key = val;
    if (check_secret(d, val, "\"routing_key\""))
        dec_set_str(d, val, &wd->w->routing_key);
}

/* Alertmanager peers: "/api/v2/alerts" is appended, so a trailing '/' is dropped. */
static void wh_urls(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;
    struct tocsin_webhook_conf *w = wd->w;

    if (!dec_want_list(d, val))
        return;
    wd->urls = val;
    if (val->n == 0)
        cfg_error_at(d->log, val, "\"urls\" must not be empty");
    w->urls = calloc(val->n + 1, sizeof(*w->urls));
    if (!w->urls)
        return dec_oom(d);
    for (size_t i = 0; i < val->n; i++) {
        const struct cnode *it = val->items[i];
        char *u;
        size_t len;

        /* Not echoed: a URL may carry userinfo. */
        if (it->kind != CNODE_SCALAR || !dec_valid_url(it->value)) {
            cfg_error_at(d->log, it,
                         "each item of \"urls\" must be an http:// or https:// URL with a host");
            continue;
        }
        if (!(u = strdup(it->value)))
            return dec_oom(d);
        for (len = strlen(u); len > 0 && u[len - 1] == '/'; len--)
            u[len - 1] = '\0';
        for (size_t j = 0; j < w->n_urls; j++)
            if (strcmp(w->urls[j], u) == 0) {
                cfg_error_at(d->log, it, "the same URL is listed twice in \"urls\"");
                break;
            }
        w->urls[w->n_urls++] = u;
    }
}

static const struct directive webhook_table[] = {
    { "name", wh_name, 0 },
    { "url", wh_url, 0 },
    { "format", wh_format, 0 },
    { "signing", wh_signing, 0 },
    { "secret", wh_secret, 0 },
    { "secrets", wh_secrets, 0 },
    { "secret_file", wh_secret_file, 0 },
    { "events", wh_events, 0 },
    { "rate_limit", wh_rate_limit, 0 },
    { "retries", wh_retries, 0 },
    { "retry_backoff", wh_retry_backoff, 0 },
    { "max_age", wh_max_age, 0 },
    { "timeout", wh_timeout, 0 },
    { "connect_timeout", wh_connect_timeout, 0 },
    { "headers", wh_headers, 0 },
    { "method", wh_method, 0 },
    { "tls", wh_tls, 0 },
    { "proxy", wh_proxy, 0 },
    { "routing_key", wh_routing_key, 0 },
    { "urls", wh_urls, 0 },
};

/* Defaults that do not depend on the format; the rest in webhook_defaults. */
static int webhook_init(struct tocsin_webhook_conf *w)
{
    w->format = strdup("statuspageone");
    w->method = "POST";
    w->signing = TOCSIN_SIGNING_DEFAULT;
    w->events = TOCSIN_EVENT_INCIDENT | TOCSIN_EVENT_RECOVERY;
    w->rate_limit = RATE_LIMIT_DEFAULT;
    w->rate_period_ms = RATE_PERIOD_DEFAULT_MS;
    w->max_age_ms = MAX_AGE_DEFAULT_MS;
    return w->format ? 0 : -ENOMEM;
}

/* The format's defaults for what the webhook did not set.  The connect timeout
 * never exceeds the whole request's: a default one is cut to it. */
static void webhook_defaults(struct dctx *d, struct webhook_dec *wd)
{
    struct tocsin_webhook_conf *w = wd->w;
    /* The vendor's numbers live with its format (src/formats/), nowhere else. */
    const struct tocsin_format *f = wd->fmt ? wd->fmt : tocsin_format_find("statuspageone");
    char c[32], t[32];

    if (!wd->retries)
        w->retries = f->default_retries;
    if (!wd->retry_backoff)
        w->retry_backoff_ms = f->default_retry_backoff_ms;
    if (!wd->timeout)
        w->timeout_ms = f->default_timeout_ms;
    if (!wd->connect_timeout)
        w->connect_timeout_ms = f->default_connect_timeout_ms < w->timeout_ms
                                    ? f->default_connect_timeout_ms
                                    : w->timeout_ms;
    if (!wd->connect_timeout || w->connect_timeout_ms <= w->timeout_ms)
        return;
    tocsin_config_format_duration(w->connect_timeout_ms, c, sizeof(c));
    tocsin_config_format_duration(w->timeout_ms, t, sizeof(t));
    cfg_error_at(d->log, wd->connect_timeout,
                 "\"connect_timeout\" (%s) must not be greater than \"timeout\" (%s)%s", c, t,
                 d->where);
}

/* One secret from "secret" or "secret_file" becomes secrets = [it]. */
static void webhook_secrets(struct dctx *d, struct webhook_dec *wd)
{
    struct tocsin_webhook_conf *w = wd->w;

    if (wd->secret && wd->secret_file)
        cfg_error_at(d->log, wd->secret_file,
                     "\"secret\" and \"secret_file\" are mutually exclusive");
    else if (wd->secret_file && cfg_read_secret(d->log, wd->secret_file, &wd->one) < 0)
        return dec_oom(d);
    if (wd->secrets && (wd->secret || wd->secret_file))
        cfg_error_at(d->log, wd->secrets, "\"secrets\" and \"%s\" are mutually exclusive",
                     wd->secret ? "secret" : "secret_file");
    if (!wd->one || wd->secrets) /* both: reported above */
        return;
    w->secrets = calloc(2, sizeof(*w->secrets));
    if (!w->secrets)
        return dec_oom(d);
    w->secrets[0] = w->secret = wd->one;
    w->n_secrets = 1;
    wd->one = NULL;
}

/* Standard Webhooks: "whsec_" + base64 is decoded by the signer, so it must decode. */
static void check_whsec(struct dctx *d, struct webhook_dec *wd)
{
    const struct tocsin_webhook_conf *w = wd->w;

    if (w->signing != TOCSIN_SIGNING_STANDARD)
        return;
    for (size_t i = 0; i < w->n_secrets; i++) {
        const struct cnode *at = wd->secrets      ? wd->secrets->items[i]
                                 : wd->secret     ? wd->secret
                                                  : wd->secret_file;
        const char *what = wd->secrets ? "secrets" : wd->secret ? "secret" : "secret_file";

        if (strncmp(w->secrets[i], "whsec_", 6) == 0 &&
            tocsin_config_base64_len(w->secrets[i] + 6) <= 0)
            cfg_error_at(d->log, at,
                         "bad Standard Webhooks secret in \"%s\": "
                         "the part after \"whsec_\" must be base64",
                         what);
    }
}

/* url for one receiver, urls for alertmanager's peers; routing_key for pagerduty. */
static void webhook_targets(struct dctx *d, struct cnode *map, struct webhook_dec *wd)
{
    const struct tocsin_webhook_conf *w = wd->w;
    bool am = wd->fmt && strcmp(wd->fmt->name, "alertmanager") == 0;
    bool pd = wd->fmt && strcmp(wd->fmt->name, "pagerduty") == 0;
    bool https = w->url && strncmp(w->url, "https://", 8) == 0;

    if (!wd->fmt) /* a bad format: which keys it needs is unknown */
        return;
    if (am && wd->url)
        cfg_error_at(d->log, wd->url, "\"url\" is not valid for format alertmanager: use \"urls\"");
    if (am && !cnode_get(map, "urls"))
        cfg_error_at(d->log, map, "missing \"urls\"%s", d->where);
    if (!am && !cnode_get(map, "url"))
        cfg_error_at(d->log, map, "missing \"url\"%s", d->where);
    if (!am && wd->urls)
        cfg_error_at(d->log, wd->urls, "\"urls\" is only for format alertmanager");
    if (pd && !cnode_get(map, "routing_key"))
        cfg_error_at(d->log, map, "missing \"routing_key\"%s", d->where);
    if (!pd && wd->routing_key)
        cfg_error_at(d->log, wd->routing_key, "\"routing_key\" is only for format pagerduty");
    for (size_t i = 0; am && i < w->n_urls; i++)
        https = https || strncmp(w->urls[i], "https://", 8) == 0;
    if (wd->tls && !https && (w->url || w->n_urls))
        cfg_error_at(d->log, wd->tls, "\"tls\" needs an https:// URL");
}

static char *webhook_name_at(struct dctx *d, size_t i)
{
    return d->cfg->webhooks[i].name;
}

static void webhook_finish(struct dctx *d, struct cnode *map, struct webhook_dec *wd)
{
    struct tocsin_webhook_conf *w = wd->w;
    const struct cnode *name = cnode_get(map, "name");
    size_t self = (size_t)(w - d->cfg->webhooks);

    if (!w->name && !name)
        cfg_error_at(d->log, map, "missing \"name\" in webhook");
    webhook_targets(d, map, wd);
    webhook_defaults(d, wd);
    webhook_secrets(d, wd);
    check_whsec(d, wd);
    w->tls.enabled = (w->url && strncmp(w->url, "https://", 8) == 0);
    for (size_t i = 0; i < w->n_urls; i++)
        w->tls.enabled = w->tls.enabled || strncmp(w->urls[i], "https://", 8) == 0;
    if (w->name && dec_duplicate(d, "webhook", w->name, name, d->webhook_at, webhook_name_at, self))
        return;
    d->webhook_at[self] = w->name ? name : NULL;
}

void dec_webhook(struct dctx *d, struct cnode *map)
{
    struct tocsin_webhook_conf *w = &d->cfg->webhooks[d->cfg->n_webhooks++];
    struct webhook_dec wd = { .w = w, .fmt = tocsin_format_find("statuspageone") };

    if (webhook_init(w) < 0)
        return dec_oom(d);
    dec_set_where(d, "webhook", dec_scalar_value(map, "name"));
    dec_map(d, map, webhook_table, N(webhook_table), &wd);
    webhook_finish(d, map, &wd);
    if (wd.one)
        explicit_bzero(wd.one, strlen(wd.one));
    free(wd.one);
}
