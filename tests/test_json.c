/* src/json.c: string cleaning, compact dumps with a size cap, RFC 3339 times. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tocsin/json.h"

#define FFFD "\xef\xbf\xbd"

static void assert_clean(const char *in, const char *expect)
{
    json_t *s = tocsin_json_string(in);

    assert_non_null(s);
    assert_int_equal(json_string_length(s), strlen(expect));
    assert_memory_equal(json_string_value(s), expect, strlen(expect));
    json_decref(s);
}

static void test_valid_text_unchanged(void **state)
{
    (void)state;
    assert_clean("API Server", "API Server");
    assert_clean("", "");
    assert_clean(NULL, "");
    assert_clean("caf\xc3\xa9", "caf\xc3\xa9");                 /* 2 bytes */
    assert_clean("\xe2\x98\x95", "\xe2\x98\x95");               /* 3 bytes */
    assert_clean("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");       /* 4 bytes */
    assert_clean("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf");       /* U+10FFFF */
    assert_clean("\xef\xbf\xbe", "\xef\xbf\xbe");               /* U+FFFE is valid */
    assert_clean("\xc2\x80\xc2\x9f", "\xc2\x80\xc2\x9f");       /* C1 controls kept */
    assert_clean("\xe2\x80\xa8", "\xe2\x80\xa8");               /* U+2028 kept */
}

static void test_control_characters(void **state)
{
    (void)state;
    assert_clean("a\x01" "b\x1f" "c", "a b c");
    assert_clean("\x1b[31mred", " [31mred");
    assert_clean("\b\f\n\r\t", "\b\f\n\r\t");
    assert_clean("del\x7f", "del\x7f");
}

static void test_invalid_sequences(void **state)
{
    (void)state;
    assert_clean("\xff", FFFD);
    assert_clean("a\x80" "b", "a" FFFD "b");                    /* lone continuation */
    assert_clean("\xfe\xff", FFFD FFFD);
    assert_clean("\xe2\x82", FFFD);                             /* truncated at end */
    assert_clean("\xe2\x82" "A", FFFD "A");                     /* one per subpart */
    assert_clean("\xf0\x9f\x98" "x", FFFD "x");
    assert_clean("\xc3", FFFD);
    assert_clean("\xc3\xc3\xa9", FFFD "\xc3\xa9");              /* restart at the bad byte */
    assert_clean("\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD);      /* beyond U+10FFFF */
    assert_clean("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD);
}

static void test_overlongs(void **state)
{
    (void)state;
    assert_clean("\xc0\xaf", FFFD FFFD);                        /* '/' in 2 bytes */
    assert_clean("\xc1\xbf", FFFD FFFD);
    assert_clean("\xe0\x80\xaf", FFFD FFFD FFFD);               /* '/' in 3 bytes */
    assert_clean("\xe0\x9f\xbf", FFFD FFFD FFFD);
    assert_clean("\xf0\x80\x80\xaf", FFFD FFFD FFFD FFFD);      /* '/' in 4 bytes */
    assert_clean("\xf0\x8f\xbf\xbf", FFFD FFFD FFFD FFFD);
    assert_clean("\xe0\xa0\x80", "\xe0\xa0\x80");               /* smallest 3-byte */
    assert_clean("\xf0\x90\x80\x80", "\xf0\x90\x80\x80");       /* smallest 4-byte */
}

static void test_surrogates(void **state)
{
    (void)state;
    assert_clean("\xed\xa0\x80", FFFD FFFD FFFD);               /* U+D800 */
    assert_clean("\xed\xbf\xbf", FFFD FFFD FFFD);               /* U+DFFF */
    assert_clean("\xed\xa0\xbd\xed\xb8\x80", FFFD FFFD FFFD FFFD FFFD FFFD); /* CESU pair */
    assert_clean("\xed\x9f\xbf", "\xed\x9f\xbf");               /* U+D7FF is fine */
}

/* Any byte string comes out as a string jansson can dump and parse again. */
static void test_random_bytes_round_trip(void **state)
{
    unsigned seed = 12345;
    char in[64];
    int round, i;

    (void)state;
    for (round = 0; round < 2000; round++) {
        json_t *arr = json_array(), *back;
        char *out = NULL;
        size_t len = 0;

        for (i = 0; i < 63; i++) {
            seed = seed * 1103515245u + 12345u;
            in[i] = (char)(((seed >> 16) & 0xff) | 1); /* no NUL inside */
        }
        in[63] = '\0';
        assert_int_equal(json_array_append_new(arr, tocsin_json_string(in)), 0);
        assert_int_equal(tocsin_json_dump(arr, 4096, &out, &len), 0);
        back = json_loadb(out, len, 0, NULL);
        assert_non_null(back);
        assert_true(json_equal(arr, back));
        json_decref(back);
        json_decref(arr);
        free(out);
    }
}

static void test_dump_compact_in_insertion_order(void **state)
{
    json_t *root = json_object(), *arr = json_array();
    const char *expect = "{\"z\":1,\"a\":[true,null,-7],\"s\":\"x/y caf\xc3\xa9 \\\"q\\\" \\\\ \\n\"}";
    char *out = NULL;
    size_t len = 0;

    (void)state;
    json_array_append_new(arr, json_true());
    json_array_append_new(arr, json_null());
    json_array_append_new(arr, json_integer(-7));
    json_object_set_new(root, "z", json_integer(1));
    json_object_set_new(root, "a", arr);
    json_object_set_new(root, "s", tocsin_json_string("x/y caf\xc3\xa9 \"q\" \\ \n"));
    assert_int_equal(tocsin_json_dump(root, 1024, &out, &len), 0);
    assert_string_equal(out, expect);
    assert_int_equal(len, strlen(expect));
    free(out);
    json_decref(root);
}

static void test_dump_size_cap(void **state)
{
    json_t *root = json_pack("{s:s}", "k", "0123456789");
    const size_t exact = strlen("{\"k\":\"0123456789\"}");
    char *out = (char *)1, *big;
    size_t len = 99;

    (void)state;
    assert_int_equal(tocsin_json_dump(root, exact, &out, &len), 0);
    assert_int_equal(len, exact);
    free(out);
    assert_int_equal(tocsin_json_dump(root, exact - 1, &out, &len), -EFBIG);
    assert_null(out);
    assert_int_equal(len, 0);
    json_decref(root);

    /* A body far over the cap stops early instead of growing without bound. */
    big = malloc(2 * 1024 * 1024 + 1);
    assert_non_null(big);
    memset(big, 'a', 2 * 1024 * 1024);
    big[2 * 1024 * 1024] = '\0';
    root = json_pack("{s:s}", "k", big);
    assert_int_equal(tocsin_json_dump(root, 1024 * 1024, &out, &len), -EFBIG);
    assert_null(out);
    json_decref(root);
    free(big);
}

static void test_dump_rejects_scalars(void **state)
{
    json_t *n = json_integer(1);
    char *out = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(tocsin_json_dump(n, 100, &out, &len), -EINVAL);
    assert_null(out);
    json_decref(n);
}

static void test_rfc3339(void **state)
{
    char buf[32];

    (void)state;
    tocsin_rfc3339(0, buf, sizeof(buf));
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    tocsin_rfc3339(1705314615, buf, sizeof(buf));
    assert_string_equal(buf, "2024-01-15T10:30:15Z");
    tocsin_rfc3339(1709208000, buf, sizeof(buf)); /* leap day */
    assert_string_equal(buf, "2024-02-29T12:00:00Z");
    tocsin_rfc3339(INT64_C(253402300799), buf, 21); /* exactly fits 20 + NUL */
    assert_string_equal(buf, "9999-12-31T23:59:59Z");
    tocsin_rfc3339(INT64_MAX, buf, sizeof(buf));
    assert_string_equal(buf, "9999-12-31T23:59:59Z");
    tocsin_rfc3339(INT64_MIN, buf, sizeof(buf));
    assert_string_equal(buf, "0001-01-01T00:00:00Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_text_unchanged),
        cmocka_unit_test(test_control_characters),
        cmocka_unit_test(test_invalid_sequences),
        cmocka_unit_test(test_overlongs),
        cmocka_unit_test(test_surrogates),
        cmocka_unit_test(test_random_bytes_round_trip),
        cmocka_unit_test(test_dump_compact_in_insertion_order),
        cmocka_unit_test(test_dump_size_cap),
        cmocka_unit_test(test_dump_rejects_scalars),
        cmocka_unit_test(test_rfc3339),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
