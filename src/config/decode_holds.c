/* A monitor's maintenance windows and depends_on: what holds its alerts (DESIGN
 * section 4).  Parents are resolved, and cycles found, once every monitor is known. */
#include "decode_internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsin/maintenance.h"

/* ---- maintenance windows -------------------------------------------------- */

struct window_dec {
    struct tocsin_maintenance_conf *w;
    struct cnode *cron, *duration, *timezone, *start, *end;
};

static void mw_cron(struct dctx *d, struct cnode *val, void *obj)
{
    struct window_dec *wd = obj;
    char err[256];
    int rc;

    wd->cron = val;
    if (!dec_want(d, val, CNODE_SCALAR))
        return;
    rc = tocsin_cron_parse(val->value, &wd->w->cron, err, sizeof(err));
    if (rc == -ENOMEM)
        return dec_oom(d);
    if (rc < 0 && val->sensitive)
        cfg_error_at(d->log, val, "bad cron \"<redacted>\"");
    else if (rc < 0)
        cfg_error_at(d->log, val, "%s", err);
    else
        dec_set_str(d, val, &wd->w->cron_text);
}

static void mw_duration(struct dctx *d, struct cnode *val, void *obj)
{
    struct window_dec *wd = obj;

    wd->duration = val;
    dec_get_duration(d, val, &wd->w->duration_ms);
}

/* The closest zone in the same zoneinfo directory as NAME, into HINT. */
static bool suggest_timezone(const char *name, char *hint, size_t size)
{
    const char *slash = strrchr(name, '/'), *best;
    char dirpath[PATH_MAX];
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    bool found = false;
    DIR *dir;

    snprintf(dirpath, sizeof(dirpath), "%s/%.*s", TOCSIN_ZONEINFO_DIR,
             slash ? (int)(slash - name) : 0, name);
    if (strstr(name, "..") || !(dir = opendir(dirpath)))
        return false;
    while ((e = readdir(dir)) && n < 1024) {
        char **more;

        if (e->d_name[0] == '.' || !(more = realloc(names, (n + 1) * sizeof(*names))))
            continue;
        names = more;
        if ((names[n] = strdup(e->d_name)))
            n++;
    }
    closedir(dir);
    best = cfg_suggest(slash ? slash + 1 : name, (const char *const *)names, n);
    if (best) {
        snprintf(hint, size, "%.*s%s", slash ? (int)(slash + 1 - name) : 0, name, best);
        found = tocsin_config_timezone_exists(hint);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return found;
}

static void mw_timezone(struct dctx *d, struct cnode *val, void *obj)
{
    struct window_dec *wd = obj;
    char hint[256];

    wd->timezone = val;
    if (!dec_want(d, val, CNODE_SCALAR))
        return;
    if (tocsin_config_timezone_exists(val->value))
        return dec_set_str(d, val, &wd->w->timezone);
    if (!val->sensitive && suggest_timezone(val->value, hint, sizeof(hint)))
        cfg_error_at(d->log, val, "unknown timezone \"%s\"%s (did you mean \"%s\"?)",
                     cnode_shown(val), d->where, hint);
    else
        cfg_error_at(d->log, val, "unknown timezone \"%s\"%s", cnode_shown(val), d->where);
}

static void set_timestamp(struct dctx *d, struct cnode *val, int64_t *out)
{
    if (!dec_want(d, val, CNODE_SCALAR))
        return;
    if (tocsin_config_parse_timestamp(val->value, out) < 0)
        cfg_error_at(d->log, val,
                     "bad timestamp \"%s\" for \"%s\": use RFC 3339, e.g. 2026-12-24T22:00:00Z",
                     cnode_shown(val), d->key);
}

static void mw_start(struct dctx *d, struct cnode *val, void *obj)
{
    struct window_dec *wd = obj;

    wd->start = val;
    set_timestamp(d, val, &wd->w->start);
}

static void mw_end(struct dctx *d, struct cnode *val, void *obj)
{
    struct window_dec *wd = obj;

    wd->end = val;
    set_timestamp(d, val, &wd->w->end);
}

static const struct directive window_table[] = {
    { "cron", mw_cron, 0 },   { "duration", mw_duration, 0 }, { "timezone", mw_timezone, 0 },
    { "start", mw_start, 0 }, { "end", mw_end, 0 },
};

/* A window is cron + duration (+ timezone) or start + end, never a mix: the
 * first key of the kind that comes second is the one reported. */
static void check_window(struct dctx *d, struct cnode *map, struct window_dec *wd, size_t before)
{
    const struct cnode *cron_key = NULL, *once_key = NULL;

    for (size_t i = 0; i < map->n; i++) {
        const char *k = map->keys[i]->value;
        bool once = strcmp(k, "start") == 0 || strcmp(k, "end") == 0;

        if (!once && !dec_find_directive(window_table, N(window_table), k))
            continue;
        if (once && !once_key)
            once_key = map->keys[i];
        else if (!once && !cron_key)
            cron_key = map->keys[i];
    }
    if (cron_key && once_key) {
        const struct cnode *later = cron_key->line > once_key->line ||
                                            (cron_key->line == once_key->line &&
                                             cron_key->col > once_key->col)
                                        ? cron_key
                                        : once_key;

        cfg_error_at(d->log, later,
                     "maintenance window mixes \"%s\" and \"%s\": use cron and duration "
                     "(and timezone), or start and end",
                     later == cron_key ? once_key->value : cron_key->value, later->value);
        return;
    }
    if (!cron_key && !once_key) {
        if (map->n == 0)
            cfg_error_at(d->log, map,
                         "empty maintenance window%s: use cron and duration, or start and end",
                         d->where);
        return;
    }
    if (cron_key) {
        if (!wd->cron)
            cfg_error_at(d->log, map, "missing \"cron\" in maintenance window%s", d->where);
        if (!wd->duration)
            cfg_error_at(d->log, map, "missing \"duration\" in maintenance window%s", d->where);
        return;
    }
    if (!wd->start)
        cfg_error_at(d->log, map, "missing \"start\" in maintenance window%s", d->where);
    if (!wd->end)
        cfg_error_at(d->log, map, "missing \"end\" in maintenance window%s", d->where);
    if (wd->start && wd->end && d->log->n == before && wd->w->end <= wd->w->start)
        cfg_error_at(d->log, wd->end, "\"end\" must be after \"start\"%s", d->where);
}

void dec_mo_maintenance(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_monitor_conf *m = ((struct monitor_dec *)obj)->m;

    if (!dec_want_list(d, val))
        return;
    m->maintenance = calloc(val->n + 1, sizeof(*m->maintenance));
    if (!m->maintenance)
        return dec_oom(d);
    for (size_t i = 0; i < val->n && d->rc == 0; i++) {
        struct cnode *map = val->items[i];
        struct window_dec wd = { .w = &m->maintenance[m->n_maintenance] };
        size_t before = d->log->n;

        if (map->kind != CNODE_MAP) {
            cfg_error_at(d->log, map, "each item of \"maintenance\" must be a mapping");
            continue;
        }
        m->n_maintenance++;
        dec_map(d, map, window_table, N(window_table), &wd);
        check_window(d, map, &wd, before);
        d->key = "maintenance";
    }
}

/* ---- dependencies ----------------------------------------------------------- */

/* Parents are resolved once every file's monitors are known (dec_resolve_depends). */
void dec_mo_depends_on(struct dctx *d, struct cnode *val, void *obj)
{
    struct tocsin_monitor_conf *m = ((struct monitor_dec *)obj)->m;

    if (dec_want_list(d, val))
        d->depends_at[m - d->cfg->monitors] = val;
}

static void resolve_parents(struct dctx *d, size_t self, const char *const *names)
{
    struct tocsin_monitor_conf *m = &d->cfg->monitors[self];
    struct cnode *list = d->depends_at[self];

    dec_set_where(d, "monitor", m->id);
    d->key = "depends_on";
    m->depends_on = calloc(list->n + 1, sizeof(*m->depends_on));
    if (!m->depends_on)
        return dec_oom(d);
    for (size_t i = 0; i < list->n; i++) {
        const struct cnode *item = list->items[i];
        size_t j, k = 0;

        if (item->kind != CNODE_SCALAR) {
            cfg_error_at(d->log, item, "each item of \"depends_on\" must be a string");
            continue;
        }
        j = tocsin_name_index_get(&d->monitor_ids, item->value);
        if (j == TOCSIN_NAME_ABSENT) {
            dec_unknown_name(d, item, "monitor", names, d->cfg->n_monitors);
            continue;
        }
        while (k < m->n_depends_on && m->depends_on[k] != j)
            k++;
        if (k < m->n_depends_on)
            cfg_error_at(d->log, item, "monitor \"%s\" is listed more than once in \"depends_on\"%s",
                         names[j], d->where);
        else
            m->depends_on[m->n_depends_on++] = j;
    }
}

/* The depends_on item of monitor FROM that names monitor TO. */
const struct cnode *dec_depends_item(struct dctx *d, size_t from, size_t to)
{
    const struct cnode *list = d->depends_at[from];

    for (size_t i = 0; i < list->n; i++)
        if (list->items[i]->kind == CNODE_SCALAR && d->cfg->monitors[to].id &&
            strcmp(list->items[i]->value, d->cfg->monitors[to].id) == 0)
            return list->items[i];
    return list;
}

/* STACK[K..SP) and back to STACK[K] is a cycle: reported from its monitor that
 * comes first in the config, at that monitor's depends_on item. */
static void report_cycle(struct dctx *d, const size_t *stack, size_t k, size_t sp)
{
    size_t len = sp - k, r = k, size = 32;
    char *msg, *p;

    for (size_t i = k; i < sp; i++) {
        if (stack[i] < stack[r])
            r = i;
        size += strlen(d->cfg->monitors[stack[i]].id) + 4;
    }
    size += strlen(d->cfg->monitors[stack[r]].id);
    msg = malloc(size);
    if (!msg)
        return dec_oom(d);
    p = msg;
    for (size_t i = 0; i <= len; i++)
        p += sprintf(p, "%s%s", i ? " -> " : "", d->cfg->monitors[stack[k + (r - k + i) % len]].id);
    cfg_error_at(d->log, dec_depends_item(d, stack[r], stack[k + (r - k + 1) % len]),
                 "dependency cycle: %s", msg);
    free(msg);
}

/* Depth-first over the parents, without recursion: a back edge closes a cycle,
 * and each back edge is a different cycle, so none is reported twice. */
static void check_cycles(struct dctx *d)
{
    const struct tocsin_monitor_conf *mon = d->cfg->monitors;
    size_t n = d->cfg->n_monitors;
    unsigned char *color = calloc(n + 1, 1); /* 0 unseen, 1 on the stack, 2 done */
    size_t *stack = calloc(n + 1, sizeof(*stack)), *edge = calloc(n + 1, sizeof(*edge));

    for (size_t root = 0; color && stack && edge && root < n && d->rc == 0; root++) {
        size_t sp = 1;

        if (color[root])
            continue;
        stack[0] = root;
        edge[0] = 0;
        color[root] = 1;
        while (sp > 0 && d->rc == 0) {
            size_t u = stack[sp - 1], v, k = 0;

            if (edge[sp - 1] == mon[u].n_depends_on) {
                color[u] = 2;
                sp--;
                continue;
            }
            v = mon[u].depends_on[edge[sp - 1]++];
            if (color[v] == 0) {
                color[v] = 1;
                stack[sp] = v;
                edge[sp++] = 0;
            } else if (color[v] == 1) {
                while (stack[k] != v)
                    k++;
                report_cycle(d, stack, k, sp);
            }
        }
    }
    if (!color || !stack || !edge)
        dec_oom(d);
    free(color);
    free(stack);
    free(edge);
}

void dec_resolve_depends(struct dctx *d)
{
    size_t n = d->cfg->n_monitors;
    const char **names = calloc(n + 1, sizeof(*names));
    bool any = false;

    if (!names)
        return dec_oom(d);
    for (size_t i = 0; i < n; i++)
        names[i] = d->cfg->monitors[i].id ? d->cfg->monitors[i].id : "";
    for (size_t i = 0; i < n && d->rc == 0; i++)
        if (d->depends_at[i]) {
            resolve_parents(d, i, names);
            any = true;
        }
    d->where[0] = '\0';
    if (any && d->rc == 0)
        check_cycles(d);
    free(names);
}
