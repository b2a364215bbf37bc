/* `tocsin test-webhook NAME`: the seed's "Test Webhook" button.  Sends a test
 * alert in the webhook's format and signing, once, without the outbox; for
 * pagerduty and alertmanager a trigger and then a resolve, so no test incident
 * stays open on the receiver. */
#ifndef TOCSIN_TEST_WEBHOOK_H
#define TOCSIN_TEST_WEBHOOK_H

#include "tocsin/config.h"

/* Prints one line per request (status, latency, response snippet); returns
 * the exit code: 0 when every request was answered 2xx, 1 otherwise, 2 when
 * NAME is not a webhook of CONFIG. */
int tocsin_test_webhook(const struct tocsin_config *config, const char *name);

#endif
