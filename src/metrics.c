/* Prometheus text format 0.0.4:
 * https://prometheus.io/docs/instrumenting/exposition_formats/ */
#include "tocsin/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tocsin_metrics_init(struct tocsin_metrics *m)
{
    tocsin_buf_init(&m->out);
}

static void append(struct tocsin_metrics *m, const char *s, size_t n)
{
    tocsin_buf_append(&m->out, s, n);
}

static void puts_(struct tocsin_metrics *m, const char *s)
{
    tocsin_buf_puts(&m->out, s);
}

/* S with backslash and newline escaped, and double quote too when QUOTE (label
 * values; HELP text leaves quotes alone). */
static void escaped(struct tocsin_metrics *m, const char *s, bool quote)
{
    const char *run = s;

    for (; *s; s++) {
        const char *esc = *s == '\\' ? "\\\\" : *s == '\n' ? "\\n"
                        : (*s == '"' && quote) ? "\\\"" : NULL;

        if (esc == NULL)
            continue;
        append(m, run, (size_t)(s - run));
        puts_(m, esc);
        run = s + 1;
    }
    append(m, run, (size_t)(s - run));
}

/* The shortest %.Ng that reads back as V, as Go's FormatFloat(v, 'g', -1). */
static void format_double(char *out, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(out, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, size, "%.*g", prec, v);
        if (strtod(out, NULL) == v) {
            /* %g switches to an exponent once it exceeds the precision
             * (10 → "1e+01"); Go keeps plain digits below 1e6, as in le="10". */
            int exponent = v == 0 ? 0 : (int)floor(log10(fabs(v)));
            if (exponent >= prec && exponent < 6)
                snprintf(out, size, "%.*g", exponent + 1, v);
            return;
        }
    }
}

void tocsin_metrics_family(struct tocsin_metrics *m, const char *name,
                           enum tocsin_metric_type type, const char *help)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};

    if (help != NULL) {
        puts_(m, "# HELP ");
        puts_(m, name);
        puts_(m, " ");
        escaped(m, help, false);
        puts_(m, "\n");
    }
    puts_(m, "# TYPE ");
    puts_(m, name);
    puts_(m, " ");
    puts_(m, types[type]);
    puts_(m, "\n");
}

/* NAME SUFFIX {labels[, le="LE"]} VALUE\n */
static void sample(struct tocsin_metrics *m, const char *name, const char *suffix,
                   const struct tocsin_label *labels, size_t n_labels, const char *le,
                   const char *value)
{
    puts_(m, name);
    puts_(m, suffix);
    if (n_labels > 0 || le != NULL) {
        puts_(m, "{");
        for (size_t i = 0; i < n_labels; i++) {
            puts_(m, i > 0 ? "," : "");
            puts_(m, labels[i].name);
            puts_(m, "=\"");
            escaped(m, labels[i].value, true);
            puts_(m, "\"");
        }
        if (le != NULL) {
            puts_(m, n_labels > 0 ? ",le=\"" : "le=\"");
            puts_(m, le);
            puts_(m, "\"");
        }
        puts_(m, "}");
    }
    puts_(m, " ");
    puts_(m, value);
    puts_(m, "\n");
}

void tocsin_metrics_u64(struct tocsin_metrics *m, const char *name,
                        const struct tocsin_label *labels, size_t n_labels, uint64_t value)
{
    char v[24];

    snprintf(v, sizeof(v), "%" PRIu64, value);
    sample(m, name, "", labels, n_labels, NULL, v);
}

void tocsin_metrics_i64(struct tocsin_metrics *m, const char *name,
                        const struct tocsin_label *labels, size_t n_labels, int64_t value)
{
    char v[24];

    snprintf(v, sizeof(v), "%" PRId64, value);
    sample(m, name, "", labels, n_labels, NULL, v);
}

void tocsin_metrics_double(struct tocsin_metrics *m, const char *name,
                           const struct tocsin_label *labels, size_t n_labels, double value)
{
    char v[32];

    format_double(v, sizeof(v), value);
    sample(m, name, "", labels, n_labels, NULL, v);
}

void tocsin_metrics_histogram(struct tocsin_metrics *m, const char *name,
                              const struct tocsin_label *labels, size_t n_labels,
                              const double *bounds, const uint64_t *counts, size_t n_bounds,
                              double sum)
{
    uint64_t total = 0;
    char le[32], v[32];

    for (size_t i = 0; i <= n_bounds; i++) {
        total += counts[i];
        if (i < n_bounds)
            format_double(le, sizeof(le), bounds[i]);
        else
            snprintf(le, sizeof(le), "+Inf");
        snprintf(v, sizeof(v), "%" PRIu64, total);
        sample(m, name, "_bucket", labels, n_labels, le, v);
    }
    format_double(v, sizeof(v), sum);
    sample(m, name, "_sum", labels, n_labels, NULL, v);
    snprintf(v, sizeof(v), "%" PRIu64, total);
    sample(m, name, "_count", labels, n_labels, NULL, v);
}

int tocsin_metrics_finish(struct tocsin_metrics *m, char **out, size_t *len)
{
    return tocsin_buf_finish(&m->out, out, len);
}
