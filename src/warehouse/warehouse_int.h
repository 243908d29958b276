/* SPDX-License-Identifier: MIT */
/* warehouse internals: the driver ops table every statement service
 * implements, and the limits the front end (warehouse.c) checks before a
 * request reaches a driver, so every driver answers bad input the same way
 * the Data API does (ValidationException -> SW_EINVAL). */
#ifndef SW_WAREHOUSE_INT_H
#define SW_WAREHOUSE_INT_H

#include <stdint.h>

#include "warehouse/warehouse.h"

#define SW_WH_OPS_VERSION 1

#define SW_WH_MAX_SQLS 40             /* BatchExecuteStatement Sqls max */
#define SW_WH_MAX_SQL_BYTES (100 * 1024) /* Data API statement size: 100 KB */
#define SW_WH_MAX_TOKEN 64            /* ClientToken 1..64 chars */
#define SW_WH_MAX_NAME 2048           /* StatementName 0..2048 chars */
#define SW_WH_ID_MAX 48               /* "<uuid>:<nn>" plus NUL, rounded up */

/** A statement service. `impl` is the driver's own object, created by
 * open and freed by close (after which the driver calls cb(payload)). All
 * functions are called on the loop thread; the front end has validated the
 * request (see warehouse.c) before submit/describe/result/cancel run. */
typedef struct sw_wh_driver_ops {
  unsigned version; /* SW_WH_OPS_VERSION */
  const char *name; /* "sqlite", ... (static) */
  int (*open)(void **impl_out, uv_loop_t *loop, const char *target,
              sw_err *err);
  void (*close)(void *impl, void (*cb)(void *payload), void *payload);
  int (*submit)(void *impl, const sw_wh_submit *req, sw_wh_submit_cb cb,
                void *payload, sw_err *err);
  int (*describe)(void *impl, const char *id, sw_wh_json_cb cb,
                  void *payload, sw_err *err);
  int (*result)(void *impl, const char *id, const char *next_token,
                sw_wh_json_cb cb, void *payload, sw_err *err);
  int (*cancel)(void *impl, const char *id, sw_wh_json_cb cb, void *payload,
                sw_err *err);
  /* May be NULL: the driver cannot bulk load (SW_EINVAL at the front). */
  int (*bulk_load)(void *impl, const sw_wh_bulk_load *req,
                   sw_wh_load_cb cb, void *payload, sw_err *err);
} sw_wh_driver_ops;

/* The embedded driver (wh_sqlite.c); `target` is the database path. */
extern const sw_wh_driver_ops sw__wh_sqlite_ops;
/* The PostgreSQL driver (wh_postgres.c); `target` is the whole libpq
 * conninfo URL ("postgresql://..."). */
extern const sw_wh_driver_ops sw__wh_postgres_ops;
/* The Data API driver (wh_redshift_data.c); `target` is the URL after
 * "redshift-data://". */
extern const sw_wh_driver_ops sw__wh_redshift_data_ops;

#define SW_WH_RESULT_MAX_ROWS 10000          /* rows kept per result set */
#define SW_WH_RESULT_MAX_BYTES (16u << 20)   /* estimated bytes kept */
#define SW_WH_PAGE_ROWS 1000                 /* GetStatementResult page */

/* ---- SQL text (sql_split.c) ------------------------------------------ */

/** Split an SQL script into its statements at top-level ';'. Quoting is
 * PostgreSQL's: '...' strings ('' escapes; E'...' also \ escapes), "..."
 * identifiers, -- line and nested slash-star comments, $tag$ ... $tag$
 * dollar quotes; a ';' inside any of them does not split. Each statement
 * is returned without its ';', without leading blanks and comments, and
 * without trailing blanks; statements that are empty after that (";;", a
 * comment alone) are dropped.
 * @param[out] out   array of *n_out statements (NUL-terminated strings);
 *                   the caller frees it with sw__wh_strv_free(*out, *n_out).
 *                   NULL when there are none.
 * @return 0; SW_EINVAL for an unterminated string, identifier, comment or
 *         dollar quote ("unterminated string literal starting at line 3").
 * Pure: any thread. */
int sw__wh_sql_split(const char *script, char ***out, size_t *n_out,
                     sw_err *err);

/** Rewrite the Data API's named parameters (:name) in ONE statement into
 * PostgreSQL's positional $1..$n, skipping strings, identifiers, comments,
 * dollar quotes, the :: cast, array slices (a[1:2]) and :=. Every
 * occurrence gets its own number, so that the server infers each one's
 * type from its own context (":d" compared with a DATE and concatenated
 * with text would otherwise be "inconsistent types deduced").
 * @param[out] sql_out  the rewritten SQL; the caller frees it (sw_free).
 * @param[out] idx_out  *n_out entries: $k takes names[idx_out[k-1]]; the
 *                      caller frees it (sw_free); NULL when n_out is 0.
 * @return 0; SW_EINVAL when a :name has no entry in names[] ("no value
 *         given for parameter \":x\"") or the text has an unterminated
 *         quote. */
int sw__wh_sql_bind_names(const char *sql, const char *const *names,
                          size_t n_names, char **sql_out, size_t **idx_out,
                          size_t *n_out, sw_err *err);

/** Append `name` as a double-quoted SQL identifier ("" doubles a quote).
 * The one audited identifier quoting function (DESIGN.md §2). SW_EINVAL
 * for an empty name; SW_ELIMIT past b->max. */
int sw__wh_quote_ident(sw_buf *b, const char *name, sw_err *err);

/** Append `value` as a single-quoted SQL string literal ('' doubles a
 * quote), for the few places no parameter can be bound (Redshift's COPY
 * takes its FROM and IAM_ROLE as literals). The one audited literal
 * escaping function (DESIGN.md §2). A backslash or a control character is
 * refused (SW_EINVAL) rather than escaped: Redshift reads \ as an escape
 * in literals, PostgreSQL does not, so no one spelling is right for both;
 * S3 URLs and role ARNs never need them. SW_ELIMIT past b->max. */
int sw__wh_quote_literal(sw_buf *b, const char *value, sw_err *err);

/** Free an array of n strings (NULL-safe). */
void sw__wh_strv_free(char **v, size_t n);

/* ---- the registry row, shared by sqlite and postgres (wh_common.c) --- */

/** A stepwise_statements row as both drivers store it (all borrowed). */
typedef struct sw_wh_row {
  const char *id;
  const char *database;  /* or NULL */
  const char *sqls;      /* JSON array of SQL texts */
  const char *params;    /* JSON [{name, value}] or NULL */
  const char *status;
  const char *error;     /* or NULL */
  const char *subs;      /* JSON SubStatements of a run batch, or NULL */
  const char *result;    /* JSON {ColumnMetadata, Records}, or NULL */
  bool is_batch;
  bool has_rs;
  int64_t created_ms, updated_ms; /* epoch ms */
  int64_t duration_ns, rows, size;
} sw_wh_row;

/** What one entry of a batch did (kept in SubStatements). */
typedef struct sw_wh_sub {
  const char *status;    /* static */
  char *error;           /* owned by the driver */
  uint64_t duration_ns;
  int64_t created_ms, updated_ms;
  long long rows;        /* rows of the result set, or rows changed */
  bool has_rs;           /* some statement returned a result set */
  cJSON *result;         /* {ColumnMetadata, Records} of the last one */
  size_t result_bytes;   /* estimate counted in the run's budget */
} sw_wh_sub;

cJSON *sw__wh_json_iso(int64_t ms);
/** SubStatements entry "<id>:<i+1>"; with_result keeps "_result" (stored
 * in the registry, stripped from responses). */
cJSON *sw__wh_sub_json(const char *id, size_t i, const char *query,
                       const sw_wh_sub *so, bool with_result);
/** DescribeStatement response for `id` (the Id or "<Id>:<n>") from its
 * row; *out owned by the caller. SW_ENOTFOUND for a missing sub. */
int sw__wh_describe_json(const sw_wh_row *row, const char *id, cJSON **out,
                         sw_err *err);
/** GetStatementResult page at `offset`; SW_EINVAL when not FINISHED or
 * without a result set. */
int sw__wh_result_json(const sw_wh_row *row, const char *id,
                       long long offset, cJSON **out, sw_err *err);
/** NextToken (a decimal record offset) to a number; "" and NULL give 0. */
int sw__wh_parse_next_token(const char *next_token, long long *out,
                            sw_err *err);
/** Registry encodings of a request: sqls as a JSON array, params as JSON
 * [{name, value}] (NULL when n is 0). Caller frees (sw_free). */
char *sw__wh_sqls_json(char *const *sqls, size_t n);
char *sw__wh_params_json(char *const *names, char *const *values, size_t n);
/** Decode a registry row's sqls/params back into owned arrays (free with
 * sw__wh_strv_free). -1 when the JSON is unreadable. */
int sw__wh_load_request(const char *sqls_txt, const char *params_txt,
                        char ***sqls_out, size_t *n_sqls_out,
                        char ***names_out, char ***values_out,
                        size_t *n_params_out);

/** Split a statement Id into its base Id and sub-statement number:
 * "<uuid>" gives sub 0, "<uuid>:2" gives sub 2. SW_EINVAL (with the Data
 * API's pattern message) for anything else. base must hold SW_WH_ID_MAX. */
int sw__wh_parse_id(const char *id, char *base, int *sub, sw_err *err);

#endif
