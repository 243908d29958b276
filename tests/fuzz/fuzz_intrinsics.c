/* SPDX-License-Identifier: MIT */
/* Fuzz target: intrinsic functions. Input "EXPR\nJSON": EXPR is compiled
 * and evaluated as a States.* call against the document ("$", "$$" and
 * the variables are all the document; without a valid document, {}). */
#include "fuzz_asl.h"
#include "paths/paths.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *expr = NULL, *text = NULL;
  size_t len = 0;
  cJSON *doc = NULL, *out = NULL;
  sw_err err = SW_ERR_INIT;
  sw_eval_env env = {NULL, NULL, NULL};

  sw_fuzz_split(data, size, &expr, &text, &len);
  if (sw_json_parse(&doc, text, len, "doc", &err) < 0)
    doc = cJSON_CreateObject();
  env.input = doc;
  env.context = doc;
  env.variables = doc;
  (void)sw_intrinsic_is_call(expr);
  if (sw_intrinsic_eval_field(&out, expr, "f.$", &env, &err) < 0 &&
      err.msg[0] == '\0')
    __builtin_trap(); /* every failure carries a cause */
  cJSON_Delete(out);
  cJSON_Delete(doc);
  sw_free(expr);
  sw_free(text);
  return 0;
}
