/* The policies section: thresholds and escalation levels, plus the built-in
 * "default" policy when no file defines one. */
#include "decode_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- policies ------------------------------------------------------------- */

struct level_dec {
    struct tocsin_level_conf *l;
    struct cnode *level, *after, *notify;
};

static void lv_level(struct dctx *d, struct cnode *val, void *obj)
{
    struct level_dec *ld = obj;

    if (dec_get_int(d, val, 1, 1000000000, &ld->l->level))
        ld->level = val;
}

static void lv_after(struct dctx *d, struct cnode *val, void *obj)
{
    struct level_dec *ld = obj;

    if (dec_get_int(d, val, 1, 1000000000, &ld->l->after))
        ld->after = val;
}

static void lv_notify(struct dctx *d, struct cnode *val, void *obj)
{
    struct level_dec *ld = obj;

    if (!dec_want_list(d, val))
        return;
    ld->notify = val;
    if (val->n == 0)
        cfg_error_at(d->log, val, "\"notify\" must not be empty");
}

static void lv_repeat(struct dctx *d, struct cnode *val, void *obj)
{
    dec_get_duration(d, val, &((struct level_dec *)obj)->l->repeat_ms);
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
    ld->l->notify = dec_resolve_names(d, ld->notify, "webhook", names, n, false, &ld->l->n_notify);
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
    dec_map(d, map, level_table, N(level_table), &ld);
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
    dec_set_int_min1(d, val, &((struct policy_dec *)obj)->p->failure_threshold);
}

static void po_success(struct dctx *d, struct cnode *val, void *obj)
{
    dec_set_int_min1(d, val, &((struct policy_dec *)obj)->p->success_threshold);
}

static void po_levels(struct dctx *d, struct cnode *val, void *obj)
{
    if (!dec_want(d, val, CNODE_SEQ))
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

void dec_policy(struct dctx *d, struct cnode *key, struct cnode *map)
{
    struct tocsin_policy_conf *p = &d->cfg->policies[d->cfg->n_policies++];
    struct policy_dec pd = { .p = p };

    p->failure_threshold = 3;
    p->success_threshold = 1;
    p->name = strdup(key->value);
    if (!p->name)
        return dec_oom(d);
    dec_set_where(d, "policy", key->value);
    if (!dec_duplicate(d, "policy", p->name, key, d->policy_at, policy_name_at,
                       d->cfg->n_policies - 1))
        d->policy_at[d->cfg->n_policies - 1] = key;
    d->key = key->value;
    if (!dec_want(d, map, CNODE_MAP))
        return;
    dec_map(d, map, policy_table, N(policy_table), &pd);
    if (!pd.levels || pd.levels->n == 0) {
        if (default_level(d->cfg, p) < 0)
            dec_oom(d);
        return;
    }
    p->levels = calloc(pd.levels->n, sizeof(*p->levels));
    if (!p->levels)
        return dec_oom(d);
    for (size_t i = 0; i < pd.levels->n && d->rc == 0; i++)
        decode_level(d, p, pd.levels->items[i]);
}

void dec_builtin_policy(struct dctx *d)
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
        dec_oom(d);
}
