/* SPDX-License-Identifier: MIT */
/* controlshift: the load activity (see controlshift.h for the decisions).
 *
 *   history lookup (SUCCEEDED: nothing to do)
 *   -> registry lookup by ClientToken (a batch of ours exists: a crash
 *      after submit; wait for it instead of staging again)
 *   -> the target's columns (NoTable when it does not exist)
 *   -> the CSV header (thread pool: libarchive raw format, bzip2/gzip/none
 *      filters, then libcsv for the first record)
 *   -> staging table _cs_stage_<token[0..15]>: the target's columns and
 *      types plus header columns the target lacks (text)
 *   -> bulk load of the decompressed stream into staging (COPY / prepared
 *      INSERTs), read 256 KiB at a time on the thread pool: the file is
 *      never whole in memory
 *   -> ONE batch with the task's token as ClientToken: history row first
 *      (the unique index serialises concurrent loads of one delivery),
 *      sqlite booleans t/f -> 1/0, then full: DROP table + RENAME staging
 *      (+ SET SCHEMA), incremental: ADD COLUMNs, INSERT new ids, DROP
 *      staging.
 * A failure after staging drops staging and records a FAILED history row
 * (best effort, outside the batch). */
#include "controlshift/cs_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <csv.h>

#define HEADER_MAX (1u << 20)   /* bytes read looking for the header */
#define BLOCK (1u << 20)        /* libarchive read block */

typedef struct col {
  char *name;
  char *type;          /* target type, or NULL for a header-only column */
  bool in_header;
} col;

typedef struct cs_load {
  const char *path;    /* borrowed from params */
  const char *file;    /* URL without query (params) */
  char *stage;         /* unqualified name */
  char *q_stage;       /* quoted, unqualified */
  col *cols;           /* target columns, then header-only ones */
  size_t n_cols;
  cJSON *header;       /* ["col"...] */
  const char **hdr;    /* borrowed by the bulk load until its callback */
  struct archive *ar;  /* the bulk-load reader's stream */
  long long file_rows;
  char **sqls;
  size_t n_sqls;
  bool staged;         /* staging may exist: drop it on failure */
  const char *fail_name;
  char *fail_msg;
} cs_load;

void cs_load_free(sw_cs_task *t)
{
  cs_load *l = t->action == A_LOAD ? t->state : NULL;
  size_t i;

  if (!l)
    return;
  for (i = 0; i < l->n_cols; i++) {
    sw_free(l->cols[i].name);
    sw_free(l->cols[i].type);
  }
  sw_free(l->cols);
  for (i = 0; i < l->n_sqls; i++)
    sw_free(l->sqls[i]);
  sw_free(l->sqls);
  cJSON_Delete(l->header);
  sw_free(l->hdr);
  if (l->ar)
    archive_read_free(l->ar);
  sw_free(l->stage);
  sw_free(l->q_stage);
  sw_free(l->fail_msg);
  sw_free(l);
  t->state = NULL;
}

static const char *kind(const sw_cs_task *t)
{
  return t->full ? "full" : "incremental";
}

/* ---- the export stream (thread pool) ----------------------------------- */

static int open_export(struct archive **out, const char *path, sw_err *err)
{
  struct archive *a = archive_read_new();
  struct archive_entry *e;
  int r;

  *out = NULL;
  archive_read_support_filter_bzip2(a);
  archive_read_support_filter_gzip(a);
  archive_read_support_format_raw(a);
  r = archive_read_open_filename(a, path, BLOCK);
  if (r == ARCHIVE_OK)
    r = archive_read_next_header(a, &e);
  if (r == ARCHIVE_EOF) {
    archive_read_free(a);
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ARCHIVE, 0,
                      "%s is empty (expected a CSV export, bzip2, gzip or "
                      "plain)", path);
  }
  if (r != ARCHIVE_OK) {
    r = sw_err_set(err, sw_file_exists(path) ? SW_EINVAL : SW_ENOTFOUND,
                   SW_ORIGIN_ARCHIVE, archive_errno(a), "%s: %s", path,
                   archive_error_string(a) ? archive_error_string(a)
                                           : "cannot read");
    archive_read_free(a);
    return r;
  }
  *out = a;
  return 0;
}

typedef struct hdr_ctx {
  cJSON *fields;
  bool done;
} hdr_ctx;

static void hdr_field(void *s, size_t len, void *data)
{
  hdr_ctx *h = data;
  char *v;

  if (h->done)
    return;
  v = sw_strndup(s ? s : "", len);
  cJSON_AddItemToArray(h->fields, cJSON_CreateString(v));
  sw_free(v);
}

static void hdr_row(int c, void *data)
{
  (void)c;
  ((hdr_ctx *)data)->done = true;
}

static bool plain_col(const char *s)
{
  const char *p;

  if (!s || !*s || strlen(s) > 63 || isdigit((unsigned char)*s))
    return false;
  for (p = s; *p; p++)
    if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
          *p == '_'))
      return false;
  return true;
}

/* Read the header record of the export. */
static void header_work(sw_cs_task *t)
{
  cs_load *l = t->state;
  struct archive *a;
  struct csv_parser p;
  hdr_ctx h = {cJSON_CreateArray(), false};
  char *buf = sw_malloc(65536);
  size_t total = 0, skip;
  la_ssize_t n;
  const cJSON *f, *g;
  int i = 0;

  if (open_export(&a, l->path, &t->err) < 0) {
    t->fail_name = t->err.code == SW_ENOTFOUND ? E_LOAD : E_BADEXPORT;
    if (t->err.code == SW_ENOTFOUND)
      sw_err_set(&t->err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0, "%s is not "
                 "there: run the download step first", l->path);
    cJSON_Delete(h.fields);
    sw_free(buf);
    return;
  }
  csv_init(&p, 0);
  while (!h.done && total < HEADER_MAX) {
    n = archive_read_data(a, buf, 65536);
    if (n < 0) {
      t->fail_name = E_BADEXPORT;
      sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_ARCHIVE, 0, "%s: %s",
                 l->path, archive_error_string(a));
      goto out;
    }
    if (n == 0) {
      csv_fini(&p, hdr_field, hdr_row, &h);
      break;
    }
    skip = total == 0 && n >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3) ? 3 : 0;
    if (csv_parse(&p, buf + skip, (size_t)n - skip, hdr_field, hdr_row,
                  &h) != (size_t)n - skip) {
      t->fail_name = E_BADEXPORT;
      sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                 "%s: line 1: bad CSV header: %s", l->path,
                 csv_strerror(csv_error(&p)));
      goto out;
    }
    total += (size_t)n;
  }
  if (!h.done || cJSON_GetArraySize(h.fields) == 0) {
    t->fail_name = E_BADEXPORT;
    sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
               "%s: line 1: expected a CSV header line (column names)",
               l->path);
    goto out;
  }
  cJSON_ArrayForEach(f, h.fields) {
    i++;
    if (!plain_col(f->valuestring)) {
      t->fail_name = E_BADEXPORT;
      sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                 "%s: line 1, field %d: \"%.60s\" is not a column name "
                 "([a-z_][a-z0-9_]*)", l->path, i, f->valuestring);
      goto out;
    }
    for (g = h.fields->child; g != f; g = g->next)
      if (!strcmp(g->valuestring, f->valuestring)) {
        t->fail_name = E_BADEXPORT;
        sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                   "%s: line 1, field %d: column \"%s\" appears twice",
                   l->path, i, f->valuestring);
        goto out;
      }
  }
  l->header = h.fields;
  h.fields = NULL;
out:
  csv_free(&p);
  archive_read_free(a);
  cJSON_Delete(h.fields);
  sw_free(buf);
}

/* The bulk load's producer: decompressed bytes, front to back. */
static int read_export(void *payload, char *buf, size_t cap, size_t *n_out,
                       sw_err *err)
{
  cs_load *l = payload;
  la_ssize_t n;
  int rc;

  if (!l->ar && (rc = open_export(&l->ar, l->path, err)) < 0)
    return rc;
  n = archive_read_data(l->ar, buf, cap);
  if (n < 0)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ARCHIVE, 0, "%s: %s",
                      l->path, archive_error_string(l->ar));
  *n_out = (size_t)n;
  return 0;
}

/* ---- failure: drop staging, record FAILED ------------------------------ */

static void abort_done(sw_cs_task *t)
{
  cs_load *l = t->state;

  cs_fail(t, l->fail_name, "%s", l->fail_msg);
}

static void abort_ignored(sw_cs_task *t, const char *status,
                          const char *why)
{
  (void)status;
  (void)why;
  abort_done(t);
}

static char *iso_literal(int64_t ms)
{
  char iso[40];

  sw_time_format_iso(iso, sizeof(iso), ms);
  return cs_literal(iso);
}

static void load_abort(sw_cs_task *t, const char *name, const char *fmt, ...)
    SW_PRINTF(3, 4);
static void load_abort(sw_cs_task *t, const char *name, const char *fmt, ...)
{
  cs_load *l = t->state;
  va_list ap;
  char *lj, *lt, *lf, *le, *ls, *lfin, *sql;
  const char *one;

  va_start(ap, fmt);
  l->fail_msg = sw_vasprintf(fmt, ap);
  va_end(ap);
  l->fail_name = name;
  lj = cs_literal(t->jid);
  lt = cs_literal(t->table);
  lf = cs_literal(l->file);
  le = cs_literal(l->fail_msg);
  ls = iso_literal(t->started_ms);
  lfin = iso_literal(sw_time_now_ms());
  sql = sw_asprintf("%s%s%sINSERT INTO %s (jid, table_name, kind, file, "
                    "rows, file_rows, status, error, started_at, "
                    "finished_at) VALUES (%s, %s, '%s', %s, NULL, NULL, "
                    "'FAILED', %s, %s, %s)",
                    l->staged ? "DROP TABLE IF EXISTS " : "",
                    l->staged ? l->q_stage : "", l->staged ? ";\n" : "",
                    t->q_history, lj, lt, kind(t), lf, le, ls, lfin);
  one = sql;
  t->sql_failed = abort_ignored;
  cs_sql(t, &one, 1, NULL, false, abort_done);
  sw_free(sql);
  sw_free(lj);
  sw_free(lt);
  sw_free(lf);
  sw_free(le);
  sw_free(ls);
  sw_free(lfin);
}

/* ---- output ------------------------------------------------------------ */

/* Field i of a Records row as a number (longValue or numeric text). */
static bool field_num(const cJSON *row, int i, double *out)
{
  const cJSON *f = cJSON_GetArrayItem(row, i);
  const cJSON *v = sw_json_get(f, "longValue");

  if (cJSON_IsNumber(v)) {
    *out = v->valuedouble;
    return true;
  }
  v = sw_json_get(f, "stringValue");
  if (cJSON_IsString(v)) {
    *out = strtod(v->valuestring, NULL);
    return true;
  }
  return false;
}

/* Thread pool: the delivery is in the warehouse; its download goes. */
static void remove_work(sw_cs_task *t)
{
  cs_load *l = t->state;
  char *dir = sw_strdup(l->path), *slash = strrchr(dir, '/');

  if (unlink(l->path) == 0 && slash) {
    *slash = '\0';
    rmdir(dir); /* the jid's directory, once empty */
  }
  sw_free(dir);
}

static void removed(sw_cs_task *t)
{
  cs_succeed(t, t->out);
}

static void report(sw_cs_task *t, bool loaded, const char *reason)
{
  const cJSON *row = cJSON_GetArrayItem(t->rows, 0);
  cJSON *o = cJSON_CreateObject();
  double v;

  cJSON_AddStringToObject(o, "table", t->target);
  cJSON_AddStringToObject(o, "kind", kind(t));
  cJSON_AddStringToObject(o, "jid", t->jid);
  cJSON_AddBoolToObject(o, "loaded", loaded);
  if (reason)
    cJSON_AddStringToObject(o, "reason", reason);
  if (row && field_num(row, 0, &v))
    cJSON_AddNumberToObject(o, "rows", v);
  if (row && field_num(row, 1, &v))
    cJSON_AddNumberToObject(o, "file_rows", v);
  if (t->cfg.keep_files) {
    cs_succeed(t, o);
    return;
  }
  t->out = o;
  cs_job(t, remove_work, removed);
}

static void applied_reported(sw_cs_task *t)
{
  report(t, true, NULL);
}

static void concurrent_reported(sw_cs_task *t)
{
  if (cJSON_GetArraySize(t->rows) > 0)
    report(t, false, "already loaded (by a concurrent load)");
  else
    load_abort(t, E_LOAD, "the load of %s into %s failed", t->table,
               t->target);
}

static void applied(sw_cs_task *t)
{
  cs_history_lookup(t, applied_reported);
}

static void apply_failed(sw_cs_task *t, const char *status, const char *why)
{
  cs_load *l = t->state;

  l->staged = true; /* drop staging on the way out, whoever made it */
  /* Another load of the same delivery committed first: the unique index
   * on the history refused ours. */
  if (strstr(why, "nique")) {
    cs_history_lookup(t, concurrent_reported);
    return;
  }
  load_abort(t, E_LOAD, "applying %s to %s: warehouse batch %s: %s",
             l->file, t->target, status, why);
}

/* ---- the apply batch --------------------------------------------------- */

static void push(cs_load *l, char *sql)
{
  l->sqls = sw_realloc(l->sqls, (l->n_sqls + 1) * sizeof(char *));
  l->sqls[l->n_sqls++] = sql;
}

static bool header_has(const cs_load *l, const char *name)
{
  const cJSON *h;

  cJSON_ArrayForEach(h, l->header)
    if (!strcmp(h->valuestring, name))
      return true;
  return false;
}

/* "a", "b", ... of the header, each prefixed with `pfx`. */
static char *col_list(const cs_load *l, const char *pfx)
{
  sw_buf b = SW_BUF_INIT(0);
  const cJSON *h;
  char *q;

  cJSON_ArrayForEach(h, l->header) {
    q = cs_ident(h->valuestring);
    sw_buf_printf(&b, NULL, "%s%s%s", b.len ? ", " : "", pfx, q);
    sw_free(q);
  }
  return sw_buf_detach(&b);
}

/* SELECT of the staging rows an incremental adds. */
static char *new_rows_sql(sw_cs_task *t)
{
  cs_load *l = t->state;
  char *cols = col_list(l, ""), *scols = col_list(l, "s."), *sql;
  const char *order = cs_is_sqlite(t) ? "rowid" : "ctid";

  /* sqlite plans NOT EXISTS as a scan per row but IN (subquery) with a
   * temporary index; PostgreSQL plans NOT EXISTS as a hash anti-join. */
  if (header_has(l, "id") && cs_is_sqlite(t))
    sql = sw_asprintf("SELECT %s FROM (SELECT %s, row_number() OVER "
                      "(PARTITION BY \"id\" ORDER BY %s) AS _cs_rn FROM %s) "
                      "s WHERE s._cs_rn = 1 AND s.\"id\" NOT IN (SELECT "
                      "\"id\" FROM %s WHERE \"id\" IS NOT NULL)",
                      scols, cols, order, l->q_stage, t->q_target);
  else if (header_has(l, "id"))
    sql = sw_asprintf("SELECT %s FROM (SELECT %s, row_number() OVER "
                      "(PARTITION BY \"id\" ORDER BY %s) AS _cs_rn FROM %s) "
                      "s WHERE s._cs_rn = 1 AND NOT EXISTS (SELECT 1 FROM "
                      "%s x WHERE x.\"id\" = s.\"id\")",
                      scols, cols, order, l->q_stage, t->q_target);
  else /* no id: whole rows that are not there yet */
    sql = sw_asprintf("SELECT %s FROM %s EXCEPT SELECT %s FROM %s", cols,
                      l->q_stage, cols, t->q_target);
  sw_free(cols);
  sw_free(scols);
  return sql;
}

static void apply(sw_cs_task *t)
{
  cs_load *l = t->state;
  char *lj = cs_literal(t->jid), *lt = cs_literal(t->table);
  char *lf = cs_literal(l->file), *ls = iso_literal(t->started_ms);
  char *lfin = iso_literal(sw_time_now_ms()), *nr = NULL, *cols, *q;
  sw_buf b = SW_BUF_INIT(0);
  size_t i;

  if (!t->full)
    nr = new_rows_sql(t);
  /* 1. the history row, first: a second load of the same delivery waits
   * on the unique index here, then fails. */
  if (t->full)
    push(l, sw_asprintf("INSERT INTO %s (jid, table_name, kind, file, rows, "
                        "file_rows, status, started_at, finished_at) VALUES "
                        "(%s, %s, 'full', %s, %lld, %lld, 'SUCCEEDED', %s, "
                        "%s)", t->q_history, lj, lt, lf, l->file_rows,
                        l->file_rows, ls, lfin));
  else
    push(l, sw_asprintf("INSERT INTO %s (jid, table_name, kind, file, rows, "
                        "file_rows, status, started_at, finished_at) SELECT "
                        "%s, %s, 'incremental', %s, (SELECT count(*) FROM "
                        "(%s) n), %lld, 'SUCCEEDED', %s, %s", t->q_history,
                        lj, lt, lf, nr, l->file_rows, ls, lfin));
  /* 2. sqlite: booleans as 0/1 */
  if (cs_is_sqlite(t)) {
    for (i = 0; i < l->n_cols; i++) {
      if (!l->cols[i].type || !l->cols[i].in_header ||
          strcmp(l->cols[i].type, "BOOLEAN") != 0)
        continue;
      q = cs_ident(l->cols[i].name);
      sw_buf_printf(&b, NULL, "%s%s = CASE lower(CAST(%s AS TEXT)) WHEN 't' "
                    "THEN 1 WHEN 'true' THEN 1 WHEN '1' THEN 1 WHEN 'f' "
                    "THEN 0 WHEN 'false' THEN 0 WHEN '0' THEN 0 ELSE %s END",
                    b.len ? ", " : "", q, q, q);
      sw_free(q);
    }
    if (b.len) {
      push(l, sw_asprintf("UPDATE %s SET %s", l->q_stage, b.ptr));
    }
    sw_buf_dispose(&b);
  }
  /* 3. the data */
  if (t->full) {
    push(l, sw_asprintf("DROP TABLE %s", t->q_target));
    q = cs_ident(t->target);
    if (t->cfg.schema && !cs_is_sqlite(t)) {
      char *qs = cs_ident(t->cfg.schema), *qst = cs_qualified(t, l->stage);
      push(l, sw_asprintf("ALTER TABLE %s SET SCHEMA %s", l->q_stage, qs));
      push(l, sw_asprintf("ALTER TABLE %s RENAME TO %s", qst, q));
      sw_free(qs);
      sw_free(qst);
    } else {
      push(l, sw_asprintf("ALTER TABLE %s RENAME TO %s", l->q_stage, q));
    }
    sw_free(q);
  } else {
    for (i = 0; i < l->n_cols; i++) {
      if (l->cols[i].type)
        continue;
      q = cs_ident(l->cols[i].name);
      sw_buf_printf(&b, NULL, "%sALTER TABLE %s ADD COLUMN %s TEXT",
                    b.len ? ";\n" : "", t->q_target, q);
      sw_free(q);
    }
    if (b.len)
      push(l, sw_buf_detach(&b));
    sw_buf_dispose(&b);
    cols = col_list(l, "");
    push(l, sw_asprintf("INSERT INTO %s (%s) %s", t->q_target, cols, nr));
    push(l, sw_asprintf("DROP TABLE %s", l->q_stage));
    sw_free(cols);
  }
  sw_free(lj);
  sw_free(lt);
  sw_free(lf);
  sw_free(ls);
  sw_free(lfin);
  sw_free(nr);
  t->sql_failed = apply_failed;
  cs_sql(t, (const char *const *)l->sqls, l->n_sqls, t->token, false,
         applied);
}

/* ---- staging ----------------------------------------------------------- */

static void on_loaded(const sw_err *err, long long rows, void *payload)
{
  sw_cs_task *t = payload;
  cs_load *l = t->state;

  if (l->ar) {
    archive_read_free(l->ar);
    l->ar = NULL;
  }
  sw_free(l->hdr);
  l->hdr = NULL;
  if (t->cancelled) {
    cs_fail(t, "States.TaskFailed", "cancelled");
    return;
  }
  if (err) {
    load_abort(t, err->code == SW_EINVAL || err->code == SW_EREMOTE
                      ? E_BADEXPORT
                      : err->code == SW_EAGAIN ? E_TRANSIENT : E_LOAD,
               "loading %s into %s: %s", l->path, t->target, err->msg);
    return;
  }
  l->file_rows = rows;
  apply(t);
}

static void stage_created(sw_cs_task *t)
{
  cs_load *l = t->state;
  sw_wh_bulk_load req;
  sw_err err = SW_ERR_INIT;
  size_t i = 0, n = (size_t)cJSON_GetArraySize(l->header);
  const cJSON *h;

  l->hdr = sw_calloc(n, sizeof(char *));
  cJSON_ArrayForEach(h, l->header)
    l->hdr[i++] = h->valuestring;
  memset(&req, 0, sizeof(req));
  req.table = l->stage;
  req.columns = l->hdr;
  req.n_columns = n;
  req.header = true;
  req.read = read_export;
  req.read_payload = l;
  if (sw_warehouse_bulk_load(t->wh, &req, on_loaded, t, &err) < 0) {
    sw_free(l->hdr);
    l->hdr = NULL;
    load_abort(t, E_LOAD, "bulk load into %s: %s", l->stage, err.msg);
  }
}

static void header_after(sw_cs_task *t)
{
  cs_load *l = t->state;
  sw_buf b = SW_BUF_INIT(0);
  const cJSON *h;
  size_t i;
  char *q, *sql;

  if (t->fail_name) {
    const char *n = t->fail_name;
    t->fail_name = NULL;
    load_abort(t, n, "%s", t->err.msg);
    return;
  }
  /* Mark the target columns the header has; add the ones it lacks. */
  cJSON_ArrayForEach(h, l->header) {
    for (i = 0; i < l->n_cols; i++)
      if (!strcmp(l->cols[i].name, h->valuestring))
        break;
    if (i == l->n_cols) {
      l->cols = sw_realloc(l->cols, (l->n_cols + 1) * sizeof(col));
      l->cols[i].name = sw_strdup(h->valuestring);
      l->cols[i].type = NULL;
      l->n_cols++;
    }
    l->cols[i].in_header = true;
  }
  sw_buf_printf(&b, NULL, "DROP TABLE IF EXISTS %s;\nCREATE %sTABLE %s (",
                l->q_stage, cs_is_pg(t) && !t->full ? "UNLOGGED " : "",
                l->q_stage);
  for (i = 0; i < l->n_cols; i++) {
    q = cs_ident(l->cols[i].name);
    sw_buf_printf(&b, NULL, "%s%s %s", i ? ", " : "", q,
                  l->cols[i].type ? l->cols[i].type : "TEXT");
    sw_free(q);
  }
  sw_buf_puts(&b, ")", NULL);
  sql = sw_buf_detach(&b);
  l->staged = true;
  cs_sql1(t, sql, false, stage_created);
  sw_free(sql);
}

static void have_columns(sw_cs_task *t)
{
  cs_load *l = t->state;
  const cJSON *row;
  size_t i = 0;

  if (cJSON_GetArraySize(t->rows) == 0) {
    load_abort(t, E_NOTABLE, "table %s does not exist: run the schema step "
               "(stepwise.controlshift.schema) first", t->target);
    return;
  }
  l->cols = sw_calloc((size_t)cJSON_GetArraySize(t->rows), sizeof(col));
  cJSON_ArrayForEach(row, t->rows) {
    const char *n = cs_field(row, 0), *ty = cs_field(row, 1);
    if (!n)
      continue;
    l->cols[i].name = sw_strdup(n);
    l->cols[i].type = sw_strdup(ty && *ty ? ty : "TEXT");
    i++;
  }
  l->n_cols = i;
  cs_job(t, header_work, header_after);
}

static void stage_start(sw_cs_task *t)
{
  char *sql = cs_columns_sql(t);

  cs_sql1(t, sql, true, have_columns);
  sw_free(sql);
}

/* A batch of ours ended before we got here (a crash after submit). */
static void earlier_failed(sw_cs_task *t, const char *status,
                           const char *why)
{
  apply_failed(t, status, why);
}

static void have_registry(sw_cs_task *t)
{
  const cJSON *row = cJSON_GetArrayItem(t->rows, 0);
  const char *id = row ? cs_field(row, 0) : NULL;

  if (!id) {
    stage_start(t);
    return;
  }
  sw_log(SW_LOG_INFO, "controlshift: %s %s: waiting for batch %s submitted "
         "before a restart", t->table, kind(t), id);
  sw_free(t->stmt_id);
  t->stmt_id = sw_strdup(id);
  t->sql_failed = earlier_failed;
  cs_sql_poll(t, false, applied);
}

static void have_history(sw_cs_task *t)
{
  char *lt, *sql;

  if (cJSON_GetArraySize(t->rows) > 0) {
    report(t, false, "already loaded");
    return;
  }
  lt = cs_literal(t->token);
  sql = sw_asprintf("SELECT id FROM stepwise_statements WHERE client_token "
                    "= %s", lt);
  cs_sql1(t, sql, true, have_registry);
  sw_free(sql);
  sw_free(lt);
}

void cs_load_start(sw_cs_task *t)
{
  cs_load *l = sw_calloc(1, sizeof(*l));
  char tok[17];

  t->state = l;
  l->path = sw_json_get_str(t->params, "path");
  l->file = sw_json_get_str(t->params, "file");
  if (!l->path || !*l->path) {
    cs_fail(t, E_INPUT, "parameter \"path\": expected the download step's "
            "path");
    return;
  }
  if (!l->file)
    l->file = l->path;
  if (strchr(l->file, '?')) {
    cs_fail(t, E_INPUT, "parameter \"file\" must not carry a query string "
            "(the download step's \"file\" has none)");
    return;
  }
  if (!cs_is_sqlite(t) && !cs_is_pg(t)) {
    cs_fail(t, E_CONFIG, "the %s warehouse driver cannot bulk load a local "
            "export (use sqlite or postgres)", sw_warehouse_driver(t->wh));
    return;
  }
  snprintf(tok, sizeof(tok), "%s", t->token ? t->token : "0");
  for (char *p = tok; *p; p++)
    if (!isalnum((unsigned char)*p))
      *p = '_';
  l->stage = sw_asprintf("_cs_stage_%s", tok);
  l->q_stage = cs_ident(l->stage);
  cs_history_lookup(t, have_history);
}
