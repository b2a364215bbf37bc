/* Shared by the libFuzzer targets of tests/fuzz and their replay driver.
 *
 * Each fuzz_<name>.c defines LLVMFuzzerTestOneInput (and may define
 * LLVMFuzzerInitialize).  With TOCSIN_FUZZ (clang) it links libFuzzer's main;
 * in every other build it links replay.c, which feeds each file of its corpus
 * and regression directories to it once, so the corpus is a test everywhere. */
#ifndef TOCSIN_FUZZ_H
#define TOCSIN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant of the code under test: abort (a libFuzzer crash) when broken. */
#define FUZZ_CHECK(cond)                                                           \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                               \
        }                                                                          \
    } while (0)

/* DATA as a malloc'd NUL-terminated string (cut at its first NUL byte); aborts
 * on ENOMEM, which the fuzzer reports like any other crash. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    size_t n = 0;

    FUZZ_CHECK(s != NULL);
    while (n < size && data[n] != 0) {
        s[n] = (char)data[n];
        n++;
    }
    s[n] = '\0';
    return s;
}

#endif
