/* The agent: engine + scheduler + monitor state machines + sender on one loop. */
#ifndef TOCSIN_AGENT_H
#define TOCSIN_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "tocsin/config.h"
#include "tocsin/sender.h"

struct tocsin_agent;

struct tocsin_agent_options {
    bool handle_signals;     /* SIGINT/SIGTERM stop, SIGHUP reloads (tocsin run) */
    uint64_t drain_ms;       /* how long stop waits for deliveries in flight */
};

/* CONFIG is borrowed and must outlive the agent.  0 or -errno. */
int tocsin_agent_new(uv_loop_t *loop, const struct tocsin_config *config,
                     const struct tocsin_agent_options *options, struct tocsin_agent **out);
/* Arms every check. */
void tocsin_agent_start(struct tocsin_agent *a);
/* Reloads the config from its file (SIGHUP): a config with errors is logged
 * and the running one stays (returns its negative code); otherwise checks in
 * flight are discarded, states are carried over to monitors whose type,
 * target, method and regions are unchanged (by id), the others start UNKNOWN
 * and an incident they had sent gets its recovery.  0 once the reload began. */
int tocsin_agent_reload(struct tocsin_agent *a);
/* The port the HTTP server listens on (agent.listen may say 0); 0 when off. */
uint16_t tocsin_agent_http_port(const struct tocsin_agent *a);
/* Observer of every finished delivery (tests, tools). */
void tocsin_agent_on_delivery(struct tocsin_agent *a, tocsin_delivery_cb cb, void *data);
/* Stops checks (discarded), drains deliveries, closes every handle, frees A,
 * then calls ON_STOPPED (may be NULL).  Safe to call once. */
void tocsin_agent_stop(struct tocsin_agent *a, void (*on_stopped)(void *data), void *data);

/* `tocsin run`: loads nothing itself; runs CONFIG until SIGINT/SIGTERM.  Exit code. */
int tocsin_agent_run(const struct tocsin_config *config);

#endif
