/* The agent's built-in HTTP server (/metrics and the local API): libmicrohttpd
 * driven by the agent's one libuv loop (DESIGN §2).  MHD runs with MHD_USE_EPOLL
 * and no thread of its own; one uv_poll watches its epoll descriptor and calls
 * MHD_run, and one uv_timer, re-armed from MHD_get_timeout after every run,
 * makes MHD time out idle connections.  So the handler always runs on the loop
 * thread and needs no locks.
 *
 * Limits keep a misbehaving client from hurting the agent: 64 connections,
 * 10 s without progress closes a connection, 32 KiB of memory per connection
 * (request line and headers must fit), request bodies up to 64 KiB (more gets
 * 413 without calling the handler; a body over 1 MiB is not even read). */
#ifndef TOCSIN_HTTP_SERVER_H
#define TOCSIN_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define TOCSIN_HTTP_MAX_BODY (64 * 1024)

/* One complete request.  Everything is valid only during the handler call. */
struct tocsin_http_request {
    const char *method;  /* as sent: "GET", "POST", ... */
    const char *path;    /* percent-decoded, without the query */
    const char *query;   /* raw query string after '?' (not decoded), or "" */
    const char *body;    /* BODY_LEN bytes followed by a NUL; "" when empty */
    size_t body_len;
    bool loopback;       /* the client is 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104 */
};

/* Filled by the handler; it arrives as {.status = 200}, everything else NULL/0. */
struct tocsin_http_response {
    int status;               /* 100..599; anything else is sent as 500 */
    const char *content_type; /* NULL = "text/plain; charset=utf-8"; not copied, must
                               * outlive the call (a literal) */
    const char *allow;        /* "Allow" header (for 405), or NULL; same lifetime rule */
    char *body;               /* malloc'd by the handler, freed by the server; may be NULL */
    size_t body_len;
};

/* Called on the loop thread once the whole request has arrived; fills RESP
 * synchronously.  Every response also carries "Cache-Control: no-store".  The
 * handler may call tocsin_http_server_close (its own response is then likely
 * never sent). */
typedef void (*tocsin_http_handler)(void *data, const struct tocsin_http_request *req,
                                    struct tocsin_http_response *resp);

struct tocsin_http_server;

/* Listens on LISTEN: "IPv4:PORT", "[IPv6]:PORT" or "localhost:PORT" (127.0.0.1);
 * numeric only, port 0 takes an ephemeral port.  0 and *OUT set, or a negative
 * errno with a message in ERR: -EINVAL (bad LISTEN), -EADDRINUSE (port taken),
 * -EADDRNOTAVAIL, -EACCES, -ENOMEM, ...; nothing is left on the loop then. */
int tocsin_http_server_new(uv_loop_t *loop, const char *listen, tocsin_http_handler handler,
                           void *data, struct tocsin_http_server **out, char *err,
                           size_t err_size);

/* The bound port (the ephemeral one when LISTEN said 0). */
uint16_t tocsin_http_server_port(const struct tocsin_http_server *s);

/* Connections open right now (a gauge for /metrics; tests wait on it). */
unsigned tocsin_http_server_connections(const struct tocsin_http_server *s);

/* Stops serving: the uv handles close, then MHD stops (dropping any open
 * connection, a half-received request or a queued response alike), S is freed
 * and ON_CLOSED (may be NULL) is called with DATA from the loop.  Call once. */
void tocsin_http_server_close(struct tocsin_http_server *s, void (*on_closed)(void *data),
                              void *data);

#endif
