/* Logging: logfmt and JSON lines, quoting, and the rate limit on repeats
 * (stderr goes to a temporary file that the test reads back). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "tocsin/log.h"

struct capture {
    FILE *file;
    int saved_stderr;
};

static void capture_start(struct capture *c)
{
    fflush(stderr);
    c->file = tmpfile();
    assert_non_null(c->file);
    c->saved_stderr = dup(STDERR_FILENO);
    assert_true(c->saved_stderr >= 0);
    assert_true(dup2(fileno(c->file), STDERR_FILENO) >= 0);
}

/* Stops capturing and returns what was written (caller frees). */
static char *capture_end(struct capture *c)
{
    long size;
    char *text;

    fflush(stderr);
    assert_true(dup2(c->saved_stderr, STDERR_FILENO) >= 0);
    close(c->saved_stderr);
    size = ftell(c->file);
    assert_true(size >= 0);
    text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    rewind(c->file);
    assert_int_equal(fread(text, 1, (size_t)size, c->file), (size_t)size);
    fclose(c->file);
    return text;
}

static size_t count_of(const char *text, const char *needle)
{
    size_t n = 0;

    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static int setup(void **state)
{
    (void)state;
    tocsin_log_setup(TOCSIN_LOG_DEBUG, TOCSIN_LOG_LOGFMT);
    tocsin_log_setup_repeats(TOCSIN_LOG_REPEAT_BURST, TOCSIN_LOG_REPEAT_WINDOW_MS);
    return 0;
}

static void test_logfmt_quoting(void **state)
{
    struct capture c;
    char *text;

    (void)state;
    capture_start(&c);
    tocsin_warn("delivery failed", "webhook", "ops", "error", "HTTP 503 \"busy\"\nretry",
                "empty", "");
    text = capture_end(&c);
    assert_non_null(strstr(text, " level=warn msg=\"delivery failed\" webhook=ops "
                                 "error=\"HTTP 503 \\\"busy\\\"\\nretry\" empty=\"\"\n"));
    assert_int_equal(strncmp(text, "ts=", 3), 0);
    assert_int_equal(count_of(text, "\n"), 1);
    free(text);
}

static void test_json_lines_parse(void **state)
{
    struct capture c;
    json_error_t error;
    json_t *line;
    char *text;

    (void)state;
    tocsin_log_setup(TOCSIN_LOG_INFO, TOCSIN_LOG_JSON);
    capture_start(&c);
    tocsin_error("store failed", "error", "disk \x01 full \"now\"");
    tocsin_debug("not shown at info");
    text = capture_end(&c);
    assert_int_equal(count_of(text, "\n"), 1);
    line = json_loads(text, 0, &error);
    assert_non_null(line);
    assert_string_equal(json_string_value(json_object_get(line, "level")), "error");
    assert_string_equal(json_string_value(json_object_get(line, "msg")), "store failed");
    assert_string_equal(json_string_value(json_object_get(line, "error")), "disk \x01 full \"now\"");
    json_decref(line);
    free(text);
}

/* A flood of one line costs BURST lines and one count; other lines pass. */
static void test_repeats_are_limited_and_counted(void **state)
{
    struct capture c;
    char *text;

    (void)state;
    tocsin_log_setup_repeats(3, 200);
    capture_start(&c);
    for (int i = 0; i < 50; i++)
        tocsin_warn("check failed", "monitor", "api", "error", "refused");
    tocsin_warn("check failed", "monitor", "db", "error", "refused");
    tocsin_info("monitor down", "monitor", "api");
    for (int i = 0; i < 5; i++)
        tocsin_debug("check", "monitor", "api");
    sleep_ms(400);
    tocsin_warn("check failed", "monitor", "api", "error", "refused");
    text = capture_end(&c);
    assert_int_equal(count_of(text, "monitor=api error=refused\n"), 3 + 1);
    assert_int_equal(count_of(text, "monitor=db error=refused\n"), 1);
    assert_int_equal(count_of(text, "msg=\"monitor down\""), 1);
    assert_int_equal(count_of(text, "msg=check "), 5);
    assert_int_equal(count_of(text, "msg=\"log lines suppressed\""), 1);
    assert_non_null(strstr(text, " level=warn msg=\"log lines suppressed\" "
                                 "repeated_msg=\"check failed\" suppressed=47 window=200ms\n"));
    /* The count is reported before the first line of the next window. */
    assert_non_null(strstr(strstr(text, "suppressed=47"), "monitor=api error=refused\n"));
    free(text);
}

/* More distinct lines than slots: every one is written, nothing is lost. */
static void test_many_distinct_lines_all_pass(void **state)
{
    struct capture c;
    char id[32];
    char *text;

    (void)state;
    tocsin_log_setup_repeats(2, 60000);
    capture_start(&c);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 300; i++) {
            snprintf(id, sizeof(id), "m%d", i);
            tocsin_warn("check failed", "monitor", id);
        }
    tocsin_log_flush_repeats();
    text = capture_end(&c);
    /* Evicted slots start over, so at least BURST of each survive; with 300
     * distinct lines and 128 slots every line is evicted before it repeats. */
    assert_int_equal(count_of(text, " msg=\"check failed\""), 900);
    assert_int_equal(count_of(text, "suppressed"), 0);
    free(text);
}

/* The exit flush reports what is pending. */
static void test_flush_reports_pending(void **state)
{
    struct capture c;
    char *text;

    (void)state;
    tocsin_log_setup_repeats(1, 60000);
    capture_start(&c);
    for (int i = 0; i < 4; i++)
        tocsin_error("outbox write failed", "error", "No space left on device");
    tocsin_log_flush_repeats();
    tocsin_log_flush_repeats();
    text = capture_end(&c);
    assert_int_equal(count_of(text, " msg=\"outbox write failed\""), 1);
    assert_non_null(strstr(text, "level=error msg=\"log lines suppressed\" "
                                 "repeated_msg=\"outbox write failed\" suppressed=3 window=60s\n"));
    assert_int_equal(count_of(text, "log lines suppressed"), 1);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_logfmt_quoting, setup),
        cmocka_unit_test_setup(test_json_lines_parse, setup),
        cmocka_unit_test_setup(test_repeats_are_limited_and_counted, setup),
        cmocka_unit_test_setup(test_many_distinct_lines_all_pass, setup),
        cmocka_unit_test_setup(test_flush_reports_pending, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
