/* tocsin_config_load: read the main file and probes.d/, expand ${VAR}, decode,
 * and hand back every problem as sorted "FILE:LINE:COL: message" lines.
 * Problems with a file as a whole (cannot read it, unknown extension) are
 * reported at 1:1 so every line has the same shape. */
#include "tocsin/config.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "tocsin/maintenance.h"
#include "tree.h"

/* Far above any real config; bounds what a wrong path can make us read. */
#define CONFIG_MAX_BYTES (16u << 20)

struct loaded {
    struct cfg_file *file;
    struct cnode *root; /* NULL when the file could not be parsed */
};

struct loader {
    struct cfg_log log;
    struct loaded *files;
    size_t n;
};

static const char *extension(const char *path)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');

    return dot && (!slash || dot > slash) ? dot : "";
}

static bool is_config_name(const char *name)
{
    const char *ext = extension(name);

    return name[0] != '.' &&
           (strcmp(ext, ".yaml") == 0 || strcmp(ext, ".yml") == 0 || strcmp(ext, ".ini") == 0);
}

/* Reads all of PATH; reports and returns 1 when it cannot. */
static int read_file(struct loader *l, const struct cfg_file *f, char **buf, size_t *len)
{
    FILE *fp = fopen(f->name, "rb");
    int rc = 0;

    *buf = NULL;
    *len = 0;
    if (!fp) {
        cfg_error(&l->log, f, 1, 1, "cannot read config file: %s", strerror(errno));
        return 1;
    }
    *buf = malloc(CONFIG_MAX_BYTES + 1);
    if (!*buf) {
        rc = -ENOMEM;
    } else {
        *len = fread(*buf, 1, CONFIG_MAX_BYTES + 1, fp);
        if (ferror(fp) || *len > CONFIG_MAX_BYTES) {
            cfg_error(&l->log, f, 1, 1, "cannot read config file: %s",
                      ferror(fp) ? strerror(errno) : "larger than 16 MiB");
            rc = 1;
        }
    }
    fclose(fp);
    return rc;
}

static int add_file(struct loader *l, const char *name, const char *dir)
{
    struct loaded *files = realloc(l->files, (l->n + 1) * sizeof(*files));
    struct cfg_file *f;

    if (!files)
        return -ENOMEM;
    l->files = files;
    f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    f->name = strdup(name);
    f->dir = dir ? strdup(dir) : NULL;
    f->index = l->n;
    files[l->n++] = (struct loaded){ f, NULL };
    if (!f->name || (dir && !f->dir))
        return -ENOMEM;
    return 0;
}

static int parse_file(struct loader *l, struct loaded *lf)
{
    const char *ext = extension(lf->file->name);
    char *buf = NULL;
    size_t len;
    int rc;

    if (strcmp(ext, ".yaml") && strcmp(ext, ".yml") && strcmp(ext, ".ini")) {
        cfg_error(&l->log, lf->file, 1, 1, "unknown config file type: use .yaml, .yml or .ini");
        return 0;
    }
    rc = read_file(l, lf->file, &buf, &len);
    if (rc == 0 && strcmp(ext, ".ini") == 0)
        rc = cfg_parse_ini(&l->log, lf->file, buf, len, &lf->root);
    else if (rc == 0)
        rc = cfg_parse_yaml(&l->log, lf->file, buf, len, &lf->root);
    free(buf);
    if (rc == 0 && lf->root)
        rc = cfg_expand_env(&l->log, lf->root);
    return rc < 0 ? rc : 0;
}

static int byte_order(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int config_entry(const struct dirent *e)
{
    return is_config_name(e->d_name);
}

/* DIR is the main file's directory ("" for the current one). */
static int add_probes_d(struct loader *l, const char *dir)
{
    struct dirent **names = NULL;
    char *pd = NULL, *path = NULL;
    int n, rc = -ENOMEM;

    if (asprintf(&pd, "%s%sprobes.d", dir, dir[0] ? "/" : "") < 0) {
        pd = NULL;
        goto out;
    }
    n = scandir(pd, &names, config_entry, byte_order);
    rc = 0;
    if (n < 0) {
        if (errno == ENOMEM)
            rc = -ENOMEM;
        else if (errno != ENOENT && errno != ENOTDIR)
            cfg_error(&l->log, l->files[0].file, 1, 1, "cannot read %s: %s", pd, strerror(errno));
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (rc == 0 && asprintf(&path, "%s/%s", pd, names[i]->d_name) < 0)
            rc = -ENOMEM;
        else if (rc == 0)
            rc = add_file(l, path, pd);
        if (rc == 0)
            rc = parse_file(l, &l->files[l->n - 1]);
        free(path);
        path = NULL;
        free(names[i]);
    }
    free(names);
out:
    free(pd);
    return rc;
}

static int load_all(struct loader *l, const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    int rc;

    /* "/x.yaml" lives in "/", "x.yaml" in the current directory. */
    dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup("");
    if (!dir)
        return -ENOMEM;
    rc = add_file(l, path, dir[0] ? dir : NULL);
    if (rc == 0)
        rc = parse_file(l, &l->files[0]);
    if (rc == 0)
        rc = add_probes_d(l, strcmp(dir, "/") == 0 ? "" : dir);
    free(dir);
    return rc;
}

static int diag_order(const void *pa, const void *pb)
{
    const struct cfg_diag *a = pa, *b = pb;

    if (a->file->index != b->file->index)
        return a->file->index < b->file->index ? -1 : 1;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->col != b->col)
        return a->col < b->col ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void emit_diags(struct cfg_log *log, struct tocsin_diags *diags)
{
    if (log->n > 1) /* qsort(NULL, 0, ...) is undefined: UBSan aborts on it */
        qsort(log->d, log->n, sizeof(*log->d), diag_order);
    for (size_t i = 0; i < log->n; i++) {
        const struct cfg_diag *d = &log->d[i], *prev = i ? &log->d[i - 1] : NULL;

        if (prev && prev->file == d->file && prev->line == d->line && prev->col == d->col &&
            strcmp(prev->msg, d->msg) == 0)
            continue; /* the same problem found twice (e.g. a shared default) */
        tocsin_diags_add(diags, d->file->name, d->line, d->col, "%s", d->msg);
    }
}

static void loader_free(struct loader *l)
{
    for (size_t i = 0; i < l->n; i++) {
        cnode_free(l->files[i].root);
        free(l->files[i].file->name);
        free(l->files[i].file->dir);
        free(l->files[i].file);
    }
    free(l->files);
    cfg_log_free(&l->log);
}

static int decode_loaded(struct loader *l, struct tocsin_config *cfg)
{
    struct cnode **roots = calloc(l->n, sizeof(*roots));
    int rc;

    if (!roots)
        return -ENOMEM;
    for (size_t i = 0; i < l->n; i++)
        roots[i] = l->files[i].root;
    rc = cfg_decode(&l->log, roots, l->n, cfg);
    free(roots);
    return rc;
}

int tocsin_config_load(const char *path, struct tocsin_config **out, struct tocsin_diags *diags)
{
    struct loader l = { 0 };
    struct tocsin_config *cfg = calloc(1, sizeof(*cfg));
    bool parsed = true;
    int rc = cfg ? load_all(&l, path) : -ENOMEM;

    *out = NULL;
    for (size_t i = 0; i < l.n; i++)
        parsed = parsed && l.files[i].root;
    /* A file that did not parse would only add bogus "unknown reference" errors. */
    if (rc == 0 && parsed && !(cfg->path = strdup(path)))
        rc = -ENOMEM;
    if (rc == 0 && parsed)
        rc = decode_loaded(&l, cfg);
    emit_diags(&l.log, diags);
    if (rc == 0 && (l.log.n > 0 || l.log.oom || !parsed))
        rc = -EINVAL;
    loader_free(&l);
    if (rc < 0)
        tocsin_config_free(cfg);
    else
        *out = cfg;
    return rc;
}

/* ---- diagnostics ---------------------------------------------------------- */

void tocsin_diags_add(struct tocsin_diags *diags, const char *file, int line, int col,
                      const char *fmt, ...)
{
    char *msg = NULL, *full = NULL;
    va_list ap;
    int len;

    if (diags->n == diags->cap) {
        size_t cap = diags->cap ? diags->cap * 2 : 8;
        char **lines = realloc(diags->lines, cap * sizeof(*lines));

        if (!lines)
            return; /* the caller still gets the error code */
        diags->lines = lines;
        diags->cap = cap;
    }
    va_start(ap, fmt);
    len = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (len < 0)
        return;
    if (asprintf(&full, "%s:%d:%d: %s", file, line, col, msg) >= 0)
        diags->lines[diags->n++] = full;
    free(msg);
}

void tocsin_diags_free(struct tocsin_diags *diags)
{
    for (size_t i = 0; i < diags->n; i++)
        free(diags->lines[i]);
    free(diags->lines);
    diags->lines = NULL;
    diags->n = diags->cap = 0;
}

/* ---- the model ------------------------------------------------------------ */

/* Credentials do not outlive the config in freed heap memory. */
static void free_secret(char *s)
{
    if (s)
        explicit_bzero(s, strlen(s));
    free(s);
}

static void kvlist_free(struct tocsin_kvlist *list)
{
    for (size_t i = 0; i < list->n; i++) {
        free(list->items[i].name);
        free(list->items[i].value);
    }
    free(list->items);
}

static void tls_free(struct tocsin_tls_conf *t)
{
    free(t->ca_file);
    free(t->server_name);
    free(t->cert_file);
    free(t->key_file);
}

static void webhook_free(struct tocsin_webhook_conf *w)
{
    free(w->name);
    free(w->url);
    free(w->format);
    /* secret is secrets[0], not a copy */
    for (size_t i = 0; i < w->n_secrets; i++)
        free_secret(w->secrets[i]);
    free(w->secrets);
    kvlist_free(&w->headers);
    tls_free(&w->tls);
    free_secret(w->proxy); /* may carry user:password */
    free_secret(w->routing_key);
    for (size_t i = 0; i < w->n_urls; i++)
        free(w->urls[i]);
    free(w->urls);
}

static void policy_free(struct tocsin_policy_conf *p)
{
    for (size_t i = 0; i < p->n_levels; i++)
        free(p->levels[i].notify);
    free(p->levels);
    free(p->name);
}

static void regex_free(regex_t *re)
{
    if (re)
        regfree(re);
    free(re);
}

static void expect_free(struct tocsin_expect_conf *e)
{
    free(e->body_contains);
    free(e->body_not_contains);
    free(e->body_regex);
    free(e->body_not_regex);
    regex_free(e->body_regex_re);
    regex_free(e->body_not_regex_re);
    kvlist_free(&e->headers);
    free(e->contains);
}

static void monitor_free(struct tocsin_monitor_conf *m)
{
    free(m->id);
    free(m->name);
    free(m->url);
    kvlist_free(&m->headers);
    tocsin_monitor_free_expect_status(m);
    free(m->body);
    free(m->basic_auth_user);
    free_secret(m->basic_auth_password);
    free_secret(m->bearer_token);
    expect_free(&m->expect);
    tls_free(&m->tls);
    free(m->host);
    free(m->send);
    free(m->regions);
    free(m->depends_on);
    for (size_t i = 0; i < m->n_maintenance; i++) {
        tocsin_cron_free(m->maintenance[i].cron);
        free(m->maintenance[i].cron_text);
        free(m->maintenance[i].timezone);
    }
    free(m->maintenance);
}

static void region_free(struct tocsin_region_conf *r)
{
    free(r->name);
    free(r->source_address);
    free(r->interface);
    for (size_t i = 0; i < r->n_dns_servers; i++)
        free(r->dns_servers[i]);
    free(r->dns_servers);
    free_secret(r->proxy); /* may carry user:password */
}

void tocsin_config_free(struct tocsin_config *config)
{
    if (!config)
        return;
    for (size_t i = 0; i < config->n_webhooks; i++)
        webhook_free(&config->webhooks[i]);
    for (size_t i = 0; i < config->n_policies; i++)
        policy_free(&config->policies[i]);
    /* A load that failed half way never counted n_monitors_all. */
    for (size_t i = 0; i < config->n_monitors || i < config->n_monitors_all; i++) {
        if (config->monitors[i].regions == config->default_regions)
            config->monitors[i].regions = NULL; /* shared: freed once, below */
        monitor_free(&config->monitors[i]);
    }
    free(config->default_regions);
    for (size_t i = 0; i < config->n_regions; i++)
        region_free(&config->regions[i]);
    free(config->webhooks);
    free(config->policies);
    free(config->monitors);
    free(config->regions);
    free(config->agent.region);
    free(config->agent.state_dir);
    free(config->agent.listen);
    free(config->agent.canaries);
    free(config->path);
    free(config);
}

const struct tocsin_monitor_conf *tocsin_config_monitor(const struct tocsin_config *config,
                                                        const char *id)
{
    for (size_t i = 0; i < config->n_monitors; i++)
        if (config->monitors[i].id && strcmp(config->monitors[i].id, id) == 0)
            return &config->monitors[i];
    return NULL;
}

const struct tocsin_status_range tocsin_default_expect_status = {200, 299};

void tocsin_monitor_free_expect_status(struct tocsin_monitor_conf *monitor)
{
    if (monitor->expect_status != &tocsin_default_expect_status)
        free((void *)monitor->expect_status); /* a list of its own, from "status" */
    monitor->expect_status = NULL;
    monitor->n_expect_status = 0;
}

bool tocsin_monitor_status_ok(const struct tocsin_monitor_conf *monitor, int status)
{
    for (size_t i = 0; i < monitor->n_expect_status; i++)
        if (status >= monitor->expect_status[i].lo && status <= monitor->expect_status[i].hi)
            return true;
    return false;
}

void tocsin_monitor_expect_status_str(const struct tocsin_monitor_conf *monitor, char *buf,
                                      size_t size)
{
    size_t len = 0;
    int n;

    if (size == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < monitor->n_expect_status && len < size; i++) {
        const struct tocsin_status_range *r = &monitor->expect_status[i];

        if (r->lo == r->hi)
            n = snprintf(buf + len, size - len, "%s%d", i ? "," : "", r->lo);
        else
            n = snprintf(buf + len, size - len, "%s%d-%d", i ? "," : "", r->lo, r->hi);
        if (n < 0)
            break;
        len += (size_t)n;
    }
}
