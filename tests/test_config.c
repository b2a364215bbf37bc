/* Configuration subsystem: corpus of good and bad files (exact diagnostics),
 * YAML/INI equivalence, probes.d, ${VAR} and secret_file, value parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tocsin/config.h"
#include "../src/config/decode.h"

static void go_to(const char *sub)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/tests/configs/%s", TOCSIN_SOURCE_DIR, sub);
    assert_int_equal(chdir(path), 0);
}

static bool is_config(const char *name)
{
    const char *dot = strrchr(name, '.');

    return name[0] != '.' && dot &&
           (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml") || !strcmp(dot, ".ini"));
}

static int load(const char *path, struct tocsin_config **cfg, struct tocsin_diags *diags)
{
    int rc = tocsin_config_load(path, cfg, diags);

    for (size_t i = 0; i < diags->n; i++)
        fprintf(stderr, "  %s\n", diags->lines[i]);
    return rc;
}

static void test_good_corpus(void **state)
{
    struct dirent *e;
    DIR *dir;
    int n = 0;

    (void)state;
    go_to("good");
    dir = opendir(".");
    assert_non_null(dir);
    while ((e = readdir(dir))) {
        struct tocsin_diags diags = { 0 };
        struct tocsin_config *cfg = NULL;

        if (!is_config(e->d_name))
            continue;
        fprintf(stderr, "good: %s\n", e->d_name);
        assert_int_equal(load(e->d_name, &cfg, &diags), 0);
        assert_int_equal(diags.n, 0);
        assert_non_null(cfg);
        tocsin_config_free(cfg);
        tocsin_diags_free(&diags);
        n++;
    }
    closedir(dir);
    assert_true(n >= 4);
}

static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *buf = calloc(1, 65536);
    size_t len;

    assert_non_null(fp);
    assert_non_null(buf);
    len = fread(buf, 1, 65535, fp);
    buf[len] = '\0';
    fclose(fp);
    return buf;
}

static char *join(const struct tocsin_diags *diags)
{
    char *buf = calloc(1, 65536);
    size_t len = 0;

    assert_non_null(buf);
    for (size_t i = 0; i < diags->n; i++)
        len += (size_t)snprintf(buf + len, 65536 - len, "%s\n", diags->lines[i]);
    return buf;
}

static void check_bad(const char *name)
{
    struct tocsin_diags diags = { 0 };
    struct tocsin_config *cfg = NULL;
    char expected_path[256], *expected, *got;
    int rc;

    snprintf(expected_path, sizeof(expected_path), "%.*s.expected",
             (int)(strrchr(name, '.') - name), name);
    fprintf(stderr, "bad: %s\n", name);
    rc = tocsin_config_load(name, &cfg, &diags);
    assert_int_equal(rc, -EINVAL);
    assert_null(cfg);
    expected = read_text(expected_path);
    got = join(&diags);
    assert_string_equal(got, expected);
    /* Expanded values and secrets never reach a message. */
    assert_null(strstr(got, "hunter2"));
    free(expected);
    free(got);
    tocsin_diags_free(&diags);
}

static void test_bad_corpus(void **state)
{
    struct dirent *e;
    DIR *dir;
    int n = 0;

    (void)state;
    setenv("TOCSIN_TEST_SECRET", "hunter2", 1);
    setenv("TOCSIN_TEST_MISSING_FILE", "/nonexistent/x", 1);
    unsetenv("TOCSIN_TEST_UNSET_URL");
    unsetenv("TOCSIN_TEST_INTERVAL");
    go_to("bad");
    dir = opendir(".");
    assert_non_null(dir);
    while ((e = readdir(dir))) {
        if (is_config(e->d_name)) {
            check_bad(e->d_name);
            n++;
        }
    }
    closedir(dir);
    assert_true(n >= 12);
}

static void test_bad_probes_d(void **state)
{
    static const char expected[] =
        "probes_d/probes.d/a.yaml:1:1: \"agent\" can only be set in the main config file\n"
        "probes_d/probes.d/a.yaml:4:9: duplicate monitor id \"api\" (first defined at "
        "probes_d/tocsin.yaml:2:9)\n"
        "probes_d/probes.d/b.ini:1:1: \"defaults\" can only be set in the main config file\n";
    struct tocsin_diags diags = { 0 };
    struct tocsin_config *cfg = NULL;
    char *got;

    (void)state;
    go_to("bad");
    assert_int_equal(tocsin_config_load("probes_d/tocsin.yaml", &cfg, &diags), -EINVAL);
    got = join(&diags);
    assert_string_equal(got, expected);
    free(got);
    tocsin_diags_free(&diags);
}

static void test_missing_file(void **state)
{
    struct tocsin_diags diags = { 0 };
    struct tocsin_config *cfg = NULL;

    (void)state;
    go_to("bad");
    assert_true(tocsin_config_load("nope.yaml", &cfg, &diags) < 0);
    assert_int_equal(diags.n, 1);
    assert_string_equal(diags.lines[0],
                        "nope.yaml:1:1: cannot read config file: No such file or directory");
    tocsin_diags_free(&diags);
    assert_true(tocsin_config_load("tocsin.conf", &cfg, &diags) < 0);
    assert_string_equal(diags.lines[0],
                        "tocsin.conf:1:1: unknown config file type: use .yaml, .yml or .ini");
    tocsin_diags_free(&diags);
}

static void compare_kv(const struct tocsin_kvlist *a, const struct tocsin_kvlist *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_string_equal(a->items[i].name, b->items[i].name);
        assert_string_equal(a->items[i].value, b->items[i].value);
    }
}

static void assert_same_str(const char *a, const char *b)
{
    assert_true((a == NULL) == (b == NULL));
    if (a)
        assert_string_equal(a, b);
}

static void compare_tls(const struct tocsin_tls_conf *x, const struct tocsin_tls_conf *y)
{
    assert_int_equal(x->enabled, y->enabled);
    assert_same_str(x->ca_file, y->ca_file);
    assert_int_equal(x->skip_verify, y->skip_verify);
    assert_same_str(x->server_name, y->server_name);
    assert_same_str(x->cert_file, y->cert_file);
    assert_same_str(x->key_file, y->key_file);
}

/* Every field of the webhook model. */
static void compare_webhook(const struct tocsin_webhook_conf *x,
                            const struct tocsin_webhook_conf *y)
{
    assert_string_equal(x->name, y->name);
    assert_same_str(x->url, y->url);
    assert_string_equal(x->format, y->format);
    assert_int_equal(x->n_secrets, y->n_secrets);
    for (size_t i = 0; i < x->n_secrets; i++)
        assert_string_equal(x->secrets[i], y->secrets[i]);
    /* secret is an alias of secrets[0], never a copy */
    assert_ptr_equal(x->secret, x->n_secrets ? x->secrets[0] : NULL);
    assert_ptr_equal(y->secret, y->n_secrets ? y->secrets[0] : NULL);
    assert_int_equal(x->signing, y->signing);
    assert_int_equal(x->events, y->events);
    compare_kv(&x->headers, &y->headers);
    assert_string_equal(x->method, y->method);
    assert_int_equal(x->timeout_ms, y->timeout_ms);
    assert_int_equal(x->connect_timeout_ms, y->connect_timeout_ms);
    assert_int_equal(x->rate_limit, y->rate_limit);
    assert_int_equal(x->rate_period_ms, y->rate_period_ms);
    assert_int_equal(x->retries, y->retries);
    assert_int_equal(x->retry_backoff_ms, y->retry_backoff_ms);
    assert_int_equal(x->max_age_ms, y->max_age_ms);
    compare_tls(&x->tls, &y->tls);
    assert_same_str(x->proxy, y->proxy);
    assert_same_str(x->routing_key, y->routing_key);
    assert_int_equal(x->n_urls, y->n_urls);
    for (size_t i = 0; i < x->n_urls; i++)
        assert_string_equal(x->urls[i], y->urls[i]);
}

static void compare_webhooks(const struct tocsin_config *a, const struct tocsin_config *b)
{
    assert_int_equal(a->n_webhooks, b->n_webhooks);
    for (size_t i = 0; i < a->n_webhooks; i++) {
        compare_webhook(&a->webhooks[i], &b->webhooks[i]);
        assert_null(a->webhooks[i].secret);
    }
}

static void compare_policies(const struct tocsin_config *a, const struct tocsin_config *b)
{
    assert_int_equal(a->n_policies, b->n_policies);
    for (size_t i = 0; i < a->n_policies; i++) {
        const struct tocsin_policy_conf *x = &a->policies[i], *y = &b->policies[i];

        assert_string_equal(x->name, y->name);
        assert_int_equal(x->failure_threshold, y->failure_threshold);
        assert_int_equal(x->success_threshold, y->success_threshold);
        assert_int_equal(x->n_levels, y->n_levels);
        for (size_t j = 0; j < x->n_levels; j++) {
            assert_int_equal(x->levels[j].level, y->levels[j].level);
            assert_int_equal(x->levels[j].after, y->levels[j].after);
            assert_int_equal(x->levels[j].repeat_ms, y->levels[j].repeat_ms);
            assert_int_equal(x->levels[j].n_notify, y->levels[j].n_notify);
            assert_memory_equal(x->levels[j].notify, y->levels[j].notify,
                                x->levels[j].n_notify * sizeof(size_t));
        }
    }
}

static void compare_monitor(const struct tocsin_monitor_conf *x, const struct tocsin_monitor_conf *y)
{
    assert_string_equal(x->id, y->id);
    assert_string_equal(x->name, y->name);
    assert_int_equal(x->type, y->type);
    assert_true((x->url == NULL) == (y->url == NULL));
    if (x->url)
        assert_string_equal(x->url, y->url);
    assert_true((x->method == NULL) == (y->method == NULL)); /* NULL for tcp */
    if (x->method)
        assert_string_equal(x->method, y->method);
    compare_kv(&x->headers, &y->headers);
    assert_int_equal(x->n_expect_status, y->n_expect_status);
    assert_memory_equal(x->expect_status, y->expect_status,
                        x->n_expect_status * sizeof(*x->expect_status));
    assert_true((x->host == NULL) == (y->host == NULL));
    if (x->host)
        assert_string_equal(x->host, y->host);
    assert_int_equal(x->port, y->port);
    assert_int_equal(x->interval_ms, y->interval_ms);
    assert_int_equal(x->timeout_ms, y->timeout_ms);
    assert_int_equal(x->retry_interval_ms, y->retry_interval_ms);
    assert_int_equal(x->policy, y->policy);
    assert_int_equal(x->n_regions, y->n_regions);
    assert_memory_equal(x->regions, y->regions, x->n_regions * sizeof(size_t));
    assert_int_equal(x->quorum, y->quorum);
    assert_int_equal(x->n_depends_on, y->n_depends_on);
    assert_memory_equal(x->depends_on, y->depends_on, x->n_depends_on * sizeof(size_t));
    assert_int_equal(x->n_maintenance, y->n_maintenance);
    for (size_t i = 0; i < x->n_maintenance; i++) {
        const struct tocsin_maintenance_conf *a = &x->maintenance[i], *b = &y->maintenance[i];

        assert_true((a->cron == NULL) == (b->cron == NULL));
        assert_same_str(a->cron_text, b->cron_text);
        assert_int_equal(a->duration_ms, b->duration_ms);
        assert_same_str(a->timezone, b->timezone);
        assert_int_equal(a->start, b->start);
        assert_int_equal(a->end, b->end);
    }
}

static void test_yaml_ini_same_model(void **state)
{
    struct tocsin_diags diags = { 0 };
    struct tocsin_config *a = NULL, *b = NULL;

    (void)state;
    go_to("good");
    assert_int_equal(load("example.yaml", &a, &diags), 0);
    assert_int_equal(load("example.ini", &b, &diags), 0);
    assert_string_equal(a->agent.region, b->agent.region);
    assert_string_equal(a->agent.state_dir, b->agent.state_dir);
    assert_int_equal(a->agent.max_concurrency, b->agent.max_concurrency);
    assert_int_equal(a->agent.log_level, TOCSIN_LOG_WARN);
    assert_int_equal(a->agent.log_level, b->agent.log_level);
    assert_int_equal(a->agent.log_format, b->agent.log_format);
    assert_int_equal(a->n_regions, 1);
    assert_int_equal(b->n_regions, 1);
    assert_string_equal(b->regions[0].name, "eu-a");
    compare_webhooks(a, b);
    compare_policies(a, b);
    assert_int_equal(a->n_monitors, 2);
    assert_int_equal(a->n_monitors, b->n_monitors);
    for (size_t i = 0; i < a->n_monitors; i++)
        compare_monitor(&a->monitors[i], &b->monitors[i]);
    /* Spot checks that the shared model is the intended one. */
    assert_int_equal(b->webhooks[0].events, TOCSIN_EVENT_RECOVERY);
    assert_int_equal(b->monitors[1].type, TOCSIN_PROBE_TCP);
    assert_int_equal(b->monitors[0].interval_ms, 120000);
    assert_int_equal(b->monitors[0].retry_interval_ms, 120000);
    assert_int_equal(b->policies[0].levels[1].n_notify, 2);
    assert_int_equal(b->policies[0].levels[0].repeat_ms, 0);
    assert_int_equal(b->policies[0].levels[1].repeat_ms, 30 * 60 * 1000);
    /* api depends on db (defined after it) and has two windows; db one. */
    assert_int_equal(b->monitors[0].n_depends_on, 1);
    assert_int_equal(b->monitors[0].depends_on[0], 1);
    assert_int_equal(b->monitors[1].n_depends_on, 0);
    assert_int_equal(b->monitors[0].n_maintenance, 2);
    assert_non_null(b->monitors[0].maintenance[0].cron);
    assert_string_equal(b->monitors[0].maintenance[0].cron_text, "0 3 * * SUN");
    assert_int_equal(b->monitors[0].maintenance[0].duration_ms, 3600000);
    assert_string_equal(b->monitors[0].maintenance[0].timezone, "Europe/Berlin");
    assert_null(b->monitors[0].maintenance[1].cron);
    assert_int_equal(b->monitors[0].maintenance[1].start, 1798149600); /* 2026-12-24T22:00Z */
    assert_int_equal(b->monitors[0].maintenance[1].end, 1798164000);   /* 02:00Z = 03:00+01 */
    assert_int_equal(b->monitors[1].n_maintenance, 1);
    assert_string_equal(b->monitors[1].maintenance[0].cron_text, "*/15 2-4 1,15 * MON-FRI");
    assert_int_equal(b->monitors[1].maintenance[0].duration_ms, 90000);
    assert_null(b->monitors[1].maintenance[0].timezone);
    /* statuspageone's delivery defaults (DESIGN §5) */
    assert_int_equal(b->webhooks[1].rate_limit, 100);
    assert_int_equal(b->webhooks[1].rate_period_ms, 60000);
    assert_int_equal(b->webhooks[1].retries, 5);
    assert_int_equal(b->webhooks[1].retry_backoff_ms, 30000);
    assert_int_equal(b->webhooks[1].max_age_ms, 86400000);
    assert_int_equal(b->webhooks[1].timeout_ms, 30000);
    assert_int_equal(b->webhooks[1].connect_timeout_ms, 10000);
    assert_int_equal(b->webhooks[1].n_secrets, 0);
    assert_null(b->webhooks[1].proxy);
    assert_true(b->webhooks[1].tls.enabled);
    tocsin_config_free(a);
    tocsin_config_free(b);
    tocsin_diags_free(&diags);
}

static void test_full_example(void **state)
{
    struct tocsin_diags diags = { 0 };
    struct tocsin_config *cfg = NULL;
    const struct tocsin_monitor_conf *m;
    char buf[64];

    (void)state;
    go_to("good");
    assert_int_equal(load("full.yaml", &cfg, &diags), 0);
    assert_string_equal(cfg->path, "full.yaml");
    assert_string_equal(cfg->agent.region, "eu-central");
    assert_int_equal(cfg->agent.max_concurrency, 500);
    assert_int_equal(cfg->agent.log_format, TOCSIN_LOG_JSON);
    assert_string_equal(cfg->webhooks[0].secret, "s3cret");
    assert_int_equal(cfg->webhooks[1].signing, TOCSIN_SIGNING_NONE);
    assert_int_equal(cfg->webhooks[1].timeout_ms, 30000);
    m = tocsin_config_monitor(cfg, "mon_api");
    assert_non_null(m);
    assert_string_equal(m->name, "API Server");
    assert_string_equal(m->method, "HEAD");
    assert_int_equal(m->headers.n, 2);
    tocsin_monitor_expect_status_str(m, buf, sizeof(buf));
    assert_string_equal(buf, "200-299,301");
    assert_true(tocsin_monitor_status_ok(m, 204));
    assert_true(tocsin_monitor_status_ok(m, 301));
    assert_false(tocsin_monitor_status_ok(m, 302));
    assert_string_equal(cfg->policies[m->policy].name, "quiet");
    assert_int_equal(m->interval_ms, 60000);
    assert_int_equal(m->retry_interval_ms, 10000);
    m = tocsin_config_monitor(cfg, "db");
    assert_non_null(m);
    assert_int_equal(m->type, TOCSIN_PROBE_TCP);
    assert_int_equal(m->port, 5432);
    assert_int_equal(m->interval_ms, 30000);
    assert_int_equal(m->retry_interval_ms, 15000);
    assert_int_equal(m->timeout_ms, 5000);
    m = tocsin_config_monitor(cfg, "home-page-www");
    assert_non_null(m);
    tocsin_monitor_expect_status_str(m, buf, sizeof(buf));
    assert_string_equal(buf, "200");
    assert_null(tocsin_config_monitor(cfg, "nope"));
    /* "quiet" has no levels: level 1 at its threshold to every webhook. */
    assert_int_equal(cfg->policies[1].n_levels, 1);
    assert_int_equal(cfg->policies[1].levels[0].after, 5);
    assert_int_equal(cfg->policies[1].levels[0].n_notify, 2);
    tocsin_config_free(cfg);
}

static void test_empty_config(void **state)
{
    struct tocsin_diags diags = { 0 };
    struct tocsin_config *cfg = NULL;

    (void)state;
    go_to("good");
    assert_int_equal(load("empty.yaml", &cfg, &diags), 0);
    assert_int_equal(cfg->n_monitors, 0);
    assert_string_equal(cfg->agent.region, "default");
    assert_string_equal(cfg->agent.state_dir, "/var/lib/tocsin");
    assert_int_equal(cfg->agent.max_concurrency, 2000);
    assert_int_equal(cfg->agent.log_level, TOCSIN_LOG_INFO);
    assert_int_equal(cfg->n_policies, 1);
    assert_string_equal(cfg->policies[0].name, "default");
    assert_int_equal(cfg->policies[0].failure_threshold, 3);
    assert_int_equal(cfg->policies[0].levels[0].after, 3);
    tocsin_config_free(cfg);
}

/* Every monitor that sets no method, status or regions shares the static
 * "GET", the one default range and the defaults' regions (no copy per monitor); one with its own list owns it
 * (freed with the config: valgrind runs this suite); a TCP monitor has none. */
static void test_shared_http_defaults(void **state)
{
    char path[] = "/tmp/tocsin-shared-XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    FILE *fp = fdopen(fd, "w");
    struct tocsin_diags diags = { 0 };
    struct tocsin_config *cfg = NULL;
    const struct tocsin_monitor_conf *m;

    (void)state;
    assert_non_null(fp);
    fprintf(fp, "agent: {state_dir: /tmp}\n"
                "webhooks: [{name: w, url: \"http://127.0.0.1:9/\", secret: s, method: PUT}]\n"
                "monitors:\n"
                "  - {id: a, type: http, url: \"http://127.0.0.1:1/\"}\n"
                "  - {id: b, type: http, url: \"http://127.0.0.1:2/\", method: POST}\n"
                "  - {id: c, type: http, url: \"http://127.0.0.1:3/\", expect: {status: [200, 301-302]}}\n"
                "  - {id: d, type: tcp, host: 127.0.0.1, port: 4}\n");
    fclose(fp);
    assert_int_equal(load(path, &cfg, &diags), 0);
    unlink(path);
    m = cfg->monitors;
    assert_int_equal(cfg->n_monitors, 4);
    assert_string_equal(m[0].method, "GET");
    assert_ptr_equal(m[0].expect_status, &tocsin_default_expect_status);
    assert_int_equal(m[0].n_expect_status, 1);
    assert_int_equal(m[0].expect_status[0].lo, 200);
    assert_int_equal(m[0].expect_status[0].hi, 299);
    assert_string_equal(m[1].method, "POST");
    assert_ptr_equal(m[2].method, m[0].method);
    assert_ptr_not_equal(m[2].expect_status, &tocsin_default_expect_status);
    assert_int_equal(m[2].n_expect_status, 2);
    assert_int_equal(m[2].expect_status[1].lo, 301);
    assert_int_equal(m[2].expect_status[1].hi, 302);
    assert_ptr_equal(m[0].regions, cfg->default_regions); /* no regions listed: shared */
    assert_ptr_equal(m[3].regions, cfg->default_regions);
    assert_int_equal(m[0].n_regions, 1);
    assert_int_equal(m[0].regions[0], 0);
    assert_null(m[3].method);
    assert_null(m[3].expect_status);
    assert_int_equal(m[3].n_expect_status, 0);
    assert_string_equal(cfg->webhooks[0].method, "PUT");
    tocsin_config_free(cfg);
}

/* Loads COUNT shards of one list of 200 monitors: together they hold every
 * monitor exactly once, in config order, and a child's depends_on still names
 * its parent after the renumbering. */
static void test_shards(void **state)
{
    enum { MONITORS = 200, SHARDS = 3 };
    char path[] = "/tmp/tocsin-shard-XXXXXX.yaml";
    int seen[MONITORS] = { 0 };
    int fd = mkstemps(path, 5);
    FILE *fp = fdopen(fd, "w");
    size_t child = MONITORS;

    (void)state;
    assert_non_null(fp);
    /* a parent and a child that hash to the same shard */
    for (size_t i = 1; i < MONITORS && child == MONITORS; i++) {
        char a[16];
        snprintf(a, sizeof(a), "m%zu", i);
        if (tocsin_config_shard_of(a, SHARDS) == tocsin_config_shard_of("m0", SHARDS))
            child = i;
    }
    assert_true(child < MONITORS);
    fprintf(fp, "agent: {shard: \"${TOCSIN_TEST_SHARD}\", state_dir: /tmp}\nmonitors:\n");
    for (size_t i = 0; i < MONITORS; i++)
        fprintf(fp, "  - {id: m%zu, type: tcp, host: 127.0.0.1, port: %zu%s}\n", i, 1000 + i,
                i == child ? ", depends_on: [m0]" : "");
    fclose(fp);
    for (unsigned k = 1; k <= SHARDS; k++) {
        struct tocsin_diags diags = { 0 };
        struct tocsin_config *cfg = NULL;
        char shard[16];
        long last = -1;

        snprintf(shard, sizeof(shard), "%u/%u", k, SHARDS);
        setenv("TOCSIN_TEST_SHARD", shard, 1);
        assert_int_equal(load(path, &cfg, &diags), 0);
        assert_int_equal(cfg->agent.shard_index, k);
        assert_int_equal(cfg->agent.shard_count, SHARDS);
        assert_int_equal(cfg->n_monitors_all, MONITORS);
        assert_true(cfg->n_monitors > MONITORS / SHARDS / 2); /* FNV-1a spreads them */
        for (size_t i = 0; i < cfg->n_monitors; i++) {
            long n = strtol(cfg->monitors[i].id + 1, NULL, 10);
            assert_true(n > last); /* config order kept */
            last = n;
            seen[n]++;
            assert_int_equal(tocsin_config_shard_of(cfg->monitors[i].id, SHARDS), k);
            if ((size_t)n == child) {
                assert_int_equal(cfg->monitors[i].n_depends_on, 1);
                assert_string_equal(cfg->monitors[cfg->monitors[i].depends_on[0]].id, "m0");
            }
        }
        tocsin_config_free(cfg);
        tocsin_diags_free(&diags);
    }
    for (size_t i = 0; i < MONITORS; i++)
        assert_int_equal(seen[i], 1);
    /* known values: the hash is part of the contract (hosts must agree) */
    assert_int_equal(tocsin_config_shard_of("a", 2), 1);
    assert_int_equal(tocsin_config_shard_of("b", 2), 2);
    assert_int_equal(tocsin_config_shard_of("anything", 1), 1);
    unlink(path);
}

static void test_probes_d(void **state)
{
    struct tocsin_diags diags = { 0 };
    struct tocsin_config *cfg = NULL;

    (void)state;
    go_to("good");
    assert_int_equal(load("probes/tocsin.yaml", &cfg, &diags), 0);
    /* main file first, then probes.d in byte order; dotfiles and *.txt skipped */
    assert_int_equal(cfg->n_monitors, 3);
    assert_string_equal(cfg->monitors[0].id, "main");
    assert_string_equal(cfg->monitors[1].id, "web");
    assert_string_equal(cfg->monitors[2].id, "cache");
    assert_int_equal(cfg->n_webhooks, 2);
    assert_string_equal(cfg->webhooks[1].name, "late");
    assert_string_equal(cfg->policies[cfg->monitors[1].policy].name, "extra");
    assert_string_equal(cfg->policies[cfg->monitors[0].policy].name, "default");
    assert_int_equal(cfg->policies[0].levels[0].n_notify, 2);
    /* depends_on reaches across files, both ways */
    assert_int_equal(cfg->monitors[0].n_depends_on, 1);
    assert_int_equal(cfg->monitors[0].depends_on[0], 2);
    assert_int_equal(cfg->monitors[1].n_depends_on, 2);
    assert_int_equal(cfg->monitors[1].depends_on[0], 0);
    assert_int_equal(cfg->monitors[1].depends_on[1], 2);
    tocsin_config_free(cfg);
}

static void test_env_and_secret_file(void **state)
{
    struct tocsin_diags diags = { 0 };
    struct tocsin_config *cfg = NULL;
    const struct tocsin_webhook_conf *w;

    (void)state;
    go_to("good/env");
    assert_int_equal(chmod("ops.secret", 0600), 0);
    setenv("TOCSIN_TEST_HOST", "hooks.example.org", 1);
    setenv("TOCSIN_TEST_SECRET", "hunter2", 1);
    assert_int_equal(load("tocsin.yaml", &cfg, &diags), 0);
    w = &cfg->webhooks[0];
    assert_string_equal(w->url, "https://hooks.example.org/hook");
    assert_string_equal(w->secret, "topsecret");
    assert_string_equal(w->headers.items[0].name, "X-Literal");
    assert_string_equal(w->headers.items[0].value, "${NOT_EXPANDED}");
    assert_string_equal(w->headers.items[1].value, "hooks.example.org");
    assert_string_equal(cfg->webhooks[1].secret, "hunter2");
    assert_int_equal(w->n_secrets, 1);
    assert_ptr_equal(w->secret, w->secrets[0]);
    tocsin_config_free(cfg);
}

static void compare_regions(const struct tocsin_config *a, const struct tocsin_config *b)
{
    assert_int_equal(a->n_regions, b->n_regions);
    for (size_t i = 0; i < a->n_regions; i++) {
        const struct tocsin_region_conf *x = &a->regions[i], *y = &b->regions[i];

        assert_string_equal(x->name, y->name);
        assert_same_str(x->source_address, y->source_address);
        assert_same_str(x->interface, y->interface);
        assert_int_equal(x->n_dns_servers, y->n_dns_servers);
        for (size_t j = 0; j < x->n_dns_servers; j++)
            assert_string_equal(x->dns_servers[j], y->dns_servers[j]);
        assert_int_equal(x->dns_cache_ms, y->dns_cache_ms);
        assert_same_str(x->proxy, y->proxy);
    }
}

static void compare_expect(const struct tocsin_expect_conf *x, const struct tocsin_expect_conf *y)
{
    assert_same_str(x->body_contains, y->body_contains);
    assert_same_str(x->body_not_contains, y->body_not_contains);
    assert_same_str(x->body_regex, y->body_regex);
    assert_same_str(x->body_not_regex, y->body_not_regex);
    assert_true((x->body_regex_re == NULL) == (x->body_regex == NULL));
    assert_true((y->body_regex_re == NULL) == (y->body_regex == NULL));
    assert_true((x->body_not_regex_re == NULL) == (x->body_not_regex == NULL));
    assert_true((y->body_not_regex_re == NULL) == (y->body_not_regex == NULL));
    compare_kv(&x->headers, &y->headers);
    assert_int_equal(x->max_response_time_ms, y->max_response_time_ms);
    assert_int_equal(x->cert_min_days, y->cert_min_days);
    assert_same_str(x->contains, y->contains);
}

static void compare_probe(const struct tocsin_monitor_conf *x, const struct tocsin_monitor_conf *y)
{
    compare_monitor(x, y);
    assert_same_str(x->body, y->body);
    assert_int_equal(x->body_len, y->body_len);
    assert_same_str(x->basic_auth_user, y->basic_auth_user);
    assert_same_str(x->basic_auth_password, y->basic_auth_password);
    assert_same_str(x->bearer_token, y->bearer_token);
    assert_int_equal(x->follow_redirects, y->follow_redirects);
    assert_int_equal(x->keep_alive, y->keep_alive);
    assert_int_equal(x->ip_version, y->ip_version);
    assert_int_equal(x->http_version, y->http_version);
    assert_int_equal(x->max_body_bytes, y->max_body_bytes);
    compare_expect(&x->expect, &y->expect);
    compare_tls(&x->tls, &y->tls);
    assert_same_str(x->send, y->send);
    assert_int_equal(x->send_len, y->send_len);
}

static bool matches(const regex_t *re, const char *s)
{
    return regexec(re, s, 0, NULL, 0) == 0;
}

/* Spot checks that the shared model is the intended one. */
static void check_engine_model(const struct tocsin_config *c)
{
    const struct tocsin_monitor_conf *m;

    assert_string_equal(c->regions[0].name, "eu-a");
    assert_string_equal(c->regions[0].dns_servers[2], "[::1]:5353");
    assert_int_equal(c->regions[0].dns_cache_ms, 30000);
    assert_int_equal(c->regions[1].dns_cache_ms, 60000);
    assert_string_equal(c->regions[1].interface, "eth1");
    assert_string_equal(c->regions[2].proxy, "socks5h://probe:hunter2@10.0.0.3:1080");
    m = tocsin_config_monitor(c, "api");
    assert_int_equal(m->n_regions, 4); /* all, in order */
    assert_string_equal(m->body, "{\"ping\": true}");
    assert_string_equal(m->basic_auth_password, "hunter2");
    assert_false(m->follow_redirects);
    assert_true(m->keep_alive);
    assert_int_equal(m->ip_version, TOCSIN_IP_V6);
    assert_int_equal(m->http_version, TOCSIN_HTTP_1_1);
    assert_int_equal(m->max_body_bytes, 512 * 1024);
    assert_string_equal(m->expect.body_contains, "\"ok\"");
    assert_true(matches(m->expect.body_regex_re, "{\"status\": \"up\"}"));
    assert_false(matches(m->expect.body_regex_re, "status: down"));
    assert_string_equal(m->expect.headers.items[1].value, "");
    assert_int_equal(m->expect.max_response_time_ms, 2000);
    assert_true(m->tls.enabled);
    assert_string_equal(m->tls.ca_file, "engine/tls/ca.pem"); /* from the file's dir */
    m = tocsin_config_monitor(c, "token");
    assert_string_equal(m->bearer_token, "hunter2");
    assert_int_equal(m->max_body_bytes, 2000000);
    assert_int_equal(m->http_version, TOCSIN_HTTP_2);
    m = tocsin_config_monitor(c, "plain");
    assert_true(m->follow_redirects); /* defaults */
    assert_false(m->keep_alive);
    assert_false(m->tls.enabled);
    assert_int_equal(m->max_body_bytes, 1000);
    assert_int_equal(m->n_regions, 2);
    m = tocsin_config_monitor(c, "db");
    assert_string_equal(m->send, "PING\r\n");
    assert_int_equal(m->send_len, 6);
    assert_string_equal(m->expect.contains, "+PONG\r\n");
    assert_false(m->tls.enabled);
    m = tocsin_config_monitor(c, "smtps");
    assert_string_equal(m->send, "EHLO tocsin\t\\A\r\n");
    assert_true(m->tls.enabled);
    assert_int_equal(m->expect.cert_min_days, 7);
    assert_true(tocsin_config_monitor(c, "imaps")->tls.enabled);
}

static void test_engine_yaml_ini(void **state)
{
    struct tocsin_diags diags = { 0 };
    struct tocsin_config *a = NULL, *b = NULL;

    (void)state;
    setenv("TOCSIN_TEST_SECRET", "hunter2", 1);
    go_to("good"); /* so relative file paths must be taken from engine/ */
    assert_int_equal(load("engine/tocsin.yaml", &a, &diags), 0);
    assert_int_equal(load("engine/tocsin.ini", &b, &diags), 0);
    assert_int_equal(diags.n, 0);
    compare_regions(a, b);
    assert_int_equal(a->n_monitors, 6);
    assert_int_equal(a->n_monitors, b->n_monitors);
    for (size_t i = 0; i < a->n_monitors; i++)
        compare_probe(&a->monitors[i], &b->monitors[i]);
    check_engine_model(a);
    check_engine_model(b);
    tocsin_config_free(a);
    tocsin_config_free(b);
}

static const struct tocsin_webhook_conf *webhook(const struct tocsin_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_webhooks; i++)
        if (strcmp(c->webhooks[i].name, name) == 0)
            return &c->webhooks[i];
    fail_msg("no webhook %s", name);
    return NULL;
}

static void assert_delivery(const struct tocsin_webhook_conf *w, int retries, uint64_t backoff,
                            uint64_t timeout, uint64_t connect)
{
    assert_int_equal(w->retries, retries);
    assert_int_equal(w->retry_backoff_ms, backoff);
    assert_int_equal(w->timeout_ms, timeout);
    assert_int_equal(w->connect_timeout_ms, connect);
}

/* Spot checks that the shared model is the intended one. */
static void check_webhook_model(const struct tocsin_config *c)
{
    const struct tocsin_webhook_conf *w;

    assert_int_equal(c->n_webhooks, 7);
    w = webhook(c, "ops");
    assert_int_equal(w->signing, TOCSIN_SIGNING_STANDARD);
    assert_int_equal(w->n_secrets, 2);
    assert_string_equal(w->secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert_string_equal(w->secrets[1], "old-raw-secret");
    assert_int_equal(w->rate_limit, 4);
    assert_int_equal(w->rate_period_ms, 1000);
    assert_delivery(w, 3, 10000, 20000, 5000);
    assert_int_equal(w->max_age_ms, 12 * 3600000);
    assert_string_equal(w->headers.items[1].value, "Bearer hunter2");
    assert_string_equal(w->method, "PUT");
    assert_true(w->tls.enabled);
    assert_string_equal(w->tls.ca_file, "webhooks/../engine/tls/ca.pem"); /* from the file's dir */
    assert_string_equal(w->tls.key_file, "webhooks/../engine/tls/client.key");
    assert_false(w->tls.skip_verify);
    assert_null(w->tls.server_name);
    assert_string_equal(w->proxy, "http://probe:hunter2@10.0.0.9:3128");
    assert_null(w->routing_key);
    assert_int_equal(w->n_urls, 0);
    w = webhook(c, "sp"); /* format defaults: 5 retries from 30 s, 30 s, 10 s connect */
    assert_string_equal(w->format, "statuspage");
    assert_string_equal(w->secret, "file-secret");
    assert_int_equal(w->n_secrets, 1);
    assert_int_equal(w->signing, TOCSIN_SIGNING_DEFAULT);
    assert_int_equal(w->rate_limit, 500);
    assert_int_equal(w->rate_period_ms, 3600000);
    assert_delivery(w, 5, 30000, 30000, 10000);
    assert_int_equal(w->max_age_ms, 86400000);
    w = webhook(c, "bs"); /* Better Stack: 10 retries, 10 s connect, 30 s */
    assert_delivery(w, 10, 30000, 30000, 10000);
    assert_string_equal(w->secret, "hunter2");
    assert_int_equal(w->events, TOCSIN_EVENT_INCIDENT);
    assert_int_equal(w->rate_limit, 100);
    assert_int_equal(w->rate_period_ms, 60000);
    w = webhook(c, "ats"); /* ATStatus: 3 attempts, 10 s */
    assert_delivery(w, 2, 30000, 10000, 10000);
    assert_int_equal(w->max_age_ms, 86400000);
    w = webhook(c, "ss"); /* StatusStack: 5 s, so connecting may take 5 s too */
    assert_delivery(w, 5, 30000, 5000, 5000);
    assert_int_equal(w->signing, TOCSIN_SIGNING_NONE);
    assert_null(w->secret);
    assert_null(w->secrets);
    assert_false(w->tls.enabled);
    assert_string_equal(w->proxy, "socks5h://10.0.0.3:1080");
    w = webhook(c, "pd");
    assert_string_equal(w->format, "pagerduty");
    assert_string_equal(w->routing_key, "hunter2");
    assert_int_equal(w->n_secrets, 0);
    assert_delivery(w, 0, 30000, 30000, 10000);
    w = webhook(c, "am");
    assert_string_equal(w->format, "alertmanager");
    assert_null(w->url);
    assert_int_equal(w->n_urls, 2);
    assert_string_equal(w->urls[0], "http://am1:9093"); /* "/api/v2/alerts" is appended */
    assert_string_equal(w->urls[1], "https://am2:9093");
    assert_true(w->tls.enabled);
    assert_true(w->tls.skip_verify);
    assert_int_equal(w->rate_limit, 60);
    assert_int_equal(w->rate_period_ms, 60000);
}

static void test_webhooks_yaml_ini(void **state)
{
    struct tocsin_diags diags = { 0 };
    struct tocsin_config *a = NULL, *b = NULL;

    (void)state;
    setenv("TOCSIN_TEST_SECRET", "hunter2", 1);
    go_to("good"); /* so relative file paths must be taken from webhooks/ */
    assert_int_equal(chmod("webhooks/sp.secret", 0600), 0);
    assert_int_equal(load("webhooks/tocsin.yaml", &a, &diags), 0);
    assert_int_equal(load("webhooks/tocsin.ini", &b, &diags), 0);
    assert_int_equal(diags.n, 0);
    assert_int_equal(a->n_webhooks, b->n_webhooks);
    for (size_t i = 0; i < a->n_webhooks; i++)
        compare_webhook(&a->webhooks[i], &b->webhooks[i]);
    check_webhook_model(a);
    check_webhook_model(b);
    tocsin_config_free(a);
    tocsin_config_free(b);
}

/* Asserts that YAML and INI files load with no diagnostic into one model. */
static void assert_same_config(const char *yaml, const char *ini)
{
    struct tocsin_diags diags = { 0 };
    struct tocsin_config *a = NULL, *b = NULL;

    assert_int_equal(load(yaml, &a, &diags), 0);
    assert_int_equal(load(ini, &b, &diags), 0);
    assert_int_equal(diags.n, 0);
    assert_string_equal(a->agent.region, b->agent.region);
    assert_string_equal(a->agent.state_dir, b->agent.state_dir);
    assert_string_equal(a->agent.listen, b->agent.listen);
    assert_int_equal(a->agent.max_concurrency, b->agent.max_concurrency);
    assert_int_equal(a->agent.log_level, b->agent.log_level);
    assert_int_equal(a->agent.log_format, b->agent.log_format);
    assert_int_equal(a->agent.shard_index, b->agent.shard_index);
    assert_int_equal(a->agent.shard_count, b->agent.shard_count);
    assert_int_equal(a->agent.n_canaries, b->agent.n_canaries);
    assert_memory_equal(a->agent.canaries, b->agent.canaries,
                        a->agent.n_canaries * sizeof(size_t));
    compare_regions(a, b);
    assert_int_equal(a->n_webhooks, b->n_webhooks);
    for (size_t i = 0; i < a->n_webhooks; i++)
        compare_webhook(&a->webhooks[i], &b->webhooks[i]);
    compare_policies(a, b);
    assert_int_equal(a->n_monitors, b->n_monitors);
    assert_int_equal(a->n_monitors_all, b->n_monitors_all);
    for (size_t i = 0; i < a->n_monitors; i++)
        compare_probe(&a->monitors[i], &b->monitors[i]);
    tocsin_config_free(a);
    tocsin_config_free(b);
}

/* The configuration the packages install (etc/tocsin.yaml) and its INI form:
 * both valid with no environment and no other file, and the same model. */
static void test_shipped_config(void **state)
{
    char yaml[PATH_MAX], ini[PATH_MAX];
    struct tocsin_diags diags = { 0 };
    struct tocsin_config *cfg = NULL;

    (void)state;
    snprintf(yaml, sizeof(yaml), "%s/etc/tocsin.yaml", TOCSIN_SOURCE_DIR);
    snprintf(ini, sizeof(ini), "%s/etc/tocsin.ini", TOCSIN_SOURCE_DIR);
    assert_same_config(yaml, ini);
    assert_int_equal(load(yaml, &cfg, &diags), 0);
    assert_string_equal(cfg->agent.state_dir, "/var/lib/tocsin");
    assert_string_equal(cfg->agent.listen, "127.0.0.1:9966");
    assert_int_equal(cfg->n_webhooks, 0); /* nothing is sent until one is added */
    assert_true(cfg->n_monitors <= 1);
    tocsin_config_free(cfg);
    tocsin_diags_free(&diags);
}

static void test_rate(void **state)
{
    static const struct {
        const char *s;
        int rc;
        uint32_t n;
        uint64_t ms;
    } cases[] = {
        { "100/min", 0, 100, 60000 }, { "4/s", 0, 4, 1000 },   { "1/h", 0, 1, 3600000 },
        { "1000000/s", 0, 1000000, 1000 }, { "0/s", -EINVAL, 0, 0 }, { "1000001/s", -EINVAL, 0, 0 },
        { "100/m", -EINVAL, 0, 0 },  { "100", -EINVAL, 0, 0 }, { "/s", -EINVAL, 0, 0 },
        { "-1/s", -EINVAL, 0, 0 },   { "1 /s", -EINVAL, 0, 0 }, { "1/S", -EINVAL, 0, 0 },
        { "1/sec", -EINVAL, 0, 0 },  { "", -EINVAL, 0, 0 },
        { "99999999999999999999/s", -EINVAL, 0, 0 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        uint32_t n = 0;
        uint64_t ms = 0;

        assert_int_equal(tocsin_config_parse_rate(cases[i].s, &n, &ms), cases[i].rc);
        if (cases[i].rc == 0) {
            assert_int_equal(n, cases[i].n);
            assert_int_equal(ms, cases[i].ms);
        }
    }
}

static void test_base64(void **state)
{
    (void)state;
    assert_int_equal(tocsin_config_base64_len("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), 24);
    assert_int_equal(tocsin_config_base64_len("YQ=="), 1);
    assert_int_equal(tocsin_config_base64_len("YWI="), 2);
    assert_int_equal(tocsin_config_base64_len("+/+/"), 3);
    assert_int_equal(tocsin_config_base64_len(""), -EINVAL);
    assert_int_equal(tocsin_config_base64_len("YQ"), -EINVAL);   /* unpadded */
    assert_int_equal(tocsin_config_base64_len("Y==="), -EINVAL);
    assert_int_equal(tocsin_config_base64_len("Y=Q="), -EINVAL);
    assert_int_equal(tocsin_config_base64_len("YQ-_"), -EINVAL); /* base64url */
    assert_int_equal(tocsin_config_base64_len("not base64!!"), -EINVAL);
}

static void test_size(void **state)
{
    static const struct {
        const char *s;
        int rc;
        uint64_t n;
    } cases[] = {
        { "1000", 0, 1000 },         { "1MiB", 0, 1048576 },  { "512KiB", 0, 524288 },
        { "10KB", 0, 10000 },        { "2MB", 0, 2000000 },   { "1GiB", 0, 1073741824 },
        { "7B", 0, 7 },              { "0", 0, 0 },           { "1mb", -EINVAL, 0 },
        { "1 MiB", -EINVAL, 0 },     { "", -EINVAL, 0 },      { "MiB", -EINVAL, 0 },
        { "-1", -EINVAL, 0 },        { "1.5MiB", -EINVAL, 0 },
        { "99999999999999999999", -EINVAL, 0 }, { "18446744073709551615GiB", -EINVAL, 0 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        uint64_t n = 0;

        assert_int_equal(tocsin_config_parse_size(cases[i].s, &n), cases[i].rc);
        if (cases[i].rc == 0)
            assert_int_equal(n, cases[i].n);
    }
}

static void test_unescape(void **state)
{
    char out[64];
    size_t len = 0, bad = 0;

    (void)state;
    assert_int_equal(tocsin_config_unescape("PING\\r\\n", out, &len, &bad), 0);
    assert_string_equal(out, "PING\r\n");
    assert_int_equal(len, 6);
    assert_int_equal(tocsin_config_unescape("a\\t\\\\\\x41\\x7e", out, &len, &bad), 0);
    assert_string_equal(out, "a\t\\A~");
    assert_int_equal(tocsin_config_unescape("\\x00", out, &len, &bad), 0);
    assert_int_equal(len, 1);
    assert_int_equal(tocsin_config_unescape("ab\\q", out, &len, &bad), -EINVAL);
    assert_int_equal(bad, 2);
    assert_int_equal(tocsin_config_unescape("\\x4", out, &len, &bad), -EINVAL);
    assert_int_equal(tocsin_config_unescape("x\\", out, &len, &bad), -EINVAL);
    assert_int_equal(bad, 1);
}

static void test_addresses(void **state)
{
    static const char *const good_dns[] = { "192.0.2.53", "127.0.0.1:5353", "::1",
                                            "[::1]:53", "2001:db8::53", "[2001:db8::1]:65535" };
    static const char *const bad_dns[] = { "", "dns.example.com", "127.0.0.1:", "127.0.0.1:0",
                                           "127.0.0.1:65536", "[::1]", "[::1]:", "::1:53x",
                                           "[127.0.0.1]:53", "1.2.3.4:53:1" };
    char buf[128];

    (void)state;
    for (size_t i = 0; i < sizeof(good_dns) / sizeof(*good_dns); i++)
        assert_true(tocsin_config_dns_server(good_dns[i]));
    for (size_t i = 0; i < sizeof(bad_dns) / sizeof(*bad_dns); i++)
        assert_false(tocsin_config_dns_server(bad_dns[i]));
    assert_true(tocsin_config_ip_literal("fe80::1"));
    assert_false(tocsin_config_ip_literal("localhost"));
    assert_int_equal(tocsin_config_check_proxy("http://10.0.0.9:3128"), 0);
    assert_int_equal(tocsin_config_check_proxy("https://u:p@proxy.example.com/"), 0);
    assert_int_equal(tocsin_config_check_proxy("socks5h://[::1]:1080"), 0);
    assert_int_equal(tocsin_config_check_proxy("socks5://10.0.0.3:1080"), -EPROTONOSUPPORT);
    assert_int_equal(tocsin_config_check_proxy("socks4://10.0.0.3:1080"), -EINVAL);
    assert_int_equal(tocsin_config_check_proxy("http://"), -EINVAL);
    assert_int_equal(tocsin_config_check_proxy("http://u:p@"), -EINVAL);
    assert_int_equal(tocsin_config_check_proxy("http://proxy:99999"), -EINVAL);
    assert_int_equal(tocsin_config_check_proxy("http://proxy/path"), -EINVAL);
    assert_int_equal(tocsin_config_check_proxy("10.0.0.9:3128"), -EINVAL);
    tocsin_config_redact_url("socks5://user:p@ss@10.0.0.3:1080/", buf, sizeof(buf));
    assert_string_equal(buf, "socks5://<redacted>@10.0.0.3:1080/");
    tocsin_config_redact_url("user:pw@10.0.0.3:1080", buf, sizeof(buf));
    assert_string_equal(buf, "<redacted>@10.0.0.3:1080");
    tocsin_config_redact_url("http://10.0.0.9:3128", buf, sizeof(buf));
    assert_string_equal(buf, "http://10.0.0.9:3128");
}

static void test_duration(void **state)
{
    static const struct {
        const char *s;
        int rc;
        uint64_t ms;
    } cases[] = {
        { "250ms", 0, 250 }, { "10s", 0, 10000 },   { "5m", 0, 300000 }, { "2h", 0, 7200000 },
        { "1d", 0, 86400000 }, { "0s", 0, 0 },      { "0", -EINVAL, 0 }, { "10", -EINVAL, 0 },
        { "5x", -EINVAL, 0 },  { "", -EINVAL, 0 },  { "s", -EINVAL, 0 }, { "-5s", -EINVAL, 0 },
        { " 5s", -EINVAL, 0 }, { "5s ", -EINVAL, 0 }, { "1.5s", -EINVAL, 0 },
        { "99999999999999999999s", -EINVAL, 0 },
    };
    char buf[32];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        uint64_t ms = 0;

        assert_int_equal(tocsin_config_parse_duration(cases[i].s, &ms), cases[i].rc);
        if (cases[i].rc == 0)
            assert_int_equal(ms, cases[i].ms);
    }
    tocsin_config_format_duration(90000, buf, sizeof(buf));
    assert_string_equal(buf, "90s");
    tocsin_config_format_duration(7200000, buf, sizeof(buf));
    assert_string_equal(buf, "2h");
    tocsin_config_format_duration(1500, buf, sizeof(buf));
    assert_string_equal(buf, "1500ms");
}

static void test_slug(void **state)
{
    char out[TOCSIN_ID_MAX + 1], longname[200];

    (void)state;
    assert_int_equal(tocsin_config_slug("API Server", out, sizeof(out)), 10);
    assert_string_equal(out, "api-server");
    tocsin_config_slug("  Home Page (www) ", out, sizeof(out));
    assert_string_equal(out, "home-page-www");
    tocsin_config_slug("a__b..C", out, sizeof(out));
    assert_string_equal(out, "a-b-c");
    tocsin_config_slug("Café #1", out, sizeof(out));
    assert_string_equal(out, "caf-1");
    assert_int_equal(tocsin_config_slug("!!!", out, sizeof(out)), -EINVAL);
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    longname[63] = ' ';
    assert_int_equal(tocsin_config_slug(longname, out, sizeof(out)), 63);
    longname[63] = 'x';
    assert_int_equal(tocsin_config_slug(longname, out, sizeof(out)), 64);
    assert_true(tocsin_config_valid_id("mon_api.v2-x"));
    assert_false(tocsin_config_valid_id(""));
    assert_false(tocsin_config_valid_id("a b"));
    assert_false(tocsin_config_valid_id(longname));
}

static void test_timestamp(void **state)
{
    static const struct {
        const char *s;
        int rc;
        int64_t t;
    } cases[] = {
        { "2026-12-24T22:00:00Z", 0, 1798149600 },
        { "2026-12-24t22:00:00z", 0, 1798149600 },
        { "2026-12-24 22:00:00Z", 0, 1798149600 },
        { "2026-12-24T23:00:00+01:00", 0, 1798149600 },
        { "2026-12-24T16:30:00-05:30", 0, 1798149600 },
        { "2026-12-24T22:00:00.999Z", 0, 1798149600 },
        { "1970-01-01T00:00:00Z", 0, 0 },
        { "1969-12-31T23:59:59Z", 0, -1 },
        { "2024-02-29T00:00:00Z", 0, 1709164800 },
        { "2026-02-29T00:00:00Z", -EINVAL, 0 },
        { "2026-04-31T00:00:00Z", -EINVAL, 0 },
        { "2026-13-01T00:00:00Z", -EINVAL, 0 },
        { "2026-12-24T24:00:00Z", -EINVAL, 0 },
        { "2026-12-24T22:00:00", -EINVAL, 0 },   /* no offset: which zone? */
        { "2026-12-24T22:00Z", -EINVAL, 0 },
        { "2026-12-24", -EINVAL, 0 },
        { "2026-12-24T22:00:00.Z", -EINVAL, 0 },
        { "2026-12-24T22:00:00+0100", -EINVAL, 0 },
        { "2026-12-24T22:00:00Zx", -EINVAL, 0 },
        { "", -EINVAL, 0 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        int64_t t = 42;

        fprintf(stderr, "timestamp %s\n", cases[i].s);
        assert_int_equal(tocsin_config_parse_timestamp(cases[i].s, &t), cases[i].rc);
        if (cases[i].rc == 0)
            assert_int_equal(t, cases[i].t);
    }
}

static void test_timezone(void **state)
{
    (void)state;
    assert_true(tocsin_config_timezone_exists("Europe/Berlin"));
    assert_true(tocsin_config_timezone_exists("UTC"));
    assert_true(tocsin_config_timezone_exists("America/Argentina/Buenos_Aires"));
    assert_false(tocsin_config_timezone_exists("Europe/Berln"));
    assert_false(tocsin_config_timezone_exists("Europe"));        /* a directory */
    assert_false(tocsin_config_timezone_exists("../zoneinfo/UTC"));
    assert_false(tocsin_config_timezone_exists("/usr/share/zoneinfo/UTC"));
    assert_false(tocsin_config_timezone_exists("CET-1CEST"));     /* a POSIX rule, not a zone */
    assert_false(tocsin_config_timezone_exists(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_corpus),
        cmocka_unit_test(test_bad_corpus),
        cmocka_unit_test(test_bad_probes_d),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_yaml_ini_same_model),
        cmocka_unit_test(test_full_example),
        cmocka_unit_test(test_empty_config),
        cmocka_unit_test(test_shared_http_defaults),
        cmocka_unit_test(test_probes_d),
        cmocka_unit_test(test_shards),
        cmocka_unit_test(test_env_and_secret_file),
        cmocka_unit_test(test_engine_yaml_ini),
        cmocka_unit_test(test_webhooks_yaml_ini),
        cmocka_unit_test(test_shipped_config),
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_slug),
        cmocka_unit_test(test_timestamp),
        cmocka_unit_test(test_timezone),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
