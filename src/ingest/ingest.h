/* SPDX-License-Identifier: MIT */
/* ingest: config-driven external file ingestion (upstream: the AWS sample
 * "redshift-external-file-process-framework", upstream-pipelines.md §4) as
 * stepwise built-in activities, chained by workflows/file_ingest.asl.json:
 *
 * Each activity takes the workflow's state as its parameters (no
 * Parameters block: {input: {file}, lookup, check, split, load, archived,
 * error}, members absent or {} before their step ran) and reads what it
 * needs; its result goes to the member named after it:
 *   stepwise.ingest.lookup   input.file -> lookup {file, name, size, key,
 *                            started_at, config}: runs sql/file_ingest/
 *                            setup[.postgres].sql (CREATE ... IF NOT
 *                            EXISTS), then finds the ONE active config row
 *                            of the file name (config: the row's columns as
 *                            strings, plus columns [{name, width}])
 *   stepwise.ingest.check    -> check {bytes, sha256, lines, data_lines,
 *                            trailer_count?}: size, type, header, trailer
 *   stepwise.ingest.split    -> split {dir, parts: [{file, name, prefix,
 *                            config}]}: one part file per record prefix
 *   stepwise.ingest.load     -> load {loaded, reason?, rows, tables:
 *                            [{table, rows}]}: the file, or split.parts
 *   stepwise.ingest.postload -> postload {statements}: the configs' query
 *                            texts, one batch (ClientToken: the token),
 *                            with :file_name and :interface_id bound
 *   stepwise.ingest.audit    -> audited {status}: the FAILED audit row for
 *                            error {Error, Cause}
 *   stepwise.ingest.archive  -> archived {archived_to}: into the interface's
 *                            folder, or error/ when `error` is set; removes
 *                            split.dir
 *   stepwise.ingest.notify   -> notified {notified: url|command|none}: the
 *                            notice {status SUCCEEDED|SKIPPED|FAILED, file,
 *                            name, interface_id, rows, error, cause,
 *                            archived_to}
 *
 * Settings: the INI file named by env STEPWISE_CONFIG (default
 * "stepwise.ini" in the working directory; a missing default file means
 * all defaults, a missing named file is Ingest.ConfigError), section
 * [ingest]: archive_dir (default "archive"), min_size_bytes (50),
 * work_dir (".stepwise/ingest", split parts), notify_url (HTTP POST of a
 * JSON document), notify_command (run by /bin/sh -c with INGEST_STATUS,
 * INGEST_FILE, INGEST_NAME, INGEST_INTERFACE_ID, INGEST_ROWS,
 * INGEST_ERROR, INGEST_CAUSE, INGEST_ARCHIVED_TO in its environment),
 * notify_timeout_ms (10000). `inbox` is read by `stepwise serve`.
 *
 * Decisions (where upstream is silent or defective, §4.7):
 * - Table names: PostgreSQL keeps schemas ("rdscnfg"."ext_file_config",
 *   "<tgt_schema_name>"."<tgt_table_name>"); SQLite has none and spells
 *   them "<schema>_<table>" (rdscnfg_ext_file_config). sql/file_ingest/
 *   setup.sql documents the tables.
 * - Lookup key: the file name up to its first '.', then its last
 *   '_'-separated token (PROD_20151015_150510973_PA_FLAVOR_527.txt ->
 *   "527"); the config row is the active one (config and interface
 *   oprtnl_flag 'A') whose file_prefix is exactly "<key>." (upstream:
 *   "contains", so "1527." matched "527"). None: Ingest.NoConfig; more
 *   than one: Ingest.AmbiguousConfig, naming the rows.
 * - Lines: '\n' ends a line, a final '\n' does not start another one, a
 *   '\r' before it is dropped, blank lines are ignored everywhere (like
 *   COPY's IGNOREBLANKLINES) and never counted. One line is one record
 *   (no quoted newlines). Line numbers in messages are physical lines of
 *   the (decompressed) file, from 1.
 * - Checks, in order: size on disk >= min_size_bytes (Ingest.TooSmall);
 *   the name's last extension equals file_type (Ingest.WrongFileType);
 *   with header_flag Y a first line with as many fields as columns
 *   (Ingest.NoHeader); with trailer_flag Y, trailer_pstn "start:end"
 *   (1-based, inclusive) of the last line holds the count of data lines
 *   (Ingest.TrailerMismatch; a trailer of 0 with no data lines is a valid
 *   empty delivery). Compressed input (gzip, bzip2, xz: whatever
 *   libarchive's filters read) is decompressed as a stream.
 * - Split (split_file_flag Y): split_prefix is a comma-separated list of
 *   record prefixes ([A-Za-z0-9]+); a data line belongs to the longest
 *   prefix it starts with; a line matching none is a bad row. Part P of
 *   "<stem>.<ext>[.gz]" is "<stem>-P.<ext>" (uncompressed), so its key is
 *   "<key>-P" and its config row has file_prefix "<key>-P.". Header and
 *   trailer stay with the parent. All parts load in ONE batch.
 * - Values are checked against the target column's declared type (SQLite:
 *   the declared type; PostgreSQL: format_type of the catalog) before
 *   anything is loaded: DATE (YYYY-MM-DD, YYYYMMDD or M/D/YYYY, stored as
 *   YYYY-MM-DD), TIMESTAMP (a date, then optionally HH:MM[:SS[.f]]),
 *   integer types (with range), NUMERIC(p,s) (at most p-s integer
 *   digits), REAL/DOUBLE, BOOLEAN, CHAR/VARCHAR(n) (at most n
 *   characters), NOT NULL; an empty field is NULL. Lines must be UTF-8
 *   without NUL bytes (upstream's ACCEPTINVCHARS replaced bad bytes with
 *   '?'; here the row is refused, with the byte's position). Delimited lines must
 *   have exactly one field per column; fixed-width lines exactly the sum
 *   of the widths in characters (values are trimmed). Bad rows are named
 *   "FILE:LINE: column NAME (N): why"; checking stops at the 10th; one
 *   bad row fails the whole file (Ingest.BadRow) and nothing is loaded.
 * - Load: every part is bulk-loaded (sw_warehouse_bulk_load) as CSV into a
 *   TEXT staging table "_ingest_stage_<token>_<attempt>_<n>" (named per
 *   attempt: the batch of a killed attempt may still be running on the
 *   server, reading its own staging); then ONE batch,
 *   submitted with the task's token as ClientToken, inserts staging into
 *   the target (cast to the column types, file_name stamped when the
 *   target has that column), writes the FINISHED audit rows and drops the
 *   staging tables. A resumed load reruns nothing that committed: the
 *   ClientToken returns the first batch, and the outcome is read back
 *   from the audit rows carrying the token. Once the token's batch is
 *   over, every staging table of the token is dropped (a failed load drops
 *   its own). redshift-data has no bulk load yet: Ingest.LoadFailed.
 * - The same file (name and SHA-256) with a FINISHED audit row for its
 *   target is not loaded again: load returns {loaded: false, reason:
 *   "already loaded"}; a race between two executions is stopped by a
 *   partial unique index (the loser fails with Ingest.LoadFailed).
 * - Archive: rename into <archive_dir>/<interface id>/ or
 *   <archive_dir>/error/ (copy and unlink across file systems); when the
 *   name is taken there, "-<first 12 hex of the token>" is appended (the
 *   same on a resume, which finds the file already moved).
 * - A failed file is fixed and delivered again (a new execution);
 *   redriving the failed execution finds it moved to archive/error/
 *   (Ingest.FileNotFound).
 * - Notifications are at least once: a resumed notify may send again.
 *   Any non-2xx answer or a command's non-zero exit is
 *   Ingest.NotifyFailed (the workflow retries it); after a successful
 *   load it fails the execution, with the data loaded, audited FINISHED
 *   and archived, so that on-call sees it.
 *
 * Errors (ASL names): Ingest.InvalidInput, Ingest.ConfigError,
 * Ingest.FileNotFound, Ingest.NoConfig, Ingest.AmbiguousConfig,
 * Ingest.TooSmall, Ingest.WrongFileType, Ingest.NoHeader,
 * Ingest.TrailerMismatch, Ingest.BadFile (unreadable or corrupt
 * compressed data), Ingest.BadRow, Ingest.LoadFailed,
 * Ingest.PostLoadFailed, Ingest.ArchiveFailed, Ingest.NotifyFailed.
 * All calls and callbacks on the loop thread. */
#ifndef SW_INGEST_H
#define SW_INGEST_H

#include <stdbool.h>

#include <uv.h>

#include "common/common.h"
#include "warehouse/warehouse.h"

typedef struct sw_ingest sw_ingest;
typedef struct sw_ingest_task sw_ingest_task;

/** Shared state of the activities. `wh` is borrowed and must outlive it;
 * `sql_dir` (copied) is where file_ingest/setup.sql is found. Never
 * fails. */
void sw_ingest_new(sw_ingest **out, uv_loop_t *loop, sw_warehouse *wh,
                   const char *sql_dir);
/** NULL-safe; no task may be live. */
void sw_ingest_free(sw_ingest *ig);

/** True when `activity` (the name after ":activity:") is one of ours. */
bool sw_ingest_handles(const char *activity);

/** Completion: success with `output` (the callee takes it) and error NULL,
 * or error/cause set (borrowed for the call) and output NULL. */
typedef void (*sw_ingest_done_cb)(cJSON *output, const char *error,
                                  const char *cause, void *payload);

/**
 * Start activity `activity` with its effective parameters (copied);
 * `token` is the engine's idempotency token (64 hex), the ClientToken of
 * every statement batch the activity submits. `done` runs exactly once,
 * never inside this call, unless the task is cancelled.
 * @return 0; SW_ENOTFOUND for an activity that is not ours.
 */
int sw_ingest_invoke(sw_ingest_task **out, sw_ingest *ig,
                     const char *activity, const cJSON *params,
                     const char *token, sw_ingest_done_cb done,
                     void *payload, sw_err *err);

/** Detach: `done` is never called; the work stops at its next step and
 * frees itself. */
void sw_ingest_cancel(sw_ingest_task *t);

#endif
