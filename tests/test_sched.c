/* src/sched.c on a real libuv loop with real probes against loopback listeners
 * that live on the same loop (DESIGN §4 "Scheduling").
 *
 * Timing is never asserted tightly: the bounds are several times wider than
 * the nominal values so that a loaded machine or valgrind cannot fail a test;
 * they still tell a working scheduler from a broken one (e.g. no retry
 * interval = 1 run instead of ~10).  Every wait is bounded, and every test
 * ends with the scheduler and engine closed and uv_loop_close() == 0. */
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
#include <unistd.h>

#include <ares.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <uv.h>

#include "tocsin/config.h"
#include "tocsin/engine.h"
#include "tocsin/sched.h"

#define MAX_MONITORS 20   /* what most tests run */
#define MONITOR_CAP 256   /* what the harness holds: the many-monitors test */
#define MAX_LISTENERS 2
#define TICK_MS 5

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* ---- loopback listeners on the test's loop ---- */

struct client {
    uv_tcp_t tcp;
    struct listener *listener;
    struct client *next;
    struct client **pprev;
};

struct listener {
    uv_tcp_t tcp;
    struct harness *h;
    int port;
    bool hang;            /* keep accepted connections open and never answer */
    unsigned accepts;
    unsigned open;        /* accepted connections not yet closed */
    unsigned max_open;
    struct client *clients;
};

struct harness {
    uv_loop_t loop;
    struct tocsin_region_conf region;
    size_t region_index;
    struct tocsin_policy_conf policy;
    struct tocsin_status_range expect;
    struct tocsin_monitor_conf monitors[MONITOR_CAP];
    char ids[MONITOR_CAP][16];
    char urls[MONITOR_CAP][64];
    struct tocsin_config config;
    struct tocsin_engine engine;
    struct tocsin_sched *sched;
    struct listener listeners[MAX_LISTENERS];
    size_t n_listeners;
    uv_timer_t ticker;
    uint64_t t0;          /* uv_now() when the scheduler started */
    uint64_t deadline;
    bool (*done)(struct harness *h);
    /* observations */
    unsigned results[MONITOR_CAP];
    unsigned down[MONITOR_CAP];
    uint64_t first_ms[MONITOR_CAP]; /* first result, ms after t0 */
    uint64_t last_ms[MONITOR_CAP];
    enum tocsin_error_kind last_kind[MONITOR_CAP];
    size_t max_in_flight;
    size_t max_queued;
    /* retry test: results of monitor 0 inside a window */
    uint64_t window_from, window_to;
    unsigned in_window;
    unsigned want_runs;   /* what monitor0_ran waits for */
    bool sched_closed;
    bool engine_closed;
    size_t closing_ours;  /* our handles (listeners, clients) still closing */
};

static void sample(struct harness *h)
{
    struct tocsin_sched_stats st;

    tocsin_sched_stats(h->sched, &st);
    if (st.in_flight > h->max_in_flight)
        h->max_in_flight = st.in_flight;
    if (st.queued > h->max_queued)
        h->max_queued = st.queued;
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct harness *h = handle->data;

    h->closing_ours--;
}

static void on_client_closed(uv_handle_t *handle)
{
    struct client *c = handle->data;
    struct harness *h = c->listener->h;

    h->closing_ours--;
    free(c);
}

static void close_client(struct client *c)
{
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    *c->pprev = c->next;
    if (c->next)
        c->next->pprev = c->pprev;
    c->listener->open--;
    c->listener->h->closing_ours++;
    uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

static void on_client_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    static char sink[4096];

    (void)handle;
    (void)suggested;
    *buf = uv_buf_init(sink, sizeof(sink));
}

/* A hanging server reads the request and never answers; EOF closes it. */
static void on_client_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    if (nread < 0)
        close_client(stream->data);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    struct client *c;

    if (l->h->sched)
        sample(l->h); /* a connection is a check in flight */
    if (status < 0)
        return;
    c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->listener = l;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    c->next = l->clients;
    if (c->next)
        c->next->pprev = &c->next;
    c->pprev = &l->clients;
    l->clients = c;
    l->open++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        close_client(c);
        return;
    }
    l->accepts++;
    if (l->open > l->max_open)
        l->max_open = l->open;
    if (l->hang)
        uv_read_start((uv_stream_t *)&c->tcp, on_client_alloc, on_client_read);
    else
        close_client(c); /* a TCP check only needs the handshake */
}

static struct listener *listener_start(struct harness *h, bool hang)
{
    struct listener *l = &h->listeners[h->n_listeners++];
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof(bound);

    assert_true(h->n_listeners <= MAX_LISTENERS);
    l->h = h;
    l->hang = hang;
    assert_int_equal(uv_tcp_init(&h->loop, &l->tcp), 0);
    l->tcp.data = l;
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
    assert_int_equal(uv_tcp_bind(&l->tcp, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&l->tcp, 128, on_connection), 0);
    assert_int_equal(uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &len), 0);
    l->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    return l;
}

/* A socket bound to a loopback port but not listening: connecting to it is
 * refused at once by the kernel, and no other process can take the port.
 * listen() on it later turns the port into an accepting one. */
static int refused_port(int *fd_out)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    *fd_out = fd;
    return ntohs(addr.sin_port);
}

/* ---- the harness ---- */

static struct harness *harness_new(size_t n_monitors, int max_concurrency)
{
    struct harness *h = calloc(1, sizeof(*h));

    assert_non_null(h);
    assert_true(n_monitors <= MONITOR_CAP);
    assert_int_equal(uv_loop_init(&h->loop), 0);
    h->region.name = "default";
    h->region_index = 0;
    h->policy = (struct tocsin_policy_conf){
        .name = "default", .failure_threshold = 3, .success_threshold = 1};
    h->expect = (struct tocsin_status_range){200, 299};
    h->config = (struct tocsin_config){
        .agent = {.region = "default", .max_concurrency = max_concurrency},
        .regions = &h->region,
        .n_regions = 1,
        .policies = &h->policy,
        .n_policies = 1,
        .monitors = h->monitors,
        .n_monitors = n_monitors,
    };
    return h;
}

/* Fields every monitor needs whatever its kind. */
static struct tocsin_monitor_conf *monitor_base(struct harness *h, size_t i, uint64_t interval,
                                                uint64_t timeout, uint64_t retry)
{
    struct tocsin_monitor_conf *m = &h->monitors[i];

    snprintf(h->ids[i], sizeof(h->ids[i]), "mon-%02zu", i);
    *m = (struct tocsin_monitor_conf){
        .id = h->ids[i],
        .name = h->ids[i],
        .method = "GET",
        .expect_status = &h->expect,
        .n_expect_status = 1,
        .interval_ms = interval,
        .timeout_ms = timeout,
        .retry_interval_ms = retry,
        .policy = 0,
        .regions = &h->region_index,
        .n_regions = 1,
        .quorum = 1,
    };
    return m;
}

static void tcp_monitor(struct harness *h, size_t i, int port, uint64_t interval, uint64_t timeout,
                        uint64_t retry)
{
    struct tocsin_monitor_conf *m = monitor_base(h, i, interval, timeout, retry);

    m->type = TOCSIN_PROBE_TCP;
    m->host = "127.0.0.1";
    m->port = port;
}

static void http_monitor(struct harness *h, size_t i, int port, uint64_t interval,
                         uint64_t timeout, uint64_t retry)
{
    struct tocsin_monitor_conf *m = monitor_base(h, i, interval, timeout, retry);

    snprintf(h->urls[i], sizeof(h->urls[i]), "http://127.0.0.1:%d/health", port);
    m->type = TOCSIN_PROBE_HTTP;
    m->url = h->urls[i];
}

static void on_result(void *data, size_t monitor, size_t slot, const struct tocsin_result *result)
{
    struct harness *h = data;
    uint64_t at = uv_now(&h->loop) - h->t0;

    assert_true(monitor < h->config.n_monitors);
    assert_int_equal(slot, 0);
    assert_int_equal(result->region, 0);
    if (h->results[monitor]++ == 0)
        h->first_ms[monitor] = at;
    h->last_ms[monitor] = at;
    h->last_kind[monitor] = result->error_kind;
    if (result->status == TOCSIN_STATUS_DOWN)
        h->down[monitor]++;
    if (monitor == 0 && h->window_to > 0 && at >= h->window_from && at < h->window_to)
        h->in_window++;
    sample(h);
}

static void harness_start(struct harness *h)
{
    assert_int_equal(tocsin_engine_init(&h->engine, &h->loop, &h->config), 0);
    assert_int_equal(tocsin_sched_new(&h->engine.env, h->config.agent.max_concurrency, on_result,
                                      h, &h->sched),
                     0);
    assert_int_equal(uv_timer_init(&h->loop, &h->ticker), 0);
    h->ticker.data = h;
    uv_update_time(&h->loop);
    h->t0 = uv_now(&h->loop);
    tocsin_sched_start(h->sched);
}

static void on_tick(uv_timer_t *timer)
{
    struct harness *h = timer->data;

    sample(h);
    if ((h->done && h->done(h)) || uv_now(&h->loop) >= h->deadline) {
        uv_timer_stop(timer);
        uv_stop(&h->loop);
    }
}

/* Runs the loop until DONE says so or MAX_MS have passed (from now). */
static void run_until(struct harness *h, uint64_t max_ms, bool (*done)(struct harness *h))
{
    uv_update_time(&h->loop);
    h->deadline = uv_now(&h->loop) + max_ms;
    h->done = done;
    uv_timer_start(&h->ticker, on_tick, TICK_MS, TICK_MS);
    uv_run(&h->loop, UV_RUN_DEFAULT);
}

static uint64_t elapsed(struct harness *h)
{
    return uv_now(&h->loop) - h->t0;
}

static void on_sched_closed(void *data)
{
    struct harness *h = data;

    h->sched_closed = true;
}

static void on_engine_closed(struct tocsin_engine *e)
{
    struct harness *h = container_of(e, struct harness, engine);

    h->engine_closed = true;
}

static void on_guard(uv_timer_t *timer)
{
    (void)timer; /* only wakes the loop so the teardown wait stays bounded */
}

static void print_handle(uv_handle_t *handle, void *arg)
{
    (void)arg;
    print_error("left open: %s handle %p%s\n", uv_handle_type_name(handle->type), (void *)handle,
                uv_is_closing(handle) ? " (closing)" : "");
}

/* Closes everything and checks the loop ends empty; bounded to 10 s. */
static void harness_finish(struct harness *h)
{
    uv_timer_t guard;
    uint64_t start = uv_hrtime();

    h->closing_ours++;
    h->ticker.data = h;
    uv_close((uv_handle_t *)&h->ticker, on_handle_closed);
    tocsin_sched_close(h->sched, on_sched_closed, h);
    h->sched = NULL;
    tocsin_engine_close(&h->engine, on_engine_closed);
    for (size_t i = 0; i < h->n_listeners; i++) {
        struct listener *l = &h->listeners[i];
        while (l->clients)
            close_client(l->clients);
        h->closing_ours++;
        l->tcp.data = h;
        uv_close((uv_handle_t *)&l->tcp, on_handle_closed);
    }
    /* An unreferenced timer bounds every uv_run(ONCE) without keeping the loop
     * alive, so a leaked handle shows up as a failure, not a hang. */
    uv_timer_init(&h->loop, &guard);
    uv_timer_start(&guard, on_guard, 20, 20);
    uv_unref((uv_handle_t *)&guard);
    while (uv_loop_alive(&h->loop) && uv_hrtime() - start < 10ull * 1000 * 1000 * 1000)
        uv_run(&h->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&h->loop, UV_RUN_NOWAIT);

    assert_true(h->sched_closed);
    assert_true(h->engine_closed);
    assert_int_equal(h->closing_ours, 0);
    if (uv_loop_close(&h->loop) != 0) {
        uv_walk(&h->loop, print_handle, NULL);
        fail_msg("uv_loop_close: handles left open");
    }
    free(h);
}

/* ---- tests ---- */

static void test_fnv1a64(void **state)
{
    (void)state;
    /* Known answers of FNV-1a 64 (offset basis 0xcbf29ce484222325). */
    assert_true(tocsin_fnv1a64("", 0, TOCSIN_FNV1A64_SEED) == 0xcbf29ce484222325ULL);
    assert_true(tocsin_fnv1a64("a", 1, TOCSIN_FNV1A64_SEED) == 0xaf63dc4c8601ec8cULL);
    assert_true(tocsin_fnv1a64("foobar", 6, TOCSIN_FNV1A64_SEED) == 0x85944171f73967e8ULL);
    /* The seed chains: hashing "foo" then "bar" equals hashing "foobar". */
    assert_true(tocsin_fnv1a64("bar", 3, tocsin_fnv1a64("foo", 3, TOCSIN_FNV1A64_SEED)) ==
                0x85944171f73967e8ULL);
}

/* Interval 100 ms over ~1.2 s: each slot runs ~12 times (first run within the
 * first interval, then every 100 ms on the due grid). */
static void test_interval_runs(void **state)
{
    struct harness *h = harness_new(3, 100);
    struct listener *l = listener_start(h, false);
    struct tocsin_sched_stats st;

    (void)state;
    for (size_t i = 0; i < 3; i++)
        tcp_monitor(h, i, l->port, 100, 100, 100);
    harness_start(h);
    run_until(h, 1200, NULL);

    print_message("runs in %llu ms: %u %u %u, accepts %u\n", (unsigned long long)elapsed(h),
                  h->results[0], h->results[1], h->results[2], l->accepts);
    for (size_t i = 0; i < 3; i++) {
        if (h->results[i] < 5 || h->results[i] > 14)
            fail_msg("monitor %zu: %u runs in %llu ms at a 100 ms interval, want 5..14", i,
                     h->results[i], (unsigned long long)elapsed(h));
        assert_int_equal(h->down[i], 0);
    }
    tocsin_sched_stats(h->sched, &st);
    assert_true(st.started >= st.completed && st.started - st.completed <= 3);
    assert_int_equal(st.queued, 0);
    assert_true(l->accepts >= 10);
    harness_finish(h);
}

/* Monitors of five different intervals share the scheduler's heap of due
 * times: each runs about as often as its own interval says, none starves. */
static void test_mixed_intervals(void **state)
{
    static const uint64_t intervals[] = {100, 150, 200, 250, 300};
    struct harness *h = harness_new(MAX_MONITORS, 100);
    struct listener *l = listener_start(h, false);
    struct tocsin_sched_stats st;
    uint64_t ms;

    (void)state;
    for (size_t i = 0; i < MAX_MONITORS; i++)
        tcp_monitor(h, i, l->port, intervals[i % 5], 100, intervals[i % 5]);
    harness_start(h);
    run_until(h, 1500, NULL);
    ms = elapsed(h);
    for (size_t i = 0; i < MAX_MONITORS; i++) {
        uint64_t want = ms / intervals[i % 5];

        if (h->results[i] * 2 < want || h->results[i] > want + 2)
            fail_msg("monitor %zu: %u runs in %llu ms at a %llu ms interval, want %llu..%llu", i,
                     h->results[i], (unsigned long long)ms,
                     (unsigned long long)intervals[i % 5], (unsigned long long)(want + 1) / 2,
                     (unsigned long long)want + 2);
        assert_int_equal(h->down[i], 0);
    }
    tocsin_sched_stats(h->sched, &st);
    assert_int_equal(st.queued, 0);
    harness_finish(h);
}

/* 256 monitors of seven intervals: the heap of due times is five levels deep
 * and re-planned at every run, yet each monitor keeps its own cadence (a
 * mis-ordered heap would starve some and run others in bursts). */
static void test_many_monitors_keep_cadence(void **state)
{
    struct harness *h = harness_new(MONITOR_CAP, MONITOR_CAP);
    struct listener *l = listener_start(h, false);
    struct tocsin_sched_stats st;
    uint64_t ms;

    (void)state;
    for (size_t i = 0; i < MONITOR_CAP; i++) {
        uint64_t interval = 400 + 100 * (i % 7);

        tcp_monitor(h, i, l->port, interval, interval, interval);
    }
    harness_start(h);
    run_until(h, 2500, NULL);
    ms = elapsed(h);
    for (size_t i = 0; i < MONITOR_CAP; i++) {
        uint64_t interval = h->monitors[i].interval_ms, want = ms / interval;

        if (h->results[i] * 2 < want || h->results[i] > want + 2)
            fail_msg("monitor %zu: %u runs in %llu ms at a %llu ms interval, want %llu..%llu", i,
                     h->results[i], (unsigned long long)ms, (unsigned long long)interval,
                     (unsigned long long)(want + 1) / 2, (unsigned long long)want + 2);
        if (h->first_ms[i] > interval + 1000)
            fail_msg("monitor %zu first ran after %llu ms at a %llu ms interval", i,
                     (unsigned long long)h->first_ms[i], (unsigned long long)interval);
        assert_int_equal(h->down[i], 0);
    }
    tocsin_sched_stats(h->sched, &st);
    assert_int_equal(st.queued, 0);
    harness_finish(h);
}

static bool all_ran_once(struct harness *h)
{
    for (size_t i = 0; i < h->config.n_monitors; i++)
        if (h->results[i] == 0)
            return false;
    return true;
}

/* 20 monitors with a 1 s interval: the first runs are spread over the interval
 * by the hash of (id, region), not started together. */
static void test_first_runs_spread(void **state)
{
    struct harness *h = harness_new(MAX_MONITORS, 100);
    struct listener *l = listener_start(h, false);
    uint64_t lo = UINT64_MAX, hi = 0;

    (void)state;
    for (size_t i = 0; i < MAX_MONITORS; i++)
        tcp_monitor(h, i, l->port, 1000, 1000, 1000);
    harness_start(h);
    run_until(h, 3000, all_ran_once);

    for (size_t i = 0; i < MAX_MONITORS; i++) {
        if (h->results[i] == 0)
            fail_msg("monitor %zu never ran within 3 s at a 1 s interval", i);
        /* A first run belongs to the first interval (generous slack). */
        if (h->first_ms[i] > 2000)
            fail_msg("monitor %zu first ran after %llu ms", i,
                     (unsigned long long)h->first_ms[i]);
        if (h->first_ms[i] < lo)
            lo = h->first_ms[i];
        if (h->first_ms[i] > hi)
            hi = h->first_ms[i];
    }
    print_message("first runs between %llu and %llu ms\n", (unsigned long long)lo,
                  (unsigned long long)hi);
    if (hi - lo <= 300)
        fail_msg("first runs span only %llu ms (%llu..%llu), want > 300",
                 (unsigned long long)(hi - lo), (unsigned long long)lo, (unsigned long long)hi);
    harness_finish(h);
}

/* max_concurrency 1 with 5 HTTP checks of 300 ms each against a server that
 * never answers, every second: 1.5 s of work per second, so checks queue;
 * never more than one in flight. */
static void test_max_concurrency_queues(void **state)
{
    struct harness *h = harness_new(5, 1);
    struct listener *l = listener_start(h, true);
    struct tocsin_sched_stats st;
    unsigned total = 0;

    (void)state;
    for (size_t i = 0; i < 5; i++)
        http_monitor(h, i, l->port, 1000, 300, 1000);
    harness_start(h);
    run_until(h, 2500, NULL);

    tocsin_sched_stats(h->sched, &st);
    print_message("started %llu, completed %llu, overlaps %llu, max in_flight %zu, max queued %zu\n",
                  (unsigned long long)st.started, (unsigned long long)st.completed,
                  (unsigned long long)st.skipped_overlap, h->max_in_flight, h->max_queued);
    if (h->max_in_flight != 1)
        fail_msg("max in_flight %zu with max_concurrency 1", h->max_in_flight);
    if (h->max_queued == 0)
        fail_msg("nothing was ever queued (started %llu, completed %llu)",
                 (unsigned long long)st.started, (unsigned long long)st.completed);
    assert_true(st.in_flight <= 1);
    for (size_t i = 0; i < 5; i++) {
        total += h->results[i];
        assert_int_equal(h->down[i], h->results[i]); /* nothing ever answers */
        if (h->results[i] > 0)
            assert_int_equal(h->last_kind[i], TOCSIN_ERR_TIMEOUT);
    }
    /* At most one check at a time for 2.5 s: at most ~8 checks of 300 ms. */
    if (total < 3 || total > 9)
        fail_msg("%u checks completed in %llu ms, want 3..9", total,
                 (unsigned long long)elapsed(h));
    assert_true(l->accepts >= 3);
    harness_finish(h);
}

/* A check that outlives its interval (timeout 450 ms at a 100 ms interval; the
 * config decoder would refuse it, a struct does not): the due times that come
 * while it runs are skipped and counted, never a second instance of the slot. */
static void test_overlap_skipped(void **state)
{
    struct harness *h = harness_new(1, 10);
    struct listener *l = listener_start(h, true);
    struct tocsin_sched_stats st;

    (void)state;
    http_monitor(h, 0, l->port, 100, 450, 100);
    harness_start(h);
    run_until(h, 1500, NULL);

    tocsin_sched_stats(h->sched, &st);
    print_message("started %llu, completed %llu, overlaps %llu, skipped slots %llu, max in_flight %zu\n",
                  (unsigned long long)st.started, (unsigned long long)st.completed,
                  (unsigned long long)st.skipped_overlap, (unsigned long long)st.skipped_slots, h->max_in_flight);
    /* One slot: the scheduler's in_flight is that slot's. */
    if (h->max_in_flight > 1)
        fail_msg("slot had %zu instances in flight", h->max_in_flight);
    if (st.skipped_overlap == 0)
        fail_msg("no overlap counted (started %llu in %llu ms)", (unsigned long long)st.started,
                 (unsigned long long)elapsed(h));
    assert_true(st.started >= 2);
    assert_true(st.started <= 5); /* one per ~500 ms, not one per 100 ms */
    assert_true(st.skipped_overlap >= st.completed);
    assert_int_equal(st.queued, 0);
    assert_int_equal(h->down[0], h->results[0]);
    harness_finish(h);
}

static bool window_over(struct harness *h)
{
    return h->window_to > 0 && elapsed(h) >= h->window_to;
}

static bool first_result(struct harness *h)
{
    return h->results[0] > 0;
}

/* retry_interval applies while a check fails, the interval again once it
 * passes: a refused port with interval 1 s and retry_interval 100 ms runs ~10
 * times a second; after the port starts listening, ~1 time a second. */
static void test_retry_interval(void **state)
{
    struct harness *h = harness_new(1, 10);
    int fd;
    int port = refused_port(&fd);
    unsigned failing, recovered;

    (void)state;
    tcp_monitor(h, 0, port, 1000, 500, 100);
    harness_start(h);
    run_until(h, 2500, first_result);
    assert_int_equal(h->results[0], 1);
    assert_int_equal(h->down[0], 1);
    assert_int_equal(h->last_kind[0], TOCSIN_ERR_REFUSED);

    /* Count the runs in the second after the first failure. */
    h->window_from = elapsed(h);
    h->window_to = h->window_from + 1000;
    run_until(h, 2500, window_over);
    failing = h->in_window;
    if (failing < 5 || failing > 14)
        fail_msg("%u runs in 1 s while failing with retry_interval 100 ms, want 5..14", failing);
    assert_int_equal(h->down[0], h->results[0]);

    /* The port now accepts (the kernel completes the handshake from the
     * backlog): one more retry succeeds, then the 1 s interval is back.  The
     * window starts 300 ms later to leave room for that retry. */
    assert_int_equal(listen(fd, 128), 0);
    h->in_window = 0;
    h->window_from = elapsed(h) + 300;
    h->window_to = h->window_from + 1500;
    run_until(h, 3000, window_over);
    recovered = h->in_window;
    print_message("runs: %u in 1 s failing, %u in 1.5 s recovered\n", failing, recovered);
    assert_true(h->results[0] > h->down[0]);
    assert_int_equal(h->last_kind[0], TOCSIN_ERR_NONE);
    if (recovered > 3)
        fail_msg("%u runs in 1.5 s after recovering at a 1 s interval, want <= 3", recovered);
    harness_finish(h);
    close(fd);
}

/* Next due = previous due + interval, not completion + interval: checks that
 * take 80 ms at a 100 ms interval still run ~20 times in 2 s (a scheduler that
 * drifted by the check's duration would manage ~11). */
static void test_no_drift(void **state)
{
    struct harness *h = harness_new(1, 10);
    struct listener *l = listener_start(h, true);

    (void)state;
    http_monitor(h, 0, l->port, 100, 80, 100);
    harness_start(h);
    run_until(h, 2000, NULL);
    print_message("%u runs of 80 ms in %llu ms at a 100 ms interval\n", h->results[0],
                  (unsigned long long)elapsed(h));
    if (h->results[0] < 14 || h->results[0] > 22)
        fail_msg("%u runs in 2 s, want 14..22", h->results[0]);
    assert_int_equal(h->down[0], h->results[0]);
    assert_int_equal(h->last_kind[0], TOCSIN_ERR_TIMEOUT);
    harness_finish(h);
}

/* After a stall (the loop blocked for 550 ms at a 100 ms interval) the missed
 * due times are skipped and counted, never made up in a burst. */
static void test_stall_skips_slots(void **state)
{
    struct harness *h = harness_new(1, 10);
    struct listener *l = listener_start(h, false);
    struct tocsin_sched_stats st;
    unsigned before;

    (void)state;
    tcp_monitor(h, 0, l->port, 100, 1000, 100);
    harness_start(h);
    run_until(h, 300, NULL);
    before = h->results[0];
    usleep(550 * 1000); /* the loop is not running: every timer goes stale */
    run_until(h, 500, NULL);

    tocsin_sched_stats(h->sched, &st);
    print_message("%u runs before the stall, %u after; skipped slots %llu\n", before,
                  h->results[0] - before, (unsigned long long)st.skipped_slots);
    if (st.skipped_slots < 3)
        fail_msg("only %llu slots skipped over a 550 ms stall at 100 ms",
                 (unsigned long long)st.skipped_slots);
    /* 500 ms at 100 ms is ~5 runs; making up the stall would add ~5 more. */
    if (h->results[0] - before > 8)
        fail_msg("%u runs in the 500 ms after a stall: missed slots were made up",
                 h->results[0] - before);
    assert_int_equal(h->down[0], 0);
    harness_finish(h);
}

/* Each run now leaves the slot's planned entry behind in the heap, stale; 30
 * of them on a scheduler of 3 slots fill its room (two entries a slot) many
 * times over, and dropping the stale ones must keep every live plan.  Monitor
 * 0 (interval 1 s) is run now every ~45 ms, so each run re-plans it 1 s on
 * and its own due time never comes (a loaded machine would need a second
 * between two calls): it runs exactly once per call, and the stale entries
 * of the first calls, coming due in the last ~0.35 s, would show as runs
 * more.  The other two keep their 200 ms cadence throughout. */
static bool monitor0_ran(struct harness *h)
{
    return h->results[0] >= h->want_runs;
}

static void test_run_now_stale_entries(void **state)
{
    struct harness *h = harness_new(3, 10);
    struct listener *l = listener_start(h, false);
    uint64_t from;
    unsigned others0;

    (void)state;
    tcp_monitor(h, 0, l->port, 1000, 1000, 1000);
    tcp_monitor(h, 1, l->port, 200, 1000, 200);
    tcp_monitor(h, 2, l->port, 200, 1000, 200);
    harness_start(h);
    run_until(h, 50, NULL);
    h->want_runs = h->results[0];
    others0 = h->results[1] + h->results[2];
    from = elapsed(h);
    for (unsigned i = 0; i < 30; i++) {
        h->want_runs++;
        tocsin_sched_run_now(h->sched, 0);
        run_until(h, 2000, monitor0_ran);
        assert_int_equal(h->results[0], h->want_runs);
        run_until(h, 40, NULL); /* no stale due time runs it again */
        assert_int_equal(h->results[0], h->want_runs);
    }
    print_message("30 runs now in %llu ms; the others ran %u times\n",
                  (unsigned long long)(elapsed(h) - from), h->results[1] + h->results[2] - others0);
    /* Over >= 1.2 s (30 x 40 ms) two monitors at 200 ms run ~12 times, 6 each. */
    if (h->results[1] + h->results[2] - others0 < 6)
        fail_msg("the other monitors ran %u times while monitor 0 was run now",
                 h->results[1] + h->results[2] - others0);
    assert_int_equal(h->down[0] + h->down[1] + h->down[2], 0);
    harness_finish(h);
}

/* No monitors: start and close are harmless and the loop ends empty. */
static void test_no_monitors(void **state)
{
    struct harness *h = harness_new(0, 10);

    (void)state;
    harness_start(h);
    run_until(h, 20, NULL);
    harness_finish(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv1a64),
        cmocka_unit_test(test_interval_runs),
        cmocka_unit_test(test_mixed_intervals),
        cmocka_unit_test(test_many_monitors_keep_cadence),
        cmocka_unit_test(test_first_runs_spread),
        cmocka_unit_test(test_max_concurrency_queues),
        cmocka_unit_test(test_overlap_skipped),
        cmocka_unit_test(test_retry_interval),
        cmocka_unit_test(test_no_drift),
        cmocka_unit_test(test_stall_skips_slots),
        cmocka_unit_test(test_run_now_stale_entries),
        cmocka_unit_test(test_no_monitors),
    };
    int rc;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || ares_library_init(ARES_LIB_INIT_ALL))
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    ares_library_cleanup();
    curl_global_cleanup();
    return rc;
}
