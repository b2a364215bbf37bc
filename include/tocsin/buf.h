/* A growing text buffer for responses built in one go (/metrics, /status).
 * A failed allocation sticks: later appends are ignored and finish reports
 * -ENOMEM, so builders check once at the end instead of after every write. */
#ifndef TOCSIN_BUF_H
#define TOCSIN_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct tocsin_buf {
    char *data; /* NUL-terminated once anything was appended */
    size_t len, cap;
    bool failed;
};

void tocsin_buf_init(struct tocsin_buf *b);
void tocsin_buf_append(struct tocsin_buf *b, const char *s, size_t n);
void tocsin_buf_puts(struct tocsin_buf *b, const char *s);
void tocsin_buf_printf(struct tocsin_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* S with & < > " ' as HTML character references. */
void tocsin_buf_html(struct tocsin_buf *b, const char *s);
/* Hands the text (malloc'd, "" when empty) to *OUT and resets B; -ENOMEM (and
 * B freed) after a failed append. */
int tocsin_buf_finish(struct tocsin_buf *b, char **out, size_t *len);

#endif
