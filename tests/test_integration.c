/* End-to-end test of the walking skeleton: the real config loader, the real
 * agent (engine, scheduler, monitor state, sender) on a real libuv loop in this
 * thread, against a loopback HTTP target and a loopback webhook receiver that
 * run on their own libmicrohttpd threads (tests/support).
 *
 * Each scenario is a small state machine ("step") driven by a 50 ms uv_timer
 * that looks at the target and the receiver and flips them.  Steps never use
 * cmocka assertions: a longjmp out of uv_run would leave the loop half-run.
 * They record what they saw and stop the agent; the test asserts after the
 * loop has ended and uv_loop_close() returned 0.  Every wait is bounded by
 * DEADLINE_MS, which fails the test instead of hanging it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <ares.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <uv.h>

#include "agent_harness.h"
#include "receiver.h"
#include "target.h"
#include "tocsin/agent.h"
#include "tocsin/config.h"
#include "tocsin/log.h"

#define SECRET "tocsin-test-secret"
#define REGION "it-local"
#define HOOK_PATH "/hooks/statuspageone"
#define DEADLINE_MS 30000
#define TICK_MS 50
#define REPORTS_MAX 16

/* A copy of one tocsin_delivery_report (its strings die with the callback). */
struct report_copy {
    bool delivered;
    long status_code;
    bool has_error;
    char request_id[64];
};

struct harness;

/* One tick of a scenario; returns true when the scenario is over. */
typedef bool (*step_fn)(struct harness *h);

struct harness {
    uv_loop_t loop;
    bool loop_open;
    struct test_agent_run run; /* the agent on the loop (tests/support/agent_harness) */
    char dir[64];
    char path[128];
    struct tocsin_config *config;
    struct test_target *target;
    struct test_receiver *receiver;
    /* scenario */
    step_fn step;
    int phase;
    uint64_t wait_until;     /* uv_now() ms, for "nothing more arrives" windows */
    char failure[256];       /* set by a step that gave up; empty when all went well */
    time_t wall_start;       /* wall clock around the events, for timestamps */
    time_t wall_flip;
    time_t wall_incident;
    time_t wall_recovery;
    unsigned mark;           /* a target hit count or accept count remembered */
    struct report_copy reports[REPORTS_MAX];
    size_t n_reports;
    /* a healthy TCP service in this loop (scenario 3) */
    uv_tcp_t listener;
    bool listening;
    uint16_t listener_port;
    unsigned accepts;
};

/* What one StatusPageOne body must hold; the rest comes from the received body. */
struct expect {
    const char *id;
    const char *name;
    const char *url;
    const char *status;          /* "DOWN" or "UP": monitor and check_result */
    const char *error_message;   /* NULL: the key must be absent */
    int status_code;             /* 0: null */
    int consecutive_failures;
    const char *previous_status;
    const char *notification_type;
};

/* ---- harness ------------------------------------------------------------ */

static int setup(void **state)
{
    struct harness *h = calloc(1, sizeof(*h));

    if (h == NULL)
        return -1;
    if (test_temp_dir(h->dir, sizeof(h->dir), "tocsin-it") != 0) {
        free(h);
        return -1;
    }
    h->target = test_target_start();
    h->receiver = test_receiver_start(SECRET);
    *state = h;
    return h->target && h->receiver ? 0 : -1;
}

/* Closes what the scenario runs on the loop besides the agent (which the
 * harness stops); uv_run returns once it is all closed. */
static void close_own_handles(void *data)
{
    struct harness *h = data;

    if (h->listening)
        uv_close((uv_handle_t *)&h->listener, NULL);
    h->listening = false;
}

static int teardown(void **state)
{
    struct harness *h = *state;

    /* Only reached with a live loop when an assertion failed before uv_run. */
    if (h->loop_open) {
        close_own_handles(h);
        uv_run(&h->loop, UV_RUN_DEFAULT);
        uv_loop_close(&h->loop);
    }
    test_target_stop(h->target);
    test_receiver_stop(h->receiver);
    tocsin_config_free(h->config);
    test_remove_dir(h->dir); /* the config, and the agent's database */
    free(h);
    return 0;
}

static bool give_up(struct harness *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records why a scenario failed; the test asserts on it after the loop ends. */
static bool give_up(struct harness *h, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(h->failure, sizeof(h->failure), fmt, ap);
    va_end(ap);
    return true;
}

static bool run_step(void *data)
{
    struct harness *h = data;

    return h->step(h);
}

static void on_delivery(void *data, const struct tocsin_delivery_report *report)
{
    struct harness *h = data;
    struct report_copy *c;

    if (h->n_reports >= REPORTS_MAX)
        return;
    c = &h->reports[h->n_reports++];
    c->delivered = report->delivered;
    c->status_code = report->status_code;
    c->has_error = report->error != NULL && report->error[0] != '\0';
    snprintf(c->request_id, sizeof(c->request_id), "%s", report->request_id);
}

/* Writes the config: one webhook to the receiver, the policy of the issue,
 * interval 1s and timeout 500ms by default, and MONITORS (a YAML list body). */
static void write_config(struct harness *h, const char *monitors)
{
    FILE *f;

    snprintf(h->path, sizeof(h->path), "%s/tocsin.yaml", h->dir);
    f = fopen(h->path, "w");
    assert_non_null(f);
    fprintf(f,
            "agent:\n"
            "  region: " REGION "\n"
            "  state_dir: %s\n"
            "  listen: \"\"\n"
            "  log_level: info\n"
            "webhooks:\n"
            "  - name: it\n"
            "    url: http://127.0.0.1:%u" HOOK_PATH "\n"
            "    format: statuspageone\n"
            "    secret: " SECRET "\n"
            "    retry_backoff: 200ms\n"
            "policies:\n"
            "  default:\n"
            "    failure_threshold: 3\n"
            "    success_threshold: 1\n"
            "    levels:\n"
            "      - {level: 1, after: 3, notify: [it]}\n"
            "defaults:\n"
            "  interval: 1s\n"
            "  timeout: 500ms\n"
            "monitors:\n%s",
            h->dir, (unsigned)test_receiver_port(h->receiver), monitors);
    assert_int_equal(fclose(f), 0);
}

/* Loads the config with the real loader, starts the agent and the tick, runs
 * the loop until STEP says the scenario is over, then checks the loop closes. */
static void run_scenario(struct harness *h, step_fn step, const char *monitors_fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void run_scenario(struct harness *h, step_fn step, const char *monitors_fmt, ...)
{
    char monitors[2048];
    va_list ap;

    va_start(ap, monitors_fmt);
    vsnprintf(monitors, sizeof(monitors), monitors_fmt, ap);
    va_end(ap);
    write_config(h, monitors);
    assert_int_equal(test_load_config(h->path, &h->config), 0);

    if (!h->loop_open) {
        assert_int_equal(uv_loop_init(&h->loop), 0);
        h->loop_open = true;
    }
    h->step = step;
    h->wall_start = time(NULL);
    h->run = (struct test_agent_run){
        .loop = &h->loop,
        .config = h->config,
        .step = run_step,
        .on_stop = close_own_handles,
        .data = h,
        .on_delivery = on_delivery,
        .delivery_data = h,
        .deadline_ms = DEADLINE_MS,
        .tick_ms = TICK_MS,
        .drain_ms = 2000,
    };
    assert_int_equal(test_agent_run(&h->run), 0);
    h->loop_open = false;
    assert_int_equal(uv_loop_close(&h->loop), 0);
    assert_true(h->run.agent_stopped);
    if (h->failure[0] == '\0' && h->run.deadline_passed)
        give_up(h, "deadline of %d ms passed in phase %d (%zu deliveries, %u target hits)",
                DEADLINE_MS, h->phase, test_receiver_count(h->receiver),
                test_target_hits(h->target));
    if (h->failure[0] != '\0')
        fail_msg("%s", h->failure);
}

/* ---- independent checks of what arrived ---------------------------------- */

static void fetch(struct harness *h, size_t i, struct test_delivery *d)
{
    assert_int_equal(test_receiver_get(h->receiver, i, d), 0);
}

static bool is_hex_lower(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* A UUIDv4 as RFC 9562 writes it: 8-4-4-4-12 hex, version 4, variant 10xx. */
static void assert_uuid4(const char *s)
{
    assert_int_equal(strlen(s), 36);
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(s[i], '-');
        else if (!is_hex_lower(s[i]))
            fail_msg("X-Request-ID %s: '%c' at %zu is not lower-case hex", s, s[i], i);
    }
    assert_int_equal(s[14], '4');
    assert_non_null(strchr("89ab", s[19]));
}

/* "sha256=" + hex HMAC-SHA256 made here with OpenSSL's one-shot HMAC(), an API
 * neither src/crypto.c nor the receiver (EVP_MAC) uses. */
static void expected_signature(const char *body, size_t len, char out[7 + 64 + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;

    assert_non_null(HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)body,
                         len, md, &md_len));
    assert_int_equal(md_len, 32);
    memcpy(out, "sha256=", 7);
    for (unsigned i = 0; i < md_len; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

/* Request line and headers every delivery carries, and both signature checks. */
static void assert_request(const struct test_delivery *d)
{
    char sig[7 + 64 + 1];

    assert_string_equal(d->method, "POST");
    assert_string_equal(d->path, HOOK_PATH);
    assert_string_equal(d->content_type, "application/json");
    assert_string_equal(d->user_agent, "tocsin/" TOCSIN_VERSION);
    assert_uuid4(d->request_id);
    assert_true(d->sig_ok_raw);
    assert_true(d->sig_ok_seed);
    expected_signature(d->body, d->body_len, sig);
    assert_string_equal(d->signature, sig);
}

/* The two fields a golden body cannot know in advance, read from the body. */
static void read_variable_fields(const struct test_delivery *d, char *ts, size_t ts_size,
                                 json_int_t *response_time_ms)
{
    json_error_t err;
    json_t *root = json_loadb(d->body, d->body_len, JSON_REJECT_DUPLICATES, &err);
    json_t *cr;

    if (root == NULL)
        fail_msg("body is not JSON (%s): %s", err.text, d->body);
    cr = json_object_get(root, "check_result");
    assert_true(json_is_string(json_object_get(cr, "timestamp")));
    assert_true(json_is_integer(json_object_get(cr, "response_time_ms")));
    snprintf(ts, ts_size, "%s", json_string_value(json_object_get(cr, "timestamp")));
    *response_time_ms = json_integer_value(json_object_get(cr, "response_time_ms"));
    json_decref(root);
}

/* Builds the body DESIGN §5 prescribes, field for field and in its key order. */
static void golden_body(const struct expect *e, const char *ts, json_int_t response_time_ms,
                        char *buf, size_t size)
{
    char error[600] = "", code[16] = "null";

    if (e->error_message != NULL) {
        /* The messages used here need no JSON escaping; a golden must not guess. */
        assert_null(strpbrk(e->error_message, "\"\\"));
        snprintf(error, sizeof(error), "\"error_message\":\"%s\",", e->error_message);
    }
    if (e->status_code != 0)
        snprintf(code, sizeof(code), "%d", e->status_code);
    snprintf(buf, size,
             "{\"event_type\":\"monitor_alert\","
             "\"monitor\":{\"id\":\"%s\",\"name\":\"%s\",\"url\":\"%s\",\"status\":\"%s\"},"
             "\"check_result\":{\"status\":\"%s\",\"timestamp\":\"%s\",\"region\":\"" REGION
             "\",%s\"response_time_ms\":%lld,\"status_code\":%s},"
             "\"context\":{\"consecutive_failures\":%d,\"previous_status\":\"%s\","
             "\"notification_level\":1,\"notification_type\":\"%s\"}}",
             e->id, e->name, e->url, e->status, e->status, ts, error,
             (long long)response_time_ms, code, e->consecutive_failures, e->previous_status,
             e->notification_type);
}

/* Asserts the body byte for byte against the golden one, with the timestamp
 * inside [NOT_BEFORE, NOT_AFTER] and response_time_ms in [MIN_MS, MAX_MS]. */
static void assert_body(const struct test_delivery *d, const struct expect *e, time_t not_before,
                        time_t not_after, json_int_t min_ms, json_int_t max_ms)
{
    char ts[64], golden[2048];
    json_int_t ms;
    time_t t;

    read_variable_fields(d, ts, sizeof(ts), &ms);
    t = test_parse_rfc3339z(ts);
    if (t < not_before || t > not_after)
        fail_msg("timestamp %s outside the test's window [%lld, %lld]", ts, (long long)not_before,
                 (long long)not_after);
    if (ms < min_ms || ms > max_ms)
        fail_msg("response_time_ms %lld outside [%lld, %lld]", (long long)ms, (long long)min_ms,
                 (long long)max_ms);
    golden_body(e, ts, ms, golden, sizeof(golden));
    assert_string_equal(d->body, golden); /* shows both on failure */
    assert_int_equal(d->body_len, strlen(golden));
    assert_memory_equal(d->body, golden, d->body_len);
}

static void assert_report(const struct report_copy *r, bool delivered, long status_code,
                          const char *request_id)
{
    assert_int_equal(r->delivered, delivered);
    assert_int_equal(r->status_code, status_code);
    assert_int_equal(r->has_error, !delivered);
    assert_string_equal(r->request_id, request_id);
}

static uint64_t now_ms(struct harness *h)
{
    return uv_now(&h->loop);
}

/* ---- 1. HTTP incident and recovery --------------------------------------- */

static bool step_http_flap(struct harness *h)
{
    size_t n = test_receiver_count(h->receiver);
    unsigned hits = test_target_hits(h->target);

    switch (h->phase) {
    case 0: /* UP first, so the incident's previous_status is UP */
        if (n != 0)
            return give_up(h, "a delivery before any failure");
        if (hits < 2)
            return false;
        h->wall_flip = time(NULL);
        test_target_set_status(h->target, 503);
        h->phase = 1;
        return false;
    case 1: /* three failures, one incident */
        if (n == 0)
            return false;
        h->wall_incident = time(NULL);
        h->mark = hits;
        h->phase = 2;
        return false;
    case 2: /* a 4th and 5th failure belong to the same incident: no new alert */
        if (n > 1)
            return give_up(h, "a second alert while the incident went on");
        if (hits < h->mark + 2)
            return false;
        test_target_set_status(h->target, 200);
        h->phase = 3;
        return false;
    case 3: /* one success recovers */
        if (n < 2)
            return false;
        h->wall_recovery = time(NULL);
        h->wait_until = now_ms(h) + 3500;
        h->phase = 4;
        return false;
    default: /* a few more intervals: nothing else arrives */
        return now_ms(h) >= h->wait_until;
    }
}

static void test_http_incident_and_recovery(void **state)
{
    struct harness *h = *state;
    uint16_t port = test_target_port(h->target);
    char url[128];
    struct test_delivery incident, recovery;

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/health", (unsigned)port);
    run_scenario(h, step_http_flap,
                 "  - id: api\n"
                 "    name: Loopback API\n"
                 "    type: http\n"
                 "    url: %s\n"
                 "    method: GET\n"
                 "    expect: {status: [200-299]}\n",
                 url);

    assert_int_equal(test_receiver_count(h->receiver), 2);
    fetch(h, 0, &incident);
    fetch(h, 1, &recovery);
    assert_request(&incident);
    assert_request(&recovery);
    assert_string_not_equal(incident.request_id, recovery.request_id);
    assert_body(&incident,
                &(struct expect){"api", "Loopback API", url, "DOWN",
                                 "expected status 200-299, got 503", 503, 3, "UP", "incident"},
                h->wall_flip, h->wall_incident, 0, 500);
    assert_body(&recovery,
                &(struct expect){"api", "Loopback API", url, "UP", NULL, 200, 0, "DOWN",
                                 "recovery"},
                h->wall_incident, h->wall_recovery, 0, 500);
    assert_int_equal(h->n_reports, 2);
    assert_report(&h->reports[0], true, 200, incident.request_id);
    assert_report(&h->reports[1], true, 200, recovery.request_id);
    test_delivery_free(&incident);
    test_delivery_free(&recovery);
}

/* ---- 2. TCP monitor on a closed port ------------------------------------- */

/* A loopback port nothing listens on: bound by the kernel, then released. */
static uint16_t closed_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

/* One incident, then a quiet second to catch a repeated one. */
static bool step_one_incident(struct harness *h)
{
    size_t n = test_receiver_count(h->receiver);

    if (h->phase == 0) {
        if (n == 0)
            return false;
        h->wall_incident = time(NULL);
        h->wait_until = now_ms(h) + 1500;
        h->phase = 1;
        return false;
    }
    if (n > 1)
        return give_up(h, "%zu alerts where one incident was due", n);
    return now_ms(h) >= h->wait_until;
}

static void test_tcp_closed_port(void **state)
{
    struct harness *h = *state;
    uint16_t port = closed_port();
    char url[64], message[128];
    struct test_delivery incident;

    snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", (unsigned)port);
    snprintf(message, sizeof(message), "connection to 127.0.0.1 port %u refused", (unsigned)port);
    run_scenario(h, step_one_incident,
                 "  - id: closed\n"
                 "    name: Closed port\n"
                 "    type: tcp\n"
                 "    host: 127.0.0.1\n"
                 "    port: %u\n"
                 "    interval: 500ms\n",
                 (unsigned)port);

    assert_int_equal(test_receiver_count(h->receiver), 1);
    fetch(h, 0, &incident);
    assert_request(&incident);
    /* DOWN from its first checks: it never was UP, so previous_status is UNKNOWN. */
    assert_body(&incident,
                &(struct expect){"closed", "Closed port", url, "DOWN", message, 0, 3, "UNKNOWN",
                                 "incident"},
                h->wall_start, h->wall_incident, 0, 500);
    assert_int_equal(h->n_reports, 1);
    assert_report(&h->reports[0], true, 200, incident.request_id);
    test_delivery_free(&incident);
}

/* ---- 3. Healthy TCP monitor never alerts --------------------------------- */

static void on_accepted_closed(uv_handle_t *handle)
{
    free(handle);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct harness *h = server->data;
    uv_tcp_t *client;

    if (status < 0)
        return;
    client = malloc(sizeof(*client));
    if (client == NULL)
        return;
    uv_tcp_init(server->loop, client);
    if (uv_accept(server, (uv_stream_t *)client) == 0)
        h->accepts++;
    uv_close((uv_handle_t *)client, on_accepted_closed);
}

/* A TCP service in the test loop that accepts and closes; counts the checks. */
static void start_listener(struct harness *h)
{
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof(bound);

    assert_int_equal(uv_loop_init(&h->loop), 0);
    h->loop_open = true;
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
    assert_int_equal(uv_tcp_init(&h->loop, &h->listener), 0);
    h->listener.data = h;
    h->listening = true;
    assert_int_equal(uv_tcp_bind(&h->listener, (struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&h->listener, 64, on_connection), 0);
    assert_int_equal(uv_tcp_getsockname(&h->listener, (struct sockaddr *)&bound, &len), 0);
    h->listener_port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

static bool step_healthy(struct harness *h)
{
    if (test_receiver_count(h->receiver) != 0 || h->n_reports != 0)
        return give_up(h, "a healthy monitor alerted");
    return h->accepts >= 6; /* five full intervals after the first check */
}

static void test_tcp_healthy_never_alerts(void **state)
{
    struct harness *h = *state;

    start_listener(h);
    run_scenario(h, step_healthy,
                 "  - id: healthy\n"
                 "    name: Healthy port\n"
                 "    type: tcp\n"
                 "    host: 127.0.0.1\n"
                 "    port: %u\n"
                 "    interval: 500ms\n",
                 (unsigned)h->listener_port);

    assert_true(h->accepts >= 6);
    assert_int_equal(test_receiver_count(h->receiver), 0);
    assert_int_equal(h->n_reports, 0);
}

/* ---- 4. Receiver answering 500 ------------------------------------------- */

static bool step_receiver_500(struct harness *h)
{
    switch (h->phase) {
    case 0: /* the incident reaches a failing receiver */
        if (h->n_reports == 0)
            return false;
        h->wall_incident = time(NULL);
        test_receiver_set_status(h->receiver, 200);
        test_target_set_status(h->target, 200);
        h->phase = 1;
        return false;
    case 1: /* the incident is retried and delivered, then the recovery */
        if (h->n_reports < 3)
            return false;
        h->wall_recovery = time(NULL);
        h->wait_until = now_ms(h) + 1500;
        h->phase = 2;
        return false;
    default:
        return now_ms(h) >= h->wait_until;
    }
}

static void test_receiver_500_then_recovery(void **state)
{
    struct harness *h = *state;
    char url[128];
    struct test_delivery incident, retried, recovery;

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/health",
             (unsigned)test_target_port(h->target));
    test_target_set_status(h->target, 503);
    test_receiver_set_status(h->receiver, 500);
    run_scenario(h, step_receiver_500,
                 "  - id: api\n"
                 "    name: Loopback API\n"
                 "    type: http\n"
                 "    url: %s\n",
                 url);

    /* The incident was answered 500, retried under the same request id with the
     * same bytes, and only then did the recovery go out (never overtaking it). */
    assert_int_equal(test_receiver_count(h->receiver), 3);
    fetch(h, 0, &incident);
    fetch(h, 1, &retried);
    fetch(h, 2, &recovery);
    assert_request(&incident);
    assert_request(&retried);
    assert_request(&recovery);
    assert_string_equal(incident.request_id, retried.request_id);
    assert_int_equal(incident.body_len, retried.body_len);
    assert_memory_equal(incident.body, retried.body, incident.body_len);
    assert_string_not_equal(incident.request_id, recovery.request_id);
    assert_body(&incident,
                &(struct expect){"api", "Loopback API", url, "DOWN",
                                 "expected status 200-299, got 503", 503, 3, "UNKNOWN",
                                 "incident"},
                h->wall_start, h->wall_incident, 0, 500);
    assert_body(&recovery,
                &(struct expect){"api", "Loopback API", url, "UP", NULL, 200, 0, "DOWN",
                                 "recovery"},
                h->wall_incident, h->wall_recovery, 0, 500);
    assert_int_equal(h->n_reports, 3);
    assert_report(&h->reports[0], false, 500, incident.request_id);
    assert_report(&h->reports[1], true, 200, incident.request_id);
    assert_report(&h->reports[2], true, 200, recovery.request_id);
    test_delivery_free(&incident);
    test_delivery_free(&retried);
    test_delivery_free(&recovery);
}

/* ---- 5. Hanging target ---------------------------------------------------- */

static void test_hanging_target(void **state)
{
    struct harness *h = *state;
    char url[128];
    struct test_delivery incident;
    json_t *root, *message;
    char text[TOCSIN_ERROR_MESSAGE_MAX + 1];
    uint64_t t0;

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/slow", (unsigned)test_target_port(h->target));
    test_target_set_mode(h->target, TEST_TARGET_HANG);
    run_scenario(h, step_one_incident,
                 "  - id: slow\n"
                 "    name: Hanging API\n"
                 "    type: http\n"
                 "    url: %s\n",
                 url);

    assert_int_equal(test_receiver_count(h->receiver), 1);
    fetch(h, 0, &incident);
    assert_request(&incident);
    root = json_loadb(incident.body, incident.body_len, 0, NULL);
    assert_non_null(root);
    message = json_object_get(json_object_get(root, "check_result"), "error_message");
    assert_true(json_is_string(message));
    snprintf(text, sizeof(text), "%s", json_string_value(message));
    json_decref(root);
    /* Which phase the timer caught it in may be added; the duration may not vary. */
    if (strncmp(text, "timed out after 500 ms", 22) != 0)
        fail_msg("error_message \"%s\" does not say it timed out after 500 ms", text);
    /* On timeout response_time_ms is the timeout (DESIGN §4), and there is no status. */
    assert_body(&incident,
                &(struct expect){"slow", "Hanging API", url, "DOWN", text, 0, 3, "UNKNOWN",
                                 "incident"},
                h->wall_start, h->wall_incident, 500, 500);
    test_delivery_free(&incident);

    /* Hung connections must not hold the target (or the next test) hostage. */
    t0 = uv_hrtime();
    test_target_stop(h->target);
    h->target = NULL;
    assert_true(uv_hrtime() - t0 < 2000000000u);
}

/* ---- 6. depends_on and maintenance ------------------------------------------ */

/* Three monitors fail together: a parent, a child that depends on it, and one
 * in a maintenance window around now.  Only the parent may alert. */
static void test_child_and_maintenance_silent(void **state)
{
    struct harness *h = *state;
    uint16_t port = closed_port();
    struct test_delivery incident;
    char start[32], end[32];
    time_t now = time(NULL);
    struct tm tm;
    json_t *root;

    gmtime_r(&(time_t){now - 3600}, &tm);
    strftime(start, sizeof(start), "%Y-%m-%dT%H:%M:%SZ", &tm);
    gmtime_r(&(time_t){now + 3600}, &tm);
    strftime(end, sizeof(end), "%Y-%m-%dT%H:%M:%SZ", &tm);
    run_scenario(h, step_one_incident,
                 "  - {id: parent, type: tcp, host: 127.0.0.1, port: %u, interval: 500ms}\n"
                 "  - {id: child, type: tcp, host: 127.0.0.1, port: %u, interval: 500ms,\n"
                 "     depends_on: [parent]}\n"
                 "  - {id: planned, type: tcp, host: 127.0.0.1, port: %u, interval: 500ms,\n"
                 "     maintenance: [{start: \"%s\", end: \"%s\"}]}\n",
                 (unsigned)port, (unsigned)port, (unsigned)port, start, end);

    /* step_one_incident waited 1.5 s past the first alert: still just one. */
    assert_int_equal(test_receiver_count(h->receiver), 1);
    fetch(h, 0, &incident);
    root = json_loadb(incident.body, incident.body_len, 0, NULL);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(json_object_get(root, "monitor"), "id")),
                        "parent");
    json_decref(root);
    test_delivery_free(&incident);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_http_incident_and_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_closed_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_healthy_never_alerts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receiver_500_then_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hanging_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_child_and_maintenance_silent, setup, teardown),
    };
    int failed;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    ares_library_init(ARES_LIB_INIT_ALL);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    ares_library_cleanup();
    curl_global_cleanup();
    return failed;
}
