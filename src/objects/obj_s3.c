/* SPDX-License-Identifier: MIT */
/* objects, S3 backend: PutObject, GetObject, ListObjectsV2 and
 * DeleteObject over the http module (SigV4 by libcurl), XML parsed with
 * libexpat. See objects.h for the URL, the payload hash and the errors.
 *
 * Signing notes (libcurl 7.88, checked against AWS's signer in
 * tests/peers/s3): libcurl takes the payload hash from our
 * x-amz-content-sha256 header, so the streamed PUT is signed with the
 * file's real hash; the path and the query are signed as sent, so keys
 * are percent-encoded here the way S3 canonicalises them (RFC 3986
 * unreserved characters and '/' kept, everything else %XX) and the query
 * parameters are written in sorted order. */
#include "objects/objects_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <expat.h>
#include <openssl/evp.h>

#define SERVICE "s3"
#define EMPTY_SHA256 \
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define DEFAULT_TIMEOUT_MS 900000
#define DEFAULT_MAX_KEYS 1000
#define ATTEMPTS 5
#define BASE_MS 100
#define CAP_MS 5000
#define HASH_CHUNK (1024 * 1024)
#define MAX_LIST_XML (16u << 20)

typedef enum op_kind { OP_PUT, OP_GET, OP_LIST, OP_DELETE } op_kind;

static const char *const action_names[] = {"PutObject", "GetObject",
                                           "ListObjectsV2", "DeleteObject"};

typedef struct s3op {
  uv_timer_t retry;      /* embedded; backoff between attempts */
  uv_work_t work;        /* PUT: hashing the file */
  sw_objects *os;
  op_kind kind;
  char *key;             /* as given (relative) */
  char *full;            /* bucket key: prefix + key (or list prefix) */
  char *url;             /* object URL (not for list) */
  char *path;            /* local file (put/get) */
  char *tmp;             /* get: temporary file */
  int fd;
  uint64_t size;         /* put: file size */
  uint64_t sent;         /* put: bytes handed to curl this attempt */
  char sha[65];          /* put: payload hash */
  sw_err work_err;       /* put: hashing failure */
  int work_rc;
  int attempt;
  sw_http_req *req;
  bool hashing;          /* the thread-pool job is running */
  /* list */
  char *token;           /* NextContinuationToken, or NULL */
  sw_object_info *items; /* keys and etags owned */
  size_t n, cap;
  sw_objects_cb cb;
  sw_objects_list_cb list_cb;
  void *payload;
  struct s3op *prev, *next;
} s3op;

/* ---- URL ------------------------------------------------------------ */

/* S3's canonical encoding: unreserved kept, '/' kept when keep_slash. */
static void uri_encode(sw_buf *b, const char *s, bool keep_slash)
{
  static const char hex[] = "0123456789ABCDEF";
  char e[3];

  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
        c == '~' || (keep_slash && c == '/')) {
      sw_buf_put(b, s, 1, NULL);
    } else {
      e[0] = '%';
      e[1] = hex[c >> 4];
      e[2] = hex[c & 15];
      sw_buf_put(b, e, 3, NULL);
    }
  }
}

static bool bucket_ok(const char *b)
{
  size_t n = strlen(b);
  const char *p;

  if (n < 3 || n > 63)
    return false;
  for (p = b; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
          *p == '-' || *p == '.'))
      return false;
  return true;
}

int sw__s3_open(sw_objects *os, const char *rest, sw_err *err)
{
  const char *slash = strchr(rest, '/'), *q = strchr(rest, '?');
  const char *p, *amp, *eq;
  char *region_q = NULL, *k, *v, *ep = NULL, *dflt;
  size_t blen, plen;
  long num;
  int rc = 0;

  os->timeout_ms = DEFAULT_TIMEOUT_MS;
  os->max_keys = DEFAULT_MAX_KEYS;
  os->rng = uv_hrtime() | 1;
  if (q && slash && slash > q)
    slash = NULL;
  blen = slash ? (size_t)(slash - rest)
               : (q ? (size_t)(q - rest) : strlen(rest));
  os->bucket = sw_strndup(rest, blen);
  if (!bucket_ok(os->bucket))
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "object store URL: '%.100s' is not an S3 bucket name "
                      "(3..63 of a-z 0-9 . -); expected "
                      "s3://BUCKET/PREFIX", os->bucket);
  if (slash) {
    plen = q ? (size_t)(q - slash - 1) : strlen(slash + 1);
    os->prefix = sw_url_decode(slash + 1, plen, false);
  } else {
    os->prefix = sw_strdup("");
  }
  while (*os->prefix == '/')
    memmove(os->prefix, os->prefix + 1, strlen(os->prefix));
  plen = strlen(os->prefix);
  if (plen > 0 && os->prefix[plen - 1] != '/') {
    char *x = sw_asprintf("%s/", os->prefix);
    sw_free(os->prefix);
    os->prefix = x;
  }
  for (p = q ? q + 1 : NULL; p && *p; p = amp ? amp + 1 : NULL) {
    amp = strchr(p, '&');
    eq = memchr(p, '=', amp ? (size_t)(amp - p) : strlen(p));
    if (!eq)
      continue;
    k = sw_url_decode(p, (size_t)(eq - p), true);
    v = sw_url_decode(eq + 1,
                      amp ? (size_t)(amp - eq - 1) : strlen(eq + 1), true);
    if (!strcmp(k, "region")) {
      sw_free(region_q);
      region_q = sw_strdup(v);
    } else if (!strcmp(k, "path_style")) {
      os->path_style = !strcmp(v, "1") || !strcmp(v, "true");
    } else if (!strcmp(k, "max_keys") || !strcmp(k, "timeout_ms")) {
      char *end = NULL;
      num = strtol(v, &end, 10);
      if (!*v || *end || num < 1 ||
          num > (!strcmp(k, "max_keys") ? 1000 : 86400000L))
        rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "object store URL: %s=%s is out of range", k, v);
      else if (!strcmp(k, "max_keys"))
        os->max_keys = (int)num;
      else
        os->timeout_ms = num;
    } else {
      rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "object store URL: unknown parameter '%s' (expected "
                      "region, path_style, max_keys, timeout_ms)", k);
    }
    sw_free(k);
    sw_free(v);
    if (rc < 0)
      goto done;
  }
  os->base_url = sw_asprintf("s3://%s/%s", os->bucket, os->prefix);
  rc = sw_aws_region_resolve(&os->region, region_q, err);
  if (rc == 0)
    rc = sw_aws_creds_resolve(&os->creds, err);
  if (rc < 0) {
    sw_err_prefix(err, "object store %s: ", os->base_url);
    goto done;
  }
  sw_aws_endpoint(&ep, "S3", SERVICE, os->region);
  dflt = sw_asprintf("https://s3.%s.amazonaws.com", os->region);
  if (strcmp(ep, dflt) != 0)
    os->path_style = true; /* an override: an S3-compatible server */
  sw_free(dflt);
  if (os->path_style || strchr(os->bucket, '.'))
    os->endpoint = sw_asprintf("%s/%s", ep, os->bucket);
  else
    os->endpoint = sw_asprintf("https://%s.s3.%s.amazonaws.com", os->bucket,
                               os->region);
  rc = sw_http_new(&os->http, os->loop, NULL, err);
  if (rc < 0)
    goto done;
  os->pending++; /* the http handle, released when it has closed */
  sw_log(SW_LOG_INFO, "objects: %s at %s, credentials from %s",
         os->base_url, os->endpoint, os->creds.source);
done:
  sw_free(region_q);
  sw_free(ep);
  return rc;
}

void sw__s3_free(sw_objects *os)
{
  sw_free(os->bucket);
  sw_free(os->prefix);
  sw_free(os->region);
  sw_free(os->endpoint);
  sw_aws_creds_dispose(&os->creds);
  if (os->http) {
    /* Open failed after sw_http_new: nothing in flight. */
    sw_http_close(os->http, NULL, NULL);
    os->http = NULL;
  }
}

/* ---- XML (expat) ---------------------------------------------------- */

/* A flat reader: the text of the elements we want, by parent/name. */
typedef struct xml_state {
  char stack[4][32];     /* element names, outermost first (truncated) */
  int depth;
  sw_buf text;           /* character data of the current element */
  /* error document */
  char *code, *message;
  /* ListBucketResult */
  s3op *op;
  bool truncated;
  char *next_token;
  char *c_key, *c_etag, *c_modified;
  uint64_t c_size;
} xml_state;

static void XMLCALL on_start(void *ud, const XML_Char *name,
                             const XML_Char **attrs)
{
  xml_state *x = ud;

  (void)attrs;
  if (x->depth < 4)
    snprintf(x->stack[x->depth], sizeof(x->stack[0]), "%s", name);
  x->depth++;
  x->text.len = 0;
  if (x->text.ptr)
    x->text.ptr[0] = '\0';
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
  xml_state *x = ud;

  sw_buf_put(&x->text, s, (size_t)len, NULL);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
  xml_state *x = ud;
  const char *t = x->text.ptr ? x->text.ptr : "";
  const char *parent = x->depth >= 2 && x->depth <= 5
                           ? x->stack[x->depth - 2] : "";
  s3op *o = x->op;

  x->depth--;
  if (!strcmp(parent, "Error")) {
    if (!strcmp(name, "Code") && !x->code)
      x->code = sw_strdup(t);
    else if (!strcmp(name, "Message") && !x->message)
      x->message = sw_strdup(t);
  } else if (!strcmp(parent, "ListBucketResult")) {
    if (!strcmp(name, "IsTruncated"))
      x->truncated = !strcmp(t, "true");
    else if (!strcmp(name, "NextContinuationToken")) {
      sw_free(x->next_token);
      x->next_token = sw_strdup(t);
    } else if (!strcmp(name, "Contents") && o && x->c_key) {
      size_t plen = strlen(o->os->prefix);
      const char *rel = x->c_key;
      char *etag = x->c_etag ? x->c_etag : sw_strdup("");
      size_t el = strlen(etag);
      int64_t ms = 0;

      if (!strncmp(rel, o->os->prefix, plen))
        rel += plen;
      if (el >= 2 && etag[0] == '"' && etag[el - 1] == '"') {
        memmove(etag, etag + 1, el - 2);
        etag[el - 2] = '\0';
      }
      if (x->c_modified)
        (void)sw_time_parse_rfc3339(&ms, x->c_modified);
      if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        o->items = sw_realloc(o->items, o->cap * sizeof(*o->items));
      }
      o->items[o->n].key = sw_strdup(rel);
      o->items[o->n].etag = etag;
      o->items[o->n].size = x->c_size;
      o->items[o->n].mtime_ms = ms;
      o->n++;
      x->c_etag = NULL;
      sw_free(x->c_key);
      sw_free(x->c_modified);
      x->c_key = x->c_modified = NULL;
      x->c_size = 0;
    }
  } else if (!strcmp(parent, "Contents")) {
    if (!strcmp(name, "Key")) {
      sw_free(x->c_key);
      x->c_key = sw_strdup(t);
    } else if (!strcmp(name, "ETag")) {
      sw_free(x->c_etag);
      x->c_etag = sw_strdup(t);
    } else if (!strcmp(name, "LastModified")) {
      sw_free(x->c_modified);
      x->c_modified = sw_strdup(t);
    } else if (!strcmp(name, "Size")) {
      x->c_size = strtoull(t, NULL, 10);
    }
  }
  x->text.len = 0;
  if (x->text.ptr)
    x->text.ptr[0] = '\0';
}

static void xml_dispose(xml_state *x)
{
  sw_buf_dispose(&x->text);
  sw_free(x->code);
  sw_free(x->message);
  sw_free(x->next_token);
  sw_free(x->c_key);
  sw_free(x->c_etag);
  sw_free(x->c_modified);
}

/* Parse body into x. 0, or -1 when it is not well-formed XML. */
static int xml_parse(xml_state *x, const char *body, size_t len)
{
  XML_Parser p = XML_ParserCreate("UTF-8");
  int ok;

  if (!p)
    return -1;
  XML_SetUserData(p, x);
  XML_SetElementHandler(p, on_start, on_end);
  XML_SetCharacterDataHandler(p, on_text);
  ok = XML_Parse(p, body, (int)len, 1) == XML_STATUS_OK;
  XML_ParserFree(p);
  return ok ? 0 : -1;
}

/* ---- operations ------------------------------------------------------ */

static void op_closed(uv_handle_t *h)
{
  s3op *o = SW_CONTAINER_OF((uv_timer_t *)h, s3op, retry);
  sw_objects *os = o->os;
  size_t i;

  for (i = 0; i < o->n; i++) {
    sw_free((char *)o->items[i].key);
    sw_free((char *)o->items[i].etag);
  }
  sw_free(o->items);
  sw_free(o->token);
  sw_free(o->key);
  sw_free(o->full);
  sw_free(o->url);
  sw_free(o->path);
  sw_free(o->tmp);
  sw_free(o);
  sw__objects_release(os);
}

/* Complete once: callback, then the timer closes and the op goes. */
static void op_finish(s3op *o, const sw_err *err)
{
  sw_objects *os = o->os;

  if (o->prev)
    o->prev->next = o->next;
  else
    os->ops = o->next;
  if (o->next)
    o->next->prev = o->prev;
  o->prev = o->next = NULL;
  uv_timer_stop(&o->retry);
  if (o->fd >= 0) {
    close(o->fd);
    o->fd = -1;
  }
  if (o->tmp && err)
    (void)unlink(o->tmp);
  if (o->kind == OP_LIST)
    o->list_cb(err, err ? NULL : o->items, err ? 0 : o->n, o->payload);
  else
    o->cb(err, o->payload);
  uv_close((uv_handle_t *)&o->retry, op_closed);
}

static bool transient_code(const char *c)
{
  static const char *const names[] = {
      "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout",
      "RequestTimeTooSkewed", "OperationAborted", "Throttling",
      "ThrottlingException", "RequestLimitExceeded"};
  size_t i;

  for (i = 0; c && i < SW_ARRAY_SIZE(names); i++)
    if (!strcmp(c, names[i]))
      return true;
  return false;
}

/* An HTTP outcome to sw_err (0 when it succeeded). */
static int interpret(s3op *o, const sw_err *herr,
                     const sw_http_response *resp, sw_err *err)
{
  const char *action = action_names[o->kind];
  char *where = o->kind == OP_LIST
                    ? sw_asprintf("s3://%s/%s*", o->os->bucket, o->full)
                    : sw_asprintf("s3://%s/%s", o->os->bucket, o->full);
  xml_state x;
  int code;

  memset(&x, 0, sizeof(x));
  if (!herr) {
    sw_free(where);
    return 0;
  }
  if (herr->origin != SW_ORIGIN_HTTP) {
    /* Transport, timeout, our own sink/source error: already mapped. */
    *err = *herr;
    sw_err_prefix(err, "S3 %s %s: ", action, where);
    sw_free(where);
    return err->code;
  }
  if (resp->body_len > 0)
    (void)xml_parse(&x, resp->body, resp->body_len);
  if (!x.code && resp->status == 404)
    x.code = sw_strdup(o->kind == OP_LIST ? "NoSuchBucket" : "NoSuchKey");
  if (x.code && (!strcmp(x.code, "NoSuchKey") ||
                 !strcmp(x.code, "NoSuchBucket")))
    code = SW_ENOTFOUND;
  else if (transient_code(x.code) || resp->status == 429 ||
           resp->status >= 500)
    code = SW_EAGAIN;
  else
    code = SW_EREMOTE;
  sw_err_set(err, code, SW_ORIGIN_HTTP, resp->status,
             "S3 %s %s: %s: %s (HTTP %ld%s%s)", action, where,
             x.code ? x.code : "error",
             x.message ? x.message : "no message", resp->status,
             resp->status == 403 ? ", credentials from " : "",
             resp->status == 403 ? o->os->creds.source : "");
  xml_dispose(&x);
  sw_free(where);
  return code;
}

static int op_send(s3op *o, sw_err *err);

static void on_retry(uv_timer_t *t)
{
  s3op *o = SW_CONTAINER_OF(t, s3op, retry);
  sw_err err = SW_ERR_INIT;

  if (op_send(o, &err) < 0)
    op_finish(o, &err);
}

static uint64_t backoff_ms(sw_objects *os, int attempt)
{
  uint64_t ceil = BASE_MS;
  int i;

  for (i = 1; i < attempt && ceil < CAP_MS; i++)
    ceil *= 2;
  if (ceil > CAP_MS)
    ceil = CAP_MS;
  os->rng ^= os->rng << 13;
  os->rng ^= os->rng >> 7;
  os->rng ^= os->rng << 17;
  return os->rng % (ceil + 1);
}

/* GET succeeded: make the temporary file the destination. */
static int get_commit(s3op *o, sw_err *err)
{
  if (fsync(o->fd) < 0) {
    int e = errno;
    return sw_err_set(err, SW_EIO, SW_ORIGIN_OS, e, "get %s%s: fsync: %s",
                      o->os->base_url, o->key, uv_strerror(-(e)));
  }
  close(o->fd);
  o->fd = -1;
  if (rename(o->tmp, o->path) < 0) {
    int e = errno;
    return sw_err_set(err, SW_EIO, SW_ORIGIN_OS, e,
                      "get %s%s: cannot rename into '%s': %s",
                      o->os->base_url, o->key, o->path, uv_strerror(-(e)));
  }
  sw_free(o->tmp);
  o->tmp = NULL;
  sw__objects_sync_dir(o->path);
  return 0;
}

static void on_http(const sw_err *herr, const sw_http_response *resp,
                    void *payload)
{
  s3op *o = payload;
  sw_objects *os = o->os;
  sw_err err = SW_ERR_INIT;
  xml_state x;
  uint64_t delay;

  o->req = NULL;
  if (herr && herr->code == SW_ECANCELED) {
    op_finish(o, herr);
    return;
  }
  if (interpret(o, herr, resp, &err) < 0) {
    if ((err.code == SW_EAGAIN || err.code == SW_ETIMEDOUT) &&
        !os->closing && o->attempt < ATTEMPTS) {
      delay = backoff_ms(os, o->attempt);
      sw_log(SW_LOG_INFO, "%s; attempt %d of %d in %llu ms", err.msg,
             o->attempt + 1, ATTEMPTS, (unsigned long long)delay);
      uv_timer_start(&o->retry, on_retry, delay, 0);
      return;
    }
    if (err.code == SW_EAGAIN || err.code == SW_ETIMEDOUT) {
      size_t n = strlen(err.msg);
      snprintf(err.msg + n, sizeof(err.msg) - n,
               " (gave up after %d attempts)", o->attempt);
    }
    op_finish(o, &err);
    return;
  }
  if (o->kind == OP_GET) {
    op_finish(o, get_commit(o, &err) < 0 ? &err : NULL);
    return;
  }
  if (o->kind != OP_LIST) {
    op_finish(o, NULL);
    return;
  }
  memset(&x, 0, sizeof(x));
  x.op = o;
  if (xml_parse(&x, resp->body, resp->body_len) < 0) {
    sw_err_set(&err, SW_EREMOTE, SW_ORIGIN_HTTP, resp->status,
               "S3 ListObjectsV2 s3://%s/%s*: the answer is not XML",
               os->bucket, o->full);
    xml_dispose(&x);
    op_finish(o, &err);
    return;
  }
  sw_free(o->token);
  o->token = x.truncated && x.next_token && *x.next_token
                 ? sw_strdup(x.next_token) : NULL;
  if (x.truncated && !o->token) {
    sw_err_set(&err, SW_EREMOTE, SW_ORIGIN_HTTP, resp->status,
               "S3 ListObjectsV2 s3://%s/%s*: IsTruncated without a "
               "NextContinuationToken", os->bucket, o->full);
    xml_dispose(&x);
    op_finish(o, &err);
    return;
  }
  xml_dispose(&x);
  if (!o->token) {
    op_finish(o, NULL);
    return;
  }
  o->attempt = 0; /* the next page has its own attempts */
  if (op_send(o, &err) < 0)
    op_finish(o, &err);
}

static int sink(const char *data, size_t n, void *payload, sw_err *err)
{
  s3op *o = payload;
  ssize_t w;

  while (n > 0) {
    w = write(o->fd, data, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno,
                        "writing '%s': %s", o->tmp, uv_strerror(-(errno)));
    data += w;
    n -= (size_t)w;
  }
  return 0;
}

static int source(char *buf, size_t cap, size_t *n_out, void *payload,
                  sw_err *err)
{
  s3op *o = payload;
  uint64_t left = o->size - o->sent;
  ssize_t r;

  if (cap > left)
    cap = (size_t)left;
  *n_out = 0;
  if (cap == 0)
    return 0;
  do
    r = read(o->fd, buf, cap);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno, "reading '%s': %s",
                      o->path, uv_strerror(-(errno)));
  if (r == 0)
    return sw_err_set(err, SW_EIO, SW_ORIGIN_OS, 0,
                      "'%s' became shorter during the upload", o->path);
  o->sent += (uint64_t)r;
  *n_out = (size_t)r;
  return 0;
}

static int op_send(s3op *o, sw_err *err)
{
  sw_objects *os = o->os;
  sw_http_opts ho;
  sw_buf url = SW_BUF_INIT(0);
  char hdr_sha[96];
  const char *headers[2];
  int rc;

  memset(&ho, 0, sizeof(ho));
  snprintf(hdr_sha, sizeof(hdr_sha), "x-amz-content-sha256: %s",
           o->kind == OP_PUT ? o->sha : EMPTY_SHA256);
  headers[0] = hdr_sha;
  headers[1] = "Content-Type: application/octet-stream";
  ho.headers = headers;
  ho.n_headers = o->kind == OP_PUT ? 2 : 1;
  ho.sigv4_region = os->region;
  ho.sigv4_service = SERVICE;
  ho.creds = &os->creds;
  ho.timeout_ms = os->timeout_ms;
  switch (o->kind) {
  case OP_PUT:
    if (lseek(o->fd, 0, SEEK_SET) < 0)
      return sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno, "'%s': %s",
                        o->path, uv_strerror(-(errno)));
    o->sent = 0;
    ho.method = "PUT";
    ho.url = o->url;
    ho.source = source;
    ho.source_payload = o;
    ho.source_len = o->size;
    break;
  case OP_GET:
    if (ftruncate(o->fd, 0) < 0 || lseek(o->fd, 0, SEEK_SET) < 0)
      return sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno, "'%s': %s",
                        o->tmp, uv_strerror(-(errno)));
    ho.method = "GET";
    ho.url = o->url;
    ho.sink = sink;
    ho.sink_payload = o;
    break;
  case OP_DELETE:
    ho.method = "DELETE";
    ho.url = o->url;
    break;
  case OP_LIST:
    /* Query parameters in sorted order (signed as sent). */
    sw_buf_puts(&url, os->endpoint, NULL);
    sw_buf_puts(&url, os->path_style ? "?" : "/?", NULL);
    if (o->token) {
      sw_buf_puts(&url, "continuation-token=", NULL);
      uri_encode(&url, o->token, false);
      sw_buf_puts(&url, "&", NULL);
    }
    sw_buf_printf(&url, NULL, "list-type=2&max-keys=%d", os->max_keys);
    if (*o->full) {
      sw_buf_puts(&url, "&prefix=", NULL);
      uri_encode(&url, o->full, false);
    }
    ho.method = "GET";
    ho.url = url.ptr;
    ho.max_body = MAX_LIST_XML;
    break;
  }
  o->attempt++;
  rc = sw_http_request(os->http, &ho, on_http, o, &o->req, err);
  sw_buf_dispose(&url);
  return rc;
}

static s3op *op_new(sw_objects *os, op_kind kind, const char *key,
                    const char *path, sw_objects_cb cb,
                    sw_objects_list_cb list_cb, void *payload)
{
  s3op *o = sw_calloc(1, sizeof(*o));
  sw_buf u = SW_BUF_INIT(0);

  o->os = os;
  o->kind = kind;
  o->fd = -1;
  o->key = sw_strdup(key);
  o->full = sw_asprintf("%s%s", os->prefix, key);
  o->path = sw_strdup(path);
  o->cb = cb;
  o->list_cb = list_cb;
  o->payload = payload;
  if (kind != OP_LIST) {
    sw_buf_puts(&u, os->endpoint, NULL);
    sw_buf_puts(&u, "/", NULL);
    uri_encode(&u, o->full, true);
    o->url = sw_buf_detach(&u);
  }
  uv_timer_init(os->loop, &o->retry);
  os->pending++; /* released in op_closed */
  return o;
}

/* Start (or fail without a callback: the op is closed quietly). */
static int op_start(s3op *o, sw_err *err)
{
  sw_objects *os = o->os;
  int rc = op_send(o, err);

  if (rc < 0) {
    if (o->fd >= 0)
      close(o->fd);
    o->fd = -1;
    if (o->tmp)
      (void)unlink(o->tmp);
    uv_close((uv_handle_t *)&o->retry, op_closed);
    return rc;
  }
  o->next = os->ops;
  if (os->ops)
    os->ops->prev = o;
  os->ops = o;
  return 0;
}

/* PUT, thread pool: size and SHA-256 of the file. */
static void hash_work(uv_work_t *w)
{
  s3op *o = SW_CONTAINER_OF(w, s3op, work);
  unsigned char md[EVP_MAX_MD_SIZE], *buf;
  unsigned int mdlen = 0, i;
  EVP_MD_CTX *ctx;
  struct stat st;
  ssize_t n;

  if (fstat(o->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    o->work_rc = sw_err_set(&o->work_err, SW_EIO, SW_ORIGIN_OS, errno,
                            "put %s%s: '%s' is not a regular file",
                            o->os->base_url, o->key, o->path);
    return;
  }
  ctx = EVP_MD_CTX_new();
  buf = sw_malloc(HASH_CHUNK);
  EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  o->size = 0;
  for (;;) {
    n = read(o->fd, buf, HASH_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      o->work_rc = sw_err_set(&o->work_err, SW_EIO, SW_ORIGIN_OS, errno,
                              "put %s%s: reading '%s': %s", o->os->base_url,
                              o->key, o->path, uv_strerror(-(errno)));
      break;
    }
    if (n == 0)
      break;
    EVP_DigestUpdate(ctx, buf, (size_t)n);
    o->size += (uint64_t)n;
  }
  EVP_DigestFinal_ex(ctx, md, &mdlen);
  EVP_MD_CTX_free(ctx);
  sw_free(buf);
  for (i = 0; i < mdlen && i < 32; i++)
    snprintf(o->sha + 2 * i, 3, "%02x", md[i]);
}

static void hash_after(uv_work_t *w, int status)
{
  s3op *o = SW_CONTAINER_OF(w, s3op, work);
  sw_objects *os = o->os;
  sw_err err = SW_ERR_INIT;

  o->hashing = false;
  if (o->work_rc < 0) {
    op_finish(o, &o->work_err);
    return;
  }
  if (status == UV_ECANCELED || os->closing) {
    sw_err_set(&err, SW_ECANCELED, SW_ORIGIN_NONE, 0,
               "object store closed");
    op_finish(o, &err);
    return;
  }
  if (op_send(o, &err) < 0)
    op_finish(o, &err);
}

int sw__s3_put(sw_objects *os, const char *key, const char *path,
               sw_objects_cb cb, void *payload, sw_err *err)
{
  s3op *o;
  int fd = open(path, O_RDONLY | O_CLOEXEC), rc, e;

  if (fd < 0) {
    e = errno;
    return sw_err_set(err, e == ENOENT ? SW_ENOTFOUND : SW_EIO,
                      SW_ORIGIN_OS, e, "put %s%s: '%s': %s", os->base_url,
                      key, path, e == ENOENT ? "no such file" : uv_strerror(-(e)));
  }
  o = op_new(os, OP_PUT, key, path, cb, NULL, payload);
  o->fd = fd;
  o->hashing = true;
  rc = uv_queue_work(os->loop, &o->work, hash_work, hash_after);
  if (rc < 0) {
    close(o->fd);
    o->fd = -1;
    uv_close((uv_handle_t *)&o->retry, op_closed);
    return sw_err_set(err, SW_EIO, SW_ORIGIN_UV, rc, "uv_queue_work: %s",
                      uv_strerror(rc));
  }
  o->next = os->ops;
  if (os->ops)
    os->ops->prev = o;
  os->ops = o;
  return 0;
}

int sw__s3_get(sw_objects *os, const char *key, const char *path,
               sw_objects_cb cb, void *payload, sw_err *err)
{
  s3op *o = op_new(os, OP_GET, key, path, cb, NULL, payload);
  const char *slash = strrchr(path, '/');

  o->tmp = slash ? sw_asprintf("%.*s/.%s.stepwise-tmp-XXXXXX",
                               (int)(slash - path), path, slash + 1)
                 : sw_asprintf(".%s.stepwise-tmp-XXXXXX", path);
  o->fd = mkstemp(o->tmp);
  if (o->fd < 0) {
    int e = errno;
    sw_free(o->tmp);
    o->tmp = NULL;
    uv_close((uv_handle_t *)&o->retry, op_closed);
    return sw_err_set(err, SW_EIO, SW_ORIGIN_OS, e,
                      "get %s%s: cannot create a temporary file beside "
                      "'%s': %s", os->base_url, key, path, uv_strerror(-(e)));
  }
  (void)fchmod(o->fd, 0644);
  return op_start(o, err);
}

int sw__s3_delete(sw_objects *os, const char *key, sw_objects_cb cb,
                  void *payload, sw_err *err)
{
  return op_start(op_new(os, OP_DELETE, key, NULL, cb, NULL, payload), err);
}

int sw__s3_list(sw_objects *os, const char *prefix, sw_objects_list_cb cb,
                void *payload, sw_err *err)
{
  return op_start(op_new(os, OP_LIST, prefix, NULL, NULL, cb, payload),
                  err);
}

static void on_http_closed(void *payload)
{
  sw__objects_release(payload);
}

void sw__s3_close(sw_objects *os)
{
  sw_err err = SW_ERR_INIT;
  s3op *o, *next;

  /* Ops waiting for a retry are not in curl: finish them here; those in
   * flight complete with SW_ECANCELED from sw_http_close; a PUT still
   * hashing finishes in hash_after. */
  sw_err_set(&err, SW_ECANCELED, SW_ORIGIN_NONE, 0, "object store closed");
  for (o = os->ops; o; o = next) {
    next = o->next;
    if (!o->req && !o->hashing)
      op_finish(o, &err);
  }
  sw_http_close(os->http, on_http_closed, os);
  os->http = NULL;
}
