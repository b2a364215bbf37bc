/* Prober guard (DESIGN §4): tells when a vantage point (region) lost its own
 * network rather than the world going down, so the caller freezes that
 * region's counters and the quorum counts the remaining regions.  Pure: no
 * I/O and no clock of its own; the caller feeds every check result (degraded
 * regions included: their results are what ends the degradation) with its
 * monotonic time.
 *
 * The rule, per region R:
 *
 *  - Every (monitor, region slot) keeps its latest result: failed or not.
 *    Checks run every interval, so "the latest result of each check" is "within
 *    one interval".  A result counts while it is current: at most
 *    2 x max(interval, retry_interval) + timeout old (a failing check runs every
 *    retry_interval).  An older one is stale and counts for nothing, so a
 *    stalled check never keeps a region degraded.
 *  - A monitor's target host is the host of its HTTP URL (as curl sees it) or
 *    its TCP host: compared case-insensitively, IPv6 without brackets and in
 *    canonical form, one trailing dot ignored; http and tcp monitors of the same
 *    host share it.
 *  - A host counts in R when at least one of its monitors has a current result
 *    there; it fails in R when every such current result failed.
 *  - Degraded by hosts: at least 10 hosts count in R and at least 90% of them
 *    fail (failing x 10 >= counted x 9).
 *  - Degraded by canaries: at least one agent.canaries monitor checks from R,
 *    and every canary check from R has a current result that failed.
 *  - R is degraded while either rule holds, and recovers as soon as neither does.
 *
 * Cost: hosts and (host, region) pairs are interned once at creation; a fed
 * result updates a few counters (its host in its region, its region).  Current
 * results wait in one queue per distinct horizon, oldest first (the time only
 * goes forward); a call sweeps them only once the earliest expiry may have
 * passed, for O(distinct horizons + results dropped): in steady state about
 * once per shortest interval.  No call scans every monitor, and only the
 * regions whose counts changed are decided again. */
#ifndef TOCSIN_GUARD_H
#define TOCSIN_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tocsin/config.h"

/* The hosts rule: at least this many hosts, at least this share failing. */
#define TOCSIN_GUARD_MIN_HOSTS 10
#define TOCSIN_GUARD_FAIL_PERCENT 90

struct tocsin_guard;

/* Builds the guard for CONFIG, which must outlive it (no monitor or region is
 * added later: a reload builds a new guard).  Every region starts not degraded,
 * with no result.  0 and *OUT set, or -ENOMEM. */
int tocsin_guard_new(const struct tocsin_config *config, struct tocsin_guard **out);
void tocsin_guard_free(struct tocsin_guard *g);

/* Feeds the result of MONITOR's check from its region slot SLOT (an index into
 * monitor->regions) at monotonic NOW_MS (a time earlier than one already seen
 * is taken as that one).  Results that went stale by NOW_MS, in any region, are
 * dropped first.  Returns true when this call changed whether some region is
 * degraded: SLOT's region, or another one whose results went stale; the caller
 * then takes each change once with tocsin_guard_pop_change.  An out-of-range
 * MONITOR or SLOT is ignored (false). */
bool tocsin_guard_feed(struct tocsin_guard *g, size_t monitor, size_t slot, bool failed,
                       uint64_t now_ms);

/* Drops the results that are stale at NOW_MS without feeding one; call it
 * periodically (once a second is plenty) so that a region whose every check
 * stalled still recovers.  Returns true like tocsin_guard_feed. */
bool tocsin_guard_expire(struct tocsin_guard *g, uint64_t now_ms);

/* Next region whose degraded state differs from when it was last popped (each
 * change is reported once, for the log line and the metric); false when none. */
bool tocsin_guard_pop_change(struct tocsin_guard *g, size_t *region);

/* Whether REGION (an index into config->regions) is degraded; false when out
 * of range. */
bool tocsin_guard_degraded(const struct tocsin_guard *g, size_t region);

/* Degraded flag per config region (config->n_regions entries), valid as long
 * as G: what tocsin_monitor_state.degraded points at. */
const bool *tocsin_guard_regions(const struct tocsin_guard *g);

/* Why a region is (or is not) degraded, for the log line and /healthz. */
struct tocsin_guard_info {
    bool degraded;
    const char *reason;     /* "canaries", "hosts" (canaries win when both hold), or "none" */
    size_t hosts_failing;   /* hosts whose every current result in the region failed */
    size_t hosts_counted;   /* hosts with at least one current result in the region */
    size_t canaries_failing; /* canary checks from the region whose current result failed */
    size_t canaries;        /* canary checks from the region (0: the canary rule is off) */
};

/* Fills *INFO for REGION; all zero with reason "none" when out of range. */
void tocsin_guard_info(const struct tocsin_guard *g, size_t region, struct tocsin_guard_info *info);

#endif
