/* SPDX-License-Identifier: MIT */
/* redshift-data warehouse driver: the Amazon Redshift Data API (AWS JSON
 * 1.1, X-Amz-Target RedshiftData.<Action>, SigV4 by libcurl) over the
 * http module's curl multi handle on the loop. The service is durable by
 * itself, so this driver keeps no registry: the statement Id comes from
 * the service, and the ClientToken is the idempotency token (DESIGN.md
 * §4.6): a resumed task resubmits with the same token and the Data API
 * answers with the first statement's Id, running nothing.
 *
 * URL: redshift-data://WORKGROUP-or-CLUSTER/DATABASE?key=value&...
 *   secret_arn=ARN      SecretArn (Secrets Manager authentication)
 *   db_user=NAME        DbUser (temporary credentials; implies a cluster)
 *   region=REGION       else AWS_REGION, AWS_DEFAULT_REGION, the profile's
 *   target=workgroup|cluster  what the host names [workgroup, or cluster
 *                       when db_user is given]
 *   timeout_ms=N        per HTTP request [30000]
 *   max_attempts=N      per call, retries included [6]
 *   retry_base_ms=N, retry_cap_ms=N  backoff [100, 5000]
 *   s3_staging=s3://BUCKET/PREFIX  where bulk loads stage their CSV (an
 *                       object store URL, src/objects; percent-encode its
 *                       own '?' and '&')
 *   iam_role=ARN        the role COPY reads the staged object with (or
 *                       "default", the cluster's default role)
 * Credentials: sw_aws_creds_resolve (environment, then AWS_PROFILE).
 * Endpoint: AWS_ENDPOINT_URL_REDSHIFT_DATA, AWS_ENDPOINT_URL, else
 * https://redshift-data.REGION.amazonaws.com.
 *
 * Decisions:
 * - A SQL text holding several statements (submitScript sends a whole
 *   script) is split with the warehouse's splitter and sent as one
 *   BatchExecuteStatement (one transaction, at most 40 statements): the
 *   Data API's ExecuteStatement runs a single statement.
 * - Parameters no statement uses are left out: BatchExecuteStatement
 *   rejects a parameter that no statement references.
 * - Retried inside the driver, with capped exponential backoff and full
 *   jitter, at most max_attempts times: ThrottlingException and the other
 *   throttling/transient exceptions, HTTP 429 and 5xx, connection errors
 *   and request timeouts. Safe for submits because the ClientToken is
 *   always set (a random one when the caller gave none).
 * - Errors: ValidationException -> SW_EINVAL, ResourceNotFoundException ->
 *   SW_ENOTFOUND, transient ones (after the retries) -> SW_EAGAIN, any
 *   other service error -> SW_EREMOTE; the message names the action, the
 *   exception and the service's message.
 * - DescribeStatement's CreatedAt/UpdatedAt (epoch seconds on the wire)
 *   are given as ISO 8601 strings, as the other drivers give them.
 * - Bulk load is what Redshift users do: the CSV is spooled to a local
 *   temporary file (on the thread pool; the reader may block), put to the
 *   staging store as PREFIX/stepwise-load-<uuid>.csv (streamed, signed
 *   with its SHA-256), loaded with ExecuteStatement
 *     COPY "table" ("c1", ...) FROM 's3://BUCKET/PREFIX/stepwise-load-
 *     <uuid>.csv' IAM_ROLE '...' FORMAT AS CSV [IGNOREHEADER 1] EMPTYASNULL
 *   (one statement: all rows or none), polled with DescribeStatement
 *   (100 ms doubling to 2 s) until FINISHED, FAILED or ABORTED; the rows
 *   are its ResultRows. The staged object is deleted afterwards whatever
 *   the outcome (a failed delete is logged, not reported: the load's
 *   outcome stands). COPY FROM reads every object under a prefix, hence
 *   the unique name. Without s3_staging and iam_role a bulk load fails
 *   with SW_EINVAL saying so. EMPTYASNULL makes an empty field NULL, as
 *   the other drivers do for an unquoted empty field; Redshift may also
 *   load a quoted "" in a CHAR/VARCHAR column as NULL (the peer, on
 *   PostgreSQL, keeps it as ''). */
#include "warehouse/warehouse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "http/http.h"
#include "objects/objects.h"
#include "warehouse/warehouse_int.h"

#define SERVICE "redshift-data"
#define TARGET_PREFIX "RedshiftData."
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_ATTEMPTS 6
#define DEFAULT_BASE_MS 100
#define DEFAULT_CAP_MS 5000
#define MAX_RESPONSE (64u << 20) /* a GetStatementResult page is <= 64 MB */

typedef struct rs {
  uv_loop_t *loop;
  sw_http *http;          /* owned; closed by rs_close */
  sw_aws_creds creds;     /* owned; secrets never logged */
  char *region;           /* owned */
  char *url;              /* endpoint + "/" */
  char *target;           /* WorkgroupName or ClusterIdentifier value */
  bool cluster;           /* target is a ClusterIdentifier */
  char *database;         /* from the URL path */
  char *secret_arn;       /* may be NULL */
  char *db_user;          /* may be NULL */
  char *s3_staging;       /* object store URL for bulk loads, or NULL */
  char *iam_role;         /* COPY's IAM_ROLE, or NULL */
  sw_objects *staging;    /* opened from s3_staging; closed by rs_close */
  struct load *loads;     /* bulk loads not yet completed */
  long timeout_ms;
  int max_attempts;
  uint64_t base_ms, cap_ms;
  uint64_t rng;           /* xorshift64 state for the jitter */
  struct op *ops;         /* calls not yet completed */
  int closes_pending;     /* op timers and the http handle */
  bool closing;
  void (*close_cb)(void *payload);
  void *close_payload;
} rs;

typedef enum op_kind { OP_SUBMIT, OP_DESCRIBE, OP_RESULT, OP_CANCEL } op_kind;

typedef struct op {
  uv_timer_t retry;      /* embedded; backoff between attempts */
  rs *rs;                /* owner */
  op_kind kind;
  const char *action;    /* "ExecuteStatement" ... (static) */
  char *body;            /* request JSON; owned */
  int attempt;           /* attempts made */
  sw_http_req *req;      /* in flight, or NULL */
  sw_wh_submit_cb submit_cb;
  sw_wh_json_cb json_cb;
  void *payload;
  struct op *prev, *next; /* rs->ops */
} op;

/* ---- URL ------------------------------------------------------------- */

static int parse_num(const char *key, const char *v, long lo, long hi,
                     long *out, sw_err *err)
{
  char *end = NULL;
  long n = strtol(v, &end, 10);

  if (!*v || *end || n < lo || n > hi)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "redshift-data URL: %s=%s is not a number between "
                      "%ld and %ld", key, v, lo, hi);
  *out = n;
  return 0;
}

static int parse_url(rs *r, const char *target, char **region_out,
                     sw_err *err)
{
  const char *slash = strchr(target, '/');
  const char *q = strchr(target, '?');
  const char *p, *amp, *eq;
  char *key = NULL, *val = NULL, *kind = NULL;
  long n;
  int rc = 0;

  *region_out = NULL;
  if (q && slash && slash > q)
    slash = NULL;
  if (!slash || slash == target)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "redshift-data URL needs a workgroup or cluster and a "
                      "database: redshift-data://WORKGROUP-or-CLUSTER/DB"
                      "?secret_arn=...&region=...");
  r->target = sw_url_decode(target, (size_t)(slash - target), false);
  r->database = sw_url_decode(slash + 1,
                           q ? (size_t)(q - slash - 1) : strlen(slash + 1),
                           false);
  if (!*r->database)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "redshift-data URL needs a database after the "
                      "workgroup or cluster: redshift-data://%s/DB",
                      r->target);
  r->timeout_ms = DEFAULT_TIMEOUT_MS;
  r->max_attempts = DEFAULT_ATTEMPTS;
  r->base_ms = DEFAULT_BASE_MS;
  r->cap_ms = DEFAULT_CAP_MS;
  for (p = q ? q + 1 : NULL; p && *p; p = amp ? amp + 1 : NULL) {
    amp = strchr(p, '&');
    eq = memchr(p, '=', amp ? (size_t)(amp - p) : strlen(p));
    if (!eq) {
      if (amp == p || !*p)
        continue;
      rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "redshift-data URL: query item '%.*s' is not "
                      "key=value", amp ? (int)(amp - p) : (int)strlen(p), p);
      goto done;
    }
    key = sw_url_decode(p, (size_t)(eq - p), true);
    val = sw_url_decode(eq + 1, amp ? (size_t)(amp - eq - 1) : strlen(eq + 1),
                     true);
    if (!strcmp(key, "s3_staging")) {
      sw_free(r->s3_staging);
      r->s3_staging = val;
      val = NULL;
    } else if (!strcmp(key, "iam_role")) {
      sw_free(r->iam_role);
      r->iam_role = val;
      val = NULL;
    } else if (!strcmp(key, "secret_arn")) {
      sw_free(r->secret_arn);
      r->secret_arn = val;
      val = NULL;
    } else if (!strcmp(key, "db_user")) {
      sw_free(r->db_user);
      r->db_user = val;
      val = NULL;
    } else if (!strcmp(key, "region")) {
      sw_free(*region_out);
      *region_out = val;
      val = NULL;
    } else if (!strcmp(key, "target")) {
      sw_free(kind);
      kind = val;
      val = NULL;
    } else if (!strcmp(key, "timeout_ms")) {
      if ((rc = parse_num(key, val, 1, 3600000, &n, err)) < 0)
        goto done;
      r->timeout_ms = n;
    } else if (!strcmp(key, "max_attempts")) {
      if ((rc = parse_num(key, val, 1, 100, &n, err)) < 0)
        goto done;
      r->max_attempts = (int)n;
    } else if (!strcmp(key, "retry_base_ms")) {
      if ((rc = parse_num(key, val, 0, 600000, &n, err)) < 0)
        goto done;
      r->base_ms = (uint64_t)n;
    } else if (!strcmp(key, "retry_cap_ms")) {
      if ((rc = parse_num(key, val, 0, 3600000, &n, err)) < 0)
        goto done;
      r->cap_ms = (uint64_t)n;
    } else {
      rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "redshift-data URL: unknown parameter '%s' (expected "
                      "secret_arn, db_user, region, target, timeout_ms, "
                      "max_attempts, retry_base_ms, retry_cap_ms, "
                      "s3_staging, iam_role)", key);
      goto done;
    }
    sw_free(key);
    sw_free(val);
    key = val = NULL;
  }
  if (r->secret_arn && r->db_user) {
    rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                    "redshift-data URL: give secret_arn or db_user, not "
                    "both");
    goto done;
  }
  if (kind && strcmp(kind, "workgroup") && strcmp(kind, "cluster")) {
    rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                    "redshift-data URL: target=%s (expected workgroup or "
                    "cluster)", kind);
    goto done;
  }
  r->cluster = kind ? !strcmp(kind, "cluster") : r->db_user != NULL;
  if (r->db_user && !r->cluster) {
    rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                    "redshift-data URL: db_user needs a cluster "
                    "(target=cluster); a workgroup uses secret_arn or IAM");
    goto done;
  }

done:
  sw_free(key);
  sw_free(val);
  sw_free(kind);
  return rc;
}

/* ---- operations -------------------------------------------------------- */

static void rs_free(rs *r)
{
  sw_aws_creds_dispose(&r->creds);
  sw_free(r->region);
  sw_free(r->url);
  sw_free(r->target);
  sw_free(r->database);
  sw_free(r->secret_arn);
  sw_free(r->db_user);
  sw_free(r->s3_staging);
  sw_free(r->iam_role);
  sw_free(r);
}

/* One close callback (an op's timer, or the http handle) has run; the
 * last one while closing frees the driver and reports the close. */
static void close_step(rs *r)
{
  void (*cb)(void *);
  void *payload;

  r->closes_pending--;
  if (!r->closing || r->closes_pending > 0)
    return;
  cb = r->close_cb;
  payload = r->close_payload;
  rs_free(r);
  if (cb)
    cb(payload);
}

static void op_closed(uv_handle_t *h)
{
  op *o = SW_CONTAINER_OF((uv_timer_t *)h, op, retry);
  rs *r = o->rs;

  sw_free(o->body);
  sw_free(o);
  close_step(r);
}

/* Complete an op exactly once: unlink, callback, then close its timer. */
static void op_finish(op *o, const sw_err *err, cJSON *resp)
{
  rs *r = o->rs;
  const char *id;

  if (o->prev)
    o->prev->next = o->next;
  else
    r->ops = o->next;
  if (o->next)
    o->next->prev = o->prev;
  o->prev = o->next = NULL;
  uv_timer_stop(&o->retry);
  if (o->kind == OP_SUBMIT) {
    id = err ? NULL : sw_json_get_str(resp, "Id");
    if (!err && !id) {
      sw_err e = SW_ERR_INIT;
      sw_err_set(&e, SW_EREMOTE, SW_ORIGIN_JSON, 0,
                 "RedshiftData %s: the response has no Id", o->action);
      o->submit_cb(&e, NULL, o->payload);
    } else {
      o->submit_cb(err, id, o->payload);
    }
    cJSON_Delete(resp);
  } else {
    o->json_cb(err, err ? NULL : resp, o->payload);
    if (err)
      cJSON_Delete(resp);
  }
  uv_close((uv_handle_t *)&o->retry, op_closed);
}

static const char *after_hash(const char *type)
{
  const char *h = type ? strrchr(type, '#') : NULL;

  return h ? h + 1 : type;
}

/* Exceptions worth another attempt (the SDKs' throttling and transient
 * error lists, plus the Data API's own transient faults). */
static bool transient_type(const char *t)
{
  static const char *const names[] = {
      "ThrottlingException", "Throttling", "ThrottledException",
      "TooManyRequestsException", "RequestLimitExceeded",
      "ProvisionedThroughputExceededException", "RequestThrottled",
      "RequestThrottledException", "SlowDown", "InternalServerException",
      "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException",
      "ActiveStatementsExceededException", "DatabaseConnectionException",
      "RequestTimeout", "RequestTimeoutException"};
  size_t i;

  for (i = 0; t && i < SW_ARRAY_SIZE(names); i++)
    if (!strcmp(t, names[i]))
      return true;
  return false;
}

/* Turn an HTTP outcome into (response JSON | sw_err). Returns 0 with
 * *out set, or < 0 with *err set. */
static int interpret(op *o, const sw_err *herr, const sw_http_response *resp,
                     cJSON **out, sw_err *err)
{
  cJSON *doc = NULL;
  const char *type = NULL, *msg = NULL;
  const char *rid = resp->header_values ? resp->header_values[0] : NULL;
  int code;

  *out = NULL;
  if (herr && herr->origin != SW_ORIGIN_HTTP) {
    /* Transport (refused, reset, timeout, body limit): mapped by the http
     * module, even when a status line had already arrived. */
    *err = *herr;
    sw_err_prefix(err, "RedshiftData %s: ", o->action);
    return err->code;
  }
  if (resp->body_len > 0)
    doc = cJSON_ParseWithLength(resp->body, resp->body_len);
  if (!herr) {
    if (!doc || !cJSON_IsObject(doc)) {
      cJSON_Delete(doc);
      return sw_err_set(err, SW_EAGAIN, SW_ORIGIN_JSON, resp->status,
                        "RedshiftData %s: HTTP %ld with a body that is not "
                        "a JSON object", o->action, resp->status);
    }
    *out = doc;
    return 0;
  }
  type = after_hash(sw_json_get_str(doc, "__type"));
  msg = sw_json_get_str(doc, "message");
  if (!msg)
    msg = sw_json_get_str(doc, "Message");
  if (type && !strcmp(type, "ValidationException"))
    code = SW_EINVAL;
  else if (type && !strcmp(type, "ResourceNotFoundException"))
    code = SW_ENOTFOUND;
  else if (transient_type(type) || resp->status == 429 ||
           resp->status >= 500)
    code = SW_EAGAIN;
  else
    code = SW_EREMOTE;
  sw_err_set(err, code, SW_ORIGIN_HTTP, resp->status,
             "RedshiftData %s: %s: %s (HTTP %ld%s%s%s%s)", o->action,
             type ? type : "error", msg ? msg : "no message", resp->status,
             rid ? ", request id " : "", rid ? rid : "",
             resp->status == 403 ? ", credentials from " : "",
             resp->status == 403 ? o->rs->creds.source : "");
  cJSON_Delete(doc);
  return code;
}

/* CreatedAt/UpdatedAt: epoch seconds (JSON 1.1 timestamps) -> ISO 8601. */
static void iso_times(cJSON *obj)
{
  const char *keys[] = {"CreatedAt", "UpdatedAt"};
  cJSON *v, *sub;
  char buf[32];
  size_t i;

  for (i = 0; i < SW_ARRAY_SIZE(keys); i++) {
    v = sw_json_get(obj, keys[i]);
    if (cJSON_IsNumber(v)) {
      sw_time_format_iso(buf, sizeof(buf),
                         (int64_t)(v->valuedouble * 1000.0 + 0.5));
      sw_json_set(obj, keys[i], cJSON_CreateString(buf));
    }
  }
  cJSON_ArrayForEach(sub, sw_json_get(obj, "SubStatements"))
    iso_times(sub);
}

static int op_send(op *o, sw_err *err);

static void on_retry(uv_timer_t *t)
{
  op *o = SW_CONTAINER_OF(t, op, retry);
  sw_err err = SW_ERR_INIT;

  if (op_send(o, &err) < 0)
    op_finish(o, &err, NULL);
}

/* Full jitter: a uniform delay in [0, min(cap, base * 2^attempt)]. */
static uint64_t backoff_ms(rs *r, int attempt)
{
  uint64_t ceil = r->base_ms;
  int i;

  for (i = 1; i < attempt && ceil < r->cap_ms; i++)
    ceil *= 2;
  if (ceil > r->cap_ms)
    ceil = r->cap_ms;
  if (ceil == 0)
    return 0;
  r->rng ^= r->rng << 13;
  r->rng ^= r->rng >> 7;
  r->rng ^= r->rng << 17;
  return r->rng % (ceil + 1);
}

static void on_http(const sw_err *herr, const sw_http_response *resp,
                    void *payload)
{
  op *o = payload;
  rs *r = o->rs;
  sw_err err = SW_ERR_INIT;
  cJSON *doc = NULL;
  uint64_t delay;

  o->req = NULL;
  if (herr && herr->code == SW_ECANCELED) {
    op_finish(o, herr, NULL);
    return;
  }
  if (interpret(o, herr, resp, &doc, &err) == 0) {
    if (o->kind == OP_DESCRIBE)
      iso_times(doc);
    op_finish(o, NULL, doc);
    return;
  }
  if ((err.code == SW_EAGAIN || err.code == SW_ETIMEDOUT) && !r->closing &&
      o->attempt < r->max_attempts) {
    delay = backoff_ms(r, o->attempt);
    sw_log(SW_LOG_INFO, "%s; attempt %d of %d in %llu ms", err.msg,
           o->attempt + 1, r->max_attempts, (unsigned long long)delay);
    uv_timer_start(&o->retry, on_retry, delay, 0);
    return;
  }
  if (err.code == SW_EAGAIN || err.code == SW_ETIMEDOUT) {
    size_t n = strlen(err.msg);
    snprintf(err.msg + n, sizeof(err.msg) - n, " (gave up after %d "
             "attempts)", o->attempt);
  }
  op_finish(o, &err, NULL);
}

static int op_send(op *o, sw_err *err)
{
  rs *r = o->rs;
  char target[64];
  const char *headers[2];
  static const char *const want[] = {"x-amzn-RequestId"};
  sw_http_opts ho;

  snprintf(target, sizeof(target), "X-Amz-Target: " TARGET_PREFIX "%s",
           o->action);
  headers[0] = "Content-Type: application/x-amz-json-1.1";
  headers[1] = target;
  memset(&ho, 0, sizeof(ho));
  ho.method = "POST";
  ho.url = r->url;
  ho.headers = headers;
  ho.n_headers = 2;
  ho.body = o->body;
  ho.body_len = strlen(o->body);
  ho.sigv4_region = r->region;
  ho.sigv4_service = SERVICE;
  ho.creds = &r->creds;
  ho.timeout_ms = r->timeout_ms;
  ho.max_body = MAX_RESPONSE;
  ho.want_headers = want;
  ho.n_want_headers = 1;
  o->attempt++;
  return sw_http_request(r->http, &ho, on_http, o, &o->req, err);
}

/* Start a call; `body` is consumed. The callback runs exactly once unless
 * this returns < 0. */
static int op_start(rs *r, op_kind kind, const char *action, cJSON *body,
                    sw_wh_submit_cb scb, sw_wh_json_cb jcb, void *payload,
                    sw_err *err)
{
  op *o;
  int rc;

  if (r->closing) {
    cJSON_Delete(body);
    return sw_err_set(err, SW_ECANCELED, SW_ORIGIN_NONE, 0,
                      "the redshift-data warehouse is closing");
  }
  o = sw_calloc(1, sizeof(*o));
  o->rs = r;
  o->kind = kind;
  o->action = action;
  o->body = sw_json_print(body);
  cJSON_Delete(body);
  o->submit_cb = scb;
  o->json_cb = jcb;
  o->payload = payload;
  uv_timer_init(r->loop, &o->retry);
  r->closes_pending++;
  rc = op_send(o, err);
  if (rc < 0) {
    /* No callback: close the timer and free quietly. */
    uv_close((uv_handle_t *)&o->retry, op_closed);
    return rc;
  }
  o->next = r->ops;
  if (r->ops)
    r->ops->prev = o;
  r->ops = o;
  return 0;
}

/* ---- SQL splitting and parameters -------------------------------------- */

/* Mark in used[] the parameters some statement references (the
 * warehouse's :name scanner knows the quoting rules). SW_EINVAL when a
 * statement names a parameter that has no value. */
static int mark_used(char **stmts, size_t n_stmts, const sw_wh_submit *req,
                     bool *used, sw_err *err)
{
  const char **names = sw_calloc(req->n_params + 1, sizeof(*names));
  char *rewritten = NULL;
  size_t *idx = NULL, n_idx = 0, i, k;
  int rc = 0;

  for (i = 0; i < req->n_params; i++)
    names[i] = req->params[i].name;
  for (i = 0; i < n_stmts && rc == 0; i++) {
    rc = sw__wh_sql_bind_names(stmts[i], names, req->n_params, &rewritten,
                               &idx, &n_idx, err);
    for (k = 0; rc == 0 && k < n_idx; k++)
      used[idx[k]] = true;
    sw_free(rewritten);
    sw_free(idx);
    rewritten = NULL;
    idx = NULL;
  }
  sw_free(names);
  return rc;
}

static void add_target(const rs *r, cJSON *body, const char *database)
{
  cJSON_AddStringToObject(body, r->cluster ? "ClusterIdentifier"
                                           : "WorkgroupName", r->target);
  cJSON_AddStringToObject(body, "Database",
                          database && *database ? database : r->database);
  if (r->secret_arn)
    cJSON_AddStringToObject(body, "SecretArn", r->secret_arn);
  if (r->db_user)
    cJSON_AddStringToObject(body, "DbUser", r->db_user);
}

static int rs_submit(void *impl, const sw_wh_submit *req, sw_wh_submit_cb cb,
                     void *payload, sw_err *err)
{
  rs *r = impl;
  char **all = NULL, **part = NULL;
  size_t n_all = 0, n_part = 0, i, j;
  cJSON *body = NULL, *arr, *p;
  char token[40];
  bool batch, *used = NULL;
  int rc = 0;

  for (i = 0; i < req->n_sqls; i++) {
    rc = sw__wh_sql_split(req->sqls[i], &part, &n_part, err);
    if (rc < 0)
      goto done;
    all = sw_realloc(all, (n_all + n_part + 1) * sizeof(*all));
    for (j = 0; j < n_part; j++)
      all[n_all++] = part[j];
    sw_free(part);
    part = NULL;
  }
  if (n_all == 0) {
    rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                    "the SQL text holds no statement");
    goto done;
  }
  if (n_all > SW_WH_MAX_SQLS) {
    rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                    "the SQL holds %zu statements; the Data API runs at "
                    "most %d in one BatchExecuteStatement (split the "
                    "script)", n_all, SW_WH_MAX_SQLS);
    goto done;
  }
  batch = req->batch || n_all > 1;
  body = cJSON_CreateObject();
  if (batch) {
    arr = cJSON_AddArrayToObject(body, "Sqls");
    for (i = 0; i < n_all; i++)
      cJSON_AddItemToArray(arr, cJSON_CreateString(all[i]));
  } else {
    cJSON_AddStringToObject(body, "Sql", all[0]);
  }
  add_target(r, body, req->database);
  used = sw_calloc(req->n_params + 1, sizeof(*used));
  rc = mark_used(all, n_all, req, used, err);
  if (rc < 0)
    goto done;
  arr = NULL;
  for (i = 0; i < req->n_params; i++) {
    if (!used[i])
      continue;
    if (!arr)
      arr = cJSON_AddArrayToObject(body, "Parameters");
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "name", req->params[i].name);
    cJSON_AddStringToObject(p, "value", req->params[i].value);
    cJSON_AddItemToArray(arr, p);
  }
  if (!req->client_token)
    sw_uuid_v4(token); /* our own retries must stay idempotent */
  cJSON_AddStringToObject(body, "ClientToken",
                          req->client_token ? req->client_token : token);
  if (req->statement_name)
    cJSON_AddStringToObject(body, "StatementName", req->statement_name);
  rc = op_start(r, OP_SUBMIT,
                batch ? "BatchExecuteStatement" : "ExecuteStatement", body,
                cb, NULL, payload, err);
  body = NULL;

done:
  cJSON_Delete(body);
  sw_free(used);
  sw__wh_strv_free(all, n_all);
  sw__wh_strv_free(part, n_part);
  return rc;
}

static int id_call(rs *r, op_kind kind, const char *action, const char *id,
                   const char *next_token, sw_wh_json_cb cb, void *payload,
                   sw_err *err)
{
  cJSON *body = cJSON_CreateObject();

  cJSON_AddStringToObject(body, "Id", id);
  if (next_token)
    cJSON_AddStringToObject(body, "NextToken", next_token);
  return op_start(r, kind, action, body, NULL, cb, payload, err);
}

static int rs_describe(void *impl, const char *id, sw_wh_json_cb cb,
                       void *payload, sw_err *err)
{
  return id_call(impl, OP_DESCRIBE, "DescribeStatement", id, NULL, cb,
                 payload, err);
}

static int rs_result(void *impl, const char *id, const char *next_token,
                     sw_wh_json_cb cb, void *payload, sw_err *err)
{
  return id_call(impl, OP_RESULT, "GetStatementResult", id, next_token, cb,
                 payload, err);
}

static int rs_cancel(void *impl, const char *id, sw_wh_json_cb cb,
                     void *payload, sw_err *err)
{
  return id_call(impl, OP_CANCEL, "CancelStatement", id, NULL, cb, payload,
                 err);
}

/* ---- bulk load: stage to S3, COPY, poll, delete ------------------------- */

#define SPOOL_CHUNK (1024 * 1024)
#define POLL_FIRST_MS 100
#define POLL_CAP_MS 2000

typedef struct load {
  uv_work_t work;        /* spooling the CSV to tmp (thread pool) */
  uv_timer_t poll;       /* between DescribeStatement calls */
  rs *rs;
  sw_wh_bulk_load req;   /* pointers borrowed until cb runs */
  sw_wh_load_cb cb;
  void *payload;
  char *sql;             /* the COPY statement */
  char *tmp;             /* local spool file; removed once put */
  char key[64];          /* "stepwise-load-<uuid>.csv" */
  char *object;          /* s3://... of the staged object, for messages */
  bool staged;           /* the object exists (delete it at the end) */
  char id[SW_WH_ID_MAX + 16];
  uint64_t poll_ms;
  long long rows;
  sw_err err;            /* the load's outcome when failed */
  bool failed;
  struct load *prev, *next; /* rs->loads */
} load;

static void load_closed(uv_handle_t *h)
{
  load *l = SW_CONTAINER_OF((uv_timer_t *)h, load, poll);
  rs *r = l->rs;

  sw_free(l->sql);
  sw_free(l->tmp);
  sw_free(l->object);
  sw_free(l);
  close_step(r);
}

/* Report and go (the staged object is already deleted or abandoned). */
static void load_done(load *l)
{
  rs *r = l->rs;

  if (l->prev)
    l->prev->next = l->next;
  else
    r->loads = l->next;
  if (l->next)
    l->next->prev = l->prev;
  l->prev = l->next = NULL;
  uv_timer_stop(&l->poll);
  if (l->tmp)
    (void)unlink(l->tmp);
  l->cb(l->failed ? &l->err : NULL, l->failed ? 0 : l->rows, l->payload);
  uv_close((uv_handle_t *)&l->poll, load_closed);
}

static void on_unstaged(const sw_err *err, void *payload)
{
  load *l = payload;

  if (err)
    sw_log(SW_LOG_WARN, "redshift-data bulk load: could not delete the "
           "staged object: %s", err->msg);
  load_done(l);
}

/* The outcome is known (err NULL: loaded): delete the staged object. */
static void load_finish(load *l, const sw_err *err)
{
  rs *r = l->rs;
  sw_err e = SW_ERR_INIT;

  if (err && !l->failed) {
    l->err = *err;
    l->failed = true;
  }
  if (l->staged && !r->closing &&
      sw_objects_delete(r->staging, l->key, on_unstaged, l, &e) == 0)
    return;
  if (l->staged)
    sw_log(SW_LOG_WARN, "redshift-data bulk load: staged object %s left "
           "behind (%s)", l->object, r->closing ? "closing" : e.msg);
  load_done(l);
}

static void load_describe(load *l);

static void on_poll_timer(uv_timer_t *t)
{
  load_describe(SW_CONTAINER_OF(t, load, poll));
}

static void on_load_described(const sw_err *err, cJSON *resp, void *payload)
{
  load *l = payload;
  const char *st = sw_json_get_str(resp, "Status");
  const char *msg;
  cJSON *rows;
  sw_err e = SW_ERR_INIT;

  if (err) {
    load_finish(l, err);
    return;
  }
  if (st && !strcmp(st, "FINISHED")) {
    rows = sw_json_get(resp, "ResultRows");
    l->rows = cJSON_IsNumber(rows) && rows->valuedouble >= 0
                  ? (long long)rows->valuedouble : 0;
    cJSON_Delete(resp);
    load_finish(l, NULL);
    return;
  }
  if (st && (!strcmp(st, "FAILED") || !strcmp(st, "ABORTED"))) {
    msg = sw_json_get_str(resp, "Error");
    sw_err_set(&e, SW_EREMOTE, SW_ORIGIN_NONE, 0,
               "redshift-data bulk load into '%s': COPY from %s %s: %s "
               "(statement %s)", l->req.table, l->object, st,
               msg ? msg : "no error message", l->id);
    cJSON_Delete(resp);
    load_finish(l, &e);
    return;
  }
  cJSON_Delete(resp);
  uv_timer_start(&l->poll, on_poll_timer, l->poll_ms, 0);
  l->poll_ms = l->poll_ms * 2 > POLL_CAP_MS ? POLL_CAP_MS : l->poll_ms * 2;
}

static int rs_describe(void *impl, const char *id, sw_wh_json_cb cb,
                       void *payload, sw_err *err);

static void load_describe(load *l)
{
  sw_err err = SW_ERR_INIT;

  if (rs_describe(l->rs, l->id, on_load_described, l, &err) < 0)
    load_finish(l, &err);
}

static void on_load_submitted(const sw_err *err, const char *id,
                              void *payload)
{
  load *l = payload;

  if (err) {
    load_finish(l, err);
    return;
  }
  snprintf(l->id, sizeof(l->id), "%s", id);
  sw_log(SW_LOG_INFO, "redshift-data bulk load into '%s': COPY from %s is "
         "statement %s", l->req.table, l->object, l->id);
  uv_timer_start(&l->poll, on_poll_timer, l->poll_ms, 0);
}

static int rs_submit(void *impl, const sw_wh_submit *req, sw_wh_submit_cb cb,
                     void *payload, sw_err *err);

static void on_staged(const sw_err *err, void *payload)
{
  load *l = payload;
  const char *sqls[1];
  sw_wh_submit sub;
  sw_err e = SW_ERR_INIT;

  (void)unlink(l->tmp);
  sw_free(l->tmp);
  l->tmp = NULL;
  if (err) {
    load_finish(l, err);
    return;
  }
  l->staged = true;
  if (l->rs->closing) {
    sw_err_set(&e, SW_ECANCELED, SW_ORIGIN_NONE, 0,
               "the redshift-data warehouse was closed");
    load_finish(l, &e);
    return;
  }
  sqls[0] = l->sql;
  memset(&sub, 0, sizeof(sub));
  sub.sqls = sqls;
  sub.n_sqls = 1;
  /* No client token given: rs_submit makes one, so its own retries of
   * ExecuteStatement never run the COPY twice. */
  if (rs_submit(l->rs, &sub, on_load_submitted, l, &e) < 0)
    load_finish(l, &e);
}

/* Thread pool: drain the reader into the spool file. */
static void spool_work(uv_work_t *w)
{
  load *l = SW_CONTAINER_OF(w, load, work);
  int fd = open(l->tmp, O_WRONLY | O_TRUNC | O_CLOEXEC);
  char *buf = sw_malloc(SPOOL_CHUNK);
  size_t n, off;
  ssize_t k;

  if (fd < 0) {
    sw_err_set(&l->err, SW_EIO, SW_ORIGIN_OS, errno,
               "redshift-data bulk load: cannot open '%s'", l->tmp);
    l->failed = true;
  }
  while (!l->failed) {
    n = 0;
    if (l->req.read(l->req.read_payload, buf, SPOOL_CHUNK, &n, &l->err) <
        0) {
      l->failed = true;
      break;
    }
    if (n == 0)
      break;
    for (off = 0; off < n; off += (size_t)k) {
      k = write(fd, buf + off, n - off);
      if (k < 0 && errno == EINTR) {
        k = 0;
        continue;
      }
      if (k < 0) {
        sw_err_set(&l->err, SW_EIO, SW_ORIGIN_OS, errno,
                   "redshift-data bulk load: writing '%s': %s", l->tmp,
                   uv_strerror(-errno));
        l->failed = true;
        break;
      }
    }
  }
  if (fd >= 0)
    close(fd);
  sw_free(buf);
}

static void spool_after(uv_work_t *w, int status)
{
  load *l = SW_CONTAINER_OF(w, load, work);
  sw_err e = SW_ERR_INIT;

  if (l->failed) {
    load_finish(l, NULL);
    return;
  }
  if (status < 0 || l->rs->closing) {
    sw_err_set(&e, SW_ECANCELED, SW_ORIGIN_NONE, 0,
               "the redshift-data warehouse was closed");
    load_finish(l, &e);
    return;
  }
  if (sw_objects_put(l->rs->staging, l->key, l->tmp, on_staged, l, &e) < 0)
    load_finish(l, &e);
}

/* COPY "t" ("a", "b") FROM '<object>' IAM_ROLE '<role>' FORMAT AS CSV
 * [IGNOREHEADER 1] EMPTYASNULL */
static int copy_sql(const rs *r, const sw_wh_bulk_load *req,
                    const char *object, char **out, sw_err *err)
{
  sw_buf b = SW_BUF_INIT(SW_WH_MAX_SQL_BYTES);
  size_t i;
  int rc;

  *out = NULL;
  rc = sw_buf_puts(&b, "COPY ", err);
  if (rc == 0)
    rc = sw__wh_quote_ident(&b, req->table, err);
  if (rc == 0)
    rc = sw_buf_puts(&b, " (", err);
  for (i = 0; rc == 0 && i < req->n_columns; i++) {
    if (i > 0)
      rc = sw_buf_puts(&b, ", ", err);
    if (rc == 0)
      rc = sw__wh_quote_ident(&b, req->columns[i], err);
  }
  if (rc == 0)
    rc = sw_buf_puts(&b, ") FROM ", err);
  if (rc == 0)
    rc = sw__wh_quote_literal(&b, object, err);
  if (rc == 0)
    rc = sw_buf_puts(&b, " IAM_ROLE ", err);
  if (rc == 0)
    rc = sw__wh_quote_literal(&b, r->iam_role, err);
  if (rc == 0)
    rc = sw_buf_printf(&b, err, " FORMAT AS CSV%s EMPTYASNULL",
                       req->header ? " IGNOREHEADER 1" : "");
  if (rc < 0) {
    sw_buf_dispose(&b);
    return rc;
  }
  *out = sw_buf_detach(&b);
  return 0;
}

static int rs_bulk_load(void *impl, const sw_wh_bulk_load *req,
                        sw_wh_load_cb cb, void *payload, sw_err *err)
{
  rs *r = impl;
  const char *tmpdir = getenv("TMPDIR");
  char uuid[40];
  load *l;
  int fd, rc;

  if (!r->staging || !r->iam_role)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "redshift-data bulk load needs a staging location "
                      "and a role for COPY: add s3_staging=s3://BUCKET/"
                      "PREFIX&iam_role=arn:aws:iam::ACCOUNT:role/NAME to "
                      "the warehouse URL");
  if (r->closing)
    return sw_err_set(err, SW_ECANCELED, SW_ORIGIN_NONE, 0,
                      "the redshift-data warehouse is closing");
  l = sw_calloc(1, sizeof(*l));
  l->rs = r;
  l->req = *req;
  l->cb = cb;
  l->payload = payload;
  l->poll_ms = POLL_FIRST_MS;
  sw_uuid_v4(uuid);
  snprintf(l->key, sizeof(l->key), "stepwise-load-%s.csv", uuid);
  l->object = sw_objects_url_of(r->staging, l->key);
  rc = copy_sql(r, req, l->object, &l->sql, err);
  if (rc < 0)
    goto fail;
  l->tmp = sw_asprintf("%s/stepwise-load-XXXXXX",
                       tmpdir && *tmpdir ? tmpdir : "/tmp");
  fd = mkstemp(l->tmp);
  if (fd < 0) {
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno,
                    "redshift-data bulk load: cannot create a spool file "
                    "in %s: %s", tmpdir && *tmpdir ? tmpdir : "/tmp",
                    uv_strerror(-errno));
    sw_free(l->tmp);
    l->tmp = NULL;
    goto fail;
  }
  close(fd);
  rc = uv_queue_work(r->loop, &l->work, spool_work, spool_after);
  if (rc < 0) {
    (void)unlink(l->tmp);
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_UV, rc, "uv_queue_work: %s",
                    uv_strerror(rc));
    goto fail;
  }
  uv_timer_init(r->loop, &l->poll);
  r->closes_pending++; /* released in load_closed */
  l->next = r->loads;
  if (r->loads)
    r->loads->prev = l;
  r->loads = l;
  return 0;

fail:
  sw_free(l->sql);
  sw_free(l->tmp);
  sw_free(l->object);
  sw_free(l);
  return rc;
}

/* ---- open / close ------------------------------------------------------ */

static void on_http_closed(void *payload)
{
  close_step(payload);
}

static void rs_close(void *impl, void (*cb)(void *payload), void *payload)
{
  rs *r = impl;
  sw_err err = SW_ERR_INIT;
  load *l, *lnext;
  op *o;

  r->closing = true;
  r->close_cb = cb;
  r->close_payload = payload;
  r->closes_pending++; /* the http handle */
  /* Ops waiting for a retry are not in curl: cancel them here. Ops in
   * flight complete with SW_ECANCELED from sw_http_close. */
  sw_err_set(&err, SW_ECANCELED, SW_ORIGIN_NONE, 0,
             "the redshift-data warehouse was closed");
  o = r->ops;
  while (o) {
    op *next = o->next;
    if (!o->req)
      op_finish(o, &err, NULL);
    o = next;
  }
  /* Loads waiting between polls are finished here; the others end with
   * the SW_ECANCELED of the call they wait for. */
  for (l = r->loads; l; l = lnext) {
    lnext = l->next;
    if (uv_is_active((uv_handle_t *)&l->poll)) {
      uv_timer_stop(&l->poll);
      load_finish(l, &err);
    }
  }
  if (r->staging) {
    r->closes_pending++;
    sw_objects_close(r->staging, on_http_closed, r);
    r->staging = NULL;
  }
  sw_http_close(r->http, on_http_closed, r);
  r->http = NULL;
}

static int rs_open(void **impl_out, uv_loop_t *loop, const char *target,
                   sw_err *err)
{
  rs *r = sw_calloc(1, sizeof(*r));
  char *region_q = NULL, *endpoint = NULL;
  int rc;

  *impl_out = NULL;
  r->loop = loop;
  r->rng = uv_hrtime() | 1;
  rc = parse_url(r, target, &region_q, err);
  if (rc == 0)
    rc = sw_aws_region_resolve(&r->region, region_q, err);
  if (rc == 0)
    rc = sw_aws_creds_resolve(&r->creds, err);
  if (rc < 0)
    goto done;
  sw_aws_endpoint(&endpoint, "REDSHIFT_DATA", SERVICE, r->region);
  r->url = sw_asprintf("%s/", endpoint);
  rc = sw_http_new(&r->http, loop, NULL, err);
  if (rc < 0)
    goto done;
  if (r->s3_staging) {
    rc = sw_objects_open(&r->staging, loop, r->s3_staging, NULL, err);
    if (rc == 0 && strcmp(sw_objects_scheme(r->staging), "s3") != 0)
      rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "redshift-data URL: s3_staging=%s is not an s3:// "
                      "location (Redshift COPY reads S3)", r->s3_staging);
    if (rc < 0) {
      sw_err_prefix(err, "redshift-data URL: s3_staging: ");
      sw_objects_close(r->staging, NULL, NULL);
      r->staging = NULL;
      sw_http_close(r->http, NULL, NULL);
      r->http = NULL;
      goto done;
    }
  }
  sw_log(SW_LOG_INFO, "redshift-data: %s %s/%s at %s, credentials from %s",
         r->cluster ? "cluster" : "workgroup", r->target, r->database,
         r->url, r->creds.source);
  *impl_out = r;
  r = NULL;

done:
  sw_free(region_q);
  sw_free(endpoint);
  if (r)
    rs_free(r);
  return rc;
}

const sw_wh_driver_ops sw__wh_redshift_data_ops = {
    .version = SW_WH_OPS_VERSION,
    .name = "redshift-data",
    .open = rs_open,
    .close = rs_close,
    .submit = rs_submit,
    .describe = rs_describe,
    .result = rs_result,
    .cancel = rs_cancel,
    .bulk_load = rs_bulk_load,
};
