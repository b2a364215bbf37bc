/* The agent's HTTP endpoints (DESIGN §3 agent.listen, §7):
 *
 *   GET  /metrics                 Prometheus text (docs/http-api.md)
 *   GET  /healthz                 200 "ok", or 503 and one line per problem
 *   GET  /status                  HTML page for people (src/status_page.c)
 *   GET  /api/v1/status           JSON summary of the agent
 *   GET  /api/v1/monitors[/ID]    JSON state of every monitor, or of one
 *   GET  /api/v1/outbox           JSON deliveries not yet acknowledged
 *   POST /api/v1/outbox/retry     ?id=N | ?webhook=NAME | ?all=1: dead letters again
 *   POST /api/v1/outbox/purge     same selection: dead letters deleted
 *
 * Everything is answered from memory on the loop thread; nothing waits on a
 * disk.  The POSTs change what the agent sends, so they are taken only from
 * loopback clients (the server itself binds where agent.listen says). */
#include "agent_internal.h"

#include <ares.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tocsin/format.h"
#include "tocsin/json.h"
#include "tocsin/metrics.h"
#include "tocsin/probe.h"

#define JSON_TYPE "application/json"
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- responses ------------------------------------------------------------ */

static void respond_text(struct tocsin_http_response *resp, int status, const char *text)
{
    resp->status = status;
    resp->body = strdup(text);
    resp->body_len = resp->body ? strlen(text) : 0;
    if (resp->body == NULL)
        resp->status = 500;
}

/* Takes ROOT. */
static void respond_json(struct tocsin_http_response *resp, int status, json_t *root)
{
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;

    json_decref(root);
    if (text == NULL) {
        respond_text(resp, 500, "out of memory\n");
        return;
    }
    resp->status = status;
    resp->content_type = JSON_TYPE;
    resp->body = text;
    resp->body_len = strlen(text);
}

static void respond_error(struct tocsin_http_response *resp, int status, const char *message)
{
    respond_json(resp, status, json_pack("{s:s}", "error", message));
}

/* ---- /metrics -------------------------------------------------------------- */

static void counter(struct tocsin_metrics *m, const char *name, const char *help, uint64_t v)
{
    tocsin_metrics_family(m, name, TOCSIN_METRIC_COUNTER, help);
    tocsin_metrics_u64(m, name, NULL, 0, v);
}

static void gauge(struct tocsin_metrics *m, const char *name, const char *help, uint64_t v)
{
    tocsin_metrics_family(m, name, TOCSIN_METRIC_GAUGE, help);
    tocsin_metrics_u64(m, name, NULL, 0, v);
}

static void sched_metrics(struct tocsin_agent *a, struct tocsin_metrics *m)
{
    struct tocsin_sched_stats st = {0};
    const struct tocsin_sched_stats *r = &a->retired_sched;
    double bounds[TOCSIN_LATENESS_BUCKETS - 1];
    uint64_t counts[TOCSIN_LATENESS_BUCKETS];

    if (a->gen.sched)
        tocsin_sched_stats(a->gen.sched, &st);
    counter(m, "tocsin_checks_started_total", "Checks started.", st.started + r->started);
    counter(m, "tocsin_checks_completed_total", "Checks completed.", st.completed + r->completed);
    tocsin_metrics_family(m, "tocsin_checks_skipped_total", TOCSIN_METRIC_COUNTER,
                          "Due checks not run: the previous one still ran (overlap) or the "
                          "loop stalled past their slot (stall).");
    tocsin_metrics_u64(m, "tocsin_checks_skipped_total",
                       (struct tocsin_label[]){{"reason", "overlap"}}, 1,
                       st.skipped_overlap + r->skipped_overlap);
    tocsin_metrics_u64(m, "tocsin_checks_skipped_total",
                       (struct tocsin_label[]){{"reason", "stall"}}, 1,
                       st.skipped_slots + r->skipped_slots);
    gauge(m, "tocsin_checks_in_flight", "Checks running now.", st.in_flight);
    gauge(m, "tocsin_checks_queued", "Checks waiting for max_concurrency.", st.queued);
    for (size_t i = 0; i < TOCSIN_LATENESS_BUCKETS - 1; i++)
        bounds[i] = (double)tocsin_lateness_bounds_ms[i] / 1000.0;
    for (size_t i = 0; i < TOCSIN_LATENESS_BUCKETS; i++)
        counts[i] = st.lateness[i] + r->lateness[i];
    tocsin_metrics_family(m, "tocsin_check_lateness_seconds", TOCSIN_METRIC_HISTOGRAM,
                          "How late checks started against their due time.");
    tocsin_metrics_histogram(m, "tocsin_check_lateness_seconds", NULL, 0, bounds, counts,
                             TOCSIN_LATENESS_BUCKETS - 1,
                             (double)(st.lateness_sum_ms + r->lateness_sum_ms) / 1000.0);
}

static void result_metrics(struct tocsin_agent *a, struct tocsin_metrics *m)
{
    const struct tocsin_agent_counters *c = &a->counters;

    tocsin_metrics_family(m, "tocsin_check_results_total", TOCSIN_METRIC_COUNTER,
                          "Check results by outcome: up, or the error kind of a failure.");
    for (int k = TOCSIN_ERR_NONE; k <= TOCSIN_ERR_INTERNAL; k++) {
        const char *kind = k == TOCSIN_ERR_NONE ? "up" : tocsin_error_kind_name(k);
        tocsin_metrics_u64(m, "tocsin_check_results_total",
                           (struct tocsin_label[]){{"result", kind}}, 1, c->results[k]);
    }
    tocsin_metrics_family(m, "tocsin_alerts_total", TOCSIN_METRIC_COUNTER,
                          "Alerts decided, one per webhook.");
    tocsin_metrics_u64(m, "tocsin_alerts_total", (struct tocsin_label[]){{"event", "incident"}}, 1,
                       c->incidents);
    tocsin_metrics_u64(m, "tocsin_alerts_total", (struct tocsin_label[]){{"event", "recovery"}}, 1,
                       c->recoveries);
    counter(m, "tocsin_incidents_suppressed_total",
            "Monitors that went DOWN while a parent (depends_on) was DOWN.", c->suppressed);
    counter(m, "tocsin_reloads_total", "Reloads begun (SIGHUP).", c->reloads);
    counter(m, "tocsin_reload_failures_total", "Reloads refused: the new config had errors.",
            c->reload_failures);
}

static void duration_metrics(struct tocsin_agent *a, struct tocsin_metrics *m)
{
    const struct tocsin_config *config = a->config;
    double bounds[TOCSIN_DURATION_BUCKETS - 1];

    for (size_t i = 0; i < TOCSIN_DURATION_BUCKETS - 1; i++)
        bounds[i] = (double)tocsin_duration_bounds_ms[i] / 1000.0;
    tocsin_metrics_family(m, "tocsin_check_duration_seconds", TOCSIN_METRIC_HISTOGRAM,
                          "Check durations (response_time_ms), by probe type and region.");
    for (int t = 0; t < TOCSIN_PROBE_TYPES; t++)
        for (size_t r = 0; r < config->n_regions; r++) {
            const struct tocsin_duration_histogram *h =
                &a->gen.durations[(size_t)t * config->n_regions + r];
            tocsin_metrics_histogram(
                m, "tocsin_check_duration_seconds",
                (struct tocsin_label[]){{"type", tocsin_probe_kind_of(t)->name},
                                        {"region", config->regions[r].name}},
                2, bounds, h->counts, TOCSIN_DURATION_BUCKETS - 1, (double)h->sum_ms / 1000.0);
        }
}

/* Per check (monitor x region): two counters, one for each result. */
static void check_metrics(struct tocsin_agent *a, struct tocsin_metrics *m)
{
    const struct tocsin_config *config = a->config;

    tocsin_metrics_family(m, "tocsin_monitor_checks_total", TOCSIN_METRIC_COUNTER,
                          "Check results per monitor and region (since start or reload).");
    for (size_t i = 0; i < config->n_monitors; i++)
        for (size_t r = 0; r < config->monitors[i].n_regions; r++) {
            const struct tocsin_last_check *c = tocsin_agent_check(&a->gen, i, r);
            const char *region = config->regions[config->monitors[i].regions[r]].name;
            tocsin_metrics_u64(m, "tocsin_monitor_checks_total",
                               (struct tocsin_label[]){{"monitor", config->monitors[i].id},
                                                       {"region", region},
                                                       {"result", "up"}},
                               3, c->up);
            tocsin_metrics_u64(m, "tocsin_monitor_checks_total",
                               (struct tocsin_label[]){{"monitor", config->monitors[i].id},
                                                       {"region", region},
                                                       {"result", "down"}},
                               3, c->down);
        }
}

static void monitor_metrics(struct tocsin_agent *a, struct tocsin_metrics *m)
{
    const struct tocsin_config *config = a->config;

    tocsin_metrics_family(m, "tocsin_monitor_up", TOCSIN_METRIC_GAUGE,
                          "1 while the monitor is UP, 0 while DOWN, -1 while UNKNOWN.");
    for (size_t i = 0; i < config->n_monitors; i++) {
        enum tocsin_status st = a->gen.states[i].status;
        tocsin_metrics_i64(m, "tocsin_monitor_up",
                           (struct tocsin_label[]){{"monitor", config->monitors[i].id}}, 1,
                           st == TOCSIN_STATUS_UP ? 1 : st == TOCSIN_STATUS_DOWN ? 0 : -1);
    }
    tocsin_metrics_family(m, "tocsin_monitor_consecutive_failures", TOCSIN_METRIC_GAUGE,
                          "The quorum-th largest region failure counter.");
    for (size_t i = 0; i < config->n_monitors; i++)
        tocsin_metrics_i64(m, "tocsin_monitor_consecutive_failures",
                           (struct tocsin_label[]){{"monitor", config->monitors[i].id}}, 1,
                           a->gen.states[i].consecutive_failures);
    tocsin_metrics_family(m, "tocsin_monitor_held", TOCSIN_METRIC_GAUGE,
                          "1 while the monitor's alerts are held: maintenance, parent pending, "
                          "or parent down (its incident suppressed).");
    for (size_t i = 0; i < config->n_monitors; i++) {
        enum tocsin_hold hold = a->gen.holds[i].last;
        if (hold != TOCSIN_HOLD_NONE)
            tocsin_metrics_u64(m, "tocsin_monitor_held",
                               (struct tocsin_label[]){{"monitor", config->monitors[i].id},
                                                       {"reason", tocsin_hold_name(hold)}},
                               2, 1);
    }
    tocsin_metrics_family(m, "tocsin_region_degraded", TOCSIN_METRIC_GAUGE,
                          "1 while the prober guard says this vantage point lost its network.");
    for (size_t r = 0; r < config->n_regions; r++)
        tocsin_metrics_u64(m, "tocsin_region_degraded",
                           (struct tocsin_label[]){{"region", config->regions[r].name}}, 1,
                           tocsin_guard_degraded(a->gen.guard, r));
}

static void delivery_metrics(struct tocsin_agent *a, struct tocsin_metrics *m)
{
    struct tocsin_sender_stats st = {0};
    const struct tocsin_sender_stats *r = &a->retired_sender;
    struct tocsin_store_stats ss = {0};

    if (a->gen.sender)
        tocsin_sender_stats(a->gen.sender, &st);
    counter(m, "tocsin_deliveries_queued_total", "Deliveries created or loaded from the outbox.",
            st.queued + r->queued);
    counter(m, "tocsin_deliveries_delivered_total", "Deliveries acknowledged with 2xx.",
            st.delivered + r->delivered);
    counter(m, "tocsin_delivery_retries_total", "Attempts that failed and were rescheduled.",
            st.retried + r->retried);
    counter(m, "tocsin_deliveries_dead_total", "Deliveries that became dead letters.",
            st.dead + r->dead);
    counter(m, "tocsin_delivery_attempts_total", "Webhook requests made.",
            st.attempts + r->attempts);
    counter(m, "tocsin_alert_refires_total", "Re-posts of firing alerts (alertmanager).",
            st.resent + r->resent);
    tocsin_metrics_family(m, "tocsin_webhook_attempts_total", TOCSIN_METRIC_COUNTER,
                          "Finished webhook requests by webhook and outcome: delivered (2xx), "
                          "retry (failed, tried again later) or dead (dead letter).");
    for (size_t w = 0; w < a->config->n_webhooks; w++) {
        static const char *const outcome[TOCSIN_OUTCOMES] = {"delivered", "retry", "dead"};
        uint64_t n[TOCSIN_OUTCOMES];
        tocsin_agent_webhook_outcomes(a, w, n);
        for (int k = 0; k < TOCSIN_OUTCOMES; k++)
            tocsin_metrics_u64(m, "tocsin_webhook_attempts_total",
                               (struct tocsin_label[]){{"webhook", a->config->webhooks[w].name},
                                                       {"outcome", outcome[k]}},
                               2, n[k]);
    }
    gauge(m, "tocsin_deliveries_in_flight", "Webhook requests in flight.", st.in_flight);
    gauge(m, "tocsin_deliveries_waiting", "Deliveries queued, not in flight, not dead.",
          st.waiting);
    gauge(m, "tocsin_dead_letters", "Dead letters held (tocsin outbox list).", st.dead_now);
    gauge(m, "tocsin_deliveries_unstored",
          "Alerts held only in memory because the outbox commit failed.", st.unstored);
    if (a->store)
        tocsin_store_stats(a->store, &ss);
    counter(m, "tocsin_store_transactions_total", "Store batches committed.", ss.transactions);
    counter(m, "tocsin_store_failed_transactions_total", "Store batches rolled back.", ss.failed);
    gauge(m, "tocsin_store_queued", "Store operations waiting for the disk.", ss.queued);
    gauge(m, "tocsin_state_write_failing", "1 while monitor states cannot be committed.",
          a->state_write_failed);
}

static void serve_metrics(struct tocsin_agent *a, struct tocsin_http_response *resp)
{
    struct tocsin_metrics m;
    char shard[16], shards[16];

    tocsin_metrics_init(&m);
    tocsin_metrics_family(&m, "tocsin_build_info", TOCSIN_METRIC_GAUGE,
                          "tocsin's version and the libraries it runs on.");
    tocsin_metrics_u64(&m, "tocsin_build_info",
                       (struct tocsin_label[]){{"version", TOCSIN_VERSION},
                                               {"libcurl", curl_version_info(CURLVERSION_NOW)->version},
                                               {"libuv", uv_version_string()},
                                               {"cares", ares_version(NULL)}},
                       4, 1);
    tocsin_metrics_family(&m, "tocsin_shard_info", TOCSIN_METRIC_GAUGE,
                          "The agent.shard this agent runs (shard of shards).");
    snprintf(shard, sizeof(shard), "%u", a->config->agent.shard_index);
    snprintf(shards, sizeof(shards), "%u", a->config->agent.shard_count);
    tocsin_metrics_u64(&m, "tocsin_shard_info",
                       (struct tocsin_label[]){{"shard", shard}, {"shards", shards}}, 2, 1);
    tocsin_metrics_family(&m, "tocsin_start_time_seconds", TOCSIN_METRIC_GAUGE,
                          "When the agent started, Unix seconds.");
    tocsin_metrics_i64(&m, "tocsin_start_time_seconds", NULL, 0, a->started_s);
    sched_metrics(a, &m);
    result_metrics(a, &m);
    duration_metrics(a, &m);
    check_metrics(a, &m);
    monitor_metrics(a, &m);
    delivery_metrics(a, &m);
    if (tocsin_metrics_finish(&m, &resp->body, &resp->body_len) < 0) {
        respond_text(resp, 500, "out of memory\n");
        return;
    }
    resp->content_type = METRICS_TYPE;
}

/* ---- /healthz and /status ---------------------------------------------------- */

static json_t *time_or_null(int64_t t)
{
    char buf[32];

    if (t <= 0)
        return json_null();
    tocsin_rfc3339(t, buf, sizeof(buf));
    return json_string(buf);
}

/* Appends one problem line per unhealthy part to PROBLEMS (a JSON array). */
static void health_problems(struct tocsin_agent *a, json_t *problems)
{
    struct tocsin_sender_stats st = {0};
    char line[256];

    if (a->gen.sender)
        tocsin_sender_stats(a->gen.sender, &st);
    if (a->store == NULL)
        json_array_append_new(problems, json_string("outbox: state_dir cannot be opened; "
                                                    "alerts are held in memory only"));
    if (st.unstored > 0) {
        snprintf(line, sizeof(line), "outbox: commit failing; %zu alerts held in memory",
                 st.unstored);
        json_array_append_new(problems, json_string(line));
    }
    if (a->state_write_failed)
        json_array_append_new(problems, json_string("state: commit failing"));
    for (size_t r = 0; r < a->config->n_regions; r++) {
        struct tocsin_guard_info info;
        tocsin_guard_info(a->gen.guard, r, &info);
        if (!info.degraded)
            continue;
        snprintf(line, sizeof(line), "region %.64s degraded (%s): %zu of %zu hosts failing",
                 a->config->regions[r].name, info.reason, info.hosts_failing, info.hosts_counted);
        json_array_append_new(problems, tocsin_json_string(line));
    }
}

static void serve_healthz(struct tocsin_agent *a, struct tocsin_http_response *resp)
{
    json_t *problems = json_array();
    size_t len = 0, i;
    json_t *p;
    char *text;

    if (problems == NULL)
        return respond_text(resp, 500, "out of memory\n");
    health_problems(a, problems);
    if (json_array_size(problems) == 0) {
        json_decref(problems);
        return respond_text(resp, 200, "ok\n");
    }
    json_array_foreach(problems, i, p) len += strlen(json_string_value(p)) + 1;
    text = malloc(len + 1);
    if (text != NULL) {
        len = 0;
        json_array_foreach(problems, i, p) len += (size_t)sprintf(text + len, "%s\n",
                                                                  json_string_value(p));
    }
    json_decref(problems);
    if (text == NULL)
        return respond_text(resp, 500, "out of memory\n");
    resp->status = 503;
    resp->body = text;
    resp->body_len = len;
}

static void serve_status(struct tocsin_agent *a, struct tocsin_http_response *resp)
{
    size_t count[3] = {0, 0, 0};
    struct tocsin_sender_stats st = {0};
    json_t *problems = json_array();
    json_t *regions = json_array();

    for (size_t i = 0; i < a->config->n_monitors; i++)
        count[a->gen.states[i].status]++;
    if (a->gen.sender)
        tocsin_sender_stats(a->gen.sender, &st);
    if (problems)
        health_problems(a, problems);
    for (size_t r = 0; regions && r < a->config->n_regions; r++)
        json_array_append_new(regions,
                              json_pack("{s:o,s:b}", "name",
                                        tocsin_json_string(a->config->regions[r].name),
                                        "degraded", tocsin_guard_degraded(a->gen.guard, r)));
    respond_json(resp, 200,
                 json_pack("{s:s,s:o,s:I,s:b,s:o,s:{s:I,s:I,s:I,s:I},s:o,s:{s:I,s:I,s:I,s:I}}",
                           "version", TOCSIN_VERSION, "config",
                           tocsin_json_string(a->config->path), "started_at",
                           (json_int_t)a->started_s, "healthy", json_array_size(problems) == 0,
                           "problems", problems ? problems : json_array(), "monitors", "total",
                           (json_int_t)a->config->n_monitors, "up",
                           (json_int_t)count[TOCSIN_STATUS_UP], "down",
                           (json_int_t)count[TOCSIN_STATUS_DOWN], "unknown",
                           (json_int_t)count[TOCSIN_STATUS_UNKNOWN], "regions",
                           regions ? regions : json_array(), "outbox", "waiting",
                           (json_int_t)st.waiting, "in_flight", (json_int_t)st.in_flight, "dead",
                           (json_int_t)st.dead_now, "unstored", (json_int_t)st.unstored));
}

static void serve_status_page(struct tocsin_agent *a, struct tocsin_http_response *resp)
{
    struct tocsin_buf page;
    json_t *problems = json_array();

    if (problems)
        health_problems(a, problems);
    tocsin_buf_init(&page);
    tocsin_status_page(a, problems, &page);
    json_decref(problems);
    if (problems == NULL || tocsin_buf_finish(&page, &resp->body, &resp->body_len) < 0)
        return respond_text(resp, 500, "out of memory\n");
    resp->status = 200;
    resp->content_type = "text/html; charset=utf-8";
}

/* ---- /api/v1/monitors --------------------------------------------------------- */

/* The region's latest result, in the fields of DESIGN §4; null before it ran. */
static json_t *last_check_json(const struct tocsin_last_check *c)
{
    bool down = c->status == TOCSIN_STATUS_DOWN;

    if (c->timestamp == 0)
        return json_null();
    return json_pack("{s:s,s:o,s:o,s:o,s:I,s:o}", "status", tocsin_status_name(c->status),
                     "error_kind", down ? json_string(tocsin_error_kind_name(c->error_kind))
                                        : json_null(),
                     "error_message", down && c->error_message
                                          ? tocsin_json_string(c->error_message)
                                          : json_null(),
                     "status_code", c->status_code ? json_integer(c->status_code) : json_null(),
                     "response_time_ms", (json_int_t)c->response_time_ms, "timestamp",
                     time_or_null(c->timestamp));
}

static json_t *monitor_json(struct tocsin_agent *a, size_t i)
{
    const struct tocsin_config *config = a->config;
    const struct tocsin_monitor_conf *m = &config->monitors[i];
    const struct tocsin_monitor_state *s = &a->gen.states[i];
    enum tocsin_hold hold = a->gen.holds[i].last;
    json_t *regions = json_array(), *webhooks = json_object();
    char target[1100];

    tocsin_monitor_display_url(m, target, sizeof(target)); /* userinfo redacted */
    for (size_t r = 0; regions && r < s->n_regions; r++)
        json_array_append_new(
            regions, json_pack("{s:o,s:i,s:i,s:b,s:o}", "name",
                               tocsin_json_string(config->regions[m->regions[r]].name),
                               "consecutive_failures", s->region_failures[r],
                               "consecutive_successes", s->region_successes[r], "degraded",
                               tocsin_guard_degraded(a->gen.guard, m->regions[r]), "last",
                               last_check_json(tocsin_agent_check(&a->gen, i, r))));
    for (size_t w = 0; webhooks && w < s->n_webhooks; w++)
        if (s->webhook_level[w] > 0)
            json_object_set_new(webhooks, config->webhooks[w].name,
                                json_integer(s->webhook_level[w]));
    return json_pack("{s:o,s:o,s:s,s:o,s:s,s:o,s:i,s:o,s:o,s:o}", "id", tocsin_json_string(m->id),
                     "name", tocsin_json_string(m->name ? m->name : m->id), "type",
                     m->type == TOCSIN_PROBE_TCP ? "tcp" : "http", "target",
                     tocsin_json_string(target), "status", tocsin_status_name(s->status), "since",
                     time_or_null(s->since), "consecutive_failures", s->consecutive_failures,
                     "held",
                     hold == TOCSIN_HOLD_NONE ? json_null() : json_string(tocsin_hold_name(hold)),
                     "regions", regions ? regions : json_array(), "notified",
                     webhooks ? webhooks : json_object());
}

static void serve_monitors(struct tocsin_agent *a, const char *id,
                           struct tocsin_http_response *resp)
{
    json_t *list;

    if (id != NULL) {
        for (size_t i = 0; i < a->config->n_monitors; i++)
            if (strcmp(a->config->monitors[i].id, id) == 0)
                return respond_json(resp, 200, monitor_json(a, i));
        return respond_error(resp, 404, "no such monitor");
    }
    list = json_array();
    for (size_t i = 0; list && i < a->config->n_monitors; i++)
        json_array_append_new(list, monitor_json(a, i));
    respond_json(resp, 200, json_pack("{s:o}", "monitors", list ? list : json_array()));
}

/* ---- /api/v1/outbox ------------------------------------------------------------ */

static void add_entry(void *data, const struct tocsin_outbox_entry *e)
{
    json_array_append_new(
        data, json_pack("{s:I,s:s,s:o,s:o,s:s,s:i,s:s,s:i,s:I,s:I,s:o}", "id", (json_int_t)e->id,
                        "request_id", e->request_id, "webhook", tocsin_json_string(e->webhook),
                        "monitor", tocsin_json_string(e->monitor), "event", e->event, "level",
                        e->level, "state", e->state, "attempts", e->attempts, "created_ms",
                        (json_int_t)e->created_ms, "next_attempt_ms",
                        (json_int_t)e->next_attempt_ms, "last_error",
                        e->last_error ? tocsin_json_string(e->last_error) : json_null()));
}

static void serve_outbox(struct tocsin_agent *a, struct tocsin_http_response *resp)
{
    json_t *list = json_array();

    if (list && a->gen.sender)
        tocsin_sender_outbox_each(a->gen.sender, add_entry, list);
    respond_json(resp, 200, json_pack("{s:o}", "deliveries", list ? list : json_array()));
}

/* The value of KEY in a raw query string, percent-decoding not needed for ids
 * and webhook names ([A-Za-z0-9_.-]); false when absent. */
static bool query_value(const char *query, const char *key, char *out, size_t size)
{
    size_t klen = strlen(key);

    for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t n = strcspn(p + klen + 1, "&");
            if (n >= size)
                return false;
            memcpy(out, p + klen + 1, n);
            out[n] = '\0';
            return true;
        }
    }
    return false;
}

static void change_outbox(struct tocsin_agent *a, bool retry, const char *query,
                          struct tocsin_http_response *resp)
{
    char id_text[24] = "", webhook[128] = "", all[8] = "";
    bool has_id = query_value(query, "id", id_text, sizeof(id_text));
    bool has_webhook = query_value(query, "webhook", webhook, sizeof(webhook));
    char *end = NULL;
    long long id = has_id ? strtoll(id_text, &end, 10) : 0;
    int rc;

    if ((has_id && (*end != '\0' || id <= 0)) ||
        (!has_id && !has_webhook && !query_value(query, "all", all, sizeof(all))))
        return respond_error(resp, 400, "give id=N, webhook=NAME or all=1");
    if (a->gen.sender == NULL)
        return respond_error(resp, 503, "reloading; try again");
    rc = retry ? tocsin_sender_outbox_retry(a->gen.sender, id, has_webhook ? webhook : NULL)
               : tocsin_sender_outbox_purge(a->gen.sender, id, has_webhook ? webhook : NULL);
    if (rc == -ENOENT)
        return respond_error(resp, 404, "no such dead letter");
    if (rc < 0)
        return respond_error(resp, 503, strerror(-rc));
    respond_json(resp, 200, json_pack("{s:i}", "changed", rc));
}

/* ---- routing --------------------------------------------------------------------- */

static bool is_get(const struct tocsin_http_request *req, struct tocsin_http_response *resp)
{
    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)
        return true;
    resp->allow = "GET, HEAD";
    respond_error(resp, 405, "method not allowed");
    return false;
}

static bool is_local_post(const struct tocsin_http_request *req,
                          struct tocsin_http_response *resp)
{
    if (strcmp(req->method, "POST") != 0) {
        resp->allow = "POST";
        respond_error(resp, 405, "method not allowed");
        return false;
    }
    if (!req->loopback) {
        respond_error(resp, 403, "outbox changes are taken from loopback clients only");
        return false;
    }
    return true;
}

void tocsin_api_handle(void *data, const struct tocsin_http_request *req,
                       struct tocsin_http_response *resp)
{
    struct tocsin_agent *a = data;
    const char *path = req->path;

    /* Between the two halves of a reload there is no state to show. */
    if (a->gen.states == NULL)
        return respond_error(resp, 503, "reloading; try again");
    if (strcmp(path, "/metrics") == 0) {
        if (is_get(req, resp))
            serve_metrics(a, resp);
    } else if (strcmp(path, "/healthz") == 0) {
        if (is_get(req, resp))
            serve_healthz(a, resp);
    } else if (strcmp(path, "/status") == 0) {
        if (is_get(req, resp))
            serve_status_page(a, resp);
    } else if (strcmp(path, "/api/v1/status") == 0) {
        if (is_get(req, resp))
            serve_status(a, resp);
    } else if (strcmp(path, "/api/v1/monitors") == 0) {
        if (is_get(req, resp))
            serve_monitors(a, NULL, resp);
    } else if (strncmp(path, "/api/v1/monitors/", 17) == 0) {
        if (is_get(req, resp))
            serve_monitors(a, path + 17, resp);
    } else if (strcmp(path, "/api/v1/outbox") == 0) {
        if (is_get(req, resp))
            serve_outbox(a, resp);
    } else if (strcmp(path, "/api/v1/outbox/retry") == 0 ||
               strcmp(path, "/api/v1/outbox/purge") == 0) {
        if (is_local_post(req, resp))
            change_outbox(a, strcmp(path, "/api/v1/outbox/retry") == 0, req->query, resp);
    } else {
        respond_error(resp, 404, "not found");
    }
}
