/* SPDX-License-Identifier: MIT */
/* controlshift: task life cycle, configuration (INI via inih), statement
 * helper, the load history lookup, and the download activity. A task runs
 * as a chain of steps: thread-pool jobs (config, file I/O), HTTP requests
 * (src/http, streamed to a file with a sink) and warehouse statements. It
 * ends through cs_fail or cs_succeed, which close the HTTP handle and the
 * timer; `done` runs from the timer's close callback, so nothing of the
 * task is live when the engine hears of it.
 *
 * Download: <work_dir>/<jid>/<table>.<kind>.<basename of the URL path>,
 * written as "<that>.part", fsync'ed and renamed into place; a file
 * already in place is used again (a resumed execution does not need the
 * URL, which may have expired by then). The load removes it once the
 * delivery is in the warehouse (unless keep_files). */
#include "controlshift/cs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#define FULL_TYPE "data.full_table_exported"
#define INCR_TYPE "data.incremental_table_exported"

static const struct {
  const char *name;
  cs_action action;
} activities[] = {
    {"stepwise.controlshift.download", A_DOWNLOAD},
    {"stepwise.controlshift.schema", A_SCHEMA},
    {"stepwise.controlshift.load", A_LOAD},
};

void sw_controlshift_new(sw_controlshift **out, uv_loop_t *loop,
                         sw_warehouse *wh)
{
  sw_controlshift *cs = sw_calloc(1, sizeof(*cs));

  cs->loop = loop;
  cs->wh = wh;
  *out = cs;
}

void sw_controlshift_free(sw_controlshift *cs)
{
  sw_free(cs);
}

bool sw_controlshift_handles(const char *activity)
{
  size_t i;

  for (i = 0; activity && i < SW_ARRAY_SIZE(activities); i++)
    if (!strcmp(activity, activities[i].name))
      return true;
  return false;
}

/* ---- quoting: the one place this module quotes ------------------------ */

char *cs_ident(const char *s)
{
  sw_buf b = SW_BUF_INIT(0);

  /* the warehouse's one audited identifier quoting (DESIGN.md 2) */
  if (sw_warehouse_quote_ident(&b, s, NULL) < 0)
    sw_buf_puts(&b, "\"\"", NULL); /* empty: the database refuses it */
  return sw_buf_detach(&b);
}

char *cs_literal(const char *s)
{
  sw_buf b = SW_BUF_INIT(0);

  if (!s)
    return sw_strdup("NULL");
  sw_buf_puts(&b, "'", NULL);
  for (; *s; s++)
    sw_buf_puts(&b, *s == '\'' ? "''" : (char[2]){*s, 0}, NULL);
  sw_buf_puts(&b, "'", NULL);
  return sw_buf_detach(&b);
}

bool cs_is_sqlite(const sw_cs_task *t)
{
  return !strcmp(sw_warehouse_driver(t->wh), "sqlite");
}

bool cs_is_pg(const sw_cs_task *t)
{
  return !strcmp(sw_warehouse_driver(t->wh), "postgres");
}

char *cs_qualified(const sw_cs_task *t, const char *name)
{
  char *q = cs_ident(name), *s, *r;

  if (!t->cfg.schema || cs_is_sqlite(t))
    return q;
  s = cs_ident(t->cfg.schema);
  r = sw_asprintf("%s.%s", s, q);
  sw_free(s);
  sw_free(q);
  return r;
}

/* [a-z_][a-z0-9_]*, 1..max characters. */
static bool plain_name(const char *s, size_t max)
{
  const char *p;

  if (!s || !*s || strlen(s) > max || (*s >= '0' && *s <= '9'))
    return false;
  for (p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
      return false;
  return true;
}

/* A job id: [A-Za-z0-9_-], 1..128. */
static bool plain_jid(const char *s)
{
  const char *p;

  if (!s || !*s || strlen(s) > 128)
    return false;
  for (p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
      return false;
  return true;
}

/* ---- configuration ----------------------------------------------------- */

static void cfg_dispose(cs_config *c)
{
  sw_free(c->path);
  sw_free(c->instance_url);
  sw_free(c->work_dir);
  sw_free(c->table_prefix);
  sw_free(c->schema);
  memset(c, 0, sizeof(*c));
}

static void set_str(char **dst, const char *v)
{
  sw_free(*dst);
  *dst = sw_strdup(v);
}

static int on_ini(void *user, const char *section, const char *key,
                  const char *value)
{
  cs_config *c = user;

  if (strcmp(section, "controlshift") != 0)
    return 1;
  if (!strcmp(key, "instance_url"))
    set_str(&c->instance_url, value);
  else if (!strcmp(key, "work_dir"))
    set_str(&c->work_dir, value);
  else if (!strcmp(key, "table_prefix"))
    set_str(&c->table_prefix, value);
  else if (!strcmp(key, "schema"))
    set_str(&c->schema, value);
  else if (!strcmp(key, "download_timeout_s"))
    c->download_timeout_s = strtol(value, NULL, 10);
  else if (!strcmp(key, "keep_files"))
    c->keep_files = !strcmp(value, "true") || !strcmp(value, "1") ||
                    !strcmp(value, "yes");
  /* webhook_secret and other keys: read by others (stepwise serve). */
  return 1;
}

/* Thread pool: read [controlshift] of $STEPWISE_CONFIG (or ./stepwise.ini;
 * a missing default file means all defaults). */
static void config_work(sw_cs_task *t)
{
  cs_config *c = &t->cfg;
  const char *env = getenv("STEPWISE_CONFIG");
  int line;
  size_t n;

  c->path = sw_strdup(env && *env ? env : "stepwise.ini");
  c->download_timeout_s = 3600;
  if (env && *env && !sw_file_exists(c->path)) {
    t->cfg_rc = sw_err_set(&t->err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                           "%s (STEPWISE_CONFIG) does not exist", c->path);
    return;
  }
  if (sw_file_exists(c->path)) {
    line = ini_parse(c->path, on_ini, c);
    if (line < 0) {
      t->cfg_rc = sw_err_set(&t->err, SW_EIO, SW_ORIGIN_OS, 0,
                             "cannot read %s", c->path);
      return;
    }
    if (line > 0) {
      t->cfg_rc = sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                             "%s:%d: not valid INI (expected key = value "
                             "or [section])", c->path, line);
      return;
    }
  }
  if (!c->work_dir || !*c->work_dir)
    set_str(&c->work_dir, ".stepwise/controlshift");
  if (!c->table_prefix)
    c->table_prefix = sw_strdup("");
  if (c->schema && !*c->schema) {
    sw_free(c->schema);
    c->schema = NULL;
  }
  if (c->instance_url) {
    n = strlen(c->instance_url);
    while (n > 0 && c->instance_url[n - 1] == '/')
      c->instance_url[--n] = '\0';
  }
  if (*c->table_prefix && !plain_name(c->table_prefix, 40)) {
    t->cfg_rc = sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                           "%s [controlshift] table_prefix: expected "
                           "lower-case letters, digits and '_'", c->path);
    return;
  }
  if (c->schema && !plain_name(c->schema, 63)) {
    t->cfg_rc = sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                           "%s [controlshift] schema: expected lower-case "
                           "letters, digits and '_'", c->path);
    return;
  }
  if (c->download_timeout_s < 1)
    c->download_timeout_s = 3600;
}

/* ---- life cycle -------------------------------------------------------- */

static void task_free(sw_cs_task *t)
{
  cs_schema_free(t);
  cs_load_free(t);
  cfg_dispose(&t->cfg);
  cJSON_Delete(t->params);
  cJSON_Delete(t->out);
  cJSON_Delete(t->rows);
  if (t->fd >= 0)
    close(t->fd);
  sw_free(t->token);
  sw_free(t->target);
  sw_free(t->q_target);
  sw_free(t->q_history);
  sw_free(t->stmt_id);
  sw_free(t->path);
  sw_free(t->tmp);
  sw_free(t);
}

static void on_timer_closed(uv_handle_t *h)
{
  sw_cs_task *t = SW_CONTAINER_OF((uv_timer_t *)h, sw_cs_task, timer);
  cJSON *out = t->out;

  if (!t->cancelled) {
    t->out = NULL;
    if (t->fail_name)
      t->done(NULL, t->fail_name, t->err.msg, t->payload);
    else
      t->done(out, NULL, NULL, t->payload);
  }
  task_free(t);
}

static void on_http_closed(void *payload)
{
  sw_cs_task *t = payload;

  uv_close((uv_handle_t *)&t->timer, on_timer_closed);
}

static void finish(sw_cs_task *t)
{
  sw_http *h = t->http;

  if (t->finished)
    return;
  if (t->job_busy || t->http_busy) { /* a job or request still uses it */
    t->finish_pending = true;
    return;
  }
  t->finished = true;
  uv_timer_stop(&t->timer);
  t->http = NULL;
  if (h)
    sw_http_close(h, on_http_closed, t);
  else
    on_http_closed(t);
}

void cs_fail(sw_cs_task *t, const char *name, const char *fmt, ...)
{
  va_list ap;
  char *msg;

  if (t->finished)
    return;
  va_start(ap, fmt);
  msg = sw_vasprintf(fmt, ap);
  va_end(ap);
  sw_err_set(&t->err, SW_ERROR, SW_ORIGIN_NONE, 0, "%s", msg);
  sw_free(msg);
  t->fail_name = name;
  cJSON_Delete(t->out);
  t->out = NULL;
  sw_log(SW_LOG_INFO, "controlshift: %s: %s", name, t->err.msg);
  finish(t);
}

void cs_succeed(sw_cs_task *t, cJSON *out)
{
  if (t->out != out)
    cJSON_Delete(t->out);
  t->out = out;
  finish(t);
}

static void job_work(uv_work_t *w)
{
  sw_cs_task *t = SW_CONTAINER_OF(w, sw_cs_task, work);

  t->work_fn(t);
}

static void job_after(uv_work_t *w, int status)
{
  sw_cs_task *t = SW_CONTAINER_OF(w, sw_cs_task, work);

  (void)status;
  t->job_busy = false;
  if (t->finish_pending) {
    t->finish_pending = false;
    finish(t);
    return;
  }
  if (t->cancelled) {
    cs_fail(t, "States.TaskFailed", "cancelled");
    return;
  }
  t->after_fn(t);
}

void cs_job(sw_cs_task *t, void (*work_fn)(sw_cs_task *),
            void (*after_fn)(sw_cs_task *))
{
  t->work_fn = work_fn;
  t->after_fn = after_fn;
  t->job_busy = true;
  uv_queue_work(t->loop, &t->work, job_work, job_after);
}

static void on_timer(uv_timer_t *h)
{
  sw_cs_task *t = SW_CONTAINER_OF(h, sw_cs_task, timer);

  if (t->cancelled) {
    cs_fail(t, "States.TaskFailed", "cancelled");
    return;
  }
  t->timer_fn(t);
}

void cs_after(sw_cs_task *t, long ms, void (*fn)(sw_cs_task *))
{
  t->timer_fn = fn;
  uv_timer_start(&t->timer, on_timer, (uint64_t)(ms < 0 ? 0 : ms), 0);
}

/* ---- statements: submit, poll describe, fetch rows --------------------- */

static void sql_describe(sw_cs_task *t);

static void on_result(const sw_err *err, cJSON *resp, void *payload)
{
  sw_cs_task *t = payload;

  if (err) {
    cJSON_Delete(resp);
    cs_fail(t, E_LOAD, "warehouse result: %s", err->msg);
    return;
  }
  cJSON_Delete(t->rows);
  t->rows = cJSON_DetachItemFromObject(resp, "Records");
  if (!t->rows)
    t->rows = cJSON_CreateArray();
  cJSON_Delete(resp);
  t->sql_next(t);
}

static void on_describe(const sw_err *err, cJSON *resp, void *payload)
{
  sw_cs_task *t = payload;
  const char *st = sw_json_get_str(resp, "Status");
  sw_err e2 = SW_ERR_INIT;

  if (err || !st) {
    cs_fail(t, E_LOAD, "warehouse describe: %s", err ? err->msg : "?");
    goto done;
  }
  if (!strcmp(st, "FINISHED")) {
    if (t->sql_want_rows) {
      if (sw_warehouse_result(t->wh, t->stmt_id, NULL, on_result, t,
                              &e2) < 0)
        cs_fail(t, E_LOAD, "warehouse result: %s", e2.msg);
    } else {
      t->sql_next(t);
    }
    goto done;
  }
  if (!strcmp(st, "FAILED") || !strcmp(st, "ABORTED")) {
    const char *why = sw_json_get_str(resp, "Error");
    if (t->sql_failed)
      t->sql_failed(t, st, why ? why : "");
    else
      cs_fail(t, E_LOAD, "warehouse statement %s: %s", st, why ? why : "");
    goto done;
  }
  if (t->poll_ms < 100)
    t->poll_ms = t->poll_ms ? t->poll_ms * 2 : 1;
  cs_after(t, t->poll_ms, sql_describe);
done:
  cJSON_Delete(resp);
}

static void sql_describe(sw_cs_task *t)
{
  sw_err err = SW_ERR_INIT;

  if (sw_warehouse_describe(t->wh, t->stmt_id, on_describe, t, &err) < 0)
    cs_fail(t, E_LOAD, "warehouse describe: %s", err.msg);
}

static void on_submit(const sw_err *err, const char *id, void *payload)
{
  sw_cs_task *t = payload;

  if (err) {
    cs_fail(t, err->code == SW_EAGAIN ? E_TRANSIENT : E_LOAD,
            "warehouse submit: %s", err->msg);
    return;
  }
  sw_free(t->stmt_id);
  t->stmt_id = sw_strdup(id);
  t->poll_ms = 0;
  sql_describe(t);
}

void cs_sql(sw_cs_task *t, const char *const *sqls, size_t n,
            const char *token, bool want_rows, void (*next)(sw_cs_task *t))
{
  sw_wh_submit req;
  sw_err err = SW_ERR_INIT;

  if (t->cancelled) {
    cs_fail(t, "States.TaskFailed", "cancelled");
    return;
  }
  memset(&req, 0, sizeof(req));
  req.sqls = sqls;
  req.n_sqls = n;
  req.batch = n > 1;
  req.client_token = token;
  t->sql_next = next;
  t->sql_want_rows = want_rows;
  if (sw_warehouse_submit(t->wh, &req, on_submit, t, &err) < 0)
    cs_fail(t, E_LOAD, "warehouse submit: %s", err.msg);
}

void cs_sql1(sw_cs_task *t, const char *sql, bool want_rows,
             void (*next)(sw_cs_task *t))
{
  t->sql_failed = NULL;
  cs_sql(t, &sql, 1, NULL, want_rows, next);
}

void cs_sql_poll(sw_cs_task *t, bool want_rows, void (*next)(sw_cs_task *t))
{
  t->sql_next = next;
  t->sql_want_rows = want_rows;
  t->poll_ms = 0;
  sql_describe(t);
}

const char *cs_field(const cJSON *row, int i)
{
  const cJSON *f = cJSON_GetArrayItem(row, i);

  return sw_json_get_str(f, "stringValue");
}

/* ---- history ----------------------------------------------------------- */

static void history_ready(sw_cs_task *t)
{
  char *lj = cs_literal(t->jid), *lt = cs_literal(t->table);
  char *sql = sw_asprintf("SELECT rows, file_rows FROM %s WHERE jid = %s "
                          "AND table_name = %s AND kind = '%s' AND status "
                          "= 'SUCCEEDED'", t->q_history, lj, lt,
                          t->full ? "full" : "incremental");

  cs_sql1(t, sql, true, t->hist_next);
  sw_free(sql);
  sw_free(lj);
  sw_free(lt);
}

void cs_history_lookup(sw_cs_task *t, void (*next)(sw_cs_task *t))
{
  bool rs = !strcmp(sw_warehouse_driver(t->wh), "redshift-data");
  char *idx = cs_ident(CS_HISTORY "_done");
  const char *ts = cs_is_sqlite(t) ? "TEXT" : "TIMESTAMPTZ";
  char *sql;

  /* Redshift has no partial (or unique) indexes: the token alone guards. */
  if (rs)
    sql = sw_asprintf("CREATE TABLE IF NOT EXISTS %s (jid VARCHAR(256), "
                      "table_name VARCHAR(256), kind VARCHAR(16), file "
                      "VARCHAR(4096), rows BIGINT, file_rows BIGINT, status "
                      "VARCHAR(16), error VARCHAR(4096), started_at "
                      "TIMESTAMPTZ, finished_at TIMESTAMPTZ)", t->q_history);
  else
    sql = sw_asprintf("CREATE TABLE IF NOT EXISTS %s (jid TEXT NOT NULL, "
                      "table_name TEXT NOT NULL, kind TEXT NOT NULL, file "
                      "TEXT, rows BIGINT, file_rows BIGINT, status TEXT NOT "
                      "NULL, error TEXT, started_at %s, finished_at %s);\n"
                      "CREATE UNIQUE INDEX IF NOT EXISTS %s ON %s (jid, "
                      "table_name, kind) WHERE status = 'SUCCEEDED'",
                      t->q_history, ts, ts, idx, t->q_history);
  sw_free(idx);
  t->hist_next = next;
  cs_sql1(t, sql, false, history_ready);
  sw_free(sql);
}

char *cs_columns_sql(const sw_cs_task *t)
{
  char *lit, *q, *sql;

  if (cs_is_sqlite(t)) {
    lit = cs_literal(t->target);
    sql = sw_asprintf("SELECT name, type FROM pragma_table_info(%s) ORDER "
                      "BY cid", lit);
    sw_free(lit);
    return sql;
  }
  if (cs_is_pg(t)) {
    q = cs_qualified(t, t->target);
    lit = cs_literal(q);
    sql = sw_asprintf("SELECT a.attname::text, format_type(a.atttypid, "
                      "a.atttypmod) FROM pg_attribute a WHERE a.attrelid = "
                      "to_regclass(%s) AND a.attnum > 0 AND NOT "
                      "a.attisdropped ORDER BY a.attnum", lit);
    sw_free(q);
    sw_free(lit);
    return sql;
  }
  lit = cs_literal(t->target);
  q = t->cfg.schema ? cs_literal(t->cfg.schema)
                    : sw_strdup("current_schema()");
  sql = sw_asprintf("SELECT column_name, data_type FROM "
                    "information_schema.columns WHERE table_schema = %s AND "
                    "table_name = %s ORDER BY ordinal_position", q, lit);
  sw_free(lit);
  sw_free(q);
  return sql;
}

/* ---- download ---------------------------------------------------------- */

/* The URL without query string and fragment (the signature is there). */
static char *url_file(const char *url)
{
  return sw_strndup(url, strcspn(url, "?#"));
}

/* Expires=<epoch seconds> of a presigned URL, or -1. */
static long long url_expires(const char *url)
{
  const char *q = strchr(url, '?'), *p;

  for (p = q; p; p = strchr(p + 1, '&'))
    if (!strncmp(p + 1, "Expires=", 8))
      return strtoll(p + 9, NULL, 10);
  return -1;
}

static void download_output(sw_cs_task *t, bool reused)
{
  const char *url = sw_json_get_str(t->params, "url");
  char *file = url_file(url);
  cJSON *o = cJSON_CreateObject();

  cJSON_AddBoolToObject(o, "already_loaded", false);
  cJSON_AddStringToObject(o, "path", t->path);
  cJSON_AddStringToObject(o, "file", file);
  cJSON_AddNumberToObject(o, "bytes", (double)t->bytes);
  cJSON_AddBoolToObject(o, "reused", reused);
  sw_free(file);
  cs_succeed(t, o);
}

static void commit_work(sw_cs_task *t)
{
  char *dir;
  int dfd;

  if (sw_fsync_close(t->fd) < 0) {
    t->fd = -1;
    t->fail_name = E_DOWNLOAD;
    sw_err_set(&t->err, SW_EIO, SW_ORIGIN_OS, errno, "cannot write %s",
               t->tmp);
    unlink(t->tmp);
    return;
  }
  t->fd = -1;
  if (rename(t->tmp, t->path) < 0) {
    t->fail_name = E_DOWNLOAD;
    sw_err_set(&t->err, SW_EIO, SW_ORIGIN_OS, errno,
               "cannot rename %s into place", t->tmp);
    return;
  }
  dir = sw_strdup(t->path);
  *strrchr(dir, '/') = '\0';
  dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  sw_free(dir);
}

static void commit_after(sw_cs_task *t)
{
  if (t->fail_name) {
    const char *n = t->fail_name;
    t->fail_name = NULL;
    cs_fail(t, n, "%s", t->err.msg);
    return;
  }
  download_output(t, false);
}

static int on_body(const char *data, size_t n, void *payload, sw_err *err)
{
  sw_cs_task *t = payload;
  ssize_t w;

  if (t->cancelled)
    return sw_err_set(err, SW_ECANCELED, SW_ORIGIN_NONE, 0, "cancelled");
  while (n > 0) {
    w = write(t->fd, data, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno,
                        "cannot write %s", t->tmp);
    data += w;
    n -= (size_t)w;
    t->bytes += (uint64_t)w;
  }
  return 0;
}

/* The text of the first <tag>...</tag> of an S3 error document, with
 * anything but printable ASCII dropped; "" when absent. */
static void xml_text(const char *xml, const char *tag, char *out, size_t cap)
{
  char open[32], close[32];
  const char *a, *b;
  size_t n = 0;

  out[0] = '\0';
  snprintf(open, sizeof(open), "<%s>", tag);
  snprintf(close, sizeof(close), "</%s>", tag);
  a = xml ? strstr(xml, open) : NULL;
  b = a ? strstr(a, close) : NULL;
  if (!a || !b)
    return;
  for (a += strlen(open); a < b && n + 1 < cap; a++)
    if (*a >= ' ' && *a <= '~')
      out[n++] = *a;
  out[n] = '\0';
}

static void on_downloaded(const sw_err *err, const sw_http_response *resp,
                          void *payload)
{
  sw_cs_task *t = payload;
  const char *url = sw_json_get_str(t->params, "url");
  char *file = url_file(url);
  long long exp = url_expires(url);
  char when[64] = "";

  t->http_busy = false;
  if (t->finish_pending) {
    t->finish_pending = false;
    finish(t);
    goto out;
  }
  if (!err && resp->status / 100 == 2) {
    cs_job(t, commit_work, commit_after);
    goto out;
  }
  close(t->fd);
  t->fd = -1;
  unlink(t->tmp);
  if (t->cancelled) {
    cs_fail(t, "States.TaskFailed", "cancelled");
    goto out;
  }
  if (!err) { /* 1xx/3xx: no body reached the sink; redirects are not
                 followed, and an empty file must never count as the export */
    cs_fail(t, E_DOWNLOAD, "downloading %s: HTTP %ld, expected 200 (the "
            "export URL redirects; use the URL ControlShift sent)",
            file, resp->status);
  } else if (resp->status == 403) {
    char s3[200] = "";
    xml_text(resp->body, "Code", s3, sizeof(s3));
    if (s3[0]) {
      size_t n = strlen(s3);
      snprintf(s3 + n, sizeof(s3) - n, ": ");
      xml_text(resp->body, "Message", s3 + n + 2, sizeof(s3) - n - 2);
    }
    if (exp > 0) {
      char iso[40];
      sw_time_format_iso(iso, sizeof(iso), exp * 1000);
      snprintf(when, sizeof(when), " (it expired at %s)", iso);
    }
    cs_fail(t, E_EXPIRED, "HTTP 403%s%s%s downloading %s: the presigned URL "
            "has expired%s. ControlShift's export links are valid for 6 "
            "hours; get a fresh one by re-sending the export webhook, or "
            "in the ControlShift admin run \"Test Nightly Bulk Data Export "
            "Webhook\", then start the pipeline with the new payload",
            s3[0] ? " (" : "", s3, s3[0] ? ")" : "", file, when);
  } else if (err->code == SW_EAGAIN || err->code == SW_ETIMEDOUT) {
    cs_fail(t, E_TRANSIENT, "downloading %s: %s", file, err->msg);
  } else {
    cs_fail(t, E_DOWNLOAD, "downloading %s: %s", file, err->msg);
  }
out:
  sw_free(file);
}

static void prepare_work(sw_cs_task *t)
{
  struct stat st;
  char *dir;

  if (stat(t->path, &st) == 0 && st.st_size > 0) { /* downloaded before */
    t->bytes = (uint64_t)st.st_size;
    t->cfg_rc = 1;
    return;
  }
  dir = sw_strdup(t->path);
  *strrchr(dir, '/') = '\0';
  if (sw_mkdirs(dir, &t->err) < 0) {
    t->fail_name = E_DOWNLOAD;
    sw_free(dir);
    return;
  }
  sw_free(dir);
  t->fd = open(t->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (t->fd < 0) {
    t->fail_name = E_DOWNLOAD;
    sw_err_set(&t->err, SW_EIO, SW_ORIGIN_OS, errno, "cannot create %s",
               t->tmp);
  }
}

static void prepare_after(sw_cs_task *t)
{
  sw_http_opts o;
  sw_err err = SW_ERR_INIT;
  int rc;

  if (t->fail_name) {
    const char *n = t->fail_name;
    t->fail_name = NULL;
    cs_fail(t, n, "%s", t->err.msg);
    return;
  }
  if (t->cfg_rc == 1) {
    download_output(t, true);
    return;
  }
  if (!t->http && sw_http_new(&t->http, t->loop, NULL, &err) < 0) {
    cs_fail(t, E_DOWNLOAD, "%s", err.msg);
    return;
  }
  memset(&o, 0, sizeof(o));
  o.method = "GET";
  o.url = sw_json_get_str(t->params, "url");
  o.timeout_ms = t->cfg.download_timeout_s * 1000;
  o.max_body = 64 * 1024; /* an error document */
  o.sink = on_body;
  o.sink_payload = t;
  t->bytes = 0;
  rc = sw_http_request(t->http, &o, on_downloaded, t, NULL, &err);
  if (rc < 0) {
    close(t->fd);
    t->fd = -1;
    unlink(t->tmp);
    cs_fail(t, E_INPUT, "data.url: %s", err.msg);
    return;
  }
  t->http_busy = true;
}

static void download_checked(sw_cs_task *t)
{
  const char *url = sw_json_get_str(t->params, "url");
  char *file, *base, *p;
  cJSON *o;

  if (cJSON_GetArraySize(t->rows) > 0) {
    o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "already_loaded", true);
    cJSON_AddStringToObject(o, "reason", "already loaded");
    cs_succeed(t, o);
    return;
  }
  file = url_file(url);
  base = strrchr(file, '/');
  base = sw_strdup(base && base[1] ? base + 1 : "export.csv");
  for (p = base; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_'))
      *p = '_';
  if (base[0] == '.')
    base[0] = '_';
  t->path = sw_asprintf("%s/%s/%s.%s.%s", t->cfg.work_dir, t->jid, t->table,
                        t->full ? "full" : "incremental", base);
  t->tmp = sw_asprintf("%s.part", t->path);
  sw_free(base);
  sw_free(file);
  cs_job(t, prepare_work, prepare_after);
}

/* ---- the delivery a task is about ------------------------------------- */

static int read_delivery(sw_cs_task *t)
{
  const char *type = sw_json_get_str(t->params, "type");
  const char *url = sw_json_get_str(t->params, "url");

  t->jid = sw_json_get_str(t->params, "jid");
  t->table = sw_json_get_str(t->params, "table");
  if (!type || (strcmp(type, FULL_TYPE) && strcmp(type, INCR_TYPE))) {
    cs_fail(t, E_INPUT, "parameter \"type\": expected \"" FULL_TYPE "\" or "
            "\"" INCR_TYPE "\"");
    return -1;
  }
  t->full = !strcmp(type, FULL_TYPE);
  if (!plain_jid(t->jid)) {
    cs_fail(t, E_INPUT, "parameter \"jid\": expected the webhook's job id "
            "(letters, digits, '-', '_')");
    return -1;
  }
  if (!plain_name(t->table, 63)) {
    cs_fail(t, E_INPUT, "parameter \"table\": expected a ControlShift table "
            "name ([a-z_][a-z0-9_]*)");
    return -1;
  }
  if (t->action == A_DOWNLOAD &&
      (!url || (strncmp(url, "https://", 8) && strncmp(url, "http://", 7)))) {
    cs_fail(t, E_INPUT, "parameter \"url\": expected the http(s) URL of "
            "data.url");
    return -1;
  }
  t->target = sw_asprintf("%s%s", t->cfg.table_prefix, t->table);
  if (strlen(t->target) > 63) {
    cs_fail(t, E_INPUT, "table name %s is longer than 63 characters",
            t->target);
    return -1;
  }
  t->q_target = cs_qualified(t, t->target);
  t->q_history = cs_qualified(t, CS_HISTORY);
  return 0;
}

static void config_after(sw_cs_task *t)
{
  if (t->cfg_rc < 0) {
    cs_fail(t, E_CONFIG, "%s", t->err.msg);
    return;
  }
  if (read_delivery(t) < 0)
    return;
  switch (t->action) {
  case A_DOWNLOAD:
    cs_history_lookup(t, download_checked);
    return;
  case A_SCHEMA:
    if (!t->cfg.instance_url || !*t->cfg.instance_url) {
      cs_fail(t, E_CONFIG, "%s [controlshift]: instance_url is missing (the "
              "base URL of your ControlShift instance, for "
              "/api/bulk_data/schema.json)", t->cfg.path);
      return;
    }
    cs_schema_start(t);
    return;
  case A_LOAD:
    cs_load_start(t);
    return;
  }
}

int sw_controlshift_invoke(sw_cs_task **out, sw_controlshift *cs,
                           const char *activity, const cJSON *params,
                           const char *token, sw_cs_done_cb done,
                           void *payload, sw_err *err)
{
  sw_cs_task *t;
  size_t i;

  *out = NULL;
  for (i = 0; i < SW_ARRAY_SIZE(activities); i++)
    if (activity && !strcmp(activity, activities[i].name))
      break;
  if (i == SW_ARRAY_SIZE(activities))
    return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                      "unknown ControlShift activity \"%s\"",
                      activity ? activity : "");
  t = sw_calloc(1, sizeof(*t));
  t->cs = cs;
  t->loop = cs->loop;
  t->wh = cs->wh;
  t->action = activities[i].action;
  t->params = params ? sw_json_dup(params) : cJSON_CreateObject();
  t->token = sw_strdup(token);
  t->done = done;
  t->payload = payload;
  t->fd = -1;
  t->started_ms = sw_time_now_ms();
  uv_timer_init(t->loop, &t->timer);
  *out = t;
  cs_job(t, config_work, config_after);
  return 0;
}

void sw_controlshift_cancel(sw_cs_task *t)
{
  if (t)
    t->cancelled = true;
}
