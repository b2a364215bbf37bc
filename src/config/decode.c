/* Table-driven decoder: node tree -> struct tocsin_config.
 *
 * Each section has a table of directives (nginx style).  Anything not in a
 * table is an unknown key, with a "did you mean" suggestion, never silently
 * ignored.  Defaults are applied in one place per object (the *_init
 * functions and monitor_finish) and every problem is reported, not just the first.
 *
 * This file is the walk (dec_map), the helpers more than one section uses and the
 * top level; each section has its own decode_*.c, sharing decode_internal.h. */
#include "decode_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "secret.h"

#define MAX_KEYS 48

void dec_oom(struct dctx *d)
{
    d->rc = -ENOMEM;
}

/* ---- generic helpers ---------------------------------------------------- */

const struct directive *dec_find_directive(const struct directive *t, size_t n,
                                           const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].key, key) == 0)
            return &t[i];
    return NULL;
}

void dec_unknown_name(struct dctx *d, const struct cnode *at, const char *what,
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
    dec_unknown_name(d, key, "key", names, n < MAX_KEYS ? n : MAX_KEYS);
}

void dec_map(struct dctx *d, struct cnode *map, const struct directive *t, size_t n,
             void *obj)
{
    for (size_t i = 0; i < map->n && d->rc == 0; i++) {
        const struct cnode *key = map->keys[i];
        const struct directive *dir = dec_find_directive(t, n, key->value);

        if (!dir)
            unknown_key(d, key, t, n);
        else if (dir->flags && d->kind && !(dir->flags & d->kind))
            cfg_error_at(d->log, key, "\"%s\" is not valid for %s monitor", key->value,
                         d->kind == D_HTTP ? "an http" : "a tcp");
        else {
            d->key = key->value;
            dir->fn(d, map->items[i], obj);
        }
    }
}

bool dec_want(struct dctx *d, const struct cnode *val, enum cnode_kind kind)
{
    static const char *const names[] = { "a string", "a list", "a mapping" };

    if (val->kind == kind)
        return true;
    cfg_error_at(d->log, val, "\"%s\" must be %s", d->key, names[kind]);
    return false;
}

bool dec_want_list(struct dctx *d, struct cnode *val)
{
    if (cnode_split_list(val) < 0) {
        dec_oom(d);
        return false;
    }
    return dec_want(d, val, CNODE_SEQ);
}

void dec_set_str(struct dctx *d, struct cnode *val, char **out)
{
    char *s;

    if (!dec_want(d, val, CNODE_SCALAR))
        return;
    s = strdup(val->value);
    if (!s)
        return dec_oom(d);
    free(*out);
    *out = s;
}

bool dec_get_int(struct dctx *d, const struct cnode *val, int min, int max, int *out)
{
    char *end;
    long v;

    if (!dec_want(d, val, CNODE_SCALAR))
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

void dec_set_int_min1(struct dctx *d, struct cnode *val, int *out)
{
    dec_get_int(d, val, 1, 1000000000, out);
}

bool dec_get_duration(struct dctx *d, const struct cnode *val, uint64_t *out)
{
    uint64_t ms;

    if (!dec_want(d, val, CNODE_SCALAR))
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
int dec_get_enum(struct dctx *d, const struct cnode *val, const char *const *names, size_t n,
                 const char *hint)
{
    if (!dec_want(d, val, CNODE_SCALAR))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(val->value, names[i]) == 0)
            return (int)i;
    cfg_error_at(d->log, val, "bad value \"%s\" for \"%s\": use %s", cnode_shown(val), d->key,
                 hint);
    return -1;
}

void dec_set_method(struct dctx *d, struct cnode *val, const char **out,
                    const char *const *names, size_t n, const char *hint)
{
    int i = dec_get_enum(d, val, names, n, hint);

    if (i >= 0)
        *out = names[i]; /* NAMES is static: nothing to copy or free */
}

bool dec_valid_url(const char *url)
{
    size_t skip = strncmp(url, "http://", 7) == 0    ? 7
                  : strncmp(url, "https://", 8) == 0 ? 8
                                                      : 0;

    return skip && strcspn(url + skip, "/?#") > 0 && !strpbrk(url, " \t\r\n");
}

void dec_set_url(struct dctx *d, struct cnode *val, char **out)
{
    if (!dec_want(d, val, CNODE_SCALAR))
        return;
    /* The URL is not echoed: it may carry userinfo. */
    if (!dec_valid_url(val->value)) {
        cfg_error_at(d->log, val, "\"%s\" must be an http:// or https:// URL with a host", d->key);
        return;
    }
    dec_set_str(d, val, out);
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

void dec_set_headers(struct dctx *d, struct cnode *val, struct tocsin_kvlist *list)
{
    if (!dec_want(d, val, CNODE_MAP))
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
            dec_oom(d);
    }
}

/* YAML 1.2 booleans only: "yes", "on" and "1" are YAML 1.1 and INI habits that
 * mean different things to different tools, so they are refused, not guessed. */
bool dec_get_bool(struct dctx *d, const struct cnode *val, bool *out)
{
    if (!dec_want(d, val, CNODE_SCALAR))
        return false;
    if (strcasecmp(val->value, "true") == 0 || strcasecmp(val->value, "false") == 0) {
        *out = strcasecmp(val->value, "true") == 0;
        return true;
    }
    cfg_error_at(d->log, val, "bad boolean \"%s\" for \"%s\": use true or false", cnode_shown(val),
                 d->key);
    return false;
}

/* A file the probe reads (CA, client certificate): resolved against the config
 * file's directory and checked now, so check-config catches a wrong path. */
static void set_path(struct dctx *d, struct cnode *val, char **out)
{
    char *path;

    if (!dec_want(d, val, CNODE_SCALAR))
        return;
    if (val->value[0] == '\0') {
        cfg_error_at(d->log, val, "\"%s\" must not be empty", d->key);
        return;
    }
    path = cfg_file_path(val);
    if (!path)
        return dec_oom(d);
    if (access(path, R_OK) < 0)
        cfg_error_at(d->log, val, "cannot read %s \"%s\": %s", d->key, cnode_shown(val),
                     strerror(errno));
    free(*out);
    *out = path;
}

void dec_set_where(struct dctx *d, const char *what, const char *name)
{
    if (name)
        snprintf(d->where, sizeof(d->where), " in %s \"%.64s\"", what, name);
    else
        snprintf(d->where, sizeof(d->where), " in %s", what);
}

const char *dec_scalar_value(const struct cnode *map, const char *key)
{
    const struct cnode *n = cnode_get(map, key);

    return n && n->kind == CNODE_SCALAR ? n->value : NULL;
}

void dec_report_duplicate(struct dctx *d, const char *what, const char *name,
                          const struct cnode *at, const struct cnode *first)
{
    cfg_error_at(d->log, at, "duplicate %s \"%s\" (first defined at %s:%d:%d)", what, name,
                 first->file->name, first->line, first->col);
}

/* Reports NAME if an earlier object had it; AT[] holds where each was defined.
 * Linear: for the few webhooks, policies and regions (monitors are indexed). */
bool dec_duplicate(struct dctx *d, const char *what, const char *name, const struct cnode *at,
                   const struct cnode **ats, char *(*name_of)(struct dctx *, size_t), size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *other = name_of(d, i);

        if (other && ats[i] && strcmp(other, name) == 0) {
            dec_report_duplicate(d, what, name, at, ats[i]);
            return true;
        }
    }
    return false;
}

/* Resolves a list of names to indexes; "all" (when ALL_OK) means every name. */
size_t *dec_resolve_names(struct dctx *d, struct cnode *list, const char *what,
                          const char *const *names, size_t n, bool all_ok, size_t *count)
{
    size_t *idx = calloc(list->n * (all_ok ? n : 1) + 1, sizeof(*idx)), k = 0;

    if (!idx) {
        dec_oom(d);
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
            dec_unknown_name(d, item, what, names, n);
        else
            idx[k++] = j;
    }
    *count = k;
    return idx;
}
/* ---- shared by regions, webhooks and monitors ----------------------------- */

/* An http://, https:// or socks5h:// proxy; never socks5:// (it resolves locally,
 * outside c-ares).  Credentials are allowed, so only a redacted form is shown. */
void dec_set_proxy(struct dctx *d, struct cnode *val, char **out)
{
    char shown[256];
    int rc;

    if (!dec_want(d, val, CNODE_SCALAR))
        return;
    rc = tocsin_config_check_proxy(val->value);
    if (val->sensitive)
        snprintf(shown, sizeof(shown), "<redacted>");
    else
        tocsin_config_redact_url(val->value, shown, sizeof(shown));
    if (rc == -EPROTONOSUPPORT)
        cfg_error_at(d->log, val, "proxy \"%s\" resolves names locally; use socks5h://", shown);
    else if (rc < 0)
        cfg_error_at(d->log, val,
                     "bad proxy \"%s\": use an http://, https:// or socks5h:// URL with a host",
                     shown);
    else
        dec_set_str(d, val, out);
}

/* The tls keys both tls tables share; each table lives with its section (the
 * monitor's in decode_monitor.c, the webhook's in decode_webhook.c). */
void dec_tl_ca_file(struct dctx *d, struct cnode *val, void *obj)
{
    set_path(d, val, &((struct tls_dec *)obj)->t->ca_file);
}

void dec_tl_skip_verify(struct dctx *d, struct cnode *val, void *obj)
{
    dec_get_bool(d, val, &((struct tls_dec *)obj)->t->skip_verify);
}

void dec_tl_cert_file(struct dctx *d, struct cnode *val, void *obj)
{
    struct tls_dec *td = obj;

    td->cert = val;
    set_path(d, val, &td->t->cert_file);
}

void dec_tl_key_file(struct dctx *d, struct cnode *val, void *obj)
{
    struct tls_dec *td = obj;

    td->key = val;
    set_path(d, val, &td->t->key_file);
}

/* Decodes a tls mapping with table T; a client certificate needs its key. */
void dec_tls(struct dctx *d, struct cnode *map, const struct directive *t, size_t n,
             struct tocsin_tls_conf *tls)
{
    struct tls_dec td = { .t = tls };

    dec_map(d, map, t, n, &td);
    if (!td.cert != !td.key)
        cfg_error_at(d->log, td.cert ? td.cert : td.key,
                     "\"cert_file\" and \"key_file\" must be given together");
}

/* ---- top level ------------------------------------------------------------ */

struct root_parts {
    struct cnode *agent, *regions, *defaults, *webhooks, *policies, *monitors;
    bool main;
};

static void top_agent(struct dctx *d, struct cnode *val, void *obj)
{
    if (dec_want(d, val, CNODE_MAP))
        ((struct root_parts *)obj)->agent = val;
}

static void top_defaults(struct dctx *d, struct cnode *val, void *obj)
{
    if (dec_want(d, val, CNODE_MAP))
        ((struct root_parts *)obj)->defaults = val;
}

static void top_regions(struct dctx *d, struct cnode *val, void *obj)
{
    if (dec_want(d, val, CNODE_SEQ))
        ((struct root_parts *)obj)->regions = val;
}

static void top_webhooks(struct dctx *d, struct cnode *val, void *obj)
{
    if (dec_want(d, val, CNODE_SEQ))
        ((struct root_parts *)obj)->webhooks = val;
}

static void top_policies(struct dctx *d, struct cnode *val, void *obj)
{
    if (dec_want(d, val, CNODE_MAP))
        ((struct root_parts *)obj)->policies = val;
}

static void top_monitors(struct dctx *d, struct cnode *val, void *obj)
{
    if (dec_want(d, val, CNODE_SEQ))
        ((struct root_parts *)obj)->monitors = val;
}

static const struct directive top_table[] = {
    { "agent", top_agent, 0 },       { "regions", top_regions, 0 },
    { "webhooks", top_webhooks, 0 }, { "policies", top_policies, 0 },
    { "defaults", top_defaults, 0 }, { "monitors", top_monitors, 0 },
};

static void split_root(struct dctx *d, struct cnode *root, struct root_parts *parts)
{
    d->where[0] = '\0';
    dec_map(d, root, top_table, N(top_table), parts);
    if (parts->main)
        return;
    /* probes.d files add monitors, webhooks and policies only. */
    for (size_t i = 0; i < root->n; i++) {
        const char *k = root->keys[i]->value;

        if (strcmp(k, "agent") == 0 || strcmp(k, "defaults") == 0 || strcmp(k, "regions") == 0)
            cfg_error_at(d->log, root->keys[i], "\"%s\" can only be set in the main config file",
                         k);
    }
    parts->agent = parts->regions = parts->defaults = NULL;
}

static int alloc_arrays(struct dctx *d, const struct root_parts *parts, size_t n)
{
    struct tocsin_config *cfg = d->cfg;
    size_t nw = 0, np = 1, nm = 0; /* +1 policy: the built-in default */
    size_t nr = parts[0].regions ? parts[0].regions->n + 1 : 1; /* +1: the fallback */

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
    d->region_at = calloc(nr, sizeof(*d->region_at));
    d->depends_at = calloc(nm + 1, sizeof(*d->depends_at));
    cfg->regions = calloc(nr, sizeof(*cfg->regions));
    if (!cfg->webhooks || !cfg->policies || !cfg->monitors || !d->webhook_at || !d->policy_at ||
        !d->monitor_at || !d->region_at || !d->depends_at || !cfg->regions ||
        tocsin_name_index_init(&d->monitor_ids, nm) < 0)
        return -ENOMEM;
    return 0;
}

void dec_items(struct dctx *d, struct cnode *list, const char *what,
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
    dec_agent(d, parts[0].agent);
    if (d->rc == 0)
        dec_regions(d, parts[0].regions);
    for (size_t i = 0; i < n && d->rc == 0; i++)
        dec_items(d, parts[i].webhooks, "webhooks", dec_webhook);
    for (size_t i = 0; i < n && d->rc == 0; i++)
        for (size_t j = 0; parts[i].policies && j < parts[i].policies->n && d->rc == 0; j++)
            dec_policy(d, parts[i].policies->keys[j], parts[i].policies->items[j]);
    if (d->rc == 0)
        dec_builtin_policy(d);
    if (d->rc == 0)
        dec_defaults(d, parts[0].defaults);
    for (size_t i = 0; i < n && d->rc == 0; i++)
        dec_items(d, parts[i].monitors, "monitors", dec_monitor);
    if (d->rc == 0)
        dec_resolve_depends(d);
    if (d->rc == 0 && d->canaries_at)
        dec_resolve_canaries(d);
    if (d->rc == 0)
        dec_apply_shard(d);
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
    free(d.webhook_at);
    free(d.policy_at);
    free(d.monitor_at);
    free(d.region_at);
    free(d.depends_at);
    tocsin_name_index_free(&d.monitor_ids);
    free(d.region_names);
    return d.rc;
}
