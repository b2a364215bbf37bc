/* DNS through c-ares on the libuv loop: one resolver (channel) per region, so
 * regions never share answers and curl never resolves (DESIGN §6).  Each keeps
 * its own answer cache (TTL, capped by the region's dns_cache; NXDOMAIN/NODATA
 * for at most 5 s) and sends one query for concurrent requests of a name. */
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

struct tocsin_region_conf;

/* One channel for REGION (NULL = defaults: /etc/resolv.conf, no binding,
 * answers kept up to 60 s): its dns_servers, source_address or interface, and
 * dns_cache_ms as the cap on cached answers (0 = cache nothing).  0, -EINVAL
 * (a server or address that does not parse), -ENOMEM or -EIO. */
int tocsin_resolver_new(uv_loop_t *loop, const struct tocsin_region_conf *region,
                        struct tocsin_resolver **out);

/* Resolves HOST to one address (IPv4 preferred when FAMILY is AF_UNSPEC).  CB
 * fires exactly once, always from the loop and never inside this call, unless
 * the request is cancelled first (nor inside a c-ares callback: it may resolve
 * again or close the resolver).  0 or -errno (then CB never fires):
 * -ECANCELED while closing, -EAFNOSUPPORT, -ENOMEM. */
int tocsin_resolve(struct tocsin_resolver *r, const char *host, int family, tocsin_resolve_cb cb,
                   void *data, struct tocsin_resolve_req **req);

/* The callback of REQ will not fire; the request's memory is reclaimed later. */
void tocsin_resolve_cancel(struct tocsin_resolve_req *req);

/* Cancels everything pending -- callbacks not cancelled yet fire inside this
 * call, with -ECANCELED for lookups in flight -- and frees R once its handles
 * are closed. */
void tocsin_resolver_close(struct tocsin_resolver *r);

/* Parses a numeric IPv4/IPv6 literal (brackets allowed) into ADDR; true on success. */
bool tocsin_parse_ip(const char *host, struct sockaddr_storage *addr);

/* Writes ADDR's numeric form into BUF ("[::1]" with BRACKETS for IPv6). */
void tocsin_format_ip(const struct sockaddr_storage *addr, bool brackets, char *buf, size_t size);

#endif
