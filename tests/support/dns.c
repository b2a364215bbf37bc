/* In-test UDP DNS responder: see dns.h.
 *
 * Only what a resolver test needs: one question per query, answers pointing
 * back at the question name (compression pointer 0xC00C), no EDNS (an OPT
 * record in the query is ignored, which RFC 6891 allows for a server without
 * EDNS support).  The thread blocks in poll() on the socket and a pipe, so
 * stop() wakes it at once instead of waiting for a timeout. */
#include "dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DNS_HEADER 12
#define DNS_MAX_UDP 512
#define TYPE_A 1
#define TYPE_AAAA 28
#define RCODE_SERVFAIL 2
#define RCODE_NXDOMAIN 3

struct test_dns {
    int fd;
    int wake[2];          /* stop() writes to wake[1] */
    pthread_t thread;
    uint16_t port;
    char server[64];
    pthread_mutex_t lock; /* guards everything below */
    enum test_dns_mode mode;
    struct in_addr a;
    uint32_t ttl;
    bool aaaa;
    unsigned queries;
    char last_source[INET6_ADDRSTRLEN];
};

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v & 0xffff);
}

/* Length of header + first question, or 0 if the query is not one we parse. */
static size_t question_end(const unsigned char *q, size_t len)
{
    size_t at = DNS_HEADER;

    if (len < DNS_HEADER || (q[2] & 0x80) || ((q[4] << 8) | q[5]) < 1)
        return 0;
    while (at < len && q[at] != 0) {
        if (q[at] > 63) /* no compression in a question we were sent */
            return 0;
        at += 1 + (size_t)q[at];
    }
    return at + 5 <= len ? at + 5 : 0; /* root label, QTYPE, QCLASS */
}

/* One answer record for the question at offset 12: name by pointer. */
static size_t put_record(unsigned char *p, unsigned type, uint32_t ttl, const void *rdata,
                         size_t rdlen)
{
    put16(p, 0xC00C);
    put16(p + 2, type);
    put16(p + 4, 1); /* IN */
    put32(p + 6, ttl);
    put16(p + 10, (unsigned)rdlen);
    memcpy(p + 12, rdata, rdlen);
    return 12 + rdlen;
}

/* Builds the reply to Q (question ends at QEND) into OUT; 0 = stay silent. */
static size_t build_reply(struct test_dns *d, const unsigned char *q, size_t qend,
                          unsigned char *out)
{
    unsigned type = (unsigned)((q[qend - 4] << 8) | q[qend - 3]);
    unsigned rcode = 0, answers = 0;
    size_t len = qend;

    if (d->mode == TEST_DNS_SILENT)
        return 0;
    memcpy(out, q, qend);
    if (d->mode == TEST_DNS_NXDOMAIN)
        rcode = RCODE_NXDOMAIN;
    else if (d->mode == TEST_DNS_SERVFAIL)
        rcode = RCODE_SERVFAIL;
    if (d->mode == TEST_DNS_ANSWER && type == TYPE_A) {
        len += put_record(out + len, TYPE_A, d->ttl, &d->a, 4);
        answers = 1;
    } else if (d->mode == TEST_DNS_ANSWER && type == TYPE_AAAA && d->aaaa) {
        len += put_record(out + len, TYPE_AAAA, d->ttl, &in6addr_loopback, 16);
        answers = 1;
    }
    out[2] = (unsigned char)(0x80 | (q[2] & 0x79)); /* QR, opcode and RD copied, AA/TC clear */
    out[3] = (unsigned char)(0x80 | rcode);         /* RA */
    put16(out + 4, 1);
    put16(out + 6, answers);
    put16(out + 8, 0);
    put16(out + 10, 0);
    return len;
}

static void record_source(struct test_dns *d, const struct sockaddr_storage *from)
{
    const void *addr = from->ss_family == AF_INET6
                           ? (const void *)&((const struct sockaddr_in6 *)from)->sin6_addr
                           : (const void *)&((const struct sockaddr_in *)from)->sin_addr;

    inet_ntop(from->ss_family, addr, d->last_source, sizeof(d->last_source));
}

static void serve_one(struct test_dns *d)
{
    unsigned char q[DNS_MAX_UDP], out[DNS_MAX_UDP + 64];
    struct sockaddr_storage from;
    socklen_t from_len = sizeof(from);
    ssize_t n = recvfrom(d->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &from_len);
    size_t qend = n > 0 ? question_end(q, (size_t)n) : 0;
    size_t len = 0;

    if (qend == 0)
        return;
    pthread_mutex_lock(&d->lock);
    d->queries++;
    record_source(d, &from);
    len = build_reply(d, q, qend, out);
    pthread_mutex_unlock(&d->lock);
    if (len > 0)
        (void)sendto(d->fd, out, len, 0, (struct sockaddr *)&from, from_len);
}

static void *run(void *arg)
{
    struct test_dns *d = arg;
    struct pollfd fds[2] = {{.fd = d->fd, .events = POLLIN}, {.fd = d->wake[0], .events = POLLIN}};

    for (;;) {
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        if (fds[1].revents)
            break;
        if (fds[0].revents & POLLIN)
            serve_one(d);
    }
    return NULL;
}

static int bind_socket(struct test_dns *d, const char *bind_ip)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    socklen_t len = sizeof(ss);

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, bind_ip, &sin->sin_addr) == 1)
        sin->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, bind_ip, &sin6->sin6_addr) == 1)
        sin6->sin6_family = AF_INET6;
    else
        return -1;
    d->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (d->fd < 0 || bind(d->fd, (struct sockaddr *)&ss, len) < 0 ||
        getsockname(d->fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    d->port = ntohs(ss.ss_family == AF_INET ? sin->sin_port : sin6->sin6_port);
    snprintf(d->server, sizeof(d->server), ss.ss_family == AF_INET ? "%s:%u" : "[%s]:%u", bind_ip,
             (unsigned)d->port);
    return 0;
}

static void release(struct test_dns *d)
{
    if (d->fd >= 0)
        close(d->fd);
    if (d->wake[0] >= 0)
        close(d->wake[0]);
    if (d->wake[1] >= 0)
        close(d->wake[1]);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

struct test_dns *test_dns_start(const char *bind_ip)
{
    struct test_dns *d = calloc(1, sizeof(*d));

    if (d == NULL)
        return NULL;
    d->fd = d->wake[0] = d->wake[1] = -1;
    d->mode = TEST_DNS_ANSWER;
    d->a.s_addr = htonl(INADDR_LOOPBACK);
    d->ttl = 300;
    pthread_mutex_init(&d->lock, NULL);
    if (bind_socket(d, bind_ip ? bind_ip : "127.0.0.1") < 0 || pipe(d->wake) < 0 ||
        pthread_create(&d->thread, NULL, run, d) != 0) {
        release(d);
        return NULL;
    }
    return d;
}

uint16_t test_dns_port(const struct test_dns *d)
{
    return d->port;
}

const char *test_dns_server(const struct test_dns *d)
{
    return d->server;
}

void test_dns_set_mode(struct test_dns *d, enum test_dns_mode mode)
{
    pthread_mutex_lock(&d->lock);
    d->mode = mode;
    pthread_mutex_unlock(&d->lock);
}

void test_dns_set_answer(struct test_dns *d, const char *ipv4, uint32_t ttl)
{
    pthread_mutex_lock(&d->lock);
    if (inet_pton(AF_INET, ipv4, &d->a) != 1)
        d->a.s_addr = htonl(INADDR_LOOPBACK);
    d->ttl = ttl;
    pthread_mutex_unlock(&d->lock);
}

void test_dns_set_aaaa(struct test_dns *d, bool answer)
{
    pthread_mutex_lock(&d->lock);
    d->aaaa = answer;
    pthread_mutex_unlock(&d->lock);
}

unsigned test_dns_queries(const struct test_dns *d)
{
    unsigned n;

    pthread_mutex_lock((pthread_mutex_t *)&d->lock);
    n = d->queries;
    pthread_mutex_unlock((pthread_mutex_t *)&d->lock);
    return n;
}

bool test_dns_last_source(const struct test_dns *d, char *buf, size_t size)
{
    bool seen;

    pthread_mutex_lock((pthread_mutex_t *)&d->lock);
    seen = d->last_source[0] != '\0';
    snprintf(buf, size, "%s", d->last_source);
    pthread_mutex_unlock((pthread_mutex_t *)&d->lock);
    return seen;
}

void test_dns_stop(struct test_dns *d)
{
    if (d == NULL)
        return;
    /* A pipe with room for a byte cannot refuse one; join either way. */
    if (write(d->wake[1], "x", 1) != 1)
        fprintf(stderr, "test dns: cannot wake the responder: %s\n", strerror(errno));
    pthread_join(d->thread, NULL);
    release(d);
}
