/* The HTTP probe on a real libuv loop with the real engine, against the
 * libmicrohttpd target (tests/support/target.c): every fault gives its exact
 * error_kind and message, redirects are followed hop by hop with credentials
 * kept to the first host, regions bind their source address, TLS is checked
 * with certificates the test makes (tests/support/tls.c), and no lookup ever
 * starts a thread (DESIGN §6).
 *
 * Each check runs on a fresh loop: start, run until the callback, close the
 * engine, and assert uv_loop_close() == 0.  A 15 s guard timer cancels a check
 * that never ends, so no wait is unbounded; the delays asserted are far below
 * it.  cmocka assertions only run after uv_run() has returned. */
#include <dlfcn.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include <ares.h>
#include <curl/curl.h>
#include <uv.h>

#include "run_check.h"
#include "target.h"
#include "tls.h"
#include "tocsin/config.h"
#include "tocsin/engine.h"
#include "tocsin/probe.h"

#define FIVE_DAYS (5L * 86400)

/* ---- threads started by the loop thread ------------------------------------------ */

/* Debian's libcurl resolves on a thread of its own, created by the thread that
 * drives the transfer and joined before the transfer ends, so counting
 * /proc/self/task before and after a check cannot see it.  This wrapper counts
 * every thread the main (loop) thread creates; the target's threads are
 * created by the target's own threads or before the count starts. */
static pthread_t main_thread;
static atomic_uint main_thread_creations;

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

int pthread_create(pthread_t *restrict thread, const pthread_attr_t *restrict attr,
                   void *(*start)(void *), void *restrict arg)
{
    static _Atomic(pthread_create_fn) real;
    pthread_create_fn fn = atomic_load(&real);

    if (fn == NULL) {
        *(void **)&fn = dlsym(RTLD_NEXT, "pthread_create");
        atomic_store(&real, fn);
    }
    if (pthread_equal(pthread_self(), main_thread))
        atomic_fetch_add(&main_thread_creations, 1);
    return fn(thread, attr, start, arg);
}

/* Counts curl_easy_reset() calls: a pooled handle set up for the same kind of
 * check is handed back without one (src/net/curl_uv.c). */
static atomic_uint easy_resets;

void curl_easy_reset(CURL *easy)
{
    static void (*_Atomic real)(CURL *);
    void (*fn)(CURL *) = atomic_load(&real);

    if (fn == NULL) {
        *(void **)&fn = dlsym(RTLD_NEXT, "curl_easy_reset");
        atomic_store(&real, fn);
    }
    atomic_fetch_add(&easy_resets, 1);
    fn(easy);
}

static int count_tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* ---- running one check ------------------------------------------------------ */

/* Runs one check of MONITOR from region 0 on a fresh loop (tests/support). */
static void run_check(const struct tocsin_config *config, const struct tocsin_monitor_conf *monitor,
                      struct tocsin_result *out)
{
    test_run_check(&tocsin_probe_http, config, monitor, out);
}

/* ---- fixture: one region, one HTTP monitor, one plain target ----------------------- */

struct fixture {
    struct tocsin_region_conf region;
    size_t region_index;
    struct tocsin_status_range status[4];
    struct tocsin_monitor_conf monitor;
    struct tocsin_config config;
    struct test_target *target;     /* plain HTTP on 127.0.0.1 */
    struct test_target *tls_target; /* HTTPS, started by the TLS tests */
    uint16_t port;
    char url[256];
};

static struct test_pki pki;
static struct test_cert leaf_valid, leaf_self, leaf_expiring, leaf_probe;

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    f->region.name = "local";
    f->region.dns_cache_ms = 60000;
    f->status[0] = (struct tocsin_status_range){200, 299};
    f->monitor.id = "api";
    f->monitor.name = "api";
    f->monitor.type = TOCSIN_PROBE_HTTP;
    f->monitor.method = "GET";
    f->monitor.expect_status = f->status;
    f->monitor.n_expect_status = 1;
    f->monitor.follow_redirects = true;
    f->monitor.max_body_bytes = 1048576;
    f->monitor.timeout_ms = 5000;
    f->monitor.interval_ms = 60000;
    f->monitor.retry_interval_ms = 60000;
    f->monitor.regions = &f->region_index;
    f->monitor.n_regions = 1;
    f->monitor.quorum = 1;
    f->config.agent.region = "local";
    f->config.agent.max_concurrency = 16;
    f->config.regions = &f->region;
    f->config.n_regions = 1;
    f->config.monitors = &f->monitor;
    f->config.n_monitors = 1;
    f->target = test_target_start();
    if (f->target == NULL) {
        free(f);
        return -1;
    }
    f->port = test_target_port(f->target);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    test_target_stop(f->target);
    test_target_stop(f->tls_target);
    free(f);
    return 0;
}

/* Points the monitor at PATH on HOST (NULL: 127.0.0.1) of the plain target. */
static void aim(struct fixture *f, const char *host, const char *path)
{
    snprintf(f->url, sizeof(f->url), "http://%s:%u%s", host ? host : "127.0.0.1",
             (unsigned)f->port, path);
    f->monitor.url = f->url;
}

static void route(struct fixture *f, const struct test_route *r)
{
    assert_int_equal(test_target_route(f->target, r), 0);
}

static void assert_down(const struct tocsin_result *r, enum tocsin_error_kind kind,
                        const char *message)
{
    if (r->status != TOCSIN_STATUS_DOWN || r->error_kind != kind ||
        strcmp(r->error_message, message) != 0)
        fail_msg("expected DOWN %s \"%s\", got %s %s \"%s\"", tocsin_error_kind_name(kind), message,
                 tocsin_status_name(r->status), tocsin_error_kind_name(r->error_kind),
                 r->error_message);
    assert_int_equal(r->response_time_ms, r->timings.total_ms);
}

static void assert_up(const struct tocsin_result *r)
{
    if (r->status != TOCSIN_STATUS_UP || r->error_kind != TOCSIN_ERR_NONE)
        fail_msg("expected UP, got %s %s \"%s\"", tocsin_status_name(r->status),
                 tocsin_error_kind_name(r->error_kind), r->error_message);
    assert_string_equal(r->error_message, "");
    assert_int_equal(r->response_time_ms, r->timings.total_ms);
    assert_true(r->timings.total_ms >= r->timings.first_byte_ms);
}

static struct test_request request_at(struct test_target *t, unsigned i)
{
    struct test_request req;

    if (!test_target_request(t, i, &req))
        fail_msg("the target saw no request %u (%u in all)", i, test_target_hits(t));
    return req;
}

/* ---- answers ------------------------------------------------------------------ */

static void test_up(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;
    struct test_request req;
    char host[64];

    aim(f, NULL, "/health");
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    assert_int_equal(r.status_code, 200);
    assert_int_equal(r.timings.dns_ms, -1); /* a literal: no lookup */
    assert_true(r.timings.connect_ms >= 0);
    assert_int_equal(r.timings.tls_ms, -1);
    assert_true(r.timings.first_byte_ms >= 0);
    assert_true(r.timings.first_byte_ms >= r.timings.connect_ms);
    assert_int_equal(r.region, 0);
    assert_true(r.timestamp > 0);
    assert_int_equal(test_target_hits(f->target), 1);
    req = request_at(f->target, 0);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.path, "/health");
    snprintf(host, sizeof(host), "127.0.0.1:%u", (unsigned)f->port);
    assert_string_equal(req.host, host);
    assert_false(req.has_authorization);
    assert_string_equal(req.client_ip, "127.0.0.1");
}

static void test_status_503(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    aim(f, NULL, "/");
    test_target_set_status(f->target, 503);
    run_check(&f->config, &f->monitor, &r);
    assert_down(&r, TOCSIN_ERR_STATUS, "expected status 200-299, got 503");
    assert_int_equal(r.status_code, 503);
    assert_true(r.timings.first_byte_ms >= 0);
}

/* expect.status [200-204, 301]: each code against the list. */
static void test_status_ranges(void **state)
{
    static const struct {
        int status;
        const char *message; /* NULL: UP */
    } cases[] = {
        {200, NULL},
        {204, NULL},
        {301, NULL}, /* a redirect is an answer when follow_redirects is off */
        {205, "expected status 200-204,301, got 205"},
        {302, "expected status 200-204,301, got 302"},
        {404, "expected status 200-204,301, got 404"},
    };
    struct fixture *f = *state;
    struct tocsin_result r;
    char where[32];

    f->status[0] = (struct tocsin_status_range){200, 204};
    f->status[1] = (struct tocsin_status_range){301, 301};
    f->monitor.n_expect_status = 2;
    f->monitor.follow_redirects = false;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(where, sizeof(where), "/s/%d", cases[i].status);
        route(f, &(struct test_route){.path = where, .status = cases[i].status,
                                      .location = cases[i].status / 100 == 3 ? "/elsewhere" : NULL});
        aim(f, NULL, where);
        run_check(&f->config, &f->monitor, &r);
        if (cases[i].message)
            assert_down(&r, TOCSIN_ERR_STATUS, cases[i].message);
        else
            assert_up(&r);
        assert_int_equal(r.status_code, cases[i].status);
    }
    assert_int_equal(test_target_hits(f->target), sizeof(cases) / sizeof(cases[0]));
}

/* ---- body ---------------------------------------------------------------------- */

struct body_case {
    const char *name;
    const char *body;          /* the target's answer */
    const char *contains;
    const char *not_contains;
    const char *regex;
    const char *not_regex;
    const char *message;       /* NULL: UP */
};

static void run_body_case(struct fixture *f, const struct body_case *c)
{
    struct tocsin_expect_conf *e = &f->monitor.expect;
    regex_t re, not_re;
    struct tocsin_result r;
    char path[64];

    snprintf(path, sizeof(path), "/body/%s", c->name);
    route(f, &(struct test_route){.path = path, .body = c->body});
    aim(f, NULL, path);
    *e = (struct tocsin_expect_conf){
        .body_contains = (char *)c->contains,
        .body_not_contains = (char *)c->not_contains,
        .body_regex = (char *)c->regex,
        .body_not_regex = (char *)c->not_regex,
    };
    if (c->regex) {
        assert_int_equal(regcomp(&re, c->regex, REG_EXTENDED | REG_NOSUB), 0);
        e->body_regex_re = &re;
    }
    if (c->not_regex) {
        assert_int_equal(regcomp(&not_re, c->not_regex, REG_EXTENDED | REG_NOSUB), 0);
        e->body_not_regex_re = &not_re;
    }
    run_check(&f->config, &f->monitor, &r);
    if (c->regex)
        regfree(&re);
    if (c->not_regex)
        regfree(&not_re);
    *e = (struct tocsin_expect_conf){0};
    if (c->message) {
        if (r.error_kind != TOCSIN_ERR_BODY || strcmp(r.error_message, c->message) != 0)
            fail_msg("%s: expected body \"%s\", got %s \"%s\"", c->name, c->message,
                     tocsin_error_kind_name(r.error_kind), r.error_message);
        assert_down(&r, TOCSIN_ERR_BODY, c->message);
        assert_int_equal(r.status_code, 200);
    } else {
        if (r.status != TOCSIN_STATUS_UP)
            fail_msg("%s: expected UP, got %s \"%s\"", c->name,
                     tocsin_error_kind_name(r.error_kind), r.error_message);
        assert_up(&r);
    }
}

static void test_body_expectations(void **state)
{
    static const struct body_case cases[] = {
        {"contains", "{\"status\":\"ok\"}\n", .contains = "ok"},
        {"contains-not", "{\"status\":\"down\"}\n", .contains = "ok",
         .message = "body does not contain \"ok\""},
        {"not-contains", "all fine\n", .not_contains = "error"},
        {"not-contains-not", "an error occurred\n", .not_contains = "error",
         .message = "body contains \"error\""},
        {"regex", "status: up\n", .regex = "status.*(up|ok)"},
        {"regex-not", "status: down\n", .regex = "status.*(up|ok)",
         .message = "body does not match /status.*(up|ok)/"},
        {"not-regex", "all fine\n", .not_regex = "err(or)?[0-9]+"},
        {"not-regex-not", "err42 happened\n", .not_regex = "err(or)?[0-9]+",
         .message = "body matches /err(or)?[0-9]+/"},
        /* The first failing expectation wins, in a fixed order. */
        {"order", "down error\n", .contains = "ok", .not_contains = "error",
         .message = "body does not contain \"ok\""},
        {"all", "ok up\n", .contains = "ok", .not_contains = "error", .regex = "^ok",
         .not_regex = "down"},
    };
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_body_case(f, &cases[i]);
}

/* The read stops at max_body_bytes; a cut body is judged on what was read. */
static void test_body_cap(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    route(f, &(struct test_route){.path = "/big", .body = "0123456789 tail-word\n"});
    aim(f, NULL, "/big");
    f->monitor.max_body_bytes = 10;
    f->monitor.expect.body_contains = "tail";
    run_check(&f->config, &f->monitor, &r);
    assert_down(&r, TOCSIN_ERR_BODY, "body (first bytes read) does not contain \"tail\"");
    assert_int_equal(r.status_code, 200);

    /* Within the cap: cut, not failed. */
    f->monitor.expect.body_contains = "0123";
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    assert_int_equal(r.status_code, 200);

    /* Without a body expectation the cap does not matter either. */
    f->monitor.expect.body_contains = NULL;
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
}

/* ---- headers ------------------------------------------------------------------- */

static void test_header_expectations(void **state)
{
    static const struct {
        const char *name;         /* the target's header, NULL: none */
        const char *value;
        const char *want_name;    /* the expectation */
        const char *message;      /* NULL: UP */
    } cases[] = {
        {NULL, NULL, "X-Foo", "expected header X-Foo containing \"bar\", got none"},
        {"X-Foo", "baz", "X-Foo", "expected header X-Foo containing \"bar\", got \"baz\""},
        {"X-Foo", "foobarbaz", "X-Foo", NULL},
        {"X-Foo", "bar", "x-foo", NULL}, /* names are case-insensitive */
    };
    struct fixture *f = *state;
    struct tocsin_kv want;
    struct tocsin_result r;
    char path[32];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(path, sizeof(path), "/h/%zu", i);
        route(f, &(struct test_route){.path = path, .header_name = cases[i].name,
                                      .header_value = cases[i].value});
        aim(f, NULL, path);
        want = (struct tocsin_kv){.name = (char *)cases[i].want_name, .value = "bar"};
        f->monitor.expect.headers = (struct tocsin_kvlist){.items = &want, .n = 1};
        run_check(&f->config, &f->monitor, &r);
        if (cases[i].message)
            assert_down(&r, TOCSIN_ERR_HEADER, cases[i].message);
        else
            assert_up(&r);
        assert_int_equal(r.status_code, 200);
    }
}

/* ---- slow, hang, reset, refused ------------------------------------------------------ */

static void test_slow(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;
    long long took = 0;
    char tail[32] = "";

    route(f, &(struct test_route){.path = "/slow", .delay_ms = 300});
    aim(f, NULL, "/slow");
    f->monitor.expect.max_response_time_ms = 100;
    run_check(&f->config, &f->monitor, &r);
    assert_int_equal(r.status, TOCSIN_STATUS_DOWN);
    assert_int_equal(r.error_kind, TOCSIN_ERR_SLOW);
    assert_int_equal(sscanf(r.error_message, "response took %lld ms, %31[^\n]", &took, tail), 2);
    assert_string_equal(tail, "maximum 100");
    assert_true(took >= 300);
    assert_true(r.response_time_ms >= took);
    assert_int_equal(r.status_code, 200);
    assert_true(r.timings.first_byte_ms >= 300);

    /* The same answer within a generous maximum is UP. */
    f->monitor.expect.max_response_time_ms = 4000;
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
}

static void test_hang_times_out(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    test_target_set_mode(f->target, TEST_TARGET_HANG);
    aim(f, NULL, "/hang");
    f->monitor.timeout_ms = 500;
    run_check(&f->config, &f->monitor, &r);
    assert_down(&r, TOCSIN_ERR_TIMEOUT, "timed out after 500 ms waiting for the first byte");
    assert_int_equal(r.response_time_ms, 500);
    assert_int_equal(r.timings.total_ms, 500);
    assert_int_equal(r.status_code, 0);
    assert_true(r.timings.connect_ms >= 0);
    assert_int_equal(r.timings.first_byte_ms, -1);
    assert_int_equal(test_target_hits(f->target), 1);
}

static void test_reset(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    test_target_set_mode(f->target, TEST_TARGET_RESET);
    aim(f, NULL, "/");
    run_check(&f->config, &f->monitor, &r);
    assert_down(&r, TOCSIN_ERR_RESET, "server closed the connection without answering");
    assert_int_equal(r.status_code, 0);
}

/* A server that accepts and resets at once: whether curl sees the RST while
 * connecting, in its getpeername() or when it sends or reads is a race, and
 * the kind is reset either way (it was refused while connecting before), the
 * message says so (not "getpeername() failed with errno 107"). */
/* Timed out against a plain TCP server START(...) runs: the phase named. */
static void timeout_against(struct fixture *f, enum test_server_mode mode, const char *reply,
                            const char *scheme, const char *phase)
{
    struct test_server_opts o = {.mode = mode, .reply = reply};
    struct test_server *server = test_server_start(&o);
    struct tocsin_result r;
    char want[128];

    assert_non_null(server);
    snprintf(f->url, sizeof(f->url), "%s://127.0.0.1:%u/", scheme,
             (unsigned)test_server_port(server));
    f->monitor.url = f->url;
    f->monitor.timeout_ms = 500;
    /* A small CA file: the system bundle takes seconds to parse under valgrind,
     * and curl's own timeout (a second later) would then be first. */
    f->monitor.tls.ca_file = pki.ca.cert;
    run_check(&f->config, &f->monitor, &r);
    test_server_stop(server);
    snprintf(want, sizeof(want), "timed out after 500 ms %s", phase);
    assert_down(&r, TOCSIN_ERR_TIMEOUT, want);
}

/* Accepted, then silence: the TLS handshake hangs (curl 7.88 has no
 * CONNECT_TIME then; it read as "connecting"). */
static void test_timeout_in_tls_handshake(void **state)
{
    timeout_against(*state, TEST_SERVER_SILENT, NULL, "https", "during the TLS handshake");
}

/* A status line and one header, then silence (slowloris). */
static void test_timeout_in_headers(void **state)
{
    timeout_against(*state, TEST_SERVER_BANNER, "HTTP/1.1 200 OK\r\nX-Slow: 1\r\n", "http",
                    "reading the headers");
}

/* The headers and part of the body, then silence. */
static void test_timeout_in_body(void **state)
{
    timeout_against(*state, TEST_SERVER_BANNER,
                    "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart", "http",
                    "reading the body");
}

static void test_reset_at_accept(void **state)
{
    struct fixture *f = *state;
    struct test_server_opts o = {.mode = TEST_SERVER_RESET};
    struct test_server *server = test_server_start(&o);
    struct tocsin_result r[40];
    char want[128];

    assert_non_null(server);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u/", (unsigned)test_server_port(server));
    f->monitor.url = f->url;
    snprintf(want, sizeof(want), "connection to 127.0.0.1 port %u reset before any answer",
             (unsigned)test_server_port(server));
    test_run_checks(&tocsin_probe_http, &f->config, &f->monitor, 40, NULL, NULL, r);
    test_server_stop(server);
    for (size_t i = 0; i < 40; i++) {
        if (r[i].error_kind == TOCSIN_ERR_RESET && strcmp(r[i].error_message, want) == 0)
            continue;  /* the RST came while connecting */
        assert_int_equal(r[i].status, TOCSIN_STATUS_DOWN);
        if (r[i].error_kind != TOCSIN_ERR_RESET || strstr(r[i].error_message, "reset") == NULL)
            fail_msg("check %zu: expected reset, got %s \"%s\"", i,
                     tocsin_error_kind_name(r[i].error_kind), r[i].error_message);
    }
}

static void test_abort_rst(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    test_target_set_mode(f->target, TEST_TARGET_ABORT);
    aim(f, NULL, "/");
    run_check(&f->config, &f->monitor, &r);
    assert_down(&r, TOCSIN_ERR_RESET, "Recv failure: Connection reset by peer");
    assert_int_equal(r.status_code, 0);
}

static void test_refused(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    char want[128];
    struct tocsin_result r;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    /* A port that was just free and has no listener. */
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    f->port = ntohs(addr.sin_port);
    aim(f, NULL, "/");
    run_check(&f->config, &f->monitor, &r);
    snprintf(want, sizeof(want), "connection to 127.0.0.1 port %u refused", (unsigned)f->port);
    assert_down(&r, TOCSIN_ERR_REFUSED, want);
    assert_int_equal(r.status_code, 0);
    assert_int_equal(r.timings.first_byte_ms, -1);
}

/* A listener whose accept queue is full drops the SYN of the check's connect,
 * which the kernel sends again a second later: the connect is still under way
 * when the engine first looks at it, so it must be watched for writability
 * and finish from that event.  The listener's thread frees the queue after
 * 300 ms, then answers the connection that comes in. */
struct slow_listener {
    int fd;
    int filler;    /* the connection that fills the queue */
    bool answered;
};

static void *slow_listener_run(void *arg)
{
    struct slow_listener *l = arg;
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    struct pollfd pfd = {.fd = l->fd, .events = POLLIN};
    char buf[2048];
    size_t got = 0;
    int c;

    usleep(300 * 1000);
    close(accept(l->fd, NULL, NULL)); /* the filler, queued before the check */
    if (poll(&pfd, 1, 5000) != 1 || (c = accept(l->fd, NULL, NULL)) < 0)
        return NULL;
    while (got < sizeof(buf) - 1) { /* the request, up to its blank line */
        struct pollfd cp = {.fd = c, .events = POLLIN};
        ssize_t n;

        if (poll(&cp, 1, 5000) != 1 || (n = read(c, buf + got, sizeof(buf) - 1 - got)) <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "\r\n\r\n")) {
            l->answered = write(c, answer, sizeof(answer) - 1) == (ssize_t)sizeof(answer) - 1;
            break;
        }
    }
    close(c);
    return NULL;
}

static void test_connect_still_under_way(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    struct slow_listener l = {.fd = socket(AF_INET, SOCK_STREAM, 0)};
    struct tocsin_result r;
    pthread_t thread;

    assert_true(l.fd >= 0);
    assert_int_equal(bind(l.fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(getsockname(l.fd, (struct sockaddr *)&addr, &len), 0);
    assert_int_equal(listen(l.fd, 0), 0); /* room for one connection */
    l.filler = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(l.filler, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(pthread_create(&thread, NULL, slow_listener_run, &l), 0);
    f->port = ntohs(addr.sin_port);
    aim(f, NULL, "/");
    run_check(&f->config, &f->monitor, &r);
    pthread_join(thread, NULL);
    close(l.filler);
    close(l.fd);
    assert_up(&r);
    assert_true(l.answered);
    assert_int_equal(r.status_code, 200);
    assert_true(r.timings.connect_ms >= 300); /* done only after the queue had room */
}

/* ---- redirects ----------------------------------------------------------------- */

/* Every check names the agent once; a monitor's own User-Agent replaces it,
 * with other headers or without. */
static void test_user_agent(void **state)
{
    struct fixture *f = *state;
    struct tocsin_kv own = {.name = "user-agent", .value = "probe/1"};
    struct tocsin_kv other = {.name = "X-Trace", .value = "1"};
    const struct {
        struct tocsin_kvlist headers;
        const char *want;
    } cases[] = {
        {{0}, "tocsin/" TOCSIN_VERSION},
        {{.items = &other, .n = 1}, "tocsin/" TOCSIN_VERSION},
        {{.items = &own, .n = 1}, "probe/1"},
    };
    struct tocsin_result r;
    struct test_request req;

    aim(f, NULL, "/");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        f->monitor.headers = cases[i].headers;
        run_check(&f->config, &f->monitor, &r);
        assert_up(&r);
        assert_true(test_target_last_request(f->target, &req));
        assert_string_equal(req.user_agent, cases[i].want);
        assert_int_equal(req.user_agents, 1);
    }
    f->monitor.headers = (struct tocsin_kvlist){0};
}

static void test_redirect_chain(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;
    struct test_request req;

    aim(f, NULL, "/r/3");
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    assert_int_equal(r.status_code, 200);
    assert_int_equal(test_target_hits(f->target), 4);
    assert_true(test_target_last_request(f->target, &req));
    assert_string_equal(req.path, "/r/0");
    /* Timings span the hops: the first byte of the final answer, from the start. */
    assert_true(r.timings.first_byte_ms >= 0);
}

static void test_redirect_limit(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;
    char want[128];

    /* Ten hops are allowed ... */
    aim(f, NULL, "/r/10");
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    assert_int_equal(test_target_hits(f->target), 11);

    /* ... the eleventh is not taken. */
    aim(f, NULL, "/r/11");
    run_check(&f->config, &f->monitor, &r);
    snprintf(want, sizeof(want), "stopped after 10 redirects (last to http://127.0.0.1:%u/r/0)",
             (unsigned)f->port);
    assert_down(&r, TOCSIN_ERR_STATUS, want);
    assert_int_equal(r.status_code, 302);
    assert_int_equal(test_target_hits(f->target), 11 + 11);
}

/* ---- one easy handle, checks of every kind ------------------------------------ */

/* Checks one after another on one engine share its pooled easy handle.  A plain
 * GET after another plain GET takes it as it is (no curl_easy_reset); after a
 * check with a method, body or credentials of its own it is reset first.  No
 * option of one check ever shows in the next one's request. */
static const struct reuse_case {
    const char *method;
    const char *body;
    const char *user;               /* basic auth */
    const char *own_agent;          /* a User-Agent header of the monitor's */
    unsigned resets;                /* curl_easy_reset() calls the check makes */
} reuse_cases[] = {
    {"GET", NULL, NULL, "probe/1", 0}, /* a new handle */
    {"GET", NULL, NULL, NULL, 0},      /* same profile: kept */
    {"POST", "a=1", "probe", NULL, 1}, /* method, body, credentials: reset */
    {"GET", NULL, NULL, NULL, 1},      /* after it: reset */
    {"HEAD", NULL, NULL, NULL, 1},
    {"GET", NULL, NULL, NULL, 1},
    {"GET", NULL, NULL, "probe/2", 0}, /* kept, its own headers still its own */
    {"GET", NULL, NULL, NULL, 0},
};
#define N_REUSE (sizeof(reuse_cases) / sizeof(reuse_cases[0]))

struct reuse_run {
    struct fixture *f;
    struct tocsin_kv agent;
    unsigned resets_before[N_REUSE];
};

static void apply_reuse_case(size_t i, void *data)
{
    struct reuse_run *run = data;
    struct tocsin_monitor_conf *m = &run->f->monitor;
    const struct reuse_case *c = &reuse_cases[i];

    run->resets_before[i] = atomic_load(&easy_resets);
    m->method = (char *)c->method;
    m->body = (char *)c->body;
    m->body_len = c->body ? strlen(c->body) : 0;
    m->basic_auth_user = (char *)c->user;
    m->basic_auth_password = c->user ? (char *)"secret" : NULL;
    run->agent = (struct tocsin_kv){.name = "User-Agent", .value = (char *)c->own_agent};
    m->headers = c->own_agent ? (struct tocsin_kvlist){.items = &run->agent, .n = 1}
                              : (struct tocsin_kvlist){0};
}

static void test_easy_handle_reuse(void **state)
{
    struct fixture *f = *state;
    struct reuse_run run = {.f = f};
    struct tocsin_result r[N_REUSE];
    struct test_request req;
    unsigned resets;

    aim(f, NULL, "/reuse");
    apply_reuse_case(0, &run);
    test_run_checks(&tocsin_probe_http, &f->config, &f->monitor, N_REUSE, apply_reuse_case, &run,
                    r);
    resets = atomic_load(&easy_resets);
    for (size_t i = N_REUSE; i-- > 0; resets = run.resets_before[i]) {
        const struct reuse_case *c = &reuse_cases[i];

        assert_up(&r[i]);
        req = request_at(f->target, (unsigned)i);
        assert_string_equal(req.method, c->method);
        assert_string_equal(req.body, c->body ? c->body : "");
        assert_int_equal(req.has_authorization, c->user != NULL);
        assert_string_equal(req.user_agent, c->own_agent ? c->own_agent : "tocsin/" TOCSIN_VERSION);
        assert_int_equal(req.user_agents, 1);
        if (resets - run.resets_before[i] != c->resets)
            fail_msg("check %zu (%s): %u resets, %u expected", i, c->method,
                     resets - run.resets_before[i], c->resets);
    }
    f->monitor.headers = (struct tocsin_kvlist){0};
}

/* 303 (and 301/302 after POST) continue as GET without the body; 307 repeats it. */
static void test_redirect_methods(void **state)
{
    static const struct {
        int status;
        const char *method;    /* of the second request */
        const char *body;
    } cases[] = {
        {303, "GET", ""},
        {302, "GET", ""},
        {307, "POST", "a=1&b=2"},
        {308, "POST", "a=1&b=2"},
    };
    struct fixture *f = *state;
    struct tocsin_result r;
    struct test_request first, second;
    char path[32];
    unsigned base;

    f->monitor.method = "POST";
    f->monitor.body = "a=1&b=2";
    f->monitor.body_len = strlen(f->monitor.body);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(path, sizeof(path), "/form/%d", cases[i].status);
        route(f, &(struct test_route){.path = path, .status = cases[i].status,
                                      .location = "/landed"});
        aim(f, NULL, path);
        base = test_target_hits(f->target);
        run_check(&f->config, &f->monitor, &r);
        assert_up(&r);
        assert_int_equal(test_target_hits(f->target), base + 2);
        first = request_at(f->target, base);
        second = request_at(f->target, base + 1);
        assert_string_equal(first.method, "POST");
        assert_string_equal(first.body, "a=1&b=2");
        assert_string_equal(second.path, "/landed");
        assert_string_equal(second.method, cases[i].method);
        assert_string_equal(second.body, cases[i].body);
    }
}

/* ---- credentials ---------------------------------------------------------------- */

static void test_basic_auth_same_host_only(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;
    struct test_request first, second;
    char elsewhere[128], host[64];

    f->monitor.basic_auth_user = "probe";
    f->monitor.basic_auth_password = "s3cret";

    /* A redirect on the same host keeps the credentials. */
    aim(f, NULL, "/r/1");
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    first = request_at(f->target, 0);
    second = request_at(f->target, 1);
    assert_string_equal(first.authorization, "Basic cHJvYmU6czNjcmV0"); /* probe:s3cret */
    assert_string_equal(second.authorization, "Basic cHJvYmU6czNjcmV0");

    /* To another host name (the same server, through localhost) they are not sent. */
    snprintf(elsewhere, sizeof(elsewhere), "http://localhost:%u/landed", (unsigned)f->port);
    route(f, &(struct test_route){.path = "/away", .status = 302, .location = elsewhere});
    aim(f, NULL, "/away");
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    assert_int_equal(test_target_hits(f->target), 4);
    first = request_at(f->target, 2);
    second = request_at(f->target, 3);
    assert_string_equal(first.path, "/away");
    assert_string_equal(first.authorization, "Basic cHJvYmU6czNjcmV0");
    assert_string_equal(second.path, "/landed");
    snprintf(host, sizeof(host), "localhost:%u", (unsigned)f->port);
    assert_string_equal(second.host, host);
    assert_false(second.has_authorization);
    assert_true(r.timings.dns_ms >= 0); /* the second hop was looked up */
}

/* The same host on another port is another server: curl's rule since 7.83. */
static void test_credentials_not_to_another_port(void **state)
{
    struct fixture *f = *state;
    struct test_target *other = test_target_start();
    struct tocsin_result r;
    struct test_request first, second;
    char elsewhere[128];
    bool seen;

    assert_non_null(other);
    f->monitor.bearer_token = "tok-123.abc";
    snprintf(elsewhere, sizeof(elsewhere), "http://127.0.0.1:%u/landed",
             (unsigned)test_target_port(other));
    route(f, &(struct test_route){.path = "/away", .status = 307, .location = elsewhere});
    aim(f, NULL, "/away");
    run_check(&f->config, &f->monitor, &r);
    seen = test_target_request(other, 0, &second);
    test_target_stop(other);
    assert_up(&r);
    first = request_at(f->target, 0);
    assert_string_equal(first.authorization, "Bearer tok-123.abc");
    assert_true(seen);
    assert_string_equal(second.path, "/landed");
    assert_false(second.has_authorization);
}

static void test_bearer_token(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;
    struct test_request req;

    f->monitor.bearer_token = "tok-123.abc";
    aim(f, NULL, "/");
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    req = request_at(f->target, 0);
    assert_string_equal(req.authorization, "Bearer tok-123.abc");
}

/* ---- methods and request bodies ------------------------------------------------------ */

static void test_post_body(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;
    struct test_request req;
    static const char body[] = "{\"ping\":1}";

    f->monitor.method = "POST";
    f->monitor.body = (char *)body;
    f->monitor.body_len = sizeof(body) - 1;
    aim(f, NULL, "/submit");
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    req = request_at(f->target, 0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.path, "/submit");
    assert_string_equal(req.body, body);
    assert_int_equal(req.body_len, sizeof(body) - 1);
}

static void test_other_methods(void **state)
{
    static const char *const methods[] = {"HEAD", "PUT", "DELETE", "OPTIONS"};
    struct fixture *f = *state;
    struct tocsin_result r;
    struct test_request req;

    aim(f, NULL, "/m");
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        f->monitor.method = (char *)methods[i];
        run_check(&f->config, &f->monitor, &r);
        assert_up(&r);
        assert_int_equal(r.status_code, 200);
        req = request_at(f->target, (unsigned)i);
        assert_string_equal(req.method, methods[i]);
        assert_int_equal(req.body_len, 0);
    }
}

/* ---- names, threads, regions ------------------------------------------------------- */

static void test_name_resolved(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;
    struct test_request req;
    char host[64];

    aim(f, "localhost", "/"); /* /etc/hosts through c-ares */
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    assert_true(r.timings.dns_ms >= 0);
    assert_true(r.timings.connect_ms >= 0);
    req = request_at(f->target, 0);
    snprintf(host, sizeof(host), "localhost:%u", (unsigned)f->port);
    assert_string_equal(req.host, host);
}

/* Fetches http://NAME:PORT/ with a bare easy handle, so curl resolves NAME
 * itself.  Whether the name resolves does not matter, only that curl tried. */
static void curl_resolves(const char *name, uint16_t port)
{
    CURL *easy = curl_easy_init();
    char url[512];

    assert_non_null(easy);
    snprintf(url, sizeof(url), "http://%s:%u/", name, (unsigned)port);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_perform(easy);
    curl_easy_cleanup(easy);
}

static void test_lookup_starts_no_thread(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;
    char name[256] = "";
    unsigned created;
    int before, after;

    aim(f, "localhost", "/");
    before = count_tasks();
    created = atomic_load(&main_thread_creations);
    run_check(&f->config, &f->monitor, &r);
    after = count_tasks();
    assert_up(&r);
    assert_true(r.timings.dns_ms >= 0); /* it was looked up, by c-ares */
    assert_true(before > 0);
    assert_int_equal(after, before);
    assert_int_equal(atomic_load(&main_thread_creations), created);

    /* The control, last because its thread may outlive it: curl left to itself
     * starts a resolver thread, so the wrapper would have seen one.  Not with
     * "localhost", which curl 7.78+ answers without resolving: the host's name. */
    if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0' ||
        strcasecmp(name, "localhost") == 0)
        skip();
    created = atomic_load(&main_thread_creations);
    curl_resolves(name, f->port);
    assert_true(atomic_load(&main_thread_creations) > created);
}

static void test_source_address(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;
    struct test_request req;

    f->region.source_address = "127.0.0.2";
    aim(f, NULL, "/");
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    req = request_at(f->target, 0);
    assert_string_equal(req.client_ip, "127.0.0.2");

    /* The name of a region's target is resolved too and the source still binds. */
    aim(f, "localhost", "/");
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    req = request_at(f->target, 1);
    assert_string_equal(req.client_ip, "127.0.0.2");
}

/* ---- a proxy region ---------------------------------------------------------------- */

#define UNRESOLVABLE_URL "http://probe-target.invalid:81/health"

/* The plain target stands in for a forward proxy: for an http:// URL curl sends
 * the absolute form to it, which the target records as the path and answers
 * itself.  Only the proxy's own host is ever resolved (by c-ares): the target's
 * name does not resolve anywhere, and no thread is started to try. */
static void check_via_proxy(struct fixture *f, const char *proxy_host, const char *userinfo,
                            unsigned nth, struct tocsin_result *r, struct test_request *req)
{
    static char proxy[256];
    unsigned created = atomic_load(&main_thread_creations);

    snprintf(proxy, sizeof(proxy), "http://%s%s:%u", userinfo ? userinfo : "", proxy_host,
             (unsigned)f->port);
    f->region.proxy = proxy;
    f->monitor.url = UNRESOLVABLE_URL;
    run_check(&f->config, &f->monitor, r);
    assert_up(r);
    assert_int_equal(r->status_code, 200);
    assert_int_equal(atomic_load(&main_thread_creations), created);
    assert_int_equal(test_target_hits(f->target), nth + 1);
    *req = request_at(f->target, nth);
    assert_string_equal(req->method, "GET");
    assert_string_equal(req->path, UNRESOLVABLE_URL); /* the proxy got the name */
    assert_string_equal(req->host, "probe-target.invalid:81");
    assert_false(req->has_authorization);
    assert_string_equal(req->client_ip, "127.0.0.1");
}

static void test_proxy_resolves_the_target(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;
    struct test_request req;

    /* A literal proxy: nothing at all is looked up locally. */
    check_via_proxy(f, "127.0.0.1", NULL, 0, &r, &req);
    assert_int_equal(r.timings.dns_ms, -1);
    assert_true(r.timings.connect_ms >= 0);
    assert_false(req.has_proxy_authorization);

    /* A proxy by name: c-ares finds it in /etc/hosts; the target still is not looked up. */
    check_via_proxy(f, "localhost", NULL, 1, &r, &req);
    assert_true(r.timings.dns_ms >= 0);
    assert_false(req.has_proxy_authorization);
}

/* The *_proxy environment is never used, no_proxy included: a region's proxy
 * carries every check even when no_proxy names every host. */
static void test_no_proxy_env_ignored(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;
    struct test_request req;

    setenv("no_proxy", "*", 1);
    setenv("NO_PROXY", "*", 1);
    check_via_proxy(f, "127.0.0.1", NULL, 0, &r, &req);
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
}

static void test_proxy_credentials(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;
    struct test_request req;

    check_via_proxy(f, "127.0.0.1", "user:pw@", 0, &r, &req);
    assert_true(req.has_proxy_authorization);
    assert_string_equal(req.proxy_authorization, "Basic dXNlcjpwdw=="); /* base64("user:pw") */

    /* Kept when the proxy's name is replaced by its address. */
    check_via_proxy(f, "localhost", "user:pw@", 1, &r, &req);
    assert_true(r.timings.dns_ms >= 0);
    assert_string_equal(req.proxy_authorization, "Basic dXNlcjpwdw==");
}

/* ---- cancel ------------------------------------------------------------------- */

static void on_never(void *data, const struct tocsin_result *result)
{
    (void)result;
    (*(int *)data)++;
}

static void test_cancel_never_calls_back(void **state)
{
    struct fixture *f = *state;
    uv_loop_t loop;
    struct tocsin_engine engine;
    struct tocsin_probe_op *op = NULL;
    int calls = 0, rc;

    test_target_set_mode(f->target, TEST_TARGET_HANG);
    aim(f, "localhost", "/");
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(tocsin_engine_init(&engine, &loop, &f->config), 0);
    rc = tocsin_probe_http.start(&engine.env, &f->monitor, 0, on_never, &calls, &op);
    /* Let it get somewhere (resolved, connected, waiting), then cancel. */
    for (int i = 0; rc == 0 && i < 5; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    if (rc == 0)
        tocsin_probe_http.cancel(op);
    tocsin_engine_close(&engine, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(rc, 0);
    assert_int_equal(calls, 0);
}

/* ---- TLS ------------------------------------------------------------------------ */

/* Starts an HTTPS target with CERT and points the monitor at https://HOST:PORT/. */
static void serve_tls(struct fixture *f, const struct test_cert *cert, const char *host)
{
    struct test_target_opts o = {.cert_file = cert->cert, .key_file = cert->key};

    f->tls_target = test_target_start_opts(&o);
    assert_non_null(f->tls_target);
    snprintf(f->url, sizeof(f->url), "https://%s:%u/", host,
             (unsigned)test_target_port(f->tls_target));
    f->monitor.url = f->url;
}

static void test_tls_valid(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve_tls(f, &leaf_valid, "127.0.0.1");
    f->monitor.tls.ca_file = pki.ca.cert;
    f->monitor.expect.cert_min_days = 14;
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    assert_int_equal(r.status_code, 200);
    assert_true(r.timings.connect_ms >= 0);
    assert_true(r.timings.tls_ms >= 0);
    assert_true(r.timings.first_byte_ms >= r.timings.connect_ms);
    assert_int_equal(test_target_hits(f->tls_target), 1);
}

static void test_tls_by_name(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve_tls(f, &leaf_valid, "localhost");
    f->monitor.tls.ca_file = pki.ca.cert;
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    assert_true(r.timings.dns_ms >= 0);
    assert_true(r.timings.tls_ms >= 0);
}

static void unlink_file(size_t i, void *path)
{
    (void)i;
    assert_int_equal(unlink(path), 0);
}

/* The CA store is built once per engine and kept (CURLOPT_CA_CACHE_TIMEOUT):
 * the second check still verifies after the CA file is gone.  Parsing the
 * bundle for every HTTPS check blocked the loop ~30-70 ms each (Debian's
 * libcurl has a CA path by default, and a CA path made curl skip its cache). */
static void test_tls_ca_store_cached(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r[2];
    char ca[sizeof(pki.dir) + 16];
    FILE *in, *out;
    char buf[4096];
    size_t n;

    snprintf(ca, sizeof(ca), "%s/ca-copy.pem", pki.dir);
    in = fopen(pki.ca.cert, "rb");
    out = fopen(ca, "wb");
    assert_non_null(in);
    assert_non_null(out);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
    serve_tls(f, &leaf_valid, "127.0.0.1");
    f->monitor.tls.ca_file = ca;
    test_run_checks(&tocsin_probe_http, &f->config, &f->monitor, 2, unlink_file, ca, r);
    assert_up(&r[0]);
    assert_up(&r[1]);
    assert_int_equal(test_target_hits(f->tls_target), 2);
}

static void test_tls_self_signed(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve_tls(f, &leaf_self, "127.0.0.1");
    f->monitor.tls.ca_file = pki.ca.cert;
    run_check(&f->config, &f->monitor, &r);
    assert_down(&r, TOCSIN_ERR_TLS, "TLS: SSL certificate problem: self-signed certificate");
    assert_int_equal(r.status_code, 0);
}

static void test_tls_skip_verify(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve_tls(f, &leaf_self, "127.0.0.1");
    f->monitor.tls.skip_verify = true;
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    assert_true(r.timings.tls_ms >= 0);
}

static void test_tls_expiring(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve_tls(f, &leaf_expiring, "127.0.0.1");
    f->monitor.tls.ca_file = pki.ca.cert;
    f->monitor.expect.cert_min_days = 14;
    run_check(&f->config, &f->monitor, &r);
    /* Issued for 5 days and an hour: whole days round down to 5 (4 if the clock
     * crossed a boundary between issuing and checking). */
    if (strcmp(r.error_message, "certificate expires in 4 days, minimum 14") != 0)
        assert_down(&r, TOCSIN_ERR_CERT, "certificate expires in 5 days, minimum 14");
    assert_int_equal(r.error_kind, TOCSIN_ERR_CERT);
    assert_int_equal(r.status_code, 200);

    /* Below the minimum is fine. */
    f->monitor.expect.cert_min_days = 3;
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
}

/* server_name: SNI and the checked name are probe.test, the connection goes to
 * the URL's address and Host: stays what the URL says. */
static void test_tls_server_name(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;
    struct test_request req;
    char host[64];

    serve_tls(f, &leaf_probe, "127.0.0.1");
    f->monitor.tls.ca_file = pki.ca.cert;
    f->monitor.tls.server_name = "probe.test";
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    req = request_at(f->tls_target, 0);
    snprintf(host, sizeof(host), "127.0.0.1:%u", (unsigned)test_target_port(f->tls_target));
    assert_string_equal(req.host, host);

    /* Without it the certificate does not name 127.0.0.1. */
    f->monitor.tls.server_name = NULL;
    run_check(&f->config, &f->monitor, &r);
    assert_int_equal(r.error_kind, TOCSIN_ERR_TLS);
}

/* ---- main ----------------------------------------------------------------------- */

static int make_pki(void)
{
    if (test_pki_init(&pki) != 0 ||
        test_pki_issue(&pki, "valid", "DNS:localhost,IP:127.0.0.1", 365L * 86400, false,
                       &leaf_valid) != 0 ||
        test_pki_issue(&pki, "self", "DNS:localhost,IP:127.0.0.1", 365L * 86400, true,
                       &leaf_self) != 0 ||
        /* An hour past 5 days, so whole days still round down to 5 while the test runs. */
        test_pki_issue(&pki, "expiring", "DNS:localhost,IP:127.0.0.1", FIVE_DAYS + 3600, false,
                       &leaf_expiring) != 0 ||
        test_pki_issue(&pki, "probe", "DNS:probe.test", 365L * 86400, false, &leaf_probe) != 0)
        return -1;
    return 0;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_up),
        T(test_status_503),
        T(test_status_ranges),
        T(test_body_expectations),
        T(test_body_cap),
        T(test_header_expectations),
        T(test_slow),
        T(test_hang_times_out),
        T(test_reset),
        T(test_timeout_in_tls_handshake),
        T(test_user_agent),
        T(test_timeout_in_headers),
        T(test_timeout_in_body),
        T(test_reset_at_accept),
        T(test_abort_rst),
        T(test_refused),
        T(test_connect_still_under_way),
        T(test_easy_handle_reuse),
    T(test_redirect_chain),
        T(test_redirect_limit),
        T(test_redirect_methods),
        T(test_basic_auth_same_host_only),
        T(test_credentials_not_to_another_port),
        T(test_bearer_token),
        T(test_post_body),
        T(test_other_methods),
        T(test_name_resolved),
        T(test_lookup_starts_no_thread),
        T(test_source_address),
        T(test_proxy_resolves_the_target),
        T(test_proxy_credentials),
        T(test_no_proxy_env_ignored),
        T(test_cancel_never_calls_back),
        T(test_tls_valid),
        T(test_tls_by_name),
        T(test_tls_ca_store_cached),
        T(test_tls_self_signed),
        T(test_tls_skip_verify),
        T(test_tls_expiring),
        T(test_tls_server_name),
    };
    int failed;

    main_thread = pthread_self();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ares_library_init(ARES_LIB_INIT_ALL);
    if (make_pki() != 0) {
        fprintf(stderr, "cannot create the test PKI\n");
        test_pki_free(&pki);
        return 1;
    }
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    test_pki_free(&pki);
    ares_library_cleanup();
    curl_global_cleanup();
    return failed;
}
