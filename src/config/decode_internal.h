/* Private to the decoder (src/config/decode*.c); decode.h stays the loader's
 * interface.  The config is decoded one section per file: decode.c (the walk, the
 * helpers more than one section uses, the top level), decode_agent.c (agent,
 * regions), decode_webhook.c, decode_policy.c, decode_defaults.c, decode_monitor.c
 * decode_holds.c (maintenance windows, depends_on) and decode_shard.c (agent.shard).  What one file alone uses
 * stays static there. */
#ifndef TOCSIN_CONFIG_DECODE_INTERNAL_H
#define TOCSIN_CONFIG_DECODE_INTERNAL_H

#include "decode.h"
#include "tocsin/name_index.h"

#define D_HTTP 1u /* monitor keys valid only for type http */
#define D_TCP 2u  /* ... only for type tcp */

struct dctx;
typedef void (*dfn)(struct dctx *d, struct cnode *val, void *obj);

struct directive {
    const char *key;
    dfn fn;
    unsigned flags;  /* D_HTTP / D_TCP */
};

struct defaults {
    uint64_t interval_ms, timeout_ms, retry_ms;
    bool retry_set;
    struct cnode *policy, *regions, *quorum_node;
    size_t policy_idx;
    size_t *region_idx;
    size_t n_regions;
    int quorum;
};

struct dctx {
    struct cfg_log *log;
    struct tocsin_config *cfg;
    int rc;                 /* -ENOMEM once an allocation failed */
    const char *key;        /* key being decoded, for messages */
    char where[96];         /* ' in monitor "api"' etc. */
    unsigned kind;          /* D_HTTP / D_TCP while decoding a monitor, else 0 */
    struct defaults def;
    const struct cnode **webhook_at, **policy_at, **monitor_at, **region_at; /* duplicates */
    struct tocsin_name_index monitor_ids; /* id -> position, for duplicates and depends_on */
    struct cnode **depends_at;  /* parallel to cfg->monitors: its depends_on list or NULL */
    struct cnode *canaries_at;  /* agent.canaries, resolved once every monitor is known */
    const char **region_names; /* parallel to cfg->regions, "" for a nameless one */
};

#define N(a) (sizeof(a) / sizeof(*(a)))

/* A monitor's walk state: decode_holds.c's directives decode into it too. */
struct monitor_dec {
    struct tocsin_monitor_conf *m;
    struct cnode *map, *idnode, *interval, *timeout, *retry, *policy, *regions, *quorum;
    struct cnode *tls, *basic_auth, *bearer, *body_expect, *max_time, *cert_days;
};

/* tls: the same keys for monitors and webhooks (which have no server_name). */
struct tls_dec {
    struct tocsin_tls_conf *t;
    struct cnode *cert, *key;
};

/* ---- decode.c: the walk and the helpers the sections share ---- */

void dec_oom(struct dctx *d);
const struct directive *dec_find_directive(const struct directive *t, size_t n,
                                           const char *key);
void dec_unknown_name(struct dctx *d, const struct cnode *at, const char *what,
                      const char *const *cands, size_t n);
/* Walks MAP with table T: unknown, unsupported and wrong-kind keys are reported. */
void dec_map(struct dctx *d, struct cnode *map, const struct directive *t, size_t n,
             void *obj);
/* Decodes each mapping of LIST with FN; any other item is reported. */
void dec_items(struct dctx *d, struct cnode *list, const char *what,
               void (*fn)(struct dctx *, struct cnode *));

bool dec_want(struct dctx *d, const struct cnode *val, enum cnode_kind kind);
bool dec_want_list(struct dctx *d, struct cnode *val);
void dec_set_str(struct dctx *d, struct cnode *val, char **out);
bool dec_get_int(struct dctx *d, const struct cnode *val, int min, int max, int *out);
void dec_set_int_min1(struct dctx *d, struct cnode *val, int *out);
bool dec_get_duration(struct dctx *d, const struct cnode *val, uint64_t *out);
int dec_get_enum(struct dctx *d, const struct cnode *val, const char *const *names, size_t n,
                 const char *hint);
void dec_set_method(struct dctx *d, struct cnode *val, const char **out, const char *const *names,
                    size_t n, const char *hint);
bool dec_valid_url(const char *url);
void dec_set_url(struct dctx *d, struct cnode *val, char **out);
void dec_set_headers(struct dctx *d, struct cnode *val, struct tocsin_kvlist *list);
bool dec_get_bool(struct dctx *d, const struct cnode *val, bool *out);
void dec_set_where(struct dctx *d, const char *what, const char *name);
const char *dec_scalar_value(const struct cnode *map, const char *key);
/* Reports NAME as defined twice, first at FIRST. */
void dec_report_duplicate(struct dctx *d, const char *what, const char *name,
                          const struct cnode *at, const struct cnode *first);
bool dec_duplicate(struct dctx *d, const char *what, const char *name, const struct cnode *at,
                   const struct cnode **ats, char *(*name_of)(struct dctx *, size_t), size_t n);
size_t *dec_resolve_names(struct dctx *d, struct cnode *list, const char *what,
                          const char *const *names, size_t n, bool all_ok, size_t *count);

/* Shared by regions, webhooks and monitors: proxies, and the tls keys both tls
 * tables use (each table lives with its section). */
void dec_set_proxy(struct dctx *d, struct cnode *val, char **out);
void dec_tl_ca_file(struct dctx *d, struct cnode *val, void *obj);
void dec_tl_skip_verify(struct dctx *d, struct cnode *val, void *obj);
void dec_tl_cert_file(struct dctx *d, struct cnode *val, void *obj);
void dec_tl_key_file(struct dctx *d, struct cnode *val, void *obj);
void dec_tls(struct dctx *d, struct cnode *map, const struct directive *t, size_t n,
             struct tocsin_tls_conf *tls);

/* ---- the sections, in the order cfg_decode runs them ---- */

void dec_agent(struct dctx *d, struct cnode *agent);
void dec_regions(struct dctx *d, struct cnode *list);
void dec_webhook(struct dctx *d, struct cnode *map);
void dec_policy(struct dctx *d, struct cnode *key, struct cnode *map);
void dec_builtin_policy(struct dctx *d);
void dec_defaults(struct dctx *d, struct cnode *map);
void dec_monitor(struct dctx *d, struct cnode *map);
void dec_resolve_depends(struct dctx *d);
void dec_resolve_canaries(struct dctx *d);
/* decode_shard.c: agent.shard, then keeping only that shard's monitors. */
void dec_agent_shard(struct dctx *d, struct cnode *val, void *obj);
void dec_apply_shard(struct dctx *d);

/* decode_defaults.c: the checks a monitor's own schedule keys go through too. */
bool dec_resolve_policy(struct dctx *d, struct cnode *val, size_t *out);
size_t *dec_resolve_regions(struct dctx *d, struct cnode *list, size_t *count, bool *ok);
bool dec_check_quorum(struct dctx *d, const struct cnode *at, int quorum, size_t n_regions);
void dec_check_timeout(struct dctx *d, const struct cnode *at, uint64_t timeout,
                       uint64_t interval);

/* decode_holds.c: monitor_table's "maintenance" and "depends_on". */
void dec_mo_maintenance(struct dctx *d, struct cnode *val, void *obj);
void dec_mo_depends_on(struct dctx *d, struct cnode *val, void *obj);
/* The depends_on item of monitor FROM that names monitor TO (its list if none). */
const struct cnode *dec_depends_item(struct dctx *d, size_t from, size_t to);

#endif
