/* libcurl's multi_socket API driven by a libuv loop (curl's sockets in one
 * epoll set, fdpoll.h; one uv_timer from CURLMOPT_TIMERFUNCTION), plus a
 * pool of easy handles.  The probes and the sender each own one. */
#ifndef TOCSIN_CURL_UV_H
#define TOCSIN_CURL_UV_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tocsin/fdpoll.h"

/* What every request of the agent (checks, webhooks) says it is. */
#define TOCSIN_USER_AGENT "tocsin/" TOCSIN_VERSION

struct tocsin_curl_req;
/* Called once when the transfer of REQ ends (after it left the multi handle). */
typedef void (*tocsin_curl_done_cb)(struct tocsin_curl_req *req, CURLcode code);

/* Embed in the caller's per-transfer object; container_of gets it back. */
struct tocsin_curl_req {
    CURL *easy;
    tocsin_curl_done_cb done;
};

/* What a pooled easy handle's options were set for, beyond those every request
 * sets anew: words its user fills (zero the rest) and the pool compares whole.
 * A handle is handed back without curl_easy_reset only to a user asking for the
 * same profile, whose options it then already holds (libcurl keeps options
 * between transfers; the reset and the options set again after it cost about 5%
 * of an HTTP check).  Words may hold pointers into the config: a pool lives and
 * dies with its engine, which lives and dies with its config. */
struct tocsin_curl_profile {
    uint64_t words[4];
};

struct tocsin_curl_idle {
    CURL *easy;
    struct tocsin_curl_profile profile; /* all zero: none, reset before reuse */
};

/* Sockets one curl call may start connecting that are looked at again at once. */
#define TOCSIN_CURL_UV_KICKS 64

struct tocsin_curl_uv {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    struct tocsin_fdtable fds;
    struct tocsin_curl_idle *pool; /* idle easy handles, the latest released last */
    size_t n_pool;
    size_t pool_cap;
    size_t running;       /* transfers added and not yet done */
    curl_socket_t kick[TOCSIN_CURL_UV_KICKS]; /* connecting since the last curl call */
    size_t n_kick;
    bool in_action;       /* inside socket_action: kicks are drained on return */
    bool closing;
    void (*on_closed)(struct tocsin_curl_uv *cu);
};

/* 0 or a negative errno-style code.  POOL_CAP bounds the idle easy handles kept. */
int tocsin_curl_uv_init(struct tocsin_curl_uv *cu, uv_loop_t *loop, size_t pool_cap);

/* An easy handle from the pool (reset) or a new one, with this multi's own
 * options (close-socket callback, no signals) set; NULL on ENOMEM. */
CURL *tocsin_curl_uv_easy(struct tocsin_curl_uv *cu);
/* An idle easy handle last released with PROFILE, not reset (one of the few
 * released last is looked at), or NULL: then take tocsin_curl_uv_easy(). */
CURL *tocsin_curl_uv_easy_kept(struct tocsin_curl_uv *cu, const struct tocsin_curl_profile *profile);
/* Gives an easy handle back to the pool (or frees it when the pool is full).
 * PROFILE: what its options were set for, or NULL for nothing to keep. */
void tocsin_curl_uv_release_easy(struct tocsin_curl_uv *cu, CURL *easy,
                                 const struct tocsin_curl_profile *profile);

/* Starts REQ->easy (taken from CU's pool: it carries CU's socket options);
 * REQ->done fires once, later, from the loop.  0 or -errno; on failure the
 * callback never fires. */
int tocsin_curl_uv_add(struct tocsin_curl_uv *cu, struct tocsin_curl_req *req);

/* Aborts REQ's transfer; its done callback will not fire. */
void tocsin_curl_uv_cancel(struct tocsin_curl_uv *cu, struct tocsin_curl_req *req);

/* Host (IPv6 in brackets) and port (the scheme's default filled in) of URL as
 * curl will see them, so a CONNECT_TO entry matches exactly; HTTPS (may be NULL)
 * tells whether the scheme is https.  Only http and https URLs are accepted.
 * 0 or -EINVAL / -ENOMEM; free HOST and PORT with curl_free. */
int tocsin_curl_url_parts(const char *url, char **host, char **port, bool *https);

/* The one-entry CURLOPT_CONNECT_TO list "HOST:PORT:ADDR:PORT"; NULL on ENOMEM. */
struct curl_slist *tocsin_curl_connect_to(const char *host, const char *port, const char *addr);

/* The CA certificates EASY trusts: CA_FILE, or curl's built-in bundle when NULL,
 * and never also a CA directory.  A CA directory (Debian's libcurl has
 * /etc/ssl/certs beside its bundle) keeps curl from caching the store it builds
 * (CURLOPT_CA_CACHE_TIMEOUT), so every TLS connection parsed the whole bundle
 * again on the loop (~30-70 ms for 144 certificates), and it trusted the system
 * CAs beside a CA_FILE (the TCP probe trusts CA_FILE alone).  Without a
 * built-in bundle the built-in directory stays. */
void tocsin_curl_set_ca(CURL *easy, const char *ca_file);

/* Whether a transfer that failed with CODE and ERRBUF (its CURLOPT_ERRORBUFFER)
 * met an RST right behind the connect: curl 7.88 then keeps its first
 * message, a failed getpeername() that did not fail the transfer, and the
 * caller should say "reset before any answer" instead. */
bool tocsin_curl_reset_before_answer(CURLcode code, const char *errbuf);

/* Appends "NAME: VALUE" to *LIST; an empty VALUE removes a header curl would
 * add by itself.  0 or -ENOMEM (then *LIST is unchanged). */
int tocsin_curl_header_append(struct curl_slist **list, const char *name, const char *value);

/* Tears down (transfers must be finished or cancelled); ON_CLOSED fires when
 * every handle is closed, after which CU may be freed. */
void tocsin_curl_uv_close(struct tocsin_curl_uv *cu, void (*on_closed)(struct tocsin_curl_uv *cu));

#endif
