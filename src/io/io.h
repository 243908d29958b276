/* SPDX-License-Identifier: MIT */
/* io: libuv glue for foreign I/O libraries. Today: PostgreSQL's libpq on
 * uv_poll (STYLE.md Part 3.2) -- asynchronous connect, non-blocking
 * queries, COPY FROM STDIN with back-pressure, cancel on the thread pool,
 * and a small connection pool. Key invariant: the loop thread never blocks
 * in libpq (DNS is resolved with uv_getaddrinfo and passed as hostaddr;
 * PQcancel runs on the thread pool), and libpq's socket is watched by
 * exactly one uv_poll handle, stopped before PQfinish closes it.
 *
 * Error mapping for libpq lives here and only here (STYLE.md 2.5 rule 5):
 *   - connection failures, SQLSTATE class 08 and 57P01 (admin shutdown):
 *     SW_EAGAIN, and the connection is dropped (sw_pg_conn_broken);
 *   - 40001 (serialization failure), 40P01 (deadlock): SW_EAGAIN;
 *   - 57014 (query_canceled) after our own sw_pg_cancel: SW_ECANCELED, or
 *     SW_ETIMEDOUT when the cancel came from the query's own deadline;
 *   - anything else: SW_EREMOTE.
 * The SQLSTATE goes to sw_err.sqlstate, PG_DIAG_MESSAGE_PRIMARY (or the
 * first line of PQerrorMessage) to sw_err.msg.
 *
 * Every function here runs on the loop thread. */
#ifndef SW_IO_H
#define SW_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <uv.h>

#include "common/common.h"

typedef struct sw_pg_conn sw_pg_conn;
typedef struct sw_pg_pool sw_pg_pool;

#define SW_PG_CONNECT_TIMEOUT_MS 10000 /* when the conninfo names none */

/** Connection (or pool hand-out) completion: `conn` is ready and idle, err
 * NULL; or conn NULL and err set (SW_EAGAIN for an unreachable server,
 * SW_EREMOTE for a refusal such as a bad password, SW_ECANCELED when the
 * pool closes). */
typedef void (*sw_pg_conn_cb)(sw_pg_conn *conn, const sw_err *err,
                              void *payload);

/** Connect asynchronously to `conninfo` (a postgresql:// URL or
 * "key=value ..." string): resolve the host with uv_getaddrinfo, then
 * PQconnectStartParams with hostaddr and PQconnectPoll on uv_poll, under
 * our own deadline (the conninfo's connect_timeout in seconds, else
 * SW_PG_CONNECT_TIMEOUT_MS). Returns SW_EINVAL for an unparsable
 * conninfo (cb is not called); otherwise cb is called exactly once. On
 * failure the connection object is freed by the module after cb. */
int sw_pg_connect(uv_loop_t *loop, const char *conninfo, sw_pg_conn_cb cb,
                  void *payload, sw_err *err);

/** Called with every successful PGresult of a query, in order (borrowed:
 * cleared after the call): PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE,
 * PGRES_COMMAND_OK (read PQcmdTuples there). Return 0, or < 0 with *err
 * set to fail the query: the module then cancels it and reports *err. */
typedef int (*sw_pg_result_fn)(const PGresult *res, void *payload,
                               sw_err *err);
/** Producer of COPY data: called when the connection can take more. Answer
 * later (or at once) with exactly one sw_pg_copy_put or sw_pg_copy_end. */
typedef void (*sw_pg_fill_fn)(sw_pg_conn *conn, void *payload);
/** Query completion, exactly once per accepted sw_pg_send: err NULL when
 * every result succeeded. The connection is idle again when this runs (it
 * may be used for the next query from inside the callback), unless it is
 * broken or being closed. */
typedef void (*sw_pg_done_fn)(sw_pg_conn *conn, const sw_err *err,
                              void *payload);

/** One command. Pointers are borrowed for the duration of sw_pg_send. */
typedef struct sw_pg_query {
  const char *sql;            /* one statement; $1..$n placeholders */
  int n_params;
  const char *const *values;  /* text values (NULL = SQL NULL) */
  bool single_row;            /* PQsetSingleRowMode: stream large results */
  uint64_t timeout_ms;        /* our deadline; 0 = none. On expiry the query
                                 is cancelled and fails with SW_ETIMEDOUT */
  sw_pg_result_fn on_result;  /* may be NULL */
  sw_pg_fill_fn fill;         /* non-NULL: sql is COPY ... FROM STDIN */
  sw_pg_done_fn done;         /* required */
  void *payload;
} sw_pg_query;

/** Send a query on an idle connection (PQsendQueryParams, text params,
 * then the PQflush loop). Returns < 0 (and never calls done) when the
 * command could not be sent: SW_EAGAIN when the connection is broken,
 * SW_EINVAL when it is busy. */
int sw_pg_send(sw_pg_conn *conn, const sw_pg_query *q, sw_err *err);

/** COPY data: queue `n` bytes (copied by libpq) after a fill request.
 * Back-pressure: the module asks for the next chunk (fill) only once
 * libpq's output buffer has been flushed to the socket. Returns < 0 when
 * the data cannot be queued (the query then completes with that error). */
int sw_pg_copy_put(sw_pg_conn *conn, const char *buf, size_t n, sw_err *err);
/** End the COPY after a fill request. errmsg NULL: commit the data (done
 * reports the server's verdict); otherwise the server aborts the COPY and
 * the query fails with errmsg. */
int sw_pg_copy_end(sw_pg_conn *conn, const char *errmsg, sw_err *err);

/** Ask the server to cancel the running query (PQcancel on the thread
 * pool). The query still completes through done, with SW_ECANCELED if the
 * server cancelled it (SQLSTATE 57014) or its own outcome if it finished
 * first. No-op when nothing runs. */
void sw_pg_cancel(sw_pg_conn *conn);

/** True once the connection is unusable (connection lost, admin shutdown,
 * protocol error). A pool discards such connections on release. */
bool sw_pg_conn_broken(const sw_pg_conn *conn);
/** The raw libpq connection, for reading status (borrowed). Do not send
 * on it or change its state. */
PGconn *sw_pg_conn_pg(sw_pg_conn *conn);

/** Close: stops the deadline timer and the poll, closes the handles and
 * PQfinishes the connection. A query in flight completes with SW_ECANCELED
 * from a later loop callback. NULL-safe. */
void sw_pg_close(sw_pg_conn *conn);

/* ---- pool ------------------------------------------------------------- */

/** A pool of at most `max_conns` connections to `conninfo` (copied). */
int sw_pg_pool_new(sw_pg_pool **out, uv_loop_t *loop, const char *conninfo,
                   unsigned max_conns, sw_err *err);
/** Hand out an idle connection (or open one, or wait for a release).
 * cb is always called from a later loop callback, exactly once unless
 * this returns < 0 (SW_ECANCELED when the pool is closing). */
int sw_pg_pool_acquire(sw_pg_pool *pool, sw_pg_conn_cb cb, void *payload,
                       sw_err *err);
/** Give a connection back after its query completed. Broken connections
 * are closed; others go to the next waiter or the idle list. */
void sw_pg_pool_release(sw_pg_pool *pool, sw_pg_conn *conn);
/** Close a connection that came from the pool (instead of releasing it),
 * e.g. to abandon a running query at shutdown. */
void sw_pg_pool_discard(sw_pg_pool *pool, sw_pg_conn *conn);
/** Close the pool: waiters get SW_ECANCELED, idle connections close,
 * connections still handed out close when released or discarded; cb
 * (may be NULL) runs once every connection is gone. */
void sw_pg_pool_close(sw_pg_pool *pool, void (*cb)(void *payload),
                      void *payload);

#endif
