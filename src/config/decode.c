/* Table-driven decoder: node tree -> struct tocsin_config.
 *
 * Each section has a table of directives (nginx style).  A directive with no
 * decoder is a DESIGN §3 key that is "not supported yet": it is rejected, never
 * silently ignored.  Anything not in a table is an unknown key, with a "did you
 * mean" suggestion.  Defaults are applied in one place per object (the *_init
 * functions and finish_monitor) and every problem is reported, not just the first. */
#include "decode.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "secret.h"

#define D_HTTP 1u /* monitor keys valid only for type http */
#define D_TCP 2u  /* ... only for type tcp */
#define MAX_KEYS 48

struct dctx;
typedef void (*dfn)(struct dctx *d, struct cnode *val, void *obj);

struct directive {
    const char *key;
    dfn fn;          /* NULL: named in DESIGN but not supported yet */
    unsigned flags;  /* D_HTTP / D_TCP */
};

struct defaults {
    uint64_t interval_ms, timeout_ms, retry_ms;
    bool retry_set;
    struct cnode *policy, *regions, *quorum_node;
    size_t policy_idx;
    size_t *region_idx;
    size_t n_regions;
    int quorum;
};

struct dctx {
    struct cfg_log *log;
    struct tocsin_config *cfg;
    int rc;                 /* -ENOMEM once an allocation failed */
    const char *key;        /* key being decoded, for messages */
    char where[96];         /* ' in monitor "api"' etc. */
    unsigned kind;          /* D_HTTP / D_TCP while decoding a monitor, else 0 */
    struct defaults def;
    const struct cnode **webhook_at, **policy_at, **monitor_at; /* for duplicate reports */
};

#define N(a) (sizeof(a) / sizeof(*(a)))

static void oom(struct dctx *d)
{
    d->rc = -ENOMEM;
}

/* ---- generic helpers ---------------------------------------------------- */

static const struct directive *find_directive(const struct directive *t, size_t n,
                                              const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].key, key) == 0)
            return &t[i];
    return NULL;
}

static void unknown_name(struct dctx *d, const struct cnode *at, const char *what,
                         const char *const *cands, size_t n)
{
    const char *hint = cfg_suggest(at->value, cands, n);

    if (hint)
        cfg_error_at(d->log, at, "unknown %s \"%s\"%s (did you mean \"%s\"?)", what,
                     cnode_shown(at), d->where, hint);
    else
        cfg_error_at(d->log, at, "unknown %s \"%s\"%s", what, cnode_shown(at), d->where);
}

static void unknown_key(struct dctx *d, const struct cnode *key, const struct directive *t,
                        size_t n)
{
    const char *names[MAX_KEYS];

    for (size_t i = 0; i < n && i < MAX_KEYS; i++)
        names[i] = t[i].key;
    unknown_name(d, key, "key", names, n < MAX_KEYS ? n : MAX_KEYS);
}

static void decode_map(struct dctx *d, struct cnode *map, const struct directive *t, size_t n,
                       void *obj)
{
    for (size_t i = 0; i < map->n && d->rc == 0; i++) {
        const struct cnode *key = map->keys[i];
        const struct directive *dir = find_directive(t, n, key->value);

        if (!dir)
            unknown_key(d, key, t, n);
        else if (!dir->fn)
            cfg_error_at(d->log, key, "\"%s\" is not supported yet", key->value);
        else if (dir->flags && d->kind && !(dir->flags & d->kind))
            cfg_error_at(d->log, key, "\"%s\" is not valid for %s monitor", key->value,
                         d->kind == D_HTTP ? "an http" : "a tcp");
        else {
            d->key = key->value;
            dir->fn(d, map->items[i], obj);
        }
    }
}

static bool want(struct dctx *d, const struct cnode *val, enum cnode_kind kind)
{
    static const char *const names[] = { "a string", "a list", "a mapping" };

    if (val->kind == kind)
        return true;
    cfg_error_at(d->log, val, "\"%s\" must be %s", d->key, names[kind]);
    return false;
}

static bool want_list(struct dctx *d, struct cnode *val)
{
    if (cnode_split_list(val) < 0) {
        oom(d);
        return false;
    }
    return want(d, val, CNODE_SEQ);
}

static void set_str(struct dctx *d, struct cnode *val, char **out)
{
    char *s;

    if (!want(d, val, CNODE_SCALAR))
        return;
    s = strdup(val->value);
    if (!s)
        return oom(d);
    free(*out);
    *out = s;
}

static bool get_int(struct dctx *d, const struct cnode *val, int min, int max, int *out)
{
    char *end;
    long v;

    if (!want(d, val, CNODE_SCALAR))
        return false;
    errno = 0;
    v = strtol(val->value, &end, 10);
    if (val->value[0] == '\0' || *end || errno || v < -1000000000L || v > 1000000000L) {
        cfg_error_at(d->log, val, "bad integer \"%s\" for \"%s\"", cnode_shown(val), d->key);
        return false;
    }
    if (v < min || v > max) {
        if (max == 1000000000)
            cfg_error_at(d->log, val, "\"%s\" must be at least %d", d->key, min);
        else
            cfg_error_at(d->log, val, "\"%s\" must be between %d and %d", d->key, min, max);
        return false;
    }
    *out = (int)v;
    return true;
}

static void set_int_min1(struct dctx *d, struct cnode *val, int *out)
{
    get_int(d, val, 1, 1000000000, out);
}

static bool get_duration(struct dctx *d, const struct cnode *val, uint64_t *out)
{
    uint64_t ms;

    if (!want(d, val, CNODE_SCALAR))
        return false;
    if (tocsin_config_parse_duration(val->value, &ms) < 0) {
        cfg_error_at(d->log, val,
                     "bad duration \"%s\" for \"%s\": use a number with ms, s, m, h or d (e.g. 30s)",
                     cnode_shown(val), d->key);
        return false;
    }
    if (ms == 0) {
        cfg_error_at(d->log, val, "\"%s\" must be greater than 0", d->key);
        return false;
    }
    *out = ms;
    return true;
}

/* Index of VAL in NAMES (case-insensitive), or -1 after reporting "use HINT". */
static int get_enum(struct dctx *d, const struct cnode *val, const char *const *names, size_t n,
                    const char *hint)
{
    if (!want(d, val, CNODE_SCALAR))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(val->value, names[i]) == 0)
            return (int)i;
    cfg_error_at(d->log, val, "bad value \"%s\" for \"%s\": use %s", cnode_shown(val), d->key,
                 hint);
    return -1;
}

static void set_method(struct dctx *d, struct cnode *val, char **out, const char *const *names,
                       size_t n, const char *hint)
{
    int i = get_enum(d, val, names, n, hint);
    char *s;

    if (i < 0)
        return;
    s = strdup(names[i]);
    if (!s)
        return oom(d);
    free(*out);
    *out = s;
}

static bool valid_url(const char *url)
{
    size_t skip = strncmp(url, "http://", 7) == 0    ? 7
                  : strncmp(url, "https://", 8) == 0 ? 8
                                                      : 0;

    return skip && strcspn(url + skip, "/?#") > 0 && !strpbrk(url, " \t\r\n");
}

static void set_url(struct dctx *d, struct cnode *val, char **out)
{
    if (!want(d, val, CNODE_SCALAR))
        return;
    /* The URL is not echoed: it may carry userinfo. */
    if (!valid_url(val->value)) {
        cfg_error_at(d->log, val, "\"%s\" must be an http:// or https:// URL with a host", d->key);
        return;
    }
    set_str(d, val, out);
}

static bool valid_header_name(const char *s)
{
    size_t len = strlen(s);

    return len > 0 &&
           strspn(s, "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") ==
               len;
}

static int kv_add(struct tocsin_kvlist *list, const char *name, const char *value)
{
    struct tocsin_kv *items = realloc(list->items, (list->n + 1) * sizeof(*items));

    if (!items)
        return -ENOMEM;
    list->items = items;
    items[list->n].name = strdup(name);
    items[list->n].value = strdup(value);
    if (!items[list->n].name || !items[list->n].value) {
        free(items[list->n].name);
        free(items[list->n].value);
        return -ENOMEM;
    }
    list->n++;
    return 0;
}

static void set_headers(struct dctx *d, struct cnode *val, struct tocsin_kvlist *list)
{
    if (!want(d, val, CNODE_MAP))
        return;
    for (size_t i = 0; i < val->n && d->rc == 0; i++) {
        const struct cnode *k = val->keys[i], *v = val->items[i];

        if (!valid_header_name(k->value))
            cfg_error_at(d->log, k, "bad header name \"%s\"", k->value);
        else if (v->kind != CNODE_SCALAR)
            cfg_error_at(d->log, v, "header \"%s\" must be a string", k->value);
        else if (strpbrk(v->value, "\r\n"))
            cfg_error_at(d->log, v, "header \"%s\" must not contain a line break", k->value);
        else if (kv_add(list, k->value, v->value) < 0)
            oom(d);
    }
}

static void set_where(struct dctx *d, const char *what, const char *name)
{
    if (name)
        snprintf(d->where, sizeof(d->where), " in %s \"%.64s\"", what, name);
    else
        snprintf(d->where, sizeof(d->where), " in %s", what);
}

static const char *scalar_value(const struct cnode *map, const char *key)
{
    const struct cnode *n = cnode_get(map, key);

    return n && n->kind == CNODE_SCALAR ? n->value : NULL;
}

/* Reports NAME if an earlier object had it; AT[] holds where each was defined. */
static bool duplicate(struct dctx *d, const char *what, const char *name, const struct cnode *at,
                      const struct cnode **ats, char *(*name_of)(struct dctx *, size_t), size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *other = name_of(d, i);

        if (other && ats[i] && strcmp(other, name) == 0) {
            cfg_error_at(d->log, at, "duplicate %s \"%s\" (first defined at %s:%d:%d)", what,
                         name, ats[i]->file->name, ats[i]->line, ats[i]->col);
            return true;
        }
    }
    return false;
}

/* Resolves a list of names to indexes; "all" (when ALL_OK) means every name. */
static size_t *resolve_names(struct dctx *d, struct cnode *list, const char *what,
                             const char *const *names, size_t n, bool all_ok, size_t *count)
{
    size_t *idx = calloc(list->n * (all_ok ? n : 1) + 1, sizeof(*idx)), k = 0;

    if (!idx) {
        oom(d);
        return NULL;
    }
    for (size_t i = 0; i < list->n; i++) {
        const struct cnode *item = list->items[i];
        size_t j = 0;

        if (item->kind != CNODE_SCALAR) {
            cfg_error_at(d->log, item, "each item of \"%s\" must be a string", d->key);
            continue;
        }
        if (all_ok && strcmp(item->value, "all") == 0) {
            for (j = 0; j < n; j++)
                idx[k++] = j;
            continue;
        }
        while (j < n && strcmp(names[j], item->value) != 0)
            j++;
        if (j == n)
            unknown_name(d, item, what, names, n);
        else
            idx[k++] = j;
    }
    *count = k;
    return idx;
}

/* ---- agent ---------------------------------------------------------------- */

static void check_region_name(struct dctx *d, const struct cnode *val)
{
    if (strcmp(val->value, "all") == 0)
        cfg_error_at(d->log, val, "region name \"all\" is reserved");
    else if (!tocsin_config_valid_id(val->value))
        cfg_error_at(d->log, val, "bad region name \"%s\": use 1 to 64 of A-Z a-z 0-9 _ . -",
                     cnode_shown(val));
}

static void agent_region(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_agent_conf *a = obj;

    if (want(d, val, CNODE_SCALAR)) {
        check_region_name(d, val);
        set_str(d, val, &a->region);
    }
}

static void agent_state_dir(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_agent_conf *a = obj;

    set_str(d, val, &a->state_dir);
    if (a->state_dir && a->state_dir[0] == '\0')
        cfg_error_at(d->log, val, "\"state_dir\" must not be empty");
}

static void agent_max_concurrency(struct dctx *d, struct cnode *val, void *obj)
{
    set_int_min1(d, val, &((struct tocsin_agent_conf *)obj)->max_concurrency);
}

static void agent_log_level(struct dctx *d, struct cnode *val, void *obj)
{
    static const char *const names[] = { "debug", "info", "warn", "error" };
    int i = get_enum(d, val, names, N(names), "debug, info, warn or error");

    if (i >= 0)
        ((struct tocsin_agent_conf *)obj)->log_level = (enum tocsin_log_level)i;
}

static void agent_log_format(struct dctx *d, struct cnode *val, void *obj)
{
    static const char *const names[] = { "logfmt", "json" };
    int i = get_enum(d, val, names, N(names), "logfmt or json");

    if (i >= 0)
        ((struct tocsin_agent_conf *)obj)->log_format = (enum tocsin_log_format)i;
}

static const struct directive agent_table[] = {
    { "region", agent_region, 0 },          { "state_dir", agent_state_dir, 0 },
    { "listen", NULL, 0 },                  { "max_concurrency", agent_max_concurrency, 0 },
    { "log_level", agent_log_level, 0 },    { "log_format", agent_log_format, 0 },
    { "shard", NULL, 0 },                   { "canaries", NULL, 0 },
};

static int agent_init(struct tocsin_agent_conf *a)
{
    a->region = strdup("default");
    a->state_dir = strdup("/var/lib/tocsin");
    a->max_concurrency = 2000;
    a->log_level = TOCSIN_LOG_INFO;
    a->log_format = TOCSIN_LOG_LOGFMT;
    return a->region && a->state_dir ? 0 : -ENOMEM;
}

/* ---- webhooks ------------------------------------------------------------- */

struct webhook_dec {
    struct tocsin_webhook_conf *w;
    struct cnode *secret, *secret_file;
};

static void wh_name(struct dctx *d, struct cnode *val, void *obj)
{
    set_str(d, val, &((struct webhook_dec *)obj)->w->name);
}

static void wh_url(struct dctx *d, struct cnode *val, void *obj)
{
    set_url(d, val, &((struct webhook_dec *)obj)->w->url);
}

static void wh_format(struct dctx *d, struct cnode *val, void *obj)
{
    static const char *const names[] = { "statuspageone", "statuspage", "betterstack",
                                         "atstatus", "statusstack", "pagerduty", "alertmanager" };
    if (!want(d, val, CNODE_SCALAR))
        return;
    if (strcmp(val->value, "statuspageone") == 0)
        return set_str(d, val, &((struct webhook_dec *)obj)->w->format);
    for (size_t i = 1; i < N(names); i++)
        if (strcmp(val->value, names[i]) == 0)
            return cfg_error_at(d->log, val, "format \"%s\" is not supported yet", names[i]);
    unknown_name(d, val, "format", names, N(names));
}

static void wh_signing(struct dctx *d, struct cnode *val, void *obj)
{
    static const char *const names[] = { "default", "none", "standard" };
    int i = get_enum(d, val, names, N(names), "default or none");

    if (i == 2)
        cfg_error_at(d->log, val, "signing \"standard\" is not supported yet");
    else if (i >= 0)
        ((struct webhook_dec *)obj)->w->signing =
            i == 0 ? TOCSIN_SIGNING_DEFAULT : TOCSIN_SIGNING_NONE;
}

static void wh_secret(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;

    val->sensitive = true; /* a secret is never echoed, expanded or not */
    wd->secret = val;
    set_str(d, val, &wd->w->secret);
    /* An empty key signs nothing a receiver can trust: almost always an empty variable. */
    if (wd->w->secret && wd->w->secret[0] == '\0')
        cfg_error_at(d->log, val, "\"secret\" is empty");
}

static void wh_secret_file(struct dctx *d, struct cnode *val, void *obj)
{
    if (want(d, val, CNODE_SCALAR))
        ((struct webhook_dec *)obj)->secret_file = val;
}

static void wh_events(struct dctx *d, struct cnode *val, void *obj)
{
    static const char *const names[] = { "incident", "recovery" };
    struct tocsin_webhook_conf *w = ((struct webhook_dec *)obj)->w;
    size_t *idx, n = 0;

    if (!want_list(d, val))
        return;
    idx = resolve_names(d, val, "event", names, N(names), false, &n);
    if (!idx)
        return;
    w->events = 0;
    for (size_t i = 0; i < n; i++)
        w->events |= idx[i] == 0 ? TOCSIN_EVENT_INCIDENT : TOCSIN_EVENT_RECOVERY;
    if (val->n == 0)
        cfg_error_at(d->log, val, "\"events\" must not be empty");
    free(idx);
}

static void wh_headers(struct dctx *d, struct cnode *val, void *obj)
{
    set_headers(d, val, &((struct webhook_dec *)obj)->w->headers);
}

static void wh_method(struct dctx *d, struct cnode *val, void *obj)
{
    static const char *const names[] = { "POST", "PUT", "PATCH" };

    set_method(d, val, &((struct webhook_dec *)obj)->w->method, names, N(names),
               "POST, PUT or PATCH");
}

static void wh_timeout(struct dctx *d, struct cnode *val, void *obj)
{
    get_duration(d, val, &((struct webhook_dec *)obj)->w->timeout_ms);
}

static void wh_connect_timeout(struct dctx *d, struct cnode *val, void *obj)
{
    get_duration(d, val, &((struct webhook_dec *)obj)->w->connect_timeout_ms);
}

static const struct directive webhook_table[] = {
    { "name", wh_name, 0 },
    { "url", wh_url, 0 },
    { "format", wh_format, 0 },
    { "signing", wh_signing, 0 },
    { "secret", wh_secret, 0 },
    { "secrets", NULL, 0 },
    { "secret_file", wh_secret_file, 0 },
    { "events", wh_events, 0 },
    { "rate_limit", NULL, 0 },
    { "retries", NULL, 0 },
    { "retry_backoff", NULL, 0 },
    { "max_age", NULL, 0 },
    { "timeout", wh_timeout, 0 },
    { "connect_timeout", wh_connect_timeout, 0 },
    { "headers", wh_headers, 0 },
    { "method", wh_method, 0 },
    { "tls", NULL, 0 },
    { "proxy", NULL, 0 },
    { "routing_key", NULL, 0 },
    { "urls", NULL, 0 },
};

static int webhook_init(struct tocsin_webhook_conf *w)
{
    w->format = strdup("statuspageone");
    w->method = strdup("POST");
    w->signing = TOCSIN_SIGNING_DEFAULT;
    w->events = TOCSIN_EVENT_INCIDENT | TOCSIN_EVENT_RECOVERY;
    w->timeout_ms = 30000; /* statuspageone's own default */
    w->connect_timeout_ms = 10000;
    return w->format && w->method ? 0 : -ENOMEM;
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
    if (!w->url && !cnode_get(map, "url"))
        cfg_error_at(d->log, map, "missing \"url\"%s", d->where);
    if (wd->secret && wd->secret_file)
        cfg_error_at(d->log, wd->secret_file, "\"secret\" and \"secret_file\" are mutually exclusive");
    else if (wd->secret_file && cfg_read_secret(d->log, wd->secret_file, &w->secret) < 0)
        oom(d);
    if (w->name && duplicate(d, "webhook", w->name, name, d->webhook_at, webhook_name_at, self))
        return;
    d->webhook_at[self] = w->name ? name : NULL;
}

static void decode_webhook(struct dctx *d, struct cnode *map)
{
    struct tocsin_webhook_conf *w = &d->cfg->webhooks[d->cfg->n_webhooks++];
    struct webhook_dec wd = { .w = w };

    if (webhook_init(w) < 0)
        return oom(d);
    set_where(d, "webhook", scalar_value(map, "name"));
    decode_map(d, map, webhook_table, N(webhook_table), &wd);
    webhook_finish(d, map, &wd);
}

/* ---- policies ------------------------------------------------------------- */

struct level_dec {
    struct tocsin_level_conf *l;
    struct cnode *level, *after, *notify;
};

static void lv_level(struct dctx *d, struct cnode *val, void *obj)
{
    struct level_dec *ld = obj;

    if (get_int(d, val, 1, 1000000000, &ld->l->level))
        ld->level = val;
}

static void lv_after(struct dctx *d, struct cnode *val, void *obj)
{
    struct level_dec *ld = obj;

    if (get_int(d, val, 1, 1000000000, &ld->l->after))
        ld->after = val;
}

static void lv_notify(struct dctx *d, struct cnode *val, void *obj)
{
    struct level_dec *ld = obj;

    if (!want_list(d, val))
        return;
    ld->notify = val;
    if (val->n == 0)
        cfg_error_at(d->log, val, "\"notify\" must not be empty");
}

static const struct directive level_table[] = {
    { "level", lv_level, 0 },
    { "after", lv_after, 0 },
    { "notify", lv_notify, 0 },
    { "repeat", NULL, 0 },
};

static void resolve_notify(struct dctx *d, struct level_dec *ld)
{
    const char *names[256];
    size_t n = d->cfg->n_webhooks < N(names) ? d->cfg->n_webhooks : N(names);

    for (size_t i = 0; i < n; i++)
        names[i] = d->cfg->webhooks[i].name ? d->cfg->webhooks[i].name : "";
    d->key = "notify";
    ld->l->notify = resolve_names(d, ld->notify, "webhook", names, n, false, &ld->l->n_notify);
}

/* Levels must rise in both level and after; after >= failure_threshold. */
static void check_level(struct dctx *d, const struct tocsin_policy_conf *p, size_t i,
                        const struct level_dec *ld)
{
    const struct tocsin_level_conf *prev = i ? &p->levels[i - 1] : NULL;

    if (ld->level && prev && ld->l->level <= prev->level)
        cfg_error_at(d->log, ld->level, "levels must rise: level %d is not above level %d%s",
                     ld->l->level, prev->level, d->where);
    if (!ld->after)
        return;
    if (prev && ld->l->after <= prev->after)
        cfg_error_at(d->log, ld->after,
                     "levels must rise: \"after\" %d is not above the previous level's %d%s",
                     ld->l->after, prev->after, d->where);
    else if (ld->l->after < p->failure_threshold)
        cfg_error_at(d->log, ld->after, "\"after\" %d is below failure_threshold %d%s",
                     ld->l->after, p->failure_threshold, d->where);
}

static void decode_level(struct dctx *d, struct tocsin_policy_conf *p, struct cnode *map)
{
    struct tocsin_level_conf *l = &p->levels[p->n_levels];
    struct level_dec ld = { .l = l };

    if (map->kind != CNODE_MAP) {
        cfg_error_at(d->log, map, "each item of \"levels\" must be a mapping");
        return;
    }
    p->n_levels++;
    decode_map(d, map, level_table, N(level_table), &ld);
    if (!cnode_get(map, "level"))
        cfg_error_at(d->log, map, "missing \"level\"%s", d->where);
    if (!cnode_get(map, "after"))
        cfg_error_at(d->log, map, "missing \"after\"%s", d->where);
    if (!cnode_get(map, "notify"))
        cfg_error_at(d->log, map, "missing \"notify\"%s", d->where);
    if (ld.notify)
        resolve_notify(d, &ld);
    check_level(d, p, p->n_levels - 1, &ld);
}

struct policy_dec {
    struct tocsin_policy_conf *p;
    struct cnode *levels;
};

static void po_failure(struct dctx *d, struct cnode *val, void *obj)
{
    set_int_min1(d, val, &((struct policy_dec *)obj)->p->failure_threshold);
}

static void po_success(struct dctx *d, struct cnode *val, void *obj)
{
    set_int_min1(d, val, &((struct policy_dec *)obj)->p->success_threshold);
}

static void po_levels(struct dctx *d, struct cnode *val, void *obj)
{
    if (!want(d, val, CNODE_SEQ))
        return;
    if (val->n == 0)
        cfg_error_at(d->log, val, "\"levels\" must not be empty");
    ((struct policy_dec *)obj)->levels = val;
}

static const struct directive policy_table[] = {
    { "failure_threshold", po_failure, 0 },
    { "success_threshold", po_success, 0 },
    { "levels", po_levels, 0 },
};

/* The level a policy without levels gets: level 1 at the threshold, every webhook. */
static int default_level(struct tocsin_config *cfg, struct tocsin_policy_conf *p)
{
    p->levels = calloc(1, sizeof(*p->levels));
    if (!p->levels)
        return -ENOMEM;
    p->n_levels = 1;
    p->levels[0].level = 1;
    p->levels[0].after = p->failure_threshold;
    p->levels[0].notify = calloc(cfg->n_webhooks + 1, sizeof(size_t));
    if (!p->levels[0].notify)
        return -ENOMEM;
    for (size_t i = 0; i < cfg->n_webhooks; i++)
        p->levels[0].notify[i] = i;
    p->levels[0].n_notify = cfg->n_webhooks;
    return 0;
}

static char *policy_name_at(struct dctx *d, size_t i)
{
    return d->cfg->policies[i].name;
}

static void decode_policy(struct dctx *d, struct cnode *key, struct cnode *map)
{
    struct tocsin_policy_conf *p = &d->cfg->policies[d->cfg->n_policies++];
    struct policy_dec pd = { .p = p };

    p->failure_threshold = 3;
    p->success_threshold = 1;
    p->name = strdup(key->value);
    if (!p->name)
        return oom(d);
    set_where(d, "policy", key->value);
    if (!duplicate(d, "policy", p->name, key, d->policy_at, policy_name_at, d->cfg->n_policies - 1))
        d->policy_at[d->cfg->n_policies - 1] = key;
    d->key = key->value;
    if (!want(d, map, CNODE_MAP))
        return;
    decode_map(d, map, policy_table, N(policy_table), &pd);
    if (!pd.levels || pd.levels->n == 0) {
        if (default_level(d->cfg, p) < 0)
            oom(d);
        return;
    }
    p->levels = calloc(pd.levels->n, sizeof(*p->levels));
    if (!p->levels)
        return oom(d);
    for (size_t i = 0; i < pd.levels->n && d->rc == 0; i++)
        decode_level(d, p, pd.levels->items[i]);
}

static void builtin_policy(struct dctx *d)
{
    struct tocsin_config *cfg = d->cfg;
    struct tocsin_policy_conf *p;

    for (size_t i = 0; i < cfg->n_policies; i++)
        if (strcmp(cfg->policies[i].name, "default") == 0)
            return;
    p = &cfg->policies[cfg->n_policies++];
    p->name = strdup("default");
    p->failure_threshold = 3;
    p->success_threshold = 1;
    if (!p->name || default_level(cfg, p) < 0)
        oom(d);
}

/* ---- defaults ------------------------------------------------------------- */

static void df_interval(struct dctx *d, struct cnode *val, void *obj)
{
    get_duration(d, val, &((struct defaults *)obj)->interval_ms);
}

static void df_timeout(struct dctx *d, struct cnode *val, void *obj)
{
    get_duration(d, val, &((struct defaults *)obj)->timeout_ms);
}

static void df_retry(struct dctx *d, struct cnode *val, void *obj)
{
    struct defaults *def = obj;

    def->retry_set = get_duration(d, val, &def->retry_ms);
}

static void df_policy(struct dctx *d, struct cnode *val, void *obj)
{
    if (want(d, val, CNODE_SCALAR))
        ((struct defaults *)obj)->policy = val;
}

static void df_regions(struct dctx *d, struct cnode *val, void *obj)
{
    if (want_list(d, val))
        ((struct defaults *)obj)->regions = val;
}

static void df_quorum(struct dctx *d, struct cnode *val, void *obj)
{
    struct defaults *def = obj;

    if (get_int(d, val, 1, 1000000000, &def->quorum))
        def->quorum_node = val;
}

static const struct directive defaults_table[] = {
    { "interval", df_interval, 0 }, { "timeout", df_timeout, 0 },
    { "retry_interval", df_retry, 0 }, { "policy", df_policy, 0 },
    { "regions", df_regions, 0 },   { "quorum", df_quorum, 0 },
};

static bool resolve_policy(struct dctx *d, struct cnode *val, size_t *out)
{
    const char *names[256];
    size_t n = d->cfg->n_policies < N(names) ? d->cfg->n_policies : N(names);

    for (size_t i = 0; i < n; i++) {
        names[i] = d->cfg->policies[i].name ? d->cfg->policies[i].name : "";
        if (strcmp(names[i], val->value) == 0) {
            *out = i;
            return true;
        }
    }
    unknown_name(d, val, "policy", names, n);
    return false;
}

/* Sets *OK false when a name did not resolve (the quorum check is then moot). */
static size_t *resolve_regions(struct dctx *d, struct cnode *list, size_t *count, bool *ok)
{
    const char *names[1] = { d->cfg->regions[0].name };
    size_t before = d->log->n;
    size_t *idx;

    d->key = "regions";
    if (list->n == 0)
        cfg_error_at(d->log, list, "\"regions\" must not be empty");
    idx = resolve_names(d, list, "region", names, d->cfg->n_regions, true, count);
    *ok = d->log->n == before;
    return idx;
}

static bool check_quorum(struct dctx *d, const struct cnode *at, int quorum, size_t n_regions)
{
    if (quorum >= 1 && (size_t)quorum <= n_regions)
        return true;
    cfg_error_at(d->log, at, "\"quorum\" must be between 1 and %zu (the number of regions)%s",
                 n_regions, d->where);
    return false;
}

static void check_timeout(struct dctx *d, const struct cnode *at, uint64_t timeout,
                          uint64_t interval)
{
    char t[32], i[32];

    if (timeout <= interval)
        return;
    tocsin_config_format_duration(timeout, t, sizeof(t));
    tocsin_config_format_duration(interval, i, sizeof(i));
    cfg_error_at(d->log, at, "\"timeout\" (%s) must not be greater than \"interval\" (%s)%s", t, i,
                 d->where);
}

static void decode_defaults(struct dctx *d, struct cnode *map)
{
    struct defaults *def = &d->def;

    const struct cnode *at = NULL;
    bool regions_ok = true;

    set_where(d, "defaults", NULL);
    if (map) { /* a mapping: checked by split_root */
        decode_map(d, map, defaults_table, N(defaults_table), def);
        at = cnode_get(map, "timeout") ? cnode_get(map, "timeout") : cnode_get(map, "interval");
    }
    if (at)
        check_timeout(d, at, def->timeout_ms, def->interval_ms);
    if (def->policy && !resolve_policy(d, def->policy, &def->policy_idx))
        def->policy = NULL;
    if (!def->policy) {
        struct cnode dflt = { .kind = CNODE_SCALAR, .value = "default" };

        resolve_policy(d, &dflt, &def->policy_idx); /* always there: built in */
    }
    if (def->regions) {
        def->region_idx = resolve_regions(d, def->regions, &def->n_regions, &regions_ok);
    } else {
        def->region_idx = calloc(d->cfg->n_regions, sizeof(size_t));
        def->n_regions = d->cfg->n_regions;
    }
    if (!def->region_idx)
        return oom(d);
    if (def->quorum_node && regions_ok)
        check_quorum(d, def->quorum_node, def->quorum, def->n_regions);
}

/* ---- monitors ------------------------------------------------------------- */

struct monitor_dec {
    struct tocsin_monitor_conf *m;
    struct cnode *map, *idnode, *interval, *timeout, *retry, *policy, *regions, *quorum;
};

static void mo_ignore(struct dctx *d, struct cnode *val, void *obj)
{
    (void)d, (void)val, (void)obj; /* id, name, type: decoded before the walk */
}

static void mo_url(struct dctx *d, struct cnode *val, void *obj)
{
    set_url(d, val, &((struct monitor_dec *)obj)->m->url);
}

static void mo_method(struct dctx *d, struct cnode *val, void *obj)
{
    static const char *const names[] = { "HEAD", "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" };

    set_method(d, val, &((struct monitor_dec *)obj)->m->method, names, N(names),
               "HEAD, GET, POST, PUT, PATCH, DELETE or OPTIONS");
}

static void mo_headers(struct dctx *d, struct cnode *val, void *obj)
{
    set_headers(d, val, &((struct monitor_dec *)obj)->m->headers);
}

static bool parse_status(const char *s, struct tocsin_status_range *r)
{
    char *end;
    long lo, hi;

    if (*s < '0' || *s > '9')
        return false;
    lo = strtol(s, &end, 10);
    hi = lo;
    if (*end == '-') {
        if (end[1] < '0' || end[1] > '9')
            return false;
        hi = strtol(end + 1, &end, 10);
    }
    if (*end || lo < 100 || hi > 599 || lo > hi)
        return false;
    r->lo = (int)lo;
    r->hi = (int)hi;
    return true;
}

static void ex_status(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_monitor_conf *m = ((struct monitor_dec *)obj)->m;
    struct tocsin_status_range *r;

    if (val->kind == CNODE_SCALAR && !val->from_ini) {
        /* a single code or range needs no brackets */
        struct cnode one = { .kind = CNODE_SEQ, .items = &val, .n = 1 };

        return ex_status(d, &one, obj);
    }
    if (!want_list(d, val))
        return;
    r = calloc(val->n + 1, sizeof(*r));
    if (!r)
        return oom(d);
    free(m->expect_status);
    m->expect_status = r;
    m->n_expect_status = 0;
    for (size_t i = 0; i < val->n; i++) {
        const struct cnode *it = val->items[i];

        if (it->kind != CNODE_SCALAR || !parse_status(it->value, &r[m->n_expect_status]))
            cfg_error_at(d->log, it, "bad status range \"%s\": use codes 100-599 like 200 or 200-299",
                         it->kind == CNODE_SCALAR ? cnode_shown(it) : "");
        else
            m->n_expect_status++;
    }
    if (val->n == 0)
        cfg_error_at(d->log, val, "\"status\" must not be empty");
}

static const struct directive expect_table[] = {
    { "status", ex_status, 0 },
    { "body_contains", NULL, 0 },
    { "body_not_contains", NULL, 0 },
    { "body_regex", NULL, 0 },
    { "body_not_regex", NULL, 0 },
    { "header", NULL, 0 },
    { "max_response_time", NULL, 0 },
    { "cert_min_days", NULL, 0 },
    { "contains", NULL, 0 },
};

static void mo_expect(struct dctx *d, struct cnode *val, void *obj)
{
    if (d->kind == D_TCP) {
        const struct cnode *m = ((struct monitor_dec *)obj)->map;

        cfg_error_at(d->log, m->keys[cnode_find(m, "expect")], "\"expect\" is not supported yet");
        return;
    }
    if (want(d, val, CNODE_MAP))
        decode_map(d, val, expect_table, N(expect_table), obj);
}

static void mo_host(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_monitor_conf *m = ((struct monitor_dec *)obj)->m;

    set_str(d, val, &m->host);
    if (m->host && (m->host[0] == '\0' || strpbrk(m->host, " \t/")))
        cfg_error_at(d->log, val, "bad host \"%s\"", cnode_shown(val));
}

static void mo_port(struct dctx *d, struct cnode *val, void *obj)
{
    get_int(d, val, 1, 65535, &((struct monitor_dec *)obj)->m->port);
}

static void mo_interval(struct dctx *d, struct cnode *val, void *obj)
{
    struct monitor_dec *md = obj;

    if (get_duration(d, val, &md->m->interval_ms))
        md->interval = val;
}

static void mo_timeout(struct dctx *d, struct cnode *val, void *obj)
{
    struct monitor_dec *md = obj;

    if (get_duration(d, val, &md->m->timeout_ms))
        md->timeout = val;
}

static void mo_retry(struct dctx *d, struct cnode *val, void *obj)
{
    struct monitor_dec *md = obj;

    if (get_duration(d, val, &md->m->retry_interval_ms))
        md->retry = val;
}

static void mo_policy(struct dctx *d, struct cnode *val, void *obj)
{
    if (want(d, val, CNODE_SCALAR))
        ((struct monitor_dec *)obj)->policy = val;
}

static void mo_regions(struct dctx *d, struct cnode *val, void *obj)
{
    if (want_list(d, val))
        ((struct monitor_dec *)obj)->regions = val;
}

static void mo_quorum(struct dctx *d, struct cnode *val, void *obj)
{
    struct monitor_dec *md = obj;

    if (get_int(d, val, 1, 1000000000, &md->m->quorum))
        md->quorum = val;
}

static const struct directive monitor_table[] = {
    { "id", mo_ignore, 0 },
    { "name", mo_ignore, 0 },
    { "type", mo_ignore, 0 },
    { "url", mo_url, D_HTTP },
    { "method", mo_method, D_HTTP },
    { "headers", mo_headers, D_HTTP },
    { "body", NULL, 0 },
    { "basic_auth", NULL, 0 },
    { "bearer_token", NULL, 0 },
    { "follow_redirects", NULL, 0 },
    { "ip_version", NULL, 0 },
    { "http_version", NULL, 0 },
    { "max_body_bytes", NULL, 0 },
    { "keep_alive", NULL, 0 },
    { "expect", mo_expect, 0 },
    { "tls", NULL, 0 },
    { "host", mo_host, D_TCP },
    { "port", mo_port, D_TCP },
    { "send", NULL, 0 },
    { "interval", mo_interval, 0 },
    { "retry_interval", mo_retry, 0 },
    { "timeout", mo_timeout, 0 },
    { "policy", mo_policy, 0 },
    { "regions", mo_regions, 0 },
    { "quorum", mo_quorum, 0 },
    { "depends_on", NULL, 0 },
    { "maintenance", NULL, 0 },
};

/* id from "id", else a slug of "name"; name defaults to the id. */
static void monitor_identity(struct dctx *d, struct monitor_dec *md)
{
    struct cnode *id = cnode_get(md->map, "id"), *name = cnode_get(md->map, "name");
    char slug[TOCSIN_ID_MAX + 1];

    d->key = "id";
    if (id && want(d, id, CNODE_SCALAR)) {
        md->idnode = id;
        if (!tocsin_config_valid_id(id->value))
            cfg_error_at(d->log, id, "bad monitor id \"%s\": use 1 to 64 of A-Z a-z 0-9 _ . -",
                         cnode_shown(id));
        set_str(d, id, &md->m->id);
    }
    d->key = "name";
    if (name && want(d, name, CNODE_SCALAR)) {
        set_str(d, name, &md->m->name);
        if (!id && tocsin_config_slug(name->value, slug, sizeof(slug)) < 0)
            cfg_error_at(d->log, name, "cannot derive a monitor id from \"name\": set \"id\"");
        else if (!id && !(md->m->id = strdup(slug)))
            oom(d);
        md->idnode = id ? id : name;
    }
    if (!id && !name)
        cfg_error_at(d->log, md->map, "missing \"id\" or \"name\" in monitor");
    if (md->m->id && !md->m->name && !(md->m->name = strdup(md->m->id)))
        oom(d);
}

/* Explicit type, else inferred: "host" without "url" means tcp, anything else http. */
static void monitor_type(struct dctx *d, struct monitor_dec *md)
{
    static const char *const names[] = { "http", "tcp" };
    struct cnode *type = cnode_get(md->map, "type");
    int i;

    md->m->type = cnode_get(md->map, "host") && !cnode_get(md->map, "url") ? TOCSIN_PROBE_TCP
                                                                          : TOCSIN_PROBE_HTTP;
    d->key = "type";
    if (type && (i = get_enum(d, type, names, N(names), "http or tcp")) >= 0)
        md->m->type = i == 0 ? TOCSIN_PROBE_HTTP : TOCSIN_PROBE_TCP;
    d->kind = md->m->type == TOCSIN_PROBE_HTTP ? D_HTTP : D_TCP;
}

static int monitor_init(struct tocsin_monitor_conf *m)
{
    m->method = strdup("GET");
    m->expect_status = calloc(1, sizeof(*m->expect_status));
    if (!m->method || !m->expect_status)
        return -ENOMEM;
    m->expect_status[0] = (struct tocsin_status_range){ 200, 299 };
    m->n_expect_status = 1;
    return 0;
}

/* Applies the defaults to what the monitor did not set, then cross-checks. */
static void monitor_schedule(struct dctx *d, struct monitor_dec *md)
{
    struct tocsin_monitor_conf *m = md->m;
    const struct defaults *def = &d->def;
    bool regions_ok = true;

    if (!md->interval)
        m->interval_ms = def->interval_ms;
    if (!md->timeout)
        m->timeout_ms = def->timeout_ms;
    if (!md->retry)
        m->retry_interval_ms = def->retry_set ? def->retry_ms : m->interval_ms;
    if (md->timeout || md->interval)
        check_timeout(d, md->timeout ? md->timeout : md->interval, m->timeout_ms, m->interval_ms);
    m->policy = def->policy_idx;
    if (md->policy)
        resolve_policy(d, md->policy, &m->policy);
    if (md->regions) {
        m->regions = resolve_regions(d, md->regions, &m->n_regions, &regions_ok);
    } else {
        m->regions = calloc(def->n_regions + 1, sizeof(size_t));
        if (m->regions)
            memcpy(m->regions, def->region_idx, def->n_regions * sizeof(size_t));
        m->n_regions = def->n_regions;
    }
    if (!m->regions)
        return oom(d);
    if (!md->quorum)
        m->quorum = def->quorum;
    if ((md->quorum || md->regions) && regions_ok)
        check_quorum(d, md->quorum ? md->quorum : md->regions, m->quorum, m->n_regions);
}

static char *monitor_id_at(struct dctx *d, size_t i)
{
    return d->cfg->monitors[i].id;
}

static void monitor_finish(struct dctx *d, struct monitor_dec *md)
{
    struct tocsin_monitor_conf *m = md->m;
    size_t self = (size_t)(m - d->cfg->monitors);

    if (m->type == TOCSIN_PROBE_HTTP && !cnode_get(md->map, "url"))
        cfg_error_at(d->log, md->map, "missing \"url\"%s", d->where);
    if (m->type == TOCSIN_PROBE_TCP && !cnode_get(md->map, "host"))
        cfg_error_at(d->log, md->map, "missing \"host\"%s", d->where);
    if (m->type == TOCSIN_PROBE_TCP && !cnode_get(md->map, "port"))
        cfg_error_at(d->log, md->map, "missing \"port\"%s", d->where);
    monitor_schedule(d, md);
    if (m->id && duplicate(d, "monitor id", m->id, md->idnode, d->monitor_at, monitor_id_at, self))
        return;
    d->monitor_at[self] = m->id ? md->idnode : NULL;
}

static void decode_monitor(struct dctx *d, struct cnode *map)
{
    struct tocsin_monitor_conf *m = &d->cfg->monitors[d->cfg->n_monitors++];
    struct monitor_dec md = { .m = m, .map = map };

    if (monitor_init(m) < 0)
        return oom(d);
    d->where[0] = '\0';
    monitor_identity(d, &md);
    set_where(d, "monitor", m->id);
    monitor_type(d, &md);
    decode_map(d, map, monitor_table, N(monitor_table), &md);
    monitor_finish(d, &md);
    d->kind = 0;
}

/* ---- top level ------------------------------------------------------------ */

struct root_parts {
    struct cnode *agent, *defaults, *webhooks, *policies, *monitors;
    bool main;
};

static void top_agent(struct dctx *d, struct cnode *val, void *obj)
{
    if (want(d, val, CNODE_MAP))
        ((struct root_parts *)obj)->agent = val;
}

static void top_defaults(struct dctx *d, struct cnode *val, void *obj)
{
    if (want(d, val, CNODE_MAP))
        ((struct root_parts *)obj)->defaults = val;
}

static void top_webhooks(struct dctx *d, struct cnode *val, void *obj)
{
    if (want(d, val, CNODE_SEQ))
        ((struct root_parts *)obj)->webhooks = val;
}

static void top_policies(struct dctx *d, struct cnode *val, void *obj)
{
    if (want(d, val, CNODE_MAP))
        ((struct root_parts *)obj)->policies = val;
}

static void top_monitors(struct dctx *d, struct cnode *val, void *obj)
{
    if (want(d, val, CNODE_SEQ))
        ((struct root_parts *)obj)->monitors = val;
}

static const struct directive top_table[] = {
    { "agent", top_agent, 0 },       { "regions", NULL, 0 },
    { "webhooks", top_webhooks, 0 }, { "policies", top_policies, 0 },
    { "defaults", top_defaults, 0 }, { "monitors", top_monitors, 0 },
};

static void split_root(struct dctx *d, struct cnode *root, struct root_parts *parts)
{
    d->where[0] = '\0';
    decode_map(d, root, top_table, N(top_table), parts);
    if (parts->main)
        return;
    /* probes.d files add monitors, webhooks and policies only. */
    for (size_t i = 0; i < root->n; i++) {
        const char *k = root->keys[i]->value;

        if (strcmp(k, "agent") == 0 || strcmp(k, "defaults") == 0 || strcmp(k, "regions") == 0)
            cfg_error_at(d->log, root->keys[i], "\"%s\" can only be set in the main config file",
                         k);
    }
    parts->agent = parts->defaults = NULL;
}

static int alloc_arrays(struct dctx *d, const struct root_parts *parts, size_t n)
{
    struct tocsin_config *cfg = d->cfg;
    size_t nw = 0, np = 1, nm = 0; /* +1 policy: the built-in default */

    for (size_t i = 0; i < n; i++) {
        nw += parts[i].webhooks ? parts[i].webhooks->n : 0;
        np += parts[i].policies ? parts[i].policies->n : 0;
        nm += parts[i].monitors ? parts[i].monitors->n : 0;
    }
    cfg->webhooks = calloc(nw + 1, sizeof(*cfg->webhooks));
    cfg->policies = calloc(np, sizeof(*cfg->policies));
    cfg->monitors = calloc(nm + 1, sizeof(*cfg->monitors));
    d->webhook_at = calloc(nw + 1, sizeof(*d->webhook_at));
    d->policy_at = calloc(np, sizeof(*d->policy_at));
    d->monitor_at = calloc(nm + 1, sizeof(*d->monitor_at));
    cfg->regions = calloc(1, sizeof(*cfg->regions));
    if (!cfg->webhooks || !cfg->policies || !cfg->monitors || !d->webhook_at || !d->policy_at ||
        !d->monitor_at || !cfg->regions)
        return -ENOMEM;
    return 0;
}

static void decode_agent(struct dctx *d, struct cnode *agent)
{
    struct tocsin_config *cfg = d->cfg;

    if (agent_init(&cfg->agent) < 0)
        return oom(d);
    set_where(d, "agent", NULL);
    if (agent)
        decode_map(d, agent, agent_table, N(agent_table), &cfg->agent);
    cfg->regions[0].name = strdup(cfg->agent.region);
    if (!cfg->regions[0].name)
        return oom(d);
    cfg->n_regions = 1;
}

static void decode_items(struct dctx *d, struct cnode *list, const char *what,
                         void (*fn)(struct dctx *, struct cnode *))
{
    for (size_t i = 0; list && i < list->n && d->rc == 0; i++) {
        if (list->items[i]->kind == CNODE_MAP)
            fn(d, list->items[i]);
        else
            cfg_error_at(d->log, list->items[i], "each item of \"%s\" must be a mapping", what);
    }
}

static void decode_all(struct dctx *d, struct root_parts *parts, size_t n)
{
    decode_agent(d, parts[0].agent);
    for (size_t i = 0; i < n && d->rc == 0; i++)
        decode_items(d, parts[i].webhooks, "webhooks", decode_webhook);
    for (size_t i = 0; i < n && d->rc == 0; i++)
        for (size_t j = 0; parts[i].policies && j < parts[i].policies->n && d->rc == 0; j++)
            decode_policy(d, parts[i].policies->keys[j], parts[i].policies->items[j]);
    if (d->rc == 0)
        builtin_policy(d);
    if (d->rc == 0)
        decode_defaults(d, parts[0].defaults);
    for (size_t i = 0; i < n && d->rc == 0; i++)
        decode_items(d, parts[i].monitors, "monitors", decode_monitor);
}

int cfg_decode(struct cfg_log *log, struct cnode *const *roots, size_t n,
               struct tocsin_config *config)
{
    struct dctx d = { .log = log, .cfg = config };
    struct root_parts *parts = calloc(n + 1, sizeof(*parts));

    d.def = (struct defaults){ .interval_ms = 60000, .timeout_ms = 10000, .quorum = 1 };
    if (!parts)
        return -ENOMEM;
    for (size_t i = 0; i < n && d.rc == 0; i++) {
        parts[i].main = i == 0;
        if (roots[i])
            split_root(&d, roots[i], &parts[i]);
    }
    if (d.rc == 0)
        d.rc = alloc_arrays(&d, parts, n);
    if (d.rc == 0)
        decode_all(&d, parts, n);
    free(parts);
    free(d.def.region_idx);
    free(d.webhook_at);
    free(d.policy_at);
    free(d.monitor_at);
    return d.rc;
}
