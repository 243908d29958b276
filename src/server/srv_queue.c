/* SPDX-License-Identifier: MIT */
/* The server's event queue, HOME/serve.db, and the dispatcher that turns
 * queued events into executions.
 *
 * Why a queue and not an execution per event at once: the loads of one
 * ControlShift table must not overlap. A nightly full export replaces the
 * table by swapping a staging copy in; an incremental applied while that
 * full was loading would land in the table the swap throws away, and its
 * rows would be lost until the next night. Upstream, Redshift's table
 * lock made the COPYs wait for each other. Here every event has a group
 * (ControlShift: the table; a file or S3 object: itself) and a group runs
 * one execution at a time, in the order the events were acknowledged.
 *
 * Durability. An event is a row (name = the execution name, unique) in a
 * transaction committed before its 2xx; the rows of one loop turn share
 * that commit. Executions are started after the commit, many in one
 * engine batch. Marking a row started is lazy (folded into the next
 * commit): after a crash, a queued row whose execution exists is known
 * started by its name, and RUNNING executions are resumed by the server.
 * A file of its own beside state.db for the reason worker.db has one: the
 * engine holds state.db's write transaction across a loop turn. */
#include "server/server_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS server_events ("
    " name TEXT PRIMARY KEY,"      /* the execution name */
    " workflow TEXT NOT NULL,"
    " grp TEXT NOT NULL,"          /* events of a group run one at a time */
    " input TEXT NOT NULL,"        /* the execution input (JSON) */
    " received_ms INTEGER NOT NULL,"
    " state TEXT NOT NULL)";       /* queued | started */

struct srv_queue {
  sqlite3 *db;
  sqlite3_stmt *insert;
  sqlite3_stmt *mark;
  bool in_txn;
  srv_group *groups;
  srv_event *uncommitted;  /* accepted in the open transaction */
  char **to_mark;          /* names started since the last commit */
  size_t n_mark, cap_mark;
  size_t pending;          /* events queued, not started */
};

static int q_fail(srv_queue *q, int rc, sw_err *err)
{
  return sw_err_set(err, SW_EIO, SW_ORIGIN_SQLITE, rc, "serve.db: %s",
                    q && q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
}

static void event_free(srv_event *e)
{
  sw_free(e->name);
  sw_free(e->group);
  sw_free(e->input);
  sw_free(e);
}

static srv_group *group_get(srv_queue *q, const char *key)
{
  srv_group *g;

  for (g = q->groups; g; g = g->next)
    if (!strcmp(g->key, key))
      return g;
  g = sw_calloc(1, sizeof(*g));
  g->key = sw_strdup(key);
  g->next = q->groups;
  q->groups = g;
  return g;
}

static void group_push(srv_queue *q, srv_event *e)
{
  srv_group *g = group_get(q, e->group);

  e->next = NULL;
  if (g->tail)
    g->tail->next = e;
  else
    g->head = e;
  g->tail = e;
  q->pending++;
}

/* ---- open / close ------------------------------------------------------ */

int srv_queue_open(sw_server *s, sw_err *err)
{
  srv_queue *q = sw_calloc(1, sizeof(*q));
  char *path = sw_asprintf("%s/serve.db", s->home);
  int rc;

  rc = sqlite3_open_v2(path, &q->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_busy_timeout(q->db, 5000);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(q->db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
                      NULL, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(q->db, schema, NULL, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(q->db,
                            "INSERT OR IGNORE INTO server_events (name, "
                            "workflow, grp, input, received_ms, state) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, 'queued')",
                            -1, &q->insert, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(q->db,
                            "UPDATE server_events SET state = 'started' "
                            "WHERE name = ?1",
                            -1, &q->mark, NULL);
  if (rc != SQLITE_OK) {
    rc = q_fail(q, rc, err);
    sw_err_prefix(err, "%s: ", path);
    sw_free(path);
    s->queue = q;
    srv_queue_close(s);
    return rc;
  }
  sw_free(path);
  s->queue = q;
  return 0;
}

void srv_queue_close(sw_server *s)
{
  srv_queue *q = s->queue;
  srv_group *g;
  srv_event *e;
  size_t i;

  if (!q)
    return;
  if (q->in_txn) /* names marked started: worth keeping */
    srv_queue_commit(s, NULL);
  while ((g = q->groups)) {
    q->groups = g->next;
    while ((e = g->head)) {
      g->head = e->next;
      event_free(e);
    }
    sw_free(g->key);
    sw_free(g);
  }
  for (i = 0; i < q->n_mark; i++)
    sw_free(q->to_mark[i]);
  sw_free(q->to_mark);
  sqlite3_finalize(q->insert);
  sqlite3_finalize(q->mark);
  sqlite3_close(q->db);
  sw_free(q);
  s->queue = NULL;
}

/* ---- accept ------------------------------------------------------------ */

static int begin(srv_queue *q, sw_err *err)
{
  int rc;

  if (q->in_txn)
    return 0;
  rc = sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return q_fail(q, rc, err);
  q->in_txn = true;
  return 0;
}

srv_outcome srv_accept(sw_server *s, srv_workflow wf, const char *name,
                       const char *group, const cJSON *input, sw_err *err)
{
  srv_queue *q = s->queue;
  char *text;
  srv_event *e;
  int rc;

  if (begin(q, err) < 0)
    return SRV_FAILED;
  text = sw_json_print(input);
  sqlite3_reset(q->insert);
  sqlite3_bind_text(q->insert, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_text(q->insert, 2, sw_server_workflows[wf], -1,
                    SQLITE_STATIC);
  sqlite3_bind_text(q->insert, 3, group, -1, SQLITE_STATIC);
  sqlite3_bind_text(q->insert, 4, text, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q->insert, 5, sw_time_now_ms());
  rc = sqlite3_step(q->insert);
  sqlite3_reset(q->insert);
  if (rc != SQLITE_DONE) {
    q_fail(q, rc, err);
    sw_free(text);
    return SRV_FAILED;
  }
  if (sqlite3_changes(q->db) == 0) { /* the name is known: a redelivery */
    sw_free(text);
    return SRV_DUPLICATE;
  }
  e = sw_calloc(1, sizeof(*e));
  e->name = sw_strdup(name);
  e->group = sw_strdup(group);
  e->input = text;
  e->wf = wf;
  e->next = q->uncommitted;
  q->uncommitted = e;
  s->n_accepted++;
  if (!s->quiet)
    fprintf(stderr, "stepwise serve: %s event %s accepted\n",
            sw_server_workflows[wf], name);
  return SRV_ACCEPTED;
}

int srv_queue_commit(sw_server *s, sw_err *err)
{
  srv_queue *q = s->queue;
  srv_event *e, *next, *rev = NULL;
  sw_err lerr = SW_ERR_INIT;
  size_t i;
  int rc = SQLITE_OK;

  if (!err)
    err = &lerr;
  if (!q->in_txn && q->n_mark)
    if (begin(q, err) < 0)
      return err->code;
  if (!q->in_txn)
    return 0;
  for (i = 0; rc == SQLITE_OK && i < q->n_mark; i++) {
    sqlite3_reset(q->mark);
    sqlite3_bind_text(q->mark, 1, q->to_mark[i], -1, SQLITE_STATIC);
    rc = sqlite3_step(q->mark) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    sqlite3_reset(q->mark);
  }
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL);
  q->in_txn = false;
  if (rc != SQLITE_OK) {
    q_fail(q, rc, err);
    sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
    /* Nothing of this turn is on disk: forget its events (their senders
     * get no 2xx and retry); keep the marks for the next commit. */
    for (e = q->uncommitted; e; e = next) {
      next = e->next;
      event_free(e);
    }
    q->uncommitted = NULL;
    return err->code ? err->code : SW_EIO;
  }
  for (i = 0; i < q->n_mark; i++)
    sw_free(q->to_mark[i]);
  q->n_mark = 0;
  /* Queue the committed events in acknowledgement order. */
  for (e = q->uncommitted; e; e = next) {
    next = e->next;
    e->next = rev;
    rev = e;
  }
  q->uncommitted = NULL;
  for (e = rev; e; e = next) {
    next = e->next;
    group_push(q, e);
  }
  srv_dispatch_soon(s);
  return 0;
}

/* ---- dispatch ---------------------------------------------------------- */

static void mark_started(srv_queue *q, const char *name)
{
  if (q->n_mark == q->cap_mark) {
    q->cap_mark = q->cap_mark ? q->cap_mark * 2 : 64;
    q->to_mark = sw_realloc(q->to_mark, q->cap_mark * sizeof(*q->to_mark));
  }
  q->to_mark[q->n_mark++] = sw_strdup(name);
}

/* Start the next event of every idle group, all in one engine batch.
 * An event leaves its group's queue (and is marked started) only once the
 * batch is on disk; a start that fails for one event (its workflow file
 * unreadable, say) is tried again later without holding up the others. */
static void dispatch(sw_server *s)
{
  srv_queue *q = s->queue;
  sw_err err = SW_ERR_INIT;
  srv_event *e, *next, *taken = NULL;
  srv_group *g;
  bool retry = false;
  cJSON *in;
  int rc;

  if (!q || !s->eng || sw_engine_failed(s->eng, NULL))
    return;
  sw_engine_begin_batch(s->eng);
  for (g = q->groups; g; g = g->next) {
    srv_outcome o;
    if (g->exec_id[0] || !(e = g->head))
      continue;
    in = NULL;
    if (sw_json_parse(&in, e->input, strlen(e->input), e->name, &err) < 0) {
      sw_log(SW_LOG_ERROR, "event %s: %s", e->name, err.msg); /* ours */
      o = SRV_DUPLICATE; /* dropped: it can never start */
    } else {
      o = srv_start(s, e->wf, e->name, in, g->exec_id, &err);
      cJSON_Delete(in);
    }
    if (o == SRV_FAILED) {
      sw_log(SW_LOG_ERROR, "event %s: cannot start: %s; trying again",
             e->name, err.msg);
      g->exec_id[0] = '\0';
      retry = true;
      continue;
    }
    if (o != SRV_ACCEPTED) /* started before a crash: resumed or finished */
      g->exec_id[0] = '\0';
    g->head = e->next;
    if (!g->head)
      g->tail = NULL;
    q->pending--;
    e->next = taken;
    taken = e;
  }
  rc = sw_engine_commit_batch(s->eng, NULL, &err);
  if (rc < 0) {
    /* Nothing of the batch is on disk (and the engine has stopped): the
     * events go back to the head of their groups, still queued. */
    sw_log(SW_LOG_ERROR, "executions could not be started: %s", err.msg);
    for (e = taken; e; e = next) {
      next = e->next;
      g = group_get(q, e->group);
      g->exec_id[0] = '\0';
      e->next = g->head;
      g->head = e;
      if (!g->tail)
        g->tail = e;
      q->pending++;
    }
    return;
  }
  for (e = taken; e; e = next) {
    next = e->next;
    mark_started(q, e->name);
    event_free(e);
  }
  if (retry)
    uv_timer_start(&s->dispatch_timer, srv_on_dispatch, 5000, 0);
  /* Without new events nothing commits the started marks: bound them. */
  if (q->n_mark >= 4096)
    srv_queue_commit(s, NULL);
}

void srv_on_dispatch(uv_timer_t *t) { dispatch(t->data); }

void srv_dispatch_soon(sw_server *s)
{
  if (s->dispatch_init && !uv_is_closing((uv_handle_t *)&s->dispatch_timer))
    uv_timer_start(&s->dispatch_timer, srv_on_dispatch, 0, 0);
}

void srv_queue_done(sw_server *s, const char *execution_id)
{
  srv_group *g;

  if (!s->queue)
    return;
  for (g = s->queue->groups; g; g = g->next)
    if (!strcmp(g->exec_id, execution_id)) {
      g->exec_id[0] = '\0';
      srv_dispatch_soon(s);
      return;
    }
}

void srv_queue_busy(sw_server *s, const char *group, const char *exec_id)
{
  srv_group *g = group_get(s->queue, group);

  snprintf(g->exec_id, sizeof(g->exec_id), "%s", exec_id);
}

bool srv_queue_in_txn(const sw_server *s)
{
  return s->queue && s->queue->in_txn;
}

size_t srv_queue_pending(const sw_server *s)
{
  return s->queue ? s->queue->pending : 0;
}

/* ---- restart ------------------------------------------------------------ */

/* After a restart: the group of each resumed execution is busy, and the
 * queued rows whose execution does not exist yet wait their turn. */
int srv_queue_load(sw_server *s, sw_err *err)
{
  srv_queue *q = s->queue;
  sqlite3_stmt *st = NULL;
  sw_store_execution ex;
  sw_err xerr;
  srv_event *e;
  int rc, i;

  srv_exec *x;

  /* The groups of the executions the server resumed are busy. */
  rc = sqlite3_prepare_v2(q->db,
                          "SELECT grp FROM server_events WHERE name = ?1",
                          -1, &st, NULL);
  if (rc != SQLITE_OK)
    return q_fail(q, rc, err);
  for (x = s->execs; x; x = x->next) {
    memset(&ex, 0, sizeof(ex));
    xerr = (sw_err)SW_ERR_INIT;
    if (sw_store_get_execution(s->store, x->id, &ex, &xerr) == 0) {
      sqlite3_reset(st);
      sqlite3_bind_text(st, 1, ex.name, -1, SQLITE_TRANSIENT);
      if (sqlite3_step(st) == SQLITE_ROW)
        srv_queue_busy(s, (const char *)sqlite3_column_text(st, 0), x->id);
    }
    sw_store_execution_dispose(&ex);
  }
  sqlite3_finalize(st);
  st = NULL;
  rc = sqlite3_prepare_v2(q->db,
                          "SELECT name, workflow, grp, input FROM "
                          "server_events WHERE state = 'queued' ORDER BY "
                          "rowid",
                          -1, &st, NULL);
  if (rc != SQLITE_OK)
    return q_fail(q, rc, err);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    const char *wf = (const char *)sqlite3_column_text(st, 1);
    const char *grp = (const char *)sqlite3_column_text(st, 2);
    memset(&ex, 0, sizeof(ex));
    xerr = (sw_err)SW_ERR_INIT;
    if (sw_store_get_execution(s->store, name, &ex, &xerr) == 0) {
      /* Started before the crash. */
      if (!strcmp(ex.status, "RUNNING") && srv_resumed(s, ex.id))
        srv_queue_busy(s, grp, ex.id);
      mark_started(q, name);
      sw_store_execution_dispose(&ex);
      continue;
    }
    for (i = 0; i < SRV_WF_COUNT; i++)
      if (!strcmp(wf, sw_server_workflows[i]))
        break;
    if (i == SRV_WF_COUNT)
      continue;
    e = sw_calloc(1, sizeof(*e));
    e->name = sw_strdup(name);
    e->group = sw_strdup(grp);
    e->input = sw_strdup((const char *)sqlite3_column_text(st, 3));
    e->wf = (srv_workflow)i;
    group_push(q, e);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return q_fail(q, rc, err);
  return srv_queue_commit(s, err); /* the marks */
}
