/* SPDX-License-Identifier: MIT */
/* common: allocation, buffers, JSON helpers over cJSON, logging, clock,
 * ids and hashes. The only header of the module; every other module may
 * include it. Nothing here does event-loop I/O. */
#ifndef SW_COMMON_H
#define SW_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "stepwise/error.h"

#define SW_CONTAINER_OF(ptr, type, member)                                     \
  ((type *)((char *)(ptr) - offsetof(type, member)))
#define SW_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- allocation (fail fast: OOM aborts, STYLE.md 2.6 rule 2) ---------- */

/** malloc/calloc/realloc/strdup that abort on OOM; never return NULL
 * (sw_malloc(0) returns a valid 1-byte block). Free with sw_free. */
void *sw_malloc(size_t n);
void *sw_calloc(size_t count, size_t n);
void *sw_realloc(void *p, size_t n);
char *sw_strdup(const char *s);              /* NULL in, NULL out */
char *sw_strndup(const char *s, size_t n);   /* copies at most n bytes */
void sw_free(void *p);                       /* NULL-safe */
/** printf into a new string; the caller frees it with sw_free. */
char *sw_asprintf(const char *fmt, ...) SW_PRINTF(1, 2);
char *sw_vasprintf(const char *fmt, va_list ap);
/** Install sw_malloc/sw_free as cJSON's allocator (once, at start-up). */
void sw_json_init_hooks(void);

/* ---- growable buffer ------------------------------------------------- */

/** A byte buffer {ptr, len, cap, max}; ptr is NUL-terminated when
 * non-NULL. Appends beyond max bytes fail with SW_ELIMIT and leave the
 * buffer disposed (so callers need one cleanup). max 0 = unbounded. */
typedef struct sw_buf {
  char *ptr;  /* owned; NULL until the first append */
  size_t len; /* bytes used, excluding the NUL */
  size_t cap; /* bytes allocated */
  size_t max; /* limit on len in bytes; 0 = none */
} sw_buf;
#define SW_BUF_INIT(max) {NULL, 0, 0, (max)}

int sw_buf_put(sw_buf *b, const void *data, size_t n, sw_err *err);
int sw_buf_puts(sw_buf *b, const char *s, sw_err *err);
int sw_buf_printf(sw_buf *b, sw_err *err, const char *fmt, ...)
    SW_PRINTF(3, 4);
/** Give the bytes to the caller (who frees them with sw_free); the buffer
 * is left empty and reusable. Returns "" (allocated) for an empty buffer. */
char *sw_buf_detach(sw_buf *b);
void sw_buf_dispose(sw_buf *b);

/* ---- files ------------------------------------------------------------ */

/** Read a whole file into *out (NUL-terminated, freed by the caller with
 * sw_free); *len_out (may be NULL) gets its size in bytes. Fails with
 * SW_ENOTFOUND (no such file), SW_EIO (other errors) or SW_ELIMIT (larger
 * than max bytes; 0 = no limit). The message names the path. */
int sw_file_read(char **out, size_t *len_out, const char *path, size_t max,
                 sw_err *err);
/** mkdir -p with mode 0755. SW_EIO on failure. */
int sw_mkdirs(const char *path, sw_err *err);
bool sw_file_exists(const char *path);
/** fsync(fd), then close(fd) whatever fsync said: the descriptor is
 * closed in every case. Returns 0, or -1 with errno from the first call
 * that failed. */
int sw_fsync_close(int fd);
/** Take an exclusive POSIX record lock on `path` (created 0644 if absent),
 * held through the returned descriptor until it is closed or the process
 * exits (the kernel drops it when a killed process dies, so a crash never
 * leaves it stuck). *fd_out gets the descriptor (the caller closes it).
 * @return 0; SW_EAGAIN when another process holds it; SW_EIO when the
 *         file cannot be created or locked (message names the path). */
int sw_file_lock(const char *path, int *fd_out, sw_err *err);

/* ---- JSON ------------------------------------------------------------- */

/** Parse JSON text of len bytes. On a syntax error fails with SW_EINVAL and
 * a message "NAME:LINE:COLUMN: invalid JSON: expected ..." where NAME is
 * `name` (a file path or "input"). Trailing non-space text is an error.
 * The caller owns *out (cJSON_Delete). Nesting deeper than cJSON's limit
 * (1000) is reported the same way. */
int sw_json_parse(cJSON **out, const char *text, size_t len, const char *name,
                  sw_err *err);
/** Compact serialisation; the caller frees with sw_free. Never NULL.
 * Same text as cJSON_PrintUnformatted, faster: integers are printed
 * without printf (this is on every checkpoint's path). */
char *sw_json_print(const cJSON *v);
/** Append the compact serialisation of v to b. SW_ELIMIT past b->max. */
int sw_json_write(sw_buf *b, const cJSON *v, sw_err *err);
/** Add val to obj under key, replacing an existing member. Always consumes
 * val (STYLE.md 2.6 rule 7). */
void sw_json_set(cJSON *obj, const char *key, cJSON *val);
/** Case-sensitive member lookup; NULL when obj is not an object. */
cJSON *sw_json_get(const cJSON *obj, const char *key);
const char *sw_json_get_str(const cJSON *obj, const char *key); /* or NULL */
/** Deep copy (never NULL for non-NULL input). */
cJSON *sw_json_dup(const cJSON *v);
/** Append a JSON Pointer token (RFC 6901: ~ -> ~0, / -> ~1) to b. */
int sw_json_pointer_append(sw_buf *b, const char *token, sw_err *err);
/** Size in bytes of the compact serialisation of v. */
size_t sw_json_size(const cJSON *v);

/* ---- logging ---------------------------------------------------------- */

typedef enum sw_log_level {
  SW_LOG_DEBUG,
  SW_LOG_INFO,
  SW_LOG_WARN,
  SW_LOG_ERROR
} sw_log_level;
/** Log one line to stderr when level >= the threshold (STEPWISE_LOG env:
 * debug|info|warn|error; default warn). Never pass secrets. */
void sw_log(sw_log_level level, const char *fmt, ...) SW_PRINTF(2, 3);
void sw_log_set_level(sw_log_level level);

/* ---- clock and time formats ------------------------------------------ */

/** Wall clock, milliseconds since the Unix epoch. */
int64_t sw_time_now_ms(void);
/** Format epoch ms as ISO 8601 UTC with milliseconds, "2024-01-02T03:04:05.678Z"
 * into out (at least 32 bytes). */
void sw_time_format_iso(char *out, size_t size, int64_t epoch_ms);
/** Parse an RFC 3339 timestamp ("2016-03-14T01:59:00Z", fractional seconds
 * and numeric offsets allowed) into epoch ms. SW_EINVAL when malformed. */
int sw_time_parse_rfc3339(int64_t *out, const char *s);

/* ---- ids and hashes (OpenSSL libcrypto) ------------------------------- */

/** A random version-4 UUID, lower-case, into out (at least 37 bytes). */
void sw_uuid_v4(char *out);
/** SHA-256 of data as 64 lower-case hex characters plus NUL into out. */
void sw_sha256_hex(char out[65], const void *data, size_t len);
/** HMAC-SHA256(key, data) (RFC 2104) as 64 lower-case hex characters plus
 * NUL into out. */
void sw_hmac_sha256_hex(char out[65], const void *key, size_t key_len,
                        const void *data, size_t len);
/** Compare n bytes in time that does not depend on where they differ
 * (for signatures and tokens). */
bool sw_const_time_equal(const void *a, const void *b, size_t n);

#endif
