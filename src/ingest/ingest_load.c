/* SPDX-License-Identifier: MIT */
/* ingest: the load. Steps, each on the loop thread:
 *   1. audit rows of this file: FINISHED with this token (a resumed load:
 *      report them) or with the same name and SHA-256 (already loaded);
 *   2. per part: the target's columns from the catalog (types, NOT NULL,
 *      a file_name column), checked against the config's columns;
 *   3. per part: staging table (TEXT columns) created, then bulk-loaded
 *      from the converter (ingest_file.c), which checks every value;
 *   4. ONE batch with the task's token as ClientToken: insert staging
 *      into the targets, audit rows FINISHED, drop staging;
 *   5. once the token's batch is over: drop every staging table of the
 *      token (ours, and a killed attempt's, which its batch may have
 *      read), read the audit rows of the token: the output.
 * A failure after staging began drops our staging tables first. */
#include "ingest/ingest_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void stage_next(sw_ingest_task *t);
static void catalog_next(sw_ingest_task *t);

static char *audit_table(const sw_ingest_task *t)
{
  return ig_table(t, "rdscnfg", "ext_file_audit");
}

/* ---- 5. the outcome ----------------------------------------------------- */

static cJSON *outcome(sw_ingest_task *t, bool loaded)
{
  cJSON *o = cJSON_CreateObject(), *tables = cJSON_CreateArray();
  const cJSON *row;
  char b1[64], b2[64], b3[64];
  long long total = 0;

  cJSON_ArrayForEach(row, t->rows) {
    const char *sch = ig_field(row, 1, b1, sizeof(b1));
    const char *tbl = ig_field(row, 2, b2, sizeof(b2));
    const char *n = ig_field(row, 3, b3, sizeof(b3));
    cJSON *e = cJSON_CreateObject();
    char *full = sw_asprintf("%s%s%s", sch ? sch : "", sch ? "." : "",
                             tbl ? tbl : "");
    cJSON_AddStringToObject(e, "table", full);
    cJSON_AddNumberToObject(e, "rows", n ? strtod(n, NULL) : 0);
    total += n ? (long long)strtod(n, NULL) : 0;
    cJSON_AddItemToArray(tables, e);
    sw_free(full);
  }
  cJSON_AddBoolToObject(o, "loaded", loaded);
  if (!loaded)
    cJSON_AddStringToObject(o, "reason", "already loaded");
  cJSON_AddNumberToObject(o, "rows", (double)(loaded ? total : 0));
  cJSON_AddItemToObject(o, "tables", tables);
  return o;
}

static void have_outcome(sw_ingest_task *t)
{
  ig_succeed(t, outcome(t, true));
}

static void read_outcome(sw_ingest_task *t)
{
  char *tbl = audit_table(t);
  char *sql = sw_asprintf("SELECT client_token, tgt_schema_name,"
                          " tgt_table_name, rows_loaded FROM %s WHERE"
                          " client_token = :tok AND file_process_status ="
                          " 'FINISHED' ORDER BY ext_file_audit_sid", tbl);
  sw_wh_param p = {"tok", t->token};
  const char *s = sql;

  ig_sql(t, &s, 1, &p, 1, NULL, true, have_outcome);
  sw_free(sql);
  sw_free(tbl);
}

/* Drop every staging table of this token: ours and those of attempts
 * that were killed. Only once the token's batch is over (FINISHED here),
 * so no batch that reads one of them can still run. */
static void have_stages(sw_ingest_task *t)
{
  sw_buf b = SW_BUF_INIT(0);
  const cJSON *row;
  char buf[8];
  char *sql, *q;
  const char *s, *nm;
  size_t n = 0;

  cJSON_ArrayForEach(row, t->rows) {
    if (!(nm = ig_field(row, 0, buf, sizeof(buf))))
      continue;
    q = ig_quote_ident(nm);
    sw_buf_printf(&b, NULL, "%sDROP TABLE IF EXISTS %s", n++ ? ";\n" : "",
                  q);
    sw_free(q);
  }
  if (n == 0) {
    read_outcome(t);
    return;
  }
  sql = sw_buf_detach(&b);
  s = sql;
  ig_sql(t, &s, 1, NULL, 0, NULL, false, read_outcome);
  sw_free(sql);
}

static void drop_stages(sw_ingest_task *t)
{
  char *pat = sw_asprintf("\\_ingest\\_stage\\_%.16s\\_%%", t->token);
  sw_wh_param p = {"p", pat};
  const char *s;

  t->on_sql_fail = NULL; /* the batch is over */
  s = ig_is_pg(t)
                      ? "SELECT tablename FROM pg_tables WHERE schemaname ="
                        " current_schema() AND tablename LIKE :p ESCAPE '\\'"
                      : "SELECT name FROM sqlite_master WHERE type = 'table'"
                        " AND name LIKE :p ESCAPE '\\'";

  ig_sql(t, &s, 1, &p, 1, NULL, true, have_stages);
  sw_free(pat);
}

static void fail_now(sw_ingest_task *t)
{
  ig_fail(t, t->pending_fail, "%s", t->pending_msg ? t->pending_msg : "");
}

/* Fail after dropping the staging tables made so far (best effort: the
 * next load of the file drops them too). */
static void fail_dropping(sw_ingest_task *t, const char *name,
                          const char *msg)
{
  sw_buf b = SW_BUF_INIT(0);
  size_t i;
  char *sql, *q;
  const char *s;

  sw_free(t->pending_msg);
  t->pending_msg = sw_strdup(msg);
  t->pending_fail = name;
  for (i = 0; i < t->n_parts; i++) {
    q = ig_quote_ident(t->parts[i].stage);
    sw_buf_printf(&b, NULL, "%sDROP TABLE IF EXISTS %s", i ? ";\n" : "", q);
    sw_free(q);
  }
  sql = sw_buf_detach(&b);
  s = sql;
  t->sql_fail = name; /* if even the drop fails, the first error stands */
  ig_sql(t, &s, 1, NULL, 0, NULL, false, fail_now);
  sw_free(sql);
}

/* The batch failed (or its ClientToken answered with a failed one): our
 * staging tables go, then the task fails. */
static void batch_failed(sw_ingest_task *t, const char *msg)
{
  fail_dropping(t, E_LOAD, msg);
}

/* ---- 4. the batch --------------------------------------------------------- */

static void apply(sw_ingest_task *t)
{
  const cJSON *lookup = sw_json_get(t->params, "lookup");
  const char *started = sw_json_get_str(lookup, "started_at");
  const char *sha = sw_json_get_str(sw_json_get(t->params, "check"),
                                    "sha256");
  char *atbl = audit_table(t);
  char **sqls = sw_calloc(t->n_parts, sizeof(char *));
  sw_wh_param *p = sw_calloc(5 + 5 * t->n_parts, sizeof(*p));
  char **names = sw_calloc(5 * t->n_parts + 1, sizeof(char *));
  char **merges = sw_calloc(t->n_parts + 1, sizeof(char *));
  size_t i, k, np = 0, nn = 0;
  char now[32];
  bool pg = ig_is_pg(t);

  ig_now_text(now);
  p[np].name = "now";
  p[np++].value = now;
  p[np].name = "start";
  p[np++].value = started ? started : now;
  p[np].name = "file";
  p[np++].value = t->name;
  p[np].name = "token";
  p[np++].value = t->token;
  if (sha) {
    p[np].name = "sha";
    p[np++].value = sha;
  }
  for (i = 0; i < t->n_parts; i++) {
    ig_part *pt = &t->parts[i];
    const ig_config *c = &pt->cfg;
    sw_buf m = SW_BUF_INIT(0), b = SW_BUF_INIT(0);
    char *qs = ig_quote_ident(pt->stage), *q;

    sw_buf_printf(&m, NULL, "INSERT INTO %s (", pt->target);
    for (k = 0; k < c->n_cols; k++) {
      q = ig_quote_ident(c->cols[k].name);
      sw_buf_printf(&m, NULL, "%s%s", k ? ", " : "", q);
      sw_free(q);
    }
    if (pt->has_file_name)
      sw_buf_puts(&m, ", \"file_name\"", NULL);
    sw_buf_puts(&m, ") SELECT ", NULL);
    for (k = 0; k < c->n_cols; k++) {
      q = ig_quote_ident(c->cols[k].name);
      if (pg)
        sw_buf_printf(&m, NULL, "%sCAST(%s AS %s)", k ? ", " : "", q,
                      c->cols[k].type);
      else
        sw_buf_printf(&m, NULL, "%s%s", k ? ", " : "", q);
      sw_free(q);
    }
    if (pt->has_file_name)
      sw_buf_puts(&m, ", :file", NULL);
    sw_buf_printf(&m, NULL, " FROM %s", qs);
    merges[i] = sw_buf_detach(&m);

#define NAMED(fmt_, val_)                                                      \
  (names[nn] = sw_asprintf(fmt_, i), p[np].name = names[nn++],                 \
   p[np++].value = (val_))
    sw_buf_printf(&b, NULL, "%s;\nINSERT INTO %s (ext_interface_cid,"
                  " tgt_schema_name, tgt_table_name, file_process_status,"
                  " file_process_date, file_prcsd_flag, merge_query,"
                  " start_time, end_time, escape_char, file_name,"
                  " file_sha256, rows_loaded, client_token) VALUES (",
                  merges[i], atbl);
    if (c->interface_id) {
      sw_buf_printf(&b, NULL, ":iid%zu, ", i);
      NAMED("iid%zu", c->interface_id);
    } else {
      sw_buf_puts(&b, "NULL, ", NULL);
    }
    if (c->tgt_schema) {
      sw_buf_printf(&b, NULL, ":sch%zu, ", i);
      NAMED("sch%zu", c->tgt_schema);
    } else {
      sw_buf_puts(&b, "NULL, ", NULL);
    }
    sw_buf_printf(&b, NULL, ":tbl%zu, 'FINISHED', :now, 'Y', :mq%zu, :start,"
                  " :now, ", i, i);
    NAMED("tbl%zu", c->tgt_table);
    NAMED("mq%zu", merges[i]);
    sw_buf_puts(&b, "NULL, :file, ", NULL);
    sw_buf_puts(&b, sha ? ":sha, " : "NULL, ", NULL);
    sw_buf_printf(&b, NULL, "(SELECT count(*) FROM %s), :token);\n"
                  "DROP TABLE %s", qs, qs);
#undef NAMED
    sqls[i] = sw_buf_detach(&b);
    sw_free(qs);
  }
  t->sql_fail = E_LOAD;
  t->on_sql_fail = batch_failed;
  ig_sql(t, (const char *const *)sqls, t->n_parts, p, np, t->token, false,
         drop_stages);
  for (i = 0; i < t->n_parts; i++) {
    sw_free(sqls[i]);
    sw_free(merges[i]);
  }
  for (i = 0; i < nn; i++)
    sw_free(names[i]);
  sw_free(sqls);
  sw_free(merges);
  sw_free(names);
  sw_free(p);
  sw_free(atbl);
}

/* ---- 3. staging ------------------------------------------------------------ */

static void on_loaded(const sw_err *err, long long rows, void *payload)
{
  sw_ingest_task *t = payload;
  const char *cause;
  char *c;
  long bad;

  sw_free(t->bulk_cols);
  t->bulk_cols = NULL;
  bad = ig_conv_bad(t->conv, &cause);
  if (bad > 0) {
    /* the converter stops reading at the IG_MAX_BAD-th bad row */
    c = sw_asprintf("%s%ld bad row%s (nothing was loaded%s): %s",
                    bad >= IG_MAX_BAD ? "at least " : "", bad,
                    bad > 1 ? "s" : "",
                    bad >= IG_MAX_BAD ? "; checking stopped there" : "",
                    cause);
    ig_conv_free(t->conv);
    t->conv = NULL;
    fail_dropping(t, E_BADROW, c);
    sw_free(c);
    return;
  }
  ig_conv_free(t->conv);
  t->conv = NULL;
  if (err) {
    c = sw_asprintf("loading %s: %s", t->parts[t->next].name, err->msg);
    fail_dropping(t, err->code == SW_EIO ? E_BADFILE : E_LOAD, c);
    sw_free(c);
    return;
  }
  t->rows_total += rows;
  t->next++;
  stage_next(t);
}

static void stage_created(sw_ingest_task *t)
{
  ig_part *pt = &t->parts[t->next];
  const char **cols = sw_calloc(pt->cfg.n_cols, sizeof(char *));
  sw_wh_bulk_load req;
  sw_err err = SW_ERR_INIT;
  size_t i;

  for (i = 0; i < pt->cfg.n_cols; i++)
    cols[i] = pt->cfg.cols[i].name;
  t->conv = ig_conv_new(pt, pt->skip_header, pt->skip_trailer);
  memset(&req, 0, sizeof(req));
  req.table = pt->stage;
  req.columns = cols;
  req.n_columns = pt->cfg.n_cols;
  req.header = false;
  req.read = ig_conv_read;
  req.read_payload = t->conv;
  /* req and cols are borrowed by the service until on_loaded */
  if (sw_warehouse_bulk_load(t->wh, &req, on_loaded, t, &err) < 0) {
    ig_conv_free(t->conv);
    t->conv = NULL;
    sw_free(cols);
    { /* the staging tables already made must go too */
      char *m = sw_asprintf("bulk load into %s: %s", pt->stage, err.msg);
      fail_dropping(t, E_LOAD, m);
      sw_free(m);
    }
    return;
  }
  sw_free(t->bulk_cols);
  t->bulk_cols = cols; /* borrowed by the service until on_loaded */
}

static void stage_next(sw_ingest_task *t)
{
  ig_part *pt;
  sw_buf b = SW_BUF_INIT(0);
  char *q, *sql;
  const char *s;
  size_t i;

  if (t->next >= t->n_parts) {
    apply(t);
    return;
  }
  pt = &t->parts[t->next];
  q = ig_quote_ident(pt->stage);
  sw_buf_printf(&b, NULL, "DROP TABLE IF EXISTS %s;\nCREATE TABLE %s (", q,
                q);
  sw_free(q);
  for (i = 0; i < pt->cfg.n_cols; i++) {
    q = ig_quote_ident(pt->cfg.cols[i].name);
    sw_buf_printf(&b, NULL, "%s%s TEXT", i ? ", " : "", q);
    sw_free(q);
  }
  sw_buf_puts(&b, ")", NULL);
  sql = sw_buf_detach(&b);
  s = sql;
  ig_sql(t, &s, 1, NULL, 0, NULL, false, stage_created);
  sw_free(sql);
}

/* ---- 2. the targets' columns ------------------------------------------- */

static void have_catalog(sw_ingest_task *t)
{
  ig_part *pt = &t->parts[t->next];
  const cJSON *row;
  char b1[256], b2[256], b3[32];
  size_t i;
  bool found;

  if (cJSON_GetArraySize(t->rows) == 0) {
    ig_fail(t, E_CONFIG, "%s: target table %s does not exist in the "
            "warehouse (create it first, as sql/file_ingest/"
            "sample_config.sql does)", pt->name, pt->target);
    return;
  }
  for (i = 0; i < pt->cfg.n_cols; i++) {
    ig_col *col = &pt->cfg.cols[i];
    found = false;
    cJSON_ArrayForEach(row, t->rows) {
      const char *nm = ig_field(row, 0, b1, sizeof(b1));
      if (nm && !strcasecmp(nm, col->name)) {
        const char *ty = ig_field(row, 1, b2, sizeof(b2));
        const char *nn = ig_field(row, 2, b3, sizeof(b3));
        ig_col_type(col, ty ? ty : "", NULL);
        col->notnull = nn && (!strcmp(nn, "1") || !strcmp(nn, "true"));
        found = true;
        break;
      }
    }
    if (!found) {
      ig_fail(t, E_CONFIG, "%s: config column %s is not a column of the "
              "target table %s", pt->name, col->name, pt->target);
      return;
    }
  }
  pt->has_file_name = false;
  cJSON_ArrayForEach(row, t->rows) {
    const char *nm = ig_field(row, 0, b1, sizeof(b1));
    if (nm && !strcasecmp(nm, "file_name"))
      pt->has_file_name = true;
  }
  for (i = 0; i < pt->cfg.n_cols; i++)
    if (!strcasecmp(pt->cfg.cols[i].name, "file_name"))
      pt->has_file_name = false;
  t->next++;
  catalog_next(t);
}

static void catalog_next(sw_ingest_task *t)
{
  ig_part *pt;
  const char *s;
  sw_wh_param p;
  char *phys;

  if (t->next >= t->n_parts) {
    t->next = 0;
    stage_next(t);
    return;
  }
  pt = &t->parts[t->next];
  if (ig_is_pg(t)) {
    s = "SELECT a.attname, format_type(a.atttypid, a.atttypmod),"
        " CASE WHEN a.attnotnull THEN 1 ELSE 0 END FROM pg_attribute a"
        " WHERE a.attrelid = to_regclass(:t) AND a.attnum > 0"
        " AND NOT a.attisdropped ORDER BY a.attnum";
    phys = sw_strdup(pt->target);
  } else {
    s = "SELECT name, type, \"notnull\" FROM pragma_table_info(:t)";
    phys = pt->cfg.tgt_schema && *pt->cfg.tgt_schema
               ? sw_asprintf("%s_%s", pt->cfg.tgt_schema, pt->cfg.tgt_table)
               : sw_strdup(pt->cfg.tgt_table);
  }
  p.name = "t";
  p.value = phys;
  t->sql_fail = E_LOAD;
  ig_sql(t, &s, 1, &p, 1, NULL, true, have_catalog);
  sw_free(phys);
}

/* ---- 1. loaded before? ------------------------------------------------- */

static void have_audit(sw_ingest_task *t)
{
  const cJSON *row;
  char b[80];
  bool mine = false;

  cJSON_ArrayForEach(row, t->rows) {
    const char *tok = ig_field(row, 0, b, sizeof(b));
    if (tok && !strcmp(tok, t->token))
      mine = true;
  }
  if (mine) { /* this very load committed before a crash */
    cJSON_Delete(t->rows);
    t->rows = NULL;
    drop_stages(t);
    return;
  }
  if (cJSON_GetArraySize(t->rows) > 0) {
    ig_succeed(t, outcome(t, false));
    return;
  }
  t->next = 0;
  catalog_next(t);
}

void ig_load_start(sw_ingest_task *t)
{
  const cJSON *lookup = sw_json_get(t->params, "lookup");
  const cJSON *parts = sw_json_get(sw_json_get(t->params, "split"), "parts");
  const cJSON *it;
  const char *sha = sw_json_get_str(sw_json_get(t->params, "check"),
                                    "sha256");
  char *tbl, *sql;
  sw_wh_param p[3];
  size_t i = 0;
  const char *s;
  char attempt[40];

  sw_uuid_v4(attempt);
  t->n_parts = cJSON_GetArraySize(parts) > 0
                   ? (size_t)cJSON_GetArraySize(parts)
                   : 1;
  if (t->n_parts > 40) { /* one statement text per part in one batch */
    ig_fail(t, E_CONFIG, "%s: more than 40 split parts in one load",
            t->name);
    return;
  }
  t->parts = sw_calloc(t->n_parts, sizeof(ig_part));
  if (cJSON_GetArraySize(parts) > 0) {
    cJSON_ArrayForEach(it, parts) {
      t->parts[i].file = sw_strdup(sw_json_get_str(it, "file"));
      t->parts[i].config_json = sw_json_get(it, "config");
      i++;
    }
  } else {
    t->parts[0].file = sw_strdup(t->file);
    t->parts[0].config_json = sw_json_get(lookup, "config");
  }
  for (i = 0; i < t->n_parts; i++) {
    ig_part *pt = &t->parts[i];
    if (!pt->file) {
      ig_fail(t, E_INPUT, "split part %zu has no file", i + 1);
      return;
    }
    pt->name = sw_strdup(ig_basename(pt->file));
    if (ig_config_parse(&pt->cfg, pt->config_json, &t->err) < 0) {
      ig_fail(t, E_CONFIG, "%s: %s", pt->name, t->err.msg);
      return;
    }
    if (pt->cfg.split) {
      ig_fail(t, E_CONFIG, "%s: the config has split_file_flag Y: split "
              "the file first (stepwise.ingest.split)", pt->name);
      return;
    }
    if (cJSON_GetArraySize(parts) == 0) { /* the file itself */
      pt->skip_header = pt->cfg.header;
      pt->skip_trailer = pt->cfg.trailer;
    }
    /* unique per attempt: a batch of a killed attempt may still run on
     * the server and read its own staging tables */
    pt->stage = sw_asprintf("_ingest_stage_%.16s_%.8s_%zu", t->token,
                            attempt, i);
    pt->target = ig_table(t, pt->cfg.tgt_schema, pt->cfg.tgt_table);
  }
  tbl = audit_table(t);
  sql = sw_asprintf("SELECT client_token, tgt_schema_name, tgt_table_name,"
                    " rows_loaded FROM %s WHERE file_process_status ="
                    " 'FINISHED' AND (client_token = :tok%s)", tbl,
                    sha ? " OR (file_name = :name AND file_sha256 = :sha)"
                        : "");
  p[0].name = "tok";
  p[0].value = t->token;
  p[1].name = "name";
  p[1].value = t->name;
  p[2].name = "sha";
  p[2].value = sha;
  s = sql;
  t->sql_fail = E_LOAD;
  ig_sql(t, &s, 1, p, sha ? 3 : 1, NULL, true, have_audit);
  sw_free(sql);
  sw_free(tbl);
}
