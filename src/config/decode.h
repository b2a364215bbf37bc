/* Private to src/config: the table-driven decoder (tree -> struct tocsin_config)
 * and the small value parsers it uses, exported for unit tests. */
#ifndef TOCSIN_CONFIG_DECODE_H
#define TOCSIN_CONFIG_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tocsin/config.h"
#include "tree.h"

#define TOCSIN_ID_MAX 64

/* "250ms", "10s", "5m", "2h", "1d" -> milliseconds; -EINVAL when malformed or too big. */
int tocsin_config_parse_duration(const char *s, uint64_t *ms);

/* Formats MS back as the largest unit that divides it ("90s", "2m"). */
void tocsin_config_format_duration(uint64_t ms, char *buf, size_t size);

/* Lowercase ASCII letters and digits kept, every other run becomes one '-', trimmed,
 * at most 64 bytes.  Returns the length, or -EINVAL when nothing is left. */
int tocsin_config_slug(const char *name, char *out, size_t size);

/* [A-Za-z0-9_.-]{1,64} */
bool tocsin_config_valid_id(const char *id);

/* "1000", "512KiB", "1MiB", "10KB", "2MB" (KB/MB/GB powers of 1000, KiB/MiB/GiB of
 * 1024) -> bytes; -EINVAL when malformed or too big for 64 bits. */
int tocsin_config_parse_size(const char *s, uint64_t *bytes);

/* INI escapes \r \n \t \\ \xHH of S into OUT (room for strlen(S) + 1); sets *LEN.
 * -EINVAL with *BAD = offset of the malformed escape. */
int tocsin_config_unescape(const char *s, char *out, size_t *len, size_t *bad);

/* An IPv4 or IPv6 address literal. */
bool tocsin_config_ip_literal(const char *s);

/* "IP", "IPv4:PORT" or "[IPv6]:PORT". */
bool tocsin_config_dns_server(const char *s);

/* 0 for an http://, https:// or socks5h:// proxy URL with a host (userinfo and port
 * allowed); -EPROTONOSUPPORT for socks5:// (local resolution); else -EINVAL. */
int tocsin_config_check_proxy(const char *url);


/* Largest N of a rate. */
#define TOCSIN_RATE_MAX 1000000u

/* "100/min", "4/s", "500/h" (N from 1 to TOCSIN_RATE_MAX) -> N and the window in
 * milliseconds; -EINVAL when malformed, zero or too big. */
int tocsin_config_parse_rate(const char *s, uint32_t *n, uint64_t *period_ms);

/* Decoded length of the strict standard base64 S (padded, RFC 4648 section 4),
 * or -EINVAL when S is empty or not base64. */
long tocsin_config_base64_len(const char *s);

/* RFC 3339 date-time ("2026-12-24T22:00:00Z", "2026-12-24T23:00:00+01:00"; a
 * fraction is dropped) -> Unix seconds; -EINVAL when malformed or not a real date. */
int tocsin_config_parse_timestamp(const char *s, int64_t *t);

#define TOCSIN_ZONEINFO_DIR "/usr/share/zoneinfo"

/* NAME is an IANA zone with a TZif file under TOCSIN_ZONEINFO_DIR (no path
 * tricks: no leading '/', no ".."). */
bool tocsin_config_timezone_exists(const char *name);

/* Decodes ROOTS[0] (the main file) and ROOTS[1..N) (probes.d files) into CONFIG,
 * reporting every problem into LOG.  Returns 0 (check LOG for errors) or -ENOMEM. */
int cfg_decode(struct cfg_log *log, struct cnode *const *roots, size_t n,
               struct tocsin_config *config);

#endif
