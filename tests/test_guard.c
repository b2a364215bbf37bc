/* src/guard.c: when a vantage point is degraded (DESIGN §4 prober guard), as
 * tables of fed results over configs built by the real loader.  After every
 * row: what the call returned, the changes popped, and each region's reason
 * and exact counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tocsin/config.h"
#include "tocsin/guard.h"

#define FAIL true
#define UP false
#define EXPIRE NULL /* a row without a monitor calls tocsin_guard_expire */

struct row {
    const char *what;
    const char *monitor;  /* id, or EXPIRE */
    const char *region;   /* the slot, by region name */
    bool failed;
    uint64_t now_ms;
    bool want_changed;    /* what feed / expire returned */
    const char *want_pops; /* regions tocsin_guard_pop_change gives after the row, "a,b" */
    const char *want;     /* every region: "NAME:REASON hosts F/C canaries F/N", space-separated */
};

/* ---- config -------------------------------------------------------------- */

/* Loads YAML with the real loader, from a file in a fresh temporary directory. */
static struct tocsin_config *load(const char *yaml)
{
    char dir[] = "/tmp/tocsin-guard-XXXXXX", path[64];
    struct tocsin_diags diags = {.n = 0};
    struct tocsin_config *config = NULL;
    FILE *f;
    int rc;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/tocsin.yaml", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(yaml, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    rc = tocsin_config_load(path, &config, &diags);
    for (size_t i = 0; i < diags.n; i++)
        fprintf(stderr, "%s\n", diags.lines[i]);
    tocsin_diags_free(&diags);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(rc, 0);
    assert_non_null(config);
    return config;
}

/* Appends "  - {id: PREFIX<i>, type: http, url: http://PREFIX<i>.example/, regions: [REGIONS]}"
 * for i in [FROM, TO). */
static void add_hosts(char *buf, size_t size, const char *prefix, int from, int to,
                      const char *regions)
{
    for (int i = from; i < to; i++) {
        size_t len = strlen(buf);
        int n = snprintf(buf + len, size - len,
                         "  - {id: %s%d, type: http, url: \"http://%s%d.example/\", regions: [%s]}\n",
                         prefix, i, prefix, i, regions);
        assert_true(n > 0 && (size_t)n < size - len);
    }
}

/* ---- rows ---------------------------------------------------------------- */

static size_t monitor_index(const struct tocsin_config *config, const char *id)
{
    const struct tocsin_monitor_conf *m = tocsin_config_monitor(config, id);

    if (m == NULL)
        fail_msg("no monitor %s", id);
    return (size_t)(m - config->monitors);
}

static size_t slot_of(const struct tocsin_config *config, size_t monitor, const char *region)
{
    const struct tocsin_monitor_conf *m = &config->monitors[monitor];

    for (size_t s = 0; s < m->n_regions; s++)
        if (strcmp(config->regions[m->regions[s]].name, region) == 0)
            return s;
    fail_msg("monitor %s does not check from %s", m->id, region);
    return 0;
}

/* Every region's state as one line, checking that the accessors agree. */
static void describe(const struct tocsin_config *config, const struct tocsin_guard *g, char *buf,
                     size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t r = 0; r < config->n_regions; r++) {
        struct tocsin_guard_info info;

        tocsin_guard_info(g, r, &info);
        assert_int_equal(info.degraded, strcmp(info.reason, "none") != 0);
        assert_int_equal(info.degraded, tocsin_guard_degraded(g, r));
        assert_int_equal(info.degraded, tocsin_guard_regions(g)[r]);
        len += (size_t)snprintf(buf + len, size - len, "%s%s:%s hosts %zu/%zu canaries %zu/%zu",
                                r ? " " : "", config->regions[r].name, info.reason,
                                info.hosts_failing, info.hosts_counted, info.canaries_failing,
                                info.canaries);
        assert_true(len < size);
    }
}

static void pops(const struct tocsin_config *config, struct tocsin_guard *g, char *buf,
                 size_t size)
{
    size_t len = 0, region;

    buf[0] = '\0';
    while (tocsin_guard_pop_change(g, &region)) {
        assert_true(region < config->n_regions);
        len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? "," : "",
                                config->regions[region].name);
        assert_true(len < size);
    }
}

static void run_rows(const struct tocsin_config *config, struct tocsin_guard *g,
                     const struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct row *row = &rows[i];
        char got[1024], popped[256];
        bool changed;

        if (row->monitor == EXPIRE) {
            changed = tocsin_guard_expire(g, row->now_ms);
        } else {
            size_t m = monitor_index(config, row->monitor);
            changed = tocsin_guard_feed(g, m, slot_of(config, m, row->region), row->failed,
                                        row->now_ms);
        }
        describe(config, g, got, sizeof(got));
        pops(config, g, popped, sizeof(popped));
        if (changed != row->want_changed || strcmp(got, row->want) != 0 ||
            strcmp(popped, row->want_pops) != 0)
            fail_msg("row %zu (%s):\n  changed %d, want %d\n  got  %s\n  want %s\n"
                     "  popped \"%s\", want \"%s\"",
                     i, row->what, changed, row->want_changed, got, row->want, popped,
                     row->want_pops);
    }
}

#define RUN(config, g, rows) run_rows(config, g, rows, sizeof(rows) / sizeof(rows[0]))

/* A guard over YAML; the caller frees both with done(). */
static struct tocsin_guard *guard_for(const char *yaml, struct tocsin_config **config)
{
    struct tocsin_guard *g = NULL;

    *config = load(yaml);
    assert_int_equal(tocsin_guard_new(*config, &g), 0);
    assert_non_null(g);
    return g;
}

static void done(struct tocsin_config *config, struct tocsin_guard *g)
{
    tocsin_guard_free(g);
    tocsin_config_free(config);
}

/* Interval 10s, timeout 1s: a result counts for 2 x 10s + 1s = 21s. */
static const char head_one_region[] = "regions:\n  - name: a\n"
                                      "defaults: {interval: 10s, timeout: 1s}\n"
                                      "monitors:\n";
static const char head_two_regions[] = "regions:\n  - name: a\n  - name: b\n"
                                       "defaults: {interval: 10s, timeout: 1s}\n"
                                       "monitors:\n";

/* ---- the hosts rule ------------------------------------------------------- */

static void test_ten_hosts_all_failing(void **state)
{
    static const struct row rows[] = {
        {"h0 fails", "h0", "a", FAIL, 1000, false, "", "a:none hosts 1/1 canaries 0/0"},
        {"h1", "h1", "a", FAIL, 1100, false, "", "a:none hosts 2/2 canaries 0/0"},
        {"h2", "h2", "a", FAIL, 1200, false, "", "a:none hosts 3/3 canaries 0/0"},
        {"h3", "h3", "a", FAIL, 1300, false, "", "a:none hosts 4/4 canaries 0/0"},
        {"h4", "h4", "a", FAIL, 1400, false, "", "a:none hosts 5/5 canaries 0/0"},
        {"h5", "h5", "a", FAIL, 1500, false, "", "a:none hosts 6/6 canaries 0/0"},
        {"h6", "h6", "a", FAIL, 1600, false, "", "a:none hosts 7/7 canaries 0/0"},
        {"h7", "h7", "a", FAIL, 1700, false, "", "a:none hosts 8/8 canaries 0/0"},
        {"h8", "h8", "a", FAIL, 1800, false, "", "a:none hosts 9/9 canaries 0/0"},
        {"h9: ten of ten", "h9", "a", FAIL, 1900, true, "a", "a:hosts hosts 10/10 canaries 0/0"},
        {"h0 fails again: no change", "h0", "a", FAIL, 11000, false, "",
         "a:hosts hosts 10/10 canaries 0/0"},
        {"h0 back: 9 of 10 still", "h0", "a", UP, 12000, false, "",
         "a:hosts hosts 9/10 canaries 0/0"},
        {"h1 back: 8 of 10, recovered", "h1", "a", UP, 12100, true, "a",
         "a:none hosts 8/10 canaries 0/0"},
        {"h1 fails again: 9 of 10", "h1", "a", FAIL, 13000, true, "a",
         "a:hosts hosts 9/10 canaries 0/0"},
        {"h0 fails again: 10 of 10", "h0", "a", FAIL, 13100, false, "",
         "a:hosts hosts 10/10 canaries 0/0"},
        {"all back one by one: h0", "h0", "a", UP, 14000, false, "",
         "a:hosts hosts 9/10 canaries 0/0"},
        {"h2", "h2", "a", UP, 14100, true, "a", "a:none hosts 8/10 canaries 0/0"},
        {"h3", "h3", "a", UP, 14200, false, "", "a:none hosts 7/10 canaries 0/0"},
    };
    struct tocsin_config *config;
    struct tocsin_guard *g;
    char yaml[8192];

    (void)state;
    snprintf(yaml, sizeof(yaml), "%s", head_one_region);
    add_hosts(yaml, sizeof(yaml), "h", 0, 10, "a");
    g = guard_for(yaml, &config);
    RUN(config, g, rows);
    done(config, g);
}

static void test_nine_hosts_never_enough(void **state)
{
    static const struct row rows[] = {
        {"h0", "h0", "a", FAIL, 1000, false, "", "a:none hosts 1/1 canaries 0/0"},
        {"h1", "h1", "a", FAIL, 1000, false, "", "a:none hosts 2/2 canaries 0/0"},
        {"h2", "h2", "a", FAIL, 1000, false, "", "a:none hosts 3/3 canaries 0/0"},
        {"h3", "h3", "a", FAIL, 1000, false, "", "a:none hosts 4/4 canaries 0/0"},
        {"h4", "h4", "a", FAIL, 1000, false, "", "a:none hosts 5/5 canaries 0/0"},
        {"h5", "h5", "a", FAIL, 1000, false, "", "a:none hosts 6/6 canaries 0/0"},
        {"h6", "h6", "a", FAIL, 1000, false, "", "a:none hosts 7/7 canaries 0/0"},
        {"h7", "h7", "a", FAIL, 1000, false, "", "a:none hosts 8/8 canaries 0/0"},
        {"h8: 9 of 9, fewer than 10 hosts", "h8", "a", FAIL, 1000, false, "",
         "a:none hosts 9/9 canaries 0/0"},
        {"again later", "h8", "a", FAIL, 5000, false, "", "a:none hosts 9/9 canaries 0/0"},
    };
    struct tocsin_config *config;
    struct tocsin_guard *g;
    char yaml[8192];

    (void)state;
    snprintf(yaml, sizeof(yaml), "%s", head_one_region);
    add_hosts(yaml, sizeof(yaml), "h", 0, 9, "a");
    g = guard_for(yaml, &config);
    RUN(config, g, rows);
    done(config, g);
}

static void test_nine_of_ten(void **state)
{
    static const struct row rows[] = {
        {"h9 up", "h9", "a", UP, 1000, false, "", "a:none hosts 0/1 canaries 0/0"},
        {"h0", "h0", "a", FAIL, 1000, false, "", "a:none hosts 1/2 canaries 0/0"},
        {"h1", "h1", "a", FAIL, 1000, false, "", "a:none hosts 2/3 canaries 0/0"},
        {"h2", "h2", "a", FAIL, 1000, false, "", "a:none hosts 3/4 canaries 0/0"},
        {"h3", "h3", "a", FAIL, 1000, false, "", "a:none hosts 4/5 canaries 0/0"},
        {"h4", "h4", "a", FAIL, 1000, false, "", "a:none hosts 5/6 canaries 0/0"},
        {"h5", "h5", "a", FAIL, 1000, false, "", "a:none hosts 6/7 canaries 0/0"},
        {"h6", "h6", "a", FAIL, 1000, false, "", "a:none hosts 7/8 canaries 0/0"},
        {"h7: 8 of 9", "h7", "a", FAIL, 1000, false, "", "a:none hosts 8/9 canaries 0/0"},
        {"h8: 9 of 10 is 90%", "h8", "a", FAIL, 1000, true, "a",
         "a:hosts hosts 9/10 canaries 0/0"},
    };
    struct tocsin_config *config;
    struct tocsin_guard *g;
    char yaml[8192];

    (void)state;
    snprintf(yaml, sizeof(yaml), "%s", head_one_region);
    add_hosts(yaml, sizeof(yaml), "h", 0, 10, "a");
    g = guard_for(yaml, &config);
    RUN(config, g, rows);
    done(config, g);
}

static void test_eight_of_ten(void **state)
{
    static const struct row rows[] = {
        {"h8 up", "h8", "a", UP, 1000, false, "", "a:none hosts 0/1 canaries 0/0"},
        {"h9 up", "h9", "a", UP, 1000, false, "", "a:none hosts 0/2 canaries 0/0"},
        {"h0", "h0", "a", FAIL, 1000, false, "", "a:none hosts 1/3 canaries 0/0"},
        {"h1", "h1", "a", FAIL, 1000, false, "", "a:none hosts 2/4 canaries 0/0"},
        {"h2", "h2", "a", FAIL, 1000, false, "", "a:none hosts 3/5 canaries 0/0"},
        {"h3", "h3", "a", FAIL, 1000, false, "", "a:none hosts 4/6 canaries 0/0"},
        {"h4", "h4", "a", FAIL, 1000, false, "", "a:none hosts 5/7 canaries 0/0"},
        {"h5", "h5", "a", FAIL, 1000, false, "", "a:none hosts 6/8 canaries 0/0"},
        {"h6", "h6", "a", FAIL, 1000, false, "", "a:none hosts 7/9 canaries 0/0"},
        {"h7: 8 of 10 is 80%", "h7", "a", FAIL, 1000, false, "", "a:none hosts 8/10 canaries 0/0"},
        {"h8 fails: 9 of 10", "h8", "a", FAIL, 2000, true, "a", "a:hosts hosts 9/10 canaries 0/0"},
    };
    struct tocsin_config *config;
    struct tocsin_guard *g;
    char yaml[8192];

    (void)state;
    snprintf(yaml, sizeof(yaml), "%s", head_one_region);
    add_hosts(yaml, sizeof(yaml), "h", 0, 10, "a");
    g = guard_for(yaml, &config);
    RUN(config, g, rows);
    done(config, g);
}

/* 18 of 20 is 90%, 17 of 19 is 89.5%. */
static void test_ninety_percent_boundary(void **state)
{
    static const struct row rows[] = {
        {"h18 up", "h18", "a", UP, 1000, false, "", "a:none hosts 0/1 canaries 0/0"},
        {"h19 up", "h19", "a", UP, 1000, false, "", "a:none hosts 0/2 canaries 0/0"},
    };
    static const struct row after[] = {
        {"h17: 18 of 20", "h17", "a", FAIL, 1000, true, "a", "a:hosts hosts 18/20 canaries 0/0"},
    };
    struct tocsin_config *config;
    struct tocsin_guard *g;
    char yaml[8192];

    (void)state;
    snprintf(yaml, sizeof(yaml), "%s", head_one_region);
    add_hosts(yaml, sizeof(yaml), "h", 0, 20, "a");
    g = guard_for(yaml, &config);
    RUN(config, g, rows);
    for (int i = 0; i < 17; i++) {
        char id[8];
        struct tocsin_guard_info info;
        size_t m;

        snprintf(id, sizeof(id), "h%d", i);
        m = monitor_index(config, id);
        assert_false(tocsin_guard_feed(g, m, 0, true, 1000));
        tocsin_guard_info(g, 0, &info);
        assert_int_equal(info.hosts_failing, (size_t)i + 1);
        assert_int_equal(info.hosts_counted, (size_t)i + 3);
        assert_false(info.degraded);
    }
    RUN(config, g, after);
    done(config, g);
}

/* A host fails only when every one of its current results failed; a monitor
 * without a result yet does not stop it failing. */
static void test_two_monitors_one_host(void **state)
{
    static const struct row rows[] = {
        {"x0 fails: host0 failing", "x0", "a", FAIL, 1000, false, "",
         "a:none hosts 1/1 canaries 0/0"},
        {"y0 up: host0 not failing", "y0", "a", UP, 1000, false, "",
         "a:none hosts 0/1 canaries 0/0"},
        {"x1 fails", "x1", "a", FAIL, 1000, false, "", "a:none hosts 1/2 canaries 0/0"},
        {"y1 up: host1 not failing", "y1", "a", UP, 1000, false, "",
         "a:none hosts 0/2 canaries 0/0"},
        {"x1 up", "x1", "a", UP, 1000, false, "", "a:none hosts 0/2 canaries 0/0"},
        {"x1 fails", "x1", "a", FAIL, 1000, false, "", "a:none hosts 0/2 canaries 0/0"},
    };
    static const struct row after[] = {
        {"8 hosts failing of 10", EXPIRE, NULL, false, 1000, false, "",
         "a:none hosts 8/10 canaries 0/0"},
        {"y0 fails: host0 failing, 9 of 10", "y0", "a", FAIL, 2000, true, "a",
         "a:hosts hosts 9/10 canaries 0/0"},
        {"y1 fails: 10 of 10", "y1", "a", FAIL, 2000, false, "",
         "a:hosts hosts 10/10 canaries 0/0"},
        {"x0 up: host0 not failing", "x0", "a", UP, 3000, false, "",
         "a:hosts hosts 9/10 canaries 0/0"},
        {"x1 up: host1 not failing, recovered", "x1", "a", UP, 3000, true, "a",
         "a:none hosts 8/10 canaries 0/0"},
    };
    struct tocsin_config *config;
    struct tocsin_guard *g;
    char yaml[8192];

    (void)state;
    snprintf(yaml, sizeof(yaml), "%s", head_one_region);
    /* x0, y0 on x0.example; x1, y1 on x1.example; h2..h9 alone. */
    add_hosts(yaml, sizeof(yaml), "x", 0, 2, "a");
    strcat(yaml, "  - {id: y0, type: http, url: \"http://x0.example/other\", regions: [a]}\n"
                 "  - {id: y1, type: tcp, host: x1.example, port: 22, regions: [a]}\n");
    add_hosts(yaml, sizeof(yaml), "h", 2, 10, "a");
    g = guard_for(yaml, &config);
    RUN(config, g, rows);
    for (int i = 2; i < 10; i++) {
        char id[8];
        snprintf(id, sizeof(id), "h%d", i);
        assert_false(tocsin_guard_feed(g, monitor_index(config, id), 0, true, 1000));
    }
    RUN(config, g, after);
    done(config, g);
}

/* Hosts are compared case-insensitively, without IPv6 brackets or a trailing
 * dot, and http and tcp monitors of one host share it. */
static void test_hosts_compared(void **state)
{
    static const char yaml[] =
        "regions:\n  - name: a\n"
        "defaults: {interval: 10s, timeout: 1s}\n"
        "monitors:\n"
        "  - {id: e1, type: http, url: \"http://Example.COM/x\", regions: [a]}\n"
        "  - {id: e2, type: tcp, host: example.com, port: 443, regions: [a]}\n"
        "  - {id: e3, type: http, url: \"https://EXAMPLE.com:8443/y?z=1\", regions: [a]}\n"
        "  - {id: e4, type: tcp, host: \"example.com.\", port: 25, regions: [a]}\n"
        "  - {id: v1, type: http, url: \"http://[::1]:8080/\", regions: [a]}\n"
        "  - {id: v2, type: tcp, host: \"::1\", port: 22, regions: [a]}\n"
        "  - {id: v3, type: tcp, host: \"0:0:0:0:0:0:0:1\", port: 23, regions: [a]}\n"
        "  - {id: v4, type: http, url: \"http://[2001:DB8::A]/\", regions: [a]}\n"
        "  - {id: v5, type: tcp, host: \"2001:db8:0::a\", port: 22, regions: [a]}\n"
        "  - {id: i1, type: http, url: \"http://192.0.2.1/\", regions: [a]}\n"
        "  - {id: i2, type: tcp, host: 192.0.2.1, port: 80, regions: [a]}\n"
        "  - {id: o1, type: http, url: \"http://example.org/\", regions: [a]}\n";
    static const struct row rows[] = {
        {"e1", "e1", "a", FAIL, 1000, false, "", "a:none hosts 1/1 canaries 0/0"},
        {"e2: same host", "e2", "a", FAIL, 1000, false, "", "a:none hosts 1/1 canaries 0/0"},
        {"e3: same host", "e3", "a", FAIL, 1000, false, "", "a:none hosts 1/1 canaries 0/0"},
        {"e4 up: same host, now not failing", "e4", "a", UP, 1000, false, "",
         "a:none hosts 0/1 canaries 0/0"},
        {"v1", "v1", "a", FAIL, 1000, false, "", "a:none hosts 1/2 canaries 0/0"},
        {"v2: same host", "v2", "a", FAIL, 1000, false, "", "a:none hosts 1/2 canaries 0/0"},
        {"v3 up: same address", "v3", "a", UP, 1000, false, "", "a:none hosts 0/2 canaries 0/0"},
        {"v4", "v4", "a", FAIL, 1000, false, "", "a:none hosts 1/3 canaries 0/0"},
        {"v5 up: same address", "v5", "a", UP, 1000, false, "", "a:none hosts 0/3 canaries 0/0"},
        {"i1", "i1", "a", FAIL, 1000, false, "", "a:none hosts 1/4 canaries 0/0"},
        {"i2: same host", "i2", "a", FAIL, 1000, false, "", "a:none hosts 1/4 canaries 0/0"},
        {"o1: another host", "o1", "a", FAIL, 1000, false, "", "a:none hosts 2/5 canaries 0/0"},
    };
    struct tocsin_config *config;
    struct tocsin_guard *g = guard_for(yaml, &config);

    (void)state;
    RUN(config, g, rows);
    done(config, g);
}

/* ---- the canaries rule ---------------------------------------------------- */

static void test_canaries(void **state)
{
    static const char yaml[] =
        "agent: {canaries: [gw1, gw2, gw1]}\n"
        "regions:\n  - name: a\n  - name: b\n  - name: c\n"
        "defaults: {interval: 10s, timeout: 1s}\n"
        "monitors:\n"
        "  - {id: gw1, type: tcp, host: 10.0.0.1, port: 53, regions: [a, b]}\n"
        "  - {id: gw2, type: http, url: \"http://10.0.0.2/\", regions: [a]}\n"
        "  - {id: other, type: http, url: \"http://other.example/\", regions: [a, b, c]}\n";
    static const struct row rows[] = {
        {"nothing yet", EXPIRE, NULL, false, 1000, false, "",
         "a:none hosts 0/0 canaries 0/2 b:none hosts 0/0 canaries 0/1 c:none hosts 0/0 canaries 0/0"},
        {"gw1@a fails, gw2 has no result", "gw1", "a", FAIL, 1000, false, "",
         "a:none hosts 1/1 canaries 1/2 b:none hosts 0/0 canaries 0/1 c:none hosts 0/0 canaries 0/0"},
        {"gw2@a up: one of two", "gw2", "a", UP, 1000, false, "",
         "a:none hosts 1/2 canaries 1/2 b:none hosts 0/0 canaries 0/1 c:none hosts 0/0 canaries 0/0"},
        {"gw2@a fails: all canaries", "gw2", "a", FAIL, 2000, true, "a",
         "a:canaries hosts 2/2 canaries 2/2 b:none hosts 0/0 canaries 0/1 c:none hosts 0/0 canaries 0/0"},
        {"other@a up: canaries still", "other", "a", UP, 2000, false, "",
         "a:canaries hosts 2/3 canaries 2/2 b:none hosts 0/0 canaries 0/1 c:none hosts 0/0 canaries 0/0"},
        {"other@c fails: c has no canary", "other", "c", FAIL, 2000, false, "",
         "a:canaries hosts 2/3 canaries 2/2 b:none hosts 0/0 canaries 0/1 c:none hosts 1/1 canaries 0/0"},
        {"gw1@b fails: b's one canary", "gw1", "b", FAIL, 2000, true, "b",
         "a:canaries hosts 2/3 canaries 2/2 b:canaries hosts 1/1 canaries 1/1 c:none hosts 1/1 canaries 0/0"},
        {"gw1@a up: a recovers, b stays", "gw1", "a", UP, 3000, true, "a",
         "a:none hosts 1/3 canaries 1/2 b:canaries hosts 1/1 canaries 1/1 c:none hosts 1/1 canaries 0/0"},
        {"gw1@b up: b recovers", "gw1", "b", UP, 3000, true, "b",
         "a:none hosts 1/3 canaries 1/2 b:none hosts 0/1 canaries 0/1 c:none hosts 1/1 canaries 0/0"},
        {"both fail in one instant", "gw1", "a", FAIL, 4000, true, "a",
         "a:canaries hosts 2/3 canaries 2/2 b:none hosts 0/1 canaries 0/1 c:none hosts 1/1 canaries 0/0"},
        {"gw1@b fails", "gw1", "b", FAIL, 4000, true, "b",
         "a:canaries hosts 2/3 canaries 2/2 b:canaries hosts 1/1 canaries 1/1 c:none hosts 1/1 canaries 0/0"},
        /* gw2@a and other@a, other@c were fed at 2000: stale after 2000 + 21000. */
        {"gw2@a stale: a's canaries incomplete", EXPIRE, NULL, false, 23001, true, "a",
         "a:none hosts 1/1 canaries 1/2 b:canaries hosts 1/1 canaries 1/1 c:none hosts 0/0 canaries 0/0"},
        /* gw1@a, gw1@b fed at 4000. */
        {"everything else stale at 25001", EXPIRE, NULL, false, 25001, true, "b",
         "a:none hosts 0/0 canaries 0/2 b:none hosts 0/0 canaries 0/1 c:none hosts 0/0 canaries 0/0"},
    };
    struct tocsin_config *config;
    struct tocsin_guard *g = guard_for(yaml, &config);

    (void)state;
    assert_int_equal(config->agent.n_canaries, 3);
    RUN(config, g, rows);
    done(config, g);
}

/* With no canaries configured the rule is off everywhere. */
static void test_no_canaries(void **state)
{
    static const char yaml[] =
        "regions:\n  - name: a\n"
        "defaults: {interval: 10s, timeout: 1s}\n"
        "monitors:\n"
        "  - {id: gw, type: tcp, host: 10.0.0.1, port: 53, regions: [a]}\n";
    static const struct row rows[] = {
        {"gw fails", "gw", "a", FAIL, 1000, false, "", "a:none hosts 1/1 canaries 0/0"},
    };
    struct tocsin_config *config;
    struct tocsin_guard *g = guard_for(yaml, &config);

    (void)state;
    RUN(config, g, rows);
    done(config, g);
}

/* ---- regions -------------------------------------------------------------- */

static void test_regions_independent(void **state)
{
    static const struct row rows[] = {
        {"h9@b fails", "h9", "b", FAIL, 2000, false, "",
         "a:hosts hosts 10/10 canaries 0/0 b:none hosts 1/10 canaries 0/0"},
        {"h0@a up: a stays", "h0", "a", UP, 2000, false, "",
         "a:hosts hosts 9/10 canaries 0/0 b:none hosts 1/10 canaries 0/0"},
        {"h1@a up: a recovers", "h1", "a", UP, 2000, true, "a",
         "a:none hosts 8/10 canaries 0/0 b:none hosts 1/10 canaries 0/0"},
    };
    struct tocsin_config *config;
    struct tocsin_guard *g;
    char yaml[8192];

    (void)state;
    snprintf(yaml, sizeof(yaml), "%s", head_two_regions);
    add_hosts(yaml, sizeof(yaml), "h", 0, 10, "a, b");
    g = guard_for(yaml, &config);
    for (int i = 0; i < 10; i++) {
        char id[8];
        size_t m;
        bool changed;

        snprintf(id, sizeof(id), "h%d", i);
        m = monitor_index(config, id);
        assert_false(tocsin_guard_feed(g, m, slot_of(config, m, "b"), false, 1000));
        changed = tocsin_guard_feed(g, m, slot_of(config, m, "a"), true, 1000);
        assert_int_equal(changed, i == 9);
        assert_int_equal(tocsin_guard_degraded(g, 0), i == 9);
        assert_false(tocsin_guard_degraded(g, 1));
    }
    {
        size_t region = 99;
        assert_true(tocsin_guard_pop_change(g, &region));
        assert_int_equal(region, 0);
        assert_false(tocsin_guard_pop_change(g, &region));
    }
    RUN(config, g, rows);
    done(config, g);
}

/* ---- staleness ------------------------------------------------------------ */

/* A stalled failing check stops keeping the region degraded. */
static void test_stale_failures_stop_counting(void **state)
{
    static const struct row rows[] = {
        {"h0 (1000) still current at 1000 + 21000", EXPIRE, NULL, false, 22000, false, "",
         "a:hosts hosts 10/10 canaries 0/0"},
        {"h0 stalled: stale at 22001, 9 hosts left", EXPIRE, NULL, false, 22001, true, "a",
         "a:none hosts 9/9 canaries 0/0"},
        {"h0 comes back failing", "h0", "a", FAIL, 30000, true, "a",
         "a:hosts hosts 10/10 canaries 0/0"},
        {"a feed sweeps too: h1..h9 (21000) stale at 42001", "h0", "a", FAIL, 42001, true, "a",
         "a:none hosts 1/1 canaries 0/0"},
        {"time going back is taken as the latest", "h1", "a", FAIL, 5, false, "",
         "a:none hosts 2/2 canaries 0/0"},
        {"h1 counts from 42001, not 5", EXPIRE, NULL, false, 63001, false, "",
         "a:none hosts 2/2 canaries 0/0"},
        {"all stale", EXPIRE, NULL, false, 63002, false, "", "a:none hosts 0/0 canaries 0/0"},
    };
    struct tocsin_config *config;
    struct tocsin_guard *g;
    char yaml[8192];
    size_t region;

    (void)state;
    snprintf(yaml, sizeof(yaml), "%s", head_one_region);
    add_hosts(yaml, sizeof(yaml), "h", 0, 10, "a");
    g = guard_for(yaml, &config);
    for (int i = 0; i < 10; i++) {
        char id[8];
        snprintf(id, sizeof(id), "h%d", i);
        assert_int_equal(tocsin_guard_feed(g, monitor_index(config, id), 0, true, 1000), i == 9);
    }
    assert_true(tocsin_guard_pop_change(g, &region));
    assert_false(tocsin_guard_pop_change(g, &region));
    /* Everything but h0 is checked again, failing. */
    for (int i = 1; i < 10; i++) {
        char id[8];
        snprintf(id, sizeof(id), "h%d", i);
        assert_false(tocsin_guard_feed(g, monitor_index(config, id), 0, true, 21000));
    }
    RUN(config, g, rows);
    done(config, g);
}

/* Stale successes stop counting too: what is left may be degraded. */
static void test_stale_successes_stop_counting(void **state)
{
    static const struct row rows[] = {
        {"u0 up", "u0", "a", UP, 1000, false, "", "a:none hosts 0/1 canaries 0/0"},
        {"u1 up", "u1", "a", UP, 1000, false, "", "a:none hosts 0/2 canaries 0/0"},
    };
    static const struct row after[] = {
        {"10 of 12 is 83%", EXPIRE, NULL, false, 20000, false, "",
         "a:none hosts 10/12 canaries 0/0"},
        {"u0, u1 stale: 10 of 10", EXPIRE, NULL, false, 22001, true, "a",
         "a:hosts hosts 10/10 canaries 0/0"},
    };
    struct tocsin_config *config;
    struct tocsin_guard *g;
    char yaml[8192];

    (void)state;
    snprintf(yaml, sizeof(yaml), "%s", head_one_region);
    add_hosts(yaml, sizeof(yaml), "h", 0, 10, "a");
    add_hosts(yaml, sizeof(yaml), "u", 0, 2, "a");
    g = guard_for(yaml, &config);
    RUN(config, g, rows);
    for (int i = 0; i < 10; i++) {
        char id[8];
        snprintf(id, sizeof(id), "h%d", i);
        assert_false(tocsin_guard_feed(g, monitor_index(config, id), 0, true, 15000));
    }
    RUN(config, g, after);
    done(config, g);
}

/* Each monitor's own horizon: 2 x max(interval, retry_interval) + timeout. */
static void test_horizon_per_monitor(void **state)
{
    static const char yaml[] =
        "regions:\n  - name: a\n"
        "monitors:\n"
        /* 2 x 5s + 1s = 11s */
        "  - {id: fast, type: tcp, host: f.example, port: 1, interval: 5s, timeout: 1s, regions: [a]}\n"
        /* 2 x 30s (retry) + 2s = 62s */
        "  - {id: slow, type: tcp, host: s.example, port: 1, interval: 10s, retry_interval: 30s,"
        " timeout: 2s, regions: [a]}\n"
        /* 2 x 60s + 10s (the defaults) = 130s */
        "  - {id: dflt, type: tcp, host: d.example, port: 1, regions: [a]}\n"
        /* the same horizon as fast, another queue entry */
        "  - {id: fast2, type: tcp, host: f2.example, port: 1, interval: 5s, timeout: 1s, regions: [a]}\n";
    static const struct row rows[] = {
        {"dflt", "dflt", "a", FAIL, 0, false, "", "a:none hosts 1/1 canaries 0/0"},
        {"slow", "slow", "a", FAIL, 0, false, "", "a:none hosts 2/2 canaries 0/0"},
        {"fast", "fast", "a", FAIL, 0, false, "", "a:none hosts 3/3 canaries 0/0"},
        {"fast2", "fast2", "a", UP, 500, false, "", "a:none hosts 3/4 canaries 0/0"},
        {"fast current at 11000", EXPIRE, NULL, false, 11000, false, "",
         "a:none hosts 3/4 canaries 0/0"},
        {"fast stale at 11001", EXPIRE, NULL, false, 11001, false, "",
         "a:none hosts 2/3 canaries 0/0"},
        {"fast2 stale at 11501", EXPIRE, NULL, false, 11501, false, "",
         "a:none hosts 2/2 canaries 0/0"},
        {"slow current at 62000", EXPIRE, NULL, false, 62000, false, "",
         "a:none hosts 2/2 canaries 0/0"},
        {"slow stale at 62001", EXPIRE, NULL, false, 62001, false, "",
         "a:none hosts 1/1 canaries 0/0"},
        {"dflt refreshed at 100000", "dflt", "a", UP, 100000, false, "",
         "a:none hosts 0/1 canaries 0/0"},
        {"not stale from its first result", EXPIRE, NULL, false, 130001, false, "",
         "a:none hosts 0/1 canaries 0/0"},
        {"stale from its second", EXPIRE, NULL, false, 230001, false, "",
         "a:none hosts 0/0 canaries 0/0"},
        {"fast fed with an earlier time: taken as 230001", "fast", "a", FAIL, 5, false, "",
         "a:none hosts 1/1 canaries 0/0"},
        {"so current until 230001 + 11000", EXPIRE, NULL, false, 241001, false, "",
         "a:none hosts 1/1 canaries 0/0"},
        {"and stale after", EXPIRE, NULL, false, 241002, false, "",
         "a:none hosts 0/0 canaries 0/0"},
    };
    struct tocsin_config *config;
    struct tocsin_guard *g = guard_for(yaml, &config);

    (void)state;
    RUN(config, g, rows);
    done(config, g);
}

/* ---- change reporting and edges ------------------------------------------- */

/* A change undone before the caller took it is not reported; one undone within
 * a single call does not even count as a change. */
static void test_changes_reported_once(void **state)
{
    struct tocsin_config *config;
    struct tocsin_guard *g;
    char yaml[8192];
    size_t region = 99;

    (void)state;
    snprintf(yaml, sizeof(yaml), "%s", head_two_regions);
    add_hosts(yaml, sizeof(yaml), "h", 0, 10, "a, b");
    g = guard_for(yaml, &config);
    for (size_t m = 0; m < 10; m++) {
        assert_int_equal(tocsin_guard_feed(g, m, 0, true, 1000), m == 9);
        assert_int_equal(tocsin_guard_feed(g, m, 1, true, 1000), m == 9);
    }
    /* Both changed: taken oldest first, once. */
    assert_true(tocsin_guard_pop_change(g, &region));
    assert_int_equal(region, 0);
    assert_true(tocsin_guard_pop_change(g, &region));
    assert_int_equal(region, 1);
    assert_false(tocsin_guard_pop_change(g, &region));
    /* a recovers and degrades again before anyone looks: nothing to report. */
    assert_false(tocsin_guard_feed(g, 0, 0, false, 2000));
    assert_true(tocsin_guard_feed(g, 1, 0, false, 2000));
    assert_true(tocsin_guard_feed(g, 1, 0, true, 2000));
    assert_false(tocsin_guard_pop_change(g, &region));
    assert_true(tocsin_guard_degraded(g, 0));
    /* h0@a (UP) and h1@a (FAIL) fed at 2000, the rest at 1000.  At 22001 the
     * 1000 ones go stale in both regions: a keeps h0 up and h1 failing (1/2),
     * b keeps nothing; both recover in one call, each reported once. */
    assert_true(tocsin_guard_expire(g, 22001));
    assert_false(tocsin_guard_degraded(g, 0));
    assert_false(tocsin_guard_degraded(g, 1));
    {
        unsigned seen = 0;
        assert_true(tocsin_guard_pop_change(g, &region));
        seen |= 1u << region;
        assert_true(tocsin_guard_pop_change(g, &region));
        seen |= 1u << region;
        assert_int_equal(seen, 3);
    }
    assert_false(tocsin_guard_pop_change(g, &region));
    done(config, g);
}

static void test_out_of_range(void **state)
{
    struct tocsin_config *config;
    struct tocsin_guard *g;
    struct tocsin_guard_info info;
    char yaml[8192];

    (void)state;
    snprintf(yaml, sizeof(yaml), "%s", head_one_region);
    add_hosts(yaml, sizeof(yaml), "h", 0, 10, "a");
    g = guard_for(yaml, &config);
    assert_false(tocsin_guard_feed(g, 10, 0, true, 1000));
    assert_false(tocsin_guard_feed(g, 0, 1, true, 1000));
    assert_false(tocsin_guard_degraded(g, 1));
    tocsin_guard_info(g, 1, &info);
    assert_false(info.degraded);
    assert_string_equal(info.reason, "none");
    assert_int_equal(info.hosts_counted, 0);
    tocsin_guard_info(g, 0, &info);
    assert_int_equal(info.hosts_counted, 0);
    assert_false(tocsin_guard_expire(g, 0));
    done(config, g);
}

static void test_no_monitors(void **state)
{
    struct tocsin_config *config;
    struct tocsin_guard *g = guard_for("agent: {region: here}\n", &config);
    size_t region;

    (void)state;
    assert_int_equal(config->n_regions, 1);
    assert_false(tocsin_guard_expire(g, 1000));
    assert_false(tocsin_guard_degraded(g, 0));
    assert_false(tocsin_guard_regions(g)[0]);
    assert_false(tocsin_guard_pop_change(g, &region));
    done(config, g);
}

/* Many monitors over few hosts and regions: the incremental counts agree with
 * a count from scratch after every result. */
static void test_counts_match_recount(void **state)
{
    enum { N = 60, HOSTS = 13, STEPS = 4000 };
    struct tocsin_config *config;
    struct tocsin_guard *g;
    static char yaml[65536];
    /* last[m][slot]: 0 none, 1 up, 2 failed; at[m][slot] */
    static unsigned char last[N][2];
    static uint64_t at[N][2];
    unsigned seed = 12345;
    uint64_t now = 1000;
    bool before[2] = {false, false};
    size_t transitions = 0;

    (void)state;
    memset(last, 0, sizeof(last));
    snprintf(yaml, sizeof(yaml), "%s", head_two_regions);
    for (int i = 0; i < N; i++) {
        size_t len = strlen(yaml);
        /* interval 2s or 3s, timeout 1s: horizons 5s and 7s */
        snprintf(yaml + len, sizeof(yaml) - len,
                 i % 3 ? "  - {id: m%d, type: http, url: \"http://HOST%d.example/p%d\", "
                         "interval: %ds, regions: [a, b]}\n"
                       : "  - {id: m%d, type: tcp, host: host%d.example, port: %d, interval: %ds, "
                         "regions: [b]}\n",
                 i, i % HOSTS, i + 1, 2 + i % 2);
    }
    g = guard_for(yaml, &config);
    for (int step = 0; step < STEPS; step++) {
        size_t m, slot;
        bool failed, want[2];

        seed = seed * 1103515245u + 12345u;
        m = (seed >> 8) % N;
        slot = (seed >> 20) % config->monitors[m].n_regions;
        /* mostly failing in region b after a while, to cross the threshold */
        failed = ((seed >> 4) % 10) < (step > STEPS / 2 ? 9u : 4u);
        now += (seed >> 12) % 40;
        bool changed = tocsin_guard_feed(g, m, slot, failed, now);
        last[m][slot] = failed ? 2 : 1;
        at[m][slot] = now;
        for (size_t r = 0; r < 2; r++) {
            size_t counted = 0, failing = 0;
            struct tocsin_guard_info info;

            for (int h = 0; h < HOSTS; h++) {
                size_t current = 0, bad = 0;
                for (int k = h; k < N; k += HOSTS) {
                    const struct tocsin_monitor_conf *mc = &config->monitors[k];
                    uint64_t every = mc->interval_ms > mc->retry_interval_ms
                                         ? mc->interval_ms : mc->retry_interval_ms;
                    uint64_t horizon = 2 * every + mc->timeout_ms;
                    for (size_t s = 0; s < mc->n_regions; s++)
                        if (mc->regions[s] == r && last[k][s] && now - at[k][s] <= horizon) {
                            current++;
                            bad += last[k][s] == 2;
                        }
                }
                counted += current > 0;
                failing += current > 0 && bad == current;
            }
            tocsin_guard_info(g, r, &info);
            assert_int_equal(info.hosts_counted, counted);
            assert_int_equal(info.hosts_failing, failing);
            want[r] = counted >= 10 && failing * 10 >= counted * 9;
            assert_int_equal(tocsin_guard_degraded(g, r), want[r]);
        }
        assert_int_equal(changed, want[0] != before[0] || want[1] != before[1]);
        transitions += (want[0] != before[0]) + (want[1] != before[1]);
        before[0] = want[0];
        before[1] = want[1];
    }
    assert_true(transitions >= 1);
    fprintf(stderr, "  %zu transitions\n", transitions);
    done(config, g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ten_hosts_all_failing),
        cmocka_unit_test(test_nine_hosts_never_enough),
        cmocka_unit_test(test_nine_of_ten),
        cmocka_unit_test(test_eight_of_ten),
        cmocka_unit_test(test_ninety_percent_boundary),
        cmocka_unit_test(test_two_monitors_one_host),
        cmocka_unit_test(test_hosts_compared),
        cmocka_unit_test(test_canaries),
        cmocka_unit_test(test_no_canaries),
        cmocka_unit_test(test_regions_independent),
        cmocka_unit_test(test_stale_failures_stop_counting),
        cmocka_unit_test(test_stale_successes_stop_counting),
        cmocka_unit_test(test_horizon_per_monitor),
        cmocka_unit_test(test_changes_reported_once),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_no_monitors),
        cmocka_unit_test(test_counts_match_recount),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
