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

int tocsin_engine_init(struct tocsin_engine *e, uv_loop_t *loop, const struct tocsin_config *config)
{
    size_t n = config->n_regions;
    int rc;

    *e = (struct tocsin_engine){.n_resolvers = 0};
    e->resolvers = calloc(n ? n : 1, sizeof(*e->resolvers));
    if (e->resolvers == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        rc = tocsin_resolver_new(loop, &config->regions[i], &e->resolvers[i]);
        if (rc < 0)
            goto fail;
        e->n_resolvers++;
    }
    rc = tocsin_curl_uv_init(&e->curl, loop, (size_t)config->agent.max_concurrency);
    if (rc < 0)
        goto fail;
    e->env = (struct tocsin_probe_env){
        .loop = loop, .curl = &e->curl, .resolvers = e->resolvers, .config = config};
    return 0;
fail:
    close_resolvers(e);
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
    tocsin_tls_cache_clear(); /* a CA file changed on disk is read again next time */
    tocsin_curl_uv_close(&e->curl, on_curl_closed);
}
