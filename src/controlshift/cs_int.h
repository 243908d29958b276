/* SPDX-License-Identifier: MIT */
/* controlshift internals shared by its files. */
#ifndef SW_CS_INT_H
#define SW_CS_INT_H

#include <stdint.h>

#include "controlshift/controlshift.h"
#include "http/http.h"

#define E_INPUT "ControlShift.InvalidInput"
#define E_CONFIG "ControlShift.ConfigError"
#define E_EXPIRED "ControlShift.UrlExpired"
#define E_DOWNLOAD "ControlShift.DownloadFailed"
#define E_TRANSIENT "ControlShift.Transient"
#define E_SCHEMA "ControlShift.SchemaError"
#define E_NOTABLE "ControlShift.NoTable"
#define E_BADEXPORT "ControlShift.BadExport"
#define E_LOAD "ControlShift.LoadFailed"

#define CS_HISTORY "controlshift_loads"

typedef struct cs_config {
  char *path;          /* the INI file read */
  char *instance_url;  /* without a trailing '/'; may be NULL */
  char *work_dir;
  char *table_prefix;  /* "" when unset */
  char *schema;        /* NULL when unset (or on sqlite) */
  long download_timeout_s;
  bool keep_files;     /* keep downloads after a successful load */
} cs_config;

struct sw_controlshift {
  uv_loop_t *loop;
  sw_warehouse *wh;
};

typedef enum cs_action { A_DOWNLOAD, A_SCHEMA, A_LOAD } cs_action;

struct sw_cs_task {
  sw_controlshift *cs;
  uv_loop_t *loop;
  sw_warehouse *wh;
  cs_action action;
  cJSON *params;
  char *token;
  sw_cs_done_cb done;
  void *payload;
  bool cancelled;
  bool finished;
  cs_config cfg;
  int cfg_rc;
  uv_work_t work;
  bool job_busy;
  bool finish_pending;
  void (*work_fn)(sw_cs_task *t);
  void (*after_fn)(sw_cs_task *t);
  uv_timer_t timer;
  void (*timer_fn)(sw_cs_task *t);
  sw_http *http;
  bool http_busy;
  sw_err err;
  const char *fail_name;
  cJSON *out;
  int64_t started_ms;
  /* the delivery */
  const char *jid;     /* borrowed from params */
  const char *table;   /* ControlShift's table name */
  bool full;           /* data.full_table_exported */
  char *target;        /* prefix + table */
  char *q_target;      /* quoted, schema-qualified */
  char *q_history;     /* quoted, schema-qualified controlshift_loads */
  /* statements */
  char *stmt_id;
  int poll_ms;
  cJSON *rows;         /* Records of the last query */
  void (*sql_next)(sw_cs_task *t);
  void (*sql_failed)(sw_cs_task *t, const char *status, const char *why);
  bool sql_want_rows;
  void (*hist_next)(sw_cs_task *t); /* after cs_history_lookup */
  /* download */
  int fd;
  char *path;
  char *tmp;
  uint64_t bytes;
  /* schema / load */
  void *state;         /* cs_load.c / cs_schema.c */
};

/* controlshift.c */
void cs_fail(sw_cs_task *t, const char *name, const char *fmt, ...)
    SW_PRINTF(3, 4);
void cs_succeed(sw_cs_task *t, cJSON *out);
void cs_job(sw_cs_task *t, void (*work_fn)(sw_cs_task *),
            void (*after_fn)(sw_cs_task *));
void cs_after(sw_cs_task *t, long ms, void (*fn)(sw_cs_task *));
char *cs_ident(const char *s);
char *cs_literal(const char *s);
/* schema-qualified quoted name of `name` (cfg.schema, not on sqlite) */
char *cs_qualified(const sw_cs_task *t, const char *name);
bool cs_is_sqlite(const sw_cs_task *t);
bool cs_is_pg(const sw_cs_task *t);
/* Submit sqls (a batch when n > 1) with `token` (may be NULL), poll to
 * the end, then next(t) (rows in t->rows when want_rows). A FAILED or
 * ABORTED statement calls failed(t, status, error) when set, else fails
 * the task with E_LOAD. */
void cs_sql(sw_cs_task *t, const char *const *sqls, size_t n,
            const char *token, bool want_rows, void (*next)(sw_cs_task *t));
void cs_sql1(sw_cs_task *t, const char *sql, bool want_rows,
             void (*next)(sw_cs_task *t));
/* Poll an existing statement Id (t->stmt_id) like cs_sql. */
void cs_sql_poll(sw_cs_task *t, bool want_rows, void (*next)(sw_cs_task *t));
const char *cs_field(const cJSON *row, int i);
/* Make controlshift_loads, then look the delivery up: next(t) runs with
 * t->rows = [[rows, file_rows]] when it was loaded, [] otherwise. */
void cs_history_lookup(sw_cs_task *t, void (*next)(sw_cs_task *t));
/* SQL that lists the target's columns as rows [name, type]. */
char *cs_columns_sql(const sw_cs_task *t);

/* cs_schema.c */
void cs_schema_start(sw_cs_task *t);
void cs_schema_free(sw_cs_task *t);

/* cs_load.c */
void cs_load_start(sw_cs_task *t);
void cs_load_free(sw_cs_task *t);

#endif
