/* The built-in HTTP server on a real libuv loop, on loopback port 0.
 *
 * The loop runs in the test thread (the handler runs there too); the client is
 * libcurl easy, or a raw socket for malformed input, in a second thread.  When
 * the client has done its part it signals through a uv_async; the test then
 * closes the server, releases the client (which may look at its sockets once
 * the server is gone) and joins it.  A 20 s deadline timer fails a run that
 * never ends, the loop is run a bounded number of times, and every test ends
 * with uv_loop_close() == 0.  cmocka assertions run only after the loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <uv.h>

#include "tocsin/http_server.h"

#define DEADLINE_MS 20000
#define MAX_LOOP_TURNS 1000000
#define MAX_REPLIES 8
#define REPLY_BODY (128 * 1024)

/* What one curl request got back. */
struct reply {
    CURLcode code;
    long status;
    char content_type[128];
    char cache_control[64];
    char allow[64];
    char *body;                /* REPLY_BODY bytes */
    size_t body_len;
};

struct ctx {
    uv_loop_t loop;
    struct tocsin_http_server *server;
    uv_async_t signal;         /* the client did its part */
    uv_timer_t deadline;
    uv_timer_t wait;           /* polls the server while a test waits for a state */
    bool closing, server_closed, signalled, finished, timed_out;
    void (*on_signal)(struct ctx *c); /* NULL: close the server at once */

    /* client thread */
    pthread_t thread;
    void (*client)(struct ctx *c);
    bool client_signalled;     /* client thread only */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool released;             /* under LOCK: the server is closed */
    const char *host;          /* for URLs: "127.0.0.1" or "[::1]" */
    uint16_t port;
    struct reply replies[MAX_REPLIES];
    unsigned n_ok;             /* many_requests: good answers */
    ssize_t raw_n;             /* raw clients: bytes received, or recv's result */
    int raw_errno;
    char raw[512];             /* what they received */

    /* handler (loop thread) */
    unsigned calls;
    char method[16], path[256], query[256];
    char *body;                /* copy of the last request body */
    size_t body_len;
    unsigned loopback_calls;   /* requests that said they came from loopback */
};

/* ---- handler ----------------------------------------------------------------- */

static void begin_close(struct ctx *c);

static char *dup_text(const char *s, size_t *len)
{
    char *p = strdup(s);

    *len = p ? strlen(p) : 0;
    return p;
}

/* /hello answers GET only (405 otherwise), /echo echoes the body, /empty is 204,
 * /quit closes the server from inside the handler, anything else is 404. */
static void handler(void *data, const struct tocsin_http_request *req,
                    struct tocsin_http_response *resp)
{
    struct ctx *c = data;
    char text[512];

    c->calls++;
    snprintf(c->method, sizeof(c->method), "%s", req->method);
    snprintf(c->path, sizeof(c->path), "%s", req->path);
    snprintf(c->query, sizeof(c->query), "%s", req->query);
    free(c->body);
    c->body = malloc(req->body_len + 1);
    assert_non_null(c->body); /* the loop thread is the test thread */
    memcpy(c->body, req->body, req->body_len + 1);
    c->body_len = req->body_len;
    c->loopback_calls += req->loopback;

    if (strcmp(req->path, "/hello") == 0 && strcmp(req->method, "GET") != 0) {
        resp->status = 405;
        resp->allow = "GET";
    } else if (strcmp(req->path, "/hello") == 0) {
        snprintf(text, sizeof(text), "hello %s\n", req->query);
        resp->body = dup_text(text, &resp->body_len);
    } else if (strcmp(req->path, "/echo") == 0) {
        resp->content_type = "application/octet-stream";
        resp->body = malloc(req->body_len ? req->body_len : 1);
        memcpy(resp->body, req->body, req->body_len);
        resp->body_len = req->body_len;
    } else if (strcmp(req->path, "/empty") == 0) {
        resp->status = 204;
    } else if (strcmp(req->path, "/quit") == 0) {
        begin_close(c);
        resp->body = dup_text("bye\n", &resp->body_len);
    } else {
        resp->status = 404;
        resp->body = dup_text("not found\n", &resp->body_len);
    }
}

/* ---- loop side ------------------------------------------------------------------ */

static void maybe_finish(struct ctx *c)
{
    if (!c->server_closed || !c->signalled || c->finished)
        return;
    c->finished = true;
    uv_close((uv_handle_t *)&c->signal, NULL);
    uv_close((uv_handle_t *)&c->deadline, NULL);
    uv_close((uv_handle_t *)&c->wait, NULL);
}

static void on_server_closed(void *data)
{
    struct ctx *c = data;

    c->server_closed = true;
    c->server = NULL;
    pthread_mutex_lock(&c->lock);
    c->released = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    maybe_finish(c);
}

static void begin_close(struct ctx *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_timer_stop(&c->wait);
    tocsin_http_server_close(c->server, on_server_closed, c);
}

static void on_signal(uv_async_t *a)
{
    struct ctx *c = a->data;

    c->signalled = true;
    if (c->on_signal && !c->closing)
        c->on_signal(c);
    else
        begin_close(c);
    maybe_finish(c);
}

/* The client may still hang in a request: closing the server ends it.  The
 * signal handle stays open until the client sends it. */
static void on_deadline(uv_timer_t *t)
{
    struct ctx *c = t->data;

    c->timed_out = true;
    begin_close(c);
}

/* ---- client side ---------------------------------------------------------------- */

static void client_signal(struct ctx *c)
{
    if (!c->client_signalled) {
        c->client_signalled = true;
        uv_async_send(&c->signal);
    }
}

/* Waits until the server is closed (the test thread runs the loop meanwhile). */
static void client_wait_closed(struct ctx *c)
{
    pthread_mutex_lock(&c->lock);
    while (!c->released)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
}

static void *client_main(void *arg)
{
    struct ctx *c = arg;

    c->client(c);
    client_signal(c);
    return NULL;
}

static size_t on_body(char *ptr, size_t size, size_t n, void *userdata)
{
    struct reply *r = userdata;
    size_t len = size * n;

    if (len > REPLY_BODY - r->body_len)
        return 0;
    memcpy(r->body + r->body_len, ptr, len);
    r->body_len += len;
    return len;
}

/* Copies the value of header NAME from LINE into DST when LINE is that header. */
static void grab_header(const char *line, size_t len, const char *name, char *dst, size_t size)
{
    size_t nlen = strlen(name);
    size_t vlen;

    if (len <= nlen + 1 || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
        return;
    line += nlen + 1;
    len -= nlen + 1;
    while (len > 0 && *line == ' ')
        line++, len--;
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        len--;
    vlen = len < size - 1 ? len : size - 1;
    memcpy(dst, line, vlen);
    dst[vlen] = '\0';
}

static size_t on_header(char *line, size_t size, size_t n, void *userdata)
{
    struct reply *r = userdata;
    size_t len = size * n;

    grab_header(line, len, "Content-Type", r->content_type, sizeof(r->content_type));
    grab_header(line, len, "Cache-Control", r->cache_control, sizeof(r->cache_control));
    grab_header(line, len, "Allow", r->allow, sizeof(r->allow));
    return len;
}

struct upload {
    const char *data;
    size_t len, off;
};

static size_t on_read(char *buf, size_t size, size_t n, void *userdata)
{
    struct upload *u = userdata;
    size_t len = size * n;

    if (len > u->len - u->off)
        len = u->len - u->off;
    if (len > 1000)
        len = 1000; /* many small chunks */
    memcpy(buf, u->data + u->off, len);
    u->off += len;
    return len;
}

struct req_opts {
    const char *method;        /* NULL: GET, or POST when there is a body */
    const char *target;        /* path and query */
    const char *body;
    size_t body_len;
    bool chunked;              /* send the body with Transfer-Encoding: chunked */
    bool expect_100;           /* send Expect: 100-continue */
    bool fresh;                /* a new connection, closed after */
};

/* One request on EASY (reset first, so a connection can be reused). */
static void request_on(CURL *easy, struct ctx *c, const struct req_opts *o, struct reply *r)
{
    struct curl_slist *headers = NULL;
    struct upload up = {.data = o->body, .len = o->body_len};
    char url[512];

    snprintf(url, sizeof(url), "http://%s:%u%s", c->host, c->port, o->target);
    r->body_len = 0;
    r->content_type[0] = r->cache_control[0] = r->allow[0] = '\0';
    curl_easy_reset(easy);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(easy, CURLOPT_EXPECT_100_TIMEOUT_MS, 10000L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, r);
    if (o->fresh) {
        curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
    }
    if (o->chunked) {
        curl_easy_setopt(easy, CURLOPT_POST, 1L);
        curl_easy_setopt(easy, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(easy, CURLOPT_READDATA, &up);
        headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
    } else if (o->body != NULL) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, o->body);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    }
    headers = curl_slist_append(headers, o->expect_100 ? "Expect: 100-continue" : "Expect:");
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    if (o->method != NULL)
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, o->method);
    r->code = curl_easy_perform(easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(headers);
}

static void request(struct ctx *c, const struct req_opts *o, struct reply *r)
{
    CURL *easy = curl_easy_init();

    if (easy == NULL) {
        r->code = CURLE_OUT_OF_MEMORY;
        return;
    }
    request_on(easy, c, o, r);
    curl_easy_cleanup(easy);
}

/* A raw connection to the server; -1 on failure. */
static int raw_connect(struct ctx *c)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(c->port)};
    struct timeval tv = {.tv_sec = 10};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- running one test --------------------------------------------------------- */

static struct ctx *ctx_new(void)
{
    struct ctx *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    for (int i = 0; i < MAX_REPLIES; i++) {
        c->replies[i].body = calloc(1, REPLY_BODY);
        assert_non_null(c->replies[i].body);
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->host = "127.0.0.1";
    c->raw_n = -2;
    assert_int_equal(uv_loop_init(&c->loop), 0);
    return c;
}

static void ctx_free(struct ctx *c)
{
    for (int i = 0; i < MAX_REPLIES; i++)
        free(c->replies[i].body);
    free(c->body);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}

/* Serves on LISTEN while CLIENT runs, then closes everything (see the top). */
static void run(struct ctx *c, const char *listen, void (*client)(struct ctx *c))
{
    char err[256];
    unsigned turns = 0;

    assert_int_equal(tocsin_http_server_new(&c->loop, listen, handler, c, &c->server, err,
                                            sizeof(err)), 0);
    c->port = tocsin_http_server_port(c->server);
    assert_int_not_equal(c->port, 0);
    assert_int_equal(uv_async_init(&c->loop, &c->signal, on_signal), 0);
    c->signal.data = c;
    uv_timer_init(&c->loop, &c->deadline);
    uv_timer_init(&c->loop, &c->wait);
    c->deadline.data = c->wait.data = c;
    uv_timer_start(&c->deadline, on_deadline, DEADLINE_MS, 0);
    c->client = client;
    assert_int_equal(pthread_create(&c->thread, NULL, client_main, c), 0);
    while (turns++ < MAX_LOOP_TURNS && uv_run(&c->loop, UV_RUN_ONCE) != 0)
        ;
    pthread_join(c->thread, NULL);
    assert_false(c->timed_out);
    assert_true(c->server_closed);
    assert_true(turns < MAX_LOOP_TURNS);
    assert_int_equal(uv_loop_close(&c->loop), 0);
}

static void expect_reply(const struct reply *r, long status, const char *body)
{
    assert_int_equal(r->code, CURLE_OK);
    assert_int_equal(r->status, status);
    assert_string_equal(r->cache_control, "no-store");
    if (body != NULL) {
        assert_int_equal(r->body_len, strlen(body));
        assert_memory_equal(r->body, body, r->body_len);
    }
}

/* ---- tests --------------------------------------------------------------------- */

static void client_get_query(struct ctx *c)
{
    request(c, &(struct req_opts){.target = "/hello?name=a%20b&x=1&y"}, &c->replies[0]);
}

static void test_get_with_query(void **state)
{
    struct ctx *c = ctx_new();

    (void)state;
    run(c, "localhost:0", client_get_query); /* localhost = 127.0.0.1 */
    expect_reply(&c->replies[0], 200, "hello name=a%20b&x=1&y\n");
    assert_string_equal(c->replies[0].content_type, "text/plain; charset=utf-8");
    assert_int_equal(c->calls, 1);
    assert_string_equal(c->method, "GET");
    assert_string_equal(c->path, "/hello");
    assert_string_equal(c->query, "name=a%20b&x=1&y");
    assert_int_equal(c->body_len, 0);
    assert_string_equal(c->body, "");
    assert_int_equal(c->loopback_calls, 1);
    ctx_free(c);
}

static char *pattern(size_t n)
{
    char *p = malloc(n ? n : 1);

    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(i * 7 + i / 251); /* NULs included */
    return p;
}

static char *post_body;
#define POST_LEN 60000

static void client_post(struct ctx *c)
{
    request(c, &(struct req_opts){.target = "/echo", .body = post_body, .body_len = POST_LEN},
            &c->replies[0]);
    request(c, &(struct req_opts){.target = "/echo?chunked=1", .body = post_body,
                                  .body_len = 5000, .chunked = true}, &c->replies[1]);
}

static void test_post_body(void **state)
{
    struct ctx *c = ctx_new();

    (void)state;
    post_body = pattern(POST_LEN);
    run(c, "127.0.0.1:0", client_post);
    expect_reply(&c->replies[0], 200, NULL);
    assert_string_equal(c->replies[0].content_type, "application/octet-stream");
    assert_int_equal(c->replies[0].body_len, POST_LEN);
    assert_memory_equal(c->replies[0].body, post_body, POST_LEN);
    expect_reply(&c->replies[1], 200, NULL);
    assert_int_equal(c->replies[1].body_len, 5000);
    assert_memory_equal(c->replies[1].body, post_body, 5000);
    assert_int_equal(c->calls, 2);
    /* The last request as the handler saw it. */
    assert_string_equal(c->method, "POST");
    assert_string_equal(c->path, "/echo");
    assert_string_equal(c->query, "chunked=1");
    assert_int_equal(c->body_len, 5000);
    assert_memory_equal(c->body, post_body, 5000);
    free(post_body);
    ctx_free(c);
}

static void client_statuses(struct ctx *c)
{
    request(c, &(struct req_opts){.target = "/nope"}, &c->replies[0]);
    request(c, &(struct req_opts){.method = "DELETE", .target = "/hello"}, &c->replies[1]);
    request(c, &(struct req_opts){.target = "/empty"}, &c->replies[2]);
}

static void test_handler_statuses(void **state)
{
    struct ctx *c = ctx_new();

    (void)state;
    run(c, "127.0.0.1:0", client_statuses);
    expect_reply(&c->replies[0], 404, "not found\n");
    expect_reply(&c->replies[1], 405, "");
    assert_string_equal(c->replies[1].allow, "GET");
    expect_reply(&c->replies[2], 204, "");
    assert_int_equal(c->calls, 3);
    ctx_free(c);
}

static char *big_body;
#define BIG_LEN (2 * 1024 * 1024)

static void client_oversize(struct ctx *c)
{
    const size_t max = TOCSIN_HTTP_MAX_BODY;

    request(c, &(struct req_opts){.target = "/echo", .body = big_body, .body_len = max + 1},
            &c->replies[0]);
    request(c, &(struct req_opts){.target = "/echo", .body = big_body, .body_len = max + 1,
                                  .chunked = true}, &c->replies[1]);
    /* Declared far too large: refused before the body is sent. */
    request(c, &(struct req_opts){.target = "/echo", .body = big_body, .body_len = BIG_LEN,
                                  .expect_100 = true}, &c->replies[2]);
    /* Exactly the cap still reaches the handler. */
    request(c, &(struct req_opts){.target = "/echo", .body = big_body, .body_len = max},
            &c->replies[3]);
}

static void test_oversize_body(void **state)
{
    struct ctx *c = ctx_new();

    (void)state;
    big_body = pattern(BIG_LEN);
    run(c, "127.0.0.1:0", client_oversize);
    for (int i = 0; i < 3; i++) {
        expect_reply(&c->replies[i], 413, "request body too large\n");
        assert_string_equal(c->replies[i].content_type, "text/plain; charset=utf-8");
    }
    expect_reply(&c->replies[3], 200, NULL);
    assert_int_equal(c->replies[3].body_len, TOCSIN_HTTP_MAX_BODY);
    assert_memory_equal(c->replies[3].body, big_body, TOCSIN_HTTP_MAX_BODY);
    assert_int_equal(c->calls, 1); /* only the last one */
    assert_int_equal(c->body_len, TOCSIN_HTTP_MAX_BODY);
    free(big_body);
    ctx_free(c);
}

/* Closes the server once it holds the half request's connection. */
static void on_wait(uv_timer_t *t)
{
    struct ctx *c = t->data;

    if (tocsin_http_server_connections(c->server) >= 1)
        begin_close(c);
}

static void wait_for_connection(struct ctx *c)
{
    uv_timer_start(&c->wait, on_wait, 0, 5);
}

/* Sends half a request, then, once the server is gone, reads what is left. */
static void client_half(struct ctx *c)
{
    static const char half[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc";
    int fd = raw_connect(c);

    if (fd < 0 || send(fd, half, sizeof(half) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(half) - 1)) {
        c->raw_n = -3;
        client_signal(c);
        if (fd >= 0)
            close(fd);
        return;
    }
    /* A stuck client does not hold up the others. */
    request(c, &(struct req_opts){.target = "/hello?meanwhile"}, &c->replies[0]);
    client_signal(c);
    client_wait_closed(c);
    c->raw_n = recv(fd, c->raw, sizeof(c->raw) - 1, 0);
    c->raw_errno = errno;
    close(fd);
}

static void test_close_with_half_request(void **state)
{
    struct ctx *c = ctx_new();

    (void)state;
    c->on_signal = wait_for_connection;
    run(c, "127.0.0.1:0", client_half);
    /* The server hung up without an answer: EOF (or a reset). */
    assert_true(c->raw_n == 0 || (c->raw_n == -1 && c->raw_errno == ECONNRESET));
    expect_reply(&c->replies[0], 200, "hello meanwhile\n");
    assert_int_equal(c->calls, 1); /* the GET only */
    assert_string_equal(c->path, "/hello");
    ctx_free(c);
}

/* Garbage gets MHD's 400 and never reaches the handler. */
static void client_garbage(struct ctx *c)
{
    static const char junk[] = "\x01\x02 GARBAGE\r\nno colon here\r\n\r\n";
    int fd = raw_connect(c);
    size_t off = 0, room = sizeof(c->raw) - 1;
    ssize_t n = -1;

    if (fd < 0)
        return;
    /* Reads until the server closes (it does after a 400), the buffer is full,
     * or the 10 s receive timeout. */
    if (send(fd, junk, sizeof(junk) - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof(junk) - 1)) {
        while (off < room && (n = recv(fd, c->raw + off, room - off, 0)) > 0)
            off += (size_t)n;
    }
    c->raw_n = (ssize_t)off;
    c->raw_errno = n < 0 ? errno : 0;
    close(fd);
}

static void test_malformed_request(void **state)
{
    struct ctx *c = ctx_new();

    (void)state;
    run(c, "127.0.0.1:0", client_garbage);
    assert_true(c->raw_n > 12);
    assert_memory_equal(c->raw, "HTTP/1.1 400", 12);
    assert_int_equal(c->calls, 0);
    ctx_free(c);
}

#define N_SEQUENTIAL 200

/* Half the requests on one kept-alive connection, half on fresh ones; the kept
 * connection is still open when the server closes. */
static void client_many(struct ctx *c)
{
    CURL *easy = curl_easy_init();
    char target[64], want[80];

    if (easy == NULL)
        return;
    for (unsigned i = 0; i < N_SEQUENTIAL; i++) {
        struct reply *r = &c->replies[0];
        CURL *e = i % 2 ? easy : NULL;

        snprintf(target, sizeof(target), "/hello?i=%u", i);
        snprintf(want, sizeof(want), "hello i=%u\n", i);
        if (e != NULL)
            request_on(e, c, &(struct req_opts){.target = target}, r);
        else
            request(c, &(struct req_opts){.target = target, .fresh = true}, r);
        if (r->code == CURLE_OK && r->status == 200 && r->body_len == strlen(want) &&
            memcmp(r->body, want, r->body_len) == 0)
            c->n_ok++;
    }
    client_signal(c);
    client_wait_closed(c);
    curl_easy_cleanup(easy);
}

static void test_many_sequential_requests(void **state)
{
    struct ctx *c = ctx_new();

    (void)state;
    run(c, "127.0.0.1:0", client_many);
    assert_int_equal(c->n_ok, N_SEQUENTIAL);
    assert_int_equal(c->calls, N_SEQUENTIAL);
    assert_string_equal(c->query, "i=199");
    assert_int_equal(c->loopback_calls, N_SEQUENTIAL);
    ctx_free(c);
}

/* The handler closes the server: close completes and the client is not left
 * hanging (the answer may or may not make it out before the connection drops). */
static void client_quit(struct ctx *c)
{
    request(c, &(struct req_opts){.target = "/quit"}, &c->replies[0]);
}

static void test_close_from_handler(void **state)
{
    struct ctx *c = ctx_new();
    const struct reply *r;

    (void)state;
    run(c, "127.0.0.1:0", client_quit);
    r = &c->replies[0];
    assert_int_equal(c->calls, 1);
    assert_true((r->code == CURLE_OK && r->status == 200) || r->code == CURLE_GOT_NOTHING ||
                r->code == CURLE_RECV_ERROR);
    ctx_free(c);
}

static void on_closed_flag(void *data)
{
    *(bool *)data = true;
}

/* Runs LOOP until the flag is set (bounded), then closes it. */
static void close_and_drain(uv_loop_t *loop, struct tocsin_http_server *s)
{
    bool closed = false;
    unsigned turns = 0;

    tocsin_http_server_close(s, on_closed_flag, &closed);
    while (!closed && turns++ < 1000 && uv_run(loop, UV_RUN_ONCE) != 0)
        ;
    assert_true(closed);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void test_port_in_use(void **state)
{
    struct tocsin_http_server *a = NULL, *b = (void *)1;
    char err[256], listen[64];
    uv_loop_t loop;

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(tocsin_http_server_new(&loop, "127.0.0.1:0", handler, NULL, &a, err,
                                            sizeof(err)), 0);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", tocsin_http_server_port(a));
    assert_int_equal(tocsin_http_server_new(&loop, listen, handler, NULL, &b, err, sizeof(err)),
                     -EADDRINUSE);
    assert_null(b);
    assert_non_null(strstr(err, listen));
    assert_non_null(strstr(err, strerror(EADDRINUSE)));
    close_and_drain(&loop, a);
}

static void test_bad_listen(void **state)
{
    static const char *const bad[] = {"", "127.0.0.1", "127.0.0.1:", ":80", "example.com:80",
                                      "[::1:80", "::1:80", "127.0.0.1:70000", "127.0.0.1:8x",
                                      "127.0.0.1:-1", "[127.0.0.1]:80", "256.1.1.1:80"};
    struct tocsin_http_server *s;
    char err[256];
    uv_loop_t loop;

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s = (void *)1;
        err[0] = '\0';
        assert_int_equal(tocsin_http_server_new(&loop, bad[i], handler, NULL, &s, err,
                                                sizeof(err)), -EINVAL);
        assert_null(s);
        assert_non_null(strstr(err, "bad listen address"));
    }
    assert_int_equal(uv_loop_close(&loop), 0);
}

static bool ipv6_loopback_works(void)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    bool ok;

    if (fd < 0)
        return false;
    ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

static void test_ipv6_loopback(void **state)
{
    struct ctx *c;

    (void)state;
    if (!ipv6_loopback_works())
        skip();
    c = ctx_new();
    c->host = "[::1]";
    run(c, "[::1]:0", client_get_query);
    expect_reply(&c->replies[0], 200, "hello name=a%20b&x=1&y\n");
    assert_int_equal(c->calls, 1);
    assert_int_equal(c->loopback_calls, 1);
    ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_with_query),
        cmocka_unit_test(test_post_body),
        cmocka_unit_test(test_handler_statuses),
        cmocka_unit_test(test_oversize_body),
        cmocka_unit_test(test_close_with_half_request),
        cmocka_unit_test(test_malformed_request),
        cmocka_unit_test(test_many_sequential_requests),
        cmocka_unit_test(test_close_from_handler),
        cmocka_unit_test(test_port_in_use),
        cmocka_unit_test(test_bad_listen),
        cmocka_unit_test(test_ipv6_loopback),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
