/* SPDX-License-Identifier: MIT */
/* server internals shared by server.c (life cycle, routes, executions),
 * srv_http.c (libmicrohttpd on the loop) and srv_inbox.c (the watched
 * directory). Not for other modules. */
#ifndef SW_SERVER_INT_H
#define SW_SERVER_INT_H

#include "server/server.h"

#include "asl/asl.h"
#include "engine/engine.h"
#include "resources/resources.h"
#include "store/store.h"
#include "warehouse/warehouse.h"

typedef enum srv_workflow {
  SRV_WF_CONTROLSHIFT,
  SRV_WF_INGEST,
  SRV_WF_COUNT
} srv_workflow;
extern const char *const sw_server_workflows[SRV_WF_COUNT];

typedef enum srv_source {
  SRV_SRC_CONTROLSHIFT,
  SRV_SRC_S3,
  SRV_SRC_INBOX,
  SRV_SRC_COUNT
} srv_source;

typedef enum srv_outcome {
  SRV_ACCEPTED,
  SRV_DUPLICATE,
  SRV_REJECTED,
  SRV_SKIPPED,
  SRV_FAILED,
  SRV_OUTCOME_COUNT
} srv_outcome;

/* An accepted event waiting for its group (srv_queue.c). */
typedef struct srv_event {
  char *name;               /* execution name; owned */
  char *group;              /* owned */
  char *input;              /* JSON text; owned */
  srv_workflow wf;
  struct srv_event *next;
} srv_event;

/* Events that must run one at a time, in order (a ControlShift table). */
typedef struct srv_group {
  char *key;                /* owned */
  char exec_id[37];         /* the execution running, "" when idle */
  srv_event *head, *tail;   /* queued */
  struct srv_group *next;
} srv_group;

typedef struct srv_queue srv_queue;

/* An execution this process runs, with its lock. */
typedef struct srv_exec {
  char id[37];
  int lock_fd;
  struct srv_exec *next;
} srv_exec;

/* A file seen in the inbox, waiting to settle. */
typedef struct srv_file {
  char *name;               /* owned */
  long long size;
  long long mtime_ns;
  int seen;                 /* scans that found it unchanged */
  bool taken;               /* its execution exists */
  bool present;             /* found by the current scan */
  struct srv_file *next;
} srv_file;

/* One HTTP request, handed to srv_route once its body is complete. */
typedef struct srv_request {
  const char *method;
  const char *url;
  const char *body;         /* raw bytes, NUL-terminated */
  size_t body_len;
  const char *signature;    /* x-controlshift-webhook-signature or NULL */
  bool too_large;           /* the body passed max_body */
} srv_request;

typedef struct srv_reply {
  int status;
  const char *content_type; /* static */
  char *body;               /* owned by the reply */
  bool processed_header;    /* add x-controlshift-processed: 1 */
  int started;              /* executions this reply reports as started:
                               it may only be sent after their commit */
  srv_source source;        /* for the counters if that commit fails */
} srv_reply;

struct sw_server {
  uv_loop_t *loop;
  char *home, *workflows_dir, *warehouse, *cs_secret, *s3_dir;
  bool quiet;
  size_t max_body;
  int settle_ms;
  sw_warehouse *wh;
  sw_resources *res;
  sw_store *store;
  sw_engine *eng;
  /* what workflows_dir held when last read (epoch ms); the engine owns
   * the definitions (sw_engine_definition) */
  const sw_asl_definition *current[SRV_WF_COUNT];
  const char *current_text[SRV_WF_COUNT];
  int64_t current_ms[SRV_WF_COUNT];
  srv_exec *execs;          /* resumed executions, with their locks */
  int serve_lock;           /* HOME/locks/serve, held while serving */
  unsigned long counts[SRV_SRC_COUNT][SRV_OUTCOME_COUNT];
  unsigned long resumed;
  unsigned long n_accepted;  /* srv_accept acceptances so far */
  srv_queue *queue;         /* HOME/serve.db and the groups */
  uv_timer_t dispatch_timer;
  bool dispatch_init;
  /* HTTP (srv_http.c) */
  void *mhd;                /* struct MHD_Daemon * */
  uv_poll_t mhd_poll;
  uv_timer_t mhd_timer;
  bool mhd_handles;         /* the two handles are initialised */
  void *pending;            /* connections waiting for the batch commit */
  int port;
  /* inbox (srv_inbox.c) */
  char *inbox;
  uv_fs_event_t inbox_ev;
  uv_timer_t inbox_timer;
  bool inbox_handles;
  srv_file *files;
  /* closing */
  uv_timer_t close_turn;
  int closing_handles;
  void (*close_cb)(void *payload);
  void *close_payload;
};

/* server.c */
void srv_route(sw_server *s, const srv_request *rq, srv_reply *out);
/* Start workflow `wf` as execution `name` (inside an engine batch):
 * SRV_ACCEPTED (id_out set), SRV_DUPLICATE (the name exists; id_out set
 * when found) or SRV_FAILED (err set). */
srv_outcome srv_start(sw_server *s, srv_workflow wf, const char *name,
                      const cJSON *input, char id_out[37], sw_err *err);
void srv_count(sw_server *s, srv_source src, srv_outcome o);
/* A handle of srv_http.c/srv_inbox.c finished closing. */
void srv_handle_closed(sw_server *s);

/* True when this server resumed execution `id` (it holds its lock). */
bool srv_resumed(sw_server *s, const char *id);

/* srv_queue.c */
int srv_queue_open(sw_server *s, sw_err *err);
void srv_queue_close(sw_server *s);
/* Record an event in the open serve.db transaction: SRV_ACCEPTED,
 * SRV_DUPLICATE (its name is known) or SRV_FAILED (err set). */
srv_outcome srv_accept(sw_server *s, srv_workflow wf, const char *name,
                       const char *group, const cJSON *input, sw_err *err);
/* Commit what srv_accept recorded (and the started marks); queue the
 * events and dispatch. < 0: nothing of it is on disk, its events are
 * forgotten (no 2xx may be sent for them). err may be NULL. */
int srv_queue_commit(sw_server *s, sw_err *err);
/* Requeue what serve.db holds after a restart. */
int srv_queue_load(sw_server *s, sw_err *err);
void srv_queue_done(sw_server *s, const char *execution_id);
void srv_queue_busy(sw_server *s, const char *group, const char *exec_id);
size_t srv_queue_pending(const sw_server *s);
void srv_dispatch_soon(sw_server *s);
/* True while events of this loop turn wait for their commit: no reply
 * may leave before it (a duplicate of one of them included). */
bool srv_queue_in_txn(const sw_server *s);
void srv_on_dispatch(uv_timer_t *t);

/* srv_http.c: listen on host:port (0 = any); SW_EIO when binding fails. */
int srv_http_start(sw_server *s, const char *host, int port, sw_err *err);
void srv_http_stop(sw_server *s); /* adds to closing_handles */

/* srv_inbox.c: watch dir (must exist); SW_EINVAL when it is no directory */
int srv_inbox_start(sw_server *s, const char *dir, sw_err *err);
void srv_inbox_stop(sw_server *s); /* adds to closing_handles */

#endif
