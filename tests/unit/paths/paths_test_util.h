/* SPDX-License-Identifier: MIT */
/* Helpers shared by the paths unit tests: parse JSON text, and walk the
 * AWS-recorded conformance cases in shared/reference/conformance/cases. */
#ifndef PATHS_TEST_UTIL_H
#define PATHS_TEST_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"

/* Parse JSON text (aborts the test program on a syntax error: the texts
 * are written in the tests). The caller deletes the result. */
static inline cJSON *pt_json(const char *text)
{
  cJSON *v = NULL;
  sw_err err = SW_ERR_INIT;

  if (sw_json_parse(&v, text, strlen(text), "test", &err) < 0) {
    fprintf(stderr, "bad test JSON: %s\n", err.msg);
    return cJSON_CreateNull();
  }
  return v;
}

/* Read and parse cases/<id>/<name>.json; NULL when absent. */
static inline cJSON *pt_case_file(const char *casedir, const char *name)
{
  char *path = sw_asprintf("%s/%s.json", casedir, name);
  char *text = NULL;
  size_t len = 0;
  cJSON *v = NULL;
  sw_err err = SW_ERR_INIT;

  if (sw_file_read(&text, &len, path, 0, &err) == 0)
    (void)sw_json_parse(&v, text, len, path, &err);
  sw_free(text);
  sw_free(path);
  return v;
}

#endif
