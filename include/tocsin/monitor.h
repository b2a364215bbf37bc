/* The monitor state machine (DESIGN §4).  Pure: results in, alerts out, no I/O
 * and no clock, so it is tested as a table. */
#ifndef TOCSIN_MONITOR_H
#define TOCSIN_MONITOR_H

#include <stdbool.h>
#include <stddef.h>

#include "tocsin/alert.h"
#include "tocsin/config.h"
#include "tocsin/result.h"

/* Counters kept inside the state when they fit (see counts below). */
#define TOCSIN_STATE_INLINE_COUNTS 8
/* The alignment of an array of states: a cache line. */
#define TOCSIN_STATE_ALIGN 64

/* 128 bytes: two cache lines when the array is 64-byte aligned (the agent's
 * is), so a check's result touches those two and nothing else of it.  It may
 * point into itself: initialised in place and never copied. */
struct tocsin_monitor_state {
    enum tocsin_status status;
    enum tocsin_status incident_previous; /* status before the current incident */
    int consecutive_failures;             /* the quorum-th largest region counter */
    bool hold;                            /* set by the caller: maintenance, or a parent not
                                           * UP; transitions go on, incidents wait (a
                                           * recovery of a sent incident still goes out) */
    int64_t incident_started;             /* check timestamp that made it DOWN */
    int *region_failures;                 /* per monitor region slot */
    int *region_successes;
    size_t n_regions;
    size_t levels_fired;                  /* levels of the policy fired this incident */
    int64_t highest_sent_at_ms;           /* check time (wall ms) the highest level last
                                           * went out: repeat runs on the checks' clock */
    int *webhook_level;                   /* highest level sent per webhook; 0 = none */
    size_t n_webhooks;
    int64_t since;                        /* check timestamp of the last status change; 0
                                           * while UNKNOWN */
    const bool *degraded;                 /* set by the caller: per config region, true
                                           * while the prober guard says that vantage point
                                           * lost its network; its counters freeze and the
                                           * quorum counts the other regions.  NULL = none */
    /* region_failures, region_successes and webhook_level, one after the
     * other, when they fit (a region or two, a few webhooks): else they are
     * one allocation of their own, a cache miss more per check. */
    int counts[TOCSIN_STATE_INLINE_COUNTS];
};

/* Called for each decided alert, in order. */
typedef void (*tocsin_alert_cb)(void *data, const struct tocsin_alert *alert);

/* 0 or -ENOMEM.  The monitor starts UNKNOWN. */
int tocsin_monitor_state_init(struct tocsin_monitor_state *s, const struct tocsin_config *config,
                              const struct tocsin_monitor_conf *monitor);
void tocsin_monitor_state_free(struct tocsin_monitor_state *s);

/* Feeds the result of the check from the monitor's region slot SLOT (index into
 * monitor->regions); emits the incidents and recoveries it decides. */
void tocsin_monitor_feed(struct tocsin_monitor_state *s, const struct tocsin_config *config,
                         const struct tocsin_monitor_conf *monitor, size_t slot,
                         const struct tocsin_result *result, tocsin_alert_cb emit, void *data);

#endif
