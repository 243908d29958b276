/* SPDX-License-Identifier: MIT */
/* Shared by the fuzz targets: the libFuzzer entry point they define, and
 * the split of one input into an expression line and a JSON document. */
#ifndef SW_FUZZ_ASL_H
#define SW_FUZZ_ASL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs are cut at the first newline: an expression (path, intrinsic
 * call) before it, a JSON document after it. Both are new NUL-terminated
 * strings (sw_free). A NUL byte inside the expression ends it early, as
 * it would for any C caller. */
static inline void sw_fuzz_split(const uint8_t *data, size_t size,
                                 char **expr, char **doc, size_t *doc_len)
{
  const uint8_t *nl = memchr(data, '\n', size);
  size_t n = nl ? (size_t)(nl - data) : size;

  *expr = sw_strndup((const char *)data, n);
  *doc_len = nl ? size - n - 1 : 0;
  *doc = sw_strndup(nl ? (const char *)nl + 1 : "", *doc_len);
  *doc_len = strlen(*doc);
}

#endif
