/* libmicrohttpd on the agent's libuv loop: MHD_USE_EPOLL without an internal
 * thread, a uv_poll on MHD's epoll descriptor and a uv_timer from
 * MHD_get_timeout (DESIGN §2). */
#include "tocsin/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tocsin/log.h"

#define CONNECTION_LIMIT 64u
#define CONNECTION_TIMEOUT_S 10u
#define CONNECTION_MEMORY (32u * 1024)
/* A body declared larger than this is refused before it is read; one sent
 * without a length is read and dropped up to here, then the connection is. */
#define DISCARD_LIMIT (1024u * 1024)
#define LISTEN_BACKLOG 64

struct tocsin_http_server {
    uv_loop_t *loop;
    struct MHD_Daemon *daemon;
    uv_poll_t poll;           /* on MHD's epoll descriptor */
    uv_timer_t timer;         /* MHD's next connection timeout */
    int open_handles;         /* uv handles not yet through their close callback */
    bool closing;
    tocsin_http_handler handler;
    void *data;
    uint16_t port;
    char *start_err;          /* MHD's first message while starting, else NULL */
    size_t start_err_size;
    void (*on_closed)(void *data);
    void *closed_data;
};

/* Per request, from MHD's URI log callback (the only place the raw query is seen)
 * until MHD's completion callback. */
struct request {
    char *query;
    char *body;               /* NUL-terminated; NULL until the first byte */
    size_t len, cap;
    size_t dropped;           /* bytes read past the cap */
    bool started;             /* the handler saw the headers */
};

/* ---- listen address ------------------------------------------------------- */

/* "IPv4:PORT", "[IPv6]:PORT" or "localhost:PORT" into ADDR; false when malformed. */
static bool parse_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *len)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
    const char *colon = strrchr(listen, ':');
    char host[64], *end;
    size_t hlen = colon ? (size_t)(colon - listen) : 0;
    long port;

    if (colon == NULL || hlen == 0 || hlen >= sizeof(host) || colon[1] < '0' || colon[1] > '9')
        return false;
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || errno != 0 || port > 65535)
        return false;
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    memset(addr, 0, sizeof(*addr));
    if (host[0] == '[' && host[hlen - 1] == ']') {
        host[hlen - 1] = '\0';
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*in6);
        return inet_pton(AF_INET6, host + 1, &in6->sin6_addr) == 1;
    }
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    *len = sizeof(*in4);
    if (strcmp(host, "localhost") == 0)
        return inet_pton(AF_INET, "127.0.0.1", &in4->sin_addr) == 1;
    return inet_pton(AF_INET, host, &in4->sin_addr) == 1;
}

/* A bound, listening, non-blocking socket, or a negative errno.  Bound here
 * rather than by MHD so a taken port reads as EADDRINUSE, not a log line. */
static int bind_listen(const struct sockaddr_storage *addr, socklen_t len, uint16_t *port)
{
    int one = 1;
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    int rc;

    if (fd < 0)
        return -errno;
    /* REUSEADDR: a restart is not refused over TIME_WAIT connections; Linux still
     * refuses a second listener on the same port.  V6ONLY: [::] means IPv6 only. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (addr->ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, (const struct sockaddr *)addr, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &blen) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)&bound)->sin_port);
    return fd;
}

/* ---- MHD callbacks -------------------------------------------------------- */

static void on_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct tocsin_http_server *s = cls;
    char line[256];
    size_t n;

    vsnprintf(line, sizeof(line), fmt, ap);
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (s->start_err != NULL && s->start_err[0] == '\0')
        snprintf(s->start_err, s->start_err_size, "%s", line);
    /* Client misbehaviour lands here too: debug, so a bad client cannot flood logs. */
    tocsin_debug("http server", "message", line);
}

/* MHD_OPTION_URI_LOG_CALLBACK: its result becomes the request's *con_cls. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct request *r = calloc(1, sizeof(*r));
    const char *q = strchr(uri, '?');

    (void)cls;
    (void)conn;
    if (r == NULL)
        return NULL;
    r->query = strdup(q ? q + 1 : "");
    if (r->query == NULL) {
        free(r);
        return NULL;
    }
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct request *r = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (r == NULL)
        return;
    free(r->query);
    free(r->body);
    free(r);
    *con_cls = NULL;
}

/* Queues RESP, taking its body; MHD_NO (the connection is dropped) on failure. */
static enum MHD_Result send_response(struct MHD_Connection *conn, struct tocsin_http_response *resp)
{
    struct MHD_Response *m;
    unsigned status = resp->status >= 100 && resp->status <= 599 ? (unsigned)resp->status : 500;
    bool give = resp->body != NULL && resp->body_len > 0;
    enum MHD_Result ret;

    if (give)
        m = MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
    else
        m = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!give || m == NULL)
        free(resp->body); /* MHD owns it only once the response exists */
    if (m == NULL)
        return MHD_NO;
    if (MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE,
                                resp->content_type ? resp->content_type
                                                   : "text/plain; charset=utf-8") == MHD_NO ||
        MHD_add_response_header(m, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_NO ||
        (resp->allow != NULL &&
         MHD_add_response_header(m, MHD_HTTP_HEADER_ALLOW, resp->allow) == MHD_NO)) {
        MHD_destroy_response(m);
        return MHD_NO;
    }
    ret = MHD_queue_response(conn, status, m);
    MHD_destroy_response(m);
    return ret;
}

static enum MHD_Result send_413(struct MHD_Connection *conn)
{
    static const char text[] = "request body too large\n";
    struct tocsin_http_response resp = {.status = MHD_HTTP_CONTENT_TOO_LARGE,
                                        .body = strdup(text), .body_len = sizeof(text) - 1};

    return send_response(conn, &resp);
}

/* The first call, headers only: a body declared far too large is refused now,
 * unread (MHD then closes the connection; with Expect: 100-continue the client
 * never sends it). */
static enum MHD_Result begin(struct request *r, struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);

    r->started = true;
    if (cl != NULL && strtoull(cl, NULL, 10) > DISCARD_LIMIT)
        return send_413(conn);
    return MHD_YES;
}

/* Appends a body chunk, or counts it as dropped once past the cap. */
static enum MHD_Result take_body(struct request *r, const char *chunk, size_t n)
{
    if (r->dropped > 0 || n > TOCSIN_HTTP_MAX_BODY - r->len) {
        r->dropped += r->len + n;
        free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
        return r->dropped > DISCARD_LIMIT ? MHD_NO : MHD_YES;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 1024;
        char *p;

        while (cap < r->len + n + 1)
            cap *= 2;
        if (cap > TOCSIN_HTTP_MAX_BODY + 1)
            cap = TOCSIN_HTTP_MAX_BODY + 1; /* still enough: the cap was checked above */
        p = realloc(r->body, cap);
        if (p == NULL)
            return MHD_NO;
        r->body = p;
        r->cap = cap;
    }
    memcpy(r->body + r->len, chunk, n);
    r->len += n;
    r->body[r->len] = '\0';
    return MHD_YES;
}

/* Whether the peer of CONN is a loopback address (the API trusts those more). */
static bool from_loopback(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = info ? info->client_addr : NULL;
    const struct in6_addr *a6;

    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family != AF_INET6)
        return false;
    a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
}

static enum MHD_Result dispatch(struct tocsin_http_server *s, struct request *r,
                                struct MHD_Connection *conn, const char *url, const char *method)
{
    const struct tocsin_http_request req = {.method = method, .path = url, .query = r->query,
                                            .body = r->body ? r->body : "", .body_len = r->len,
                                            .loopback = from_loopback(conn)};
    struct tocsin_http_response resp = {.status = 200};

    s->handler(s->data, &req, &resp);
    return send_response(conn, &resp);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct request *r = *con_cls;
    enum MHD_Result ret;

    (void)version;
    if (r == NULL)
        return MHD_NO; /* on_uri ran out of memory */
    if (!r->started)
        return begin(r, conn);
    if (*upload_data_size > 0) {
        ret = take_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return ret;
    }
    if (r->dropped > 0)
        return send_413(conn);
    return dispatch(cls, r, conn, url, method);
}

/* ---- the loop side -------------------------------------------------------- */

static void on_timer(uv_timer_t *timer);

/* MHD must run again within its timeout (0 when it holds data it has not yet
 * processed), even if its epoll descriptor stays quiet. */
static void rearm(struct tocsin_http_server *s)
{
    MHD_UNSIGNED_LONG_LONG ms;

    if (s->closing)
        return; /* the handler closed us; the handles are closing */
    if (MHD_get_timeout(s->daemon, &ms) == MHD_YES)
        uv_timer_start(&s->timer, on_timer, (uint64_t)ms, 0);
    else
        uv_timer_stop(&s->timer);
}

static void run(struct tocsin_http_server *s)
{
    MHD_run(s->daemon);
    rearm(s);
}

static void on_timer(uv_timer_t *timer)
{
    run(timer->data);
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
    struct tocsin_http_server *s = poll->data;

    (void)events;
    if (status < 0) {
        /* libuv stopped the poll; an epoll descriptor has no error of its own to
         * read, so watch it again and let MHD find whatever there is. */
        tocsin_warn("http server poll failed", "error", uv_strerror(status));
        uv_poll_start(&s->poll, UV_READABLE, on_poll);
    }
    run(s);
}

/* ---- start and stop ------------------------------------------------------- */

static struct MHD_Daemon *start_mhd(struct tocsin_http_server *s, int fd, int family)
{
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (family == AF_INET6 ? MHD_USE_IPv6 : 0);

    /* LISTEN_SOCKET goes last: MHD owns the socket from then on (see caller). */
    return MHD_start_daemon(flags, 0, NULL, NULL, on_access, s,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                            MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT,
                            MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT_S,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
                            MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_END);
}

/* Binds and starts MHD; 0 or a negative errno with ERR filled. */
static int open_daemon(struct tocsin_http_server *s, const char *listen, char *err,
                       size_t err_size)
{
    struct sockaddr_storage addr;
    socklen_t len;
    int fd;

    if (!parse_listen(listen, &addr, &len)) {
        snprintf(err, err_size, "bad listen address \"%s\": use IPv4:PORT, [IPv6]:PORT or "
                 "localhost:PORT", listen);
        return -EINVAL;
    }
    fd = bind_listen(&addr, len, &s->port);
    if (fd < 0) {
        snprintf(err, err_size, "cannot listen on %s: %s", listen, strerror(-fd));
        return fd;
    }
    err[0] = '\0';
    s->start_err = err;
    s->start_err_size = err_size;
    s->daemon = start_mhd(s, fd, addr.ss_family);
    s->start_err = NULL;
    /* On failure MHD 0.9.75 has closed FD on every path but a failed epoll setup,
     * where it leaks; closing it here could close someone else's descriptor. */
    if (s->daemon == NULL) {
        char why[128];

        snprintf(why, sizeof(why), "%s", err[0] ? err : "out of resources");
        snprintf(err, err_size, "cannot start the HTTP server on %s: %s", listen, why);
        return -ENOMEM;
    }
    return 0;
}

int tocsin_http_server_new(uv_loop_t *loop, const char *listen, tocsin_http_handler handler,
                           void *data, struct tocsin_http_server **out, char *err,
                           size_t err_size)
{
    struct tocsin_http_server *s = calloc(1, sizeof(*s));
    const union MHD_DaemonInfo *info;
    int rc;

    *out = NULL;
    if (s == NULL) {
        snprintf(err, err_size, "out of memory");
        return -ENOMEM;
    }
    *s = (struct tocsin_http_server){.loop = loop, .handler = handler, .data = data};
    rc = open_daemon(s, listen, err, err_size);
    if (rc < 0) {
        free(s);
        return rc;
    }
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    /* The poll first: it is the step that can fail, and nothing needs closing yet. */
    rc = info ? uv_poll_init(loop, &s->poll, info->epoll_fd) : UV_EINVAL;
    if (rc < 0) {
        snprintf(err, err_size, "cannot watch the HTTP server: %s", uv_strerror(rc));
        MHD_stop_daemon(s->daemon);
        free(s);
        return rc;
    }
    uv_timer_init(loop, &s->timer);
    s->poll.data = s->timer.data = s;
    s->open_handles = 2;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    rearm(s);
    *out = s;
    return 0;
}

uint16_t tocsin_http_server_port(const struct tocsin_http_server *s)
{
    return s->port;
}

unsigned tocsin_http_server_connections(const struct tocsin_http_server *s)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

    return info ? info->num_connections : 0;
}

/* MHD stops only once libuv has forgotten the epoll descriptor, since
 * MHD_stop_daemon closes it and the number is reused at once (fdpoll.h). */
static void on_handle_closed(uv_handle_t *handle)
{
    struct tocsin_http_server *s = handle->data;
    void (*cb)(void *) = s->on_closed;
    void *data = s->closed_data;

    if (--s->open_handles > 0)
        return;
    MHD_stop_daemon(s->daemon); /* closes connections: on_completed frees each request */
    free(s);
    if (cb != NULL)
        cb(data);
}

void tocsin_http_server_close(struct tocsin_http_server *s, void (*on_closed)(void *data),
                              void *data)
{
    s->closing = true;
    s->on_closed = on_closed;
    s->closed_data = data;
    uv_close((uv_handle_t *)&s->poll, on_handle_closed);
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
}
