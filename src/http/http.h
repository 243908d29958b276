/* SPDX-License-Identifier: MIT */
/* http: HTTP(S) requests on the libuv loop through one curl multi handle
 * (STYLE.md 3.1), optionally signed with AWS SigV4 by libcurl itself, and
 * the AWS credential, region and endpoint resolution the AWS clients
 * (redshift-data, later the Step Functions activity worker) share.
 *
 * Invariants: every request completes exactly once through its callback
 * (success, HTTP error, transport error, timeout, cancel or close); a
 * response body never exceeds its limit (SW_ELIMIT); curl's result, the
 * HTTP status and curl's error text are mapped to sw_err in one place
 * (http.c). Secrets (secret keys, session tokens, Authorization headers)
 * are never logged and never appear in an sw_err message.
 * All calls and callbacks happen on the loop thread. */
#ifndef SW_HTTP_H
#define SW_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "common/common.h"

typedef struct sw_http sw_http;
typedef struct sw_http_req sw_http_req;

/** Streaming response sink: receives the body of a 2xx response in order,
 * `n` bytes at `data` (borrowed for the call), on the loop thread. Return
 * 0 to go on; < 0 (with err set, at most once) stops the transfer, and the
 * request completes with that error. A response with another status is
 * not streamed: its body is kept in memory (bounded by max_body) so the
 * caller can read the service's error document. */
typedef int (*sw_http_sink_fn)(const char *data, size_t n, void *payload,
                               sw_err *err);

/** Streaming request body source: fill buf with up to cap bytes and set
 * *n_out (0 only at the end); return 0, or < 0 with err set to abort the
 * request (it completes with that error). On the loop thread. A source
 * is read once, front to back: nothing rewinds it. */
typedef int (*sw_http_source_fn)(char *buf, size_t cap, size_t *n_out,
                                 void *payload, sw_err *err);

/** Limits of a multi handle (0 = the default in brackets). */
typedef struct sw_http_limits {
  long max_total_connections; /* CURLMOPT_MAX_TOTAL_CONNECTIONS [64] */
  long max_host_connections;  /* CURLMOPT_MAX_HOST_CONNECTIONS [32] */
} sw_http_limits;

/** AWS credentials; strings owned by whoever holds the struct. */
typedef struct sw_aws_creds {
  char *access_key_id;     /* AKID; never NULL once resolved */
  char *secret_access_key; /* secret; never logged */
  char *session_token;     /* NULL for long-term keys; never logged */
  char *source;            /* "environment", "profile NAME in FILE" */
} sw_aws_creds;

/** One request. Every pointer is borrowed for the duration of
 * sw_http_request only (the module copies what it keeps). */
typedef struct sw_http_opts {
  const char *method;             /* "GET", "POST", ... */
  const char *url;                /* absolute http:// or https:// URL */
  const char *const *headers;     /* "Name: value" lines, may be NULL */
  size_t n_headers;
  const char *body;               /* request body (sent with a known size
                                     so SigV4 hashes it); may be NULL */
  size_t body_len;
  const char *sigv4_region;       /* with sigv4_service: sign with SigV4 */
  const char *sigv4_service;      /* signing name, e.g. "redshift-data" */
  const sw_aws_creds *creds;      /* required when signing */
  long timeout_ms;                /* whole transfer [30000] */
  long connect_timeout_ms;        /* connect phase [10000] */
  size_t max_body;                /* response body limit [8 MiB] */
  const char *const *want_headers;/* response header names to capture
                                     (case-insensitive), may be NULL */
  size_t n_want_headers;
  sw_http_sink_fn sink;           /* stream a 2xx body here instead of
                                     memory (max_body then bounds only a
                                     non-2xx body); may be NULL */
  void *sink_payload;
  sw_http_source_fn source;       /* stream the request body from here
                                     (instead of `body`), exactly
                                     source_len bytes (a PUT upload); the
                                     caller signs the payload itself when
                                     SigV4 needs its hash (header
                                     x-amz-content-sha256) */
  void *source_payload;
  unsigned long long source_len;  /* bytes the source yields */
} sw_http_opts;

/** What came back. Borrowed for the duration of the callback. */
typedef struct sw_http_response {
  long status;                       /* HTTP status; 0 when none came */
  const char *body;                  /* NUL-terminated, never NULL */
  size_t body_len;
  const char *const *header_values;  /* parallel to want_headers; NULL
                                        where the header was absent */
} sw_http_response;

/** Completion. `err` is NULL for a 1xx-3xx status. Otherwise err->code is
 * - SW_EREMOTE (origin HTTP, native = status) for a 4xx other than 429,
 * - SW_EAGAIN for 429, 5xx (origin HTTP) and for connection failures
 *   (origin CURL: refused, reset, nothing received, TLS handshake ...),
 * - SW_ETIMEDOUT when timeout_ms passed,
 * - SW_ELIMIT when the body passed max_body,
 * - SW_ECANCELED after sw_http_cancel or sw_http_close,
 * - SW_EIO for any other curl failure (bad URL, unsupported protocol).
 * `resp` is never NULL; when a response was received (status > 0) its
 * body and headers are there even with an err, so the caller can read a
 * service's error document. */
typedef void (*sw_http_cb)(const sw_err *err, const sw_http_response *resp,
                           void *payload);

/**
 * Create a multi handle driven by `loop`. Free it with sw_http_close.
 * @return 0, or SW_EIO when curl cannot be initialised.
 */
int sw_http_new(sw_http **out, uv_loop_t *loop, const sw_http_limits *limits,
                sw_err *err);

/**
 * Start a request. On success the callback runs exactly once, never from
 * inside this call. `req_out` (may be NULL) receives a handle for
 * sw_http_cancel, valid until the callback starts.
 * @return 0; SW_EINVAL for a bad method/URL/headers (empty-valued or
 *         duplicated custom headers corrupt a SigV4 signature, curl #11664,
 *         so they are refused); SW_ECANCELED when the handle is closing.
 */
int sw_http_request(sw_http *h, const sw_http_opts *o, sw_http_cb cb,
                    void *payload, sw_http_req **req_out, sw_err *err);

/** Abort a request; its callback runs with SW_ECANCELED on a later loop
 * turn. Not for a request whose callback has started. */
void sw_http_cancel(sw_http_req *r);

/** Number of requests started and not yet completed. */
size_t sw_http_pending(const sw_http *h);

/** Close: every request still in flight completes with SW_ECANCELED
 * (synchronously, inside this call), then curl is cleaned up and the
 * handles are closed; `cb` (may be NULL) runs once everything is freed.
 * The loop must keep running until then. Not from inside a completion
 * callback of this handle. NULL-safe (cb runs at once). */
void sw_http_close(sw_http *h, void (*cb)(void *payload), void *payload);

/**
 * Percent-decode n bytes of a URL part (RFC 3986 2.1) with libcurl's
 * curl_easy_unescape; with plus_is_space, '+' is a space first (query
 * strings, S3 event keys). Never fails: malformed escapes are kept as
 * they are. Returns an allocated string (sw_free); a decoded NUL ends it.
 */
char *sw_url_decode(const char *s, size_t n, bool plus_is_space);

/* ---- AWS configuration (aws.c) ----------------------------------------- */

/**
 * Resolve credentials: the environment (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), else the profile AWS_PROFILE
 * (or "default") in the shared credentials file (AWS_SHARED_CREDENTIALS_FILE
 * or ~/.aws/credentials), then in the config file (AWS_CONFIG_FILE or
 * ~/.aws/config, section "[profile NAME]" or "[default]").
 * Reads files synchronously: call at start-up, not on a hot path.
 * @return 0; SW_ENOTFOUND with a message that names every place looked at
 *         when nothing was found (or the AWS_PROFILE named does not exist);
 *         SW_EINVAL for a file that is not valid INI or a key id without a
 *         secret. Dispose with sw_aws_creds_dispose.
 */
int sw_aws_creds_resolve(sw_aws_creds *out, sw_err *err);
void sw_aws_creds_dispose(sw_aws_creds *c);

/**
 * The region: `explicit_region` (e.g. a URL's region=) when non-NULL and
 * non-empty, else AWS_REGION, AWS_DEFAULT_REGION, the profile's `region`
 * in the config file. *out is allocated (sw_free).
 * @return 0; SW_ENOTFOUND naming the places looked at; SW_EINVAL for a
 *         region that is not [a-z0-9-]+.
 */
int sw_aws_region_resolve(char **out, const char *explicit_region,
                          sw_err *err);

/**
 * The endpoint of a service: AWS_ENDPOINT_URL_<SERVICE_ID> (the service id
 * upper-cased, '-' and ' ' as '_', e.g. AWS_ENDPOINT_URL_REDSHIFT_DATA),
 * then AWS_ENDPOINT_URL, else "https://<endpoint_prefix>.<region>.
 * amazonaws.com". A trailing '/' is dropped. *out is allocated (sw_free).
 */
void sw_aws_endpoint(char **out, const char *service_id,
                     const char *endpoint_prefix, const char *region);

#endif
