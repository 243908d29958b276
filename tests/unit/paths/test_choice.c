/* SPDX-License-Identifier: MIT */
/* Choice rules: operator semantics, compile errors with JSON Pointers, the
 * missing-Variable cause, and the AWS-recorded Choice cases. */
#include "sw_test.h"
#include "paths/paths.h"
#include "paths_test_util.h"

#include <stdlib.h>

/* 1 true, 0 false, -1 error (message in *msg_out when given). */
static int rule_result(const char *rule, const char *input, char *msg_out)
{
  cJSON *r = pt_json(rule), *in = pt_json(input);
  sw_eval_env env = {in, NULL, NULL};
  sw_rule *c = NULL;
  sw_err err = SW_ERR_INIT;
  bool v = false;
  int res;

  if (sw_rule_compile(&c, r, false, "/States/C/Choices/0", &err) < 0 ||
      sw_rule_eval(&v, c, &env, &err) < 0)
    res = -1;
  else
    res = v ? 1 : 0;
  if (msg_out)
    memcpy(msg_out, err.msg, sizeof(err.msg));
  sw_rule_free(c);
  cJSON_Delete(r);
  cJSON_Delete(in);
  return res;
}

#define EXPECT_RULE(rule, input, expected)                                     \
  do {                                                                         \
    int r_ = rule_result(rule, input, NULL);                                   \
    if (r_ != (expected)) {                                                    \
      sw_test_fail(__FILE__, __LINE__, "%s on %s: got %d, expected %d", rule, \
                   input, r_, expected);                                       \
      return;                                                                  \
    }                                                                          \
  } while (0)

SW_TEST(paths_choice__comparisons)
{
  EXPECT_RULE("{\"Variable\":\"$.s\",\"StringEquals\":\"a\"}", "{\"s\":\"a\"}",
              1);
  EXPECT_RULE("{\"Variable\":\"$.s\",\"StringLessThan\":\"b\"}",
              "{\"s\":\"a\"}", 1);
  EXPECT_RULE("{\"Variable\":\"$.s\",\"StringGreaterThanEquals\":\"b\"}",
              "{\"s\":\"a\"}", 0);
  EXPECT_RULE("{\"Variable\":\"$.s\",\"StringEquals\":\"1\"}", "{\"s\":1}", 0);
  EXPECT_RULE("{\"Variable\":\"$.n\",\"NumericEquals\":1}", "{\"n\":1.0}", 1);
  EXPECT_RULE("{\"Variable\":\"$.n\",\"NumericLessThanEquals\":1.5}",
              "{\"n\":1.5}", 1);
  EXPECT_RULE("{\"Variable\":\"$.n\",\"NumericGreaterThan\":1}",
              "{\"n\":\"5\"}", 0);
  EXPECT_RULE("{\"Variable\":\"$.b\",\"BooleanEquals\":false}",
              "{\"b\":false}", 1);
  EXPECT_RULE("{\"Variable\":\"$.t\",\"TimestampLessThan\":"
              "\"2016-03-14T01:59:00Z\"}",
              "{\"t\":\"2016-03-14T01:58:59.5Z\"}", 1);
  EXPECT_RULE("{\"Variable\":\"$.t\",\"TimestampEquals\":"
              "\"2016-03-14T01:59:00Z\"}",
              "{\"t\":\"2016-03-14T03:59:00+02:00\"}", 1);
  EXPECT_RULE("{\"Variable\":\"$.t\",\"TimestampEquals\":"
              "\"2016-03-14T01:59:00Z\"}",
              "{\"t\":\"not a time\"}", 0);
  EXPECT_RULE("{\"Variable\":\"$.a\",\"NumericLessThanPath\":\"$.b\"}",
              "{\"a\":1,\"b\":2}", 1);
  EXPECT_RULE("{\"Variable\":\"$.a\",\"StringEqualsPath\":\"$.b\"}",
              "{\"a\":\"x\",\"b\":\"x\"}", 1);
  EXPECT_RULE("{\"Variable\":\"$.a\",\"TimestampGreaterThanEqualsPath\":"
              "\"$.b\"}",
              "{\"a\":\"2020-01-01T00:00:00Z\",\"b\":\"2019-01-01T00:00:00Z\"}",
              1);
}

SW_TEST(paths_choice__string_matches)
{
  EXPECT_RULE("{\"Variable\":\"$.f\",\"StringMatches\":\"log-*.txt\"}",
              "{\"f\":\"log-2024.txt\"}", 1);
  EXPECT_RULE("{\"Variable\":\"$.f\",\"StringMatches\":\"log-*.txt\"}",
              "{\"f\":\"log-2024.csv\"}", 0);
  EXPECT_RULE("{\"Variable\":\"$.f\",\"StringMatches\":\"*\"}",
              "{\"f\":\"\"}", 1);
  EXPECT_RULE("{\"Variable\":\"$.f\",\"StringMatches\":\"a\\\\*b\"}",
              "{\"f\":\"a*b\"}", 1);
  EXPECT_RULE("{\"Variable\":\"$.f\",\"StringMatches\":\"a\\\\*b\"}",
              "{\"f\":\"axxb\"}", 0);
  EXPECT_RULE("{\"Variable\":\"$.f\",\"StringMatches\":\"*a*b*\"}",
              "{\"f\":\"xxaxxbxx\"}", 1);
}

SW_TEST(paths_choice__type_tests_and_combinators)
{
  EXPECT_RULE("{\"Variable\":\"$.x\",\"IsNull\":true}", "{\"x\":null}", 1);
  EXPECT_RULE("{\"Variable\":\"$.x\",\"IsPresent\":true}", "{\"x\":null}", 1);
  EXPECT_RULE("{\"Variable\":\"$.y\",\"IsPresent\":true}", "{\"x\":null}", 0);
  EXPECT_RULE("{\"Variable\":\"$.y\",\"IsPresent\":false}", "{}", 1);
  EXPECT_RULE("{\"Variable\":\"$.x\",\"IsNumeric\":false}", "{\"x\":\"1\"}",
              1);
  EXPECT_RULE("{\"Variable\":\"$.x\",\"IsString\":true}", "{\"x\":\"1\"}", 1);
  EXPECT_RULE("{\"Variable\":\"$.x\",\"IsBoolean\":true}", "{\"x\":true}", 1);
  EXPECT_RULE("{\"Variable\":\"$.x\",\"IsTimestamp\":true}",
              "{\"x\":\"2016-03-14T01:59:00Z\"}", 1);
  EXPECT_RULE("{\"And\":[{\"Variable\":\"$.a\",\"NumericGreaterThan\":1},"
              "{\"Not\":{\"Variable\":\"$.b\",\"StringEquals\":\"x\"}}]}",
              "{\"a\":2,\"b\":\"y\"}", 1);
  EXPECT_RULE("{\"Or\":[{\"Variable\":\"$.a\",\"NumericGreaterThan\":5},"
              "{\"Variable\":\"$.b\",\"StringEquals\":\"x\"}]}",
              "{\"a\":2,\"b\":\"y\"}", 0);
  /* Or stops at the first true rule, so the missing $.zz is not read. */
  EXPECT_RULE("{\"Or\":[{\"Variable\":\"$.a\",\"IsPresent\":true},"
              "{\"Variable\":\"$.zz\",\"StringEquals\":\"x\"}]}",
              "{\"a\":2}", 1);
}

SW_TEST(paths_choice__missing_variable_is_an_error)
{
  char msg[SW_ERR_MSG_MAX];

  SW_ASSERT_EQ(rule_result("{\"Variable\":\"$.nope\",\"StringEquals\":\"x\"}",
                           "{}", msg),
               -1);
  SW_ASSERT_STR_EQ(msg, "Invalid path '$.nope': The choice state's condition "
                        "path references an invalid value.");
  SW_ASSERT_EQ(rule_result("{\"Variable\":\"$.nope\",\"IsNull\":true}", "{}",
                           msg),
               -1);
}

SW_TEST(paths_choice__compile_errors)
{
  char msg[SW_ERR_MSG_MAX];
  cJSON *r = pt_json("{\"Variable\":\"$.a\",\"StringEquals\":\"x\"}");
  sw_rule *c = NULL;
  sw_err err = SW_ERR_INIT;

  SW_ASSERT_EQ(rule_result("{\"Variable\":\"$.a\",\"NumericEquals\":\"1\"}",
                           "{}", msg),
               -1);
  SW_ASSERT_STR_EQ(msg, "/States/C/Choices/0/NumericEquals: expected a "
                        "number");
  SW_ASSERT_EQ(rule_result("{\"Variable\":\"$.a\"}", "{}", msg), -1);
  SW_ASSERT_STR_CONTAINS(msg, "/States/C/Choices/0: expected And, Or, Not");
  SW_ASSERT_EQ(rule_result("{\"And\":[]}", "{}", msg), -1);
  SW_ASSERT_STR_EQ(msg, "/States/C/Choices/0/And: expected a non-empty "
                        "array of rules");
  SW_ASSERT_EQ(rule_result("{\"Or\":[{\"Variable\":\"$.a\",\"IsNull\":1}]}",
                           "{}", msg),
               -1);
  SW_ASSERT_STR_EQ(msg, "/States/C/Choices/0/Or/0/IsNull: expected true or "
                        "false");
  SW_ASSERT_EQ(rule_result("{\"Variable\":\"$.a\",\"StringEquals\":\"x\","
                           "\"NumericEquals\":1}",
                           "{}", msg),
               -1);
  SW_ASSERT_STR_CONTAINS(msg, "expected exactly one comparison operator");
  SW_ASSERT_EQ(rule_result("{\"Variable\":\"$.a\",\"TimestampEquals\":"
                           "\"yesterday\"}",
                           "{}", msg),
               -1);
  SW_ASSERT_STR_CONTAINS(msg, "/TimestampEquals: expected an RFC 3339");
  SW_ASSERT_EQ(rule_result("{\"Not\":{\"Variable\":\"$.a\",\"IsNull\":true,"
                           "\"Next\":\"X\"}}",
                           "{}", msg),
               -1);
  SW_ASSERT_STR_EQ(msg, "/States/C/Choices/0/Not/Next: expected no Next in a "
                        "nested Choice rule");
  /* A top-level rule needs Next. */
  SW_ASSERT_ERR(sw_rule_compile(&c, r, true, "/States/C/Choices/3", &err),
                SW_EINVAL);
  SW_ASSERT_STR_EQ(err.msg, "/States/C/Choices/3/Next: expected the name of "
                            "the next state");
  cJSON_Delete(r);
}

/* Every AWS-recorded case that starts with a Choice state whose targets
 * are Pass states with a literal Result: pick the target like the engine
 * will and compare that Result with the recorded output. */
SW_TEST(paths_choice__conformance_cases)
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
    cJSON *def = NULL, *in = NULL, *exp = NULL;
    const cJSON *states, *st, *choice, *target;
    const char *next = NULL;
    sw_eval_env env;
    int idx = 0;
    bool bad = false;

    if (e->d_name[0] == '.')
      continue;
    dir = sw_asprintf("%s/%s", root, e->d_name);
    def = pt_case_file(dir, "definition");
    states = sw_json_get(def, "States");
    st = sw_json_get(states, sw_json_get_str(def, "StartAt")
                                 ? sw_json_get_str(def, "StartAt")
                                 : "");
    if (!st || sw_json_get(def, "QueryLanguage") ||
        sw_json_get(st, "QueryLanguage") ||
        strcmp(sw_json_get_str(st, "Type") ? sw_json_get_str(st, "Type") : "",
               "Choice") ||
        sw_json_get(st, "InputPath"))
      goto next_case;
    in = pt_case_file(dir, "input");
    exp = pt_case_file(dir, "expected");
    env.input = in;
    env.context = NULL;
    env.variables = NULL;
    cJSON_ArrayForEach(choice, sw_json_get(st, "Choices"))
    {
      sw_rule *r = NULL;
      sw_err err = SW_ERR_INIT;
      char *ptr = sw_asprintf("/States/%s/Choices/%d",
                              sw_json_get_str(def, "StartAt"), idx++);
      bool v = false;

      if (sw_rule_compile(&r, choice, true, ptr, &err) < 0 ||
          sw_rule_eval(&v, r, &env, &err) < 0) {
        fprintf(stderr, "  %s: %s\n", e->d_name, err.msg);
        bad = true;
      }
      sw_rule_free(r);
      sw_free(ptr);
      if (bad || v) {
        next = bad ? NULL : sw_json_get_str(choice, "Next");
        break;
      }
    }
    if (!bad && !next)
      next = sw_json_get_str(st, "Default");
    target = next ? sw_json_get(states, next) : NULL;
    if (!bad && (!sw_json_get(target, "Result") ||
                 sw_json_get(target, "ResultPath") ||
                 !cJSON_IsTrue(sw_json_get(target, "End"))))
      goto next_case;
    ran++;
    if (bad || !cJSON_Compare(sw_json_get(target, "Result"),
                              sw_json_get(exp, "output"), true)) {
      fprintf(stderr, "  %s: went to %s\n", e->d_name, next ? next : "-");
      failed++;
    }
  next_case:
    cJSON_Delete(def);
    cJSON_Delete(in);
    cJSON_Delete(exp);
    sw_free(dir);
  }
  closedir(d);
  sw_free(root);
  SW_ASSERT(ran >= 20);
  SW_ASSERT_EQ(failed, 0);
}
