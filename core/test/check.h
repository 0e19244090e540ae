/* check.h: a minimal assertion kit for rumor's C tests. A failed check
 * prints where and what, and the test exits non-zero (ctest reports it). */
#ifndef RUMOR_CHECK_H
#define RUMOR_CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

#define CHECK_EQ(a, b)                                                                    \
  do {                                                                                    \
    long long va_ = (long long)(a), vb_ = (long long)(b);                                 \
    if (va_ != vb_) {                                                                     \
      fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, \
              va_, vb_);                                                                  \
      exit(1);                                                                            \
    }                                                                                     \
  } while (0)

#define RUN(test)                        \
  do {                                   \
    fprintf(stderr, "  %s\n", #test);    \
    test();                              \
  } while (0)
#endif
