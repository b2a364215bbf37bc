/* JSON helpers shared by every webhook format.
 *
 * The goal (DESIGN §5) is that every body equals JSON.stringify(JSON.parse(body))
 * byte for byte, because the StatusPageOne validator signs that re-serialisation,
 * not the raw bytes.  jansson with JSON_COMPACT already matches JSON.stringify for
 * objects, integers and most strings; the differences are removed here:
 *  - invalid UTF-8: jansson refuses it, JS would decode it to U+FFFD.  We replace
 *    each maximal ill-formed subpart with U+FFFD, as the WHATWG decoder does.
 *  - C0 control characters other than \b \f \n \r \t: jansson writes \u001F,
 *    JSON.stringify writes \u001f.  They never matter in alerts: a space.
 * DEL and C1 controls are left alone: neither serialiser escapes them. */
#include "tocsin/json.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* U+FFFD REPLACEMENT CHARACTER in UTF-8. */
static const unsigned char replacement[3] = {0xEF, 0xBF, 0xBD};

static bool keep_control(unsigned char c)
{
    return c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t';
}

/* Length of the sequence a lead byte announces and the range allowed for its first
 * continuation byte (RFC 3629 table: excludes overlongs, surrogates, > U+10FFFF).
 * Returns 0 for a byte that can never start a sequence. */
static size_t lead_info(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0)
            *lo = 0xA0;
        else if (c == 0xED)
            *hi = 0x9F;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0)
            *lo = 0x90;
        else if (c == 0xF4)
            *hi = 0x8F;
        return 4;
    }
    return 0;
}

/* Length of the well-formed multi-byte sequence at S (N bytes left), or 0 with
 * *SKIP = the length of its maximal ill-formed subpart (at least 1). */
static size_t utf8_sequence(const unsigned char *s, size_t n, size_t *skip)
{
    unsigned char lo, hi;
    size_t need = lead_info(s[0], &lo, &hi);
    size_t i;

    *skip = 1;
    if (need == 0)
        return 0;
    for (i = 1; i < need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) {
            *skip = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need;
}

/* Cleans N bytes of IN into OUT (room for 3 * N bytes); returns the length. */
static size_t clean_utf8(const unsigned char *in, size_t n, char *out)
{
    size_t i = 0, o = 0;

    while (i < n) {
        unsigned char c = in[i];
        size_t len, skip;

        if (c < 0x80) {
            out[o++] = (c < 0x20 && !keep_control(c)) ? ' ' : (char)c;
            i++;
            continue;
        }
        len = utf8_sequence(in + i, n - i, &skip);
        if (len > 0) {
            memcpy(out + o, in + i, len);
            o += len;
            i += len;
        } else {
            memcpy(out + o, replacement, sizeof(replacement));
            o += sizeof(replacement);
            i += skip;
        }
    }
    return o;
}

/* A NULL BYTES is an empty string: optional config fields need no special case. */
json_t *tocsin_json_string(const char *bytes)
{
    size_t n, len;
    char *buf;
    json_t *str;

    if (bytes == NULL)
        bytes = "";
    n = strlen(bytes);
    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    /* Worst case: every byte is an ill-formed subpart of its own (1 -> 3 bytes). */
    buf = malloc(3 * n + 1);
    if (buf == NULL)
        return NULL;
    len = clean_utf8((const unsigned char *)bytes, n, buf);
    buf[len] = '\0';
    str = json_stringn_nocheck(buf, len);
    free(buf);
    return str;
}

/* Output buffer for json_dump_callback that never grows past MAX bytes. */
struct dump_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
    int err;
};

static int dump_grow(struct dump_buf *b, size_t need)
{
    size_t cap = b->cap ? b->cap : 1024;
    char *data;

    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    data = realloc(b->data, cap);
    if (data == NULL)
        return -ENOMEM;
    b->data = data;
    b->cap = cap;
    return 0;
}

static int dump_cb(const char *chunk, size_t size, void *data)
{
    struct dump_buf *b = data;

    /* Keep one byte for the terminating NUL; stop jansson as soon as it is over. */
    if (size > b->max - b->len) {
        b->err = -EFBIG;
        return -1;
    }
    if (b->len + size + 1 > b->cap) {
        b->err = dump_grow(b, b->len + size + 1);
        if (b->err)
            return -1;
    }
    memcpy(b->data + b->len, chunk, size);
    b->len += size;
    return 0;
}

int tocsin_json_dump(const json_t *root, size_t max, char **out, size_t *len)
{
    struct dump_buf b = {.max = max};
    int rc = 0;

    *out = NULL;
    *len = 0;
    if (max == SIZE_MAX)
        b.max = SIZE_MAX - 1;
    if (json_dump_callback(root, dump_cb, &b, JSON_COMPACT) != 0) {
        rc = b.err ? b.err : -EINVAL;
        goto out;
    }
    if (b.data == NULL) {
        rc = dump_grow(&b, 1);
        if (rc)
            goto out;
    }
    b.data[b.len] = '\0';
    *out = b.data;
    *len = b.len;
    b.data = NULL;
out:
    free(b.data);
    return rc;
}

/* RFC 3339 years are four digits: clamp to 0001-01-01 .. 9999-12-31T23:59:59. */
#define RFC3339_MIN INT64_C(-62135596800)
#define RFC3339_MAX INT64_C(253402300799)

void tocsin_rfc3339(int64_t t, char *buf, size_t size)
{
    struct tm tm;
    time_t tt;

    if (size == 0)
        return;
    if (t < RFC3339_MIN)
        t = RFC3339_MIN;
    if (t > RFC3339_MAX)
        t = RFC3339_MAX;
    tt = (time_t)t;
    if (gmtime_r(&tt, &tm) == NULL) {
        buf[0] = '\0';
        return;
    }
    /* Not strftime: glibc's %Y does not pad years below 1000 to four digits. */
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
