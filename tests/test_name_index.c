/* The name index: positions found, duplicates kept at their first position,
 * growth past the expected size, misses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "tocsin/name_index.h"

enum { NAMES = 5000 };

static void test_put_get_duplicates_and_growth(void **state)
{
    static char names[NAMES][16];
    struct tocsin_name_index ix;

    (void)state;
    assert_int_equal(tocsin_name_index_init(&ix, 10), 0); /* grows about nine times */
    for (size_t i = 0; i < NAMES; i++) {
        snprintf(names[i], sizeof(names[i]), "m%zu", i);
        assert_int_equal(tocsin_name_index_put(&ix, names[i], i), i);
    }
    assert_int_equal(ix.count, NAMES);
    assert_true(2 * ix.count <= ix.mask + 1);
    for (size_t i = 0; i < NAMES; i++)
        assert_int_equal(tocsin_name_index_get(&ix, names[i]), i);
    /* A second "m7" keeps the first one's position. */
    assert_int_equal(tocsin_name_index_put(&ix, "m7", 99999), 7);
    assert_int_equal(tocsin_name_index_get(&ix, "m7"), 7);
    assert_int_equal(ix.count, NAMES);
    assert_int_equal(tocsin_name_index_get(&ix, "m5000"), TOCSIN_NAME_ABSENT);
    assert_int_equal(tocsin_name_index_get(&ix, ""), TOCSIN_NAME_ABSENT);
    tocsin_name_index_free(&ix);
    /* A freed (or never filled) index answers "absent". */
    assert_int_equal(tocsin_name_index_get(&ix, "m1"), TOCSIN_NAME_ABSENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_duplicates_and_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
