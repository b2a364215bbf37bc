/* Test PKI and loopback TCP/TLS server: see tls.h.
 *
 * The server thread waits in poll() on the listening socket (or the current
 * connection) and on a pipe; test_server_stop() writes the pipe and shuts the
 * connection down, so blocking reads and handshakes end at once. */
#include "tls.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* ---- PKI ------------------------------------------------------------------ */

static int write_pem(const char *path, EVP_PKEY *key, X509 *x509)
{
    FILE *f = fopen(path, "w");
    int ok;

    if (f == NULL)
        return -1;
    ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
             : PEM_write_X509(f, x509);
    return (fclose(f) == 0 && ok == 1) ? 0 : -1;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL)
        return -1;
    ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : -1;
}

/* An unsigned certificate for KEY named CN, valid from an hour ago for VALID_SECS. */
static X509 *new_cert(EVP_PKEY *key, const char *cn, long valid_secs)
{
    X509 *x = X509_new();
    X509_NAME *name;
    unsigned char rnd[4];
    long serial;

    if (x == NULL)
        return NULL;
    RAND_bytes(rnd, sizeof(rnd));
    serial = 1 + (long)(((unsigned long)rnd[0] << 24 | (unsigned long)rnd[1] << 16 |
                         (unsigned long)rnd[2] << 8 | rnd[3]) & 0x7fffffffUL);
    name = X509_get_subject_name(x);
    if (X509_set_version(x, 2) != 1 ||
        ASN1_INTEGER_set(X509_get_serialNumber(x), serial) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), valid_secs) == NULL ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                   0) != 1 ||
        X509_set_pubkey(x, key) != 1) {
        X509_free(x);
        return NULL;
    }
    return x;
}

int test_pki_init(struct test_pki *pki)
{
    char ca_name[96];
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    int rc = -1;

    memset(pki, 0, sizeof(*pki));
    snprintf(pki->dir, sizeof(pki->dir), "/tmp/tocsin-pki-XXXXXX");
    if (mkdtemp(pki->dir) == NULL)
        return -1;
    snprintf(pki->ca.cert, sizeof(pki->ca.cert), "%s/ca.pem", pki->dir);
    snprintf(pki->ca.key, sizeof(pki->ca.key), "%s/ca.key", pki->dir);
    /* Named after its directory: two PKIs' CAs differ by name, as two real CAs
     * do, so a store holding one never looks the other up by the same name. */
    snprintf(ca_name, sizeof(ca_name), "tocsin test CA %s", strrchr(pki->dir, '/') + 1);
    key = EVP_EC_gen("P-256");
    x = key ? new_cert(key, ca_name, 3650L * 86400) : NULL;
    if (x && X509_set_issuer_name(x, X509_get_subject_name(x)) == 1 &&
        add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") == 0 &&
        add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") == 0 &&
        add_ext(x, x, NID_subject_key_identifier, "hash") == 0 &&
        X509_sign(x, key, EVP_sha256()) > 0 &&
        write_pem(pki->ca.cert, NULL, x) == 0 && write_pem(pki->ca.key, key, NULL) == 0)
        rc = 0;
    pki->ca_key = key;
    pki->ca_x509 = x;
    if (rc < 0)
        test_pki_free(pki);
    return rc;
}

int test_pki_issue(struct test_pki *pki, const char *name, const char *sans, long valid_secs,
                   bool self_signed, struct test_cert *out)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = key ? new_cert(key, name, valid_secs) : NULL;
    X509 *issuer = self_signed ? x : pki->ca_x509;
    EVP_PKEY *signer = self_signed ? key : pki->ca_key;
    int rc = -1;

    snprintf(out->cert, sizeof(out->cert), "%s/%s.pem", pki->dir, name);
    snprintf(out->key, sizeof(out->key), "%s/%s.key", pki->dir, name);
    if (x && X509_set_issuer_name(x, X509_get_subject_name(issuer)) == 1 &&
        add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
        add_ext(x, issuer, NID_ext_key_usage, "serverAuth") == 0 &&
        add_ext(x, issuer, NID_subject_alt_name, sans) == 0 &&
        (self_signed || add_ext(x, issuer, NID_authority_key_identifier, "keyid") == 0) &&
        X509_sign(x, signer, EVP_sha256()) > 0 && write_pem(out->cert, NULL, x) == 0 &&
        write_pem(out->key, key, NULL) == 0)
        rc = 0;
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

int test_pki_hash_ca(const struct test_pki *pki)
{
    char path[TEST_PATH_MAX];

    snprintf(path, sizeof(path), "%s/%08lx.0", pki->dir, X509_subject_name_hash(pki->ca_x509));
    return write_pem(path, NULL, pki->ca_x509);
}

void test_pki_free(struct test_pki *pki)
{
    DIR *d;
    struct dirent *e;
    char path[TEST_PATH_MAX * 2];

    X509_free(pki->ca_x509);
    EVP_PKEY_free(pki->ca_key);
    pki->ca_x509 = pki->ca_key = NULL;
    if (pki->dir[0] == '\0' || (d = opendir(pki->dir)) == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", pki->dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(pki->dir);
    pki->dir[0] = '\0';
}

/* ---- server ---------------------------------------------------------------- */

struct test_server {
    struct test_server_opts opts;
    char reply[1024];
    SSL_CTX *ctx;
    int listen_fd;
    int stop_pipe[2];
    uint16_t port;
    pthread_t thread;
    pthread_mutex_t lock;       /* guards conn_fd and peer */
    int conn_fd;                /* -1 when none */
    char peer[64];
    atomic_bool stopping;
    atomic_uint accepts;
};

/* Waits until FD is readable (true) or the server stops / TIMEOUT_MS passes (false). */
static bool wait_readable(struct test_server *s, int fd, int timeout_ms)
{
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = s->stop_pipe[0], .events = POLLIN}};

    if (poll(p, 2, timeout_ms) <= 0 || (p[1].revents & POLLIN) || atomic_load(&s->stopping))
        return false;
    return (p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

static void pause_ms(struct test_server *s, unsigned ms)
{
    struct pollfd p = {.fd = s->stop_pipe[0], .events = POLLIN};

    if (ms > 0)
        poll(&p, 1, (int)ms);
}

static ssize_t conn_read(SSL *ssl, int fd, char *buf, size_t size)
{
    return ssl ? SSL_read(ssl, buf, (int)size) : recv(fd, buf, size, 0);
}

static void conn_write(SSL *ssl, int fd, const char *buf, size_t len)
{
    if (ssl)
        SSL_write(ssl, buf, (int)len);
    else if (send(fd, buf, len, MSG_NOSIGNAL) < 0)
        perror("test server: send");
}

/* Reads until a newline (at most 1 KiB); false when the peer left or we stop. */
static bool read_line(struct test_server *s, SSL *ssl, int fd)
{
    char buf[1024];
    size_t got = 0;

    while (got < sizeof(buf)) {
        ssize_t n;
        if ((ssl == NULL || SSL_pending(ssl) == 0) && !wait_readable(s, fd, 10000))
            return false;
        n = conn_read(ssl, fd, buf + got, sizeof(buf) - got);
        if (n <= 0)
            return false;
        if (memchr(buf + got, '\n', (size_t)n) != NULL)
            return true;
        got += (size_t)n;
    }
    return true;
}

/* Until the peer closes or we stop (bounded, in case a test forgets). */
static void drain(struct test_server *s, SSL *ssl, int fd)
{
    char buf[1024];

    while (wait_readable(s, fd, 30000) && conn_read(ssl, fd, buf, sizeof(buf)) > 0)
        ;
}

static void converse(struct test_server *s, SSL *ssl, int fd)
{
    struct linger hard = {.l_onoff = 1, .l_linger = 0};
    size_t len = strlen(s->reply);

    switch (s->opts.mode) {
    case TEST_SERVER_REPLY:
        if (!read_line(s, ssl, fd))
            break;
        pause_ms(s, s->opts.delay_ms);
        conn_write(ssl, fd, s->reply, len);
        drain(s, ssl, fd);
        break;
    case TEST_SERVER_BANNER:
        conn_write(ssl, fd, s->reply, len);
        drain(s, ssl, fd);
        break;
    case TEST_SERVER_SILENT:
        drain(s, ssl, fd);
        break;
    case TEST_SERVER_RESET:
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
        break;
    case TEST_SERVER_CLOSE:
        /* A FIN, never an RST for unread bytes: the peer sees a clean EOF. */
        shutdown(fd, SHUT_WR);
        drain(s, NULL, fd);
        break;
    }
}

/* The handshake, bounded by a receive timeout so a silent client cannot hold us. */
static SSL *accept_tls(struct test_server *s, int fd)
{
    struct timeval tv = {.tv_sec = 5};
    SSL *ssl = SSL_new(s->ctx);

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (ssl && SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1)
        return ssl;
    SSL_free(ssl);
    ERR_clear_error(); /* the client refusing our certificate is a normal outcome here */
    return NULL;
}

static void serve(struct test_server *s, int fd, const struct sockaddr_storage *peer)
{
    SSL *ssl = NULL;
    char ip[64] = "";

    inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, ip, sizeof(ip));
    pthread_mutex_lock(&s->lock);
    s->conn_fd = fd;
    snprintf(s->peer, sizeof(s->peer), "%s", ip);
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add(&s->accepts, 1);
    if (s->ctx == NULL || (ssl = accept_tls(s, fd)) != NULL)
        converse(s, ssl, fd);
    if (ssl && s->opts.mode != TEST_SERVER_RESET && s->opts.mode != TEST_SERVER_CLOSE)
        SSL_shutdown(ssl);
    SSL_free(ssl);
    pthread_mutex_lock(&s->lock);
    s->conn_fd = -1;
    pthread_mutex_unlock(&s->lock);
    close(fd);
}

static void *server_main(void *arg)
{
    struct test_server *s = arg;

    while (wait_readable(s, s->listen_fd, -1)) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept(s->listen_fd, (struct sockaddr *)&peer, &len);
        if (fd >= 0)
            serve(s, fd, &peer);
    }
    return NULL;
}

static int listen_loopback(struct test_server *s)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    int one = 1;

    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0)
        return -1;
    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        listen(s->listen_fd, 16) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&addr, &len) != 0)
        return -1;
    s->port = ntohs(addr.sin_port);
    return 0;
}

static SSL_CTX *server_ctx(const struct test_cert *cert)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx && SSL_CTX_use_certificate_chain_file(ctx, cert->cert) == 1 &&
        SSL_CTX_use_PrivateKey_file(ctx, cert->key, SSL_FILETYPE_PEM) == 1)
        return ctx;
    SSL_CTX_free(ctx);
    return NULL;
}

struct test_server *test_server_start(const struct test_server_opts *opts)
{
    struct test_server *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    /* SSL_write on a connection the probe already closed must not kill the test. */
    signal(SIGPIPE, SIG_IGN);
    s->opts = *opts;
    snprintf(s->reply, sizeof(s->reply), "%s", opts->reply ? opts->reply : "");
    s->listen_fd = s->stop_pipe[0] = s->stop_pipe[1] = s->conn_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->stopping, false);
    atomic_init(&s->accepts, 0);
    if ((opts->tls && (s->ctx = server_ctx(opts->tls)) == NULL) ||
        pipe2(s->stop_pipe, O_CLOEXEC) != 0 || listen_loopback(s) != 0 ||
        pthread_create(&s->thread, NULL, server_main, s) != 0) {
        SSL_CTX_free(s->ctx);
        s->ctx = NULL;
        if (s->listen_fd >= 0)
            close(s->listen_fd);
        for (int i = 0; i < 2; i++)
            if (s->stop_pipe[i] >= 0)
                close(s->stop_pipe[i]);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
    }
    return s;
}

uint16_t test_server_port(const struct test_server *s)
{
    return s->port;
}

unsigned test_server_accepts(struct test_server *s)
{
    return atomic_load(&s->accepts);
}

bool test_server_wait_accepts(struct test_server *s, unsigned n, unsigned timeout_ms)
{
    struct timespec tick = {.tv_nsec = 5 * 1000 * 1000};

    for (unsigned waited = 0; atomic_load(&s->accepts) < n; waited += 5) {
        if (waited >= timeout_ms)
            return false;
        nanosleep(&tick, NULL);
    }
    return true;
}

void test_server_last_peer(struct test_server *s, char *buf, size_t size)
{
    pthread_mutex_lock(&s->lock);
    snprintf(buf, size, "%s", s->peer);
    pthread_mutex_unlock(&s->lock);
}

void test_server_stop(struct test_server *s)
{
    if (s == NULL)
        return;
    atomic_store(&s->stopping, true);
    if (write(s->stop_pipe[1], "x", 1) != 1)
        perror("test server: stop");
    pthread_mutex_lock(&s->lock);
    if (s->conn_fd >= 0)
        shutdown(s->conn_fd, SHUT_RDWR); /* wakes a blocked SSL_accept or recv */
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    SSL_CTX_free(s->ctx);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
