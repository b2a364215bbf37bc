/* The agent: see include/tocsin/agent.h.  Results flow scheduler → monitor
 * state machine → sender; the loop thread does all of it. */
#include "tocsin/agent.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tocsin/engine.h"
#include "tocsin/holds.h"
#include "tocsin/log.h"
#include "tocsin/monitor.h"
#include "tocsin/outbox_cmd.h"
#include "tocsin/sched.h"
#include "tocsin/store.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct tocsin_agent {
    uv_loop_t *loop;
    const struct tocsin_config *config;
    struct tocsin_agent_options options;
    struct tocsin_engine engine;
    struct tocsin_sched *sched;
    struct tocsin_sender *sender;
    struct tocsin_store *store;          /* NULL when state_dir cannot be opened */
    int state_lock;                      /* held while running: one agent per state_dir */
    struct tocsin_resolver *webhook_dns; /* unbound, so webhooks never use a region's vantage */
    struct tocsin_monitor_state *states;
    struct tocsin_hold_state *holds;     /* per monitor: maintenance and depends_on */
    struct tocsin_alert *decided;        /* alerts of one result, sent after logging it */
    size_t n_decided;
    size_t decided_cap;
    uv_signal_t signals[3];
    bool signals_open;
    bool stopping;
    int open_parts;
    void (*on_stopped)(void *data);
    void *on_stopped_data;
};

static void log_check(const struct tocsin_agent *a, const struct tocsin_monitor_conf *m,
                      const struct tocsin_result *r)
{
    char ms[24], code[16];

    snprintf(ms, sizeof(ms), "%" PRId64, r->response_time_ms);
    snprintf(code, sizeof(code), "%d", r->status_code);
    tocsin_log(TOCSIN_LOG_DEBUG, "check", "monitor", m->id, "region",
               a->config->regions[r->region].name, "status", tocsin_status_name(r->status),
               "status_code", r->status_code ? code : "", "response_time_ms", ms, "error_kind",
               tocsin_error_kind_name(r->error_kind), "error", r->error_message, NULL);
}

/* Collects what the state machine decides so the status change is logged first. */
static void on_alert(void *data, const struct tocsin_alert *alert)
{
    struct tocsin_agent *a = data;

    if (a->n_decided < a->decided_cap)
        a->decided[a->n_decided++] = *alert;
}

static void send_decided(struct tocsin_agent *a)
{
    char level[16];

    for (size_t i = 0; i < a->n_decided; i++) {
        const struct tocsin_alert *alert = &a->decided[i];
        snprintf(level, sizeof(level), "%d", alert->notification_level);
        tocsin_info("alert", "monitor", alert->monitor->id, "event",
                    tocsin_notification_name(alert->type), "webhook",
                    a->config->webhooks[alert->webhook].name, "level", level);
        tocsin_sender_send(a->sender, alert); /* failures are logged by the sender */
    }
    a->n_decided = 0;
}

/* Holds the monitor's alerts in maintenance or behind a parent (DESIGN §4);
 * logs each change of reason once and asks for the parents' verdict at once. */
static enum tocsin_hold decide_hold(struct tocsin_agent *a, size_t monitor)
{
    const struct tocsin_monitor_conf *m = &a->config->monitors[monitor];
    struct tocsin_hold_state *h = &a->holds[monitor];
    bool check_parents = false;
    size_t parent = 0;
    enum tocsin_hold hold = tocsin_hold_decide(h, a->config, a->states, monitor,
                                               (int64_t)time(NULL), uv_now(a->loop),
                                               &check_parents, &parent);

    if (check_parents)
        for (size_t i = 0; i < m->n_depends_on; i++)
            tocsin_sched_run_now(a->sched, m->depends_on[i]);
    if (hold != h->last) {
        const char *parent_id = hold == TOCSIN_HOLD_PARENT_PENDING ||
                                        hold == TOCSIN_HOLD_PARENT_DOWN
                                    ? a->config->monitors[parent].id
                                    : "";
        if (hold == TOCSIN_HOLD_PARENT_DOWN)
            tocsin_info("incidents suppressed: a parent is DOWN", "monitor", m->id, "parent",
                        parent_id);
        else if (hold != TOCSIN_HOLD_NONE)
            tocsin_info("alerts held", "monitor", m->id, "reason", tocsin_hold_name(hold),
                        parent_id[0] ? "parent" : NULL, parent_id);
        else
            tocsin_info("alerts no longer held", "monitor", m->id, "was", tocsin_hold_name(h->last));
        h->last = hold;
    }
    return hold;
}

static void on_check_result(void *data, size_t monitor, size_t slot,
                            const struct tocsin_result *result)
{
    struct tocsin_agent *a = data;
    const struct tocsin_monitor_conf *m = &a->config->monitors[monitor];
    struct tocsin_monitor_state *state = &a->states[monitor];
    enum tocsin_status before = state->status;

    log_check(a, m, result);
    state->hold = decide_hold(a, monitor) != TOCSIN_HOLD_NONE;
    tocsin_monitor_feed(state, a->config, m, slot, result, on_alert, a);
    if (state->status != before) {
        char failures[16];
        snprintf(failures, sizeof(failures), "%d", state->consecutive_failures);
        tocsin_info("monitor status changed", "monitor", m->id, "from", tocsin_status_name(before),
                    "to", tocsin_status_name(state->status), "consecutive_failures", failures,
                    result->error_message[0] ? "error" : NULL, result->error_message);
    }
    send_decided(a);
}

static void free_states(struct tocsin_agent *a)
{
    free(a->decided);
    free(a->holds);
    a->decided = NULL;
    a->holds = NULL;
    if (a->states == NULL)
        return;
    for (size_t i = 0; i < a->config->n_monitors; i++)
        tocsin_monitor_state_free(&a->states[i]);
    free(a->states);
    a->states = NULL;
}

/* One result decides at most every level's webhooks, or a recovery to each webhook. */
static size_t max_alerts_per_result(const struct tocsin_config *config)
{
    size_t most = config->n_webhooks;

    for (size_t p = 0; p < config->n_policies; p++) {
        size_t n = 0;
        for (size_t l = 0; l < config->policies[p].n_levels; l++)
            n += config->policies[p].levels[l].n_notify;
        if (n > most)
            most = n;
    }
    return most;
}

static int init_states(struct tocsin_agent *a)
{
    a->decided_cap = max_alerts_per_result(a->config);
    a->decided = calloc(a->decided_cap ? a->decided_cap : 1, sizeof(*a->decided));
    a->states = calloc(a->config->n_monitors ? a->config->n_monitors : 1, sizeof(*a->states));
    a->holds = calloc(a->config->n_monitors ? a->config->n_monitors : 1, sizeof(*a->holds));
    if (a->states == NULL || a->decided == NULL || a->holds == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < a->config->n_monitors; i++)
        if (tocsin_monitor_state_init(&a->states[i], a->config, &a->config->monitors[i]) < 0)
            return -ENOMEM;
    return 0;
}

static void on_signal(uv_signal_t *handle, int signum)
{
    struct tocsin_agent *a = handle->data;

    if (signum == SIGHUP) {
        tocsin_warn("SIGHUP: reload is not supported yet; restart to apply a new config");
        return;
    }
    tocsin_info("stopping", "signal", signum == SIGINT ? "SIGINT" : "SIGTERM");
    tocsin_agent_stop(a, NULL, NULL);
}

static void start_signals(struct tocsin_agent *a)
{
    static const int signums[] = {SIGINT, SIGTERM, SIGHUP};

    for (size_t i = 0; i < 3; i++) {
        uv_signal_init(a->loop, &a->signals[i]);
        a->signals[i].data = a;
        uv_signal_start(&a->signals[i], on_signal, signums[i]);
        uv_unref((uv_handle_t *)&a->signals[i]); /* signals alone keep nothing alive */
    }
    a->signals_open = true;
}

/* Without a store alerts still go out, held only in memory: worse than durable,
 * better than silence, and said loudly (DESIGN §5: never a silent drop). */
static void open_store(struct tocsin_agent *a)
{
    char err[256] = "";
    int rc = tocsin_store_open(a->loop, a->config->agent.state_dir, &a->store, err, sizeof(err));

    if (rc < 0) {
        a->store = NULL;
        tocsin_error("cannot open the outbox; alerts are kept in memory only", "state_dir",
                     a->config->agent.state_dir, "error", err[0] ? err : strerror(-rc));
    }
}

int tocsin_agent_new(uv_loop_t *loop, const struct tocsin_config *config,
                     const struct tocsin_agent_options *options, struct tocsin_agent **out)
{
    struct tocsin_agent *a = calloc(1, sizeof(*a));
    int rc;

    if (a == NULL)
        return -ENOMEM;
    a->loop = loop;
    a->config = config;
    a->options = *options;
    a->state_lock = -1;
    rc = init_states(a);
    if (rc == 0)
        rc = tocsin_engine_init(&a->engine, loop, config);
    if (rc < 0) {
        free_states(a);
        free(a);
        return rc;
    }
    rc = a->state_lock = tocsin_state_lock(config->agent.state_dir);
    if (rc == -EBUSY)
        tocsin_error("another tocsin agent runs on this state_dir", "state_dir",
                     config->agent.state_dir);
    else if (rc < 0)
        tocsin_error("cannot lock the state_dir", "state_dir", config->agent.state_dir, "error",
                     strerror(-rc));
    if (rc >= 0) {
        open_store(a);
        rc = tocsin_resolver_new(loop, NULL, &a->webhook_dns);
    }
    if (rc == 0)
        rc = tocsin_sender_new(loop, config, a->webhook_dns, a->store, &a->sender);
    if (rc == 0)
        rc = tocsin_sched_new(&a->engine.env, config->agent.max_concurrency, on_check_result, a,
                              &a->sched);
    if (rc < 0) {
        /* Handles are open now: the only clean way out is the normal stop. */
        tocsin_agent_stop(a, NULL, NULL);
        return rc;
    }
    if (options->handle_signals)
        start_signals(a);
    *out = a;
    return 0;
}

void tocsin_agent_start(struct tocsin_agent *a)
{
    char n[24];

    snprintf(n, sizeof(n), "%zu", a->config->n_monitors);
    tocsin_info("started", "version", TOCSIN_VERSION, "monitors", n, "config", a->config->path);
    tocsin_sched_start(a->sched);
}

void tocsin_agent_on_delivery(struct tocsin_agent *a, tocsin_delivery_cb cb, void *data)
{
    tocsin_sender_on_delivery(a->sender, cb, data);
}

static void part_stopped(struct tocsin_agent *a)
{
    if (--a->open_parts > 0)
        return;
    free_states(a);
    if (a->state_lock >= 0)
        close(a->state_lock);
    if (a->on_stopped)
        a->on_stopped(a->on_stopped_data);
    free(a);
}

static void on_signal_closed(uv_handle_t *handle)
{
    part_stopped(handle->data);
}

static void on_engine_closed(struct tocsin_engine *e)
{
    part_stopped(container_of(e, struct tocsin_agent, engine));
}

static void on_store_closed(void *data)
{
    part_stopped(data);
}

/* The sender drains after the checks stop; its resolver and the store (which
 * commits the sender's last updates) close only after it is gone. */
static void on_sender_closed(void *data)
{
    struct tocsin_agent *a = data;

    if (a->webhook_dns)
        tocsin_resolver_close(a->webhook_dns);
    if (a->store)
        tocsin_store_close(a->store, on_store_closed, a);
    else
        part_stopped(a);
    tocsin_engine_close(&a->engine, on_engine_closed);
}

static void on_sched_closed(void *data)
{
    struct tocsin_agent *a = data;

    if (a->sender)
        tocsin_sender_close(a->sender, a->options.drain_ms, on_sender_closed, a);
    else
        on_sender_closed(a);
}

void tocsin_agent_stop(struct tocsin_agent *a, void (*on_stopped)(void *data), void *data)
{
    if (a->stopping)
        return;
    a->stopping = true;
    a->on_stopped = on_stopped;
    a->on_stopped_data = data;
    a->open_parts = 2; /* the engine and the store */
    if (a->signals_open) {
        a->open_parts += 3;
        for (size_t i = 0; i < 3; i++)
            uv_close((uv_handle_t *)&a->signals[i], on_signal_closed);
    }
    if (a->sched)
        tocsin_sched_close(a->sched, on_sched_closed, a);
    else
        on_sched_closed(a);
}

int tocsin_agent_run(const struct tocsin_config *config)
{
    uv_loop_t loop;
    struct tocsin_agent *a;
    struct tocsin_agent_options options = {.handle_signals = true, .drain_ms = 10000};
    int rc = uv_loop_init(&loop);

    if (rc < 0)
        return 1;
    rc = tocsin_agent_new(&loop, config, &options, &a);
    if (rc < 0) {
        tocsin_error("cannot start", "error", strerror(-rc));
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return 1;
    }
    tocsin_agent_start(a);
    uv_run(&loop, UV_RUN_DEFAULT);
    tocsin_info("stopped");
    return uv_loop_close(&loop) == 0 ? 0 : 1;
}
