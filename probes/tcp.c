/* TCP probe: resolve (c-ares, unless a literal), connect from the region's
 * source address or interface, optionally a TLS handshake (probes/tls.c, on
 * this loop), optionally send bytes, and when a reply is expected read the
 * first one, bounded.  The timeout is armed first; finish() records the result
 * and closes every handle; the callback fires from the last close callback, so
 * never inside start() and never twice (and never after cancel). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "tocsin/probe.h"
#include "tocsin/tls.h"

/* At most this much of the reply is kept while looking for expect.contains. */
#define REPLY_MAX (64 * 1024)
#define REPLY_FIRST_ALLOC 1024
/* Bytes of the reply (or of the wanted text) quoted in a message. */
#define SNIPPET_MAX 64

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* What the check is waiting for: names the timeout. */
enum phase { PHASE_RESOLVE, PHASE_CONNECT, PHASE_TLS, PHASE_REPLY };

struct tocsin_probe_op {
    uv_timer_t timer;
    uv_tcp_t tcp;               /* data belongs to the TLS session while there is one */
    uv_connect_t connect;
    uv_write_t write;
    const struct tocsin_probe_env *env;
    const struct tocsin_monitor_conf *monitor;
    tocsin_probe_cb cb;
    void *data;
    struct tocsin_resolve_req *resolve;
    struct tocsin_tls *tls;
    char *reply;                /* first bytes of the reply, at most REPLY_MAX */
    size_t reply_len;
    size_t reply_cap;
    enum phase phase;
    uint64_t start_ns;
    int64_t dns_ms;
    uint64_t tls_start_ns;
    int64_t total_ms;           /* frozen once read, so `slow` and the result agree; -1 */
    int open_handles;
    bool tcp_open;
    bool timed_out;
    bool finished;
    bool cancelled;
    struct tocsin_result result;
};

/* ---- the end of a check ------------------------------------------------- */

static void closed(struct tocsin_probe_op *op)
{
    if (--op->open_handles > 0)
        return;
    if (!op->cancelled)
        op->cb(op->data, &op->result);
    tocsin_tls_free(op->tls);
    free(op->reply);
    free(op);
}

static void on_timer_closed(uv_handle_t *handle)
{
    closed(handle->data);
}

static void on_tcp_closed(uv_handle_t *handle)
{
    closed(container_of((uv_tcp_t *)handle, struct tocsin_probe_op, tcp));
}

/* The check's duration, measured once. */
static int64_t total_ms(struct tocsin_probe_op *op)
{
    if (op->total_ms < 0)
        op->total_ms = tocsin_elapsed_ms_ceil(op->start_ns);
    return op->total_ms;
}

static void finish(struct tocsin_probe_op *op)
{
    struct tocsin_result *r = &op->result;

    if (op->finished)
        return;
    op->finished = true;
    if (op->resolve) {
        tocsin_resolve_cancel(op->resolve);
        op->resolve = NULL;
    }
    if (op->tls)
        tocsin_tls_stop(op->tls);
    r->timings.dns_ms = op->dns_ms;
    r->timings.total_ms = total_ms(op);
    if (op->timed_out)
        r->timings.total_ms = (int64_t)op->monitor->timeout_ms;
    r->response_time_ms = r->timings.total_ms;
    tocsin_result_stamp(r);
    uv_close((uv_handle_t *)&op->timer, on_timer_closed);
    if (op->tcp_open)
        uv_close((uv_handle_t *)&op->tcp, on_tcp_closed);
}

/* UP unless it took longer than expect.max_response_time. */
static void succeed(struct tocsin_probe_op *op)
{
    uint64_t max = op->monitor->expect.max_response_time_ms;
    int64_t took = total_ms(op);

    if (max > 0 && (uint64_t)took > max)
        tocsin_result_fail(&op->result, TOCSIN_ERR_SLOW, "response took %lld ms, maximum %llu",
                           (long long)took, (unsigned long long)max);
    else
        op->result.status = TOCSIN_STATUS_UP;
    finish(op);
}

static bool awaits_reply(const struct tocsin_monitor_conf *m)
{
    return m->send != NULL || m->expect.contains != NULL;
}

/* Whether an RST shows at connect, in the handshake or at read is a race, so
 * the message names what the check had not got yet, not where it noticed. */
static void fail_reset(struct tocsin_probe_op *op)
{
    const struct tocsin_monitor_conf *m = op->monitor;
    const char *before = "";

    if (m->tls.enabled && op->result.timings.tls_ms < 0)
        before = " during the TLS handshake";
    else if (awaits_reply(m))
        before = " before any reply";
    tocsin_result_fail(&op->result, TOCSIN_ERR_RESET, "connection to %s port %d reset%s", m->host,
                       m->port, before);
}

/* Maps a socket error onto the kinds of DESIGN §4. */
static void fail_uv(struct tocsin_probe_op *op, int err)
{
    const struct tocsin_monitor_conf *m = op->monitor;
    struct tocsin_result *r = &op->result;

    switch (err) {
    case UV_ECONNREFUSED:
        tocsin_result_fail(r, TOCSIN_ERR_REFUSED, "connection to %s port %d refused", m->host,
                           m->port);
        break;
    case UV_ECONNRESET:
    case UV_ECONNABORTED:
    case UV_EPIPE:
        fail_reset(op);
        break;
    case UV_ETIMEDOUT:
        tocsin_result_fail(r, TOCSIN_ERR_TIMEOUT, "timed out connecting to %s port %d", m->host,
                           m->port);
        break;
    case UV_ENOMEM:
    case UV_ENOBUFS:
    case UV_EMFILE:
    case UV_ENFILE:
    case UV_EADDRINUSE:
    case UV_EADDRNOTAVAIL:
        tocsin_result_fail(r, TOCSIN_ERR_INTERNAL, "cannot check %s port %d: %s", m->host,
                           m->port, uv_strerror(err));
        break;
    default:
        tocsin_result_fail(r, TOCSIN_ERR_REFUSED, "cannot connect to %s port %d: %s", m->host,
                           m->port, uv_strerror(err));
    }
    finish(op);
}

/* ---- the reply ----------------------------------------------------------- */

/* Quotes at most SNIPPET_MAX bytes of S for a message, escaping what is not
 * printable ASCII, with "..." when cut.  OUT holds 4 * SNIPPET_MAX + 4 bytes. */
static void quote(const char *s, size_t len, char *out)
{
    size_t n = len < SNIPPET_MAX ? len : SNIPPET_MAX, o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            o += (size_t)sprintf(out + o, "\\%c", c);
        else if (c == '\r' || c == '\n' || c == '\t')
            o += (size_t)sprintf(out + o, "\\%c", c == '\r' ? 'r' : c == '\n' ? 'n' : 't');
        else if (c < 0x20 || c >= 0x7f)
            o += (size_t)sprintf(out + o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    strcpy(out + o, len > n ? "..." : "");
}

static void fail_expect(struct tocsin_probe_op *op)
{
    const char *want = op->monitor->expect.contains;
    char qwant[4 * SNIPPET_MAX + 4], qgot[4 * SNIPPET_MAX + 4];

    quote(want, strlen(want), qwant);
    quote(op->reply, op->reply_len, qgot);
    tocsin_result_fail(&op->result, TOCSIN_ERR_EXPECT,
                       "expected a reply containing \"%s\", got \"%s\"", qwant, qgot);
    finish(op);
}

/* Room for more of the reply: doubles up to REPLY_MAX.  False when out of memory. */
static bool reply_grow(struct tocsin_probe_op *op)
{
    size_t cap = op->reply_cap ? op->reply_cap * 2 : REPLY_FIRST_ALLOC;
    char *p;

    if (op->reply_len < op->reply_cap)
        return true;
    if (cap > REPLY_MAX)
        cap = REPLY_MAX;
    p = realloc(op->reply, cap);
    if (p == NULL)
        return false;
    op->reply = p;
    op->reply_cap = cap;
    return true;
}

/* OLD_LEN bytes had been looked at; the reply now holds reply_len. */
static void on_reply_bytes(struct tocsin_probe_op *op, size_t old_len)
{
    const char *want = op->monitor->expect.contains;
    size_t wlen = want ? strlen(want) : 0, from;

    if (op->result.timings.first_byte_ms < 0)
        op->result.timings.first_byte_ms = tocsin_elapsed_ms(op->start_ns);
    if (want == NULL) { /* only `send`: any reply will do */
        succeed(op);
        return;
    }
    /* Look again only where a match could end in the new bytes. */
    from = old_len >= wlen ? old_len - wlen + 1 : 0;
    if (memmem(op->reply + from, op->reply_len - from, want, wlen) != NULL)
        succeed(op);
    else if (op->reply_len >= REPLY_MAX)
        fail_expect(op);
}

static void on_reply_error(struct tocsin_probe_op *op, int status)
{
    if (op->reply_len > 0 && (status == UV_EOF || status == UV_ECONNRESET))
        fail_expect(op); /* a reply came, just not the wanted one */
    else if (status == UV_EOF)
        tocsin_result_fail(&op->result, TOCSIN_ERR_RESET, "connection closed before any reply");
    else if (status == TOCSIN_TLS_EPROTO)
        tocsin_result_fail(&op->result, TOCSIN_ERR_TLS, "TLS: %s", tocsin_tls_message(op->tls));
    else if (status == UV_ENOBUFS)
        tocsin_result_fail(&op->result, TOCSIN_ERR_INTERNAL, "out of memory reading the reply");
    else
        fail_uv(op, status);
    finish(op);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct tocsin_probe_op *op = container_of((uv_tcp_t *)handle, struct tocsin_probe_op, tcp);

    (void)suggested;
    /* A zero-length buffer makes libuv report UV_ENOBUFS. */
    if (!reply_grow(op))
        *buf = uv_buf_init(NULL, 0);
    else
        *buf = uv_buf_init(op->reply + op->reply_len, (unsigned)(op->reply_cap - op->reply_len));
}

static void on_plain_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct tocsin_probe_op *op = container_of((uv_tcp_t *)stream, struct tocsin_probe_op, tcp);
    size_t old_len = op->reply_len;

    (void)buf; /* the bytes were read straight into op->reply */
    if (op->finished || nread == 0)
        return;
    if (nread < 0) {
        on_reply_error(op, (int)nread);
        return;
    }
    op->reply_len += (size_t)nread;
    on_reply_bytes(op, old_len);
}

static void on_tls_read(struct tocsin_tls *tls, ssize_t nread, const char *buf)
{
    struct tocsin_probe_op *op = tocsin_tls_data(tls);
    size_t old_len = op->reply_len, n = nread > 0 ? (size_t)nread : 0;

    if (op->finished)
        return;
    if (nread < 0) {
        on_reply_error(op, (int)nread);
        return;
    }
    while (n > 0 && !op->finished) {
        size_t room;
        if (!reply_grow(op)) {
            on_reply_error(op, UV_ENOBUFS);
            return;
        }
        room = op->reply_cap - op->reply_len;
        room = n < room ? n : room;
        memcpy(op->reply + op->reply_len, buf, room);
        op->reply_len += room;
        buf += room;
        n -= room;
        on_reply_bytes(op, old_len);
        old_len = op->reply_len;
    }
}

static void on_written(uv_write_t *req, int status)
{
    struct tocsin_probe_op *op = container_of(req, struct tocsin_probe_op, write);

    if (!op->finished && status < 0)
        fail_uv(op, status);
}

static int send_request(struct tocsin_probe_op *op)
{
    const struct tocsin_monitor_conf *m = op->monitor;
    uv_buf_t buf = uv_buf_init(m->send, (unsigned)m->send_len);

    if (op->tls)
        return tocsin_tls_write(op->tls, m->send, m->send_len);
    return uv_write(&op->write, (uv_stream_t *)&op->tcp, &buf, 1, on_written);
}

/* Connected (and through TLS when asked): send, then wait for the reply if one is expected. */
static void converse(struct tocsin_probe_op *op)
{
    const struct tocsin_monitor_conf *m = op->monitor;
    int rc = 0;

    if (!awaits_reply(m)) {
        succeed(op);
        return;
    }
    op->phase = PHASE_REPLY;
    if (m->send != NULL)
        rc = send_request(op);
    if (rc == 0 && op->tls)
        rc = tocsin_tls_read_start(op->tls, on_tls_read);
    else if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&op->tcp, on_alloc, on_plain_read);
    if (rc < 0)
        on_reply_error(op, rc);
}

/* ---- TLS ----------------------------------------------------------------- */

static bool check_cert(struct tocsin_probe_op *op)
{
    int min = op->monitor->expect.cert_min_days, days;

    if (min <= 0 || !tocsin_tls_cert_days(op->tls, &days) || days >= min)
        return true;
    if (days < 0)
        tocsin_result_fail(&op->result, TOCSIN_ERR_CERT,
                           "certificate expired %d days ago, minimum %d", -days, min);
    else
        tocsin_result_fail(&op->result, TOCSIN_ERR_CERT,
                           "certificate expires in %d days, minimum %d", days, min);
    return false;
}

static void on_handshake(struct tocsin_tls *tls, int status, const char *message)
{
    struct tocsin_probe_op *op = tocsin_tls_data(tls);

    if (op->finished)
        return;
    if (status == UV_ECONNRESET || status == UV_EPIPE || status == UV_ECONNABORTED)
        fail_reset(op); /* before tls_ms is set: the handshake never completed */
    else if (status < 0)
        tocsin_result_fail(&op->result, TOCSIN_ERR_TLS, "TLS: %s", message);
    /* Rounded up: a handshake that happened never reads as 0 ms. */
    op->result.timings.tls_ms = tocsin_elapsed_ms_ceil(op->tls_start_ns);
    if (status < 0 || !check_cert(op)) {
        finish(op);
        return;
    }
    converse(op);
}

static void start_tls(struct tocsin_probe_op *op)
{
    char err[TOCSIN_TLS_MESSAGE_MAX];
    int rc;

    op->phase = PHASE_TLS;
    op->tls_start_ns = uv_hrtime();
    rc = tocsin_tls_new(&op->monitor->tls, op->monitor->host, op, &op->tls, err, sizeof(err));
    if (rc < 0) {
        tocsin_result_fail(&op->result, TOCSIN_ERR_INTERNAL, "TLS: %s", err);
        finish(op);
        return;
    }
    rc = tocsin_tls_handshake(op->tls, (uv_stream_t *)&op->tcp, on_handshake);
    if (rc == TOCSIN_TLS_EPROTO) {
        tocsin_result_fail(&op->result, TOCSIN_ERR_TLS, "TLS: %s", tocsin_tls_message(op->tls));
        finish(op);
    } else if (rc < 0) {
        fail_uv(op, rc);
    }
}

/* ---- connecting ------------------------------------------------------------ */

static void on_connect(uv_connect_t *req, int status)
{
    struct tocsin_probe_op *op = req->data;

    if (op->finished)
        return;
    op->result.timings.connect_ms =
        tocsin_elapsed_ms(op->start_ns) - (op->dns_ms > 0 ? op->dns_ms : 0);
    if (status < 0)
        fail_uv(op, status);
    else if (op->monitor->tls.enabled)
        start_tls(op);
    else
        converse(op);
}

static const struct tocsin_region_conf *region_of(const struct tocsin_probe_op *op)
{
    const struct tocsin_config *c = op->env->config;

    return c && op->result.region < c->n_regions ? &c->regions[op->result.region] : NULL;
}

/* Binds the socket to the region's source address or interface.  False (with
 * the result filled in) when that fails: a local problem, so `internal`. */
static bool bind_region(struct tocsin_probe_op *op, int family)
{
    const struct tocsin_region_conf *reg = region_of(op);
    struct sockaddr_storage src;
    uv_os_fd_t fd;
    int rc;

    if (reg && reg->source_address) {
        if (!tocsin_parse_ip(reg->source_address, &src))
            rc = UV_EINVAL;
        else if (src.ss_family != family)
            rc = UV_EAFNOSUPPORT;
        else
            rc = uv_tcp_bind(&op->tcp, (struct sockaddr *)&src, 0);
        if (rc < 0) {
            tocsin_result_fail(&op->result, TOCSIN_ERR_INTERNAL,
                               "cannot bind to source address %s of region %s: %s",
                               reg->source_address, reg->name, uv_strerror(rc));
            return false;
        }
    }
    if (reg && reg->interface) {
        rc = uv_fileno((uv_handle_t *)&op->tcp, &fd);
        if (rc == 0 && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, reg->interface,
                                  (socklen_t)strlen(reg->interface)) != 0)
            rc = -errno;
        if (rc < 0) {
            tocsin_result_fail(&op->result, TOCSIN_ERR_INTERNAL,
                               "cannot bind to interface %s of region %s: %s", reg->interface,
                               reg->name, uv_strerror(rc));
            return false;
        }
    }
    return true;
}

static void connect_to(struct tocsin_probe_op *op, struct sockaddr_storage *addr)
{
    int rc;

    op->phase = PHASE_CONNECT;
    if (addr->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)addr)->sin6_port = htons((uint16_t)op->monitor->port);
    else
        ((struct sockaddr_in *)addr)->sin_port = htons((uint16_t)op->monitor->port);
    /* init_ex creates the socket now, so it can be bound before connecting. */
    rc = uv_tcp_init_ex(op->timer.loop, &op->tcp, addr->ss_family);
    if (rc < 0) {
        fail_uv(op, rc);
        return;
    }
    op->tcp_open = true;
    op->open_handles++;
    if (!bind_region(op, addr->ss_family)) {
        finish(op);
        return;
    }
    op->connect.data = op;
    rc = uv_tcp_connect(&op->connect, &op->tcp, (const struct sockaddr *)addr, on_connect);
    if (rc < 0)
        fail_uv(op, rc);
}

static void on_resolved(void *data, int status, const struct sockaddr_storage *addr,
                        const char *message)
{
    struct tocsin_probe_op *op = data;
    struct sockaddr_storage copy;

    op->resolve = NULL;
    op->dns_ms = tocsin_elapsed_ms(op->start_ns);
    if (status < 0) {
        tocsin_result_fail(&op->result, TOCSIN_ERR_DNS, "cannot resolve %s: %s", op->monitor->host,
                           message);
        finish(op);
        return;
    }
    copy = *addr;
    connect_to(op, &copy);
}

static void on_timeout(uv_timer_t *timer)
{
    struct tocsin_probe_op *op = timer->data;
    const struct tocsin_monitor_conf *m = op->monitor;
    unsigned long long ms = (unsigned long long)m->timeout_ms;
    struct tocsin_result *r = &op->result;

    op->timed_out = true;
    if (op->phase == PHASE_RESOLVE)
        tocsin_result_fail(r, TOCSIN_ERR_DNS, "DNS lookup of %s timed out after %llu ms", m->host,
                           ms);
    else if (op->phase == PHASE_CONNECT)
        tocsin_result_fail(r, TOCSIN_ERR_TIMEOUT,
                           "timed out after %llu ms connecting to %s port %d", ms, m->host,
                           m->port);
    else if (op->phase == PHASE_TLS)
        tocsin_result_fail(r, TOCSIN_ERR_TIMEOUT,
                           "timed out after %llu ms during the TLS handshake", ms);
    else if (op->reply_len > 0 && m->expect.contains)
        fail_expect(op); /* a reply came and stalled without the wanted text */
    else
        tocsin_result_fail(r, TOCSIN_ERR_TIMEOUT, "timed out after %llu ms waiting for the reply",
                           ms);
    finish(op);
}

/* The family to resolve: the source address's when the region binds one. */
static int wanted_family(const struct tocsin_probe_op *op)
{
    const struct tocsin_region_conf *reg = region_of(op);
    struct sockaddr_storage src;

    if (reg && reg->source_address && tocsin_parse_ip(reg->source_address, &src))
        return src.ss_family;
    return AF_UNSPEC;
}

static int tcp_start(const struct tocsin_probe_env *env, const struct tocsin_monitor_conf *monitor,
                     size_t region, tocsin_probe_cb cb, void *data, struct tocsin_probe_op **out)
{
    struct tocsin_probe_op *op = calloc(1, sizeof(*op));
    struct sockaddr_storage addr;
    int rc;

    if (op == NULL)
        return -ENOMEM;
    op->env = env;
    op->monitor = monitor;
    op->cb = cb;
    op->data = data;
    op->start_ns = uv_hrtime();
    op->dns_ms = -1;
    op->total_ms = -1;
    op->result = (struct tocsin_result){
        .status = TOCSIN_STATUS_DOWN,
        .region = region,
        .timings = {-1, -1, -1, -1, -1},
    };
    uv_timer_init(env->loop, &op->timer);
    op->timer.data = op;
    op->open_handles = 1;
    uv_timer_start(&op->timer, on_timeout, monitor->timeout_ms, 0);
    *out = op;
    if (tocsin_parse_ip(monitor->host, &addr)) {
        connect_to(op, &addr);
        return 0;
    }
    op->phase = PHASE_RESOLVE;
    rc = tocsin_resolve(env->resolvers[region], monitor->host, wanted_family(op), on_resolved, op,
                        &op->resolve);
    if (rc < 0) {
        op->resolve = NULL;
        tocsin_result_fail(&op->result, TOCSIN_ERR_INTERNAL, "cannot start resolving: %s",
                           strerror(-rc));
        finish(op);
    }
    return 0;
}

static void tcp_cancel(struct tocsin_probe_op *op)
{
    op->cancelled = true;
    finish(op);
}

const struct tocsin_probe_kind tocsin_probe_tcp = {
    .name = "tcp",
    .start = tcp_start,
    .cancel = tcp_cancel,
};
