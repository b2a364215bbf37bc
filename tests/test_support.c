/* The loopback servers other tests rely on (tests/support): the HTTP target in
 * each mode and the webhook receiver's independent signature checks. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "receiver.h"
#include "target.h"
#include "tocsin/crypto.h"

#define SECRET "tocsin-test-secret"

struct reply {
    long status;
    char body[256];
    size_t len;
};

static size_t collect(char *data, size_t size, size_t nmemb, void *userp)
{
    struct reply *r = userp;
    size_t n = size * nmemb, room = sizeof(r->body) - 1 - r->len;

    memcpy(r->body + r->len, data, n < room ? n : room);
    r->len += n < room ? n : room;
    r->body[r->len] = '\0';
    return n;
}

/* One blocking request; BODY non-NULL makes it a POST with HEADERS. */
static CURLcode request(uint16_t port, const char *path, const char *body,
                        struct curl_slist *headers, long timeout_ms, struct reply *out)
{
    CURL *curl = curl_easy_init();
    char url[128];
    CURLcode rc;

    assert_non_null(curl);
    memset(out, 0, sizeof(*out));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)port, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
    if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    }
    rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_cleanup(curl);
    return rc;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_target_answers_current_status(void **state)
{
    struct test_target *t = test_target_start();
    struct reply r;

    (void)state;
    assert_non_null(t);
    assert_int_not_equal(test_target_port(t), 0);
    assert_int_equal(request(test_target_port(t), "/health", NULL, NULL, 5000, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    test_target_set_status(t, 503);
    assert_int_equal(request(test_target_port(t), "/health", NULL, NULL, 5000, &r), CURLE_OK);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "ok\n");
    assert_int_equal(test_target_hits(t), 2);
    test_target_stop(t);
}

static void test_target_reset(void **state)
{
    struct test_target *t = test_target_start();
    struct reply r;

    (void)state;
    assert_non_null(t);
    test_target_set_mode(t, TEST_TARGET_RESET);
    assert_int_not_equal(request(test_target_port(t), "/", NULL, NULL, 5000, &r), CURLE_OK);
    assert_int_equal(r.status, 0);
    assert_int_equal(test_target_hits(t), 1);
    /* Back to answering: the daemon survived the reset. */
    test_target_set_mode(t, TEST_TARGET_ANSWER);
    assert_int_equal(request(test_target_port(t), "/", NULL, NULL, 5000, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    test_target_stop(t);
}

static void test_target_hang_times_out(void **state)
{
    struct test_target *t = test_target_start();
    struct reply r;
    double start;

    (void)state;
    assert_non_null(t);
    test_target_set_mode(t, TEST_TARGET_HANG);
    start = now_s();
    assert_int_equal(request(test_target_port(t), "/", NULL, NULL, 1000, &r),
                     CURLE_OPERATION_TIMEDOUT);
    assert_true(now_s() - start >= 0.9);
    assert_int_equal(test_target_hits(t), 1);
    start = now_s();
    test_target_stop(t);
    assert_true(now_s() - start < 2.0);
}

/* A client still waiting on a hung request must not keep stop from returning,
 * and sees its connection closed. */
static void test_target_stop_with_hung_client(void **state)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    struct test_target *t = test_target_start();
    struct sockaddr_in addr = {.sin_family = AF_INET};
    struct timeval tv = {.tv_sec = 3};
    char buf[64];
    double start;
    int fd, i;

    (void)state;
    assert_non_null(t);
    test_target_set_mode(t, TEST_TARGET_HANG);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    addr.sin_port = htons(test_target_port(t));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(send(fd, req, sizeof(req) - 1, 0), (ssize_t)(sizeof(req) - 1));
    for (i = 0; i < 200 && test_target_hits(t) == 0; i++)
        usleep(10000);
    assert_int_equal(test_target_hits(t), 1);
    start = now_s();
    test_target_stop(t);
    assert_true(now_s() - start < 2.0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_true(recv(fd, buf, sizeof(buf), 0) <= 0); /* closed, no answer */
    close(fd);
}

static struct curl_slist *webhook_headers(const char *body, const char *secret)
{
    struct curl_slist *h = NULL;
    char hex[65], line[128];

    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "User-Agent: tocsin/test");
    h = curl_slist_append(h, "X-Request-ID: 6f1c2a52-0a0e-4b7e-9a43-1f7a6e2d9c10");
    assert_int_equal(tocsin_hmac_sha256_hex(secret, strlen(secret), body, strlen(body), hex), 0);
    snprintf(line, sizeof(line), "X-StatusPageOne-Signature: sha256=%s", hex);
    h = curl_slist_append(h, line);
    assert_non_null(h);
    return h;
}

static void post(struct test_receiver *r, const char *body, const char *secret, long expect)
{
    struct curl_slist *h = webhook_headers(body, secret);
    struct reply rep;

    assert_int_equal(request(test_receiver_port(r), "/hook", body, h, 5000, &rep), CURLE_OK);
    assert_int_equal(rep.status, expect);
    assert_string_equal(rep.body, "{\"received\":true}");
    curl_slist_free_all(h);
}

static void test_receiver_verifies_signatures(void **state)
{
    const char *body = "{\"event_type\":\"monitor_alert\",\"monitor\":{\"name\":\"caf\xc3\xa9\"}}";
    struct test_receiver *r = test_receiver_start(SECRET);
    struct test_delivery d;

    (void)state;
    assert_non_null(r);
    post(r, body, SECRET, 200);
    post(r, body, "wrong-secret", 200);
    post(r, "{\"event_type\": \"monitor_alert\"}", SECRET, 200); /* signed, not canonical */
    test_receiver_set_status(r, 503);
    post(r, body, SECRET, 503);
    assert_int_equal(test_receiver_count(r), 4);

    assert_int_equal(test_receiver_get(r, 0, &d), 0);
    assert_string_equal(d.method, "POST");
    assert_string_equal(d.path, "/hook");
    assert_string_equal(d.body, body);
    assert_int_equal(d.body_len, strlen(body));
    assert_string_equal(d.content_type, "application/json");
    assert_string_equal(d.user_agent, "tocsin/test");
    assert_string_equal(d.request_id, "6f1c2a52-0a0e-4b7e-9a43-1f7a6e2d9c10");
    assert_true(d.sig_ok_raw);
    assert_true(d.sig_ok_seed);
    test_delivery_free(&d);

    assert_int_equal(test_receiver_get(r, 1, &d), 0);
    assert_false(d.sig_ok_raw);
    assert_false(d.sig_ok_seed);
    test_delivery_free(&d);

    assert_int_equal(test_receiver_get(r, 2, &d), 0);
    assert_true(d.sig_ok_raw);
    assert_false(d.sig_ok_seed); /* the seed's validator would re-serialise it */
    test_delivery_free(&d);

    assert_int_equal(test_receiver_get(r, 4, &d), -1);
    test_receiver_stop(r);
}

static void test_receiver_without_secret(void **state)
{
    struct test_receiver *r = test_receiver_start(NULL);
    struct test_delivery d;

    (void)state;
    assert_non_null(r);
    post(r, "{}", SECRET, 200);
    assert_int_equal(test_receiver_get(r, 0, &d), 0);
    assert_false(d.sig_ok_raw);
    assert_false(d.sig_ok_seed);
    test_delivery_free(&d);
    test_receiver_stop(r);
}

/* Bodies over the receiver's 2 MB cap are answered 413 and not stored. */
static void test_receiver_body_cap(void **state)
{
    const size_t size = 2 * 1024 * 1024 + 1;
    struct test_receiver *r = test_receiver_start(SECRET);
    struct curl_slist *h = NULL;
    struct reply rep;
    char *big = malloc(size + 1);

    (void)state;
    assert_non_null(r);
    assert_non_null(big);
    memset(big, 'a', size);
    big[size] = '\0';
    h = curl_slist_append(h, "Expect:");
    assert_int_equal(request(test_receiver_port(r), "/hook", big, h, 10000, &rep), CURLE_OK);
    assert_int_equal(rep.status, 413);
    assert_int_equal(test_receiver_count(r), 0);
    curl_slist_free_all(h);
    free(big);
    test_receiver_stop(r);
}

static void test_verify_signature_strict(void **state)
{
    const char *data = "what do ya want for nothing?";
    const char *good = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

    (void)state;
    assert_true(test_verify_signature("Jefe", data, strlen(data), good));
    assert_false(test_verify_signature("Jefe", data, strlen(data), good + 7)); /* no prefix */
    assert_false(test_verify_signature(
        "Jefe", data, strlen(data),
        "sha256=5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843"));
    assert_false(test_verify_signature("Jefe", data, strlen(data) - 1, good));
    assert_false(test_verify_signature("Jefe", data, strlen(data), NULL));
    assert_false(test_verify_signature(NULL, data, strlen(data), good));
}

static int setup(void **state)
{
    (void)state;
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_target_answers_current_status),
        cmocka_unit_test(test_target_reset),
        cmocka_unit_test(test_target_hang_times_out),
        cmocka_unit_test(test_target_stop_with_hung_client),
        cmocka_unit_test(test_receiver_verifies_signatures),
        cmocka_unit_test(test_receiver_without_secret),
        cmocka_unit_test(test_receiver_body_cap),
        cmocka_unit_test(test_verify_signature_strict),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
