/* One line per event on stderr: logfmt (default) or JSON.  Callers pass only
 * values that are safe to show; secrets never reach this module.
 *
 * Repeats are rate-limited: a target that fails the same way every second, or
 * a receiver that refuses every retry, must not bury the transitions in the
 * journal (journald would then drop lines of its own choosing).  The same
 * line (level, msg and every key and value, not the timestamp) is written at
 * most `burst` times per window; the rest are counted and reported in one
 * "log lines suppressed" line when the window ends.  Debug is exempt: it is
 * asked for to see every check. */
#include "tocsin/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum tocsin_log_level log_min = TOCSIN_LOG_INFO;
static enum tocsin_log_format log_format = TOCSIN_LOG_LOGFMT;

enum { REPEAT_SLOTS = 128, REPEAT_MSG_MAX = 96 };

/* One distinct line seen in the current window. */
struct repeat_slot {
    uint64_t hash; /* 0: free */
    uint64_t window_start_ms;
    uint64_t last_use; /* for evicting the least recently used */
    unsigned written;
    unsigned suppressed;
    enum tocsin_log_level level;
    char msg[REPEAT_MSG_MAX];
};

static struct {
    pthread_mutex_t lock; /* the agent logs from its loop; tests from their own threads too */
    unsigned burst;
    uint64_t window_ms;
    uint64_t uses;
    struct repeat_slot slots[REPEAT_SLOTS];
} repeats = {.lock = PTHREAD_MUTEX_INITIALIZER,
             .burst = TOCSIN_LOG_REPEAT_BURST,
             .window_ms = TOCSIN_LOG_REPEAT_WINDOW_MS};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void tocsin_log_setup(enum tocsin_log_level level, enum tocsin_log_format format)
{
    log_min = level;
    log_format = format;
}

/* Appends S to the line buffer, bounded; quotes for logfmt or JSON as needed. */
struct line {
    char buf[4096];
    size_t len;
};

static void put_char(struct line *l, char c)
{
    if (l->len + 1 < sizeof(l->buf))
        l->buf[l->len++] = c;
}

static void put_raw(struct line *l, const char *s)
{
    while (*s)
        put_char(l, *s++);
}

static bool needs_quotes(const char *s)
{
    if (*s == '\0')
        return true;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == '"' || *s == '=' || *s == '\\')
            return true;
    return false;
}

static void put_escaped(struct line *l, const char *s)
{
    char hex[8];

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            put_char(l, '\\');
            put_char(l, (char)c);
        } else if (c == '\n') {
            put_raw(l, "\\n");
        } else if (c < 0x20) {
            snprintf(hex, sizeof(hex), "\\u%04x", c);
            put_raw(l, hex);
        } else {
            put_char(l, (char)c);
        }
    }
}

static void put_pair(struct line *l, const char *key, const char *value, bool first)
{
    if (log_format == TOCSIN_LOG_JSON) {
        put_raw(l, first ? "{\"" : ",\"");
        put_escaped(l, key);
        put_raw(l, "\":\"");
        put_escaped(l, value);
        put_char(l, '"');
        return;
    }
    if (!first)
        put_char(l, ' ');
    put_raw(l, key);
    put_char(l, '=');
    if (needs_quotes(value)) {
        put_char(l, '"');
        put_escaped(l, value);
        put_char(l, '"');
    } else {
        put_raw(l, value);
    }
}

void tocsin_log_setup_repeats(unsigned burst, uint64_t window_ms)
{
    pthread_mutex_lock(&repeats.lock);
    repeats.burst = burst;
    repeats.window_ms = window_ms;
    memset(repeats.slots, 0, sizeof(repeats.slots));
    pthread_mutex_unlock(&repeats.lock);
}

static void put_timestamp(struct line *l)
{
    char ts[64];
    struct timespec now;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             now.tv_nsec / 1000000L);
    put_pair(l, "ts", ts, true);
}

static void write_line(struct line *l)
{
    if (log_format == TOCSIN_LOG_JSON)
        put_char(l, '}');
    l->buf[l->len] = '\0';
    fprintf(stderr, "%s\n", l->buf);
}

static uint64_t monotonic_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

/* FNV-1a 64; never 0, which marks a free slot. */
static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037ull;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h ? h : 1;
}

static void report_suppressed(struct repeat_slot *slot)
{
    struct line l = {.len = 0};
    char count[24], window[24];

    snprintf(count, sizeof(count), "%u", slot->suppressed);
    if (repeats.window_ms % 1000u == 0)
        snprintf(window, sizeof(window), "%llus", (unsigned long long)(repeats.window_ms / 1000u));
    else
        snprintf(window, sizeof(window), "%llums", (unsigned long long)repeats.window_ms);
    put_timestamp(&l);
    put_pair(&l, "level", level_names[slot->level], false);
    put_pair(&l, "msg", "log lines suppressed", false);
    put_pair(&l, "repeated_msg", slot->msg, false);
    put_pair(&l, "suppressed", count, false);
    put_pair(&l, "window", window, false);
    write_line(&l);
    slot->suppressed = 0;
}

/* Reports and frees the slots whose window is over; caller holds the lock. */
static void expire_windows(uint64_t now_ms)
{
    for (size_t i = 0; i < REPEAT_SLOTS; i++) {
        struct repeat_slot *slot = &repeats.slots[i];
        if (slot->hash == 0 || now_ms - slot->window_start_ms < repeats.window_ms)
            continue;
        if (slot->suppressed > 0)
            report_suppressed(slot);
        slot->hash = 0;
    }
}

/* The slot that counts this line: its own, else a free one, else the least
 * recently used (whose suppressed count is reported first, so nothing goes
 * unsaid).  A flood of more distinct lines than slots is not limited: that
 * is many events, not one repeated. */
static struct repeat_slot *claim_slot(uint64_t hash, uint64_t now_ms)
{
    struct repeat_slot *found = NULL, *free_slot = NULL, *lru = &repeats.slots[0];

    for (size_t i = 0; i < REPEAT_SLOTS && found == NULL; i++) {
        struct repeat_slot *slot = &repeats.slots[i];
        if (slot->hash == hash)
            found = slot;
        else if (slot->hash == 0 && free_slot == NULL)
            free_slot = slot;
        else if (slot->last_use < lru->last_use)
            lru = slot;
    }
    if (found == NULL) {
        found = free_slot ? free_slot : lru;
        if (found->suppressed > 0)
            report_suppressed(found);
        *found = (struct repeat_slot){.hash = hash, .window_start_ms = now_ms};
    }
    found->last_use = ++repeats.uses;
    return found;
}

/* Whether this line is written; counts it either way.  Caller holds the lock. */
static bool admit_repeat(enum tocsin_log_level level, const char *msg, const struct line *l,
                         size_t body_start)
{
    uint64_t now_ms = monotonic_ms();
    struct repeat_slot *slot;

    expire_windows(now_ms);
    slot = claim_slot(hash_bytes(l->buf + body_start, l->len - body_start), now_ms);
    if (slot->written < repeats.burst) {
        slot->written++;
        return true;
    }
    if (slot->suppressed++ == 0) {
        slot->level = level;
        snprintf(slot->msg, sizeof(slot->msg), "%s", msg);
    }
    return false;
}

void tocsin_log_flush_repeats(void)
{
    pthread_mutex_lock(&repeats.lock);
    expire_windows(UINT64_MAX / 2);
    pthread_mutex_unlock(&repeats.lock);
}

bool tocsin_log_enabled(enum tocsin_log_level level)
{
    return level >= log_min;
}

void tocsin_log(enum tocsin_log_level level, const char *msg, ...)
{
    struct line l = {.len = 0};
    size_t body_start;
    va_list ap;
    const char *key;

    if (level < log_min)
        return;
    put_timestamp(&l);
    body_start = l.len;
    put_pair(&l, "level", level_names[level], false);
    put_pair(&l, "msg", msg, false);
    va_start(ap, msg);
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        put_pair(&l, key, value ? value : "", false);
    }
    va_end(ap);
    pthread_mutex_lock(&repeats.lock);
    if (level == TOCSIN_LOG_DEBUG || admit_repeat(level, msg, &l, body_start))
        write_line(&l);
    pthread_mutex_unlock(&repeats.lock);
}
