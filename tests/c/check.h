/* The C tests' one assertion: CHECK(condition, printf-style message) counts a pass or prints the failure; each
 * test ends with "<name>: N passed, M failed". */
#ifndef RLL_TESTS_CHECK_H_
#define RLL_TESTS_CHECK_H_

#include <stdio.h>

static int failures = 0, passes = 0;
#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (cond) {                                            \
      ++passes;                                            \
    } else {                                               \
      ++failures;                                          \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                        \
      fprintf(stderr, "\n");                               \
    }                                                      \
  } while (0)

#endif
