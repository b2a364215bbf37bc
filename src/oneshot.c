/* `tocsin probe`: see include/tocsin/oneshot.h. */
#include "tocsin/oneshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tocsin/engine.h"

struct oneshot {
    struct tocsin_engine engine;
    struct tocsin_oneshot_result *results;
    size_t n;
    size_t pending;
};

struct pending_check {
    struct oneshot *run;
    size_t index;
};

static void on_result(void *data, const struct tocsin_result *result)
{
    struct pending_check *check = data;
    struct oneshot *run = check->run;

    run->results[check->index].result = *result;
    free(check);
    if (--run->pending == 0)
        tocsin_engine_close(&run->engine, NULL);
}

static bool selected(const struct tocsin_monitor_conf *m, char *const *ids, size_t n_ids)
{
    if (n_ids == 0)
        return true;
    for (size_t i = 0; i < n_ids; i++)
        if (strcmp(ids[i], m->id) == 0)
            return true;
    return false;
}

/* Checks every id and the region exist before anything runs. */
static int validate(const struct tocsin_config *config, char *const *ids, size_t n_ids,
                    const char *region, size_t *region_index, const char **bad)
{
    for (size_t i = 0; i < n_ids; i++) {
        if (tocsin_config_monitor(config, ids[i]) == NULL) {
            *bad = ids[i];
            return -ENOENT;
        }
    }
    *region_index = config->n_regions;
    if (region == NULL)
        return 0;
    for (size_t r = 0; r < config->n_regions; r++)
        if (strcmp(config->regions[r].name, region) == 0)
            *region_index = r;
    if (*region_index == config->n_regions) {
        *bad = region;
        return -ENOENT;
    }
    return 0;
}

/* Lists the (monitor, region) checks to run into run->results. */
static int plan(struct oneshot *run, const struct tocsin_config *config, char *const *ids,
                size_t n_ids, size_t only_region)
{
    size_t cap = 0;

    for (size_t i = 0; i < config->n_monitors; i++)
        cap += config->monitors[i].n_regions;
    run->results = calloc(cap ? cap : 1, sizeof(*run->results));
    if (run->results == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < config->n_monitors; i++) {
        const struct tocsin_monitor_conf *m = &config->monitors[i];
        if (!selected(m, ids, n_ids))
            continue;
        for (size_t r = 0; r < m->n_regions; r++) {
            if (only_region != config->n_regions && m->regions[r] != only_region)
                continue;
            run->results[run->n].monitor = i;
            run->results[run->n].result.region = m->regions[r];
            run->n++;
        }
    }
    return 0;
}

static void start_all(struct oneshot *run, const struct tocsin_config *config)
{
    run->pending = 1; /* held until every check started, so none closes the engine early */
    for (size_t i = 0; i < run->n; i++) {
        struct tocsin_oneshot_result *slot = &run->results[i];
        const struct tocsin_monitor_conf *m = &config->monitors[slot->monitor];
        struct pending_check *check = malloc(sizeof(*check));
        struct tocsin_probe_op *op;
        int rc = check ? 0 : -ENOMEM;

        if (check) {
            *check = (struct pending_check){.run = run, .index = i};
            rc = tocsin_probe_kind_of(m->type)->start(&run->engine.env, m, slot->result.region,
                                                      on_result, check, &op);
        }
        if (rc < 0) {
            free(check);
            tocsin_result_fail(&slot->result, TOCSIN_ERR_INTERNAL, "cannot start check: %s",
                               strerror(-rc));
            continue;
        }
        run->pending++;
    }
    if (--run->pending == 0)
        tocsin_engine_close(&run->engine, NULL);
}

int tocsin_oneshot_run(const struct tocsin_config *config, char *const *ids, size_t n_ids,
                       const char *region, struct tocsin_oneshot_result **out, size_t *n_out,
                       const char **bad)
{
    struct oneshot run = {.n = 0};
    size_t only_region;
    uv_loop_t loop;
    int rc = validate(config, ids, n_ids, region, &only_region, bad);

    if (rc < 0)
        return rc;
    rc = plan(&run, config, ids, n_ids, only_region);
    if (rc == 0)
        rc = uv_loop_init(&loop);
    if (rc < 0) {
        free(run.results);
        return rc;
    }
    rc = tocsin_engine_init(&run.engine, &loop, config);
    if (rc == 0) {
        start_all(&run, config);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    if (uv_loop_close(&loop) != 0 && rc == 0)
        rc = -EBUSY;
    if (rc < 0) {
        free(run.results);
        return rc;
    }
    *out = run.results;
    *n_out = run.n;
    return 0;
}
