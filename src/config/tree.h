/* Private to src/config: the generic node tree both loaders (YAML, INI) build,
 * and the diagnostics collector every stage reports into.
 *
 * The YAML and INI loaders produce exactly the same tree shape so a single
 * decoder validates both.  Positions are 1-based.  Diagnostics are collected
 * with their position and sorted (file load order, line, column) at the end so
 * the output does not depend on the order the decoder happens to check things. */
#ifndef TOCSIN_CONFIG_TREE_H
#define TOCSIN_CONFIG_TREE_H

#include <stdbool.h>
#include <stddef.h>

struct cfg_file {
    char *name;   /* as shown in diagnostics (as given on the command line) */
    char *dir;    /* directory of name, for relative secret_file paths */
    size_t index; /* load order, sorts diagnostics */
};

enum cnode_kind { CNODE_SCALAR, CNODE_SEQ, CNODE_MAP };

struct cnode {
    enum cnode_kind kind;
    const struct cfg_file *file;
    int line;
    int col;
    bool from_ini;    /* INI scalars where a list is expected are split on commas */
    bool sensitive;   /* came from ${VAR} or is a secret: never echoed in a diag */
    char *value;      /* scalar text (NUL-terminated, never NULL for a scalar) */
    struct cnode **keys;  /* map only: scalar key nodes, parallel to items */
    struct cnode **items; /* seq items or map values */
    size_t n;
    size_t cap;
};

struct cfg_diag {
    const struct cfg_file *file;
    int line;
    int col;
    size_t seq;
    char *msg;
};

struct cfg_log {
    struct cfg_diag *d;
    size_t n;
    size_t cap;
    bool oom; /* a diagnostic could not be stored: the load still fails */
};

struct cnode *cnode_new(enum cnode_kind kind, const struct cfg_file *file, int line, int col);
/* Creates a scalar holding a copy of LEN bytes of S. */
struct cnode *cnode_scalar(const struct cfg_file *file, int line, int col, const char *s,
                           size_t len);
int cnode_append(struct cnode *seq, struct cnode *item);
int cnode_put(struct cnode *map, struct cnode *key, struct cnode *value);
/* Index of KEY in MAP or -1. */
long cnode_find(const struct cnode *map, const char *key);
struct cnode *cnode_get(const struct cnode *map, const char *key);
void cnode_free(struct cnode *node);
/* The scalar text as it may be shown in a message. */
const char *cnode_shown(const struct cnode *node);
/* Splits an INI scalar on commas into a sequence in place (a no-op otherwise). */
int cnode_split_list(struct cnode *node);

void cfg_error(struct cfg_log *log, const struct cfg_file *file, int line, int col,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#define cfg_error_at(log, node, ...) \
    cfg_error((log), (node)->file, (node)->line, (node)->col, __VA_ARGS__)
void cfg_log_free(struct cfg_log *log);

/* Closest candidate within a small edit distance, or NULL. */
const char *cfg_suggest(const char *word, const char *const *cands, size_t n);

/* Expands ${VAR} ($${ is a literal ${) in every scalar value under ROOT. */
int cfg_expand_env(struct cfg_log *log, struct cnode *root);

/* Loaders: on success *ROOT is a mapping (or NULL if the file had errors). */
int cfg_parse_yaml(struct cfg_log *log, const struct cfg_file *file, const char *buf,
                   size_t len, struct cnode **root);
int cfg_parse_ini(struct cfg_log *log, const struct cfg_file *file, const char *buf,
                  size_t len, struct cnode **root);

#endif
