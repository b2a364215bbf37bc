/* The Prometheus text writer: exact expected text for every kind of line. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tocsin/metrics.h"

/* Finishes M and compares the whole text with WANT. */
static void expect_text(struct tocsin_metrics *m, const char *want)
{
    char *text = NULL;
    size_t len = 0;

    assert_int_equal(tocsin_metrics_finish(m, &text, &len), 0);
    assert_non_null(text);
    assert_string_equal(text, want);
    assert_int_equal(len, strlen(want));
    free(text);
}

static void test_counter_without_labels(void **state)
{
    struct tocsin_metrics m;

    (void)state;
    tocsin_metrics_init(&m);
    tocsin_metrics_family(&m, "tocsin_checks_total", TOCSIN_METRIC_COUNTER, "Checks run.");
    tocsin_metrics_u64(&m, "tocsin_checks_total", NULL, 0, 18446744073709551615u);
    expect_text(&m, "# HELP tocsin_checks_total Checks run.\n"
                    "# TYPE tocsin_checks_total counter\n"
                    "tocsin_checks_total 18446744073709551615\n");
}

static void test_counter_with_labels(void **state)
{
    const struct tocsin_label a[] = {{"monitor", "api"}, {"region", "eu"}};
    const struct tocsin_label b[] = {{"monitor", "db"}, {"region", "us"}};
    struct tocsin_metrics m;

    (void)state;
    tocsin_metrics_init(&m);
    tocsin_metrics_family(&m, "tocsin_failures_total", TOCSIN_METRIC_COUNTER, "Failed checks.");
    tocsin_metrics_u64(&m, "tocsin_failures_total", a, 2, 3);
    tocsin_metrics_u64(&m, "tocsin_failures_total", b, 2, 0);
    expect_text(&m, "# HELP tocsin_failures_total Failed checks.\n"
                    "# TYPE tocsin_failures_total counter\n"
                    "tocsin_failures_total{monitor=\"api\",region=\"eu\"} 3\n"
                    "tocsin_failures_total{monitor=\"db\",region=\"us\"} 0\n");
}

static void test_gauge_escaping(void **state)
{
    const struct tocsin_label l[] = {{"monitor", "a\\b\"c\"\nd"}, {"empty", ""}};
    struct tocsin_metrics m;

    (void)state;
    tocsin_metrics_init(&m);
    /* HELP escapes backslash and newline but leaves quotes alone. */
    tocsin_metrics_family(&m, "tocsin_up", TOCSIN_METRIC_GAUGE, "1 if \"up\",\nelse 0 \\ see docs");
    tocsin_metrics_i64(&m, "tocsin_up", l, 2, -42);
    tocsin_metrics_i64(&m, "tocsin_up", NULL, 0, INT64_MIN);
    expect_text(&m, "# HELP tocsin_up 1 if \"up\",\\nelse 0 \\\\ see docs\n"
                    "# TYPE tocsin_up gauge\n"
                    "tocsin_up{monitor=\"a\\\\b\\\"c\\\"\\nd\",empty=\"\"} -42\n"
                    "tocsin_up -9223372036854775808\n");
}

static void test_family_without_help(void **state)
{
    struct tocsin_metrics m;

    (void)state;
    tocsin_metrics_init(&m);
    tocsin_metrics_family(&m, "tocsin_x", TOCSIN_METRIC_GAUGE, NULL);
    tocsin_metrics_u64(&m, "tocsin_x", NULL, 0, 1);
    expect_text(&m, "# TYPE tocsin_x gauge\ntocsin_x 1\n");
}

static void test_doubles(void **state)
{
    const struct tocsin_label l[] = {{"k", "v"}};
    struct tocsin_metrics m;

    (void)state;
    tocsin_metrics_init(&m);
    tocsin_metrics_double(&m, "d", NULL, 0, 0.1);
    tocsin_metrics_double(&m, "d", NULL, 0, 1.0 / 3.0);
    tocsin_metrics_double(&m, "d", NULL, 0, 3.0);
    tocsin_metrics_double(&m, "d", NULL, 0, -2.5);
    tocsin_metrics_double(&m, "d", NULL, 0, 0.0);
    tocsin_metrics_double(&m, "d", NULL, 0, 1e21);
    tocsin_metrics_double(&m, "d", NULL, 0, 1.5e-7);
    tocsin_metrics_double(&m, "d", NULL, 0, 1700000000.123);
    tocsin_metrics_double(&m, "d", NULL, 0, 10.0);
    tocsin_metrics_double(&m, "d", NULL, 0, 30.0);
    tocsin_metrics_double(&m, "d", NULL, 0, 1e6);
    tocsin_metrics_double(&m, "d", NULL, 0, INFINITY);
    tocsin_metrics_double(&m, "d", NULL, 0, -INFINITY);
    tocsin_metrics_double(&m, "d", l, 1, NAN);
    expect_text(&m, "d 0.1\n"
                    "d 0.3333333333333333\n"
                    "d 3\n"
                    "d -2.5\n"
                    "d 0\n"
                    "d 1e+21\n"
                    "d 1.5e-07\n"
                    "d 1700000000.123\n"
                    "d 10\n"
                    "d 30\n"
                    "d 1e+06\n"
                    "d +Inf\n"
                    "d -Inf\n"
                    "d{k=\"v\"} NaN\n");
}

/* Every double printed must read back as itself. */
static void test_doubles_round_trip(void **state)
{
    const double values[] = {0.1 + 0.2, 5e-324, 1.7976931348623157e308, 123456789.987654321,
                             -1e-300, 2.0 / 3.0};
    struct tocsin_metrics m;
    char *text, *line, *save = NULL;
    size_t len, i = 0;

    (void)state;
    tocsin_metrics_init(&m);
    for (size_t k = 0; k < sizeof(values) / sizeof(values[0]); k++)
        tocsin_metrics_double(&m, "v", NULL, 0, values[k]);
    assert_int_equal(tocsin_metrics_finish(&m, &text, &len), 0);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
        assert_true(i < sizeof(values) / sizeof(values[0]));
        assert_memory_equal(line, "v ", 2);
        assert_true(strtod(line + 2, NULL) == values[i]);
    }
    assert_int_equal(i, sizeof(values) / sizeof(values[0]));
    free(text);
}

static void test_histogram(void **state)
{
    const double bounds[] = {0.005, 0.25, 1, 2.5};
    const uint64_t counts[] = {2, 0, 5, 1, 3}; /* the last: above 2.5 */
    const struct tocsin_label l[] = {{"monitor", "api"}};
    struct tocsin_metrics m;

    (void)state;
    tocsin_metrics_init(&m);
    tocsin_metrics_family(&m, "tocsin_check_seconds", TOCSIN_METRIC_HISTOGRAM, "Check latency.");
    tocsin_metrics_histogram(&m, "tocsin_check_seconds", l, 1, bounds, counts, 4, 17.25);
    tocsin_metrics_histogram(&m, "tocsin_check_seconds", NULL, 0, bounds, counts, 0, 0.5);
    expect_text(&m, "# HELP tocsin_check_seconds Check latency.\n"
                    "# TYPE tocsin_check_seconds histogram\n"
                    "tocsin_check_seconds_bucket{monitor=\"api\",le=\"0.005\"} 2\n"
                    "tocsin_check_seconds_bucket{monitor=\"api\",le=\"0.25\"} 2\n"
                    "tocsin_check_seconds_bucket{monitor=\"api\",le=\"1\"} 7\n"
                    "tocsin_check_seconds_bucket{monitor=\"api\",le=\"2.5\"} 8\n"
                    "tocsin_check_seconds_bucket{monitor=\"api\",le=\"+Inf\"} 11\n"
                    "tocsin_check_seconds_sum{monitor=\"api\"} 17.25\n"
                    "tocsin_check_seconds_count{monitor=\"api\"} 11\n"
                    "tocsin_check_seconds_bucket{le=\"+Inf\"} 2\n"
                    "tocsin_check_seconds_sum 0.5\n"
                    "tocsin_check_seconds_count 2\n");
}

static void test_empty(void **state)
{
    struct tocsin_metrics m;

    (void)state;
    tocsin_metrics_init(&m);
    expect_text(&m, "");
}

/* Large output grows the buffer many times and stays exact. */
static void test_growth(void **state)
{
    struct tocsin_metrics m;
    char *text, want[64];
    size_t len, off = 0;

    (void)state;
    tocsin_metrics_init(&m);
    for (uint64_t i = 0; i < 20000; i++)
        tocsin_metrics_u64(&m, "tocsin_n", NULL, 0, i);
    assert_int_equal(tocsin_metrics_finish(&m, &text, &len), 0);
    for (uint64_t i = 0; i < 20000; i++) {
        int n = snprintf(want, sizeof(want), "tocsin_n %llu\n", (unsigned long long)i);

        assert_true(off + (size_t)n <= len);
        assert_memory_equal(text + off, want, (size_t)n);
        off += (size_t)n;
    }
    assert_int_equal(off, len);
    assert_int_equal(text[len], '\0');
    free(text);
    /* finish reset the writer: it can be used again. */
    assert_null(m.out.data);
    assert_int_equal(m.out.len, 0);
}

/* A failed append (simulated: the flag is what append sets on ENOMEM) sticks:
 * later writes are ignored and finish frees and reports -ENOMEM. */
static void test_sticky_failure(void **state)
{
    struct tocsin_metrics m;
    char *text = (char *)"untouched";
    size_t len = 99;

    (void)state;
    tocsin_metrics_init(&m);
    tocsin_metrics_u64(&m, "before", NULL, 0, 1);
    m.out.failed = true;
    tocsin_metrics_u64(&m, "after", NULL, 0, 2);
    assert_null(strstr(m.out.data, "after"));
    assert_int_equal(tocsin_metrics_finish(&m, &text, &len), -ENOMEM);
    assert_null(text);
    assert_int_equal(len, 0);
    assert_null(m.out.data);
    assert_false(m.out.failed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_without_labels),
        cmocka_unit_test(test_counter_with_labels),
        cmocka_unit_test(test_gauge_escaping),
        cmocka_unit_test(test_family_without_help),
        cmocka_unit_test(test_doubles),
        cmocka_unit_test(test_doubles_round_trip),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_sticky_failure),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
