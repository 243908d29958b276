/* SPDX-License-Identifier: MIT */
/* Task resources as a workflow uses them: the aws-sdk:redshiftdata actions
 * with Data API Parameters, results and error names, and the
 * stepwise.sql.submitScript activity over SQL files in sql/. */
#include "sw_test.h"

#include <sqlite3.h>
#include <stdlib.h>

#include "common/common.h"
#include "resources/resources.h"
#include "warehouse/warehouse.h"

#define EXEC "arn:aws:states:::aws-sdk:redshiftdata:executeStatement"
#define BATCH "arn:aws:states:::aws-sdk:redshiftdata:batchExecuteStatement"
#define DESCRIBE "arn:aws:states:::aws-sdk:redshiftdata:describeStatement"
#define RESULT "arn:aws:states:::aws-sdk:redshiftdata:getStatementResult"
#define CANCEL "arn:aws:states:::aws-sdk:redshiftdata:cancelStatement"
#define SCRIPT "arn:aws:states:::activity:stepwise.sql.submitScript"

#define TOKEN1                                                                 \
  "1111111111111111111111111111111111111111111111111111111111111111"
#define TOKEN2                                                                 \
  "2222222222222222222222222222222222222222222222222222222222222222"

typedef struct fixture {
  uv_loop_t loop;
  sw_warehouse *wh;
  sw_resources *r;
  char db[600];      /* warehouse file */
  char sql_dir[600]; /* scripts */
} fixture;

typedef struct outcome {
  bool done;
  cJSON *output;   /* owned */
  char error[128];
  char cause[SW_ERR_MSG_MAX];
} outcome;

static void on_done(sw_task_outcome *o, void *payload)
{
  outcome *out = payload;

  out->done = true;
  out->output = o->output;
  if (o->error)
    snprintf(out->error, sizeof(out->error), "%s", o->error);
  if (o->cause)
    snprintf(out->cause, sizeof(out->cause), "%s", o->cause);
}

static bool setup(fixture *f)
{
  sw_err err = SW_ERR_INIT;
  char *url;
  bool ok;

  memset(f, 0, sizeof(*f));
  uv_loop_init(&f->loop);
  snprintf(f->db, sizeof(f->db), "%s/wh.db", sw_test_tmpdir());
  snprintf(f->sql_dir, sizeof(f->sql_dir), "%s/sql", sw_test_tmpdir());
  url = sw_asprintf("sqlite:%s", f->db);
  ok = sw_mkdirs(f->sql_dir, &err) == 0 &&
       sw_warehouse_open(&f->wh, &f->loop, url, NULL, &err) == 0 &&
       sw_resources_new(&f->r, &f->loop, f->wh, f->sql_dir, &err) == 0;
  if (!ok)
    fprintf(stderr, "  setup: %s\n", err.msg);
  sw_free(url);
  return ok;
}

static void on_closed(void *payload)
{
  *(bool *)payload = true;
}

static int teardown(fixture *f)
{
  bool closed = false;

  sw_resources_free(f->r);
  sw_warehouse_close(f->wh, on_closed, &closed);
  while (!closed)
    uv_run(&f->loop, UV_RUN_ONCE);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  return uv_loop_close(&f->loop);
}

/* Invoke and run the loop until done; returns invoke's rc. */
static int invoke(fixture *f, const char *resource, const char *params_json,
                  const char *token, outcome *o)
{
  cJSON *params = params_json ? cJSON_Parse(params_json) : NULL;
  sw_task_call call = {resource, params, token};
  sw_err err = SW_ERR_INIT;
  sw_task *t = NULL;
  int rc;

  memset(o, 0, sizeof(*o));
  rc = sw_resources_invoke(&t, f->r, &call, on_done, o, &err);
  cJSON_Delete(params);
  if (rc < 0)
    return rc;
  while (!o->done)
    uv_run(&f->loop, UV_RUN_ONCE);
  return 0;
}

/* describeStatement until a terminal Status; returns its output. */
static cJSON *wait_done(fixture *f, const char *id)
{
  char *params = sw_asprintf("{\"Id\": \"%s\"}", id);
  const char *s;
  outcome o;
  int i;

  for (i = 0; i < 5000; i++) {
    if (invoke(f, DESCRIBE, params, NULL, &o) < 0 || !o.output)
      break;
    s = sw_json_get_str(o.output, "Status");
    if (!strcmp(s, "FINISHED") || !strcmp(s, "FAILED") ||
        !strcmp(s, "ABORTED")) {
      sw_free(params);
      return o.output;
    }
    cJSON_Delete(o.output);
    uv_sleep(2);
  }
  sw_free(params);
  return NULL;
}

static long long scalar(const char *path, const char *sql)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  long long v = -999;

  if (sqlite3_open(path, &db) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

static bool write_file(const char *path, const char *text)
{
  FILE *fp = fopen(path, "w");

  if (!fp)
    return false;
  fputs(text, fp);
  return fclose(fp) == 0;
}

SW_TEST(resources_redshiftdata__execute_describe_result)
{
  fixture f;
  outcome o;
  char id[64], *p;
  cJSON *d;

  SW_ASSERT(setup(&f));
  SW_ASSERT_OK(invoke(&f, EXEC,
                      "{\"Sql\": \"CREATE TABLE t (d TEXT, n INTEGER);"
                      " INSERT INTO t VALUES (:d, 5)\","
                      " \"Parameters\": [{\"name\": \"d\","
                      " \"value\": \"2021-06-26\"}],"
                      " \"Database\": \"dev\", \"WorkgroupName\": \"wg-1\","
                      " \"SecretArn\": \"arn:aws:secretsmanager:x\"}",
                      TOKEN1, &o));
  SW_ASSERT_STR_EQ(o.error, "");
  SW_ASSERT_NOT_NULL(o.output);
  SW_ASSERT_STR_EQ(sw_json_get_str(o.output, "Database"), "dev");
  SW_ASSERT_STR_EQ(sw_json_get_str(o.output, "WorkgroupName"), "wg-1");
  SW_ASSERT_NOT_NULL(sw_json_get_str(o.output, "CreatedAt"));
  snprintf(id, sizeof(id), "%s", sw_json_get_str(o.output, "Id"));
  SW_ASSERT_EQ(strlen(id), 36);
  cJSON_Delete(o.output);

  d = wait_done(&f, id);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Database"), "dev");
  cJSON_Delete(d);

  SW_ASSERT_OK(invoke(&f, EXEC, "{\"Sql\": \"SELECT d, n FROM t\"}", TOKEN2,
                      &o));
  snprintf(id, sizeof(id), "%s", sw_json_get_str(o.output, "Id"));
  cJSON_Delete(o.output);
  d = wait_done(&f, id);
  SW_ASSERT_NOT_NULL(d);
  cJSON_Delete(d);
  p = sw_asprintf("{\"Id\": \"%s\"}", id);
  SW_ASSERT_OK(invoke(&f, RESULT, p, NULL, &o));
  sw_free(p);
  SW_ASSERT_NOT_NULL(o.output);
  SW_ASSERT_JSON_EQ(sw_json_get(o.output, "Records"),
                    "[[{\"stringValue\":\"2021-06-26\"},{\"longValue\":5}]]");
  SW_ASSERT_EQ(sw_json_get(o.output, "TotalNumRows")->valuedouble, 1);
  cJSON_Delete(o.output);

  /* cancelStatement on a finished statement: ValidationException. */
  p = sw_asprintf("{\"Id\": \"%s\"}", id);
  SW_ASSERT_OK(invoke(&f, CANCEL, p, NULL, &o));
  sw_free(p);
  SW_ASSERT_STR_EQ(o.error, "RedshiftData.ValidationException");
  SW_ASSERT_STR_CONTAINS(o.cause, "FINISHED");
  SW_ASSERT_EQ(teardown(&f), 0);
}

SW_TEST(resources_redshiftdata__validation_errors_are_data_api_shaped)
{
  fixture f;
  outcome o;
  sw_buf big = SW_BUF_INIT(0);
  sw_err err = SW_ERR_INIT;
  int i;

  SW_ASSERT(setup(&f));
  SW_ASSERT_OK(invoke(&f, EXEC, "{\"Database\": \"dev\"}", TOKEN1, &o));
  SW_ASSERT_NULL(o.output);
  SW_ASSERT_STR_EQ(o.error, "RedshiftData.ValidationException");
  SW_ASSERT_STR_CONTAINS(o.cause, "Value null at 'Sql' failed to satisfy "
                                  "constraint: Member must not be null");

  SW_ASSERT_OK(invoke(&f, EXEC, "{\"Sql\": 5}", TOKEN1, &o));
  SW_ASSERT_STR_EQ(o.error, "RedshiftData.ValidationException");
  SW_ASSERT_STR_CONTAINS(o.cause, "'Sql'");

  SW_ASSERT_OK(invoke(&f, EXEC, "{\"Sql\": \"SELECT 1\", \"Foo\": 1}",
                      TOKEN1, &o));
  SW_ASSERT_STR_EQ(o.error, "RedshiftData.ValidationException");
  SW_ASSERT_STR_CONTAINS(o.cause, "Unknown parameter 'Foo'");

  /* SqlParameter members are lower-case in the model. */
  SW_ASSERT_OK(invoke(&f, EXEC,
                      "{\"Sql\": \"SELECT :a\", \"Parameters\":"
                      " [{\"Name\": \"a\", \"Value\": \"1\"}]}",
                      TOKEN1, &o));
  SW_ASSERT_STR_EQ(o.error, "RedshiftData.ValidationException");
  SW_ASSERT_STR_CONTAINS(o.cause, "'Parameters.1.member.name'");

  SW_ASSERT_OK(invoke(&f, EXEC,
                      "{\"Sql\": \"SELECT :a\", \"Parameters\":"
                      " [{\"name\": \"a-b\", \"value\": \"1\"}]}",
                      TOKEN1, &o));
  SW_ASSERT_STR_EQ(o.error, "RedshiftData.ValidationException");
  SW_ASSERT_STR_CONTAINS(o.cause, "regular expression");

  SW_ASSERT_OK(invoke(&f, BATCH, "{\"Sqls\": []}", TOKEN1, &o));
  SW_ASSERT_STR_EQ(o.error, "RedshiftData.ValidationException");
  SW_ASSERT_STR_CONTAINS(o.cause, "between 1 and 40");
  SW_ASSERT_OK(invoke(&f, BATCH, "{\"Sql\": \"SELECT 1\"}", TOKEN1, &o));
  SW_ASSERT_STR_CONTAINS(o.cause, "Value null at 'Sqls'");

  SW_ASSERT_OK(sw_buf_puts(&big, "{\"Sql\": \"SELECT 1", &err));
  for (i = 0; i < 110 * 1024 / 8; i++)
    SW_ASSERT_OK(sw_buf_puts(&big, " + 1    ", &err));
  SW_ASSERT_OK(sw_buf_puts(&big, "\"}", &err));
  SW_ASSERT_OK(invoke(&f, EXEC, big.ptr, TOKEN1, &o));
  sw_buf_dispose(&big);
  SW_ASSERT_STR_EQ(o.error, "RedshiftData.ValidationException");
  SW_ASSERT_STR_CONTAINS(o.cause, "100 KB");

  SW_ASSERT_OK(invoke(&f, DESCRIBE, "{\"Id\": \"nope\"}", NULL, &o));
  SW_ASSERT_STR_EQ(o.error, "RedshiftData.ValidationException");
  SW_ASSERT_OK(invoke(&f, DESCRIBE,
                      "{\"Id\": \"01234567-89ab-4cde-8f01-23456789abcd\"}",
                      NULL, &o));
  SW_ASSERT_STR_EQ(o.error, "RedshiftData.ResourceNotFoundException");
  SW_ASSERT_OK(invoke(&f, RESULT, "{}", NULL, &o));
  SW_ASSERT_STR_CONTAINS(o.cause, "Value null at 'Id'");

  /* Nothing reached the warehouse. */
  SW_ASSERT_EQ(scalar(f.db, "SELECT count(*) FROM stepwise_statements"), 0);
  SW_ASSERT_EQ(teardown(&f), 0);
}

SW_TEST(resources_redshiftdata__same_token_runs_once)
{
  fixture f;
  outcome o;
  char id1[64], id2[64];
  cJSON *d;
  const char *params = "{\"Sqls\": [\"CREATE TABLE IF NOT EXISTS t (x)\","
                       " \"INSERT INTO t VALUES (1)\"]}";

  SW_ASSERT(setup(&f));
  SW_ASSERT_OK(invoke(&f, BATCH, params, TOKEN1, &o));
  snprintf(id1, sizeof(id1), "%s", sw_json_get_str(o.output, "Id"));
  cJSON_Delete(o.output);
  d = wait_done(&f, id1);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_EQ(cJSON_GetArraySize(sw_json_get(d, "SubStatements")), 2);
  cJSON_Delete(d);
  /* The engine re-invokes with the same token after a crash. */
  SW_ASSERT_OK(invoke(&f, BATCH, params, TOKEN1, &o));
  snprintf(id2, sizeof(id2), "%s", sw_json_get_str(o.output, "Id"));
  cJSON_Delete(o.output);
  SW_ASSERT_STR_EQ(id1, id2);
  /* An explicit ClientToken wins over the call's token. */
  SW_ASSERT_OK(invoke(&f, EXEC,
                      "{\"Sql\": \"INSERT INTO t VALUES (2)\","
                      " \"ClientToken\": \"mine\"}",
                      TOKEN2, &o));
  snprintf(id2, sizeof(id2), "%s", sw_json_get_str(o.output, "Id"));
  cJSON_Delete(o.output);
  d = wait_done(&f, id2);
  cJSON_Delete(d);
  SW_ASSERT_EQ(teardown(&f), 0);
  SW_ASSERT_EQ(scalar(f.db, "SELECT count(*) FROM stepwise_statements"
                            " WHERE client_token = 'mine'"), 1);
  SW_ASSERT_EQ(scalar(f.db, "SELECT count(*) FROM t"), 2);
}

SW_TEST(resources_script__submits_file_with_bound_parameters)
{
  fixture f;
  outcome o;
  char id[64], *path;
  cJSON *d;

  SW_ASSERT(setup(&f));
  path = sw_asprintf("%s/sales", f.sql_dir);
  SW_ASSERT_OK(sw_mkdirs(path, NULL));
  sw_free(path);
  path = sw_asprintf("%s/sales/setup.sql", f.sql_dir);
  SW_ASSERT(write_file(path,
                       "-- one run per date\n"
                       "CREATE TABLE IF NOT EXISTS runs (d TEXT, scale INT,"
                       " full INT);\n"
                       "DELETE FROM runs WHERE d = :run_date;\n"
                       "INSERT INTO runs VALUES (:run_date, :scale,"
                       " :full);\n"));
  sw_free(path);

  SW_ASSERT_OK(invoke(&f, SCRIPT,
                      "{\"Script\": \"sales/setup.sql\", \"Parameters\":"
                      " {\"run_date\": \"2021-06-26\", \"scale\": 1,"
                      " \"full\": true}, \"StatementName\": \"setup\"}",
                      TOKEN1, &o));
  SW_ASSERT_STR_EQ(o.error, "");
  SW_ASSERT_STR_EQ(sw_json_get_str(o.output, "Script"), "sales/setup.sql");
  snprintf(id, sizeof(id), "%s", sw_json_get_str(o.output, "Id"));
  cJSON_Delete(o.output);
  d = wait_done(&f, id);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  SW_ASSERT_STR_CONTAINS(sw_json_get_str(d, "QueryString"),
                         "INSERT INTO runs");
  cJSON_Delete(d);

  /* Data API list form, region/account filled in (activity worker). */
  SW_ASSERT_OK(invoke(&f,
                      "arn:aws:states:eu-west-1:123456789012:activity:"
                      "stepwise.sql.submitScript",
                      "{\"Script\": \"sales/setup.sql\", \"Parameters\":"
                      " [{\"name\": \"run_date\", \"value\": \"2021-06-27\"},"
                      " {\"name\": \"scale\", \"value\": \"2\"},"
                      " {\"name\": \"full\", \"value\": \"false\"}]}",
                      TOKEN2, &o));
  SW_ASSERT_STR_EQ(o.error, "");
  snprintf(id, sizeof(id), "%s", sw_json_get_str(o.output, "Id"));
  cJSON_Delete(o.output);
  d = wait_done(&f, id);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  cJSON_Delete(d);
  SW_ASSERT_EQ(teardown(&f), 0);
  SW_ASSERT_EQ(scalar(f.db, "SELECT scale FROM runs WHERE d = '2021-06-26'"
                            " AND full = 'true'"), 1);
  SW_ASSERT_EQ(scalar(f.db, "SELECT scale FROM runs WHERE d = '2021-06-27'"),
               2);
}

SW_TEST(resources_script__missing_or_unsafe_script)
{
  fixture f;
  outcome o;
  sw_err err = SW_ERR_INIT;
  cJSON *tmpl;

  SW_ASSERT(setup(&f));
  SW_ASSERT_OK(invoke(&f, SCRIPT, "{\"Script\": \"sales/x.sql\"}", TOKEN1,
                      &o));
  SW_ASSERT_NULL(o.output);
  SW_ASSERT_STR_EQ(o.error, "Stepwise.ScriptNotFound");
  SW_ASSERT_STR_CONTAINS(o.cause, "script \"sales/x.sql\" not found in ");
  SW_ASSERT_OK(invoke(&f, SCRIPT, "{\"Script\": \"../wh.db\"}", TOKEN1, &o));
  SW_ASSERT_STR_EQ(o.error, "Stepwise.ValidationException");
  SW_ASSERT_STR_CONTAINS(o.cause, "..");
  SW_ASSERT_OK(invoke(&f, SCRIPT, "{\"Script\": \"/etc/passwd\"}", TOKEN1,
                      &o));
  SW_ASSERT_STR_EQ(o.error, "Stepwise.ValidationException");
  SW_ASSERT_OK(invoke(&f, SCRIPT,
                      "{\"Script\": \"a.sql\","
                      " \"Parameters\": {\"x\": {}}}",
                      TOKEN1, &o));
  SW_ASSERT_STR_EQ(o.error, "Stepwise.ValidationException");
  SW_ASSERT_STR_CONTAINS(o.cause, "Parameters.x");

  /* preflight: what is known before an execution starts */
  tmpl = cJSON_Parse("{\"Script\": \"sales/x.sql\"}");
  SW_ASSERT_ERR(sw_resources_preflight(f.r, SCRIPT, tmpl, &err),
                SW_ENOTFOUND);
  SW_ASSERT_STR_CONTAINS(err.msg, "script \"sales/x.sql\" not found in ");
  SW_ASSERT_STR_CONTAINS(err.msg, "/sql/");
  cJSON_Delete(tmpl);
  tmpl = cJSON_Parse("{\"Script.$\": \"$.script\","
                     " \"Parameters\": {\"run_date.$\": \"$.d\"}}");
  SW_ASSERT_OK(sw_resources_preflight(f.r, SCRIPT, tmpl, &err));
  cJSON_Delete(tmpl);
  tmpl = cJSON_Parse("{\"Database\": \"dev\"}");
  SW_ASSERT_ERR(sw_resources_preflight(f.r, EXEC, tmpl, &err), SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(err.msg, "'Sql'");
  cJSON_Delete(tmpl);
  tmpl = cJSON_Parse("{\"Sql.$\": \"$.sql\", \"Parameters\":"
                     " [{\"name\": \"d\", \"value.$\": \"$.d\"}]}");
  SW_ASSERT_OK(sw_resources_preflight(f.r, EXEC, tmpl, &err));
  cJSON_Delete(tmpl);
  SW_ASSERT_ERR(sw_resources_preflight(
                    f.r, "arn:aws:states:::aws-sdk:redshiftdata:listTables",
                    NULL, &err),
                SW_ENOTFOUND);
  SW_ASSERT_STR_CONTAINS(err.msg, "listTables");
  SW_ASSERT_ERR(sw_resources_preflight(
                    f.r, "arn:aws:states:::activity:stepwise.sql.nope", NULL,
                    &err),
                SW_ENOTFOUND);
  SW_ASSERT_ERR(invoke(&f, "arn:aws:lambda:us-east-1:1:function:f", "{}",
                       TOKEN1, &o),
                SW_ENOTFOUND);
  SW_ASSERT(!o.done);
  SW_ASSERT_EQ(teardown(&f), 0);
}

static void never(sw_task_outcome *o, void *payload)
{
  (void)payload;
  cJSON_Delete(o->output);
  sw_test_fail(__FILE__, __LINE__, "done called after sw_task_cancel");
}

/* Task timeout: the engine stops waiting; done is never called and the
 * statement it started is cancelled. */
SW_TEST(resources__cancelled_task_never_completes)
{
  fixture f;
  cJSON *params = cJSON_Parse(
      "{\"Sql\": \"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1"
      " FROM c WHERE x < 2000000000) SELECT count(*) FROM c\"}");
  sw_task_call call = {EXEC, params, TOKEN1};
  sw_err err = SW_ERR_INIT;
  sw_task *t = NULL;

  SW_ASSERT(setup(&f));
  SW_ASSERT_OK(sw_resources_invoke(&t, f.r, &call, never, NULL, &err));
  cJSON_Delete(params);
  sw_task_cancel(t);
  /* Runs until the statement's job ends, which it does only if the
   * cancelled task cancelled it. */
  uv_run(&f.loop, UV_RUN_DEFAULT);
  SW_ASSERT_EQ(teardown(&f), 0);
  SW_ASSERT_EQ(scalar(f.db, "SELECT status = 'ABORTED' FROM"
                            " stepwise_statements"), 1);
}
