/* The resolver's answer cache (c-ares 1.18 keeps none): answers keyed by
 * (host, family), host compared case-insensitively, each kept until an expiry
 * time the resolver computes (TTL capped by the region's dns_cache).  Bounded:
 * when full, an insertion evicts the oldest entry.  Times are the caller's
 * milliseconds (uv_now of the loop); nothing here reads a clock. */
#ifndef TOCSIN_DNS_CACHE_H
#define TOCSIN_DNS_CACHE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define TOCSIN_DNS_CACHE_MAX_ENTRIES 10000
#define TOCSIN_DNS_CACHE_MAX_ADDRS 16 /* addresses kept per answer; more are dropped */
#define TOCSIN_DNS_MAX_HOST 255       /* longer names are never cached */

/* One address, port 0; sa.sa_family tells which member is valid. */
union tocsin_dns_addr {
    struct sockaddr sa;
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
};

/* STATUS is the caller's code (the resolver stores a c-ares status); a
 * positive answer has N_ADDRS > 0. */
struct tocsin_dns_answer {
    int status;
    size_t n_addrs;
    const union tocsin_dns_addr *addrs;
};

struct tocsin_dns_cache;

/* 0 or -ENOMEM.  MAX_ENTRIES 0 means TOCSIN_DNS_CACHE_MAX_ENTRIES. */
int tocsin_dns_cache_new(size_t max_entries, struct tocsin_dns_cache **out);
void tocsin_dns_cache_free(struct tocsin_dns_cache *c);

/* The answer for (HOST, FAMILY) if it has not expired at NOW (an expired one is
 * dropped).  The pointers stay valid until the next put or free. */
int tocsin_dns_cache_get(struct tocsin_dns_cache *c, const char *host, int family, uint64_t now,
                         struct tocsin_dns_answer *out);

/* Stores a copy of A for (HOST, FAMILY) until EXPIRES (> NOW), replacing any
 * previous answer.  0, -EINVAL (name too long, nothing stored) or -ENOMEM. */
int tocsin_dns_cache_put(struct tocsin_dns_cache *c, const char *host, int family,
                         const struct tocsin_dns_answer *a, uint64_t expires, uint64_t now);

size_t tocsin_dns_cache_size(const struct tocsin_dns_cache *c);

/* Host names compare as DNS does: ASCII case-insensitively, whatever the locale. */
bool tocsin_dns_same_host(const char *a, const char *b);

/* FNV-1a of the lower-cased HOST and FAMILY: the key hash both the cache and
 * the resolver's table of queries in flight use. */
uint64_t tocsin_dns_key_hash(const char *host, int family);

#endif
