/* The agent: see include/tocsin/agent.h.  Results flow scheduler → monitor
 * state machine → sender; the loop thread does all of it. */
#include "tocsin/agent.h"
#include "agent_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tocsin/engine.h"
#include "tocsin/holds.h"
#include "tocsin/log.h"
#include "tocsin/name_index.h"
#include "tocsin/monitor.h"
#include "tocsin/outbox_cmd.h"
#include "tocsin/persist.h"
#include "tocsin/prefetch.h"
#include "tocsin/sched.h"
#include "tocsin/store.h"

#define TICK_MS 100       /* the prober guard's staleness sweep, one slice of the state flush */
#define FLUSH_SLICES 100  /* so each monitor's counters are written within 100 ticks: 10 s */
#define RELOAD_DRAIN_MS 1000

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void log_check(const struct tocsin_agent *a, const struct tocsin_monitor_conf *m,
                      const struct tocsin_result *r)
{
    char ms[24], code[16];

    if (!tocsin_log_enabled(TOCSIN_LOG_DEBUG))
        return;
    snprintf(ms, sizeof(ms), "%" PRId64, r->response_time_ms);
    snprintf(code, sizeof(code), "%d", r->status_code);
    tocsin_log(TOCSIN_LOG_DEBUG, "check", "monitor", m->id, "region",
               a->config->regions[r->region].name, "status", tocsin_status_name(r->status),
               "status_code", r->status_code ? code : "", "response_time_ms", ms, "error_kind",
               tocsin_error_kind_name(r->error_kind), "error", r->error_message, NULL);
}

/* ---- persisting monitor states ------------------------------------------ */

static void on_state_written(void *data, int status, int64_t id)
{
    struct tocsin_agent *a = data;

    (void)id;
    if (status < 0 && !a->state_write_failed)
        tocsin_error("cannot write monitor states; retrying", "error", strerror(-status));
    /* The next flush writes every state again; one success clears it. */
    a->state_write_failed = status < 0;
}

/* Queues MONITOR's state; the caller groups it with the outbox rows of the
 * same decision so both commit in one transaction. */
static void write_state(struct tocsin_agent *a, size_t monitor)
{
    const struct tocsin_monitor_conf *m = &a->config->monitors[monitor];
    char *identity = tocsin_persist_identity(a->config, m);
    char *doc = tocsin_persist_encode(a->config, m, &a->gen.states[monitor]);
    int rc = identity && doc ? tocsin_store_put_state(a->store, m->id, identity, doc,
                                                      on_state_written, a)
                             : -ENOMEM;

    if (rc < 0)
        on_state_written(a, rc, 0);
    else
        a->gen.dirty[monitor] = false;
    free(identity);
    free(doc);
}

/* Queues the states of monitors [FROM, TO) that changed, or all of them, as
 * one store group. */
static void write_states(struct tocsin_agent *a, size_t from, size_t to, bool all)
{
    if (a->store == NULL || a->gen.states == NULL)
        return;
    tocsin_store_group_begin(a->store);
    for (size_t i = from; i < to; i++)
        if (all || a->gen.dirty[i])
            write_state(a, i);
    tocsin_store_group_end(a->store);
}

/* Every changed state now (start, reload, exit); every state after a failed
 * commit, since the failed ones are no longer marked dirty. */
static void flush_states(struct tocsin_agent *a)
{
    write_states(a, 0, a->config->n_monitors, a->state_write_failed);
}

/* One tick's share of the changed counters, a fixed slice of the monitors, so
 * the cost of writing states (identity HMAC, JSON, the store's queue) is
 * spread over the period (FLUSH_SLICES ticks) instead of stalling the loop
 * once per period (p99 lateness).  After a failed commit, every state is
 * written again at the start of each period, in one group (they commit or
 * fail together), as long as commits fail. */
static void flush_slice(struct tocsin_agent *a)
{
    size_t n = a->config->n_monitors, end;

    if (a->flush_cursor >= n)
        a->flush_cursor = 0;
    end = a->flush_cursor + (n + FLUSH_SLICES - 1) / FLUSH_SLICES;
    if (end > n)
        end = n;
    if (a->flush_cursor == 0 && a->state_write_failed)
        flush_states(a);
    else
        write_states(a, a->flush_cursor, end, false);
    a->flush_cursor = end;
}

static void log_guard_changes(struct tocsin_agent *a)
{
    size_t region;

    while (tocsin_guard_pop_change(a->gen.guard, &region)) {
        struct tocsin_guard_info info;
        char hosts[48], canaries[48];
        const char *name = a->config->regions[region].name;
        tocsin_guard_info(a->gen.guard, region, &info);
        snprintf(hosts, sizeof(hosts), "%zu/%zu", info.hosts_failing, info.hosts_counted);
        snprintf(canaries, sizeof(canaries), "%zu/%zu", info.canaries_failing, info.canaries);
        if (!info.degraded)
            a->gen.recovered_ms[region] = wall_ms();
        if (info.degraded)
            tocsin_warn("region degraded: this vantage point lost its network; its counters "
                        "freeze and the quorum counts the other regions",
                        "region", name, "reason", info.reason, "hosts_failing", hosts,
                        "canaries_failing", canaries);
        else
            tocsin_info("region no longer degraded", "region", name, "hosts_failing", hosts,
                        "canaries_failing", canaries);
    }
}

static void on_tick(uv_timer_t *timer)
{
    struct tocsin_agent *a = timer->data;

    if (a->gen.guard && tocsin_guard_expire(a->gen.guard, uv_now(a->loop)))
        log_guard_changes(a);
    flush_slice(a);
}

/* ---- decisions ------------------------------------------------------------ */

/* Collects what the state machine decides so the status change is logged first. */
static void on_alert(void *data, const struct tocsin_alert *alert)
{
    struct tocsin_agent *a = data;

    if (a->n_decided < a->decided_cap)
        a->decided[a->n_decided++] = *alert;
}

static void send_alert(struct tocsin_agent *a, const struct tocsin_alert *alert,
                       const char *reason)
{
    char level[16];

    snprintf(level, sizeof(level), "%d", alert->notification_level);
    tocsin_info("alert", "monitor", alert->monitor->id, "event",
                tocsin_notification_name(alert->type), "webhook",
                a->config->webhooks[alert->webhook].name, "level", level,
                reason ? "reason" : NULL, reason);
    if (alert->type == TOCSIN_NOTIFY_INCIDENT)
        a->counters.incidents++;
    else
        a->counters.recoveries++;
    tocsin_sender_send(a->gen.sender, alert); /* failures are logged by the sender */
}

static void send_decided(struct tocsin_agent *a)
{
    for (size_t i = 0; i < a->n_decided; i++)
        send_alert(a, &a->decided[i], NULL);
    a->n_decided = 0;
}

/* Holds the monitor's alerts in maintenance or behind a parent (DESIGN §4);
 * logs each change of reason once and asks for the parents' verdict at once.
 * NOW_S: the wall clock of the result at hand (its stamp), for maintenance
 * windows. */
static enum tocsin_hold decide_hold(struct tocsin_agent *a, size_t monitor, int64_t now_s)
{
    const struct tocsin_monitor_conf *m = &a->config->monitors[monitor];
    struct tocsin_hold_state *h = &a->gen.holds[monitor];
    bool check_parents = false;
    size_t parent = 0;
    enum tocsin_hold hold = tocsin_hold_decide(h, a->config, a->gen.states, monitor,
                                               now_s, uv_now(a->loop),
                                               &check_parents, &parent);

    if (check_parents)
        for (size_t i = 0; i < m->n_depends_on; i++)
            tocsin_sched_run_now(a->gen.sched, m->depends_on[i]);
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

/* Feeds the prober guard, which sees every result, a degraded region's too:
 * they end it.  False when the result must not count for its monitor: a
 * check that began while its region was cut off says nothing about the
 * target, even when it ends after the region recovered. */
static bool guard_result(struct tocsin_agent *a, size_t monitor, size_t slot,
                         const struct tocsin_result *result)
{
    if (tocsin_guard_feed(a->gen.guard, monitor, slot, result->status == TOCSIN_STATUS_DOWN,
                          uv_now(a->loop)))
        log_guard_changes(a);
    if (result->timestamp_ms - result->response_time_ms >= a->gen.recovered_ms[result->region])
        return true;
    tocsin_debug("check overlapped a degraded period; not counted", "monitor",
                 a->config->monitors[monitor].id, "region",
                 a->config->regions[result->region].name);
    return false;
}

static void log_transition(const struct tocsin_monitor_conf *m, enum tocsin_status before,
                           const struct tocsin_monitor_state *state,
                           const struct tocsin_result *result)
{
    char failures[16];

    snprintf(failures, sizeof(failures), "%d", state->consecutive_failures);
    tocsin_info("monitor status changed", "monitor", m->id, "from", tocsin_status_name(before),
                "to", tocsin_status_name(state->status), "consecutive_failures", failures,
                result->error_message[0] ? "error" : NULL, result->error_message);
}

const uint32_t tocsin_duration_bounds_ms[TOCSIN_DURATION_BUCKETS - 1] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
};

/* What the API, /status and /metrics show of a check; the decisions never
 * read it. */
static void record_check(struct generation *g, size_t monitor, size_t slot,
                         const struct tocsin_result *r)
{
    const struct tocsin_monitor_conf *m = &g->config->monitors[monitor];
    struct tocsin_last_check *c = tocsin_agent_check(g, monitor, slot);
    struct tocsin_duration_histogram *h =
        &g->durations[(size_t)m->type * g->config->n_regions + r->region];
    bool down = r->status == TOCSIN_STATUS_DOWN;
    uint64_t ms = r->response_time_ms > 0 ? (uint64_t)r->response_time_ms : 0;
    size_t b = 0;

    if (!down || c->error_message == NULL || strcmp(c->error_message, r->error_message) != 0) {
        free(c->error_message);
        c->error_message = down ? strdup(r->error_message) : NULL;
    }
    c->timestamp = r->timestamp;
    c->response_time_ms = ms > INT32_MAX ? INT32_MAX : (int32_t)ms;
    c->status_code = (int16_t)r->status_code;
    c->status = (uint8_t)r->status;
    c->error_kind = (uint8_t)r->error_kind;
    down ? c->down++ : c->up++;
    while (b < TOCSIN_DURATION_BUCKETS - 1 && ms > tocsin_duration_bounds_ms[b])
        b++;
    h->counts[b]++;
    h->sum_ms += ms;
}

/* Whether feeding a check changed what the state store holds for MONITOR.  A
 * steady UP monitor only counts successes past success_threshold, which decide
 * nothing; rewriting its state (HMAC, JSON, a row) after every check cost more
 * than the check's own bookkeeping.  So counts past the threshold are written
 * only along with a change that matters: after a restart a steady monitor
 * shows the count last written, still past the threshold. */
struct counts_before {
    int failures, successes, consecutive;
};

static struct counts_before counts_of(const struct tocsin_monitor_state *s, size_t slot)
{
    struct counts_before c = {.consecutive = s->consecutive_failures};

    if (slot < s->n_regions) {
        c.failures = s->region_failures[slot];
        c.successes = s->region_successes[slot];
    }
    return c;
}

static bool state_changed(const struct tocsin_agent *a, const struct tocsin_monitor_conf *m,
                          const struct tocsin_monitor_state *s, size_t slot,
                          struct counts_before was)
{
    struct counts_before now = counts_of(s, slot);
    int threshold = a->config->policies[m->policy].success_threshold;

    if (now.failures != was.failures || now.consecutive != was.consecutive)
        return true;
    return now.successes != was.successes && was.successes < threshold;
}

static void on_check_result(void *data, size_t monitor, size_t slot,
                            const struct tocsin_result *result)
{
    struct tocsin_agent *a = data;
    const struct tocsin_monitor_conf *m = &a->config->monitors[monitor];
    struct tocsin_monitor_state *state = &a->gen.states[monitor];
    enum tocsin_status before;
    struct counts_before counts;
    enum tocsin_hold hold;

    tocsin_prefetch(state, sizeof(*state));
    tocsin_prefetch(&a->gen.holds[monitor], sizeof(a->gen.holds[monitor]));
    tocsin_prefetch(&a->gen.first_check[monitor], sizeof(a->gen.first_check[monitor]));
    before = state->status;
    counts = counts_of(state, slot);

    log_check(a, m, result);
    if ((size_t)result->error_kind <= TOCSIN_ERR_INTERNAL)
        a->counters.results[result->error_kind]++;
    record_check(&a->gen, monitor, slot, result);
    if (!guard_result(a, monitor, slot, result))
        return;
    hold = decide_hold(a, monitor, result->timestamp);
    state->hold = hold != TOCSIN_HOLD_NONE;
    tocsin_monitor_feed(state, a->config, m, slot, result, on_alert, a);
    if (state_changed(a, m, state, slot, counts))
        a->gen.dirty[monitor] = true;
    if (state->status == before && a->n_decided == 0)
        return;
    if (state->status == TOCSIN_STATUS_DOWN && before != TOCSIN_STATUS_DOWN &&
        hold == TOCSIN_HOLD_PARENT_DOWN)
        a->counters.suppressed++;
    if (state->status != before)
        log_transition(m, before, state, result);
    /* A transition or a level: its state and its outbox rows commit together. */
    tocsin_store_group_begin(a->store);
    send_decided(a);
    if (a->store)
        write_state(a, monitor);
    tocsin_store_group_end(a->store);
}

/* ---- one generation: what a config builds --------------------------------- */

static void free_states(struct generation *g)
{
    if (g->states)
        for (size_t i = 0; i < g->config->n_monitors; i++)
            tocsin_monitor_state_free(&g->states[i]);
    free(g->states);
    free(g->holds);
    free(g->dirty);
    tocsin_guard_free(g->guard);
    free(g->recovered_ms);
    if (g->checks)
        for (size_t i = 0; i < g->first_check[g->config->n_monitors]; i++)
            free(g->checks[i].error_message);
    free(g->checks);
    free(g->first_check);
    free(g->durations);
    g->checks = NULL;
    g->first_check = NULL;
    g->durations = NULL;
    g->guard = NULL;
    g->recovered_ms = NULL;
    g->states = NULL;
    g->holds = NULL;
    g->dirty = NULL;
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

static int init_checks(struct generation *g)
{
    const struct tocsin_config *c = g->config;
    size_t n = 0;

    g->first_check = calloc(c->n_monitors + 1, sizeof(*g->first_check));
    g->durations = calloc(TOCSIN_PROBE_TYPES * c->n_regions + 1, sizeof(*g->durations));
    if (g->first_check == NULL || g->durations == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < c->n_monitors; i++) {
        g->first_check[i] = n;
        n += c->monitors[i].n_regions;
    }
    g->first_check[c->n_monitors] = n;
    g->checks = calloc(n + 1, sizeof(*g->checks));
    return g->checks ? 0 : -ENOMEM;
}

static int init_states(struct tocsin_agent *a, struct generation *g)
{
    size_t n = g->config->n_monitors ? g->config->n_monitors : 1;
    size_t cap = max_alerts_per_result(g->config);

    if (cap > a->decided_cap) {
        struct tocsin_alert *more = realloc(a->decided, cap * sizeof(*more));
        if (more == NULL)
            return -ENOMEM;
        a->decided = more;
        a->decided_cap = cap;
    }
    /* Aligned: each state is then exactly its two cache lines (monitor.h). */
    g->states = aligned_alloc(TOCSIN_STATE_ALIGN, n * sizeof(*g->states));
    if (g->states)
        memset(g->states, 0, n * sizeof(*g->states));
    g->holds = calloc(n, sizeof(*g->holds));
    g->dirty = calloc(n, sizeof(*g->dirty));
    g->recovered_ms = calloc(g->config->n_regions + 1, sizeof(*g->recovered_ms));
    if (g->states == NULL || g->holds == NULL || g->dirty == NULL || g->recovered_ms == NULL ||
        tocsin_guard_new(g->config, &g->guard) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < g->config->n_monitors; i++) {
        if (tocsin_monitor_state_init(&g->states[i], g->config, &g->config->monitors[i]) < 0)
            return -ENOMEM;
        g->states[i].degraded = tocsin_guard_regions(g->guard);
    }
    return init_checks(g);
}

static void on_owed_recovery(void *data, const struct tocsin_alert *alert)
{
    send_alert(data, alert, "monitor removed or changed");
}

/* A stored state is kept when its monitor is still configured with the same
 * identity; otherwise the monitor starts UNKNOWN and an incident it had sent
 * gets its recovery now, committed with the state's removal. */
/* The config's parse tree (a node per YAML scalar) is freed after loading,
 * but glibc keeps the pages: at 100,000 monitors that is 55 MB the agent never
 * uses again.  Give them back once a config is running. */
static void return_parse_memory(void)
{
    malloc_trim(0);
}

static void adopt_state(struct tocsin_agent *a, const struct tocsin_name_index *ids,
                        const struct tocsin_state_row *row, int64_t now_ms, size_t *kept)
{
    size_t found = tocsin_name_index_get(ids, row->monitor);
    size_t i = found == TOCSIN_NAME_ABSENT ? a->config->n_monitors : found;
    char *identity = i < a->config->n_monitors
                         ? tocsin_persist_identity(a->config, &a->config->monitors[i])
                         : NULL;
    bool same = identity && strcmp(identity, row->identity) == 0;

    if (same && tocsin_persist_decode(a->config, &a->config->monitors[i], &a->gen.states[i],
                                      row->state, now_ms - row->updated_ms) == 0) {
        (*kept)++;
        free(identity);
        return;
    }
    tocsin_store_group_begin(a->store);
    tocsin_persist_owed_recoveries(a->config, row->monitor, row->state, now_ms / 1000,
                                   on_owed_recovery, a);
    if (i < a->config->n_monitors)
        write_state(a, i); /* UNKNOWN, replacing the old identity's state */
    else if (a->store)
        tocsin_store_delete_state(a->store, row->monitor, on_state_written, a);
    tocsin_store_group_end(a->store);
    free(identity);
}

static void adopt_states(struct tocsin_agent *a, const struct tocsin_state_row *rows, size_t n)
{
    int64_t now = wall_ms();
    size_t kept = 0;
    char count[24], total[24];
    struct tocsin_name_index ids;

    if (n == 0)
        return;
    /* By id: a linear search per stored row is minutes at 100,000 monitors. */
    if (tocsin_name_index_init(&ids, a->config->n_monitors) < 0) {
        tocsin_error("out of memory: stored monitor states not restored", "stored", "all");
        return;
    }
    for (size_t i = 0; i < a->config->n_monitors; i++)
        tocsin_name_index_put(&ids, a->config->monitors[i].id, i); /* sized: cannot fail */
    for (size_t i = 0; i < n; i++)
        adopt_state(a, &ids, &rows[i], now, &kept);
    tocsin_name_index_free(&ids);
    snprintf(count, sizeof(count), "%zu", kept);
    snprintf(total, sizeof(total), "%zu", n);
    tocsin_info("monitor states restored", "kept", count, "stored", total);
}

/* Rows from the store at start; from the running states at a reload. */
static void load_stored_states(struct tocsin_agent *a)
{
    struct tocsin_state_row *rows = NULL;
    size_t n = 0;
    int rc;

    if (a->store == NULL)
        return;
    rc = tocsin_store_load_states(a->store, &rows, &n);
    if (rc < 0)
        tocsin_error("cannot read monitor states; starting them UNKNOWN", "error", strerror(-rc));
    else
        adopt_states(a, rows, n);
    tocsin_state_rows_free(rows, n);
}

static int snapshot_states(struct tocsin_agent *a, struct tocsin_state_row **out, size_t *n)
{
    const struct tocsin_config *config = a->config;
    struct tocsin_state_row *rows = calloc(config->n_monitors + 1, sizeof(*rows));
    int64_t now = wall_ms();

    *out = rows;
    *n = 0;
    if (rows == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < config->n_monitors; i++) {
        struct tocsin_state_row *r = &rows[(*n)++];
        r->monitor = strdup(config->monitors[i].id);
        r->identity = tocsin_persist_identity(config, &config->monitors[i]);
        r->state = tocsin_persist_encode(config, &config->monitors[i], &a->gen.states[i]);
        r->updated_ms = now;
        if (!r->monitor || !r->identity || !r->state)
            return -ENOMEM;
    }
    return 0;
}

/* Alertmanager forgets an alert that is not re-posted: a restored incident
 * goes on being re-posted (the sender ignores formats without refire). */
static void restore_firing(struct tocsin_agent *a)
{
    for (size_t i = 0; i < a->config->n_monitors; i++) {
        const struct tocsin_monitor_conf *m = &a->config->monitors[i];
        const struct tocsin_monitor_state *s = &a->gen.states[i];
        struct tocsin_alert alert = {
            .monitor = m,
            .region = a->config->regions[m->regions[0]].name,
            .check_result = {.status = TOCSIN_STATUS_DOWN, .timestamp = s->since,
                             .region = m->regions[0], .timings = {-1, -1, -1, -1, 0}},
            .monitor_status = TOCSIN_STATUS_DOWN,
            .previous_status = s->incident_previous,
            .consecutive_failures = s->consecutive_failures,
            .type = TOCSIN_NOTIFY_INCIDENT,
            .regions_total = (int)s->n_regions,
            .incident_started = s->incident_started,
        };
        if (s->status != TOCSIN_STATUS_DOWN || m->n_regions == 0)
            continue;
        for (size_t w = 0; w < s->n_webhooks; w++) {
            if (s->webhook_level[w] == 0)
                continue;
            alert.webhook = w;
            alert.notification_level = s->webhook_level[w];
            tocsin_sender_restore_firing(a->gen.sender, &alert);
        }
    }
}

static int start_generation(struct tocsin_agent *a, const struct tocsin_state_row *rows,
                            size_t n_rows, bool from_store)
{
    struct generation *g = &a->gen;
    int rc = init_states(a, g);

    if (rc == 0)
        rc = tocsin_engine_init(&g->engine, a->loop, g->config);
    g->engine_open = rc == 0;
    if (rc == 0)
        rc = tocsin_sender_new(a->loop, g->config, a->webhook_dns, a->store, &g->sender);
    if (rc < 0)
        return rc;
    if (a->observer)
        tocsin_sender_on_delivery(g->sender, a->observer, a->observer_data);
    if (from_store)
        load_stored_states(a);
    else
        adopt_states(a, rows, n_rows);
    restore_firing(a);
    return tocsin_sched_new(&g->engine.env, g->config->agent.max_concurrency, on_check_result, a,
                            &g->sched);
}

/* ---- the service manager ------------------------------------------------- */

/* STATUS= for `systemctl status`: how many monitors, how many DOWN, and alerts
 * not yet acknowledged. */
static void service_status(void *data, char *buf, size_t size)
{
    struct tocsin_agent *a = data;
    struct tocsin_sender_stats st = {0};
    size_t down = 0;

    for (size_t i = 0; a->gen.states && i < a->config->n_monitors; i++)
        down += a->gen.states[i].status == TOCSIN_STATUS_DOWN;
    if (a->gen.sender)
        tocsin_sender_stats(a->gen.sender, &st);
    snprintf(buf, size, "%zu monitors, %zu down; %zu alerts waiting, %zu dead",
             a->config->n_monitors, down, st.waiting + st.in_flight, st.dead_now);
}

static void notify(struct tocsin_agent *a, const char *state)
{
    if (a->notifier_open)
        tocsin_notify(&a->notifier, state);
}

/* ---- reload (SIGHUP) ------------------------------------------------------ */

static void log_diags(const struct tocsin_diags *diags, int rc, const char *path)
{
    for (size_t i = 0; i < diags->n; i++)
        tocsin_error("config error", "error", diags->lines[i]);
    if (diags->n == 0)
        tocsin_error("cannot load the config", "config", path, "error", strerror(-rc));
}

static void warn_unreloadable(const struct tocsin_config *old, const struct tocsin_config *next)
{
    if (strcmp(old->agent.state_dir, next->agent.state_dir) != 0)
        tocsin_warn("agent.state_dir changes only at restart", "running", old->agent.state_dir);
    if (strcmp(old->agent.listen, next->agent.listen) != 0)
        tocsin_warn("agent.listen changes only at restart", "running", old->agent.listen);
}

static void on_reload_engine_closed(struct tocsin_engine *e)
{
    struct tocsin_agent *a = container_of(e, struct tocsin_agent, gen.engine);
    struct tocsin_state_row *rows = NULL;
    size_t n = 0;
    struct tocsin_config *old = a->gen.owned;
    char count[24];
    int rc = snapshot_states(a, &rows, &n);

    if (rc < 0)
        tocsin_error("out of memory saving monitor states for the reload; they start UNKNOWN");
    free_states(&a->gen);
    a->gen = (struct generation){.config = a->next_config, .owned = a->next_config};
    a->config = a->next_config;
    a->next_config = NULL;
    tocsin_log_setup(a->config->agent.log_level, a->config->agent.log_format);
    rc = start_generation(a, rows, rc < 0 ? 0 : n, false);
    tocsin_state_rows_free(rows, n);
    tocsin_config_free(old); /* after the owed recoveries were built from the new one */
    if (rc < 0) {
        tocsin_error("cannot start the reloaded config; stopping", "error", strerror(-rc));
        a->stop_requested = true;
    } else {
        snprintf(count, sizeof(count), "%zu", a->config->n_monitors);
        tocsin_info("reloaded", "monitors", count, "config", a->config->path);
        tocsin_sched_start(a->gen.sched);
        flush_states(a);
        return_parse_memory();
        notify(a, "READY=1");
    }
    if (a->stop_requested)
        tocsin_agent_stop(a, a->on_stopped, a->on_stopped_data);
    else if (a->reload_again)
        tocsin_agent_reload(a);
}

static void on_reload_sender_closed(void *data)
{
    struct tocsin_agent *a = data;

    a->gen.sender = NULL;
    a->gen.engine_open = false;
    tocsin_engine_close(&a->gen.engine, on_reload_engine_closed);
}

static struct retired_outcomes *retired_of(const struct tocsin_agent *a, const char *webhook)
{
    for (size_t i = 0; i < a->n_retired_outcomes; i++)
        if (strcmp(a->retired_outcomes[i].webhook, webhook) == 0)
            return &a->retired_outcomes[i];
    return NULL;
}

void tocsin_agent_webhook_outcomes(const struct tocsin_agent *a, size_t w,
                                   uint64_t out[TOCSIN_OUTCOMES])
{
    const struct retired_outcomes *r = retired_of(a, a->config->webhooks[w].name);

    memset(out, 0, TOCSIN_OUTCOMES * sizeof(*out));
    if (a->gen.sender)
        tocsin_sender_webhook_outcomes(a->gen.sender, w, out);
    for (size_t k = 0; r && k < TOCSIN_OUTCOMES; k++)
        out[k] += r->n[k];
}

/* Per webhook name, so a webhook that stays through a reload keeps counting. */
static void retire_outcomes(struct tocsin_agent *a)
{
    for (size_t w = 0; w < a->config->n_webhooks; w++) {
        const char *name = a->config->webhooks[w].name;
        struct retired_outcomes *r = retired_of(a, name), *more;
        uint64_t n[TOCSIN_OUTCOMES];

        if (r == NULL) {
            more = realloc(a->retired_outcomes, (a->n_retired_outcomes + 1) * sizeof(*more));
            if (more == NULL)
                return; /* the counters restart: /metrics shows a reset, nothing worse */
            a->retired_outcomes = more;
            r = &more[a->n_retired_outcomes];
            *r = (struct retired_outcomes){.webhook = strdup(name)};
            if (r->webhook == NULL)
                return;
            a->n_retired_outcomes++;
        }
        tocsin_sender_webhook_outcomes(a->gen.sender, w, n);
        for (size_t k = 0; k < TOCSIN_OUTCOMES; k++)
            r->n[k] += n[k];
    }
}

/* Counters of the parts a reload replaces carry on in /metrics. */
static void retire_stats(struct tocsin_agent *a)
{
    struct tocsin_sender_stats se;
    struct tocsin_sched_stats sc = a->closing_sched;
    struct tocsin_sender_stats *rs = &a->retired_sender;
    struct tocsin_sched_stats *rc = &a->retired_sched;

    tocsin_sender_stats(a->gen.sender, &se);
    rs->queued += se.queued;
    rs->delivered += se.delivered;
    rs->retried += se.retried;
    rs->dead += se.dead;
    rs->attempts += se.attempts;
    rs->resent += se.resent;
    rc->started += sc.started;
    rc->completed += sc.completed;
    rc->skipped_overlap += sc.skipped_overlap;
    rc->skipped_slots += sc.skipped_slots;
    rc->lateness_sum_ms += sc.lateness_sum_ms;
    for (size_t i = 0; i < TOCSIN_LATENESS_BUCKETS; i++)
        rc->lateness[i] += sc.lateness[i];
    retire_outcomes(a);
}

/* Checks cut short were discarded by the scheduler; the states are final. */
static void on_reload_sched_closed(void *data)
{
    struct tocsin_agent *a = data;

    a->gen.sched = NULL;
    flush_states(a);
    retire_stats(a);
    tocsin_sender_close(a->gen.sender, RELOAD_DRAIN_MS, on_reload_sender_closed, a);
}

int tocsin_agent_reload(struct tocsin_agent *a)
{
    struct tocsin_diags diags = {.n = 0};
    struct tocsin_config *next = NULL;
    int rc;

    if (a->stopping)
        return -ECANCELED;
    if (a->next_config) {
        a->reload_again = true;
        return 0;
    }
    a->reload_again = false;
    notify(a, "RELOADING=1");
    rc = tocsin_config_load(a->config->path, &next, &diags);
    if (rc < 0) {
        log_diags(&diags, rc, a->config->path);
        a->counters.reload_failures++;
        tocsin_error("reload failed; the running config stays", "config", a->config->path);
        tocsin_diags_free(&diags);
        notify(a, "READY=1");
        return rc;
    }
    tocsin_diags_free(&diags);
    warn_unreloadable(a->config, next);
    tocsin_info("reloading", "config", a->config->path);
    a->counters.reloads++;
    a->next_config = next;
    tocsin_sched_stats(a->gen.sched, &a->closing_sched);
    tocsin_sched_close(a->gen.sched, on_reload_sched_closed, a);
    return 0;
}

/* ---- start and stop ------------------------------------------------------- */

static void on_signal(uv_signal_t *handle, int signum)
{
    struct tocsin_agent *a = handle->data;

    if (signum == SIGHUP) {
        tocsin_agent_reload(a);
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

static int lock_state_dir(struct tocsin_agent *a)
{
    int rc = a->state_lock = tocsin_state_lock(a->config->agent.state_dir);

    if (rc == -EBUSY)
        tocsin_error("another tocsin agent runs on this state_dir", "state_dir",
                     a->config->agent.state_dir);
    else if (rc < 0)
        tocsin_error("cannot lock the state_dir", "state_dir", a->config->agent.state_dir, "error",
                     strerror(-rc));
    return rc < 0 ? rc : 0;
}

static int start_http(struct tocsin_agent *a)
{
    char err[256] = "", port[8];
    int rc;

    if (a->config->agent.listen[0] == '\0')
        return 0;
    rc = tocsin_http_server_new(a->loop, a->config->agent.listen, tocsin_api_handle, a, &a->http,
                                err, sizeof(err));
    if (rc < 0) {
        tocsin_error("cannot listen", "listen", a->config->agent.listen, "error",
                     err[0] ? err : strerror(-rc));
        return rc;
    }
    snprintf(port, sizeof(port), "%u", tocsin_http_server_port(a->http));
    tocsin_info("listening", "listen", a->config->agent.listen, "port", port);
    return 0;
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
    a->gen.config = config;
    a->options = *options;
    a->state_lock = -1;
    a->started_s = (int64_t)time(NULL);
    uv_timer_init(loop, &a->tick);
    a->tick.data = a;
    rc = lock_state_dir(a);
    if (rc == 0) {
        open_store(a);
        rc = tocsin_resolver_new(loop, NULL, &a->webhook_dns);
    }
    if (rc == 0)
        rc = start_http(a);
    if (rc == 0)
        rc = start_generation(a, NULL, 0, true);
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
    uv_update_time(a->loop); /* opening the store may have taken a while: spread from now */
    tocsin_sched_start(a->gen.sched);
    uv_timer_start(&a->tick, on_tick, TICK_MS, TICK_MS);
    flush_states(a); /* the monitors that left or changed at start */
    return_parse_memory();
    tocsin_notifier_start(a->loop, &a->notifier, service_status, a);
    a->notifier_open = true;
}

uint16_t tocsin_agent_http_port(const struct tocsin_agent *a)
{
    return a->http ? tocsin_http_server_port(a->http) : 0;
}

void tocsin_agent_on_delivery(struct tocsin_agent *a, tocsin_delivery_cb cb, void *data)
{
    a->observer = cb;
    a->observer_data = data;
    if (a->gen.sender)
        tocsin_sender_on_delivery(a->gen.sender, cb, data);
}

static void part_stopped(struct tocsin_agent *a)
{
    if (--a->open_parts > 0)
        return;
    free_states(&a->gen);
    tocsin_config_free(a->gen.owned);
    free(a->decided);
    for (size_t i = 0; i < a->n_retired_outcomes; i++)
        free(a->retired_outcomes[i].webhook);
    free(a->retired_outcomes);
    if (a->state_lock >= 0)
        close(a->state_lock);
    if (a->on_stopped)
        a->on_stopped(a->on_stopped_data);
    free(a);
}

static void on_handle_closed(uv_handle_t *handle)
{
    part_stopped(handle->data);
}

static void on_notifier_closed(struct tocsin_notifier *n)
{
    part_stopped(container_of(n, struct tocsin_agent, notifier));
}

static void on_http_closed(void *data)
{
    part_stopped(data);
}

static void on_engine_closed(struct tocsin_engine *e)
{
    part_stopped(container_of(e, struct tocsin_agent, gen.engine));
}

static void on_store_closed(void *data)
{
    part_stopped(data);
}

/* The sender drains after the checks stop; its resolver and the store (which
 * commits the sender's last updates and the states) close only after it. */
static void on_sender_closed(void *data)
{
    struct tocsin_agent *a = data;

    a->gen.sender = NULL;
    if (a->webhook_dns)
        tocsin_resolver_close(a->webhook_dns);
    if (a->store)
        tocsin_store_close(a->store, on_store_closed, a);
    else
        part_stopped(a);
    if (a->gen.engine_open)
        tocsin_engine_close(&a->gen.engine, on_engine_closed);
    else
        part_stopped(a);
}

static void on_sched_closed(void *data)
{
    struct tocsin_agent *a = data;

    a->gen.sched = NULL;
    flush_states(a); /* counters at exit */
    if (a->gen.sender)
        tocsin_sender_close(a->gen.sender, a->options.drain_ms, on_sender_closed, a);
    else
        on_sender_closed(a);
}

void tocsin_agent_stop(struct tocsin_agent *a, void (*on_stopped)(void *data), void *data)
{
    if (a->stopping)
        return;
    a->on_stopped = on_stopped;
    a->on_stopped_data = data;
    if (a->next_config) {
        a->stop_requested = true; /* once the reload has rebuilt everything */
        return;
    }
    a->stopping = true;
    a->open_parts = 3; /* the engine, the store and the tick */
    uv_close((uv_handle_t *)&a->tick, on_handle_closed);
    if (a->notifier_open) {
        notify(a, "STOPPING=1");
        a->open_parts++;
        a->notifier_open = false;
        tocsin_notifier_close(&a->notifier, on_notifier_closed);
    }
    if (a->http) {
        a->open_parts++;
        tocsin_http_server_close(a->http, on_http_closed, a);
        a->http = NULL;
    }
    if (a->signals_open) {
        a->open_parts += 3;
        for (size_t i = 0; i < 3; i++)
            uv_close((uv_handle_t *)&a->signals[i], on_handle_closed);
    }
    if (a->gen.sched)
        tocsin_sched_close(a->gen.sched, on_sched_closed, a);
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
    tocsin_log_flush_repeats();
    tocsin_info("stopped");
    return uv_loop_close(&loop) == 0 ? 0 : 1;
}
