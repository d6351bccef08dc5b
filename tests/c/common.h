/* Small helpers shared by the C tests: strict C99 plus POSIX, no test framework. `static inline`
 * so a test that uses only some of them still compiles with -Werror. */
#ifndef GEARLET_TEST_COMMON_H
#define GEARLET_TEST_COMMON_H

#include <gearlet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#define EXPECT(call, want)                                                             \
    do {                                                                               \
        gearlet_status got_ = (call);                                                  \
        if (got_ != (want)) {                                                          \
            fprintf(stderr, "%s:%d: %s returned %d (%s), wanted %d\n", __FILE__,       \
                    __LINE__, #call, (int)got_, gearlet_status_message((int)got_),     \
                    (int)(want));                                                      \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#define OK(call) EXPECT(call, GEARLET_STATUS_OK)

/* A C string as gearlet's (data, len) pair. */
#define S(str) (str), strlen(str)

static inline int slice_eq(gearlet_slice s, const char *data, size_t len) {
    return s.data != NULL && s.len == len && memcmp(s.data, data, len) == 0;
}

static inline int buf_eq(gearlet_buf b, const char *data, size_t len) {
    return b.data != NULL && b.len == len && memcmp(b.data, data, len) == 0;
}

#endif
