/* SPDX-License-Identifier: MIT */
/* stepwise error values: the C-level status every fallible function returns,
 * and the caller-owned sw_err that carries the detail (STYLE.md 2.5). */
#ifndef STEPWISE_ERROR_H
#define STEPWISE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SW_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define SW_EXTERN __attribute__((visibility("default")))
#else
#define SW_PRINTF(fmt, args)
#define SW_EXTERN
#endif

/** Status codes: 0 on success, negative on failure. */
typedef enum sw_code {
  SW_OK = 0,
  SW_ERROR = -1,     /* generic failure; details in sw_err.msg */
  SW_ENOMEM = -2,    /* out of memory (only where we propagate it) */
  SW_EINVAL = -3,    /* bad argument, invalid definition or input */
  SW_ENOTFOUND = -4, /* named thing does not exist */
  SW_EEXISTS = -5,   /* named thing exists already */
  SW_ETIMEDOUT = -6, /* a deadline passed */
  SW_ECANCELED = -7, /* the operation was cancelled */
  SW_EIO = -8,       /* local I/O: files, SQLite */
  SW_EREMOTE = -9,   /* a remote service answered with an error */
  SW_ELIMIT = -10,   /* a configured size/depth/count limit was hit */
  SW_EAGAIN = -11    /* transient: safe to retry */
} sw_code;

/** Which layer produced sw_err.native. */
typedef enum sw_origin {
  SW_ORIGIN_NONE,
  SW_ORIGIN_OS,
  SW_ORIGIN_UV,
  SW_ORIGIN_CURL,
  SW_ORIGIN_HTTP,
  SW_ORIGIN_PG,
  SW_ORIGIN_SQLITE,
  SW_ORIGIN_ARCHIVE,
  SW_ORIGIN_JSON,
  SW_ORIGIN_ASL
} sw_origin;

#define SW_ERR_MSG_MAX 4096/* bytes, including the NUL */

/** Error detail, owned by the caller (usually on its stack). */
typedef struct sw_err {
  int code;                 /* sw_code: SW_OK or < 0 */
  sw_origin origin;         /* which layer produced `native` */
  long native;              /* errno, UV_E*, CURLcode, HTTP status, SQLite rc */
  char sqlstate[6];         /* PostgreSQL SQLSTATE, "" otherwise */
  char msg[SW_ERR_MSG_MAX]; /* one line, no trailing newline */
} sw_err;

#define SW_ERR_INIT {SW_OK, SW_ORIGIN_NONE, 0, "", ""}

/**
 * Record an error in *err (err may be NULL) and return `code`, so callers
 * can write `return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0, "...");`.
 * Newlines in the formatted message are replaced by spaces.
 */
SW_EXTERN int sw_err_set(sw_err *err, int code, sw_origin origin, long native,
                         const char *fmt, ...) SW_PRINTF(5, 6);

/** Prefix the existing message of *err with context ("file: "). */
SW_EXTERN void sw_err_prefix(sw_err *err, const char *fmt, ...)
    SW_PRINTF(2, 3);

/** Reset *err to SW_ERR_INIT. */
SW_EXTERN void sw_err_clear(sw_err *err);

/** Static name of a code, e.g. "SW_EINVAL". */
SW_EXTERN const char *sw_code_name(int code);

#ifdef __cplusplus
}
#endif
#endif
