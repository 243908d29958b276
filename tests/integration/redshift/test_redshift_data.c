/* SPDX-License-Identifier: MIT */
/* redshift-data warehouse driver against the Data API peer
 * (tests/peers/data_api), which checks SigV4 with AWS's signer, validates
 * bodies against botocore's model and runs the SQL on PostgreSQL. Skips
 * (77) without SW_TEST_PG_DSN or without node_modules. Each test starts
 * its own peer and ends with uv_loop_close() == 0. */
#include "sw_test.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../objects/s3_peer.h"
#include "common/common.h"
#include "http/http.h"
#include "objects/objects.h"
#include "warehouse/warehouse.h"

typedef struct peer {
  pid_t pid;
  int port;
  char url[64];
} peer;

typedef struct waitbox {
  bool done;
  int code;
  char msg[SW_ERR_MSG_MAX];
  char id[64];
  cJSON *resp; /* owned */
} waitbox;

/* Start the peer (extra: NULL-terminated env assignments for it). */
static bool peer_start(peer *p, const char *const *extra)
{
  const char *dsn = getenv("SW_TEST_PG_DSN");
  char mod[1024], script[1024], model[1024], log[1024], line[256];
  char errpath[1024];
  int fds[2];
  size_t n = 0;
  struct pollfd pf;
  ssize_t got;

  if (!dsn || !*dsn)
    sw_test_skip("SW_TEST_PG_DSN is not set (tools/test starts PostgreSQL)");
  snprintf(mod, sizeof(mod), "%s/node_modules/@smithy/signature-v4",
           sw_test_srcdir());
  if (access(mod, F_OK) != 0)
    sw_test_skip("node_modules missing (npm ci)");
  snprintf(script, sizeof(script), "%s/tests/peers/data_api/server.mjs",
           sw_test_srcdir());
  snprintf(model, sizeof(model),
           "%s/reference/botocore/redshift-data/service-2.json",
           sw_test_shareddir());
  snprintf(log, sizeof(log), "%s/peer.log", sw_test_tmpdir());
  snprintf(errpath, sizeof(errpath), "%s/peer.err", sw_test_tmpdir());
  if (pipe(fds) != 0)
    return false;
  p->pid = fork();
  if (p->pid == 0) {
    int errfd = open(errpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
    /* The peer dies with the test process (a test killed by its alarm
     * must not leave a server holding the runner's pipes). */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    dup2(fds[1], 1);
    if (errfd >= 0)
      dup2(errfd, 2);
    close(fds[0]);
    close(fds[1]);
    setenv("SW_DATAAPI_MODEL", model, 1);
    for (; extra && *extra; extra++) {
      char kv[512], *eq;
      snprintf(kv, sizeof(kv), "%s", *extra);
      eq = strchr(kv, '=');
      if (eq) {
        *eq = '\0';
        setenv(kv, eq + 1, 1);
      }
    }
    execlp("node", "node", script, "--step-ms", "5", "--log", log,
           (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  pf.fd = fds[0];
  pf.events = POLLIN;
  while (n < sizeof(line) - 1 && poll(&pf, 1, 10000) == 1) {
    got = read(fds[0], line + n, 1);
    if (got <= 0)
      break;
    if (line[n] == '\n')
      break;
    n++;
  }
  line[n] = '\0';
  close(fds[0]);
  if (sscanf(line, "listening http://127.0.0.1:%d", &p->port) != 1) {
    fprintf(stderr, "  peer did not start: '%s'\n", line);
    return false;
  }
  snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%d", p->port);
  setenv("AWS_ENDPOINT_URL_REDSHIFT_DATA", p->url, 1);
  setenv("AWS_ACCESS_KEY_ID", "AKIDSTEPWISETEST", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "stepwise-test-secret", 1);
  unsetenv("AWS_SESSION_TOKEN");
  unsetenv("AWS_PROFILE");
  return true;
}

static void peer_stop(peer *p)
{
  int st;

  if (p->pid > 0) {
    kill(p->pid, SIGTERM);
    waitpid(p->pid, &st, 0);
    p->pid = 0;
  }
}

static size_t sink(char *d, size_t s, size_t n, void *u)
{
  sw_buf *b = u;

  sw_buf_put(b, d, s * n, NULL);
  return s * n;
}

/* A control request to the peer (blocking; test code only). Returns the
 * parsed JSON answer (caller deletes) or NULL. */
static cJSON *peer_ctl(const peer *p, const char *path, const char *json)
{
  CURL *c = curl_easy_init();
  sw_buf b = SW_BUF_INIT(0);
  char url[256];
  cJSON *out = NULL;

  snprintf(url, sizeof(url), "%s%s", p->url, path);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  if (json)
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
  if (curl_easy_perform(c) == CURLE_OK && b.ptr)
    out = cJSON_Parse(b.ptr);
  curl_easy_cleanup(c);
  sw_buf_dispose(&b);
  return out;
}

/* How many times the peer ran the statement with this ClientToken, and
 * how many statements it holds for it (-1 when none). */
static int peer_runs(const peer *p, const char *token, int *n_statements)
{
  cJSON *all = peer_ctl(p, "/__peer/statements", NULL), *s;
  int runs = -1, n = 0;

  cJSON_ArrayForEach(s, all) {
    const char *t = sw_json_get_str(s, "ClientToken");
    if (t && !strcmp(t, token)) {
      n++;
      runs = (runs < 0 ? 0 : runs) +
             (int)cJSON_GetNumberValue(sw_json_get(s, "runs"));
    }
  }
  cJSON_Delete(all);
  if (n_statements)
    *n_statements = n;
  return runs;
}

static void on_submit(const sw_err *err, const char *id, void *payload)
{
  waitbox *b = payload;

  b->done = true;
  b->code = err ? err->code : 0;
  if (err)
    snprintf(b->msg, sizeof(b->msg), "%s", err->msg);
  if (id)
    snprintf(b->id, sizeof(b->id), "%s", id);
}

static void on_json(const sw_err *err, cJSON *resp, void *payload)
{
  waitbox *b = payload;

  b->done = true;
  b->code = err ? err->code : 0;
  if (err)
    snprintf(b->msg, sizeof(b->msg), "%s", err->msg);
  b->resp = resp;
}

static void run_until(uv_loop_t *loop, waitbox *b)
{
  while (!b->done)
    uv_run(loop, UV_RUN_ONCE);
}

typedef struct env {
  uv_loop_t loop;
  sw_warehouse *wh;
  peer p;
} env;

static char *url_for(const char *host, const char *extra)
{
  return sw_asprintf("redshift-data://%s/dev?secret_arn=arn:aws:"
                     "secretsmanager:us-east-1:123456789012:secret:x"
                     "&region=us-east-1&retry_base_ms=5&retry_cap_ms=50%s",
                     host, extra ? extra : "");
}

static int env_open(env *e, const char *url, sw_err *err)
{
  return sw_warehouse_open(&e->wh, &e->loop, url, sw_test_tmpdir(), err);
}

static void closed_cb(void *payload) { *(bool *)payload = true; }

/* Close the warehouse, stop the peer; false when the loop kept handles. */
static bool env_close(env *e)
{
  bool closed = false;

  sw_warehouse_close(e->wh, closed_cb, &closed);
  while (!closed)
    uv_run(&e->loop, UV_RUN_ONCE);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  peer_stop(&e->p);
  return uv_loop_close(&e->loop) == 0;
}

static int submit(env *e, const char *sql, const sw_wh_param *params,
                  size_t n_params, const char *token, char *id_out,
                  char *msg_out)
{
  const char *sqls[1] = {sql};
  sw_wh_submit req = {sqls, 1, false, params, n_params, token, NULL, NULL};
  waitbox b = {0};
  sw_err err = SW_ERR_INIT;
  int rc = sw_warehouse_submit(e->wh, &req, on_submit, &b, &err);

  if (rc < 0) {
    if (msg_out)
      snprintf(msg_out, SW_ERR_MSG_MAX, "%s", err.msg);
    return rc;
  }
  run_until(&e->loop, &b);
  if (id_out)
    snprintf(id_out, 64, "%s", b.id);
  if (msg_out)
    snprintf(msg_out, SW_ERR_MSG_MAX, "%s", b.msg);
  return b.code;
}

static int call(env *e, int which, const char *id, const char *next,
                cJSON **out, char *msg_out)
{
  waitbox b = {0};
  sw_err err = SW_ERR_INIT;
  int rc;

  if (which == 0)
    rc = sw_warehouse_describe(e->wh, id, on_json, &b, &err);
  else if (which == 1)
    rc = sw_warehouse_result(e->wh, id, next, on_json, &b, &err);
  else
    rc = sw_warehouse_cancel(e->wh, id, on_json, &b, &err);
  if (rc < 0) {
    if (msg_out)
      snprintf(msg_out, SW_ERR_MSG_MAX, "%s", err.msg);
    return rc;
  }
  run_until(&e->loop, &b);
  if (msg_out)
    snprintf(msg_out, SW_ERR_MSG_MAX, "%s", b.msg);
  *out = b.resp;
  return b.code;
}

/* Poll DescribeStatement until a terminal status; the last response. */
static cJSON *wait_terminal(env *e, const char *id)
{
  cJSON *d = NULL;
  const char *st;
  int i;

  for (i = 0; i < 2000; i++) {
    cJSON_Delete(d);
    d = NULL;
    if (call(e, 0, id, NULL, &d, NULL) != 0)
      return NULL;
    st = sw_json_get_str(d, "Status");
    if (st && (!strcmp(st, "FINISHED") || !strcmp(st, "FAILED") ||
               !strcmp(st, "ABORTED")))
      return d;
    uv_sleep(5);
  }
  return d;
}

#define SETUP(e, extra_url)                                                    \
  env e;                                                                       \
  sw_err err = SW_ERR_INIT;                                                    \
  char *url_ = NULL;                                                           \
  memset(&e, 0, sizeof(e));                                                    \
  uv_loop_init(&e.loop);                                                       \
  SW_ASSERT(peer_start(&e.p, NULL));                                           \
  url_ = url_for("wg1", extra_url);                                            \
  if (env_open(&e, url_, &err) != 0) {                                         \
    sw_free(url_);                                                             \
    peer_stop(&e.p);                                                           \
    sw_test_fail(__FILE__, __LINE__, "open: %s", err.msg);                     \
    return;                                                                    \
  }                                                                            \
  sw_free(url_)

SW_TEST(redshift_data__execute_describe_result)
{
  char id[64], msg[SW_ERR_MSG_MAX], sql[256];
  sw_wh_param prm[] = {{"v", "hello"}, {"n", "7"}};
  cJSON *d, *r;
  SETUP(e, NULL);

  SW_ASSERT_STR_EQ(sw_warehouse_driver(e.wh), "redshift-data");
  snprintf(sql, sizeof(sql), "SELECT :v AS v, CAST(:n AS INTEGER) + 1 AS n, "
           "NULL AS z, 'it''s; fine' AS q");
  SW_ASSERT_OK(submit(&e, sql, prm, 2, "tok-exec", id, msg));
  d = wait_terminal(&e, id);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Id"), id);
  /* CreatedAt is ISO 8601 text, as from every driver. */
  SW_ASSERT(cJSON_IsString(sw_json_get(d, "CreatedAt")));
  SW_ASSERT(strchr(sw_json_get_str(d, "CreatedAt"), 'T') != NULL);
  SW_ASSERT(cJSON_IsTrue(sw_json_get(d, "HasResultSet")));
  cJSON_Delete(d);
  SW_ASSERT_OK(call(&e, 1, id, NULL, &r, msg));
  SW_ASSERT_JSON_EQ(sw_json_get(r, "Records"),
                    "[[{\"stringValue\":\"hello\"},{\"longValue\":8},"
                    "{\"isNull\":true},{\"stringValue\":\"it's; fine\"}]]");
  SW_ASSERT_EQ(cJSON_GetNumberValue(sw_json_get(r, "TotalNumRows")), 1);
  cJSON_Delete(r);
  SW_ASSERT(env_close(&e));
}

SW_TEST(redshift_data__wrong_secret_is_a_clear_error)
{
  char id[64], msg[SW_ERR_MSG_MAX];
  SETUP(e, NULL);

  /* Credentials are read at open: reopen with a wrong secret. */
  {
    bool closed = false;
    sw_warehouse_close(e.wh, closed_cb, &closed);
    while (!closed)
      uv_run(&e.loop, UV_RUN_ONCE);
  }
  setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1);
  url_ = url_for("wg1", NULL);
  SW_ASSERT_OK(env_open(&e, url_, &err));
  sw_free(url_);
  SW_ASSERT_ERR(submit(&e, "SELECT 1", NULL, 0, "tok-bad", id, msg),
                SW_EREMOTE);
  SW_ASSERT_STR_CONTAINS(msg, "InvalidSignatureException");
  SW_ASSERT_STR_CONTAINS(msg, "HTTP 403");
  SW_ASSERT_STR_CONTAINS(msg, "credentials from environment");
  SW_ASSERT(strstr(msg, "not-the-secret") == NULL);
  SW_ASSERT(env_close(&e));
}

SW_TEST(redshift_data__unknown_key_and_no_credentials)
{
  env e;
  sw_err err = SW_ERR_INIT;
  char *url;

  memset(&e, 0, sizeof(e));
  uv_loop_init(&e.loop);
  SW_ASSERT(peer_start(&e.p, NULL));
  setenv("AWS_ACCESS_KEY_ID", "AKIDUNKNOWN", 1);
  url = url_for("wg1", NULL);
  SW_ASSERT_OK(env_open(&e, url, &err));
  {
    char msg[SW_ERR_MSG_MAX];
    SW_ASSERT_ERR(submit(&e, "SELECT 1", NULL, 0, "t", NULL, msg),
                  SW_EREMOTE);
    SW_ASSERT_STR_CONTAINS(msg, "UnrecognizedClientException");
  }
  SW_ASSERT(env_close(&e));
  /* No credentials at all: open fails and says where it looked. */
  SW_ASSERT_OK(uv_loop_init(&e.loop));
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  setenv("HOME", sw_test_tmpdir(), 1);
  unsetenv("AWS_SHARED_CREDENTIALS_FILE");
  unsetenv("AWS_CONFIG_FILE");
  SW_ASSERT_ERR(env_open(&e, url, &err), SW_ENOTFOUND);
  SW_ASSERT_STR_CONTAINS(err.msg, "no AWS credentials");
  SW_ASSERT_STR_CONTAINS(err.msg, ".aws/credentials");
  sw_free(url);
  SW_ASSERT_EQ(uv_loop_close(&e.loop), 0);
}

SW_TEST(redshift_data__validation_errors)
{
  char id[64], msg[SW_ERR_MSG_MAX];
  cJSON *d = NULL;
  env e2;
  char *url;
  SETUP(e, NULL);

  /* The peer checks the model: a workgroup name of 2 characters. */
  memset(&e2, 0, sizeof(e2));
  url = url_for("wg", NULL);
  SW_ASSERT_OK(sw_warehouse_open(&e2.wh, &e.loop, url, sw_test_tmpdir(),
                                 &err));
  sw_free(url);
  {
    const char *sqls[1] = {"SELECT 1"};
    sw_wh_submit req = {sqls, 1, false, NULL, 0, "tok-v", NULL, NULL};
    waitbox b = {0};
    bool closed = false;
    SW_ASSERT_OK(sw_warehouse_submit(e2.wh, &req, on_submit, &b, &err));
    run_until(&e.loop, &b);
    SW_ASSERT_EQ(b.code, SW_EINVAL);
    SW_ASSERT_STR_CONTAINS(b.msg, "ValidationException");
    SW_ASSERT_STR_CONTAINS(b.msg, "WorkgroupName");
    sw_warehouse_close(e2.wh, closed_cb, &closed);
    while (!closed)
      uv_run(&e.loop, UV_RUN_ONCE);
  }
  /* A :name without a value is refused before any request. */
  SW_ASSERT_ERR(submit(&e, "SELECT :nope", NULL, 0, "tok-p", id, msg),
                SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(msg, "nope");
  /* A well-formed Id the service does not know. */
  SW_ASSERT_ERR(call(&e, 0, "00000000-0000-4000-8000-000000000000", NULL,
                     &d, msg),
                SW_ENOTFOUND);
  SW_ASSERT_STR_CONTAINS(msg, "ResourceNotFoundException");
  /* A SQL error is a FAILED statement carrying PostgreSQL's message. */
  SW_ASSERT_OK(submit(&e, "SELEC 1", NULL, 0, "tok-syntax", id, msg));
  d = wait_terminal(&e, id);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FAILED");
  SW_ASSERT_STR_CONTAINS(sw_json_get_str(d, "Error"), "syntax error");
  cJSON_Delete(d);
  /* Bad URL parameters are named. */
  url = sw_asprintf("redshift-data://wg1/dev?colour=blue");
  SW_ASSERT_ERR(sw_warehouse_open(&e2.wh, &e.loop, url, ".", &err),
                SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(err.msg, "unknown parameter 'colour'");
  sw_free(url);
  SW_ASSERT_ERR(sw_warehouse_open(&e2.wh, &e.loop, "redshift-data://wg1",
                                  ".", &err),
                SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(err.msg, "database");
  SW_ASSERT(env_close(&e));
}

SW_TEST(redshift_data__script_becomes_one_batch)
{
  char id[64], sub[80], msg[SW_ERR_MSG_MAX], sql[1024], tbl[64];
  sw_wh_param prm[] = {{"v", "41"}, {"unused", "x"}};
  cJSON *d, *r;
  sw_buf big = SW_BUF_INIT(0);
  int i;
  SETUP(e, NULL);

  snprintf(tbl, sizeof(tbl), "rs_batch_%d", (int)getpid());
  snprintf(sql, sizeof(sql),
           "-- a script; the ';' in 'a;b' does not split\n"
           "CREATE TABLE %s (n INTEGER, t TEXT);\n"
           "INSERT INTO %s VALUES (CAST(:v AS INTEGER) + 1, 'a;b');\n"
           "SELECT n, t FROM %s;\n", tbl, tbl, tbl);
  SW_ASSERT_OK(submit(&e, sql, prm, 2, "tok-batch", id, msg));
  d = wait_terminal(&e, id);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  SW_ASSERT_EQ(cJSON_GetArraySize(sw_json_get(d, "SubStatements")), 3);
  SW_ASSERT(cJSON_IsString(sw_json_get(
      cJSON_GetArrayItem(sw_json_get(d, "SubStatements"), 0), "CreatedAt")));
  cJSON_Delete(d);
  snprintf(sub, sizeof(sub), "%s:3", id);
  SW_ASSERT_OK(call(&e, 1, sub, NULL, &r, msg));
  SW_ASSERT_JSON_EQ(sw_json_get(r, "Records"),
                    "[[{\"longValue\":42},{\"stringValue\":\"a;b\"}]]");
  cJSON_Delete(r);
  /* A failing statement rolls the whole batch back. */
  snprintf(sql, sizeof(sql),
           "INSERT INTO %s VALUES (1, 'x'); SELECT 1/0;", tbl);
  SW_ASSERT_OK(submit(&e, sql, NULL, 0, "tok-batch-fail", id, msg));
  d = wait_terminal(&e, id);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FAILED");
  SW_ASSERT_STR_CONTAINS(sw_json_get_str(d, "Error"), "division by zero");
  cJSON_Delete(d);
  snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tbl);
  SW_ASSERT_OK(submit(&e, sql, NULL, 0, "tok-batch-count", id, msg));
  cJSON_Delete(wait_terminal(&e, id));
  SW_ASSERT_OK(call(&e, 1, id, NULL, &r, msg));
  SW_ASSERT_JSON_EQ(sw_json_get(r, "Records"), "[[{\"longValue\":1}]]");
  cJSON_Delete(r);
  /* 41 statements: more than one batch may hold. */
  for (i = 0; i < 41; i++)
    sw_buf_puts(&big, "SELECT 1;\n", NULL);
  SW_ASSERT_ERR(submit(&e, big.ptr, NULL, 0, "tok-41", id, msg), SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(msg, "41 statements");
  SW_ASSERT_STR_CONTAINS(msg, "at most 40");
  sw_buf_dispose(&big);
  snprintf(sql, sizeof(sql), "DROP TABLE %s", tbl);
  SW_ASSERT_OK(submit(&e, sql, NULL, 0, "tok-batch-drop", id, msg));
  cJSON_Delete(wait_terminal(&e, id));
  SW_ASSERT(env_close(&e));
}

SW_TEST(redshift_data__result_pagination)
{
  char id[64], msg[SW_ERR_MSG_MAX], next[128] = "";
  cJSON *r, *cfg;
  int pages = 0, rows = 0, first = 0;
  SETUP(e, NULL);

  cfg = peer_ctl(&e.p, "/__peer/config", "{\"page_rows\": 3}");
  SW_ASSERT_NOT_NULL(cfg);
  cJSON_Delete(cfg);
  SW_ASSERT_OK(submit(&e, "SELECT g FROM generate_series(1, 10) g", NULL, 0,
                      "tok-page", id, msg));
  cJSON_Delete(wait_terminal(&e, id));
  do {
    const char *nt;
    cJSON *recs;
    SW_ASSERT_OK(call(&e, 1, id, next[0] ? next : NULL, &r, msg));
    recs = sw_json_get(r, "Records");
    if (pages == 0)
      first = (int)cJSON_GetNumberValue(sw_json_get(
          cJSON_GetArrayItem(cJSON_GetArrayItem(recs, 0), 0), "longValue"));
    rows += cJSON_GetArraySize(recs);
    pages++;
    nt = sw_json_get_str(r, "NextToken");
    snprintf(next, sizeof(next), "%s", nt ? nt : "");
    SW_ASSERT_EQ(cJSON_GetNumberValue(sw_json_get(r, "TotalNumRows")), 10);
    cJSON_Delete(r);
  } while (next[0] && pages < 10);
  SW_ASSERT_EQ(pages, 4);
  SW_ASSERT_EQ(rows, 10);
  SW_ASSERT_EQ(first, 1);
  SW_ASSERT(env_close(&e));
}

SW_TEST(redshift_data__cancel)
{
  char id[64], msg[SW_ERR_MSG_MAX];
  cJSON *d = NULL, *c = NULL;
  const char *st = NULL;
  int i;
  SETUP(e, NULL);

  SW_ASSERT_OK(submit(&e, "SELECT pg_sleep(20)", NULL, 0, "tok-cancel", id,
                      msg));
  for (i = 0; i < 400; i++) {
    cJSON_Delete(d);
    SW_ASSERT_OK(call(&e, 0, id, NULL, &d, msg));
    st = sw_json_get_str(d, "Status");
    if (!strcmp(st, "STARTED"))
      break;
    uv_sleep(5);
  }
  SW_ASSERT_STR_EQ(st, "STARTED");
  cJSON_Delete(d);
  SW_ASSERT_OK(call(&e, 2, id, NULL, &c, msg));
  SW_ASSERT(cJSON_IsTrue(sw_json_get(c, "Status")));
  cJSON_Delete(c);
  d = wait_terminal(&e, id);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "ABORTED");
  cJSON_Delete(d);
  /* Cancelling what has ended is a ValidationException. */
  SW_ASSERT_ERR(call(&e, 2, id, NULL, &c, msg), SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(msg, "ABORTED");
  SW_ASSERT(env_close(&e));
}

SW_TEST(redshift_data__client_token_dedupes)
{
  char id1[64], id2[64], msg[SW_ERR_MSG_MAX], sql[256], tbl[64];
  cJSON *r;
  int n;
  SETUP(e, NULL);

  snprintf(tbl, sizeof(tbl), "rs_tok_%d", (int)getpid());
  snprintf(sql, sizeof(sql), "CREATE TABLE %s (n INTEGER)", tbl);
  SW_ASSERT_OK(submit(&e, sql, NULL, 0, "tok-mk", id1, msg));
  cJSON_Delete(wait_terminal(&e, id1));
  snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (1)", tbl);
  SW_ASSERT_OK(submit(&e, sql, NULL, 0, "tok-dup", id1, msg));
  SW_ASSERT_OK(submit(&e, sql, NULL, 0, "tok-dup", id2, msg));
  SW_ASSERT_STR_EQ(id1, id2);
  cJSON_Delete(wait_terminal(&e, id1));
  SW_ASSERT_OK(submit(&e, sql, NULL, 0, "tok-dup", id2, msg));
  SW_ASSERT_STR_EQ(id1, id2);
  SW_ASSERT_EQ(peer_runs(&e.p, "tok-dup", &n), 1);
  SW_ASSERT_EQ(n, 1);
  snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tbl);
  SW_ASSERT_OK(submit(&e, sql, NULL, 0, "tok-cnt", id1, msg));
  cJSON_Delete(wait_terminal(&e, id1));
  SW_ASSERT_OK(call(&e, 1, id1, NULL, &r, msg));
  SW_ASSERT_JSON_EQ(sw_json_get(r, "Records"), "[[{\"longValue\":1}]]");
  cJSON_Delete(r);
  snprintf(sql, sizeof(sql), "DROP TABLE %s", tbl);
  SW_ASSERT_OK(submit(&e, sql, NULL, 0, "tok-drop", id1, msg));
  cJSON_Delete(wait_terminal(&e, id1));
  SW_ASSERT(env_close(&e));
}

/* Each fault, injected for the next requests, ends in success after the
 * driver's retries, and the statement runs exactly once. */
SW_TEST(redshift_data__faults_are_retried)
{
  static const char *const faults[] = {
      "{\"kind\":\"throttle\",\"count\":3}",
      "{\"kind\":\"500\",\"count\":2}",
      "{\"kind\":\"reset\",\"count\":2}",
      /* the submit runs, then its response is lost: the retry must get
       * the same Id back through the ClientToken */
      "{\"kind\":\"reset\",\"count\":1,\"after\":true}",
      "{\"kind\":\"slow\",\"count\":1,\"after\":true,\"slow_ms\":400}",
      "{\"kind\":\"throttle\",\"count\":2,\"action\":\"DescribeStatement\"}",
  };
  char id[64], msg[SW_ERR_MSG_MAX], token[32];
  cJSON *c, *d;
  size_t i;
  int n;
  SETUP(e, "&timeout_ms=300");

  for (i = 0; i < SW_ARRAY_SIZE(faults); i++) {
    snprintf(token, sizeof(token), "tok-fault-%zu", i);
    c = peer_ctl(&e.p, "/__peer/fault", faults[i]);
    SW_ASSERT_NOT_NULL(c);
    cJSON_Delete(c);
    if (submit(&e, "SELECT 1", NULL, 0, token, id, msg) != 0) {
      sw_test_fail(__FILE__, __LINE__, "fault %s: %s", faults[i], msg);
      return;
    }
    d = wait_terminal(&e, id);
    SW_ASSERT_NOT_NULL(d);
    SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
    cJSON_Delete(d);
    SW_ASSERT_EQ(peer_runs(&e.p, token, &n), 1);
    SW_ASSERT_EQ(n, 1);
  }
  SW_ASSERT(env_close(&e));
}

/* A fault that outlasts the attempts ends in a named error, in bounded
 * time, never a hang. */
SW_TEST(redshift_data__faults_exhaust_attempts)
{
  char id[64], msg[SW_ERR_MSG_MAX];
  uint64_t t0;
  cJSON *c;
  SETUP(e, "&max_attempts=3&timeout_ms=300");

  c = peer_ctl(&e.p, "/__peer/fault", "{\"kind\":\"throttle\",\"count\":3}");
  cJSON_Delete(c);
  t0 = uv_hrtime();
  SW_ASSERT_ERR(submit(&e, "SELECT 1", NULL, 0, "tok-x1", id, msg),
                SW_EAGAIN);
  SW_ASSERT_STR_CONTAINS(msg, "ThrottlingException");
  SW_ASSERT_STR_CONTAINS(msg, "gave up after 3 attempts");
  c = peer_ctl(&e.p, "/__peer/fault", "{\"kind\":\"500\",\"count\":3}");
  cJSON_Delete(c);
  SW_ASSERT_ERR(submit(&e, "SELECT 1", NULL, 0, "tok-x2", id, msg),
                SW_EAGAIN);
  SW_ASSERT_STR_CONTAINS(msg, "InternalServerException");
  c = peer_ctl(&e.p, "/__peer/fault", "{\"kind\":\"reset\",\"count\":3}");
  cJSON_Delete(c);
  SW_ASSERT_ERR(submit(&e, "SELECT 1", NULL, 0, "tok-x3", id, msg),
                SW_EAGAIN);
  c = peer_ctl(&e.p, "/__peer/fault",
               "{\"kind\":\"slow\",\"count\":3,\"after\":true,"
               "\"slow_ms\":400}");
  cJSON_Delete(c);
  SW_ASSERT_ERR(submit(&e, "SELECT 1", NULL, 0, "tok-x4", id, msg),
                SW_ETIMEDOUT);
  SW_ASSERT_STR_CONTAINS(msg, "gave up after 3 attempts");
  SW_ASSERT((uv_hrtime() - t0) / 1000000 < 10000);
  SW_ASSERT(env_close(&e));
}

SW_TEST(redshift_data__session_token_and_profile)
{
  static const char *const extra[] = {
      "DATAAPI_SESSION_AKID=ASIASTEPWISETEST",
      "DATAAPI_SESSION_SECRET=session-secret",
      "DATAAPI_SESSION_TOKEN=the/session+token==", NULL};
  char id[64], msg[SW_ERR_MSG_MAX], path[1024];
  env e;
  sw_err err = SW_ERR_INIT;
  FILE *f;
  char *url;

  memset(&e, 0, sizeof(e));
  uv_loop_init(&e.loop);
  SW_ASSERT(peer_start(&e.p, extra));
  /* Temporary credentials from a profile; the region from its config. */
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  unsetenv("AWS_REGION");
  unsetenv("AWS_DEFAULT_REGION");
  snprintf(path, sizeof(path), "%s/credentials", sw_test_tmpdir());
  f = fopen(path, "w");
  fprintf(f, "[default]\naws_access_key_id = AKIDNOPE\n"
             "aws_secret_access_key = nope\n\n[ci]\n"
             "aws_access_key_id = ASIASTEPWISETEST\n"
             "aws_secret_access_key = session-secret\n"
             "aws_session_token = the/session+token==\n");
  fclose(f);
  setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
  snprintf(path, sizeof(path), "%s/config", sw_test_tmpdir());
  f = fopen(path, "w");
  fprintf(f, "[default]\nregion = eu-west-1\n[profile ci]\n"
             "region = us-east-1\n");
  fclose(f);
  setenv("AWS_CONFIG_FILE", path, 1);
  setenv("AWS_PROFILE", "ci", 1);
  url = sw_asprintf("redshift-data://wg1/dev?secret_arn=arn:x");
  SW_ASSERT_OK(env_open(&e, url, &err));
  SW_ASSERT_OK(submit(&e, "SELECT 1", NULL, 0, "tok-sess", id, msg));
  cJSON_Delete(wait_terminal(&e, id));
  {
    bool closed = false;
    sw_warehouse_close(e.wh, closed_cb, &closed);
    while (!closed)
      uv_run(&e.loop, UV_RUN_ONCE);
  }
  /* The same key with another token is refused. */
  setenv("AWS_ACCESS_KEY_ID", "ASIASTEPWISETEST", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "session-secret", 1);
  setenv("AWS_SESSION_TOKEN", "stale-token", 1);
  SW_ASSERT_OK(env_open(&e, url, &err));
  SW_ASSERT_ERR(submit(&e, "SELECT 1", NULL, 0, "tok-sess2", id, msg),
                SW_EREMOTE);
  SW_ASSERT_STR_CONTAINS(msg, "UnrecognizedClientException");
  SW_ASSERT(strstr(msg, "stale-token") == NULL);
  sw_free(url);
  SW_ASSERT(env_close(&e));
}

/* The http module alone: a body over its limit is SW_ELIMIT. */
static void on_http(const sw_err *err, const sw_http_response *resp,
                    void *payload)
{
  waitbox *b = payload;

  b->done = true;
  b->code = err ? err->code : 0;
  if (err)
    snprintf(b->msg, sizeof(b->msg), "%s", err->msg);
  b->resp = cJSON_Parse(resp->body);
}

static void http_closed(void *payload) { *(bool *)payload = true; }

SW_TEST(redshift_data__http_body_limit_and_close)
{
  uv_loop_t loop;
  sw_http *h = NULL;
  sw_http_opts o;
  waitbox b = {0}, b2 = {0};
  sw_err err = SW_ERR_INIT;
  char url[128];
  bool closed = false;
  peer p;

  uv_loop_init(&loop);
  SW_ASSERT(peer_start(&p, NULL));
  SW_ASSERT_OK(sw_http_new(&h, &loop, NULL, &err));
  snprintf(url, sizeof(url), "%s/__peer/statements", p.url);
  memset(&o, 0, sizeof(o));
  o.method = "GET";
  o.url = url;
  o.max_body = 1;
  SW_ASSERT_OK(sw_http_request(h, &o, on_http, &b, NULL, &err));
  run_until(&loop, &b);
  SW_ASSERT_EQ(b.code, SW_ELIMIT);
  SW_ASSERT_STR_CONTAINS(b.msg, "larger than 1 bytes");
  /* Bad headers are refused before any I/O. */
  {
    const char *hdrs[] = {"X-A: 1", "x-a: 2"};
    o.headers = hdrs;
    o.n_headers = 2;
    SW_ASSERT_ERR(sw_http_request(h, &o, on_http, &b2, NULL, &err),
                  SW_EINVAL);
    o.n_headers = 0;
  }
  /* A request in flight at close completes with SW_ECANCELED. */
  o.max_body = 0;
  SW_ASSERT_OK(sw_http_request(h, &o, on_http, &b2, NULL, &err));
  sw_http_close(h, http_closed, &closed);
  SW_ASSERT(b2.done);
  SW_ASSERT_EQ(b2.code, SW_ECANCELED);
  while (!closed)
    uv_run(&loop, UV_RUN_ONCE);
  cJSON_Delete(b.resp);
  cJSON_Delete(b2.resp);
  peer_stop(&p);
  SW_ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  SW_ASSERT_EQ(uv_loop_close(&loop), 0);
}

/* ---- bulk load: S3 staging + COPY ---------------------------------------- */

typedef struct mem_reader {
  const char *text;
  size_t off, len, chunk;
} mem_reader;

static int mem_read(void *payload, char *buf, size_t cap, size_t *n_out,
                    sw_err *err)
{
  mem_reader *m = payload;
  size_t n = m->len - m->off;

  (void)err;
  if (n > cap)
    n = cap;
  if (n > m->chunk)
    n = m->chunk; /* small reads: records split across calls */
  memcpy(buf, m->text + m->off, n);
  m->off += n;
  *n_out = n;
  return 0;
}

typedef struct loadbox {
  bool done;
  int code;
  long long rows;
  char msg[SW_ERR_MSG_MAX];
} loadbox;

static void on_loaded(const sw_err *err, long long rows, void *payload)
{
  loadbox *b = payload;

  b->done = true;
  b->code = err ? err->code : 0;
  b->rows = rows;
  snprintf(b->msg, sizeof(b->msg), "%s", err ? err->msg : "");
}

static int bulk(env *e, const char *table, const char *const *cols,
                size_t n_cols, bool header, const char *csv, loadbox *b)
{
  mem_reader m = {csv, 0, strlen(csv), 7};
  sw_wh_bulk_load req = {table, cols, n_cols, header, mem_read, &m};
  sw_err err = SW_ERR_INIT;
  int rc;

  memset(b, 0, sizeof(*b));
  rc = sw_warehouse_bulk_load(e->wh, &req, on_loaded, b, &err);
  if (rc < 0) {
    snprintf(b->msg, sizeof(b->msg), "%s", err.msg);
    return rc;
  }
  while (!b->done)
    uv_run(&e->loop, UV_RUN_ONCE);
  return b->code;
}

/* Run SQL to completion; its result (caller deletes) or NULL. */
static cJSON *run_sql(env *e, const char *sql, char *msg)
{
  char id[64];
  cJSON *d, *r = NULL;

  if (submit(e, sql, NULL, 0, NULL, id, msg) != 0)
    return NULL;
  d = wait_terminal(e, id);
  if (d && !strcmp(sw_json_get_str(d, "Status"), "FINISHED") &&
      cJSON_IsTrue(sw_json_get(d, "HasResultSet")))
    call(e, 1, id, NULL, &r, msg);
  else if (d && sw_json_get_str(d, "Error"))
    snprintf(msg, SW_ERR_MSG_MAX, "%s", sw_json_get_str(d, "Error"));
  cJSON_Delete(d);
  return r;
}

typedef struct lbox {
  bool done;
  size_t n;
} lbox;

static void on_staging_list(const sw_err *err, const sw_object_info *items,
                            size_t n, void *payload)
{
  lbox *b = payload;

  (void)items;
  b->done = true;
  b->n = err ? 999 : n;
}

/* Objects left in the staging prefix. */
static size_t staged_objects(uv_loop_t *loop, const char *url)
{
  sw_objects *os = NULL;
  sw_err err = SW_ERR_INIT;
  lbox b = {false, 0};

  if (sw_objects_open(&os, loop, url, NULL, &err) < 0 ||
      sw_objects_list(os, "", on_staging_list, &b, &err) < 0)
    return 999;
  while (!b.done)
    uv_run(loop, UV_RUN_ONCE);
  sw_objects_close(os, NULL, NULL);
  return b.n;
}

#define STAGING "&s3_staging=s3%3A%2F%2Fstage%2Frs-loads" \
                "&iam_role=arn:aws:iam::123456789012:role/RedshiftCopy"

SW_TEST(redshift_data__bulk_load_through_s3)
{
  static const char *const cols[] = {"id", "name", "note"};
  const char *csv = "name,id,note\r\n"  /* header: skipped */
                    "\"a, b\",1,\"line one\nline two\"\r\n"
                    "c,2,\r\n"
                    "\"say \"\"hi\"\"\",3,x\r\n";
  char msg[SW_ERR_MSG_MAX] = "";
  s3_peer s3 = {0};
  loadbox b;
  cJSON *r;
  env e;
  sw_err err = SW_ERR_INIT;
  char *url;
  bool ok;

  memset(&e, 0, sizeof(e));
  uv_loop_init(&e.loop);
  SW_ASSERT(s3_peer_start(&s3));
  if (!peer_start(&e.p, NULL)) {
    s3_peer_stop(&s3);
    SW_ASSERT(!"data api peer");
  }
  url = url_for("wg1", STAGING);
  SW_ASSERT_OK(env_open(&e, url, &err));
  sw_free(url);
  r = run_sql(&e, "DROP TABLE IF EXISTS rs_bulk", msg);
  cJSON_Delete(r);
  r = run_sql(&e, "CREATE TABLE rs_bulk (id INTEGER, name VARCHAR(64), "
                  "note VARCHAR(64))", msg);
  cJSON_Delete(r);
  /* CSV columns in another order than the table's: named in COPY. */
  {
    static const char *const csv_cols[] = {"name", "id", "note"};
    SW_ASSERT_OK(bulk(&e, "rs_bulk", csv_cols, 3, true, csv, &b));
  }
  SW_ASSERT_EQ(b.rows, 3);
  r = run_sql(&e, "SELECT id, name, note FROM rs_bulk ORDER BY id", msg);
  SW_ASSERT_NOT_NULL(r);
  SW_ASSERT_JSON_EQ(sw_json_get(r, "Records"),
                    "[[{\"longValue\":1},{\"stringValue\":\"a, b\"},"
                    "{\"stringValue\":\"line one\\nline two\"}],"
                    "[{\"longValue\":2},{\"stringValue\":\"c\"},"
                    "{\"isNull\":true}],"
                    "[{\"longValue\":3},{\"stringValue\":\"say \\\"hi\\\"\"},"
                    "{\"stringValue\":\"x\"}]]");
  cJSON_Delete(r);
  /* The staged object is gone. */
  SW_ASSERT_EQ(staged_objects(&e.loop, "s3://stage/rs-loads"), 0);
  /* A row of the wrong width: the COPY fails, nothing is loaded, the
   * error names the table and the object, the object is deleted. */
  SW_ASSERT_ERR(bulk(&e, "rs_bulk", cols, 3, false, "4,d\n", &b),
                SW_EREMOTE);
  SW_ASSERT_STR_CONTAINS(b.msg, "bulk load into 'rs_bulk'");
  SW_ASSERT_STR_CONTAINS(b.msg, "s3://stage/rs-loads/stepwise-load-");
  SW_ASSERT_STR_CONTAINS(b.msg, "FAILED");
  SW_ASSERT_EQ(staged_objects(&e.loop, "s3://stage/rs-loads"), 0);
  r = run_sql(&e, "SELECT count(*) FROM rs_bulk", msg);
  SW_ASSERT_JSON_EQ(sw_json_get(r, "Records"), "[[{\"longValue\":3}]]");
  cJSON_Delete(r);
  /* A COPY whose object does not exist fails as Redshift's does. */
  r = run_sql(&e, "COPY rs_bulk (id) FROM 's3://stage/rs-loads/none' "
                  "IAM_ROLE 'arn:aws:iam::123456789012:role/R' FORMAT AS "
                  "CSV", msg);
  SW_ASSERT_NULL(r);
  SW_ASSERT_STR_CONTAINS(msg,
      "The specified S3 prefix 'rs-loads/none' does not exist");
  ok = env_close(&e);
  s3_peer_stop(&s3);
  SW_ASSERT(ok);
}

SW_TEST(redshift_data__bulk_load_needs_staging)
{
  static const char *const cols[] = {"id"};
  loadbox b;
  SETUP(e, NULL);

  SW_ASSERT_ERR(bulk(&e, "t", cols, 1, false, "1\n", &b), SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(b.msg, "s3_staging=s3://BUCKET/PREFIX");
  SW_ASSERT(env_close(&e));
  /* A staging location that is not S3 is refused at open. */
  {
    env e2;
    char *url = url_for("wg1", "&s3_staging=file%3A%2F%2F%2Ftmp"
                               "&iam_role=default");
    memset(&e2, 0, sizeof(e2));
    uv_loop_init(&e2.loop);
    SW_ASSERT_ERR(env_open(&e2, url, &err), SW_EINVAL);
    SW_ASSERT_STR_CONTAINS(err.msg, "not an s3:// location");
    sw_free(url);
    uv_run(&e2.loop, UV_RUN_DEFAULT);
    SW_ASSERT_EQ(uv_loop_close(&e2.loop), 0);
  }
}

/* Closing the warehouse while a load is under way ends it with
 * SW_ECANCELED and leaves no handle behind. */
SW_TEST(redshift_data__bulk_load_cancelled_by_close)
{
  static const char *const cols[] = {"id"};
  mem_reader m = {"1\n2\n", 0, 4, 7};
  sw_wh_bulk_load req = {"rs_bulk_c", cols, 1, false, mem_read, &m};
  s3_peer s3 = {0};
  loadbox b;
  env e;
  sw_err err = SW_ERR_INIT;
  char *url;
  bool closed = false;

  memset(&e, 0, sizeof(e));
  memset(&b, 0, sizeof(b));
  uv_loop_init(&e.loop);
  SW_ASSERT(s3_peer_start(&s3));
  if (!peer_start(&e.p, NULL)) {
    s3_peer_stop(&s3);
    SW_ASSERT(!"data api peer");
  }
  url = url_for("wg1", STAGING);
  SW_ASSERT_OK(env_open(&e, url, &err));
  sw_free(url);
  SW_ASSERT_OK(sw_warehouse_bulk_load(e.wh, &req, on_loaded, &b, &err));
  sw_warehouse_close(e.wh, closed_cb, &closed);
  while (!closed)
    uv_run(&e.loop, UV_RUN_ONCE);
  uv_run(&e.loop, UV_RUN_DEFAULT);
  SW_ASSERT(b.done);
  SW_ASSERT_EQ(b.code, SW_ECANCELED);
  peer_stop(&e.p);
  s3_peer_stop(&s3);
  SW_ASSERT_EQ(uv_loop_close(&e.loop), 0);
}
