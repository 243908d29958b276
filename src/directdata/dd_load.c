/* SPDX-License-Identifier: MIT */
/* directdata: the warehouse side. The durable cursor, and the loader
 * driven by manifest.csv and the metadata files.
 *
 * Bookkeeping tables (in the warehouse, so they commit with the data):
 *   _dd_cursor(extract_type PK, stop_time, name)  last loaded stop_time
 *   _dd_loaded(name PK, extract_type, stop_time)  files applied
 *   _dd_columns(tbl, col, pos, type; PK tbl, col) the schema we created
 *
 * A load: every CSV of the file is bulk-loaded (sw_warehouse_bulk_load:
 * COPY on postgres, prepared INSERTs on sqlite) into a TEXT staging table
 * shaped by its header (so column order may change between files); then
 * ONE statement batch, submitted with the task's ClientToken, applies the
 * file in one transaction and records it in _dd_loaded and _dd_cursor:
 *   full        drop every table we created, create them from metadata,
 *               fill them from staging: an atomic swap (re-running a Full
 *               never duplicates). On postgres a table loaded from one
 *               file is staged typed instead (COPY parses the types) and
 *               the batch renames it into place and adds its key (one
 *               index build after the load, no second copy of the rows):
 *               bench/run_ddload measures this against psql \copy;
 *   incremental metadata deletes (a row for `id` drops the table) ->
 *               metadata updates (create tables, add columns) -> data
 *               deletes -> upserts by key (INSERT .. ON CONFLICT DO
 *               UPDATE; delete-then-insert on redshift-data);
 *   log         append, duplicates (same key) dropped.
 * A file already in _dd_loaded is skipped, so re-running changes nothing;
 * a crash between the staging loads and the batch just loads staging
 * again; the ClientToken makes a resubmitted batch run at most once. The
 * staging tables are created first (as few statement texts as fit), then
 * loaded one after the other; the bookkeeping tables are created once
 * per process.
 *
 * Types (per driver): postgres NUMERIC, DATE, TIMESTAMPTZ, BOOLEAN, TEXT;
 * sqlite NUMERIC, INTEGER 0/1 for Boolean, TEXT for the rest. Strings are
 * TEXT everywhere, so widening a column needs no DDL on these drivers.
 *
 * redshift-data (Amazon Redshift through the Data API; staging is bulk
 * loaded by the driver: CSV to S3, COPY ... IAM_ROLE) differs where
 * Redshift does:
 * - Types: Number DECIMAL(38,10) (a bare NUMERIC is DECIMAL(18,0) there:
 *   decimals would be rounded away), Boolean BOOLEAN (filled by CASE:
 *   Redshift cannot cast VARCHAR to BOOLEAN), Date DATE, DateTime
 *   TIMESTAMPTZ (the instant, as on postgres), every string VARCHAR(65535)
 *   (Redshift's TEXT is VARCHAR(256)); staging columns VARCHAR(65535).
 *   One string width for all means a widened column needs no DDL (ALTER
 *   COLUMN TYPE cannot run in a transaction block on Redshift); a value
 *   over 65535 bytes fails the COPY with Redshift's message (nothing
 *   loaded, the file can be retried after a fix) rather than being cut.
 * - Keys are declared (the bookkeeping tables' too) but Redshift does not
 *   enforce them and has no ON CONFLICT: an upsert is delete-then-insert
 *   in the file's one transaction, inserting one staged row per key (the
 *   latest modified_date__v); a log insert skips keys already present.
 *   This is the "merge by replacing existing rows" AWS documents and what
 *   Veeva's Redshift connector runs (there in three autocommits); MERGE
 *   would need the same dedupe and fails on duplicate source rows. The
 *   cursor is replaced by DELETE (when older) + INSERT ... WHERE NOT
 *   EXISTS.
 * - A BatchExecuteStatement runs at most 40 statements in one transaction,
 *   so the apply batch is compact (one DROP TABLE for several tables, one
 *   multi-row INSERT into _dd_columns). A file that still needs more
 *   (about 15 tables in a Full) has each statement text of its apply made
 *   a stored procedure first (CREATE OR REPLACE PROCEDURE, plpgsql, which
 *   Redshift runs in the caller's transaction); then one batch with the
 *   ClientToken CALLs them in order and drops them: still one transaction,
 *   up to 20 texts of 90 KB (thousands of statements); beyond that E_LOAD
 *   says so. (A Data API session, SessionId, could run BEGIN .. COMMIT
 *   instead, but a crash would leave the session's transaction open,
 *   holding its locks, until the session expires.)
 * Keys: id; picklist__sys (object, object_field, picklist_value_name);
 * metadata (extract, column_name); a table without an id column gets no
 * key (append).
 *
 * The `metadata` table (manifest extract Metadata.metadata, all TEXT)
 * mirrors the Full's Metadata/metadata.csv; an Incremental patches it:
 * its Metadata/metadata.csv rows are upserted (a widened column shows its
 * new length there), its metadata_deletes.csv rows deleted, in the same
 * transaction as the DDL they describe. Widening a column (a metadata
 * update with a larger length) needs no DDL: strings are TEXT on both
 * drivers, so the longer values load as they are. A metadata update that
 * changes an existing column's Vault type is recorded in `metadata` only;
 * the column keeps its SQL type (as Databricks' managed connector does, a
 * type change needs a full reload, which rebuilds every table). Identifiers must be
 * [A-Za-z_][A-Za-z0-9_]* and are always quoted by the warehouse's
 * sw_warehouse_quote_ident. */
#include "directdata/dd_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <csv.h>

#define BOOKKEEPING                                                            \
  "CREATE TABLE IF NOT EXISTS _dd_cursor (extract_type TEXT PRIMARY KEY,"      \
  " stop_time TEXT NOT NULL, name TEXT);"                                      \
  "CREATE TABLE IF NOT EXISTS _dd_loaded (name TEXT PRIMARY KEY,"              \
  " extract_type TEXT, stop_time TEXT);"                                       \
  "CREATE TABLE IF NOT EXISTS _dd_columns (tbl TEXT NOT NULL, col TEXT NOT"    \
  " NULL, pos INTEGER NOT NULL, type TEXT, PRIMARY KEY (tbl, col))"
/* Redshift: TEXT is VARCHAR(256) there, so every string is sized; keys
 * are declared (the planner uses them) but not enforced. */
#define BOOKKEEPING_RS                                                         \
  "CREATE TABLE IF NOT EXISTS _dd_cursor (extract_type VARCHAR(32) NOT NULL," \
  " stop_time VARCHAR(32) NOT NULL, name VARCHAR(512),"                        \
  " PRIMARY KEY (extract_type));"                                              \
  "CREATE TABLE IF NOT EXISTS _dd_loaded (name VARCHAR(512) NOT NULL,"         \
  " extract_type VARCHAR(32), stop_time VARCHAR(32), PRIMARY KEY (name));"     \
  "CREATE TABLE IF NOT EXISTS _dd_columns (tbl VARCHAR(127) NOT NULL, col"    \
  " VARCHAR(127) NOT NULL, pos INTEGER NOT NULL, type VARCHAR(64),"           \
  " PRIMARY KEY (tbl, col))"
#define RS_STRING "VARCHAR(65535)" /* Redshift's widest: 65535 bytes */
#define RS_NUMBER "DECIMAL(38,10)" /* bare NUMERIC is (18,0) there */
#define MAX_TEXT (90 * 1024) /* per SQL text; the service caps 100 KB */

/* ---- quoting ----------------------------------------------------------- */

/* Identifiers: the warehouse's quoting (sw_warehouse_quote_ident), as a
 * string. Every name reaching here passed safe_ident or is one of ours,
 * so it is never empty. */
char *dd_quote_ident(const char *s)
{
  sw_buf b = SW_BUF_INIT(0);

  if (sw_warehouse_quote_ident(&b, s, NULL) < 0)
    sw_buf_puts(&b, "\"\"", NULL); /* empty: the database refuses it */
  return sw_buf_detach(&b);
}

/* Literals: the statement batch (BatchExecuteStatement semantics) takes no
 * parameters, so the few values it carries (file names, stop times,
 * table and column names for the bookkeeping) are quoted here. */
char *dd_quote_literal(const char *s)
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

static bool safe_ident(const char *s)
{
  const char *p;

  if (!s || !*s || strlen(s) > 120 || (*s >= '0' && *s <= '9'))
    return false;
  for (p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '_'))
      return false;
  return true;
}

/* ---- statements: submit, poll describe, fetch rows --------------------- */

static void sql_describe(sw_dd_task *t);

static void on_result(const sw_err *err, cJSON *resp, void *payload)
{
  sw_dd_task *t = payload;

  if (err) {
    cJSON_Delete(resp);
    dd_fail(t, E_LOAD, "warehouse result: %s", err->msg);
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
  sw_dd_task *t = payload;
  const char *st = sw_json_get_str(resp, "Status");
  sw_err e2 = SW_ERR_INIT;

  if (err || !st) {
    dd_fail(t, E_LOAD, "warehouse describe: %s", err ? err->msg : "?");
    goto done;
  }
  if (!strcmp(st, "FINISHED")) {
    if (t->sql_want_rows) {
      if (sw_warehouse_result(t->wh, t->stmt_id, NULL, on_result, t,
                              &e2) < 0)
        dd_fail(t, E_LOAD, "warehouse result: %s", e2.msg);
    } else {
      t->sql_next(t);
    }
    goto done;
  }
  if (!strcmp(st, "FAILED") || !strcmp(st, "ABORTED")) {
    const char *why = sw_json_get_str(resp, "Error");
    dd_fail(t, E_LOAD, "warehouse statement %s: %s", st, why ? why : "");
    goto done;
  }
  if (t->poll_ms < 50)
    t->poll_ms = t->poll_ms ? t->poll_ms * 2 : 1;
  dd_after(t, t->poll_ms, sql_describe);
done:
  cJSON_Delete(resp);
}

static void sql_describe(sw_dd_task *t)
{
  sw_err err = SW_ERR_INIT;

  if (t->cancelled) {
    dd_fail(t, "States.TaskFailed", "cancelled");
    return;
  }
  if (sw_warehouse_describe(t->wh, t->stmt_id, on_describe, t, &err) < 0)
    dd_fail(t, E_LOAD, "warehouse describe: %s", err.msg);
}

static void on_submit(const sw_err *err, const char *id, void *payload)
{
  sw_dd_task *t = payload;

  if (err) {
    dd_fail(t, err->code == SW_EAGAIN ? E_TRANSIENT : E_LOAD,
            "warehouse submit: %s", err->msg);
    return;
  }
  sw_free(t->stmt_id);
  t->stmt_id = sw_strdup(id);
  t->poll_ms = 0;
  sql_describe(t);
}

static void sql_submit(sw_dd_task *t, const char *const *sqls, size_t n,
                       const char *token, bool want_rows,
                       void (*next)(sw_dd_task *t))
{
  sw_wh_submit req;
  sw_err err = SW_ERR_INIT;

  memset(&req, 0, sizeof(req));
  req.sqls = sqls;
  req.n_sqls = n;
  req.batch = n > 1;
  req.client_token = token;
  t->sql_next = next;
  t->sql_want_rows = want_rows;
  if (sw_warehouse_submit(t->wh, &req, on_submit, t, &err) < 0)
    dd_fail(t, E_LOAD, "warehouse submit: %s", err.msg);
}

void dd_sql(sw_dd_task *t, const char *sql, bool want_rows,
            void (*next)(sw_dd_task *t))
{
  sql_submit(t, &sql, 1, NULL, want_rows, next);
}

/* Field i of a Records row as text (NULL for isNull). */
static const char *field(const cJSON *row, int i)
{
  const cJSON *f = cJSON_GetArrayItem(row, i);
  return sw_json_get_str(f, "stringValue");
}

/* ---- times ------------------------------------------------------------- */

/* "YYYY-MM-DDTHH:MMZ" or with seconds -> epoch ms; -1 when malformed. */
static int64_t vtime(const char *s)
{
  char buf[40];
  int64_t ms;

  if (!s)
    return -1;
  if (strlen(s) == 17 && s[16] == 'Z') {
    snprintf(buf, sizeof(buf), "%.16s:00Z", s);
    s = buf;
  }
  return sw_time_parse_rfc3339(&ms, s) == 0 ? ms : -1;
}

static char *vformat(int64_t ms)
{
  char iso[40];

  sw_time_format_iso(iso, sizeof(iso), ms);
  return sw_asprintf("%.16sZ", iso);
}

/* Create the bookkeeping tables (once per process), then `next`. */
static void bookkept(sw_dd_task *t)
{
  t->dd->bookkept = true;
  t->load_next(t);
}

static bool is_rs(const sw_dd_task *t)
{
  return !strcmp(sw_warehouse_driver(t->wh), "redshift-data");
}

static void bookkeeping(sw_dd_task *t, void (*next)(sw_dd_task *t))
{
  if (t->dd->bookkept) {
    next(t);
    return;
  }
  t->load_next = next;
  dd_sql(t, is_rs(t) ? BOOKKEEPING_RS : BOOKKEEPING, false, bookkept);
}

/* ---- list: the window from the cursor ---------------------------------- */

static const char *api_type(const char *et)
{
  if (!et)
    return NULL;
  if (!strcmp(et, "full"))
    return "full_directdata";
  if (!strcmp(et, "incremental"))
    return "incremental_directdata";
  if (!strcmp(et, "log"))
    return "log_directdata";
  return NULL;
}

static void list_have_cursor(sw_dd_task *t)
{
  const cJSON *in = sw_json_get(t->params, "input");
  const char *et = sw_json_get_str(in, "extract_type");
  const char *step = sw_json_get_str(in, "step");
  const char *start = sw_json_get_str(in, "start_time");
  const char *stop = sw_json_get_str(in, "stop_time");
  const char *now_s = sw_json_get_str(in, "now");
  const cJSON *cp = sw_json_get(in, "continue_processing"), *row;
  const char *cursor = NULL;
  int64_t now = now_s ? vtime(now_s) : sw_time_now_ms(), s;
  bool cont = true;
  cJSON *o;

  cJSON_ArrayForEach(row, t->rows)
    if (field(row, 0) && et && !strcmp(field(row, 0), et))
      cursor = field(row, 1);
  if (cJSON_IsBool(cp))
    cont = cJSON_IsTrue(cp);
  else if (cJSON_IsString(cp))
    cont = strcmp(cp->valuestring, "false") != 0 &&
           strcmp(cp->valuestring, "False") != 0;
  if (!step || !strcmp(step, "retrieve"))
    step = "retrieve";
  else if (!strcmp(step, "unzip") || !strcmp(step, "unpack"))
    step = "unpack";
  else if (!strcmp(step, "load_data") || !strcmp(step, "load"))
    step = "load";
  else {
    dd_fail(t, E_INPUT, "input step \"%s\" is not retrieve, unzip (unpack) "
            "or load_data (load)", step);
    return;
  }
  if (now < 0 || (start && vtime(start) < 0) || (stop && vtime(stop) < 0)) {
    dd_fail(t, E_INPUT, "start_time, stop_time and now must look like "
            "2025-01-31T13:15Z");
    return;
  }
  o = cJSON_CreateObject();
  t->out = o;
  cJSON_AddStringToObject(o, "step", step);
  cJSON_AddBoolToObject(o, "continue_processing", cont);
  cJSON_AddStringToObject(o, "secret", t->cfg.section);
  if (sw_json_get_str(t->params, "config"))
    cJSON_AddStringToObject(o, "config",
                            sw_json_get_str(t->params, "config"));
  if (!api_type(et)) {
    dd_fail(t, E_INPUT, "input extract_type must be full, incremental or "
            "log");
    return;
  }
  cJSON_AddStringToObject(o, "extract_type", api_type(et));
  if (cursor)
    cJSON_AddStringToObject(o, "cursor", cursor);
  if (!strcmp(et, "full")) {
    t->win_start = sw_strdup("2000-01-01T00:00Z");
    t->win_stop = stop ? sw_strdup(stop) : vformat(now);
  } else if (!strcmp(et, "incremental")) {
    if (!start && !cursor) {
      dd_fail(t, E_RELOAD, "no incremental cursor in the warehouse: load a "
              "full extract first ({\"extract_type\": \"full\"})");
      return;
    }
    t->win_start = sw_strdup(start ? start : cursor);
    t->win_stop = stop ? sw_strdup(stop)
                       : vformat(now - now % (15 * 60 * 1000));
    s = vtime(t->win_start);
    if (now - s > 10LL * 24 * 3600 * 1000) {
      dd_fail(t, E_RELOAD, "the last loaded incremental ends at %s, more "
              "than 10 days ago: Vault keeps incrementals 10 days, so the "
              "chain is broken; run a full reload ({\"extract_type\": "
              "\"full\"})", t->win_start);
      return;
    }
  } else {
    int64_t day = 24LL * 3600 * 1000;
    t->win_start = start ? sw_strdup(start)
                         : cursor ? sw_strdup(cursor)
                                  : vformat(now - now % day - day);
    t->win_stop = stop ? sw_strdup(stop) : vformat(now - now % day);
  }
  cJSON_AddStringToObject(o, "start_time", t->win_start);
  cJSON_AddStringToObject(o, "stop_time", t->win_stop);
  dd_vault_list(t);
}

static void list_tables_ready(sw_dd_task *t)
{
  dd_sql(t, "SELECT extract_type, stop_time FROM _dd_cursor", true,
         list_have_cursor);
}

void dd_list_start(sw_dd_task *t)
{
  bookkeeping(t, list_tables_ready);
}

/* ---- small CSV files via libcsv ---------------------------------------- */

typedef struct csvread {
  cJSON *rows; /* [[field|null...]...] */
  cJSON *cur;
  long max_rows;
} csvread;

static void csv_field(void *s, size_t len, void *data)
{
  csvread *c = data;
  char *v;

  if (!c->cur)
    c->cur = cJSON_CreateArray();
  if (!s) {
    cJSON_AddItemToArray(c->cur, cJSON_CreateNull());
    return;
  }
  v = sw_strndup(s, len);
  cJSON_AddItemToArray(c->cur, cJSON_CreateString(v));
  sw_free(v);
}

static void csv_row(int ch, void *data)
{
  csvread *c = data;

  (void)ch;
  if (!c->cur)
    return;
  cJSON_AddItemToArray(c->rows, c->cur);
  c->cur = NULL;
}

/* Read the first max_rows records (0 = all) of a CSV file. A UTF-8 BOM is
 * skipped. SW_ENOTFOUND, SW_EIO, SW_EINVAL (malformed). */
static int csv_read(cJSON **out, const char *path, long max_rows,
                    sw_err *err)
{
  struct csv_parser p;
  csvread c = {cJSON_CreateArray(), NULL, max_rows};
  char buf[65536];
  ssize_t n;
  int fd, rc = 0;
  bool first = true;

  *out = NULL;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    cJSON_Delete(c.rows);
    return sw_err_set(err, errno == ENOENT ? SW_ENOTFOUND : SW_EIO,
                      SW_ORIGIN_OS, errno, "cannot open %s", path);
  }
  csv_init(&p, CSV_APPEND_NULL | CSV_EMPTY_IS_NULL);
  while ((n = read(fd, buf, sizeof(buf))) > 0) {
    const char *b = buf;
    size_t len = (size_t)n;
    if (first && len >= 3 && !memcmp(b, "\xEF\xBB\xBF", 3)) {
      b += 3;
      len -= 3;
    }
    first = false;
    if (csv_parse(&p, b, len, csv_field, csv_row, &c) != len) {
      rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0, "%s: bad CSV: %s",
                      path, csv_strerror(csv_error(&p)));
      break;
    }
    if (max_rows && cJSON_GetArraySize(c.rows) >= max_rows)
      break;
  }
  if (n < 0 && rc == 0)
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno, "cannot read %s",
                    path);
  if (rc == 0)
    csv_fini(&p, csv_field, csv_row, &c);
  csv_free(&p);
  close(fd);
  cJSON_Delete(c.cur);
  if (rc < 0) {
    cJSON_Delete(c.rows);
    return rc;
  }
  *out = c.rows;
  return 0;
}

/* Column index of `name` in a header row, or -1. */
static int col_index(const cJSON *hdr, const char *name)
{
  const cJSON *h;
  int i = 0;

  cJSON_ArrayForEach(h, hdr) {
    if (cJSON_IsString(h) && !strcmp(h->valuestring, name))
      return i;
    i++;
  }
  return -1;
}

static const char *cell(const cJSON *row, int i)
{
  const cJSON *c = i >= 0 ? cJSON_GetArrayItem(row, i) : NULL;
  return cJSON_IsString(c) ? c->valuestring : NULL;
}

/* ---- the loader -------------------------------------------------------- */

typedef struct entry {
  char *extract;
  char *table;
  bool deletes;
  char *path;      /* absolute-ish path of the CSV, or NULL (no records) */
  cJSON *header;   /* ["col"...] */
  char *stage;     /* staging table */
  bool direct;     /* Full on postgres: staged typed and renamed into
                      place (no copy from a text staging table) */
} entry;

typedef struct dd_load {
  char kind;          /* 'F', 'N', 'L' */
  char *data;         /* <dir>/data */
  entry *entries;
  size_t n_entries;
  size_t next;        /* staging progress */
  cJSON *schema;      /* {extract: [[col, type]...]} from metadata(_full) */
  cJSON *md_updates;  /* [[extract, col, type]...] */
  cJSON *md_deletes;  /* [[extract, col]...] */
  cJSON *existing;    /* {table: [col...]} from _dd_columns */
  char **sqls;        /* the apply batch */
  size_t n_sqls;
  int fd;             /* bulk-load reader */
  const char **cols;  /* bulk-load column list: borrowed by the service
                         until its callback */
  long long rows;
  size_t n_stmts;      /* statements emitted into the apply batch */
  size_t proc_next;    /* redshift-data: apply procedures created */
  sw_buf known_rows;  /* redshift-data: pending _dd_columns VALUES rows,
                         inserted by one statement (the Data API runs at
                         most 40 statements in one transaction) */
} dd_load;

void dd_load_free(sw_dd_task *t)
{
  dd_load *l = t->load;
  size_t i;

  if (!l)
    return;
  for (i = 0; i < l->n_entries; i++) {
    sw_free(l->entries[i].extract);
    sw_free(l->entries[i].table);
    sw_free(l->entries[i].path);
    sw_free(l->entries[i].stage);
    cJSON_Delete(l->entries[i].header);
  }
  sw_free(l->entries);
  for (i = 0; i < l->n_sqls; i++)
    sw_free(l->sqls[i]);
  sw_free(l->sqls);
  sw_free(l->data);
  cJSON_Delete(l->schema);
  cJSON_Delete(l->md_updates);
  cJSON_Delete(l->md_deletes);
  cJSON_Delete(l->existing);
  if (l->fd >= 0)
    close(l->fd);
  sw_free(l->cols);
  sw_buf_dispose(&l->known_rows);
  sw_free(l);
  t->load = NULL;
}

static char *table_of(const char *extract)
{
  const char *dot = strrchr(extract, '.');
  char *s = sw_strdup(dot ? dot + 1 : extract), *p;

  for (p = s; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char)(*p - 'A' + 'a');
  return s;
}

static bool safe_member(const char *f)
{
  const char *p = f;

  if (!f || !*f || f[0] == '/')
    return false;
  for (; *p; p++)
    if (p[0] == '.' && p[1] == '.')
      return false;
  return true;
}

/* Metadata rows -> schema {extract: [[col, type]...]}. */
static int read_metadata(cJSON *schema, cJSON *list, const char *path,
                         bool cols_only, sw_err *err)
{
  cJSON *rows, *row;
  int ie, ic, it, rc;
  bool first = true;

  rc = csv_read(&rows, path, 0, err);
  if (rc < 0)
    return rc;
  ie = col_index(cJSON_GetArrayItem(rows, 0), "extract");
  ic = col_index(cJSON_GetArrayItem(rows, 0), "column_name");
  it = col_index(cJSON_GetArrayItem(rows, 0), "type");
  if (ie < 0 || ic < 0) {
    cJSON_Delete(rows);
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "%s: no extract/column_name columns", path);
  }
  cJSON_ArrayForEach(row, rows) {
    const char *e = cell(row, ie), *c = cell(row, ic), *ty = cell(row, it);
    cJSON *cols, *pair;
    if (first) {
      first = false;
      continue;
    }
    if (!e || !c)
      continue;
    if (!safe_ident(c)) {
      cJSON_Delete(rows);
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "%s: column name \"%s\" is not a plain identifier",
                        path, c);
    }
    pair = cJSON_CreateArray();
    if (!cols_only)
      cJSON_AddItemToArray(pair, cJSON_CreateString(e));
    cJSON_AddItemToArray(pair, cJSON_CreateString(c));
    cJSON_AddItemToArray(pair, cJSON_CreateString(ty ? ty : "String"));
    if (list) {
      cJSON_AddItemToArray(list, pair);
      continue;
    }
    cols = sw_json_get(schema, e);
    if (!cols) {
      cols = cJSON_CreateArray();
      cJSON_AddItemToObject(schema, e, cols);
    }
    cJSON_AddItemToArray(cols, pair);
  }
  cJSON_Delete(rows);
  return 0;
}

/* Thread pool: read manifest, metadata and the CSV headers. */
static void plan_work(sw_dd_task *t)
{
  dd_load *l = t->load;
  cJSON *man = NULL, *row, *hdr;
  char *p;
  int ie, ity, ir, iff, rc;
  bool first = true;

  p = sw_asprintf("%s/manifest.csv", l->data);
  rc = csv_read(&man, p, 0, &t->err);
  sw_free(p);
  if (rc == SW_ENOTFOUND) {
    t->fail_name = E_NOTUNPACKED;
    sw_err_set(&t->err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
               "%s has no manifest.csv: run the unpack step first", l->data);
    return;
  }
  if (rc < 0)
    goto bad;
  hdr = cJSON_GetArrayItem(man, 0);
  ie = col_index(hdr, "extract");
  ity = col_index(hdr, "type");
  ir = col_index(hdr, "records");
  iff = col_index(hdr, "file");
  if (ie < 0 || iff < 0) {
    sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
               "%s/manifest.csv has no extract/file columns", l->data);
    goto bad;
  }
  l->entries = sw_calloc((size_t)cJSON_GetArraySize(man), sizeof(entry));
  cJSON_ArrayForEach(row, man) {
    const char *ex = cell(row, ie), *ty = cell(row, ity), *f = cell(row, iff);
    const char *rec = cell(row, ir);
    entry *e;
    if (first) {
      first = false;
      continue;
    }
    if (!ex)
      continue; /* Metadata.metadata: the `metadata` table; its files are
                   also read by name below for the schema */
    if (!f || !*f || (rec && !strcmp(rec, "0")))
      continue;
    e = &l->entries[l->n_entries];
    e->extract = sw_strdup(ex);
    e->table = table_of(ex);
    e->deletes = ty && !strcmp(ty, "deletes");
    if (!safe_ident(e->table) || !safe_member(f)) {
      l->n_entries++;
      sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                 "manifest.csv: extract \"%s\" or file \"%s\" is not safe",
                 ex, f);
      goto bad;
    }
    e->path = sw_asprintf("%s/%s", l->data, f);
    e->stage = sw_asprintf("_dd_stage_%zu_%s", l->n_entries, e->table);
    l->n_entries++;
    rc = csv_read(&hdr, e->path, 1, &t->err);
    if (rc < 0)
      goto bad;
    e->header = cJSON_DetachItemFromArray(hdr, 0);
    cJSON_Delete(hdr);
    if (!e->header) {
      sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0, "%s is empty",
                 e->path);
      goto bad;
    }
    {
      const cJSON *h;
      cJSON_ArrayForEach(h, e->header)
        if (!cJSON_IsString(h) || !safe_ident(h->valuestring)) {
          sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                     "%s: header field is not a plain identifier", e->path);
          goto bad;
        }
    }
  }
  l->schema = cJSON_CreateObject();
  p = sw_asprintf("%s/%s", l->data, l->kind == 'F' ? "Metadata/metadata.csv"
                                                    : "metadata_full.csv");
  rc = read_metadata(l->schema, NULL, p, true, &t->err);
  sw_free(p);
  if (rc < 0 && !(rc == SW_ENOTFOUND && l->kind != 'F'))
    goto bad;
  l->md_updates = cJSON_CreateArray();
  l->md_deletes = cJSON_CreateArray();
  if (l->kind != 'F') {
    p = sw_asprintf("%s/Metadata/metadata.csv", l->data);
    rc = read_metadata(NULL, l->md_updates, p, false, &t->err);
    sw_free(p);
    if (rc < 0 && rc != SW_ENOTFOUND)
      goto bad;
    p = sw_asprintf("%s/Metadata/metadata_deletes.csv", l->data);
    rc = read_metadata(NULL, l->md_deletes, p, false, &t->err);
    sw_free(p);
    if (rc < 0 && rc != SW_ENOTFOUND)
      goto bad;
  }
  cJSON_Delete(man);
  return;
bad:
  cJSON_Delete(man);
  t->fail_name = E_BADEXTRACT;
}

/* -- staging ------------------------------------------------------------- */

static int read_csv(void *payload, char *buf, size_t cap, size_t *n_out,
                    sw_err *err)
{
  dd_load *l = payload;
  ssize_t n;

  do
    n = read(l->fd, buf, cap);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno, "read failed");
  *n_out = (size_t)n;
  return 0;
}

static void stage_next(sw_dd_task *t);
static void table_cols(const dd_load *l, const char *extract,
                       const cJSON *extra, cJSON **names_out,
                       cJSON **types_out);
static char *table_ddl(const sw_dd_task *t, const char *name,
                       const char *tbl, const cJSON *names,
                       const cJSON *types, bool with_key);

static void on_loaded(const sw_err *err, long long rows, void *payload)
{
  sw_dd_task *t = payload;
  dd_load *l = t->load;

  close(l->fd);
  l->fd = -1;
  sw_free(l->cols);
  l->cols = NULL;
  if (err) {
    dd_fail(t, err->code == SW_EINVAL ? E_BADEXTRACT : E_LOAD,
            "loading %s: %s", l->entries[l->next].path, err->msg);
    return;
  }
  l->rows += rows;
  l->next++;
  stage_next(t);
}

static void stage_created(sw_dd_task *t)
{
  dd_load *l = t->load;
  entry *e = &l->entries[l->next];
  const char **cols;
  sw_wh_bulk_load req;
  sw_err err = SW_ERR_INIT;
  size_t i, n = (size_t)cJSON_GetArraySize(e->header);

  l->fd = open(e->path, O_RDONLY | O_CLOEXEC);
  if (l->fd < 0) {
    dd_fail(t, E_NOTUNPACKED, "cannot open %s", e->path);
    return;
  }
  cols = sw_calloc(n, sizeof(char *));
  l->cols = cols;
  for (i = 0; i < n; i++)
    cols[i] = cJSON_GetArrayItem(e->header, (int)i)->valuestring;
  memset(&req, 0, sizeof(req));
  req.table = e->stage;
  req.columns = cols;
  req.n_columns = n;
  req.header = true;
  req.read = read_csv;
  req.read_payload = l;
  if (sw_warehouse_bulk_load(t->wh, &req, on_loaded, t, &err) < 0) {
    close(l->fd);
    l->fd = -1;
    sw_free(l->cols);
    l->cols = NULL;
    dd_fail(t, E_LOAD, "bulk load into %s: %s", e->stage, err.msg);
  }
}

static void apply(sw_dd_task *t);

/* The DDL of entry e's staging table: "DROP ..; CREATE ..". */
static char *stage_ddl(const sw_dd_task *t, const entry *e)
{
  const dd_load *l = t->load;
  sw_buf b = SW_BUF_INIT(0);
  const cJSON *h;
  char *q = dd_quote_ident(e->stage);
  bool first = true;

  sw_buf_printf(&b, NULL, "DROP TABLE IF EXISTS %s; ", q);
  if (e->direct) { /* typed like the table it becomes, key added later */
    cJSON *names, *types;
    char *ddl;
    table_cols(l, e->extract, e->header, &names, &types);
    ddl = table_ddl(t, e->stage, e->table, names, types, false);
    sw_buf_puts(&b, ddl, NULL);
    sw_free(ddl);
    cJSON_Delete(names);
    cJSON_Delete(types);
  } else {
    sw_buf_printf(&b, NULL, "CREATE TABLE %s (", q);
    cJSON_ArrayForEach(h, e->header) {
      char *qc = dd_quote_ident(h->valuestring);
      sw_buf_printf(&b, NULL, "%s%s %s", first ? "" : ", ", qc,
                    is_rs(t) ? RS_STRING : "TEXT");
      sw_free(qc);
      first = false;
    }
    sw_buf_puts(&b, ")", NULL);
  }
  sw_free(q);
  return sw_buf_detach(&b);
}

/* Bulk-load the entries one after the other, then apply. */
static void stage_next(sw_dd_task *t)
{
  dd_load *l = t->load;

  if (l->next >= l->n_entries) {
    apply(t);
    return;
  }
  stage_created(t);
}

/* Create the staging tables, as few statement texts as fit MAX_TEXT. */
static void stage_tables(sw_dd_task *t)
{
  dd_load *l = t->load;
  sw_buf b = SW_BUF_INIT(0);
  char *one, *sql;
  size_t n = 0;

  if (l->next >= l->n_entries) { /* all created: load them */
    l->next = 0;
    stage_next(t);
    return;
  }
  while (l->next < l->n_entries) {
    one = stage_ddl(t, &l->entries[l->next]);
    /* redshift-data sends a text as one batch of at most 40 statements */
    if (b.len && (b.len + strlen(one) + 2 > MAX_TEXT ||
                  (is_rs(t) && n >= 20))) {
      sw_free(one);
      break;
    }
    if (b.len)
      sw_buf_puts(&b, "; ", NULL);
    sw_buf_puts(&b, one, NULL);
    sw_free(one);
    l->next++;
    n++;
  }
  sql = sw_buf_detach(&b);
  dd_sql(t, sql, false, stage_tables);
  sw_free(sql);
}

/* -- the apply batch ----------------------------------------------------- */

static bool is_pg(const sw_dd_task *t)
{
  return !strcmp(sw_warehouse_driver(t->wh), "postgres");
}

static const char *sql_type(const sw_dd_task *t, const char *vt)
{
  bool pg = is_pg(t);

  if (is_rs(t)) {
    if (vt && !strcmp(vt, "Number"))
      return RS_NUMBER;
    if (vt && !strcmp(vt, "Boolean"))
      return "BOOLEAN";
    if (vt && !strcmp(vt, "Date"))
      return "DATE";
    if (vt && !strcmp(vt, "DateTime"))
      return "TIMESTAMPTZ";
    return RS_STRING;
  }
  if (!vt)
    return "TEXT";
  if (!strcmp(vt, "Number"))
    return "NUMERIC";
  if (!strcmp(vt, "Boolean"))
    return pg ? "BOOLEAN" : "INTEGER";
  if (pg && !strcmp(vt, "Date"))
    return "DATE";
  if (pg && !strcmp(vt, "DateTime"))
    return "TIMESTAMPTZ";
  return "TEXT";
}

/* The staging text of column c converted to its target type. */
static char *conv(const sw_dd_task *t, const char *qcol, const char *vt)
{
  const char *ty = sql_type(t, vt);

  if (!strcmp(ty, "TEXT") || !strcmp(ty, RS_STRING))
    return sw_strdup(qcol);
  if (is_rs(t) && !strcmp(ty, "BOOLEAN")) /* no VARCHAR -> BOOLEAN cast */
    return sw_asprintf("CASE lower(%s) WHEN 'true' THEN true WHEN 'false' "
                       "THEN false END", qcol);
  if (!is_pg(t) && !is_rs(t)) {
    if (!strcmp(ty, "INTEGER"))
      return sw_asprintf("CASE lower(%s) WHEN 'true' THEN 1 WHEN 'false' "
                         "THEN 0 END", qcol);
    return sw_strdup(qcol);
  }
  return sw_asprintf("CAST(%s AS %s)", qcol, ty);
}

static const char *const picklist_key[] = {"object", "object_field",
                                           "picklist_value_name"};
static const char *const metadata_key[] = {"extract", "column_name"};

/* The key columns of table `tbl` among `cols` (["col"...]). */
static size_t key_of(const char *tbl, const cJSON *cols, const char **key)
{
  size_t i;

  if (!strcmp(tbl, "picklist__sys")) {
    for (i = 0; i < 3; i++)
      key[i] = picklist_key[i];
    return 3;
  }
  if (!strcmp(tbl, "metadata") && col_index(cols, "extract") >= 0 &&
      col_index(cols, "column_name") >= 0) {
    for (i = 0; i < 2; i++)
      key[i] = metadata_key[i];
    return 2;
  }
  if (col_index(cols, "id") >= 0) {
    key[0] = "id";
    return 1;
  }
  return 0;
}

static void emit(dd_load *l, sw_buf *cur, const char *fmt, ...)
    SW_PRINTF(3, 4);
static void emit(dd_load *l, sw_buf *cur, const char *fmt, ...)
{
  va_list ap;
  char *s;

  va_start(ap, fmt);
  s = sw_vasprintf(fmt, ap);
  va_end(ap);
  l->n_stmts++;
  if (cur->len + strlen(s) + 2 > MAX_TEXT && cur->len > 0) {
    l->sqls = sw_realloc(l->sqls, (l->n_sqls + 1) * sizeof(char *));
    l->sqls[l->n_sqls++] = sw_buf_detach(cur);
  }
  if (cur->len)
    sw_buf_puts(cur, ";\n", NULL);
  sw_buf_puts(cur, s, NULL);
  sw_free(s);
}

/* Column type of extract e's column c from the schema, or NULL. */
static const char *schema_type(const dd_load *l, const char *extract,
                               const char *col)
{
  const cJSON *pair;

  cJSON_ArrayForEach(pair, sw_json_get(l->schema, extract))
    if (!strcmp(cJSON_GetArrayItem(pair, 0)->valuestring, col))
      return cJSON_GetArrayItem(pair, 1)->valuestring;
  return NULL;
}

static cJSON *known_cols(dd_load *l, const char *tbl)
{
  return sw_json_get(l->existing, tbl);
}

static void add_known(sw_dd_task *t, sw_buf *cur, const char *tbl,
                      const char *col, const char *vt)
{
  dd_load *l = t->load;
  cJSON *cols = known_cols(l, tbl);
  char *lt = dd_quote_literal(tbl), *lc = dd_quote_literal(col);
  char *ly = dd_quote_literal(vt ? vt : "String");

  if (!cols) {
    cols = cJSON_CreateArray();
    cJSON_AddItemToObject(l->existing, tbl, cols);
  }
  if (is_rs(t))
    sw_buf_printf(&l->known_rows, NULL, "%s(%s, %s, %d, %s)",
                  l->known_rows.len ? ", " : "", lt, lc,
                  cJSON_GetArraySize(cols), ly);
  else
    emit(l, cur, "INSERT INTO _dd_columns (tbl, col, pos, type) VALUES "
         "(%s, %s, %d, %s)", lt, lc, cJSON_GetArraySize(cols), ly);
  cJSON_AddItemToArray(cols, cJSON_CreateString(col));
  sw_free(lt);
  sw_free(lc);
  sw_free(ly);
}

/* The columns of a table made for `extract`: its schema's, then the
 * `extra` header columns it lacks (TEXT). The caller deletes both. */
static void table_cols(const dd_load *l, const char *extract,
                       const cJSON *extra, cJSON **names_out,
                       cJSON **types_out)
{
  cJSON *names = cJSON_CreateArray(), *types = cJSON_CreateArray();
  const cJSON *pair, *h;

  cJSON_ArrayForEach(pair, sw_json_get(l->schema, extract)) {
    const char *c = cJSON_GetArrayItem(pair, 0)->valuestring;
    if (col_index(names, c) >= 0)
      continue;
    cJSON_AddItemToArray(names, cJSON_CreateString(c));
    cJSON_AddItemToArray(types, cJSON_CreateString(
                                    cJSON_GetArrayItem(pair, 1)->valuestring));
  }
  cJSON_ArrayForEach(h, extra) {
    if (col_index(names, h->valuestring) >= 0)
      continue;
    cJSON_AddItemToArray(names, cJSON_CreateString(h->valuestring));
    cJSON_AddItemToArray(types, cJSON_CreateString("String"));
  }
  *names_out = names;
  *types_out = types;
}

/* "CREATE TABLE name (...)" with the SQL types of the columns and, when
 * with_key, the key of table `tbl`. */
static char *table_ddl(const sw_dd_task *t, const char *name,
                       const char *tbl, const cJSON *names,
                       const cJSON *types, bool with_key)
{
  sw_buf b = SW_BUF_INIT(0);
  const char *key[3];
  size_t nk = 0, i;
  int k;
  char *q;

  q = dd_quote_ident(name);
  sw_buf_printf(&b, NULL, "CREATE TABLE %s (", q);
  sw_free(q);
  for (k = 0; k < cJSON_GetArraySize(names); k++) {
    q = dd_quote_ident(cJSON_GetArrayItem(names, k)->valuestring);
    sw_buf_printf(&b, NULL, "%s%s %s", k ? ", " : "", q,
                  sql_type(t, cJSON_GetArrayItem(types, k)->valuestring));
    sw_free(q);
  }
  if (with_key)
    nk = key_of(tbl, names, key);
  for (i = 0; i < nk; i++) {
    q = dd_quote_ident(key[i]);
    sw_buf_printf(&b, NULL, "%s%s", i ? ", " : ", PRIMARY KEY (", q);
    sw_free(q);
  }
  sw_buf_puts(&b, nk ? "))" : ")", NULL);
  return sw_buf_detach(&b);
}

/* CREATE TABLE tbl from the schema of `extract` (plus `extra` header
 * columns), recording the columns. */
static void create_table(sw_dd_task *t, sw_buf *cur, const char *extract,
                         const char *tbl, const cJSON *extra)
{
  dd_load *l = t->load;
  cJSON *names, *types;
  char *q;
  int k;

  table_cols(l, extract, extra, &names, &types);
  q = table_ddl(t, tbl, tbl, names, types, true);
  emit(l, cur, "%s", q);
  sw_free(q);
  for (k = 0; k < cJSON_GetArraySize(names); k++)
    add_known(t, cur, tbl, cJSON_GetArrayItem(names, k)->valuestring,
              cJSON_GetArrayItem(types, k)->valuestring);
  cJSON_Delete(names);
  cJSON_Delete(types);
}

/* A direct entry's typed staging table becomes the table: renamed into
 * place, its key added (one index build after the load), its columns
 * recorded. */
static void adopt_stage(sw_dd_task *t, sw_buf *cur, const entry *e)
{
  dd_load *l = t->load;
  cJSON *names, *types;
  const char *key[3];
  size_t nk, i;
  sw_buf b = SW_BUF_INIT(0);
  char *qs = dd_quote_ident(e->stage), *qt = dd_quote_ident(e->table), *q;
  int k;

  table_cols(l, e->extract, e->header, &names, &types);
  emit(l, cur, "ALTER TABLE %s RENAME TO %s", qs, qt);
  nk = key_of(e->table, names, key);
  for (i = 0; i < nk; i++) {
    q = dd_quote_ident(key[i]);
    sw_buf_printf(&b, NULL, "%s%s", i ? ", " : "", q);
    sw_free(q);
  }
  if (nk) {
    q = sw_buf_detach(&b);
    emit(l, cur, "ALTER TABLE %s ADD PRIMARY KEY (%s)", qt, q);
    sw_free(q);
  }
  for (k = 0; k < cJSON_GetArraySize(names); k++)
    add_known(t, cur, e->table, cJSON_GetArrayItem(names, k)->valuestring,
              cJSON_GetArrayItem(types, k)->valuestring);
  cJSON_Delete(names);
  cJSON_Delete(types);
  sw_buf_dispose(&b);
  sw_free(qs);
  sw_free(qt);
}

static void drop_table(sw_dd_task *t, sw_buf *cur, const char *tbl)
{
  dd_load *l = t->load;
  char *q = dd_quote_ident(tbl), *lt = dd_quote_literal(tbl);

  emit(l, cur, "DROP TABLE IF EXISTS %s", q);
  emit(l, cur, "DELETE FROM _dd_columns WHERE tbl = %s", lt);
  cJSON_DeleteItemFromObject(l->existing, tbl);
  sw_free(q);
  sw_free(lt);
}

static void add_column(sw_dd_task *t, sw_buf *cur, const char *tbl,
                       const char *col, const char *vt)
{
  char *qt = dd_quote_ident(tbl), *qc = dd_quote_ident(col);

  emit(t->load, cur, "ALTER TABLE %s ADD COLUMN %s %s", qt, qc,
       sql_type(t, vt));
  add_known(t, cur, tbl, col, vt);
  sw_free(qt);
  sw_free(qc);
}

/* Make sure tbl exists with every column of `header`. */
static void ensure_columns(sw_dd_task *t, sw_buf *cur, const entry *e)
{
  dd_load *l = t->load;
  const cJSON *h;

  if (!known_cols(l, e->table)) {
    create_table(t, cur, e->extract, e->table, e->header);
    return;
  }
  cJSON_ArrayForEach(h, e->header)
    if (col_index(known_cols(l, e->table), h->valuestring) < 0)
      add_column(t, cur, e->table, h->valuestring,
                 schema_type(l, e->extract, h->valuestring));
}

static void delete_rows(sw_dd_task *t, sw_buf *cur, const entry *e);

/* Redshift: keys are declared but not enforced, and there is no ON
 * CONFLICT. An upsert is delete-then-insert in the file's transaction
 * (Redshift's documented "merge by replacing existing rows", and what
 * Veeva's own Redshift connector does, there without a transaction):
 * target rows whose key is staged are deleted, then one staged row per
 * key is inserted, the one with the latest modified_date__v when the file
 * has that column. A log insert keeps one staged row per key and skips
 * keys already loaded. MERGE would need the same dedupe (Redshift's MERGE
 * fails when two source rows match one target row) and is newer. Unlike
 * ON CONFLICT DO UPDATE, a column the table has but the file's header
 * lacks ends NULL in a replaced row; a Vault file carries every column
 * of its extract (inferred from the format: a column it no longer sends
 * is one a metadata delete drops), so the two agree on Vault's files. */
static void merge_rs(sw_dd_task *t, sw_buf *cur, const entry *e, bool upsert)
{
  dd_load *l = t->load;
  sw_buf b = SW_BUF_INIT(0), kl = SW_BUF_INIT(0);
  const cJSON *h;
  const char *key[3];
  size_t nk, i;
  char *qt = dd_quote_ident(e->table), *qs = dd_quote_ident(e->stage), *q;
  bool first = true;

  nk = key_of(e->table, e->header, key);
  if (nk && upsert && l->kind != 'F') /* a Full's tables are new: empty */
    delete_rows(t, cur, e);
  sw_buf_printf(&b, NULL, "INSERT INTO %s (", qt);
  cJSON_ArrayForEach(h, e->header) {
    q = dd_quote_ident(h->valuestring);
    sw_buf_printf(&b, NULL, "%s%s", first ? "" : ", ", q);
    sw_free(q);
    first = false;
  }
  sw_buf_puts(&b, ") SELECT ", NULL);
  first = true;
  cJSON_ArrayForEach(h, e->header) {
    char *c, *qq;
    q = dd_quote_ident(h->valuestring);
    qq = sw_asprintf("s.%s", q);
    c = conv(t, qq, schema_type(l, e->extract, h->valuestring));
    sw_buf_printf(&b, NULL, "%s%s", first ? "" : ", ", c);
    sw_free(c);
    sw_free(qq);
    sw_free(q);
    first = false;
  }
  if (!nk) {
    sw_buf_printf(&b, NULL, " FROM %s s", qs);
    goto out;
  }
  for (i = 0; i < nk; i++) {
    q = dd_quote_ident(key[i]);
    sw_buf_printf(&kl, NULL, "%s%s", i ? ", " : "", q);
    sw_free(q);
  }
  sw_buf_printf(&b, NULL, " FROM (SELECT x.*, ROW_NUMBER() OVER (PARTITION "
                "BY %s ORDER BY %s) AS _dd_rn FROM %s x) s WHERE "
                "s._dd_rn = 1", kl.ptr,
                col_index(e->header, "modified_date__v") >= 0
                    ? "\"modified_date__v\" DESC"
                    : kl.ptr,
                qs);
  if (!upsert) {
    sw_buf_printf(&b, NULL, " AND NOT EXISTS (SELECT 1 FROM %s t WHERE ",
                  qt);
    for (i = 0; i < nk; i++) {
      q = dd_quote_ident(key[i]);
      sw_buf_printf(&b, NULL, "%st.%s = s.%s", i ? " AND " : "", q, q);
      sw_free(q);
    }
    sw_buf_puts(&b, ")", NULL);
  }
out:
  q = sw_buf_detach(&b);
  emit(l, cur, "%s", q);
  sw_free(q);
  sw_buf_dispose(&kl);
  sw_free(qt);
  sw_free(qs);
}

static void merge(sw_dd_task *t, sw_buf *cur, const entry *e, bool upsert)
{
  dd_load *l = t->load;
  sw_buf b = SW_BUF_INIT(0);
  const cJSON *h;
  const char *key[3];
  size_t nk, i;
  char *qt = dd_quote_ident(e->table), *qs = dd_quote_ident(e->stage), *q;
  bool first = true;

  if (is_rs(t)) {
    sw_free(qt);
    sw_free(qs);
    merge_rs(t, cur, e, upsert);
    return;
  }
  nk = key_of(e->table, e->header, key);
  sw_buf_printf(&b, NULL, "INSERT INTO %s (", qt);
  cJSON_ArrayForEach(h, e->header) {
    q = dd_quote_ident(h->valuestring);
    sw_buf_printf(&b, NULL, "%s%s", first ? "" : ", ", q);
    sw_free(q);
    first = false;
  }
  sw_buf_puts(&b, ") SELECT ", NULL);
  first = true;
  cJSON_ArrayForEach(h, e->header) {
    char *c;
    q = dd_quote_ident(h->valuestring);
    c = conv(t, q, schema_type(l, e->extract, h->valuestring));
    sw_buf_printf(&b, NULL, "%s%s", first ? "" : ", ", c);
    sw_free(c);
    sw_free(q);
    first = false;
  }
  sw_buf_printf(&b, NULL, " FROM %s WHERE true", qs);
  if (nk) {
    for (i = 0; i < nk; i++) {
      q = dd_quote_ident(key[i]);
      sw_buf_printf(&b, NULL, "%s%s", i ? ", " : " ON CONFLICT (", q);
      sw_free(q);
    }
    sw_buf_puts(&b, ")", NULL);
    first = true;
    if (upsert)
      cJSON_ArrayForEach(h, e->header) {
        for (i = 0; i < nk; i++)
          if (!strcmp(key[i], h->valuestring))
            break;
        if (i < nk)
          continue;
        q = dd_quote_ident(h->valuestring);
        sw_buf_printf(&b, NULL, "%s%s = excluded.%s",
                      first ? " DO UPDATE SET " : ", ", q, q);
        sw_free(q);
        first = false;
      }
    if (first)
      sw_buf_puts(&b, " DO NOTHING", NULL);
  }
  q = sw_buf_detach(&b);
  emit(l, cur, "%s", q);
  sw_free(q);
  sw_free(qt);
  sw_free(qs);
}

static void delete_rows(sw_dd_task *t, sw_buf *cur, const entry *e)
{
  const char *key[3];
  size_t nk = key_of(e->table, e->header, key), i;
  char *qt = dd_quote_ident(e->table), *qs = dd_quote_ident(e->stage), *q;
  sw_buf b = SW_BUF_INIT(0);

  if (!nk || !known_cols(t->load, e->table))
    goto done;
  sw_buf_printf(&b, NULL, "DELETE FROM %s WHERE EXISTS (SELECT 1 FROM %s d "
                "WHERE ", qt, qs);
  for (i = 0; i < nk; i++) {
    q = dd_quote_ident(key[i]);
    sw_buf_printf(&b, NULL, "%sd.%s = %s.%s", i ? " AND " : "", q, qt, q);
    sw_free(q);
  }
  sw_buf_puts(&b, ")", NULL);
  q = sw_buf_detach(&b);
  emit(t->load, cur, "%s", q);
  sw_free(q);
done:
  sw_free(qt);
  sw_free(qs);
}

static void applied(sw_dd_task *t)
{
  dd_load *l = t->load;
  cJSON *o = cJSON_CreateObject();

  cJSON_AddStringToObject(o, "name", t->name);
  cJSON_AddBoolToObject(o, "loaded", true);
  cJSON_AddNumberToObject(o, "files", (double)l->n_entries);
  cJSON_AddNumberToObject(o, "rows_staged", (double)l->rows);
  cJSON_AddStringToObject(o, "stop_time",
                          sw_json_get_str(t->file, "stop_time"));
  dd_succeed(t, o);
}

static void procs_next(sw_dd_task *t);

static void apply(sw_dd_task *t)
{
  dd_load *l = t->load;
  sw_buf cur = SW_BUF_INIT(0);
  const cJSON *row, *item;
  const char *et = l->kind == 'F' ? "full" : l->kind == 'N' ? "incremental"
                                                          : "log";
  char *lname = dd_quote_literal(t->name);
  char *lstop = dd_quote_literal(sw_json_get_str(t->file, "stop_time"));
  char *let = dd_quote_literal(et), *q;
  size_t i;
  bool rs = is_rs(t);

  if (l->kind == 'F') { /* swap: drop all we made, create from metadata */
    cJSON *old = l->existing;
    sw_buf drops = SW_BUF_INIT(0);
    l->existing = cJSON_CreateObject();
    cJSON_ArrayForEach(item, old) {
      q = dd_quote_ident(item->string);
      if (rs) /* one statement: the batch holds at most 40 */
        sw_buf_printf(&drops, NULL, "%s%s", drops.len ? ", " : "", q);
      else
        emit(l, &cur, "DROP TABLE IF EXISTS %s", q);
      sw_free(q);
    }
    if (drops.len)
      emit(l, &cur, "DROP TABLE IF EXISTS %s", drops.ptr);
    sw_buf_dispose(&drops);
    cJSON_Delete(old);
    emit(l, &cur, "DELETE FROM _dd_columns");
    for (i = 0; i < l->n_entries; i++)
      if (l->entries[i].direct)
        adopt_stage(t, &cur, &l->entries[i]);
    cJSON_ArrayForEach(item, l->schema) {
      char *tb = table_of(item->string);
      if (safe_ident(tb) && !known_cols(l, tb))
        create_table(t, &cur, item->string, tb, NULL);
      sw_free(tb);
    }
  } else {
    cJSON_ArrayForEach(row, l->md_deletes) {
      const char *ex = cJSON_GetArrayItem(row, 0)->valuestring;
      const char *c = cJSON_GetArrayItem(row, 1)->valuestring;
      char *tb = table_of(ex);
      if (!strcmp(c, "id")) {
        drop_table(t, &cur, tb);
      } else if (col_index(known_cols(l, tb), c) >= 0) {
        char *qt = dd_quote_ident(tb), *qc = dd_quote_ident(c);
        char *lt = dd_quote_literal(tb), *lc = dd_quote_literal(c);
        int k = col_index(known_cols(l, tb), c);
        emit(l, &cur, "ALTER TABLE %s DROP COLUMN %s", qt, qc);
        emit(l, &cur, "DELETE FROM _dd_columns WHERE tbl = %s AND col = %s",
             lt, lc);
        cJSON_DeleteItemFromArray(known_cols(l, tb), k);
        sw_free(qt);
        sw_free(qc);
        sw_free(lt);
        sw_free(lc);
      }
      sw_free(tb);
    }
    cJSON_ArrayForEach(row, l->md_updates) {
      const char *ex = cJSON_GetArrayItem(row, 0)->valuestring;
      const char *c = cJSON_GetArrayItem(row, 1)->valuestring;
      const char *ty = cJSON_GetArrayItem(row, 2)->valuestring;
      char *tb = table_of(ex);
      if (!safe_ident(tb)) {
        sw_free(tb);
        continue;
      }
      if (!known_cols(l, tb))
        create_table(t, &cur, ex, tb, NULL);
      if (col_index(known_cols(l, tb), c) < 0)
        add_column(t, &cur, tb, c, ty);
      sw_free(tb);
    }
  }
  for (i = 0; i < l->n_entries; i++) /* columns that appear in data */
    if (!l->entries[i].deletes && !l->entries[i].direct)
      ensure_columns(t, &cur, &l->entries[i]);
  for (i = 0; i < l->n_entries; i++)
    if (l->entries[i].deletes)
      delete_rows(t, &cur, &l->entries[i]);
  for (i = 0; i < l->n_entries; i++)
    if (!l->entries[i].deletes && !l->entries[i].direct)
      merge(t, &cur, &l->entries[i], l->kind != 'L');
  if (l->known_rows.len) {
    q = sw_buf_detach(&l->known_rows);
    emit(l, &cur, "INSERT INTO _dd_columns (tbl, col, pos, type) VALUES %s",
         q);
    sw_free(q);
  }
  emit(l, &cur, "INSERT INTO _dd_loaded (name, extract_type, stop_time) "
       "VALUES (%s, %s, %s)", lname, let, lstop);
  if (rs) { /* no ON CONFLICT: replace an older cursor, else keep it */
    emit(l, &cur, "DELETE FROM _dd_cursor WHERE extract_type = %s AND "
         "stop_time < %s", let, lstop);
    emit(l, &cur, "INSERT INTO _dd_cursor (extract_type, stop_time, name) "
         "SELECT %s, %s, %s WHERE NOT EXISTS (SELECT 1 FROM _dd_cursor "
         "WHERE extract_type = %s)", let, lstop, lname, let);
  } else
    emit(l, &cur, "INSERT INTO _dd_cursor (extract_type, stop_time, name) "
         "VALUES (%s, %s, %s) ON CONFLICT (extract_type) DO UPDATE SET "
         "stop_time = excluded.stop_time, name = excluded.name WHERE "
         "excluded.stop_time > _dd_cursor.stop_time", let, lstop, lname);
  if (l->kind == 'F') { /* incrementals continue from the Full's end */
    emit(l, &cur, "DELETE FROM _dd_cursor WHERE extract_type = "
         "'incremental'");
    emit(l, &cur, "INSERT INTO _dd_cursor (extract_type, stop_time, name) "
         "VALUES ('incremental', %s, %s)", lstop, lname);
  }
  if (rs && l->n_entries) {
    sw_buf drops = SW_BUF_INIT(0);
    for (i = 0; i < l->n_entries; i++) {
      q = dd_quote_ident(l->entries[i].stage);
      sw_buf_printf(&drops, NULL, "%s%s", i ? ", " : "", q);
      sw_free(q);
    }
    emit(l, &cur, "DROP TABLE IF EXISTS %s", drops.ptr);
    sw_buf_dispose(&drops);
  } else
    for (i = 0; i < l->n_entries; i++) {
      q = dd_quote_ident(l->entries[i].stage);
      emit(l, &cur, "DROP TABLE IF EXISTS %s", q);
      sw_free(q);
    }
  l->sqls = sw_realloc(l->sqls, (l->n_sqls + 1) * sizeof(char *));
  l->sqls[l->n_sqls++] = sw_buf_detach(&cur);
  sw_free(lname);
  sw_free(lstop);
  sw_free(let);
  if (rs && l->n_stmts > 40) {
    if (l->n_sqls > 20) {
      dd_fail(t, E_LOAD, "file %s needs %zu statement texts of SQL in one "
              "transaction; on redshift-data at most 20 (each one a stored "
              "procedure, CALLed and dropped by one BatchExecuteStatement "
              "of at most 40 statements)", t->name, l->n_sqls);
      return;
    }
    l->proc_next = 0;
    procs_next(t);
    return;
  }
  if (l->n_sqls > 40) {
    dd_fail(t, E_LOAD, "file %s needs more than 40 statement texts",
            t->name);
    return;
  }
  sql_submit(t, (const char *const *)l->sqls, l->n_sqls, t->token, false,
             applied);
}

/* redshift-data: a file whose apply needs more than the 40 statements one
 * BatchExecuteStatement runs. Each statement text of the apply becomes a
 * stored procedure (CREATE OR REPLACE PROCEDURE, one at a time, outside
 * the file's transaction: re-creating one after a crash is harmless); then
 * ONE batch, with the task's ClientToken, CALLs them in order and drops
 * them: the file still applies in one transaction. Names derive from the
 * token, so a resumed task replaces its own procedures and no other
 * task's. */
static char *proc_name(const sw_dd_task *t, size_t k)
{
  char *n = sw_asprintf("_dd_apply_%.24s_%zu", t->token ? t->token : "x",
                        k), *q;

  q = dd_quote_ident(n);
  sw_free(n);
  return q;
}

static void procs_next(sw_dd_task *t)
{
  dd_load *l = t->load;
  char **calls, *sql, *q;
  size_t k;

  if (l->proc_next < l->n_sqls) {
    q = proc_name(t, l->proc_next);
    sql = sw_asprintf("CREATE OR REPLACE PROCEDURE %s() AS $$\nBEGIN\n%s;"
                      "\nEND;\n$$ LANGUAGE plpgsql", q,
                      l->sqls[l->proc_next]);
    l->proc_next++;
    dd_sql(t, sql, false, procs_next);
    sw_free(sql);
    sw_free(q);
    return;
  }
  calls = sw_calloc(2 * l->n_sqls, sizeof(char *));
  for (k = 0; k < l->n_sqls; k++) {
    q = proc_name(t, k);
    calls[k] = sw_asprintf("CALL %s()", q);
    calls[l->n_sqls + k] = sw_asprintf("DROP PROCEDURE %s()", q);
    sw_free(q);
  }
  sql_submit(t, (const char *const *)calls, 2 * l->n_sqls, t->token, false,
             applied);
  for (k = 0; k < 2 * l->n_sqls; k++)
    sw_free(calls[k]);
  sw_free(calls);
}

static void have_columns(sw_dd_task *t)
{
  dd_load *l = t->load;
  const cJSON *row;
  size_t i;

  l->existing = cJSON_CreateObject();
  cJSON_ArrayForEach(row, t->rows) {
    const char *tb = field(row, 0), *c = field(row, 1);
    cJSON *cols;
    if (!tb || !c)
      continue;
    cols = sw_json_get(l->existing, tb);
    if (!cols) {
      cols = cJSON_CreateArray();
      cJSON_AddItemToObject(l->existing, tb, cols);
    }
    cJSON_AddItemToArray(cols, cJSON_CreateString(c));
  }
  /* A Full on postgres stages each table's one file typed, ready to be
   * renamed into place: COPY parses the types, and the key's index is
   * built once after the load (no text staging copy, no upsert). */
  for (i = 0; i < l->n_entries; i++) {
    entry *e = &l->entries[i];
    size_t k, same = 0;
    if (l->kind != 'F' || !is_pg(t) || e->deletes)
      continue;
    for (k = 0; k < l->n_entries; k++)
      if (!strcmp(l->entries[k].table, e->table))
        same++;
    e->direct = same == 1;
  }
  l->next = 0;
  stage_tables(t);
}

static void plan_after(sw_dd_task *t)
{
  if (t->fail_name) {
    const char *n = t->fail_name;
    t->fail_name = NULL;
    dd_fail(t, n, "%s", t->err.msg);
    return;
  }
  dd_sql(t, "SELECT tbl, col FROM _dd_columns ORDER BY tbl, pos", true,
         have_columns);
}

static void have_loaded(sw_dd_task *t)
{
  dd_load *l = t->load;
  cJSON *o;

  if (cJSON_GetArraySize(t->rows) > 0) {
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddBoolToObject(o, "loaded", false);
    cJSON_AddStringToObject(o, "reason", "already loaded");
    dd_succeed(t, o);
    return;
  }
  if (cJSON_IsNumber(sw_json_get(t->file, "record_count")) &&
      sw_json_get(t->file, "record_count")->valuedouble == 0) {
    l->n_entries = 0; /* nothing to load: advance the cursor only */
    l->schema = cJSON_CreateObject();
    l->md_updates = cJSON_CreateArray();
    l->md_deletes = cJSON_CreateArray();
    l->existing = cJSON_CreateObject();
    if (l->kind == 'F')
      l->kind = 'N'; /* never drop tables for an empty file */
    apply(t);
    return;
  }
  dd_job(t, plan_work, plan_after);
}

static void load_tables_ready(sw_dd_task *t)
{
  char *lname = dd_quote_literal(t->name);
  char *sql = sw_asprintf("SELECT name FROM _dd_loaded WHERE name = %s",
                          lname);

  dd_sql(t, sql, true, have_loaded);
  sw_free(sql);
  sw_free(lname);
}

void dd_load_start(sw_dd_task *t)
{
  dd_load *l = sw_calloc(1, sizeof(*l));
  const char *et = sw_json_get_str(t->file, "extract_type");
  size_t n = strlen(t->name);

  l->fd = -1;
  t->load = l;
  if (et && !strcmp(et, "full_directdata"))
    l->kind = 'F';
  else if (et && !strcmp(et, "log_directdata"))
    l->kind = 'L';
  else if (et && !strcmp(et, "incremental_directdata"))
    l->kind = 'N';
  else
    l->kind = n > 2 && t->name[n - 2] == '-' ? t->name[n - 1] : 'N';
  if (!sw_json_get_str(t->file, "stop_time")) {
    dd_fail(t, E_INPUT, "file %s has no stop_time", t->name);
    return;
  }
  l->data = sw_asprintf("%s/data", t->dir);
  bookkeeping(t, load_tables_ready);
}
