/* c-ares on libuv: ARES_OPT_SOCK_STATE_CB drives one uv_poll per socket, one
 * uv_timer follows ares_timeout(), sockets close late (fdpoll), and completions
 * that c-ares reports synchronously (/etc/hosts, literals) are deferred to the
 * loop so a callback never runs inside tocsin_resolve(). */
#include "tocsin/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tocsin/fdpoll.h"

struct tocsin_resolve_req {
    struct tocsin_resolver *resolver;
    tocsin_resolve_cb cb; /* NULL once cancelled */
    void *data;
    int family;
    bool in_start;        /* c-ares may answer before ares_getaddrinfo returns */
    bool answered;
    int status;
    struct sockaddr_storage addr;
    char message[128];
    struct tocsin_resolve_req *next_deferred;
};

struct tocsin_resolver {
    uv_loop_t *loop;
    ares_channel channel;
    uv_timer_t timer;     /* c-ares retransmits and timeouts */
    uv_timer_t defer;     /* delivers answers found synchronously */
    struct tocsin_fdtable fds;
    struct tocsin_resolve_req *deferred;
    int handles_open;
    bool closing;
};

static void arm_timer(struct tocsin_resolver *r);

static void deliver(struct tocsin_resolve_req *req)
{
    if (req->cb)
        req->cb(req->data, req->status, req->status == 0 ? &req->addr : NULL, req->message);
    free(req);
}

static void on_defer(uv_timer_t *timer)
{
    struct tocsin_resolver *r = timer->data;
    struct tocsin_resolve_req *list = r->deferred;

    r->deferred = NULL;
    while (list) {
        struct tocsin_resolve_req *next = list->next_deferred;
        deliver(list);
        list = next;
    }
}

static int map_status(int ares_status)
{
    switch (ares_status) {
    case ARES_SUCCESS: return 0;
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
    case ARES_ENONAME: return -ENOENT;
    case ARES_ETIMEOUT: return -ETIMEDOUT;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION: return -ECANCELED;
    case ARES_ENOMEM: return -ENOMEM;
    default: return -EAGAIN;
    }
}

/* Picks the first address of the wanted family; with AF_UNSPEC IPv4 first. */
static bool pick_address(const struct ares_addrinfo *ai, int family, struct sockaddr_storage *out)
{
    const struct ares_addrinfo_node *node;
    const struct ares_addrinfo_node *v6 = NULL;

    for (node = ai ? ai->nodes : NULL; node; node = node->ai_next) {
        if (node->ai_family == AF_INET && family != AF_INET6) {
            memcpy(out, node->ai_addr, sizeof(struct sockaddr_in));
            return true;
        }
        if (node->ai_family == AF_INET6 && v6 == NULL)
            v6 = node;
    }
    if (v6 && family != AF_INET) {
        memcpy(out, v6->ai_addr, sizeof(struct sockaddr_in6));
        return true;
    }
    return false;
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
    struct tocsin_resolve_req *req = arg;
    struct tocsin_resolver *r = req->resolver;

    (void)timeouts;
    req->answered = true;
    req->status = map_status(status);
    memset(&req->addr, 0, sizeof(req->addr));
    if (req->status == 0 && !pick_address(ai, req->family, &req->addr))
        req->status = -ENOENT;
    if (req->status != 0)
        snprintf(req->message, sizeof(req->message), "%s",
                 status == ARES_SUCCESS ? "no address of the wanted family" : ares_strerror(status));
    ares_freeaddrinfo(ai);
    if (req->in_start || r->closing) {
        req->next_deferred = r->deferred;
        r->deferred = req;
        if (!r->closing)
            uv_timer_start(&r->defer, on_defer, 0, 0);
        return;
    }
    deliver(req);
}

static void on_socket_event(struct tocsin_fdpoll *p, int status, int events)
{
    struct tocsin_resolver *r = p->data;
    ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

    /* On a poll error let c-ares read: it sees the error and fails over. */
    if (status < 0 || (events & UV_READABLE))
        rfd = p->fd;
    if (events & UV_WRITABLE)
        wfd = p->fd;
    ares_process_fd(r->channel, rfd, wfd);
    arm_timer(r);
}

static void on_sock_state(void *data, ares_socket_t s, int readable, int writable)
{
    struct tocsin_resolver *r = data;
    int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);

    if (events == 0)
        tocsin_fdtable_release(&r->fds, s);
    else if (tocsin_fdtable_watch(&r->fds, s, events, on_socket_event, r) < 0)
        /* c-ares times the query out; the probe reports a dns failure. */
        tocsin_fdtable_release(&r->fds, s);
}

static void on_timer(uv_timer_t *timer)
{
    struct tocsin_resolver *r = timer->data;

    ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    arm_timer(r);
}

static void arm_timer(struct tocsin_resolver *r)
{
    struct timeval tv, *tvp;

    if (r->closing)
        return;
    tvp = ares_timeout(r->channel, NULL, &tv);
    if (tvp == NULL)
        uv_timer_stop(&r->timer);
    else
        uv_timer_start(&r->timer, on_timer, (uint64_t)tvp->tv_sec * 1000 + (uint64_t)(tvp->tv_usec + 999) / 1000, 0);
}

/* Socket functions: plain system calls, except that close waits for the poll. */
static ares_socket_t sock_open(int domain, int type, int protocol, void *data)
{
    (void)data;
    return socket(domain, type | SOCK_CLOEXEC, protocol);
}

static int sock_close(ares_socket_t s, void *data)
{
    struct tocsin_resolver *r = data;

    tocsin_fdtable_close_late(&r->fds, s);
    return 0;
}

static int sock_connect(ares_socket_t s, const struct sockaddr *addr, ares_socklen_t len, void *data)
{
    (void)data;
    return connect(s, addr, len);
}

static ares_ssize_t sock_recvfrom(ares_socket_t s, void *buf, size_t len, int flags,
                                  struct sockaddr *from, ares_socklen_t *from_len, void *data)
{
    (void)data;
    return recvfrom(s, buf, len, flags, from, from_len);
}

static ares_ssize_t sock_sendv(ares_socket_t s, const struct iovec *iov, int n, void *data)
{
    (void)data;
    return writev(s, iov, n);
}

static const struct ares_socket_functions socket_functions = {
    sock_open, sock_close, sock_connect, sock_recvfrom, sock_sendv,
};

int tocsin_resolver_new(uv_loop_t *loop, struct tocsin_resolver **out)
{
    struct ares_options opts;
    struct tocsin_resolver *r = calloc(1, sizeof(*r));
    int rc;

    if (r == NULL)
        return -ENOMEM;
    r->loop = loop;
    memset(&opts, 0, sizeof(opts));
    opts.sock_state_cb = on_sock_state;
    opts.sock_state_cb_data = r;
    rc = ares_init_options(&r->channel, &opts, ARES_OPT_SOCK_STATE_CB);
    if (rc != ARES_SUCCESS) {
        free(r);
        return rc == ARES_ENOMEM ? -ENOMEM : -EIO;
    }
    ares_set_socket_functions(r->channel, &socket_functions, r);
    tocsin_fdtable_init(&r->fds, loop);
    uv_timer_init(loop, &r->timer);
    uv_timer_init(loop, &r->defer);
    r->timer.data = r;
    r->defer.data = r;
    r->handles_open = 2;
    *out = r;
    return 0;
}

int tocsin_resolve(struct tocsin_resolver *r, const char *host, int family, tocsin_resolve_cb cb,
                   void *data, struct tocsin_resolve_req **out)
{
    struct ares_addrinfo_hints hints;
    struct tocsin_resolve_req *req;

    if (r->closing)
        return -ECANCELED;
    req = calloc(1, sizeof(*req));
    if (req == NULL)
        return -ENOMEM;
    *req = (struct tocsin_resolve_req){.resolver = r, .cb = cb, .data = data, .family = family};
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    *out = req;
    req->in_start = true;
    ares_getaddrinfo(r->channel, host, NULL, &hints, on_addrinfo, req);
    req->in_start = false;
    arm_timer(r);
    return 0;
}

void tocsin_resolve_cancel(struct tocsin_resolve_req *req)
{
    req->cb = NULL;
}

static void free_when_closed(struct tocsin_resolver *r)
{
    if (r->handles_open == 0 && r->fds.n_open == 0) {
        tocsin_fdtable_free(&r->fds);
        free(r);
    }
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct tocsin_resolver *r = handle->data;

    r->handles_open--;
    free_when_closed(r);
}

static void on_fds_drained(struct tocsin_fdtable *t)
{
    struct tocsin_resolver *r = (struct tocsin_resolver *)((char *)t - offsetof(struct tocsin_resolver, fds));

    if (r->closing)
        free_when_closed(r);
}

void tocsin_resolver_close(struct tocsin_resolver *r)
{
    struct tocsin_resolve_req *list;

    r->closing = true;
    r->fds.drained = on_fds_drained;
    /* Pending queries complete with ARES_EDESTRUCTION and land on the deferred list. */
    ares_destroy(r->channel);
    list = r->deferred;
    r->deferred = NULL;
    while (list) {
        struct tocsin_resolve_req *next = list->next_deferred;
        deliver(list);
        list = next;
    }
    for (size_t fd = 0; fd < r->fds.n_slots; fd++)
        tocsin_fdtable_release(&r->fds, (int)fd);
    uv_close((uv_handle_t *)&r->timer, on_handle_closed);
    uv_close((uv_handle_t *)&r->defer, on_handle_closed);
}

bool tocsin_parse_ip(const char *host, struct sockaddr_storage *addr)
{
    char buf[INET6_ADDRSTRLEN + 2];
    size_t len = strlen(host);
    struct sockaddr_in *sin = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)addr;

    memset(addr, 0, sizeof(*addr));
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        return true;
    }
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']' && len - 2 < sizeof(buf)) {
        memcpy(buf, host + 1, len - 2);
        buf[len - 2] = '\0';
        host = buf;
    }
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        return true;
    }
    return false;
}

void tocsin_format_ip(const struct sockaddr_storage *addr, bool brackets, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN];

    if (addr->ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, ip, sizeof(ip));
        snprintf(buf, size, brackets ? "[%s]" : "%s", ip);
    } else {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, ip, sizeof(ip));
        snprintf(buf, size, "%s", ip);
    }
}
