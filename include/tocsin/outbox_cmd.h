/* `tocsin outbox list|retry|purge`: the dead letters and pending deliveries of
 * the outbox under state_dir, read and changed directly in the database. */
#ifndef TOCSIN_OUTBOX_CMD_H
#define TOCSIN_OUTBOX_CMD_H

#include <stdint.h>

#include "tocsin/config.h"

enum tocsin_outbox_action { TOCSIN_OUTBOX_LIST, TOCSIN_OUTBOX_RETRY, TOCSIN_OUTBOX_PURGE };

/* ID 0 = every dead row (of WEBHOOK when not NULL).  Returns the exit code. */
int tocsin_outbox_cmd(const struct tocsin_config *config, enum tocsin_outbox_action action,
                      int64_t id, const char *webhook);

/* Takes the agent's lock on STATE_DIR (a lock file held while the agent runs).
 * Returns the lock's descriptor (>= 0), -EBUSY when another process holds it,
 * or another -errno. */
int tocsin_state_lock(const char *state_dir);

#endif
