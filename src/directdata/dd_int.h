/* SPDX-License-Identifier: MIT */
/* directdata internals shared by its files. */
#ifndef SW_DD_INT_H
#define SW_DD_INT_H

#include <stdint.h>

#include "directdata/directdata.h"
#include "http/http.h"

#define E_CONFIG "DirectData.ConfigError"
#define E_AUTH "DirectData.AuthFailed"
#define E_MISMATCH "DirectData.VaultMismatch"
#define E_TRANSIENT "DirectData.Transient"
#define E_VAULT "DirectData.VaultError"
#define E_RELOAD "DirectData.FullReloadRequired"
#define E_NOTDOWN "DirectData.NotDownloaded"
#define E_UNSAFE "DirectData.UnsafeArchive"
#define E_NOTUNPACKED "DirectData.NotUnpacked"
#define E_BADEXTRACT "DirectData.BadExtract"
#define E_LOAD "DirectData.LoadFailed"
#define E_INPUT "DirectData.InvalidInput"

typedef struct dd_config {
  char *section;
  char *base_url;      /* https://vault_dns or vault_url */
  char *dns;
  char *username;
  char *password;      /* never logged */
  char *version;       /* "v25.2" */
  char *client_id;
  long vault_id;       /* expected vaultId; 0 = not checked */
  char *store;         /* local object-store directory */
  int max_parallel;    /* concurrent part downloads */
  long burst_floor;    /* pause when BurstLimitRemaining drops below */
  long burst_pause_ms;
  long part_timeout_ms;
  uint64_t max_entry_bytes;
} dd_config;

struct sw_directdata {
  uv_loop_t *loop;
  sw_warehouse *wh;
  char *session_key;   /* "base|user" the cached session belongs to */
  char *session_id;    /* cached; never logged */
  bool bookkept;       /* the bookkeeping tables exist (made once per
                          process) */
};

typedef enum dd_action { A_LIST, A_RETRIEVE, A_UNPACK, A_LOAD } dd_action;

typedef struct dd_part {
  char *name;          /* "X-F.001" */
  char *filename;      /* "X-F.tar.gz.001" */
  long long size;
  char *md5;           /* may be NULL */
  bool have;           /* verified copy on disk */
  bool busy;
  bool fetched;        /* transfer complete and checked: the finish job
                          (fsync, rename) is due */
  int fd;              /* <part>.tmp being written, or -1 */
  struct evp_md_ctx_st *md; /* md5 of the bytes so far (OpenSSL EVP) */
  unsigned long long got;   /* bytes written so far */
  int attempts;
} dd_part;

typedef struct dd_vreq dd_vreq;
/* Completion of a Vault request: resp is NULL when no usable answer came
 * (then err says why); a streamed 2xx body is not in resp->body, except
 * when it was small enough to be a Vault envelope (DD_HEAD_MAX). */
typedef void (*dd_vreq_cb)(sw_dd_task *t, dd_vreq *q, const sw_err *err,
                           const sw_http_response *resp);
/* A streamed request: `begin` runs before each send (again after a
 * re-login) and resets the destination; `sink` takes the 2xx body. */
typedef int (*dd_vreq_begin_fn)(sw_dd_task *t, dd_vreq *q, sw_err *err);
typedef int (*dd_vreq_sink_fn)(sw_dd_task *t, dd_vreq *q, const char *data,
                               size_t n, sw_err *err);
#define DD_HEAD_MAX 65536 /* a streamed body this small may be a FAILURE
                             envelope: its head is kept to read it */

struct dd_vreq {
  sw_dd_task *t;
  char *method;
  char *url;
  char *body;          /* form body (contains the password): wiped */
  size_t max_body;
  long timeout_ms;
  bool relogged;
  bool is_auth;
  int idx;             /* part index, or -1 */
  char *used_session;
  dd_vreq *after;      /* auth: the requests to send once logged in */
  dd_vreq *next_waiting; /* the next one in that chain */
  dd_vreq_cb cb;
  dd_vreq_begin_fn begin; /* streamed requests only */
  dd_vreq_sink_fn sink;
  char *head;          /* first DD_HEAD_MAX bytes of a streamed body */
  size_t head_len;
  unsigned long long total; /* bytes of the streamed body */
};

struct sw_dd_task {
  sw_directdata *dd;
  uv_loop_t *loop;
  sw_warehouse *wh;
  dd_action action;
  cJSON *params;
  char *token;
  sw_dd_done_cb done;
  void *payload;
  bool cancelled;
  bool finished;
  dd_config cfg;
  int cfg_rc;
  uv_work_t work;
  bool job_busy;       /* `work` is queued or running */
  bool finish_pending; /* finish once the job is back */
  void (*work_fn)(sw_dd_task *t);
  void (*after_fn)(sw_dd_task *t);
  uv_timer_t timer;    /* polls and pauses; closed before free */
  void (*timer_fn)(sw_dd_task *t);
  sw_http *http;       /* created on first Vault call */
  dd_vreq *auth_q;     /* the login in flight: requests that need a
                          session wait on it, so one login serves all */
  int inflight;        /* Vault requests outstanding */
  int64_t pause_until; /* ms: no new Vault request before */
  sw_err err;
  const char *fail_name;
  cJSON *out;
  /* file being handled (retrieve/unpack/load) */
  cJSON *file;         /* borrowed from params */
  const char *name;
  char *dir;           /* <store>/<name> */
  dd_part *parts;
  size_t n_parts;
  size_t next_part;
  int downloaded;
  int reused;
  int verifying;       /* part in the verify job, or -1 */
  bool failing;
  /* list */
  char *cursor;        /* last loaded stop_time, or NULL */
  char *win_start;
  char *win_stop;
  /* sql helper */
  char *stmt_id;
  int poll_ms;
  cJSON *rows;         /* Records of the last query */
  void (*sql_next)(sw_dd_task *t);
  void (*load_next)(sw_dd_task *t); /* after the bookkeeping tables */
  bool sql_want_rows;
  /* loader */
  void *load;          /* dd_load state (dd_load.c) */
};

/* directdata.c */
void dd_fail(sw_dd_task *t, const char *name, const char *fmt, ...)
    SW_PRINTF(3, 4);
void dd_succeed(sw_dd_task *t, cJSON *out);
void dd_job(sw_dd_task *t, void (*work_fn)(sw_dd_task *),
            void (*after_fn)(sw_dd_task *));
void dd_after(sw_dd_task *t, long ms, void (*fn)(sw_dd_task *));
int dd_rmtree(const char *path);
bool dd_safe_name(const char *s);

/* dd_vault.c */
void dd_vault_request(sw_dd_task *t, const char *method, const char *url,
                      size_t max_body, long timeout_ms, int idx,
                      dd_vreq_cb cb);
/* A GET whose 2xx body streams into `sink` (after `begin`). */
void dd_vault_stream(sw_dd_task *t, const char *url, long timeout_ms,
                     int idx, dd_vreq_begin_fn begin, dd_vreq_sink_fn sink,
                     dd_vreq_cb cb);
void dd_vault_list(sw_dd_task *t);      /* A_LIST after the cursor */
void dd_retrieve_start(sw_dd_task *t);  /* A_RETRIEVE after config */

/* dd_load.c */
void dd_sql(sw_dd_task *t, const char *sql, bool want_rows,
            void (*next)(sw_dd_task *t));
char *dd_quote_ident(const char *s);
char *dd_quote_literal(const char *s);
void dd_load_start(sw_dd_task *t);      /* A_LOAD after config */
void dd_load_free(sw_dd_task *t);
void dd_list_start(sw_dd_task *t);      /* A_LIST after config */

#endif
