/* SPDX-License-Identifier: MIT */
/* objects internals: the store object shared by the front and local
 * backend (objects.c) and the S3 backend (obj_s3.c). */
#ifndef SW_OBJECTS_INT_H
#define SW_OBJECTS_INT_H

#include <stdbool.h>

#include "http/http.h"
#include "objects/objects.h"

struct sw_objects {
  uv_loop_t *loop;
  bool is_s3;
  char *base_url;       /* "s3://b/pfx/" or "file:///dir/": + key = URL */
  char *dir;            /* local: the directory (no trailing '/') */
  /* s3 */
  char *bucket;
  char *prefix;         /* "" or "pfx/" (always ends with '/') */
  char *region;
  char *endpoint;       /* "http://h:p/bucket" or "https://b.s3.r..." */
  bool path_style;
  long timeout_ms;
  int max_keys;
  sw_aws_creds creds;
  sw_http *http;
  struct s3op *ops;     /* S3 operations not yet completed */
  uint64_t rng;         /* xorshift64 for the backoff jitter */
  /* both */
  int pending;          /* jobs, op timers and the http handle to close */
  bool closing;
  void (*close_cb)(void *payload);
  void *close_payload;
};

/** Check a key (see objects.h). SW_EINVAL with the reason. */
int sw__objects_check_key(const char *key, sw_err *err);

/** Called when a pending item (job, timer, http handle) is gone: when
 * closing and it was the last, the store is freed and close_cb runs. */
void sw__objects_release(sw_objects *os);

/** Copy `src` to `dst` through a temporary file beside dst, fsync, rename
 * and fsync the directory. Blocking (thread pool). SW_ENOTFOUND when src
 * is missing (message "what: ..."), SW_EIO otherwise. */
int sw__objects_copy_file(const char *src, const char *dst, const char *what,
                          sw_err *err);

/** fsync a file's directory. */
void sw__objects_sync_dir(const char *path);

/* S3 backend (obj_s3.c). */
int sw__s3_open(sw_objects *os, const char *rest, sw_err *err);
void sw__s3_close(sw_objects *os);
void sw__s3_free(sw_objects *os);
int sw__s3_put(sw_objects *os, const char *key, const char *path,
               sw_objects_cb cb, void *payload, sw_err *err);
int sw__s3_get(sw_objects *os, const char *key, const char *path,
               sw_objects_cb cb, void *payload, sw_err *err);
int sw__s3_delete(sw_objects *os, const char *key, sw_objects_cb cb,
                  void *payload, sw_err *err);
int sw__s3_list(sw_objects *os, const char *prefix, sw_objects_list_cb cb,
                void *payload, sw_err *err);

#endif
