#include "tocsin/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tocsin_buf_init(struct tocsin_buf *b)
{
    *b = (struct tocsin_buf){0};
}

/* Room for N more bytes and the NUL; false (and failed set) when there is none. */
static bool reserve(struct tocsin_buf *b, size_t n)
{
    size_t cap = b->cap ? b->cap : 1024;
    char *p;

    if (b->failed)
        return false;
    if (n + 1 <= b->cap - b->len)
        return true;
    while (cap - b->len < n + 1) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void tocsin_buf_append(struct tocsin_buf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void tocsin_buf_puts(struct tocsin_buf *b, const char *s)
{
    tocsin_buf_append(b, s, strlen(s));
}

void tocsin_buf_printf(struct tocsin_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n)) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void tocsin_buf_html(struct tocsin_buf *b, const char *s)
{
    const char *run = s;

    for (; *s; s++) {
        const char *ref = *s == '&'    ? "&amp;"
                          : *s == '<'  ? "&lt;"
                          : *s == '>'  ? "&gt;"
                          : *s == '"'  ? "&quot;"
                          : *s == '\'' ? "&#39;"
                                       : NULL;
        if (ref == NULL)
            continue;
        tocsin_buf_append(b, run, (size_t)(s - run));
        tocsin_buf_puts(b, ref);
        run = s + 1;
    }
    tocsin_buf_append(b, run, (size_t)(s - run));
}

int tocsin_buf_finish(struct tocsin_buf *b, char **out, size_t *len)
{
    if (!b->failed && b->data == NULL)
        tocsin_buf_append(b, "", 0);
    if (b->failed) {
        free(b->data);
        tocsin_buf_init(b);
        *out = NULL;
        *len = 0;
        return -ENOMEM;
    }
    *out = b->data;
    *len = b->len;
    tocsin_buf_init(b);
    return 0;
}
