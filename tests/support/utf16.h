/* UTF-16 units of valid UTF-8 (what JavaScript's String length counts): how
 * PagerDuty's 1024-character summary limit is checked, independently of the
 * cut in src/formats/pagerduty.c.  Shared by test_formats and fuzz_formats. */
#ifndef TOCSIN_TEST_UTF16_H
#define TOCSIN_TEST_UTF16_H

#include <stddef.h>

static inline size_t test_utf16_units(const char *s)
{
    size_t units = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) != 0x80)
            units += *p >= 0xF0 ? 2 : 1;
    }
    return units;
}

#endif
