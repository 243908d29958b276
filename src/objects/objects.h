/* SPDX-License-Identifier: MIT */
/* objects: an object store with two backends behind one interface, so
 * that files can be staged where a warehouse loads them (Redshift COPY
 * reads S3) and moved between runs:
 *
 *   file:///DIR[/PREFIX]     a local directory (the default: HOME/objects)
 *   s3://BUCKET[/PREFIX][?region=R&max_keys=N&timeout_ms=N&path_style=1]
 *
 * Keys are relative to the store's prefix ("stage/x.csv" in
 * s3://b/load is the object "load/stage/x.csv" of bucket b). A key is
 * 1..1024 bytes, not starting with '/', without empty, "." or ".."
 * components and without control characters (SW_EINVAL otherwise): the
 * same key is then safe as a path under the local directory.
 *
 * S3 (REST, path as in the S3 API reference): PutObject, GetObject,
 * ListObjectsV2 (continuation tokens, every page), DeleteObject. Requests
 * are signed with SigV4 by libcurl (src/http). The payload of a PUT is
 * signed by its SHA-256 (x-amz-content-sha256), computed with OpenSSL in
 * a thread-pool pass over the file before the upload, rather than
 * UNSIGNED-PAYLOAD: S3 then refuses a body that differs from the file as
 * it was hashed (XAmzContentSHA256Mismatch), so a file changed or
 * corrupted during the upload never becomes an object. The extra cost is
 * one sequential read of the file. GET, LIST and DELETE have no payload
 * (the hash of the empty body).
 * Credentials: sw_aws_creds_resolve (environment, then AWS_PROFILE);
 * region: region= in the URL, else AWS_REGION, AWS_DEFAULT_REGION, the
 * profile's. Endpoint: AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, with
 * path-style addressing (ENDPOINT/BUCKET/KEY), as S3-compatible servers
 * expect; else https://BUCKET.s3.REGION.amazonaws.com/KEY (virtual-hosted;
 * path-style for a bucket name with a '.', or with path_style=1).
 *
 * Decisions:
 * - Bodies are streamed: a PUT reads the file through the http module's
 *   `source`, a GET writes through its `sink`; neither holds the object
 *   in memory. A GET (both backends) writes a temporary file next to the
 *   destination, fsyncs it and renames it into place, so the destination
 *   is either absent or complete. A local PUT does the same in the
 *   store's directory (temporary names hold ".stepwise-tmp-" and are never
 *   listed).
 * - Deleting a key that does not exist succeeds, as S3's DeleteObject
 *   does.
 * - Transient failures (HTTP 429/5xx, SlowDown, InternalError,
 *   connection errors, timeouts) are retried with capped exponential
 *   backoff and full jitter, 5 attempts in all: every operation is
 *   idempotent (a PUT sends the whole file again).
 * - A transfer may take long: timeout_ms bounds one request [900000].
 * - Errors are one line: "S3 GetObject s3://b/p/k: NoSuchKey: The
 *   specified key does not exist. (HTTP 404)"; a 403 adds where the
 *   credentials came from, never a key, secret, token or signature.
 *   NoSuchKey and NoSuchBucket are SW_ENOTFOUND; transient ones (after the
 *   retries) SW_EAGAIN; any other service error (AccessDenied,
 *   SignatureDoesNotMatch, ...) SW_EREMOTE; local file errors SW_EIO.
 * All calls and callbacks happen on the loop thread. */
#ifndef SW_OBJECTS_H
#define SW_OBJECTS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/common.h"

typedef struct sw_objects sw_objects;

/** One listed object (borrowed for the duration of the callback). */
typedef struct sw_object_info {
  const char *key;   /* relative to the store's prefix */
  uint64_t size;     /* bytes */
  const char *etag;  /* S3 ETag without quotes; "" for a local file */
  int64_t mtime_ms;  /* LastModified / st_mtime, epoch ms */
} sw_object_info;

/** Completion of put, get and delete: err NULL on success. */
typedef void (*sw_objects_cb)(const sw_err *err, void *payload);

/** Completion of list: items[0..n) sorted by key (byte order, as S3
 * lists), all pages gathered; err NULL on success (items NULL then n 0 on
 * failure). */
typedef void (*sw_objects_list_cb)(const sw_err *err,
                                   const sw_object_info *items, size_t n,
                                   void *payload);

/**
 * Open the store named by `url` on `loop`.
 * @param url  "file:///DIR[/PREFIX]" (DIR created if missing),
 *             "s3://BUCKET[/PREFIX][?...]" (see the top), or NULL / "" for
 *             "file://HOME/objects".
 * @param home the stepwise home directory, for the default (may be NULL
 *             when url is given).
 * @return 0; SW_EINVAL for an unknown scheme or a malformed URL (the
 *         message shows the expected forms); SW_ENOTFOUND when no
 *         credentials or no region are found (S3); SW_EIO when the local
 *         directory cannot be created. Close it with sw_objects_close.
 */
int sw_objects_open(sw_objects **out, uv_loop_t *loop, const char *url,
                    const char *home, sw_err *err);

/** Close: operations in flight complete with SW_ECANCELED (thread-pool
 * copies finish first); `cb` (may be NULL) runs once everything is freed.
 * The loop must keep running until then. NULL-safe. */
void sw_objects_close(sw_objects *os, void (*cb)(void *payload),
                      void *payload);

/**
 * Store the local file `path` as `key` (replacing an existing object).
 * @return 0 and cb runs exactly once, later; < 0 (cb never called) with
 *         SW_EINVAL for a bad key, SW_ECANCELED when closing. cb's error:
 *         SW_ENOTFOUND (the file is missing), SW_EIO, or the S3 errors
 *         above.
 */
int sw_objects_put(sw_objects *os, const char *key, const char *path,
                   sw_objects_cb cb, void *payload, sw_err *err);

/**
 * Fetch `key` into the local file `path` (temporary file, fsync, rename;
 * the directory of `path` must exist). Errors as for put; SW_ENOTFOUND
 * ("NoSuchKey") when the key does not exist.
 */
int sw_objects_get(sw_objects *os, const char *key, const char *path,
                   sw_objects_cb cb, void *payload, sw_err *err);

/** List every object whose key starts with `prefix` ("" or NULL: all). */
int sw_objects_list(sw_objects *os, const char *prefix,
                    sw_objects_list_cb cb, void *payload, sw_err *err);

/** Delete `key`; a missing key is not an error. */
int sw_objects_delete(sw_objects *os, const char *key, sw_objects_cb cb,
                      void *payload, sw_err *err);

/** The URL of `key` as the backend's users name it: "s3://BUCKET/PFX/KEY"
 * (what Redshift's COPY ... FROM takes) or "file:///DIR/KEY". Caller frees
 * (sw_free). */
char *sw_objects_url_of(const sw_objects *os, const char *key);

/** "s3" or "file" (static). */
const char *sw_objects_scheme(const sw_objects *os);

#endif
