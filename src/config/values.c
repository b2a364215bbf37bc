/* Scalar value parsers shared by the decoder (and unit-tested on their own). */
#include "decode.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const struct {
    const char *unit;
    uint64_t ms;
} duration_units[] = {
    { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
};

/* Reads the decimal digits that start S into *N; returns where the unit begins,
 * or NULL when S does not start with a digit or the number overflows. */
static const char *leading_number(const char *s, uint64_t *n)
{
    const char *p = s;

    *n = 0;
    if (*p < '0' || *p > '9')
        return NULL;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (*n > (UINT64_MAX - 9) / 10)
            return NULL;
        *n = *n * 10 + (uint64_t)(*p - '0');
    }
    return p;
}

int tocsin_config_parse_duration(const char *s, uint64_t *ms)
{
    uint64_t n;
    const char *p = leading_number(s, &n);

    if (p == NULL)
        return -EINVAL;
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

/* Decimal units are powers of 1000 and binary ones of 1024, as their names say
 * (IEC 80000-13); a bare number is bytes.  Case matters: "mb" is not a size. */
static const struct {
    const char *unit;
    uint64_t bytes;
} size_units[] = {
    { "", 1 },          { "B", 1 },           { "KB", 1000 },      { "MB", 1000000 },
    { "GB", 1000000000 }, { "KiB", 1u << 10 }, { "MiB", 1u << 20 }, { "GiB", 1u << 30 },
};

int tocsin_config_parse_size(const char *s, uint64_t *bytes)
{
    uint64_t n;
    const char *p = leading_number(s, &n);

    if (p == NULL)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(size_units) / sizeof(*size_units); i++) {
        if (strcmp(p, size_units[i].unit) != 0)
            continue;
        if (n > UINT64_MAX / size_units[i].bytes)
            return -EINVAL;
        *bytes = n * size_units[i].bytes;
        return 0;
    }
    return -EINVAL;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Length of the escape at P ("\n", "\x41") and its byte in *C; 0 when malformed. */
static size_t one_escape(const char *p, char *c)
{
    static const char plain[] = { 'r', '\r', 'n', '\n', 't', '\t', '\\', '\\' };
    int hi, lo;

    for (size_t i = 0; i < sizeof(plain); i += 2)
        if (p[1] == plain[i]) {
            *c = plain[i + 1];
            return 2;
        }
    if (p[1] != 'x' || (hi = hex_digit(p[2])) < 0 || (lo = hex_digit(p[3])) < 0)
        return 0;
    *c = (char)(hi << 4 | lo);
    return 4;
}

int tocsin_config_unescape(const char *s, char *out, size_t *len, size_t *bad)
{
    size_t n = 0, step;
    const char *p = s;

    while (*p) {
        if (*p != '\\') {
            out[n++] = *p++;
            continue;
        }
        step = one_escape(p, &out[n]);
        if (step == 0) {
            *bad = (size_t)(p - s);
            return -EINVAL;
        }
        n++;
        p += step;
    }
    out[n] = '\0';
    *len = n;
    return 0;
}

bool tocsin_config_ip_literal(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* "53" -> true; 1..65535, digits only. */
static bool valid_port(const char *s)
{
    long v = 0;

    if (*s == '\0' || strlen(s) > 5)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (*s - '0');
    }
    return v >= 1 && v <= 65535;
}

bool tocsin_config_dns_server(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon = strrchr(s, ':'), *close;
    size_t len;

    if (tocsin_config_ip_literal(s))
        return true; /* "IP" (an IPv6 address has colons but no port) */
    if (s[0] == '[') { /* "[IPv6]:PORT" */
        close = strchr(s, ']');
        len = close ? (size_t)(close - s - 1) : 0;
        if (!close || close[1] != ':' || len == 0 || len >= sizeof(host))
            return false;
        memcpy(host, s + 1, len);
        host[len] = '\0';
        return inet_pton(AF_INET6, host, buf) == 1 && valid_port(close + 2);
    }
    len = colon ? (size_t)(colon - s) : 0; /* "IPv4:PORT" */
    if (!colon || len == 0 || len >= sizeof(host))
        return false;
    memcpy(host, s, len);
    host[len] = '\0';
    return inet_pton(AF_INET, host, buf) == 1 && valid_port(colon + 1);
}

/* The authority of URL (after "://", or from the start when there is no scheme:
 * "user:pw@host" must be redacted too), its length and where userinfo ends. */
static const char *url_authority(const char *url, size_t *len, const char **at)
{
    const char *auth = strstr(url, "://"), *p;

    auth = auth ? auth + 3 : url;
    *len = strcspn(auth, "/?#");
    *at = NULL;
    for (p = auth; p < auth + *len; p++)
        if (*p == '@')
            *at = p; /* the last '@': a password may contain one */
    return auth;
}

void tocsin_config_redact_url(const char *url, char *buf, size_t size)
{
    const char *auth, *at;
    size_t len;

    auth = url_authority(url, &len, &at);
    if (!at)
        snprintf(buf, size, "%s", url);
    else
        snprintf(buf, size, "%.*s<redacted>%s", (int)(auth - url), url, at);
}

/* host or host:port, or [IPv6] / [IPv6]:port; nothing else. */
static bool valid_host_port(const char *s, size_t len)
{
    char tmp[300];
    const char *colon;

    if (len == 0 || len >= sizeof(tmp))
        return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (tmp[0] == '[') {
        char *close = strchr(tmp, ']');

        return close && close > tmp + 1 &&
               (close[1] == '\0' || (close[1] == ':' && valid_port(close + 2)));
    }
    colon = strchr(tmp, ':');
    if (colon && !valid_port(colon + 1))
        return false;
    return (colon ? (size_t)(colon - tmp) : len) > 0 && !strpbrk(tmp, " \t\r\n[]");
}

int tocsin_config_check_proxy(const char *url)
{
    static const char *const ok[] = { "http://", "https://", "socks5h://" };
    const char *auth, *at, *host;
    size_t len;

    if (strncmp(url, "socks5://", 9) == 0)
        return -EPROTONOSUPPORT;
    auth = url_authority(url, &len, &at);
    if (!strstr(url, "://") || strpbrk(url, " \t\r\n"))
        return -EINVAL;
    /* Only the authority and an optional "/": a path would be ignored. */
    if (auth[len] != '\0' && strcmp(auth + len, "/") != 0)
        return -EINVAL;
    host = at ? at + 1 : auth;
    if (!valid_host_port(host, len - (size_t)(host - auth)))
        return -EINVAL;
    for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++)
        if (strncmp(url, ok[i], strlen(ok[i])) == 0)
            return 0;
    return -EINVAL;
}

/* Rates count sends per window; a window is named, never a bare duration, so
 * "100/min" cannot be misread as "100 per m(onth)". */
static const struct {
    const char *unit;
    uint64_t ms;
} rate_units[] = {
    { "s", 1000 }, { "min", 60000 }, { "h", 3600000 },
};

int tocsin_config_parse_rate(const char *s, uint32_t *n, uint64_t *period_ms)
{
    uint64_t v = 0;
    const char *p = s;

    if (*p < '0' || *p > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > TOCSIN_RATE_MAX)
            return -EINVAL;
    }
    if (*p++ != '/' || v == 0)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(rate_units) / sizeof(*rate_units); i++) {
        if (strcmp(p, rate_units[i].unit) != 0)
            continue;
        *n = (uint32_t)v;
        *period_ms = rate_units[i].ms;
        return 0;
    }
    return -EINVAL;
}

static int base64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Strict RFC 4648 §4 (what OpenSSL's EVP_DecodeBlock and the standardwebhooks
 * libraries take): whole quads, '=' only as the last one or two characters. */
long tocsin_config_base64_len(const char *s)
{
    size_t len = strlen(s), pad = 0;

    if (len == 0 || len % 4 != 0)
        return -EINVAL;
    if (s[len - 1] == '=')
        pad = s[len - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i < len - pad; i++)
        if (base64_value(s[i]) < 0)
            return -EINVAL;
    return (long)(len / 4 * 3 - pad);
}

/* Days from 1970-01-01 to Y-M-D (proleptic Gregorian; H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int tocsin_config_parse_timestamp(const char *s, int64_t *t)
{
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    const char *p = s + 19;

    if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || !strchr("Tt ", s[10]) || s[10] == '\0' ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return -EINVAL;
    if (*p == '.') { /* fractions of a second: a window starts on a whole second */
        if (*++p < '0' || *p > '9')
            return -EINVAL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        if (strlen(p) < 6 || !digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om))
            return -EINVAL;
        p += 6;
    } else {
        return -EINVAL;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
        mi > 59 || sec > 60 || oh > 23 || om > 59)
        return -EINVAL;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return -EINVAL;
    *t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
         sign * (oh * 3600 + om * 60);
    return 0;
}

bool tocsin_config_timezone_exists(const char *name)
{
    char path[PATH_MAX], magic[4];
    struct stat st;
    size_t len = strlen(name);
    bool ok = false;
    FILE *fp;

    /* A name under the zoneinfo directory, never a path out of it. */
    if (len == 0 || len > 128 || name[0] == '/' || name[0] == '.' || strstr(name, "..") ||
        strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/") != len)
        return false;
    snprintf(path, sizeof(path), "%s/%s", TOCSIN_ZONEINFO_DIR, name);
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return false;
    fp = fopen(path, "rb");
    if (!fp)
        return false;
    ok = fread(magic, 1, 4, fp) == 4 && memcmp(magic, "TZif", 4) == 0;
    fclose(fp);
    return ok;
}
