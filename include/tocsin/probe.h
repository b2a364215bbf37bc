/* Probe kinds: one const vtable each (probes/http.c, probes/tcp.c).  A probe is
 * a chain of small callbacks with its timeout armed first and one finish path
 * that records the result and frees (relayd's check engine). */
#ifndef TOCSIN_PROBE_H
#define TOCSIN_PROBE_H

#include <uv.h>

#include "tocsin/config.h"
#include "tocsin/curl_uv.h"
#include "tocsin/resolver.h"
#include "tocsin/result.h"

/* An HTTP monitor's URL as curl parses it (host, port with the scheme's
 * default), parsed on the monitor's first check and kept, since URL parsing
 * was a tenth of a plain check's own CPU.  HOST is NULL until then, or when
 * the URL cannot be used. */
struct tocsin_url_parts {
    char *host;
    char *port;
    bool https;
    bool literal;  /* HOST is an IP address: nothing to resolve */
    bool parsed;
};

/* What every probe may use; owned by the agent (or `tocsin probe`). */
struct tocsin_probe_env {
    uv_loop_t *loop;
    struct tocsin_curl_uv *curl;          /* the probes' curl multi */
    struct tocsin_resolver **resolvers;   /* one per region, by region index */
    const struct tocsin_config *config;
    struct tocsin_url_parts *url_parts;   /* per monitor, by monitor index */
    /* "User-Agent: tocsin/VERSION" alone, the headers of a check that adds
     * none: curl 7.88 formats CURLOPT_USERAGENT anew for every request, which
     * was 6% of a plain check's instructions. */
    const struct curl_slist *default_headers;
};

/* Fires exactly once per started check, unless the check was cancelled. */
typedef void (*tocsin_probe_cb)(void *data, const struct tocsin_result *result);

struct tocsin_probe_op; /* one check in flight; private to its kind */

struct tocsin_probe_kind {
    const char *name;
    /* Starts one check of MONITOR from REGION.  0 and *OP set, or -errno (then CB
     * never fires).  CB never fires inside start. */
    int (*start)(const struct tocsin_probe_env *env, const struct tocsin_monitor_conf *monitor,
                 size_t region, tocsin_probe_cb cb, void *data, struct tocsin_probe_op **op);
    /* Stops OP: its callback will not fire and its memory is reclaimed. */
    void (*cancel)(struct tocsin_probe_op *op);
};

extern const struct tocsin_probe_kind tocsin_probe_http;
extern const struct tocsin_probe_kind tocsin_probe_tcp;

const struct tocsin_probe_kind *tocsin_probe_kind_of(enum tocsin_probe_type type);

/* Milliseconds since START (uv_hrtime nanoseconds), rounded down. */
int64_t tocsin_elapsed_ms(uint64_t start_ns);

/* The same, rounded up: for a check's total, so it is never below a phase
 * that was itself rounded up (a TLS handshake never reads as 0 ms). */
int64_t tocsin_elapsed_ms_ceil(uint64_t start_ns);

#endif
