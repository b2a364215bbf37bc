/* The agent's parts, shared by src/agent.c (lifecycle, checks, decisions) and
 * src/api.c (its HTTP endpoints).  Private to the agent: not in include/. */
#ifndef TOCSIN_AGENT_INTERNAL_H
#define TOCSIN_AGENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <uv.h>

#include "tocsin/agent.h"
#include "tocsin/buf.h"
#include "tocsin/engine.h"
#include "tocsin/guard.h"
#include "tocsin/holds.h"
#include "tocsin/http_server.h"
#include "tocsin/monitor.h"
#include "tocsin/notify.h"
#include "tocsin/sched.h"
#include "tocsin/sender.h"
#include "tocsin/store.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* What the agent counts itself, for /metrics. */
struct tocsin_agent_counters {
    uint64_t results[TOCSIN_ERR_INTERNAL + 1]; /* per error kind; [TOCSIN_ERR_NONE] = UP */
    uint64_t incidents;                        /* alerts decided, per event */
    uint64_t recoveries;
    uint64_t suppressed;                       /* transitions to DOWN while a parent was DOWN */
    uint64_t reloads;
    uint64_t reload_failures;
};

/* The latest result of one check (monitor, region slot), for the API, /status
 * and /metrics: 32 bytes, and the message only while the check fails. */
struct tocsin_last_check {
    int64_t timestamp;          /* Unix s at completion; 0 = not run yet */
    char *error_message;        /* malloc'd while DOWN; NULL when UP or out of memory */
    uint32_t up, down;          /* results counted since this generation started */
    int32_t response_time_ms;
    int16_t status_code;
    uint8_t status, error_kind;
};

/* Check durations per (probe type, region): tocsin_check_duration_seconds. */
#define TOCSIN_DURATION_BUCKETS 13 /* 12 bounds and +Inf */
extern const uint32_t tocsin_duration_bounds_ms[TOCSIN_DURATION_BUCKETS - 1];
struct tocsin_duration_histogram {
    uint64_t counts[TOCSIN_DURATION_BUCKETS];
    uint64_t sum_ms;
};

/* Everything that is built from one config and rebuilt by a reload. */
struct generation {
    const struct tocsin_config *config;
    struct tocsin_config *owned;         /* loaded by a reload; NULL = the caller's */
    struct tocsin_engine engine;
    bool engine_open;
    struct tocsin_sched *sched;
    struct tocsin_sender *sender;
    struct tocsin_monitor_state *states;
    struct tocsin_hold_state *holds;     /* per monitor: maintenance and depends_on */
    bool *dirty;                         /* per monitor: counters changed since written */
    struct tocsin_guard *guard;          /* the prober guard of this config's regions */
    int64_t *recovered_ms;               /* per region: wall ms it last stopped being degraded */
    struct tocsin_last_check *checks;    /* every check, monitor by monitor */
    size_t *first_check;                 /* per monitor: index of its first check */
    struct tocsin_duration_histogram *durations; /* [type * n_regions + region] */
};

/* Monitor I's check in region slot SLOT. */
static inline struct tocsin_last_check *tocsin_agent_check(const struct generation *g, size_t i,
                                                           size_t slot)
{
    return &g->checks[g->first_check[i] + slot];
}

struct tocsin_agent {
    uv_loop_t *loop;
    const struct tocsin_config *config;  /* = gen.config */
    struct tocsin_agent_options options;
    struct generation gen;
    struct tocsin_store *store;          /* NULL when state_dir cannot be opened */
    int state_lock;                      /* held while running: one agent per state_dir */
    struct tocsin_resolver *webhook_dns; /* unbound, so webhooks never use a region's vantage */
    tocsin_delivery_cb observer;
    void *observer_data;
    struct tocsin_alert *decided;        /* alerts of one result, sent after logging it */
    size_t n_decided;
    size_t decided_cap;
    uv_timer_t tick;                     /* every 100 ms: guard staleness, a state flush slice */
    size_t flush_cursor;                 /* the next monitor flush_slice looks at */
    bool state_write_failed;             /* a state commit failed: write them all again */
    uv_signal_t signals[3];
    bool signals_open;
    struct tocsin_http_server *http;     /* agent.listen; NULL when "" */
    struct tocsin_notifier notifier;     /* systemd READY/RELOADING/STOPPING/WATCHDOG */
    bool notifier_open;
    struct tocsin_agent_counters counters;
    struct tocsin_sender_stats retired_sender; /* of the senders closed by reloads */
    struct tocsin_sched_stats retired_sched;
    struct tocsin_sched_stats closing_sched;   /* of the scheduler a reload is closing */
    struct retired_outcomes {                  /* per webhook name, of closed senders */
        char *webhook;
        uint64_t n[TOCSIN_OUTCOMES];
    } *retired_outcomes;
    size_t n_retired_outcomes;
    int64_t started_s;                   /* wall clock */
    struct tocsin_config *next_config;   /* a reload in progress: what it switches to */
    bool reload_again;                   /* SIGHUP while reloading */
    bool stop_requested;                 /* stop asked while reloading: once it is done */
    bool stopping;
    int open_parts;
    void (*on_stopped)(void *data);
    void *on_stopped_data;
};

/* Attempts of webhook W of the running config by outcome, closed senders included. */
void tocsin_agent_webhook_outcomes(const struct tocsin_agent *a, size_t w,
                                   uint64_t out[TOCSIN_OUTCOMES]);

/* /status (src/status_page.c): the HTML page, with PROBLEMS (a JSON array of
 * strings, as /healthz lists them) at its top. */
void tocsin_status_page(struct tocsin_agent *a, const json_t *problems, struct tocsin_buf *out);

/* The HTTP endpoints (src/api.c): /metrics, /healthz, /status, /api/v1/... */
void tocsin_api_handle(void *agent, const struct tocsin_http_request *req,
                       struct tocsin_http_response *resp);

#endif
