/* SPDX-License-Identifier: MIT */
/* Fuzz target: JSONPath. Input "PATH\nJSON": the path is compiled as a
 * Path and as a Reference Path; with a valid document it is evaluated
 * ("$" the document, "$$" and variables the same document) and, as a
 * Reference Path, assigned into a copy of the document (ResultPath). The
 * document is also compiled and run as a Choice rule and as a payload
 * template, which embed paths. */
#include "fuzz_asl.h"
#include "paths/paths.h"

static void eval_path(const char *text, sw_path_kind kind, cJSON *doc,
                      const sw_eval_env *env)
{
  sw_path *p = NULL;
  cJSON *out = NULL, *copy;
  sw_err err = SW_ERR_INIT;

  if (sw_path_compile(&p, text, kind, &err) < 0)
    return;
  if (doc) {
    (void)sw_path_eval(&out, p, env, &err);
    cJSON_Delete(out);
    if (kind == SW_PATH_REFERENCE) {
      copy = sw_json_dup(doc);
      (void)sw_path_assign(&copy, p, cJSON_CreateString("v"), &err);
      cJSON_Delete(copy);
    }
  }
  sw_path_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *expr = NULL, *text = NULL;
  size_t len = 0;
  cJSON *doc = NULL, *out = NULL;
  sw_err err = SW_ERR_INIT;
  sw_eval_env env = {NULL, NULL, NULL};
  sw_rule *rule = NULL;
  sw_template *t = NULL;
  bool b = false;

  sw_fuzz_split(data, size, &expr, &text, &len);
  if (sw_json_parse(&doc, text, len, "doc", &err) < 0)
    doc = NULL;
  env.input = doc;
  env.context = doc;
  env.variables = doc;
  eval_path(expr, SW_PATH_PATH, doc, &env);
  eval_path(expr, SW_PATH_REFERENCE, doc, &env);
  if (doc && sw_rule_compile(&rule, doc, false, "/r", &err) == 0)
    (void)sw_rule_eval(&b, rule, &env, &err);
  sw_rule_free(rule);
  if (doc && sw_template_compile(&t, doc, &err) == 0) {
    (void)sw_template_eval(&out, t, &env, &err);
    cJSON_Delete(out);
  }
  sw_template_free(t);
  cJSON_Delete(doc);
  sw_free(expr);
  sw_free(text);
  return 0;
}
