/* The scheduler: one check slot per (monitor, region) in a 4-ary heap of due times
 * driven by one libuv timer (O(log n) per run, nothing to do while idle; a
 * uv_timer_t per slot was 152 bytes of every idle monitor).  DESIGN §4: first
 * run spread over the interval by a hash of (monitor id, region), next due =
 * previous due + interval (retry_interval while failing), missed slots skipped
 * after a stall, at most one queued or running instance per slot, and
 * max_concurrency checks in flight with the rest queued in order. */
#ifndef TOCSIN_SCHED_H
#define TOCSIN_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "tocsin/probe.h"

struct tocsin_sched;

/* A finished check of MONITOR (index into config->monitors) from region SLOT
 * (index into that monitor's regions). */
typedef void (*tocsin_sched_result_cb)(void *data, size_t monitor, size_t slot,
                                       const struct tocsin_result *result);

/* Upper bounds (ms) of the lateness histogram buckets; the last bucket is +Inf. */
#define TOCSIN_LATENESS_BUCKETS 9
extern const uint64_t tocsin_lateness_bounds_ms[TOCSIN_LATENESS_BUCKETS - 1];

struct tocsin_sched_stats {
    uint64_t started;
    uint64_t completed;
    uint64_t skipped_overlap; /* due while the previous instance was still queued/running */
    uint64_t skipped_slots;   /* due times missed after a stall, never made up */
    size_t in_flight;
    size_t queued;
    /* How late checks started against their due time (queueing included), as
     * a cumulative-free histogram: bucket i counts bounds[i-1] < late <= bounds[i]. */
    uint64_t lateness[TOCSIN_LATENESS_BUCKETS];
    uint64_t lateness_sum_ms;
};

int tocsin_sched_new(const struct tocsin_probe_env *env, int max_concurrency,
                     tocsin_sched_result_cb cb, void *data, struct tocsin_sched **out);
/* Arms every slot's first run. */
void tocsin_sched_start(struct tocsin_sched *s);
/* Checks MONITOR from every region now, unless an instance is already queued or
 * running (a child held for its parent asks for the parent's verdict at once). */
void tocsin_sched_run_now(struct tocsin_sched *s, size_t monitor);
void tocsin_sched_stats(const struct tocsin_sched *s, struct tocsin_sched_stats *out);
/* Cancels checks in flight (their results are discarded, not failures), closes
 * every timer and frees S; ON_CLOSED (may be NULL) fires when done. */
void tocsin_sched_close(struct tocsin_sched *s, void (*on_closed)(void *data), void *data);

/* FNV-1a 64 of BYTES (DESIGN §7 uses it for shards; here for spreading). */
uint64_t tocsin_fnv1a64(const void *bytes, size_t len, uint64_t seed);
#define TOCSIN_FNV1A64_SEED 0xcbf29ce484222325ULL

#endif
