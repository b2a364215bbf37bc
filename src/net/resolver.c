/* c-ares on libuv: ARES_OPT_SOCK_STATE_CB puts c-ares' sockets in one epoll
 * set watched by the loop (fdpoll), one uv_timer follows ares_timeout().
 *
 * In front of c-ares sit an answer cache (c-ares 1.18 keeps none; see
 * dns_cache.h) and a table of lookups in flight, so that concurrent requests
 * for the same (host, family) share one query.  Every answer -- from the cache,
 * from /etc/hosts (found synchronously inside ares_getaddrinfo) or from the
 * network -- goes through one deferred list that a zero timer drains: a
 * callback never runs inside tocsin_resolve() nor inside a c-ares callback, so
 * it may resolve again, cancel, or even close the resolver. */
#include "tocsin/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tocsin/config.h"
#include "tocsin/dns_cache.h"
#include "tocsin/fdpoll.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#define DEFAULT_CACHE_MS 60000 /* dns_cache when no region is given */
#define NEGATIVE_CACHE_MS 5000 /* NXDOMAIN/NODATA: brief, a fixed record shows soon */
#define QUERY_TIMEOUT_MS 1000  /* per try; c-ares doubles it on the retry */
#define QUERY_TRIES 2          /* so a silent server fails after ~3 s, well inside a check */
#define QUERY_BUCKETS 256      /* lookups in flight, by key hash */

struct tocsin_resolve_req {
    struct tocsin_resolver *resolver;
    tocsin_resolve_cb cb; /* NULL once cancelled */
    void *data;
    int status;
    struct sockaddr_storage addr;
    char message[128];
    struct tocsin_resolve_req *next; /* among its query's waiters, then on the deferred list */
};

/* One c-ares lookup in flight, shared by every request for its (host, family). */
struct query {
    struct tocsin_resolver *resolver;
    struct query *hnext;
    uint64_t hash;
    int family;
    struct tocsin_resolve_req *waiters;
    struct tocsin_resolve_req **waiters_tail;
    char host[];
};

struct tocsin_resolver {
    uv_loop_t *loop;
    ares_channel channel;
    uv_timer_t timer;     /* c-ares retransmits and timeouts */
    uv_timer_t defer;     /* drains the deferred list */
    struct tocsin_fdtable fds;
    struct tocsin_dns_cache *cache;
    uint64_t cache_ms;    /* the region's dns_cache: 0 = keep nothing */
    struct query *queries[QUERY_BUCKETS];
    struct tocsin_resolve_req *deferred;
    struct tocsin_resolve_req **deferred_tail;
    struct sockaddr_storage source; /* the region's source_address */
    socklen_t source_len;            /* 0 = none */
    char interface[IF_NAMESIZE];     /* the region's interface; "" = none */
    char binding[INET6_ADDRSTRLEN + IF_NAMESIZE + 8]; /* both, for messages */
    char last_failure[128];          /* see "sockets" below */
    int handles_open;
    bool starting;        /* inside ares_getaddrinfo: an answer now is local */
    bool closing;
};

static void arm_timer(struct tocsin_resolver *r);

/* ---- delivery ---- */

static void deliver(struct tocsin_resolve_req *req)
{
    if (req->cb)
        req->cb(req->data, req->status, req->status == 0 ? &req->addr : NULL, req->message);
    free(req);
}

static void deliver_deferred(struct tocsin_resolver *r)
{
    struct tocsin_resolve_req *list = r->deferred;

    /* Detached first: a callback may queue more, they wait for the next turn. */
    r->deferred = NULL;
    r->deferred_tail = &r->deferred;
    while (list) {
        struct tocsin_resolve_req *next = list->next;
        deliver(list);
        list = next;
    }
}

static void on_defer(uv_timer_t *timer)
{
    deliver_deferred(timer->data);
}

static void defer(struct tocsin_resolver *r, struct tocsin_resolve_req *req)
{
    req->next = NULL;
    *r->deferred_tail = req;
    r->deferred_tail = &req->next;
    /* While closing, tocsin_resolver_close() delivers the list itself. */
    if (!r->closing)
        uv_timer_start(&r->defer, on_defer, 0, 0);
}

/* ---- answers ---- */

static int map_status(int ares_status)
{
    switch (ares_status) {
    case ARES_SUCCESS: return 0;
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
    case ARES_ENONAME:
    case ARES_EBADNAME: return -ENOENT;
    case ARES_ETIMEOUT: return -ETIMEDOUT;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION: return -ECANCELED;
    case ARES_ENOMEM: return -ENOMEM;
    default: return -EAGAIN; /* SERVFAIL, REFUSED, unreachable server... */
    }
}

/* Short and human: probes show "cannot resolve HOST: <this>". */
static const char *describe(int ares_status)
{
    switch (ares_status) {
    case ARES_ENOTFOUND: return "no such host (NXDOMAIN)";
    case ARES_ENODATA: return "no address records (NODATA)";
    case ARES_EBADNAME: return "invalid host name";
    case ARES_ESERVFAIL: return "server failure (SERVFAIL)";
    case ARES_EREFUSED: return "query refused by the DNS server (REFUSED)";
    case ARES_ETIMEOUT: return "no answer from DNS server";
    case ARES_ECONNREFUSED: return "cannot reach the DNS server";
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION: return "resolver closing";
    default: return ares_strerror(ares_status);
    }
}

/* The first address of the wanted family; with AF_UNSPEC IPv4 first. */
static const union tocsin_dns_addr *pick_address(const struct tocsin_dns_answer *a, int family)
{
    const union tocsin_dns_addr *v6 = NULL;

    for (size_t i = 0; i < a->n_addrs; i++) {
        if (a->addrs[i].sa.sa_family == AF_INET && family != AF_INET6)
            return &a->addrs[i];
        if (a->addrs[i].sa.sa_family == AF_INET6 && v6 == NULL && family != AF_INET)
            v6 = &a->addrs[i];
    }
    return v6;
}

static void fill(struct tocsin_resolve_req *req, const struct tocsin_dns_answer *a, int family)
{
    const union tocsin_dns_addr *pick = NULL;
    int status = a->status;

    if (status == ARES_SUCCESS && (pick = pick_address(a, family)) == NULL)
        status = ARES_ENODATA;
    req->status = map_status(status);
    memset(&req->addr, 0, sizeof(req->addr));
    if (pick)
        memcpy(&req->addr, pick,
               pick->sa.sa_family == AF_INET ? sizeof(pick->sin) : sizeof(pick->sin6));
    snprintf(req->message, sizeof(req->message), "%s", status == ARES_SUCCESS ? "" : describe(status));
}

/* Copies up to TOCSIN_DNS_CACHE_MAX_ADDRS addresses (port 0) of FAMILY into A
 * and returns the smallest TTL of the answer, in ms. */
static uint64_t collect(const struct ares_addrinfo *ai, int family, union tocsin_dns_addr *addrs,
                        struct tocsin_dns_answer *a)
{
    int ttl = INT32_MAX;

    a->n_addrs = 0;
    for (const struct ares_addrinfo_node *n = ai ? ai->nodes : NULL; n; n = n->ai_next) {
        union tocsin_dns_addr *out = &addrs[a->n_addrs];

        if (a->n_addrs == TOCSIN_DNS_CACHE_MAX_ADDRS || (n->ai_family != AF_INET && n->ai_family != AF_INET6) ||
            (family != AF_UNSPEC && n->ai_family != family))
            continue;
        memset(out, 0, sizeof(*out));
        memcpy(out, n->ai_addr, n->ai_family == AF_INET ? sizeof(out->sin) : sizeof(out->sin6));
        if (n->ai_family == AF_INET)
            out->sin.sin_port = 0;
        else
            out->sin6.sin6_port = 0;
        a->n_addrs++;
        ttl = n->ai_ttl < ttl ? n->ai_ttl : ttl;
    }
    for (const struct ares_addrinfo_cname *c = ai ? ai->cnames : NULL; c; c = c->next)
        ttl = c->ttl < ttl ? c->ttl : ttl;
    return ttl > 0 ? (uint64_t)ttl * 1000 : 0;
}

/* How long an answer may be served from the cache, in ms (0 = not at all).
 *
 * /etc/hosts answers (complete while starting, TTL 0 from c-ares) are kept for
 * the region's cap: the file has no TTL, the cap is the staleness the user
 * accepted for any answer, and re-reading the file for every check would cost
 * an open/read/close on the loop thread at thousands of checks a second.
 * SERVFAIL, refusals and timeouts are never kept: the next check asks again. */
static uint64_t lifetime_ms(const struct tocsin_resolver *r, const struct tocsin_dns_answer *a,
                            uint64_t ttl_ms, bool local)
{
    uint64_t ms = 0;

    if (a->status == ARES_SUCCESS)
        ms = local ? r->cache_ms : ttl_ms;
    else if (a->status == ARES_ENOTFOUND || a->status == ARES_ENODATA)
        ms = NEGATIVE_CACHE_MS;
    return ms < r->cache_ms ? ms : r->cache_ms;
}

static void remember(struct tocsin_resolver *r, const struct query *q,
                     const struct tocsin_dns_answer *a, uint64_t ttl_ms)
{
    uint64_t ms = lifetime_ms(r, a, ttl_ms, r->starting);
    uint64_t now = uv_now(r->loop);

    /* A failed put is harmless: the cache only saves queries. */
    if (ms > 0)
        (void)tocsin_dns_cache_put(r->cache, q->host, q->family, a, now + ms, now);
}

/* Numeric hosts never reach c-ares: 1.18.1's getaddrinfo sends an IPv4
 * literal asked with AF_UNSPEC to the DNS servers (fake_addrinfo() forgets
 * its IPv4 match when the IPv6 parse fails). */
static bool literal_answer(const char *host, union tocsin_dns_addr *addr,
                           struct tocsin_dns_answer *a)
{
    struct sockaddr_storage ss;

    if (!tocsin_parse_ip(host, &ss))
        return false;
    memset(addr, 0, sizeof(*addr));
    memcpy(addr, &ss, ss.ss_family == AF_INET ? sizeof(addr->sin) : sizeof(addr->sin6));
    *a = (struct tocsin_dns_answer){.status = ARES_SUCCESS, .n_addrs = 1, .addrs = addr};
    return true;
}

/* ---- lookups in flight ---- */

static struct query **find_query(struct tocsin_resolver *r, const char *host, int family,
                                 uint64_t hash)
{
    struct query **pp = &r->queries[hash % QUERY_BUCKETS];

    while (*pp && !((*pp)->hash == hash && (*pp)->family == family &&
                    tocsin_dns_same_host((*pp)->host, host)))
        pp = &(*pp)->hnext;
    return *pp ? pp : NULL;
}

static void unlink_query(struct tocsin_resolver *r, struct query *q)
{
    struct query **pp = &r->queries[q->hash % QUERY_BUCKETS];

    while (*pp != q)
        pp = &(*pp)->hnext;
    *pp = q->hnext;
}

static void add_waiter(struct query *q, struct tocsin_resolve_req *req)
{
    req->next = NULL;
    *q->waiters_tail = req;
    q->waiters_tail = &req->next;
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
    struct query *q = arg;
    struct tocsin_resolver *r = q->resolver;
    union tocsin_dns_addr addrs[TOCSIN_DNS_CACHE_MAX_ADDRS];
    struct tocsin_dns_answer a = {.status = status, .addrs = addrs};
    uint64_t ttl_ms = collect(ai, q->family, addrs, &a);
    struct tocsin_resolve_req *req = q->waiters;

    (void)timeouts;
    if (a.status == ARES_SUCCESS && a.n_addrs == 0)
        a.status = ARES_ENODATA;
    unlink_query(r, q);
    if (!r->closing)
        remember(r, q, &a, ttl_ms);
    while (req) {
        struct tocsin_resolve_req *next = req->next;
        fill(req, &a, q->family);
        if (a.status == ARES_ECONNREFUSED && r->last_failure[0])
            snprintf(req->message, sizeof(req->message), "%s", r->last_failure);
        defer(r, req);
        req = next;
    }
    ares_freeaddrinfo(ai);
    free(q);
}

/* Starts a c-ares lookup for REQ's key.  REQ is a waiter before c-ares runs:
 * /etc/hosts answers complete (and free the query) inside ares_getaddrinfo. */
static int start_query(struct tocsin_resolver *r, struct tocsin_resolve_req *req, const char *host,
                       int family, uint64_t hash)
{
    size_t len = strlen(host);
    struct query *q = malloc(sizeof(*q) + len + 1);
    struct ares_addrinfo_hints hints;

    if (q == NULL)
        return -ENOMEM;
    *q = (struct query){.resolver = r, .hash = hash, .family = family};
    q->waiters_tail = &q->waiters;
    memcpy(q->host, host, len + 1);
    q->hnext = r->queries[hash % QUERY_BUCKETS];
    r->queries[hash % QUERY_BUCKETS] = q;
    add_waiter(q, req);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    r->starting = true;
    ares_getaddrinfo(r->channel, host, NULL, &hints, on_addrinfo, q);
    r->starting = false;
    arm_timer(r);
    return 0;
}

/* ---- c-ares on the loop ---- */

static void on_socket_event(struct tocsin_fdpoll *p, int status, int events)
{
    struct tocsin_resolver *r = p->data;
    int fd = p->fd;
    ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

    /* On a poll error let c-ares read: it sees the error and fails over. */
    if (status < 0 || (events & UV_READABLE))
        rfd = fd;
    if (events & UV_WRITABLE)
        wfd = fd;
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

/* ---- sockets ----
 *
 * c-ares 1.18 configures nothing on sockets it gets from socket functions
 * (configure_socket() returns early): no O_NONBLOCK, no ares_set_local_ip4/
 * ip6/dev binding.  So sock_open does both itself; a blocking socket would
 * stall the loop in c-ares' read-until-EAGAIN loop or in a TCP connect.
 *
 * c-ares 1.18 also ends a query with ARES_ECONNREFUSED whether every server
 * answered SERVFAIL/REFUSED or none could be reached, so the wrappers note the
 * last reason a server attempt failed, for the message (both are -EAGAIN). */

static void note_failure(struct tocsin_resolver *r, const char *what, int err)
{
    snprintf(r->last_failure, sizeof(r->last_failure), "%s%s%s", what, err ? ": " : "",
             err ? strerror(err) : "");
}

static bool would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK || err == EINPROGRESS || err == EINTR;
}

/* Binds FD like the region's probes; -1 (errno set) if it cannot. */
static int bind_socket(struct tocsin_resolver *r, int fd, int domain)
{
    int rc = 0;

    if (r->interface[0])
        rc = setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, r->interface, (socklen_t)strlen(r->interface) + 1);
    if (rc == 0 && r->source_len > 0 && r->source.ss_family != domain) {
        errno = EAFNOSUPPORT; /* an IPv4 source cannot reach an IPv6 server, nor the reverse */
        rc = -1;
    } else if (rc == 0 && r->source_len > 0) {
        rc = bind(fd, (const struct sockaddr *)&r->source, r->source_len);
    }
    return rc;
}

static ares_socket_t sock_open(int domain, int type, int protocol, void *data)
{
    struct tocsin_resolver *r = data;
    int fd = socket(domain, type | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);

    if (fd >= 0 && bind_socket(r, fd, domain) < 0) {
        snprintf(r->last_failure, sizeof(r->last_failure), "cannot bind DNS query to %s: %s",
                 r->binding, strerror(errno));
        close(fd);
        fd = ARES_SOCKET_BAD;
    }
    return fd;
}

static int sock_close(ares_socket_t s, void *data)
{
    struct tocsin_resolver *r = data;

    tocsin_fdtable_close_socket(&r->fds, s);
    return 0;
}

static int sock_connect(ares_socket_t s, const struct sockaddr *addr, ares_socklen_t len, void *data)
{
    int rc = connect(s, addr, len);

    if (rc < 0 && !would_block(errno))
        note_failure(data, "cannot reach the DNS server", errno);
    return rc;
}

/* Peeks at each answer's RCODE (low 4 bits of byte 3) before c-ares sees it. */
static ares_ssize_t sock_recvfrom(ares_socket_t s, void *buf, size_t len, int flags,
                                  struct sockaddr *from, ares_socklen_t *from_len, void *data)
{
    ssize_t n = recvfrom(s, buf, len, flags, from, from_len);
    /* UDP only (c-ares passes FROM): a TCP read may start mid-message. */
    int rcode = n >= 4 && from ? ((const unsigned char *)buf)[3] & 0x0f : 0;

    if (n < 0 && !would_block(errno))
        note_failure(data, "cannot reach the DNS server", errno);
    else if (rcode == 2)
        note_failure(data, "server failure (SERVFAIL)", 0);
    else if (rcode == 4)
        note_failure(data, "query not supported by the DNS server (NOTIMP)", 0);
    else if (rcode == 5)
        note_failure(data, "query refused by the DNS server (REFUSED)", 0);
    return n;
}

static ares_ssize_t sock_sendv(ares_socket_t s, const struct iovec *iov, int n, void *data)
{
    ssize_t rc = writev(s, iov, n);

    if (rc < 0 && !would_block(errno))
        note_failure(data, "cannot reach the DNS server", errno);
    return rc;
}

static const struct ares_socket_functions socket_functions = {
    sock_open, sock_close, sock_connect, sock_recvfrom, sock_sendv,
};

/* ---- the region's settings ---- */

/* A port after ':' : 1-65535, digits only. */
static int parse_port(const char *s, unsigned short *port)
{
    char *end;
    unsigned long v;

    if (*s < '0' || *s > '9')
        return -EINVAL;
    v = strtoul(s, &end, 10);
    if (*end != '\0' || v == 0 || v > 65535)
        return -EINVAL;
    *port = (unsigned short)v;
    return 0;
}

/* "IP", "IP:PORT", "IPv6", "[IPv6]" or "[IPv6]:PORT" into NODE (port 0 = 53). */
static int parse_server(const char *s, struct ares_addr_port_node *node)
{
    char ip[INET6_ADDRSTRLEN];
    const char *port = NULL;
    const char *rbracket = NULL;
    size_t len;
    unsigned short p = 0;
    int rc = 0;

    if (s[0] == '[' && (rbracket = strchr(s, ']')) != NULL) {
        s++;
        len = (size_t)(rbracket - s);
        port = rbracket[1] == ':' ? rbracket + 2 : NULL;
        rc = rbracket[1] != '\0' && port == NULL ? -EINVAL : 0;
    } else if (strchr(s, ':') == strrchr(s, ':') && strchr(s, ':') != NULL) {
        port = strchr(s, ':') + 1; /* one colon: IPv4:PORT */
        len = (size_t)(port - 1 - s);
    } else {
        len = strlen(s);           /* IPv4, or IPv6 without brackets */
    }
    if (rc == 0 && len >= sizeof(ip))
        rc = -EINVAL;
    if (rc == 0 && port)
        rc = parse_port(port, &p);
    if (rc == 0) {
        memcpy(ip, s, len);
        ip[len] = '\0';
        memset(node, 0, sizeof(*node));
        node->udp_port = node->tcp_port = p;
        if (rbracket == NULL && inet_pton(AF_INET, ip, &node->addr.addr4) == 1)
            node->family = AF_INET;
        else if (inet_pton(AF_INET6, ip, &node->addr.addr6) == 1)
            node->family = AF_INET6;
        else
            rc = -EINVAL;
    }
    return rc;
}

/* The region's dns_servers replace /etc/resolv.conf's. */
static int set_servers(ares_channel channel, const struct tocsin_region_conf *region)
{
    size_t n = region->n_dns_servers;
    struct ares_addr_port_node *nodes = calloc(n, sizeof(*nodes));
    int rc = nodes ? 0 : -ENOMEM;

    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = parse_server(region->dns_servers[i], &nodes[i]);
        nodes[i].next = i + 1 < n ? &nodes[i + 1] : NULL;
    }
    if (rc == 0 && ares_set_servers_ports(channel, nodes) != ARES_SUCCESS)
        rc = -EINVAL;
    free(nodes);
    return rc;
}

/* Queries leave from the region's address or interface, like its probes
 * (applied in sock_open: see there why not through ares_set_local_*). */
static int set_binding(struct tocsin_resolver *r, const struct tocsin_region_conf *region)
{
    int rc = 0;

    if (region->source_address && !tocsin_parse_ip(region->source_address, &r->source))
        rc = -EINVAL;
    else if (region->source_address)
        r->source_len = r->source.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                                       : sizeof(struct sockaddr_in6);
    if (rc == 0 && region->interface && strlen(region->interface) >= sizeof(r->interface))
        rc = -EINVAL;
    else if (rc == 0 && region->interface)
        memcpy(r->interface, region->interface, strlen(region->interface) + 1);
    if (rc == 0)
        snprintf(r->binding, sizeof(r->binding), "%s%s%s",
                 region->source_address ? region->source_address : "",
                 region->source_address && region->interface ? " on " : "",
                 region->interface ? region->interface : "");
    return rc;
}

static int apply_region(struct tocsin_resolver *r, const struct tocsin_region_conf *region)
{
    int rc = 0;

    if (region && region->n_dns_servers > 0)
        rc = set_servers(r->channel, region);
    if (rc == 0 && region)
        rc = set_binding(r, region);
    return rc;
}

static int open_channel(struct tocsin_resolver *r, const struct tocsin_region_conf *region)
{
    struct ares_options opts;
    char lookups[] = "fb"; /* /etc/hosts first, then DNS: explicit, as custom
                              servers must not lose the hosts file */
    int rc;

    memset(&opts, 0, sizeof(opts));
    opts.sock_state_cb = on_sock_state;
    opts.sock_state_cb_data = r;
    opts.timeout = QUERY_TIMEOUT_MS;
    opts.tries = QUERY_TRIES;
    opts.lookups = lookups;
    rc = ares_init_options(&r->channel, &opts,
                           ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS);
    if (rc != ARES_SUCCESS)
        return rc == ARES_ENOMEM ? -ENOMEM : -EIO;
    rc = apply_region(r, region);
    if (rc < 0)
        ares_destroy(r->channel);
    else
        ares_set_socket_functions(r->channel, &socket_functions, r);
    return rc;
}

int tocsin_resolver_new(uv_loop_t *loop, const struct tocsin_region_conf *region,
                        struct tocsin_resolver **out)
{
    struct tocsin_resolver *r = calloc(1, sizeof(*r));
    int rc = r ? tocsin_dns_cache_new(0, &r->cache) : -ENOMEM;

    if (rc == 0)
        rc = open_channel(r, region);
    if (rc < 0) {
        if (r)
            tocsin_dns_cache_free(r->cache);
        free(r);
        return rc;
    }
    r->loop = loop;
    r->cache_ms = region ? region->dns_cache_ms : DEFAULT_CACHE_MS;
    r->deferred_tail = &r->deferred;
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
    struct tocsin_resolve_req *req = NULL;
    union tocsin_dns_addr literal;
    struct tocsin_dns_answer a = {.status = ARES_EBADNAME};
    uint64_t hash = tocsin_dns_key_hash(host, family);
    struct query **q;
    int rc = 0;

    if (r->closing)
        rc = -ECANCELED;
    else if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
        rc = -EAFNOSUPPORT;
    else if ((req = calloc(1, sizeof(*req))) == NULL)
        rc = -ENOMEM;
    if (rc < 0)
        return rc;
    *req = (struct tocsin_resolve_req){.resolver = r, .cb = cb, .data = data};
    /* A name DNS cannot carry is a dns failure of the check, not an internal one. */
    if (strnlen(host, TOCSIN_DNS_MAX_HOST + 1) > TOCSIN_DNS_MAX_HOST ||
        literal_answer(host, &literal, &a) ||
        tocsin_dns_cache_get(r->cache, host, family, uv_now(r->loop), &a) == 0) {
        fill(req, &a, family);
        defer(r, req);
    } else if ((q = find_query(r, host, family, hash)) != NULL) {
        add_waiter(*q, req);
    } else {
        rc = start_query(r, req, host, family, hash);
    }
    if (rc < 0)
        free(req);
    else
        *out = req;
    return rc;
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
    struct tocsin_resolver *r = container_of(t, struct tocsin_resolver, fds);

    if (r->closing)
        free_when_closed(r);
}

void tocsin_resolver_close(struct tocsin_resolver *r)
{
    r->closing = true;
    r->fds.drained = on_fds_drained;
    /* Queries in flight complete with ARES_EDESTRUCTION onto the deferred list,
     * delivered here (-ECANCELED) with the answers still waiting for the timer. */
    ares_destroy(r->channel);
    deliver_deferred(r);
    tocsin_dns_cache_free(r->cache);
    r->cache = NULL;
    tocsin_fdtable_close(&r->fds);
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
