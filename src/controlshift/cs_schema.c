/* SPDX-License-Identifier: MIT */
/* controlshift: the schema activity and the type mapping. GET
 * <instance_url>/api/bulk_data/schema.json (upstream-pipelines.md §3.2:
 * {"tables": [{"table": {"name", "columns": {col: {type, sql_type, limit,
 * nullable, default_value}}}}]}), then one statement, submitted with the
 * task's token, that creates the table (columns in schema order) or adds
 * the columns it lacks. Nothing is dropped and no type is changed: a
 * column that disappeared from the schema keeps its data. */
#include "controlshift/cs_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

typedef struct cs_schema {
  cJSON *doc;          /* schema.json */
  const cJSON *cols;   /* borrowed from doc: {col: {...}} */
  cJSON *added;        /* ["col"...] */
  bool created;
} cs_schema;

void cs_schema_free(sw_cs_task *t)
{
  cs_schema *s = t->action == A_SCHEMA ? t->state : NULL;

  if (!s)
    return;
  cJSON_Delete(s->doc);
  cJSON_Delete(s->added);
  sw_free(s);
  t->state = NULL;
}

/* ---- type mapping ------------------------------------------------------ */

static bool starts(const char *s, const char *p)
{
  return !strncmp(s, p, strlen(p));
}

/* "(p,s)" or "(p)" right at s, digits only; copied into out. With
 * `whole`, nothing may follow the ')'. */
static bool precision(const char *s, bool whole, char *out, size_t cap)
{
  size_t n = 0;

  if (*s != '(')
    return false;
  for (n = 1; s[n] && s[n] != ')'; n++)
    if (!isdigit((unsigned char)s[n]) && s[n] != ',' && s[n] != ' ')
      return false;
  if (s[n] != ')' || n == 1 || n + 2 > cap || (whole && s[n + 1]))
    return false;
  memcpy(out, s, n + 1);
  out[n + 1] = '\0';
  return true;
}

void sw_controlshift_column_type(char *out, size_t cap, const char *driver,
                                 const char *sql_type, const char *type)
{
  char s[128], prec[40] = "";
  const char *src = sql_type && *sql_type ? sql_type : type ? type : "";
  bool sqlite = driver && !strcmp(driver, "sqlite");
  bool rs = driver && !strcmp(driver, "redshift-data");
  const char *r;
  size_t i;

  for (i = 0; src[i] && i + 1 < sizeof(s); i++)
    s[i] = (char)tolower((unsigned char)src[i]);
  s[i] = '\0';
  if (starts(s, "bigint") || starts(s, "int8") || starts(s, "bigserial")) {
    r = sqlite ? "INTEGER" : "BIGINT";
  } else if (starts(s, "smallint") || starts(s, "int2")) {
    r = sqlite ? "INTEGER" : "SMALLINT";
  } else if (starts(s, "interval")) {
    r = sqlite ? "TEXT" : rs ? "CHARACTER VARYING(max)" : "INTERVAL";
  } else if (starts(s, "int") || starts(s, "serial")) {
    r = "INTEGER";
  } else if (starts(s, "bool")) {
    r = "BOOLEAN";
  } else if (starts(s, "numeric") || starts(s, "decimal")) {
    const char *p = s + 7; /* after "numeric" or "decimal" */
    if (sqlite)
      r = "NUMERIC";
    else if (precision(p, true, prec, sizeof(prec))) {
      snprintf(out, cap, "NUMERIC%s", prec);
      return;
    } else
      r = rs ? "NUMERIC(38,10)" : "NUMERIC";
  } else if (starts(s, "double") || starts(s, "float")) {
    r = sqlite ? "REAL" : "DOUBLE PRECISION";
  } else if (starts(s, "real")) {
    r = "REAL";
  } else if (starts(s, "timestamp") || starts(s, "datetime")) {
    bool tz = strstr(s, "with time zone") && !strstr(s, "without");
    if (sqlite)
      r = "TEXT";
    else if (!rs && starts(s, "timestamp") &&
             precision(s + 9, false, prec, sizeof(prec))) {
      snprintf(out, cap, "TIMESTAMP%s %s TIME ZONE", prec,
               tz ? "WITH" : "WITHOUT");
      return;
    } else
      r = tz ? "TIMESTAMP WITH TIME ZONE" : "TIMESTAMP WITHOUT TIME ZONE";
  } else if (!strcmp(s, "date")) {
    r = sqlite ? "TEXT" : "DATE";
  } else if (starts(s, "time")) {
    r = sqlite ? "TEXT" : "TIME";
  } else if (!strcmp(s, "uuid")) {
    r = sqlite ? "TEXT" : rs ? "CHAR(36)" : "UUID";
  } else if (starts(s, "geography")) {
    r = sqlite ? "TEXT" : rs ? "GEOGRAPHY" : "TEXT";
  } else {
    /* enum, hstore, json, jsonb, text, character varying, string, inet,
     * citext and whatever else: text. */
    r = sqlite ? "TEXT" : rs ? "CHARACTER VARYING(max)" : "TEXT";
  }
  snprintf(out, cap, "%s", r);
}

/* ---- the activity ------------------------------------------------------ */

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

static void schema_done(sw_cs_task *t)
{
  cs_schema *s = t->state;
  cJSON *o = cJSON_CreateObject();

  cJSON_AddStringToObject(o, "table", t->target);
  cJSON_AddBoolToObject(o, "created", s->created);
  cJSON_AddItemToObject(o, "added", s->added);
  s->added = NULL;
  cJSON_AddNumberToObject(o, "columns", cJSON_GetArraySize(s->cols));
  cs_succeed(t, o);
}

static bool has_col(const cJSON *rows, const char *name)
{
  const cJSON *row;

  cJSON_ArrayForEach(row, rows) {
    const char *c = cs_field(row, 0);
    if (c && !strcmp(c, name))
      return true;
  }
  return false;
}

static void have_columns(sw_cs_task *t)
{
  cs_schema *s = t->state;
  const char *drv = sw_warehouse_driver(t->wh);
  sw_buf b = SW_BUF_INIT(0);
  const cJSON *c;
  char ty[64], *q, *sql;
  bool first = true;

  s->added = cJSON_CreateArray();
  if (cJSON_GetArraySize(t->rows) == 0) {
    s->created = true;
    sw_buf_printf(&b, NULL, "CREATE TABLE IF NOT EXISTS %s (", t->q_target);
    cJSON_ArrayForEach(c, s->cols) {
      q = cs_ident(c->string);
      sw_controlshift_column_type(ty, sizeof(ty), drv,
                                  sw_json_get_str(c, "sql_type"),
                                  sw_json_get_str(c, "type"));
      sw_buf_printf(&b, NULL, "%s%s %s", first ? "" : ", ", q, ty);
      sw_free(q);
      first = false;
    }
    sw_buf_puts(&b, ")", NULL);
  } else {
    cJSON_ArrayForEach(c, s->cols) {
      if (has_col(t->rows, c->string))
        continue;
      q = cs_ident(c->string);
      sw_controlshift_column_type(ty, sizeof(ty), drv,
                                  sw_json_get_str(c, "sql_type"),
                                  sw_json_get_str(c, "type"));
      sw_buf_printf(&b, NULL, "%sALTER TABLE %s ADD COLUMN %s %s",
                    first ? "" : ";\n", t->q_target, q, ty);
      cJSON_AddItemToArray(s->added, cJSON_CreateString(c->string));
      sw_free(q);
      first = false;
    }
  }
  if (b.len == 0) {
    sw_buf_dispose(&b);
    schema_done(t);
    return;
  }
  sql = sw_buf_detach(&b);
  {
    const char *one = sql;
    t->sql_failed = NULL;
    cs_sql(t, &one, 1, t->token, false, schema_done);
  }
  sw_free(sql);
}

static void on_schema(const sw_err *err, const sw_http_response *resp,
                      void *payload)
{
  sw_cs_task *t = payload;
  cs_schema *s = t->state;
  const cJSON *tables, *it, *tb = NULL, *c;
  char *url = sw_asprintf("%s/api/bulk_data/schema.json",
                          t->cfg.instance_url);
  sw_err e2 = SW_ERR_INIT;
  char *sql;

  t->http_busy = false;
  if (t->finish_pending || t->cancelled) {
    t->finish_pending = false;
    cs_fail(t, "States.TaskFailed", "cancelled");
    goto out;
  }
  if (err) {
    cs_fail(t, err->code == SW_EAGAIN || err->code == SW_ETIMEDOUT
                   ? E_TRANSIENT : E_SCHEMA,
            "GET %s: %s", url, err->msg);
    goto out;
  }
  if (sw_json_parse(&s->doc, resp->body, resp->body_len, url, &e2) < 0) {
    cs_fail(t, E_SCHEMA, "%s", e2.msg);
    goto out;
  }
  tables = sw_json_get(s->doc, "tables");
  if (!cJSON_IsArray(tables)) {
    cs_fail(t, E_SCHEMA, "%s: expected {\"tables\": [{\"table\": {\"name\", "
            "\"columns\"}}]}", url);
    goto out;
  }
  cJSON_ArrayForEach(it, tables) {
    const cJSON *x = sw_json_get(it, "table");
    const char *n = sw_json_get_str(x ? x : it, "name");
    if (n && !strcmp(n, t->table)) {
      tb = x ? x : it;
      break;
    }
  }
  if (!tb) {
    cs_fail(t, E_SCHEMA, "%s has no table \"%s\"", url, t->table);
    goto out;
  }
  s->cols = sw_json_get(tb, "columns");
  if (!cJSON_IsObject(s->cols) || cJSON_GetArraySize(s->cols) == 0) {
    cs_fail(t, E_SCHEMA, "%s: table \"%s\" has no \"columns\" object", url,
            t->table);
    goto out;
  }
  cJSON_ArrayForEach(c, s->cols) {
    if (!plain_col(c->string) || !cJSON_IsObject(c)) {
      cs_fail(t, E_SCHEMA, "%s: table \"%s\": column \"%.80s\" is not a "
              "plain name with a {type, sql_type} object", url, t->table,
              c->string);
      goto out;
    }
  }
  sql = cs_columns_sql(t);
  cs_sql1(t, sql, true, have_columns);
  sw_free(sql);
out:
  sw_free(url);
}

void cs_schema_start(sw_cs_task *t)
{
  cs_schema *s = sw_calloc(1, sizeof(*s));
  sw_http_opts o;
  sw_err err = SW_ERR_INIT;
  char *url = sw_asprintf("%s/api/bulk_data/schema.json",
                          t->cfg.instance_url);
  const char *hdr[] = {"Accept: application/json"};

  t->state = s;
  if (sw_http_new(&t->http, t->loop, NULL, &err) < 0) {
    cs_fail(t, E_SCHEMA, "%s", err.msg);
    goto out;
  }
  memset(&o, 0, sizeof(o));
  o.method = "GET";
  o.url = url;
  o.headers = hdr;
  o.n_headers = 1;
  o.timeout_ms = 60000;
  o.max_body = 32u << 20;
  if (sw_http_request(t->http, &o, on_schema, t, NULL, &err) < 0) {
    cs_fail(t, E_CONFIG, "%s [controlshift] instance_url: %s", t->cfg.path,
            err.msg);
    goto out;
  }
  t->http_busy = true;
out:
  sw_free(url);
}
