/* SPDX-License-Identifier: MIT */
/* Shared by the sqlite and postgres drivers, which keep the same registry
 * row (stepwise_statements) and so answer DescribeStatement and
 * GetStatementResult from it the same way: the Data API response shapes
 * are built here, from a driver-neutral view of the row (sw_wh_row).
 * Pure functions on the calling thread. */
#include "warehouse/warehouse.h"

#include <stdio.h>
#include <string.h>

#include "warehouse/warehouse_int.h"

cJSON *sw__wh_json_iso(int64_t ms)
{
  char buf[32];

  sw_time_format_iso(buf, sizeof(buf), ms);
  return cJSON_CreateString(buf);
}

cJSON *sw__wh_sub_json(const char *id, size_t i, const char *query,
                       const sw_wh_sub *so, bool with_result)
{
  cJSON *s = cJSON_CreateObject();
  char sid[SW_WH_ID_MAX + 24];

  snprintf(sid, sizeof(sid), "%s:%zu", id, i + 1);
  cJSON_AddStringToObject(s, "Id", sid);
  cJSON_AddStringToObject(s, "Status", so->status);
  if (so->error)
    cJSON_AddStringToObject(s, "Error", so->error);
  cJSON_AddNumberToObject(s, "Duration", (double)so->duration_ns);
  cJSON_AddItemToObject(s, "CreatedAt", sw__wh_json_iso(so->created_ms));
  cJSON_AddItemToObject(s, "UpdatedAt", sw__wh_json_iso(so->updated_ms));
  cJSON_AddStringToObject(s, "QueryString", query);
  cJSON_AddNumberToObject(s, "ResultRows", (double)so->rows);
  cJSON_AddNumberToObject(s, "ResultSize",
                          so->has_rs ? (double)so->result_bytes : -1.0);
  cJSON_AddBoolToObject(s, "HasResultSet", so->has_rs);
  cJSON_AddNumberToObject(s, "RedshiftQueryId", 0);
  if (with_result && so->result)
    cJSON_AddItemToObject(s, "_result", sw_json_dup(so->result));
  return s;
}

/* The stored SubStatements (or, before the batch ran, one entry per SQL
 * text carrying the statement's status). */
static cJSON *row_subs(const sw_wh_row *row)
{
  cJSON *subs = NULL, *sqls, *s, *q;
  char id[SW_WH_ID_MAX + 24];
  int i = 0;

  if (row->subs && (subs = cJSON_Parse(row->subs)) != NULL)
    return subs;
  subs = cJSON_CreateArray();
  sqls = cJSON_Parse(row->sqls ? row->sqls : "[]");
  cJSON_ArrayForEach(q, sqls) {
    s = cJSON_CreateObject();
    snprintf(id, sizeof(id), "%s:%d", row->id, ++i);
    cJSON_AddStringToObject(s, "Id", id);
    cJSON_AddStringToObject(s, "Status", row->status);
    cJSON_AddNumberToObject(s, "Duration", -1);
    cJSON_AddItemToObject(s, "CreatedAt", sw__wh_json_iso(row->created_ms));
    cJSON_AddItemToObject(s, "UpdatedAt", sw__wh_json_iso(row->updated_ms));
    cJSON_AddStringToObject(s, "QueryString",
                            cJSON_IsString(q) ? q->valuestring : "");
    cJSON_AddNumberToObject(s, "ResultRows", -1);
    cJSON_AddNumberToObject(s, "ResultSize", -1);
    cJSON_AddBoolToObject(s, "HasResultSet", 0);
    cJSON_AddNumberToObject(s, "RedshiftQueryId", 0);
    cJSON_AddItemToArray(subs, s);
  }
  cJSON_Delete(sqls);
  return subs;
}

int sw__wh_describe_json(const sw_wh_row *row, const char *id, cJSON **out,
                         sw_err *err)
{
  cJSON *r = NULL, *subs = NULL, *sqls = NULL, *s;
  char base[SW_WH_ID_MAX];
  sw_buf qs = SW_BUF_INIT(0);
  int sub, rc, i = 0;

  *out = NULL;
  rc = sw__wh_parse_id(id, base, &sub, err);
  if (rc < 0)
    goto done;
  if (sub > 0) {
    subs = row->is_batch ? row_subs(row) : NULL;
    s = subs ? cJSON_DetachItemFromArray(subs, sub - 1) : NULL;
    if (!s) {
      rc = sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                      "Query does not exist: %s", id);
      goto done;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(s, "_result");
    *out = s;
    goto done;
  }

  r = cJSON_CreateObject();
  cJSON_AddStringToObject(r, "Id", base);
  cJSON_AddStringToObject(r, "Status", row->status);
  if (row->error)
    cJSON_AddStringToObject(r, "Error", row->error);
  cJSON_AddItemToObject(r, "CreatedAt", sw__wh_json_iso(row->created_ms));
  cJSON_AddItemToObject(r, "UpdatedAt", sw__wh_json_iso(row->updated_ms));
  cJSON_AddNumberToObject(r, "Duration", (double)row->duration_ns);
  cJSON_AddBoolToObject(r, "HasResultSet", row->has_rs);
  cJSON_AddNumberToObject(r, "ResultRows", (double)row->rows);
  cJSON_AddNumberToObject(r, "ResultSize", (double)row->size);
  sqls = cJSON_Parse(row->sqls ? row->sqls : "[]");
  cJSON_ArrayForEach(s, sqls) {
    if (cJSON_IsString(s) &&
        ((i++ > 0 && (rc = sw_buf_puts(&qs, "; ", err)) < 0) ||
         (rc = sw_buf_puts(&qs, s->valuestring, err)) < 0))
      goto done;
  }
  cJSON_AddStringToObject(r, "QueryString", qs.ptr ? qs.ptr : "");
  if (row->params)
    cJSON_AddItemToObject(r, "QueryParameters", cJSON_Parse(row->params));
  if (row->database)
    cJSON_AddStringToObject(r, "Database", row->database);
  cJSON_AddNumberToObject(r, "RedshiftPid", 0);
  cJSON_AddNumberToObject(r, "RedshiftQueryId", 0);
  cJSON_AddStringToObject(r, "ResultFormat", "JSON");
  if (row->is_batch) {
    subs = row_subs(row);
    cJSON_ArrayForEach(s, subs)
      cJSON_DeleteItemFromObjectCaseSensitive(s, "_result");
    cJSON_AddItemToObject(r, "SubStatements", subs);
    subs = NULL;
  }
  *out = r;
  r = NULL;

done:
  cJSON_Delete(r);
  cJSON_Delete(subs);
  cJSON_Delete(sqls);
  sw_buf_dispose(&qs);
  return rc;
}

int sw__wh_result_json(const sw_wh_row *row, const char *id,
                       long long offset, cJSON **out, sw_err *err)
{
  cJSON *subs = NULL, *res = NULL, *owned = NULL, *records, *page = NULL;
  cJSON *r, *s;
  char base[SW_WH_ID_MAX];
  int sub, rc, total, k;
  char tok[32];

  *out = NULL;
  rc = sw__wh_parse_id(id, base, &sub, err);
  if (rc < 0)
    goto done;
  if (strcmp(row->status, "FINISHED") != 0) {
    rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                    "Query does not have result. Please check query "
                    "status (%s is %s).", id, row->status);
    goto done;
  }
  if (sub > 0) {
    subs = row->is_batch ? row_subs(row) : NULL;
    s = subs ? cJSON_GetArrayItem(subs, sub - 1) : NULL;
    if (!s) {
      rc = sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                      "Query does not exist: %s", id);
      goto done;
    }
    res = sw_json_get(s, "_result");
  } else if (row->result) {
    res = owned = cJSON_Parse(row->result);
  }
  if (!res) {
    rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                    "Query does not have result. Statement %s returned no "
                    "result set.", id);
    goto done;
  }
  records = sw_json_get(res, "Records");
  total = cJSON_GetArraySize(records);
  if (offset > total) {
    rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                    "invalid NextToken for statement %s", id);
    goto done;
  }
  page = cJSON_CreateArray();
  for (k = (int)offset; k < total && k < offset + SW_WH_PAGE_ROWS; k++)
    cJSON_AddItemToArray(page,
                         sw_json_dup(cJSON_GetArrayItem(records, k)));
  r = cJSON_CreateObject();
  cJSON_AddItemToObject(r, "Records", page);
  page = NULL;
  cJSON_AddItemToObject(r, "ColumnMetadata",
                        sw_json_dup(sw_json_get(res, "ColumnMetadata")));
  cJSON_AddNumberToObject(r, "TotalNumRows", total);
  if (k < total) {
    snprintf(tok, sizeof(tok), "%d", k);
    cJSON_AddStringToObject(r, "NextToken", tok);
  }
  *out = r;

done:
  cJSON_Delete(subs);
  cJSON_Delete(owned);
  cJSON_Delete(page);
  return rc;
}

int sw__wh_parse_next_token(const char *next_token, long long *out,
                            sw_err *err)
{
  long long off = 0;
  const char *p;

  if (next_token && *next_token) {
    for (p = next_token; *p; p++) {
      if (*p < '0' || *p > '9' || off > 1000000000LL)
        return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                          "invalid NextToken \"%.64s\"", next_token);
      off = off * 10 + (*p - '0');
    }
  }
  *out = off;
  return 0;
}

char *sw__wh_sqls_json(char *const *sqls, size_t n)
{
  cJSON *a = cJSON_CreateArray();
  char *s;
  size_t i;

  for (i = 0; i < n; i++)
    cJSON_AddItemToArray(a, cJSON_CreateString(sqls[i]));
  s = sw_json_print(a);
  cJSON_Delete(a);
  return s;
}

char *sw__wh_params_json(char *const *names, char *const *values, size_t n)
{
  cJSON *a, *p;
  char *s;
  size_t i;

  if (n == 0)
    return NULL;
  a = cJSON_CreateArray();
  for (i = 0; i < n; i++) {
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "name", names[i]);
    cJSON_AddStringToObject(p, "value", values[i]);
    cJSON_AddItemToArray(a, p);
  }
  s = sw_json_print(a);
  cJSON_Delete(a);
  return s;
}

int sw__wh_load_request(const char *sqls_txt, const char *params_txt,
                        char ***sqls_out, size_t *n_sqls_out,
                        char ***names_out, char ***values_out,
                        size_t *n_params_out)
{
  cJSON *sqls = sqls_txt ? cJSON_Parse(sqls_txt) : NULL;
  cJSON *params = params_txt ? cJSON_Parse(params_txt) : NULL;
  cJSON *it;
  char **sv = NULL, **nv = NULL, **vv = NULL;
  size_t ns = 0, np = 0, n;
  int rc = -1;

  if (!cJSON_IsArray(sqls) || cJSON_GetArraySize(sqls) < 1 ||
      (params_txt && !cJSON_IsArray(params)))
    goto done;
  sv = sw_calloc((size_t)cJSON_GetArraySize(sqls), sizeof(char *));
  cJSON_ArrayForEach(it, sqls) {
    if (!cJSON_IsString(it))
      goto done;
    sv[ns++] = sw_strdup(it->valuestring);
  }
  n = params ? (size_t)cJSON_GetArraySize(params) : 0;
  nv = sw_calloc(n ? n : 1, sizeof(char *));
  vv = sw_calloc(n ? n : 1, sizeof(char *));
  cJSON_ArrayForEach(it, params) {
    const char *name = sw_json_get_str(it, "name");
    const char *value = sw_json_get_str(it, "value");
    if (!name || !value)
      goto done;
    nv[np] = sw_strdup(name);
    vv[np++] = sw_strdup(value);
  }
  *sqls_out = sv;
  *n_sqls_out = ns;
  *names_out = nv;
  *values_out = vv;
  *n_params_out = np;
  sv = nv = vv = NULL;
  rc = 0;

done:
  sw__wh_strv_free(sv, ns);
  sw__wh_strv_free(nv, np);
  sw__wh_strv_free(vv, np);
  cJSON_Delete(sqls);
  cJSON_Delete(params);
  return rc;
}

int sw__wh_quote_literal(sw_buf *b, const char *value, sw_err *err)
{
  const char *p;
  int rc;

  for (p = value; *p; p++)
    if (*p == '\\' || (unsigned char)*p < 0x20 || *p == 0x7f)
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "SQL literal '%.100s' holds a backslash or a "
                        "control character", value);
  rc = sw_buf_put(b, "'", 1, err);
  for (p = value; rc == 0 && *p; p++)
    rc = *p == '\'' ? sw_buf_put(b, "''", 2, err) : sw_buf_put(b, p, 1, err);
  if (rc == 0)
    rc = sw_buf_put(b, "'", 1, err);
  return rc;
}
