/* SPDX-License-Identifier: MIT */
/* Choice rules (JSONPath mode): compiled once from the rule JSON into a
 * tree whose leaves hold the compiled Variable path, the operator and a
 * pre-decoded operand (number, string, boolean, epoch ms, or a compiled
 * operand path), then evaluated with AWS's type rules: a value of the
 * wrong type compares false; only IsPresent tolerates a missing Variable.
 *
 * Decision: the cause for a missing Variable ("Invalid path '$.x': The
 * choice state's condition path references an invalid value.") is AWS's
 * wording as we know it from AWS consoles; the recorded cases hold none. */
#include "paths/paths_int.h"

#include <string.h>

typedef enum rkind { R_AND, R_OR, R_NOT, R_TEST } rkind;

typedef enum family {
  FAM_STRING,
  FAM_MATCH,
  FAM_NUMERIC,
  FAM_BOOLEAN,
  FAM_TIMESTAMP,
  FAM_IS_NULL,
  FAM_IS_PRESENT,
  FAM_IS_NUMERIC,
  FAM_IS_STRING,
  FAM_IS_BOOLEAN,
  FAM_IS_TIMESTAMP
} family;

typedef enum cmp { C_EQ, C_LT, C_GT, C_LE, C_GE } cmp;

typedef struct opdef {
  const char *name;
  family fam;
  cmp op;
  bool is_path; /* the operand is a Path into the input */
} opdef;

static const opdef ops[] = {
    {"StringEquals", FAM_STRING, C_EQ, false},
    {"StringLessThan", FAM_STRING, C_LT, false},
    {"StringGreaterThan", FAM_STRING, C_GT, false},
    {"StringLessThanEquals", FAM_STRING, C_LE, false},
    {"StringGreaterThanEquals", FAM_STRING, C_GE, false},
    {"StringMatches", FAM_MATCH, C_EQ, false},
    {"NumericEquals", FAM_NUMERIC, C_EQ, false},
    {"NumericLessThan", FAM_NUMERIC, C_LT, false},
    {"NumericGreaterThan", FAM_NUMERIC, C_GT, false},
    {"NumericLessThanEquals", FAM_NUMERIC, C_LE, false},
    {"NumericGreaterThanEquals", FAM_NUMERIC, C_GE, false},
    {"BooleanEquals", FAM_BOOLEAN, C_EQ, false},
    {"TimestampEquals", FAM_TIMESTAMP, C_EQ, false},
    {"TimestampLessThan", FAM_TIMESTAMP, C_LT, false},
    {"TimestampGreaterThan", FAM_TIMESTAMP, C_GT, false},
    {"TimestampLessThanEquals", FAM_TIMESTAMP, C_LE, false},
    {"TimestampGreaterThanEquals", FAM_TIMESTAMP, C_GE, false},
    {"StringEqualsPath", FAM_STRING, C_EQ, true},
    {"StringLessThanPath", FAM_STRING, C_LT, true},
    {"StringGreaterThanPath", FAM_STRING, C_GT, true},
    {"StringLessThanEqualsPath", FAM_STRING, C_LE, true},
    {"StringGreaterThanEqualsPath", FAM_STRING, C_GE, true},
    {"NumericEqualsPath", FAM_NUMERIC, C_EQ, true},
    {"NumericLessThanPath", FAM_NUMERIC, C_LT, true},
    {"NumericGreaterThanPath", FAM_NUMERIC, C_GT, true},
    {"NumericLessThanEqualsPath", FAM_NUMERIC, C_LE, true},
    {"NumericGreaterThanEqualsPath", FAM_NUMERIC, C_GE, true},
    {"BooleanEqualsPath", FAM_BOOLEAN, C_EQ, true},
    {"TimestampEqualsPath", FAM_TIMESTAMP, C_EQ, true},
    {"TimestampLessThanPath", FAM_TIMESTAMP, C_LT, true},
    {"TimestampGreaterThanPath", FAM_TIMESTAMP, C_GT, true},
    {"TimestampLessThanEqualsPath", FAM_TIMESTAMP, C_LE, true},
    {"TimestampGreaterThanEqualsPath", FAM_TIMESTAMP, C_GE, true},
    {"IsNull", FAM_IS_NULL, C_EQ, false},
    {"IsPresent", FAM_IS_PRESENT, C_EQ, false},
    {"IsNumeric", FAM_IS_NUMERIC, C_EQ, false},
    {"IsString", FAM_IS_STRING, C_EQ, false},
    {"IsBoolean", FAM_IS_BOOLEAN, C_EQ, false},
    {"IsTimestamp", FAM_IS_TIMESTAMP, C_EQ, false},
};

struct sw_rule {
  rkind kind;
  sw_rule **kids;      /* R_AND/R_OR: nkids; R_NOT: 1; owned */
  size_t nkids;
  sw_path *var;        /* R_TEST: Variable; owned */
  const opdef *op;     /* R_TEST: operator (static table) */
  sw_path *operand_path; /* op->is_path; owned */
  char *str;           /* FAM_STRING / FAM_MATCH literal; owned */
  double num;          /* FAM_NUMERIC literal */
  bool flag;           /* FAM_BOOLEAN literal; Is* expected truth */
  int64_t ts;          /* FAM_TIMESTAMP literal, epoch ms */
};

void sw_rule_free(sw_rule *r)
{
  size_t i;

  if (!r)
    return;
  for (i = 0; i < r->nkids; i++)
    sw_rule_free(r->kids[i]);
  sw_free(r->kids);
  sw_path_free(r->var);
  sw_path_free(r->operand_path);
  sw_free(r->str);
  sw_free(r);
}

static int cerr(sw_err *err, const char *pointer, const char *field,
                const char *what)
{
  return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0, "%s%s%s: expected %s",
                    pointer, field ? "/" : "", field ? field : "", what);
}

static int compile_rule(sw_rule **out, const cJSON *rule, bool top_level,
                        const char *pointer, int depth, sw_err *err);

static int compile_list(sw_rule *r, const cJSON *list, const char *pointer,
                        const char *field, int depth, sw_err *err)
{
  const cJSON *c;
  size_t i = 0;
  int rc;

  if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0)
    return cerr(err, pointer, field, "a non-empty array of rules");
  r->nkids = (size_t)cJSON_GetArraySize(list);
  r->kids = sw_calloc(r->nkids, sizeof(sw_rule *));
  for (c = list->child; c; c = c->next, i++) {
    char *p = sw_asprintf("%s/%s/%zu", pointer, field, i);

    rc = compile_rule(&r->kids[i], c, false, p, depth + 1, err);
    sw_free(p);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int compile_test(sw_rule *r, const cJSON *rule, const char *pointer,
                        sw_err *err)
{
  const cJSON *var = sw_json_get(rule, "Variable");
  const cJSON *operand = NULL;
  size_t i;
  int rc;

  for (i = 0; i < SW_ARRAY_SIZE(ops); i++) {
    const cJSON *v = sw_json_get(rule, ops[i].name);

    if (!v)
      continue;
    if (r->op)
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                        "%s: expected exactly one comparison operator, found "
                        "%s and %s",
                        pointer, r->op->name, ops[i].name);
    r->op = &ops[i];
    operand = v;
  }
  if (!r->op)
    return cerr(err, pointer, NULL,
                "And, Or, Not, or a Variable with one comparison operator "
                "(StringEquals, NumericLessThan, IsPresent, ...)");
  if (!cJSON_IsString(var))
    return cerr(err, pointer, "Variable", "a string holding a Path");
  rc = sw_path_compile(&r->var, var->valuestring, SW_PATH_PATH, err);
  if (rc < 0) {
    sw_err_prefix(err, "%s/Variable: ", pointer);
    return rc;
  }
  if (r->op->is_path) {
    if (!cJSON_IsString(operand))
      return cerr(err, pointer, r->op->name, "a string holding a Path");
    rc = sw_path_compile(&r->operand_path, operand->valuestring,
                         SW_PATH_PATH, err);
    if (rc < 0)
      sw_err_prefix(err, "%s/%s: ", pointer, r->op->name);
    return rc;
  }
  switch (r->op->fam) {
  case FAM_STRING:
  case FAM_MATCH:
    if (!cJSON_IsString(operand))
      return cerr(err, pointer, r->op->name, "a string");
    r->str = sw_strdup(operand->valuestring);
    break;
  case FAM_NUMERIC:
    if (!cJSON_IsNumber(operand))
      return cerr(err, pointer, r->op->name, "a number");
    r->num = operand->valuedouble;
    break;
  case FAM_TIMESTAMP:
    if (!cJSON_IsString(operand) ||
        sw_time_parse_rfc3339(&r->ts, operand->valuestring) < 0)
      return cerr(err, pointer, r->op->name,
                  "an RFC 3339 timestamp string such as "
                  "\"2016-03-14T01:59:00Z\"");
    break;
  default: /* FAM_BOOLEAN and the Is* tests */
    if (!cJSON_IsBool(operand))
      return cerr(err, pointer, r->op->name, "true or false");
    r->flag = cJSON_IsTrue(operand);
    break;
  }
  return 0;
}

static int compile_rule(sw_rule **out, const cJSON *rule, bool top_level,
                        const char *pointer, int depth, sw_err *err)
{
  sw_rule *r = NULL;
  const cJSON *next, *and_, *or_, *not_;
  int rc = 0;

  *out = NULL;
  if (depth > 100)
    return sw_err_set(err, SW_ELIMIT, SW_ORIGIN_ASL, 0,
                      "%s: Choice rules nested too deeply", pointer);
  if (!cJSON_IsObject(rule))
    return cerr(err, pointer, NULL, "a Choice rule object");
  next = sw_json_get(rule, "Next");
  /* ASL: top-level rules carry Next; nested rules must not. */
  if (top_level && !cJSON_IsString(next))
    return cerr(err, pointer, "Next", "the name of the next state");
  if (!top_level && next)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                      "%s/Next: expected no Next in a nested Choice rule",
                      pointer);
  and_ = sw_json_get(rule, "And");
  or_ = sw_json_get(rule, "Or");
  not_ = sw_json_get(rule, "Not");
  if ((and_ != NULL) + (or_ != NULL) + (not_ != NULL) > 1)
    return cerr(err, pointer, NULL, "only one of And, Or and Not");
  r = sw_calloc(1, sizeof(*r));
  if (and_ || or_) {
    r->kind = and_ ? R_AND : R_OR;
    rc = compile_list(r, and_ ? and_ : or_, pointer, and_ ? "And" : "Or",
                      depth, err);
  } else if (not_) {
    char *p = sw_asprintf("%s/Not", pointer);

    r->kind = R_NOT;
    r->nkids = 1;
    r->kids = sw_calloc(1, sizeof(sw_rule *));
    rc = compile_rule(&r->kids[0], not_, false, p, depth + 1, err);
    sw_free(p);
  } else {
    r->kind = R_TEST;
    rc = compile_test(r, rule, pointer, err);
  }
  if (rc < 0) {
    sw_rule_free(r);
    return rc;
  }
  *out = r;
  return 0;
}

int sw_rule_compile(sw_rule **out, const cJSON *rule, bool top_level,
                    const char *pointer, sw_err *err)
{
  return compile_rule(out, rule, top_level, pointer ? pointer : "", 0, err);
}

/* ---- evaluation --------------------------------------------------------- */

/* ASL StringMatches: '*' matches any run of characters; a backslash makes
 * the next character literal ("\\*" in JSON source is a literal '*'). */
static bool glob_match(const char *pat, const char *s)
{
  const char *star = NULL, *resume = NULL;

  while (*s) {
    if (*pat == '*') {
      star = ++pat;
      resume = s;
      continue;
    }
    if (*pat == '\\' && pat[1]) {
      if (pat[1] == *s) {
        pat += 2;
        s++;
        continue;
      }
    } else if (*pat && *pat == *s) {
      pat++;
      s++;
      continue;
    }
    if (!star)
      return false;
    pat = star;
    s = ++resume;
  }
  while (*pat == '*')
    pat++;
  return *pat == '\0';
}

static bool by_cmp(cmp op, int c)
{
  switch (op) {
  case C_EQ: return c == 0;
  case C_LT: return c < 0;
  case C_GT: return c > 0;
  case C_LE: return c <= 0;
  case C_GE: return c >= 0;
  }
  return false;
}

static bool is_timestamp(const cJSON *v, int64_t *ms)
{
  return cJSON_IsString(v) && sw_time_parse_rfc3339(ms, v->valuestring) == 0;
}

static int invalid_path(sw_err *err, const sw_path *p)
{
  return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                    "Invalid path '%s': The choice state's condition path "
                    "references an invalid value.",
                    sw_path_text(p));
}

static int eval_test(bool *out, const sw_rule *r, const sw_eval_env *env,
                     sw_err *err)
{
  const cJSON *v = NULL, *o = NULL;
  cJSON *v_owned = NULL, *o_owned = NULL;
  sw_err ignore = SW_ERR_INIT;
  int64_t a, b;
  int rc;

  *out = false;
  rc = sw__path_select(&v, &v_owned, r->var, env, &ignore);
  if (rc < 0) {
    /* ASL: IsPresent is false for a missing Variable; every other operator
     * fails the state. */
    if (r->op->fam == FAM_IS_PRESENT) {
      *out = !r->flag;
      return 0;
    }
    return invalid_path(err, r->var);
  }
  if (r->op->is_path) {
    rc = sw__path_select(&o, &o_owned, r->operand_path, env, &ignore);
    if (rc < 0) {
      rc = invalid_path(err, r->operand_path);
      goto done;
    }
  }
  switch (r->op->fam) {
  case FAM_STRING:
    if (o && !cJSON_IsString(o))
      break;
    if (cJSON_IsString(v))
      *out = by_cmp(r->op->op,
                    strcmp(v->valuestring, o ? o->valuestring : r->str));
    break;
  case FAM_MATCH:
    *out = cJSON_IsString(v) && glob_match(r->str, v->valuestring);
    break;
  case FAM_NUMERIC: {
    double x, y;

    if (!cJSON_IsNumber(v) || (o && !cJSON_IsNumber(o)))
      break;
    x = v->valuedouble;
    y = o ? o->valuedouble : r->num;
    *out = by_cmp(r->op->op, x < y ? -1 : x > y ? 1 : 0);
    break;
  }
  case FAM_BOOLEAN:
    if (cJSON_IsBool(v) && (!o || cJSON_IsBool(o)))
      *out = cJSON_IsTrue(v) == (o ? cJSON_IsTrue(o) : r->flag);
    break;
  case FAM_TIMESTAMP:
    if (!is_timestamp(v, &a))
      break;
    if (o) {
      if (!is_timestamp(o, &b))
        break;
    } else {
      b = r->ts;
    }
    *out = by_cmp(r->op->op, a < b ? -1 : a > b ? 1 : 0);
    break;
  case FAM_IS_NULL: *out = cJSON_IsNull(v) == r->flag; break;
  case FAM_IS_PRESENT: *out = r->flag; break;
  case FAM_IS_NUMERIC: *out = cJSON_IsNumber(v) == r->flag; break;
  case FAM_IS_STRING: *out = cJSON_IsString(v) == r->flag; break;
  case FAM_IS_BOOLEAN: *out = cJSON_IsBool(v) == r->flag; break;
  case FAM_IS_TIMESTAMP: *out = is_timestamp(v, &a) == r->flag; break;
  }
  rc = 0;
done:
  cJSON_Delete(v_owned);
  cJSON_Delete(o_owned);
  return rc;
}

int sw_rule_eval(bool *out, const sw_rule *r, const sw_eval_env *env,
                 sw_err *err)
{
  size_t i;
  int rc;

  *out = false;
  switch (r->kind) {
  case R_TEST: return eval_test(out, r, env, err);
  case R_NOT:
    rc = sw_rule_eval(out, r->kids[0], env, err);
    *out = !*out;
    return rc;
  case R_AND:
  case R_OR:
    /* Short-circuit like AWS: later rules are not evaluated. */
    for (i = 0; i < r->nkids; i++) {
      rc = sw_rule_eval(out, r->kids[i], env, err);
      if (rc < 0)
        return rc;
      if (*out != (r->kind == R_AND))
        return 0;
    }
    *out = r->kind == R_AND;
    return 0;
  }
  return 0;
}
