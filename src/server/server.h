/* SPDX-License-Identifier: MIT */
/* server: `stepwise serve`, the event front door (issue 7). One process on
 * one libuv loop that starts executions from events and keeps running the
 * executions it started; on start it resumes the ones a previous process
 * left RUNNING.
 *
 * HTTP. libmicrohttpd in its external-polling epoll mode, driven by this
 * loop: the daemon's epoll descriptor is watched with uv_poll and its
 * timeout with a uv_timer, so requests are handled on the loop thread next
 * to the engine (no locks, no hand-written HTTP parsing). Listens on
 * 127.0.0.1 unless told otherwise.
 *   POST /hooks/controlshift  ControlShift bulk-data webhook
 *   POST /hooks/s3            S3 event notification (or its EventBridge
 *                             "Object Created" form)
 *   GET  /health              {"status": "ok", ...}
 *   GET  /metrics             Prometheus text: events by source and
 *                             outcome, executions by workflow and status
 *
 * Acknowledgement. A webhook is answered 2xx only after its event is
 * committed to HOME/serve.db (srv_queue.c) under the name its execution
 * will have, with the payload that becomes the execution input, so an
 * acknowledged event is on disk and is never lost; a crash before that
 * commit gets no 2xx and the sender retries. The events read in one loop
 * turn share that commit. The execution starts when its group is idle:
 * the loads of one ControlShift table run one at a time, in the order
 * acknowledged. The execution name is derived from the event's identity
 * (ControlShift: type, table, jid and the file's URL without its query
 * string; S3: bucket, key and sequencer or ETag; inbox: path, size and
 * mtime), so the same delivery twice finds the name taken and starts
 * nothing new (answered 200 {"status": "duplicate"}).
 *
 * Signatures. With a ControlShift secret configured, the header
 * x-controlshift-webhook-signature must be "sha256:" + hex
 * HMAC-SHA256(secret, raw body), compared in constant time over the raw
 * bytes; otherwise 401 and nothing starts. Without a secret every
 * well-formed webhook is accepted (a warning is logged at start). The
 * secret never reaches logs, history or the store.
 *
 * Event types. data.full_table_exported and data.incremental_table_exported
 * start workflows/controlshift_bulk_data; any other ControlShift type is
 * answered 200 {"status": "skipped"} (as upstream) without an execution.
 * Every S3 ObjectCreated:* record (not only Put: multipart uploads end in
 * CompleteMultipartUpload) and every file that settles in the inbox start
 * workflows/file_ingest with input {"file": PATH}; for S3, {"s3": {bucket,
 * key, size, etag}, "file": S3DIR/BUCKET/KEY}, and the workflow fetches
 * the object there first (stepwise.objects.get).
 *
 * Inbox. A directory watched with uv_fs_event, rescanned every settle_ms
 * (events can be missed and a writer may still be writing): a regular
 * file whose name does not start with '.' is taken once its size and
 * mtime have not changed between two scans. Files present at start are
 * taken too (they arrived while no server ran).
 *
 * Concurrency. A server holds HOME/locks/serve while it runs (a second
 * server on the same home is refused) and owns the executions of the
 * served workflows: `stepwise resume` refuses them while it runs (no lock
 * file per new execution: creating one per webhook cost more than the
 * webhook). On start it resumes the RUNNING executions of the served
 * workflows, skipping any that a `stepwise resume` started before it
 * holds (HOME/locks/ID); it holds those locks while it runs them.
 *
 * All calls and callbacks on the loop thread. */
#ifndef SW_SERVER_H
#define SW_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "common/common.h"

typedef struct sw_server sw_server;

/** Settings; pointers borrowed during sw_server_new only. */
typedef struct sw_server_opts {
  const char *host;          /* listen address (IPv4) ["127.0.0.1"] */
  int port;                  /* TCP port; 0 = a free one [0] */
  const char *home;          /* state directory (state.db, locks/) */
  const char *workflows_dir; /* where controlshift_bulk_data.asl.json and
                                file_ingest.asl.json are read */
  const char *sql_dir;       /* scripts for stepwise.sql.* */
  const char *warehouse;     /* warehouse URL, NULL = embedded sqlite */
  const char *controlshift_secret; /* webhook secret, NULL = unchecked */
  const char *inbox;         /* directory to watch, NULL = none */
  const char *s3_dir;        /* where S3 objects are fetched to, as
                                DIR/BUCKET/KEY [HOME/s3, absolute] */
  size_t max_body;           /* bytes of a request body [262144, the
                                Step Functions input limit: a larger
                                event could never start; 413] */
  int settle_ms;             /* inbox rescan interval [1000] */
  bool quiet;                /* no per-event lines on stderr */
} sw_server_opts;

/** Counters since start (events) and now (executions of this process). */
typedef struct sw_server_stats {
  unsigned long accepted;   /* events that started an execution */
  unsigned long duplicate;  /* events whose execution existed */
  unsigned long rejected;   /* 4xx: bad signature, bad body */
  unsigned long skipped;    /* events of a type nothing is started for */
  unsigned long resumed;    /* executions resumed at start */
  int running;              /* executions of this process still running */
} sw_server_stats;

/**
 * Open the warehouse, resources, store (HOME/state.db) and engine; resume
 * RUNNING executions of the served workflows; listen; watch the inbox.
 * @return 0; SW_EINVAL for bad options (unknown host form, inbox that is
 *         not a directory); SW_EIO when the port cannot be bound (message
 *         names host:port) or the store cannot be opened; the warehouse's
 *         own errors for a bad warehouse URL. On error nothing is left
 *         open and nothing was written.
 */
int sw_server_new(sw_server **out, uv_loop_t *loop, const sw_server_opts *o,
                  sw_err *err);

/** The TCP port listened on (useful with port 0). */
int sw_server_port(const sw_server *s);

void sw_server_get_stats(const sw_server *s, sw_server_stats *out);

/** Stop listening and watching, stop running executions where they are
 * (they stay RUNNING and resumable; their locks are released), close
 * everything; `cb` (may be NULL) runs once all handles are closed. The
 * loop must keep running until then. */
void sw_server_close(sw_server *s, void (*cb)(void *payload), void *payload);

/** True for the workflows a server starts and owns (controlshift_bulk_data,
 * file_ingest): `stepwise resume` leaves them to a running server. */
bool sw_server_owns_workflow(const char *workflow);

/* ---- pure helpers (exposed for tests) --------------------------------- */

/**
 * Check a ControlShift signature header against the raw body.
 * @param header  the x-controlshift-webhook-signature value, may be NULL.
 * @return true when header is "sha256:<64 hex>" (hex case-insensitive)
 *         equal to HMAC-SHA256(secret, body).
 */
bool sw_server_signature_ok(const char *secret, const char *body,
                            size_t len, const char *header);

/**
 * The execution name of an event: `prefix` + "-" + the first 32 hex chars
 * of SHA-256 over the NUL-separated `parts` (a valid Step Functions
 * execution name, at most 80 characters). out needs 80 bytes.
 */
void sw_server_event_name(char out[80], const char *prefix,
                          const char *const *parts, size_t n_parts);

#endif
