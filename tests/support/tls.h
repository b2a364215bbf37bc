/* Test PKI and a loopback TCP/TLS server.
 *
 * Certificates are made with OpenSSL's APIs into a temporary directory (no
 * openssl(1) needed): a CA, leaves it signs with chosen SANs and validity, and
 * self-signed leaves.  The server runs on its own thread with blocking OpenSSL,
 * one connection at a time, bound to 127.0.0.1 on an ephemeral port. */
#ifndef TEST_TLS_H
#define TEST_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TEST_PATH_MAX 256

/* A key pair and its certificate, as PEM files. */
struct test_cert {
    char cert[TEST_PATH_MAX];
    char key[TEST_PATH_MAX];
};

struct test_pki {
    char dir[64];            /* removed with everything in it by test_pki_free */
    struct test_cert ca;
    void *ca_key;            /* EVP_PKEY * */
    void *ca_x509;           /* X509 * */
    unsigned n_files;
};

/* Makes a temporary directory and a CA in it.  0 or -1. */
int test_pki_init(struct test_pki *pki);

/* Issues NAME.pem/NAME.key for SANS (OpenSSL syntax: "DNS:localhost,IP:127.0.0.1"),
 * valid from an hour ago until VALID_SECS from now, signed by the CA or, with
 * SELF_SIGNED, by itself.  0 or -1. */
int test_pki_issue(struct test_pki *pki, const char *name, const char *sans, long valid_secs,
                   bool self_signed, struct test_cert *out);

/* Adds the CA to the PKI's directory as SUBJECT-HASH.0, so the directory is a
 * hashed CA directory (what `openssl rehash` makes, SSL_CERT_DIR).  0 or -1. */
int test_pki_hash_ca(const struct test_pki *pki);

void test_pki_free(struct test_pki *pki);

enum test_server_mode {
    TEST_SERVER_REPLY,  /* reads a line, waits delay_ms, sends reply, then waits for the peer */
    TEST_SERVER_BANNER, /* sends reply on connect, then waits for the peer */
    TEST_SERVER_SILENT, /* accepts (and handshakes) and says nothing until the peer leaves */
    TEST_SERVER_RESET,  /* accepts (and handshakes), then resets: SO_LINGER 0 + close */
    TEST_SERVER_CLOSE,  /* accepts (and handshakes), then sends FIN at once (shutdown) */
};

struct test_server_opts {
    enum test_server_mode mode;
    const char *reply;        /* REPLY and BANNER */
    unsigned delay_ms;        /* REPLY: before answering */
    const struct test_cert *tls; /* NULL: plain TCP */
};

struct test_server;

/* NULL on failure. */
struct test_server *test_server_start(const struct test_server_opts *opts);
uint16_t test_server_port(const struct test_server *s);
unsigned test_server_accepts(struct test_server *s);
/* Waits (bounded) until N connections were accepted: a connect-only check can
 * end before the server thread has called accept().  False on timeout. */
bool test_server_wait_accepts(struct test_server *s, unsigned n, unsigned timeout_ms);
/* Numeric address the last connection came from ("" before any). */
void test_server_last_peer(struct test_server *s, char *buf, size_t size);
/* Returns promptly, even with a connection open or a handshake under way. */
void test_server_stop(struct test_server *s);

#endif
