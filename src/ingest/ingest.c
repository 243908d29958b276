/* SPDX-License-Identifier: MIT */
/* ingest: task life cycle, settings (INI via inih), the statement helper,
 * and the activities that are mostly warehouse or file-system calls:
 * lookup, postload, audit, archive, notify. A task is a chain of steps
 * (thread-pool jobs, statements, an HTTP request or a child process) and
 * ends through ig_fail or ig_succeed; `done` runs from the timer's close
 * callback, so nothing of the task is live when the engine hears of it. */
#include "ingest/ingest_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include <ini.h>

extern char **environ;

static const struct {
  const char *name;
  ig_action action;
} activities[] = {
    {"stepwise.ingest.lookup", A_LOOKUP},
    {"stepwise.ingest.check", A_CHECK},
    {"stepwise.ingest.split", A_SPLIT},
    {"stepwise.ingest.load", A_LOAD},
    {"stepwise.ingest.postload", A_POSTLOAD},
    {"stepwise.ingest.audit", A_AUDIT},
    {"stepwise.ingest.archive", A_ARCHIVE},
    {"stepwise.ingest.notify", A_NOTIFY},
};

void sw_ingest_new(sw_ingest **out, uv_loop_t *loop, sw_warehouse *wh,
                   const char *sql_dir)
{
  sw_ingest *ig = sw_calloc(1, sizeof(*ig));

  ig->loop = loop;
  ig->wh = wh;
  ig->sql_dir = sw_strdup(sql_dir ? sql_dir : "sql");
  *out = ig;
}

void sw_ingest_free(sw_ingest *ig)
{
  if (!ig)
    return;
  sw_free(ig->sql_dir);
  sw_free(ig);
}

bool sw_ingest_handles(const char *activity)
{
  size_t i;

  for (i = 0; activity && i < SW_ARRAY_SIZE(activities); i++)
    if (!strcmp(activity, activities[i].name))
      return true;
  return false;
}

/* ---- small helpers ----------------------------------------------------- */

bool ig_is_pg(const sw_ingest_task *t)
{
  return strcmp(sw_warehouse_driver(t->wh), "sqlite") != 0;
}

/* The warehouse's one audited identifier quoting (DESIGN.md 2). */
char *ig_quote_ident(const char *s)
{
  sw_buf b = SW_BUF_INIT(0);

  if (sw_warehouse_quote_ident(&b, s, NULL) < 0)
    sw_buf_puts(&b, "\"\"", NULL); /* empty: the database refuses it */
  return sw_buf_detach(&b);
}

/* The physical, quoted name of <schema>.<table> (see ingest.h). */
char *ig_table(const sw_ingest_task *t, const char *schema,
               const char *table)
{
  char *a, *b, *s;

  if (!schema || !*schema)
    return ig_quote_ident(table);
  if (!ig_is_pg(t)) {
    a = sw_asprintf("%s_%s", schema, table);
    s = ig_quote_ident(a);
    sw_free(a);
    return s;
  }
  a = ig_quote_ident(schema);
  b = ig_quote_ident(table);
  s = sw_asprintf("%s.%s", a, b);
  sw_free(a);
  sw_free(b);
  return s;
}

const char *ig_basename(const char *path)
{
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* The lookup key: name up to its first '.', then the last '_' token. */
char *ig_key_of(const char *name)
{
  size_t n = strcspn(name, ".");
  const char *s = name, *u;

  for (u = name; u < name + n; u++)
    if (*u == '_')
      s = u + 1;
  return sw_strndup(s, (size_t)(name + n - s));
}

size_t ig_utf8_cut(const char *s, size_t n, size_t max)
{
  if (n <= max)
    return n;
  while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
    max--; /* s[max] continues a sequence: cut before its lead byte */
  return max;
}

void ig_now_text(char out[32])
{
  char iso[40];

  sw_time_format_iso(iso, sizeof(iso), sw_time_now_ms());
  /* "2024-01-02T03:04:05.678Z" -> "2024-01-02 03:04:05.678" (UTC) */
  iso[10] = ' ';
  iso[23] = '\0';
  memcpy(out, iso, 24);
}

/* A Records field as text (numbers printed); NULL for isNull. */
const char *ig_field(const cJSON *row, int i, char *buf, size_t cap)
{
  const cJSON *f = cJSON_GetArrayItem(row, i), *v;

  if ((v = sw_json_get(f, "stringValue")) && cJSON_IsString(v))
    return v->valuestring;
  if ((v = sw_json_get(f, "longValue")) && cJSON_IsNumber(v)) {
    snprintf(buf, cap, "%lld", (long long)v->valuedouble);
    return buf;
  }
  if ((v = sw_json_get(f, "doubleValue")) && cJSON_IsNumber(v)) {
    if (v->valuedouble == (double)(long long)v->valuedouble)
      snprintf(buf, cap, "%lld", (long long)v->valuedouble);
    else
      snprintf(buf, cap, "%.17g", v->valuedouble);
    return buf;
  }
  if ((v = sw_json_get(f, "booleanValue")))
    return cJSON_IsTrue(v) ? "true" : "false";
  return NULL;
}

static int rmtree(const char *path)
{
  DIR *d;
  struct dirent *e;
  struct stat st;
  char *sub;
  int rc = 0;

  if (lstat(path, &st) < 0)
    return errno == ENOENT ? 0 : -1;
  if (!S_ISDIR(st.st_mode))
    return unlink(path);
  d = opendir(path);
  if (!d)
    return -1;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    sub = sw_asprintf("%s/%s", path, e->d_name);
    if (rmtree(sub) < 0)
      rc = -1;
    sw_free(sub);
  }
  closedir(d);
  if (rmdir(path) < 0)
    rc = -1;
  return rc;
}

/* ---- settings ---------------------------------------------------------- */

static void settings_dispose(ig_settings *s)
{
  sw_free(s->path);
  sw_free(s->archive_dir);
  sw_free(s->work_dir);
  sw_free(s->notify_url);
  sw_free(s->notify_command);
  memset(s, 0, sizeof(*s));
}

static void set_str(char **dst, const char *v)
{
  sw_free(*dst);
  *dst = *v ? sw_strdup(v) : NULL;
}

typedef struct ini_ctx {
  ig_settings *s;
  int bad_line;
  char bad_key[64];
} ini_ctx;

static bool parse_num(const char *v, long long *out)
{
  char *end;
  long long n;

  errno = 0;
  n = strtoll(v, &end, 10);
  if (errno || end == v || *end || n < 0)
    return false;
  *out = n;
  return true;
}

static int on_ini(void *user, const char *section, const char *key,
                  const char *value)
{
  ini_ctx *x = user;
  ig_settings *s = x->s;
  long long n;

  if (strcmp(section, "ingest") != 0)
    return 1;
  if (!strcmp(key, "archive_dir"))
    set_str(&s->archive_dir, value);
  else if (!strcmp(key, "work_dir"))
    set_str(&s->work_dir, value);
  else if (!strcmp(key, "notify_url"))
    set_str(&s->notify_url, value);
  else if (!strcmp(key, "notify_command"))
    set_str(&s->notify_command, value);
  else if (!strcmp(key, "min_size_bytes") ||
           !strcmp(key, "notify_timeout_ms")) {
    if (!parse_num(value, &n)) {
      snprintf(x->bad_key, sizeof(x->bad_key), "%s", key);
      return 0; /* inih reports this line */
    }
    if (!strcmp(key, "min_size_bytes"))
      s->min_size = n;
    else
      s->notify_timeout_ms = (long)n;
  }
  /* inbox (serve) and unknown keys: ignored */
  return 1;
}

/* Thread pool: read the [ingest] section. */
static int settings_read(ig_settings *s, sw_err *err)
{
  const char *env = getenv("STEPWISE_CONFIG");
  const char *path = env && *env ? env : "stepwise.ini";
  ini_ctx x;
  int line;

  memset(s, 0, sizeof(*s));
  memset(&x, 0, sizeof(x));
  x.s = s;
  s->path = sw_strdup(path);
  s->min_size = 50;
  s->notify_timeout_ms = 10000;
  if (!sw_file_exists(path)) {
    if (env && *env)
      return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_OS, 0,
                        "STEPWISE_CONFIG names %s, which does not exist",
                        path);
  } else {
    line = ini_parse(path, on_ini, &x);
    if (line < 0)
      return sw_err_set(err, SW_EIO, SW_ORIGIN_OS, 0, "cannot read %s",
                        path);
    if (line > 0 && x.bad_key[0])
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "%s:%d: [ingest] %s: expected a whole number >= 0",
                        path, line, x.bad_key);
    if (line > 0)
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "%s:%d: not valid INI", path, line);
  }
  if (!s->archive_dir)
    s->archive_dir = sw_strdup("archive");
  if (!s->work_dir)
    s->work_dir = sw_strdup(".stepwise/ingest");
  return 0;
}

/* ---- life cycle -------------------------------------------------------- */

static void task_free(sw_ingest_task *t)
{
  size_t i;

  settings_dispose(&t->set);
  cJSON_Delete(t->params);
  cJSON_Delete(t->out);
  cJSON_Delete(t->rows);
  sw_free(t->token);
  sw_free(t->stmt_id);
  sw_free(t->name);
  sw_free(t->key);
  sw_free(t->script);
  sw_free(t->work_dir);
  for (i = 0; i < t->n_parts; i++) {
    sw_free(t->parts[i].file);
    sw_free(t->parts[i].name);
    sw_free(t->parts[i].stage);
    sw_free(t->parts[i].prefix);
    sw_free(t->parts[i].target);
    ig_config_dispose(&t->parts[i].cfg);
  }
  sw_free(t->parts);
  ig_conv_free(t->conv);
  sw_free(t->bulk_cols);
  sw_free(t->cause);
  sw_free(t->pending_msg);
  sw_free(t);
}

static void on_timer_closed(uv_handle_t *h)
{
  sw_ingest_task *t = SW_CONTAINER_OF((uv_timer_t *)h, sw_ingest_task,
                                      timer);
  cJSON *out = t->out;

  if (!t->cancelled) {
    t->out = NULL;
    if (t->fail_name)
      t->done(NULL, t->fail_name, t->cause ? t->cause : t->err.msg,
              t->payload);
    else
      t->done(out, NULL, NULL, t->payload);
  }
  task_free(t);
}

static void on_http_closed(void *payload)
{
  sw_ingest_task *t = payload;

  uv_close((uv_handle_t *)&t->timer, on_timer_closed);
}

static void finish(sw_ingest_task *t)
{
  sw_http *h = t->http;

  if (t->finished)
    return;
  if (t->job_busy) {
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

void ig_fail(sw_ingest_task *t, const char *name, const char *fmt, ...)
{
  va_list ap;
  char *msg;

  if (t->finished)
    return;
  va_start(ap, fmt);
  msg = sw_vasprintf(fmt, ap);
  va_end(ap);
  sw_err_set(&t->err, SW_ERROR, SW_ORIGIN_NONE, 0, "%s", msg);
  sw_free(t->cause);
  t->cause = msg; /* whole: a list of bad rows is longer than err.msg */
  t->fail_name = name;
  cJSON_Delete(t->out);
  t->out = NULL;
  sw_log(SW_LOG_INFO, "ingest: %s: %s", name, t->err.msg);
  finish(t);
}

void ig_succeed(sw_ingest_task *t, cJSON *out)
{
  if (t->out != out)
    cJSON_Delete(t->out);
  t->out = out;
  finish(t);
}

static void job_work(uv_work_t *w)
{
  sw_ingest_task *t = SW_CONTAINER_OF(w, sw_ingest_task, work);

  t->work_fn(t);
}

static void job_after(uv_work_t *w, int status)
{
  sw_ingest_task *t = SW_CONTAINER_OF(w, sw_ingest_task, work);

  (void)status;
  t->job_busy = false;
  if (t->finish_pending) {
    t->finish_pending = false;
    finish(t);
    return;
  }
  if (t->cancelled) {
    ig_fail(t, "States.TaskFailed", "cancelled");
    return;
  }
  if (t->fail_name) { /* the job failed: report it (a long cause the job
                         left in pending_msg, else err.msg) */
    const char *n = t->fail_name;
    t->fail_name = NULL;
    ig_fail(t, n, "%s", t->pending_msg ? t->pending_msg : t->err.msg);
    return;
  }
  t->after_fn(t);
}

void ig_job(sw_ingest_task *t, void (*work_fn)(sw_ingest_task *),
            void (*after_fn)(sw_ingest_task *))
{
  t->work_fn = work_fn;
  t->after_fn = after_fn;
  t->job_busy = true;
  uv_queue_work(t->loop, &t->work, job_work, job_after);
}

static void on_timer(uv_timer_t *h)
{
  sw_ingest_task *t = SW_CONTAINER_OF(h, sw_ingest_task, timer);

  t->timer_fn(t);
}

static void after_ms(sw_ingest_task *t, long ms, void (*fn)(sw_ingest_task *))
{
  t->timer_fn = fn;
  uv_timer_start(&t->timer, on_timer, (uint64_t)(ms < 0 ? 0 : ms), 0);
}

/* ---- statements: submit, poll describe, fetch rows --------------------- */

static void sql_describe(sw_ingest_task *t);

/* A statement failed: the task fails with t->sql_fail, or hands the
 * message to t->on_sql_fail (which must end or continue the task). */
static void sql_failed(sw_ingest_task *t, const char *fmt, ...)
    SW_PRINTF(2, 3);
static void sql_failed(sw_ingest_task *t, const char *fmt, ...)
{
  void (*h)(sw_ingest_task *, const char *) = t->on_sql_fail;
  va_list ap;
  char *msg;

  va_start(ap, fmt);
  msg = sw_vasprintf(fmt, ap);
  va_end(ap);
  t->on_sql_fail = NULL;
  if (h && !t->cancelled)
    h(t, msg);
  else
    ig_fail(t, t->sql_fail, "%s", msg);
  sw_free(msg);
}

static void on_result(const sw_err *err, cJSON *resp, void *payload)
{
  sw_ingest_task *t = payload;

  if (err) {
    cJSON_Delete(resp);
    sql_failed(t, "warehouse result: %s", err->msg);
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
  sw_ingest_task *t = payload;
  const char *st = sw_json_get_str(resp, "Status");
  sw_err e2 = SW_ERR_INIT;

  if (err || !st) {
    sql_failed(t, "warehouse describe: %s", err ? err->msg : "?");
    goto done;
  }
  if (!strcmp(st, "FINISHED")) {
    if (t->sql_want_rows) {
      if (sw_warehouse_result(t->wh, t->stmt_id, NULL, on_result, t,
                              &e2) < 0)
        sql_failed(t, "warehouse result: %s", e2.msg);
    } else {
      t->sql_next(t);
    }
    goto done;
  }
  if (!strcmp(st, "FAILED") || !strcmp(st, "ABORTED")) {
    const char *why = sw_json_get_str(resp, "Error");
    sql_failed(t, "warehouse statement %s: %s", st,
            why ? why : "");
    goto done;
  }
  if (t->poll_ms < 50)
    t->poll_ms = t->poll_ms ? t->poll_ms * 2 : 1;
  after_ms(t, t->poll_ms, sql_describe);
done:
  cJSON_Delete(resp);
}

static void sql_describe(sw_ingest_task *t)
{
  sw_err err = SW_ERR_INIT;

  if (t->cancelled) {
    ig_fail(t, "States.TaskFailed", "cancelled");
    return;
  }
  if (sw_warehouse_describe(t->wh, t->stmt_id, on_describe, t, &err) < 0)
    sql_failed(t, "warehouse describe: %s", err.msg);
}

static void on_submit(const sw_err *err, const char *id, void *payload)
{
  sw_ingest_task *t = payload;

  if (err) {
    sql_failed(t, "warehouse submit: %s", err->msg);
    return;
  }
  sw_free(t->stmt_id);
  t->stmt_id = sw_strdup(id);
  t->poll_ms = 0;
  sql_describe(t);
}

void ig_sql(sw_ingest_task *t, const char *const *sqls, size_t n,
            const sw_wh_param *params, size_t n_params, const char *token,
            bool want_rows, void (*next)(sw_ingest_task *t))
{
  sw_wh_submit req;
  sw_err err = SW_ERR_INIT;

  if (t->cancelled) {
    ig_fail(t, "States.TaskFailed", "cancelled");
    return;
  }
  memset(&req, 0, sizeof(req));
  req.sqls = sqls;
  req.n_sqls = n;
  req.batch = n > 1;
  req.params = params;
  req.n_params = n_params;
  req.client_token = token;
  t->sql_next = next;
  t->sql_want_rows = want_rows;
  if (!t->sql_fail)
    t->sql_fail = E_LOAD;
  if (sw_warehouse_submit(t->wh, &req, on_submit, t, &err) < 0)
    sql_failed(t, "warehouse submit: %s", err.msg);
}

/* ---- lookup ------------------------------------------------------------- */

static const char *input_file(const sw_ingest_task *t)
{
  const cJSON *in = sw_json_get(t->params, "input");
  const char *f = sw_json_get_str(in, "file");

  if (!f)
    f = sw_json_get_str(t->params, "file");
  return f;
}

static void lookup_setup_work(sw_ingest_task *t)
{
  char *p = sw_asprintf("%s/file_ingest/setup.%s.sql", t->ig->sql_dir,
                        ig_is_pg(t) ? "postgres" : "sqlite");
  struct stat st;

  if (!sw_file_exists(p)) {
    sw_free(p);
    p = sw_asprintf("%s/file_ingest/setup.sql", t->ig->sql_dir);
    if (ig_is_pg(t)) { /* redshift-data: the PostgreSQL text applies */
      sw_free(p);
      p = sw_asprintf("%s/file_ingest/setup.postgres.sql", t->ig->sql_dir);
    }
  }
  if (sw_file_read(&t->script, NULL, p, 1 << 20, &t->err) < 0) {
    t->fail_name = E_CONFIG;
    sw_free(p);
    return;
  }
  sw_free(p);
  if (stat(t->file, &st) < 0 || !S_ISREG(st.st_mode)) {
    t->fail_name = E_NOFILE;
    sw_err_set(&t->err, SW_ENOTFOUND, SW_ORIGIN_OS, errno,
               "%s: no such file", t->file);
    return;
  }
  t->out = cJSON_CreateObject();
  cJSON_AddNumberToObject(t->out, "size", (double)st.st_size);
}

/* Columns of the lookup query (ig_lookup_sql), as config members. */
static const char *const cfg_names[] = {
    "sid", "interface_id", "interface_name", "tgt_schema_name",
    "tgt_table_name", "file_prefix", "file_format", "file_type",
    "delimiter", "header_flag", "trailer_flag", "query",
    "split_file_flag", "split_prefix", "escape_char", "trailer_pstn"};

/* A config object from the first row of a config: members + "columns". */
static cJSON *config_from_row(const cJSON *row)
{
  cJSON *cfg = cJSON_CreateObject();
  char b[64];
  size_t i;

  for (i = 0; i < SW_ARRAY_SIZE(cfg_names); i++) {
    const char *v = ig_field(row, (int)i, b, sizeof(b));
    if (v)
      cJSON_AddStringToObject(cfg, cfg_names[i], v);
    else
      cJSON_AddNullToObject(cfg, cfg_names[i]);
  }
  cJSON_AddArrayToObject(cfg, "columns");
  return cfg;
}

/* Append the detail row's column (if any) to cfg's "columns". */
static void config_add_column(cJSON *cfg, const cJSON *row)
{
  char b[64];
  const char *col = ig_field(row, 16, b, sizeof(b)), *w;
  cJSON *cj;

  if (!col)
    return;
  cj = cJSON_CreateObject();
  cJSON_AddStringToObject(cj, "name", col);
  w = ig_field(row, 17, b, sizeof(b));
  if (w)
    cJSON_AddNumberToObject(cj, "width", strtod(w, NULL));
  else
    cJSON_AddNullToObject(cj, "width");
  cJSON_AddItemToArray(sw_json_get(cfg, "columns"), cj);
}

static void lookup_have_rows(sw_ingest_task *t)
{
  cJSON *cfg = NULL, *o = t->out;
  const cJSON *row;
  char b[64], sid_first[64] = "";
  sw_buf many = SW_BUF_INIT(0);
  int n_cfg = 0;
  ig_config c;
  char started[32];

  cJSON_ArrayForEach(row, t->rows) {
    const char *sid = ig_field(row, 0, b, sizeof(b));
    if (!sid)
      continue;
    if (strcmp(sid, sid_first) != 0) {
      n_cfg++;
      sw_buf_printf(&many, NULL, "%s%s", n_cfg > 1 ? ", " : "", sid);
      snprintf(sid_first, sizeof(sid_first), "%s", sid);
      if (n_cfg == 1)
        cfg = config_from_row(row);
    }
    if (n_cfg == 1)
      config_add_column(cfg, row);
  }
  if (n_cfg == 0) {
    sw_buf_dispose(&many);
    cJSON_Delete(cfg);
    ig_fail(t, E_NOCONFIG, "%s: no active config row has file_prefix "
            "'%s.' (the key of a file name is its last '_'-separated "
            "token before the first '.')", t->name, t->key);
    return;
  }
  if (n_cfg > 1) {
    cJSON_Delete(cfg);
    ig_fail(t, E_AMBIGUOUS, "%s: %d active config rows have file_prefix "
            "'%s.' (ext_file_config_sid %s): deactivate all but one "
            "(oprtnl_flag 'I')", t->name, n_cfg, t->key,
            many.ptr ? many.ptr : "");
    sw_buf_dispose(&many);
    return;
  }
  sw_buf_dispose(&many);
  if (ig_config_parse(&c, cfg, &t->err) < 0) {
    cJSON_Delete(cfg);
    ig_fail(t, E_CONFIG, "%s: ext_file_config_sid %s: %s", t->name,
            sid_first, t->err.msg);
    return;
  }
  ig_config_dispose(&c);
  ig_now_text(started);
  cJSON_AddStringToObject(o, "file", t->file);
  cJSON_AddStringToObject(o, "name", t->name);
  cJSON_AddStringToObject(o, "key", t->key);
  cJSON_AddStringToObject(o, "started_at", started);
  cJSON_AddItemToObject(o, "config", cfg);
  ig_succeed(t, o);
}

/* The config rows (one per detail row) whose file_prefix is :prefix,
 * columns as cfg_names then column_name, column_width_fixed. */
static char *ig_lookup_sql(const sw_ingest_task *t)
{
  char *cf = ig_table(t, "rdscnfg", "ext_file_config");
  char *it = ig_table(t, "rdscnfg", "ext_interface");
  char *dt = ig_table(t, "rdscnfg", "ext_file_config_dtl");
  char *s = sw_asprintf(
      "SELECT c.ext_file_config_sid, c.ext_interface_cid, i.interface_name,"
      " c.tgt_schema_name, c.tgt_table_name, c.file_prefix, c.file_format,"
      " c.file_type, c.delimiter, c.header_flag, c.trailer_flag, c.query,"
      " c.split_file_flag, c.split_prefix, c.escape_char, c.trailer_pstn,"
      " d.column_name, d.column_width_fixed"
      " FROM %s c JOIN %s i ON i.ext_interface_cid = c.ext_interface_cid"
      " LEFT JOIN %s d ON d.ext_file_config_sid = c.ext_file_config_sid"
      " AND d.oprtnl_flag = 'A'"
      " WHERE c.file_prefix = :prefix AND c.oprtnl_flag = 'A'"
      " AND i.oprtnl_flag = 'A'"
      " ORDER BY c.ext_file_config_sid, d.column_order_sqnc", cf, it, dt);
  sw_free(cf);
  sw_free(it);
  sw_free(dt);
  return s;
}

static void lookup_query(sw_ingest_task *t)
{
  char *sql = ig_lookup_sql(t);
  char *prefix = sw_asprintf("%s.", t->key);
  sw_wh_param p = {"prefix", prefix};
  const char *s = sql;

  t->sql_fail = E_CONFIG;
  ig_sql(t, &s, 1, &p, 1, NULL, true, lookup_have_rows);
  sw_free(sql);
  sw_free(prefix);
}

static void lookup_after_setup_read(sw_ingest_task *t)
{
  const char *s = t->script;

  t->sql_fail = E_CONFIG;
  ig_sql(t, &s, 1, NULL, 0, NULL, false, lookup_query);
}

static void lookup_start(sw_ingest_task *t)
{
  t->name = sw_strdup(ig_basename(t->file));
  t->key = ig_key_of(t->name);
  ig_job(t, lookup_setup_work, lookup_after_setup_read);
}

/* ---- postload ----------------------------------------------------------- */

static void postload_done(sw_ingest_task *t)
{
  cJSON *o = cJSON_CreateObject();

  cJSON_AddNumberToObject(o, "statements", (double)t->next);
  ig_succeed(t, o);
}

/* The config objects a state's lookup/split name: the parts' when split. */
static void configs_of(const sw_ingest_task *t, const cJSON **out,
                       size_t *n, size_t cap)
{
  const cJSON *parts = sw_json_get(sw_json_get(t->params, "split"), "parts");
  const cJSON *p;

  *n = 0;
  if (cJSON_GetArraySize(parts) > 0) {
    cJSON_ArrayForEach(p, parts)
      if (*n < cap)
        out[(*n)++] = sw_json_get(p, "config");
    return;
  }
  out[(*n)++] = sw_json_get(sw_json_get(t->params, "lookup"), "config");
}

static void postload_start(sw_ingest_task *t)
{
  const cJSON *cfgs[40];
  const char *sqls[40];
  size_t n, i, k = 0;

  configs_of(t, cfgs, &n, 40);
  for (i = 0; i < n; i++) {
    const char *q = sw_json_get_str(cfgs[i], "query");
    if (q && *q)
      sqls[k++] = q;
  }
  t->next = k;
  if (k == 0) {
    postload_done(t);
    return;
  }
  {
    const char *f = input_file(t);
    const char *iid = sw_json_get_str(cfgs[0], "interface_id");
    sw_wh_param p[2];
    size_t np = 0;
    if (f) {
      p[np].name = "file_name";
      p[np++].value = ig_basename(f);
    }
    if (iid) {
      p[np].name = "interface_id";
      p[np++].value = iid;
    }
    t->sql_fail = E_POSTLOAD;
    ig_sql(t, sqls, k, p, np, t->token, false, postload_done);
  }
}

/* ---- audit of a failure ------------------------------------------------ */

static void audit_done(sw_ingest_task *t)
{
  cJSON *o = cJSON_CreateObject();

  cJSON_AddStringToObject(o, "status", "FAILED");
  ig_succeed(t, o);
}

static void audit_start(sw_ingest_task *t)
{
  const cJSON *lookup = sw_json_get(t->params, "lookup");
  const cJSON *cfg = sw_json_get(lookup, "config");
  const cJSON *error = sw_json_get(t->params, "error");
  const char *ename = sw_json_get_str(error, "Error");
  const char *cause = sw_json_get_str(error, "Cause");
  const char *started = sw_json_get_str(lookup, "started_at");
  const char *sha = sw_json_get_str(sw_json_get(t->params, "check"),
                                    "sha256");
  const char *f = input_file(t);
  char *tbl = ig_table(t, "rdscnfg", "ext_file_audit");
  char now[32], msg[4001];
  sw_wh_param p[12];
  size_t n = 0;
  sw_buf b = SW_BUF_INIT(0);
  char *sql;
  const char *s;

#define PARAM(nm, v) (p[n].name = (nm), p[n].value = (v), n++)
  ig_now_text(now);
  if (!cause)
    cause = "";
  snprintf(msg, sizeof(msg), "%.*s",
           (int)ig_utf8_cut(cause, strlen(cause), sizeof(msg) - 1), cause);
  sw_buf_printf(&b, NULL, "INSERT INTO %s (ext_interface_cid,"
                " tgt_schema_name, tgt_table_name, file_process_status,"
                " file_process_date, file_prcsd_flag, error_msg, start_time,"
                " end_time, escape_char, file_name, file_sha256,"
                " rows_loaded, error_name, client_token) VALUES (", tbl);
  sw_buf_puts(&b, sw_json_get_str(cfg, "interface_id") ? ":iid, " : "NULL, ",
              NULL);
  sw_buf_puts(&b, sw_json_get_str(cfg, "tgt_schema_name") ? ":sch, "
                                                          : "NULL, ", NULL);
  sw_buf_puts(&b, sw_json_get_str(cfg, "tgt_table_name") ? ":tbl, "
                                                         : "NULL, ", NULL);
  sw_buf_puts(&b, "'FAILED', :now, 'N', :msg, :start, :now, ", NULL);
  sw_buf_puts(&b, sw_json_get_str(cfg, "escape_char") ? ":esc, " : "NULL, ",
              NULL);
  sw_buf_puts(&b, ":file, ", NULL);
  sw_buf_puts(&b, sha ? ":sha, " : "NULL, ", NULL);
  sw_buf_puts(&b, "0, :ename, :token)", NULL);
  sql = sw_buf_detach(&b);
  if (sw_json_get_str(cfg, "interface_id"))
    PARAM("iid", sw_json_get_str(cfg, "interface_id"));
  if (sw_json_get_str(cfg, "tgt_schema_name"))
    PARAM("sch", sw_json_get_str(cfg, "tgt_schema_name"));
  if (sw_json_get_str(cfg, "tgt_table_name"))
    PARAM("tbl", sw_json_get_str(cfg, "tgt_table_name"));
  if (sw_json_get_str(cfg, "escape_char"))
    PARAM("esc", sw_json_get_str(cfg, "escape_char"));
  PARAM("now", now);
  PARAM("msg", msg);
  PARAM("start", started ? started : now);
  PARAM("file", f ? ig_basename(f) : "(no file in the input)");
  if (sha)
    PARAM("sha", sha);
  PARAM("ename", ename ? ename : "States.TaskFailed");
  PARAM("token", t->token); /* 11 at most */
#undef PARAM
  s = sql;
  t->sql_fail = E_LOAD;
  ig_sql(t, &s, 1, p, n, t->token, false, audit_done);
  sw_free(sql);
  sw_free(tbl);
}

/* ---- archive ------------------------------------------------------------ */

static int copy_file(const char *from, const char *to, sw_err *err)
{
  char buf[65536];
  ssize_t n, w, off;
  int in, out, rc = 0;

  in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno, "cannot open %s",
                      from);
  out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    close(in);
    return sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno, "cannot create %s",
                      to);
  }
  while ((n = read(in, buf, sizeof(buf))) > 0)
    for (off = 0; off < n; off += w)
      if ((w = write(out, buf + off, (size_t)(n - off))) < 0) {
        rc = sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno,
                        "cannot write %s", to);
        goto out;
      }
  if (n < 0)
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno, "cannot read %s",
                    from);
  else if (fsync(out) < 0)
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno, "cannot sync %s", to);
out:
  close(in);
  if (close(out) < 0 && rc == 0)
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno, "cannot write %s", to);
  if (rc < 0)
    unlink(to);
  return rc;
}

static bool digits(const char *s)
{
  if (!*s)
    return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9')
      return false;
  return true;
}

static bool split_dir_ok(const sw_ingest_task *t, const char *dir)
{
  size_t n = strlen(t->set.work_dir), i;

  if (strncmp(dir, t->set.work_dir, n) != 0 || dir[n] != '/' ||
      strlen(dir + n + 1) != 16)
    return false;
  for (i = n + 1; dir[i]; i++)
    if (!((dir[i] >= '0' && dir[i] <= '9') ||
          (dir[i] >= 'a' && dir[i] <= 'f')))
      return false;
  return true;
}

static void archive_work(sw_ingest_task *t)
{
  const cJSON *cfg = sw_json_get(sw_json_get(t->params, "lookup"), "config");
  const char *iid = sw_json_get_str(cfg, "interface_id");
  bool failed = sw_json_get(t->params, "error") != NULL;
  const char *split_dir = sw_json_get_str(sw_json_get(t->params, "split"),
                                          "dir");
  char *dir, *dest, *alt;
  const char *f = input_file(t);
  struct stat st;

  /* Only what split made (work_dir/<16 hex of a token>) is removed, and
   * only a numeric interface id names an archive folder: both come from
   * parameters any workflow can write. */
  if (split_dir && split_dir_ok(t, split_dir))
    rmtree(split_dir);
  if (iid && !digits(iid))
    iid = NULL; /* archived under error/ */
  t->out = cJSON_CreateObject();
  if (!f) {
    cJSON_AddNullToObject(t->out, "archived_to");
    return;
  }
  dir = sw_asprintf("%s/%s", t->set.archive_dir,
                    failed || !iid ? "error" : iid);
  dest = sw_asprintf("%s/%s", dir, ig_basename(f));
  alt = sw_asprintf("%s-%.12s", dest, t->token);
  if (stat(f, &st) < 0) { /* moved by an earlier attempt, or never there */
    if (sw_file_exists(alt))
      cJSON_AddStringToObject(t->out, "archived_to", alt);
    else if (sw_file_exists(dest))
      cJSON_AddStringToObject(t->out, "archived_to", dest);
    else
      cJSON_AddNullToObject(t->out, "archived_to");
    goto out;
  }
  if (sw_mkdirs(dir, &t->err) < 0) {
    t->fail_name = E_ARCHIVE;
    goto out;
  }
  if (sw_file_exists(dest)) {
    sw_free(dest);
    dest = sw_strdup(alt);
  }
  if (rename(f, dest) < 0) {
    if (errno != EXDEV) {
      t->fail_name = E_ARCHIVE;
      sw_err_set(&t->err, SW_EIO, SW_ORIGIN_OS, errno,
                 "cannot move %s to %s: %s", f, dest,
                 errno == EACCES ? "permission denied" : "rename failed");
      goto out;
    }
    if (copy_file(f, dest, &t->err) < 0 || unlink(f) < 0) {
      t->fail_name = E_ARCHIVE;
      goto out;
    }
  }
  cJSON_AddStringToObject(t->out, "archived_to", dest);
out:
  sw_free(dir);
  sw_free(dest);
  sw_free(alt);
}

static void archive_after(sw_ingest_task *t)
{
  ig_succeed(t, t->out);
}

/* ---- notify ------------------------------------------------------------- */

static cJSON *notice(const sw_ingest_task *t)
{
  const cJSON *lookup = sw_json_get(t->params, "lookup");
  const cJSON *cfg = sw_json_get(lookup, "config");
  const cJSON *load = sw_json_get(t->params, "load");
  const cJSON *error = sw_json_get(t->params, "error");
  const cJSON *rows = sw_json_get(load, "rows");
  const char *f = input_file(t);
  const char *status = error ? "FAILED"
                       : cJSON_IsFalse(sw_json_get(load, "loaded"))
                           ? "SKIPPED"
                           : "SUCCEEDED";
  cJSON *o = cJSON_CreateObject();
  const char *v;

  cJSON_AddStringToObject(o, "status", status);
  if (f) {
    cJSON_AddStringToObject(o, "file", f);
    cJSON_AddStringToObject(o, "name", ig_basename(f));
  }
  if ((v = sw_json_get_str(cfg, "interface_id")))
    cJSON_AddStringToObject(o, "interface_id", v);
  if (cJSON_IsNumber(rows))
    cJSON_AddNumberToObject(o, "rows", rows->valuedouble);
  if (error) {
    cJSON_AddStringToObject(o, "error", sw_json_get_str(error, "Error")
                                            ? sw_json_get_str(error, "Error")
                                            : "");
    cJSON_AddStringToObject(o, "cause", sw_json_get_str(error, "Cause")
                                            ? sw_json_get_str(error, "Cause")
                                            : "");
  }
  v = sw_json_get_str(sw_json_get(t->params, "archived"), "archived_to");
  if (v)
    cJSON_AddStringToObject(o, "archived_to", v);
  return o;
}

/* The origin of a URL ("https://host:port") for messages: webhook URLs
 * often carry their secret in the path, query or user info, which must
 * not reach the history. Into out[cap]. */
static const char *url_origin(const char *url, char *out, size_t cap)
{
  const char *p = strstr(url, "://"), *h, *at, *end;

  if (!p) {
    snprintf(out, cap, "(the configured notify_url)");
    return out;
  }
  h = p + 3;
  end = h + strcspn(h, "/?#");
  at = memchr(h, '@', (size_t)(end - h));
  if (at)
    h = at + 1;
  snprintf(out, cap, "%.*s://%.*s", (int)(p - url), url, (int)(end - h), h);
  return out;
}

static void on_notify_http(const sw_err *err, const sw_http_response *resp,
                           void *payload)
{
  sw_ingest_task *t = payload;
  char origin[128];
  cJSON *o;

  if (err) {
    ig_fail(t, E_NOTIFY, "notify_url %s...: %s",
            url_origin(t->set.notify_url, origin, sizeof(origin)),
            err->msg);
    return;
  }
  o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "notified", "url");
  cJSON_AddNumberToObject(o, "http_status", (double)resp->status);
  ig_succeed(t, o);
}

static void on_proc_closed(uv_handle_t *h)
{
  sw_ingest_task *t = SW_CONTAINER_OF((uv_process_t *)h, sw_ingest_task,
                                      proc);
  cJSON *o;

  t->proc_live = false;
  if (t->fail_name) {
    const char *n = t->fail_name;
    t->fail_name = NULL;
    ig_fail(t, n, "%s", t->err.msg);
    return;
  }
  o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "notified", "command");
  ig_succeed(t, o);
}

static void on_proc_exit(uv_process_t *p, int64_t status, int sig)
{
  sw_ingest_task *t = SW_CONTAINER_OF(p, sw_ingest_task, proc);

  uv_timer_stop(&t->timer);
  if (status != 0 || sig != 0) {
    t->fail_name = E_NOTIFY;
    if (sig)
      sw_err_set(&t->err, SW_EREMOTE, SW_ORIGIN_OS, sig,
                 "notify_command was stopped by signal %d", sig);
    else
      sw_err_set(&t->err, SW_EREMOTE, SW_ORIGIN_OS, (long)status,
                 "notify_command exited with status %lld",
                 (long long)status);
  }
  uv_close((uv_handle_t *)p, on_proc_closed);
}

static void on_proc_timeout(sw_ingest_task *t)
{
  uv_process_kill(&t->proc, SIGKILL);
}

static void notify_command(sw_ingest_task *t, const cJSON *o)
{
  static const struct {
    const char *key, *var;
  } vars[] = {{"status", "INGEST_STATUS"}, {"file", "INGEST_FILE"},
              {"name", "INGEST_NAME"}, {"interface_id", "INGEST_INTERFACE_ID"},
              {"error", "INGEST_ERROR"}, {"cause", "INGEST_CAUSE"},
              {"archived_to", "INGEST_ARCHIVED_TO"}};
  uv_process_options_t po;
  char *args[4];
  char **env;
  size_t n_env = 0, i, k = 0;
  char rows[32] = "";
  int rc;

  while (environ[n_env])
    n_env++;
  env = sw_calloc(n_env + SW_ARRAY_SIZE(vars) + 2, sizeof(char *));
  for (i = 0; i < n_env; i++)
    if (strncmp(environ[i], "INGEST_", 7) != 0)
      env[k++] = sw_strdup(environ[i]);
  for (i = 0; i < SW_ARRAY_SIZE(vars); i++)
    env[k++] = sw_asprintf("%s=%s", vars[i].var,
                           sw_json_get_str(o, vars[i].key)
                               ? sw_json_get_str(o, vars[i].key)
                               : "");
  if (cJSON_IsNumber(sw_json_get(o, "rows")))
    snprintf(rows, sizeof(rows), "%lld",
             (long long)sw_json_get(o, "rows")->valuedouble);
  env[k++] = sw_asprintf("INGEST_ROWS=%s", rows);
  args[0] = "/bin/sh";
  args[1] = "-c";
  args[2] = t->set.notify_command;
  args[3] = NULL;
  memset(&po, 0, sizeof(po));
  po.file = args[0];
  po.args = args;
  po.env = env;
  po.exit_cb = on_proc_exit;
  rc = uv_spawn(t->loop, &t->proc, &po);
  for (i = 0; i < k; i++)
    sw_free(env[i]);
  sw_free(env);
  if (rc < 0) {
    /* Fail from the handle's close callback: the task must outlive it. */
    t->fail_name = E_NOTIFY;
    sw_err_set(&t->err, SW_EIO, SW_ORIGIN_UV, rc,
               "cannot run notify_command: %s", uv_strerror(rc));
    uv_close((uv_handle_t *)&t->proc, on_proc_closed);
    return;
  }
  t->proc_live = true;
  after_ms(t, t->set.notify_timeout_ms, on_proc_timeout);
}

static void notify_start(sw_ingest_task *t)
{
  cJSON *o = notice(t), *r;
  const char *hdr[] = {"Content-Type: application/json"};
  char origin[128];
  sw_http_opts ho;
  sw_err err = SW_ERR_INIT;
  char *body;
  int rc;

  if (t->set.notify_command) {
    notify_command(t, o);
    cJSON_Delete(o);
    return;
  }
  if (!t->set.notify_url) {
    cJSON_Delete(o);
    r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "notified", "none");
    ig_succeed(t, r);
    return;
  }
  body = sw_json_print(o);
  cJSON_Delete(o);
  if (sw_http_new(&t->http, t->loop, NULL, &err) < 0) {
    sw_free(body);
    ig_fail(t, E_NOTIFY, "notify_url: %s", err.msg);
    return;
  }
  memset(&ho, 0, sizeof(ho));
  ho.method = "POST";
  ho.url = t->set.notify_url;
  ho.headers = hdr;
  ho.n_headers = 1;
  ho.body = body;
  ho.body_len = strlen(body);
  ho.timeout_ms = t->set.notify_timeout_ms;
  ho.max_body = 64 * 1024;
  rc = sw_http_request(t->http, &ho, on_notify_http, t, NULL, &err);
  sw_free(body);
  if (rc < 0)
    ig_fail(t, E_NOTIFY, "notify_url %s...: %s",
            url_origin(t->set.notify_url, origin, sizeof(origin)), err.msg);
}

/* ---- dispatch ------------------------------------------------------------ */

static void settings_work(sw_ingest_task *t)
{
  if (settings_read(&t->set, &t->err) < 0)
    t->fail_name = E_CONFIG;
}

static void check_after(sw_ingest_task *t)
{
  ig_succeed(t, t->out);
}

static void split_lookup_rows(sw_ingest_task *t);

static void started(sw_ingest_task *t)
{
  const cJSON *lookup = sw_json_get(t->params, "lookup");

  t->file = input_file(t);
  switch (t->action) {
  case A_LOOKUP:
    if (!t->file || !*t->file) {
      ig_fail(t, E_INPUT, "the input has no \"file\" (expected {\"file\": "
              "\"/path/of/the/file\"})");
      return;
    }
    lookup_start(t);
    return;
  case A_CHECK:
  case A_SPLIT:
  case A_LOAD:
    if (!t->file || !sw_json_get(lookup, "config")) {
      ig_fail(t, E_INPUT, "parameters need \"input\": {\"file\"} and "
              "\"lookup\": the output of stepwise.ingest.lookup");
      return;
    }
    t->name = sw_strdup(ig_basename(t->file));
    if (t->action == A_CHECK)
      ig_job(t, ig_check_work, check_after);
    else if (t->action == A_SPLIT)
      split_lookup_rows(t);
    else
      ig_load_start(t);
    return;
  case A_POSTLOAD:
    postload_start(t);
    return;
  case A_AUDIT:
    audit_start(t);
    return;
  case A_ARCHIVE:
    ig_job(t, archive_work, archive_after);
    return;
  case A_NOTIFY:
    notify_start(t);
    return;
  }
}

/* ---- split: part configs, then the split job -------------------------- */

static void split_after(sw_ingest_task *t)
{
  cJSON *cfgs = cJSON_DetachItemFromObject(t->out, "_configs");
  cJSON *o = cJSON_CreateObject(), *arr, *e;
  size_t i;

  cJSON_AddStringToObject(o, "dir", t->work_dir);
  arr = cJSON_AddArrayToObject(o, "parts");
  for (i = 0; i < t->n_parts; i++) {
    char *k = sw_asprintf("%s-%s", t->key, t->parts[i].prefix);
    e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "file", t->parts[i].file);
    cJSON_AddStringToObject(e, "name", t->parts[i].name);
    cJSON_AddStringToObject(e, "prefix", t->parts[i].prefix);
    cJSON_AddItemToObject(e, "config", sw_json_dup(sw_json_get(cfgs, k)));
    cJSON_AddItemToArray(arr, e);
    sw_free(k);
  }
  cJSON_Delete(cfgs);
  ig_succeed(t, o);
}

/* Rows of the parts' configs came back: one per part key. */
static void split_have_rows(sw_ingest_task *t)
{
  const cJSON *pcfg = sw_json_get(sw_json_get(t->params, "lookup"),
                                  "config");
  cJSON *parts = cJSON_CreateObject(); /* key -> config */
  const cJSON *row;
  ig_config c;
  char b[64], b2[64];
  size_t i;

  cJSON_ArrayForEach(row, t->rows) {
    const char *prefix = ig_field(row, 5, b, sizeof(b));
    char *k;
    cJSON *cfg;
    if (!prefix || !*prefix)
      continue;
    k = sw_strndup(prefix, strlen(prefix) - 1); /* "720-HD." -> "720-HD" */
    cfg = sw_json_get(parts, k);
    if (!cfg) {
      cfg = config_from_row(row);
      cJSON_AddItemToObject(parts, k, cfg);
    } else if (strcmp(sw_json_get_str(cfg, "sid"),
                      ig_field(row, 0, b2, sizeof(b2))) != 0) {
      sw_json_set(cfg, "_ambiguous", cJSON_CreateTrue());
    }
    if (!sw_json_get(cfg, "_ambiguous"))
      config_add_column(cfg, row);
    sw_free(k);
  }
  if (ig_config_parse(&c, pcfg, &t->err) < 0) {
    cJSON_Delete(parts);
    ig_fail(t, E_CONFIG, "%s: %s", t->name, t->err.msg);
    return;
  }
  t->key = ig_key_of(t->name);
  t->n_parts = c.n_prefixes;
  t->parts = sw_calloc(c.n_prefixes ? c.n_prefixes : 1, sizeof(ig_part));
  for (i = 0; i < c.n_prefixes; i++) {
    char *k = sw_asprintf("%s-%s", t->key, c.prefixes[i]);
    cJSON *cfg = sw_json_get(parts, k);
    if (!cfg || sw_json_get(cfg, "_ambiguous")) {
      ig_fail(t, cfg ? E_AMBIGUOUS : E_NOCONFIG,
              "%s: split part %s: %s active config row has file_prefix "
              "'%s.'", t->name, c.prefixes[i], cfg ? "more than one" : "no",
              k);
      sw_free(k);
      ig_config_dispose(&c);
      cJSON_Delete(parts);
      return;
    }
    cJSON_DeleteItemFromObject(cfg, "_ambiguous");
    if (ig_config_parse(&t->parts[i].cfg, cfg, &t->err) < 0) {
      ig_fail(t, E_CONFIG, "%s: split part config '%s.': %s", t->name, k,
              t->err.msg);
      sw_free(k);
      ig_config_dispose(&c);
      cJSON_Delete(parts);
      return;
    }
    sw_free(k);
  }
  ig_config_dispose(&c);
  /* keep the part configs for the output, in prefix order */
  t->out = cJSON_CreateObject();
  cJSON_AddItemToObject(t->out, "_configs", parts);
  t->work_dir = sw_asprintf("%s/%.16s", t->set.work_dir, t->token);
  ig_job(t, ig_split_work, split_after);
}

static void split_lookup_rows(sw_ingest_task *t)
{
  const cJSON *pcfg = sw_json_get(sw_json_get(t->params, "lookup"),
                                  "config");
  char *sql = ig_lookup_sql(t), *key = ig_key_of(t->name);
  ig_config c;
  sw_buf b = SW_BUF_INIT(0);
  sw_wh_param p[41];
  char *vals[41];
  size_t i, n = 0;
  const char *s;

  if (ig_config_parse(&c, pcfg, &t->err) < 0) {
    sw_free(sql);
    sw_free(key);
    ig_fail(t, E_CONFIG, "%s: %s", t->name, t->err.msg);
    return;
  }
  if (!c.split || c.n_prefixes == 0 || c.n_prefixes > 40) {
    ig_config_dispose(&c);
    sw_free(sql);
    sw_free(key);
    ig_fail(t, E_CONFIG, "%s: split needs split_file_flag 'Y' and 1 to 40 "
            "record prefixes in split_prefix", t->name);
    return;
  }
  /* "... WHERE c.file_prefix = :prefix ..." -> IN (:p0, :p1, ...) */
  for (i = 0; i < c.n_prefixes; i++) {
    vals[n] = sw_asprintf("%s-%s.", key, c.prefixes[i]);
    p[n].value = vals[n];
    n++;
  }
  {
    char *names_buf[41];
    const char *pos = strstr(sql, "= :prefix");
    sw_buf_put(&b, sql, (size_t)(pos - sql), NULL);
    sw_buf_puts(&b, "IN (", NULL);
    for (i = 0; i < n; i++) {
      names_buf[i] = sw_asprintf("p%zu", i);
      sw_buf_printf(&b, NULL, "%s:%s", i ? ", " : "", names_buf[i]);
      p[i].name = names_buf[i];
    }
    sw_buf_puts(&b, ")", NULL);
    sw_buf_puts(&b, pos + strlen("= :prefix"), NULL);
    sw_free(sql);
    sql = sw_buf_detach(&b);
    s = sql;
    t->sql_fail = E_CONFIG;
    ig_sql(t, &s, 1, p, n, NULL, true, split_have_rows);
    for (i = 0; i < n; i++) {
      sw_free(names_buf[i]);
      sw_free(vals[i]);
    }
  }
  ig_config_dispose(&c);
  sw_free(sql);
  sw_free(key);
}

static void settings_after(sw_ingest_task *t)
{
  started(t);
}

int sw_ingest_invoke(sw_ingest_task **out, sw_ingest *ig,
                     const char *activity, const cJSON *params,
                     const char *token, sw_ingest_done_cb done,
                     void *payload, sw_err *err)
{
  sw_ingest_task *t;
  size_t i;

  *out = NULL;
  for (i = 0; i < SW_ARRAY_SIZE(activities); i++)
    if (activity && !strcmp(activity, activities[i].name))
      break;
  if (i == SW_ARRAY_SIZE(activities))
    return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                      "unknown ingest activity \"%s\"",
                      activity ? activity : "");
  t = sw_calloc(1, sizeof(*t));
  t->ig = ig;
  t->loop = ig->loop;
  t->wh = ig->wh;
  t->action = activities[i].action;
  t->params = params ? sw_json_dup(params) : cJSON_CreateObject();
  t->token = sw_strdup(token ? token : "");
  t->done = done;
  t->payload = payload;
  uv_timer_init(t->loop, &t->timer);
  *out = t;
  ig_job(t, settings_work, settings_after);
  return 0;
}

void sw_ingest_cancel(sw_ingest_task *t)
{
  if (t)
    t->cancelled = true;
}
