/* SPDX-License-Identifier: MIT */
/* Nesting near cJSON's limit of 1000 levels: through the JSON parser, the
 * path evaluator (InputPath, "..", filters, ResultPath), payload templates
 * and intrinsics, through the definition parser (deep Result, deep Choice
 * rules, deep Parallel nesting), and through the engine. Everything must
 * either work or fail with a message, in bounded time and memory. */
#include "patho.h"
#include "paths/paths.h"

#include <stdlib.h>

#define DEPTH 990 /* close to cJSON's CJSON_NESTING_LIMIT (1000) */

/* {"a":{"a":...{"a":LEAF}...}} with `depth` objects. */
static char *deep_object(int depth, const char *leaf)
{
  sw_buf b = SW_BUF_INIT(0);
  int i;

  for (i = 0; i < depth; i++)
    (void)sw_buf_puts(&b, "{\"a\":", NULL);
  (void)sw_buf_puts(&b, leaf, NULL);
  for (i = 0; i < depth; i++)
    (void)sw_buf_puts(&b, "}", NULL);
  return sw_buf_detach(&b);
}

/* "$.a.a...a" with `depth` steps. */
static char *deep_path(int depth)
{
  sw_buf b = SW_BUF_INIT(0);
  int i;

  (void)sw_buf_puts(&b, "$", NULL);
  for (i = 0; i < depth; i++)
    (void)sw_buf_puts(&b, ".a", NULL);
  return sw_buf_detach(&b);
}

SW_TEST(pathological_deep_nesting__json_and_paths)
{
  double t0 = patho_now();
  char *text = deep_object(DEPTH, "[1,2,{\"n\":3}]");
  char *too_deep = deep_object(1200, "1");
  char *ptext = deep_path(DEPTH);
  char *out_txt = NULL;
  cJSON *doc = NULL, *out = NULL, *tmpl = NULL;
  sw_eval_env env = {NULL, NULL, NULL};
  sw_err err = SW_ERR_INIT;
  sw_path *p = NULL;
  sw_template *t = NULL;

  SW_ASSERT_OK(sw_json_parse(&doc, text, strlen(text), "deep", &err));
  /* Deeper than cJSON's limit: an error naming the input, not a crash. */
  SW_ASSERT_ERR(sw_json_parse(&out, too_deep, strlen(too_deep), "too-deep",
                              &err),
                SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(err.msg, "too-deep");
  env.input = doc;
  env.context = doc;
  env.variables = doc;

  /* InputPath down to the leaf. */
  SW_ASSERT_OK(sw_path_compile(&p, ptext, SW_PATH_PATH, &err));
  SW_ASSERT_OK(sw_path_eval(&out, p, &env, &err));
  out_txt = sw_json_print(out);
  SW_ASSERT_STR_EQ(out_txt, "[1,2,{\"n\":3}]");
  sw_free(out_txt);
  cJSON_Delete(out);
  out = NULL;

  /* ResultPath creating the same depth again in an empty document. */
  {
    sw_path *rp = NULL;
    cJSON *d = cJSON_CreateObject();

    SW_ASSERT_OK(sw_path_compile(&rp, ptext, SW_PATH_REFERENCE, &err));
    SW_ASSERT_OK(sw_path_assign(&d, rp, cJSON_CreateNumber(7), &err));
    SW_ASSERT_OK(sw_path_eval(&out, rp, &(sw_eval_env){d, NULL, NULL},
                              &err));
    SW_ASSERT_EQ(out->valuedouble, 7);
    cJSON_Delete(out);
    out = NULL;
    cJSON_Delete(d);
    sw_path_free(rp);
  }
  sw_path_free(p);
  p = NULL;

  /* Recursive descent and a filter over every level. */
  SW_ASSERT_OK(sw_path_compile(&p, "$..n", SW_PATH_PATH, &err));
  SW_ASSERT_OK(sw_path_eval(&out, p, &env, &err));
  out_txt = sw_json_print(out);
  SW_ASSERT_STR_EQ(out_txt, "[3]");
  sw_free(out_txt);
  cJSON_Delete(out);
  out = NULL;
  sw_path_free(p);
  SW_ASSERT_OK(sw_path_compile(&p, "$..a[?(@.n == 3)].n", SW_PATH_PATH,
                               &err));
  SW_ASSERT_OK(sw_path_eval(&out, p, &env, &err));
  SW_ASSERT_EQ(cJSON_GetArraySize(out), 1);
  cJSON_Delete(out);
  out = NULL;
  sw_path_free(p);
  p = NULL;

  /* Parameters copying the whole deep input, plus intrinsics that walk
   * every level (serialise, render, compare). */
  tmpl = cJSON_Parse("{\"all.$\":\"$\",\"s.$\":\"States.JsonToString($)\","
                     "\"f.$\":\"States.Format('{}', $.a)\","
                     "\"u.$\":\"States.ArrayUnique(States.Array($, $))\"}");
  SW_ASSERT_NOT_NULL(tmpl);
  SW_ASSERT_OK(sw_template_compile(&t, tmpl, &err));
  SW_ASSERT_OK(sw_template_eval(&out, t, &env, &err));
  SW_ASSERT_EQ(cJSON_GetArraySize(sw_json_get(out, "u")), 1);
  SW_ASSERT_EQ(strlen(sw_json_get_str(out, "s")), strlen(text));
  /* One level more than the input: deeper than cJSON can read back,
   * which the engine must handle (see the engine test below). */
  cJSON_Delete(out);
  sw_template_free(t);
  cJSON_Delete(tmpl);
  cJSON_Delete(doc);
  sw_free(text);
  sw_free(too_deep);
  sw_free(ptext);
  SW_ASSERT(patho_now() - t0 < PATHO_MAX_SECONDS);
  SW_ASSERT(patho_peak_rss_mb() < PATHO_MAX_RSS_MB);
}

/* Definitions nested deep: a Pass Result, a Choice rule of nested Nots,
 * Parallel inside Parallel, and one that is too deep to parse. */
SW_TEST(pathological_deep_nesting__definitions)
{
  double t0 = patho_now();
  sw_buf b = SW_BUF_INIT(0);
  sw_asl_definition *def = NULL;
  sw_err err = SW_ERR_INIT;
  char *result = deep_object(DEPTH - 6, "1");
  char *text;
  int i, levels = 200; /* 4 JSON levels per Parallel: 800 + 2 */

  text = sw_asprintf("{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Pass\","
                     "\"Result\":%s,\"End\":true}}}",
                     result);
  SW_ASSERT_OK(sw_asl_parse(&def, text, strlen(text), "result.json", &err));
  sw_asl_free(def);
  def = NULL;
  sw_free(text);
  sw_free(result);

  /* Choice rules: Not(Not(...(Variable IsPresent)...)). paths/ allows
   * 100 levels of nested rules; 99 work, 990 fail with a message naming
   * the pointer, after bounded work. */
  for (i = 0; i < 2; i++) {
    int j, nots = i == 0 ? 98 : DEPTH - 8;

    (void)sw_buf_puts(&b, "{\"StartAt\":\"C\",\"States\":{\"C\":{\"Type\":"
                          "\"Choice\",\"Choices\":[{\"Next\":\"E\",\"Not\":",
                      NULL);
    for (j = 0; j < nots; j++)
      (void)sw_buf_puts(&b, "{\"Not\":", NULL);
    (void)sw_buf_puts(&b, "{\"Variable\":\"$.x\",\"IsPresent\":true}", NULL);
    for (j = 0; j < nots; j++)
      (void)sw_buf_puts(&b, "}", NULL);
    (void)sw_buf_puts(&b, "}],\"Default\":\"E\"},\"E\":{\"Type\":"
                          "\"Succeed\"}}}",
                      NULL);
    if (i == 1) {
      SW_ASSERT_ERR(sw_asl_parse(&def, b.ptr, b.len, "choice.json", &err),
                    SW_EINVAL);
      SW_ASSERT_STR_CONTAINS(err.msg, "choice.json: /States/C/Choices/0/Not");
      SW_ASSERT_STR_CONTAINS(err.msg, "Choice rules nested too deeply");
      sw_buf_dispose(&b);
      break;
    }
    SW_ASSERT_OK(sw_asl_parse(&def, b.ptr, b.len, "choice.json", &err));
    {
      const sw_asl_state *c = sw_asl_find(def->root, "C");
      bool match = true;
      cJSON *in = cJSON_Parse("{\"x\":1}");

      SW_ASSERT_NOT_NULL(c);
      SW_ASSERT_OK(sw_rule_eval(&match, c->choices[0].rule,
                                &(sw_eval_env){in, NULL, NULL}, &err));
      /* 99 Nots around a true test. */
      SW_ASSERT(!match);
      cJSON_Delete(in);
    }
    sw_asl_free(def);
    def = NULL;
    sw_buf_dispose(&b);
  }

  /* Parallel in Parallel, 200 deep (state names are unique in the whole
   * definition). */
  for (i = 0; i < levels; i++)
    (void)sw_buf_printf(&b, NULL,
                        "{\"StartAt\":\"P%d\",\"States\":{\"P%d\":{\"Type\":"
                        "\"Parallel\",\"End\":true,\"Branches\":[",
                        i, i);
  (void)sw_buf_puts(&b, "{\"StartAt\":\"L\",\"States\":{\"L\":{\"Type\":"
                        "\"Pass\",\"End\":true}}}",
                    NULL);
  for (i = 0; i < levels; i++)
    (void)sw_buf_puts(&b, "]}}}", NULL);
  SW_ASSERT_OK(sw_asl_parse(&def, b.ptr, b.len, "parallel.json", &err));
  sw_asl_free(def);
  def = NULL;
  sw_buf_dispose(&b);

  /* 300 Parallels: 1200 JSON levels, past cJSON's limit: one line naming
   * the file. */
  for (i = 0; i < 300; i++)
    (void)sw_buf_puts(&b, "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":"
                          "\"Parallel\",\"End\":true,\"Branches\":[",
                      NULL);
  (void)sw_buf_puts(&b, "{}", NULL);
  for (i = 0; i < 300; i++)
    (void)sw_buf_puts(&b, "]}}}", NULL);
  SW_ASSERT_ERR(sw_asl_parse(&def, b.ptr, b.len, "too-deep.json", &err),
                SW_EINVAL);
  SW_ASSERT_NULL(def);
  SW_ASSERT_STR_CONTAINS(err.msg, "too-deep.json:");
  sw_buf_dispose(&b);
  SW_ASSERT(patho_now() - t0 < PATHO_MAX_SECONDS);
  SW_ASSERT(patho_peak_rss_mb() < PATHO_MAX_RSS_MB);
}

/* Deep input through a running execution: InputPath selects a deep
 * subtree, Parameters wraps it, ResultPath puts it back. The execution
 * succeeds with the expected output, checkpoints included. */
SW_TEST(pathological_deep_nesting__engine)
{
  double t0 = patho_now();
  patho_engine h;
  sw_store_execution e;
  sw_err err = SW_ERR_INIT;
  char *input = deep_object(DEPTH - 10, "{\"leaf\":true}");
  char *ip = deep_path(DEPTH - 20);
  char *def = sw_asprintf(
      "{\"StartAt\":\"Down\",\"States\":{"
      "\"Down\":{\"Type\":\"Pass\",\"InputPath\":\"%s\","
      "\"Parameters\":{\"sub.$\":\"$\",\"leaf.$\":\"$..leaf\"},"
      "\"ResultPath\":\"$.a.copy\",\"Next\":\"Up\"},"
      "\"Up\":{\"Type\":\"Pass\",\"OutputPath\":\"$.a.copy.leaf\","
      "\"End\":true}}}",
      ip);

  SW_ASSERT_OK(patho_open(&h, &err));
  SW_ASSERT_OK(patho_run(&h, def, input, &e, &err));
  SW_ASSERT_STR_EQ(e.status, "SUCCEEDED");
  SW_ASSERT_STR_EQ(e.output, "[true]");
  sw_store_execution_dispose(&e);
  SW_ASSERT_EQ(patho_close(&h), 0);
  sw_free(input);
  sw_free(ip);
  sw_free(def);
  SW_ASSERT(patho_now() - t0 < PATHO_MAX_SECONDS);
  SW_ASSERT(patho_peak_rss_mb() < PATHO_MAX_RSS_MB);
}
