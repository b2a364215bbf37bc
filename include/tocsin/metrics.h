/* Prometheus text exposition (format 0.0.4) into a growable buffer, for
 * /metrics.  The caller writes each family's header once, then its samples:
 *
 *   struct tocsin_metrics m;
 *   tocsin_metrics_init(&m);
 *   tocsin_metrics_family(&m, "tocsin_checks_total", TOCSIN_METRIC_COUNTER, "Checks run.");
 *   tocsin_metrics_u64(&m, "tocsin_checks_total", labels, 2, n);
 *   rc = tocsin_metrics_finish(&m, &text, &len);
 *
 * Names are the caller's constants and are not checked ([a-zA-Z_:][a-zA-Z0-9_:]*);
 * HELP text and label values are escaped.  A failed allocation makes the writer
 * sticky-failed: later calls do nothing and finish returns -ENOMEM. */
#ifndef TOCSIN_METRICS_H
#define TOCSIN_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tocsin/buf.h"

enum tocsin_metric_type {
    TOCSIN_METRIC_COUNTER,
    TOCSIN_METRIC_GAUGE,
    TOCSIN_METRIC_HISTOGRAM,
};

struct tocsin_label {
    const char *name;
    const char *value;
};

struct tocsin_metrics {
    struct tocsin_buf out;
};

void tocsin_metrics_init(struct tocsin_metrics *m);

/* "# HELP NAME HELP" (HELP may be NULL: no HELP line) and "# TYPE NAME TYPE". */
void tocsin_metrics_family(struct tocsin_metrics *m, const char *name,
                           enum tocsin_metric_type type, const char *help);

/* One sample line "NAME{l1="v1",...} VALUE"; N_LABELS may be 0 (LABELS NULL). */
void tocsin_metrics_u64(struct tocsin_metrics *m, const char *name,
                        const struct tocsin_label *labels, size_t n_labels, uint64_t value);
void tocsin_metrics_i64(struct tocsin_metrics *m, const char *name,
                        const struct tocsin_label *labels, size_t n_labels, int64_t value);
/* Shortest text that reads back as VALUE; +Inf, -Inf and NaN as Prometheus spells them. */
void tocsin_metrics_double(struct tocsin_metrics *m, const char *name,
                           const struct tocsin_label *labels, size_t n_labels, double value);

/* A histogram's samples: NAME_bucket{...,le="B"} for each of the N_BOUNDS upper
 * bounds (ascending) and le="+Inf", cumulative, then NAME_sum and NAME_count.
 * COUNTS holds N_BOUNDS + 1 per-bucket (not cumulative) counts, the last one
 * for observations above the highest bound. */
void tocsin_metrics_histogram(struct tocsin_metrics *m, const char *name,
                              const struct tocsin_label *labels, size_t n_labels,
                              const double *bounds, const uint64_t *counts, size_t n_bounds,
                              double sum);

/* Hands over the text (NUL-terminated, LEN bytes; free() it) and resets M:
 * 0, or -ENOMEM when any append failed (everything freed, *OUT NULL). */
int tocsin_metrics_finish(struct tocsin_metrics *m, char **out, size_t *len);

#endif
