/* SPDX-License-Identifier: MIT */
/* ingest internals shared by its files. */
#ifndef SW_INGEST_INT_H
#define SW_INGEST_INT_H

#include <stdint.h>
#include <stdio.h>

#include "ingest/ingest.h"
#include "http/http.h"

#define E_INPUT "Ingest.InvalidInput"
#define E_CONFIG "Ingest.ConfigError"
#define E_NOFILE "Ingest.FileNotFound"
#define E_NOCONFIG "Ingest.NoConfig"
#define E_AMBIGUOUS "Ingest.AmbiguousConfig"
#define E_TOOSMALL "Ingest.TooSmall"
#define E_FILETYPE "Ingest.WrongFileType"
#define E_NOHEADER "Ingest.NoHeader"
#define E_TRAILER "Ingest.TrailerMismatch"
#define E_BADFILE "Ingest.BadFile"
#define E_BADROW "Ingest.BadRow"
#define E_LOAD "Ingest.LoadFailed"
#define E_POSTLOAD "Ingest.PostLoadFailed"
#define E_ARCHIVE "Ingest.ArchiveFailed"
#define E_NOTIFY "Ingest.NotifyFailed"

#define IG_MAX_BAD 10             /* bad rows named in a cause */
#define IG_MAX_LINE (1u << 20)    /* longest line accepted, bytes */

typedef struct ig_settings {
  char *path;            /* the INI file read, for messages */
  char *archive_dir;
  char *work_dir;
  long long min_size;
  char *notify_url;
  char *notify_command;
  long notify_timeout_ms;
} ig_settings;

/* How a value of a target column is checked and written. */
typedef enum ig_kind {
  K_TEXT, K_DATE, K_TS, K_INT, K_NUM, K_FLOAT, K_BOOL
} ig_kind;

typedef struct ig_col {
  char *name;
  long width;            /* fixed width in characters; 0 when delimited */
  /* from the target's catalog (load only) */
  char *type;            /* declared type, e.g. "varchar(11)" */
  ig_kind kind;
  long long maxlen;      /* K_TEXT: characters, 0 = none */
  long long imin, imax;  /* K_INT range */
  int int_digits;        /* K_NUM: integer digits allowed, -1 = any */
  bool notnull;
} ig_col;

/* One config row (lookup's output "config", parsed and checked). */
typedef struct ig_config {
  char *interface_id;    /* text of ext_interface_cid */
  char *tgt_schema;      /* may be NULL */
  char *tgt_table;
  char *file_type;
  bool fixed;            /* file_format fixed_width */
  char delim;
  char quote;
  bool header, trailer, split;
  long tr_start, tr_end; /* 1-based inclusive */
  char **prefixes;       /* split record prefixes */
  size_t n_prefixes;
  char *query;           /* post-load SQL or NULL */
  ig_col *cols;
  size_t n_cols;
  long total_width;      /* fixed: sum of widths */
} ig_config;

/* A streaming line reader over a (possibly compressed) file. */
typedef struct ig_reader ig_reader;

typedef enum ig_action {
  A_LOOKUP, A_CHECK, A_SPLIT, A_LOAD, A_POSTLOAD, A_AUDIT, A_ARCHIVE,
  A_NOTIFY
} ig_action;

typedef struct ig_part {
  char *file;            /* path */
  char *name;            /* basename */
  cJSON *config_json;    /* borrowed from params */
  ig_config cfg;
  char *prefix;          /* split record prefix, or NULL */
  char *stage;           /* staging table name (unquoted) */
  bool skip_header, skip_trailer;
  char *target;          /* quoted physical target */
  bool has_file_name;    /* target has a file_name column */
} ig_part;

struct sw_ingest {
  uv_loop_t *loop;
  sw_warehouse *wh;
  char *sql_dir;
};

struct sw_ingest_task {
  sw_ingest *ig;
  uv_loop_t *loop;
  sw_warehouse *wh;
  ig_action action;
  cJSON *params;
  char *token;
  sw_ingest_done_cb done;
  void *payload;
  bool cancelled;
  bool finished;
  ig_settings set;
  uv_work_t work;
  bool job_busy;
  bool finish_pending;
  void (*work_fn)(sw_ingest_task *t);
  void (*after_fn)(sw_ingest_task *t);
  uv_timer_t timer;
  void (*timer_fn)(sw_ingest_task *t);
  sw_http *http;
  uv_process_t proc;
  bool proc_live;
  sw_err err;
  const char *fail_name;
  char *cause;           /* the whole cause of a failure (err.msg is cut
                            at SW_ERR_MSG_MAX); owned */
  cJSON *out;
  /* sql helper */
  char *stmt_id;
  int poll_ms;
  cJSON *rows;
  void (*sql_next)(sw_ingest_task *t);
  bool sql_want_rows;
  const char *sql_fail;  /* error name for a failed statement */
  void (*on_sql_fail)(sw_ingest_task *t, const char *msg); /* or this */
  /* the file and its parts */
  const char *file;      /* path (borrowed from params) */
  char *name;            /* basename */
  char *key;
  char *script;          /* setup script text */
  ig_part *parts;
  size_t n_parts;
  size_t next;
  char *work_dir;        /* split: parts directory */
  /* load */
  void *conv;            /* converter of the part being staged */
  const char **bulk_cols;/* its column list, borrowed by the service */
  const char *pending_fail; /* load: fail with this after dropping staging */
  char *pending_msg;     /* ... and this cause; owned */
  long long rows_total;
};

/* ingest.c */
void ig_fail(sw_ingest_task *t, const char *name, const char *fmt, ...)
    SW_PRINTF(3, 4);
void ig_succeed(sw_ingest_task *t, cJSON *out);
void ig_job(sw_ingest_task *t, void (*work_fn)(sw_ingest_task *),
            void (*after_fn)(sw_ingest_task *));
void ig_sql(sw_ingest_task *t, const char *const *sqls, size_t n,
            const sw_wh_param *params, size_t n_params, const char *token,
            bool want_rows, void (*next)(sw_ingest_task *t));
const char *ig_field(const cJSON *row, int i, char *buf, size_t cap);
bool ig_is_pg(const sw_ingest_task *t);
char *ig_table(const sw_ingest_task *t, const char *schema,
               const char *table);
char *ig_quote_ident(const char *s);
const char *ig_basename(const char *path);
char *ig_key_of(const char *name);
void ig_now_text(char out[32]);
/* The longest prefix of s (n bytes available) of at most max bytes that
 * does not end inside a UTF-8 sequence. */
size_t ig_utf8_cut(const char *s, size_t n, size_t max);

/* ingest_file.c */
int ig_config_parse(ig_config *c, const cJSON *j, sw_err *err);
void ig_config_dispose(ig_config *c);
int ig_col_type(ig_col *c, const char *type, sw_err *err);
void ig_check_work(sw_ingest_task *t);   /* sets t->out or fail_name */
void ig_split_work(sw_ingest_task *t);   /* writes parts, sets t->out */
/* Converter from a part's lines to CSV for sw_warehouse_bulk_load. */
void *ig_conv_new(const ig_part *p, bool skip_header, bool skip_trailer);
int ig_conv_read(void *payload, char *buf, size_t cap, size_t *n_out,
                 sw_err *err);
/* After the load: bad rows found (their description in *cause, owned by
 * the converter), and rows converted. */
long ig_conv_bad(void *conv, const char **cause);
void ig_conv_free(void *conv);

/* ingest_load.c */
void ig_load_start(sw_ingest_task *t);

#endif
