/* What probes run on: one c-ares resolver per region and the probes' curl multi,
 * bound to one loop.  Used by the agent and by the one-shot `tocsin probe`. */
#ifndef TOCSIN_ENGINE_H
#define TOCSIN_ENGINE_H

#include "tocsin/config.h"
#include "tocsin/curl_uv.h"
#include "tocsin/probe.h"
#include "tocsin/resolver.h"

struct tocsin_engine {
    struct tocsin_probe_env env;
    struct tocsin_curl_uv curl;
    struct tocsin_resolver **resolvers;
    size_t n_resolvers;
    struct tocsin_url_parts *url_parts; /* env.url_parts: one per monitor */
    size_t n_url_parts;
    struct curl_slist *default_headers; /* env.default_headers */
    void (*on_closed)(struct tocsin_engine *e);
};

/* 0 or -errno; on failure nothing is left open. */
int tocsin_engine_init(struct tocsin_engine *e, uv_loop_t *loop, const struct tocsin_config *config);
/* Every check must be finished or cancelled.  ON_CLOSED fires once all handles closed. */
void tocsin_engine_close(struct tocsin_engine *e, void (*on_closed)(struct tocsin_engine *e));

#endif
