/* When a monitor's alerts wait (DESIGN §4): during a maintenance window, and
 * while a parent (depends_on) is not UP.  Pure: the caller passes the clocks
 * and the monitors' states; the result goes into tocsin_monitor_state.hold. */
#ifndef TOCSIN_HOLDS_H
#define TOCSIN_HOLDS_H

#include <stdbool.h>
#include <stdint.h>

#include "tocsin/config.h"
#include "tocsin/monitor.h"

enum tocsin_hold {
    TOCSIN_HOLD_NONE,
    TOCSIN_HOLD_MAINTENANCE,    /* in a maintenance window */
    TOCSIN_HOLD_PARENT_PENDING, /* a parent is UNKNOWN or failing: wait for its verdict */
    TOCSIN_HOLD_PARENT_DOWN,    /* a parent is DOWN: the child's incident is suppressed */
};

/* Per monitor bookkeeping, zeroed at start. */
struct tocsin_hold_state {
    uint64_t pending_since_ms;  /* monotonic ms the wait for a parent began; 0 = none */
    enum tocsin_hold last;      /* the previous decision, to log changes once */
};

/* Decides for MONITOR at wall time NOW_S (maintenance windows) and monotonic
 * NOW_MS (how long a parent has been awaited: at most the parent's
 * failure_threshold x retry_interval + timeout).  *CHECK_PARENTS is set when a
 * wait just began, so the caller checks the parents at once.  *PARENT names
 * the parent that decided a parent hold. */
enum tocsin_hold tocsin_hold_decide(struct tocsin_hold_state *h, const struct tocsin_config *config,
                                    const struct tocsin_monitor_state *states, size_t monitor,
                                    int64_t now_s, uint64_t now_ms, bool *check_parents,
                                    size_t *parent);

const char *tocsin_hold_name(enum tocsin_hold hold);

#endif
