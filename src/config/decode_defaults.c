/* The defaults section, and the policy, regions, quorum and timeout checks a
 * monitor's own keys go through too (monitor_schedule). */
#include "decode_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- defaults ------------------------------------------------------------- */

static void df_interval(struct dctx *d, struct cnode *val, void *obj)
{
    dec_get_duration(d, val, &((struct defaults *)obj)->interval_ms);
}

static void df_timeout(struct dctx *d, struct cnode *val, void *obj)
{
    dec_get_duration(d, val, &((struct defaults *)obj)->timeout_ms);
}

static void df_retry(struct dctx *d, struct cnode *val, void *obj)
{
    struct defaults *def = obj;

    def->retry_set = dec_get_duration(d, val, &def->retry_ms);
}

static void df_policy(struct dctx *d, struct cnode *val, void *obj)
{
    if (dec_want(d, val, CNODE_SCALAR))
        ((struct defaults *)obj)->policy = val;
}

static void df_regions(struct dctx *d, struct cnode *val, void *obj)
{
    if (dec_want_list(d, val))
        ((struct defaults *)obj)->regions = val;
}

static void df_quorum(struct dctx *d, struct cnode *val, void *obj)
{
    struct defaults *def = obj;

    if (dec_get_int(d, val, 1, 1000000000, &def->quorum))
        def->quorum_node = val;
}

static const struct directive defaults_table[] = {
    { "interval", df_interval, 0 }, { "timeout", df_timeout, 0 },
    { "retry_interval", df_retry, 0 }, { "policy", df_policy, 0 },
    { "regions", df_regions, 0 },   { "quorum", df_quorum, 0 },
};

bool dec_resolve_policy(struct dctx *d, struct cnode *val, size_t *out)
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
    dec_unknown_name(d, val, "policy", names, n);
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
size_t *dec_resolve_regions(struct dctx *d, struct cnode *list, size_t *count, bool *ok)
{
    size_t before = d->log->n;
    size_t *idx;

    d->key = "regions";
    if (list->n == 0)
        cfg_error_at(d->log, list, "\"regions\" must not be empty");
    idx = dec_resolve_names(d, list, "region", d->region_names, d->cfg->n_regions, true, count);
    if (idx)
        check_region_twice(d, list, idx, *count);
    *ok = d->log->n == before;
    return idx;
}

bool dec_check_quorum(struct dctx *d, const struct cnode *at, int quorum, size_t n_regions)
{
    if (quorum >= 1 && (size_t)quorum <= n_regions)
        return true;
    cfg_error_at(d->log, at, "\"quorum\" must be between 1 and %zu (the number of regions)%s",
                 n_regions, d->where);
    return false;
}

void dec_check_timeout(struct dctx *d, const struct cnode *at, uint64_t timeout,
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

void dec_defaults(struct dctx *d, struct cnode *map)
{
    struct defaults *def = &d->def;

    const struct cnode *at = NULL;
    bool regions_ok = true;

    dec_set_where(d, "defaults", NULL);
    if (map) { /* a mapping: checked by split_root */
        dec_map(d, map, defaults_table, N(defaults_table), def);
        at = cnode_get(map, "timeout") ? cnode_get(map, "timeout") : cnode_get(map, "interval");
    }
    if (at)
        dec_check_timeout(d, at, def->timeout_ms, def->interval_ms);
    if (def->policy && !dec_resolve_policy(d, def->policy, &def->policy_idx))
        def->policy = NULL;
    if (!def->policy) {
        struct cnode dflt = { .kind = CNODE_SCALAR, .value = "default" };

        dec_resolve_policy(d, &dflt, &def->policy_idx); /* always there: built in */
    }
    if (def->regions) {
        def->region_idx = dec_resolve_regions(d, def->regions, &def->n_regions, &regions_ok);
    } else {
        /* built in: all of them */
        def->region_idx = calloc(d->cfg->n_regions + 1, sizeof(size_t));
        def->n_regions = d->cfg->n_regions;
        for (size_t i = 0; def->region_idx && i < def->n_regions; i++)
            def->region_idx[i] = i;
    }
    if (!def->region_idx)
        return dec_oom(d);
    d->cfg->default_regions = def->region_idx; /* the config owns it: monitors share it */
    if (def->quorum_node && regions_ok)
        dec_check_quorum(d, def->quorum_node, def->quorum, def->n_regions);
}
