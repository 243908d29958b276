/* SPDX-License-Identifier: MIT */
/* libpq on libuv (STYLE.md 3.2): one sw_pg_conn per PGconn, one uv_poll on
 * PQsocket plus one uv_timer for deadlines; every state change happens in
 * advance(), which the poll callback calls. The PGconn is PQfinished only
 * after its poll handle is stopped; the object is freed in the last close
 * callback. The only place that maps libpq outcomes to sw_err. */
#include "io/io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum phase {
  PH_RESOLVING,  /* uv_getaddrinfo in flight */
  PH_CONNECTING, /* PQconnectPoll loop; the fd may change every step */
  PH_IDLE,       /* connected; poll READABLE (unref'd) to notice a close */
  PH_BUSY,       /* a command sent: flush, then read results to NULL */
  PH_COPY_IN,    /* COPY FROM STDIN: producer feeds sw_pg_copy_put */
  PH_CLOSING     /* poll stopped, PQfinish done, waiting for close cbs */
};

typedef struct pgpoll { /* one per fd libpq gives us; freed in close cb */
  uv_poll_t h;
  int fd;
  int events;            /* mask currently started, 0 = stopped */
  struct sw_pg_conn *c;  /* owner */
} pgpoll;

struct sw_pg_conn {
  uv_loop_t *loop;
  PGconn *pg;             /* owned; PQfinish in conn_close after poll stop */
  enum phase phase;
  pgpoll *pp;             /* poll handle of the current fd, or NULL */
  uv_timer_t timer;       /* connect / query deadline; embedded */
  uv_getaddrinfo_t gai;   /* DNS request; embedded */
  uv_work_t cancel_work;  /* PQcancel job; embedded */
  PGcancel *cancel;       /* owned while cancel_work runs */
  bool cancel_busy;       /* cancel_work queued */
  int cancel_code;        /* SW_ECANCELED or SW_ETIMEDOUT: why we cancel */
  unsigned pending;       /* close callbacks and jobs still to come */
  bool broken;            /* unusable: never reuse */
  bool closed;            /* sw_pg_close was called */
  bool done_pending;      /* command complete, waiting for cancel_work */
  /* connect */
  char **kw, **vals;      /* PQconnectStartParams arrays; owned */
  int host_ix, hostaddr_ix; /* index of host / hostaddr in kw, or -1 */
  uint64_t connect_ms;
  sw_pg_conn_cb connect_cb;
  void *connect_payload;
  /* current command */
  bool op;                /* a command is in flight */
  sw_pg_query q;          /* callbacks of the command (pointers dropped) */
  bool copy_want_fill;    /* producer asked for data, not answered yet */
  bool copy_ending;       /* PQputCopyEnd returned 0: retry on writable */
  char *copy_end_msg;     /* owned; message for the retry */
  sw_err op_err;          /* first failure of the command */
  /* pool */
  sw_pg_pool *pool;       /* owning pool or NULL */
  sw_pg_conn *next;       /* pool idle list link */
};

typedef struct waiter {
  sw_pg_conn_cb cb;
  void *payload;
  struct waiter *next;
} waiter;

struct sw_pg_pool {
  uv_loop_t *loop;
  char *conninfo;         /* owned */
  unsigned max;           /* connections at most */
  unsigned live;          /* connections open or opening */
  sw_pg_conn *idle;       /* idle connections */
  waiter *wait_head, *wait_tail; /* acquires waiting for a connection */
  waiter *ready_head, *ready_tail; /* waiters with a connection to hand */
  uv_timer_t kick;        /* defers hand-outs to a loop callback */
  bool closing;
  void (*close_cb)(void *payload);
  void *close_payload;
};

static void advance(sw_pg_conn *c, int status, int events);
static void conn_close(sw_pg_conn *c);
static void pool_conn_gone(sw_pg_pool *p);

/* ---- error mapping (the only place) ----------------------------------- */

/* First line of a libpq message, without "ERROR:  " noise. */
static void first_line(char *out, size_t size, const char *msg)
{
  size_t n;

  if (!msg)
    msg = "";
  if (!strncmp(msg, "ERROR:  ", 8))
    msg += 8;
  n = strcspn(msg, "\n");
  snprintf(out, size, "%.*s", (int)n, msg);
}

/* The connection itself failed (no SQLSTATE): retryable, and dropped. */
static int map_conn(sw_err *err, sw_pg_conn *c, const char *what)
{
  char line[SW_ERR_MSG_MAX];

  first_line(line, sizeof(line), c->pg ? PQerrorMessage(c->pg) : "");
  c->broken = true;
  return sw_err_set(err, SW_EAGAIN, SW_ORIGIN_PG, 0, "%s%s%s", what,
                    *line ? ": " : "", line);
}

/* A failed PGresult. */
static int map_result(sw_err *err, sw_pg_conn *c, const PGresult *res,
                      bool cancelled_by_us)
{
  const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  char line[SW_ERR_MSG_MAX];
  int code = SW_EREMOTE;
  int rc;

  if (primary)
    snprintf(line, sizeof(line), "%s", primary);
  else
    first_line(line, sizeof(line), PQresultErrorMessage(res));
  if (!state)
    state = "";
  if (!strncmp(state, "08", 2) || !strcmp(state, "57P01") ||
      (!*state && PQstatus(c->pg) == CONNECTION_BAD)) {
    code = SW_EAGAIN;
    c->broken = true;
  } else if (!strcmp(state, "40001") || !strcmp(state, "40P01")) {
    code = SW_EAGAIN;
  } else if (!strcmp(state, "57014") && cancelled_by_us) {
    code = c->cancel_code ? c->cancel_code : SW_ECANCELED;
  }
  rc = sw_err_set(err, code, SW_ORIGIN_PG, 0, "%s", line);
  if (err)
    snprintf(err->sqlstate, sizeof(err->sqlstate), "%.5s", state);
  return rc;
}

static int map_uv(sw_err *err, int uvrc, const char *what)
{
  return sw_err_set(err, SW_EAGAIN, SW_ORIGIN_UV, uvrc, "%s: %s", what,
                    uv_strerror(uvrc));
}

/* ---- handles ------------------------------------------------------------ */

static void on_poll(uv_poll_t *h, int status, int events)
{
  pgpoll *pp = SW_CONTAINER_OF(h, pgpoll, h);

  if (pp->c && pp->c->pp == pp)
    advance(pp->c, status, events);
}

static void maybe_free(sw_pg_conn *c)
{
  sw_pg_pool *p = c->pool;
  int i;

  if (c->pending > 0 || c->phase != PH_CLOSING)
    return;
  if (c->kw) {
    for (i = 0; c->kw[i]; i++) {
      sw_free(c->kw[i]);
      sw_free(c->vals[i]);
    }
  }
  sw_free(c->kw);
  sw_free(c->vals);
  sw_free(c->copy_end_msg);
  sw_free(c);
  if (p)
    pool_conn_gone(p);
}

static void on_poll_closed(uv_handle_t *h)
{
  pgpoll *pp = SW_CONTAINER_OF((uv_poll_t *)h, pgpoll, h);
  sw_pg_conn *c = pp->c;

  sw_free(pp);
  c->pending--;
  maybe_free(c);
}

static void poll_drop(sw_pg_conn *c)
{
  pgpoll *pp = c->pp;

  if (!pp)
    return;
  c->pp = NULL;
  uv_poll_stop(&pp->h);
  c->pending++;
  uv_close((uv_handle_t *)&pp->h, on_poll_closed);
}

/* Watch libpq's current socket for `events`. libpq may switch sockets
 * between PQconnectPoll calls, so the fd is re-read every time; a new fd
 * gets a new handle (never two active handles on one fd). */
static int poll_set(sw_pg_conn *c, int events, sw_err *err)
{
  int fd = PQsocket(c->pg), rc;
  pgpoll *pp;

  if (fd < 0)
    return map_conn(err, c, "connection has no socket");
  if (c->pp && c->pp->fd != fd)
    poll_drop(c);
  if (!c->pp) {
    pp = sw_calloc(1, sizeof(*pp));
    pp->c = c;
    pp->fd = fd;
    rc = uv_poll_init_socket(c->loop, &pp->h, fd);
    if (rc < 0) {
      sw_free(pp);
      c->broken = true;
      return map_uv(err, rc, "uv_poll_init_socket");
    }
    c->pp = pp;
  }
  if (c->pp->events != events) {
    rc = uv_poll_start(&c->pp->h, events, on_poll);
    if (rc < 0) {
      c->broken = true;
      return map_uv(err, rc, "uv_poll_start");
    }
    c->pp->events = events;
  }
  /* An idle connection is watched only to notice the server closing it;
   * it must not keep the loop alive. */
  if (c->phase == PH_IDLE)
    uv_unref((uv_handle_t *)&c->pp->h);
  else
    uv_ref((uv_handle_t *)&c->pp->h);
  return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
  sw_pg_conn *c = SW_CONTAINER_OF((uv_timer_t *)h, sw_pg_conn, timer);

  c->pending--;
  maybe_free(c);
}

/* ---- completion --------------------------------------------------------- */

static void connect_done(sw_pg_conn *c, const sw_err *err)
{
  sw_pg_conn_cb cb = c->connect_cb;
  void *payload = c->connect_payload;

  c->connect_cb = NULL;
  uv_timer_stop(&c->timer);
  if (err) {
    c->broken = true;
    conn_close(c);
    if (cb)
      cb(NULL, err, payload);
    return;
  }
  if (cb)
    cb(c, NULL, payload);
}

/* The command is over: back to IDLE (or dropped), then tell the caller.
 * Nothing of `c` is touched after the callback, which may send again. */
static void op_done(sw_pg_conn *c)
{
  sw_pg_query q;
  sw_err e;

  if (c->cancel_busy && c->phase != PH_CLOSING) {
    /* Our PQcancel is still on its way: if the next command started now,
     * it could be the one cancelled. Complete once the request is done. */
    c->done_pending = true;
    return;
  }
  c->done_pending = false;
  q = c->q;
  e = c->op_err;
  c->op = false;
  c->copy_want_fill = false;
  c->copy_ending = false;
  memset(&c->q, 0, sizeof(c->q));
  c->op_err.code = SW_OK;
  uv_timer_stop(&c->timer);
  if (c->phase != PH_CLOSING) {
    if (c->broken) {
      conn_close(c);
    } else {
      c->phase = PH_IDLE;
      if (poll_set(c, UV_READABLE, NULL) < 0)
        c->broken = true;
    }
  }
  q.done(c, e.code < 0 ? &e : NULL, q.payload);
}

static void op_fail(sw_pg_conn *c, const sw_err *err)
{
  if (c->op_err.code == SW_OK)
    c->op_err = *err;
}

/* ---- cancel on the thread pool ----------------------------------------- */

static void cancel_work(uv_work_t *w)
{
  sw_pg_conn *c = SW_CONTAINER_OF(w, sw_pg_conn, cancel_work);
  char buf[256];

  /* Blocks while it connects to the server: thread pool only. Failure is
   * harmless (the query just runs to its end); log it. */
  if (!PQcancel(c->cancel, buf, sizeof(buf)))
    sw_log(SW_LOG_WARN, "postgres: cancel request failed: %s", buf);
}

static void cancel_after(uv_work_t *w, int status)
{
  sw_pg_conn *c = SW_CONTAINER_OF(w, sw_pg_conn, cancel_work);

  (void)status;
  PQfreeCancel(c->cancel);
  c->cancel = NULL;
  c->cancel_busy = false;
  c->pending--;
  if (c->done_pending && c->op && c->phase != PH_CLOSING) {
    op_done(c);
    return;
  }
  maybe_free(c);
}

static void cancel_start(sw_pg_conn *c, int why)
{
  if (!c->op || c->cancel_busy || c->phase == PH_CLOSING)
    return;
  if (!c->cancel_code)
    c->cancel_code = why;
  c->cancel = PQgetCancel(c->pg);
  if (!c->cancel)
    return;
  c->cancel_busy = true;
  c->pending++;
  if (uv_queue_work(c->loop, &c->cancel_work, cancel_work, cancel_after)) {
    PQfreeCancel(c->cancel);
    c->cancel = NULL;
    c->cancel_busy = false;
    c->pending--;
  }
}

void sw_pg_cancel(sw_pg_conn *c)
{
  if (c)
    cancel_start(c, SW_ECANCELED);
}

static void on_timeout(uv_timer_t *t)
{
  sw_pg_conn *c = SW_CONTAINER_OF(t, sw_pg_conn, timer);
  sw_err e = SW_ERR_INIT;

  if (c->phase == PH_RESOLVING || c->phase == PH_CONNECTING) {
    sw_err_set(&e, SW_EAGAIN, SW_ORIGIN_PG, 0,
               "could not connect to the server within %llu ms",
               (unsigned long long)c->connect_ms);
    connect_done(c, &e);
    return;
  }
  /* A query past its deadline: cancel on the server; the result (57014)
   * completes it as SW_ETIMEDOUT. */
  cancel_start(c, SW_ETIMEDOUT);
}

/* ---- the state machine -------------------------------------------------- */

static void notice_cb(void *arg, const PGresult *res)
{
  char line[SW_ERR_MSG_MAX];

  (void)arg;
  first_line(line, sizeof(line), PQresultErrorMessage(res));
  sw_log(SW_LOG_DEBUG, "postgres: %s", line);
}

static void connect_step(sw_pg_conn *c)
{
  sw_err e = SW_ERR_INIT;
  PostgresPollingStatusType st;
  int rc = 0;

  st = PQconnectPoll(c->pg);
  /* libpq may have closed its socket and opened another (next address,
   * SSL or GSS fallback) that got the same fd number: comparing numbers
   * cannot tell, and libuv must never watch a descriptor it did not see
   * registered. While connecting, every step gets a fresh handle. */
  poll_drop(c);
  switch (st) {
  case PGRES_POLLING_READING:
    rc = poll_set(c, UV_READABLE, &e);
    break;
  case PGRES_POLLING_WRITING:
    rc = poll_set(c, UV_WRITABLE, &e);
    break;
  case PGRES_POLLING_OK:
    if (PQsetnonblocking(c->pg, 1) != 0) {
      rc = map_conn(&e, c, "cannot make the connection non-blocking");
      break;
    }
    PQsetNoticeReceiver(c->pg, notice_cb, NULL);
    c->phase = PH_IDLE;
    rc = poll_set(c, UV_READABLE, &e);
    if (rc == 0) {
      connect_done(c, NULL);
      return;
    }
    break;
  default:
    /* A refusal (password, unknown database) is not transient; a
     * network failure is. libpq only tells them apart by message. */
    rc = map_conn(&e, c, "could not connect to PostgreSQL");
    if (strstr(e.msg, "authentication") || strstr(e.msg, "does not exist"))
      e.code = SW_EREMOTE;
    break;
  }
  if (rc < 0 || e.code < 0)
    connect_done(c, &e);
}

/* Flush what libpq holds; wait for writable while it cannot. Returns 1
 * while data is pending, 0 when flushed, < 0 on a connection error. */
static int flush(sw_pg_conn *c, sw_err *err)
{
  int r = PQflush(c->pg);

  if (r < 0)
    return map_conn(err, c, "lost the connection to the server");
  if (poll_set(c, r ? (UV_READABLE | UV_WRITABLE) : UV_READABLE, err) < 0)
    return -1;
  return r;
}

/* Read results until libpq would block or the command is complete. */
static void drain(sw_pg_conn *c)
{
  sw_err e = SW_ERR_INIT;
  PGresult *res;
  int st;

  if (!PQconsumeInput(c->pg)) {
    map_conn(&e, c, "lost the connection to the server");
    op_fail(c, &e);
    op_done(c);
    return;
  }
  while (!PQisBusy(c->pg)) {
    res = PQgetResult(c->pg);
    if (!res) {
      if (PQstatus(c->pg) == CONNECTION_BAD) {
        map_conn(&e, c, "lost the connection to the server");
        op_fail(c, &e);
      }
      op_done(c);
      return;
    }
    st = PQresultStatus(res);
    switch (st) {
    case PGRES_COPY_IN:
      PQclear(res);
      if (!c->q.fill) {
        /* A COPY sent as an ordinary query: refuse it. */
        PQputCopyEnd(c->pg, "COPY FROM STDIN needs a data producer");
        flush(c, NULL);
        continue;
      }
      c->phase = PH_COPY_IN;
      c->copy_want_fill = true;
      flush(c, NULL);
      c->q.fill(c, c->q.payload);
      return;
    case PGRES_TUPLES_OK:
    case PGRES_SINGLE_TUPLE:
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
      if (c->op_err.code == SW_OK && c->q.on_result &&
          c->q.on_result(res, c->q.payload, &e) < 0) {
        op_fail(c, &e);
        /* Rows still streaming: stop the work on the server rather than
         * read it all. A complete result needs no cancel. */
        if (st == PGRES_SINGLE_TUPLE)
          cancel_start(c, SW_ECANCELED);
      }
      break;
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
      sw_err_set(&e, SW_EINVAL, SW_ORIGIN_PG, 0,
                 "COPY TO STDOUT is not supported here");
      op_fail(c, &e);
      c->broken = true; /* cannot leave copy-out mode cleanly */
      break;
    default:
      map_result(&e, c, res, c->cancel_code != 0);
      op_fail(c, &e);
      break;
    }
    PQclear(res);
    if (c->broken && PQstatus(c->pg) == CONNECTION_BAD)
      break;
  }
  if (c->broken && PQstatus(c->pg) == CONNECTION_BAD) {
    op_done(c);
    return;
  }
  /* Busy: wait for more input (level-triggered poll calls us again). */
}

/* One step after a poll event or a producer call. */
static void advance(sw_pg_conn *c, int status, int events)
{
  sw_err e = SW_ERR_INIT;
  int r;

  if (status < 0) {
    /* libuv reports POLLERR as UV_EBADF and stops the handle. The socket
     * has an error: let libpq read it (SO_ERROR / recv) so the message
     * is the server's or the kernel's, not libuv's. */
    poll_drop(c);
    if (c->phase == PH_CONNECTING) {
      connect_step(c);
      return;
    }
    if (c->phase == PH_IDLE) {
      c->broken = true;
      return;
    }
    if (!c->op)
      return;
    if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD)
      map_conn(&e, c, "lost the connection to the server");
    else
      map_uv(&e, status, "poll on the PostgreSQL socket");
    c->broken = true;
    op_fail(c, &e);
    op_done(c);
    return;
  }
  switch (c->phase) {
  case PH_CONNECTING:
    connect_step(c);
    return;
  case PH_IDLE:
    /* The server spoke while we sent nothing: a notice, or it closed. */
    if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD) {
      c->broken = true;
      poll_drop(c);
    }
    return;
  case PH_BUSY:
    if (c->done_pending) { /* only waiting for cancel_work */
      if (!PQconsumeInput(c->pg))
        c->broken = true;
      return;
    }
    if (events & UV_WRITABLE) {
      r = flush(c, &e);
      if (r < 0) {
        op_fail(c, &e);
        op_done(c);
        return;
      }
    }
    if (events & UV_READABLE)
      drain(c);
    return;
  case PH_COPY_IN:
    if (events & UV_READABLE) {
      /* Only an error or notices can come now; keep the input buffer
       * read so the readiness clears. */
      if (!PQconsumeInput(c->pg)) {
        map_conn(&e, c, "lost the connection to the server");
        op_fail(c, &e);
        op_done(c);
        return;
      }
    }
    if (!(events & UV_WRITABLE))
      return;
    if (c->copy_ending) {
      r = PQputCopyEnd(c->pg, c->copy_end_msg);
      if (r < 0) {
        map_conn(&e, c, "cannot end COPY");
        op_fail(c, &e);
        op_done(c);
        return;
      }
      if (r == 0)
        return; /* still full: wait for writable again */
      c->copy_ending = false;
      c->phase = PH_BUSY;
      if (flush(c, &e) < 0) {
        op_fail(c, &e);
        op_done(c);
      }
      return;
    }
    r = flush(c, &e);
    if (r < 0) {
      op_fail(c, &e);
      op_done(c);
      return;
    }
    if (r == 0 && !c->copy_want_fill) {
      /* libpq's buffer reached the socket: ask for the next chunk. */
      c->copy_want_fill = true;
      if (poll_set(c, UV_READABLE, &e) < 0) {
        op_fail(c, &e);
        op_done(c);
        return;
      }
      c->q.fill(c, c->q.payload);
    }
    return;
  default:
    return;
  }
}

/* ---- connect ------------------------------------------------------------ */

static void start_connect(sw_pg_conn *c)
{
  sw_err e = SW_ERR_INIT;

  c->pg = PQconnectStartParams((const char *const *)c->kw,
                               (const char *const *)c->vals, 0);
  if (!c->pg) {
    sw_err_set(&e, SW_ENOMEM, SW_ORIGIN_PG, 0,
               "libpq could not allocate a connection");
    connect_done(c, &e);
    return;
  }
  if (PQstatus(c->pg) == CONNECTION_BAD) {
    map_conn(&e, c, "could not connect to PostgreSQL");
    connect_done(c, &e);
    return;
  }
  c->phase = PH_CONNECTING;
  /* First round: act as if PQconnectPoll had said WRITING. */
  if (poll_set(c, UV_WRITABLE, &e) < 0)
    connect_done(c, &e);
}

static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *res)
{
  sw_pg_conn *c = SW_CONTAINER_OF(req, sw_pg_conn, gai);
  char addr[64] = "";
  sw_err e = SW_ERR_INIT;

  c->pending--;
  if (c->phase == PH_CLOSING) { /* closed or timed out meanwhile */
    uv_freeaddrinfo(res);
    maybe_free(c);
    return;
  }
  if (status < 0 || !res) {
    uv_freeaddrinfo(res);
    sw_err_set(&e, SW_EAGAIN, SW_ORIGIN_UV, status,
               "could not resolve PostgreSQL host \"%s\": %s",
               c->vals[c->host_ix], uv_strerror(status));
    connect_done(c, &e);
    return;
  }
  if (res->ai_family == AF_INET6)
    uv_ip6_name((struct sockaddr_in6 *)res->ai_addr, addr, sizeof(addr));
  else
    uv_ip4_name((struct sockaddr_in *)res->ai_addr, addr, sizeof(addr));
  uv_freeaddrinfo(res);
  sw_free(c->vals[c->hostaddr_ix]);
  c->vals[c->hostaddr_ix] = sw_strdup(addr);
  start_connect(c);
}

static bool numeric_host(const char *h)
{
  struct sockaddr_in6 a6;
  struct sockaddr_in a4;

  return uv_ip4_addr(h, 0, &a4) == 0 || uv_ip6_addr(h, 0, &a6) == 0;
}

int sw_pg_connect(uv_loop_t *loop, const char *conninfo, sw_pg_conn_cb cb,
                  void *payload, sw_err *err)
{
  PQconninfoOption *opts = NULL, *o;
  char *perr = NULL;
  sw_pg_conn *c = NULL;
  const char *host = NULL, *hostaddr = NULL, *ctimeout = NULL;
  size_t n = 0, k = 0;
  char line[SW_ERR_MSG_MAX];
  int rc = 0;

  opts = PQconninfoParse(conninfo, &perr);
  if (!opts) {
    first_line(line, sizeof(line), perr ? perr : "out of memory");
    rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_PG, 0,
                    "invalid PostgreSQL connection string: %s", line);
    goto done;
  }
  c = sw_calloc(1, sizeof(*c));
  c->loop = loop;
  c->host_ix = c->hostaddr_ix = -1;
  for (o = opts; o->keyword; o++)
    if (o->val)
      n++;
  c->kw = sw_calloc(n + 2, sizeof(char *));
  c->vals = sw_calloc(n + 2, sizeof(char *));
  for (o = opts; o->keyword; o++) {
    if (!o->val)
      continue;
    if (!strcmp(o->keyword, "host"))
      host = o->val, c->host_ix = (int)k;
    if (!strcmp(o->keyword, "hostaddr"))
      hostaddr = o->val, c->hostaddr_ix = (int)k;
    if (!strcmp(o->keyword, "connect_timeout"))
      ctimeout = o->val;
    c->kw[k] = sw_strdup(o->keyword);
    c->vals[k++] = sw_strdup(o->val);
  }
  c->connect_ms = SW_PG_CONNECT_TIMEOUT_MS;
  if (ctimeout && strtol(ctimeout, NULL, 10) > 0)
    c->connect_ms = (uint64_t)strtol(ctimeout, NULL, 10) * 1000;
  c->connect_cb = cb;
  c->connect_payload = payload;
  uv_timer_init(loop, &c->timer);
  uv_timer_start(&c->timer, on_timeout, c->connect_ms, 0);
  c->phase = PH_RESOLVING;
  /* Resolve a single DNS name ourselves so PQconnectPoll never blocks in
   * getaddrinfo; a socket directory, an address, an explicit hostaddr or
   * a multi-host list go to libpq as they are. */
  if (host && !hostaddr && host[0] != '/' && host[0] != '@' &&
      !strchr(host, ',') && !numeric_host(host)) {
    c->hostaddr_ix = (int)k;
    c->kw[k] = sw_strdup("hostaddr");
    c->vals[k++] = sw_strdup("");
    rc = uv_getaddrinfo(loop, &c->gai, on_resolved, host, NULL, NULL);
    if (rc < 0) {
      rc = map_uv(err, rc, "uv_getaddrinfo");
      /* The callback is not called: close quietly; the timer's close
       * callback frees the object. */
      c->connect_cb = NULL;
      conn_close(c);
      c = NULL;
      goto done;
    }
    c->pending++;
  } else {
    start_connect(c);
  }

done:
  PQconninfoFree(opts);
  PQfreemem(perr);
  return rc;
}

/* ---- commands ----------------------------------------------------------- */

int sw_pg_send(sw_pg_conn *c, const sw_pg_query *q, sw_err *err)
{
  int r;

  if (c->broken || PQstatus(c->pg) != CONNECTION_OK) {
    c->broken = true;
    return sw_err_set(err, SW_EAGAIN, SW_ORIGIN_PG, 0,
                      "the connection to the server was lost");
  }
  if (c->phase != PH_IDLE || c->op)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "postgres connection is busy");
  if (!PQsendQueryParams(c->pg, q->sql, q->n_params, NULL, q->values, NULL,
                         NULL, 0))
    return map_conn(err, c, "cannot send the query");
  if (q->single_row)
    PQsetSingleRowMode(c->pg);
  c->q = *q;
  c->q.sql = NULL;
  c->q.values = NULL;
  c->op = true;
  c->cancel_code = 0;
  c->op_err.code = SW_OK;
  c->phase = PH_BUSY;
  r = flush(c, err);
  if (r < 0) {
    c->op = false;
    memset(&c->q, 0, sizeof(c->q));
    return r;
  }
  if (q->timeout_ms)
    uv_timer_start(&c->timer, on_timeout, q->timeout_ms, 0);
  return 0;
}

int sw_pg_copy_put(sw_pg_conn *c, const char *buf, size_t n, sw_err *err)
{
  sw_err e = SW_ERR_INIT;
  int r;

  if (c->phase != PH_COPY_IN || !c->copy_want_fill)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "COPY data sent without a fill request");
  c->copy_want_fill = false;
  while (n > 0) {
    /* libpq grows its buffer rather than refuse in practice; 0 means it
     * could not, so flush and let the next writable retry. */
    int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
    r = PQputCopyData(c->pg, buf, chunk);
    if (r < 0) {
      map_conn(&e, c, "cannot send COPY data");
      op_fail(c, &e);
      op_done(c);
      return sw_err_set(err, e.code, e.origin, 0, "%s", e.msg);
    }
    if (r == 0) {
      if (PQflush(c->pg) < 0) {
        map_conn(&e, c, "cannot send COPY data");
        op_fail(c, &e);
        op_done(c);
        return sw_err_set(err, e.code, e.origin, 0, "%s", e.msg);
      }
      continue;
    }
    buf += chunk;
    n -= (size_t)chunk;
  }
  /* Always go through one writable event: it flushes, and only once the
   * buffer is on the socket does the producer get asked again. */
  if (poll_set(c, UV_READABLE | UV_WRITABLE, &e) < 0) {
    op_fail(c, &e);
    op_done(c);
    return sw_err_set(err, e.code, e.origin, 0, "%s", e.msg);
  }
  return 0;
}

int sw_pg_copy_end(sw_pg_conn *c, const char *errmsg, sw_err *err)
{
  sw_err e = SW_ERR_INIT;

  if (c->phase != PH_COPY_IN || !c->copy_want_fill)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "COPY end without a fill request");
  c->copy_want_fill = false;
  c->copy_ending = true;
  sw_free(c->copy_end_msg);
  c->copy_end_msg = sw_strdup(errmsg);
  if (poll_set(c, UV_READABLE | UV_WRITABLE, &e) < 0) {
    op_fail(c, &e);
    op_done(c);
    return sw_err_set(err, e.code, e.origin, 0, "%s", e.msg);
  }
  return 0;
}

bool sw_pg_conn_broken(const sw_pg_conn *c)
{
  return c->broken || c->closed || PQstatus(c->pg) != CONNECTION_OK;
}

PGconn *sw_pg_conn_pg(sw_pg_conn *c)
{
  return c->pg;
}

/* ---- teardown ----------------------------------------------------------- */

/* STYLE.md 3.2 step 15: timer stopped, poll stopped and closed, then
 * PQfinish; the object goes in the last close callback. */
static void conn_close(sw_pg_conn *c)
{
  if (c->phase == PH_CLOSING)
    return;
  if (c->phase == PH_RESOLVING)
    uv_cancel((uv_req_t *)&c->gai);
  c->phase = PH_CLOSING;
  uv_timer_stop(&c->timer);
  poll_drop(c);
  if (c->pg) {
    PQfinish(c->pg);
    c->pg = NULL;
  }
  c->pending++;
  uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

static void on_abort_timer_closed(uv_handle_t *h)
{
  sw_pg_conn *c = SW_CONTAINER_OF((uv_timer_t *)h, sw_pg_conn, timer);
  sw_err e = SW_ERR_INIT;
  sw_pg_query q = c->q;
  sw_pg_conn_cb ccb = c->connect_cb;

  /* Deferred completion of what was in flight when sw_pg_close ran. */
  sw_err_set(&e, SW_ECANCELED, SW_ORIGIN_NONE, 0,
             "the connection was closed");
  c->connect_cb = NULL;
  if (c->op) {
    c->op = false;
    memset(&c->q, 0, sizeof(c->q));
    q.done(c, &e, q.payload);
  } else if (ccb) {
    ccb(NULL, &e, c->connect_payload);
  }
  c->pending--;
  maybe_free(c);
}

void sw_pg_close(sw_pg_conn *c)
{
  if (!c || c->closed)
    return;
  c->closed = true;
  c->broken = true;
  if (c->phase == PH_CLOSING)
    return;
  if (c->phase == PH_RESOLVING)
    uv_cancel((uv_req_t *)&c->gai);
  c->phase = PH_CLOSING;
  uv_timer_stop(&c->timer);
  poll_drop(c);
  if (c->pg) {
    PQfinish(c->pg);
    c->pg = NULL;
  }
  c->pending++;
  uv_close((uv_handle_t *)&c->timer, on_abort_timer_closed);
}

/* ---- pool --------------------------------------------------------------- */

static void on_kick_closed(uv_handle_t *h)
{
  sw_pg_pool *p = SW_CONTAINER_OF((uv_timer_t *)h, sw_pg_pool, kick);
  void (*cb)(void *) = p->close_cb;
  void *payload = p->close_payload;

  sw_free(p->conninfo);
  sw_free(p);
  if (cb)
    cb(payload);
}

static void pool_finish_if_done(sw_pg_pool *p)
{
  if (!p->closing || p->live > 0 || p->ready_head ||
      uv_is_closing((uv_handle_t *)&p->kick))
    return;
  uv_close((uv_handle_t *)&p->kick, on_kick_closed);
}

static void pool_conn_gone(sw_pg_pool *p)
{
  p->live--;
  pool_finish_if_done(p);
}

typedef struct hand {   /* a connection handed to a waiter */
  waiter w;
  sw_pg_conn *c;
  sw_err err;
} hand;

/* Deliver every ready hand-out from a loop callback. */
static void on_kick(uv_timer_t *t)
{
  sw_pg_pool *p = SW_CONTAINER_OF(t, sw_pg_pool, kick);
  waiter *w;

  while ((w = p->ready_head) != NULL) {
    hand *hd = (hand *)w;
    p->ready_head = w->next;
    if (!p->ready_head)
      p->ready_tail = NULL;
    if (hd->c)
      w->cb(hd->c, NULL, w->payload);
    else
      w->cb(NULL, &hd->err, w->payload);
    sw_free(hd);
  }
  pool_finish_if_done(p);
}

static void pool_ready(sw_pg_pool *p, hand *hd)
{
  hd->w.next = NULL;
  if (p->ready_tail)
    p->ready_tail->next = &hd->w;
  else
    p->ready_head = &hd->w;
  p->ready_tail = &hd->w;
  uv_timer_start(&p->kick, on_kick, 0, 0);
}

static void pool_hand(sw_pg_pool *p, sw_pg_conn *c, const sw_err *err,
                      sw_pg_conn_cb cb, void *payload)
{
  hand *hd = sw_calloc(1, sizeof(*hd));

  hd->w.cb = cb;
  hd->w.payload = payload;
  hd->c = c;
  if (err)
    hd->err = *err;
  pool_ready(p, hd);
}

typedef struct opening {
  sw_pg_pool *pool;
  sw_pg_conn_cb cb;
  void *payload;
} opening;

static void on_pool_connected(sw_pg_conn *c, const sw_err *err, void *payload)
{
  opening *op = payload;
  sw_pg_pool *p = op->pool;

  if (!c) {
    /* Failed connects free themselves without a pool link. */
    p->live--;
    op->cb(NULL, err, op->payload);
    sw_free(op);
    pool_finish_if_done(p);
    return;
  }
  c->pool = p;
  if (p->closing) {
    sw_err e = SW_ERR_INIT;
    sw_err_set(&e, SW_ECANCELED, SW_ORIGIN_NONE, 0, "the pool is closing");
    op->cb(NULL, &e, op->payload);
    sw_free(op);
    conn_close(c);
    return;
  }
  op->cb(c, NULL, op->payload);
  sw_free(op);
}

int sw_pg_pool_new(sw_pg_pool **out, uv_loop_t *loop, const char *conninfo,
                   unsigned max_conns, sw_err *err)
{
  sw_pg_pool *p = sw_calloc(1, sizeof(*p));

  (void)err;
  p->loop = loop;
  p->conninfo = sw_strdup(conninfo);
  p->max = max_conns ? max_conns : 1;
  uv_timer_init(loop, &p->kick);
  *out = p;
  return 0;
}

static int pool_open(sw_pg_pool *p, sw_pg_conn_cb cb, void *payload,
                     sw_err *err)
{
  opening *op = sw_calloc(1, sizeof(*op));
  int rc;

  op->pool = p;
  op->cb = cb;
  op->payload = payload;
  p->live++;
  rc = sw_pg_connect(p->loop, p->conninfo, on_pool_connected, op, err);
  if (rc < 0) {
    p->live--;
    sw_free(op);
  }
  return rc;
}

int sw_pg_pool_acquire(sw_pg_pool *p, sw_pg_conn_cb cb, void *payload,
                       sw_err *err)
{
  sw_pg_conn *c;
  waiter *w;

  if (p->closing)
    return sw_err_set(err, SW_ECANCELED, SW_ORIGIN_NONE, 0,
                      "the pool is closing");
  while ((c = p->idle) != NULL) {
    p->idle = c->next;
    c->next = NULL;
    if (!sw_pg_conn_broken(c)) {
      pool_hand(p, c, NULL, cb, payload);
      return 0;
    }
    conn_close(c);
  }
  if (p->live < p->max)
    return pool_open(p, cb, payload, err);
  w = sw_calloc(1, sizeof(*w));
  w->cb = cb;
  w->payload = payload;
  if (p->wait_tail)
    p->wait_tail->next = w;
  else
    p->wait_head = w;
  p->wait_tail = w;
  return 0;
}

void sw_pg_pool_release(sw_pg_pool *p, sw_pg_conn *c)
{
  waiter *w;
  sw_err e = SW_ERR_INIT;

  if (!c)
    return;
  if (p->closing || sw_pg_conn_broken(c) || c->op) {
    if (c->op)
      sw_pg_close(c);
    else
      conn_close(c);
    /* A waiter may now open a connection of its own. */
  } else if ((w = p->wait_head) != NULL) {
    p->wait_head = w->next;
    if (!p->wait_head)
      p->wait_tail = NULL;
    pool_hand(p, c, NULL, w->cb, w->payload);
    sw_free(w);
    return;
  } else {
    c->next = p->idle;
    p->idle = c;
    return;
  }
  if (!p->closing && (w = p->wait_head) != NULL) {
    p->wait_head = w->next;
    if (!p->wait_head)
      p->wait_tail = NULL;
    if (pool_open(p, w->cb, w->payload, &e) < 0)
      pool_hand(p, NULL, &e, w->cb, w->payload);
    sw_free(w);
  }
}

void sw_pg_pool_discard(sw_pg_pool *p, sw_pg_conn *c)
{
  (void)p;
  sw_pg_close(c);
}

void sw_pg_pool_close(sw_pg_pool *p, void (*cb)(void *payload),
                      void *payload)
{
  sw_pg_conn *c;
  waiter *w;
  sw_err e = SW_ERR_INIT;

  p->closing = true;
  p->close_cb = cb;
  p->close_payload = payload;
  sw_err_set(&e, SW_ECANCELED, SW_ORIGIN_NONE, 0, "the pool is closing");
  while ((w = p->wait_head) != NULL) {
    p->wait_head = w->next;
    pool_hand(p, NULL, &e, w->cb, w->payload);
    sw_free(w);
  }
  p->wait_tail = NULL;
  while ((c = p->idle) != NULL) {
    p->idle = c->next;
    conn_close(c);
  }
  pool_finish_if_done(p);
}
