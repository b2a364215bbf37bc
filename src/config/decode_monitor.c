/* The monitors section: identity and type, http and tcp keys, tls, expect, and
 * the defaults applied to what a monitor did not set.  Maintenance windows and
 * depends_on are in decode_holds.c. */
#include "decode_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY_BYTES_DEFAULT (1u << 20)
#define MAX_BODY_BYTES_LIMIT (64u << 20) /* a health check reads a page, not a download */

/* A string that means nothing when empty (a substring to find, a name). */
static void set_text(struct dctx *d, struct cnode *val, char **out)
{
    dec_set_str(d, val, out);
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

    if (!dec_want(d, val, CNODE_SCALAR))
        return;
    s = malloc(strlen(val->value) + 1);
    if (!s)
        return dec_oom(d);
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

/* ---- monitors ------------------------------------------------------------- */

static void mo_ignore(struct dctx *d, struct cnode *val, void *obj)
{
    (void)d, (void)val, (void)obj; /* id, name, type: decoded before the walk */
}

static void mo_url(struct dctx *d, struct cnode *val, void *obj)
{
    dec_set_url(d, val, &((struct monitor_dec *)obj)->m->url);
}

static void mo_method(struct dctx *d, struct cnode *val, void *obj)
{
    static const char *const names[] = { "HEAD", "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" };

    dec_set_method(d, val, &((struct monitor_dec *)obj)->m->method, names, N(names),
                   "HEAD, GET, POST, PUT, PATCH, DELETE or OPTIONS");
}

static void mo_headers(struct dctx *d, struct cnode *val, void *obj)
{
    dec_set_headers(d, val, &((struct monitor_dec *)obj)->m->headers);
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
    if (!dec_want_list(d, val))
        return;
    r = calloc(val->n + 1, sizeof(*r));
    if (!r)
        return dec_oom(d);
    tocsin_monitor_free_expect_status(m);
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

    if (!dec_want(d, val, CNODE_SCALAR))
        return;
    if (val->value[0] == '\0') {
        cfg_error_at(d->log, val, "\"%s\" must not be empty", d->key);
        return;
    }
    re = calloc(1, sizeof(*re));
    if (!re)
        return dec_oom(d);
    err = regcomp(re, val->value, REG_EXTENDED | REG_NOSUB);
    if (err == REG_ESPACE) {
        free(re);
        return dec_oom(d);
    }
    if (err) { /* glibc frees a failed compile itself: no regfree */
        regerror(err, re, msg, sizeof(msg));
        cfg_error_at(d->log, val, "bad regex \"%s\" for \"%s\": %s", cnode_shown(val), d->key, msg);
        free(re);
        return;
    }
    dec_set_str(d, val, src);
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
    dec_set_headers(d, val, &((struct monitor_dec *)obj)->m->expect.headers);
}

static void ex_max_response_time(struct dctx *d, struct cnode *val, void *obj)
{
    struct monitor_dec *md = obj;

    if (dec_get_duration(d, val, &md->m->expect.max_response_time_ms))
        md->max_time = val;
}

static void ex_cert_min_days(struct dctx *d, struct cnode *val, void *obj)
{
    struct monitor_dec *md = obj;

    if (dec_get_int(d, val, 1, 1000000000, &md->m->expect.cert_min_days))
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
    if (dec_want(d, val, CNODE_MAP))
        dec_map(d, val, expect_table, N(expect_table), obj);
}

/* tls: only a monitor names its server (a webhook's TLS checks its URL's host). */
static void tl_server_name(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_tls_conf *t = ((struct tls_dec *)obj)->t;

    set_text(d, val, &t->server_name);
    if (t->server_name && strpbrk(t->server_name, " \t/:@"))
        cfg_error_at(d->log, val, "bad server_name \"%s\": use a host name", cnode_shown(val));
}

static const struct directive tls_table[] = {
    { "ca_file", dec_tl_ca_file, 0 },     { "skip_verify", dec_tl_skip_verify, 0 },
    { "server_name", tl_server_name, 0 }, { "cert_file", dec_tl_cert_file, 0 },
    { "key_file", dec_tl_key_file, 0 },
};

/* tcp: true, false or a mapping (which means true); http: a mapping, used for
 * https:// URLs only. */
static void mo_tls(struct dctx *d, struct cnode *val, void *obj)
{
    struct monitor_dec *md = obj;

    md->tls = val;
    if (d->kind == D_TCP && val->kind == CNODE_SCALAR) {
        dec_get_bool(d, val, &md->m->tls.enabled);
        return;
    }
    if (d->kind == D_TCP && val->kind == CNODE_SEQ) {
        cfg_error_at(d->log, val, "\"tls\" must be true, false or a mapping");
        return;
    }
    if (!dec_want(d, val, CNODE_MAP))
        return;
    md->m->tls.enabled = true;
    dec_tls(d, val, tls_table, N(tls_table), &md->m->tls);
}

/* ---- http request ---- */

static void mo_body(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_monitor_conf *m = ((struct monitor_dec *)obj)->m;

    dec_set_str(d, val, &m->body);
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
    dec_set_str(d, val, &((struct monitor_dec *)obj)->m->basic_auth_password);
}

static const struct directive basic_auth_table[] = {
    { "username", ba_username, 0 },
    { "password", ba_password, 0 },
};

static void mo_basic_auth(struct dctx *d, struct cnode *val, void *obj)
{
    struct monitor_dec *md = obj;

    if (!dec_want(d, val, CNODE_MAP))
        return;
    md->basic_auth = val;
    dec_map(d, val, basic_auth_table, N(basic_auth_table), obj);
    if (!cnode_get(val, "username"))
        cfg_error_at(d->log, val, "missing \"username\" in \"basic_auth\"%s", d->where);
    /* A token used as the user name often has no password: that is "". */
    if (!md->m->basic_auth_password && !(md->m->basic_auth_password = strdup("")))
        dec_oom(d);
}

static void mo_bearer_token(struct dctx *d, struct cnode *val, void *obj)
{
    struct monitor_dec *md = obj;
    char **t = &md->m->bearer_token;

    val->sensitive = true;
    md->bearer = val;
    dec_set_str(d, val, t);
    if (*t && (*t)[0] == '\0')
        cfg_error_at(d->log, val, "\"bearer_token\" is empty");
    else if (*t && strpbrk(*t, "\r\n"))
        cfg_error_at(d->log, val, "\"bearer_token\" must not contain a line break");
}

static void mo_follow_redirects(struct dctx *d, struct cnode *val, void *obj)
{
    dec_get_bool(d, val, &((struct monitor_dec *)obj)->m->follow_redirects);
}

static void mo_keep_alive(struct dctx *d, struct cnode *val, void *obj)
{
    dec_get_bool(d, val, &((struct monitor_dec *)obj)->m->keep_alive);
}

static void mo_ip_version(struct dctx *d, struct cnode *val, void *obj)
{
    static const char *const names[] = { "any", "4", "6" };
    static const enum tocsin_ip_version values[] = { TOCSIN_IP_ANY, TOCSIN_IP_V4, TOCSIN_IP_V6 };
    int i = dec_get_enum(d, val, names, N(names), "any, 4 or 6");

    if (i >= 0)
        ((struct monitor_dec *)obj)->m->ip_version = values[i];
}

static void mo_http_version(struct dctx *d, struct cnode *val, void *obj)
{
    static const char *const names[] = { "any", "1.1", "2" };
    static const enum tocsin_http_version values[] = { TOCSIN_HTTP_ANY, TOCSIN_HTTP_1_1,
                                                       TOCSIN_HTTP_2 };
    int i = dec_get_enum(d, val, names, N(names), "any, 1.1 or 2");

    if (i >= 0)
        ((struct monitor_dec *)obj)->m->http_version = values[i];
}

static void mo_max_body_bytes(struct dctx *d, struct cnode *val, void *obj)
{
    uint64_t n;

    if (!dec_want(d, val, CNODE_SCALAR))
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

    dec_set_str(d, val, &m->host);
    if (m->host && (m->host[0] == '\0' || strpbrk(m->host, " \t/")))
        cfg_error_at(d->log, val, "bad host \"%s\"", cnode_shown(val));
}

static void mo_port(struct dctx *d, struct cnode *val, void *obj)
{
    dec_get_int(d, val, 1, 65535, &((struct monitor_dec *)obj)->m->port);
}

static void mo_interval(struct dctx *d, struct cnode *val, void *obj)
{
    struct monitor_dec *md = obj;

    if (dec_get_duration(d, val, &md->m->interval_ms))
        md->interval = val;
}

static void mo_timeout(struct dctx *d, struct cnode *val, void *obj)
{
    struct monitor_dec *md = obj;

    if (dec_get_duration(d, val, &md->m->timeout_ms))
        md->timeout = val;
}

static void mo_retry(struct dctx *d, struct cnode *val, void *obj)
{
    struct monitor_dec *md = obj;

    if (dec_get_duration(d, val, &md->m->retry_interval_ms))
        md->retry = val;
}

static void mo_policy(struct dctx *d, struct cnode *val, void *obj)
{
    if (dec_want(d, val, CNODE_SCALAR))
        ((struct monitor_dec *)obj)->policy = val;
}

static void mo_regions(struct dctx *d, struct cnode *val, void *obj)
{
    if (dec_want_list(d, val))
        ((struct monitor_dec *)obj)->regions = val;
}

static void mo_quorum(struct dctx *d, struct cnode *val, void *obj)
{
    struct monitor_dec *md = obj;

    if (dec_get_int(d, val, 1, 1000000000, &md->m->quorum))
        md->quorum = val;
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
    { "depends_on", dec_mo_depends_on, 0 },
    { "maintenance", dec_mo_maintenance, 0 },
};

/* id from "id", else a slug of "name"; name defaults to the id. */
static void monitor_identity(struct dctx *d, struct monitor_dec *md)
{
    struct cnode *id = cnode_get(md->map, "id"), *name = cnode_get(md->map, "name");
    char slug[TOCSIN_ID_MAX + 1];

    d->key = "id";
    if (id && dec_want(d, id, CNODE_SCALAR)) {
        md->idnode = id;
        if (!tocsin_config_valid_id(id->value))
            cfg_error_at(d->log, id, "bad monitor id \"%s\": use 1 to 64 of A-Z a-z 0-9 _ . -",
                         cnode_shown(id));
        dec_set_str(d, id, &md->m->id);
    }
    d->key = "name";
    if (name && dec_want(d, name, CNODE_SCALAR)) {
        dec_set_str(d, name, &md->m->name);
        if (!id && tocsin_config_slug(name->value, slug, sizeof(slug)) < 0)
            cfg_error_at(d->log, name, "cannot derive a monitor id from \"name\": set \"id\"");
        else if (!id && !(md->m->id = strdup(slug)))
            dec_oom(d);
        md->idnode = id ? id : name;
    }
    if (!id && !name)
        cfg_error_at(d->log, md->map, "missing \"id\" or \"name\" in monitor");
    if (md->m->id && !md->m->name && !(md->m->name = strdup(md->m->id)))
        dec_oom(d);
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
    if (type && (i = dec_get_enum(d, type, names, N(names), "http or tcp")) >= 0)
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
    m->method = "GET";
    m->expect_status = &tocsin_default_expect_status;
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
        dec_check_timeout(d, md->timeout ? md->timeout : md->interval, m->timeout_ms,
                          m->interval_ms);
    m->policy = def->policy_idx;
    if (md->policy)
        dec_resolve_policy(d, md->policy, &m->policy);
    if (md->regions) {
        m->regions = dec_resolve_regions(d, md->regions, &m->n_regions, &regions_ok);
    } else {
        m->regions = d->cfg->default_regions; /* the config's, freed with it */
        m->n_regions = def->n_regions;
    }
    if (!m->regions)
        return dec_oom(d);
    if (!md->quorum)
        m->quorum = def->quorum;
    if ((md->quorum || md->regions) && regions_ok)
        dec_check_quorum(d, md->quorum ? md->quorum : md->regions, m->quorum, m->n_regions);
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
    if (m->type == TOCSIN_PROBE_HTTP) {
        check_http_options(d, md);
    } else {
        check_tcp_options(d, md);
        /* HTTP's defaults mean nothing here. */
        tocsin_monitor_free_expect_status(m); /* leaves none */
        m->method = NULL;
    }
    check_response_time(d, md);
    if (m->id) {
        size_t first = tocsin_name_index_put(&d->monitor_ids, m->id, self);

        if (first == TOCSIN_NAME_ABSENT)
            return dec_oom(d);
        if (first != self)
            return dec_report_duplicate(d, "monitor id", m->id, md->idnode, d->monitor_at[first]);
    }
    d->monitor_at[self] = m->id ? md->idnode : NULL;
}

void dec_monitor(struct dctx *d, struct cnode *map)
{
    struct tocsin_monitor_conf *m = &d->cfg->monitors[d->cfg->n_monitors++];
    struct monitor_dec md = { .m = m, .map = map };

    if (monitor_init(m) < 0)
        return dec_oom(d);
    d->where[0] = '\0';
    monitor_identity(d, &md);
    dec_set_where(d, "monitor", m->id);
    monitor_type(d, &md);
    dec_map(d, map, monitor_table, N(monitor_table), &md);
    monitor_finish(d, &md);
    d->kind = 0;
}
