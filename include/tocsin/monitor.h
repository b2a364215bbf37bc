/* The monitor state machine (DESIGN §4).  Pure: results in, alerts out, no I/O
 * and no clock, so it is tested as a table. */
#ifndef TOCSIN_MONITOR_H
#define TOCSIN_MONITOR_H

#include <stdbool.h>
#include <stddef.h>

#include "tocsin/alert.h"
#include "tocsin/config.h"
#include "tocsin/result.h"

struct tocsin_monitor_state {
    enum tocsin_status status;
    enum tocsin_status incident_previous; /* status before the current incident */
    int consecutive_failures;             /* the quorum-th largest region counter */
    int64_t incident_started;             /* check timestamp that made it DOWN */
    int *region_failures;                 /* per monitor region slot */
    int *region_successes;
    size_t n_regions;
    size_t levels_fired;                  /* levels of the policy fired this incident */
    int64_t highest_sent_at_ms;           /* check time (wall ms) the highest level last
                                           * went out: repeat runs on the checks' clock */
    bool hold;                            /* set by the caller: maintenance, or a parent not
                                           * UP; transitions go on, incidents wait (a
                                           * recovery of a sent incident still goes out) */
    int *webhook_level;                   /* highest level sent per webhook; 0 = none */
    size_t n_webhooks;
    int64_t since;                        /* check timestamp of the last status change; 0
                                           * while UNKNOWN */
    const bool *degraded;                 /* set by the caller: per config region, true
                                           * while the prober guard says that vantage point
                                           * lost its network; its counters freeze and the
                                           * quorum counts the other regions.  NULL = none */
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
