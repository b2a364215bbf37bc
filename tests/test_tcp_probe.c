/* The TCP probe on a real libuv loop with the real engine, against loopback
 * servers on their own threads (tests/support/tls.c): every fault gives its
 * exact error_kind and message, and TLS is checked with certificates the test
 * makes (valid, self-signed, wrong name, expiring in 5 days).
 *
 * Each check runs on a fresh loop: start, run until the callback, close the
 * engine, and assert uv_loop_close() == 0.  A 15 s guard timer cancels a check
 * that never ends, so no wait is unbounded.  cmocka assertions only run after
 * uv_run() has returned. */
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

#include <cmocka.h>

#include <ares.h>
#include <curl/curl.h>
#include <uv.h>

#include "run_check.h"
#include "tls.h"
#include "tocsin/config.h"
#include "tocsin/engine.h"
#include "tocsin/probe.h"
#include "tocsin/tls.h"

#define FIVE_DAYS (5L * 86400)

/* ---- running one check ------------------------------------------------------ */

/* Runs one check of MONITOR from region 0 on a fresh loop (tests/support). */
static void run_check(const struct tocsin_config *config, const struct tocsin_monitor_conf *monitor,
                      struct tocsin_result *out)
{
    test_run_check(&tocsin_probe_tcp, config, monitor, out);
}

/* ---- fixture: one region, one TCP monitor, one server ----------------------------- */

struct fixture {
    struct tocsin_region_conf region;
    size_t region_index;
    struct tocsin_monitor_conf monitor;
    struct tocsin_config config;
    struct test_server *server;
};

static struct test_pki pki;
static struct test_cert leaf_valid, leaf_self, leaf_expiring, leaf_dns_only;
/* A second CA, unknown to the first, in a hashed CA directory. */
static struct test_pki other_pki;
static struct test_cert leaf_other;

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    f->region.name = "local";
    f->region.dns_cache_ms = 60000;
    f->monitor.id = "db";
    f->monitor.name = "db";
    f->monitor.type = TOCSIN_PROBE_TCP;
    f->monitor.host = "127.0.0.1";
    f->monitor.timeout_ms = 2000;
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
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    test_server_stop(f->server);
    free(f);
    return 0;
}

/* Starts a server and points the monitor at it. */
static void serve(struct fixture *f, enum test_server_mode mode, const char *reply,
                  unsigned delay_ms, const struct test_cert *cert)
{
    struct test_server_opts o = {.mode = mode, .reply = reply, .delay_ms = delay_ms, .tls = cert};

    f->server = test_server_start(&o);
    assert_non_null(f->server);
    f->monitor.port = test_server_port(f->server);
}

static void send_ping(struct fixture *f, const char *contains)
{
    f->monitor.send = "PING\r\n";
    f->monitor.send_len = strlen(f->monitor.send);
    f->monitor.expect.contains = (char *)contains;
}

static void use_tls(struct fixture *f, const char *ca_file)
{
    f->monitor.tls.enabled = true;
    f->monitor.tls.ca_file = (char *)ca_file;
}

static void assert_down(const struct tocsin_result *r, enum tocsin_error_kind kind,
                        const char *message)
{
    if (r->status != TOCSIN_STATUS_DOWN || r->error_kind != kind ||
        strcmp(r->error_message, message) != 0)
        fail_msg("expected DOWN %s \"%s\", got %s %s \"%s\"", tocsin_error_kind_name(kind), message,
                 tocsin_status_name(r->status), tocsin_error_kind_name(r->error_kind),
                 r->error_message);
}

static void assert_up(const struct tocsin_result *r)
{
    if (r->status != TOCSIN_STATUS_UP || r->error_kind != TOCSIN_ERR_NONE)
        fail_msg("expected UP, got %s %s \"%s\"", tocsin_status_name(r->status),
                 tocsin_error_kind_name(r->error_kind), r->error_message);
    assert_int_equal(r->response_time_ms, r->timings.total_ms);
}

/* ---- plain TCP ------------------------------------------------------------------- */

static void test_connect_up(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_SILENT, NULL, 0, NULL);
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    assert_int_equal(r.timings.dns_ms, -1); /* a literal: no lookup */
    assert_true(r.timings.connect_ms >= 0);
    assert_int_equal(r.timings.tls_ms, -1);
    assert_int_equal(r.timings.first_byte_ms, -1);
    assert_int_equal(r.status_code, 0);
    assert_int_equal(r.region, 0);
    assert_true(r.timestamp > 0);
    assert_true(test_server_wait_accepts(f->server, 1, 5000));
}

static void test_name_resolved_up(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_SILENT, NULL, 0, NULL);
    f->monitor.host = "localhost"; /* /etc/hosts through c-ares */
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    assert_true(r.timings.dns_ms >= 0);
    assert_true(r.timings.connect_ms >= 0);
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
    f->monitor.port = ntohs(addr.sin_port);
    run_check(&f->config, &f->monitor, &r);
    snprintf(want, sizeof(want), "connection to 127.0.0.1 port %d refused", f->monitor.port);
    assert_down(&r, TOCSIN_ERR_REFUSED, want);
}

static void test_ping_pong_up(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_REPLY, "+PONG\r\n", 0, NULL);
    send_ping(f, "+PONG");
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    assert_true(r.timings.first_byte_ms >= r.timings.connect_ms);
    assert_true(r.timings.total_ms >= r.timings.first_byte_ms);
}

static void test_send_without_expect_needs_a_reply(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_REPLY, "anything\n", 0, NULL);
    send_ping(f, NULL);
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    assert_true(r.timings.first_byte_ms >= 0);
}

static void test_banner_up(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_BANNER, "SSH-2.0-OpenSSH_9.2\r\n", 0, NULL);
    f->monitor.expect.contains = "SSH-2.0";
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
}

static void test_expect_mismatch(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    /* The server answers and keeps the connection open: the check fails at the
     * timeout, quoting what it got, escaped. */
    serve(f, TEST_SERVER_REPLY, "-ERR unknown\r\n", 0, NULL);
    send_ping(f, "+PONG");
    f->monitor.timeout_ms = 500;
    run_check(&f->config, &f->monitor, &r);
    assert_down(&r, TOCSIN_ERR_EXPECT,
                "expected a reply containing \"+PONG\", got \"-ERR unknown\\r\\n\"");
    assert_true(r.timings.first_byte_ms >= 0);
}

static void test_expect_mismatch_long_reply_is_cut(void **state)
{
    struct fixture *f = *state;
    char reply[200], want[256];
    struct tocsin_result r;

    memset(reply, 'a', sizeof(reply) - 1);
    reply[sizeof(reply) - 1] = '\0';
    reply[0] = '\x01';
    serve(f, TEST_SERVER_BANNER, reply, 0, NULL);
    f->monitor.expect.contains = "+OK";
    f->monitor.timeout_ms = 300;
    run_check(&f->config, &f->monitor, &r);
    snprintf(want, sizeof(want), "expected a reply containing \"+OK\", got \"\\x01%.63s...\"",
             reply + 1);
    assert_down(&r, TOCSIN_ERR_EXPECT, want);
}

static void test_silent_times_out(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_SILENT, NULL, 0, NULL);
    send_ping(f, "+PONG");
    f->monitor.timeout_ms = 500;
    run_check(&f->config, &f->monitor, &r);
    assert_down(&r, TOCSIN_ERR_TIMEOUT, "timed out after 500 ms waiting for the reply");
    assert_int_equal(r.response_time_ms, 500);
    assert_int_equal(r.timings.total_ms, 500);
    assert_int_equal(r.timings.first_byte_ms, -1);
}

static void test_reset(void **state)
{
    struct fixture *f = *state;
    char want[128];
    struct tocsin_result r;

    serve(f, TEST_SERVER_RESET, NULL, 0, NULL);
    f->monitor.expect.contains = "+OK";
    run_check(&f->config, &f->monitor, &r);
    snprintf(want, sizeof(want), "connection to 127.0.0.1 port %d reset before any reply",
             f->monitor.port);
    assert_down(&r, TOCSIN_ERR_RESET, want);
}

static void test_eof_before_reply(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_CLOSE, NULL, 0, NULL);
    f->monitor.expect.contains = "+OK";
    run_check(&f->config, &f->monitor, &r);
    assert_down(&r, TOCSIN_ERR_RESET, "connection closed before any reply");
}

static void test_slow(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;
    long long took = 0;
    char tail[32] = "";

    serve(f, TEST_SERVER_REPLY, "+PONG\r\n", 300, NULL);
    send_ping(f, "+PONG");
    f->monitor.expect.max_response_time_ms = 100;
    run_check(&f->config, &f->monitor, &r);
    assert_int_equal(r.error_kind, TOCSIN_ERR_SLOW);
    assert_int_equal(sscanf(r.error_message, "response took %lld ms, %31[^\n]", &took, tail), 2);
    assert_string_equal(tail, "maximum 100");
    assert_true(took >= 300);
    assert_int_equal(r.response_time_ms, took);
}

/* ---- regions -------------------------------------------------------------------- */

static void test_source_address(void **state)
{
    struct fixture *f = *state;
    char peer[64];
    struct tocsin_result r;

    serve(f, TEST_SERVER_SILENT, NULL, 0, NULL);
    f->region.source_address = "127.0.0.2";
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    assert_true(test_server_wait_accepts(f->server, 1, 5000));
    test_server_last_peer(f->server, peer, sizeof(peer));
    assert_string_equal(peer, "127.0.0.2");
}

static void test_source_address_not_local(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_SILENT, NULL, 0, NULL);
    f->region.source_address = "192.0.2.10"; /* TEST-NET-1: never ours */
    run_check(&f->config, &f->monitor, &r);
    assert_down(&r, TOCSIN_ERR_INTERNAL,
                "cannot bind to source address 192.0.2.10 of region local: address not available");
    assert_int_equal(test_server_accepts(f->server), 0);
}

static void test_interface(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_SILENT, NULL, 0, NULL);
    f->region.interface = "lo";
    run_check(&f->config, &f->monitor, &r);
    /* SO_BINDTODEVICE needs CAP_NET_RAW before Linux 5.7. */
    if (r.error_kind == TOCSIN_ERR_INTERNAL &&
        strstr(r.error_message, "operation not permitted") != NULL)
        skip();
    assert_up(&r);
}

static void test_interface_missing(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_SILENT, NULL, 0, NULL);
    f->region.interface = "tocsin-nope0";
    run_check(&f->config, &f->monitor, &r);
    if (strstr(r.error_message, "operation not permitted") != NULL)
        skip();
    assert_down(&r, TOCSIN_ERR_INTERNAL,
                "cannot bind to interface tocsin-nope0 of region local: no such device");
}

/* ---- TLS ------------------------------------------------------------------------ */

static void test_tls_valid(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_REPLY, "+PONG\r\n", 0, &leaf_valid);
    send_ping(f, "+PONG");
    use_tls(f, pki.ca.cert);
    f->monitor.expect.cert_min_days = 14;
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    assert_true(r.timings.tls_ms >= 0);
    assert_true(r.timings.first_byte_ms >= r.timings.connect_ms + r.timings.tls_ms);
}

static void test_tls_connect_only(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_SILENT, NULL, 0, &leaf_valid);
    use_tls(f, pki.ca.cert);
    f->monitor.tls.server_name = "localhost";
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
    assert_true(r.timings.tls_ms >= 0);
    assert_int_equal(r.timings.first_byte_ms, -1);
}

static void test_tls_self_signed(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_REPLY, "+PONG\r\n", 0, &leaf_self);
    send_ping(f, "+PONG");
    use_tls(f, pki.ca.cert);
    run_check(&f->config, &f->monitor, &r);
    assert_down(&r, TOCSIN_ERR_TLS, "TLS: certificate verify failed: self-signed certificate");
    assert_true(r.timings.tls_ms >= 0);
}

static void test_tls_wrong_name(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_SILENT, NULL, 0, &leaf_valid);
    use_tls(f, pki.ca.cert);
    f->monitor.tls.server_name = "db.example.org";
    run_check(&f->config, &f->monitor, &r);
    assert_down(&r, TOCSIN_ERR_TLS, "TLS: certificate verify failed: hostname mismatch");
}

static void test_tls_ip_checked_against_ip_sans(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_SILENT, NULL, 0, &leaf_dns_only); /* no IP:127.0.0.1 */
    use_tls(f, pki.ca.cert);
    run_check(&f->config, &f->monitor, &r);
    assert_down(&r, TOCSIN_ERR_TLS, "TLS: certificate verify failed: IP address mismatch");
}

static void test_tls_skip_verify(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_REPLY, "+PONG\r\n", 0, &leaf_self);
    send_ping(f, "+PONG");
    use_tls(f, NULL);
    f->monitor.tls.skip_verify = true;
    run_check(&f->config, &f->monitor, &r);
    assert_up(&r);
}

/* Points the system store at FILE and DIR (NULL: unset), and drops the cached
 * context, so the next check without a ca_file loads the store anew. */
static void set_system_store(const char *file, const char *dir)
{
    if (file)
        setenv("SSL_CERT_FILE", file, 1);
    else
        unsetenv("SSL_CERT_FILE");
    if (dir)
        setenv("SSL_CERT_DIR", dir, 1);
    else
        unsetenv("SSL_CERT_DIR");
    tocsin_tls_cache_clear();
}

/* Without a ca_file the system store is its CA file alone (SSL_CERT_FILE
 * here), the bundle libcurl reads for HTTPS checks: a CA that is only in the
 * hashed directory (SSL_CERT_DIR) is not trusted, since OpenSSL would look in
 * that directory for every issuer the file lacks, on every check. */
static void test_tls_system_store_is_the_ca_file(void **state)
{
    struct fixture *f = *state;
    char *saved_file = getenv("SSL_CERT_FILE") ? strdup(getenv("SSL_CERT_FILE")) : NULL;
    char *saved_dir = getenv("SSL_CERT_DIR") ? strdup(getenv("SSL_CERT_DIR")) : NULL;
    struct tocsin_result by_file, by_dir_only;

    set_system_store(pki.ca.cert, other_pki.dir);
    serve(f, TEST_SERVER_SILENT, NULL, 0, &leaf_valid);
    use_tls(f, NULL);
    run_check(&f->config, &f->monitor, &by_file);
    test_server_stop(f->server);
    serve(f, TEST_SERVER_SILENT, NULL, 0, &leaf_other);
    run_check(&f->config, &f->monitor, &by_dir_only);
    set_system_store(saved_file, saved_dir);
    free(saved_file);
    free(saved_dir);
    assert_up(&by_file);
    assert_down(&by_dir_only, TOCSIN_ERR_TLS,
                "TLS: certificate verify failed: unable to get local issuer certificate");
}

static void test_tls_expiring(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_SILENT, NULL, 0, &leaf_expiring);
    use_tls(f, pki.ca.cert);
    f->monitor.expect.cert_min_days = 14;
    run_check(&f->config, &f->monitor, &r);
    assert_down(&r, TOCSIN_ERR_CERT, "certificate expires in 5 days, minimum 14");
}

static void test_tls_handshake_timeout(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_SILENT, NULL, 0, NULL); /* reads the ClientHello, never answers */
    use_tls(f, pki.ca.cert);
    f->monitor.timeout_ms = 400;
    run_check(&f->config, &f->monitor, &r);
    assert_down(&r, TOCSIN_ERR_TIMEOUT, "timed out after 400 ms during the TLS handshake");
    assert_int_equal(r.response_time_ms, 400);
}

static void test_tls_peer_closes_in_handshake(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_CLOSE, NULL, 0, NULL);
    use_tls(f, pki.ca.cert);
    run_check(&f->config, &f->monitor, &r);
    assert_down(&r, TOCSIN_ERR_TLS, "TLS: connection closed by the server");
}

static void test_tls_peer_resets_in_handshake(void **state)
{
    struct fixture *f = *state;
    char want[128];
    struct tocsin_result r;

    serve(f, TEST_SERVER_RESET, NULL, 0, NULL);
    use_tls(f, pki.ca.cert);
    run_check(&f->config, &f->monitor, &r);
    snprintf(want, sizeof(want), "connection to 127.0.0.1 port %d reset during the TLS handshake",
             f->monitor.port);
    assert_down(&r, TOCSIN_ERR_RESET, want);
}

static void test_tls_bad_ca_file(void **state)
{
    struct fixture *f = *state;
    struct tocsin_result r;

    serve(f, TEST_SERVER_SILENT, NULL, 0, &leaf_valid);
    use_tls(f, "/nonexistent/ca.pem");
    run_check(&f->config, &f->monitor, &r);
    assert_int_equal(r.error_kind, TOCSIN_ERR_INTERNAL);
    assert_non_null(
        strstr(r.error_message, "TLS: cannot load CA certificates from /nonexistent/ca.pem"));
}

/* ---- cancel --------------------------------------------------------------------- */

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

    serve(f, TEST_SERVER_SILENT, NULL, 0, &leaf_valid);
    use_tls(f, pki.ca.cert);
    send_ping(f, "+PONG");
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(tocsin_engine_init(&engine, &loop, &f->config), 0);
    rc = tocsin_probe_tcp.start(&engine.env, &f->monitor, 0, on_never, &calls, &op);
    /* Let it get somewhere (connected, handshaking), then cancel. */
    for (int i = 0; rc == 0 && i < 3; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    if (rc == 0)
        tocsin_probe_tcp.cancel(op);
    tocsin_engine_close(&engine, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(rc, 0);
    assert_int_equal(calls, 0);
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
                       &leaf_expiring) != 0)
        return -1;
    if (test_pki_issue(&pki, "dns-only", "DNS:localhost", 365L * 86400, false, &leaf_dns_only) != 0)
        return -1;
    if (test_pki_init(&other_pki) != 0 ||
        test_pki_issue(&other_pki, "other", "DNS:localhost,IP:127.0.0.1", 365L * 86400, false,
                       &leaf_other) != 0 ||
        test_pki_hash_ca(&other_pki) != 0)
        return -1;
    return 0;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_connect_up),
        T(test_name_resolved_up),
        T(test_refused),
        T(test_ping_pong_up),
        T(test_send_without_expect_needs_a_reply),
        T(test_banner_up),
        T(test_expect_mismatch),
        T(test_expect_mismatch_long_reply_is_cut),
        T(test_silent_times_out),
        T(test_reset),
        T(test_eof_before_reply),
        T(test_slow),
        T(test_source_address),
        T(test_source_address_not_local),
        T(test_interface),
        T(test_interface_missing),
        T(test_tls_valid),
        T(test_tls_connect_only),
        T(test_tls_self_signed),
        T(test_tls_wrong_name),
        T(test_tls_ip_checked_against_ip_sans),
        T(test_tls_skip_verify),
        T(test_tls_expiring),
        T(test_tls_handshake_timeout),
        T(test_tls_peer_closes_in_handshake),
        T(test_tls_peer_resets_in_handshake),
        T(test_tls_bad_ca_file),
        T(test_tls_system_store_is_the_ca_file),
        T(test_cancel_never_calls_back),
    };
    int failed;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    ares_library_init(ARES_LIB_INIT_ALL);
    if (make_pki() != 0) {
        fprintf(stderr, "cannot create the test PKI\n");
        test_pki_free(&pki);
        test_pki_free(&other_pki);
        return 1;
    }
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    tocsin_tls_cache_clear();
    test_pki_free(&pki);
    test_pki_free(&other_pki);
    ares_library_cleanup();
    curl_global_cleanup();
    return failed;
}
