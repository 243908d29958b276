/* SPDX-License-Identifier: MIT */
/* resources: maps Task Resource ARNs to handlers that validate Parameters
 * the way the Redshift Data API does and drive the warehouse. Invariant:
 * every submit carries a ClientToken (the call's token unless Parameters
 * give one), so re-invoking a task after a crash never runs SQL twice.
 *
 * Lifetimes: a task has at most one asynchronous operation outstanding
 * (a warehouse call or a thread-pool job) and is freed when it ends. A
 * cancelled task detaches from the registry at once; if its submit later
 * reports an Id, that statement is cancelled best-effort, and `done` is
 * never called. Failures before any I/O (bad Parameters) are reported
 * through a no-op thread-pool job, so `done` never runs inside invoke. */
#include "resources/resources.h"

#include "controlshift/controlshift.h"
#include "directdata/directdata.h"
#include "objects/objects.h"
#include "ingest/ingest.h"

#include <stdio.h>
#include <string.h>

#define ARN_SDK "arn:aws:states:::aws-sdk:redshiftdata:"
#define ARN_STATES "arn:aws:states:"
#define SCRIPT_ACTIVITY "stepwise.sql.submitScript"
#define OBJECT_GET_ACTIVITY "stepwise.objects.get"
#define SCRIPT_MAX_BYTES (1024 * 1024) /* read bound; warehouse caps 100 KB */

#define E_VALIDATION "RedshiftData.ValidationException"
#define E_NOTFOUND "RedshiftData.ResourceNotFoundException"
#define E_INTERNAL "RedshiftData.InternalServerException"
#define E_SW_VALIDATION "Stepwise.ValidationException"
#define E_SW_NOSCRIPT "Stepwise.ScriptNotFound"

struct sw_resources {
  uv_loop_t *loop;
  sw_warehouse *wh;     /* borrowed */
  char *sql_dir;        /* owned */
  unsigned live;        /* tasks neither done nor cancelled */
  sw_directdata *dd;    /* stepwise.directdata.* activities; owned */
  sw_controlshift *cs;  /* stepwise.controlshift.* activities; owned */
  sw_ingest *ig;        /* stepwise.ingest.* activities; owned */
};

typedef enum rkind {
  R_EXEC,
  R_BATCH,
  R_DESCRIBE,
  R_RESULT,
  R_CANCEL,
  R_SCRIPT,
  R_DIRECTDATA,         /* stepwise.directdata.*: src/directdata */
  R_OBJECT_GET,         /* stepwise.objects.get: src/objects */
  R_CONTROLSHIFT,       /* stepwise.controlshift.*: src/controlshift */
  R_INGEST              /* stepwise.ingest.*: src/ingest */
} rkind;

/* ---- Parameters specs (service-2.json members, PascalCase) ------------ */

typedef enum mtype { T_STR, T_BOOL, T_INT, T_SQLS, T_PARAMS, T_SPARAMS } mtype;

typedef struct member {
  const char *name;
  mtype type;
  bool required;
} member;

#define TARGET_MEMBERS                                                         \
  {"ClusterIdentifier", T_STR, false}, {"SecretArn", T_STR, false},            \
      {"DbUser", T_STR, false}, {"Database", T_STR, false},                    \
      {"WorkgroupName", T_STR, false}, {"WithEvent", T_BOOL, false},           \
      {"StatementName", T_STR, false}, {"Parameters", T_PARAMS, false},        \
      {"ClientToken", T_STR, false}, {"ResultFormat", T_STR, false},           \
      {"SessionKeepAliveSeconds", T_INT, false},                               \
      {"SessionId", T_STR, false}, {"WaitTimeSeconds", T_INT, false}

static const member exec_members[] = {{"Sql", T_STR, true}, TARGET_MEMBERS,
                                      {NULL, T_STR, false}};
static const member batch_members[] = {{"Sqls", T_SQLS, true},
                                       TARGET_MEMBERS,
                                       {"ExecutionMode", T_STR, false},
                                       {NULL, T_STR, false}};
static const member describe_members[] = {{"Id", T_STR, true},
                                          {"WaitTimeSeconds", T_INT, false},
                                          {NULL, T_STR, false}};
static const member result_members[] = {{"Id", T_STR, true},
                                        {"NextToken", T_STR, false},
                                        {"WaitTimeSeconds", T_INT, false},
                                        {NULL, T_STR, false}};
static const member cancel_members[] = {{"Id", T_STR, true},
                                        {NULL, T_STR, false}};
/* stepwise.objects.get: Bucket + Key (or Store URL + Key) -> Target. */
static const member object_get_members[] = {{"Bucket", T_STR, false},
                                            {"Key", T_STR, true},
                                            {"Store", T_STR, false},
                                            {"Target", T_STR, true},
                                            {NULL, T_STR, false}};
static const member script_members[] = {{"Script", T_STR, true},
                                        {"Parameters", T_SPARAMS, false},
                                        {"StatementName", T_STR, false},
                                        {"Database", T_STR, false},
                                        {NULL, T_STR, false}};

static const struct {
  const char *action;
  rkind kind;
  const member *members;
} actions[] = {
    {"executeStatement", R_EXEC, exec_members},
    {"batchExecuteStatement", R_BATCH, batch_members},
    {"describeStatement", R_DESCRIBE, describe_members},
    {"getStatementResult", R_RESULT, result_members},
    {"cancelStatement", R_CANCEL, cancel_members},
};

/* Resolve a Resource ARN; false when it is not registered. */
static bool resolve(const char *arn, rkind *kind, const member **members)
{
  const char *p;
  size_t i;

  if (!arn)
    return false;
  if (!strncmp(arn, ARN_SDK, strlen(ARN_SDK))) {
    for (i = 0; i < SW_ARRAY_SIZE(actions); i++)
      if (!strcmp(arn + strlen(ARN_SDK), actions[i].action)) {
        *kind = actions[i].kind;
        *members = actions[i].members;
        return true;
      }
    return false;
  }
  /* arn:aws:states:REGION:ACCOUNT:activity:NAME, region/account may be "" */
  if (strncmp(arn, ARN_STATES, strlen(ARN_STATES)) != 0)
    return false;
  p = strchr(arn + strlen(ARN_STATES), ':'); /* end of region */
  p = p ? strchr(p + 1, ':') : NULL;         /* end of account */
  if (!p || strncmp(p, ":activity:", 10) != 0)
    return false;
  if (sw_directdata_handles(p + 10)) {
    *kind = R_DIRECTDATA;
    *members = NULL; /* the module checks its own parameters */
    return true;
  }
  if (!strcmp(p + 10, OBJECT_GET_ACTIVITY)) {
    *kind = R_OBJECT_GET;
    *members = object_get_members;
    return true;
  }
  if (sw_controlshift_handles(p + 10)) {
    *kind = R_CONTROLSHIFT;
    *members = NULL; /* the module checks its own parameters */
    return true;
  }
  if (sw_ingest_handles(p + 10)) {
    *kind = R_INGEST;
    *members = NULL; /* the module checks its own parameters */
    return true;
  }
  if (strcmp(p + 10, SCRIPT_ACTIVITY) != 0)
    return false;
  *kind = R_SCRIPT;
  *members = script_members;
  return true;
}

static const char *kind_label(rkind k)
{
  switch (k) {
  case R_EXEC: return "redshiftdata:executeStatement";
  case R_BATCH: return "redshiftdata:batchExecuteStatement";
  case R_DESCRIBE: return "redshiftdata:describeStatement";
  case R_RESULT: return "redshiftdata:getStatementResult";
  case R_CANCEL: return "redshiftdata:cancelStatement";
  case R_OBJECT_GET: return OBJECT_GET_ACTIVITY;
  default: return SCRIPT_ACTIVITY;
  }
}

static int vfail(sw_err *err, const char *fmt, ...) SW_PRINTF(2, 3);
static int vfail(sw_err *err, const char *fmt, ...)
{
  char msg[SW_ERR_MSG_MAX];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                    "1 validation error detected: %s", msg);
}

/* In a template (preflight), "Key.$" is a path filled in at run time. */
static bool is_dynamic(const char *key, const char *name)
{
  size_t n = strlen(name);

  return !strncmp(key, name, n) && !strcmp(key + n, ".$");
}

static const cJSON *find_member(const cJSON *params, const char *name,
                                bool tmpl, bool *dynamic)
{
  const cJSON *it;

  *dynamic = false;
  cJSON_ArrayForEach(it, params) {
    if (!strcmp(it->string, name))
      return it;
    if (tmpl && is_dynamic(it->string, name)) {
      *dynamic = true;
      return it;
    }
  }
  return NULL;
}

static int check_sql_params(const cJSON *v, bool tmpl, sw_err *err)
{
  const cJSON *p, *f;
  const char *keys[] = {"name", "value"};
  bool dyn;
  int i = 0;
  size_t k;

  if (!cJSON_IsArray(v))
    return vfail(err, "Value at 'Parameters' failed to satisfy constraint: "
                      "Member must be a list of {name, value}");
  if (cJSON_GetArraySize(v) < 1)
    return vfail(err, "Value at 'Parameters' failed to satisfy constraint: "
                      "Member must have length greater than or equal to 1");
  cJSON_ArrayForEach(p, v) {
    i++;
    if (!cJSON_IsObject(p))
      return vfail(err, "Value at 'Parameters.%d.member' failed to satisfy "
                        "constraint: Member must be a structure {name, "
                        "value}", i);
    for (k = 0; k < 2; k++) {
      f = find_member(p, keys[k], tmpl, &dyn);
      if (!f)
        return vfail(err, "Value null at 'Parameters.%d.member.%s' failed "
                          "to satisfy constraint: Member must not be null",
                     i, keys[k]);
      if (!dyn && !cJSON_IsString(f))
        return vfail(err, "Value at 'Parameters.%d.member.%s' failed to "
                          "satisfy constraint: Member must be a string",
                     i, keys[k]);
    }
    cJSON_ArrayForEach(f, p) {
      if (strcmp(f->string, "name") && strcmp(f->string, "value") &&
          !(tmpl && (is_dynamic(f->string, "name") ||
                     is_dynamic(f->string, "value"))))
        return vfail(err, "Unknown member '%s' at 'Parameters.%d.member' "
                          "(SqlParameter has 'name' and 'value')",
                     f->string, i);
    }
  }
  return 0;
}

static int check_type(const member *m, const cJSON *v, bool tmpl,
                      sw_err *err)
{
  const cJSON *it;
  int n;

  switch (m->type) {
  case T_STR:
    if (!cJSON_IsString(v))
      return vfail(err, "Value at '%s' failed to satisfy constraint: Member "
                        "must be a string", m->name);
    return 0;
  case T_BOOL:
    if (!cJSON_IsBool(v))
      return vfail(err, "Value at '%s' failed to satisfy constraint: Member "
                        "must be a boolean", m->name);
    return 0;
  case T_INT:
    if (!cJSON_IsNumber(v) || v->valuedouble < -1e15 ||
        v->valuedouble > 1e15 ||
        v->valuedouble != (double)(long long)v->valuedouble)
      return vfail(err, "Value at '%s' failed to satisfy constraint: Member "
                        "must be an integer", m->name);
    return 0;
  case T_SQLS:
    if (!cJSON_IsArray(v))
      return vfail(err, "Value at 'Sqls' failed to satisfy constraint: "
                        "Member must be a list of strings");
    n = cJSON_GetArraySize(v);
    if (n < 1 || n > 40)
      return vfail(err, "Value at 'Sqls' failed to satisfy constraint: "
                        "Member must have length between 1 and 40 (got %d)",
                   n);
    cJSON_ArrayForEach(it, v) {
      if (!cJSON_IsString(it))
        return vfail(err, "Value at 'Sqls' failed to satisfy constraint: "
                          "Member must be a list of strings");
    }
    return 0;
  case T_PARAMS:
    return check_sql_params(v, tmpl, err);
  case T_SPARAMS:
    if (cJSON_IsArray(v))
      return check_sql_params(v, tmpl, err);
    if (!cJSON_IsObject(v))
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "Parameters must be a list [{\"name\", \"value\"}] "
                        "or an object {\"name\": value}");
    cJSON_ArrayForEach(it, v) {
      if (tmpl && strlen(it->string) > 2 &&
          !strcmp(it->string + strlen(it->string) - 2, ".$"))
        continue;
      if (!(cJSON_IsString(it) || cJSON_IsNumber(it) || cJSON_IsBool(it)))
        return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                          "Parameters.%s must be a string, number or "
                          "boolean", it->string);
    }
    return 0;
  }
  return 0;
}

/* Check Parameters against the action's members: required ones present,
 * literal ones of the right type, nothing unknown. With tmpl, the object
 * is the state's Parameters template ("Key.$" members are dynamic). */
static int check_members(rkind kind, const member *ms, const cJSON *params,
                         bool tmpl, sw_err *err)
{
  const member *m;
  const cJSON *v, *it;
  sw_buf names = SW_BUF_INIT(0);
  bool dyn, known;
  int rc = 0;

  if (!cJSON_IsObject(params)) {
    m = &ms[0];
    return vfail(err, "Value null at '%s' failed to satisfy constraint: "
                      "Member must not be null", m->name);
  }
  for (m = ms; m->name; m++) {
    v = find_member(params, m->name, tmpl, &dyn);
    if (!v) {
      if (m->required)
        return vfail(err, "Value null at '%s' failed to satisfy constraint: "
                          "Member must not be null", m->name);
      continue;
    }
    if (!dyn && (rc = check_type(m, v, tmpl, err)) < 0)
      return rc;
  }
  cJSON_ArrayForEach(it, params) {
    known = false;
    for (m = ms; m->name && !known; m++)
      known = !strcmp(it->string, m->name) ||
              (tmpl && is_dynamic(it->string, m->name));
    if (known)
      continue;
    for (m = ms; m->name; m++)
      if (sw_buf_printf(&names, NULL, "%s%s", m == ms ? "" : ", ",
                        m->name) < 0)
        break;
    rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                    "Unknown parameter '%s' for %s (expected one of: %s)",
                    it->string, kind_label(kind),
                    names.ptr ? names.ptr : "");
    sw_buf_dispose(&names);
    return rc;
  }
  return 0;
}

/* Things the sqlite warehouse cannot do, rejected rather than ignored. */
static int check_supported(const cJSON *params, sw_err *err)
{
  const char *fmt = sw_json_get_str(params, "ResultFormat");
  const char *mode = sw_json_get_str(params, "ExecutionMode");

  if (fmt && strcmp(fmt, "JSON") != 0)
    return vfail(err, "Value '%s' at 'ResultFormat' failed to satisfy "
                      "constraint: only JSON is supported (no "
                      "GetStatementResultV2)", fmt);
  if (mode && strcmp(mode, "TRANSACTION") != 0)
    return vfail(err, "Value '%s' at 'ExecutionMode' failed to satisfy "
                      "constraint: only TRANSACTION is supported", mode);
  return 0;
}

/* A script path relative to sql_dir: no absolute paths, no "..". */
static int check_script_path(const char *script, sw_err *err)
{
  const char *p = script;
  size_t n;

  if (!*script || script[0] == '/')
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "Script \"%s\" must be a path relative to the SQL "
                      "directory", script);
  while (*p) {
    n = strcspn(p, "/");
    if (n == 2 && p[0] == '.' && p[1] == '.')
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "Script \"%s\" must not contain '..'", script);
    p += n;
    if (*p == '/')
      p++;
  }
  return 0;
}

/* ---- registry ---------------------------------------------------------- */

int sw_resources_new(sw_resources **out, uv_loop_t *loop, sw_warehouse *wh,
                     const char *sql_dir, sw_err *err)
{
  sw_resources *r = sw_calloc(1, sizeof(*r));
  size_t n;

  (void)err;
  r->loop = loop;
  r->wh = wh;
  r->sql_dir = sw_strdup(sql_dir ? sql_dir : "sql");
  sw_directdata_new(&r->dd, loop, wh);
  sw_controlshift_new(&r->cs, loop, wh);
  sw_ingest_new(&r->ig, loop, wh, r->sql_dir);
  n = strlen(r->sql_dir);
  while (n > 1 && r->sql_dir[n - 1] == '/')
    r->sql_dir[--n] = '\0';
  *out = r;
  return 0;
}

void sw_resources_free(sw_resources *r)
{
  if (!r)
    return;
  if (r->live)
    sw_log(SW_LOG_ERROR, "resources freed with %u live task(s)", r->live);
  sw_directdata_free(r->dd);
  sw_controlshift_free(r->cs);
  sw_ingest_free(r->ig);
  sw_free(r->sql_dir);
  sw_free(r);
}

int sw_resources_preflight(const sw_resources *r, const char *resource,
                           const cJSON *parameters, sw_err *err)
{
  const member *ms;
  const char *script;
  char *path;
  rkind kind;
  int rc;

  if (!resolve(resource, &kind, &ms))
    return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                      "unknown Task resource \"%s\" (expected "
                      ARN_SDK "ACTION or arn:aws:states:::activity:"
                      SCRIPT_ACTIVITY ")", resource ? resource : "");
  if (!parameters || kind == R_DIRECTDATA || kind == R_CONTROLSHIFT ||
      kind == R_INGEST)
    /* unknowable / checked later */
    return 0;
  rc = check_members(kind, ms, parameters, true, err);
  if (rc == 0)
    rc = check_supported(parameters, err);
  if (rc < 0 || kind != R_SCRIPT)
    return rc;
  script = sw_json_get_str(parameters, "Script");
  if (!script) /* Script.$ */
    return 0;
  rc = check_script_path(script, err);
  if (rc < 0)
    return rc;
  path = sw_asprintf("%s/%s", r->sql_dir, script);
  if (!sw_file_exists(path))
    rc = sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                    "script \"%s\" not found in %s/", script, r->sql_dir);
  sw_free(path);
  return rc;
}

/* ---- tasks ------------------------------------------------------------- */

struct sw_task {
  uv_work_t work;          /* deferral or script read; embedded */
  sw_resources *r;         /* NULL once cancelled */
  sw_warehouse *wh;        /* borrowed from the registry */
  rkind kind;
  sw_task_done_cb done;
  void *payload;
  bool cancelled;          /* sw_task_cancel was called */
  cJSON *params;           /* copy of the effective parameters; owned */
  char *token;             /* ClientToken to send; owned, may be NULL */
  /* failure to report from the deferral job */
  const char *fail_name;   /* static error name, or NULL */
  sw_err err;              /* cause of a failure */
  /* submitScript */
  char *script_path;       /* sql_dir/Script; owned */
  char *variant_path;      /* sql_dir/NAME.<driver>.sql, or NULL; owned */
  char *variant_path2;     /* a second dialect to try, or NULL; owned */
  char *script_text;       /* read by the worker; owned */
  sw_dd_task *dd_task;     /* directdata activity; ends through finish */
  sw_objects *os;          /* objects.get: the store, closed after */
  uv_loop_t *loop;
  sw_cs_task *cs_task;     /* controlshift activity; ends through finish */
  sw_ingest_task *ig_task; /* ingest activity; ends through finish */
  int read_rc;
};

static void task_free(sw_task *t)
{
  cJSON_Delete(t->params);
  sw_free(t->token);
  sw_free(t->script_path);
  sw_free(t->variant_path);
  sw_free(t->variant_path2);
  sw_free(t->script_text);
  sw_free(t);
}

/* Deliver an outcome (unless cancelled) and free the task. */
static void finish_ext(sw_task *t, cJSON *output, const char *error,
                       const char *cause, const char *external_id)
{
  sw_task_outcome o = {output, error, cause, external_id};

  if (t->cancelled) {
    cJSON_Delete(output);
  } else {
    t->r->live--;
    t->done(&o, t->payload);
    /* The callback takes `output`. */
  }
  task_free(t);
}

static void finish(sw_task *t, cJSON *output, const char *error,
                   const char *cause)
{
  finish_ext(t, output, error, cause, NULL);
}

static const char *wh_error_name(int code)
{
  switch (code) {
  case SW_EINVAL: return E_VALIDATION;
  case SW_ENOTFOUND: return E_NOTFOUND;
  default: return E_INTERNAL;
  }
}

static void ignore_cancel(const sw_err *err, cJSON *resp, void *payload)
{
  (void)err;
  (void)payload;
  cJSON_Delete(resp);
}

static void on_submitted(const sw_err *err, const char *id, void *payload)
{
  sw_task *t = payload;
  cJSON *out;
  const char *echo[] = {"Database", "ClusterIdentifier", "WorkgroupName",
                        "DbUser", "SecretArn"};
  const char *v;
  char created[32];
  size_t i;

  if (t->cancelled) {
    /* Nobody waits for this statement any more (Task timeout, stopped
     * execution): stop it if it still runs. Only on success: after an
     * error the warehouse may be closing. */
    if (!err && id)
      sw_warehouse_cancel(t->wh, id, ignore_cancel, NULL, NULL);
    task_free(t);
    return;
  }
  if (err) {
    finish(t, NULL, wh_error_name(err->code), err->msg);
    return;
  }
  out = cJSON_CreateObject();
  cJSON_AddStringToObject(out, "Id", id);
  if (t->kind == R_SCRIPT) {
    cJSON_AddStringToObject(out, "Script",
                            sw_json_get_str(t->params, "Script"));
  } else {
    sw_time_format_iso(created, sizeof(created), sw_time_now_ms());
    cJSON_AddStringToObject(out, "CreatedAt", created);
    for (i = 0; i < SW_ARRAY_SIZE(echo); i++)
      if ((v = sw_json_get_str(t->params, echo[i])) != NULL)
        cJSON_AddStringToObject(out, echo[i], v);
  }
  /* A submit: the statement is external work with an Id. */
  finish_ext(t, out, NULL, NULL, sw_json_get_str(out, "Id"));
}

static void on_json(const sw_err *err, cJSON *resp, void *payload)
{
  sw_task *t = payload;

  if (err)
    finish(t, NULL, wh_error_name(err->code), err->msg);
  else
    finish(t, resp, NULL, NULL);
}

/* Text of a submitScript parameter value (numbers and booleans as SQL
 * literals would spell them); NULL for other types. */
static char *param_text(const cJSON *v)
{
  if (cJSON_IsString(v))
    return sw_strdup(v->valuestring);
  if (cJSON_IsBool(v))
    return sw_strdup(cJSON_IsTrue(v) ? "true" : "false");
  if (cJSON_IsNumber(v)) {
    if (v->valuedouble < 9.007199254740992e15 &&
        v->valuedouble > -9.007199254740992e15 &&
        v->valuedouble == (double)(long long)v->valuedouble)
      return sw_asprintf("%lld", (long long)v->valuedouble);
    return sw_asprintf("%.17g", v->valuedouble);
  }
  return NULL;
}

/* Build the warehouse request from validated parameters and submit. */
static int submit(sw_task *t, const char *script_sql, sw_err *err)
{
  const cJSON *sqls_j = NULL, *plist = sw_json_get(t->params, "Parameters");
  const cJSON *it;
  const char **sqls = NULL;
  sw_wh_param *params = NULL;
  char **texts = NULL;
  size_t n_sqls = 0, n_params = 0, i;
  sw_wh_submit req;
  int rc;

  memset(&req, 0, sizeof(req));
  if (t->kind == R_BATCH) {
    sqls_j = sw_json_get(t->params, "Sqls");
    sqls = sw_calloc((size_t)cJSON_GetArraySize(sqls_j), sizeof(*sqls));
    cJSON_ArrayForEach(it, sqls_j)
      sqls[n_sqls++] = it->valuestring;
  } else {
    sqls = sw_calloc(1, sizeof(*sqls));
    sqls[n_sqls++] = script_sql ? script_sql
                                : sw_json_get_str(t->params, "Sql");
  }
  if (plist) {
    n_params = (size_t)cJSON_GetArraySize(plist);
    params = sw_calloc(n_params ? n_params : 1, sizeof(*params));
    texts = sw_calloc(n_params ? n_params : 1, sizeof(*texts));
    i = 0;
    cJSON_ArrayForEach(it, plist) {
      if (cJSON_IsArray(plist)) {
        params[i].name = sw_json_get_str(it, "name");
        params[i].value = sw_json_get_str(it, "value");
      } else { /* submitScript's {"name": value} form */
        texts[i] = param_text(it);
        params[i].name = it->string;
        params[i].value = texts[i];
      }
      i++;
    }
  }
  req.sqls = sqls;
  req.n_sqls = n_sqls;
  req.batch = t->kind == R_BATCH;
  req.params = params;
  req.n_params = n_params;
  req.client_token = t->token;
  req.statement_name = sw_json_get_str(t->params, "StatementName");
  req.database = sw_json_get_str(t->params, "Database");
  rc = sw_warehouse_submit(t->wh, &req, on_submitted, t, err);
  if (texts)
    for (i = 0; i < n_params; i++)
      sw_free(texts[i]);
  sw_free(texts);
  sw_free(params);
  sw_free(sqls);
  return rc;
}

static void read_script_work(uv_work_t *w)
{
  sw_task *t = SW_CONTAINER_OF(w, sw_task, work);

  if (t->fail_name || t->cancelled)
    return;
  /* A per-driver variant, kept beside the script where the dialects
   * really differ (sql/sales/setup.postgres.sql), wins over it. */
  if (t->variant_path && sw_file_exists(t->variant_path)) {
    t->read_rc = sw_file_read(&t->script_text, NULL, t->variant_path,
                              SCRIPT_MAX_BYTES, &t->err);
    return;
  }
  if (t->variant_path2 && sw_file_exists(t->variant_path2)) {
    t->read_rc = sw_file_read(&t->script_text, NULL, t->variant_path2,
                              SCRIPT_MAX_BYTES, &t->err);
    return;
  }
  t->read_rc = sw_file_read(&t->script_text, NULL, t->script_path,
                            SCRIPT_MAX_BYTES, &t->err);
}

static void deferred_done(uv_work_t *w, int status)
{
  sw_task *t = SW_CONTAINER_OF(w, sw_task, work);
  const char *script;
  int rc;

  (void)status;
  if (t->cancelled) {
    task_free(t);
    return;
  }
  if (t->fail_name) {
    finish(t, NULL, t->fail_name, t->err.msg);
    return;
  }
  /* submitScript: the file has been read (or not). */
  script = sw_json_get_str(t->params, "Script");
  if (t->read_rc == SW_ENOTFOUND) {
    sw_err_set(&t->err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
               "script \"%s\" not found in %s/", script, t->r->sql_dir);
    finish(t, NULL, E_SW_NOSCRIPT, t->err.msg);
    return;
  }
  if (t->read_rc < 0) {
    finish(t, NULL, t->read_rc == SW_ELIMIT ? E_SW_VALIDATION
                                            : "Stepwise.ScriptUnreadable",
           t->err.msg);
    return;
  }
  rc = submit(t, t->script_text, &t->err);
  if (rc < 0) /* e.g. larger than 100 KB */
    finish(t, NULL, wh_error_name(rc), t->err.msg);
}

/* A stepwise.directdata.* activity ended (a cancelled task only frees). */
static void on_directdata(cJSON *output, const char *error,
                          const char *cause, void *payload)
{
  finish((sw_task *)payload, output, error, cause);
}

/* ---- stepwise.objects.get -------------------------------------------- */

/* Error names: the S3 error class a workflow can Retry or Catch on. */
static const char *object_error_name(int code)
{
  switch (code) {
  case SW_ENOTFOUND: return "Objects.NoSuchKey";
  case SW_EAGAIN: return "Objects.Transient";
  case SW_EINVAL: return "Objects.InvalidRequest";
  case SW_EREMOTE: return "Objects.Refused";
  default: return "Objects.Failed";
  }
}

typedef struct store_closer {
  uv_timer_t timer;
  sw_objects *os;
} store_closer;

static void closer_freed(uv_handle_t *h) { sw_free(h->data); }

static void closer_run(uv_timer_t *tm)
{
  store_closer *c = tm->data;

  sw_objects_close(c->os, NULL, NULL);
  uv_close((uv_handle_t *)tm, closer_freed);
}

/* Close a store on a later turn (not inside its own callback). */
static void close_store_later(uv_loop_t *loop, sw_objects *os)
{
  store_closer *c = sw_calloc(1, sizeof(*c));

  c->os = os;
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  uv_timer_start(&c->timer, closer_run, 0, 0);
}

static void on_object_got(const sw_err *err, void *payload)
{
  sw_task *t = payload;
  cJSON *out;

  close_store_later(t->loop, t->os);
  t->os = NULL;
  if (err) {
    finish(t, NULL, object_error_name(err->code), err->msg);
    return;
  }
  out = cJSON_CreateObject();
  cJSON_AddStringToObject(out, "file", sw_json_get_str(t->params, "Target"));
  cJSON_AddStringToObject(out, "key", sw_json_get_str(t->params, "Key"));
  finish(t, out, NULL, NULL);
}

/* Fetch Store/Key (Store defaults to s3://Bucket) into Target, whose
 * directory is created. Idempotent: a re-run fetches the object again
 * over the same file (temporary name, fsync, rename). */
static int object_get(sw_task *t, sw_err *err)
{
  const char *bucket = sw_json_get_str(t->params, "Bucket");
  const char *store = sw_json_get_str(t->params, "Store");
  const char *key = sw_json_get_str(t->params, "Key");
  const char *target = sw_json_get_str(t->params, "Target");
  char *url = NULL, *dir;
  const char *slash;
  int rc;

  if (!store && !bucket)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      OBJECT_GET_ACTIVITY " needs Bucket or Store");
  if (!target[0])
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      OBJECT_GET_ACTIVITY ": Target must be a file path");
  slash = strrchr(target, '/');
  if (slash && slash != target) {
    dir = sw_strndup(target, (size_t)(slash - target));
    rc = sw_mkdirs(dir, err);
    sw_free(dir);
    if (rc < 0)
      return rc;
  }
  if (!store)
    url = sw_asprintf("s3://%s", bucket);
  rc = sw_objects_open(&t->os, t->loop, store ? store : url, NULL, err);
  sw_free(url);
  if (rc == 0) {
    rc = sw_objects_get(t->os, key, target, on_object_got, t, err);
    if (rc < 0) {
      close_store_later(t->loop, t->os);
      t->os = NULL;
    }
  }
  return rc;
}

/* A stepwise.controlshift.* activity ended. */
static void on_controlshift(cJSON *output, const char *error,
                            const char *cause, void *payload)
{
  finish((sw_task *)payload, output, error, cause);
}

int sw_resources_invoke(sw_task **out, sw_resources *r,
                        const sw_task_call *call, sw_task_done_cb done,
                        void *payload, sw_err *err)
{
  const member *ms;
  const char *id, *token;
  sw_task *t;
  rkind kind;
  int rc = 0;

  *out = NULL;
  if (!resolve(call->resource, &kind, &ms))
    return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                      "unknown Task resource \"%s\"",
                      call->resource ? call->resource : "");
  t = sw_calloc(1, sizeof(*t));
  t->r = r;
  t->wh = r->wh;
  t->loop = r->loop;
  t->kind = kind;
  t->done = done;
  t->payload = payload;
  t->params = call->parameters ? sw_json_dup(call->parameters)
                               : cJSON_CreateObject();
  r->live++;
  *out = t;
  if (kind == R_INGEST) /* never fails for a name resolve() took */
    return sw_ingest_invoke(&t->ig_task, r->ig,
                            strstr(call->resource, ":activity:") + 10,
                            t->params, call->token, on_directdata, t, err);
  if (kind == R_DIRECTDATA) /* never fails for a name resolve() took */
    return sw_directdata_invoke(&t->dd_task, r->dd,
                                strstr(call->resource, ":activity:") + 10,
                                t->params, call->token, on_directdata, t,
                                err);
  if (kind == R_CONTROLSHIFT) /* never fails for a name resolve() took */
    return sw_controlshift_invoke(&t->cs_task, r->cs,
                                  strstr(call->resource, ":activity:") + 10,
                                  t->params, call->token, on_controlshift, t,
                                  err);

  rc = check_members(kind, ms, t->params, false, &t->err);
  if (rc == 0)
    rc = check_supported(t->params, &t->err);
  if (rc == 0 && kind == R_SCRIPT)
    rc = check_script_path(sw_json_get_str(t->params, "Script"), &t->err);
  if (rc < 0) {
    t->fail_name = kind == R_SCRIPT || kind == R_OBJECT_GET ? E_SW_VALIDATION
                                                           : E_VALIDATION;
    goto defer;
  }
  token = sw_json_get_str(t->params, "ClientToken");
  t->token = sw_strdup(token ? token : call->token);

  switch (kind) {
  case R_EXEC:
  case R_BATCH:
    rc = submit(t, NULL, &t->err);
    break;
  case R_DESCRIBE:
    rc = sw_warehouse_describe(t->wh, sw_json_get_str(t->params, "Id"),
                               on_json, t, &t->err);
    break;
  case R_RESULT:
    rc = sw_warehouse_result(t->wh, sw_json_get_str(t->params, "Id"),
                             sw_json_get_str(t->params, "NextToken"),
                             on_json, t, &t->err);
    break;
  case R_CANCEL:
    id = sw_json_get_str(t->params, "Id");
    rc = sw_warehouse_cancel(t->wh, id, on_json, t, &t->err);
    break;
  case R_SCRIPT:
    t->script_path = sw_asprintf("%s/%s", r->sql_dir,
                                 sw_json_get_str(t->params, "Script"));
    {
      const char *sc = sw_json_get_str(t->params, "Script");
      size_t n = strlen(sc);
      if (n > 4 && !strcmp(sc + n - 4, ".sql") && r->wh)
        t->variant_path = sw_asprintf("%s/%.*s.%s.sql", r->sql_dir,
                                      (int)(n - 4), sc,
                                      sw_warehouse_driver(r->wh));
      /* redshift-data: no variant of its own, the PostgreSQL one applies
       * (Redshift's dialect descends from PostgreSQL's, and the Data API
       * test peer runs PostgreSQL). */
      if (t->variant_path &&
          !strcmp(sw_warehouse_driver(r->wh), "redshift-data"))
        t->variant_path2 = sw_asprintf("%s/%.*s.postgres.sql", r->sql_dir,
                                       (int)(n - 4), sc);
    }
    goto defer; /* read_script_work reads it off the loop thread */
  case R_OBJECT_GET:
    rc = object_get(t, &t->err);
    if (rc < 0) {
      t->fail_name = rc == SW_EINVAL ? E_SW_VALIDATION : "Objects.Failed";
      goto defer;
    }
    return 0;
  case R_DIRECTDATA: /* returned above */
  case R_CONTROLSHIFT:
  case R_INGEST:
    break;
  }
  if (rc == 0)
    return 0;
  t->fail_name = wh_error_name(rc);

defer:
  uv_queue_work(r->loop, &t->work, read_script_work, deferred_done);
  return 0;
}

void sw_task_cancel(sw_task *t)
{
  if (!t || t->cancelled)
    return;
  t->cancelled = true;
  t->r->live--;
  t->r = NULL;
}
