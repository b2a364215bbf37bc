/* Maintenance windows: see include/tocsin/maintenance.h.
 *
 * A cron expression becomes five bitsets.  Matching works on real minutes: the
 * wall-clock time of each Unix minute is asked of the C library, so a minute
 * that a spring-forward skips is never seen (no match that day) and one that a
 * fall-back repeats is seen twice (two matches), which is the rule the header
 * promises.  A cron window is active at T when some minute S in (T - duration, T]
 * matches; the search steps back from T, skipping whole days, hours and runs of
 * minutes that cannot match, and only where no UTC offset change lies in between. */
#include "tocsin/maintenance.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct tocsin_cron {
    uint64_t minute; /* bit m, 0-59 */
    uint32_t hour;   /* bit h, 0-23 */
    uint32_t dom;    /* bit d, 1-31 */
    uint16_t month;  /* bit m, 1-12 */
    uint8_t dow;     /* bit d, 0-6, Sunday 0 (7 folded onto 0) */
    bool dom_star;   /* the field began with '*': Vixie's DOM/DOW rule */
    bool dow_star;
};

/* A cron window never looks further back than this: four years and a day covers
 * "0 0 29 2 *" (a leap day) with any duration that makes sense. */
#define LOOKBACK_MAX_MS (1462LL * 86400 * 1000)

static const char *const month_names[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                           "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };
static const char *const day_names[] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT" };

struct field {
    const char *name;
    int lo, hi;
    const char *const *names; /* NULL: numbers only */
    int name_base;            /* value of names[0] */
    const char *hint;
};

static const struct field fields[5] = {
    { "minute", 0, 59, NULL, 0, "use 0-59" },
    { "hour", 0, 23, NULL, 0, "use 0-23" },
    { "day of month", 1, 31, NULL, 0, "use 1-31" },
    { "month", 1, 12, month_names, 1, "use 1-12 or JAN-DEC" },
    { "day of week", 0, 7, day_names, 0, "use 0-7 or SUN-SAT (0 and 7 are Sunday)" },
};

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t size, const char *text,
                                                      const char *fmt, ...)
{
    va_list ap;
    int n;

    if (size == 0)
        return -EINVAL;
    n = snprintf(err, size, "bad cron \"%s\": ", text);
    if (n >= 0 && (size_t)n < size) {
        va_start(ap, fmt);
        vsnprintf(err + n, size - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

struct pctx {
    const char *text;  /* the whole expression, for messages */
    const struct field *f;
    const char *tok;   /* the field being parsed */
    size_t tok_len;
    char *err;
    size_t err_size;
};

/* A number or (where the field has them) a 3-letter name at *P.  *NAMED tells
 * which it was.  Returns 0, or -EINVAL after writing the message. */
static int get_value(struct pctx *c, const char **p, const char *end, int *out, bool *named)
{
    const struct field *f = c->f;
    const char *s = *p;
    long v = 0;

    *named = false;
    if (s < end && *s >= '0' && *s <= '9') {
        while (s < end && *s >= '0' && *s <= '9' && v <= 1000)
            v = v * 10 + (*s++ - '0');
        if (s < end && *s >= '0' && *s <= '9')
            return fail(c->err, c->err_size, c->text, "%s %.*s is out of %d-%d", f->name,
                        (int)(strspn(*p, "0123456789")), *p, f->lo, f->hi);
        if (v < f->lo || v > f->hi)
            return fail(c->err, c->err_size, c->text, "%s %ld is out of %d-%d", f->name, v,
                        f->lo, f->hi);
        *out = (int)v;
        *p = s;
        return 0;
    }
    for (int i = 0; f->names && i < (f == &fields[3] ? 12 : 7); i++)
        if (end - s >= 3 && strncasecmp(s, f->names[i], 3) == 0 &&
            (end - s == 3 || strchr(",-/", s[3]))) {
            *out = f->name_base + i;
            *p = s + 3;
            *named = true;
            return 0;
        }
    return fail(c->err, c->err_size, c->text, "bad %s \"%.*s\": %s", f->name, (int)c->tok_len,
                c->tok, f->hint);
}

/* One list item: "*", "N", "A-B", each optionally "/STEP" ("N/STEP" means N-max). */
static int parse_item(struct pctx *c, const char *s, const char *end, uint64_t *bits)
{
    const struct field *f = c->f;
    const char *start = s;
    int a, b, step = 1;
    bool named, named_b = false;

    if (s == end)
        return fail(c->err, c->err_size, c->text, "empty item in %s \"%.*s\"", f->name,
                    (int)c->tok_len, c->tok);
    if (*s == '*') {
        a = f->lo;
        b = f == &fields[4] ? 6 : f->hi;
        s++;
    } else {
        if (get_value(c, &s, end, &a, &named) < 0)
            return -EINVAL;
        b = a;
        if (s < end && *s == '-') {
            s++;
            if (get_value(c, &s, end, &b, &named_b) < 0)
                return -EINVAL;
            /* MON-SUN: a named Sunday that ends a range is day 7 */
            if (f == &fields[4] && named_b && b == 0 && a > 0)
                b = 7;
            if (b < a)
                return fail(c->err, c->err_size, c->text, "%s range %.*s goes backwards",
                            f->name, (int)(s - start), start);
        } else if (s < end && *s == '/') {
            b = f->hi;
        }
    }
    if (s < end && *s == '/') {
        const char *d = ++s;
        long v = 0;

        while (s < end && *s >= '0' && *s <= '9' && v <= 1000)
            v = v * 10 + (*s++ - '0');
        if (s == d || s < end)
            return fail(c->err, c->err_size, c->text,
                        "bad %s \"%.*s\": a step is /N after * or a range", f->name,
                        (int)c->tok_len, c->tok);
        if (v < 1 || v > f->hi)
            return fail(c->err, c->err_size, c->text, "%s step %ld is out of 1-%d", f->name,
                        v, f->hi);
        step = (int)v;
    }
    if (s < end)
        return fail(c->err, c->err_size, c->text,
                    "bad %s \"%.*s\": %s, a range A-B, * or a step /N", f->name,
                    (int)c->tok_len, c->tok, f->hint);
    for (int v = a; v <= b; v += step)
        *bits |= 1ULL << v;
    return 0;
}

static int parse_field(struct pctx *c, uint64_t *bits, bool *star)
{
    const char *s = c->tok, *end = c->tok + c->tok_len;

    *bits = 0;
    *star = *s == '*';
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end;

        if (parse_item(c, s, e, bits) < 0)
            return -EINVAL;
        if (!comma)
            return 0;
        s = comma + 1;
    }
}

int tocsin_cron_parse(const char *text, struct tocsin_cron **out, char *err, size_t err_size)
{
    struct pctx c = { .text = text, .err = err, .err_size = err_size };
    const char *tok[6], *p = text;
    size_t len[6], n = 0;
    uint64_t bits[5];
    bool star[5];
    struct tocsin_cron *cron;

    *out = NULL;
    while (*p) {
        p += strspn(p, " \t");
        if (!*p)
            break;
        if (n < 6) {
            tok[n] = p;
            len[n] = strcspn(p, " \t");
        }
        n++;
        p += strcspn(p, " \t");
    }
    if (n != 5)
        return fail(err, err_size, text,
                    "expected 5 fields (minute hour day-of-month month day-of-week), got %zu", n);
    for (size_t i = 0; i < 5; i++) {
        c.f = &fields[i];
        c.tok = tok[i];
        c.tok_len = len[i];
        if (parse_field(&c, &bits[i], &star[i]) < 0)
            return -EINVAL;
    }
    cron = calloc(1, sizeof(*cron));
    if (!cron) {
        snprintf(err, err_size, "out of memory");
        return -ENOMEM;
    }
    cron->minute = bits[0];
    cron->hour = (uint32_t)bits[1];
    cron->dom = (uint32_t)bits[2];
    cron->month = (uint16_t)bits[3];
    cron->dow = (uint8_t)((bits[4] | bits[4] >> 7) & 0x7f); /* 7 is Sunday too */
    cron->dom_star = star[2];
    cron->dow_star = star[4];
    *out = cron;
    return 0;
}

void tocsin_cron_free(struct tocsin_cron *cron)
{
    free(cron);
}

/* Vixie cron: when either day field starts with '*', a day must match both
 * (the starred one matches anyway); when both are restricted, either will do. */
static bool day_matches(const struct tocsin_cron *c, const struct tm *tm)
{
    bool dom = c->dom >> tm->tm_mday & 1u, dow = c->dow >> tm->tm_wday & 1u;

    return c->dom_star || c->dow_star ? dom && dow : dom || dow;
}

static bool date_matches(const struct tocsin_cron *c, const struct tm *tm)
{
    return (c->month >> (tm->tm_mon + 1) & 1u) && day_matches(c, tm);
}

static bool tm_matches(const struct tocsin_cron *c, const struct tm *tm)
{
    return date_matches(c, tm) && (c->hour >> tm->tm_hour & 1u) && (c->minute >> tm->tm_min & 1u);
}

/* ---- time zones ----------------------------------------------------------
 *
 * glibc has no localtime for a named zone other than the process's, and no way
 * to load a zone into a private object.  So a window with a timezone switches TZ
 * around its computation: setenv + tzset, localtime_r, then the old value back.
 * This is safe because every caller is tocsin's single-threaded event loop (the
 * decision code); no other thread reads local time.  When TZ was unset it is
 * restored as ":/etc/localtime", which is what glibc reads for an unset TZ, so
 * the environment never grows or shrinks after the first switch (another thread's
 * getenv never sees the environ array moved). */

struct tz_switch {
    char *old;     /* the TZ to restore; NULL when nothing was switched */
};

static void tz_enter(const char *tz, struct tz_switch *sw)
{
    const char *cur = getenv("TZ");

    sw->old = NULL;
    if (tz && !(cur && strcmp(cur, tz) == 0)) {
        sw->old = strdup(cur ? cur : ":/etc/localtime");
        if (sw->old && setenv("TZ", tz, 1) < 0) {
            free(sw->old);
            sw->old = NULL;
        }
    }
    tzset(); /* localtime_r need not look at TZ itself (POSIX) */
}

static void tz_leave(struct tz_switch *sw)
{
    if (!sw->old)
        return;
    setenv("TZ", sw->old, 1);
    tzset();
    free(sw->old);
    sw->old = NULL;
}

static bool local_at(int64_t t, struct tm *tm)
{
    time_t tt = (time_t)t;

    return (int64_t)tt == t && localtime_r(&tt, tm) != NULL;
}

bool tocsin_cron_matches(const struct tocsin_cron *cron, const char *tz_name, int64_t t)
{
    struct tz_switch sw;
    struct tm tm;
    bool ok;

    if (!cron)
        return false;
    tz_enter(tz_name, &sw);
    ok = local_at(t, &tm) && tm_matches(cron, &tm);
    tz_leave(&sw);
    return ok;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The minute before S by up to BACK minutes: BACK itself when the UTC offset is
 * the same at both ends (wall time then runs straight, and the caller knows no
 * minute strictly in between can match), else a shorter safe step. */
static int64_t step_back(int64_t s, const struct tm *at, int back, int hour_back)
{
    int tries[3] = { back, hour_back, 1 };

    for (int i = 0; i < 3; i++) {
        struct tm tm;

        if (tries[i] > back || tries[i] < 1)
            continue;
        if (tries[i] == 1)
            return s - 60;
        if (local_at(s - (int64_t)(tries[i] - 1) * 60, &tm) && tm.tm_gmtoff == at->tm_gmtoff)
            return s - (int64_t)tries[i] * 60;
    }
    return s - 60;
}

/* Is some minute S with S * 1000 > LOW_MS and S <= T a match?  TZ already set. */
static bool match_since(const struct tocsin_cron *c, int64_t t, int64_t low_ms)
{
    int64_t s = floor_div(t, 60) * 60;
    struct tm tm;

    while (s * 1000 > low_ms) {
        int back;

        if (!local_at(s, &tm))
            return false;
        if (!date_matches(c, &tm)) {
            back = tm.tm_hour * 60 + tm.tm_min + 1; /* to 23:59 the day before */
        } else if (!(c->hour >> tm.tm_hour & 1u)) {
            back = tm.tm_min + 1;                    /* to :59 the hour before */
        } else if (!(c->minute >> tm.tm_min & 1u)) {
            int m = tm.tm_min - 1;

            while (m >= 0 && !(c->minute >> m & 1u))
                m--;
            back = tm.tm_min - m;                    /* to the minute that matches, or :59 before */
        } else {
            return true;
        }
        s = step_back(s, &tm, back, tm.tm_min + 1);
    }
    return false;
}

bool tocsin_maintenance_active(const struct tocsin_maintenance_conf *w, int64_t t)
{
    struct tz_switch sw;
    uint64_t dur;
    bool ok;

    if (!w)
        return false;
    if (!w->cron)
        return t >= w->start && t < w->end;
    if (w->duration_ms == 0 || t > INT64_MAX / 1000 || t < INT64_MIN / 1000 + LOOKBACK_MAX_MS)
        return false;
    dur = w->duration_ms < (uint64_t)LOOKBACK_MAX_MS ? w->duration_ms : (uint64_t)LOOKBACK_MAX_MS;
    tz_enter(w->timezone, &sw);
    /* a start S (whole minute) is in force while S <= T < S + duration */
    ok = match_since(w->cron, t, t * 1000 - (int64_t)dur);
    tz_leave(&sw);
    return ok;
}

bool tocsin_monitor_in_maintenance(const struct tocsin_monitor_conf *m, int64_t t)
{
    for (size_t i = 0; m && i < m->n_maintenance; i++)
        if (tocsin_maintenance_active(&m->maintenance[i], t))
            return true;
    return false;
}
