/* The config pipeline on one in-memory file, as tocsin_config_load runs it on
 * the main file (src/config/load.c): parse (YAML or INI) -> ${VAR} expansion ->
 * decode into the model -> every diagnostic formatted -> everything freed.
 * No probes.d/ and no disk read of the input, so a run costs microseconds. */
#ifndef TOCSIN_FUZZ_CONFIG_H
#define TOCSIN_FUZZ_CONFIG_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "fuzz.h"
#include "tocsin/config.h"
#include "tocsin/log.h"
#include "tree.h"

typedef int (*fuzz_parse_fn)(struct cfg_log *log, const struct cfg_file *file, const char *buf,
                             size_t len, struct cnode **root);

/* ${TOCSIN_FUZZ_SECRET} and ${TOCSIN_FUZZ_EMPTY} resolve (the seeds use them);
 * warnings (world-readable secret_file) are not printed a million times. */
static inline void fuzz_config_init(void)
{
    setenv("TOCSIN_FUZZ_SECRET", "s3cr\"et\\\n\x01", 1);
    setenv("TOCSIN_FUZZ_EMPTY", "", 1);
    setenv("TOCSIN_FUZZ_URL", "https://user:pw@example.com/h", 1);
    tocsin_log_setup(TOCSIN_LOG_ERROR, TOCSIN_LOG_LOGFMT);
}

static inline void fuzz_config_run(const uint8_t *data, size_t size, const char *name,
                                   fuzz_parse_fn parse)
{
    /* The directory secret_file paths are relative to: nothing to read there. */
    char fname[32], dir[] = "/nonexistent/tocsin-fuzz";
    struct cfg_file file = { .name = fname, .dir = dir, .index = 0 };
    struct cfg_log log = { 0 };
    struct tocsin_diags diags = { 0 };
    struct cnode *root = NULL;
    struct tocsin_config *cfg = calloc(1, sizeof(*cfg));
    int rc;

    FUZZ_CHECK(cfg != NULL);
    snprintf(fname, sizeof(fname), "%s", name);
    /* The loader hands the parsers a buffer with no NUL after it (read_file). */
    rc = parse(&log, &file, (const char *)data, size, &root);
    FUZZ_CHECK(rc == 0 || rc == -ENOMEM);
    if (rc == 0 && root) {
        FUZZ_CHECK(root->kind == CNODE_MAP);
        rc = cfg_expand_env(&log, root);
    }
    if (rc == 0 && root) {
        cfg->path = strdup(fname);
        FUZZ_CHECK(cfg->path != NULL);
        rc = cfg_decode(&log, &root, 1, cfg);
        FUZZ_CHECK(rc == 0 || rc == -ENOMEM);
    }
    /* A file that did not parse must say why. */
    FUZZ_CHECK(root != NULL || log.n > 0 || log.oom || rc < 0);
    for (size_t i = 0; i < log.n; i++) {
        const struct cfg_diag *d = &log.d[i];

        FUZZ_CHECK(d->msg != NULL && d->file == &file);
        FUZZ_CHECK(d->line >= 1 && d->col >= 1);
        tocsin_diags_add(&diags, d->file->name, d->line, d->col, "%s", d->msg);
    }
    if (rc == 0 && root && log.n == 0 && !log.oom) {
        /* A valid config: what the engine relies on holds. */
        FUZZ_CHECK(cfg->n_regions >= 1 && cfg->n_policies >= 1);
        for (size_t i = 0; i < cfg->n_monitors; i++) {
            const struct tocsin_monitor_conf *m = &cfg->monitors[i];
            char buf[256];

            FUZZ_CHECK(m->id && tocsin_config_valid_id(m->id));
            FUZZ_CHECK(m->name != NULL);
            FUZZ_CHECK(m->timeout_ms > 0 && m->timeout_ms <= m->interval_ms);
            FUZZ_CHECK(m->policy < cfg->n_policies);
            FUZZ_CHECK(m->quorum >= 1 && (size_t)m->quorum <= m->n_regions);
            for (size_t r = 0; r < m->n_regions; r++)
                FUZZ_CHECK(m->regions[r] < cfg->n_regions);
            for (size_t p = 0; p < m->n_depends_on; p++)
                FUZZ_CHECK(m->depends_on[p] < cfg->n_monitors_all);
            FUZZ_CHECK(tocsin_config_monitor(cfg, m->id) != NULL);
            tocsin_monitor_expect_status_str(m, buf, sizeof(buf));
            (void)tocsin_monitor_status_ok(m, 200);
        }
        for (size_t i = 0; i < cfg->n_policies; i++) {
            const struct tocsin_policy_conf *p = &cfg->policies[i];

            for (size_t l = 0; l < p->n_levels; l++) {
                FUZZ_CHECK(p->levels[l].after >= p->failure_threshold);
                FUZZ_CHECK(l == 0 || p->levels[l].after > p->levels[l - 1].after);
                for (size_t w = 0; w < p->levels[l].n_notify; w++)
                    FUZZ_CHECK(p->levels[l].notify[w] < cfg->n_webhooks);
            }
        }
        for (size_t i = 0; i < cfg->n_webhooks; i++)
            FUZZ_CHECK(cfg->webhooks[i].url || cfg->webhooks[i].n_urls > 0);
    }
    tocsin_diags_free(&diags);
    cnode_free(root);
    cfg_log_free(&log);
    tocsin_config_free(cfg);
}

#endif
