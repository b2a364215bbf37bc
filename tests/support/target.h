/* A loopback HTTP target for tests: libmicrohttpd on its own thread, bound to
 * 127.0.0.1 on an ephemeral port.  The answer can be switched while it runs. */
#ifndef TEST_TARGET_H
#define TEST_TARGET_H

#include <stdint.h>

enum test_target_mode {
    TEST_TARGET_ANSWER,  /* answers the current status code with body "ok\n" */
    TEST_TARGET_HANG,    /* accepts, reads the request, never answers (until stop) */
    TEST_TARGET_RESET,   /* closes the connection without an answer */
};

struct test_target;

struct test_target *test_target_start(void);     /* NULL on failure */
uint16_t test_target_port(const struct test_target *t);
void test_target_set_status(struct test_target *t, int status); /* default 200 */
void test_target_set_mode(struct test_target *t, enum test_target_mode mode);
unsigned test_target_hits(const struct test_target *t); /* requests seen */
void test_target_stop(struct test_target *t);

#endif
