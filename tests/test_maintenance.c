/* Maintenance windows: the cron parser (fields, ranges, steps, lists, names,
 * Sunday 0/7, the DOM/DOW rule, every error), matching in UTC, local time and
 * named zones across DST, cron and one-off windows, and the window search
 * against a naive minute-by-minute scan in zones with odd offsets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tocsin/maintenance.h"

/* Unix time of a UTC wall-clock time. */
static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                     .tm_hour = h, .tm_min = mi, .tm_sec = s };

    return (int64_t)timegm(&tm);
}

static struct tocsin_cron *parse(const char *text)
{
    struct tocsin_cron *c = NULL;
    char err[256] = "";

    if (tocsin_cron_parse(text, &c, err, sizeof(err)) != 0)
        fail_msg("cron \"%s\": %s", text, err);
    return c;
}

/* CRON matches (in UTC) exactly the listed minutes among the probes. */
static void check_utc(const char *text, const int64_t *yes, size_t n_yes, const int64_t *no,
                      size_t n_no)
{
    struct tocsin_cron *c = parse(text);

    for (size_t i = 0; i < n_yes; i++)
        if (!tocsin_cron_matches(c, "UTC", yes[i]))
            fail_msg("\"%s\" should match %lld", text, (long long)yes[i]);
    for (size_t i = 0; i < n_no; i++)
        if (tocsin_cron_matches(c, "UTC", no[i]))
            fail_msg("\"%s\" should not match %lld", text, (long long)no[i]);
    tocsin_cron_free(c);
}

#define CHECK(text, yes, no) \
    check_utc(text, yes, sizeof(yes) / sizeof(*yes), no, sizeof(no) / sizeof(*no))

static void test_fields(void **state)
{
    (void)state;
    {
        const int64_t yes[] = { utc(2026, 3, 23, 10, 5, 0), utc(2026, 3, 23, 10, 5, 59),
                                utc(2026, 7, 1, 0, 5, 0) };
        const int64_t no[] = { utc(2026, 3, 23, 10, 6, 0), utc(2026, 3, 23, 10, 4, 59) };
        CHECK("5 * * * *", yes, no);
    }
    {
        const int64_t yes[] = { utc(2026, 1, 1, 0, 0, 0), utc(2030, 12, 31, 23, 59, 0) };
        const int64_t no[] = { 0 };
        check_utc("* * * * *", yes, 2, no, 0);
    }
    { /* ranges, steps, lists */
        const int64_t yes[] = { utc(2026, 3, 23, 9, 0, 0), utc(2026, 3, 23, 9, 5, 0),
                                utc(2026, 3, 23, 13, 10, 0), utc(2026, 3, 23, 17, 30, 0),
                                utc(2026, 3, 23, 17, 31, 0) };
        const int64_t no[] = { utc(2026, 3, 23, 9, 15, 0), utc(2026, 3, 23, 10, 0, 0),
                               utc(2026, 3, 23, 21, 0, 0), utc(2026, 3, 23, 9, 3, 0),
                               utc(2026, 3, 23, 9, 32, 0) };
        CHECK("0-10/5,30-31 9-17/4 * * *", yes, no);
    }
    { /* every 20 minutes */
        const int64_t yes[] = { utc(2026, 3, 23, 1, 0, 0), utc(2026, 3, 23, 1, 20, 0),
                                utc(2026, 3, 23, 1, 40, 0) };
        const int64_t no[] = { utc(2026, 3, 23, 1, 10, 0), utc(2026, 3, 23, 1, 59, 0) };
        CHECK("*/20 * * * *", yes, no);
    }
    { /* N/step: from N to the field's end */
        const int64_t yes[] = { utc(2026, 3, 23, 1, 5, 0), utc(2026, 3, 23, 1, 20, 0),
                                utc(2026, 3, 23, 1, 50, 0) };
        const int64_t no[] = { utc(2026, 3, 23, 1, 0, 0), utc(2026, 3, 23, 1, 6, 0) };
        CHECK("5/15 * * * *", yes, no);
    }
    { /* month names, any case, in lists and ranges */
        const int64_t yes[] = { utc(2026, 1, 1, 0, 0, 0), utc(2026, 7, 1, 0, 0, 0),
                                utc(2026, 10, 1, 0, 0, 0), utc(2026, 12, 1, 0, 0, 0) };
        const int64_t no[] = { utc(2026, 2, 1, 0, 0, 0), utc(2026, 9, 1, 0, 0, 0),
                               utc(2026, 7, 2, 0, 0, 0) };
        CHECK("0 0 1 JAN,jul,Oct-DEC *", yes, no);
    }
    { /* weekdays by name: 2026-03-23 is a Monday */
        const int64_t yes[] = { utc(2026, 3, 23, 0, 0, 0), utc(2026, 3, 27, 0, 0, 0) };
        const int64_t no[] = { utc(2026, 3, 28, 0, 0, 0), utc(2026, 3, 29, 0, 0, 0) };
        CHECK("0 0 * * MON-FRI", yes, no);
    }
}

static void test_sunday(void **state)
{
    static const char *const sunday[] = { "0 0 * * 0", "0 0 * * 7", "0 0 * * SUN",
                                          "0 0 * * sun", "0 0 * * 6-7", "0 0 * * 5/2",
                                          "0 0 * * MON-SUN", "0 0 * * 0-7" };
    int64_t sun = utc(2026, 3, 29, 0, 0, 0), sat = utc(2026, 3, 28, 0, 0, 0),
            mon = utc(2026, 3, 23, 0, 0, 0);

    (void)state;
    for (size_t i = 0; i < sizeof(sunday) / sizeof(*sunday); i++) {
        struct tocsin_cron *c = parse(sunday[i]);

        assert_true(tocsin_cron_matches(c, "UTC", sun));
        tocsin_cron_free(c);
    }
    {
        struct tocsin_cron *c = parse("0 0 * * 7");

        assert_false(tocsin_cron_matches(c, "UTC", sat));
        assert_false(tocsin_cron_matches(c, "UTC", mon));
        tocsin_cron_free(c);
        c = parse("0 0 * * MON-SUN");
        assert_true(tocsin_cron_matches(c, "UTC", sat));
        assert_true(tocsin_cron_matches(c, "UTC", mon));
        tocsin_cron_free(c);
        c = parse("0 0 * * 5/2"); /* 5, 7: Friday and Sunday */
        assert_false(tocsin_cron_matches(c, "UTC", sat));
        assert_true(tocsin_cron_matches(c, "UTC", utc(2026, 3, 27, 0, 0, 0)));
        tocsin_cron_free(c);
    }
}

/* Vixie cron: both day fields restricted means either; a '*' in one means both. */
static void test_dom_dow(void **state)
{
    (void)state;
    {
        const int64_t yes[] = { utc(2026, 3, 13, 0, 0, 0),   /* Friday the 13th */
                                utc(2026, 4, 13, 0, 0, 0),   /* Monday the 13th */
                                utc(2026, 3, 20, 0, 0, 0) }; /* a Friday */
        const int64_t no[] = { utc(2026, 3, 21, 0, 0, 0), utc(2026, 4, 14, 0, 0, 0) };
        CHECK("0 0 13 * FRI", yes, no);
    }
    {
        const int64_t yes[] = { utc(2026, 3, 23, 0, 0, 0) }; /* Monday, day 23 (odd) */
        const int64_t no[] = { utc(2026, 3, 30, 0, 0, 0),    /* Monday, day 30 */
                               utc(2026, 3, 25, 0, 0, 0) };  /* odd day, Wednesday */
        CHECK("0 0 */2 * MON", yes, no);
    }
    {
        const int64_t yes[] = { utc(2026, 3, 1, 0, 0, 0), utc(2026, 4, 1, 0, 0, 0) };
        const int64_t no[] = { utc(2026, 3, 2, 0, 0, 0) };
        CHECK("0 0 1 * *", yes, no);
    }
    {
        const int64_t yes[] = { utc(2026, 3, 23, 0, 0, 0), utc(2026, 3, 30, 0, 0, 0) };
        const int64_t no[] = { utc(2026, 3, 1, 0, 0, 0) }; /* a Sunday */
        CHECK("0 0 * * 1", yes, no);
    }
}

static void test_errors(void **state)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        { "0 25 * * *", "bad cron \"0 25 * * *\": hour 25 is out of 0-23" },
        { "60 * * * *", "bad cron \"60 * * * *\": minute 60 is out of 0-59" },
        { "* * 0 * *", "bad cron \"* * 0 * *\": day of month 0 is out of 1-31" },
        { "* * 32 * *", "bad cron \"* * 32 * *\": day of month 32 is out of 1-31" },
        { "* * * 13 *", "bad cron \"* * * 13 *\": month 13 is out of 1-12" },
        { "* * * 0 *", "bad cron \"* * * 0 *\": month 0 is out of 1-12" },
        { "* * * * 8", "bad cron \"* * * * 8\": day of week 8 is out of 0-7" },
        { "99999999999 * * * *",
          "bad cron \"99999999999 * * * *\": minute 99999999999 is out of 0-59" },
        { "* * * *",
          "bad cron \"* * * *\": expected 5 fields (minute hour day-of-month month day-of-week), got 4" },
        { "* * * * * *",
          "bad cron \"* * * * * *\": expected 5 fields (minute hour day-of-month month day-of-week), got 6" },
        { "", "bad cron \"\": expected 5 fields (minute hour day-of-month month day-of-week), got 0" },
        { "@daily",
          "bad cron \"@daily\": expected 5 fields (minute hour day-of-month month day-of-week), got 1" },
        { "*/0 * * * *", "bad cron \"*/0 * * * *\": minute step 0 is out of 1-59" },
        { "*/60 * * * *", "bad cron \"*/60 * * * *\": minute step 60 is out of 1-59" },
        { "*/ * * * *", "bad cron \"*/ * * * *\": bad minute \"*/\": a step is /N after * or a range" },
        { "*/2x * * * *",
          "bad cron \"*/2x * * * *\": bad minute \"*/2x\": a step is /N after * or a range" },
        { "0 5-2 * * *", "bad cron \"0 5-2 * * *\": hour range 5-2 goes backwards" },
        { "0 0 * * FRI-MON", "bad cron \"0 0 * * FRI-MON\": day of week range FRI-MON goes backwards" },
        { "0 0 * DEC-JAN *", "bad cron \"0 0 * DEC-JAN *\": month range DEC-JAN goes backwards" },
        { "1,,2 * * * *", "bad cron \"1,,2 * * * *\": empty item in minute \"1,,2\"" },
        { "1, * * * *", "bad cron \"1, * * * *\": empty item in minute \"1,\"" },
        { "x * * * *", "bad cron \"x * * * *\": bad minute \"x\": use 0-59" },
        { "JAN * * * *", "bad cron \"JAN * * * *\": bad minute \"JAN\": use 0-59" },
        { "0 0 * FOO *", "bad cron \"0 0 * FOO *\": bad month \"FOO\": use 1-12 or JAN-DEC" },
        { "0 0 * * MONDAY",
          "bad cron \"0 0 * * MONDAY\": bad day of week \"MONDAY\": use 0-7 or SUN-SAT (0 and 7 are Sunday)" },
        { "0 0 * * MON-",
          "bad cron \"0 0 * * MON-\": bad day of week \"MON-\": use 0-7 or SUN-SAT (0 and 7 are Sunday)" },
        { "1-2-3 * * * *",
          "bad cron \"1-2-3 * * * *\": bad minute \"1-2-3\": use 0-59, a range A-B, * or a step /N" },
        { "-1 * * * *", "bad cron \"-1 * * * *\": bad minute \"-1\": use 0-59" },
    };
    struct tocsin_cron *c;
    char err[256], small[16];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        c = (struct tocsin_cron *)&c;
        memset(err, 0, sizeof(err));
        assert_int_equal(tocsin_cron_parse(cases[i].text, &c, err, sizeof(err)), -EINVAL);
        assert_null(c);
        assert_string_equal(err, cases[i].msg);
    }
    /* a short buffer gets a cut message, never an overflow */
    memset(small, 'x', sizeof(small));
    assert_int_equal(tocsin_cron_parse("0 25 * * *", &c, small, sizeof(small)), -EINVAL);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    /* blanks around and between fields are fine */
    c = parse("  0\t3  * *  SUN ");
    assert_true(tocsin_cron_matches(c, "UTC", utc(2026, 3, 29, 3, 0, 0)));
    tocsin_cron_free(c);
    tocsin_cron_free(NULL);
    assert_false(tocsin_cron_matches(NULL, "UTC", 0));
}

static struct tocsin_maintenance_conf window(const char *cron, uint64_t duration_ms,
                                             const char *tz)
{
    struct tocsin_maintenance_conf w = { .duration_ms = duration_ms };

    w.cron = parse(cron);
    w.timezone = (char *)tz;
    return w;
}

/* "0 3 * * SUN" for an hour: in at 03:00 and 03:59:59 wall time, out at 04:00. */
static void test_weekly_window(void **state)
{
    struct tocsin_maintenance_conf w = window("0 3 * * SUN", 3600000, "UTC");

    (void)state;
    assert_false(tocsin_maintenance_active(&w, utc(2026, 3, 22, 2, 59, 59)));
    assert_true(tocsin_maintenance_active(&w, utc(2026, 3, 22, 3, 0, 0)));
    assert_true(tocsin_maintenance_active(&w, utc(2026, 3, 22, 3, 30, 0)));
    assert_true(tocsin_maintenance_active(&w, utc(2026, 3, 22, 3, 59, 59)));
    assert_false(tocsin_maintenance_active(&w, utc(2026, 3, 22, 4, 0, 0)));
    assert_false(tocsin_maintenance_active(&w, utc(2026, 3, 23, 3, 30, 0))); /* Monday */
    assert_false(tocsin_maintenance_active(&w, utc(2026, 3, 21, 3, 30, 0))); /* Saturday */
    /* Berlin in winter (UTC+1): 03:00 local is 02:00Z */
    w.timezone = "Europe/Berlin";
    assert_false(tocsin_maintenance_active(&w, utc(2026, 3, 22, 1, 59, 59)));
    assert_true(tocsin_maintenance_active(&w, utc(2026, 3, 22, 2, 0, 0)));
    assert_true(tocsin_maintenance_active(&w, utc(2026, 3, 22, 2, 59, 59)));
    assert_false(tocsin_maintenance_active(&w, utc(2026, 3, 22, 3, 0, 0)));
    /* ... and in summer (UTC+2): 03:00 local is 01:00Z */
    assert_false(tocsin_maintenance_active(&w, utc(2026, 6, 7, 0, 59, 59)));
    assert_true(tocsin_maintenance_active(&w, utc(2026, 6, 7, 1, 0, 0)));
    assert_true(tocsin_maintenance_active(&w, utc(2026, 6, 7, 1, 59, 59)));
    assert_false(tocsin_maintenance_active(&w, utc(2026, 6, 7, 2, 0, 0)));
    /* a duration that is not whole minutes */
    w.duration_ms = 90500;
    assert_true(tocsin_maintenance_active(&w, utc(2026, 6, 7, 1, 1, 30)));
    assert_false(tocsin_maintenance_active(&w, utc(2026, 6, 7, 1, 1, 31)));
    w.duration_ms = 0;
    assert_false(tocsin_maintenance_active(&w, utc(2026, 6, 7, 1, 0, 0)));
    tocsin_cron_free(w.cron);
}

/* 2026-03-29 Europe/Berlin: 02:00 CET becomes 03:00 CEST, so 02:30 never happens. */
static void test_dst_spring_forward(void **state)
{
    struct tocsin_maintenance_conf w = window("30 2 * * *", 3600000, "Europe/Berlin");
    int hits = 0;

    (void)state;
    for (int64_t t = utc(2026, 3, 28, 23, 0, 0); t < utc(2026, 3, 29, 22, 0, 0); t += 60)
        hits += tocsin_cron_matches(w.cron, "Europe/Berlin", t);
    assert_int_equal(hits, 0);
    for (int64_t t = utc(2026, 3, 27, 23, 0, 0); t < utc(2026, 3, 28, 23, 0, 0); t += 60)
        hits += tocsin_cron_matches(w.cron, "Europe/Berlin", t);
    assert_int_equal(hits, 1);
    assert_true(tocsin_cron_matches(w.cron, "Europe/Berlin", utc(2026, 3, 28, 1, 30, 0)));
    /* no window that day: the search steps over the missing hour */
    for (int64_t t = utc(2026, 3, 28, 23, 0, 0); t < utc(2026, 3, 29, 22, 0, 0); t += 97)
        if (tocsin_maintenance_active(&w, t))
            fail_msg("active at %lld", (long long)t);
    /* 03:00 local still exists and matches "0 3" */
    tocsin_cron_free(w.cron);
    w = window("0 3 * * *", 60000, "Europe/Berlin");
    assert_true(tocsin_maintenance_active(&w, utc(2026, 3, 29, 1, 0, 0)));
    tocsin_cron_free(w.cron);
}

/* 2026-10-25 Europe/Berlin: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice. */
static void test_dst_fall_back(void **state)
{
    struct tocsin_maintenance_conf w = window("30 2 * * *", 1800000, "Europe/Berlin");
    int hits = 0;

    (void)state;
    for (int64_t t = utc(2026, 10, 24, 22, 0, 0); t < utc(2026, 10, 25, 23, 0, 0); t += 60)
        hits += tocsin_cron_matches(w.cron, "Europe/Berlin", t);
    assert_int_equal(hits, 2);
    assert_true(tocsin_cron_matches(w.cron, "Europe/Berlin", utc(2026, 10, 25, 0, 30, 0)));
    assert_true(tocsin_cron_matches(w.cron, "Europe/Berlin", utc(2026, 10, 25, 1, 30, 0)));
    /* two windows of 30 minutes, with a gap between */
    assert_false(tocsin_maintenance_active(&w, utc(2026, 10, 25, 0, 29, 59)));
    assert_true(tocsin_maintenance_active(&w, utc(2026, 10, 25, 0, 45, 0)));
    assert_false(tocsin_maintenance_active(&w, utc(2026, 10, 25, 1, 15, 0)));
    assert_true(tocsin_maintenance_active(&w, utc(2026, 10, 25, 1, 45, 0)));
    assert_false(tocsin_maintenance_active(&w, utc(2026, 10, 25, 2, 0, 0)));
    tocsin_cron_free(w.cron);
}

/* NULL is the host's local time (TZ), and a named zone leaves TZ as it was. */
static void test_local_time(void **state)
{
    struct tocsin_maintenance_conf w = window("0 3 * * SUN", 3600000, NULL);
    const char *old = getenv("TZ");
    char *saved = old ? strdup(old) : NULL;

    (void)state;
    setenv("TZ", "America/New_York", 1);
    tzset();
    /* 03:00 EDT is 07:00Z */
    assert_true(tocsin_maintenance_active(&w, utc(2026, 6, 7, 7, 30, 0)));
    assert_false(tocsin_maintenance_active(&w, utc(2026, 6, 7, 3, 30, 0)));
    w.timezone = "Europe/Berlin";
    assert_true(tocsin_maintenance_active(&w, utc(2026, 6, 7, 1, 30, 0)));
    assert_string_equal(getenv("TZ"), "America/New_York");
    {
        time_t t = (time_t)utc(2026, 6, 7, 7, 30, 0);
        struct tm tm;

        localtime_r(&t, &tm);
        assert_int_equal(tm.tm_hour, 3);
    }
    w.timezone = "America/New_York"; /* the process's own zone: nothing to switch */
    assert_true(tocsin_maintenance_active(&w, utc(2026, 6, 7, 7, 30, 0)));
    assert_string_equal(getenv("TZ"), "America/New_York");
    if (saved)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved);
    tocsin_cron_free(w.cron);
}

static void test_one_off(void **state)
{
    struct tocsin_maintenance_conf w = { .start = utc(2026, 12, 24, 22, 0, 0),
                                         .end = utc(2026, 12, 25, 2, 0, 0) };
    struct tocsin_maintenance_conf ws[2] = { w, { 0 } };
    struct tocsin_monitor_conf m = { .maintenance = ws, .n_maintenance = 2 };

    (void)state;
    assert_false(tocsin_maintenance_active(&w, w.start - 1));
    assert_true(tocsin_maintenance_active(&w, w.start));
    assert_true(tocsin_maintenance_active(&w, w.end - 1));
    assert_false(tocsin_maintenance_active(&w, w.end));
    assert_false(tocsin_maintenance_active(NULL, w.start));
    /* a monitor is in maintenance when any window is active */
    ws[1] = window("0 12 * * *", 60000, "UTC");
    assert_true(tocsin_monitor_in_maintenance(&m, w.start));
    assert_true(tocsin_monitor_in_maintenance(&m, utc(2026, 6, 1, 12, 0, 30)));
    assert_false(tocsin_monitor_in_maintenance(&m, utc(2026, 6, 1, 12, 1, 0)));
    m.n_maintenance = 0;
    assert_false(tocsin_monitor_in_maintenance(&m, w.start));
    assert_false(tocsin_monitor_in_maintenance(NULL, w.start));
    tocsin_cron_free(ws[1].cron);
}

/* Long windows look back far without walking every minute. */
static void test_long_windows(void **state)
{
    struct tocsin_maintenance_conf w = window("0 0 29 2 *", 2 * 86400000ULL, "UTC");

    (void)state;
    assert_true(tocsin_maintenance_active(&w, utc(2028, 3, 1, 12, 0, 0)));
    assert_false(tocsin_maintenance_active(&w, utc(2028, 3, 2, 0, 0, 0)));
    assert_false(tocsin_maintenance_active(&w, utc(2027, 3, 1, 0, 0, 0)));
    w.duration_ms = 1000ULL * 86400000;
    assert_true(tocsin_maintenance_active(&w, utc(2030, 1, 1, 0, 0, 0)));
    assert_false(tocsin_maintenance_active(&w, utc(2031, 1, 1, 0, 0, 0)));
    tocsin_cron_free(w.cron);
}

/* The window search (with its skips) against a scan of every minute, around DST
 * changes in zones whose offsets or shifts are not whole hours. */
static void test_against_scan(void **state)
{
    static const char *const crons[] = { "30 2 * * *", "*/7 1-3 * * *", "0,45 * * * SUN",
                                         "59 23 * * *", "15 2 4,5 * *", "0 0 * * *" };
    static const uint64_t durations[] = { 60000, 45 * 60000, 3 * 3600000 + 500 };
    static const struct {
        const char *tz;
        int64_t around;
    } cases[] = {
        { "Europe/Berlin", 1774746000 },       /* 2026-03-29 01:00Z spring */
        { "Europe/Berlin", 1792890000 },       /* 2026-10-25 01:00Z fall */
        { "Australia/Lord_Howe", 1775314800 }, /* 2026-04-04 15:00Z: back 30 min */
        { "Australia/Lord_Howe", 1791041400 }, /* 2026-10-03 15:30Z: on 30 min */
        { "America/St_Johns", 1772947800 },    /* 2026-03-08 05:30Z */
        { "Asia/Kathmandu", 1774746000 },      /* +05:45, no DST */
    };
    const char *old = getenv("TZ");
    char *saved = old ? strdup(old) : NULL;

    (void)state;
    for (size_t z = 0; z < sizeof(cases) / sizeof(*cases); z++) {
        /* the process zone is the window's: the scan below stays cheap */
        setenv("TZ", cases[z].tz, 1);
        tzset();
        for (size_t ci = 0; ci < sizeof(crons) / sizeof(*crons); ci++) {
            for (size_t di = 0; di < sizeof(durations) / sizeof(*durations); di++) {
                struct tocsin_maintenance_conf w = window(crons[ci], durations[di], cases[z].tz);

                for (int64_t t = cases[z].around - 86400; t < cases[z].around + 86400;
                     t += 17 * 60 + 13) {
                    bool want = false;

                    for (int64_t s = t - t % 60; s * 1000 > t * 1000 - (int64_t)durations[di];
                         s -= 60)
                        if (tocsin_cron_matches(w.cron, cases[z].tz, s)) {
                            want = true;
                            break;
                        }
                    if (tocsin_maintenance_active(&w, t) != want)
                        fail_msg("%s \"%s\" %llums at %lld: want %d", cases[z].tz, crons[ci],
                                 (unsigned long long)durations[di], (long long)t, want);
                }
                tocsin_cron_free(w.cron);
            }
        }
    }
    if (saved)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_sunday),
        cmocka_unit_test(test_dom_dow),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_weekly_window),
        cmocka_unit_test(test_dst_spring_forward),
        cmocka_unit_test(test_dst_fall_back),
        cmocka_unit_test(test_local_time),
        cmocka_unit_test(test_one_off),
        cmocka_unit_test(test_long_windows),
        cmocka_unit_test(test_against_scan),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
