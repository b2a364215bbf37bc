/* Configuration model: what tocsin.yaml / tocsin.ini (and probes.d/) decode into.
 *
 * The loaders (YAML, INI) build a generic node tree with line/column positions;
 * one table-driven decoder turns it into this model, applies defaults in one
 * place and reports every problem as "FILE:LINE:COL: message".  Nothing here
 * does I/O after load; the engine only reads the model. */
#ifndef TOCSIN_CONFIG_H
#define TOCSIN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tocsin_probe_type { TOCSIN_PROBE_HTTP, TOCSIN_PROBE_TCP };
enum tocsin_signing { TOCSIN_SIGNING_DEFAULT, TOCSIN_SIGNING_NONE };
enum tocsin_log_level { TOCSIN_LOG_DEBUG, TOCSIN_LOG_INFO, TOCSIN_LOG_WARN, TOCSIN_LOG_ERROR };
enum tocsin_log_format { TOCSIN_LOG_LOGFMT, TOCSIN_LOG_JSON };

/* Bits of tocsin_webhook_conf.events. */
#define TOCSIN_EVENT_INCIDENT 1u
#define TOCSIN_EVENT_RECOVERY 2u

struct tocsin_kv {
    char *name;
    char *value;
};

struct tocsin_kvlist {
    struct tocsin_kv *items;
    size_t n;
};

/* An inclusive range of HTTP status codes; "200" is {200, 200}. */
struct tocsin_status_range {
    int lo;
    int hi;
};

struct tocsin_region_conf {
    char *name;
};

struct tocsin_webhook_conf {
    char *name;
    char *url;
    char *format;          /* "statuspageone" */
    char *secret;          /* NULL when unsigned; never logged */
    enum tocsin_signing signing;
    unsigned events;       /* TOCSIN_EVENT_* bits; default both */
    struct tocsin_kvlist headers;
    char *method;          /* default "POST" */
    uint64_t timeout_ms;   /* default: the format's (statuspageone 30s) */
    uint64_t connect_timeout_ms; /* default 10s */
};

struct tocsin_level_conf {
    int level;
    int after;             /* consecutive failures that fire this level */
    size_t *notify;        /* indexes into tocsin_config.webhooks */
    size_t n_notify;
};

struct tocsin_policy_conf {
    char *name;
    int failure_threshold; /* default 3 */
    int success_threshold; /* default 1 */
    struct tocsin_level_conf *levels; /* strictly rising, after >= failure_threshold */
    size_t n_levels;
};

struct tocsin_monitor_conf {
    char *id;              /* [A-Za-z0-9_.-]{1,64}; default: slug of name */
    char *name;            /* default: id */
    enum tocsin_probe_type type;
    /* http */
    char *url;
    char *method;          /* default "GET" */
    struct tocsin_kvlist headers;
    struct tocsin_status_range *expect_status; /* default {200-299} */
    size_t n_expect_status;
    /* tcp */
    char *host;
    int port;
    /* schedule */
    uint64_t interval_ms;       /* default 60s */
    uint64_t timeout_ms;        /* default 10s, <= interval */
    uint64_t retry_interval_ms; /* default = interval */
    size_t policy;              /* index into tocsin_config.policies */
    size_t *regions;            /* indexes into tocsin_config.regions */
    size_t n_regions;
    int quorum;                 /* default 1, 1..n_regions */
};

struct tocsin_agent_conf {
    char *region;          /* default "default" */
    char *state_dir;       /* default /var/lib/tocsin */
    int max_concurrency;   /* default 2000 */
    enum tocsin_log_level log_level;
    enum tocsin_log_format log_format;
};

struct tocsin_config {
    char *path;
    struct tocsin_agent_conf agent;
    struct tocsin_region_conf *regions; /* for now exactly one: agent.region */
    size_t n_regions;
    struct tocsin_webhook_conf *webhooks;
    size_t n_webhooks;
    struct tocsin_policy_conf *policies;
    size_t n_policies;
    struct tocsin_monitor_conf *monitors;
    size_t n_monitors;
};

/* Diagnostics collected in one pass, each "FILE:LINE:COL: message". */
struct tocsin_diags {
    char **lines;
    size_t n;
    size_t cap;
};

/* Loads PATH (.yaml/.yml or .ini by extension) and the probes.d/ directory beside it.
 * Returns 0 and sets *out, or a negative errno-style code with every problem in
 * DIAGS (which the caller frees with tocsin_diags_free). */
int tocsin_config_load(const char *path, struct tocsin_config **out, struct tocsin_diags *diags);
void tocsin_config_free(struct tocsin_config *config);

/* Appends "FILE:LINE:COL: message" (printf-style message). */
void tocsin_diags_add(struct tocsin_diags *diags, const char *file, int line, int col,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void tocsin_diags_free(struct tocsin_diags *diags);

/* Looks a monitor up by id; NULL when absent. */
const struct tocsin_monitor_conf *tocsin_config_monitor(const struct tocsin_config *config,
                                                        const char *id);

/* True when STATUS matches one of the monitor's expected ranges. */
bool tocsin_monitor_status_ok(const struct tocsin_monitor_conf *monitor, int status);

/* Formats the expected ranges as "200-299,301" into BUF. */
void tocsin_monitor_expect_status_str(const struct tocsin_monitor_conf *monitor, char *buf,
                                      size_t size);

#endif
