/* SPDX-License-Identifier: MIT */
/* controlshift: ControlShift bulk-data exports as stepwise built-in
 * activities (shared/reference/notes/upstream-pipelines.md §3), chained by
 * workflows/controlshift_bulk_data.asl.json:
 *   stepwise.controlshift.download  GET data.url (a presigned S3 URL) into
 *                                   <work_dir>/<jid>/<file>, streamed
 *   stepwise.controlshift.schema    GET <instance_url>/api/bulk_data/
 *                                   schema.json; create the table or add
 *                                   the columns that appeared
 *   stepwise.controlshift.load      decompress (libarchive: bzip2, gzip or
 *                                   none), bulk load into a staging table,
 *                                   then ONE batch: full = swap, incremental
 *                                   = append new ids; plus the history row
 *
 * Parameters (every activity): {"type": "data.full_table_exported" |
 * "data.incremental_table_exported", "jid", "table"}; download adds "url";
 * load adds "path" and "file" (download's output). The table name must be
 * [a-z_][a-z0-9_]* (at most 63 characters with the prefix).
 *
 * Configuration: the INI file named by env STEPWISE_CONFIG (default
 * ./stepwise.ini), section [controlshift]: instance_url (base of the
 * schema API, required by the schema step), work_dir (downloads, default
 * .stepwise/controlshift), table_prefix (prepended to every table name),
 * schema (PostgreSQL/Redshift schema of the tables; ignored by sqlite),
 * download_timeout_s (whole transfer, default 3600), keep_files (true:
 * keep a download after its load SUCCEEDED; default false: the load
 * removes it, a failed load keeps it for a resume). webhook_secret is
 * read by `stepwise serve`, never here. Read with libinih on the thread
 * pool for each task.
 *
 * Bookkeeping, in the warehouse so it commits with the data:
 *   controlshift_loads(jid, table_name, kind, file, rows, file_rows,
 *     status, error, started_at, finished_at) -- one row per load;
 *   a unique index on (jid, table_name, kind) WHERE status = 'SUCCEEDED'.
 * `file` is the URL without its query string: the signature is a
 * credential and never reaches the warehouse, the task output, an error
 * cause or a log line. (The execution input is the webhook payload as
 * ControlShift posts it, URL included; that is the caller's to keep.)
 *
 * Decisions where the brief is silent:
 * - Exactly once. A delivery is (jid, table, kind). download and load first
 *   look it up in controlshift_loads; SUCCEEDED means nothing is fetched
 *   or loaded again ({"loaded": false, "reason": "already loaded"}), so a
 *   re-sent webhook whose URL has expired still ends well. The apply batch
 *   is submitted with the task's idempotency token as ClientToken and
 *   inserts the history row first, so a concurrent second load of the same
 *   delivery fails on the unique index and is reported as already loaded.
 *   Before staging, load asks the statement registry (stepwise_statements)
 *   whether a batch with its token exists (a crash after submit): then it
 *   only waits for that batch instead of staging again.
 * - Full = swap: staging is created with the target's columns and types
 *   (plus header columns the table lacks), the file is bulk loaded into it
 *   (COPY on postgres), then DROP table; ALTER TABLE staging RENAME TO
 *   table in one transaction. Readers see the old rows or the new ones.
 *   Indexes, grants and views on the table are not carried over; a view
 *   that depends on it makes the DROP fail, the load FAILS and the old
 *   table stays.
 * - Incremental = append rows whose id is not in the table; within one
 *   file the first row of an id wins (ControlShift sends only new rows,
 *   so a repeated id is a redelivery, not an update).
 * - Columns are mapped by the CSV header; header columns missing from the
 *   table are added (type text) in the same batch; table columns missing
 *   from the header stay NULL. Existing column types are never changed.
 * - sqlite stores booleans as 0/1 (ControlShift writes t/f or
 *   true/false), timestamps as ISO text.
 * - redshift-data: the schema step works (Redshift types of §3.7); load
 *   fails with ControlShift.ConfigError because the Data API has no bulk
 *   load from a local stream (COPY from S3 is not built).
 *
 * Errors (ASL names): ControlShift.InvalidInput (payload), .ConfigError,
 * .UrlExpired (HTTP 403 on the download: the presigned URL is older than
 * 6 h), .DownloadFailed (other 4xx), .Transient (5xx, 429, connection,
 * timeout, warehouse throttling: the workflow retries), .SchemaError (bad
 * or missing schema.json entry), .NoTable (load before schema),
 * .BadExport (not bzip2/gzip/CSV, bad CSV, bad header, a value the column
 * type refuses), .LoadFailed (the warehouse refused).
 * All calls and callbacks on the loop thread. */
#ifndef SW_CONTROLSHIFT_H
#define SW_CONTROLSHIFT_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "common/common.h"
#include "warehouse/warehouse.h"

typedef struct sw_controlshift sw_controlshift;
typedef struct sw_cs_task sw_cs_task;

/** Shared state of the activities. `wh` is borrowed and must outlive it.
 * Never fails. */
void sw_controlshift_new(sw_controlshift **out, uv_loop_t *loop,
                         sw_warehouse *wh);
/** NULL-safe; no task may be live. Synchronous. */
void sw_controlshift_free(sw_controlshift *cs);

/** True when `activity` (the name after ":activity:") is one of ours. */
bool sw_controlshift_handles(const char *activity);

/** Completion: success with `output` (the callee takes it) and error NULL,
 * or error/cause set (borrowed for the call) and output NULL. */
typedef void (*sw_cs_done_cb)(cJSON *output, const char *error,
                              const char *cause, void *payload);

/**
 * Start activity `activity` with its effective parameters; `token` is the
 * engine's idempotency token (64 hex). `done` runs exactly once, never
 * inside this call, unless the task is cancelled.
 * @return 0; SW_ENOTFOUND for an activity that is not ours.
 */
int sw_controlshift_invoke(sw_cs_task **out, sw_controlshift *cs,
                           const char *activity, const cJSON *params,
                           const char *token, sw_cs_done_cb done,
                           void *payload, sw_err *err);

/** Detach: `done` is never called; the work stops at its next step and
 * the task frees itself. */
void sw_controlshift_cancel(sw_cs_task *t);

/**
 * The column type for one column of ControlShift's bulk-data schema
 * (schema.json: {"type": Rails type, "sql_type": PostgreSQL type}) on
 * warehouse driver `driver` ("sqlite", "postgres", "redshift-data").
 * sql_type wins; `type` is used when sql_type is absent. Redshift follows
 * create_tables.rb (upstream-pipelines.md §3.7): enum, hstore, json,
 * jsonb, text, varchar -> CHARACTER VARYING(max); uuid -> CHAR(36);
 * datetime -> TIMESTAMP WITHOUT TIME ZONE; geography(...) -> GEOGRAPHY.
 * postgres keeps the PostgreSQL type where it is a core type (integer,
 * bigint, smallint, boolean, numeric(p,s), double precision, real, date,
 * time, timestamp[(p)] with/without time zone, uuid) and text otherwise
 * (hstore, json, geography and unknown types load as text). sqlite:
 * INTEGER, BOOLEAN (0/1), NUMERIC, REAL or TEXT.
 * @param out  receives a NUL-terminated type (at most cap bytes; 64 is
 *             always enough). Pure; any thread.
 */
void sw_controlshift_column_type(char *out, size_t cap, const char *driver,
                                 const char *sql_type, const char *type);

#endif
