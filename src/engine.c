/* Resolvers per region and the probes' curl multi: see include/tocsin/engine.h. */
#include "tocsin/engine.h"
#include "tocsin/tls.h"

#include <errno.h>
#include <stdlib.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static void close_resolvers(struct tocsin_engine *e)
{
    for (size_t i = 0; i < e->n_resolvers; i++)
        tocsin_resolver_close(e->resolvers[i]);
    free(e->resolvers);
    e->resolvers = NULL;
    e->n_resolvers = 0;
}

static void free_url_parts(struct tocsin_engine *e)
{
    for (size_t i = 0; e->url_parts && i < e->n_url_parts; i++) {
        curl_free(e->url_parts[i].host);
        curl_free(e->url_parts[i].port);
    }
    free(e->url_parts);
    e->url_parts = NULL;
    curl_slist_free_all(e->default_headers);
    e->default_headers = NULL;
}

int tocsin_engine_init(struct tocsin_engine *e, uv_loop_t *loop, const struct tocsin_config *config)
{
    size_t n = config->n_regions;
    int rc;

    *e = (struct tocsin_engine){.n_resolvers = 0};
    e->resolvers = calloc(n ? n : 1, sizeof(*e->resolvers));
    /* Zero pages: a monitor's entry costs memory only once an HTTP check used it. */
    e->url_parts = calloc(config->n_monitors ? config->n_monitors : 1, sizeof(*e->url_parts));
    e->n_url_parts = config->n_monitors;
    rc = -ENOMEM;
    if (e->resolvers == NULL || e->url_parts == NULL ||
        tocsin_curl_header_append(&e->default_headers, "User-Agent", TOCSIN_USER_AGENT) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        rc = tocsin_resolver_new(loop, &config->regions[i], &e->resolvers[i]);
        if (rc < 0)
            goto fail;
        e->n_resolvers++;
    }
    rc = tocsin_curl_uv_init(&e->curl, loop, (size_t)config->agent.max_concurrency);
    if (rc < 0)
        goto fail;
    e->env = (struct tocsin_probe_env){.loop = loop,
                                       .curl = &e->curl,
                                       .resolvers = e->resolvers,
                                       .config = config,
                                       .url_parts = e->url_parts,
                                       .default_headers = e->default_headers};
    return 0;
fail:
    close_resolvers(e);
    free_url_parts(e);
    return rc;
}

static void on_curl_closed(struct tocsin_curl_uv *cu)
{
    struct tocsin_engine *e = container_of(cu, struct tocsin_engine, curl);

    if (e->on_closed)
        e->on_closed(e);
}

void tocsin_engine_close(struct tocsin_engine *e, void (*on_closed)(struct tocsin_engine *e))
{
    e->on_closed = on_closed;
    /* Resolvers free themselves once their handles close; nothing waits on them. */
    close_resolvers(e);
    free_url_parts(e); /* no check runs any more */
    tocsin_tls_cache_clear(); /* a CA file changed on disk is read again next time */
    tocsin_curl_uv_close(&e->curl, on_curl_closed);
}
