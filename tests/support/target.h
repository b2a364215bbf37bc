/* A loopback HTTP(S) target for tests: libmicrohttpd on its own thread pool,
 * bound to 127.0.0.1 (or a chosen address) on an ephemeral port.
 *
 * Every path answers with the target's current mode and status, unless a route
 * for that exact path says otherwise.  Built in: /r/N answers 302 to /r/N-1 and
 * /r/0 answers 200, so a test asks for a redirect chain of any length by URL.
 * Delays and hangs park the connection (MHD suspend), so a slow answer never
 * holds up another request.  Every request is recorded (method, path, Host,
 * Authorization, Proxy-Authorization, body, client address) for the test to
 * assert on, and counted per client address.  Answers may depend on the client
 * address (test_target_fail_from): with sources bound to 127.0.0.2 and so on, one
 * target fails for one vantage point only.  Any path answers, so the target also serves as a plain HTTP
 * forward proxy for an http:// URL: it records the absolute URL as the path
 * and answers itself instead of forwarding. */
#ifndef TEST_TARGET_H
#define TEST_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum test_target_mode {
    TEST_TARGET_ANSWER,  /* answers the current status code with body "ok\n" */
    TEST_TARGET_HANG,    /* accepts, reads the request, never answers (until stop) */
    TEST_TARGET_RESET,   /* closes the connection without an answer */
    TEST_TARGET_ABORT,   /* resets the connection (RST: SO_LINGER 0, then close) */
};

struct test_target_opts {
    const char *bind_address; /* numeric IPv4 or IPv6; NULL = 127.0.0.1 */
    const char *cert_file;    /* PEM certificate (chain) and key: HTTPS; NULL = plain HTTP */
    const char *key_file;
};

/* What one path answers.  Strings are copied. */
struct test_route {
    const char *path;         /* exact request path, query excluded */
    enum test_target_mode mode;
    int status;               /* 0 = the target's current status */
    const char *body;         /* NULL = "ok\n" */
    const char *header_name;  /* one extra response header; NULL = none */
    const char *header_value;
    const char *location;     /* Location header, for redirects; NULL = none */
    unsigned delay_ms;        /* before answering (ANSWER, RESET, ABORT) */
};

/* One request as the target saw it; strings cut to fit, "" when absent. */
struct test_request {
    char method[16];
    char path[256];
    char host[256];           /* Host header */
    char user_agent[256];     /* the first User-Agent header */
    unsigned user_agents;     /* how many User-Agent headers came */
    char authorization[256];  /* Authorization header */
    bool has_authorization;
    char body[1024];          /* request body, NUL-terminated; body_len is its full length */
    size_t body_len;
    char client_ip[64];       /* numeric address the connection came from */
    /* Acting as a plain HTTP forward proxy: curl sends the absolute form
     * ("GET http://host:port/path"), which libmicrohttpd passes on unchanged,
     * so PATH holds the whole URL then; the proxy's credentials come here. */
    char proxy_authorization[256]; /* Proxy-Authorization header */
    bool has_proxy_authorization;
};

struct test_target *test_target_start(void);     /* plain HTTP on 127.0.0.1; NULL on failure */
struct test_target *test_target_start_opts(const struct test_target_opts *opts);
uint16_t test_target_port(const struct test_target *t);
void test_target_set_status(struct test_target *t, int status); /* default 200 */
void test_target_set_mode(struct test_target *t, enum test_target_mode mode);
/* Adds ROUTE, replacing an earlier one for the same path.  0, or -1 when full. */
int test_target_route(struct test_target *t, const struct test_route *route);
unsigned test_target_hits(const struct test_target *t); /* requests seen */
/* Requests whose connection comes from CLIENT_IP (numeric, as in
 * test_request.client_ip) answer STATUS (mode ANSWER, body "ok\n") instead of
 * the target's current mode and status; routes and /r/N chains still win.
 * Replaces an earlier rule for that address; STATUS 0 removes it; CLIENT_IP
 * NULL removes every rule.  0, or -1 when 8 addresses already have one. */
int test_target_fail_from(struct test_target *t, const char *client_ip, int status);
/* Requests seen from CLIENT_IP, all of them (not only the first 64 recorded);
 * 0 for an address never seen (at most 16 distinct addresses are counted). */
unsigned test_target_hits_from(struct test_target *t, const char *client_ip);
/* The I-th request since start (0-based; the first 64 are kept).  False when absent. */
bool test_target_request(struct test_target *t, unsigned i, struct test_request *out);
bool test_target_last_request(struct test_target *t, struct test_request *out);
/* Returns promptly, even with hung or delayed requests open. */
void test_target_stop(struct test_target *t);

#endif
