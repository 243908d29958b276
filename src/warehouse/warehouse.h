/* SPDX-License-Identifier: MIT */
/* warehouse: the statement service, with Redshift Data API semantics
 * whatever the driver behind it (DESIGN.md §5). submit returns an Id at
 * once; the statement runs in the background; describe reports its Status
 * (SUBMITTED, PICKED, STARTED, FINISHED, ABORTED, FAILED) and Error; result
 * returns its rows in GetStatementResult's shape; cancel aborts it.
 *
 * Durability (DESIGN.md §4.6): the service itself is durable. A statement
 * submitted with a ClientToken is recorded before its Id is reported; the
 * batch's own transaction writes its ledger row; a second submit with the
 * same ClientToken returns the first statement's Id and runs nothing. When
 * a service is opened again after the process died, a statement that was
 * recorded but whose batch never committed is run again (it never took
 * effect), and one whose batch committed is FINISHED.
 *
 * Drivers: "sqlite:PATH" (embedded default; statements run as libuv
 * thread-pool jobs); "postgresql://..." or "postgres://..." (a libpq
 * conninfo URL; asynchronous libpq on the loop, src/io). redshift-data
 * arrives with issue 4.
 * All calls and callbacks happen on the loop thread. */
#ifndef SW_WAREHOUSE_H
#define SW_WAREHOUSE_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "common/common.h"

typedef struct sw_warehouse sw_warehouse;

/**
 * Open the statement service named by `url` on `loop`.
 * @param url  "sqlite:PATH" (PATH relative to the current directory),
 *             "postgresql://USER@HOST:PORT/DB?..." (libpq conninfo URL;
 *             the server is reached, the registry table created and
 *             unfinished statements queued before this returns), or NULL
 *             for "sqlite:HOME/warehouse.db".
 * @param home the stepwise home directory (exists), e.g. ".stepwise".
 * @return 0; SW_EINVAL for an unknown scheme ("unknown warehouse URL scheme
 *         'x:' (expected sqlite:PATH, postgresql://..., redshift-data://...)")
 *         or a scheme not built yet; SW_EIO when the database cannot be
 *         opened. The caller closes it with sw_warehouse_close.
 */
int sw_warehouse_open(sw_warehouse **out, uv_loop_t *loop, const char *url,
                      const char *home, sw_err *err);

/** Close: cancels what is running (their callbacks still fire, with
 * SW_ECANCELED), waits for thread-pool jobs, frees everything. Call from
 * the loop thread; the loop must keep running until `cb` (may be NULL) is
 * called with `payload`. */
void sw_warehouse_close(sw_warehouse *wh, void (*cb)(void *payload),
                        void *payload);

/** One named parameter, as in the Data API's SqlParameter. */
typedef struct sw_wh_param {
  const char *name;  /* ^[0-9a-zA-Z_]+$, used as :name in SQL */
  const char *value; /* bound as text; SQL casts where it needs a type */
} sw_wh_param;

/** A statement or batch to run. All pointers borrowed during the call. */
typedef struct sw_wh_submit {
  const char *const *sqls;   /* 1..40 SQL texts; each may hold several
                                statements separated by ';' (sqlite runs
                                them in order) */
  size_t n_sqls;
  bool batch;                /* BatchExecuteStatement (sub-statements) */
  const sw_wh_param *params; /* may be NULL */
  size_t n_params;
  const char *client_token;  /* 1..64 chars, or NULL */
  const char *statement_name;/* may be NULL */
  const char *database;      /* echoed back; may be NULL */
} sw_wh_submit;

/** Completion of a submit: on success `id` is the statement Id (borrowed
 * for the call), err NULL. On failure err->code is SW_EINVAL (a Data API
 * ValidationException: bad parameters, too many statements), SW_EAGAIN
 * (throttled/transient) or SW_EIO. */
typedef void (*sw_wh_submit_cb)(const sw_err *err, const char *id,
                                void *payload);

/** Completion carrying a Data API response body as JSON (owned by the
 * callback, which must cJSON_Delete it). err NULL on success; otherwise
 * SW_ENOTFOUND (ResourceNotFoundException), SW_EINVAL (Validation...). */
typedef void (*sw_wh_json_cb)(const sw_err *err, cJSON *response,
                              void *payload);

/** ExecuteStatement / BatchExecuteStatement. The callback is called exactly
 * once unless this returns < 0. */
int sw_warehouse_submit(sw_warehouse *wh, const sw_wh_submit *req,
                        sw_wh_submit_cb cb, void *payload, sw_err *err);

/** DescribeStatement: {Id, Status, Error?, CreatedAt, UpdatedAt, Duration,
 * HasResultSet, ResultRows, ResultSize, QueryString, SubStatements?...}.
 * `id` may be a sub-statement Id "<Id>:<n>". */
int sw_warehouse_describe(sw_warehouse *wh, const char *id, sw_wh_json_cb cb,
                          void *payload, sw_err *err);

/** GetStatementResult: {Records: [[Field...]...], ColumnMetadata: [...],
 * TotalNumRows} where a Field is {"stringValue": s} | {"longValue": n} |
 * {"doubleValue": d} | {"isNull": true} | {"blobValue": base64}. */
int sw_warehouse_result(sw_warehouse *wh, const char *id,
                        const char *next_token, sw_wh_json_cb cb,
                        void *payload, sw_err *err);

/** CancelStatement: {"Status": true} when it was running and is now
 * ABORTED; SW_EINVAL when it is not running. */
int sw_warehouse_cancel(sw_warehouse *wh, const char *id, sw_wh_json_cb cb,
                        void *payload, sw_err *err);

/** Reads the next bytes of a bulk load's CSV into buf (at most cap
 * bytes): *n_out = 0 at the end. Return 0, or < 0 with err set to fail the
 * load. Called on a thread-pool thread, one call at a time, never
 * concurrently with another call for the same load; it may block (file
 * reads). */
typedef int (*sw_wh_read_fn)(void *payload, char *buf, size_t cap,
                             size_t *n_out, sw_err *err);

/** A bulk load: CSV text (RFC 4180, UTF-8, ',' separated, '"' quoted)
 * into `columns` of `table`. An empty unquoted field is NULL; a quoted
 * empty field ("") is the empty string. All pointers borrowed until the
 * callback runs. */
typedef struct sw_wh_bulk_load {
  const char *table;            /* table name, quoted as one identifier */
  const char *const *columns;   /* 1..1600 column names, in CSV order */
  size_t n_columns;
  bool header;                  /* the first record is a header: skipped */
  sw_wh_read_fn read;           /* producer of the CSV bytes */
  void *read_payload;
} sw_wh_bulk_load;

/** Bulk-load completion: err NULL and `rows` loaded, or err set (SW_EINVAL
 * for malformed CSV or a row of the wrong width, SW_EREMOTE/SW_EIO for the
 * database's refusal, the reader's own error, SW_ECANCELED on close). */
typedef void (*sw_wh_load_cb)(const sw_err *err, long long rows,
                              void *payload);

/**
 * Load CSV rows into a table in ONE transaction: all rows or none.
 * postgres: COPY table (columns) FROM STDIN (FORMAT csv), fed with
 * back-pressure (the next read starts only when the server took the last
 * chunk). sqlite: batched prepared INSERTs in one transaction on the
 * thread pool, the CSV parsed by libcsv. redshift-data: the CSV is staged
 * to the URL's s3_staging location and loaded with COPY ... FROM 's3://...'
 * IAM_ROLE '...' FORMAT AS CSV through ExecuteStatement, then the object is
 * deleted (wh_redshift_data.c; SW_EINVAL without s3_staging and iam_role).
 * Not a Data API call: no Id, no
 * registry row; a workflow that needs exactly-once loads records the load
 * in the same table (or loads into staging and merges with a statement).
 * @return 0 and cb is called exactly once; < 0 (cb never called) with
 *         SW_EINVAL for a bad request or a driver without bulk load.
 */
int sw_warehouse_bulk_load(sw_warehouse *wh, const sw_wh_bulk_load *req,
                           sw_wh_load_cb cb, void *payload, sw_err *err);

/** The driver's name: "sqlite", "postgres", ... (static). */
const char *sw_warehouse_driver(const sw_warehouse *wh);

/** Append `name` to b as a double-quoted SQL identifier ("" doubles a
 * quote; every driver's dialect reads it: PostgreSQL, SQLite, Redshift),
 * for modules that build SQL for the service. It is the warehouse's one
 * audited identifier quoting function (DESIGN.md §2).
 * @return 0; SW_EINVAL for an empty or NULL name; SW_ELIMIT past b->max. */
int sw_warehouse_quote_ident(sw_buf *b, const char *name, sw_err *err);

#endif
