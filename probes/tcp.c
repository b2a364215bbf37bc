/* TCP connect probe: resolve (c-ares, unless a literal), connect, close.
 * The timeout is armed first; finish() records the result and closes every
 * handle; the callback fires from the last close callback, so never inside
 * start() and never twice. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tocsin/probe.h"

struct tocsin_probe_op {
    uv_timer_t timer;
    uv_tcp_t tcp;
    uv_connect_t connect;
    const struct tocsin_monitor_conf *monitor;
    tocsin_probe_cb cb;
    void *data;
    struct tocsin_resolve_req *resolve;
    uint64_t start_ns;
    int64_t dns_ms;
    int open_handles;
    bool tcp_open;
    bool finished;
    bool cancelled;
    struct tocsin_result result;
};

static void on_closed(uv_handle_t *handle)
{
    struct tocsin_probe_op *op = handle->data;

    if (--op->open_handles > 0)
        return;
    if (!op->cancelled)
        op->cb(op->data, &op->result);
    free(op);
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
    r->timings.dns_ms = op->dns_ms;
    r->timings.total_ms = tocsin_elapsed_ms(op->start_ns);
    if (r->error_kind == TOCSIN_ERR_TIMEOUT)
        r->timings.total_ms = (int64_t)op->monitor->timeout_ms;
    r->response_time_ms = r->timings.total_ms;
    r->timestamp = (int64_t)time(NULL);
    uv_close((uv_handle_t *)&op->timer, on_closed);
    if (op->tcp_open)
        uv_close((uv_handle_t *)&op->tcp, on_closed);
}

static void fail_uv(struct tocsin_probe_op *op, int err)
{
    const struct tocsin_monitor_conf *m = op->monitor;

    switch (err) {
    case UV_ECONNREFUSED:
        tocsin_result_fail(&op->result, TOCSIN_ERR_REFUSED, "connection to %s port %d refused",
                           m->host, m->port);
        break;
    case UV_ECONNRESET:
        tocsin_result_fail(&op->result, TOCSIN_ERR_RESET, "connection to %s port %d reset",
                           m->host, m->port);
        break;
    case UV_ETIMEDOUT:
        tocsin_result_fail(&op->result, TOCSIN_ERR_TIMEOUT, "timed out after %llu ms connecting",
                           (unsigned long long)m->timeout_ms);
        break;
    default:
        tocsin_result_fail(&op->result, TOCSIN_ERR_REFUSED, "cannot connect to %s port %d: %s",
                           m->host, m->port, uv_strerror(err));
    }
    finish(op);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct tocsin_probe_op *op = req->data;

    if (op->finished)
        return;
    op->result.timings.connect_ms = tocsin_elapsed_ms(op->start_ns) - (op->dns_ms > 0 ? op->dns_ms : 0);
    if (status < 0) {
        fail_uv(op, status);
        return;
    }
    op->result.status = TOCSIN_STATUS_UP;
    finish(op);
}

static void connect_to(struct tocsin_probe_op *op, struct sockaddr_storage *addr)
{
    int rc;

    if (addr->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)addr)->sin6_port = htons((uint16_t)op->monitor->port);
    else
        ((struct sockaddr_in *)addr)->sin_port = htons((uint16_t)op->monitor->port);
    rc = uv_tcp_init(op->timer.loop, &op->tcp);
    if (rc == 0) {
        op->tcp.data = op;
        op->tcp_open = true;
        op->open_handles++;
        op->connect.data = op;
        rc = uv_tcp_connect(&op->connect, &op->tcp, (const struct sockaddr *)addr, on_connect);
    }
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

    tocsin_result_fail(&op->result, TOCSIN_ERR_TIMEOUT, "timed out after %llu ms %s %s port %d",
                       (unsigned long long)op->monitor->timeout_ms,
                       op->resolve ? "resolving" : "connecting to", op->monitor->host,
                       op->monitor->port);
    finish(op);
}

static int tcp_start(const struct tocsin_probe_env *env, const struct tocsin_monitor_conf *monitor,
                     size_t region, tocsin_probe_cb cb, void *data, struct tocsin_probe_op **out)
{
    struct tocsin_probe_op *op = calloc(1, sizeof(*op));
    struct sockaddr_storage addr;
    int rc;

    if (op == NULL)
        return -ENOMEM;
    op->monitor = monitor;
    op->cb = cb;
    op->data = data;
    op->start_ns = uv_hrtime();
    op->dns_ms = -1;
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
    rc = tocsin_resolve(env->resolvers[region], monitor->host, AF_UNSPEC, on_resolved, op,
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
