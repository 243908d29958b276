/* SPDX-License-Identifier: MIT */
/* warehouse front end: picks the driver from the URL scheme and checks
 * every request against the Data API's input constraints before a driver
 * sees it, so all drivers reject bad input with the same messages. */
#include "warehouse/warehouse.h"

#include <stdio.h>
#include <string.h>

#include "warehouse/warehouse_int.h"

struct sw_warehouse {
  const sw_wh_driver_ops *ops; /* static driver table */
  void *impl;                  /* the driver's object; owned */
};

int sw_warehouse_open(sw_warehouse **out, uv_loop_t *loop, const char *url,
                      const char *home, sw_err *err)
{
  sw_warehouse *wh = NULL;
  char *def = NULL;
  const char *target;
  const char *colon;
  const sw_wh_driver_ops *ops = &sw__wh_sqlite_ops;
  int rc;

  *out = NULL;
  if (!url) {
    def = sw_asprintf("sqlite:%s/warehouse.db", home ? home : ".");
    url = def;
  }
  if (!strncmp(url, "sqlite:", 7)) {
    target = url + 7;
    if (!*target) {
      rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "warehouse URL 'sqlite:' needs a path (sqlite:PATH)");
      goto done;
    }
  } else if (!strncmp(url, "postgresql://", 13) ||
             !strncmp(url, "postgres://", 11)) {
    ops = &sw__wh_postgres_ops;
    target = url; /* libpq parses the whole URL */
  } else if (!strncmp(url, "redshift-data://", 16)) {
    ops = &sw__wh_redshift_data_ops;
    target = url + 16;
  } else {
    colon = strchr(url, ':');
    rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                    "unknown warehouse URL scheme '%.*s:' (expected "
                    "sqlite:PATH, postgresql://..., redshift-data://...)",
                    colon ? (int)(colon - url) : (int)strlen(url), url);
    goto done;
  }

  wh = sw_calloc(1, sizeof(*wh));
  wh->ops = ops;
  rc = wh->ops->open(&wh->impl, loop, target, err);
  if (rc < 0)
    goto done;
  *out = wh;
  wh = NULL;

done:
  sw_free(wh);
  sw_free(def);
  return rc;
}

void sw_warehouse_close(sw_warehouse *wh, void (*cb)(void *payload),
                        void *payload)
{
  const sw_wh_driver_ops *ops;
  void *impl;

  if (!wh) {
    if (cb)
      cb(payload);
    return;
  }
  ops = wh->ops;
  impl = wh->impl;
  /* The front object holds nothing the driver's close needs, so it goes
   * now; the driver calls cb once its own jobs have drained. */
  sw_free(wh);
  ops->close(impl, cb, payload);
}

const char *sw_warehouse_driver(const sw_warehouse *wh)
{
  return wh->ops->name;
}

int sw_warehouse_quote_ident(sw_buf *b, const char *name, sw_err *err)
{
  return sw__wh_quote_ident(b, name, err);
}

static bool valid_param_name(const char *s)
{
  if (!s || !*s)
    return false;
  for (; *s; s++) {
    char c = *s;
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
          (c >= 'A' && c <= 'Z') || c == '_'))
      return false;
  }
  return true;
}

/* Data API constraints (service-2.json): Sqls 1..40, statement size
 * 100 KB, SqlParameter name ^[0-9a-zA-Z_]+$ and value min 1, ClientToken
 * 1..64, StatementName 0..2048. */
static int validate_submit(const sw_wh_submit *req, sw_err *err)
{
  size_t i, len;

  if (!req->sqls || req->n_sqls < 1 ||
      (!req->batch && req->n_sqls != 1))
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "1 validation error detected: Value null at '%s' "
                      "failed to satisfy constraint: Member must not be null",
                      req->batch ? "Sqls" : "Sql");
  if (req->n_sqls > SW_WH_MAX_SQLS)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "1 validation error detected: Value at 'Sqls' failed "
                      "to satisfy constraint: Member must have length less "
                      "than or equal to %d (got %zu statements)",
                      SW_WH_MAX_SQLS, req->n_sqls);
  for (i = 0; i < req->n_sqls; i++) {
    if (!req->sqls[i])
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "1 validation error detected: Value null at "
                        "'Sqls.%zu' failed to satisfy constraint: Member "
                        "must not be null", i + 1);
    len = strlen(req->sqls[i]);
    if (len > SW_WH_MAX_SQL_BYTES)
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "the SQL statement%s is %zu bytes; the maximum "
                        "statement size is 100 KB",
                        req->batch ? " in Sqls" : "", len);
  }
  for (i = 0; i < req->n_params; i++) {
    if (!valid_param_name(req->params[i].name))
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "1 validation error detected: Value '%s' at "
                        "'Parameters.%zu.member.name' failed to satisfy "
                        "constraint: Member must satisfy regular expression "
                        "pattern: ^[0-9a-zA-Z_]+$",
                        req->params[i].name ? req->params[i].name : "null",
                        i + 1);
    if (!req->params[i].value || !*req->params[i].value)
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "1 validation error detected: Value at "
                        "'Parameters.%zu.member.value' failed to satisfy "
                        "constraint: Member must have length greater than "
                        "or equal to 1", i + 1);
  }
  if (req->client_token) {
    len = strlen(req->client_token);
    if (len < 1 || len > SW_WH_MAX_TOKEN)
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "1 validation error detected: Value at "
                        "'ClientToken' failed to satisfy constraint: Member "
                        "must have length between 1 and %d",
                        SW_WH_MAX_TOKEN);
  }
  if (req->statement_name && strlen(req->statement_name) > SW_WH_MAX_NAME)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "1 validation error detected: Value at "
                      "'StatementName' failed to satisfy constraint: Member "
                      "must have length less than or equal to %d",
                      SW_WH_MAX_NAME);
  return 0;
}

int sw__wh_parse_id(const char *id, char *base, int *sub, sw_err *err)
{
  /* UUID pattern of the model: [a-z0-9]{8}(-[a-z0-9]{4}){3}-[a-z0-9]{12}
   * (:\d{0,2})? */
  static const int groups[] = {8, 4, 4, 4, 12};
  const char *p = id;
  size_t g;
  int i, n = 0, digits = 0;

  if (!id)
    goto bad;
  for (g = 0; g < SW_ARRAY_SIZE(groups); g++) {
    if (g > 0 && *p++ != '-')
      goto bad;
    for (i = 0; i < groups[g]; i++, p++)
      if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
        goto bad;
  }
  memcpy(base, id, (size_t)(p - id));
  base[p - id] = '\0';
  if (*p == ':') {
    for (p++; *p >= '0' && *p <= '9' && digits < 2; p++, digits++)
      n = n * 10 + (*p - '0');
    if (digits == 0 || n == 0)
      goto bad;
  }
  if (*p)
    goto bad;
  *sub = n;
  return 0;

bad:
  return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                    "1 validation error detected: Value '%.80s' at 'Id' "
                    "failed to satisfy constraint: Member must satisfy "
                    "regular expression pattern: "
                    "[a-z0-9]{8}(-[a-z0-9]{4}){3}-[a-z0-9]{12}(:\\d{0,2})?",
                    id ? id : "null");
}

int sw_warehouse_submit(sw_warehouse *wh, const sw_wh_submit *req,
                        sw_wh_submit_cb cb, void *payload, sw_err *err)
{
  int rc = validate_submit(req, err);

  if (rc < 0)
    return rc;
  return wh->ops->submit(wh->impl, req, cb, payload, err);
}

int sw_warehouse_describe(sw_warehouse *wh, const char *id, sw_wh_json_cb cb,
                          void *payload, sw_err *err)
{
  char base[SW_WH_ID_MAX];
  int sub, rc = sw__wh_parse_id(id, base, &sub, err);

  if (rc < 0)
    return rc;
  return wh->ops->describe(wh->impl, id, cb, payload, err);
}

int sw_warehouse_result(sw_warehouse *wh, const char *id,
                        const char *next_token, sw_wh_json_cb cb,
                        void *payload, sw_err *err)
{
  char base[SW_WH_ID_MAX];
  int sub, rc = sw__wh_parse_id(id, base, &sub, err);

  if (rc < 0)
    return rc;
  return wh->ops->result(wh->impl, id, next_token, cb, payload, err);
}

int sw_warehouse_cancel(sw_warehouse *wh, const char *id, sw_wh_json_cb cb,
                        void *payload, sw_err *err)
{
  char base[SW_WH_ID_MAX];
  int sub, rc = sw__wh_parse_id(id, base, &sub, err);

  if (rc < 0)
    return rc;
  return wh->ops->cancel(wh->impl, id, cb, payload, err);
}

int sw_warehouse_bulk_load(sw_warehouse *wh, const sw_wh_bulk_load *req,
                           sw_wh_load_cb cb, void *payload, sw_err *err)
{
  size_t i;

  if (!req->table || !*req->table || !req->read || req->n_columns < 1 ||
      req->n_columns > 1600 || !req->columns)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "bulk load needs a table, 1..1600 columns and a "
                      "reader");
  for (i = 0; i < req->n_columns; i++)
    if (!req->columns[i] || !*req->columns[i])
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "bulk load: column %zu has no name", i + 1);
  if (!wh->ops->bulk_load)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "the %s warehouse driver cannot bulk load",
                      wh->ops->name);
  return wh->ops->bulk_load(wh->impl, req, cb, payload, err);
}
