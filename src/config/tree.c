/* Generic config node tree, diagnostics collector, suggestions, ${VAR} expansion. */
#include "tree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cnode *cnode_new(enum cnode_kind kind, const struct cfg_file *file, int line, int col)
{
    struct cnode *node = calloc(1, sizeof(*node));

    if (!node)
        return NULL;
    node->kind = kind;
    node->file = file;
    node->line = line;
    node->col = col;
    return node;
}

struct cnode *cnode_scalar(const struct cfg_file *file, int line, int col, const char *s,
                           size_t len)
{
    struct cnode *node = cnode_new(CNODE_SCALAR, file, line, col);

    if (!node)
        return NULL;
    node->value = strndup(s, len);
    if (!node->value) {
        free(node);
        return NULL;
    }
    return node;
}

static int cnode_grow(struct cnode *node, bool with_keys)
{
    size_t cap = node->cap ? node->cap * 2 : 4;
    struct cnode **items, **keys;

    items = realloc(node->items, cap * sizeof(*items));
    if (!items)
        return -ENOMEM;
    node->items = items;
    if (with_keys) {
        keys = realloc(node->keys, cap * sizeof(*keys));
        if (!keys)
            return -ENOMEM;
        node->keys = keys;
    }
    node->cap = cap;
    return 0;
}

int cnode_append(struct cnode *seq, struct cnode *item)
{
    if (seq->n == seq->cap && cnode_grow(seq, false) < 0)
        return -ENOMEM;
    seq->items[seq->n++] = item;
    return 0;
}

int cnode_put(struct cnode *map, struct cnode *key, struct cnode *value)
{
    if (map->n == map->cap && cnode_grow(map, true) < 0)
        return -ENOMEM;
    map->keys[map->n] = key;
    map->items[map->n++] = value;
    return 0;
}

long cnode_find(const struct cnode *map, const char *key)
{
    if (!map || map->kind != CNODE_MAP)
        return -1;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i]->value, key) == 0)
            return (long)i;
    return -1;
}

struct cnode *cnode_get(const struct cnode *map, const char *key)
{
    long i = cnode_find(map, key);

    return i < 0 ? NULL : map->items[i];
}

void cnode_free(struct cnode *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->n; i++) {
        if (node->keys)
            cnode_free(node->keys[i]);
        cnode_free(node->items[i]);
    }
    free(node->keys);
    free(node->items);
    free(node->value);
    free(node);
}

const char *cnode_shown(const struct cnode *node)
{
    return node->sensitive ? "<redacted>" : node->value;
}

static int split_one(struct cnode *seq, const struct cnode *src, const char *start,
                     const char *end)
{
    struct cnode *item;

    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    /* Columns are exact for the usual single-line INI value. */
    item = cnode_scalar(src->file, src->line, src->col + (int)(start - src->value), start,
                        (size_t)(end - start));
    if (!item)
        return -ENOMEM;
    item->from_ini = true;
    item->sensitive = src->sensitive;
    if (cnode_append(seq, item) < 0) {
        cnode_free(item);
        return -ENOMEM;
    }
    return 0;
}

int cnode_split_list(struct cnode *node)
{
    struct cnode tmp = { .kind = CNODE_SEQ };
    const char *p, *start;
    int rc = 0;

    if (node->kind != CNODE_SCALAR || !node->from_ini)
        return 0;
    tmp.file = node->file;
    /* An empty value is an empty list, not a list of one empty name. */
    start = node->value + strspn(node->value, " \t");
    for (p = start; *start && rc == 0; p++) {
        if (*p != ',' && *p != '\0')
            continue;
        rc = split_one(&tmp, node, start, p);
        if (*p == '\0')
            break;
        start = p + 1;
    }
    if (rc < 0) {
        for (size_t i = 0; i < tmp.n; i++)
            cnode_free(tmp.items[i]);
        free(tmp.items);
        return rc;
    }
    free(node->value);
    node->value = NULL;
    node->kind = CNODE_SEQ;
    node->items = tmp.items;
    node->n = tmp.n;
    node->cap = tmp.cap;
    return 0;
}

void cfg_error(struct cfg_log *log, const struct cfg_file *file, int line, int col,
               const char *fmt, ...)
{
    struct cfg_diag *d;
    va_list ap;
    char *msg;
    int len;

    if (log->n == log->cap) {
        size_t cap = log->cap ? log->cap * 2 : 16;

        d = realloc(log->d, cap * sizeof(*d));
        if (!d) {
            log->oom = true;
            return;
        }
        log->d = d;
        log->cap = cap;
    }
    va_start(ap, fmt);
    len = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (len < 0) {
        log->oom = true;
        return;
    }
    log->d[log->n] = (struct cfg_diag){ file, line, col, log->n, msg };
    log->n++;
}

void cfg_log_free(struct cfg_log *log)
{
    for (size_t i = 0; i < log->n; i++)
        free(log->d[i].msg);
    free(log->d);
    *log = (struct cfg_log){ 0 };
}

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;

    return m < c ? m : c;
}

/* Levenshtein distance of two short words (keys, names); longer ones score "far". */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[65], prev, tmp;

    if (la > 64 || lb > 64)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            tmp = row[j];
            row[j] = min3(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] != b[j - 1]));
            prev = tmp;
        }
    }
    return row[lb];
}

const char *cfg_suggest(const char *word, const char *const *cands, size_t n)
{
    /* Allow about one typo per three characters, at least one. */
    size_t limit = strlen(word) / 3 > 1 ? strlen(word) / 3 : 1, best_d = limit + 1;
    const char *best = NULL;

    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, cands[i]);

        if (d < best_d) {
            best_d = d;
            best = cands[i];
        }
    }
    return best;
}

/* Appends LEN bytes to the growing buffer *BUF. */
static int buf_add(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t ncap = (*len + n + 1) * 2;
        char *p = realloc(*buf, ncap);

        if (!p)
            return -ENOMEM;
        *buf = p;
        *cap = ncap;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

static bool is_var_char(char c, bool first)
{
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (!first && c >= '0' && c <= '9');
}

/* Returns the length of "${NAME}" at P, 0 if P is not a valid reference. */
static size_t var_ref_len(const char *p)
{
    size_t i = 2;

    if (!is_var_char(p[i], true))
        return 0;
    while (is_var_char(p[i], false))
        i++;
    return p[i] == '}' ? i + 1 : 0;
}

/* Expands one scalar; 1 when something was substituted, 0 when unchanged. */
static int expand_scalar(struct cfg_log *log, struct cnode *node)
{
    char *out = NULL, name[256];
    size_t len = 0, cap = 0, ref;
    const char *p = node->value, *val;
    int rc = 0, changed = 0;

    if (!strchr(p, '$'))
        return 0;
    while (*p && rc == 0) {
        if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
            rc = buf_add(&out, &len, &cap, "${", 2);
            p += 3;
            changed = 1;
            continue;
        }
        if (p[0] != '$' || p[1] != '{') {
            rc = buf_add(&out, &len, &cap, p++, 1);
            continue;
        }
        ref = var_ref_len(p);
        if (ref == 0 || ref - 3 >= sizeof(name)) {
            cfg_error_at(log, node, "bad variable reference: use ${NAME} (or $${ for a literal ${)");
            rc = 1;
            break;
        }
        memcpy(name, p + 2, ref - 3);
        name[ref - 3] = '\0';
        val = getenv(name);
        if (!val) {
            cfg_error_at(log, node, "environment variable \"%s\" is not set", name);
            val = "";
        }
        rc = buf_add(&out, &len, &cap, val, strlen(val));
        node->sensitive = true;
        changed = 1;
        p += ref;
    }
    if (rc < 0 || rc == 1 || !changed) {
        free(out);
        return rc < 0 ? rc : 0;
    }
    free(node->value);
    node->value = out ? out : strdup("");
    return node->value ? 1 : -ENOMEM;
}

int cfg_expand_env(struct cfg_log *log, struct cnode *root)
{
    int rc;

    if (!root)
        return 0;
    if (root->kind == CNODE_SCALAR) {
        rc = expand_scalar(log, root);
        return rc < 0 ? rc : 0;
    }
    for (size_t i = 0; i < root->n; i++) {
        rc = cfg_expand_env(log, root->items[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}
