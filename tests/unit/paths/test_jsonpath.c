/* SPDX-License-Identifier: MIT */
/* JSONPath evaluation and ResultPath assignment as users see them: the
 * selected values and the AWS cause texts. */
#include "sw_test.h"
#include "paths/paths.h"
#include "paths_test_util.h"

#include <stdlib.h>

static const char *doc_text =
    "{\"a\":{\"b\":[1,2,3,4,5]},\"name\":\"x\",\"x y\":7,"
    "\"items\":[{\"n\":1,\"k\":\"a\"},{\"n\":5,\"k\":\"b\"},"
    "{\"n\":9,\"k\":\"c\",\"flag\":true}],\"nested\":{\"c\":1,\"d\":{\"c\":2}}}";

/* Evaluate `path` against doc_text; returns compact JSON (caller frees) or
 * "ERR: <msg>". */
static char *eval_text(const char *path, const cJSON *vars)
{
  cJSON *doc = pt_json(doc_text), *ctx = pt_json("{\"Execution\":{\"Id\":"
                                                 "\"e1\"}}");
  sw_eval_env env = {doc, ctx, vars};
  sw_path *p = NULL;
  cJSON *out = NULL;
  sw_err err = SW_ERR_INIT;
  char *res;

  if (sw_path_compile(&p, path, SW_PATH_PATH, &err) < 0 ||
      sw_path_eval(&out, p, &env, &err) < 0)
    res = sw_asprintf("ERR: %s", err.msg);
  else
    res = sw_json_print(out);
  cJSON_Delete(out);
  sw_path_free(p);
  cJSON_Delete(doc);
  cJSON_Delete(ctx);
  return res;
}

#define EXPECT_PATH(path, expected)                                            \
  do {                                                                         \
    char *r_ = eval_text(path, NULL);                                          \
    int ok_ = strcmp(r_, expected) == 0;                                       \
    if (!ok_)                                                                  \
      sw_test_fail(__FILE__, __LINE__, "%s: got %s, expected %s", path, r_,    \
                   expected);                                                  \
    sw_free(r_);                                                               \
    if (!ok_)                                                                  \
      return;                                                                  \
  } while (0)

SW_TEST(paths_jsonpath__definite_paths)
{
  EXPECT_PATH("$", "{\"a\":{\"b\":[1,2,3,4,5]},\"name\":\"x\",\"x y\":7,"
                   "\"items\":[{\"n\":1,\"k\":\"a\"},{\"n\":5,\"k\":\"b\"},"
                   "{\"n\":9,\"k\":\"c\",\"flag\":true}],\"nested\":{\"c\":1,"
                   "\"d\":{\"c\":2}}}");
  EXPECT_PATH("$.name", "\"x\"");
  EXPECT_PATH("$.a.b[0]", "1");
  EXPECT_PATH("$.a.b[-1]", "5");
  EXPECT_PATH("$['x y']", "7");
  EXPECT_PATH("$[\"name\"]", "\"x\"");
  EXPECT_PATH("$.a['b'][2]", "3");
  EXPECT_PATH("$.items[1].k", "\"b\"");
  EXPECT_PATH("$$.Execution.Id", "\"e1\"");
}

SW_TEST(paths_jsonpath__indefinite_paths_yield_arrays)
{
  EXPECT_PATH("$.a.b[*]", "[1,2,3,4,5]");
  EXPECT_PATH("$.a.b[1:3]", "[2,3]");
  EXPECT_PATH("$.a.b[:2]", "[1,2]");
  EXPECT_PATH("$.a.b[-2:]", "[4,5]");
  EXPECT_PATH("$.a.b[::2]", "[1,3,5]");
  EXPECT_PATH("$.a.b[0,2,4]", "[1,3,5]");
  EXPECT_PATH("$['name','x y']", "[\"x\",7]");
  EXPECT_PATH("$.items[*].k", "[\"a\",\"b\",\"c\"]");
  EXPECT_PATH("$.nested.*", "[1,{\"c\":2}]");
  EXPECT_PATH("$..c", "[1,2]");
  EXPECT_PATH("$.nothing[*]", "[]");
  EXPECT_PATH("$.items[5:9]", "[]");
}

SW_TEST(paths_jsonpath__filters)
{
  EXPECT_PATH("$.items[?(@.n > 1)].k", "[\"b\",\"c\"]");
  EXPECT_PATH("$.items[?(@.n >= 5 && @.k != 'c')].k", "[\"b\"]");
  EXPECT_PATH("$.items[?(@.n < 2 || @.k == \"c\")].n", "[1,9]");
  EXPECT_PATH("$.items[?(@.flag)].k", "[\"c\"]");
  EXPECT_PATH("$.items[?(@.flag == true)].n", "[9]");
  EXPECT_PATH("$.items[?(!(@.n == 5))].n", "[1,9]");
  EXPECT_PATH("$.items[?(@.k <= 'a')].n", "[1]");
  EXPECT_PATH("$.items[?(@.missing == null)].n", "[]");
  EXPECT_PATH("$.items[?(@.n == $.a.b[4])].k", "[\"b\"]");
  /* asl-path-validator: a bare name on the right is a string. */
  EXPECT_PATH("$.items[?(@.k == b)].n", "[5]");
  EXPECT_PATH("$.items[?(@.k != b && @.n > 1)].n", "[9]");
  EXPECT_PATH("$.items[?(@.k == nullish)].n", "[]");
}

SW_TEST(paths_jsonpath__script_length_index)
{
  /* "[(@.length-N)]" is the N-th element from the end. */
  EXPECT_PATH("$.a.b[(@.length-1)]", "5");
  EXPECT_PATH("$.a.b[( @.length - 2 )]", "4");
  EXPECT_PATH("$.items[(@.length-1)].k", "\"c\"");
  EXPECT_PATH("$.a.b[(@.length-9)]",
              "ERR: Invalid path '$.a.b[(@.length-9)]' : No results for "
              "path: $['a']['b'][-9]");
}

SW_TEST(paths_jsonpath__variables)
{
  cJSON *vars = pt_json("{\"answer\":{\"v\":[42]},\"s\":\"hi\"}");
  char *r1 = eval_text("$answer.v[0]", vars);
  char *r2 = eval_text("$s", vars);
  char *r3 = eval_text("$nope", vars);

  SW_ASSERT_STR_EQ(r1, "42");
  SW_ASSERT_STR_EQ(r2, "\"hi\"");
  SW_ASSERT_STR_CONTAINS(r3, "ERR:");
  sw_free(r1);
  sw_free(r2);
  sw_free(r3);
  cJSON_Delete(vars);
}

/* AWS-recorded: "Invalid path '$.NoSuchInputPath' : No results for path:
 * $['NoSuchInputPath']" (test_invalid_jsonpath-ST.INVALID_JSONPATH_IN_*). */
SW_TEST(paths_jsonpath__missing_node_cause)
{
  EXPECT_PATH("$.NoSuchInputPath",
              "ERR: Invalid path '$.NoSuchInputPath' : No results for path: "
              "$['NoSuchInputPath']");
  EXPECT_PATH("$.no.such",
              "ERR: Invalid path '$.no.such' : Missing property in path "
              "$['no']");
  EXPECT_PATH("$.a.b[7]",
              "ERR: Invalid path '$.a.b[7]' : No results for path: "
              "$['a']['b'][7]");
}

SW_TEST(paths_jsonpath__conformance_invalid_inputpath)
{
  char *dir = sw_asprintf("%s/reference/conformance/cases/"
                          "test_base_scenarios__test_invalid_jsonpath-ST."
                          "INVALID_JSONPATH_IN_INPUTPATH__0",
                          sw_test_shareddir());
  cJSON *def = pt_case_file(dir, "definition");
  cJSON *in = pt_case_file(dir, "input");
  cJSON *exp = pt_case_file(dir, "expected");
  const cJSON *states, *st;
  const char *ip, *cause;
  sw_path *p = NULL;
  cJSON *out = NULL;
  sw_err err = SW_ERR_INIT;
  sw_eval_env env;

  sw_free(dir);
  if (!def || !in || !exp) {
    cJSON_Delete(def);
    cJSON_Delete(in);
    cJSON_Delete(exp);
    sw_test_skip("conformance case not available");
    return;
  }
  states = sw_json_get(def, "States");
  st = sw_json_get(states, sw_json_get_str(def, "StartAt"));
  ip = sw_json_get_str(st, "InputPath");
  cause = sw_json_get_str(exp, "cause");
  env.input = in;
  env.context = NULL;
  env.variables = NULL;
  SW_ASSERT_NOT_NULL(ip);
  SW_ASSERT_OK(sw_path_compile(&p, ip, SW_PATH_PATH, &err));
  SW_ASSERT_ERR(sw_path_eval(&out, p, &env, &err), SW_ENOTFOUND);
  /* The engine adds "An error occurred while executing the state ...". */
  SW_ASSERT_STR_CONTAINS(cause, err.msg);
  sw_path_free(p);
  cJSON_Delete(def);
  cJSON_Delete(in);
  cJSON_Delete(exp);
}

SW_TEST(paths_jsonpath__compile_errors)
{
  sw_path *p = NULL;
  sw_err err = SW_ERR_INIT;

  SW_ASSERT_ERR(sw_path_compile(&p, "a.b", SW_PATH_PATH, &err), SW_EINVAL);
  SW_ASSERT_NULL(p);
  SW_ASSERT_ERR(sw_path_compile(&p, "$.a[", SW_PATH_PATH, &err), SW_EINVAL);
  SW_ASSERT_ERR(sw_path_compile(&p, "$.a['x", SW_PATH_PATH, &err), SW_EINVAL);
  SW_ASSERT_ERR(sw_path_compile(&p, "$.a[?(@.x >)]", SW_PATH_PATH, &err),
                SW_EINVAL);
  /* A bare name is a value only on the right of a comparison. */
  SW_ASSERT_ERR(sw_path_compile(&p, "$.a[?(x == @.y)]", SW_PATH_PATH, &err),
                SW_EINVAL);
  SW_ASSERT_ERR(sw_path_compile(&p, "$.a[(@.size-1)]", SW_PATH_PATH, &err),
                SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(err.msg, "only '(@.length-N)' is supported");
  SW_ASSERT_ERR(sw_path_compile(&p, "$.a[(@.length-0)]", SW_PATH_PATH, &err),
                SW_EINVAL);
  SW_ASSERT_ERR(sw_path_compile(&p, "$.a[(@.length+1)]", SW_PATH_PATH, &err),
                SW_EINVAL);
  SW_ASSERT_ERR(sw_path_compile(&p, "$.a[*]", SW_PATH_REFERENCE, &err),
                SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(err.msg, "reference path");
  SW_ASSERT_ERR(sw_path_compile(&p, "$..a", SW_PATH_REFERENCE, &err),
                SW_EINVAL);
  SW_ASSERT_ERR(sw_path_compile(&p, "$.a[1:2]", SW_PATH_REFERENCE, &err),
                SW_EINVAL);
  SW_ASSERT_OK(sw_path_compile(&p, "$.a['b c'][0]", SW_PATH_REFERENCE, &err));
  SW_ASSERT(sw_path_is_definite(p));
  SW_ASSERT(!sw_path_is_root(p));
  SW_ASSERT_STR_EQ(sw_path_text(p), "$.a['b c'][0]");
  sw_path_free(p);
  SW_ASSERT_OK(sw_path_compile(&p, "$", SW_PATH_REFERENCE, &err));
  SW_ASSERT(sw_path_is_root(p));
  sw_path_free(p);
}

static char *assign_text(const char *doc_json, const char *path,
                         const char *value_json)
{
  cJSON *doc = pt_json(doc_json);
  sw_path *p = NULL;
  sw_err err = SW_ERR_INIT;
  char *res;

  if (sw_path_compile(&p, path, SW_PATH_REFERENCE, &err) < 0 ||
      sw_path_assign(&doc, p, pt_json(value_json), &err) < 0)
    res = sw_asprintf("ERR: %s", err.msg);
  else
    res = sw_json_print(doc);
  sw_path_free(p);
  cJSON_Delete(doc);
  return res;
}

#define EXPECT_ASSIGN(doc, path, value, expected)                              \
  do {                                                                         \
    char *r_ = assign_text(doc, path, value);                                  \
    int ok_ = strcmp(r_, expected) == 0;                                       \
    if (!ok_)                                                                  \
      sw_test_fail(__FILE__, __LINE__, "%s: got %s, expected %s", path, r_,    \
                   expected);                                                  \
    sw_free(r_);                                                               \
    if (!ok_)                                                                  \
      return;                                                                  \
  } while (0)

SW_TEST(paths_refpath__assign)
{
  EXPECT_ASSIGN("{\"a\":1}", "$", "{\"r\":2}", "{\"r\":2}");
  EXPECT_ASSIGN("{\"a\":1}", "$.res", "[1]", "{\"a\":1,\"res\":[1]}");
  EXPECT_ASSIGN("{\"a\":1}", "$.a", "\"x\"", "{\"a\":\"x\"}");
  EXPECT_ASSIGN("{\"a\":1}", "$.x.y['z w']", "true",
                "{\"a\":1,\"x\":{\"y\":{\"z w\":true}}}");
  EXPECT_ASSIGN("{\"a\":[1,{\"b\":2}]}", "$.a[1].c", "3",
                "{\"a\":[1,{\"b\":2,\"c\":3}]}");
  EXPECT_ASSIGN("{\"a\":[1,2]}", "$.a[0]", "9", "{\"a\":[9,2]}");
  EXPECT_ASSIGN("{\"a\":\"s\"}", "$.a.b", "1",
                "ERR: Invalid path '$.a.b' : Expected to find an object with "
                "property ['b'] in path $['a'] but found 'java.lang.String'. "
                "This is not a json object according to the JsonProvider: "
                "'com.jayway.jsonpath.spi.json.JsonSmartJsonProvider'.");
  EXPECT_ASSIGN("[1]", "$.a", "1",
                "ERR: Invalid path '$.a' : Expected to find an object with "
                "property ['a'] in path $ but found "
                "'net.minidev.json.JSONArray'. This is not a json object "
                "according to the JsonProvider: "
                "'com.jayway.jsonpath.spi.json.JsonSmartJsonProvider'.");
}

SW_TEST(paths_jsonpath__conformance_escaped_bracket_name)
{
  /* AWS-recorded ESCAPE_SEQUENCES_JSONPATH: backslashes inside a quoted
   * bracket name are literal unless they escape the quote. */
  cJSON *in = pt_json("{\"Test\\\\\\\"\\\"Name\\\"\":\"Value\\\"\\\\\"}");
  sw_eval_env env = {in, NULL, NULL};
  sw_path *p = NULL;
  cJSON *out = NULL;
  sw_err err = SW_ERR_INIT;

  SW_ASSERT_OK(sw_path_compile(&p, "$['Test\\\"\"Name\"']", SW_PATH_PATH,
                               &err));
  SW_ASSERT_OK(sw_path_eval(&out, p, &env, &err));
  SW_ASSERT_JSON_EQ(out, "\"Value\\\"\\\\\"");
  cJSON_Delete(out);
  sw_path_free(p);
  cJSON_Delete(in);
}
