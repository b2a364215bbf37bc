/* `tocsin probe`: every selected (monitor, region) check once, all at once, on
 * a fresh loop; the run takes about as long as the slowest check. */
#ifndef TOCSIN_ONESHOT_H
#define TOCSIN_ONESHOT_H

#include <stddef.h>

#include "tocsin/config.h"
#include "tocsin/result.h"

struct tocsin_oneshot_result {
    size_t monitor;   /* index into config->monitors */
    struct tocsin_result result;
};

/* Runs the monitors named in IDS (all when N_IDS is 0), only from REGION when
 * not NULL.  0 with *OUT (malloc'd, *N_OUT entries in config order), -ENOENT
 * with *BAD set to the first unknown id or region, or another -errno. */
int tocsin_oneshot_run(const struct tocsin_config *config, char *const *ids, size_t n_ids,
                       const char *region, struct tocsin_oneshot_result **out, size_t *n_out,
                       const char **bad);

#endif
