/* agent.shard k/n: which of the listed monitors this agent runs (DESIGN §7).
 * Everything is decoded and cross-checked first, so a file is valid or not
 * whatever shard reads it; then a parent or canary that another shard runs is
 * an error (this agent could never see it UP), and the other shards' monitors
 * move behind this shard's, where only tocsin_config_free sees them. */
#include "decode_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SHARD_COUNT_MAX 1000

unsigned tocsin_config_shard_of(const char *id, unsigned count)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a 64 offset basis */

    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull; /* FNV-1a 64 prime */
    }
    return count ? (unsigned)(h % count) + 1 : 1;
}

/* "k/n" with 1 <= k <= n <= SHARD_COUNT_MAX. */
void dec_agent_shard(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_agent_conf *a = obj;
    unsigned long k = 0, n = 0;
    char *slash, *end = NULL;

    if (!dec_want(d, val, CNODE_SCALAR))
        return;
    slash = val->value;
    if (isdigit((unsigned char)val->value[0]))
        k = strtoul(val->value, &slash, 10);
    if (slash[0] == '/' && isdigit((unsigned char)slash[1]))
        n = strtoul(slash + 1, &end, 10);
    if (end == NULL || *end != '\0' || k < 1 || k > n ||
        n > SHARD_COUNT_MAX) {
        cfg_error_at(d->log, val, "bad \"shard\" \"%s\": use K/N with 1 <= K <= N <= %d, "
                     "e.g. 2/3 for the second of three hosts", cnode_shown(val), SHARD_COUNT_MAX);
        return;
    }
    a->shard_index = (unsigned)k;
    a->shard_count = (unsigned)n;
}

static const struct cnode *canary_item(const struct dctx *d, const char *id)
{
    for (size_t i = 0; i < d->canaries_at->n; i++)
        if (d->canaries_at->items[i]->kind == CNODE_SCALAR &&
            strcmp(d->canaries_at->items[i]->value, id) == 0)
            return d->canaries_at->items[i];
    return d->canaries_at;
}

/* Parents and canaries must run here: reported at the item that names them. */
static void check_references(struct dctx *d, const bool *here)
{
    const struct tocsin_config *cfg = d->cfg;
    const struct tocsin_agent_conf *a = &cfg->agent;

    for (size_t i = 0; i < cfg->n_monitors; i++) {
        const struct tocsin_monitor_conf *m = &cfg->monitors[i];
        for (size_t j = 0; here[i] && j < m->n_depends_on; j++) {
            size_t p = m->depends_on[j];
            if (!here[p])
                cfg_error_at(d->log, dec_depends_item(d, i, p),
                             "monitor \"%s\" depends on \"%s\", which runs in shard %u/%u, not in "
                             "this agent's %u/%u: a parent must be in its child's shard",
                             m->id, cfg->monitors[p].id,
                             tocsin_config_shard_of(cfg->monitors[p].id, a->shard_count),
                             a->shard_count, a->shard_index, a->shard_count);
        }
    }
    for (size_t i = 0; i < a->n_canaries; i++)
        /* a monitor without an id (already an error) matched canary "" */
        if (!here[a->canaries[i]] && cfg->monitors[a->canaries[i]].id)
            cfg_error_at(d->log, canary_item(d, cfg->monitors[a->canaries[i]].id),
                         "canary \"%s\" runs in shard %u/%u, not in this agent's %u/%u",
                         cfg->monitors[a->canaries[i]].id,
                         tocsin_config_shard_of(cfg->monitors[a->canaries[i]].id, a->shard_count),
                         a->shard_count, a->shard_index, a->shard_count);
}

/* Stable partition: this shard's monitors first; indexes are renumbered. */
static int partition(struct tocsin_config *cfg, const bool *here)
{
    size_t n = cfg->n_monitors, kept = 0, moved = 0;
    struct tocsin_monitor_conf *out = calloc(n + 1, sizeof(*out));
    size_t *new_index = calloc(n + 1, sizeof(*new_index));
    int rc = out && new_index ? 0 : -ENOMEM;

    for (size_t i = 0; i < n && rc == 0; i++)
        kept += here[i];
    for (size_t i = 0; i < n && rc == 0; i++) {
        new_index[i] = here[i] ? moved++ : kept + (i - moved);
        out[new_index[i]] = cfg->monitors[i];
    }
    for (size_t i = 0; i < kept && rc == 0; i++)
        for (size_t j = 0; j < out[i].n_depends_on; j++)
            out[i].depends_on[j] = new_index[out[i].depends_on[j]];
    for (size_t i = 0; i < cfg->agent.n_canaries && rc == 0; i++)
        cfg->agent.canaries[i] = new_index[cfg->agent.canaries[i]];
    if (rc == 0) {
        memcpy(cfg->monitors, out, n * sizeof(*out));
        cfg->n_monitors = kept;
    }
    free(out);
    free(new_index);
    return rc;
}

void dec_apply_shard(struct dctx *d)
{
    struct tocsin_config *cfg = d->cfg;
    bool *here;

    cfg->n_monitors_all = cfg->n_monitors;
    if (cfg->agent.shard_count <= 1)
        return;
    here = calloc(cfg->n_monitors + 1, sizeof(*here));
    if (!here)
        return dec_oom(d);
    for (size_t i = 0; i < cfg->n_monitors; i++)
        here[i] = cfg->monitors[i].id &&
                  tocsin_config_shard_of(cfg->monitors[i].id, cfg->agent.shard_count) ==
                      cfg->agent.shard_index;
    check_references(d, here);
    if (partition(cfg, here) < 0)
        dec_oom(d);
    free(here);
}
