/* Scalar value parsers shared by the decoder (and unit-tested on their own). */
#include "decode.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *unit;
    uint64_t ms;
} duration_units[] = {
    { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
};

int tocsin_config_parse_duration(const char *s, uint64_t *ms)
{
    uint64_t n = 0;
    const char *p = s;

    if (*p < '0' || *p > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > (UINT64_MAX - 9) / 10)
            return -EINVAL;
        n = n * 10 + (uint64_t)(*p - '0');
    }
    for (size_t i = 0; i < sizeof(duration_units) / sizeof(*duration_units); i++) {
        if (strcmp(p, duration_units[i].unit) != 0)
            continue;
        /* Cap at 10 years: beyond that it is a typo, and it keeps sums safe. */
        if (n > 3650ull * 86400000ull / duration_units[i].ms)
            return -EINVAL;
        *ms = n * duration_units[i].ms;
        return 0;
    }
    return -EINVAL; /* a unit is required, also for 0 */
}

void tocsin_config_format_duration(uint64_t ms, char *buf, size_t size)
{
    size_t best = 0;

    for (size_t i = 0; i < sizeof(duration_units) / sizeof(*duration_units); i++)
        if (ms % duration_units[i].ms == 0 && ms != 0)
            best = i;
    snprintf(buf, size, "%llu%s", (unsigned long long)(ms / duration_units[best].ms),
             duration_units[best].unit);
}

static bool is_slug_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int tocsin_config_slug(const char *name, char *out, size_t size)
{
    size_t len = 0, max = size - 1 < TOCSIN_ID_MAX ? size - 1 : TOCSIN_ID_MAX;
    bool dash = false;

    if (size == 0)
        return -EINVAL;
    for (const unsigned char *p = (const unsigned char *)name; *p && len < max; p++) {
        unsigned char c = (*p >= 'A' && *p <= 'Z') ? (unsigned char)(*p + 32) : *p;

        if (!is_slug_char(c)) {
            dash = len > 0; /* leading separators are dropped */
            continue;
        }
        if (dash && len + 1 < max)
            out[len++] = '-';
        else if (dash)
            break; /* no room for the next word: stop at the separator */
        dash = false;
        out[len++] = (char)c;
    }
    out[len] = '\0';
    return len ? (int)len : -EINVAL;
}

bool tocsin_config_valid_id(const char *id)
{
    size_t len = strlen(id);

    if (len == 0 || len > TOCSIN_ID_MAX)
        return false;
    return strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == len;
}
