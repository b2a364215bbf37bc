/* Table-driven decoder: node tree -> struct tocsin_config.
 *
 * Each section has a table of directives (nginx style).  A directive with no
 * decoder is a DESIGN §3 key that is "not supported yet": it is rejected, never
 * silently ignored.  Anything not in a table is an unknown key, with a "did you
 * mean" suggestion.  Defaults are applied in one place per object (the *_init
 * functions and finish_monitor) and every problem is reported, not just the first. */
#include "decode.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "secret.h"
#include "tocsin/format.h"
#include "tocsin/maintenance.h"

#define D_HTTP 1u /* monitor keys valid only for type http */
#define D_TCP 2u  /* ... only for type tcp */
#define MAX_KEYS 48
#define MAX_BODY_BYTES_DEFAULT (1u << 20)
#define MAX_BODY_BYTES_LIMIT (64u << 20) /* a health check reads a page, not a download */
#define DNS_CACHE_MS_DEFAULT 60000
#define IFNAME_MAX 15 /* IFNAMSIZ - 1 */

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
    const struct cnode **webhook_at, **policy_at, **monitor_at, **region_at; /* duplicates */
    struct cnode **depends_at;  /* parallel to cfg->monitors: its depends_on list or NULL */
    struct cnode *canaries_at;  /* agent.canaries, resolved once every monitor is known */
    const char **region_names; /* parallel to cfg->regions, "" for a nameless one */
};

#define N(a) (sizeof(a) / sizeof(*(a)))

static void decode_items(struct dctx *d, struct cnode *list, const char *what,
                         void (*fn)(struct dctx *, struct cnode *));

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

/* YAML 1.2 booleans only: "yes", "on" and "1" are YAML 1.1 and INI habits that
 * mean different things to different tools, so they are refused, not guessed. */
static bool get_bool(struct dctx *d, const struct cnode *val, bool *out)
{
    if (!want(d, val, CNODE_SCALAR))
        return false;
    if (strcasecmp(val->value, "true") == 0 || strcasecmp(val->value, "false") == 0) {
        *out = strcasecmp(val->value, "true") == 0;
        return true;
    }
    cfg_error_at(d->log, val, "bad boolean \"%s\" for \"%s\": use true or false", cnode_shown(val),
                 d->key);
    return false;
}

/* A string that means nothing when empty (a substring to find, a name). */
static void set_text(struct dctx *d, struct cnode *val, char **out)
{
    set_str(d, val, out);
    if (val->kind == CNODE_SCALAR && *out && (*out)[0] == '\0')
        cfg_error_at(d->log, val, "\"%s\" must not be empty", d->key);
}

/* Bytes sent or matched on a TCP connection.  INI has no quoting of its own, so
 * its values take \r \n \t \\ \xHH; YAML double quotes already give them. */
static void set_wire(struct dctx *d, struct cnode *val, char **out, size_t *len)
{
    size_t n = 0, bad = 0;
    bool ok = true;
    char *s;

    if (!want(d, val, CNODE_SCALAR))
        return;
    s = malloc(strlen(val->value) + 1);
    if (!s)
        return oom(d);
    if (!val->from_ini) {
        n = strlen(val->value);
        memcpy(s, val->value, n + 1);
    } else if (tocsin_config_unescape(val->value, s, &n, &bad) < 0) {
        cfg_error(d->log, val->file, val->line, val->col + (int)bad,
                  "bad escape in \"%s\": use \\r, \\n, \\t, \\\\ or \\xHH", d->key);
        ok = false;
    }
    /* The model is a C string: a NUL would silently cut what is sent. */
    if (ok && memchr(s, '\0', n)) {
        cfg_error_at(d->log, val, "\"%s\" must not contain a NUL byte", d->key);
        ok = false;
    }
    if (!ok)
        return free(s);
    free(*out);
    *out = s;
    if (len)
        *len = n;
}

/* A file the probe reads (CA, client certificate): resolved against the config
 * file's directory and checked now, so check-config catches a wrong path. */
static void set_path(struct dctx *d, struct cnode *val, char **out)
{
    char *path;

    if (!want(d, val, CNODE_SCALAR))
        return;
    if (val->value[0] == '\0') {
        cfg_error_at(d->log, val, "\"%s\" must not be empty", d->key);
        return;
    }
    path = cfg_file_path(val);
    if (!path)
        return oom(d);
    if (access(path, R_OK) < 0)
        cfg_error_at(d->log, val, "cannot read %s \"%s\": %s", d->key, cnode_shown(val),
                     strerror(errno));
    free(*out);
    *out = path;
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

/* "" (off) or HOST:PORT with a numeric IPv4 host, a bracketed IPv6 one, or
 * "localhost"; port 0 takes an ephemeral port (tests). */
static void agent_listen(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_agent_conf *a = obj;
    const char *v, *colon;
    char host[64];
    unsigned char addr[16];
    char *end;
    long port;
    size_t hlen;

    set_str(d, val, &a->listen);
    if (a->listen == NULL || a->listen[0] == '\0')
        return;
    v = a->listen;
    colon = strrchr(v, ':');
    hlen = colon ? (size_t)(colon - v) : 0;
    port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (colon == NULL || colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535 ||
        hlen == 0 || hlen >= sizeof(host)) {
        cfg_error_at(d->log, val, "bad \"listen\" \"%s\": use HOST:PORT, e.g. 127.0.0.1:9966, "
                     "or \"\" for none", cnode_shown(val));
        return;
    }
    memcpy(host, v, hlen);
    host[hlen] = '\0';
    if (host[0] == '[' && host[hlen - 1] == ']') {
        host[hlen - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, addr) == 1)
            return;
    } else if (strcmp(host, "localhost") == 0 || inet_pton(AF_INET, host, addr) == 1) {
        return;
    }
    cfg_error_at(d->log, val, "bad \"listen\" address \"%s\": use a numeric IPv4 address, "
                 "[IPv6] or localhost", host);
}

/* Resolved once every monitor is known (resolve_canaries). */
static void agent_canaries(struct dctx *d, struct cnode *val, void *obj)
{
    (void)obj;
    if (want_list(d, val))
        d->canaries_at = val;
}

static const struct directive agent_table[] = {
    { "region", agent_region, 0 },          { "state_dir", agent_state_dir, 0 },
    { "listen", agent_listen, 0 },          { "max_concurrency", agent_max_concurrency, 0 },
    { "log_level", agent_log_level, 0 },    { "log_format", agent_log_format, 0 },
    { "shard", NULL, 0 },                   { "canaries", agent_canaries, 0 },
};

static int agent_init(struct tocsin_agent_conf *a)
{
    a->region = strdup("default");
    a->state_dir = strdup("/var/lib/tocsin");
    a->listen = strdup("127.0.0.1:9966");
    a->max_concurrency = 2000;
    a->log_level = TOCSIN_LOG_INFO;
    a->log_format = TOCSIN_LOG_LOGFMT;
    return a->region && a->state_dir && a->listen ? 0 : -ENOMEM;
}

/* ---- shared by regions, webhooks and monitors ----------------------------- */

/* An http://, https:// or socks5h:// proxy; never socks5:// (it resolves locally,
 * outside c-ares).  Credentials are allowed, so only a redacted form is shown. */
static void set_proxy(struct dctx *d, struct cnode *val, char **out)
{
    char shown[256];
    int rc;

    if (!want(d, val, CNODE_SCALAR))
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
        set_str(d, val, out);
}

/* tls: the same keys for monitors and webhooks (which have no server_name). */
struct tls_dec {
    struct tocsin_tls_conf *t;
    struct cnode *cert, *key;
};

static void tl_ca_file(struct dctx *d, struct cnode *val, void *obj)
{
    set_path(d, val, &((struct tls_dec *)obj)->t->ca_file);
}

static void tl_skip_verify(struct dctx *d, struct cnode *val, void *obj)
{
    get_bool(d, val, &((struct tls_dec *)obj)->t->skip_verify);
}

static void tl_server_name(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_tls_conf *t = ((struct tls_dec *)obj)->t;

    set_text(d, val, &t->server_name);
    if (t->server_name && strpbrk(t->server_name, " \t/:@"))
        cfg_error_at(d->log, val, "bad server_name \"%s\": use a host name", cnode_shown(val));
}

static void tl_cert_file(struct dctx *d, struct cnode *val, void *obj)
{
    struct tls_dec *td = obj;

    td->cert = val;
    set_path(d, val, &td->t->cert_file);
}

static void tl_key_file(struct dctx *d, struct cnode *val, void *obj)
{
    struct tls_dec *td = obj;

    td->key = val;
    set_path(d, val, &td->t->key_file);
}

static const struct directive tls_table[] = {
    { "ca_file", tl_ca_file, 0 },         { "skip_verify", tl_skip_verify, 0 },
    { "server_name", tl_server_name, 0 }, { "cert_file", tl_cert_file, 0 },
    { "key_file", tl_key_file, 0 },
};

/* Decodes a tls mapping with table T; a client certificate needs its key. */
static void decode_tls(struct dctx *d, struct cnode *map, const struct directive *t, size_t n,
                       struct tocsin_tls_conf *tls)
{
    struct tls_dec td = { .t = tls };

    decode_map(d, map, t, n, &td);
    if (!td.cert != !td.key)
        cfg_error_at(d->log, td.cert ? td.cert : td.key,
                     "\"cert_file\" and \"key_file\" must be given together");
}

/* ---- regions -------------------------------------------------------------- */

struct region_dec {
    struct tocsin_region_conf *r;
    struct cnode *name, *source, *iface, *dns, *proxy;
};

static void rg_name(struct dctx *d, struct cnode *val, void *obj)
{
    struct region_dec *rd = obj;

    if (!want(d, val, CNODE_SCALAR))
        return;
    check_region_name(d, val);
    set_str(d, val, &rd->r->name);
    rd->name = val;
}

static void rg_source_address(struct dctx *d, struct cnode *val, void *obj)
{
    struct region_dec *rd = obj;

    if (!want(d, val, CNODE_SCALAR))
        return;
    rd->source = val;
    /* c-ares and curl bind to an address, never to a name (no lookup at load). */
    if (!tocsin_config_ip_literal(val->value))
        cfg_error_at(d->log, val, "bad source_address \"%s\": use an IPv4 or IPv6 address",
                     cnode_shown(val));
    else
        set_str(d, val, &rd->r->source_address);
}

static void rg_interface(struct dctx *d, struct cnode *val, void *obj)
{
    struct region_dec *rd = obj;
    size_t len;

    if (!want(d, val, CNODE_SCALAR))
        return;
    rd->iface = val;
    len = strlen(val->value);
    if (len == 0 || len > IFNAME_MAX || strpbrk(val->value, "/ \t:"))
        cfg_error_at(d->log, val, "bad interface \"%s\": use a network interface name like eth1",
                     cnode_shown(val));
    else
        set_str(d, val, &rd->r->interface);
}

static void rg_dns_servers(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_region_conf *r = ((struct region_dec *)obj)->r;

    if (!want_list(d, val))
        return;
    ((struct region_dec *)obj)->dns = val;
    if (val->n == 0)
        cfg_error_at(d->log, val, "\"dns_servers\" must not be empty");
    r->dns_servers = calloc(val->n + 1, sizeof(*r->dns_servers));
    if (!r->dns_servers)
        return oom(d);
    for (size_t i = 0; i < val->n && d->rc == 0; i++) {
        const struct cnode *it = val->items[i];

        if (it->kind != CNODE_SCALAR || !tocsin_config_dns_server(it->value))
            cfg_error_at(d->log, it, "bad DNS server \"%s\": use IP, IP:PORT or [IPv6]:PORT",
                         it->kind == CNODE_SCALAR ? cnode_shown(it) : "");
        else if (!(r->dns_servers[r->n_dns_servers++] = strdup(it->value)))
            oom(d);
    }
}

static void rg_dns_cache(struct dctx *d, struct cnode *val, void *obj)
{
    get_duration(d, val, &((struct region_dec *)obj)->r->dns_cache_ms);
}

static void rg_proxy(struct dctx *d, struct cnode *val, void *obj)
{
    struct region_dec *rd = obj;

    if (val->kind == CNODE_SCALAR)
        rd->proxy = val;
    set_proxy(d, val, &rd->r->proxy);
}

static const struct directive region_table[] = {
    { "name", rg_name, 0 },
    { "source_address", rg_source_address, 0 },
    { "interface", rg_interface, 0 },
    { "dns_servers", rg_dns_servers, 0 },
    { "dns_cache", rg_dns_cache, 0 },
    { "proxy", rg_proxy, 0 },
};

static char *region_name_at(struct dctx *d, size_t i)
{
    return d->cfg->regions[i].name;
}

static void region_finish(struct dctx *d, struct cnode *map, struct region_dec *rd)
{
    size_t self = (size_t)(rd->r - d->cfg->regions);

    if (!rd->name)
        cfg_error_at(d->log, map, "missing \"name\" in region");
    if (rd->source && rd->iface)
        cfg_error_at(d->log, rd->iface,
                     "\"source_address\" and \"interface\" are mutually exclusive");
    /* The proxy resolves the target: servers given here would never be asked. */
    if (rd->dns && rd->proxy)
        cfg_error_at(d->log, rd->dns,
                     "\"dns_servers\" cannot be used with \"proxy\": the proxy resolves names");
    if (rd->r->name &&
        duplicate(d, "region", rd->r->name, rd->name, d->region_at, region_name_at, self))
        return;
    d->region_at[self] = rd->r->name ? rd->name : NULL;
}

static void decode_region(struct dctx *d, struct cnode *map)
{
    struct tocsin_region_conf *r = &d->cfg->regions[d->cfg->n_regions++];
    struct region_dec rd = { .r = r };

    r->dns_cache_ms = DNS_CACHE_MS_DEFAULT;
    set_where(d, "region", scalar_value(map, "name"));
    decode_map(d, map, region_table, N(region_table), &rd);
    region_finish(d, map, &rd);
}

/* Without "regions" (or with an empty list, already reported) the agent is one
 * vantage point named agent.region, with no options. */
static void decode_regions(struct dctx *d, struct cnode *list)
{
    struct tocsin_config *cfg = d->cfg;

    if (list && list->n == 0)
        cfg_error_at(d->log, list, "\"regions\" must not be empty");
    if (list && list->n > 0) {
        decode_items(d, list, "regions", decode_region);
    } else {
        cfg->regions[0].dns_cache_ms = DNS_CACHE_MS_DEFAULT;
        cfg->regions[0].name = strdup(cfg->agent.region);
        if (!cfg->regions[0].name)
            return oom(d);
        cfg->n_regions = 1;
    }
    d->region_names = calloc(cfg->n_regions + 1, sizeof(*d->region_names));
    if (!d->region_names)
        return oom(d);
    for (size_t i = 0; i < cfg->n_regions; i++)
        d->region_names[i] = cfg->regions[i].name ? cfg->regions[i].name : "";
}

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
    set_str(d, val, &((struct webhook_dec *)obj)->w->name);
}

static void wh_url(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;

    wd->url = val;
    set_url(d, val, &wd->w->url);
}

static void wh_format(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;
    size_t n;
    const struct tocsin_format *const *formats = tocsin_formats(&n);
    const char *names[16];

    if (!want(d, val, CNODE_SCALAR)) {
        wd->fmt = NULL;
        return;
    }
    wd->fmt = tocsin_format_find(val->value);
    if (wd->fmt)
        return set_str(d, val, &wd->w->format);
    for (size_t i = 0; i < n && i < N(names); i++)
        names[i] = formats[i]->name;
    unknown_name(d, val, "format", names, n < N(names) ? n : N(names));
}

static void wh_signing(struct dctx *d, struct cnode *val, void *obj)
{
    static const char *const names[] = { "default", "standard", "none" };
    static const enum tocsin_signing values[] = { TOCSIN_SIGNING_DEFAULT, TOCSIN_SIGNING_STANDARD,
                                                  TOCSIN_SIGNING_NONE };
    int i = get_enum(d, val, names, N(names), "default, standard or none");

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
    if (!want(d, val, CNODE_SCALAR))
        return;
    wd->secret = val;
    if (check_secret(d, val, "\"secret\""))
        set_str(d, val, &wd->one);
}

static void wh_secret_file(struct dctx *d, struct cnode *val, void *obj)
{
    if (want(d, val, CNODE_SCALAR))
        ((struct webhook_dec *)obj)->secret_file = val;
}

/* secrets: [new, old]: every one signs each attempt while a secret rotates. */
static void wh_secrets(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;
    struct tocsin_webhook_conf *w = wd->w;
    bool ok = true;

    val->sensitive = true; /* INI items inherit it when the value is split */
    if (!want_list(d, val))
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
        return oom(d);
    for (size_t i = 0; i < val->n; i++)
        if (!(w->secrets[w->n_secrets++] = strdup(val->items[i]->value)))
            return oom(d);
    w->secret = w->secrets[0];
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

static void wh_rate_limit(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_webhook_conf *w = ((struct webhook_dec *)obj)->w;

    if (!want(d, val, CNODE_SCALAR))
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

    if (get_int(d, val, 0, RETRIES_MAX, &wd->w->retries))
        wd->retries = val;
}

static void wh_retry_backoff(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;

    if (!get_duration(d, val, &wd->w->retry_backoff_ms))
        return;
    wd->retry_backoff = val;
    /* Each delay is capped at 1h: a longer first one would silently be 1h. */
    if (wd->w->retry_backoff_ms > RETRY_BACKOFF_MAX_MS)
        cfg_error_at(d->log, val, "\"retry_backoff\" must be at most 1h");
}

static void wh_max_age(struct dctx *d, struct cnode *val, void *obj)
{
    get_duration(d, val, &((struct webhook_dec *)obj)->w->max_age_ms);
}

static void wh_timeout(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;

    if (get_duration(d, val, &wd->w->timeout_ms))
        wd->timeout = val;
}

static void wh_connect_timeout(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;

    if (get_duration(d, val, &wd->w->connect_timeout_ms))
        wd->connect_timeout = val;
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

static void wt_server_name(struct dctx *d, struct cnode *val, void *obj)
{
    (void)obj;
    cfg_error_at(d->log, val,
                 "\"server_name\" is not valid for a webhook: the URL's host is checked");
}

/* A webhook's TLS: the URL scheme turns it on, these only tune it. */
static const struct directive webhook_tls_table[] = {
    { "ca_file", tl_ca_file, 0 },         { "skip_verify", tl_skip_verify, 0 },
    { "cert_file", tl_cert_file, 0 },     { "key_file", tl_key_file, 0 },
    { "server_name", wt_server_name, 0 },
};

static void wh_tls(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;

    if (!want(d, val, CNODE_MAP))
        return;
    wd->tls = val;
    decode_tls(d, val, webhook_tls_table, N(webhook_tls_table), &wd->w->tls);
}

static void wh_proxy(struct dctx *d, struct cnode *val, void *obj)
{
    set_proxy(d, val, &((struct webhook_dec *)obj)->w->proxy);
}

static void wh_routing_key(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;

    val->sensitive = true; /* whoever has it can open incidents */
    if (!want(d, val, CNODE_SCALAR))
        return;
    wd->routing_key = val;
    if (check_secret(d, val, "\"routing_key\""))
        set_str(d, val, &wd->w->routing_key);
}

/* Alertmanager peers: "/api/v2/alerts" is appended, so a trailing '/' is dropped. */
static void wh_urls(struct dctx *d, struct cnode *val, void *obj)
{
    struct webhook_dec *wd = obj;
    struct tocsin_webhook_conf *w = wd->w;

    if (!want_list(d, val))
        return;
    wd->urls = val;
    if (val->n == 0)
        cfg_error_at(d->log, val, "\"urls\" must not be empty");
    w->urls = calloc(val->n + 1, sizeof(*w->urls));
    if (!w->urls)
        return oom(d);
    for (size_t i = 0; i < val->n; i++) {
        const struct cnode *it = val->items[i];
        char *u;
        size_t len;

        /* Not echoed: a URL may carry userinfo. */
        if (it->kind != CNODE_SCALAR || !valid_url(it->value)) {
            cfg_error_at(d->log, it,
                         "each item of \"urls\" must be an http:// or https:// URL with a host");
            continue;
        }
        if (!(u = strdup(it->value)))
            return oom(d);
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
    w->method = strdup("POST");
    w->signing = TOCSIN_SIGNING_DEFAULT;
    w->events = TOCSIN_EVENT_INCIDENT | TOCSIN_EVENT_RECOVERY;
    w->rate_limit = RATE_LIMIT_DEFAULT;
    w->rate_period_ms = RATE_PERIOD_DEFAULT_MS;
    w->max_age_ms = MAX_AGE_DEFAULT_MS;
    return w->format && w->method ? 0 : -ENOMEM;
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
        return oom(d);
    if (wd->secrets && (wd->secret || wd->secret_file))
        cfg_error_at(d->log, wd->secrets, "\"secrets\" and \"%s\" are mutually exclusive",
                     wd->secret ? "secret" : "secret_file");
    if (!wd->one || wd->secrets) /* both: reported above */
        return;
    w->secrets = calloc(2, sizeof(*w->secrets));
    if (!w->secrets)
        return oom(d);
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
    if (w->name && duplicate(d, "webhook", w->name, name, d->webhook_at, webhook_name_at, self))
        return;
    d->webhook_at[self] = w->name ? name : NULL;
}

static void decode_webhook(struct dctx *d, struct cnode *map)
{
    struct tocsin_webhook_conf *w = &d->cfg->webhooks[d->cfg->n_webhooks++];
    struct webhook_dec wd = { .w = w, .fmt = tocsin_format_find("statuspageone") };

    if (webhook_init(w) < 0)
        return oom(d);
    set_where(d, "webhook", scalar_value(map, "name"));
    decode_map(d, map, webhook_table, N(webhook_table), &wd);
    webhook_finish(d, map, &wd);
    if (wd.one)
        explicit_bzero(wd.one, strlen(wd.one));
    free(wd.one);
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

static void lv_repeat(struct dctx *d, struct cnode *val, void *obj)
{
    get_duration(d, val, &((struct level_dec *)obj)->l->repeat_ms);
}

static const struct directive level_table[] = {
    { "level", lv_level, 0 },
    { "after", lv_after, 0 },
    { "notify", lv_notify, 0 },
    { "repeat", lv_repeat, 0 },
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

/* A region counted twice would run the check twice and skew the quorum. */
static void check_region_twice(struct dctx *d, const struct cnode *list, const size_t *idx,
                               size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (idx[i] == idx[j]) {
                cfg_error_at(d->log, list, "region \"%s\" is listed more than once%s",
                             d->region_names[idx[i]], d->where);
                return;
            }
}

/* Sets *OK false when a name did not resolve (the quorum check is then moot). */
static size_t *resolve_regions(struct dctx *d, struct cnode *list, size_t *count, bool *ok)
{
    size_t before = d->log->n;
    size_t *idx;

    d->key = "regions";
    if (list->n == 0)
        cfg_error_at(d->log, list, "\"regions\" must not be empty");
    idx = resolve_names(d, list, "region", d->region_names, d->cfg->n_regions, true, count);
    if (idx)
        check_region_twice(d, list, idx, *count);
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
        /* built in: all of them */
        def->region_idx = calloc(d->cfg->n_regions + 1, sizeof(size_t));
        def->n_regions = d->cfg->n_regions;
        for (size_t i = 0; def->region_idx && i < def->n_regions; i++)
            def->region_idx[i] = i;
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
    struct cnode *tls, *basic_auth, *bearer, *body_expect, *max_time, *cert_days;
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

/* Remembers the first body expectation: HEAD has no body to check it against. */
static struct tocsin_expect_conf *body_expect(struct monitor_dec *md, struct cnode *val)
{
    if (!md->body_expect)
        md->body_expect = val;
    return &md->m->expect;
}

static void ex_body_contains(struct dctx *d, struct cnode *val, void *obj)
{
    set_text(d, val, &body_expect(obj, val)->body_contains);
}

static void ex_body_not_contains(struct dctx *d, struct cnode *val, void *obj)
{
    set_text(d, val, &body_expect(obj, val)->body_not_contains);
}

static void regex_free(regex_t *re)
{
    if (re)
        regfree(re);
    free(re);
}

/* Compiled now, so a bad pattern is a config error and never a failing check. */
static void set_regex(struct dctx *d, struct cnode *val, char **src, regex_t **out)
{
    regex_t *re;
    char msg[160];
    int err;

    if (!want(d, val, CNODE_SCALAR))
        return;
    if (val->value[0] == '\0') {
        cfg_error_at(d->log, val, "\"%s\" must not be empty", d->key);
        return;
    }
    re = calloc(1, sizeof(*re));
    if (!re)
        return oom(d);
    err = regcomp(re, val->value, REG_EXTENDED | REG_NOSUB);
    if (err == REG_ESPACE) {
        free(re);
        return oom(d);
    }
    if (err) { /* glibc frees a failed compile itself: no regfree */
        regerror(err, re, msg, sizeof(msg));
        cfg_error_at(d->log, val, "bad regex \"%s\" for \"%s\": %s", cnode_shown(val), d->key, msg);
        free(re);
        return;
    }
    set_str(d, val, src);
    regex_free(*out);
    *out = re;
}

static void ex_body_regex(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_expect_conf *e = body_expect(obj, val);

    set_regex(d, val, &e->body_regex, &e->body_regex_re);
}

static void ex_body_not_regex(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_expect_conf *e = body_expect(obj, val);

    set_regex(d, val, &e->body_not_regex, &e->body_not_regex_re);
}

static void ex_header(struct dctx *d, struct cnode *val, void *obj)
{
    /* An empty value asks only that the header be there. */
    set_headers(d, val, &((struct monitor_dec *)obj)->m->expect.headers);
}

static void ex_max_response_time(struct dctx *d, struct cnode *val, void *obj)
{
    struct monitor_dec *md = obj;

    if (get_duration(d, val, &md->m->expect.max_response_time_ms))
        md->max_time = val;
}

static void ex_cert_min_days(struct dctx *d, struct cnode *val, void *obj)
{
    struct monitor_dec *md = obj;

    if (get_int(d, val, 1, 1000000000, &md->m->expect.cert_min_days))
        md->cert_days = val;
}

static void ex_contains(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_monitor_conf *m = ((struct monitor_dec *)obj)->m;

    set_wire(d, val, &m->expect.contains, NULL);
    if (m->expect.contains && m->expect.contains[0] == '\0')
        cfg_error_at(d->log, val, "\"contains\" must not be empty");
}

static const struct directive expect_table[] = {
    { "status", ex_status, D_HTTP },
    { "body_contains", ex_body_contains, D_HTTP },
    { "body_not_contains", ex_body_not_contains, D_HTTP },
    { "body_regex", ex_body_regex, D_HTTP },
    { "body_not_regex", ex_body_not_regex, D_HTTP },
    { "header", ex_header, D_HTTP },
    { "max_response_time", ex_max_response_time, 0 },
    { "cert_min_days", ex_cert_min_days, 0 },
    { "contains", ex_contains, D_TCP },
};

static void mo_expect(struct dctx *d, struct cnode *val, void *obj)
{
    if (want(d, val, CNODE_MAP))
        decode_map(d, val, expect_table, N(expect_table), obj);
}

/* tcp: true, false or a mapping (which means true); http: a mapping, used for
 * https:// URLs only. */
static void mo_tls(struct dctx *d, struct cnode *val, void *obj)
{
    struct monitor_dec *md = obj;

    md->tls = val;
    if (d->kind == D_TCP && val->kind == CNODE_SCALAR) {
        get_bool(d, val, &md->m->tls.enabled);
        return;
    }
    if (d->kind == D_TCP && val->kind == CNODE_SEQ) {
        cfg_error_at(d->log, val, "\"tls\" must be true, false or a mapping");
        return;
    }
    if (!want(d, val, CNODE_MAP))
        return;
    md->m->tls.enabled = true;
    decode_tls(d, val, tls_table, N(tls_table), &md->m->tls);
}

/* ---- http request ---- */

static void mo_body(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_monitor_conf *m = ((struct monitor_dec *)obj)->m;

    set_str(d, val, &m->body);
    m->body_len = m->body ? strlen(m->body) : 0;
}

static void ba_username(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_monitor_conf *m = ((struct monitor_dec *)obj)->m;

    set_text(d, val, &m->basic_auth_user);
    /* RFC 7617: the user-id cannot contain a colon. */
    if (m->basic_auth_user && strchr(m->basic_auth_user, ':'))
        cfg_error_at(d->log, val, "\"username\" must not contain \":\"");
}

static void ba_password(struct dctx *d, struct cnode *val, void *obj)
{
    val->sensitive = true; /* never echoed, expanded or not */
    set_str(d, val, &((struct monitor_dec *)obj)->m->basic_auth_password);
}

static const struct directive basic_auth_table[] = {
    { "username", ba_username, 0 },
    { "password", ba_password, 0 },
};

static void mo_basic_auth(struct dctx *d, struct cnode *val, void *obj)
{
    struct monitor_dec *md = obj;

    if (!want(d, val, CNODE_MAP))
        return;
    md->basic_auth = val;
    decode_map(d, val, basic_auth_table, N(basic_auth_table), obj);
    if (!cnode_get(val, "username"))
        cfg_error_at(d->log, val, "missing \"username\" in \"basic_auth\"%s", d->where);
    /* A token used as the user name often has no password: that is "". */
    if (!md->m->basic_auth_password && !(md->m->basic_auth_password = strdup("")))
        oom(d);
}

static void mo_bearer_token(struct dctx *d, struct cnode *val, void *obj)
{
    struct monitor_dec *md = obj;
    char **t = &md->m->bearer_token;

    val->sensitive = true;
    md->bearer = val;
    set_str(d, val, t);
    if (*t && (*t)[0] == '\0')
        cfg_error_at(d->log, val, "\"bearer_token\" is empty");
    else if (*t && strpbrk(*t, "\r\n"))
        cfg_error_at(d->log, val, "\"bearer_token\" must not contain a line break");
}

static void mo_follow_redirects(struct dctx *d, struct cnode *val, void *obj)
{
    get_bool(d, val, &((struct monitor_dec *)obj)->m->follow_redirects);
}

static void mo_keep_alive(struct dctx *d, struct cnode *val, void *obj)
{
    get_bool(d, val, &((struct monitor_dec *)obj)->m->keep_alive);
}

static void mo_ip_version(struct dctx *d, struct cnode *val, void *obj)
{
    static const char *const names[] = { "any", "4", "6" };
    static const enum tocsin_ip_version values[] = { TOCSIN_IP_ANY, TOCSIN_IP_V4, TOCSIN_IP_V6 };
    int i = get_enum(d, val, names, N(names), "any, 4 or 6");

    if (i >= 0)
        ((struct monitor_dec *)obj)->m->ip_version = values[i];
}

static void mo_http_version(struct dctx *d, struct cnode *val, void *obj)
{
    static const char *const names[] = { "any", "1.1", "2" };
    static const enum tocsin_http_version values[] = { TOCSIN_HTTP_ANY, TOCSIN_HTTP_1_1,
                                                       TOCSIN_HTTP_2 };
    int i = get_enum(d, val, names, N(names), "any, 1.1 or 2");

    if (i >= 0)
        ((struct monitor_dec *)obj)->m->http_version = values[i];
}

static void mo_max_body_bytes(struct dctx *d, struct cnode *val, void *obj)
{
    uint64_t n;

    if (!want(d, val, CNODE_SCALAR))
        return;
    if (tocsin_config_parse_size(val->value, &n) < 0)
        cfg_error_at(d->log, val,
                     "bad size \"%s\" for \"max_body_bytes\": "
                     "use bytes or a number with KB, MB, KiB or MiB (e.g. 512KiB)",
                     cnode_shown(val));
    else if (n == 0)
        cfg_error_at(d->log, val, "\"max_body_bytes\" must be greater than 0");
    else if (n > MAX_BODY_BYTES_LIMIT)
        cfg_error_at(d->log, val, "\"max_body_bytes\" must be at most 64MiB");
    else
        ((struct monitor_dec *)obj)->m->max_body_bytes = n;
}

static void mo_send(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_monitor_conf *m = ((struct monitor_dec *)obj)->m;

    set_wire(d, val, &m->send, &m->send_len);
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

/* ---- maintenance windows -------------------------------------------------- */

struct window_dec {
    struct tocsin_maintenance_conf *w;
    struct cnode *cron, *duration, *timezone, *start, *end;
};

static void mw_cron(struct dctx *d, struct cnode *val, void *obj)
{
    struct window_dec *wd = obj;
    char err[256];
    int rc;

    wd->cron = val;
    if (!want(d, val, CNODE_SCALAR))
        return;
    rc = tocsin_cron_parse(val->value, &wd->w->cron, err, sizeof(err));
    if (rc == -ENOMEM)
        return oom(d);
    if (rc < 0 && val->sensitive)
        cfg_error_at(d->log, val, "bad cron \"<redacted>\"");
    else if (rc < 0)
        cfg_error_at(d->log, val, "%s", err);
    else
        set_str(d, val, &wd->w->cron_text);
}

static void mw_duration(struct dctx *d, struct cnode *val, void *obj)
{
    struct window_dec *wd = obj;

    wd->duration = val;
    get_duration(d, val, &wd->w->duration_ms);
}

/* The closest zone in the same zoneinfo directory as NAME, into HINT. */
static bool suggest_timezone(const char *name, char *hint, size_t size)
{
    const char *slash = strrchr(name, '/'), *best;
    char dirpath[PATH_MAX];
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    bool found = false;
    DIR *dir;

    snprintf(dirpath, sizeof(dirpath), "%s/%.*s", TOCSIN_ZONEINFO_DIR,
             slash ? (int)(slash - name) : 0, name);
    if (strstr(name, "..") || !(dir = opendir(dirpath)))
        return false;
    while ((e = readdir(dir)) && n < 1024) {
        char **more;

        if (e->d_name[0] == '.' || !(more = realloc(names, (n + 1) * sizeof(*names))))
            continue;
        names = more;
        if ((names[n] = strdup(e->d_name)))
            n++;
    }
    closedir(dir);
    best = cfg_suggest(slash ? slash + 1 : name, (const char *const *)names, n);
    if (best) {
        snprintf(hint, size, "%.*s%s", slash ? (int)(slash + 1 - name) : 0, name, best);
        found = tocsin_config_timezone_exists(hint);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return found;
}

static void mw_timezone(struct dctx *d, struct cnode *val, void *obj)
{
    struct window_dec *wd = obj;
    char hint[256];

    wd->timezone = val;
    if (!want(d, val, CNODE_SCALAR))
        return;
    if (tocsin_config_timezone_exists(val->value))
        return set_str(d, val, &wd->w->timezone);
    if (!val->sensitive && suggest_timezone(val->value, hint, sizeof(hint)))
        cfg_error_at(d->log, val, "unknown timezone \"%s\"%s (did you mean \"%s\"?)",
                     cnode_shown(val), d->where, hint);
    else
        cfg_error_at(d->log, val, "unknown timezone \"%s\"%s", cnode_shown(val), d->where);
}

static void set_timestamp(struct dctx *d, struct cnode *val, int64_t *out)
{
    if (!want(d, val, CNODE_SCALAR))
        return;
    if (tocsin_config_parse_timestamp(val->value, out) < 0)
        cfg_error_at(d->log, val,
                     "bad timestamp \"%s\" for \"%s\": use RFC 3339, e.g. 2026-12-24T22:00:00Z",
                     cnode_shown(val), d->key);
}

static void mw_start(struct dctx *d, struct cnode *val, void *obj)
{
    struct window_dec *wd = obj;

    wd->start = val;
    set_timestamp(d, val, &wd->w->start);
}

static void mw_end(struct dctx *d, struct cnode *val, void *obj)
{
    struct window_dec *wd = obj;

    wd->end = val;
    set_timestamp(d, val, &wd->w->end);
}

static const struct directive window_table[] = {
    { "cron", mw_cron, 0 },   { "duration", mw_duration, 0 }, { "timezone", mw_timezone, 0 },
    { "start", mw_start, 0 }, { "end", mw_end, 0 },
};

/* A window is cron + duration (+ timezone) or start + end, never a mix: the
 * first key of the kind that comes second is the one reported. */
static void check_window(struct dctx *d, struct cnode *map, struct window_dec *wd, size_t before)
{
    const struct cnode *cron_key = NULL, *once_key = NULL;

    for (size_t i = 0; i < map->n; i++) {
        const char *k = map->keys[i]->value;
        bool once = strcmp(k, "start") == 0 || strcmp(k, "end") == 0;

        if (!once && !find_directive(window_table, N(window_table), k))
            continue;
        if (once && !once_key)
            once_key = map->keys[i];
        else if (!once && !cron_key)
            cron_key = map->keys[i];
    }
    if (cron_key && once_key) {
        const struct cnode *later = cron_key->line > once_key->line ||
                                            (cron_key->line == once_key->line &&
                                             cron_key->col > once_key->col)
                                        ? cron_key
                                        : once_key;

        cfg_error_at(d->log, later,
                     "maintenance window mixes \"%s\" and \"%s\": use cron and duration "
                     "(and timezone), or start and end",
                     later == cron_key ? once_key->value : cron_key->value, later->value);
        return;
    }
    if (!cron_key && !once_key) {
        if (map->n == 0)
            cfg_error_at(d->log, map,
                         "empty maintenance window%s: use cron and duration, or start and end",
                         d->where);
        return;
    }
    if (cron_key) {
        if (!wd->cron)
            cfg_error_at(d->log, map, "missing \"cron\" in maintenance window%s", d->where);
        if (!wd->duration)
            cfg_error_at(d->log, map, "missing \"duration\" in maintenance window%s", d->where);
        return;
    }
    if (!wd->start)
        cfg_error_at(d->log, map, "missing \"start\" in maintenance window%s", d->where);
    if (!wd->end)
        cfg_error_at(d->log, map, "missing \"end\" in maintenance window%s", d->where);
    if (wd->start && wd->end && d->log->n == before && wd->w->end <= wd->w->start)
        cfg_error_at(d->log, wd->end, "\"end\" must be after \"start\"%s", d->where);
}

static void mo_maintenance(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_monitor_conf *m = ((struct monitor_dec *)obj)->m;

    if (!want_list(d, val))
        return;
    m->maintenance = calloc(val->n + 1, sizeof(*m->maintenance));
    if (!m->maintenance)
        return oom(d);
    for (size_t i = 0; i < val->n && d->rc == 0; i++) {
        struct cnode *map = val->items[i];
        struct window_dec wd = { .w = &m->maintenance[m->n_maintenance] };
        size_t before = d->log->n;

        if (map->kind != CNODE_MAP) {
            cfg_error_at(d->log, map, "each item of \"maintenance\" must be a mapping");
            continue;
        }
        m->n_maintenance++;
        decode_map(d, map, window_table, N(window_table), &wd);
        check_window(d, map, &wd, before);
        d->key = "maintenance";
    }
}

/* ---- dependencies ----------------------------------------------------------- */

/* Parents are resolved once every file's monitors are known (resolve_depends). */
static void mo_depends_on(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_monitor_conf *m = ((struct monitor_dec *)obj)->m;

    if (want_list(d, val))
        d->depends_at[m - d->cfg->monitors] = val;
}

static void resolve_parents(struct dctx *d, size_t self, const char *const *names)
{
    struct tocsin_monitor_conf *m = &d->cfg->monitors[self];
    struct cnode *list = d->depends_at[self];

    set_where(d, "monitor", m->id);
    d->key = "depends_on";
    m->depends_on = calloc(list->n + 1, sizeof(*m->depends_on));
    if (!m->depends_on)
        return oom(d);
    for (size_t i = 0; i < list->n; i++) {
        const struct cnode *item = list->items[i];
        size_t j = 0, k = 0;

        if (item->kind != CNODE_SCALAR) {
            cfg_error_at(d->log, item, "each item of \"depends_on\" must be a string");
            continue;
        }
        while (j < d->cfg->n_monitors && strcmp(names[j], item->value) != 0)
            j++;
        if (j == d->cfg->n_monitors) {
            unknown_name(d, item, "monitor", names, d->cfg->n_monitors);
            continue;
        }
        while (k < m->n_depends_on && m->depends_on[k] != j)
            k++;
        if (k < m->n_depends_on)
            cfg_error_at(d->log, item, "monitor \"%s\" is listed more than once in \"depends_on\"%s",
                         names[j], d->where);
        else
            m->depends_on[m->n_depends_on++] = j;
    }
}

/* The depends_on item of monitor FROM that names monitor TO. */
static const struct cnode *edge_node(struct dctx *d, size_t from, size_t to)
{
    const struct cnode *list = d->depends_at[from];

    for (size_t i = 0; i < list->n; i++)
        if (list->items[i]->kind == CNODE_SCALAR && d->cfg->monitors[to].id &&
            strcmp(list->items[i]->value, d->cfg->monitors[to].id) == 0)
            return list->items[i];
    return list;
}

/* STACK[K..SP) and back to STACK[K] is a cycle: reported from its monitor that
 * comes first in the config, at that monitor's depends_on item. */
static void report_cycle(struct dctx *d, const size_t *stack, size_t k, size_t sp)
{
    size_t len = sp - k, r = k, size = 32;
    char *msg, *p;

    for (size_t i = k; i < sp; i++) {
        if (stack[i] < stack[r])
            r = i;
        size += strlen(d->cfg->monitors[stack[i]].id) + 4;
    }
    size += strlen(d->cfg->monitors[stack[r]].id);
    msg = malloc(size);
    if (!msg)
        return oom(d);
    p = msg;
    for (size_t i = 0; i <= len; i++)
        p += sprintf(p, "%s%s", i ? " -> " : "", d->cfg->monitors[stack[k + (r - k + i) % len]].id);
    cfg_error_at(d->log, edge_node(d, stack[r], stack[k + (r - k + 1) % len]),
                 "dependency cycle: %s", msg);
    free(msg);
}

/* Depth-first over the parents, without recursion: a back edge closes a cycle,
 * and each back edge is a different cycle, so none is reported twice. */
static void check_cycles(struct dctx *d)
{
    const struct tocsin_monitor_conf *mon = d->cfg->monitors;
    size_t n = d->cfg->n_monitors;
    unsigned char *color = calloc(n + 1, 1); /* 0 unseen, 1 on the stack, 2 done */
    size_t *stack = calloc(n + 1, sizeof(*stack)), *edge = calloc(n + 1, sizeof(*edge));

    for (size_t root = 0; color && stack && edge && root < n && d->rc == 0; root++) {
        size_t sp = 1;

        if (color[root])
            continue;
        stack[0] = root;
        edge[0] = 0;
        color[root] = 1;
        while (sp > 0 && d->rc == 0) {
            size_t u = stack[sp - 1], v, k = 0;

            if (edge[sp - 1] == mon[u].n_depends_on) {
                color[u] = 2;
                sp--;
                continue;
            }
            v = mon[u].depends_on[edge[sp - 1]++];
            if (color[v] == 0) {
                color[v] = 1;
                stack[sp] = v;
                edge[sp++] = 0;
            } else if (color[v] == 1) {
                while (stack[k] != v)
                    k++;
                report_cycle(d, stack, k, sp);
            }
        }
    }
    if (!color || !stack || !edge)
        oom(d);
    free(color);
    free(stack);
    free(edge);
}

static void resolve_depends(struct dctx *d)
{
    size_t n = d->cfg->n_monitors;
    const char **names = calloc(n + 1, sizeof(*names));
    bool any = false;

    if (!names)
        return oom(d);
    for (size_t i = 0; i < n; i++)
        names[i] = d->cfg->monitors[i].id ? d->cfg->monitors[i].id : "";
    for (size_t i = 0; i < n && d->rc == 0; i++)
        if (d->depends_at[i]) {
            resolve_parents(d, i, names);
            any = true;
        }
    d->where[0] = '\0';
    if (any && d->rc == 0)
        check_cycles(d);
    free(names);
}

static void resolve_canaries(struct dctx *d)
{
    struct tocsin_config *cfg = d->cfg;
    const char **names = calloc(cfg->n_monitors + 1, sizeof(*names));

    if (!names)
        return oom(d);
    for (size_t i = 0; i < cfg->n_monitors; i++)
        names[i] = cfg->monitors[i].id ? cfg->monitors[i].id : "";
    set_where(d, "agent", NULL);
    d->key = "canaries";
    cfg->agent.canaries = resolve_names(d, d->canaries_at, "monitor", names, cfg->n_monitors,
                                        false, &cfg->agent.n_canaries);
    d->where[0] = '\0';
    free(names);
}

static const struct directive monitor_table[] = {
    { "id", mo_ignore, 0 },
    { "name", mo_ignore, 0 },
    { "type", mo_ignore, 0 },
    { "url", mo_url, D_HTTP },
    { "method", mo_method, D_HTTP },
    { "headers", mo_headers, D_HTTP },
    { "body", mo_body, D_HTTP },
    { "basic_auth", mo_basic_auth, D_HTTP },
    { "bearer_token", mo_bearer_token, D_HTTP },
    { "follow_redirects", mo_follow_redirects, D_HTTP },
    { "ip_version", mo_ip_version, D_HTTP },
    { "http_version", mo_http_version, D_HTTP },
    { "max_body_bytes", mo_max_body_bytes, D_HTTP },
    { "keep_alive", mo_keep_alive, D_HTTP },
    { "expect", mo_expect, 0 },
    { "tls", mo_tls, 0 },
    { "host", mo_host, D_TCP },
    { "port", mo_port, D_TCP },
    { "send", mo_send, D_TCP },
    { "interval", mo_interval, 0 },
    { "retry_interval", mo_retry, 0 },
    { "timeout", mo_timeout, 0 },
    { "policy", mo_policy, 0 },
    { "regions", mo_regions, 0 },
    { "quorum", mo_quorum, 0 },
    { "depends_on", mo_depends_on, 0 },
    { "maintenance", mo_maintenance, 0 },
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
    m->follow_redirects = true; /* like blackbox_exporter and Gatus */
    m->keep_alive = false;      /* a health check measures the whole path */
    m->ip_version = TOCSIN_IP_ANY;
    m->http_version = TOCSIN_HTTP_ANY;
    m->max_body_bytes = MAX_BODY_BYTES_DEFAULT;
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

static void check_http_options(struct dctx *d, struct monitor_dec *md)
{
    struct tocsin_monitor_conf *m = md->m;
    bool https = m->url && strncmp(m->url, "https://", 8) == 0;

    m->tls.enabled = https; /* the scheme decides; "tls" only tunes it */
    if (m->url && !https && md->tls)
        cfg_error_at(d->log, md->tls, "\"tls\" needs an https:// URL");
    if (m->url && !https && md->cert_days)
        cfg_error_at(d->log, md->cert_days, "\"cert_min_days\" needs an https:// URL");
    if (md->body_expect && strcmp(m->method, "HEAD") == 0)
        cfg_error_at(d->log, md->body_expect, "HEAD has no body to check");
    if (md->basic_auth && md->bearer)
        cfg_error_at(d->log, md->bearer,
                     "\"basic_auth\" and \"bearer_token\" are mutually exclusive");
}

/* A proxy carries HTTP only: a TCP check there would silently go direct. */
static void check_tcp_options(struct dctx *d, struct monitor_dec *md)
{
    const struct tocsin_monitor_conf *m = md->m;
    const struct cnode *at = md->regions ? md->regions : md->map;

    if (md->cert_days && !m->tls.enabled)
        cfg_error_at(d->log, md->cert_days, "\"cert_min_days\" needs \"tls\"");
    for (size_t i = 0; m->regions && i < m->n_regions; i++) {
        const struct tocsin_region_conf *r = &d->cfg->regions[m->regions[i]];

        if (r->proxy)
            cfg_error_at(d->log, at, "tcp monitor \"%s\" cannot run in proxy region \"%s\"",
                         m->id ? m->id : "", r->name);
    }
}

static void check_response_time(struct dctx *d, struct monitor_dec *md)
{
    const struct tocsin_monitor_conf *m = md->m;
    char t[32], mt[32];

    if (!md->max_time || m->expect.max_response_time_ms < m->timeout_ms)
        return;
    tocsin_config_format_duration(m->expect.max_response_time_ms, mt, sizeof(mt));
    tocsin_config_format_duration(m->timeout_ms, t, sizeof(t));
    cfg_error_at(d->log, md->max_time,
                 "\"max_response_time\" (%s) must be less than \"timeout\" (%s)%s", mt, t,
                 d->where);
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
    if (d->rc < 0)
        return;
    if (m->type == TOCSIN_PROBE_HTTP)
        check_http_options(d, md);
    else
        check_tcp_options(d, md);
    check_response_time(d, md);
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
    struct cnode *agent, *regions, *defaults, *webhooks, *policies, *monitors;
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

static void top_regions(struct dctx *d, struct cnode *val, void *obj)
{
    if (want(d, val, CNODE_SEQ))
        ((struct root_parts *)obj)->regions = val;
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
    { "agent", top_agent, 0 },       { "regions", top_regions, 0 },
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
        !d->monitor_at || !d->region_at || !d->depends_at || !cfg->regions)
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
    if (d->rc == 0)
        decode_regions(d, parts[0].regions);
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
    if (d->rc == 0)
        resolve_depends(d);
    if (d->rc == 0 && d->canaries_at)
        resolve_canaries(d);
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
    free(d.region_at);
    free(d.depends_at);
    free(d.region_names);
    return d.rc;
}
