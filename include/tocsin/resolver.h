/* DNS through c-ares on the libuv loop: one resolver (channel) per region, so
 * regions never share answers and curl never resolves (DESIGN §6). */
#ifndef TOCSIN_RESOLVER_H
#define TOCSIN_RESOLVER_H

#include <stdbool.h>
#include <sys/socket.h>
#include <uv.h>

struct tocsin_resolver;
struct tocsin_resolve_req;

/* STATUS is 0 with ADDR set (port 0), or a negative errno-style code
 * (-ENOENT no such name/address, -EAGAIN server failure, -ETIMEDOUT no answer,
 * -ECANCELED resolver closing) with a human MESSAGE. */
typedef void (*tocsin_resolve_cb)(void *data, int status, const struct sockaddr_storage *addr,
                                  const char *message);

/* 0 or a negative errno-style code. */
int tocsin_resolver_new(uv_loop_t *loop, struct tocsin_resolver **out);

/* Resolves HOST to one address (IPv4 preferred when FAMILY is AF_UNSPEC).  CB
 * fires exactly once, always from the loop and never inside this call, unless
 * the request is cancelled first.  0 or -errno (then CB never fires). */
int tocsin_resolve(struct tocsin_resolver *r, const char *host, int family, tocsin_resolve_cb cb,
                   void *data, struct tocsin_resolve_req **req);

/* The callback of REQ will not fire; the request's memory is reclaimed later. */
void tocsin_resolve_cancel(struct tocsin_resolve_req *req);

/* Cancels everything pending and frees R once its handles are closed. */
void tocsin_resolver_close(struct tocsin_resolver *r);

/* Parses a numeric IPv4/IPv6 literal (brackets allowed) into ADDR; true on success. */
bool tocsin_parse_ip(const char *host, struct sockaddr_storage *addr);

/* Writes ADDR's numeric form into BUF ("[::1]" with BRACKETS for IPv6). */
void tocsin_format_ip(const struct sockaddr_storage *addr, bool brackets, char *buf, size_t size);

#endif
