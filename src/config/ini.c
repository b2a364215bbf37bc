/* INI loader: inih -> the same node tree the YAML loader builds.
 *
 * Debian's inih 55 reports no line numbers, truncates sections to 50 bytes and
 * splits lines over 200 bytes.  So the reader below owns the lines: it counts
 * them, keeps the whole raw line, handles [section] headers and syntax errors
 * itself, and hands inih a short normalised "k=v" line for every key line so
 * inih calls the handler exactly once per key; the handler then takes key, value
 * and columns from the raw line.
 *
 * Mapping (see DESIGN §3): [agent] and [defaults] become those mappings;
 * [webhook NAME] / [monitor ID] / [region NAME] append a mapping with
 * name / id / name to webhooks / monitors / regions; [policy NAME] adds NAME to
 * the policies mapping.  "a.b = v" nests one level (split at the first dot, so a
 * header name may contain dots), "expect.header.NAME = v" two; "level.N = after=5
 * notify=ops,pager" in a policy appends {level: N, after: 5, notify: "ops,pager"}
 * to its levels; "maintenance.N = cron=\"0 3 * * SUN\" duration=1h" in a monitor
 * appends {cron: "0 3 * * SUN", duration: 1h} to its maintenance (in these
 * key=value lists words without '=' continue the value before them, and a value
 * may be double-quoted).  Values keep
 * from_ini so the decoder splits them on commas where it expects a list (and
 * unescapes TCP send/contains).  One pair of surrounding
 * double quotes is removed; " ;" starts an inline comment. */
#include "tree.h"

#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>

struct ictx {
    struct cfg_log *log;
    const struct cfg_file *file;
    const char *pos;
    const char *end;
    int lineno;
    char *raw;       /* the current physical line, without its newline */
    size_t raw_cap;
    struct cnode *root;
    struct cnode *section; /* mapping keys go to; NULL outside a valid section */
    bool have_section;     /* a header was seen (valid or not) */
    bool in_policy;        /* level.N keys are levels only in [policy NAME] */
    bool in_monitor;       /* maintenance.N keys are windows only in [monitor ID] */
    struct cnode *windows; /* maintenance.N keys seen in this section (duplicates) */
    int rc;                /* -ENOMEM once an allocation failed */
};

static const char *const section_types[] = { "agent", "defaults", "webhook", "policy",
                                             "monitor", "region" };

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static int col_of(const struct ictx *c, const char *p)
{
    return (int)(p - c->raw) + 1;
}

/* Copies the next physical line into c->raw; false at the end of input. */
static bool next_raw_line(struct ictx *c)
{
    const char *nl;
    size_t len;

    if (c->pos >= c->end)
        return false;
    nl = memchr(c->pos, '\n', (size_t)(c->end - c->pos));
    len = (size_t)((nl ? nl : c->end) - c->pos);
    if (len + 1 > c->raw_cap) {
        char *p = realloc(c->raw, len + 1);

        if (!p) {
            c->rc = -ENOMEM;
            return false;
        }
        c->raw = p;
        c->raw_cap = len + 1;
    }
    memcpy(c->raw, c->pos, len);
    if (len > 0 && c->raw[len - 1] == '\r')
        len--;
    c->raw[len] = '\0';
    c->pos = nl ? nl + 1 : c->end;
    c->lineno++;
    if (c->lineno == 1 && strncmp(c->raw, "\xEF\xBB\xBF", 3) == 0)
        memset(c->raw, ' ', 3); /* BOM: keep columns counting characters after it */
    return true;
}

/* Gets (or creates at the header position) the root child KEY of the given kind. */
static struct cnode *root_child(struct ictx *c, const char *key, enum cnode_kind kind, int col)
{
    struct cnode *node = cnode_get(c->root, key), *k;

    if (node)
        return node->kind == kind ? node : NULL;
    k = cnode_scalar(c->file, c->lineno, col, key, strlen(key));
    node = cnode_new(kind, c->file, c->lineno, col);
    if (!k || !node || cnode_put(c->root, k, node) < 0) {
        cnode_free(k);
        cnode_free(node);
        c->rc = -ENOMEM;
        return NULL;
    }
    return node;
}

/* Appends a mapping {NAMEKEY: NAME} to the root list LIST. */
static struct cnode *new_list_item(struct ictx *c, const char *list, const char *namekey,
                                   const char *name, size_t len, int col, int name_col)
{
    struct cnode *seq = root_child(c, list, CNODE_SEQ, col), *map, *k = NULL, *v = NULL;

    if (!seq)
        return NULL;
    map = cnode_new(CNODE_MAP, c->file, c->lineno, col);
    if (!map || cnode_append(seq, map) < 0) {
        cnode_free(map);
        c->rc = -ENOMEM;
        return NULL;
    }
    if (len == 0)
        return map;
    k = cnode_scalar(c->file, c->lineno, name_col, namekey, strlen(namekey));
    v = cnode_scalar(c->file, c->lineno, name_col, name, len);
    if (!k || !v || cnode_put(map, k, v) < 0) {
        cnode_free(k);
        cnode_free(v);
        c->rc = -ENOMEM;
        return NULL;
    }
    v->from_ini = true;
    return map;
}

static struct cnode *new_policy(struct ictx *c, const char *name, size_t len, int col,
                                int name_col)
{
    struct cnode *map = root_child(c, "policies", CNODE_MAP, col), *k, *v;

    if (!map)
        return NULL;
    k = cnode_scalar(c->file, c->lineno, name_col, name, len);
    v = cnode_new(CNODE_MAP, c->file, c->lineno, col);
    if (!k || !v || cnode_put(map, k, v) < 0) {
        cnode_free(k);
        cnode_free(v);
        c->rc = -ENOMEM;
        return NULL;
    }
    return v;
}

static struct cnode *open_section(struct ictx *c, const char *type, const char *name,
                                  size_t len, int col, int name_col)
{
    const char *list = strcmp(type, "webhook") == 0   ? "webhooks"
                       : strcmp(type, "monitor") == 0 ? "monitors"
                       : strcmp(type, "region") == 0  ? "regions"
                                                      : NULL;

    if (strcmp(type, "agent") == 0 || strcmp(type, "defaults") == 0) {
        if (len > 0) {
            cfg_error(c->log, c->file, c->lineno, name_col, "section [%s] takes no name", type);
            return NULL;
        }
        return root_child(c, type, CNODE_MAP, col);
    }
    if (list)
        return new_list_item(c, list, strcmp(type, "monitor") == 0 ? "id" : "name", name, len,
                             col, name_col);
    if (len == 0) {
        cfg_error(c->log, c->file, c->lineno, col, "section [policy] needs a name: [policy NAME]");
        return NULL;
    }
    return new_policy(c, name, len, col, name_col);
}

/* "[type name]" with an optional comment after it. */
static void parse_header(struct ictx *c, char *p)
{
    char *close = strchr(p, ']'), *type, *name, *e;
    const char *hint;
    size_t tlen;

    c->have_section = true;
    c->section = NULL;
    c->in_policy = false;
    c->in_monitor = false;
    cnode_free(c->windows);
    c->windows = NULL;
    if (!close || (close[1 + strspn(close + 1, " \t")] != '\0' &&
                   !strchr(";#", close[1 + strspn(close + 1, " \t")]))) {
        cfg_error(c->log, c->file, c->lineno, col_of(c, p), "expected \"[section]\"");
        return;
    }
    type = p + 1 + strspn(p + 1, " \t");
    tlen = strcspn(type, " \t]");
    name = type + tlen + strspn(type + tlen, " \t");
    for (e = close; e > name && is_space(e[-1]); e--)
        ;
    *close = '\0';
    type[tlen] = '\0';
    for (size_t i = 0; i < sizeof(section_types) / sizeof(*section_types); i++)
        if (strcmp(type, section_types[i]) == 0) {
            c->section = open_section(c, type, name, (size_t)(e - name), col_of(c, p),
                                      col_of(c, name));
            c->in_policy = strcmp(type, "policy") == 0;
            c->in_monitor = strcmp(type, "monitor") == 0;
            return;
        }
    hint = cfg_suggest(type, section_types, sizeof(section_types) / sizeof(*section_types));
    if (hint)
        cfg_error(c->log, c->file, c->lineno, col_of(c, type),
                  "unknown section [%s] (did you mean [%s]?)", type, hint);
    else
        cfg_error(c->log, c->file, c->lineno, col_of(c, type), "unknown section [%s]", type);
}

/* Decides what inih gets for the current raw line: "k=v" for a key line, else "". */
static bool classify_line(struct ictx *c)
{
    char *p = c->raw + strspn(c->raw, " \t");

    if (*p == '\0' || *p == ';' || *p == '#')
        return false;
    if (*p == '[') {
        parse_header(c, p);
        return false;
    }
    if (!strpbrk(p, "=:")) {
        cfg_error(c->log, c->file, c->lineno, col_of(c, p),
                  "expected \"key = value\" or \"[section]\"");
        return false;
    }
    return true;
}

static char *reader(char *str, int num, void *stream)
{
    struct ictx *c = stream;
    bool key_line;

    if (num < 4 || c->rc < 0 || !next_raw_line(c))
        return NULL;
    key_line = classify_line(c);
    strcpy(str, key_line ? "k=v\n" : "\n");
    return str;
}

static struct cnode *ini_scalar(struct ictx *c, const char *s, size_t len, const char *at)
{
    struct cnode *n = cnode_scalar(c->file, c->lineno, col_of(c, at), s, len);

    if (n)
        n->from_ini = true;
    else
        c->rc = -ENOMEM;
    return n;
}

/* Puts KEY (LEN bytes at K, shown at column of AT) = VAL into MAP unless it is there. */
static void put_unique(struct ictx *c, struct cnode *map, const char *k, size_t klen,
                       const char *at, struct cnode *val, const char *fullkey)
{
    struct cnode *key = ini_scalar(c, k, klen, at);
    long first = key ? cnode_find(map, key->value) : -1;

    if (key && first >= 0) {
        const struct cnode *f = map->keys[first];

        cfg_error(c->log, c->file, c->lineno, col_of(c, fullkey),
                  "duplicate key \"%.*s\" (first defined at %s:%d:%d)",
                  (int)strcspn(fullkey, " \t=:"), fullkey, f->file->name, f->line, f->col);
    } else if (key && val && cnode_put(map, key, val) == 0) {
        return;
    } else {
        c->rc = -ENOMEM;
    }
    cnode_free(key);
    cnode_free(val);
}

/* The list KEY of section SECT (created on first use), for level.N / maintenance.N. */
static struct cnode *section_list(struct ictx *c, struct cnode *sect, const char *key,
                                  const char *at)
{
    struct cnode *list = cnode_get(sect, key);

    if (!list) {
        list = cnode_new(CNODE_SEQ, c->file, c->lineno, col_of(c, at));
        put_unique(c, sect, key, strlen(key), at, list, at);
        list = cnode_get(sect, key);
    }
    if (!list || list->kind != CNODE_SEQ) {
        if (c->rc == 0)
            cfg_error(c->log, c->file, c->lineno, col_of(c, at), "\"%s\" must be a list", key);
        return NULL;
    }
    return list;
}

/* Appends a mapping at AT to LIST. */
static struct cnode *list_map(struct ictx *c, struct cnode *list, const char *at)
{
    struct cnode *map = cnode_new(CNODE_MAP, c->file, c->lineno, col_of(c, at));

    if (!map || cnode_append(list, map) < 0) {
        cnode_free(map);
        c->rc = -ENOMEM;
        return NULL;
    }
    return map;
}

/* The end of the words without '=' that follow END (END when there are none). */
static char *words_end(char *end)
{
    for (;;) {
        char *next = end + strspn(end, " \t");
        size_t nlen = strcspn(next, " \t");

        if (!*next || memchr(next, '=', nlen))
            return end;
        end = next + nlen;
    }
}

/* "after=5 notify=ops,pager" or "cron=0 3 * * SUN duration=1h" into MAP: pairs
 * apart by blanks; words without '=' continue the value before them (a cron
 * expression needs no quotes), and a value in double quotes is taken as is (no
 * escapes).  False after a syntax error. */
static bool parse_pairs(struct ictx *c, struct cnode *map, char *val, const char *what)
{
    bool ok = true;

    for (char *tok = val; *tok && c->rc == 0;) {
        size_t len = strcspn(tok, " \t");
        char *eq = memchr(tok, '=', len), *v, *end;

        if (!eq || eq == tok) {
            len = (size_t)(words_end(tok + len) - tok);
            cfg_error(c->log, c->file, c->lineno, col_of(c, tok),
                      "expected key=value in %s, got \"%.*s\"", what, (int)len, tok);
            ok = false;
        } else if (eq[1] == '"') {
            v = eq + 2;
            end = strchr(v, '"');
            if (!end) {
                cfg_error(c->log, c->file, c->lineno, col_of(c, eq + 1),
                          "missing closing quote in %s", what);
                return false;
            }
            len = (size_t)(end + 1 - tok);
            if (end[1] && !is_space(end[1])) {
                cfg_error(c->log, c->file, c->lineno, col_of(c, end + 1),
                          "expected a blank after the closing quote in %s", what);
                return false;
            }
            put_unique(c, map, tok, (size_t)(eq - tok), tok,
                       ini_scalar(c, v, (size_t)(end - v), v), tok);
        } else {
            end = words_end(tok + len);
            len = (size_t)(end - tok);
            put_unique(c, map, tok, (size_t)(eq - tok), tok,
                       ini_scalar(c, eq + 1, (size_t)(end - eq - 1), eq + 1), tok);
        }
        tok += len;
        tok += strspn(tok, " \t");
    }
    return ok;
}

/* "level.N = after=5 notify=ops,pager repeat=30m" -> {level: N, after: 5, ...}. */
static void parse_level(struct ictx *c, struct cnode *sect, const char *key, size_t klen,
                        char *val)
{
    struct cnode *levels = section_list(c, sect, "levels", key), *map;

    if (!levels || !(map = list_map(c, levels, key)))
        return;
    put_unique(c, map, "level", 5, key + 6, ini_scalar(c, key + 6, klen - 6, key + 6), key + 6);
    parse_pairs(c, map, val, "level");
}

/* 'maintenance.N = cron="0 3 * * SUN" duration=1h timezone=Europe/Berlin' or
 * "maintenance.N = start=... end=...": N only names the window (unique in the
 * section); windows keep the order of the file. */
static void parse_window(struct ictx *c, struct cnode *sect, const char *key, size_t klen,
                         char *val)
{
    struct cnode *list, *map;
    size_t seen = c->windows ? c->windows->n : 0;

    if (!c->windows && !(c->windows = cnode_new(CNODE_MAP, c->file, c->lineno, 1))) {
        c->rc = -ENOMEM;
        return;
    }
    put_unique(c, c->windows, key, klen, key, ini_scalar(c, "", 0, key), key);
    if (c->windows->n == seen || !(list = section_list(c, sect, "maintenance", key)) ||
        !(map = list_map(c, list, key)))
        return;
    /* a window with a syntax error is left out: one message, not two */
    if (!parse_pairs(c, map, val, "maintenance window") && list->n > 0 &&
        list->items[list->n - 1] == map) {
        list->n--;
        cnode_free(map);
    }
}

/* Keys whose mapping holds a mapping, so "expect.header.X-Id = v" nests twice.
 * Everywhere else the rest after the first dot is one key (a header name may
 * contain dots). */
static bool nests_twice(const char *key, size_t len)
{
    return len == 6 && strncmp(key, "expect", 6) == 0;
}

/* The mapping KEY (LEN bytes) of MAP, created when absent; NULL when it is a value. */
static struct cnode *child_map(struct ictx *c, struct cnode *map, const char *key, size_t len)
{
    struct cnode *k = ini_scalar(c, key, len, key), *child;
    long i = k ? cnode_find(map, k->value) : -1;

    if (i >= 0) {
        cnode_free(k);
        child = map->items[i];
    } else {
        child = cnode_new(CNODE_MAP, c->file, c->lineno, col_of(c, key));
        if (!k || !child || cnode_put(map, k, child) < 0) {
            cnode_free(k);
            cnode_free(child);
            c->rc = -ENOMEM;
            return NULL;
        }
    }
    if (child->kind != CNODE_MAP) {
        cfg_error(c->log, c->file, c->lineno, col_of(c, key), "\"%.*s\" is already set to a value",
                  (int)len, key);
        return NULL;
    }
    return child;
}

/* Puts KEY = VAL into MAP, nesting at dots ("expect.status", "headers.X-Team"). */
static void put_key_in(struct ictx *c, struct cnode *map, const char *key, size_t klen,
                       struct cnode *val, const char *fullkey, bool nest)
{
    const char *dot = nest ? memchr(key, '.', klen) : NULL;
    struct cnode *parent;

    if (!dot) {
        put_unique(c, map, key, klen, key, val, fullkey);
        return;
    }
    parent = child_map(c, map, key, (size_t)(dot - key));
    if (!parent) {
        cnode_free(val);
        return;
    }
    put_key_in(c, parent, dot + 1, klen - (size_t)(dot + 1 - key), val, fullkey,
               map == c->section && nests_twice(key, (size_t)(dot - key)));
}

static void put_key(struct ictx *c, const char *key, size_t klen, struct cnode *val)
{
    put_key_in(c, c->section, key, klen, val, key, true);
}

/* Splits the raw line into key and value (inline comment and quotes removed). */
static void split_line(char *line, char **key, size_t *klen, char **val, size_t *vlen)
{
    char *k = line + strspn(line, " \t"), *d = strpbrk(k, "=:"), *v, *e;

    for (e = d; e > k && is_space(e[-1]); e--)
        ;
    *key = k;
    *klen = (size_t)(e - k);
    v = d + 1 + strspn(d + 1, " \t");
    for (e = v; *e && !(*e == ';' && e > v && is_space(e[-1])); e++)
        ;
    while (e > v && is_space(e[-1]))
        e--;
    if (e - v >= 2 && *v == '"' && e[-1] == '"') {
        v++;
        e--;
    }
    *val = v;
    *vlen = (size_t)(e - v);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct ictx *c = user;
    char *key, *val;
    size_t klen, vlen;

    (void)section, (void)name, (void)value; /* truncated by inih: use the raw line */
    if (c->rc < 0)
        return 1;
    split_line(c->raw, &key, &klen, &val, &vlen);
    if (klen == 0) {
        cfg_error(c->log, c->file, c->lineno, col_of(c, key), "missing key before \"=\"");
    } else if (!c->have_section) {
        cfg_error(c->log, c->file, c->lineno, col_of(c, key), "key \"%.*s\" outside a section",
                  (int)klen, key);
    } else if (!c->section) {
        ; /* the header was reported already */
    } else if (c->in_policy && klen > 6 && strncmp(key, "level.", 6) == 0) {
        val[vlen] = '\0';
        parse_level(c, c->section, key, klen, val);
    } else if (c->in_monitor && klen > 12 && strncmp(key, "maintenance.", 12) == 0) {
        val[vlen] = '\0';
        parse_window(c, c->section, key, klen, val);
    } else {
        put_key(c, key, klen, ini_scalar(c, val, vlen, val));
    }
    return 1;
}

int cfg_parse_ini(struct cfg_log *log, const struct cfg_file *file, const char *buf,
                  size_t len, struct cnode **root)
{
    struct ictx c = { .log = log, .file = file, .pos = buf, .end = buf + len };

    *root = NULL;
    c.root = cnode_new(CNODE_MAP, file, 1, 1);
    if (!c.root)
        return -ENOMEM;
    /* inih cannot report errors on the normalised lines; ours are in LOG. */
    (void)ini_parse_stream(reader, &c, handler, &c);
    free(c.raw);
    cnode_free(c.windows);
    if (c.rc < 0) {
        cnode_free(c.root);
        return c.rc;
    }
    *root = c.root;
    return 0;
}
