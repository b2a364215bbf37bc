/* The agent and regions sections: where this host stands and the vantage points
 * its probes leave from.  agent.canaries is resolved here too, once every monitor
 * is known. */
#include "decode_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DNS_CACHE_MS_DEFAULT 60000
#define IFNAME_MAX 15 /* IFNAMSIZ - 1 */

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

    if (dec_want(d, val, CNODE_SCALAR)) {
        check_region_name(d, val);
        dec_set_str(d, val, &a->region);
    }
}

static void agent_state_dir(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_agent_conf *a = obj;

    dec_set_str(d, val, &a->state_dir);
    if (a->state_dir && a->state_dir[0] == '\0')
        cfg_error_at(d->log, val, "\"state_dir\" must not be empty");
}

static void agent_max_concurrency(struct dctx *d, struct cnode *val, void *obj)
{
    dec_set_int_min1(d, val, &((struct tocsin_agent_conf *)obj)->max_concurrency);
}

static void agent_log_level(struct dctx *d, struct cnode *val, void *obj)
{
    static const char *const names[] = { "debug", "info", "warn", "error" };
    int i = dec_get_enum(d, val, names, N(names), "debug, info, warn or error");

    if (i >= 0)
        ((struct tocsin_agent_conf *)obj)->log_level = (enum tocsin_log_level)i;
}

static void agent_log_format(struct dctx *d, struct cnode *val, void *obj)
{
    static const char *const names[] = { "logfmt", "json" };
    int i = dec_get_enum(d, val, names, N(names), "logfmt or json");

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

    dec_set_str(d, val, &a->listen);
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

/* Resolved once every monitor is known (dec_resolve_canaries). */
static void agent_canaries(struct dctx *d, struct cnode *val, void *obj)
{
    (void)obj;
    if (dec_want_list(d, val))
        d->canaries_at = val;
}

static const struct directive agent_table[] = {
    { "region", agent_region, 0 },          { "state_dir", agent_state_dir, 0 },
    { "listen", agent_listen, 0 },          { "max_concurrency", agent_max_concurrency, 0 },
    { "log_level", agent_log_level, 0 },    { "log_format", agent_log_format, 0 },
    { "shard", dec_agent_shard, 0 },                   { "canaries", agent_canaries, 0 },
};

static int agent_init(struct tocsin_agent_conf *a)
{
    a->region = strdup("default");
    a->state_dir = strdup("/var/lib/tocsin");
    a->listen = strdup("127.0.0.1:9966");
    a->max_concurrency = 2000;
    a->log_level = TOCSIN_LOG_INFO;
    a->log_format = TOCSIN_LOG_LOGFMT;
    a->shard_index = a->shard_count = 1;
    return a->region && a->state_dir && a->listen ? 0 : -ENOMEM;
}

void dec_agent(struct dctx *d, struct cnode *agent)
{
    struct tocsin_config *cfg = d->cfg;

    if (agent_init(&cfg->agent) < 0)
        return dec_oom(d);
    dec_set_where(d, "agent", NULL);
    if (agent)
        dec_map(d, agent, agent_table, N(agent_table), &cfg->agent);
}

void dec_resolve_canaries(struct dctx *d)
{
    struct tocsin_config *cfg = d->cfg;
    const char **names = calloc(cfg->n_monitors + 1, sizeof(*names));

    if (!names)
        return dec_oom(d);
    for (size_t i = 0; i < cfg->n_monitors; i++)
        names[i] = cfg->monitors[i].id ? cfg->monitors[i].id : "";
    dec_set_where(d, "agent", NULL);
    d->key = "canaries";
    cfg->agent.canaries = dec_resolve_names(d, d->canaries_at, "monitor", names, cfg->n_monitors,
                                            false, &cfg->agent.n_canaries);
    d->where[0] = '\0';
    free(names);
}

/* ---- regions -------------------------------------------------------------- */

struct region_dec {
    struct tocsin_region_conf *r;
    struct cnode *name, *source, *iface, *dns, *proxy;
};

static void rg_name(struct dctx *d, struct cnode *val, void *obj)
{
    struct region_dec *rd = obj;

    if (!dec_want(d, val, CNODE_SCALAR))
        return;
    check_region_name(d, val);
    dec_set_str(d, val, &rd->r->name);
    rd->name = val;
}

static void rg_source_address(struct dctx *d, struct cnode *val, void *obj)
{
    struct region_dec *rd = obj;

    if (!dec_want(d, val, CNODE_SCALAR))
        return;
    rd->source = val;
    /* c-ares and curl bind to an address, never to a name (no lookup at load). */
    if (!tocsin_config_ip_literal(val->value))
        cfg_error_at(d->log, val, "bad source_address \"%s\": use an IPv4 or IPv6 address",
                     cnode_shown(val));
    else
        dec_set_str(d, val, &rd->r->source_address);
}

static void rg_interface(struct dctx *d, struct cnode *val, void *obj)
{
    struct region_dec *rd = obj;
    size_t len;

    if (!dec_want(d, val, CNODE_SCALAR))
        return;
    rd->iface = val;
    len = strlen(val->value);
    if (len == 0 || len > IFNAME_MAX || strpbrk(val->value, "/ \t:"))
        cfg_error_at(d->log, val, "bad interface \"%s\": use a network interface name like eth1",
                     cnode_shown(val));
    else
        dec_set_str(d, val, &rd->r->interface);
}

static void rg_dns_servers(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_region_conf *r = ((struct region_dec *)obj)->r;

    if (!dec_want_list(d, val))
        return;
    ((struct region_dec *)obj)->dns = val;
    if (val->n == 0)
        cfg_error_at(d->log, val, "\"dns_servers\" must not be empty");
    r->dns_servers = calloc(val->n + 1, sizeof(*r->dns_servers));
    if (!r->dns_servers)
        return dec_oom(d);
    for (size_t i = 0; i < val->n && d->rc == 0; i++) {
        const struct cnode *it = val->items[i];

        if (it->kind != CNODE_SCALAR || !tocsin_config_dns_server(it->value))
            cfg_error_at(d->log, it, "bad DNS server \"%s\": use IP, IP:PORT or [IPv6]:PORT",
                         it->kind == CNODE_SCALAR ? cnode_shown(it) : "");
        else if (!(r->dns_servers[r->n_dns_servers++] = strdup(it->value)))
            dec_oom(d);
    }
}

static void rg_dns_cache(struct dctx *d, struct cnode *val, void *obj)
{
    dec_get_duration(d, val, &((struct region_dec *)obj)->r->dns_cache_ms);
}

static void rg_proxy(struct dctx *d, struct cnode *val, void *obj)
{
    struct region_dec *rd = obj;

    if (val->kind == CNODE_SCALAR)
        rd->proxy = val;
    dec_set_proxy(d, val, &rd->r->proxy);
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
        dec_duplicate(d, "region", rd->r->name, rd->name, d->region_at, region_name_at, self))
        return;
    d->region_at[self] = rd->r->name ? rd->name : NULL;
}

static void decode_region(struct dctx *d, struct cnode *map)
{
    struct tocsin_region_conf *r = &d->cfg->regions[d->cfg->n_regions++];
    struct region_dec rd = { .r = r };

    r->dns_cache_ms = DNS_CACHE_MS_DEFAULT;
    dec_set_where(d, "region", dec_scalar_value(map, "name"));
    dec_map(d, map, region_table, N(region_table), &rd);
    region_finish(d, map, &rd);
}

/* Without "regions" (or with an empty list, already reported) the agent is one
 * vantage point named agent.region, with no options. */
void dec_regions(struct dctx *d, struct cnode *list)
{
    struct tocsin_config *cfg = d->cfg;

    if (list && list->n == 0)
        cfg_error_at(d->log, list, "\"regions\" must not be empty");
    if (list && list->n > 0) {
        dec_items(d, list, "regions", decode_region);
    } else {
        cfg->regions[0].dns_cache_ms = DNS_CACHE_MS_DEFAULT;
        cfg->regions[0].name = strdup(cfg->agent.region);
        if (!cfg->regions[0].name)
            return dec_oom(d);
        cfg->n_regions = 1;
    }
    d->region_names = calloc(cfg->n_regions + 1, sizeof(*d->region_names));
    if (!d->region_names)
        return dec_oom(d);
    for (size_t i = 0; i < cfg->n_regions; i++)
        d->region_names[i] = cfg->regions[i].name ? cfg->regions[i].name : "";
}
