/* SPDX-License-Identifier: MIT */
/* Payload templates and intrinsic functions: outputs, AWS cause texts, and
 * every AWS-recorded single-Pass-state case whose Parameters we can run. */
#include "sw_test.h"
#include "paths/paths.h"
#include "paths_test_util.h"

#include <stdlib.h>

/* Evaluate template text against input text; compact JSON or "ERR: msg".
 * The caller frees the result. */
static char *tmpl_text(const char *tmpl, const char *input)
{
  cJSON *t = pt_json(tmpl), *in = pt_json(input), *out = NULL;
  cJSON *ctx = pt_json("{\"Execution\":{\"Name\":\"run-1\"}}");
  cJSON *vars = pt_json("{\"count\":3}");
  sw_eval_env env = {in, ctx, vars};
  sw_template *c = NULL;
  sw_err err = SW_ERR_INIT;
  char *res;

  if (sw_template_compile(&c, t, &err) < 0 ||
      sw_template_eval(&out, c, &env, &err) < 0)
    res = sw_asprintf("ERR: %s", err.msg);
  else
    res = sw_json_print(out);
  sw_template_free(c);
  cJSON_Delete(out);
  cJSON_Delete(t);
  cJSON_Delete(in);
  cJSON_Delete(ctx);
  cJSON_Delete(vars);
  return res;
}

#define EXPECT_TMPL(tmpl, input, expected)                                     \
  do {                                                                         \
    char *r_ = tmpl_text(tmpl, input);                                         \
    int ok_ = strcmp(r_, expected) == 0;                                       \
    if (!ok_)                                                                  \
      sw_test_fail(__FILE__, __LINE__, "%s: got %s, expected %s", tmpl, r_,    \
                   expected);                                                  \
    sw_free(r_);                                                               \
    if (!ok_)                                                                  \
      return;                                                                  \
  } while (0)

/* One intrinsic call as the value of "r.$". */
#define EXPECT_FN(call, input, expected)                                       \
  EXPECT_TMPL("{\"r.$\":\"" call "\"}", input, "{\"r\":" expected "}")
/* One intrinsic call that fails with the cause `msg`. */
#define EXPECT_FN_ERR(call, input, msg)                                        \
  EXPECT_TMPL("{\"r.$\":\"" call "\"}", input, "ERR: " msg)

SW_TEST(paths_template__paths_literals_nesting)
{
  EXPECT_TMPL("{\"a.$\":\"$.x\",\"lit\":\"$.x\",\"n\":{\"b.$\":\"$$.Execution."
              "Name\",\"arr\":[1,{\"c.$\":\"$count\"}]},\"k\":[1,2]}",
              "{\"x\":{\"y\":1}}",
              "{\"a\":{\"y\":1},\"lit\":\"$.x\",\"n\":{\"b\":\"run-1\","
              "\"arr\":[1,{\"c\":3}]},\"k\":[1,2]}");
  EXPECT_TMPL("{\"all.$\":\"$.v[*].id\"}", "{\"v\":[{\"id\":1},{\"id\":2}]}",
              "{\"all\":[1,2]}");
  EXPECT_TMPL("\"plain\"", "{}", "\"plain\"");
}

SW_TEST(paths_template__missing_path_cause)
{
  EXPECT_TMPL("{\"value.$\":\"$.no_such_jsonpath\"}", "{\"a\": 1, \"b\":[1]}",
              "ERR: The JSONPath '$.no_such_jsonpath' specified for the field "
              "'value.$' could not be found in the input "
              "'{\"a\":1,\"b\":[1]}'");
  EXPECT_TMPL("{\"n\":{\"v.$\":\"$$.Execution.Input.nope\"}}", "{}",
              "ERR: The JSONPath '$$.Execution.Input.nope' specified for the "
              "field 'v.$' could not be found in the input '{}'");
  EXPECT_TMPL("{\"f.$\":\"States.Format('{}', $.missing)\"}", "{}",
              "ERR: The JSONPath '$.missing' specified for the field 'f.$' "
              "could not be found in the input '{}'");
}

SW_TEST(paths_template__compile_errors)
{
  EXPECT_TMPL("{\"a\":1,\"a.$\":\"$.x\"}", "{}",
              "ERR: field 'a.$': duplicate field name 'a' (fields 'a' and "
              "'a.$' are equal once '.$' is removed)");
  EXPECT_TMPL("{\"a.$\":5}", "{}",
              "ERR: field 'a.$': expected a string holding a path or an "
              "intrinsic function call");
  EXPECT_TMPL("{\"a.$\":\"States.Nope(1)\"}", "{}",
              "ERR: field 'a.$': invalid intrinsic function call "
              "'States.Nope(1)' at offset 7: unknown intrinsic function");
  EXPECT_TMPL("{\"a.$\":\"States.ArrayLength(1, 2)\"}", "{}",
              "ERR: field 'a.$': invalid intrinsic function call "
              "'States.ArrayLength(1, 2)': States.ArrayLength takes 1 "
              "argument, not 2");
}

SW_TEST(paths_intrinsics__format_and_json)
{
  EXPECT_FN("States.Format('Hello {}, you are {}', $.n, $.age)",
            "{\"n\":\"Ann\",\"age\":7}", "\"Hello Ann, you are 7\"");
  EXPECT_FN("States.Format('x\\\\{\\\\}{} \\\\'q\\\\' \\\\\\\\', $.o)",
            "{\"o\":{\"a\":1,\"b\":[true,null]}}",
            "\"x{}{a=1, b=[true, null]} 'q' \\\\\"");
  EXPECT_FN_ERR("States.Format('{} {}', 1)", "{}",
            "States.Format: the template has more placeholders '{}' "
            "than there are arguments");
  EXPECT_FN("States.StringToJson($.s)", "{\"s\":\"{\\\"a\\\":[1]}\"}",
            "{\"a\":[1]}");
  EXPECT_FN("States.StringToJson('')", "{}", "null");
  EXPECT_FN("States.JsonToString($.o)", "{\"o\":{\"a\":[1,\"b\"]}}",
            "\"{\\\"a\\\":[1,\\\"b\\\"]}\"");
  EXPECT_FN("States.JsonMerge($.a, $.b, false)",
            "{\"a\":{\"x\":1,\"y\":{\"p\":1}},\"b\":{\"y\":{\"q\":2},\"z\":3}}",
            "{\"x\":1,\"y\":{\"q\":2},\"z\":3}");
  EXPECT_FN_ERR("States.JsonMerge($.a, $.a, true)", "{\"a\":{}}",
            "States.JsonMerge: only the shallow merging mode is "
            "supported; the third argument must be false");
}

SW_TEST(paths_intrinsics__arrays)
{
  EXPECT_FN("States.Array(1, 'two', $.t, null, States.Array())",
            "{\"t\":true}", "[1,\"two\",true,null,[]]");
  EXPECT_FN("States.ArrayPartition($.a, 2)", "{\"a\":[1,2,3,4,5]}",
            "[[1,2],[3,4],[5]]");
  EXPECT_FN("States.ArrayContains($.a, $.v)",
            "{\"a\":[1,{\"k\":2}],\"v\":{\"k\":2}}", "true");
  EXPECT_FN("States.ArrayRange(1, 9, 2)", "{}", "[1,3,5,7,9]");
  EXPECT_FN_ERR("States.ArrayRange(0, 1000, 1)", "{}",
            "States.ArrayRange: the result would have 1001 items; at "
            "most 1000 are allowed");
  EXPECT_FN("States.ArrayGetItem($.a, 1)", "{\"a\":[\"x\",\"y\"]}", "\"y\"");
  EXPECT_FN_ERR("States.ArrayGetItem($.a, 5)", "{\"a\":[]}",
            "States.ArrayGetItem: the index is out of bounds");
  EXPECT_FN("States.ArrayLength($.a)", "{\"a\":[1,2,3]}", "3");
  EXPECT_FN("States.ArrayUnique($.a)", "{\"a\":[1,2,1,{\"x\":1},{\"x\":1}]}",
            "[1,2,{\"x\":1}]");
  EXPECT_FN("States.ArrayLength(States.ArrayUnique(States.ArrayPartition("
            "States.ArrayRange(1, 6, 1), 2)))",
            "{}", "3");
}

SW_TEST(paths_intrinsics__encoding_hash_math_strings)
{
  EXPECT_FN("States.Base64Encode('Data to encode')", "{}",
            "\"RGF0YSB0byBlbmNvZGU=\"");
  EXPECT_FN("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", "{}",
            "\"Data to encode\"");
  EXPECT_FN("States.Base64Decode('YQ==')", "{}", "\"a\"");
  EXPECT_FN("States.Hash('input data', 'SHA-1')", "{}",
            "\"aaff4a450a104cd177d28d18d74485e8cae074b7\"");
  EXPECT_FN("States.Hash('input data', 'MD5')", "{}",
            "\"812f45842bc6d66ee14572ce20db8e86\"");
  EXPECT_FN_ERR("States.Hash('x', 'SHA-3')", "{}",
            "States.Hash: the algorithm must be one of MD5, SHA-1, "
            "SHA-256, SHA-384, SHA-512");
  EXPECT_FN("States.MathAdd($.a, -3)", "{\"a\":10}", "7");
  /* AWS truncates a non-integer argument (recorded: 59 + 4.3 = 63). */
  EXPECT_FN("States.MathAdd($.a, 1)", "{\"a\":1.5}", "2");
  EXPECT_FN_ERR("States.MathAdd($.a, 1)", "{\"a\":\"x\"}",
            "States.MathAdd: both arguments must be integers");
  EXPECT_FN("States.StringSplit('a,b, c', ',')", "{}",
            "[\"a\",\"b\",\" c\"]");
}

SW_TEST(paths_intrinsics__limits_and_random)
{
  sw_buf b = SW_BUF_INIT(0);
  cJSON *in = NULL, *out = NULL;
  sw_eval_env env = {NULL, NULL, NULL};
  sw_err err = SW_ERR_INIT;
  int i;

  for (i = 0; i < 10001; i++)
    SW_ASSERT_OK(sw_buf_puts(&b, "a", &err));
  in = cJSON_CreateObject();
  cJSON_AddStringToObject(in, "s", b.ptr);
  sw_buf_dispose(&b);
  env.input = in;
  SW_ASSERT_ERR(sw_intrinsic_eval(&out, "States.Base64Encode($.s)", &env,
                                  &err),
                SW_ELIMIT);
  SW_ASSERT_OK(sw_intrinsic_eval(&out, "States.MathRandom(5, 8)", &env,
                                 &err));
  SW_ASSERT(out->valuedouble >= 5 && out->valuedouble < 8);
  cJSON_Delete(out);
  SW_ASSERT_OK(sw_intrinsic_eval(&out, "States.UUID()", &env, &err));
  SW_ASSERT(cJSON_IsString(out) && strlen(out->valuestring) == 36);
  cJSON_Delete(out);
  SW_ASSERT_ERR(sw_intrinsic_eval_field(&out, "States.Format($.nope)", "Cause"
                                        "Path", &env, &err),
                SW_ENOTFOUND);
  SW_ASSERT_STR_CONTAINS(err.msg, "The JSONPath '$.nope' specified for the "
                                  "field 'CausePath' could not be found");
  /* Eleven nested calls exceed AWS's limit of ten. */
  SW_ASSERT_ERR(sw_intrinsic_eval(&out,
                                  "States.Array(States.Array(States.Array("
                                  "States.Array(States.Array(States.Array("
                                  "States.Array(States.Array(States.Array("
                                  "States.Array(States.Array())))))))))))",
                                  &env, &err),
                SW_EINVAL);
  SW_ASSERT(sw_intrinsic_is_call("States.Format('x')"));
  SW_ASSERT(!sw_intrinsic_is_call("$.States"));
  cJSON_Delete(in);
}

/* Run every AWS-recorded case that is one JSONPath Pass state with
 * Parameters and nothing else, deterministically: the template's output
 * must equal the recorded output. */
SW_TEST(paths_template__conformance_pass_parameters)
{
  char *root = sw_asprintf("%s/reference/conformance/cases",
                           sw_test_shareddir());
  DIR *d = opendir(root);
  struct dirent *e;
  int ran = 0, failed = 0;

  if (!d) {
    sw_free(root);
    sw_test_skip("conformance cases not available");
    return;
  }
  while ((e = readdir(d))) {
    char *dir;
    cJSON *def = NULL, *in = NULL, *exp = NULL, *meta = NULL, *out = NULL;
    cJSON *ctx = NULL;
    const cJSON *states, *st, *params;
    sw_template *t = NULL;
    sw_err err = SW_ERR_INIT;
    sw_eval_env env;

    if (e->d_name[0] == '.')
      continue;
    dir = sw_asprintf("%s/%s", root, e->d_name);
    def = pt_case_file(dir, "definition");
    in = pt_case_file(dir, "input");
    exp = pt_case_file(dir, "expected");
    meta = pt_case_file(dir, "meta");
    states = sw_json_get(def, "States");
    st = states ? states->child : NULL;
    params = sw_json_get(st, "Parameters");
    if (!st || st->next || !params || sw_json_get(def, "QueryLanguage") ||
        sw_json_get(st, "InputPath") || sw_json_get(st, "OutputPath") ||
        sw_json_get(st, "ResultPath") ||
        strcmp(sw_json_get_str(st, "Type") ? sw_json_get_str(st, "Type") : "",
               "Pass") ||
        !cJSON_IsFalse(sw_json_get(meta, "nondeterministic")) ||
        strcmp(sw_json_get_str(exp, "status") ? sw_json_get_str(exp, "status")
                                              : "",
               "SUCCEEDED"))
      goto next;
    ctx = cJSON_CreateObject();
    cJSON_AddItemToObject(ctx, "Execution", cJSON_CreateObject());
    cJSON_AddItemToObject(sw_json_get(ctx, "Execution"), "Input",
                          sw_json_dup(in));
    env.input = in;
    env.context = ctx;
    env.variables = NULL;
    ran++;
    if (sw_template_compile(&t, params, &err) < 0 ||
        sw_template_eval(&out, t, &env, &err) < 0) {
      fprintf(stderr, "  %s: %s\n", e->d_name, err.msg);
      failed++;
    } else if (!cJSON_Compare(out, sw_json_get(exp, "output"), true)) {
      char *got = sw_json_print(out);
      char *want = sw_json_print(sw_json_get(exp, "output"));
      fprintf(stderr, "  %s: got %s, expected %s\n", e->d_name, got, want);
      sw_free(got);
      sw_free(want);
      failed++;
    }
  next:
    sw_template_free(t);
    cJSON_Delete(out);
    cJSON_Delete(ctx);
    cJSON_Delete(def);
    cJSON_Delete(in);
    cJSON_Delete(exp);
    cJSON_Delete(meta);
    sw_free(dir);
  }
  closedir(d);
  sw_free(root);
  SW_ASSERT(ran >= 40);
  SW_ASSERT_EQ(failed, 0);
}

/* Literal and nested-call arguments of the wrong type are rejected when
 * the template is compiled (validation), naming the argument. */
SW_TEST(paths_intrinsics__argument_types_at_compile_time)
{
  EXPECT_FN_ERR("States.MathAdd(1,'-1')", "{}",
                "field 'r.$': invalid intrinsic function call "
                "'States.MathAdd(1,'-1')': argument 2 of States.MathAdd must "
                "be an integer, not a string");
  EXPECT_FN_ERR("States.MathAdd(1.5, 1)", "{}",
                "field 'r.$': invalid intrinsic function call "
                "'States.MathAdd(1.5, 1)': argument 1 of States.MathAdd must "
                "be an integer, not a number");
  EXPECT_FN_ERR("States.ArrayLength(States.Format('{}', 1))", "{}",
                "field 'r.$': invalid intrinsic function call "
                "'States.ArrayLength(States.Format('{}', 1))': argument 1 of "
                "States.ArrayLength must be an array, not a string");
  EXPECT_FN_ERR("States.Array(States.MathAdd(true, 1))", "{}",
                "field 'r.$': invalid intrinsic function call "
                "'States.Array(States.MathAdd(true, 1))': argument 1 of "
                "States.MathAdd must be an integer, not a boolean");
  EXPECT_FN_ERR("States.JsonMerge($.a, 'x', false)", "{}",
                "field 'r.$': invalid intrinsic function call "
                "'States.JsonMerge($.a, 'x', false)': argument 2 of "
                "States.JsonMerge must be a JSON object, not a string");
  EXPECT_FN_ERR("States.Format(null)", "{}",
                "field 'r.$': invalid intrinsic function call "
                "'States.Format(null)': argument 1 of States.Format must be "
                "a string, not null");
  /* Paths and calls whose result type depends on the data are checked
   * when evaluated. */
  EXPECT_FN("States.MathAdd($.a, States.ArrayLength($.l))",
            "{\"a\":1,\"l\":[1,2]}", "3");
  EXPECT_FN("States.MathAdd(States.ArrayGetItem($.l, 0), 1)",
            "{\"l\":[4]}", "5");
  EXPECT_FN_ERR("States.MathAdd(States.ArrayGetItem($.l, 0), 1)",
                "{\"l\":[\"x\"]}",
                "States.MathAdd: both arguments must be integers");
}

/* ArrayUnique and ArrayContains compare deep values in linear time (not
 * cJSON_Compare, which takes 2^depth steps on nested objects), objects by
 * member name in any order. */
SW_TEST(paths_intrinsics__deep_equality_is_linear)
{
  sw_buf b = SW_BUF_INIT(0);
  char *call;
  int i;

  EXPECT_FN("States.ArrayUnique($.l)",
            "{\"l\":[{\"a\":1,\"b\":[1,2]},{\"b\":[1,2],\"a\":1},1,1.0,"
            "\"1\",{\"a\":1},[1,2],[2,1],null,null,true]}",
            "[{\"a\":1,\"b\":[1,2]},1,\"1\",{\"a\":1},[1,2],[2,1],null,"
            "true]");
  EXPECT_FN("States.ArrayContains($.l, $.v)",
            "{\"l\":[1,{\"x\":{\"y\":2,\"z\":3}}],\"v\":{\"x\":{\"z\":3,"
            "\"y\":2}}}",
            "true");
  EXPECT_FN("States.ArrayContains($.l, $.v)",
            "{\"l\":[{\"x\":1,\"y\":2}],\"v\":{\"x\":1}}", "false");
  /* 500 nested objects, twice: instant. */
  (void)sw_buf_puts(&b, "{\"d\":", NULL);
  for (i = 0; i < 500; i++)
    (void)sw_buf_puts(&b, "{\"a\":", NULL);
  (void)sw_buf_puts(&b, "1", NULL);
  for (i = 0; i < 500; i++)
    (void)sw_buf_puts(&b, "}", NULL);
  (void)sw_buf_puts(&b, "}", NULL);
  call = tmpl_text("{\"r.$\":\"States.ArrayLength(States.ArrayUnique("
                   "States.Array($.d, $.d, $.d.a)))\"}",
                   b.ptr);
  SW_ASSERT_STR_EQ(call, "{\"r\":2}");
  sw_free(call);
  sw_buf_dispose(&b);
}
