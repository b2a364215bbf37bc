/* An in-test UDP DNS responder: one socket on its own thread, bound to
 * 127.0.0.1 (or a given address) on an ephemeral port.  It parses only the
 * header and the first question of a query and answers by mode; what it
 * answers can be switched while it runs. */
#ifndef TEST_DNS_H
#define TEST_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum test_dns_mode {
    TEST_DNS_ANSWER,   /* A: the configured IPv4; AAAA: ::1 if enabled, else NODATA */
    TEST_DNS_NODATA,   /* NOERROR with no answer, for every type */
    TEST_DNS_NXDOMAIN,
    TEST_DNS_SERVFAIL,
    TEST_DNS_SILENT,   /* reads and counts, never answers */
};

struct test_dns;

/* BIND_IP NULL = 127.0.0.1; IPv4 or IPv6 literal.  NULL on failure. */
struct test_dns *test_dns_start(const char *bind_ip);
uint16_t test_dns_port(const struct test_dns *d);
/* "IP:PORT" or "[IPv6]:PORT", as a region's dns_servers entry. */
const char *test_dns_server(const struct test_dns *d);
void test_dns_set_mode(struct test_dns *d, enum test_dns_mode mode);
/* The A record's address and the TTL of every answer (default 127.0.0.1, 300 s). */
void test_dns_set_answer(struct test_dns *d, const char *ipv4, uint32_t ttl);
void test_dns_set_aaaa(struct test_dns *d, bool answer); /* default false: NODATA */
unsigned test_dns_queries(const struct test_dns *d);     /* queries received, any mode */
/* Numeric source address of the last query into BUF; false if none yet. */
bool test_dns_last_source(const struct test_dns *d, char *buf, size_t size);
/* Stops the thread (promptly: it is woken through a pipe) and frees D. */
void test_dns_stop(struct test_dns *d);

#endif
