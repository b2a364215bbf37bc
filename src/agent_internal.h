/* The agent's parts, shared by src/agent.c (lifecycle, checks, decisions) and
 * src/api.c (its HTTP endpoints).  Private to the agent: not in include/. */
#ifndef TOCSIN_AGENT_INTERNAL_H
#define TOCSIN_AGENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tocsin/agent.h"
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
};

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
    uv_timer_t tick;                     /* every second: guard staleness, state flushes */
    uint64_t ticks;
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
    int64_t started_s;                   /* wall clock */
    struct tocsin_config *next_config;   /* a reload in progress: what it switches to */
    bool reload_again;                   /* SIGHUP while reloading */
    bool stop_requested;                 /* stop asked while reloading: once it is done */
    bool stopping;
    int open_parts;
    void (*on_stopped)(void *data);
    void *on_stopped_data;
};

/* The HTTP endpoints (src/api.c): /metrics, /healthz, /status, /api/v1/... */
void tocsin_api_handle(void *agent, const struct tocsin_http_request *req,
                       struct tocsin_http_response *resp);

#endif
