/* Alert holds: see include/tocsin/holds.h. */
#include "tocsin/holds.h"

#include "tocsin/maintenance.h"

const char *tocsin_hold_name(enum tocsin_hold hold)
{
    static const char *const names[] = {
        [TOCSIN_HOLD_NONE] = "none",
        [TOCSIN_HOLD_MAINTENANCE] = "maintenance",
        [TOCSIN_HOLD_PARENT_PENDING] = "parent pending",
        [TOCSIN_HOLD_PARENT_DOWN] = "parent down",
    };

    return (size_t)hold < sizeof(names) / sizeof(names[0]) ? names[hold] : "none";
}

/* A parent whose own verdict may still come: unknown, or failing but not DOWN
 * yet.  Waiting for it is what keeps a child that happened to be checked first
 * from alerting ahead of its parent. */
static bool pending(const struct tocsin_monitor_state *p)
{
    return p->status == TOCSIN_STATUS_UNKNOWN ||
           (p->status == TOCSIN_STATUS_UP && p->consecutive_failures > 0);
}

static uint64_t wait_limit_ms(const struct tocsin_config *config,
                              const struct tocsin_monitor_conf *parent)
{
    const struct tocsin_policy_conf *policy = &config->policies[parent->policy];

    return (uint64_t)policy->failure_threshold * parent->retry_interval_ms + parent->timeout_ms;
}

static enum tocsin_hold parent_hold(struct tocsin_hold_state *h, const struct tocsin_config *config,
                                    const struct tocsin_monitor_state *states,
                                    const struct tocsin_monitor_conf *m, uint64_t now_ms,
                                    bool *check_parents, size_t *parent)
{
    bool waiting = false;
    uint64_t limit = 0;

    for (size_t i = 0; i < m->n_depends_on; i++) {
        size_t p = m->depends_on[i];
        if (states[p].status == TOCSIN_STATUS_DOWN) {
            *parent = p;
            return TOCSIN_HOLD_PARENT_DOWN;
        }
        if (pending(&states[p])) {
            uint64_t l = wait_limit_ms(config, &config->monitors[p]);
            if (!waiting || l > limit)
                *parent = p;
            waiting = true;
            limit = l > limit ? l : limit;
        }
    }
    if (!waiting) {
        h->pending_since_ms = 0;
        return TOCSIN_HOLD_NONE;
    }
    if (h->pending_since_ms == 0) {
        h->pending_since_ms = now_ms ? now_ms : 1;
        *check_parents = true;
    }
    /* Past the parent's own worst case, the child speaks for itself. */
    return now_ms - h->pending_since_ms < limit ? TOCSIN_HOLD_PARENT_PENDING : TOCSIN_HOLD_NONE;
}

enum tocsin_hold tocsin_hold_decide(struct tocsin_hold_state *h, const struct tocsin_config *config,
                                    const struct tocsin_monitor_state *states, size_t monitor,
                                    int64_t now_s, uint64_t now_ms, bool *check_parents,
                                    size_t *parent)
{
    const struct tocsin_monitor_conf *m = &config->monitors[monitor];
    enum tocsin_hold hold = parent_hold(h, config, states, m, now_ms, check_parents, parent);

    if (hold == TOCSIN_HOLD_NONE && tocsin_monitor_in_maintenance(m, now_s))
        hold = TOCSIN_HOLD_MAINTENANCE;
    return hold;
}
