/* Acceptance scenarios, checked as a user would see them: the real config
 * loader and the real agent on a real libuv loop (tests/support/agent_harness),
 * a loopback HTTP target and a loopback webhook receiver that verifies every
 * signature with its own OpenSSL code.
 *
 *   a) quorum over three vantage points bound to 127.0.0.1/.2/.3, one failing
 *   b) escalation: level 1 to A, level 2 to A and B, recovery at each one's level
 *   c) repeat of the highest level while DOWN
 *   d) per-webhook events filtering (DESIGN §4: a recovery goes to the webhooks
 *      that were sent the incident and want recoveries)
 *
 * Checks run every 200 ms (the quorum scenario: 500 ms, with a 450 ms timeout,
 * because under valgrind a 150 ms timeout also failed healthy region r1 now and
 * then, which made the quorum-2 monitor's two failing regions real).  Steps (called by the harness tick) never assert;
 * they record and end the run, and the test asserts after uv_loop_close().
 * Only lower bounds are put on times; every wait has a generous deadline. */
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
#include <uv.h>

#include "agent_harness.h"
#include "receiver.h"
#include "target.h"

#define SECRET "tocsin-scenario-secret"
#define DEADLINE_MS 60000u  /* generous: valgrind runs these too */
#define QUIET_MS 1500u      /* "nothing more arrives": 7+ check intervals */
#define VIEWS_MAX 64

/* What one StatusPageOne delivery said, read once when it arrived. */
struct view {
    char path[256];
    char request_id[64];
    uint64_t arrived_ms;     /* CLOCK_MONOTONIC */
    bool sig_ok;             /* both of the receiver's signature checks */
    char monitor_id[80];
    char monitor_status[16];
    char check_status[16];
    char region[64];
    int status_code;         /* 0: null */
    time_t timestamp;        /* check_result.timestamp */
    int consecutive_failures;
    char previous_status[16];
    int level;
    char type[16];           /* notification_type */
};

struct scen;
typedef bool (*scen_step)(struct scen *s);

struct scen {
    uv_loop_t loop;
    bool loop_open;
    char dir[64];
    char path[128];
    struct tocsin_config *config;
    struct test_target *target;
    struct test_target *target2;   /* (a): the quorum-2 monitor's own target */
    struct test_receiver *receiver;
    struct test_agent_run run;
    scen_step step;
    int phase;
    uint64_t wait_until;           /* uv_now() ms */
    char failure[256];
    struct view views[VIEWS_MAX];
    size_t n_views;
    bool rounds_done;              /* (a): 8+ rounds from every address */
};

/* ---- harness -------------------------------------------------------------- */

static int setup(void **state)
{
    struct scen *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return -1;
    *state = s;
    if (test_temp_dir(s->dir, sizeof(s->dir), "tocsin-scen") != 0)
        return -1;
    s->target = test_target_start();
    s->receiver = test_receiver_start(SECRET);
    return s->target && s->receiver ? 0 : -1;
}

static int teardown(void **state)
{
    struct scen *s = *state;

    if (s->loop_open) { /* an assertion failed between init and run */
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
    }
    test_target_stop(s->target);
    test_target_stop(s->target2);
    test_receiver_stop(s->receiver);
    tocsin_config_free(s->config);
    test_remove_dir(s->dir);
    free(s);
    return 0;
}

static bool give_up(struct scen *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool give_up(struct scen *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->failure, sizeof(s->failure), fmt, ap);
    va_end(ap);
    return true;
}

static uint64_t now_ms(struct scen *s)
{
    return uv_now(&s->loop);
}

static const char *jstr(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));

    return v ? v : "";
}

/* Reads delivery I into V.  False (with S->failure set) when it is not a
 * StatusPageOne alert as DESIGN §5 writes it. */
static bool read_view(struct scen *s, size_t i, struct view *v)
{
    struct test_delivery d;
    json_t *root, *monitor, *cr, *ctx, *code;
    bool ok;

    if (test_receiver_get(s->receiver, i, &d) != 0)
        return !give_up(s, "delivery %zu cannot be read", i);
    root = json_loadb(d.body, d.body_len, JSON_REJECT_DUPLICATES, NULL);
    monitor = json_object_get(root, "monitor");
    cr = json_object_get(root, "check_result");
    ctx = json_object_get(root, "context");
    code = json_object_get(cr, "status_code");
    ok = root != NULL && json_is_object(monitor) && json_is_object(cr) && json_is_object(ctx) &&
         json_is_integer(json_object_get(ctx, "consecutive_failures")) &&
         json_is_integer(json_object_get(ctx, "notification_level")) &&
         (json_is_integer(code) || json_is_null(code));
    if (ok) {
        snprintf(v->path, sizeof(v->path), "%s", d.path);
        snprintf(v->request_id, sizeof(v->request_id), "%s", d.request_id);
        v->arrived_ms = d.arrived_ms;
        v->sig_ok = d.sig_ok_raw && d.sig_ok_seed;
        snprintf(v->monitor_id, sizeof(v->monitor_id), "%s", jstr(monitor, "id"));
        snprintf(v->monitor_status, sizeof(v->monitor_status), "%s", jstr(monitor, "status"));
        snprintf(v->check_status, sizeof(v->check_status), "%s", jstr(cr, "status"));
        snprintf(v->region, sizeof(v->region), "%s", jstr(cr, "region"));
        v->status_code = json_is_integer(code) ? (int)json_integer_value(code) : 0;
        v->timestamp = test_parse_rfc3339z(jstr(cr, "timestamp"));
        v->consecutive_failures =
            (int)json_integer_value(json_object_get(ctx, "consecutive_failures"));
        snprintf(v->previous_status, sizeof(v->previous_status), "%s",
                 jstr(ctx, "previous_status"));
        v->level = (int)json_integer_value(json_object_get(ctx, "notification_level"));
        snprintf(v->type, sizeof(v->type), "%s", jstr(ctx, "notification_type"));
    } else {
        give_up(s, "delivery %zu is not a monitor_alert: %.160s", i, d.body);
    }
    json_decref(root);
    test_delivery_free(&d);
    return ok;
}

/* Reads the deliveries that arrived since the last tick.  False on a bad one. */
static bool sync_views(struct scen *s)
{
    size_t n = test_receiver_count(s->receiver);

    if (n > VIEWS_MAX)
        return !give_up(s, "%zu deliveries, more than any scenario here sends", n);
    for (; s->n_views < n; s->n_views++)
        if (!read_view(s, s->n_views, &s->views[s->n_views]))
            return false;
    return true;
}

/* Deliveries to PATH (NULL: any) of TYPE (NULL: any). */
static size_t count(const struct scen *s, const char *path, const char *type)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n_views; i++)
        if ((path == NULL || strcmp(s->views[i].path, path) == 0) &&
            (type == NULL || strcmp(s->views[i].type, type) == 0))
            n++;
    return n;
}

/* The K-th (0-based) delivery to PATH, in arrival order; NULL when absent. */
static const struct view *nth(const struct scen *s, const char *path, size_t k)
{
    for (size_t i = 0; i < s->n_views; i++)
        if (strcmp(s->views[i].path, path) == 0 && k-- == 0)
            return &s->views[i];
    return NULL;
}

static bool tick(void *data)
{
    struct scen *s = data;

    if (!sync_views(s))
        return true;
    return s->step(s);
}

/* A webhook entry at /hooks/NAME on the receiver (EXTRA: more keys, "" none). */
static void hook(char *buf, size_t size, const char *name, unsigned port, const char *extra)
{
    snprintf(buf, size,
             "  - name: %s\n"
             "    url: http://127.0.0.1:%u/hooks/%s\n"
             "    format: statuspageone\n"
             "    secret: " SECRET "\n"
             "    retry_backoff: 200ms\n"
             "%s",
             name, port, name, extra);
}

/* Writes the config (the agent section here, BODY the rest), loads it with the
 * real loader, runs the agent until STEP ends the scenario, checks the loop
 * closed and fails the test with what a step recorded. */
static void run_scenario(struct scen *s, scen_step step, const char *body_fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void run_scenario(struct scen *s, scen_step step, const char *body_fmt, ...)
{
    char body[4096];
    va_list ap;
    int n;

    va_start(ap, body_fmt);
    n = vsnprintf(body, sizeof(body), body_fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(body));
    snprintf(s->path, sizeof(s->path), "%s/tocsin.yaml", s->dir);
    assert_int_equal(test_write_file(s->path,
                                     "agent:\n"
                                     "  region: scen-local\n"
                                     "  state_dir: %s\n"
                                     "  listen: \"\"\n"
                                     "  log_level: warn\n"
                                     "%s",
                                     s->dir, body),
                     0);
    assert_int_equal(test_load_config(s->path, &s->config), 0);

    assert_int_equal(uv_loop_init(&s->loop), 0);
    s->loop_open = true;
    s->step = step;
    s->run = (struct test_agent_run){
        .loop = &s->loop,
        .config = s->config,
        .step = tick,
        .data = s,
        .deadline_ms = DEADLINE_MS,
    };
    assert_int_equal(test_agent_run(&s->run), 0);
    s->loop_open = false;
    assert_int_equal(uv_loop_close(&s->loop), 0);
    assert_true(s->run.agent_stopped);
    if (s->failure[0] == '\0' && s->run.deadline_passed)
        snprintf(s->failure, sizeof(s->failure),
                 "deadline of %u ms passed in phase %d (%zu deliveries, %u target hits)",
                 DEADLINE_MS, s->phase, s->n_views, test_target_hits(s->target));
    if (s->failure[0] != '\0')
        fail_msg("%s", s->failure);
}

/* Every delivery: signed right, its own request id (repeats too). */
static void assert_all_signed_and_distinct(const struct scen *s)
{
    for (size_t i = 0; i < s->n_views; i++) {
        if (!s->views[i].sig_ok)
            fail_msg("delivery %zu to %s: signature not accepted", i, s->views[i].path);
        assert_int_equal(strlen(s->views[i].request_id), 36);
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->views[i].request_id, s->views[j].request_id) == 0)
                fail_msg("deliveries %zu and %zu share X-Request-ID %s", j, i,
                         s->views[i].request_id);
    }
}

static void assert_alert(const struct view *v, const char *monitor, const char *type, int level,
                         const char *previous_status)
{
    assert_non_null(v);
    assert_string_equal(v->monitor_id, monitor);
    assert_string_equal(v->type, type);
    assert_int_equal(v->level, level);
    assert_string_equal(v->previous_status, previous_status);
    assert_true(v->timestamp > 0);
    if (strcmp(type, "incident") == 0) {
        assert_string_equal(v->monitor_status, "DOWN");
        assert_string_equal(v->check_status, "DOWN");
        assert_int_equal(v->status_code, 503);
    } else {
        assert_string_equal(v->monitor_status, "UP");
        assert_string_equal(v->check_status, "UP");
        assert_int_equal(v->status_code, 200);
    }
}

/* ---- a) quorum over three vantage points ---------------------------------- */

static const char *const region_ips[3] = {"127.0.0.1", "127.0.0.2", "127.0.0.3"};

/* True when a socket can be bound to IP (all of 127/8 is loopback on Linux). */
static bool can_bind(const char *ip)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok;

    if (fd < 0)
        return false;
    ok = inet_pton(AF_INET, ip, &addr.sin_addr) == 1 &&
         bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
    close(fd);
    return ok;
}

#define QUORUM_ROUNDS 8u

static bool step_quorum(struct scen *s)
{
    bool rounds = true;

    /* The quorum-2 monitor must never alert. */
    for (size_t i = 0; i < s->n_views; i++)
        if (strcmp(s->views[i].monitor_id, "q2") == 0)
            return give_up(s, "the quorum-2 monitor alerted (%s, level %d, region %s)",
                           s->views[i].type, s->views[i].level, s->views[i].region);
    if (count(s, NULL, NULL) > 1)
        return give_up(s, "%zu alerts where the quorum-1 monitor's one incident was due",
                       s->n_views);
    for (size_t i = 0; i < 3; i++)
        rounds = rounds && test_target_hits_from(s->target2, region_ips[i]) >= QUORUM_ROUNDS;
    switch (s->phase) {
    case 0: /* the quorum-1 incident, and 8+ rounds of the quorum-2 monitor */
        if (count(s, NULL, NULL) == 0 || !rounds)
            return false;
        s->rounds_done = true;
        s->wait_until = now_ms(s) + QUIET_MS;
        s->phase = 1;
        return false;
    default: /* then a quiet while: still one alert, none from q2 */
        return now_ms(s) >= s->wait_until;
    }
}

static void test_quorum_three_regions(void **state)
{
    struct scen *s = *state;
    char hooks[512];
    unsigned seen[3], seen2[3];
    const struct view *v;

    for (size_t i = 1; i < 3; i++)
        if (!can_bind(region_ips[i])) {
            print_message("cannot bind %s on this host: skipping the three-region test\n",
                          region_ips[i]);
            skip();
        }
    s->target2 = test_target_start();
    assert_non_null(s->target2);
    /* Only the vantage point 127.0.0.2 (region r2) sees the target fail. */
    assert_int_equal(test_target_fail_from(s->target, "127.0.0.2", 503), 0);
    assert_int_equal(test_target_fail_from(s->target2, "127.0.0.2", 503), 0);
    hook(hooks, sizeof(hooks), "ops", test_receiver_port(s->receiver), "");
    run_scenario(s, step_quorum,
                 "regions:\n"
                 "  - {name: r1, source_address: 127.0.0.1}\n"
                 "  - {name: r2, source_address: 127.0.0.2}\n"
                 "  - {name: r3, source_address: 127.0.0.3}\n"
                 "webhooks:\n%s"
                 "policies:\n"
                 "  default:\n"
                 "    failure_threshold: 2\n"
                 "    levels: [{level: 1, after: 2, notify: [ops]}]\n"
                 "defaults: {interval: 500ms, timeout: 450ms, regions: [r1, r2, r3]}\n"
                 "monitors:\n"
                 "  - {id: q1, type: http, url: \"http://127.0.0.1:%u/q1\", quorum: 1}\n"
                 "  - {id: q2, type: http, url: \"http://127.0.0.1:%u/q2\", quorum: 2}\n",
                 hooks, (unsigned)test_target_port(s->target),
                 (unsigned)test_target_port(s->target2));

    /* Both monitors were checked from every vantage point, the quorum-2 one at
     * least 8 rounds (so it saw r2 fail 8 times in a row, far over the threshold). */
    assert_true(s->rounds_done);
    for (size_t i = 0; i < 3; i++) {
        seen[i] = test_target_hits_from(s->target, region_ips[i]);
        seen2[i] = test_target_hits_from(s->target2, region_ips[i]);
        print_message("%s: q1 %u checks, q2 %u checks\n", region_ips[i], seen[i], seen2[i]);
        assert_true(seen[i] >= 2);
        assert_true(seen2[i] >= QUORUM_ROUNDS);
    }
    /* The quorum-1 monitor alerted once, naming the failing region. */
    assert_int_equal(s->n_views, 1);
    assert_all_signed_and_distinct(s);
    v = &s->views[0];
    assert_string_equal(v->path, "/hooks/ops");
    assert_alert(v, "q1", "incident", 1, "UNKNOWN");
    assert_string_equal(v->region, "r2");
    assert_true(v->consecutive_failures >= 2);
}

/* ---- b) escalation to A, then A and B; recovery at each one's level ------- */

static bool step_escalation(struct scen *s)
{
    size_t a = count(s, "/hooks/A", NULL), b = count(s, "/hooks/B", NULL);

    switch (s->phase) {
    case 0: /* UP first, so the incident's previous_status is UP */
        if (s->n_views != 0)
            return give_up(s, "a delivery before any failure");
        if (test_target_hits(s->target) < 2)
            return false;
        test_target_set_status(s->target, 503);
        s->phase = 1;
        return false;
    case 1: /* level 1 (A), then level 2 (A and B) */
        if (a > 2 || b > 1)
            return give_up(s, "%zu deliveries to A and %zu to B while DOWN", a, b);
        if (a < 2 || b < 1)
            return false;
        /* a few more failures: no level fires twice in one incident */
        s->wait_until = now_ms(s) + QUIET_MS;
        s->phase = 2;
        return false;
    case 2:
        if (a > 2 || b > 1)
            return give_up(s, "%zu deliveries to A and %zu to B while DOWN", a, b);
        if (now_ms(s) < s->wait_until)
            return false;
        test_target_set_status(s->target, 200);
        s->phase = 3;
        return false;
    case 3: /* one recovery each */
        if (a < 3 || b < 2)
            return false;
        s->wait_until = now_ms(s) + QUIET_MS;
        s->phase = 4;
        return false;
    default: /* nothing more arrives */
        if (a > 3 || b > 2)
            return give_up(s, "%zu deliveries to A and %zu to B after the recovery", a, b);
        return now_ms(s) >= s->wait_until;
    }
}

static void test_escalation_levels(void **state)
{
    struct scen *s = *state;
    char a[512], b[512];
    unsigned port = test_receiver_port(s->receiver);
    const struct view *v;

    hook(a, sizeof(a), "A", port, "");
    hook(b, sizeof(b), "B", port, "");
    run_scenario(s, step_escalation,
                 "webhooks:\n%s%s"
                 "policies:\n"
                 "  esc:\n"
                 "    failure_threshold: 2\n"
                 "    levels:\n"
                 "      - {level: 1, after: 2, notify: [A]}\n"
                 "      - {level: 2, after: 4, notify: [A, B]}\n"
                 "defaults: {interval: 200ms, timeout: 150ms, policy: esc}\n"
                 "monitors:\n"
                 "  - {id: api, type: http, url: \"http://127.0.0.1:%u/health\"}\n",
                 a, b, (unsigned)test_target_port(s->target));

    assert_int_equal(count(s, "/hooks/A", NULL), 3);
    assert_int_equal(count(s, "/hooks/B", NULL), 2);
    assert_int_equal(s->n_views, 5);
    assert_all_signed_and_distinct(s);
    /* A: level 1 at the 2nd failure, level 2 at the 4th, recovery at level 2. */
    v = nth(s, "/hooks/A", 0);
    assert_alert(v, "api", "incident", 1, "UP");
    assert_int_equal(v->consecutive_failures, 2);
    v = nth(s, "/hooks/A", 1);
    assert_alert(v, "api", "incident", 2, "UP");
    assert_int_equal(v->consecutive_failures, 4);
    assert_alert(nth(s, "/hooks/A", 2), "api", "recovery", 2, "DOWN");
    /* B: only level 2, and its recovery at level 2. */
    v = nth(s, "/hooks/B", 0);
    assert_alert(v, "api", "incident", 2, "UP");
    assert_int_equal(v->consecutive_failures, 4);
    assert_alert(nth(s, "/hooks/B", 1), "api", "recovery", 2, "DOWN");
    /* Both recoveries are the same check; it comes after the level-2 check. */
    assert_int_equal(nth(s, "/hooks/A", 2)->timestamp, nth(s, "/hooks/B", 1)->timestamp);
    assert_true(nth(s, "/hooks/A", 2)->timestamp >= nth(s, "/hooks/A", 1)->timestamp);
    assert_true(nth(s, "/hooks/A", 1)->timestamp >= nth(s, "/hooks/A", 0)->timestamp);
}

/* ---- c) repeat of the highest level while DOWN ----------------------------- */

#define REPEATS 3u

static bool step_repeat(struct scen *s)
{
    size_t incidents = count(s, "/hooks/A", "incident");
    size_t recoveries = count(s, "/hooks/A", "recovery");

    switch (s->phase) {
    case 0: /* level 1, level 2, then REPEATS repeats of level 2 */
        if (incidents < 2 + REPEATS)
            return false;
        test_target_set_status(s->target, 200);
        s->phase = 1;
        return false;
    case 1:
        if (recoveries == 0)
            return false;
        s->wait_until = now_ms(s) + 2500; /* past another repeat period */
        s->phase = 2;
        return false;
    default: /* no repeat after the recovery */
        if (recoveries > 1 || strcmp(s->views[s->n_views - 1].type, "recovery") != 0)
            return give_up(s, "after the recovery: %s at level %d",
                           s->views[s->n_views - 1].type, s->views[s->n_views - 1].level);
        return now_ms(s) >= s->wait_until;
    }
}

static void test_repeat_highest_level(void **state)
{
    struct scen *s = *state;
    char a[512];
    size_t n;

    hook(a, sizeof(a), "A", test_receiver_port(s->receiver), "");
    test_target_set_status(s->target, 503);
    run_scenario(s, step_repeat,
                 "webhooks:\n%s"
                 "policies:\n"
                 "  rep:\n"
                 "    failure_threshold: 2\n"
                 "    levels:\n"
                 "      - {level: 1, after: 2, notify: [A]}\n"
                 "      - {level: 2, after: 3, notify: [A], repeat: 2s}\n"
                 "defaults: {interval: 200ms, timeout: 150ms, policy: rep}\n"
                 "monitors:\n"
                 "  - {id: api, type: http, url: \"http://127.0.0.1:%u/health\"}\n",
                 a, (unsigned)test_target_port(s->target));

    n = s->n_views;
    assert_true(n >= 2 + REPEATS + 1);
    assert_all_signed_and_distinct(s);
    assert_alert(&s->views[0], "api", "incident", 1, "UNKNOWN");
    assert_int_equal(s->views[0].consecutive_failures, 2);
    assert_alert(&s->views[1], "api", "incident", 2, "UNKNOWN");
    assert_int_equal(s->views[1].consecutive_failures, 3);
    /* Every later incident is a repeat of level 2, in the same incident (the
     * failures go on counting), no sooner than the period on the checks' clock. */
    for (size_t i = 2; i < n - 1; i++) {
        const struct view *prev = &s->views[i - 1], *v = &s->views[i];
        print_message("repeat %zu: %d failures, %lld s after the last on the checks' clock, "
                      "received %llu ms after it\n",
                      i - 1, v->consecutive_failures, (long long)(v->timestamp - prev->timestamp),
                      (unsigned long long)(v->arrived_ms - prev->arrived_ms));
        assert_alert(v, "api", "incident", 2, "UNKNOWN");
        assert_true(v->consecutive_failures > prev->consecutive_failures);
        assert_true(v->timestamp - prev->timestamp >= 2);
        /* A sanity bound on the receiver's clock, 500 ms under the 2 s period
         * (a lower bound only: both sends take the same path, so a slow run
         * delays them alike).  Measured on whole-second check timestamps, a
         * period could end up to 1 s early and trip it. */
        if (v->arrived_ms - prev->arrived_ms < 1500)
            fail_msg("repeat %zu (at %d failures) arrived %llu ms after the previous level-2 "
                     "alert (at %d failures) with repeat: 2s", i - 1, v->consecutive_failures,
                     (unsigned long long)(v->arrived_ms - prev->arrived_ms),
                     prev->consecutive_failures);
    }
    /* The recovery ends the repeats, at the highest level sent. */
    assert_alert(&s->views[n - 1], "api", "recovery", 2, "DOWN");
    assert_int_equal(count(s, NULL, "recovery"), 1);
}

/* ---- d) per-webhook events ------------------------------------------------- */

static bool step_events(struct scen *s)
{
    switch (s->phase) {
    case 0: /* the incident reaches the webhooks that want incidents */
        if (count(s, "/hooks/both", "incident") == 0 || count(s, "/hooks/inc", "incident") == 0)
            return false;
        test_target_set_status(s->target, 200);
        s->phase = 1;
        return false;
    case 1: /* the recovery reaches "both" */
        if (count(s, "/hooks/both", "recovery") == 0)
            return false;
        s->wait_until = now_ms(s) + QUIET_MS;
        s->phase = 2;
        return false;
    default: /* and nothing reaches "inc" or "rec" meanwhile */
        return now_ms(s) >= s->wait_until;
    }
}

static void test_events_filter(void **state)
{
    struct scen *s = *state;
    char inc[512], rec[512], both[512];
    unsigned port = test_receiver_port(s->receiver);

    hook(inc, sizeof(inc), "inc", port, "    events: [incident]\n");
    hook(rec, sizeof(rec), "rec", port, "    events: [recovery]\n");
    hook(both, sizeof(both), "both", port, "");
    test_target_set_status(s->target, 503);
    run_scenario(s, step_events,
                 "webhooks:\n%s%s%s"
                 "policies:\n"
                 "  default:\n"
                 "    failure_threshold: 2\n"
                 "    levels: [{level: 1, after: 2, notify: [inc, rec, both]}]\n"
                 "defaults: {interval: 200ms, timeout: 150ms}\n"
                 "monitors:\n"
                 "  - {id: api, type: http, url: \"http://127.0.0.1:%u/health\"}\n",
                 inc, rec, both, (unsigned)test_target_port(s->target));

    assert_all_signed_and_distinct(s);
    /* The control: a webhook with both events gets the incident and the recovery. */
    assert_int_equal(count(s, "/hooks/both", NULL), 2);
    assert_alert(nth(s, "/hooks/both", 0), "api", "incident", 1, "UNKNOWN");
    assert_alert(nth(s, "/hooks/both", 1), "api", "recovery", 1, "DOWN");
    /* events: [incident] gets the incident and never the recovery. */
    assert_int_equal(count(s, "/hooks/inc", NULL), 1);
    assert_alert(nth(s, "/hooks/inc", 0), "api", "incident", 1, "UNKNOWN");
    /* events: [recovery] is never sent the incident, and DESIGN §4 sends a
     * recovery only to "every webhook that was sent the incident and wants
     * recoveries": so it gets nothing at all, not even the recovery (observed
     * the same way; the config loader accepts such a webhook in a level's
     * notify list without a word). */
    assert_int_equal(count(s, "/hooks/rec", NULL), 0);
    assert_int_equal(s->n_views, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_quorum_three_regions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escalation_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeat_highest_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_filter, setup, teardown),
    };
    int failed;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    ares_library_init(ARES_LIB_INIT_ALL);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    ares_library_cleanup();
    curl_global_cleanup();
    return failed;
}
