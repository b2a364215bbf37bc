/* The prober guard (DESIGN §4, docs/decisions.md "Prober guard") end to end in
 * the real agent: two vantage points, r1 bound to 127.0.0.1 and r2 bound to
 * 127.0.0.2, against loopback targets that fail every request coming from
 * 127.0.0.2 only (test_target_fail_from), as if r2 had lost its network.
 *
 *   a) canaries: agent.canaries [gw]; r2 turns degraded as soon as gw's r2
 *      check fails, the quorum-1 monitor `api` (failure_threshold 2) never
 *      alerts, /metrics and /healthz say r2 is degraded, and r2 recovers once
 *      the failure is cleared;
 *   b) hosts: 10 targets on 127.0.0.10 ... 127.0.0.19 (and a quorum-1 monitor
 *      `q` on 127.0.0.1), every one failing from r2 only; r2 turns degraded by
 *      the hosts rule and nothing alerts.
 *
 * The real config loader and agent run on their own libuv loop in a second
 * thread (as in test_api.c); this thread asks the agent's HTTP API with
 * libcurl and watches the loopback target and webhook receiver.  Every wait is
 * a bounded poll with a generous deadline; only lower bounds are put on
 * counts, and nothing fails on slowness. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

#define SECRET "guard-agent-secret"
#define WAIT_MS 60000u  /* generous: valgrind runs this too */
#define POLL_MS 20u
#define ROUNDS 10u      /* check rounds from each region with nothing alerting */
#define N_HOSTS 10

#define R1_IP "127.0.0.1"
#define R2_IP "127.0.0.2"

#define DEGRADED_R1_0 "tocsin_region_degraded{region=\"r1\"} 0\n"
#define DEGRADED_R2_0 "tocsin_region_degraded{region=\"r2\"} 0\n"
#define DEGRADED_R2_1 "tocsin_region_degraded{region=\"r2\"} 1\n"
#define NO_INCIDENTS "tocsin_alerts_total{event=\"incident\"} 0\n"

struct fixture {
    char dir[64];
    char config_path[128];
    struct test_target *api;            /* `api` (a) or `q` (b), on 127.0.0.1 */
    struct test_target *gw;             /* (a): the canary's own target, on 127.0.0.1 */
    struct test_target *hosts[N_HOSTS]; /* (b): one target per host 127.0.0.1N */
    struct test_receiver *hook;
    struct test_agent_thread at;        /* the agent, on its own thread */
    struct test_http_answer ans;                  /* the last answer the tests look at */
    struct test_http_answer scratch;              /* the helpers' own */
};

/* ---- the agent on its own thread ------------------------------------------ */

/* Writes the config (the agent section here with EXTRA_AGENT appended, BODY
 * the rest), loads it with the real loader and starts the agent's thread. */
static void start_agent(struct fixture *f, const char *extra_agent, const char *body_fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void start_agent(struct fixture *f, const char *extra_agent, const char *body_fmt, ...)
{
    char body[4096];
    va_list ap;
    int n;

    va_start(ap, body_fmt);
    n = vsnprintf(body, sizeof(body), body_fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(body));
    snprintf(f->config_path, sizeof(f->config_path), "%s/tocsin.yaml", f->dir);
    assert_int_equal(test_write_file(f->config_path,
                                     "agent:\n"
                                     "  region: guard-test\n"
                                     "  state_dir: %s/state\n"
                                     "  listen: \"127.0.0.1:0\"\n"
                                     "  log_level: info\n"
                                     "%s"
                                     "regions:\n"
                                     "  - {name: r1, source_address: " R1_IP "}\n"
                                     "  - {name: r2, source_address: " R2_IP "}\n"
                                     "webhooks:\n"
                                     "  - {name: hook, url: \"http://127.0.0.1:%u/hook\", "
                                     "secret: " SECRET ", retry_backoff: 200ms}\n"
                                     "%s",
                                     f->dir, extra_agent, (unsigned)test_receiver_port(f->hook),
                                     body),
                     0);
    assert_int_equal(test_agent_thread_start(&f->at, f->config_path), 0);
    assert_true(f->at.port > 0);
}

static void stop_agent(struct fixture *f)
{
    assert_int_equal(test_agent_thread_stop(&f->at), 0);
}

/* ---- HTTP, as a client -------------------------------------------------------- */

/* GET PATH from the agent into A (status -1 when the request failed). */
static void get(struct fixture *f, const char *path, struct test_http_answer *a)
{
    test_agent_http(&f->at, "GET", path, a);
}

/* ---- waiting --------------------------------------------------------------------- */

/* Nothing may alert in these scenarios: not one webhook request. */
static void assert_no_alert(struct fixture *f, const char *when)
{
    size_t n = test_receiver_count(f->hook);

    if (n > 0) {
        struct test_delivery d;
        if (test_receiver_get(f->hook, 0, &d) == 0) {
            print_message("first webhook request: %.400s\n", d.body);
            test_delivery_free(&d);
        }
        fail_msg("%zu webhook request(s) %s; the guard should have kept every monitor silent", n,
                 when);
    }
}

/* True when the agent's /metrics holds every one of the NULL-ended needles. */
static bool metrics_have(struct fixture *f, struct test_http_answer *a, const char *const *needles)
{
    get(f, "/metrics", a);
    if (a->status != 200)
        return false;
    for (size_t i = 0; needles[i] != NULL; i++)
        if (strstr(a->body, needles[i]) == NULL)
            return false;
    return true;
}

/* Polls /metrics until it holds every needle; no webhook may arrive meanwhile. */
static void wait_metrics(struct fixture *f, const char *const *needles)
{
    struct test_http_answer *a = &f->scratch;
    uint64_t deadline = test_monotonic_ms() + WAIT_MS;
    bool ok;

    while (!(ok = metrics_have(f, a, needles)) && test_monotonic_ms() < deadline) {
        assert_no_alert(f, "while waiting on /metrics");
        usleep(POLL_MS * 1000);
    }
    if (!ok) {
        for (size_t i = 0; needles[i] != NULL; i++)
            print_message("wanted in /metrics: %s", needles[i]);
        print_message("last /metrics (%ld):\n%s\n", a->status, a->body);
    }
    assert_true(ok);
    assert_no_alert(f, "while waiting on /metrics");
}

/* Polls /healthz until it answers STATUS with a body starting with PREFIX. */
static void wait_healthz(struct fixture *f, long status, const char *prefix, struct test_http_answer *a)
{
    uint64_t deadline = test_monotonic_ms() + WAIT_MS;
    bool ok;

    for (;;) {
        get(f, "/healthz", a);
        ok = a->status == status && strncmp(a->body, prefix, strlen(prefix)) == 0;
        if (ok || test_monotonic_ms() >= deadline)
            break;
        assert_no_alert(f, "while waiting on /healthz");
        usleep(POLL_MS * 1000);
    }
    if (!ok)
        print_message("last /healthz: %ld %s\n", a->status, a->body);
    assert_true(ok);
}

/* Waits until each of the N targets has seen at least WANT[i] requests from
 * both R1_IP and R2_IP, failing at once when a webhook arrives meanwhile. */
static void wait_rounds(struct fixture *f, struct test_target *const *targets, size_t n,
                        const unsigned *want1, const unsigned *want2)
{
    uint64_t deadline = test_monotonic_ms() + WAIT_MS;
    bool done = false;

    while (!done && test_monotonic_ms() < deadline) {
        assert_no_alert(f, "during the check rounds");
        done = true;
        for (size_t i = 0; i < n; i++)
            done = done && test_target_hits_from(targets[i], R1_IP) >= want1[i] &&
                   test_target_hits_from(targets[i], R2_IP) >= want2[i];
        if (!done)
            usleep(POLL_MS * 1000);
    }
    for (size_t i = 0; i < n && !done; i++)
        print_message("target %zu: %u checks from r1 (want %u), %u from r2 (want %u)\n", i,
                      test_target_hits_from(targets[i], R1_IP), want1[i],
                      test_target_hits_from(targets[i], R2_IP), want2[i]);
    assert_true(done);
    assert_no_alert(f, "during the check rounds");
}

/* Waits for the next request from FROM to T (at most WAIT_MS). */
static void wait_next_hit(struct test_target *t, const char *from)
{
    uint64_t deadline = test_monotonic_ms() + WAIT_MS;
    unsigned seen = test_target_hits_from(t, from);

    while (test_target_hits_from(t, from) == seen && test_monotonic_ms() < deadline)
        usleep(1000);
    assert_true(test_target_hits_from(t, from) > seen);
}

/* Whether /api/v1/monitors/ID (in A) says STATUS, consecutive_failures 0,
 * each region degraded as wanted, r1's counter 0 and r2's below the
 * threshold 2 (frozen there while degraded). */
static bool monitor_is(struct fixture *f, struct test_http_answer *a, const char *id, const char *status,
                       bool r1_degraded, bool r2_degraded)
{
    char path[96];
    const char *got;
    json_t *mon, *regions, *r;
    size_t i;
    bool ok;

    snprintf(path, sizeof(path), "/api/v1/monitors/%s", id);
    get(f, path, a);
    if (a->status != 200 || (mon = json_loads(a->body, 0, NULL)) == NULL)
        return false;
    got = json_string_value(json_object_get(mon, "status"));
    regions = json_object_get(mon, "regions");
    ok = got != NULL && strcmp(got, status) == 0 &&
         json_is_integer(json_object_get(mon, "consecutive_failures")) &&
         json_integer_value(json_object_get(mon, "consecutive_failures")) == 0 &&
         json_array_size(regions) == 2;
    json_array_foreach (regions, i, r) {
        const char *name = json_string_value(json_object_get(r, "name"));
        bool r1 = name != NULL && strcmp(name, "r1") == 0;
        json_int_t failures = json_integer_value(json_object_get(r, "consecutive_failures"));
        ok = ok && name != NULL && json_is_boolean(json_object_get(r, "degraded")) &&
             json_is_true(json_object_get(r, "degraded")) == (r1 ? r1_degraded : r2_degraded) &&
             failures < (r1 ? 1 : 2);
    }
    json_decref(mon);
    return ok;
}

/* Polls until monitor_is(); transient states under a slow run are waited out. */
static void wait_monitor(struct fixture *f, const char *id, const char *status, bool r1_degraded,
                         bool r2_degraded)
{
    struct test_http_answer *a = &f->scratch;
    uint64_t deadline = test_monotonic_ms() + WAIT_MS;
    bool ok;

    while (!(ok = monitor_is(f, a, id, status, r1_degraded, r2_degraded)) &&
           test_monotonic_ms() < deadline) {
        assert_no_alert(f, "while waiting on a monitor's state");
        usleep(POLL_MS * 1000);
    }
    if (!ok)
        print_message("monitor %s, wanted %s (r1 degraded %d, r2 degraded %d); last answer: "
                      "%ld %s\n",
                      id, status, r1_degraded, r2_degraded, a->status, a->body);
    assert_true(ok);
    assert_no_alert(f, "while waiting on a monitor's state");
}

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

/* ---- fixture ---------------------------------------------------------------------- */

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    *state = f;
    if (test_temp_dir(f->dir, sizeof(f->dir), "tocsin-guard") != 0)
        return -1;
    f->hook = test_receiver_start(SECRET);
    return f->hook ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    test_agent_thread_stop(&f->at); /* an assertion failed while the agent ran */
    tocsin_config_free(f->at.config);
    test_target_stop(f->api);
    test_target_stop(f->gw);
    for (size_t i = 0; i < N_HOSTS; i++)
        test_target_stop(f->hosts[i]);
    test_receiver_stop(f->hook);
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

/* ---- a) canaries -------------------------------------------------------------------- */

/* `api` is checked every 200 ms; the first run of each (monitor, region) is
 * spread over its interval by a hash of (id, region): api from r2 is first due
 * at 69 ms, then at 269 ms, and reaches failure_threshold 2 with that second
 * check.  With the canary on the same 200 ms interval, gw from r2 would be
 * first due at 153 ms: 116 ms ahead of api's second r2 check, less the time
 * the canary's check takes (up to its timeout).  Under valgrind the first
 * checks take 100-180 ms and one canary check was seen timing out after 150
 * ms, with api's second r2 check only ~30 ms behind: a race the agent can
 * lose.  So the canary runs as docs/decisions.md recommends ("Canaries with a
 * short interval are the fast path"): every 100 ms with a 100 ms timeout, first
 * due from r2 at 53 ms and decided by ~153 ms at the latest, more than 100 ms
 * before api's second r2 check is even due.  api's first r2 failure (69 ms)
 * may still land first: its r2 counter then freezes at 1. */
static void test_canary_degrades_region(void **state)
{
    struct fixture *f = *state;
    struct test_target *api_only[1];
    struct test_http_answer *a = &f->ans;
    unsigned want1[1], want2[1];
    unsigned gw1, gw2;

    if (!can_bind(R2_IP)) {
        print_message("cannot bind " R2_IP " on this host: skipping\n");
        skip();
    }
    f->api = test_target_start();
    f->gw = test_target_start();
    assert_non_null(f->api);
    assert_non_null(f->gw);
    api_only[0] = f->api;
    /* r2 lost its network: everything it asks fails. */
    assert_int_equal(test_target_fail_from(f->api, R2_IP, 503), 0);
    assert_int_equal(test_target_fail_from(f->gw, R2_IP, 503), 0);
    start_agent(f, "  canaries: [gw]\n",
                "policies:\n"
                "  default:\n"
                "    failure_threshold: 2\n"
                "    levels: [{level: 1, after: 2, notify: [hook]}]\n"
                "defaults: {interval: 200ms, timeout: 150ms, regions: [r1, r2], quorum: 1}\n"
                "monitors:\n"
                "  - {id: gw, type: http, url: \"http://127.0.0.1:%u/gw\", interval: 100ms, "
                "timeout: 100ms}\n"
                "  - {id: api, type: http, url: \"http://127.0.0.1:%u/api\"}\n",
                (unsigned)test_target_port(f->gw), (unsigned)test_target_port(f->api));

    /* r2 is degraded by the canary, r1 is not. */
    wait_metrics(f, (const char *const[]){DEGRADED_R2_1, DEGRADED_R1_0, NULL});
    wait_healthz(f, 503, "region r2 degraded (canaries)", a);
    print_message("/healthz while r2 is cut off: %s", a->body);
    assert_null(strstr(a->body, "region r1"));

    /* 10+ more rounds of api from each region: not one alert, r2 stays degraded. */
    want1[0] = test_target_hits_from(f->api, R1_IP) + ROUNDS;
    want2[0] = test_target_hits_from(f->api, R2_IP) + ROUNDS;
    wait_rounds(f, api_only, 1, want1, want2);
    wait_metrics(f, (const char *const[]){DEGRADED_R2_1, DEGRADED_R1_0, NO_INCIDENTS, NULL});
    /* api is UP on r1 alone (the quorum counts the region left); gw too. */
    wait_healthz(f, 503, "region r2 degraded (canaries)", a);
    wait_monitor(f, "api", "UP", false, true);
    wait_monitor(f, "gw", "UP", false, true);
    assert_no_alert(f, "while r2 was degraded");

    /* The network of r2 comes back.  Cleared just after a canary r2 check went
     * out (gw from r2 at 53 + 100k ms, api from r2 at 69 + 200k ms), so the
     * canary's next r2 check, the one that ends the degradation, comes ~100 ms
     * after the clear, and no 503 answered to api before the clear is still in
     * flight then.  Such a straggler would count once r2 is active again, on
     * top of api's frozen r2 counter: a gap of the agent (a check begun while
     * the region was cut off, ending after it recovered, is not discarded),
     * reported, not tested here. */
    wait_next_hit(f->gw, R2_IP);
    assert_int_equal(test_target_fail_from(f->gw, NULL, 0), 0);
    assert_int_equal(test_target_fail_from(f->api, NULL, 0), 0);
    wait_metrics(f, (const char *const[]){DEGRADED_R2_0, DEGRADED_R1_0, NULL});
    wait_healthz(f, 200, "ok\n", a);
    assert_string_equal(a->body, "ok\n");

    /* A few more rounds: still nothing alerts, r2 stays recovered. */
    want1[0] = test_target_hits_from(f->api, R1_IP) + 5;
    want2[0] = test_target_hits_from(f->api, R2_IP) + 5;
    wait_rounds(f, api_only, 1, want1, want2);
    wait_metrics(f, (const char *const[]){DEGRADED_R2_0, DEGRADED_R1_0, NO_INCIDENTS, NULL});
    wait_monitor(f, "api", "UP", false, false);
    gw1 = test_target_hits_from(f->gw, R1_IP);
    gw2 = test_target_hits_from(f->gw, R2_IP);
    print_message("checks: api r1 %u r2 %u, gw r1 %u r2 %u\n",
                  test_target_hits_from(f->api, R1_IP), test_target_hits_from(f->api, R2_IP),
                  gw1, gw2);
    assert_true(gw2 >= ROUNDS);
    stop_agent(f);
    assert_int_equal(test_receiver_count(f->hook), 0);
}

/* ---- b) hosts ------------------------------------------------------------------------- */

/* Eleven hosts (127.0.0.10 ... 127.0.0.19 and 127.0.0.1), all failing from r2
 * only.  The hosts rule sees it once 10 of them were checked from r2: within
 * the first interval (200 ms, plus the check's time).  failure_threshold 5
 * leaves every monitor at least three more intervals, the known limit of
 * docs/decisions.md ("Timing, a known limit") kept out of the way. */
static void test_hosts_degrade_region(void **state)
{
    struct fixture *f = *state;
    struct test_target *all[N_HOSTS + 1];
    struct test_http_answer *a = &f->ans;
    unsigned want1[N_HOSTS + 1], want2[N_HOSTS + 1];
    char ips[N_HOSTS][16], monitors[2048];
    size_t len = 0;
    unsigned failing = 0, counted = 0;

    for (size_t i = 0; i < N_HOSTS; i++)
        snprintf(ips[i], sizeof(ips[i]), "127.0.0.%zu", 10 + i);
    if (!can_bind(R2_IP)) {
        print_message("cannot bind " R2_IP " on this host: skipping\n");
        skip();
    }
    for (size_t i = 0; i < N_HOSTS; i++)
        if (!can_bind(ips[i])) {
            print_message("cannot bind %s on this host: skipping\n", ips[i]);
            skip();
        }
    f->api = test_target_start();
    assert_non_null(f->api);
    assert_int_equal(test_target_fail_from(f->api, R2_IP, 503), 0);
    for (size_t i = 0; i < N_HOSTS; i++) {
        struct test_target_opts opts = {.bind_address = ips[i]};
        int n;
        f->hosts[i] = test_target_start_opts(&opts);
        assert_non_null(f->hosts[i]);
        assert_int_equal(test_target_fail_from(f->hosts[i], R2_IP, 503), 0);
        all[i] = f->hosts[i];
        n = snprintf(monitors + len, sizeof(monitors) - len,
                     "  - {id: h%zu, type: http, url: \"http://%s:%u/h%zu\"}\n", i, ips[i],
                     (unsigned)test_target_port(f->hosts[i]), i);
        assert_true(n > 0 && (size_t)n < sizeof(monitors) - len);
        len += (size_t)n;
    }
    all[N_HOSTS] = f->api;
    start_agent(f, "",
                "policies:\n"
                "  default:\n"
                "    failure_threshold: 5\n"
                "    levels: [{level: 1, after: 5, notify: [hook]}]\n"
                "defaults: {interval: 200ms, timeout: 150ms, regions: [r1, r2], quorum: 1}\n"
                "monitors:\n"
                "%s"
                "  - {id: q, type: http, url: \"http://127.0.0.1:%u/q\"}\n",
                monitors, (unsigned)test_target_port(f->api));

    wait_metrics(f, (const char *const[]){DEGRADED_R2_1, DEGRADED_R1_0, NULL});
    wait_healthz(f, 503, "region r2 degraded (hosts)", a);
    print_message("/healthz while r2 is cut off: %s", a->body);
    assert_null(strstr(a->body, "region r1"));
    /* "region r2 degraded (hosts): F of N hosts failing": the rule's numbers. */
    assert_int_equal(sscanf(a->body, "region r2 degraded (hosts): %u of %u hosts failing",
                            &failing, &counted),
                     2);
    assert_true(counted >= 10 && counted <= N_HOSTS + 1);
    assert_true(failing * 10 >= counted * 9);

    /* 10+ more rounds of every monitor from each region: nothing alerts. */
    for (size_t i = 0; i <= N_HOSTS; i++) {
        want1[i] = test_target_hits_from(all[i], R1_IP) + ROUNDS;
        want2[i] = test_target_hits_from(all[i], R2_IP) + ROUNDS;
    }
    wait_rounds(f, all, N_HOSTS + 1, want1, want2);
    wait_metrics(f, (const char *const[]){DEGRADED_R2_1, DEGRADED_R1_0, NO_INCIDENTS, NULL});
    wait_healthz(f, 503, "region r2 degraded (hosts)", a);
    wait_monitor(f, "q", "UP", false, true);
    wait_monitor(f, "h0", "UP", false, true);
    assert_no_alert(f, "while r2 was degraded");

    /* r2's network comes back: the hosts rule lets go, still no alert (every
     * frozen r2 counter is at most 2, far below 5). */
    for (size_t i = 0; i <= N_HOSTS; i++)
        assert_int_equal(test_target_fail_from(all[i], NULL, 0), 0);
    wait_metrics(f, (const char *const[]){DEGRADED_R2_0, DEGRADED_R1_0, NULL});
    wait_healthz(f, 200, "ok\n", a);
    assert_string_equal(a->body, "ok\n");
    for (size_t i = 0; i <= N_HOSTS; i++) {
        want1[i] = test_target_hits_from(all[i], R1_IP) + 3;
        want2[i] = test_target_hits_from(all[i], R2_IP) + 3;
    }
    wait_rounds(f, all, N_HOSTS + 1, want1, want2);
    wait_metrics(f, (const char *const[]){DEGRADED_R2_0, DEGRADED_R1_0, NO_INCIDENTS, NULL});
    wait_monitor(f, "q", "UP", false, false);
    stop_agent(f);
    assert_int_equal(test_receiver_count(f->hook), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_canary_degrades_region, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hosts_degrade_region, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    tocsin_log_setup(TOCSIN_LOG_WARN, TOCSIN_LOG_LOGFMT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
