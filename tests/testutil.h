/* Shared helpers for the cmocka suites: data paths and tolerance checks. */
#ifndef CAPE_TESTUTIL_H
#define CAPE_TESTUTIL_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

/* Bundled data directory (make sets CAPE_DATA=data). */
static inline const char *test_data_dir(void)
{
    const char *d = getenv("CAPE_DATA");
    return d && *d ? d : "data";
}

static inline const char *test_data_path(const char *rel)
{
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", test_data_dir(), rel);
    return buf[k];
}

/* The shared read-only inputs beside the checkout (../shared in CI). */
static inline const char *test_shared_path(const char *rel)
{
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    const char *d = getenv("CAPE_SHARED");
    snprintf(buf[k], sizeof buf[k], "%s/%s", d && *d ? d : "../shared", rel);
    return buf[k];
}

#define assert_close(actual, expected, abs_tol)                                                    \
    do {                                                                                           \
        double a_ = (actual), e_ = (expected), t_ = (abs_tol);                                     \
        if (!(fabs(a_ - e_) <= t_))                                                                \
            fail_msg("%s = %.10g, expected %.10g within %.3g", #actual, a_, e_, t_);               \
    } while (0)

#define assert_rel(actual, expected, rel_tol)                                                      \
    do {                                                                                           \
        double a_ = (actual), e_ = (expected), t_ = (rel_tol);                                     \
        if (!(fabs(a_ - e_) <= t_ * fabs(e_)))                                                     \
            fail_msg("%s = %.10g, expected %.10g within %.3g relative", #actual, a_, e_, t_);      \
    } while (0)

#endif
