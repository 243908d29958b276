/* SPDX-License-Identifier: MIT */
/* Minimal test harness: SW_TEST(name) registers a test by constructor;
 * typed assertions print both operands with file:line. The runner ends
 * with one line "N passed, N failed[, N skipped]". */
#ifndef SW_TEST_H
#define SW_TEST_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

typedef void (*sw_test_fn)(void);
void sw_test_register(const char *name, sw_test_fn fn);
void sw_test_fail(const char *file, int line, const char *fmt, ...);
void sw_test_skip(const char *why);
/* Directory of the source tree and of ../shared (set by the runner). */
const char *sw_test_srcdir(void);
const char *sw_test_shareddir(void);
/* A fresh temporary directory for this test; removed after it passes. */
const char *sw_test_tmpdir(void);

#define SW_TEST(name)                                                          \
  static void name(void);                                                      \
  __attribute__((constructor)) static void name##_register(void)               \
  {                                                                            \
    sw_test_register(#name, name);                                             \
  }                                                                            \
  static void name(void)

#define SW_ASSERT(cond)                                                        \
  do {                                                                         \
    if (!(cond)) {                                                             \
      sw_test_fail(__FILE__, __LINE__, "assertion failed: %s", #cond);         \
      return;                                                                  \
    }                                                                          \
  } while (0)

#define SW_ASSERT_EQ(a, b)                                                     \
  do {                                                                         \
    long long sw_a_ = (long long)(a), sw_b_ = (long long)(b);                  \
    if (sw_a_ != sw_b_) {                                                      \
      sw_test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b,       \
                   sw_a_, sw_b_);                                              \
      return;                                                                  \
    }                                                                          \
  } while (0)

#define SW_ASSERT_OK(expr)                                                     \
  do {                                                                         \
    int sw_rc_ = (expr);                                                       \
    if (sw_rc_ != 0) {                                                         \
      sw_test_fail(__FILE__, __LINE__, "%s returned %d", #expr, sw_rc_);       \
      return;                                                                  \
    }                                                                          \
  } while (0)

#define SW_ASSERT_ERR(expr, code)                                              \
  do {                                                                         \
    int sw_rc_ = (expr);                                                       \
    if (sw_rc_ != (code)) {                                                    \
      sw_test_fail(__FILE__, __LINE__, "%s returned %d, expected %s (%d)",     \
                   #expr, sw_rc_, #code, (int)(code));                         \
      return;                                                                  \
    }                                                                          \
  } while (0)

#define SW_ASSERT_NULL(p) SW_ASSERT((p) == NULL)
#define SW_ASSERT_NOT_NULL(p) SW_ASSERT((p) != NULL)

#define SW_ASSERT_STR_EQ(a, b)                                                 \
  do {                                                                         \
    const char *sw_a_ = (a), *sw_b_ = (b);                                     \
    if (!sw_a_ || !sw_b_ || strcmp(sw_a_, sw_b_) != 0) {                       \
      sw_test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,  \
                   sw_a_ ? sw_a_ : "(null)", sw_b_ ? sw_b_ : "(null)");        \
      return;                                                                  \
    }                                                                          \
  } while (0)

#define SW_ASSERT_STR_CONTAINS(hay, needle)                                    \
  do {                                                                         \
    const char *sw_h_ = (hay), *sw_n_ = (needle);                              \
    if (!sw_h_ || !strstr(sw_h_, sw_n_)) {                                     \
      sw_test_fail(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"",       \
                   sw_h_ ? sw_h_ : "(null)", sw_n_);                           \
      return;                                                                  \
    }                                                                          \
  } while (0)

/* Semantic JSON comparison: `expected` is JSON text. */
bool sw_test_json_eq(const cJSON *actual, const char *expected, char **why);
#define SW_ASSERT_JSON_EQ(actual, expected_text)                               \
  do {                                                                         \
    char *sw_why_ = NULL;                                                      \
    if (!sw_test_json_eq((actual), (expected_text), &sw_why_)) {               \
      sw_test_fail(__FILE__, __LINE__, "JSON differs: %s", sw_why_);           \
      free(sw_why_);                                                           \
      return;                                                                  \
    }                                                                          \
  } while (0)

#endif
