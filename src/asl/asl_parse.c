/* SPDX-License-Identifier: MIT */
/* asl parse: builds the immutable definition model from ASL JSON (JSONPath
 * query language), checking every field as it goes; the first problem ends
 * the parse with one "NAME: POINTER: expected ..." line. JSONata and
 * distributed Map are rejected as "not supported yet".
 *
 * Decisions (where the spec is silent, we follow asl-validator and AWS):
 * - State names are unique across the whole definition, nested branches
 *   and processors included (spec text; asl-validator), and every state
 *   must be reachable from its machine's StartAt.
 * - Unknown and duplicate fields are errors, per state type.
 * - Task Resource must look like an ARN; a CloudFormation "${...}"
 *   substitution is accepted (it is resolved at deploy time), a
 *   {"Fn::GetAtt": ...} object is not supported yet.
 * - JSONPath Assign (state, Choice rule, catcher) is compiled as a payload
 *   template; ResultPath may not name a variable.
 * - Distributed-only Map fields are validated, then rejected. */
#include "asl/asl.h"
#include "asl/asl_int.h"

#include <limits.h>
#include <string.h>

typedef enum machine_kind {
  MK_TOP,       /* the definition itself */
  MK_BRANCH,    /* a Parallel branch */
  MK_PROCESSOR, /* a Map ItemProcessor */
  MK_ITERATOR   /* a Map Iterator (legacy ItemProcessor) */
} machine_kind;

static const char *const top_fields[] = {
    "StartAt", "States",         "Comment", "Version",
    "TimeoutSeconds", "QueryLanguage", NULL};
static const char *const branch_fields[] = {"StartAt", "States", "Comment",
                                            "QueryLanguage", NULL};
/* AWS: ItemProcessor and Iterator may not declare QueryLanguage. AWS also
 * accepts ProcessorConfig inside a legacy Iterator (recorded case
 * map_state_legacy_config_inline), with the same INLINE / DISTRIBUTED
 * meaning as in ItemProcessor. */
static const char *const processor_fields[] = {"StartAt", "States", "Comment",
                                               "ProcessorConfig", NULL};
static const char *const iterator_fields[] = {"StartAt", "States", "Comment",
                                              "ProcessorConfig", NULL};

/* Fields allowed per state type, JSONPath mode (asl-semantics.md §3). */
static const char *const pass_fields[] = {
    "Type",       "Comment",    "QueryLanguage", "Next",   "End",
    "InputPath",  "OutputPath", "Parameters",    "Result", "ResultPath",
    "Assign",     NULL};
static const char *const task_fields[] = {
    "Type",           "Comment",
    "QueryLanguage",  "Next",
    "End",            "InputPath",
    "OutputPath",     "Parameters",
    "ResultSelector", "ResultPath",
    "Retry",          "Catch",
    "Resource",       "TimeoutSeconds",
    "TimeoutSecondsPath", "HeartbeatSeconds",
    "HeartbeatSecondsPath", "Credentials",
    "Assign",         NULL};
static const char *const choice_fields[] = {
    "Type",       "Comment", "QueryLanguage", "InputPath",
    "OutputPath", "Choices", "Default",       "Assign", NULL};
static const char *const wait_fields[] = {
    "Type",       "Comment",    "QueryLanguage", "Next",
    "End",        "InputPath",  "OutputPath",    "Seconds",
    "SecondsPath", "Timestamp", "TimestampPath", "Assign", NULL};
static const char *const succeed_fields[] = {
    "Type", "Comment", "QueryLanguage", "InputPath", "OutputPath", NULL};
static const char *const fail_fields[] = {
    "Type",  "Comment",   "QueryLanguage", "Error",
    "ErrorPath", "Cause", "CausePath",     NULL};
static const char *const parallel_fields[] = {
    "Type",       "Comment",        "QueryLanguage", "Next",
    "End",        "InputPath",      "OutputPath",    "Parameters",
    "ResultSelector", "ResultPath", "Retry",         "Catch",
    "Branches",   "Assign",         NULL};
static const char *const map_fields[] = {
    "Type",
    "Comment",
    "QueryLanguage",
    "Next",
    "End",
    "InputPath",
    "OutputPath",
    "Parameters",
    "ItemSelector",
    "ResultSelector",
    "ResultPath",
    "Retry",
    "Catch",
    "ItemsPath",
    "ItemProcessor",
    "Iterator",
    "MaxConcurrency",
    "MaxConcurrencyPath",
    "Assign",
    /* Distributed mode: checked, then rejected as not supported yet. */
    "ItemReader",
    "ItemBatcher",
    "ResultWriter",
    "Label",
    "ToleratedFailurePercentage",
    "ToleratedFailurePercentagePath",
    "ToleratedFailureCount",
    "ToleratedFailureCountPath",
    NULL};
static const char *const retrier_fields[] = {
    "ErrorEquals",     "IntervalSeconds", "MaxAttempts", "BackoffRate",
    "MaxDelaySeconds", "JitterStrategy",  "Comment",     NULL};
static const char *const catcher_fields[] = {
    "ErrorEquals", "Next", "ResultPath", "Comment", "Assign", NULL};
static const char *const processor_config_fields[] = {"Mode", "ExecutionType",
                                                      NULL};

static const struct state_kind {
  const char *name;
  sw_state_type type;
  const char *const *fields;
  const char *where; /* for "field not allowed in ..." */
} state_kinds[] = {
    {"Pass", SW_STATE_PASS, pass_fields, "a Pass state"},
    {"Task", SW_STATE_TASK, task_fields, "a Task state"},
    {"Choice", SW_STATE_CHOICE, choice_fields, "a Choice state"},
    {"Wait", SW_STATE_WAIT, wait_fields, "a Wait state"},
    {"Succeed", SW_STATE_SUCCEED, succeed_fields, "a Succeed state"},
    {"Fail", SW_STATE_FAIL, fail_fields, "a Fail state"},
    {"Parallel", SW_STATE_PARALLEL, parallel_fields, "a Parallel state"},
    {"Map", SW_STATE_MAP, map_fields, "a Map state"},
};

const char *sw_state_type_name(sw_state_type t)
{
  size_t i;

  for (i = 0; i < SW_ARRAY_SIZE(state_kinds); i++)
    if (state_kinds[i].type == t)
      return state_kinds[i].name;
  return "Unknown";
}

static int parse_machine(sw__asl_ctx *c, const cJSON *js, const char *ptr,
                         machine_kind kind, sw_asl_machine **out);
static void machine_free(sw_asl_machine *m);

/* ---- freeing ---------------------------------------------------------- */

static void state_dispose(sw_asl_state *s)
{
  size_t i;

  sw_free((char *)s->pointer);
  sw_path_free(s->input_path);
  sw_path_free(s->output_path);
  sw_path_free(s->result_path);
  sw_template_free(s->parameters);
  sw_template_free(s->result_selector);
  sw_template_free(s->assign);
  sw_path_free(s->timeout_path);
  sw_path_free(s->heartbeat_path);
  sw_template_free(s->credentials);
  for (i = 0; i < s->n_retry; i++)
    sw_free(s->retry[i].error_equals);
  sw_free(s->retry);
  for (i = 0; i < s->n_catch; i++) {
    sw_free(s->catchers[i].error_equals);
    sw_path_free(s->catchers[i].result_path);
    sw_template_free(s->catchers[i].assign);
  }
  sw_free(s->catchers);
  for (i = 0; i < s->n_choices; i++) {
    sw_rule_free(s->choices[i].rule);
    sw_template_free(s->choices[i].assign);
  }
  sw_free(s->choices);
  sw_path_free(s->seconds_path);
  sw_path_free(s->timestamp_path);
  sw_path_free(s->error_path);
  sw_path_free(s->cause_path);
  for (i = 0; i < s->n_branches; i++)
    machine_free(s->branches[i]);
  sw_free(s->branches);
  machine_free(s->iterator);
  sw_path_free(s->items_path);
  sw_path_free(s->max_concurrency_path);
  sw_path_free(s->tolerated_count_path);
  sw_path_free(s->tolerated_percent_path);
}

static void machine_free(sw_asl_machine *m)
{
  size_t i;

  if (!m)
    return;
  for (i = 0; i < m->n_states; i++)
    state_dispose(&m->states[i]);
  sw_free(m->states);
  sw_free((char *)m->pointer);
  sw_free(m);
}

void sw_asl_free(sw_asl_definition *def)
{
  if (!def)
    return;
  machine_free(def->root);
  cJSON_Delete(def->doc);
  sw_free(def->name);
  sw_free(def->comment);
  sw_free(def);
}

/* ---- small helpers ---------------------------------------------------- */

/* Fail with "WHAT takes at most one of A, B" when obj has both. */
static int at_most_one(sw__asl_ctx *c, const cJSON *obj, const char *ptr,
                       const char *what, const char *a, const char *b)
{
  if (sw_json_get(obj, a) && sw_json_get(obj, b))
    return sw__asl_fail(c, ptr, "%s takes at most one of %s, %s", what, a, b);
  return 0;
}

/* Fail at ptr/key with msg (convenience for one-off messages). */
static int fail_at(sw__asl_ctx *c, const char *ptr, const char *key,
                   const char *msg)
{
  char *fp = sw__asl_ptr(ptr, key);
  int rc = sw__asl_fail(c, fp, "%s", msg);

  sw_free(fp);
  return rc;
}

/* Fail unless obj[key], when present, is an object. */
static int want_object(sw__asl_ctx *c, const cJSON *obj, const char *ptr,
                       const char *key, const cJSON **out)
{
  const cJSON *v = sw_json_get(obj, key);

  *out = v;
  if (v && !cJSON_IsObject(v))
    return fail_at(c, ptr, key, "expected an object");
  return 0;
}

/* ErrorEquals: a non-empty array of error-name strings. States.ALL must be
 * alone (ASL). The array of borrowed strings is owned by the caller. */
static int parse_error_equals(sw__asl_ctx *c, const cJSON *obj,
                              const char *ptr, char ***out, size_t *n_out,
                              bool *has_all)
{
  const cJSON *v = sw_json_get(obj, "ErrorEquals");
  char *fp = NULL, *ip = NULL;
  size_t i, n;
  int rc = 0;

  *out = NULL;
  *n_out = 0;
  *has_all = false;
  if (!v)
    return sw__asl_fail(c, ptr, "missing required field ErrorEquals");
  fp = sw__asl_ptr(ptr, "ErrorEquals");
  if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
    rc = sw__asl_fail(c, fp, "expected a non-empty array of error names");
    goto done;
  }
  n = (size_t)cJSON_GetArraySize(v);
  *out = sw_calloc(n, sizeof(**out));
  *n_out = n;
  for (i = 0; i < n; i++) {
    const cJSON *e = cJSON_GetArrayItem(v, (int)i);
    if (!cJSON_IsString(e)) {
      ip = sw__asl_ptr_index(fp, i);
      rc = sw__asl_fail(c, ip, "expected an error name string");
      goto done;
    }
    (*out)[i] = e->valuestring;
    if (strcmp(e->valuestring, "States.ALL") == 0)
      *has_all = true;
  }
  /* ASL: "States.ALL" must appear alone in its ErrorEquals array. */
  if (*has_all && n > 1)
    rc = sw__asl_fail(c, fp,
                      "States.ALL must be the only error name in "
                      "ErrorEquals");

done:
  sw_free(fp);
  sw_free(ip);
  return rc;
}

/* ResultPath: a Reference Path into the state input, or null. A variable
 * ("$name") is a Path elsewhere but cannot be assigned through ResultPath
 * (asl-validator: invalid-variable-result-path). */
static int get_result_path(sw__asl_ctx *c, const cJSON *js, const char *ptr,
                           sw_path **out, bool *is_null)
{
  const cJSON *v = sw_json_get(js, "ResultPath");

  if (cJSON_IsString(v) && v->valuestring[0] == '$' &&
      v->valuestring[1] != '\0' && v->valuestring[1] != '.' &&
      v->valuestring[1] != '[') {
    *out = NULL;
    *is_null = false;
    return fail_at(c, ptr, "ResultPath",
                   "expected a reference path into the state input, such "
                   "as \"$.result\" (variables are set with Assign)");
  }
  return sw__asl_get_path(c, js, ptr, "ResultPath", SW_PATH_REFERENCE, true,
                          out, is_null);
}

/* ---- Retry and Catch -------------------------------------------------- */

static int parse_retrier(sw__asl_ctx *c, const cJSON *js, const char *ptr,
                         sw_asl_retrier *r, bool *has_all)
{
  const cJSON *v;
  int64_t n = 0;
  bool present;
  int rc;

  r->interval_s = 1;
  r->max_attempts = 3;
  r->backoff_rate = 2.0;
  r->max_delay_s = 0;
  r->jitter_full = false;
  if (!cJSON_IsObject(js))
    return sw__asl_fail(c, ptr, "expected a retrier object");
  rc = sw__asl_check_fields(c, js, ptr, retrier_fields, "a retrier");
  if (rc == 0)
    rc = parse_error_equals(c, js, ptr, &r->error_equals, &r->n_error_equals,
                            has_all);
  if (rc == 0)
    rc = sw__asl_get_int(c, js, ptr, "IntervalSeconds", 1, SW_ASL_SECONDS_MAX,
                         "expected a positive integer", &n, &present);
  if (rc == 0 && present)
    r->interval_s = (double)n;
  if (rc == 0)
    rc = sw__asl_get_int(c, js, ptr, "MaxAttempts", 0, SW_ASL_SECONDS_MAX,
                         "expected a non-negative integer", &n, &present);
  if (rc == 0 && present)
    r->max_attempts = (int)n;
  if (rc == 0 && (v = sw_json_get(js, "BackoffRate")) != NULL) {
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1.0))
      return fail_at(c, ptr, "BackoffRate", "expected a number >= 1.0");
    r->backoff_rate = v->valuedouble;
  }
  if (rc == 0)
    rc = sw__asl_get_int(c, js, ptr, "MaxDelaySeconds", 1,
                         SW_ASL_MAX_DELAY_MAX,
                         "expected a positive integer", &n, &present);
  if (rc == 0 && present)
    r->max_delay_s = (double)n;
  if (rc == 0 && (v = sw_json_get(js, "JitterStrategy")) != NULL) {
    if (cJSON_IsString(v) && strcmp(v->valuestring, "FULL") == 0)
      r->jitter_full = true;
    else if (!cJSON_IsString(v) || strcmp(v->valuestring, "NONE") != 0)
      return fail_at(c, ptr, "JitterStrategy",
                     "expected \"FULL\" or \"NONE\"");
  }
  if (rc == 0 && (v = sw_json_get(js, "Comment")) && !cJSON_IsString(v))
    rc = fail_at(c, ptr, "Comment", "expected a string");
  return rc;
}

static int parse_catcher(sw__asl_ctx *c, const cJSON *js, const char *ptr,
                         sw_asl_catcher *k, bool *has_all)
{
  const cJSON *v;
  int rc;

  k->next_index = -1;
  if (!cJSON_IsObject(js))
    return sw__asl_fail(c, ptr, "expected a catcher object");
  rc = sw__asl_check_fields(c, js, ptr, catcher_fields, "a catcher");
  if (rc == 0)
    rc = parse_error_equals(c, js, ptr, &k->error_equals, &k->n_error_equals,
                            has_all);
  if (rc < 0)
    return rc;
  v = sw_json_get(js, "Next");
  if (!v)
    return sw__asl_fail(c, ptr, "missing required field Next");
  if (!cJSON_IsString(v))
    return fail_at(c, ptr, "Next", "expected a state name string");
  k->next = v->valuestring;
  rc = get_result_path(c, js, ptr, &k->result_path, &k->result_path_null);
  if (rc == 0)
    rc = sw__asl_get_template(c, js, ptr, "Assign", false, &k->assign);
  if (rc == 0 && (v = sw_json_get(js, "Comment")) && !cJSON_IsString(v))
    rc = fail_at(c, ptr, "Comment", "expected a string");
  return rc;
}

/* Retry and Catch arrays; a States.ALL entry must be the last one. */
static int parse_retry_catch(sw__asl_ctx *c, const cJSON *js, sw_asl_state *s)
{
  const cJSON *arr;
  char *ap = NULL, *ip = NULL;
  size_t i, n;
  bool all = false;
  int rc = 0;

  if ((arr = sw_json_get(js, "Retry")) != NULL) {
    ap = sw__asl_ptr(s->pointer, "Retry");
    if (!cJSON_IsArray(arr)) {
      rc = sw__asl_fail(c, ap, "expected an array of retriers");
      goto done;
    }
    n = (size_t)cJSON_GetArraySize(arr);
    s->retry = sw_calloc(n ? n : 1, sizeof(*s->retry));
    for (i = 0; i < n; i++) {
      ip = sw__asl_ptr_index(ap, i);
      s->n_retry = i + 1;
      rc = parse_retrier(c, cJSON_GetArrayItem(arr, (int)i), ip,
                         &s->retry[i], &all);
      if (rc == 0 && all && i + 1 < n)
        rc = sw__asl_fail(c, ip,
                          "a retrier with States.ALL must be the last one");
      if (rc < 0)
        goto done;
      sw_free(ip);
      ip = NULL;
    }
    sw_free(ap);
    ap = NULL;
  }
  if ((arr = sw_json_get(js, "Catch")) != NULL) {
    ap = sw__asl_ptr(s->pointer, "Catch");
    if (!cJSON_IsArray(arr)) {
      rc = sw__asl_fail(c, ap, "expected an array of catchers");
      goto done;
    }
    n = (size_t)cJSON_GetArraySize(arr);
    s->catchers = sw_calloc(n ? n : 1, sizeof(*s->catchers));
    for (i = 0; i < n; i++) {
      ip = sw__asl_ptr_index(ap, i);
      s->n_catch = i + 1;
      rc = parse_catcher(c, cJSON_GetArrayItem(arr, (int)i), ip,
                         &s->catchers[i], &all);
      if (rc == 0 && all && i + 1 < n)
        rc = sw__asl_fail(c, ip,
                          "a catcher with States.ALL must be the last one");
      if (rc < 0)
        goto done;
      sw_free(ip);
      ip = NULL;
    }
  }

done:
  sw_free(ap);
  sw_free(ip);
  return rc;
}

/* ---- state types ------------------------------------------------------ */

static int parse_task(sw__asl_ctx *c, const cJSON *js, sw_asl_state *s)
{
  const char *p = s->pointer;
  const cJSON *v = sw_json_get(js, "Resource");
  bool present;
  int rc;

  if (!v)
    return sw__asl_fail(c, p, "Task state needs Resource");
  /* CloudFormation intrinsics ({"Fn::GetAtt": ...}, {"Ref": ...}) are
   * resolved at deploy time; we have nothing to run until then. */
  if (cJSON_IsObject(v))
    return fail_at(c, p, "Resource",
                   "CloudFormation intrinsic functions are not supported "
                   "yet; expected a resource ARN string");
  if (!cJSON_IsString(v))
    return fail_at(c, p, "Resource", "expected a resource ARN string");
  if (!sw__asl_resource_ok(v->valuestring)) {
    char *fp = sw__asl_ptr(p, "Resource");
    rc = sw__asl_fail(c, fp,
                      "expected a resource ARN "
                      "(arn:PARTITION:SERVICE:REGION:ACCOUNT:TYPE:NAME), "
                      "got \"%s\"",
                      v->valuestring);
    sw_free(fp);
    return rc;
  }
  s->resource = v->valuestring;
  rc = at_most_one(c, js, p, "Task state", "TimeoutSeconds",
                   "TimeoutSecondsPath");
  if (rc == 0)
    rc = at_most_one(c, js, p, "Task state", "HeartbeatSeconds",
                     "HeartbeatSecondsPath");
  if (rc == 0)
    rc = sw__asl_get_int(c, js, p, "TimeoutSeconds", 1, SW_ASL_SECONDS_MAX,
                         "expected a positive integer", &s->timeout_s,
                         &present);
  if (rc == 0)
    rc = sw__asl_get_path(c, js, p, "TimeoutSecondsPath", SW_PATH_REFERENCE,
                          false, &s->timeout_path, NULL);
  if (rc == 0)
    rc = sw__asl_get_int(c, js, p, "HeartbeatSeconds", 1, SW_ASL_SECONDS_MAX,
                         "expected a positive integer", &s->heartbeat_s,
                         &present);
  if (rc == 0)
    rc = sw__asl_get_path(c, js, p, "HeartbeatSecondsPath",
                          SW_PATH_REFERENCE, false, &s->heartbeat_path, NULL);
  /* ASL: HeartbeatSeconds must be smaller than TimeoutSeconds. */
  if (rc == 0 && s->heartbeat_s > 0 && s->timeout_s > 0 &&
      s->heartbeat_s >= s->timeout_s)
    rc = fail_at(c, p, "HeartbeatSeconds",
                 "must be smaller than TimeoutSeconds");
  if (rc == 0)
    rc = sw__asl_get_template(c, js, p, "Credentials", false,
                              &s->credentials);
  return rc;
}

static int parse_choice(sw__asl_ctx *c, const cJSON *js, sw_asl_state *s)
{
  const char *p = s->pointer;
  const cJSON *arr = sw_json_get(js, "Choices");
  char *ap = NULL, *rp = NULL;
  size_t i, n;
  int rc = 0;

  if (!arr)
    return sw__asl_fail(c, p, "Choice state needs Choices");
  ap = sw__asl_ptr(p, "Choices");
  if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) {
    rc = sw__asl_fail(c, ap, "expected a non-empty array of Choice rules");
    goto done;
  }
  n = (size_t)cJSON_GetArraySize(arr);
  s->choices = sw_calloc(n, sizeof(*s->choices));
  for (i = 0; i < n; i++) {
    const cJSON *rule = cJSON_GetArrayItem(arr, (int)i);
    sw_asl_choice *ch = &s->choices[i];
    const cJSON *next;

    s->n_choices = i + 1;
    ch->next_index = -1;
    rp = sw__asl_ptr_index(ap, i);
    if (!cJSON_IsObject(rule)) {
      rc = sw__asl_fail(c, rp, "expected a Choice rule object");
      goto done;
    }
    rc = sw_rule_compile(&ch->rule, rule, true, rp, c->err);
    if (rc < 0) {
      ch->rule = NULL;
      rc = sw__asl_fail_from(c, NULL, rc);
      goto done;
    }
    next = sw_json_get(rule, "Next");
    if (!cJSON_IsString(next)) {
      rc = next ? fail_at(c, rp, "Next", "expected a state name string")
                : sw__asl_fail(c, rp, "a Choice rule needs Next");
      goto done;
    }
    ch->next = next->valuestring;
    rc = sw__asl_get_template(c, rule, rp, "Assign", false, &ch->assign);
    if (rc < 0)
      goto done;
    sw_free(rp);
    rp = NULL;
  }
  rc = sw__asl_get_str(c, js, p, "Default", &s->default_next);

done:
  sw_free(ap);
  sw_free(rp);
  return rc;
}

static int parse_wait(sw__asl_ctx *c, const cJSON *js, sw_asl_state *s)
{
  static const char *const keys[] = {"Seconds", "SecondsPath", "Timestamp",
                                     "TimestampPath"};
  const char *p = s->pointer;
  const cJSON *v;
  size_t i, given = 0;
  int rc;

  for (i = 0; i < SW_ARRAY_SIZE(keys); i++)
    given += sw_json_get(js, keys[i]) != NULL;
  if (given != 1)
    return sw__asl_fail(c, p,
                        "Wait state needs exactly one of Seconds, "
                        "SecondsPath, Timestamp, TimestampPath");
  rc = sw__asl_get_int(c, js, p, "Seconds", 0, SW_ASL_SECONDS_MAX,
                       "expected a non-negative integer", &s->seconds,
                       &s->has_seconds);
  if (rc == 0)
    rc = sw__asl_get_path(c, js, p, "SecondsPath", SW_PATH_REFERENCE, false,
                          &s->seconds_path, NULL);
  if (rc == 0)
    rc = sw__asl_get_path(c, js, p, "TimestampPath", SW_PATH_REFERENCE,
                          false, &s->timestamp_path, NULL);
  if (rc == 0 && (v = sw_json_get(js, "Timestamp")) != NULL) {
    if (!cJSON_IsString(v) ||
        sw_time_parse_rfc3339(&s->timestamp_ms, v->valuestring) < 0)
      return fail_at(c, p, "Timestamp",
                     "expected an RFC 3339 timestamp such as "
                     "\"2016-03-14T01:59:00Z\"");
    s->has_timestamp = true;
  }
  return rc;
}

/* Fail ErrorPath/CausePath: a Path, or an intrinsic function call that is
 * checked by compiling it as a one-field payload template. */
static int parse_fail_path(sw__asl_ctx *c, const cJSON *js, const char *p,
                           const char *key, sw_path **path,
                           const char **intrinsic)
{
  const cJSON *v = sw_json_get(js, key);
  cJSON *tmp = NULL;
  sw_template *t = NULL;
  char *fp = NULL, *tkey = NULL;
  int rc = 0;

  if (!v)
    return 0;
  fp = sw__asl_ptr(p, key);
  if (!cJSON_IsString(v)) {
    rc = sw__asl_fail(c, fp, "expected a path or an intrinsic function call");
    goto done;
  }
  if (sw_intrinsic_is_call(v->valuestring)) {
    tkey = sw_asprintf("%s.$", key);
    tmp = cJSON_CreateObject();
    if (!tmp || !cJSON_AddStringToObject(tmp, tkey, v->valuestring)) {
      rc = sw_err_set(c->err, SW_ENOMEM, SW_ORIGIN_ASL, 0, "out of memory");
      goto done;
    }
    rc = sw_template_compile(&t, tmp, c->err);
    if (rc < 0) {
      t = NULL;
      rc = sw__asl_fail_from(c, fp, rc);
      goto done;
    }
    *intrinsic = v->valuestring;
    goto done;
  }
  rc = sw_path_compile(path, v->valuestring, SW_PATH_PATH, c->err);
  if (rc < 0) {
    *path = NULL;
    rc = sw__asl_fail_from(c, fp, rc);
  }

done:
  sw_template_free(t);
  cJSON_Delete(tmp);
  sw_free(tkey);
  sw_free(fp);
  return rc;
}

static int parse_fail(sw__asl_ctx *c, const cJSON *js, sw_asl_state *s)
{
  const char *p = s->pointer;
  int rc;

  rc = at_most_one(c, js, p, "Fail state", "Error", "ErrorPath");
  if (rc == 0)
    rc = at_most_one(c, js, p, "Fail state", "Cause", "CausePath");
  if (rc == 0)
    rc = sw__asl_get_str(c, js, p, "Error", &s->error);
  if (rc == 0)
    rc = sw__asl_get_str(c, js, p, "Cause", &s->cause);
  if (rc == 0)
    rc = parse_fail_path(c, js, p, "ErrorPath", &s->error_path,
                         &s->error_path_intrinsic);
  if (rc == 0)
    rc = parse_fail_path(c, js, p, "CausePath", &s->cause_path,
                         &s->cause_path_intrinsic);
  return rc;
}

static int parse_parallel(sw__asl_ctx *c, const cJSON *js, sw_asl_state *s)
{
  const cJSON *arr = sw_json_get(js, "Branches");
  char *ap = NULL, *bp = NULL;
  size_t i, n;
  int rc = 0;

  if (!arr)
    return sw__asl_fail(c, s->pointer, "Parallel state needs Branches");
  ap = sw__asl_ptr(s->pointer, "Branches");
  if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) {
    rc = sw__asl_fail(c, ap, "expected a non-empty array of state machines");
    goto done;
  }
  n = (size_t)cJSON_GetArraySize(arr);
  s->branches = sw_calloc(n, sizeof(*s->branches));
  for (i = 0; i < n; i++) {
    const cJSON *b = cJSON_GetArrayItem(arr, (int)i);

    bp = sw__asl_ptr_index(ap, i);
    if (!cJSON_IsObject(b)) {
      rc = sw__asl_fail(c, bp, "expected an object with StartAt and States");
      goto done;
    }
    rc = parse_machine(c, b, bp, MK_BRANCH, &s->branches[i]);
    if (rc < 0)
      goto done;
    s->n_branches = i + 1;
    sw_free(bp);
    bp = NULL;
  }

done:
  sw_free(ap);
  sw_free(bp);
  return rc;
}

/* Distributed-only Map fields: check their own rules (so an invalid
 * definition gets the precise message), then reject the feature. */
static int reject_distributed(sw__asl_ctx *c, const cJSON *js,
                              sw_asl_state *s)
{
  static const char *const dist[] = {
      "ItemReader",   "ItemBatcher",
      "ResultWriter", "Label",
      "ToleratedFailurePercentage", "ToleratedFailurePercentagePath",
      "ToleratedFailureCount",      "ToleratedFailureCountPath"};
  const char *p = s->pointer;
  const cJSON *v, *obj, *cfg;
  char *fp = NULL, *cp = NULL;
  int64_t n = 0;
  bool present;
  size_t i;
  int rc;

  rc = at_most_one(c, js, p, "Map state", "ToleratedFailureCount",
                   "ToleratedFailureCountPath");
  if (rc == 0)
    rc = at_most_one(c, js, p, "Map state", "ToleratedFailurePercentage",
                     "ToleratedFailurePercentagePath");
  if (rc == 0)
    rc = sw__asl_get_int(c, js, p, "ToleratedFailureCount", 0, INT_MAX,
                         "expected a non-negative integer", &n, &present);
  if (rc == 0 && (v = sw_json_get(js, "ToleratedFailurePercentage")) &&
      (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 100))
    rc = fail_at(c, p, "ToleratedFailurePercentage",
                 "expected a number from 0 to 100");
  if (rc == 0)
    rc = want_object(c, js, p, "ItemBatcher", &obj);
  if (rc == 0 && obj) {
    fp = sw__asl_ptr(p, "ItemBatcher");
    rc = at_most_one(c, obj, fp, "ItemBatcher", "MaxItemsPerBatch",
                     "MaxItemsPerBatchPath");
    if (rc == 0)
      rc = at_most_one(c, obj, fp, "ItemBatcher", "MaxInputBytesPerBatch",
                       "MaxInputBytesPerBatchPath");
  }
  if (rc == 0)
    rc = want_object(c, js, p, "ItemReader", &obj);
  if (rc == 0 && obj) {
    sw_free(fp);
    fp = sw__asl_ptr(p, "ItemReader");
    rc = want_object(c, obj, fp, "ReaderConfig", &cfg);
    if (rc == 0 && cfg) {
      cp = sw__asl_ptr(fp, "ReaderConfig");
      rc = at_most_one(c, cfg, cp, "ReaderConfig", "MaxItems",
                       "MaxItemsPath");
    }
  }
  /* A distributed Map over an items array runs inline with its failure
   * tolerance; reading items from S3, batching and writing results to S3
   * are not supported yet. */
  for (i = 0; rc == 0 && i < 3; i++)
    if (sw_json_get(js, dist[i]))
      rc = fail_at(c, p, dist[i], "distributed Map is not supported yet");
  s->tolerated_count = -1;
  s->tolerated_percent = -1;
  if (rc == 0 && present)
    s->tolerated_count = n;
  if (rc == 0 && (v = sw_json_get(js, "ToleratedFailurePercentage")))
    s->tolerated_percent = v->valuedouble;
  if (rc == 0)
    rc = sw__asl_get_path(c, js, p, "ToleratedFailureCountPath",
                          SW_PATH_REFERENCE, false, &s->tolerated_count_path,
                          NULL);
  if (rc == 0)
    rc = sw__asl_get_path(c, js, p, "ToleratedFailurePercentagePath",
                          SW_PATH_REFERENCE, false,
                          &s->tolerated_percent_path, NULL);
  if (rc == 0 && (v = sw_json_get(js, "Label")) && !cJSON_IsString(v))
    rc = fail_at(c, p, "Label", "expected a string");
  sw_free(fp);
  sw_free(cp);
  return rc;
}

static int parse_processor_config(sw__asl_ctx *c, const cJSON *proc,
                                  const char *pp)
{
  const cJSON *cfg, *v;
  char *cp = NULL;
  int rc;

  rc = want_object(c, proc, pp, "ProcessorConfig", &cfg);
  if (rc < 0 || !cfg)
    return rc;
  cp = sw__asl_ptr(pp, "ProcessorConfig");
  rc = sw__asl_check_fields(c, cfg, cp, processor_config_fields,
                            "ProcessorConfig");
  if (rc == 0 && (v = sw_json_get(cfg, "ExecutionType")) &&
      !(cJSON_IsString(v) && (strcmp(v->valuestring, "STANDARD") == 0 ||
                              strcmp(v->valuestring, "EXPRESS") == 0)))
    rc = fail_at(c, cp, "ExecutionType",
                 "expected \"STANDARD\" or \"EXPRESS\"");
  if (rc == 0 && (v = sw_json_get(cfg, "Mode"))) {
    if (cJSON_IsString(v) && strcmp(v->valuestring, "DISTRIBUTED") == 0)
      ; /* runs inline; see reject_distributed for what is refused */
    else if (!cJSON_IsString(v) || strcmp(v->valuestring, "INLINE") != 0)
      rc = fail_at(c, cp, "Mode", "expected \"INLINE\" or \"DISTRIBUTED\"");
  }
  sw_free(cp);
  return rc;
}

static int parse_map(sw__asl_ctx *c, const cJSON *js, sw_asl_state *s)
{
  const char *p = s->pointer;
  const cJSON *proc = sw_json_get(js, "ItemProcessor");
  const cJSON *iter = sw_json_get(js, "Iterator");
  sw_template *sel = NULL;
  char *pp = NULL;
  int64_t n = 0;
  bool present;
  int rc;

  rc = reject_distributed(c, js, s);
  if (rc == 0 && (proc != NULL) == (iter != NULL))
    rc = sw__asl_fail(c, p,
                      "Map state needs exactly one of ItemProcessor, "
                      "Iterator");
  if (rc == 0)
    rc = at_most_one(c, js, p, "Map state", "ItemSelector", "Parameters");
  if (rc == 0)
    rc = at_most_one(c, js, p, "Map state", "MaxConcurrency",
                     "MaxConcurrencyPath");
  if (rc == 0)
    rc = sw__asl_get_path(c, js, p, "ItemsPath", SW_PATH_REFERENCE, false,
                          &s->items_path, NULL);
  if (rc == 0)
    rc = sw__asl_get_template(c, js, p, "ItemSelector", false, &sel);
  /* ItemSelector and legacy Parameters share one slot (exclusive). */
  if (rc == 0 && sel)
    s->parameters = sel;
  if (rc == 0)
    rc = sw__asl_get_int(c, js, p, "MaxConcurrency", 0, INT_MAX,
                         "expected a non-negative integer", &n, &present);
  if (rc == 0 && present)
    s->max_concurrency = (int)n;
  if (rc == 0)
    rc = sw__asl_get_path(c, js, p, "MaxConcurrencyPath", SW_PATH_REFERENCE,
                          false, &s->max_concurrency_path, NULL);
  if (rc < 0)
    return rc;
  pp = sw__asl_ptr(p, proc ? "ItemProcessor" : "Iterator");
  if (!cJSON_IsObject(proc ? proc : iter)) {
    rc = sw__asl_fail(c, pp, "expected an object with StartAt and States");
    goto done;
  }
  rc = parse_processor_config(c, proc ? proc : iter, pp);
  {
    const char *mode = sw_json_get_str(
        sw_json_get(proc ? proc : iter, "ProcessorConfig"), "Mode");
    s->distributed = mode && !strcmp(mode, "DISTRIBUTED");
  }
  if (rc == 0)
    rc = parse_machine(c, proc ? proc : iter, pp,
                       proc ? MK_PROCESSOR : MK_ITERATOR, &s->iterator);

done:
  sw_free(pp);
  return rc;
}

/* ---- one state -------------------------------------------------------- */

static bool has_transition(sw_state_type t)
{
  return t == SW_STATE_PASS || t == SW_STATE_TASK || t == SW_STATE_WAIT ||
         t == SW_STATE_PARALLEL || t == SW_STATE_MAP;
}

static int parse_next_end(sw__asl_ctx *c, const cJSON *js, sw_asl_state *s)
{
  const cJSON *next = sw_json_get(js, "Next");
  const cJSON *end = sw_json_get(js, "End");

  if (end && !cJSON_IsTrue(end))
    return fail_at(c, s->pointer, "End", "expected true");
  if (next && !cJSON_IsString(next))
    return fail_at(c, s->pointer, "Next", "expected a state name string");
  /* ASL: a non-terminal state has exactly one of Next and End. */
  if ((next != NULL) == (end != NULL))
    return sw__asl_fail(c, s->pointer,
                        "%s state needs exactly one of Next, End",
                        sw_state_type_name(s->type));
  s->next = next ? next->valuestring : NULL;
  s->end = end != NULL;
  return 0;
}

static int parse_state(sw__asl_ctx *c, const cJSON *js, sw_asl_state *s)
{
  const struct state_kind *k = NULL;
  const char *p = s->pointer;
  const cJSON *v;
  size_t i;
  int rc;

  if (!cJSON_IsObject(js))
    return sw__asl_fail(c, p, "expected a state object");
  v = sw_json_get(js, "Type");
  if (!v)
    return sw__asl_fail(c, p, "missing required field Type");
  for (i = 0; cJSON_IsString(v) && i < SW_ARRAY_SIZE(state_kinds); i++)
    if (strcmp(v->valuestring, state_kinds[i].name) == 0)
      k = &state_kinds[i];
  if (!k)
    return fail_at(c, p, "Type",
                   "expected one of Pass, Task, Choice, Wait, Succeed, Fail, "
                   "Parallel, Map");
  s->type = k->type;
  rc = sw__asl_check_fields(c, js, p, k->fields, k->where);
  if (rc == 0 && (v = sw_json_get(js, "Comment")) && !cJSON_IsString(v))
    rc = fail_at(c, p, "Comment", "expected a string");
  if (rc == 0 && has_transition(s->type))
    rc = parse_next_end(c, js, s);
  /* Fields a type does not allow were rejected above, so the readers
   * below find nothing for them. */
  if (rc == 0)
    rc = sw__asl_get_path(c, js, p, "InputPath", SW_PATH_PATH, true,
                          &s->input_path, &s->input_path_null);
  if (rc == 0)
    rc = sw__asl_get_path(c, js, p, "OutputPath", SW_PATH_PATH, true,
                          &s->output_path, &s->output_path_null);
  if (rc == 0)
    rc = sw__asl_get_template(c, js, p, "Parameters",
                              s->type != SW_STATE_MAP, &s->parameters);
  if (rc == 0)
    rc = sw__asl_get_template(c, js, p, "ResultSelector", false,
                              &s->result_selector);
  if (rc == 0)
    rc = get_result_path(c, js, p, &s->result_path, &s->result_path_null);
  if (rc == 0)
    rc = sw__asl_get_template(c, js, p, "Assign", false, &s->assign);
  if (rc == 0)
    s->result = sw_json_get(js, "Result");
  if (rc == 0)
    rc = parse_retry_catch(c, js, s);
  if (rc < 0)
    return rc;

  switch (s->type) {
  case SW_STATE_TASK:
    return parse_task(c, js, s);
  case SW_STATE_CHOICE:
    return parse_choice(c, js, s);
  case SW_STATE_WAIT:
    return parse_wait(c, js, s);
  case SW_STATE_FAIL:
    return parse_fail(c, js, s);
  case SW_STATE_PARALLEL:
    return parse_parallel(c, js, s);
  case SW_STATE_MAP:
    return parse_map(c, js, s);
  case SW_STATE_PASS:
  case SW_STATE_SUCCEED:
    break;
  }
  return 0;
}

/* ---- machines --------------------------------------------------------- */

static int parse_machine(sw__asl_ctx *c, const cJSON *js, const char *ptr,
                         machine_kind kind, sw_asl_machine **out)
{
  static const char *const *const fields[] = {top_fields, branch_fields,
                                              processor_fields,
                                              iterator_fields};
  static const char *const where[] = {"the top level", "a Parallel branch",
                                      "an ItemProcessor", "an Iterator"};
  sw_asl_machine *m = sw_calloc(1, sizeof(*m));
  const cJSON *v, *states, *st;
  char *sp = NULL;
  size_t i, n;
  int rc;

  *out = NULL;
  m->pointer = sw_strdup(ptr);
  m->start_index = -1;
  rc = sw__asl_check_fields(c, js, ptr, fields[kind], where[kind]);
  if (rc < 0)
    goto done;
  v = sw_json_get(js, "StartAt");
  if (!v) {
    rc = sw__asl_fail(c, ptr, "missing required field StartAt");
    goto done;
  }
  if (!cJSON_IsString(v)) {
    rc = fail_at(c, ptr, "StartAt", "expected a state name string");
    goto done;
  }
  m->start_at = v->valuestring;
  states = sw_json_get(js, "States");
  if (!states) {
    rc = sw__asl_fail(c, ptr, "missing required field States");
    goto done;
  }
  if (!cJSON_IsObject(states) || !states->child) {
    rc = fail_at(c, ptr, "States", "expected a non-empty object of states");
    goto done;
  }
  if (rc == 0 && (v = sw_json_get(js, "Comment")) && !cJSON_IsString(v)) {
    rc = fail_at(c, ptr, "Comment", "expected a string");
    goto done;
  }
  n = (size_t)cJSON_GetArraySize(states);
  m->states = sw_calloc(n, sizeof(*m->states));
  m->n_states = n;
  for (i = 0; i < n; i++) {
    m->states[i].next_index = -1;
    m->states[i].default_index = -1;
  }
  sp = sw__asl_ptr(ptr, "States");
  for (i = 0, st = states->child; st; st = st->next, i++) {
    sw_asl_state *s = &m->states[i];
    size_t len = sw__asl_utf8_len(st->string);

    s->name = st->string;
    s->index = (int)i;
    s->pointer = sw__asl_ptr(sp, st->string);
    if (len == 0 || len > SW_ASL_NAME_MAX) {
      rc = sw__asl_fail(c, s->pointer,
                        "state names must be 1 to %d characters long",
                        SW_ASL_NAME_MAX);
      goto done;
    }
    sw__asl_add_name(c, s->name, s->pointer);
    {
      char *text = cJSON_PrintUnformatted(st);
      s->uses_context = !text || strstr(text, "$$") != NULL;
      sw_free(text);
    }
    rc = parse_state(c, st, s);
    if (rc < 0)
      goto done;
  }
  rc = sw__asl_link_machine(c, m);

done:
  sw_free(sp);
  if (rc < 0)
    machine_free(m);
  else
    *out = m;
  return rc;
}

/* ---- public API ------------------------------------------------------- */

int sw_asl_parse(sw_asl_definition **out, const char *text, size_t len,
                 const char *name, sw_err *err)
{
  sw_err local = SW_ERR_INIT;
  sw__asl_ctx c;
  sw_asl_definition *def = sw_calloc(1, sizeof(*def));
  const cJSON *v;
  bool present;
  int rc;

  *out = NULL;
  memset(&c, 0, sizeof(c));
  c.name = name;
  c.err = err ? err : &local;
  def->name = sw_strdup(name);
  rc = sw_json_parse(&def->doc, text, len, name, c.err);
  if (rc < 0)
    goto done;
  if (!cJSON_IsObject(def->doc)) {
    rc = sw__asl_fail(&c, "",
                      "expected a JSON object with StartAt and States");
    goto done;
  }
  /* JSONata first, so a JSONata definition gets the one clear message
   * instead of complaints about its JSONata-only fields. */
  rc = sw__asl_reject_jsonata(&c, def->doc, "");
  if (rc == 0)
    rc = sw__asl_get_int(&c, def->doc, "", "TimeoutSeconds", 0,
                         SW_ASL_SECONDS_MAX, "expected a non-negative integer",
                         &def->timeout_s, &present);
  if (rc == 0 && (v = sw_json_get(def->doc, "Version")) &&
      !(cJSON_IsString(v) && strcmp(v->valuestring, "1.0") == 0))
    rc = sw__asl_fail(&c, "/Version", "expected \"1.0\"");
  if (rc == 0 && (v = sw_json_get(def->doc, "Comment")) && cJSON_IsString(v))
    def->comment = sw_strdup(v->valuestring);
  if (rc == 0)
    rc = parse_machine(&c, def->doc, "", MK_TOP, &def->root);
  /* ASL: state names are unique in the whole state machine, nested
   * branches and processors included. */
  if (rc == 0)
    rc = sw__asl_check_unique(&c, c.names, c.n_names);

done:
  sw_free(c.names);
  if (rc < 0) {
    sw_asl_free(def);
    return rc;
  }
  *out = def;
  return 0;
}

int sw_asl_load_file(sw_asl_definition **out, const char *path, sw_err *err)
{
  char *text = NULL;
  size_t len = 0;
  int rc;

  *out = NULL;
  rc = sw_file_read(&text, &len, path, SW_ASL_FILE_MAX, err);
  if (rc == 0)
    rc = sw_asl_parse(out, text, len, path, err);
  sw_free(text);
  return rc;
}

const sw_asl_state *sw_asl_find(const sw_asl_machine *m, const char *name)
{
  size_t i;

  if (!m || !name)
    return NULL;
  for (i = 0; i < m->n_states; i++)
    if (strcmp(m->states[i].name, name) == 0)
      return &m->states[i];
  return NULL;
}

static void walk_machine(const sw_asl_machine *m, sw_asl_visit_cb cb,
                         void *payload)
{
  size_t i, j;

  for (i = 0; i < m->n_states; i++) {
    const sw_asl_state *s = &m->states[i];

    cb(m, s, payload);
    for (j = 0; j < s->n_branches; j++)
      walk_machine(s->branches[j], cb, payload);
    if (s->iterator)
      walk_machine(s->iterator, cb, payload);
  }
}

void sw_asl_walk(const sw_asl_definition *def, sw_asl_visit_cb cb,
                 void *payload)
{
  if (def && def->root)
    walk_machine(def->root, cb, payload);
}
