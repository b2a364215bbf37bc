/* The webhook sender (src/sender.c) against a loopback receiver that answers
 * per plan (tests/support/receiver.c): retries and their gaps, Retry-After in
 * both forms, 429 pausing the webhook, redirects not followed, dead letters and
 * their revival, the sliding-window rate limit, order per monitor, at most 16
 * in flight, timeouts, and the outbox surviving a clean restart and a kill -9
 * under the original request ids (DESIGN §5).
 *
 * Everything runs for real: a libuv loop in this thread, tocsin_sender with its
 * own curl multi, a c-ares resolver, the SQLite store thread, and the receiver
 * on its own libmicrohttpd thread.  Configuration and alerts are built in C.
 *
 * Each scenario is a "step" function driven by a 10 ms uv_timer.  Steps never
 * use cmocka assertions (a longjmp out of uv_run would leave the loop half-run):
 * they record what went wrong and stop; the test asserts once the loop is over
 * and uv_loop_close() returned 0.  Every wait is bounded by DEADLINE_MS.
 *
 * Timing checks only ever bound from below, with slack, and compare gaps that
 * differ by far more than the jitter (±20%): a slow machine or valgrind makes
 * things later, never earlier, so no check here fails on timing noise. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <ares.h>
#include <sqlite3.h>
#include <curl/curl.h>
#include <uv.h>

#include "receiver.h"
#include "tls.h"
#include "tocsin/alert.h"
#include "tocsin/config.h"
#include "tocsin/log.h"
#include "tocsin/resolver.h"
#include "tocsin/sender.h"
#include "tocsin/store.h"
#include "tocsin/test_webhook.h"

#define SECRET "sender-test-secret"
#define HOOK_PATH "/hook"
#define TICK_MS 10
#define DEADLINE_MS 60000 /* generous: valgrind is slow */
#define SLACK_MS 50       /* loop time vs. real time, and ms rounding on both clocks */
#define SETTLE_MS 400     /* after the last expected attempt: long enough to see an extra one */
#define MONITORS 64
#define REPORTS_MAX 256
#define ARRIVALS_MAX 256
#define DAY_MS (24u * 3600u * 1000u)
#define WATCHDOG_S 240    /* per test: a loop that spins never reaches DEADLINE_MS */
#define STR_(x) #x
#define STR(x) STR_(x)

/* A copy of one tocsin_delivery_report (its strings die with the callback). */
struct report_copy {
    char request_id[40];
    char monitor[16];
    int attempt;
    long status;
    bool delivered;
    bool will_retry;
    int64_t retry_in_ms;
    char error[200];
};

struct harness;
/* One tick of a scenario; returns true when it is over. */
typedef bool (*step_fn)(struct harness *h);

struct harness {
    uv_loop_t loop;
    bool loop_open;
    uv_timer_t tick;
    char dir[64];                 /* state_dir of the store */
    struct test_receiver *rx;
    /* the configuration the sender reads (it keeps pointers into it) */
    char url[128];
    char *secrets[1];
    struct tocsin_webhook_conf hook;
    struct tocsin_webhook_conf hooks[2]; /* for tests with two webhooks (use_two_webhooks) */
    char ids[MONITORS][8];
    struct tocsin_monitor_conf monitors[MONITORS];
    struct tocsin_config config;
    /* one run of a loop */
    struct tocsin_resolver *resolver;
    struct tocsin_store *store;
    struct tocsin_sender *sender;
    uint64_t drain_ms;
    bool stopping;
    bool closed;                  /* sender, resolver and store all gone */
    step_fn step;
    int phase;
    uint64_t deadline;            /* uv_now() ms */
    uint64_t mark;                /* uv_now() ms a step waits for */
    char failure[256];            /* empty when all went well */
    struct report_copy reports[REPORTS_MAX];
    size_t n_reports;
    size_t max_in_flight;         /* stats.in_flight, sampled every tick */
    struct tocsin_sender_stats seen;  /* a snapshot a step took */
    struct tocsin_sender_stats final; /* stats just before closing */
    const void *scenario;         /* a table row */
    pid_t child;                  /* the crash test's sender, until reaped */
    bool reloading;               /* a step closed the sender and makes a new one */
    void *ctx;                    /* what a scenario's steps record */
};

/* ---- harness ------------------------------------------------------------ */

static bool give_up(struct harness *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool give_up(struct harness *h, const char *fmt, ...)
{
    va_list ap;

    if (h->failure[0] != '\0')
        return true; /* the first reason is the one that matters */
    va_start(ap, fmt);
    vsnprintf(h->failure, sizeof(h->failure), fmt, ap);
    va_end(ap);
    return true;
}

/* A webhook for the receiver, tuned so tests are quick: 200 ms backoff, no rate
 * limit to speak of; scenarios change what they test. */
static void configure(struct harness *h, uint16_t port)
{
    snprintf(h->url, sizeof(h->url), "http://127.0.0.1:%u" HOOK_PATH, (unsigned)port);
    h->secrets[0] = SECRET;
    h->hook = (struct tocsin_webhook_conf){
        .name = "hook",
        .url = h->url,
        .format = "statuspageone",
        .secret = SECRET,
        .secrets = h->secrets,
        .n_secrets = 1,
        .signing = TOCSIN_SIGNING_DEFAULT,
        .events = TOCSIN_EVENT_INCIDENT | TOCSIN_EVENT_RECOVERY,
        .method = "POST",
        .timeout_ms = 10000,
        .connect_timeout_ms = 2000,
        .rate_limit = 1000,
        .rate_period_ms = 1000,
        .retries = 3,
        .retry_backoff_ms = 200,
        .max_age_ms = DAY_MS,
    };
    for (size_t i = 0; i < MONITORS; i++) {
        snprintf(h->ids[i], sizeof(h->ids[i]), "m%02zu", i);
        h->monitors[i] = (struct tocsin_monitor_conf){
            .id = h->ids[i],
            .name = h->ids[i],
            .type = TOCSIN_PROBE_HTTP,
            .url = "http://service.invalid/health",
            .method = "GET",
        };
    }
    h->config = (struct tocsin_config){
        .agent = {.region = "test", .state_dir = h->dir, .max_concurrency = 100},
        .webhooks = &h->hook,
        .n_webhooks = 1,
        .monitors = h->monitors,
        .n_monitors = MONITORS,
    };
}

/* Called with the receiver already started (or NULL: the test starts it). */
static struct harness *harness_new(struct test_receiver *rx, const void *scenario)
{
    struct harness *h = calloc(1, sizeof(*h));

    if (h == NULL)
        return NULL;
    snprintf(h->dir, sizeof(h->dir), "/tmp/tocsin-snd-XXXXXX");
    if (mkdtemp(h->dir) == NULL) {
        free(h);
        return NULL;
    }
    h->rx = rx;
    h->scenario = scenario;
    if (rx != NULL)
        configure(h, test_receiver_port(rx));
    return h;
}

/* A sender timer re-armed at 0 from its own callback keeps libuv inside its
 * timer phase for ever, so no tick (and no DEADLINE_MS) ever runs again: only
 * a signal can end such a test, with a message instead of ctest's timeout. */
static void on_watchdog(int sig)
{
    static const char msg[] = "test_sender: watchdog: a test ran over " STR(WATCHDOG_S)
                              " s (is the loop spinning?)\n";

    (void)sig;
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
        _exit(1);
    _exit(1);
}

static int setup(void **state)
{
    struct harness *h = harness_new(test_receiver_start(SECRET), *state);

    alarm(WATCHDOG_S);

    *state = h;
    return h && h->rx ? 0 : -1;
}

/* For the crash test: the receiver starts after the fork, so the child is
 * forked from a process with no other thread. */
static int setup_no_receiver(void **state)
{
    alarm(WATCHDOG_S);
    *state = harness_new(NULL, NULL);
    return *state ? 0 : -1;
}

static void on_store_closed(void *data)
{
    struct harness *h = data;

    h->store = NULL;
    h->closed = true;
}

/* The store closes last: it commits the sender's final updates. */
static void on_sender_closed(void *data)
{
    struct harness *h = data;

    h->sender = NULL;
    if (h->resolver)
        tocsin_resolver_close(h->resolver);
    h->resolver = NULL;
    if (h->store)
        tocsin_store_close(h->store, on_store_closed, h);
    else
        on_store_closed(h);
}

static void stop_all(struct harness *h)
{
    if (h->stopping)
        return;
    h->stopping = true;
    uv_close((uv_handle_t *)&h->tick, NULL);
    if (h->reloading) {
        /* the old sender is closing: its callback finishes the stop */
    } else if (h->sender) {
        tocsin_sender_stats(h->sender, &h->final);
        tocsin_sender_close(h->sender, h->drain_ms, on_sender_closed, h);
    } else {
        on_sender_closed(h);
    }
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static int teardown(void **state)
{
    struct harness *h = *state;

    /* Only reached with a live loop when an assertion failed before uv_run. */
    if (h->loop_open) {
        stop_all(h);
        uv_run(&h->loop, UV_RUN_DEFAULT);
        uv_loop_close(&h->loop);
    }
    if (h->child > 0) { /* an assertion failed while the crash test's child ran */
        kill(h->child, SIGKILL);
        waitpid(h->child, NULL, 0);
    }
    test_receiver_stop(h->rx);
    remove_dir(h->dir);
    free(h);
    alarm(0);
    return 0;
}

static void on_delivery(void *data, const struct tocsin_delivery_report *rep)
{
    struct harness *h = data;
    struct report_copy *c;

    if (h->n_reports >= REPORTS_MAX) {
        give_up(h, "more than %d attempts reported", REPORTS_MAX);
        return;
    }
    c = &h->reports[h->n_reports++];
    snprintf(c->request_id, sizeof(c->request_id), "%s", rep->request_id);
    snprintf(c->monitor, sizeof(c->monitor), "%s", rep->monitor);
    snprintf(c->error, sizeof(c->error), "%s", rep->error ? rep->error : "");
    c->attempt = rep->attempt;
    c->status = rep->status_code;
    c->delivered = rep->delivered;
    c->will_retry = rep->will_retry;
    c->retry_in_ms = rep->retry_in_ms;
}

static void on_tick(uv_timer_t *timer)
{
    struct harness *h = timer->data;
    struct tocsin_sender_stats st;

    if (h->stopping)
        return;
    if (h->sender) { /* NULL while a step re-creates it */
        tocsin_sender_stats(h->sender, &st);
        if (st.in_flight > h->max_in_flight)
            h->max_in_flight = st.in_flight;
    }
    if (h->failure[0] != '\0' || h->step(h)) {
        stop_all(h);
    } else if (uv_now(&h->loop) >= h->deadline) {
        give_up(h, "deadline of %d ms passed in phase %d (%zu arrivals, %zu reports)",
                DEADLINE_MS, h->phase, test_receiver_count(h->rx), h->n_reports);
        stop_all(h);
    }
}

/* A fresh loop with a resolver, the store when WITH_STORE, and a sender. */
static void start(struct harness *h, bool with_store)
{
    char err[256] = "";

    assert_int_equal(uv_loop_init(&h->loop), 0);
    h->loop_open = true;
    h->stopping = h->closed = false;
    h->failure[0] = '\0';
    h->n_reports = 0;
    h->phase = 0;
    h->max_in_flight = 0;
    h->drain_ms = 100;
    uv_timer_init(&h->loop, &h->tick);
    h->tick.data = h;
    if (with_store) {
        int rc = tocsin_store_open(&h->loop, h->dir, &h->store, err, sizeof(err));
        if (rc < 0)
            fail_msg("tocsin_store_open: %d %s", rc, err);
    }
    assert_int_equal(tocsin_resolver_new(&h->loop, NULL, &h->resolver), 0);
    assert_int_equal(tocsin_sender_new(&h->loop, &h->config, h->resolver, h->store, &h->sender),
                     0);
    tocsin_sender_on_delivery(h->sender, on_delivery, h);
}

/* Runs STEP until it says done, then closes everything and the loop. */
static void run(struct harness *h, step_fn step)
{
    h->step = step;
    h->deadline = uv_now(&h->loop) + DEADLINE_MS;
    uv_timer_start(&h->tick, on_tick, TICK_MS, TICK_MS);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    assert_true(h->closed);
    h->loop_open = false;
    assert_int_equal(uv_loop_close(&h->loop), 0);
    if (h->failure[0] != '\0')
        fail_msg("%s", h->failure);
}

/* ---- alerts ------------------------------------------------------------- */

/* An alert of MONITOR for webhook WEBHOOK, as the agent would build it now. */
static struct tocsin_alert make_alert(struct harness *h, size_t webhook, size_t monitor,
                                      enum tocsin_notification type)
{
    bool incident = type == TOCSIN_NOTIFY_INCIDENT;
    struct tocsin_alert a = {
        .monitor = &h->monitors[monitor],
        .region = "test",
        .monitor_status = incident ? TOCSIN_STATUS_DOWN : TOCSIN_STATUS_UP,
        .previous_status = incident ? TOCSIN_STATUS_UP : TOCSIN_STATUS_DOWN,
        .consecutive_failures = incident ? 3 : 0,
        .notification_level = 1,
        .type = type,
        .webhook = webhook,
        .regions_down = incident ? 1 : 0,
        .regions_total = 1,
        .incident_started = (int64_t)time(NULL),
    };

    a.check_result.status = a.monitor_status;
    a.check_result.timestamp = (int64_t)time(NULL);
    a.check_result.response_time_ms = 12;
    a.check_result.status_code = incident ? 503 : 200;
    if (incident) {
        a.check_result.error_kind = TOCSIN_ERR_STATUS;
        snprintf(a.check_result.error_message, sizeof(a.check_result.error_message),
                 "HTTP 503");
    }
    return a;
}

static int send_alert_to(struct harness *h, size_t webhook, size_t monitor,
                         enum tocsin_notification type)
{
    struct tocsin_alert a = make_alert(h, webhook, monitor, type);
    int rc = tocsin_sender_send(h->sender, &a);

    if (rc < 0)
        give_up(h, "tocsin_sender_send(%s): %d", h->ids[monitor], rc);
    return rc;
}

static int send_alert(struct harness *h, size_t monitor, enum tocsin_notification type)
{
    return send_alert_to(h, 0, monitor, type);
}

static struct tocsin_sender_stats stats(struct harness *h)
{
    struct tocsin_sender_stats st;

    tocsin_sender_stats(h->sender, &st);
    return st;
}

/* ---- what arrived --------------------------------------------------------- */

struct arrival {
    struct test_delivery d;
    char monitor[16];  /* monitor.id of the body */
    bool incident;     /* context.notification_type */
};

/* Copies every request the receiver saw, in the order it recorded them. */
static size_t arrivals(struct harness *h, struct arrival *out, size_t max)
{
    size_t n = test_receiver_count(h->rx);
    static const char key[] = "\"monitor\":{\"id\":\"";

    assert_true(n <= max);
    for (size_t i = 0; i < n; i++) {
        const char *id, *end;
        memset(&out[i], 0, sizeof(out[i]));
        assert_int_equal(test_receiver_get(h->rx, i, &out[i].d), 0);
        id = strstr(out[i].d.body, key);
        if (id != NULL) {
            id += sizeof(key) - 1;
            end = strchr(id, '"');
            snprintf(out[i].monitor, sizeof(out[i].monitor), "%.*s",
                     end ? (int)(end - id) : 0, id);
        }
        out[i].incident = strstr(out[i].d.body, "\"notification_type\":\"incident\"") != NULL;
    }
    return n;
}

static void arrivals_free(struct arrival *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        test_delivery_free(&a[i].d);
}

static int by_arrival(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

    return a < b ? -1 : a > b;
}

/* Every request: to the webhook's path, signed, with a request id. */
static void assert_well_formed(const struct arrival *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(a[i].d.method, "POST");
        assert_string_equal(a[i].d.path, HOOK_PATH);
        assert_true(a[i].d.sig_ok_raw);
        assert_true(a[i].d.sig_ok_seed);
        assert_int_equal(strlen(a[i].d.request_id), 36);
    }
}

/* ---- one alert, one plan: a table ------------------------------------------ */

struct single_case {
    const char *name;
    struct test_answer plan[3];
    int default_status;       /* after the plan; 0 = 200 */
    int retries;
    uint64_t backoff_ms;
    uint64_t timeout_ms;      /* 0 = the harness's 10 s */
    size_t attempts;          /* requests the receiver sees, and reports */
    long statuses[4];         /* reported per attempt; 0 = no HTTP answer */
    bool delivered;           /* the last attempt delivered; else a dead letter */
    uint64_t min_gap_ms[3];   /* arrival i+1 at least this long after arrival i */
    int64_t min_retry_in_ms;  /* every will_retry report says at least this */
    bool growing;             /* doubling backoff: gap 2 longer than gap 1 */
    const char *error_has;    /* the first report's error mentions it */
};

static const struct single_case single_cases[] = {
    {
        /* The issue's own check: three attempts, one request id, growing gaps. */
        .name = "500_500_200_backoff_doubles",
        .plan = {{.status = 500}, {.status = 500}},
        .retries = 3, .backoff_ms = 200,
        .attempts = 3, .statuses = {500, 500, 200}, .delivered = true,
        .min_gap_ms = {160, 320}, .growing = true, .error_has = "500",
    },
    {
        .name = "429_retry_after_seconds",
        .plan = {{.status = 429, .retry_after = "1"}},
        .retries = 3, .backoff_ms = 200,
        .attempts = 2, .statuses = {429, 200}, .delivered = true,
        .min_gap_ms = {1000}, .min_retry_in_ms = 1000, .error_has = "429",
    },
    {
        /* ~2 s ahead: curl counts whole seconds, so at least 1 s. */
        .name = "503_retry_after_http_date",
        .plan = {{.status = 503, .retry_after_date_s = 2}},
        .retries = 3, .backoff_ms = 200,
        .attempts = 2, .statuses = {503, 200}, .delivered = true,
        .min_gap_ms = {1000}, .min_retry_in_ms = 1000, .error_has = "503",
    },
    {
        /* Not followed: the receiver never sees /moved; retried like a 5xx. */
        .name = "302_not_followed_and_retried",
        .plan = {{.status = 302, .location = "/moved"}},
        .retries = 3, .backoff_ms = 200,
        .attempts = 2, .statuses = {302, 200}, .delivered = true,
        .min_gap_ms = {160}, .error_has = "/moved",
    },
    {
        .name = "408_retried",
        .plan = {{.status = 408}},
        .retries = 3, .backoff_ms = 200,
        .attempts = 2, .statuses = {408, 200}, .delivered = true,
        .min_gap_ms = {160},
    },
    {
        .name = "410_dead_at_once",
        .plan = {{.status = 410}},
        .retries = 3, .backoff_ms = 200,
        .attempts = 1, .statuses = {410}, .delivered = false, .error_has = "410",
    },
    {
        .name = "400_dead_at_once",
        .plan = {{.status = 400}},
        .retries = 3, .backoff_ms = 200,
        .attempts = 1, .statuses = {400}, .delivered = false,
    },
    {
        /* retries 2: the first attempt and two more, then a dead letter. */
        .name = "retries_exhausted",
        .default_status = 500,
        .retries = 2, .backoff_ms = 150,
        .attempts = 3, .statuses = {500, 500, 500}, .delivered = false,
        .min_gap_ms = {120, 240}, .growing = true,
    },
    {
        /* The webhook's timeout cuts a hung request: a network error, retried. */
        .name = "hang_times_out_and_retries",
        .plan = {{.action = TEST_HANG}},
        .retries = 2, .backoff_ms = 200, .timeout_ms = 300,
        .attempts = 2, .statuses = {0, 200}, .delivered = true,
        .min_gap_ms = {300 + 160}, .error_has = "timed out",
    },
    {
        .name = "reset_retried",
        .plan = {{.action = TEST_RESET}},
        .retries = 2, .backoff_ms = 200,
        .attempts = 2, .statuses = {0, 200}, .delivered = true,
        .min_gap_ms = {160},
    },
};

static size_t plan_len(const struct single_case *c)
{
    size_t n = 0;

    while (n < 3 && (c->plan[n].status != 0 || c->plan[n].action != TEST_ANSWER))
        n++;
    return n;
}

static bool step_single(struct harness *h)
{
    const struct report_copy *last = h->n_reports ? &h->reports[h->n_reports - 1] : NULL;

    switch (h->phase) {
    case 0:
        send_alert(h, 0, TOCSIN_NOTIFY_INCIDENT);
        h->phase = 1;
        return false;
    case 1: /* until the outcome is final, then a while to see nothing else comes */
        if (last && (last->delivered || !last->will_retry)) {
            h->seen = stats(h);
            h->mark = uv_now(&h->loop) + SETTLE_MS;
            h->phase = 2;
        }
        return false;
    default:
        return uv_now(&h->loop) >= h->mark;
    }
}

static void test_single(void **state)
{
    struct harness *h = *state;
    const struct single_case *c = h->scenario;
    static struct arrival a[ARRIVALS_MAX];
    size_t n;

    print_message("case %s\n", c->name);
    h->hook.retries = c->retries;
    h->hook.retry_backoff_ms = c->backoff_ms;
    if (c->timeout_ms)
        h->hook.timeout_ms = c->timeout_ms;
    assert_int_equal(test_receiver_plan(h->rx, c->plan, plan_len(c)), 0);
    test_receiver_set_status(h->rx, c->default_status ? c->default_status : 200);
    start(h, false);
    run(h, step_single);

    /* The observer: one report per attempt, numbered, with the planned outcome. */
    assert_int_equal(h->n_reports, c->attempts);
    for (size_t i = 0; i < c->attempts; i++) {
        const struct report_copy *r = &h->reports[i];
        bool last = i + 1 == c->attempts;
        assert_int_equal(r->attempt, (int)i + 1);
        assert_int_equal(r->status, c->statuses[i]);
        assert_string_equal(r->request_id, h->reports[0].request_id);
        assert_int_equal(r->delivered, last && c->delivered);
        assert_int_equal(r->will_retry, !last);
        if (r->will_retry)
            assert_true(r->retry_in_ms >= c->min_retry_in_ms);
    }
    if (c->error_has != NULL && strstr(h->reports[0].error, c->error_has) == NULL)
        fail_msg("first error \"%s\" does not mention \"%s\"", h->reports[0].error, c->error_has);

    /* The receiver: the same count, one request id, and the gaps. */
    n = arrivals(h, a, ARRIVALS_MAX);
    assert_int_equal(n, c->attempts);
    assert_well_formed(a, n); /* also: nothing ever went to the Location's path */
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(a[i].d.request_id, h->reports[0].request_id);
        assert_int_equal(a[i].d.body_len, a[0].d.body_len);
        assert_memory_equal(a[i].d.body, a[0].d.body, a[0].d.body_len);
    }
    for (size_t i = 0; i + 1 < n && i < 3; i++) {
        uint64_t gap = a[i + 1].d.arrived_ms - a[i].d.arrived_ms;
        if (gap + SLACK_MS < c->min_gap_ms[i])
            fail_msg("gap %zu is %" PRIu64 " ms, expected at least %" PRIu64, i + 1, gap,
                     c->min_gap_ms[i]);
    }
    if (c->growing && n >= 3) {
        uint64_t gap1 = a[1].d.arrived_ms - a[0].d.arrived_ms;
        uint64_t gap2 = a[2].d.arrived_ms - a[1].d.arrived_ms;
        /* backoff, then twice it, each ±20%: gap2 >= 1.33 gap1 before noise. */
        if (gap1 > 0 && gap2 > 0 && gap2 <= gap1)
            fail_msg("gaps did not grow: %" PRIu64 " then %" PRIu64 " ms", gap1, gap2);
    }
    arrivals_free(a, n);

    /* Counters: a dead letter is held, never dropped. */
    assert_int_equal(h->final.attempts, c->attempts);
    assert_int_equal(h->final.delivered, c->delivered ? 1 : 0);
    assert_int_equal(h->final.dead, c->delivered ? 0 : 1);
    assert_int_equal(h->final.dead_now, c->delivered ? 0 : 1);
    assert_int_equal(h->final.retried, c->attempts - 1);
    assert_int_equal(h->final.in_flight, 0);
}

/* ---- 429 pauses the whole webhook ------------------------------------------ */

static bool step_429_pause(struct harness *h)
{
    switch (h->phase) {
    case 0:
        send_alert(h, 0, TOCSIN_NOTIFY_INCIDENT);
        h->phase = 1;
        return false;
    case 1: /* the 429 is in: alerts of other monitors must wait for the pause */
        if (h->n_reports >= 1) {
            send_alert(h, 1, TOCSIN_NOTIFY_INCIDENT);
            send_alert(h, 2, TOCSIN_NOTIFY_INCIDENT);
            h->phase = 2;
        }
        return false;
    default:
        return stats(h).delivered == 3;
    }
}

static void test_429_pauses_webhook(void **state)
{
    struct harness *h = *state;
    const struct test_answer plan[] = {{.status = 429, .retry_after = "1"}};
    static struct arrival a[ARRIVALS_MAX];
    size_t n;

    assert_int_equal(test_receiver_plan(h->rx, plan, 1), 0);
    start(h, false);
    run(h, step_429_pause);

    assert_int_equal(h->reports[0].status, 429);
    assert_true(h->reports[0].will_retry);
    assert_int_equal(h->reports[0].retry_in_ms, 1000);
    n = arrivals(h, a, ARRIVALS_MAX);
    assert_int_equal(n, 4);
    assert_well_formed(a, n);
    assert_string_equal(a[0].monitor, "m00");
    assert_int_equal(a[0].d.status, 429);
    for (size_t i = 1; i < n; i++) {
        uint64_t after = a[i].d.arrived_ms - a[0].d.arrived_ms;
        assert_int_equal(a[i].d.status, 200);
        if (after + SLACK_MS < 1000)
            fail_msg("%s arrived %" PRIu64 " ms after the 429: the webhook was not paused",
                     a[i].monitor, after);
    }
    arrivals_free(a, n);
}

/* ---- dead letters: revived by the next 2xx, while young enough ---------------- */

struct revive_case {
    const char *name;
    uint64_t max_age_ms;
    size_t second;           /* the monitor of the alert sent once the first is dead */
    bool revived;            /* the dead letter is re-sent after the second's 2xx */
};

static const struct revive_case revive_cases[] = {
    /* The check: m01's 200 brings m00's dead letter back. */
    {.name = "young_dead_letter_revived", .max_age_ms = DAY_MS, .second = 1, .revived = true},
    /* Older than max_age (1 ms): kept and listed, never re-sent on its own. */
    {.name = "old_dead_letter_kept", .max_age_ms = 1, .second = 1, .revived = false},
    /* m00's own recovery is delivered after its incident died: re-sending the
     * incident now would leave the receiver showing DOWN for a monitor that is
     * UP.  In order means the stale incident must not follow its recovery:
     * the sender marks it superseded (kept, listed, re-sendable by hand). */
    {.name = "stale_incident_not_resent_after_recovery", .max_age_ms = DAY_MS, .second = 0,
     .revived = false},
};

static bool step_revive(struct harness *h)
{
    const struct revive_case *c = h->scenario;

    switch (h->phase) {
    case 0:
        send_alert(h, 0, TOCSIN_NOTIFY_INCIDENT);
        h->phase = 1;
        return false;
    case 1: /* dead: now another alert that the receiver takes */
        if (h->n_reports >= 1) {
            h->seen = stats(h);
            send_alert(h, c->second, c->second == 0 ? TOCSIN_NOTIFY_RECOVERY
                                                    : TOCSIN_NOTIFY_INCIDENT);
            h->phase = 2;
        }
        return false;
    case 2:
        if (stats(h).delivered >= (c->revived ? 2 : 1)) {
            h->mark = uv_now(&h->loop) + SETTLE_MS;
            h->phase = 3;
        }
        return false;
    default:
        return uv_now(&h->loop) >= h->mark;
    }
}

static void test_dead_letter(void **state)
{
    struct harness *h = *state;
    const struct revive_case *c = h->scenario;
    const struct test_answer plan[] = {{.status = 410}};
    static struct arrival a[ARRIVALS_MAX];
    size_t n;

    print_message("case %s\n", c->name);
    h->hook.max_age_ms = c->max_age_ms;
    assert_int_equal(test_receiver_plan(h->rx, plan, 1), 0);
    start(h, false);
    run(h, step_revive);

    /* After the 410: one attempt, no retry, held as a dead letter. */
    assert_int_equal(h->reports[0].status, 410);
    assert_false(h->reports[0].will_retry);
    assert_false(h->reports[0].delivered);
    assert_int_equal(h->seen.dead_now, 1);
    assert_int_equal(h->seen.attempts, 1);
    n = arrivals(h, a, ARRIVALS_MAX);
    assert_int_equal(n, c->revived ? 3 : 2);
    assert_well_formed(a, n);
    assert_string_equal(a[0].monitor, "m00");
    assert_true(a[0].incident);
    assert_int_equal(a[0].d.status, 410);
    assert_string_equal(a[1].monitor, h->ids[c->second]);
    assert_int_equal(a[1].d.status, 200);
    if (c->revived) { /* re-sent under its request id, and delivered */
        assert_string_equal(a[2].monitor, "m00");
        assert_string_equal(a[2].d.request_id, a[0].d.request_id);
        assert_int_equal(a[2].d.status, 200);
    }
    arrivals_free(a, n);
    assert_int_equal(h->final.dead, 1);
    assert_int_equal(h->final.dead_now, c->revived ? 0 : 1);
    assert_int_equal(h->final.delivered, c->revived ? 2 : 1);
}

/* ---- Retry-After is clamped to 1 h ------------------------------------------- */

static bool step_first_report(struct harness *h)
{
    if (h->phase == 0) {
        send_alert(h, 0, TOCSIN_NOTIFY_INCIDENT);
        h->phase = 1;
    }
    return h->n_reports >= 1;
}

static void test_retry_after_clamped(void **state)
{
    struct harness *h = *state;
    const struct test_answer plan[] = {{.status = 503, .retry_after = "86400"}};

    assert_int_equal(test_receiver_plan(h->rx, plan, 1), 0);
    start(h, false);
    run(h, step_first_report);
    assert_int_equal(h->reports[0].status, 503);
    assert_true(h->reports[0].will_retry);
    assert_int_equal(h->reports[0].retry_in_ms, 3600 * 1000);
    assert_int_equal(h->final.waiting, 1); /* kept for later, not dropped */
}

/* ---- bodies over 1 MB are refused when built ----------------------------------- */

static bool step_oversized(struct harness *h)
{
    struct tocsin_alert a = {
        .monitor = &h->monitors[0],
        .region = "test",
        .monitor_status = TOCSIN_STATUS_DOWN,
        .previous_status = TOCSIN_STATUS_UP,
        .type = TOCSIN_NOTIFY_INCIDENT,
    };
    int rc;

    a.check_result.status = TOCSIN_STATUS_DOWN;
    rc = tocsin_sender_send(h->sender, &a);
    if (rc != -EFBIG)
        give_up(h, "a body over 1 MB gave %d, not -EFBIG", rc);
    return true;
}

static void test_oversized_body_refused(void **state)
{
    struct harness *h = *state;
    size_t len = 1024 * 1024 + 16;
    char *name = malloc(len + 1);

    assert_non_null(name);
    memset(name, 'n', len);
    name[len] = '\0';
    h->monitors[0].name = name;
    start(h, false);
    run(h, step_oversized);
    free(name);
    assert_int_equal(h->final.queued, 0);
    assert_int_equal(h->final.waiting, 0);
    assert_int_equal(test_receiver_count(h->rx), 0);
}

/* ---- rate limit: never more than N in any window ---------------------------- */

#define RATE_N 4
#define RATE_PERIOD_MS 1000
#define RATE_ALERTS 12

static bool step_rate(struct harness *h)
{
    if (h->phase == 0) {
        for (size_t i = 0; i < RATE_ALERTS; i++)
            send_alert(h, i, TOCSIN_NOTIFY_INCIDENT);
        h->phase = 1;
        return false;
    }
    return stats(h).delivered == RATE_ALERTS;
}

static void test_rate_limit_sliding_window(void **state)
{
    struct harness *h = *state;
    static struct arrival a[ARRIVALS_MAX];
    uint64_t at[RATE_ALERTS];
    size_t n;

    h->hook.rate_limit = RATE_N;
    h->hook.rate_period_ms = RATE_PERIOD_MS;
    start(h, false);
    run(h, step_rate);

    n = arrivals(h, a, ARRIVALS_MAX);
    assert_int_equal(n, RATE_ALERTS);
    assert_well_formed(a, n);
    for (size_t i = 0; i < n; i++)
        at[i] = a[i].d.arrived_ms;
    arrivals_free(a, n);
    qsort(at, n, sizeof(at[0]), by_arrival);
    /* 12 sends at 4 per second: the 5th waits a window, the 9th two. */
    if (at[n - 1] - at[0] + 2 * SLACK_MS < 2 * RATE_PERIOD_MS)
        fail_msg("12 alerts took only %" PRIu64 " ms", at[n - 1] - at[0]);
    /* No RATE_N + 1 arrivals inside one window (slack: arrival vs. send time). */
    for (size_t i = 0; i + RATE_N < n; i++)
        if (at[i + RATE_N] - at[i] + 2 * SLACK_MS < RATE_PERIOD_MS)
            fail_msg("arrivals %zu..%zu within %" PRIu64 " ms", i, i + RATE_N,
                     at[i + RATE_N] - at[i]);
}

/* ---- order per monitor; other monitors go on ---------------------------------- */

static bool step_order(struct harness *h)
{
    if (h->phase == 0) {
        send_alert(h, 0, TOCSIN_NOTIFY_INCIDENT);
        send_alert(h, 0, TOCSIN_NOTIFY_RECOVERY);
        send_alert(h, 1, TOCSIN_NOTIFY_INCIDENT);
        h->phase = 1;
        return false;
    }
    return stats(h).delivered == 3;
}

static void test_recovery_never_overtakes_incident(void **state)
{
    struct harness *h = *state;
    /* Only m00's first request fails, whichever arrives first. */
    const struct test_answer plan[] = {{.status = 500, .match = "\"id\":\"m00\""}};
    static struct arrival a[ARRIVALS_MAX];
    const struct arrival *m00[3] = {NULL}, *m01 = NULL;
    size_t n, k = 0;

    assert_int_equal(test_receiver_plan(h->rx, plan, 1), 0);
    start(h, false);
    run(h, step_order);

    n = arrivals(h, a, ARRIVALS_MAX);
    assert_int_equal(n, 4);
    assert_well_formed(a, n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(a[i].monitor, "m00") == 0 && k < 3)
            m00[k++] = &a[i];
        else if (strcmp(a[i].monitor, "m01") == 0)
            m01 = &a[i];
    }
    assert_int_equal(k, 3);
    assert_non_null(m01);
    /* incident (500), incident again (200), and only then the recovery */
    assert_true(m00[0]->incident);
    assert_int_equal(m00[0]->d.status, 500);
    assert_true(m00[1]->incident);
    assert_int_equal(m00[1]->d.status, 200);
    assert_string_equal(m00[1]->d.request_id, m00[0]->d.request_id);
    assert_false(m00[2]->incident);
    assert_string_not_equal(m00[2]->d.request_id, m00[0]->d.request_id);
    assert_true(m00[2]->d.arrived_ms >= m00[1]->d.arrived_ms);
    /* m01 did not wait behind m00's retry (backoff >= 160 ms). */
    assert_true(m01->d.arrived_ms < m00[1]->d.arrived_ms);
    arrivals_free(a, n);
}

/* ---- at most 16 in flight per webhook ------------------------------------------ */

#define FLOOD 40
#define IN_FLIGHT_MAX 16

static bool step_in_flight(struct harness *h)
{
    switch (h->phase) {
    case 0:
        for (size_t i = 0; i < FLOOD; i++)
            send_alert(h, i, TOCSIN_NOTIFY_INCIDENT);
        h->phase = 1;
        return false;
    case 1: /* the window fills; then watch a while that nothing more starts */
        if (test_receiver_hung(h->rx) >= IN_FLIGHT_MAX) {
            h->mark = uv_now(&h->loop) + 2 * SETTLE_MS;
            h->phase = 2;
        }
        return false;
    default:
        if (uv_now(&h->loop) < h->mark)
            return false;
        h->seen = stats(h);
        return true;
    }
}

static void test_at_most_16_in_flight(void **state)
{
    struct harness *h = *state;
    const struct test_answer hang = {.action = TEST_HANG};

    assert_int_equal(test_receiver_set_default(h->rx, &hang), 0);
    h->drain_ms = 0; /* nothing will finish: cut them at once */
    start(h, false);
    run(h, step_in_flight);

    assert_int_equal(h->max_in_flight, IN_FLIGHT_MAX);
    assert_int_equal(h->seen.in_flight, IN_FLIGHT_MAX);
    assert_int_equal(h->seen.waiting, FLOOD - IN_FLIGHT_MAX);
    assert_int_equal(test_receiver_count(h->rx), IN_FLIGHT_MAX);
    assert_true(test_receiver_max_active(h->rx) <= IN_FLIGHT_MAX);
}

/* ---- durability: a clean restart ---------------------------------------------- */

#define DURABLE 5

/* Until every alert hangs at the receiver: each was committed before it went out. */
static bool step_durable_first(struct harness *h)
{
    if (h->phase == 0) {
        for (size_t i = 0; i < DURABLE; i++)
            send_alert(h, i, TOCSIN_NOTIFY_INCIDENT);
        h->phase = 1;
        return false;
    }
    return test_receiver_hung(h->rx) >= DURABLE;
}

/* Nothing is sent: the sender resumes what the outbox holds. */
static bool step_resume(struct harness *h)
{
    return stats(h).delivered >= DURABLE;
}

static bool step_nothing(struct harness *h)
{
    (void)h;
    return true;
}

/* Checks that arrivals FROM.. carry exactly IDS (any order), with BODIES. */
static void assert_same_deliveries(struct harness *h, size_t from, char ids[][64],
                                   char *bodies[], size_t n_ids)
{
    static struct arrival a[ARRIVALS_MAX];
    size_t n = arrivals(h, a, ARRIVALS_MAX);

    assert_int_equal(n - from, n_ids);
    assert_well_formed(a + from, n - from);
    for (size_t i = from; i < n; i++) {
        size_t j = 0;
        while (j < n_ids && strcmp(ids[j], a[i].d.request_id) != 0)
            j++;
        if (j == n_ids)
            fail_msg("request id %s was not sent before the restart", a[i].d.request_id);
        assert_string_equal(a[i].d.body, bodies[j]); /* the exact bytes, from the outbox */
        ids[j][0] = '\0';                            /* each id once */
    }
    arrivals_free(a, n);
}

/* Collects the request ids and bodies of the first N arrivals. */
static void collect_first(struct harness *h, size_t n, char ids[][64], char *bodies[])
{
    for (size_t i = 0; i < n; i++) {
        struct test_delivery d;
        assert_int_equal(test_receiver_get(h->rx, i, &d), 0);
        snprintf(ids[i], 64, "%s", d.request_id);
        bodies[i] = d.body; /* the caller frees */
    }
}

/* Opens the store on its own and returns how many rows are still owed. */
static size_t rows_left(struct harness *h)
{
    struct tocsin_outbox_row *rows = NULL;
    size_t n = 0;

    start(h, true);
    assert_int_equal(tocsin_store_load(h->store, &rows, &n), 0);
    tocsin_outbox_rows_free(rows, n);
    run(h, step_nothing);
    return n;
}

static void test_outbox_survives_restart(void **state)
{
    struct harness *h = *state;
    const struct test_answer hang = {.action = TEST_HANG};
    char ids[DURABLE][64];
    char *bodies[DURABLE] = {NULL};

    assert_int_equal(test_receiver_set_default(h->rx, &hang), 0);
    start(h, true);
    run(h, step_durable_first);
    assert_int_equal(test_receiver_count(h->rx), DURABLE);
    assert_int_equal(h->final.in_flight, DURABLE);
    collect_first(h, DURABLE, ids, bodies);

    /* The receiver is back; a new sender on the same state_dir. */
    test_receiver_release_hung(h->rx);
    test_receiver_set_status(h->rx, 200);
    start(h, true);
    run(h, step_resume);
    assert_int_equal(h->final.queued, DURABLE);
    assert_int_equal(h->final.delivered, DURABLE);
    assert_same_deliveries(h, DURABLE, ids, bodies, DURABLE);
    for (size_t i = 0; i < DURABLE; i++)
        free(bodies[i]);
    /* Their rows say delivered now: a third start owes nothing. */
    assert_int_equal(rows_left(h), 0);
}

/* ---- durability: kill -9 ------------------------------------------------------ */

/* The child: a sender with a store sends DURABLE alerts to a receiver that
 * hangs, and runs until killed.  Never returns into cmocka. */
static void crash_child(struct harness *h, int port_fd)
{
    uint16_t port = 0;
    char err[256];

    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a parent that died */
    if (read(port_fd, &port, sizeof(port)) != (ssize_t)sizeof(port))
        _exit(2);
    close(port_fd);
    configure(h, port);
    if (uv_loop_init(&h->loop) != 0 ||
        tocsin_store_open(&h->loop, h->dir, &h->store, err, sizeof(err)) != 0 ||
        tocsin_resolver_new(&h->loop, NULL, &h->resolver) != 0 ||
        tocsin_sender_new(&h->loop, &h->config, h->resolver, h->store, &h->sender) != 0)
        _exit(3);
    for (size_t i = 0; i < DURABLE; i++)
        if (send_alert(h, i, TOCSIN_NOTIFY_INCIDENT) < 0)
            _exit(4);
    uv_run(&h->loop, UV_RUN_DEFAULT); /* the requests hang: runs until killed */
    _exit(5);
}

static void test_outbox_survives_kill9(void **state)
{
    struct harness *h = *state;
    const struct test_answer hang = {.action = TEST_HANG};
    char ids[DURABLE][64];
    char *bodies[DURABLE] = {NULL};
    struct tocsin_outbox_row *rows = NULL;
    size_t n_rows = 0;
    int fds[2], status = 0;
    uint16_t port;
    uint64_t until;
    pid_t child, reaped = 0;

    /* The child learns the receiver's port through a pipe, so it can be forked
     * before the receiver's thread exists. */
    assert_int_equal(pipe(fds), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(fds[1]);
        crash_child(h, fds[0]);
    }
    h->child = child;
    close(fds[0]);
    h->rx = test_receiver_start(SECRET);
    assert_non_null(h->rx);
    assert_int_equal(test_receiver_set_default(h->rx, &hang), 0);
    port = test_receiver_port(h->rx);
    configure(h, port);
    assert_int_equal(write(fds[1], &port, sizeof(port)), (ssize_t)sizeof(port));
    close(fds[1]);

    /* Every alert hangs at the receiver: each row was committed before it went out. */
    until = test_monotonic_ms() + DEADLINE_MS;
    while (test_receiver_hung(h->rx) < DURABLE && test_monotonic_ms() < until &&
           (reaped = waitpid(child, &status, WNOHANG)) == 0)
        usleep(10 * 1000);
    if (reaped == 0) {
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
    }
    h->child = 0;
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("the child ended by itself (status %d) before it was killed", status);
    assert_int_equal(test_receiver_count(h->rx), DURABLE);
    collect_first(h, DURABLE, ids, bodies);

    /* The outbox as the child left it: every row pending, under the ids sent. */
    test_receiver_release_hung(h->rx);
    test_receiver_set_status(h->rx, 200);
    start(h, true);
    /* start() already loaded the rows into the sender; read them once more to
     * compare with what went out before the kill. */
    assert_int_equal(tocsin_store_load(h->store, &rows, &n_rows), 0);
    assert_int_equal(n_rows, DURABLE);
    for (size_t i = 0; i < n_rows; i++) {
        bool found = false;
        assert_int_equal(rows[i].state, TOCSIN_OUTBOX_PENDING);
        for (size_t j = 0; j < DURABLE; j++)
            found |= strcmp(rows[i].request_id, ids[j]) == 0;
        assert_true(found);
    }
    tocsin_outbox_rows_free(rows, n_rows);
    run(h, step_resume);
    assert_int_equal(h->final.delivered, DURABLE);
    assert_same_deliveries(h, DURABLE, ids, bodies, DURABLE);
    for (size_t i = 0; i < DURABLE; i++)
        free(bodies[i]);
    assert_int_equal(rows_left(h), 0);
}

/* ---- a receiver that resets every connection ------------------------------------ */

#define RESET_ALERTS 30

static bool step_all_reported(struct harness *h)
{
    if (h->phase == 0) {
        for (size_t i = 0; i < RESET_ALERTS; i++)
            send_alert(h, i, TOCSIN_NOTIFY_INCIDENT);
        h->phase = 1;
    }
    return h->n_reports >= RESET_ALERTS;
}

/* Each attempt fails as a reset: curl's first message after an RST right
 * behind the connect ("getpeername() failed with errno 107", which did not
 * fail the transfer) never becomes the delivery's error. */
static void test_receiver_resets(void **state)
{
    struct harness *h = *state;
    struct test_server_opts o = {.mode = TEST_SERVER_RESET};
    struct test_server *server = test_server_start(&o);

    assert_non_null(server);
    snprintf(h->url, sizeof(h->url), "http://127.0.0.1:%u" HOOK_PATH,
             (unsigned)test_server_port(server));
    h->hook.retries = 0;
    start(h, true);
    run(h, step_all_reported);
    test_server_stop(server);
    assert_int_equal(h->n_reports, RESET_ALERTS);
    for (size_t i = 0; i < h->n_reports; i++) {
        const struct report_copy *c = &h->reports[i];
        assert_false(c->delivered);
        assert_int_equal(c->status, 0);
        if (strstr(c->error, "getpeername") != NULL || c->error[0] == '\0')
            fail_msg("attempt %zu: error \"%s\"", i, c->error);
    }
}

/* ---- alertmanager: firing alerts re-posted, not stored ---------------------------- */

#define REFIRE_MS 300
#define AM_PATH "/api/v2/alerts"
#define AM_PEERS 2
#define AM_MIN_POSTS 4     /* per peer while firing: the incident and three re-posts */
#define AM_MIN_SPAN_MS 1250 /* and over a second apart, so endsAt (in seconds) moves */

/* Both peers of the webhook are this receiver: by address and by name. */
static void configure_alertmanager(struct harness *h, char urls[AM_PEERS][128], char *list[])
{
    uint16_t port = test_receiver_port(h->rx);

    snprintf(urls[0], 128, "http://127.0.0.1:%u", (unsigned)port);
    snprintf(urls[1], 128, "http://localhost:%u", (unsigned)port);
    list[0] = urls[0];
    list[1] = urls[1];
    h->hook.format = "alertmanager";
    h->hook.urls = list;
    h->hook.n_urls = AM_PEERS;
}

/* Requests that came to HOST_PREFIX ("127.0.0.1:" or "localhost:"). */
static size_t posts_to(const struct arrival *a, size_t n, const char *host_prefix,
                       const struct arrival **out, size_t max)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        if (strncmp(a[i].d.host, host_prefix, strlen(host_prefix)) == 0 && k < max)
            out[k++] = &a[i];
    return k;
}

static size_t count_to(struct harness *h, const char *host_prefix, uint64_t *first, uint64_t *last)
{
    size_t n = test_receiver_count(h->rx), k = 0;

    for (size_t i = 0; i < n; i++) {
        struct test_delivery d;
        if (test_receiver_get(h->rx, i, &d) != 0)
            continue;
        if (strncmp(d.host, host_prefix, strlen(host_prefix)) == 0) {
            if (k++ == 0)
                *first = d.arrived_ms;
            *last = d.arrived_ms;
        }
        test_delivery_free(&d);
    }
    return k;
}

static bool step_refire(struct harness *h)
{
    uint64_t first[AM_PEERS] = {0}, last[AM_PEERS] = {0};
    size_t k0, k1;

    switch (h->phase) {
    case 0:
        send_alert(h, 0, TOCSIN_NOTIFY_INCIDENT);
        h->phase = 1;
        return false;
    case 1: /* firing: re-posts come to both peers */
        k0 = count_to(h, "127.0.0.1:", &first[0], &last[0]);
        k1 = count_to(h, "localhost:", &first[1], &last[1]);
        if (k0 >= AM_MIN_POSTS && k1 >= AM_MIN_POSTS && last[0] - first[0] >= AM_MIN_SPAN_MS &&
            last[1] - first[1] >= AM_MIN_SPAN_MS) {
            send_alert(h, 0, TOCSIN_NOTIFY_RECOVERY);
            h->phase = 2;
        }
        return false;
    case 2: /* the recovery is in: then three periods and more with nothing else */
        if (stats(h).delivered == 2 * AM_PEERS) {
            h->seen = stats(h);
            h->mark = uv_now(&h->loop) + 3 * REFIRE_MS + SETTLE_MS;
            h->phase = 3;
        }
        return false;
    default:
        return uv_now(&h->loop) >= h->mark;
    }
}

/* "endsAt":"2024-...Z" of BODY into OUT (RFC 3339 in UTC compares as text). */
static void ends_at(const char *body, char *out, size_t size)
{
    const char *p = strstr(body, "\"endsAt\":\"");
    const char *end = p ? strchr(p + 10, '"') : NULL;

    if (end == NULL)
        fail_msg("no endsAt in %s", body);
    snprintf(out, size, "%.*s", (int)(end - (p + 10)), p + 10);
}

/* Everything of an alertmanager body before its endsAt: labels, annotations, startsAt. */
static size_t before_ends_at(const char *body)
{
    const char *p = strstr(body, "\"endsAt\"");

    assert_non_null(p);
    return (size_t)(p - body);
}

static long count_rows(struct harness *h, const char *where)
{
    char path[128], sql[256];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long n = -1;

    snprintf(path, sizeof(path), "%s/tocsin.db", h->dir);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM outbox WHERE %s", where);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* While an incident is still being retried (the receiver answers 503), its
 * monitor gets no re-post: every request then is a retry of the incident,
 * under its request ids.  Another monitor whose incident went out is
 * re-posted meanwhile.  Once the receiver answers 2xx, m00 is re-posted too. */
static size_t requests_while_failing;

static bool step_refire_waits(struct harness *h)
{
    switch (h->phase) {
    case 0:
        send_alert(h, 1, TOCSIN_NOTIFY_INCIDENT);
        h->phase = 1;
        return false;
    case 1: /* m01 delivered: now the receiver fails, and m00 goes DOWN */
        if (stats(h).delivered < AM_PEERS)
            return false;
        test_receiver_set_status(h->rx, 503);
        send_alert(h, 0, TOCSIN_NOTIFY_INCIDENT);
        h->mark = uv_now(&h->loop) + 4 * REFIRE_MS;
        h->phase = 2;
        return false;
    case 2:
        if (uv_now(&h->loop) < h->mark)
            return false;
        requests_while_failing = test_receiver_count(h->rx);
        test_receiver_set_status(h->rx, 200);
        h->mark = uv_now(&h->loop) + 4 * REFIRE_MS + SETTLE_MS;
        h->phase = 3;
        return false;
    default:
        return uv_now(&h->loop) >= h->mark;
    }
}

static void test_alertmanager_refire_waits_for_queued(void **state)
{
    struct harness *h = *state;
    static struct arrival a[ARRIVALS_MAX];
    char urls[AM_PEERS][128], *list[AM_PEERS];
    char ids[AM_PEERS][sizeof(((struct test_delivery *)0)->request_id)];
    size_t n, n_ids = 0, m00_reposts = 0, m01_while_failing = 0;

    configure_alertmanager(h, urls, list);
    h->hook.retries = 20;
    h->hook.retry_backoff_ms = 100;
    start(h, true);
    tocsin_sender_set_refire_ms(h->sender, REFIRE_MS);
    run(h, step_refire_waits);

    n = arrivals(h, a, ARRIVALS_MAX);
    for (size_t i = 0; i < n; i++) {
        bool failing = i < requests_while_failing;
        if (strstr(a[i].d.body, "\"monitor\":\"m01\"") != NULL) {
            m01_while_failing += failing;
            continue;
        }
        if (failing) {
            /* Only the incident's own ids (one per peer) retried. */
            size_t j = 0;
            while (j < n_ids && strcmp(ids[j], a[i].d.request_id) != 0)
                j++;
            if (j == n_ids) {
                if (n_ids == AM_PEERS)
                    fail_msg("m00 got request id %s while its incident was retried",
                             a[i].d.request_id);
                snprintf(ids[n_ids++], sizeof(ids[0]), "%s", a[i].d.request_id);
            }
        } else {
            bool old = strcmp(a[i].d.request_id, ids[0]) == 0 ||
                       (n_ids > 1 && strcmp(a[i].d.request_id, ids[1]) == 0);
            m00_reposts += !old;
        }
    }
    arrivals_free(a, n);
    /* One per peer at most (a monitor's rows go in order, so the second peer's
     * may wait behind the first one's retries). */
    assert_true(n_ids >= 1 && n_ids <= AM_PEERS);
    /* m01 was re-posted (the attempts answered 503) while m00 waited. */
    assert_true(m01_while_failing >= AM_PEERS);
    /* After the receiver recovered: m00's incident went through, then re-posts. */
    assert_true(m00_reposts >= AM_PEERS);
}

static void test_alertmanager_refire(void **state)
{
    struct harness *h = *state;
    static const char *const peers[AM_PEERS] = {"127.0.0.1:", "localhost:"};
    static struct arrival a[ARRIVALS_MAX];
    const struct arrival *p[ARRIVALS_MAX];
    char urls[AM_PEERS][128], *list[AM_PEERS];
    char first_end[40], end[40], prev_end[40];
    size_t n, total_incident = 0;

    configure_alertmanager(h, urls, list);
    start(h, true);
    tocsin_sender_set_refire_ms(h->sender, REFIRE_MS);
    run(h, step_refire);

    n = arrivals(h, a, ARRIVALS_MAX);
    /* Every post has a request id of its own: only retries share one. */
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(a[i].d.method, "POST");
        assert_string_equal(a[i].d.path, AM_PATH);
        assert_int_equal(strlen(a[i].d.request_id), 36);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(a[i].d.request_id, a[j].d.request_id);
    }
    for (size_t peer = 0; peer < AM_PEERS; peer++) {
        size_t k = posts_to(a, n, peers[peer], p, ARRIVALS_MAX), firing = 0;
        /* The incident, re-posts of the same alert, then the recovery and nothing else. */
        assert_true(k >= AM_MIN_POSTS + 1);
        while (firing < k && strstr(p[firing]->d.body, "is DOWN") != NULL)
            firing++;
        assert_int_equal(firing, k - 1);
        assert_non_null(strstr(p[k - 1]->d.body, "is UP again"));
        total_incident += firing;
        ends_at(p[0]->d.body, first_end, sizeof(first_end));
        snprintf(prev_end, sizeof(prev_end), "%s", first_end);
        for (size_t i = 0; i < firing; i++) {
            size_t same = before_ends_at(p[0]->d.body);
            assert_non_null(strstr(p[i]->d.body, "\"monitor\":\"m00\""));
            assert_int_equal(before_ends_at(p[i]->d.body), same);
            assert_memory_equal(p[i]->d.body, p[0]->d.body, same);
            ends_at(p[i]->d.body, end, sizeof(end));
            if (strcmp(end, prev_end) < 0)
                fail_msg("endsAt went back from %s to %s", prev_end, end);
            snprintf(prev_end, sizeof(prev_end), "%s", end);
            /* Re-posts are a period apart, never faster. */
            if (i >= 2 && p[i]->d.arrived_ms - p[i - 1]->d.arrived_ms + SLACK_MS < REFIRE_MS)
                fail_msg("re-posts %zu and %zu only %" PRIu64 " ms apart", i - 1, i,
                         p[i]->d.arrived_ms - p[i - 1]->d.arrived_ms);
        }
        /* Over a second of re-posts: the last one's endsAt is later. */
        if (strcmp(prev_end, first_end) <= 0)
            fail_msg("endsAt stayed at %s over %" PRIu64 " ms", first_end,
                     p[firing - 1]->d.arrived_ms - p[0]->d.arrived_ms);
        ends_at(p[k - 1]->d.body, end, sizeof(end));
        if (strcmp(end, prev_end) >= 0) /* now, not now + 5 min */
            fail_msg("recovery endsAt %s not before the last firing one %s", end, prev_end);
    }
    arrivals_free(a, n);

    /* Re-posts are neither queued, attempted, reported nor retried... */
    assert_int_equal(h->final.queued, 2 * AM_PEERS);
    assert_int_equal(h->final.attempts, 2 * AM_PEERS);
    assert_int_equal(h->final.delivered, 2 * AM_PEERS);
    assert_int_equal(h->final.retried, 0);
    assert_int_equal(h->n_reports, 2 * AM_PEERS);
    assert_int_equal(h->final.resent, total_incident - AM_PEERS);
    /* ...none after the recovery... */
    assert_int_equal(h->final.resent, h->seen.resent);
    /* ...and never stored: the outbox has each peer's incident and recovery only. */
    assert_int_equal(count_rows(h, "event = 'incident'"), AM_PEERS);
    assert_int_equal(count_rows(h, "event = 'recovery'"), AM_PEERS);
    assert_int_equal(count_rows(h, "1"), 2 * AM_PEERS);
}

/* A re-post that fails is not retried: the next period sends a new one. */
static bool step_refire_fails(struct harness *h)
{
    switch (h->phase) {
    case 0:
        send_alert(h, 0, TOCSIN_NOTIFY_INCIDENT);
        h->phase = 1;
        return false;
    default:
        return test_receiver_count(h->rx) >= 4;
    }
}

static void test_alertmanager_refire_not_retried(void **state)
{
    struct harness *h = *state;
    const struct test_answer ok = {.status = 200};
    static struct arrival a[ARRIVALS_MAX];
    char urls[AM_PEERS][128], *list[AM_PEERS];
    size_t n;

    configure_alertmanager(h, urls, list);
    h->hook.n_urls = 1;
    assert_int_equal(test_receiver_plan(h->rx, &ok, 1), 0); /* the incident itself */
    test_receiver_set_status(h->rx, 500);                  /* every re-post */
    start(h, false);
    tocsin_sender_set_refire_ms(h->sender, REFIRE_MS);
    run(h, step_refire_fails);

    n = arrivals(h, a, ARRIVALS_MAX);
    assert_true(n >= 4);
    assert_int_equal(a[0].d.status, 200);
    for (size_t i = 1; i < n; i++) {
        assert_int_equal(a[i].d.status, 500);
        assert_string_not_equal(a[i].d.request_id, a[i - 1].d.request_id);
        /* no retry between two periods (backoff 200 ms < the 300 ms period) */
        if (i >= 2 && a[i].d.arrived_ms - a[i - 1].d.arrived_ms + SLACK_MS < REFIRE_MS)
            fail_msg("posts %zu and %zu only %" PRIu64 " ms apart", i - 1, i,
                     a[i].d.arrived_ms - a[i - 1].d.arrived_ms);
    }
    arrivals_free(a, n);
    assert_int_equal(h->final.attempts, 1);
    assert_int_equal(h->final.retried, 0);
    assert_int_equal(h->final.dead, 0);
    assert_int_equal(h->n_reports, 1);
}

/* ---- closing while an outbox insert is on its way ------------------------------ */

/* Sends and closes the sender in the same tick: the insert is still queued in
 * the store (batches commit within 50 ms), so its callback fires after the
 * sender is gone, when the store closes.  ASan and valgrind see a use after free. */
static bool step_send_and_close(struct harness *h)
{
    send_alert(h, 0, TOCSIN_NOTIFY_INCIDENT);
    h->seen = stats(h);
    return true;
}

static void test_close_while_storing(void **state)
{
    struct harness *h = *state;

    start(h, true);
    run(h, step_send_and_close);
    assert_int_equal(h->seen.queued, 1);
    assert_int_equal(h->seen.waiting, 1);
    assert_int_equal(h->seen.attempts, 0);
    assert_int_equal(test_receiver_count(h->rx), 0);
    /* The store committed the row as it closed: the next run sends it. */
    assert_int_equal(count_rows(h, "state = 0 AND attempts = 0"), 1);
    assert_int_equal(count_rows(h, "1"), 1);
}

/* ---- outbox listing ------------------------------------------------------------------ */

struct entry_copy {
    int64_t id;
    char request_id[40];
    char webhook[16];
    char monitor[16];
    char event[16];
    char state[16];
    char last_error[200];
    bool has_error;
    int level;
    int attempts;
    int64_t created_ms;
    int64_t next_attempt_ms;
};

#define LISTING_MAX 16

struct listing {
    struct entry_copy e[LISTING_MAX];
    size_t n;
    bool overflow;
};

static void on_visit(void *data, const struct tocsin_outbox_entry *e)
{
    struct listing *l = data;
    struct entry_copy *c;

    if (l->n >= LISTING_MAX) {
        l->overflow = true;
        return;
    }
    c = &l->e[l->n++];
    c->id = e->id;
    snprintf(c->request_id, sizeof(c->request_id), "%s", e->request_id);
    snprintf(c->webhook, sizeof(c->webhook), "%s", e->webhook);
    snprintf(c->monitor, sizeof(c->monitor), "%s", e->monitor);
    snprintf(c->event, sizeof(c->event), "%s", e->event);
    snprintf(c->state, sizeof(c->state), "%s", e->state);
    c->has_error = e->last_error != NULL;
    snprintf(c->last_error, sizeof(c->last_error), "%s", e->last_error ? e->last_error : "");
    c->level = e->level;
    c->attempts = e->attempts;
    c->created_ms = e->created_ms;
    c->next_attempt_ms = e->next_attempt_ms;
}

static struct listing list_outbox(struct harness *h)
{
    struct listing l = {.n = 0};

    tocsin_sender_outbox_each(h->sender, on_visit, &l);
    if (l.overflow)
        give_up(h, "more than %d outbox entries", LISTING_MAX);
    return l;
}

/* Rows the outbox holds now (tocsin_store_load waits for what is queued). */
static size_t store_rows(struct harness *h, char ids[][40], size_t max)
{
    struct tocsin_outbox_row *rows = NULL;
    size_t n = 0;

    if (tocsin_store_load(h->store, &rows, &n) < 0) {
        give_up(h, "tocsin_store_load failed");
        return 0;
    }
    for (size_t i = 0; i < n && i < max; i++)
        snprintf(ids[i], 40, "%s", rows[i].request_id);
    tocsin_outbox_rows_free(rows, n);
    return n;
}

/* ---- reload: the sender is re-created while an insert is on its way -------------- */

struct reload_ctx {
    char request_id[40];
    struct listing before;  /* what the first sender listed at once */
};

static void on_reload_closed(void *data)
{
    struct harness *h = data;

    h->reloading = false;
    if (h->stopping) { /* gave up meanwhile: finish the stop */
        h->sender = NULL;
        if (h->resolver)
            tocsin_resolver_close(h->resolver);
        h->resolver = NULL;
        if (h->store)
            tocsin_store_close(h->store, on_store_closed, h);
        else
            on_store_closed(h);
        return;
    }
    /* As the agent does on SIGHUP: same store, same resolver, a new sender.
     * The old insert commits before the new sender reads the outbox. */
    if (tocsin_sender_new(&h->loop, &h->config, h->resolver, h->store, &h->sender) < 0) {
        h->sender = NULL;
        give_up(h, "tocsin_sender_new after the reload failed");
        return;
    }
    tocsin_sender_on_delivery(h->sender, on_delivery, h);
}

static bool step_reload(struct harness *h)
{
    struct reload_ctx *ctx = h->ctx;
    struct tocsin_sender *old;

    switch (h->phase) {
    case 0:
        send_alert(h, 0, TOCSIN_NOTIFY_INCIDENT);
        ctx->before = list_outbox(h);
        if (ctx->before.n == 1)
            snprintf(ctx->request_id, sizeof(ctx->request_id), "%s",
                     ctx->before.e[0].request_id);
        old = h->sender;
        h->sender = NULL;
        h->reloading = true;
        tocsin_sender_close(old, 0, on_reload_closed, h);
        h->phase = 1;
        return false;
    case 1:
        if (h->sender == NULL || stats(h).delivered < 1)
            return false;
        h->mark = uv_now(&h->loop) + SETTLE_MS;
        h->phase = 2;
        return false;
    default:
        return uv_now(&h->loop) >= h->mark;
    }
}

static void test_reload_while_storing(void **state)
{
    struct harness *h = *state;
    struct reload_ctx ctx = {.request_id = ""};
    static struct arrival a[ARRIVALS_MAX];
    size_t n;

    h->ctx = &ctx;
    start(h, true);
    run(h, step_reload);
    /* Listed at once: not committed yet, so no row id. */
    assert_int_equal(ctx.before.n, 1);
    assert_int_equal(ctx.before.e[0].id, 0);
    assert_string_equal(ctx.before.e[0].state, "storing");
    assert_string_equal(ctx.before.e[0].monitor, "m00");
    assert_string_equal(ctx.before.e[0].event, "incident");
    /* The new sender found it in the outbox and sent it once, under its id. */
    n = arrivals(h, a, ARRIVALS_MAX);
    assert_int_equal(n, 1);
    assert_well_formed(a, n);
    assert_string_equal(a[0].d.request_id, ctx.request_id);
    arrivals_free(a, n);
    assert_int_equal(h->final.queued, 1); /* the new sender's: loaded from the outbox */
    assert_int_equal(h->final.delivered, 1);
    assert_int_equal(count_rows(h, "state = 1"), 1);
    assert_int_equal(count_rows(h, "1"), 1);
}

/* ---- outbox retry: a dead letter sent again by hand -------------------------------- */

struct retry_ctx {
    struct listing dead;      /* listed once dead */
    struct listing after;     /* listed right after the retry */
    struct listing end;       /* listed once delivered */
    int rc_unknown, rc_other, rc_retry, rc_again;
    size_t held;              /* requests seen while the recovery hung */
    struct tocsin_sender_stats after_stats;
};

static bool step_retry(struct harness *h)
{
    struct retry_ctx *ctx = h->ctx;

    switch (h->phase) {
    case 0:
        send_alert(h, 0, TOCSIN_NOTIFY_INCIDENT);
        h->phase = 1;
        return false;
    case 1: /* the 410 made it a dead letter */
        if (h->n_reports < 1)
            return false;
        ctx->dead = list_outbox(h);
        if (ctx->dead.n != 1)
            return give_up(h, "%zu entries listed, expected 1", ctx->dead.n);
        ctx->rc_unknown = tocsin_sender_outbox_retry(h->sender, ctx->dead.e[0].id + 1000, NULL);
        ctx->rc_retry = tocsin_sender_outbox_retry(h->sender, ctx->dead.e[0].id, NULL);
        /* no longer dead: naming it again finds nothing */
        ctx->rc_again = tocsin_sender_outbox_retry(h->sender, ctx->dead.e[0].id, NULL);
        ctx->after = list_outbox(h);
        ctx->after_stats = stats(h);
        h->phase = 2;
        return false;
    case 2:
        if (stats(h).delivered < 1)
            return false;
        ctx->end = list_outbox(h);
        h->mark = uv_now(&h->loop) + SETTLE_MS;
        h->phase = 3;
        return false;
    default:
        return uv_now(&h->loop) >= h->mark;
    }
}

static void test_outbox_list_and_retry(void **state)
{
    struct harness *h = *state;
    const struct test_answer plan[] = {{.status = 410}};
    struct retry_ctx ctx = {.rc_unknown = 0};
    static struct arrival a[ARRIVALS_MAX];
    const struct entry_copy *e = &ctx.dead.e[0];
    size_t n;

    h->ctx = &ctx;
    assert_int_equal(test_receiver_plan(h->rx, plan, 1), 0);
    start(h, true);
    run(h, step_retry);

    /* Listed as a dead letter, with everything the CLI shows. */
    assert_int_equal(ctx.dead.n, 1);
    assert_true(e->id > 0);
    assert_string_equal(e->state, "dead");
    assert_string_equal(e->webhook, "hook");
    assert_string_equal(e->monitor, "m00");
    assert_string_equal(e->event, "incident");
    assert_string_equal(e->request_id, h->reports[0].request_id);
    assert_int_equal(e->level, 1);
    assert_int_equal(e->attempts, 1);
    assert_true(e->created_ms > 0);
    assert_true(e->has_error);
    assert_non_null(strstr(e->last_error, "410"));
    /* Unknown ids, and ids no longer dead, are refused. */
    assert_int_equal(ctx.rc_unknown, -ENOENT);
    assert_int_equal(ctx.rc_retry, 1);
    assert_int_equal(ctx.rc_again, -ENOENT);
    assert_int_equal(ctx.after.n, 1);
    assert_true(strcmp(ctx.after.e[0].state, "pending") == 0 ||
                strcmp(ctx.after.e[0].state, "sending") == 0);
    assert_int_equal(ctx.after.e[0].id, e->id);
    assert_int_equal(ctx.after_stats.dead_now, 0);
    assert_int_equal(ctx.end.n, 0);
    /* Sent again under its request id, and delivered. */
    n = arrivals(h, a, ARRIVALS_MAX);
    assert_int_equal(n, 2);
    assert_well_formed(a, n);
    assert_int_equal(a[0].d.status, 410);
    assert_int_equal(a[1].d.status, 200);
    assert_string_equal(a[1].d.request_id, a[0].d.request_id);
    assert_memory_equal(a[1].d.body, a[0].d.body, a[0].d.body_len);
    arrivals_free(a, n);
    assert_int_equal(h->n_reports, 2);
    assert_int_equal(h->reports[1].attempt, 2); /* attempts keep counting */
    assert_true(h->reports[1].delivered);
    assert_int_equal(h->final.dead, 1);
    assert_int_equal(h->final.dead_now, 0);
    assert_int_equal(count_rows(h, "state = 1"), 1);
    assert_int_equal(count_rows(h, "1"), 1);
}

/* A dead incident retried while its monitor's recovery is in flight waits for
 * it: one in flight per (webhook, monitor), and queue order after that. */
static bool step_retry_in_flight(struct harness *h)
{
    struct retry_ctx *ctx = h->ctx;

    switch (h->phase) {
    case 0:
        send_alert(h, 0, TOCSIN_NOTIFY_INCIDENT);
        h->phase = 1;
        return false;
    case 1: /* the incident is dead (410): the recovery goes, and hangs */
        if (h->n_reports < 1)
            return false;
        ctx->dead = list_outbox(h);
        send_alert(h, 0, TOCSIN_NOTIFY_RECOVERY);
        h->phase = 2;
        return false;
    case 2:
        if (test_receiver_hung(h->rx) < 1)
            return false;
        if (ctx->dead.n != 1)
            return give_up(h, "%zu entries listed, expected 1", ctx->dead.n);
        ctx->rc_retry = tocsin_sender_outbox_retry(h->sender, 0, NULL);
        h->mark = uv_now(&h->loop) + SETTLE_MS;
        h->phase = 3;
        return false;
    case 3: /* a while: nothing else may go while the recovery hangs */
        if (uv_now(&h->loop) < h->mark)
            return false;
        ctx->held = test_receiver_count(h->rx);
        test_receiver_release_hung(h->rx); /* the recovery fails, is retried later */
        h->phase = 4;
        return false;
    case 4:
        if (stats(h).delivered < 2)
            return false;
        h->mark = uv_now(&h->loop) + SETTLE_MS;
        h->phase = 5;
        return false;
    default:
        return uv_now(&h->loop) >= h->mark;
    }
}

static void test_outbox_retry_waits_for_in_flight(void **state)
{
    struct harness *h = *state;
    const struct test_answer plan[] = {{.status = 410}, {.action = TEST_HANG}};
    struct retry_ctx ctx = {.rc_unknown = 0};
    static struct arrival a[ARRIVALS_MAX];
    size_t n;

    h->ctx = &ctx;
    assert_int_equal(test_receiver_plan(h->rx, plan, 2), 0);
    start(h, true);
    run(h, step_retry_in_flight);

    assert_int_equal(ctx.rc_retry, 1);
    assert_int_equal(ctx.held, 2); /* held back while the recovery hung */
    n = arrivals(h, a, ARRIVALS_MAX);
    assert_int_equal(n, 4);
    assert_well_formed(a, n);
    /* incident (410), recovery (hung), then the incident before the recovery */
    assert_true(a[0].incident);
    assert_int_equal(a[0].d.status, 410);
    assert_false(a[1].incident);
    assert_int_equal(a[1].d.action, TEST_HANG);
    assert_true(a[2].incident);
    assert_string_equal(a[2].d.request_id, a[0].d.request_id);
    assert_int_equal(a[2].d.status, 200);
    assert_false(a[3].incident);
    assert_string_equal(a[3].d.request_id, a[1].d.request_id);
    assert_int_equal(a[3].d.status, 200);
    arrivals_free(a, n);
    assert_int_equal(h->final.dead_now, 0);
    assert_int_equal(count_rows(h, "state = 1"), 2);
}

/* ---- outbox purge ---------------------------------------------------------------- */

struct purge_ctx {
    struct listing dead, after_one, after_all;
    int rc_one, rc_unknown, rc_all, rc_none;
    size_t rows_after_one, rows_after_all;
    char row_ids[4][40];
    struct tocsin_sender_stats after_stats;
};

static bool step_purge(struct harness *h)
{
    struct purge_ctx *ctx = h->ctx;

    switch (h->phase) {
    case 0:
        send_alert(h, 0, TOCSIN_NOTIFY_INCIDENT);
        send_alert(h, 1, TOCSIN_NOTIFY_INCIDENT);
        h->phase = 1;
        return false;
    case 1: /* both dead */
        if (h->n_reports < 2)
            return false;
        ctx->dead = list_outbox(h);
        if (ctx->dead.n != 2)
            return give_up(h, "%zu entries listed, expected 2", ctx->dead.n);
        for (size_t i = 0; i < 2; i++)
            if (strcmp(ctx->dead.e[i].monitor, "m00") == 0)
                ctx->rc_one = tocsin_sender_outbox_purge(h->sender, ctx->dead.e[i].id, NULL);
        ctx->rc_unknown = tocsin_sender_outbox_purge(h->sender, 999999, NULL);
        ctx->after_one = list_outbox(h);
        ctx->rows_after_one = store_rows(h, ctx->row_ids, 4);
        ctx->rc_all = tocsin_sender_outbox_purge(h->sender, 0, NULL);
        ctx->rc_none = tocsin_sender_outbox_purge(h->sender, 0, NULL);
        ctx->after_all = list_outbox(h);
        ctx->rows_after_all = store_rows(h, NULL, 0);
        ctx->after_stats = stats(h);
        return true;
    default:
        return true;
    }
}

static void test_outbox_purge(void **state)
{
    struct harness *h = *state;
    const struct test_answer plan[] = {{.status = 410}, {.status = 410}};
    struct purge_ctx ctx = {.rc_one = 0};

    h->ctx = &ctx;
    assert_int_equal(test_receiver_plan(h->rx, plan, 2), 0);
    start(h, true);
    run(h, step_purge);

    assert_int_equal(ctx.dead.n, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(ctx.dead.e[i].state, "dead");
        assert_true(ctx.dead.e[i].id > 0);
    }
    assert_int_equal(ctx.rc_one, 1);
    assert_int_equal(ctx.rc_unknown, -ENOENT);
    /* m00 is gone from the list and from the outbox; m01 stays in both. */
    assert_int_equal(ctx.after_one.n, 1);
    assert_string_equal(ctx.after_one.e[0].monitor, "m01");
    assert_int_equal(ctx.rows_after_one, 1);
    assert_string_equal(ctx.row_ids[0], ctx.after_one.e[0].request_id);
    /* then all of them */
    assert_int_equal(ctx.rc_all, 1);
    assert_int_equal(ctx.rc_none, 0);
    assert_int_equal(ctx.after_all.n, 0);
    assert_int_equal(ctx.rows_after_all, 0);
    assert_int_equal(ctx.after_stats.dead_now, 0);
    assert_int_equal(count_rows(h, "1"), 0);
    assert_int_equal(test_receiver_count(h->rx), 2); /* nothing was sent again */
}

/* ---- outbox retry of one webhook ----------------------------------------------------- */

/* Two webhooks on the same receiver: "hook" (index 0) and "other" (index 1). */
static void use_two_webhooks(struct harness *h)
{
    h->hooks[0] = h->hook;
    h->hooks[1] = h->hook;
    h->hooks[1].name = "other";
    h->config.webhooks = h->hooks;
    h->config.n_webhooks = 2;
}

static bool step_retry_one_webhook(struct harness *h)
{
    struct retry_ctx *ctx = h->ctx;

    switch (h->phase) {
    case 0:
        send_alert_to(h, 0, 0, TOCSIN_NOTIFY_INCIDENT);
        send_alert_to(h, 1, 1, TOCSIN_NOTIFY_INCIDENT);
        h->phase = 1;
        return false;
    case 1: /* both dead */
        if (h->n_reports < 2)
            return false;
        ctx->dead = list_outbox(h);
        if (ctx->dead.n != 2)
            return give_up(h, "%zu entries listed, expected 2", ctx->dead.n);
        /* hook's dead letter named with the wrong webhook: not found */
        ctx->rc_unknown = tocsin_sender_outbox_retry(h->sender, ctx->dead.e[0].id, "other");
        ctx->rc_other = tocsin_sender_outbox_retry(h->sender, 0, "no-such-webhook");
        ctx->rc_retry = tocsin_sender_outbox_retry(h->sender, 0, "other");
        h->phase = 2;
        return false;
    case 2:
        if (stats(h).delivered < 1)
            return false;
        h->mark = uv_now(&h->loop) + SETTLE_MS;
        h->phase = 3;
        return false;
    default:
        if (uv_now(&h->loop) < h->mark)
            return false;
        ctx->end = list_outbox(h);
        return true;
    }
}

static void test_outbox_retry_one_webhook(void **state)
{
    struct harness *h = *state;
    const struct test_answer plan[] = {{.status = 410}, {.status = 410}};
    struct retry_ctx ctx = {.rc_unknown = 0};
    static struct arrival a[ARRIVALS_MAX];
    size_t n;

    h->ctx = &ctx;
    use_two_webhooks(h);
    assert_int_equal(test_receiver_plan(h->rx, plan, 2), 0);
    start(h, true);
    run(h, step_retry_one_webhook);

    /* Listed in config order: hook's, then other's. */
    assert_int_equal(ctx.dead.n, 2);
    assert_string_equal(ctx.dead.e[0].webhook, "hook");
    assert_string_equal(ctx.dead.e[0].monitor, "m00");
    assert_string_equal(ctx.dead.e[1].webhook, "other");
    assert_string_equal(ctx.dead.e[1].monitor, "m01");
    assert_int_equal(ctx.rc_unknown, -ENOENT);
    assert_int_equal(ctx.rc_other, 0);
    assert_int_equal(ctx.rc_retry, 1);
    /* Only other's was sent again; hook's is still a dead letter. */
    n = arrivals(h, a, ARRIVALS_MAX);
    assert_int_equal(n, 3);
    assert_well_formed(a, n);
    assert_string_equal(a[2].monitor, "m01");
    assert_int_equal(a[2].d.status, 200);
    assert_string_equal(a[2].d.request_id, ctx.dead.e[1].request_id);
    arrivals_free(a, n);
    assert_int_equal(ctx.end.n, 1);
    assert_string_equal(ctx.end.e[0].webhook, "hook");
    assert_string_equal(ctx.end.e[0].state, "dead");
    assert_int_equal(h->final.dead_now, 1);
    assert_int_equal(count_rows(h, "state = 2 AND webhook = 'hook'"), 1);
    assert_int_equal(count_rows(h, "state = 1 AND webhook = 'other'"), 1);
}

/* ---- alertmanager: a firing alert restored after a restart --------------------------- */

#define RESTORED_POSTS 2

static bool step_restore_firing(struct harness *h)
{
    struct tocsin_alert alert;

    switch (h->phase) {
    case 0: /* as the agent does for a monitor restored DOWN */
        alert = make_alert(h, 0, 0, TOCSIN_NOTIFY_INCIDENT);
        tocsin_sender_restore_firing(h->sender, &alert);
        h->seen = stats(h);
        h->phase = 1;
        return false;
    case 1: /* re-posted every period, though this sender never sent it */
        if (test_receiver_count(h->rx) < RESTORED_POSTS)
            return false;
        if (stats(h).queued != 0)
            return give_up(h, "a restored alert was queued");
        send_alert(h, 0, TOCSIN_NOTIFY_RECOVERY);
        h->phase = 2;
        return false;
    case 2: /* the recovery ends it: three periods and more with nothing else */
        if (stats(h).delivered < 1)
            return false;
        h->mark = uv_now(&h->loop) + 3 * REFIRE_MS + SETTLE_MS;
        h->phase = 3;
        return false;
    default:
        return uv_now(&h->loop) >= h->mark;
    }
}

static void test_alertmanager_restore_firing(void **state)
{
    struct harness *h = *state;
    static struct arrival a[ARRIVALS_MAX];
    char urls[AM_PEERS][128], *list[AM_PEERS];
    size_t n;

    configure_alertmanager(h, urls, list);
    h->hook.n_urls = 1;
    start(h, true);
    tocsin_sender_set_refire_ms(h->sender, REFIRE_MS);
    run(h, step_restore_firing);

    /* Nothing sent, queued or stored when restored. */
    assert_int_equal(h->seen.queued, 0);
    assert_int_equal(h->seen.resent, 0);
    n = arrivals(h, a, ARRIVALS_MAX);
    assert_true(n >= RESTORED_POSTS + 1);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(a[i].d.path, AM_PATH);
        assert_non_null(strstr(a[i].d.body, "\"monitor\":\"m00\""));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(a[i].d.request_id, a[j].d.request_id);
    }
    /* re-posts of the restored incident, then the recovery, then nothing */
    for (size_t i = 0; i + 1 < n; i++)
        assert_non_null(strstr(a[i].d.body, "is DOWN"));
    assert_non_null(strstr(a[n - 1].d.body, "is UP again"));
    arrivals_free(a, n);
    /* (a re-post cut by the recovery before it arrived counts but is not seen) */
    assert_true(h->final.resent >= n - 1);
    assert_int_equal(h->final.queued, 1);
    assert_int_equal(h->final.delivered, 1);
    assert_int_equal(h->n_reports, 1);
    assert_int_equal(count_rows(h, "event = 'incident'"), 0);
    assert_int_equal(count_rows(h, "event = 'recovery'"), 1);
}

/* Without `refire` there is nothing to restore. */
static bool step_restore_other(struct harness *h)
{
    struct tocsin_alert alert;

    if (h->phase == 0) {
        alert = make_alert(h, 0, 0, TOCSIN_NOTIFY_INCIDENT);
        tocsin_sender_restore_firing(h->sender, &alert);
        h->mark = uv_now(&h->loop) + 3 * REFIRE_MS + SETTLE_MS;
        h->phase = 1;
        return false;
    }
    return uv_now(&h->loop) >= h->mark;
}

static void test_restore_firing_other_format(void **state)
{
    struct harness *h = *state;

    start(h, false);
    tocsin_sender_set_refire_ms(h->sender, REFIRE_MS);
    run(h, step_restore_other);
    assert_int_equal(test_receiver_count(h->rx), 0);
    assert_int_equal(h->final.resent, 0);
    assert_int_equal(h->final.queued, 0);
}

/* ---- tocsin test-webhook ----------------------------------------------------------- */

static struct tocsin_region_conf test_region = {.name = "test"};

/* tocsin_test_webhook runs a loop of its own; the receiver's thread answers. */
static int test_webhook(struct harness *h, const char *name)
{
    h->config.regions = &test_region;
    h->config.n_regions = 1;
    return tocsin_test_webhook(&h->config, name);
}

static void test_test_webhook_ok(void **state)
{
    struct harness *h = *state;
    static struct arrival a[ARRIVALS_MAX];
    size_t n;

    assert_int_equal(test_webhook(h, "hook"), 0);
    n = arrivals(h, a, ARRIVALS_MAX);
    assert_int_equal(n, 1);
    assert_well_formed(a, n); /* signed as the webhook says */
    assert_non_null(strstr(a[0].d.body, "\"monitor\":{\"id\":\"tocsin-test-webhook\""));
    assert_true(a[0].incident);
    arrivals_free(a, n);
}

static void test_test_webhook_pagerduty(void **state)
{
    struct harness *h = *state;
    static struct arrival a[ARRIVALS_MAX];
    size_t n;

    h->hook.format = "pagerduty";
    h->hook.routing_key = "R0UT1NGKEY";
    test_receiver_set_status(h->rx, 202);
    assert_int_equal(test_webhook(h, "hook"), 0);
    n = arrivals(h, a, ARRIVALS_MAX);
    assert_int_equal(n, 2); /* a trigger, then its resolve: nothing stays open */
    assert_non_null(strstr(a[0].d.body, "\"event_action\":\"trigger\""));
    assert_non_null(strstr(a[1].d.body, "\"event_action\":\"resolve\""));
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(a[i].d.path, HOOK_PATH);
        assert_non_null(strstr(a[i].d.body, "\"routing_key\":\"R0UT1NGKEY\""));
        assert_non_null(strstr(a[i].d.body, "\"dedup_key\":\"tocsin-tocsin-test-webhook\""));
    }
    assert_string_not_equal(a[0].d.request_id, a[1].d.request_id);
    arrivals_free(a, n);
}

static void test_test_webhook_alertmanager(void **state)
{
    struct harness *h = *state;
    static struct arrival a[ARRIVALS_MAX];
    char urls[AM_PEERS][128], *list[AM_PEERS];
    size_t n;

    configure_alertmanager(h, urls, list);
    h->hook.n_urls = 1;
    assert_int_equal(test_webhook(h, "hook"), 0);
    n = arrivals(h, a, ARRIVALS_MAX);
    assert_int_equal(n, 2);
    assert_string_equal(a[0].d.path, AM_PATH);
    assert_non_null(strstr(a[0].d.body, "is DOWN"));
    assert_non_null(strstr(a[1].d.body, "is UP again"));
    arrivals_free(a, n);
}

static void test_test_webhook_fails(void **state)
{
    struct harness *h = *state;

    test_receiver_set_status(h->rx, 500);
    assert_int_equal(test_webhook(h, "hook"), 1);
    /* One attempt: a test shows what the receiver says now, it never retries. */
    assert_int_equal(test_receiver_count(h->rx), 1);
}

static void test_test_webhook_unknown(void **state)
{
    struct harness *h = *state;

    assert_int_equal(test_webhook(h, "no-such-hook"), 2);
    assert_int_equal(test_receiver_count(h->rx), 0);
}

/* ---- the backoff function ------------------------------------------------------- */

static void test_retry_delay(void **state)
{
    static const struct {
        uint64_t backoff;
        int attempt;
        double jitter;
        uint64_t want;
    } rows[] = {
        {200, 1, 1.0, 200},
        {200, 2, 1.0, 400},
        {200, 3, 1.0, 800},
        {200, 3, 0.8, 640},
        {200, 3, 1.2, 960},
        {30000, 8, 1.0, 3600000},   /* 30 s * 2^7 = 64 min: capped at 1 h */
        {30000, 100, 1.0, 3600000}, /* no overflow however many */
        {30000, 100, 1.2, 4320000}, /* the jitter applies after the cap */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(tocsin_retry_delay_ms(rows[i].backoff, rows[i].attempt, rows[i].jitter),
                         rows[i].want);
}

int main(void)
{
    enum {
        N_SINGLE = sizeof(single_cases) / sizeof(single_cases[0]),
        N_REVIVE = sizeof(revive_cases) / sizeof(revive_cases[0]),
    };
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_retry_delay),
        cmocka_unit_test_setup_teardown(test_429_pauses_webhook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_clamped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_body_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_sliding_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_never_overtakes_incident, setup, teardown),
        cmocka_unit_test_setup_teardown(test_at_most_16_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_survives_kill9, setup_no_receiver, teardown),
        cmocka_unit_test_setup_teardown(test_receiver_resets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alertmanager_refire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alertmanager_refire_waits_for_queued, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_alertmanager_refire_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_while_storing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_while_storing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_list_and_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_retry_waits_for_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_retry_one_webhook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alertmanager_restore_firing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_firing_other_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_test_webhook_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_test_webhook_pagerduty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_test_webhook_alertmanager, setup, teardown),
        cmocka_unit_test_setup_teardown(test_test_webhook_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_test_webhook_unknown, setup, teardown),
    };
    static struct CMUnitTest tests[N_SINGLE + N_REVIVE + sizeof(fixed) / sizeof(fixed[0])];
    static char names[N_SINGLE + N_REVIVE][96];
    size_t n = 0;
    int failed;

    for (size_t i = 0; i < N_SINGLE; i++) {
        snprintf(names[i], sizeof(names[i]), "single_%s", single_cases[i].name);
        tests[n++] = (struct CMUnitTest){
            .name = names[i],
            .test_func = test_single,
            .setup_func = setup,
            .teardown_func = teardown,
            .initial_state = (void *)&single_cases[i],
        };
    }
    for (size_t i = 0; i < N_REVIVE; i++) {
        snprintf(names[N_SINGLE + i], sizeof(names[0]), "dead_letter_%s", revive_cases[i].name);
        tests[n++] = (struct CMUnitTest){
            .name = names[N_SINGLE + i],
            .test_func = test_dead_letter,
            .setup_func = setup,
            .teardown_func = teardown,
            .initial_state = (void *)&revive_cases[i],
        };
    }
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        tests[n++] = fixed[i];
    signal(SIGALRM, on_watchdog);
    if (getenv("TOCSIN_TEST_FILTER")) /* e.g. "*outbox*": one scenario while working on it */
        cmocka_set_test_filter(getenv("TOCSIN_TEST_FILTER"));
    tocsin_log_setup(getenv("TOCSIN_TEST_LOG") ? TOCSIN_LOG_DEBUG : TOCSIN_LOG_ERROR,
                     TOCSIN_LOG_LOGFMT);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ares_library_init(ARES_LIB_INIT_ALL);
    failed = _cmocka_run_group_tests("test_sender", tests, n, NULL, NULL);
    ares_library_cleanup();
    curl_global_cleanup();
    return failed;
}
