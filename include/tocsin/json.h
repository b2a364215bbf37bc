/* JSON helpers every format shares, so that each body equals
 * JSON.stringify(JSON.parse(body)) byte for byte (DESIGN §5). */
#ifndef TOCSIN_JSON_H
#define TOCSIN_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A JSON string from arbitrary bytes: invalid UTF-8 becomes U+FFFD, control
 * characters other than \b \f \n \r \t become a space.  NULL on ENOMEM. */
json_t *tocsin_json_string(const char *bytes);

/* json_dumps(root, JSON_COMPACT) into *out (malloc'd) and *len.
 * Returns 0, -ENOMEM, or -EFBIG when longer than MAX bytes. */
int tocsin_json_dump(const json_t *root, size_t max, char **out, size_t *len);

/* "2024-01-15T10:30:15Z" for Unix seconds T; BUF at least 21 bytes. */
void tocsin_rfc3339(int64_t t, char *buf, size_t size);

#endif
