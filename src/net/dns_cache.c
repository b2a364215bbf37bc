/* Bounded answer cache for the resolver: see include/tocsin/dns_cache.h.
 *
 * A chained hash table for lookups plus a list in insertion order for
 * eviction.  Insertion order is close enough to expiry order for a cap-sized
 * cache: when the table is full the oldest entry goes (expired entries are also
 * dropped as lookups meet them), so memory is bounded by MAX_ENTRIES answers. */
#include "tocsin/dns_cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    struct entry *hnext;         /* bucket chain */
    struct entry *older, *newer; /* insertion order */
    uint64_t hash;
    uint64_t expires;
    int family;
    int status;
    size_t n_addrs;
    char *host;                  /* points behind addrs, same allocation */
    union tocsin_dns_addr addrs[];
};

struct tocsin_dns_cache {
    struct entry **buckets;      /* allocated on the first put */
    size_t n_buckets;            /* power of two */
    size_t n_entries;
    size_t max_entries;
    struct entry *oldest, *newest;
};

static unsigned char fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

bool tocsin_dns_same_host(const char *a, const char *b)
{
    while (*a && fold((unsigned char)*a) == fold((unsigned char)*b)) {
        a++;
        b++;
    }
    return *a == '\0' && *b == '\0';
}

uint64_t tocsin_dns_key_hash(const char *host, int family)
{
    uint64_t h = 14695981039346656037ULL;

    for (const unsigned char *p = (const unsigned char *)host; *p; p++)
        h = (h ^ fold(*p)) * 1099511628211ULL;
    return (h ^ (uint64_t)(unsigned)family) * 1099511628211ULL;
}

int tocsin_dns_cache_new(size_t max_entries, struct tocsin_dns_cache **out)
{
    struct tocsin_dns_cache *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return -ENOMEM;
    c->max_entries = max_entries ? max_entries : TOCSIN_DNS_CACHE_MAX_ENTRIES;
    *out = c;
    return 0;
}

void tocsin_dns_cache_free(struct tocsin_dns_cache *c)
{
    struct entry *e, *next;

    if (c == NULL)
        return;
    for (e = c->oldest; e; e = next) {
        next = e->newer;
        free(e);
    }
    free(c->buckets);
    free(c);
}

size_t tocsin_dns_cache_size(const struct tocsin_dns_cache *c)
{
    return c->n_entries;
}

static struct entry **find_slot(struct tocsin_dns_cache *c, const char *host, int family,
                                uint64_t hash)
{
    struct entry **pp;

    if (c->buckets == NULL)
        return NULL;
    for (pp = &c->buckets[hash & (c->n_buckets - 1)]; *pp; pp = &(*pp)->hnext) {
        const struct entry *e = *pp;

        if (e->hash == hash && e->family == family && tocsin_dns_same_host(e->host, host))
            return pp;
    }
    return NULL;
}

static void unlink_entry(struct tocsin_dns_cache *c, struct entry *e)
{
    struct entry **pp = &c->buckets[e->hash & (c->n_buckets - 1)];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    c->n_entries--;
    free(e);
}

int tocsin_dns_cache_get(struct tocsin_dns_cache *c, const char *host, int family, uint64_t now,
                         struct tocsin_dns_answer *out)
{
    struct entry **pp = find_slot(c, host, family, tocsin_dns_key_hash(host, family));
    int rc = -ENOENT;

    if (pp && (*pp)->expires <= now) {
        unlink_entry(c, *pp);
    } else if (pp) {
        *out = (struct tocsin_dns_answer){
            .status = (*pp)->status, .n_addrs = (*pp)->n_addrs, .addrs = (*pp)->addrs};
        rc = 0;
    }
    return rc;
}

/* About one bucket per two entries at the cap: chains stay short. */
static int alloc_buckets(struct tocsin_dns_cache *c)
{
    size_t n = 16;

    while (n < c->max_entries / 2)
        n *= 2;
    c->buckets = calloc(n, sizeof(*c->buckets));
    if (c->buckets == NULL)
        return -ENOMEM;
    c->n_buckets = n;
    return 0;
}

static struct entry *new_entry(const char *host, size_t host_len, int family,
                               const struct tocsin_dns_answer *a, uint64_t expires)
{
    size_t n = a->n_addrs < TOCSIN_DNS_CACHE_MAX_ADDRS ? a->n_addrs : TOCSIN_DNS_CACHE_MAX_ADDRS;
    struct entry *e = malloc(sizeof(*e) + n * sizeof(e->addrs[0]) + host_len + 1);

    if (e == NULL)
        return NULL;
    *e = (struct entry){.hash = tocsin_dns_key_hash(host, family), .expires = expires,
                        .family = family, .status = a->status, .n_addrs = n};
    if (n > 0)
        memcpy(e->addrs, a->addrs, n * sizeof(e->addrs[0]));
    e->host = (char *)(e->addrs + n);
    memcpy(e->host, host, host_len + 1);
    return e;
}

static void link_entry(struct tocsin_dns_cache *c, struct entry *e)
{
    struct entry **bucket = &c->buckets[e->hash & (c->n_buckets - 1)];

    e->hnext = *bucket;
    *bucket = e;
    e->older = c->newest;
    e->newer = NULL;
    if (c->newest)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
    c->n_entries++;
}

int tocsin_dns_cache_put(struct tocsin_dns_cache *c, const char *host, int family,
                         const struct tocsin_dns_answer *a, uint64_t expires, uint64_t now)
{
    size_t host_len = strnlen(host, TOCSIN_DNS_MAX_HOST + 1);
    struct entry **old;
    struct entry *e = NULL;
    int rc = 0;

    if (host_len > TOCSIN_DNS_MAX_HOST || expires <= now)
        rc = -EINVAL;
    else if (c->buckets == NULL)
        rc = alloc_buckets(c);
    if (rc == 0 && (e = new_entry(host, host_len, family, a, expires)) == NULL)
        rc = -ENOMEM;
    if (rc == 0) {
        old = find_slot(c, host, family, e->hash);
        if (old)
            unlink_entry(c, *old);
        /* Expired entries first, then the oldest live one. */
        while (c->oldest && c->oldest->expires <= now)
            unlink_entry(c, c->oldest);
        if (c->n_entries >= c->max_entries)
            unlink_entry(c, c->oldest);
        link_entry(c, e);
    }
    return rc;
}
