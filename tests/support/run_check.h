/* Runs one probe check on a fresh libuv loop and engine, for the probe tests:
 * asserts that it started, called back exactly once and never inside start(),
 * finished before a generous guard timer, and that the loop closed clean. */
#ifndef TEST_RUN_CHECK_H
#define TEST_RUN_CHECK_H

#include <stddef.h>

#include "tocsin/config.h"
#include "tocsin/probe.h"
#include "tocsin/result.h"

/* Checks MONITOR of CONFIG from region 0 with KIND; the result goes to *OUT. */
void test_run_check(const struct tocsin_probe_kind *kind, const struct tocsin_config *config,
                    const struct tocsin_monitor_conf *monitor, struct tocsin_result *out);

/* Runs N checks of MONITOR one after another on one loop and engine (what
 * curl caches stays between them), BETWEEN(I, DATA) before check I > 0;
 * OUT holds N results. */
typedef void (*test_between_fn)(size_t i, void *data);
void test_run_checks(const struct tocsin_probe_kind *kind, const struct tocsin_config *config,
                     const struct tocsin_monitor_conf *monitor, size_t n, test_between_fn between,
                     void *data, struct tocsin_result *out);

#endif
