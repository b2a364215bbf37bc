/* Configuration model: what tocsin.yaml / tocsin.ini (and probes.d/) decode into.
 *
 * The loaders (YAML, INI) build a generic node tree with line/column positions;
 * one table-driven decoder turns it into this model, applies defaults in one
 * place and reports every problem as "FILE:LINE:COL: message".  Nothing here
 * does I/O after load; the engine only reads the model. */
#ifndef TOCSIN_CONFIG_H
#define TOCSIN_CONFIG_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tocsin_probe_type { TOCSIN_PROBE_HTTP, TOCSIN_PROBE_TCP, TOCSIN_PROBE_TYPES };
enum tocsin_signing { TOCSIN_SIGNING_DEFAULT, TOCSIN_SIGNING_NONE, TOCSIN_SIGNING_STANDARD };
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

/* A vantage point: where checks come from (DESIGN §3 regions). */
struct tocsin_region_conf {
    char *name;
    char *source_address;  /* bind probes and DNS to this address; NULL = OS choice */
    char *interface;       /* or to this interface (SO_BINDTODEVICE); NULL */
    char **dns_servers;    /* "IP", "IP:PORT", "[IPv6]:PORT"; none = /etc/resolv.conf */
    size_t n_dns_servers;
    uint64_t dns_cache_ms; /* cap on how long answers are kept (TTL honoured below); default 60s */
    char *proxy;           /* http://, https:// or socks5h:// (credentials allowed); NULL */
};

/* TLS settings of a probe (DESIGN §3 tls). */
struct tocsin_tls_conf {
    bool enabled;          /* tcp: tls: true or a mapping; http: always per URL scheme */
    char *ca_file;         /* NULL = system store */
    bool skip_verify;
    char *server_name;     /* SNI and name checked; NULL = the host */
    char *cert_file;       /* client certificate */
    char *key_file;
};

/* What a check must see to be UP, beyond the status (DESIGN §3 expect). */
struct tocsin_expect_conf {
    char *body_contains;      /* NULL when unset */
    char *body_not_contains;
    char *body_regex;         /* POSIX ERE source, for messages */
    char *body_not_regex;
    regex_t *body_regex_re;   /* compiled at load (REG_EXTENDED|REG_NOSUB) */
    regex_t *body_not_regex_re;
    struct tocsin_kvlist headers; /* name case-insensitive, value substring */
    uint64_t max_response_time_ms; /* 0 = none */
    int cert_min_days;        /* 0 = none */
    char *contains;           /* tcp: first reply must contain it */
};

/* A maintenance window: a 5-field cron expression and a duration (in the
 * host's local time, or TIMEZONE), or one-off START..END (Unix seconds). */
struct tocsin_cron;   /* parsed cron expression: include/tocsin/maintenance.h */
struct tocsin_maintenance_conf {
    struct tocsin_cron *cron;   /* NULL for a one-off window */
    char *cron_text;            /* as written, for messages */
    uint64_t duration_ms;
    char *timezone;             /* IANA name; NULL = host local time */
    int64_t start;              /* one-off window, Unix seconds */
    int64_t end;
};

enum tocsin_ip_version { TOCSIN_IP_ANY = 0, TOCSIN_IP_V4 = 4, TOCSIN_IP_V6 = 6 };
enum tocsin_http_version { TOCSIN_HTTP_ANY = 0, TOCSIN_HTTP_1_1 = 11, TOCSIN_HTTP_2 = 2 };

struct tocsin_webhook_conf {
    char *name;
    char *url;
    char *format;          /* statuspageone|statuspage|betterstack|atstatus|statusstack|pagerduty|alertmanager */
    char *secret;          /* NULL when unsigned; never logged; = secrets[0] when set */
    char **secrets;        /* every signing secret, newest first: `secret` gives one,
                            * `secrets: [new, old]` two while rotating; owned here */
    size_t n_secrets;
    enum tocsin_signing signing;
    unsigned events;       /* TOCSIN_EVENT_* bits; default both */
    struct tocsin_kvlist headers;
    const char *method;    /* default "POST"; a static name, never freed */
    uint64_t timeout_ms;   /* default: the format's (statuspageone 30s) */
    uint64_t connect_timeout_ms; /* default: the format's (10s) */
    uint32_t rate_limit;         /* at most this many sends in any window of rate_period_ms */
    uint64_t rate_period_ms;     /* default 100 per 60000 ms */
    int retries;                 /* attempts after the first; default: the format's */
    uint64_t retry_backoff_ms;   /* first retry delay, doubling; default: the format's */
    uint64_t max_age_ms;         /* dead letters younger than this are re-sent; default 24h */
    struct tocsin_tls_conf tls;  /* ca_file, cert_file, key_file, skip_verify */
    char *proxy;                 /* NULL = direct (never the *_proxy environment) */
    char *routing_key;           /* pagerduty: Events API v2 routing key; never logged */
    char **urls;                 /* alertmanager: every peer gets each alert */
    size_t n_urls;
};

struct tocsin_level_conf {
    int level;
    int after;             /* consecutive failures that fire this level */
    size_t *notify;        /* indexes into tocsin_config.webhooks */
    size_t n_notify;
    uint64_t repeat_ms;    /* re-send this level every period while DOWN; 0 = never */
};

struct tocsin_policy_conf {
    char *name;
    int failure_threshold; /* default 3 */
    int success_threshold; /* default 1 */
    struct tocsin_level_conf *levels; /* strictly rising, after >= failure_threshold */
    size_t n_levels;
};

/* {200-299}, the expect_status of a monitor that sets no "status". */
extern const struct tocsin_status_range tocsin_default_expect_status;

/* Fields in the order a check reads them: what every HTTP check reads comes
 * first and together (a check of one of thousands of monitors finds each line
 * of this struct cold), names and the TCP probe's fields last. */
struct tocsin_monitor_conf {
    enum tocsin_probe_type type;
    int quorum;                 /* default 1, 1..n_regions */
    /* schedule */
    uint64_t interval_ms;       /* default 60s */
    uint64_t timeout_ms;        /* default 10s, <= interval */
    uint64_t retry_interval_ms; /* default = interval */
    size_t policy;              /* index into tocsin_config.policies */
    size_t *regions;            /* indexes into tocsin_config.regions */
    size_t n_regions;
    size_t *depends_on;         /* parents: indexes into tocsin_config.monitors (no cycles) */
    size_t n_depends_on;
    struct tocsin_maintenance_conf *maintenance;
    size_t n_maintenance;
    /* http */
    char *url;
    /* The method's name and the default status range are shared by every
     * monitor, not copied into each: a check reads both, and a copy per
     * monitor was a cache miss per check at thousands of monitors. */
    const char *method;    /* default "GET"; a static name, never freed; NULL for tcp */
    bool follow_redirects;      /* default true; at most 10 hops */
    bool keep_alive;            /* default false: a fresh connection per check */
    enum tocsin_ip_version ip_version;
    enum tocsin_http_version http_version;
    uint64_t max_body_bytes;    /* read cap, default 1 MiB; larger bodies are cut */
    struct tocsin_kvlist headers;
    const struct tocsin_status_range *expect_status; /* default tocsin_default_expect_status; NULL, 0 for tcp */
    size_t n_expect_status;
    char *body;                 /* request body; NULL = none */
    size_t body_len;
    char *basic_auth_user;      /* NULL when unset; never logged */
    char *bearer_token;         /* NULL when unset; never logged */
    struct tocsin_tls_conf tls;
    struct tocsin_expect_conf expect;
    /* read by a check only when set above, or not by checks */
    char *basic_auth_password;
    char *id;              /* [A-Za-z0-9_.-]{1,64}; default: slug of name */
    char *name;            /* default: id */
    /* tcp */
    char *host;
    int port;
    char *send;                 /* bytes sent after connecting; NULL = none */
    size_t send_len;
};

struct tocsin_agent_conf {
    char *region;          /* default "default" */
    char *state_dir;       /* default /var/lib/tocsin */
    int max_concurrency;   /* default 2000 */
    enum tocsin_log_level log_level;
    enum tocsin_log_format log_format;
    char *listen;          /* "HOST:PORT" of the built-in HTTP server; "" = off;
                            * default 127.0.0.1:9966 */
    size_t *canaries;      /* monitors whose failure means this host lost its network */
    size_t n_canaries;
    unsigned shard_index;  /* agent.shard k/n: this agent runs shard k (1..n) of n; */
    unsigned shard_count;  /* default 1/1 */
};

struct tocsin_config {
    char *path;
    struct tocsin_agent_conf agent;
    struct tocsin_region_conf *regions; /* the listed regions, or one named agent.region */
    size_t n_regions;
    struct tocsin_webhook_conf *webhooks;
    size_t n_webhooks;
    struct tocsin_policy_conf *policies;
    size_t n_policies;
    struct tocsin_monitor_conf *monitors; /* this shard's monitors, in config order */
    size_t n_monitors;
    size_t n_monitors_all;  /* every monitor of the files; the other shards' ones follow
                             * monitors[n_monitors] until freed with the config */
    size_t *default_regions; /* defaults' regions: the regions of every monitor that
                              * lists none, shared, not copied into each */
};

/* The shard (1..COUNT) monitor ID belongs to: FNV-1a 64 of the id mod COUNT, plus
 * 1 (DESIGN §7), so every host with the same list splits it the same way. */
unsigned tocsin_config_shard_of(const char *id, unsigned count);

/* URL with its userinfo (user:password@) replaced by "<redacted>@": for
 * messages, webhook bodies and the API, which must never show credentials. */
void tocsin_config_redact_url(const char *url, char *buf, size_t size);

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
/* Frees MONITOR's own status list (never the shared default); leaves none. */
void tocsin_monitor_free_expect_status(struct tocsin_monitor_conf *monitor);

/* Formats the expected ranges as "200-299,301" into BUF. */
void tocsin_monitor_expect_status_str(const struct tocsin_monitor_conf *monitor, char *buf,
                                      size_t size);

#endif
