/* src/net/resolver.c and src/net/dns_cache.c on a real libuv loop against the
 * in-test DNS responder (tests/support/dns.c): answers, the cache (TTL, the
 * region's cap, negative answers, case-insensitive names), error mapping,
 * /etc/hosts with custom servers, source binding, regions kept apart,
 * cancellation and closing with queries pending.
 *
 * Every wait is bounded; time bounds are wide (valgrind, loaded machines) but
 * still tell a working resolver from a hanging one.  Every test closes its
 * resolvers and ends with uv_loop_close() == 0. */
#include <arpa/inet.h>
#include <errno.h>
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

#include <cmocka.h>
#include <uv.h>

#include "dns.h"
#include "tocsin/config.h"
#include "tocsin/dns_cache.h"
#include "tocsin/resolver.h"

#define WAIT_MS 5000        /* any answer from loopback comes far sooner */
#define SILENT_LIMIT_MS 5000 /* c-ares gives up after ~3 s (1 s + 2 s) */

struct lookup {
    struct harness *h;
    int calls;
    int status;
    struct sockaddr_storage addr;
    char message[128];
    uint64_t done_at;
    struct tocsin_resolve_req *req;
    void (*then)(struct lookup *l); /* runs inside the callback */
};

struct harness {
    uv_loop_t loop;
    uv_timer_t deadline;
    bool expired;
    struct test_dns *dns;
    char *servers[1];
    struct tocsin_region_conf region;
    struct tocsin_resolver *r;
};

/* ---- harness ---- */

static void on_lookup(void *data, int status, const struct sockaddr_storage *addr,
                      const char *message)
{
    struct lookup *l = data;

    l->calls++;
    l->status = status;
    if (status == 0)
        l->addr = *addr;
    snprintf(l->message, sizeof(l->message), "%s", message ? message : "(null)");
    l->done_at = uv_now(&l->h->loop);
    if (l->then)
        l->then(l);
    /* UV_RUN_ONCE would go on to block in poll after a timer callback: the
     * waits run the loop by default and stop it at each answer. */
    uv_stop(&l->h->loop);
}

static void on_deadline(uv_timer_t *t)
{
    struct harness *h = t->data;

    h->expired = true;
    uv_stop(&h->loop);
}

/* Runs the loop until every lookup in LS has answered or MS passed. */
static bool wait_all(struct harness *h, struct lookup **ls, size_t n, uint64_t ms)
{
    bool done = false;

    h->expired = false;
    uv_timer_start(&h->deadline, on_deadline, ms, 0);
    while (!done && !h->expired) {
        uv_run(&h->loop, UV_RUN_DEFAULT);
        done = true;
        for (size_t i = 0; i < n; i++)
            done = done && ls[i]->calls > 0;
    }
    uv_timer_stop(&h->deadline);
    return done;
}

static bool wait_for(struct harness *h, struct lookup *l, uint64_t ms)
{
    return wait_all(h, &l, 1, ms);
}

/* Lets the loop run for MS (answers that must not come, TTLs running out). */
static void run_for(struct harness *h, uint64_t ms)
{
    h->expired = false;
    uv_timer_start(&h->deadline, on_deadline, ms, 0);
    while (!h->expired)
        uv_run(&h->loop, UV_RUN_DEFAULT);
}

static void region_for(struct tocsin_region_conf *region, char **servers, struct test_dns *dns)
{
    memset(region, 0, sizeof(*region));
    region->name = "test";
    servers[0] = (char *)test_dns_server(dns);
    region->dns_servers = servers;
    region->n_dns_servers = 1;
    region->dns_cache_ms = 60000;
}

/* A responder in MODE and a loop; the resolver is made by start(). */
static void setup(struct harness *h, enum test_dns_mode mode)
{
    memset(h, 0, sizeof(*h));
    assert_int_equal(uv_loop_init(&h->loop), 0);
    uv_timer_init(&h->loop, &h->deadline);
    h->deadline.data = h;
    h->dns = test_dns_start(NULL);
    assert_non_null(h->dns);
    test_dns_set_mode(h->dns, mode);
    region_for(&h->region, h->servers, h->dns);
}

static void start(struct harness *h)
{
    assert_int_equal(tocsin_resolver_new(&h->loop, &h->region, &h->r), 0);
}

static void teardown(struct harness *h)
{
    if (h->r)
        tocsin_resolver_close(h->r);
    uv_close((uv_handle_t *)&h->deadline, NULL);
    while (uv_run(&h->loop, UV_RUN_DEFAULT) != 0)
        ; /* a callback inside close may have called uv_stop() */
    assert_int_equal(uv_loop_close(&h->loop), 0);
    test_dns_stop(h->dns);
}

/* Starts a lookup and checks it did not complete inside tocsin_resolve(). */
static void resolve_on(struct harness *h, struct tocsin_resolver *r, const char *host, int family,
                       struct lookup *l)
{
    *l = (struct lookup){.h = h, .status = 1};
    assert_int_equal(tocsin_resolve(r, host, family, on_lookup, l, &l->req), 0);
    assert_int_equal(l->calls, 0);
}

static void resolve(struct harness *h, const char *host, int family, struct lookup *l)
{
    resolve_on(h, h->r, host, family, l);
}

static void assert_ipv4(const struct lookup *l, const char *want)
{
    char got[64];

    assert_int_equal(l->status, 0);
    assert_int_equal(l->addr.ss_family, AF_INET);
    tocsin_format_ip(&l->addr, false, got, sizeof(got));
    assert_string_equal(got, want);
}

/* ---- answers and the cache ---- */

static void test_answer(void **state)
{
    struct harness h;
    struct lookup l, l6;
    char ip[64];

    (void)state;
    setup(&h, TEST_DNS_ANSWER);
    test_dns_set_answer(h.dns, "192.0.2.7", 300);
    test_dns_set_aaaa(h.dns, true);
    start(&h);
    resolve(&h, "svc.example.test", AF_UNSPEC, &l); /* A and AAAA: IPv4 preferred */
    resolve(&h, "svc.example.test", AF_INET6, &l6);
    assert_true(wait_all(&h, (struct lookup *[]){&l, &l6}, 2, WAIT_MS));
    assert_ipv4(&l, "192.0.2.7");
    assert_int_equal(l.calls, 1);
    assert_int_equal(l6.status, 0);
    tocsin_format_ip(&l6.addr, true, ip, sizeof(ip));
    assert_string_equal(ip, "[::1]");
    teardown(&h);
}

static void test_cache_hit_is_async_and_case_insensitive(void **state)
{
    struct harness h;
    struct lookup l;
    unsigned queries;

    (void)state;
    setup(&h, TEST_DNS_ANSWER);
    test_dns_set_answer(h.dns, "192.0.2.8", 300);
    start(&h);
    resolve(&h, "cached.example.test", AF_INET, &l);
    assert_true(wait_for(&h, &l, WAIT_MS));
    assert_ipv4(&l, "192.0.2.8");
    queries = test_dns_queries(h.dns);
    assert_int_equal(queries, 1);

    test_dns_set_answer(h.dns, "192.0.2.9", 300); /* a new query would see this */
    resolve(&h, "CACHED.Example.Test", AF_INET, &l); /* asserts: not answered inside */
    assert_true(wait_for(&h, &l, WAIT_MS));
    assert_ipv4(&l, "192.0.2.8");
    assert_int_equal(test_dns_queries(h.dns), queries);
    teardown(&h);
}

static void test_ttl_expiry(void **state)
{
    struct harness h;
    struct lookup l;

    (void)state;
    setup(&h, TEST_DNS_ANSWER);
    test_dns_set_answer(h.dns, "192.0.2.10", 1);
    start(&h);
    resolve(&h, "short.example.test", AF_INET, &l);
    assert_true(wait_for(&h, &l, WAIT_MS));
    assert_ipv4(&l, "192.0.2.10");
    resolve(&h, "short.example.test", AF_INET, &l);
    assert_true(wait_for(&h, &l, WAIT_MS));
    assert_int_equal(test_dns_queries(h.dns), 1); /* still within the TTL */

    run_for(&h, 1200);
    test_dns_set_answer(h.dns, "192.0.2.11", 1);
    resolve(&h, "short.example.test", AF_INET, &l);
    assert_true(wait_for(&h, &l, WAIT_MS));
    assert_ipv4(&l, "192.0.2.11");
    assert_int_equal(test_dns_queries(h.dns), 2);
    teardown(&h);
}

static void test_region_cap_below_ttl(void **state)
{
    struct harness h;
    struct lookup l;

    (void)state;
    setup(&h, TEST_DNS_ANSWER);
    test_dns_set_answer(h.dns, "192.0.2.12", 3600);
    h.region.dns_cache_ms = 300;
    start(&h);
    resolve(&h, "capped.example.test", AF_INET, &l);
    assert_true(wait_for(&h, &l, WAIT_MS));
    resolve(&h, "capped.example.test", AF_INET, &l);
    assert_true(wait_for(&h, &l, WAIT_MS));
    assert_int_equal(test_dns_queries(h.dns), 1);

    run_for(&h, 500);
    resolve(&h, "capped.example.test", AF_INET, &l);
    assert_true(wait_for(&h, &l, WAIT_MS));
    assert_ipv4(&l, "192.0.2.12");
    assert_int_equal(test_dns_queries(h.dns), 2);
    teardown(&h);
}

static void test_cap_zero_caches_nothing(void **state)
{
    struct harness h;
    struct lookup l;

    (void)state;
    setup(&h, TEST_DNS_ANSWER);
    h.region.dns_cache_ms = 0;
    start(&h);
    for (int i = 0; i < 3; i++) {
        resolve(&h, "uncached.example.test", AF_INET, &l);
        assert_true(wait_for(&h, &l, WAIT_MS));
        assert_int_equal(l.status, 0);
    }
    assert_int_equal(test_dns_queries(h.dns), 3);
    teardown(&h);
}

static void test_concurrent_lookups_share_a_query(void **state)
{
    struct harness h;
    struct lookup a, b;

    (void)state;
    setup(&h, TEST_DNS_ANSWER);
    test_dns_set_answer(h.dns, "192.0.2.13", 300);
    start(&h);
    resolve(&h, "shared.example.test", AF_INET, &a);
    resolve(&h, "Shared.Example.Test", AF_INET, &b);
    assert_true(wait_all(&h, (struct lookup *[]){&a, &b}, 2, WAIT_MS));
    assert_ipv4(&a, "192.0.2.13");
    assert_ipv4(&b, "192.0.2.13");
    assert_int_equal(test_dns_queries(h.dns), 1);
    teardown(&h);
}

/* ---- failures ---- */

static void test_nxdomain_is_enoent_and_cached_briefly(void **state)
{
    struct harness h;
    struct lookup l;

    (void)state;
    setup(&h, TEST_DNS_NXDOMAIN);
    start(&h);
    resolve(&h, "missing.example.test", AF_INET, &l);
    assert_true(wait_for(&h, &l, WAIT_MS));
    assert_int_equal(l.status, -ENOENT);
    assert_non_null(strstr(l.message, "NXDOMAIN"));
    resolve(&h, "missing.example.test", AF_INET, &l);
    assert_true(wait_for(&h, &l, WAIT_MS));
    assert_int_equal(l.status, -ENOENT);
    assert_int_equal(test_dns_queries(h.dns), 1);
    teardown(&h);
}

static void test_nodata_is_enoent(void **state)
{
    struct harness h;
    struct lookup l;

    (void)state;
    setup(&h, TEST_DNS_NODATA);
    start(&h);
    resolve(&h, "empty.example.test", AF_UNSPEC, &l);
    assert_true(wait_for(&h, &l, WAIT_MS));
    assert_int_equal(l.status, -ENOENT);
    assert_non_null(strstr(l.message, "NODATA"));
    teardown(&h);
}

static void test_servfail_is_eagain_and_not_cached(void **state)
{
    struct harness h;
    struct lookup l;
    unsigned first;

    (void)state;
    setup(&h, TEST_DNS_SERVFAIL);
    start(&h);
    resolve(&h, "broken.example.test", AF_INET, &l);
    assert_true(wait_for(&h, &l, WAIT_MS));
    assert_int_equal(l.status, -EAGAIN);
    assert_non_null(strstr(l.message, "server failure"));
    first = test_dns_queries(h.dns);
    assert_true(first >= 1);

    test_dns_set_mode(h.dns, TEST_DNS_ANSWER);
    resolve(&h, "broken.example.test", AF_INET, &l);
    assert_true(wait_for(&h, &l, WAIT_MS));
    assert_int_equal(l.status, 0);
    assert_true(test_dns_queries(h.dns) > first);
    teardown(&h);
}

static void test_silent_server_times_out(void **state)
{
    struct harness h;
    struct lookup l;
    uint64_t t0;

    (void)state;
    setup(&h, TEST_DNS_SILENT);
    start(&h);
    uv_update_time(&h.loop);
    t0 = uv_now(&h.loop);
    resolve(&h, "silent.example.test", AF_INET, &l);
    assert_true(wait_for(&h, &l, SILENT_LIMIT_MS + 3000));
    assert_int_equal(l.status, -ETIMEDOUT);
    assert_string_equal(l.message, "no answer from DNS server");
    assert_true(l.done_at - t0 < SILENT_LIMIT_MS);
    assert_true(l.done_at - t0 >= 900); /* it did wait for the server */
    assert_true(test_dns_queries(h.dns) >= 2); /* ARES_OPT_TRIES 2 */
    teardown(&h);
}

static void test_hosts_file_with_silent_servers(void **state)
{
    struct harness h;
    struct lookup l;
    uint64_t t0;

    (void)state;
    setup(&h, TEST_DNS_SILENT);
    start(&h);
    uv_update_time(&h.loop);
    t0 = uv_now(&h.loop);
    resolve(&h, "localhost", AF_INET, &l); /* asserts: deferred, not synchronous */
    assert_true(wait_for(&h, &l, WAIT_MS));
    assert_ipv4(&l, "127.0.0.1");
    assert_true(l.done_at - t0 < 900); /* never waited on the silent server */
    assert_int_equal(test_dns_queries(h.dns), 0);
    teardown(&h);
}

static void test_literal_resolves_without_query(void **state)
{
    struct harness h;
    struct lookup l;

    (void)state;
    setup(&h, TEST_DNS_SILENT);
    start(&h);
    resolve(&h, "192.0.2.99", AF_UNSPEC, &l);
    assert_true(wait_for(&h, &l, WAIT_MS));
    assert_ipv4(&l, "192.0.2.99");
    assert_int_equal(test_dns_queries(h.dns), 0);
    teardown(&h);
}

static void test_overlong_name_is_a_dns_failure(void **state)
{
    struct harness h;
    struct lookup l;
    char name[300];

    (void)state;
    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    setup(&h, TEST_DNS_ANSWER);
    start(&h);
    resolve(&h, name, AF_INET, &l);
    assert_true(wait_for(&h, &l, WAIT_MS));
    assert_int_equal(l.status, -ENOENT);
    assert_string_equal(l.message, "invalid host name");
    teardown(&h);
}

static void test_unreachable_server_is_eagain(void **state)
{
    struct harness h;
    struct lookup l;
    struct test_dns *closed = test_dns_start(NULL);
    char server[64];

    (void)state;
    assert_non_null(closed);
    snprintf(server, sizeof(server), "%s", test_dns_server(closed));
    test_dns_stop(closed); /* nothing listens there now: ICMP port unreachable */
    setup(&h, TEST_DNS_ANSWER);
    h.servers[0] = server;
    start(&h);
    resolve(&h, "nowhere.example.test", AF_INET, &l);
    assert_true(wait_for(&h, &l, SILENT_LIMIT_MS));
    assert_int_equal(l.status, -EAGAIN);
    assert_non_null(strstr(l.message, "cannot reach the DNS server"));
    teardown(&h);
}

static void test_unusable_source_address_is_eagain(void **state)
{
    struct harness h;
    struct lookup l;

    (void)state;
    setup(&h, TEST_DNS_ANSWER);
    h.region.source_address = "192.0.2.55"; /* not an address of this host */
    start(&h);
    resolve(&h, "unbound.example.test", AF_INET, &l);
    assert_true(wait_for(&h, &l, SILENT_LIMIT_MS));
    assert_int_equal(l.status, -EAGAIN);
    assert_non_null(strstr(l.message, "cannot bind DNS query to 192.0.2.55"));
    assert_int_equal(test_dns_queries(h.dns), 0); /* never sent unbound */
    teardown(&h);
}

/* ---- regions ---- */

static void test_source_address(void **state)
{
    struct harness h;
    struct lookup l;
    char source[64];

    (void)state;
    setup(&h, TEST_DNS_ANSWER);
    h.region.source_address = "127.0.0.2";
    start(&h);
    resolve(&h, "bound.example.test", AF_INET, &l);
    assert_true(wait_for(&h, &l, WAIT_MS));
    assert_int_equal(l.status, 0);
    assert_true(test_dns_last_source(h.dns, source, sizeof(source)));
    assert_string_equal(source, "127.0.0.2");
    teardown(&h);
}

static void test_regions_do_not_share_answers(void **state)
{
    struct harness h;
    struct test_dns *other = test_dns_start(NULL);
    struct tocsin_region_conf region2;
    char *servers2[1];
    struct tocsin_resolver *r2;
    struct lookup a, b, a2, b2;

    (void)state;
    assert_non_null(other);
    setup(&h, TEST_DNS_ANSWER);
    test_dns_set_answer(h.dns, "192.0.2.21", 300);
    test_dns_set_answer(other, "192.0.2.22", 300);
    region_for(&region2, servers2, other);
    start(&h);
    assert_int_equal(tocsin_resolver_new(&h.loop, &region2, &r2), 0);
    resolve(&h, "same.example.test", AF_INET, &a);
    assert_true(wait_for(&h, &a, WAIT_MS));
    resolve_on(&h, r2, "same.example.test", AF_INET, &b); /* a's answer is cached in h.r only */
    assert_true(wait_for(&h, &b, WAIT_MS));
    assert_ipv4(&a, "192.0.2.21");
    assert_ipv4(&b, "192.0.2.22");
    resolve(&h, "same.example.test", AF_INET, &a2);
    resolve_on(&h, r2, "same.example.test", AF_INET, &b2);
    assert_true(wait_all(&h, (struct lookup *[]){&a2, &b2}, 2, WAIT_MS));
    assert_ipv4(&a2, "192.0.2.21");
    assert_ipv4(&b2, "192.0.2.22");
    assert_int_equal(test_dns_queries(h.dns), 1);
    assert_int_equal(test_dns_queries(other), 1);
    tocsin_resolver_close(r2);
    teardown(&h);
    test_dns_stop(other);
}

static void test_bad_region_settings(void **state)
{
    static const char *bad[] = {"bogus", "127.0.0.1:0", "127.0.0.1:99999", "[::1]x",
                                "[127.0.0.1]:53", "::1:53:", "127.0.0.1:5x"};
    static const char *good[] = {"127.0.0.1", "127.0.0.1:5353", "::1", "[::1]", "[::1]:5353"};
    uv_loop_t loop;
    struct tocsin_region_conf region = {.name = "x", .n_dns_servers = 1};
    struct tocsin_resolver *r;
    char *server;

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    region.dns_servers = &server;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        server = (char *)bad[i];
        assert_int_equal(tocsin_resolver_new(&loop, &region, &r), -EINVAL);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        server = (char *)good[i];
        assert_int_equal(tocsin_resolver_new(&loop, &region, &r), 0);
        tocsin_resolver_close(r);
    }
    region.n_dns_servers = 0;
    region.source_address = "not-an-ip";
    assert_int_equal(tocsin_resolver_new(&loop, &region, &r), -EINVAL);
    region.source_address = NULL;
    region.interface = "an-interface-name-far-too-long";
    assert_int_equal(tocsin_resolver_new(&loop, &region, &r), -EINVAL);
    assert_int_equal(tocsin_resolver_new(&loop, NULL, &r), 0); /* defaults */
    tocsin_resolver_close(r);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- cancellation and closing ---- */

static void test_cancel_before_answer(void **state)
{
    struct harness h;
    struct lookup net, hit, done;

    (void)state;
    setup(&h, TEST_DNS_ANSWER);
    start(&h);
    resolve(&h, "warm.example.test", AF_INET, &done);
    assert_true(wait_for(&h, &done, WAIT_MS));

    resolve(&h, "cold.example.test", AF_INET, &net);  /* goes to the server */
    resolve(&h, "warm.example.test", AF_INET, &hit);  /* a deferred cache hit */
    tocsin_resolve_cancel(net.req);
    tocsin_resolve_cancel(hit.req);
    resolve(&h, "cold.example.test", AF_INET, &done); /* shares net's query */
    assert_true(wait_for(&h, &done, WAIT_MS));
    assert_int_equal(done.status, 0);
    run_for(&h, 100);
    assert_int_equal(net.calls, 0);
    assert_int_equal(hit.calls, 0);
    teardown(&h);
}

static void test_close_with_queries_pending(void **state)
{
    struct harness h;
    struct lookup cancelled, pending, hosts;

    (void)state;
    setup(&h, TEST_DNS_SILENT);
    start(&h);
    resolve(&h, "pending.example.test", AF_UNSPEC, &cancelled);
    resolve(&h, "other.example.test", AF_INET, &pending);
    tocsin_resolve_cancel(cancelled.req);
    run_for(&h, 50); /* the queries reach the server */
    resolve(&h, "localhost", AF_INET, &hosts); /* answered, waiting on the defer timer */
    tocsin_resolver_close(h.r);
    h.r = NULL;
    assert_int_equal(cancelled.calls, 0);
    assert_int_equal(pending.calls, 1);
    assert_int_equal(pending.status, -ECANCELED);
    assert_int_equal(hosts.calls, 1);
    assert_int_equal(hosts.status, 0);
    teardown(&h); /* runs the loop: nothing more may arrive */
    assert_int_equal(cancelled.calls, 0);
    assert_int_equal(pending.calls, 1);
}

static void close_resolver(struct lookup *l)
{
    tocsin_resolver_close(l->h->r);
    l->h->r = NULL;
}

static void resolve_again(struct lookup *l)
{
    struct lookup *next = l + 1;

    *next = (struct lookup){.h = l->h, .status = 1, .then = close_resolver};
    assert_int_equal(tocsin_resolve(l->h->r, "again.example.test", AF_INET, on_lookup, next,
                                    &next->req), 0);
}

/* A callback may resolve again and close the resolver: it never runs inside c-ares. */
static void test_callbacks_may_reenter(void **state)
{
    struct harness h;
    struct lookup l[2];

    (void)state;
    setup(&h, TEST_DNS_ANSWER);
    start(&h);
    l[0] = (struct lookup){.h = &h, .status = 1, .then = resolve_again};
    assert_int_equal(tocsin_resolve(h.r, "first.example.test", AF_INET, on_lookup, &l[0], &l[0].req), 0);
    assert_true(wait_all(&h, (struct lookup *[]){&l[0], &l[1]}, 2, WAIT_MS));
    assert_int_equal(l[0].status, 0);
    assert_int_equal(l[1].status, 0);
    assert_null(h.r);
    teardown(&h);
}

/* ---- the cache on its own ---- */

static struct tocsin_dns_answer one_address(union tocsin_dns_addr *a, uint8_t last)
{
    memset(a, 0, sizeof(*a));
    a->sin.sin_family = AF_INET;
    a->sin.sin_addr.s_addr = htonl(0xC0000200u | last);
    return (struct tocsin_dns_answer){.status = 0, .n_addrs = 1, .addrs = a};
}

static void test_dns_cache_bounds_and_expiry(void **state)
{
    struct tocsin_dns_cache *c;
    union tocsin_dns_addr addr;
    struct tocsin_dns_answer a = one_address(&addr, 1), got;
    char name[32];

    (void)state;
    assert_int_equal(tocsin_dns_cache_new(4, &c), 0);
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "h%d.test", i);
        assert_int_equal(tocsin_dns_cache_put(c, name, AF_INET, &a, 1000, 0), 0);
        assert_true(tocsin_dns_cache_size(c) <= 4);
    }
    assert_int_equal(tocsin_dns_cache_get(c, "h0.test", AF_INET, 1, &got), -ENOENT); /* evicted */
    assert_int_equal(tocsin_dns_cache_get(c, "H9.TEST", AF_INET, 1, &got), 0);
    assert_int_equal(got.n_addrs, 1);
    assert_int_equal(got.addrs[0].sin.sin_addr.s_addr, addr.sin.sin_addr.s_addr);
    assert_int_equal(tocsin_dns_cache_get(c, "h9.test", AF_INET6, 1, &got), -ENOENT);
    assert_int_equal(tocsin_dns_cache_get(c, "h9.test", AF_INET, 1000, &got), -ENOENT); /* expired */
    assert_int_equal(tocsin_dns_cache_size(c), 3);
    a = one_address(&addr, 2);
    assert_int_equal(tocsin_dns_cache_put(c, "h8.test", AF_INET, &a, 2000, 10), 0); /* replaces */
    assert_int_equal(tocsin_dns_cache_get(c, "h8.test", AF_INET, 11, &got), 0);
    assert_int_equal(ntohl(got.addrs[0].sin.sin_addr.s_addr) & 0xff, 2);
    assert_int_equal(tocsin_dns_cache_put(c, "h8.test", AF_INET, &a, 5, 10), -EINVAL);
    tocsin_dns_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer),
        cmocka_unit_test(test_cache_hit_is_async_and_case_insensitive),
        cmocka_unit_test(test_ttl_expiry),
        cmocka_unit_test(test_region_cap_below_ttl),
        cmocka_unit_test(test_cap_zero_caches_nothing),
        cmocka_unit_test(test_concurrent_lookups_share_a_query),
        cmocka_unit_test(test_nxdomain_is_enoent_and_cached_briefly),
        cmocka_unit_test(test_nodata_is_enoent),
        cmocka_unit_test(test_servfail_is_eagain_and_not_cached),
        cmocka_unit_test(test_silent_server_times_out),
        cmocka_unit_test(test_hosts_file_with_silent_servers),
        cmocka_unit_test(test_literal_resolves_without_query),
        cmocka_unit_test(test_overlong_name_is_a_dns_failure),
        cmocka_unit_test(test_unreachable_server_is_eagain),
        cmocka_unit_test(test_unusable_source_address_is_eagain),
        cmocka_unit_test(test_source_address),
        cmocka_unit_test(test_regions_do_not_share_answers),
        cmocka_unit_test(test_bad_region_settings),
        cmocka_unit_test(test_cancel_before_answer),
        cmocka_unit_test(test_close_with_queries_pending),
        cmocka_unit_test(test_callbacks_may_reenter),
        cmocka_unit_test(test_dns_cache_bounds_and_expiry),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
