/* A loopback webhook receiver for tests: libmicrohttpd on its own thread.  It
 * verifies X-StatusPageOne-Signature with its own OpenSSL HMAC code (not the
 * sender's), over the raw body and the way the seed's Node.js validator does
 * (over JSON.stringify(JSON.parse(body)), reproduced here as a re-serialisation
 * check that the body is already in that canonical form).
 *
 * What it answers is a PLAN: a bounded queue of per-request answers (a status
 * with optional Retry-After and Location, a hang, or a reset) consumed in
 * arrival order, then the default answer (200 unless changed).  Each request
 * is recorded with its arrival time on CLOCK_MONOTONIC (test_monotonic_ms), so
 * tests can measure the gaps a sender leaves between attempts. */
#ifndef TEST_RECEIVER_H
#define TEST_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum test_action {
    TEST_ANSWER, /* answer with status (+ the optional headers) */
    TEST_HANG,   /* read the request, never answer: the connection is parked
                  * until test_receiver_release_hung() or stop, then closed */
    TEST_RESET,  /* read the request, then reset the connection (RST), no answer */
};

/* One planned answer.  Strings are copied when planned. */
struct test_answer {
    enum test_action action;
    int status;              /* TEST_ANSWER; 0 means 200 */
    const char *retry_after; /* Retry-After value as is ("1"), or NULL */
    int retry_after_date_s;  /* > 0: Retry-After as an HTTP-date this many seconds
                              * after the answer is made (wins over retry_after) */
    const char *location;    /* Location header, or NULL */
    const char *match;       /* NULL: the next request takes it; else only a request
                              * whose body contains MATCH or whose X-Request-ID
                              * equals it (earlier entries that do not match wait) */
};

struct test_delivery {
    char method[16];
    char path[256];
    char *body;            /* NUL-terminated copy of the raw body */
    size_t body_len;
    char signature[128];   /* X-StatusPageOne-Signature */
    char request_id[64];   /* X-Request-ID */
    char user_agent[64];
    char content_type[64];
    char host[128];        /* Host header: which of a webhook's URLs it came to */
    bool sig_ok_raw;       /* "sha256=" + hex HMAC over the raw bytes matches */
    bool sig_ok_seed;      /* matches over the canonical re-serialisation too */
    uint64_t arrived_ms;   /* test_monotonic_ms() when its headers arrived */
    enum test_action action; /* what it got */
    int status;            /* the status answered (0 for a hang or a reset) */
    bool planned;          /* true when a plan entry (not the default) answered it */
};

struct test_receiver;

/* SECRET may be NULL (no verification). NULL on failure. */
struct test_receiver *test_receiver_start(const char *secret);
uint16_t test_receiver_port(const struct test_receiver *r);
/* The default answer: STATUS with no extra header (default 200). */
void test_receiver_set_status(struct test_receiver *r, int status);
/* The default answer, any action (a copy is kept).  0 or -1 (string too long). */
int test_receiver_set_default(struct test_receiver *r, const struct test_answer *answer);
/* Appends N answers to the plan.  0, or -1 when the plan would go over
 * TEST_PLAN_MAX entries or a string is too long (nothing appended then). */
#define TEST_PLAN_MAX 64
int test_receiver_plan(struct test_receiver *r, const struct test_answer *answers, size_t n);
/* Planned answers not consumed yet. */
size_t test_receiver_plan_left(const struct test_receiver *r);
size_t test_receiver_count(const struct test_receiver *r);
/* Copies delivery I into *OUT (body malloc'd; free with test_delivery_free). 0 or -1. */
int test_receiver_get(struct test_receiver *r, size_t i, struct test_delivery *out);
void test_delivery_free(struct test_delivery *d);
/* Requests being handled now (arrived, not completed; hung ones count) and the
 * most there ever were at once. */
size_t test_receiver_active(const struct test_receiver *r);
size_t test_receiver_max_active(const struct test_receiver *r);
/* Requests parked by TEST_HANG now. */
size_t test_receiver_hung(const struct test_receiver *r);
/* Closes every hung connection (without an answer); later requests are
 * answered as planned.  Returns how many were released. */
size_t test_receiver_release_hung(struct test_receiver *r);
void test_receiver_stop(struct test_receiver *r);

/* CLOCK_MONOTONIC in ms: the clock of arrived_ms (and of uv_hrtime()). */
uint64_t test_monotonic_ms(void);

/* Independent HMAC check used by the receiver and golden tests. */
bool test_verify_signature(const char *secret, const char *body, size_t len,
                           const char *header_value);

#endif
