/* The agent's HTTP endpoints as an operator (or Prometheus) meets them: the
 * real agent runs on its own libuv loop in a second thread, against a loopback
 * target and a receiver (tests/support); this thread asks /metrics, /healthz,
 * /status and /api/v1 with libcurl, like curl(1) would.  Every wait is a
 * bounded poll; nothing fails on slowness. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <uv.h>

#include "agent_harness.h"
#include "agent_thread.h"
#include "receiver.h"
#include "target.h"
#include "tocsin/agent.h"
#include "tocsin/config.h"
#include "tocsin/log.h"

#define SECRET "api-test-secret"
#define WAIT_MS 30000
#define POLL_MS 50

struct fixture {
    char dir[64];
    char config_path[128];
    struct test_target *target;
    struct test_receiver *hook;
    struct test_agent_thread at;
};

/* ---- the agent on its own thread ------------------------------------------ */

static void write_config(struct fixture *f, const char *extra_webhook)
{
    FILE *fp = fopen(f->config_path, "w");

    assert_non_null(fp);
    fprintf(fp,
            "agent: {region: here, state_dir: %s/state, listen: \"127.0.0.1:0\", log_level: warn}\n"
            "webhooks:\n"
            "  - {name: hook, url: \"http://127.0.0.1:%u/hook\", secret: " SECRET "%s}\n"
            "policies: {default: {failure_threshold: 2, levels: [{level: 1, after: 2, notify: [hook]}]}}\n"
            /* A timeout valgrind on a busy host cannot miss: "up" must stay UP. */
            "defaults: {interval: 500ms, timeout: 450ms}\n"
            "monitors:\n"
            "  - {id: up, name: \"Up <b>&</b>\", url: \"http://probe:pw-api-test@127.0.0.1:%u/ok\"}\n"
            "  - {id: down, url: \"http://127.0.0.1:%u/down\"}\n",
            f->dir, test_receiver_port(f->hook), extra_webhook, test_target_port(f->target),
            test_target_port(f->target));
    fclose(fp);
}

static void start_agent(struct fixture *f, const char *extra_webhook)
{
    write_config(f, extra_webhook);
    assert_int_equal(test_agent_thread_start(&f->at, f->config_path), 0);
    assert_true(f->at.port > 0);
}

static void stop_agent(struct fixture *f)
{
    assert_int_equal(test_agent_thread_stop(&f->at), 0);
}

/* ---- HTTP, as a client ------------------------------------------------------- */

static void request(struct fixture *f, const char *method, const char *path, struct test_http_answer *a)
{
    test_agent_http(&f->at, method, path, a);
    assert_true(a->status > 0);
}

static json_t *get_json(struct fixture *f, const char *path, long want_status)
{
    struct test_http_answer a;
    json_t *root;

    request(f, "GET", path, &a);
    assert_int_equal(a.status, want_status);
    root = json_loads(a.body, 0, NULL);
    assert_non_null(root);
    return root;
}

/* Polls PATH until its body contains NEEDLE (and the status is WANT). */
static bool wait_body(struct fixture *f, const char *path, long want, const char *needle)
{
    struct test_http_answer a;

    for (int i = 0; i < WAIT_MS / POLL_MS; i++) {
        request(f, "GET", path, &a);
        if (a.status == want && strstr(a.body, needle))
            return true;
        usleep(POLL_MS * 1000);
    }
    print_message("last answer to %s: %ld %s\n", path, a.status, a.body);
    return false;
}

/* ---- fixture ------------------------------------------------------------------ */

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct test_route down = {.path = "/down", .mode = TEST_TARGET_ANSWER, .status = 503};

    assert_non_null(f);
    assert_int_equal(test_temp_dir(f->dir, sizeof(f->dir), "tocsin-api"), 0);
    snprintf(f->config_path, sizeof(f->config_path), "%s/tocsin.yaml", f->dir);
    f->target = test_target_start();
    f->hook = test_receiver_start(SECRET);
    assert_non_null(f->target);
    assert_non_null(f->hook);
    assert_int_equal(test_target_route(f->target, &down), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    /* A failed assertion skips the test's own stop: the agent's thread must
     * not outlive the fixture it points into. */
    test_agent_thread_stop(&f->at);
    test_target_stop(f->target);
    test_receiver_stop(f->hook);
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

/* ---- scenarios -------------------------------------------------------------------- */

/* A 410 makes the incident a dead letter; the API shows it everywhere and a
 * retry by id sends it again under the same request id. */
static void test_endpoints_and_outbox(void **state)
{
    struct fixture *f = *state;
    struct test_answer gone = {.action = TEST_ANSWER, .status = 410};
    struct test_delivery first, again;
    json_t *root, *list, *mon;
    struct test_http_answer a;
    char path[64];
    int64_t id;

    assert_int_equal(test_receiver_plan(f->hook, &gone, 1), 0);
    start_agent(f, ", retries: 0");
    assert_true(wait_body(f, "/metrics", 200, "tocsin_dead_letters 1\n"));

    request(f, "GET", "/metrics", &a);
    assert_non_null(strstr(a.body, "tocsin_monitor_up{monitor=\"down\"} 0\n"));
    assert_non_null(strstr(a.body, "tocsin_monitor_up{monitor=\"up\"} 1\n"));
    assert_non_null(strstr(a.body, "tocsin_alerts_total{event=\"incident\"} 1\n"));
    assert_non_null(strstr(a.body, "# TYPE tocsin_check_lateness_seconds histogram\n"));
    assert_non_null(strstr(a.body, "tocsin_region_degraded{region=\"here\"} 0\n"));
    request(f, "GET", "/healthz", &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "ok\n");

    /* per check: the latest result of each region, and counters by result */
    request(f, "GET", "/metrics", &a);
    assert_non_null(strstr(a.body, "tocsin_monitor_checks_total{monitor=\"down\",region=\"here\","
                                   "result=\"up\"} 0\n"));
    assert_non_null(strstr(a.body, "# TYPE tocsin_check_duration_seconds histogram\n"));
    assert_non_null(strstr(a.body, "tocsin_check_duration_seconds_bucket{type=\"http\",region=\"here\","
                                   "le=\"+Inf\"} "));
    assert_non_null(strstr(a.body, "tocsin_webhook_attempts_total{webhook=\"hook\",outcome=\"dead\"} 1\n"));
    assert_non_null(strstr(a.body, "tocsin_shard_info{shard=\"1\",shards=\"1\"} 1\n"));
    assert_null(strstr(a.body, "pw-api-test"));
    assert_null(strstr(a.body, SECRET));
    root = get_json(f, "/api/v1/monitors/down", 200);
    mon = json_object_get(json_array_get(json_object_get(root, "regions"), 0), "last");
    assert_string_equal(json_string_value(json_object_get(mon, "status")), "DOWN");
    assert_string_equal(json_string_value(json_object_get(mon, "error_kind")), "status");
    assert_int_equal(json_integer_value(json_object_get(mon, "status_code")), 503);
    assert_true(json_is_string(json_object_get(mon, "error_message")));
    assert_true(json_is_string(json_object_get(mon, "timestamp")));
    json_decref(root);

    /* /status is a page for people: DOWN first, escaped, no credentials */
    request(f, "GET", "/status", &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.content_type, "text/html; charset=utf-8");
    assert_true(strncmp(a.body, "<!DOCTYPE html>", 15) == 0);
    assert_non_null(strstr(a.body, "<title>1 down &middot; here &middot; tocsin</title>"));
    assert_non_null(strstr(a.body, "Up &lt;b&gt;&amp;&lt;/b&gt;"));
    assert_null(strstr(a.body, "<b>&</b>"));
    assert_null(strstr(a.body, "pw-api-test"));
    assert_non_null(strstr(a.body, "status: expected status 200-299, got 503"));
    assert_true(strstr(a.body, ">down<") < strstr(a.body, ">up<")); /* DOWN rows first */
    assert_non_null(strstr(a.body, "</html>\n"));

    root = get_json(f, "/api/v1/status", 200);
    assert_true(json_is_true(json_object_get(root, "healthy")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "monitors"), "down")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "outbox"), "dead")), 1);
    json_decref(root);

    mon = get_json(f, "/api/v1/monitors/down", 200);
    assert_string_equal(json_string_value(json_object_get(mon, "status")), "DOWN");
    assert_true(json_is_string(json_object_get(mon, "since")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(mon, "notified"), "hook")), 1);
    json_decref(mon);
    json_decref(get_json(f, "/api/v1/monitors/nope", 404));
    root = get_json(f, "/api/v1/monitors", 200);
    assert_int_equal(json_array_size(json_object_get(root, "monitors")), 2);
    json_decref(root);

    root = get_json(f, "/api/v1/outbox", 200);
    list = json_object_get(root, "deliveries");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "state")), "dead");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "monitor")), "down");
    id = json_integer_value(json_object_get(json_array_get(list, 0), "id"));
    assert_true(id > 0);
    json_decref(root);

    request(f, "POST", "/api/v1/outbox/retry", &a);
    assert_int_equal(a.status, 400);
    request(f, "GET", "/api/v1/outbox/retry?all=1", &a);
    assert_int_equal(a.status, 405);
    request(f, "POST", "/api/v1/outbox/retry?id=999999", &a);
    assert_int_equal(a.status, 404);
    request(f, "GET", "/nowhere", &a);
    assert_int_equal(a.status, 404);
    snprintf(path, sizeof(path), "/api/v1/outbox/retry?id=%lld", (long long)id);
    request(f, "POST", path, &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "{\"changed\":1}");
    assert_true(wait_body(f, "/metrics", 200, "tocsin_dead_letters 0\n"));
    assert_true(wait_body(f, "/api/v1/outbox", 200, "{\"deliveries\":[]}"));
    assert_int_equal(test_receiver_get(f->hook, 0, &first), 0);
    assert_int_equal(test_receiver_get(f->hook, test_receiver_count(f->hook) - 1, &again), 0);
    assert_string_equal(first.request_id, again.request_id);
    assert_int_equal(again.status, 200);
    test_delivery_free(&first);
    test_delivery_free(&again);
    stop_agent(f);
}

/* A full disk: the incident is sent anyway, /healthz says 503 while the commit
 * fails, and 200 again once the retried commit lands. */
static void test_healthz_on_failed_commit(void **state)
{
    struct fixture *f = *state;
    struct test_route up = {.path = "/down", .mode = TEST_TARGET_ANSWER, .status = 200};
    struct test_route down = {.path = "/down", .mode = TEST_TARGET_ANSWER, .status = 503};
    struct rlimit saved, limit;

    assert_int_equal(test_target_route(f->target, &up), 0);
    start_agent(f, "");
    assert_true(wait_body(f, "/api/v1/monitors/down", 200, "\"status\":\"UP\""));
    signal(SIGXFSZ, SIG_IGN); /* writes past the limit fail with EFBIG instead */
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    limit = saved;
    /* Nothing may be written: a checkpointed WAL restarts at offset 0. */
    limit.rlim_cur = 0;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &limit), 0);
    /* The receiver fails, so the alert stays held (a delivered one is done). */
    test_receiver_set_status(f->hook, 500);
    assert_int_equal(test_target_route(f->target, &down), 0);

    assert_true(wait_body(f, "/healthz", 503, "outbox: commit failing; 1 alerts held in memory"));
    for (int i = 0; i < WAIT_MS / POLL_MS && test_receiver_count(f->hook) == 0; i++)
        usleep(POLL_MS * 1000);
    assert_int_equal(test_receiver_count(f->hook), 1); /* sent anyway */
    test_receiver_set_status(f->hook, 200);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    assert_true(wait_body(f, "/healthz", 200, "ok\n"));
    signal(SIGXFSZ, SIG_DFL);
    assert_true(wait_body(f, "/api/v1/outbox", 200, "\"monitor\":\"down\""));
    stop_agent(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_endpoints_and_outbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_healthz_on_failed_commit, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    tocsin_log_setup(TOCSIN_LOG_WARN, TOCSIN_LOG_LOGFMT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
