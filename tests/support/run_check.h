/* Runs one probe check on a fresh libuv loop and engine, for the probe tests:
 * asserts that it started, called back exactly once and never inside start(),
 * finished before a generous guard timer, and that the loop closed clean. */
#ifndef TEST_RUN_CHECK_H
#define TEST_RUN_CHECK_H

#include "tocsin/config.h"
#include "tocsin/probe.h"
#include "tocsin/result.h"

/* Checks MONITOR of CONFIG from region 0 with KIND; the result goes to *OUT. */
void test_run_check(const struct tocsin_probe_kind *kind, const struct tocsin_config *config,
                    const struct tocsin_monitor_conf *monitor, struct tocsin_result *out);

#endif
