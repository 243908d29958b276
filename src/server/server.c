/* SPDX-License-Identifier: MIT */
/* server: life cycle, the engine side (starting, resuming and locking
 * executions) and the HTTP routes. The decisions are in server.h. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "server/server_int.h"
#include "http/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_MAX_BODY 262144 /* bytes: the Step Functions input limit */
#define DEFAULT_SETTLE_MS 1000

const char *const sw_server_workflows[SRV_WF_COUNT] = {
    "controlshift_bulk_data", "file_ingest"};

/* ---- helpers ------------------------------------------------------------ */

bool sw_server_signature_ok(const char *secret, const char *body, size_t len,
                            const char *header)
{
  char want[65], got[65];
  size_t i;

  if (!secret || !header || strncmp(header, "sha256:", 7) != 0)
    return false;
  header += 7;
  if (strlen(header) != 64)
    return false;
  for (i = 0; i < 64; i++) {
    char c = header[i];
    if (c >= 'A' && c <= 'F')
      c = (char)(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
    got[i] = c;
  }
  got[64] = '\0';
  sw_hmac_sha256_hex(want, secret, strlen(secret), body, len);
  return sw_const_time_equal(want, got, 64);
}

void sw_server_event_name(char out[80], const char *prefix,
                          const char *const *parts, size_t n_parts)
{
  sw_buf b = SW_BUF_INIT(0);
  char hex[65];
  size_t i;

  for (i = 0; i < n_parts; i++) {
    sw_buf_puts(&b, parts[i] ? parts[i] : "", NULL);
    sw_buf_put(&b, "", 1, NULL); /* the NUL separates the parts */
  }
  sw_sha256_hex(hex, b.ptr ? b.ptr : "", b.len);
  sw_buf_dispose(&b);
  snprintf(out, 80, "%s-%.32s", prefix, hex);
}

static const char *outcome_label(srv_outcome o)
{
  switch (o) {
  case SRV_ACCEPTED: return "accepted";
  case SRV_DUPLICATE: return "duplicate";
  case SRV_REJECTED: return "rejected";
  case SRV_SKIPPED: return "skipped";
  default: return "failed";
  }
}

void srv_count(sw_server *s, srv_source src, srv_outcome o)
{
  s->counts[src][o]++;
}

/* ---- workflows and executions ---------------------------------------- */

/* The current definition of a served workflow, read from workflows_dir;
 * read again (at most once a second) when the file changed, so an edited
 * workflow applies to later events without a restart. */
static const sw_asl_definition *def_current(sw_server *s, srv_workflow wf,
                                            const char **text_out,
                                            char **path_out, sw_err *err)
{
  char *path = sw_asprintf("%s/%s.asl.json", s->workflows_dir,
                           sw_server_workflows[wf]);
  int64_t now = sw_time_now_ms();
  char *text = NULL;
  const sw_asl_definition *d;

  *path_out = path;
  if (s->current[wf] && now - s->current_ms[wf] < 1000) {
    *text_out = s->current_text[wf];
    return s->current[wf];
  }
  if (sw_file_read(&text, NULL, path, 16u << 20, err) < 0)
    return NULL;
  d = sw_engine_definition(s->eng, text, path, text_out, err);
  if (d) {
    s->current[wf] = d;
    s->current_text[wf] = *text_out;
    s->current_ms[wf] = now;
  }
  return d;
}

static srv_exec *exec_find(sw_server *s, const char *id)
{
  srv_exec *x;

  for (x = s->execs; x; x = x->next)
    if (!strcmp(x->id, id))
      return x;
  return NULL;
}

/* Lock HOME/locks/ID and remember the execution as ours. SW_EAGAIN when
 * another process runs it. */
static int exec_own(sw_server *s, const char *id, sw_err *err)
{
  char *path = sw_asprintf("%s/locks/%s", s->home, id);
  srv_exec *x;
  int fd = -1, rc;

  rc = sw_file_lock(path, &fd, err);
  sw_free(path);
  if (rc < 0)
    return rc;
  x = sw_calloc(1, sizeof(*x));
  snprintf(x->id, sizeof(x->id), "%s", id);
  x->lock_fd = fd;
  x->next = s->execs;
  s->execs = x;
  return 0;
}

static void exec_release(sw_server *s, const char *id)
{
  srv_exec **p, *x;

  for (p = &s->execs; (x = *p); p = &x->next)
    if (!strcmp(x->id, id)) {
      *p = x->next;
      close(x->lock_fd);
      sw_free(x);
      return;
    }
}

srv_outcome srv_start(sw_server *s, srv_workflow wf, const char *name,
                      const cJSON *input, char id_out[37], sw_err *err)
{
  sw_engine_start_req req;
  sw_store_execution e;
  sw_err lerr = SW_ERR_INIT;
  const sw_asl_definition *d;
  const char *text = NULL;
  char *path = NULL;
  int rc;

  id_out[0] = '\0';
  d = def_current(s, wf, &text, &path, err);
  if (!d) {
    sw_free(path);
    return SRV_FAILED;
  }
  memset(&req, 0, sizeof(req));
  req.def = d;
  req.definition_text = text;
  req.workflow = sw_server_workflows[wf];
  req.source = path;
  req.name = name;
  req.input = input;
  req.warehouse = s->warehouse;
  rc = sw_engine_start(s->eng, &req, id_out, err);
  sw_free(path);
  if (rc == SW_EEXISTS) {
    memset(&e, 0, sizeof(e));
    if (sw_store_get_execution(s->store, name, &e, &lerr) == 0)
      snprintf(id_out, 37, "%s", e.id);
    sw_store_execution_dispose(&e);
    *err = (sw_err)SW_ERR_INIT;
    return SRV_DUPLICATE;
  }
  if (rc < 0)
    return SRV_FAILED;
  if (!s->quiet)
    fprintf(stderr, "stepwise serve: %s execution %s (%s) started\n",
            sw_server_workflows[wf], id_out, name);
  return SRV_ACCEPTED;
}

static void on_done(const char *id, const char *status, void *payload)
{
  sw_server *s = payload;

  if (!s->quiet)
    fprintf(stderr, "stepwise serve: execution %s %s\n", id, status);
  if (exec_find(s, id))
    exec_release(s, id);
  srv_queue_done(s, id); /* the next event of its group may start */
}

bool srv_resumed(sw_server *s, const char *id)
{
  return exec_find(s, id) != NULL;
}

bool sw_server_owns_workflow(const char *workflow)
{
  int i;

  for (i = 0; workflow && i < SRV_WF_COUNT; i++)
    if (!strcmp(workflow, sw_server_workflows[i]))
      return true;
  return false;
}

typedef struct resume_ctx {
  char (*ids)[37];
  size_t n, cap;
} resume_ctx;

static void collect_running(const sw_store_execution *e, void *payload)
{
  resume_ctx *rc = payload;
  int i;

  for (i = 0; i < SRV_WF_COUNT; i++)
    if (!strcmp(e->workflow, sw_server_workflows[i]))
      break;
  if (i == SRV_WF_COUNT)
    return;
  if (rc->n == rc->cap) {
    rc->cap = rc->cap ? rc->cap * 2 : 16;
    rc->ids = sw_realloc(rc->ids, rc->cap * sizeof(*rc->ids));
  }
  snprintf(rc->ids[rc->n++], 37, "%s", e->id);
}

/* Resume what a previous server left RUNNING (and nobody else runs). */
static int resume_running(sw_server *s, sw_err *err)
{
  resume_ctx rc = {NULL, 0, 0};
  sw_store_execution e;
  sw_err xerr;
  const sw_asl_definition *def;
  char *text;
  size_t i;
  int r;

  r = sw_store_list_executions(s->store, "RUNNING", collect_running, &rc,
                               err);
  for (i = 0; r == 0 && i < rc.n; i++) {
    xerr = (sw_err)SW_ERR_INIT;
    if (exec_own(s, rc.ids[i], &xerr) < 0) {
      if (xerr.code != SW_EAGAIN)
        sw_log(SW_LOG_WARN, "execution %s: %s", rc.ids[i], xerr.msg);
      continue; /* another process runs it */
    }
    memset(&e, 0, sizeof(e));
    text = NULL;
    if (sw_store_get_execution(s->store, rc.ids[i], &e, &xerr) < 0 ||
        sw_store_get_definition(s->store, e.definition_hash, &text,
                                &xerr) < 0 ||
        !(def = sw_engine_definition(s->eng, text, e.source, NULL,
                                     &xerr)) ||
        sw_engine_resume(s->eng, e.id, def, &xerr) < 0) {
      sw_log(SW_LOG_ERROR, "cannot resume execution %s: %s", rc.ids[i],
             xerr.msg);
      exec_release(s, rc.ids[i]);
    } else {
      s->resumed++;
      if (!s->quiet)
        fprintf(stderr, "stepwise serve: resumed %s execution %s\n",
                e.workflow, e.id);
    }
    sw_store_execution_dispose(&e);
  }
  sw_free(rc.ids);
  return r;
}

/* ---- routes --------------------------------------------------------- */

static void reply_json(srv_reply *out, int status, cJSON *body)
{
  out->status = status;
  out->body = sw_json_print(body);
  out->content_type = "application/json";
  cJSON_Delete(body);
}

static void reply_error(srv_reply *out, int status, const char *msg)
{
  cJSON *b = cJSON_CreateObject();

  cJSON_AddStringToObject(b, "error", msg);
  reply_json(out, status, b);
}

/* Both ControlShift export types start a load; nothing else does. */
static bool controlshift_type(const char *t)
{
  return t && (!strcmp(t, "data.full_table_exported") ||
               !strcmp(t, "data.incremental_table_exported"));
}

static bool table_name_ok(const char *t)
{
  size_t n = 0;

  if (!t || !*t)
    return false;
  for (; *t; t++, n++)
    if (!((*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') ||
          *t == '_'))
      return false;
  return n <= 63;
}

static void route_controlshift(sw_server *s, const srv_request *rq,
                               srv_reply *out)
{
  sw_err err = SW_ERR_INIT;
  cJSON *doc = NULL, *b;
  const cJSON *data;
  const char *type, *table, *url, *jid;
  const char *parts[4];
  char name[80], *file = NULL, *group;
  srv_outcome o;

  out->source = SRV_SRC_CONTROLSHIFT;
  if (s->cs_secret &&
      !sw_server_signature_ok(s->cs_secret, rq->body, rq->body_len,
                              rq->signature)) {
    srv_count(s, SRV_SRC_CONTROLSHIFT, SRV_REJECTED);
    reply_error(out, 401,
                rq->signature ? "x-controlshift-webhook-signature does not "
                                "match the body"
                              : "x-controlshift-webhook-signature missing");
    return;
  }
  if (sw_json_parse(&doc, rq->body, rq->body_len, "webhook body", &err) <
          0 ||
      !cJSON_IsObject(doc)) {
    srv_count(s, SRV_SRC_CONTROLSHIFT, SRV_REJECTED);
    reply_error(out, 400, err.msg[0] ? err.msg
                                     : "webhook body: expected a JSON object");
    cJSON_Delete(doc);
    return;
  }
  type = sw_json_get_str(doc, "type");
  if (!type) {
    srv_count(s, SRV_SRC_CONTROLSHIFT, SRV_REJECTED);
    reply_error(out, 400, "webhook body: /type: expected a string");
    goto done;
  }
  if (!controlshift_type(type)) {
    srv_count(s, SRV_SRC_CONTROLSHIFT, SRV_SKIPPED);
    b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "status", "skipped");
    cJSON_AddStringToObject(b, "type", type);
    reply_json(out, 200, b);
    goto done;
  }
  data = sw_json_get(doc, "data");
  table = sw_json_get_str(data, "table");
  url = sw_json_get_str(data, "url");
  jid = sw_json_get_str(doc, "jid");
  if (!table_name_ok(table) || !url ||
      (strncmp(url, "https://", 8) && strncmp(url, "http://", 7))) {
    srv_count(s, SRV_SRC_CONTROLSHIFT, SRV_REJECTED);
    reply_error(out, 400,
                !table_name_ok(table)
                    ? "webhook body: /data/table: expected a table name "
                      "([a-z0-9_]+)"
                    : "webhook body: /data/url: expected an http(s) URL");
    goto done;
  }
  /* The identity of the delivery: the file, not its (re-signed) URL. */
  file = sw_strndup(url, strcspn(url, "?"));
  parts[0] = type;
  parts[1] = table;
  parts[2] = jid ? jid : "";
  parts[3] = file;
  sw_server_event_name(name, "cs", parts, 4);
  group = sw_asprintf("controlshift:%s", table); /* one load at a time */
  o = srv_accept(s, SRV_WF_CONTROLSHIFT, name, group, doc, &err);
  sw_free(group);
  srv_count(s, SRV_SRC_CONTROLSHIFT, o);
  if (o == SRV_FAILED) {
    sw_log(SW_LOG_ERROR, "controlshift webhook: %s", err.msg);
    reply_error(out, 500, err.msg);
    goto done;
  }
  b = cJSON_CreateObject();
  cJSON_AddStringToObject(b, "status",
                          o == SRV_ACCEPTED ? "processed" : "duplicate");
  cJSON_AddStringToObject(b, "execution", name); /* its name */
  reply_json(out, 200, b);
  out->processed_header = true;
  out->source = SRV_SRC_CONTROLSHIFT;
done:
  sw_free(file);
  cJSON_Delete(doc);
}

static bool key_safe(const char *key)
{
  const char *p = key;

  if (!*key || *key == '/')
    return false;
  while (*p) {
    size_t n = strcspn(p, "/");
    if ((n == 2 && !strncmp(p, "..", 2)) || (n == 1 && *p == '.'))
      return false;
    p += n;
    if (*p == '/')
      p++;
  }
  return true;
}

/* One object-created record: start file_ingest; adds its outcome to arr. */
static srv_outcome s3_object(sw_server *s, const char *bucket,
                             const char *key, const cJSON *object,
                             cJSON *arr, sw_err *err)
{
  const char *etag = sw_json_get_str(object, "eTag");
  const char *seq = sw_json_get_str(object, "sequencer");
  const cJSON *size = sw_json_get(object, "size");
  const char *parts[3];
  char name[80];
  cJSON *in, *s3, *item;
  srv_outcome o;

  if (!etag)
    etag = sw_json_get_str(object, "etag");
  parts[0] = bucket;
  parts[1] = key;
  parts[2] = seq ? seq : etag ? etag : "";
  sw_server_event_name(name, "s3", parts, 3);
  in = cJSON_CreateObject();
  s3 = cJSON_AddObjectToObject(in, "s3");
  cJSON_AddStringToObject(s3, "bucket", bucket);
  cJSON_AddStringToObject(s3, "key", key);
  if (cJSON_IsNumber(size))
    cJSON_AddNumberToObject(s3, "size", size->valuedouble);
  if (etag)
    cJSON_AddStringToObject(s3, "etag", etag);
  {
    /* Where the workflow fetches the object to (stepwise.objects.get). */
    char *path = sw_asprintf("%s/%s/%s", s->s3_dir, bucket, key);
    cJSON_AddStringToObject(in, "file", path);
    sw_free(path);
  }
  o = srv_accept(s, SRV_WF_INGEST, name, name, in, err);
  cJSON_Delete(in);
  srv_count(s, SRV_SRC_S3, o);
  if (o != SRV_FAILED) {
    item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "key", key);
    cJSON_AddStringToObject(item, "status", outcome_label(o));
    cJSON_AddStringToObject(item, "execution", name);
    cJSON_AddItemToArray(arr, item);
  }
  return o;
}

static void route_s3(sw_server *s, const srv_request *rq, srv_reply *out)
{
  sw_err err = SW_ERR_INIT;
  cJSON *doc = NULL, *arr, *b;
  const cJSON *recs, *r, *detail;
  const char *bucket, *ev;
  char *key = NULL;
  bool failed = false;
  int n = 0, i = 0;

  out->source = SRV_SRC_S3;
  if (sw_json_parse(&doc, rq->body, rq->body_len, "S3 event", &err) < 0 ||
      !cJSON_IsObject(doc)) {
    srv_count(s, SRV_SRC_S3, SRV_REJECTED);
    reply_error(out, 400,
                err.msg[0] ? err.msg : "S3 event: expected a JSON object");
    cJSON_Delete(doc);
    return;
  }
  arr = cJSON_CreateArray();
  recs = sw_json_get(doc, "Records");
  detail = sw_json_get(doc, "detail");
  if (cJSON_IsArray(recs)) {
    cJSON_ArrayForEach(r, recs) {
      const cJSON *s3 = sw_json_get(r, "s3");
      const cJSON *obj = sw_json_get(s3, "object");
      const char *raw = sw_json_get_str(obj, "key");
      ev = sw_json_get_str(r, "eventName");
      bucket = sw_json_get_str(sw_json_get(s3, "bucket"), "name");
      if (!ev || !bucket || !raw) {
        srv_count(s, SRV_SRC_S3, SRV_REJECTED);
        cJSON_Delete(arr);
        arr = NULL;
        err.code = SW_EINVAL;
        snprintf(err.msg, sizeof(err.msg),
                 "S3 event: /Records/%d: expected eventName, "
                 "s3.bucket.name and s3.object.key",
                 i);
        break;
      }
      i++;
      if (strncmp(ev, "ObjectCreated:", 14) != 0) {
        srv_count(s, SRV_SRC_S3, SRV_SKIPPED);
        continue;
      }
      key = sw_url_decode(raw, strlen(raw), true); /* S3 encodes keys */
      if (!key_safe(key)) {
        srv_count(s, SRV_SRC_S3, SRV_REJECTED);
        snprintf(err.msg, sizeof(err.msg),
                 "S3 event: /Records/%d/s3/object/key: expected a relative "
                 "key without . or .. segments",
                 i - 1);
        err.code = SW_EINVAL;
        sw_free(key);
        key = NULL;
        cJSON_Delete(arr);
        arr = NULL;
        break;
      }
      n++;
      if (s3_object(s, bucket, key, obj, arr, &err) == SRV_FAILED)
        failed = true;
      sw_free(key);
      key = NULL;
      if (failed)
        break;
    }
  } else if (detail && sw_json_get_str(doc, "detail-type") &&
             !strcmp(sw_json_get_str(doc, "detail-type"), "Object Created")) {
    const cJSON *obj = sw_json_get(detail, "object");
    bucket = sw_json_get_str(sw_json_get(detail, "bucket"), "name");
    if (bucket && sw_json_get_str(obj, "key") &&
        key_safe(sw_json_get_str(obj, "key"))) {
      n++;
      if (s3_object(s, bucket, sw_json_get_str(obj, "key"), obj, arr,
                    &err) == SRV_FAILED)
        failed = true;
    } else {
      srv_count(s, SRV_SRC_S3, SRV_REJECTED);
      err.code = SW_EINVAL;
      snprintf(err.msg, sizeof(err.msg),
               "S3 event: /detail: expected bucket.name and a relative "
               "object.key");
      cJSON_Delete(arr);
      arr = NULL;
    }
  } else {
    srv_count(s, SRV_SRC_S3, SRV_REJECTED);
    err.code = SW_EINVAL;
    snprintf(err.msg, sizeof(err.msg),
             "S3 event: expected /Records (S3 notification) or "
             "detail-type \"Object Created\" (EventBridge)");
    cJSON_Delete(arr);
    arr = NULL;
  }
  if (failed) {
    sw_log(SW_LOG_ERROR, "S3 event: %s", err.msg);
    reply_error(out, 500, err.msg);
    cJSON_Delete(arr);
  } else if (!arr) {
    reply_error(out, 400, err.msg);
  } else {
    b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "status", n ? "processed" : "skipped");
    cJSON_AddItemToObject(b, "executions", arr);
    reply_json(out, 200, b);
    out->source = SRV_SRC_S3;
  }
  cJSON_Delete(doc);
}

typedef struct count_ctx {
  unsigned long n[SRV_WF_COUNT][6];
} count_ctx;

static const char *const statuses[6] = {"RUNNING", "SUCCEEDED", "FAILED",
                                        "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"};

static void count_exec(const sw_store_execution *e, void *payload)
{
  count_ctx *c = payload;
  int w, k;

  for (w = 0; w < SRV_WF_COUNT; w++)
    if (!strcmp(e->workflow, sw_server_workflows[w]))
      break;
  if (w == SRV_WF_COUNT)
    return;
  for (k = 0; k < 6; k++)
    if (!strcmp(e->status, statuses[k]))
      c->n[w][k]++;
}

static void route_metrics(sw_server *s, srv_reply *out)
{
  static const char *const sources[SRV_SRC_COUNT] = {"controlshift", "s3",
                                                     "inbox"};
  sw_buf b = SW_BUF_INIT(0);
  sw_err err = SW_ERR_INIT;
  count_ctx cc;
  int i, k;

  memset(&cc, 0, sizeof(cc));
  sw_buf_puts(&b,
              "# HELP stepwise_events_total Events received, by source and "
              "outcome.\n# TYPE stepwise_events_total counter\n",
              NULL);
  for (i = 0; i < SRV_SRC_COUNT; i++)
    for (k = 0; k < SRV_OUTCOME_COUNT; k++)
      sw_buf_printf(&b, NULL,
                    "stepwise_events_total{source=\"%s\",outcome=\"%s\"} "
                    "%lu\n",
                    sources[i], outcome_label((srv_outcome)k),
                    s->counts[i][k]);
  if (sw_store_list_executions(s->store, NULL, count_exec, &cc, &err) == 0) {
    sw_buf_puts(&b,
                "# HELP stepwise_executions Executions in the store, by "
                "workflow and status.\n# TYPE stepwise_executions gauge\n",
                NULL);
    for (i = 0; i < SRV_WF_COUNT; i++)
      for (k = 0; k < 6; k++)
        sw_buf_printf(&b, NULL,
                      "stepwise_executions{workflow=\"%s\",status=\"%s\"} "
                      "%lu\n",
                      sw_server_workflows[i], statuses[k], cc.n[i][k]);
  }
  sw_buf_printf(&b, NULL,
                "# HELP stepwise_events_queued Accepted events waiting for "
                "the execution before them in their group.\n# TYPE "
                "stepwise_events_queued gauge\nstepwise_events_queued %zu\n",
                srv_queue_pending(s));
  sw_buf_printf(&b, NULL,
                "# HELP stepwise_executions_running_here Executions this "
                "process is running.\n# TYPE stepwise_executions_running_here "
                "gauge\nstepwise_executions_running_here %d\n",
                sw_engine_running(s->eng));
  out->status = 200;
  out->content_type = "text/plain; version=0.0.4";
  out->body = sw_buf_detach(&b);
}

void srv_route(sw_server *s, const srv_request *rq, srv_reply *out)
{
  bool post = !strcmp(rq->method, "POST");
  bool get = !strcmp(rq->method, "GET") || !strcmp(rq->method, "HEAD");

  if (rq->too_large) {
    srv_count(s, !strcmp(rq->url, "/hooks/s3") ? SRV_SRC_S3
                                               : SRV_SRC_CONTROLSHIFT,
              SRV_REJECTED);
    reply_error(out, 413, "request body larger than the configured limit");
    return;
  }
  if (!strcmp(rq->url, "/hooks/controlshift")) {
    if (post)
      route_controlshift(s, rq, out);
    else
      reply_error(out, 405, "use POST");
  } else if (!strcmp(rq->url, "/hooks/s3")) {
    if (post)
      route_s3(s, rq, out);
    else
      reply_error(out, 405, "use POST");
  } else if (!strcmp(rq->url, "/health")) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "status",
                            sw_engine_failed(s->eng, NULL) ? "store failed"
                                                           : "ok");
    cJSON_AddNumberToObject(b, "running", sw_engine_running(s->eng));
    cJSON_AddNumberToObject(b, "resumed", (double)s->resumed);
    cJSON_AddNumberToObject(b, "queued", (double)srv_queue_pending(s));
    reply_json(out, sw_engine_failed(s->eng, NULL) ? 503 : 200, b);
    if (!get)
      out->status = 405;
  } else if (!strcmp(rq->url, "/metrics")) {
    if (get)
      route_metrics(s, out);
    else
      reply_error(out, 405, "use GET");
  } else {
    reply_error(out, 404,
                "unknown path (POST /hooks/controlshift, POST /hooks/s3, "
                "GET /health, GET /metrics)");
  }
}

/* ---- life cycle ------------------------------------------------------- */

int sw_server_port(const sw_server *s) { return s->port; }

void sw_server_get_stats(const sw_server *s, sw_server_stats *out)
{
  int i;

  memset(out, 0, sizeof(*out));
  for (i = 0; i < SRV_SRC_COUNT; i++) {
    out->accepted += s->counts[i][SRV_ACCEPTED];
    out->duplicate += s->counts[i][SRV_DUPLICATE];
    out->rejected += s->counts[i][SRV_REJECTED];
    out->skipped += s->counts[i][SRV_SKIPPED];
  }
  out->resumed = s->resumed;
  out->running = s->eng ? sw_engine_running(s->eng) : 0;
}

static void set_flag(void *payload);
static void on_defer_closed(uv_handle_t *h);

/* HOME/NAME as an absolute path (executions may resume elsewhere). */
static char *abs_under(const char *home, const char *name)
{
  char *abs = realpath(home, NULL);
  char *out = sw_asprintf("%s/%s", abs ? abs : home, name);

  sw_free(abs); /* from realpath */
  return out;
}

int sw_server_new(sw_server **out, uv_loop_t *loop, const sw_server_opts *o,
                  sw_err *err)
{
  sw_server *s = sw_calloc(1, sizeof(*s));
  sw_engine_opts eo;
  s->serve_lock = -1;
  char *dir, *db;
  int rc;

  *out = NULL;
  s->loop = loop;
  s->home = sw_strdup(o->home ? o->home : ".stepwise");
  s->workflows_dir = sw_strdup(o->workflows_dir ? o->workflows_dir
                                                : "workflows");
  s->warehouse = sw_strdup(o->warehouse);
  s->cs_secret = sw_strdup(o->controlshift_secret);
  s->s3_dir = NULL; /* set once the home exists (absolute path) */
  s->quiet = o->quiet;
  s->max_body = o->max_body ? o->max_body : DEFAULT_MAX_BODY;
  s->settle_ms = o->settle_ms > 0 ? o->settle_ms : DEFAULT_SETTLE_MS;
  /* Bind first: a port in use leaves nothing behind. Requests are only
   * served once the loop runs, after everything below is ready. */
  rc = srv_http_start(s, o->host ? o->host : "127.0.0.1", o->port, err);
  if (rc < 0)
    goto fail;
  dir = sw_asprintf("%s/locks", s->home);
  rc = sw_mkdirs(dir, err);
  sw_free(dir);
  if (rc < 0)
    goto fail;
  s->s3_dir = o->s3_dir ? sw_strdup(o->s3_dir) : abs_under(s->home, "s3");
  dir = sw_asprintf("%s/locks/serve", s->home);
  rc = sw_file_lock(dir, &s->serve_lock, err);
  if (rc == SW_EAGAIN)
    sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
               "another stepwise serve runs with home %s (%s is locked)",
               s->home, dir);
  sw_free(dir);
  if (rc < 0) {
    rc = err->code;
    goto fail;
  }
  rc = sw_warehouse_open(&s->wh, loop, o->warehouse, s->home, err);
  if (rc < 0)
    goto fail;
  rc = sw_resources_new(&s->res, loop, s->wh, o->sql_dir, err);
  if (rc < 0)
    goto fail;
  db = sw_asprintf("%s/state.db", s->home);
  rc = sw_store_open(&s->store, db, err);
  sw_free(db);
  if (rc < 0)
    goto fail;
  memset(&eo, 0, sizeof(eo));
  eo.on_done = on_done;
  eo.payload = s;
  rc = sw_engine_new(&s->eng, loop, s->store, s->res, &eo, err);
  if (rc < 0)
    goto fail;
  rc = resume_running(s, err);
  if (rc == 0)
    rc = srv_queue_open(s, err);
  if (rc == 0)
    rc = srv_queue_load(s, err);
  if (rc < 0)
    goto fail;
  uv_timer_init(loop, &s->dispatch_timer);
  s->dispatch_timer.data = s;
  s->dispatch_init = true;
  srv_dispatch_soon(s);
  if (o->inbox) {
    rc = srv_inbox_start(s, o->inbox, err);
    if (rc < 0)
      goto fail;
  }
  if (!s->cs_secret)
    sw_log(SW_LOG_WARN, "no ControlShift webhook secret configured: "
                        "webhook signatures are not checked");
  *out = s;
  return 0;
fail:
  {
    bool closed = false;
    sw_err keep = *err;
    sw_server_close(s, set_flag, &closed);
    /* Not inside a loop callback: run the loop until everything closed. */
    while (!closed && uv_run(loop, UV_RUN_ONCE))
      ;
    *err = keep;
  }
  return rc;
}

static void finish_close(sw_server *s)
{
  if (--s->closing_handles > 0)
    return;
  sw_store_close(s->store);
  if (s->close_cb)
    s->close_cb(s->close_payload);
  sw_free(s->home);
  sw_free(s->workflows_dir);
  sw_free(s->warehouse);
  if (s->cs_secret) {
    memset(s->cs_secret, 0, strlen(s->cs_secret));
    sw_free(s->cs_secret);
  }
  sw_free(s->s3_dir);
  sw_free(s);
}

void srv_handle_closed(sw_server *s) { finish_close(s); }

static void wh_closed(void *payload) { finish_close(payload); }

static void set_flag(void *payload) { *(bool *)payload = true; }

static void on_defer_closed(uv_handle_t *h) { finish_close(h->data); }


/* A turn after the engine was freed (its cancelled tasks have settled):
 * free the resources, then close the warehouse. */
static void on_close_turn(uv_timer_t *t)
{
  sw_server *s = t->data;

  uv_close((uv_handle_t *)t, on_defer_closed);
  sw_resources_free(s->res);
  s->res = NULL;
  if (s->wh)
    sw_warehouse_close(s->wh, wh_closed, s);
  else
    finish_close(s); /* in place of the warehouse */
}

void sw_server_close(sw_server *s, void (*cb)(void *payload), void *payload)
{
  if (!s)
    return;
  s->close_cb = cb;
  s->close_payload = payload;
  s->closing_handles = 2; /* the close-turn timer, the warehouse */
  srv_http_stop(s);       /* adds its handles */
  srv_inbox_stop(s);
  if (s->dispatch_init) {
    s->dispatch_init = false;
    s->closing_handles++;
    uv_close((uv_handle_t *)&s->dispatch_timer, on_defer_closed);
  }
  srv_queue_close(s);
  if (s->eng)
    sw_engine_free(s->eng); /* executions stay RUNNING */
  s->eng = NULL;
  while (s->execs)
    exec_release(s, s->execs->id);
  if (s->serve_lock >= 0)
    close(s->serve_lock);
  s->serve_lock = -1;
  uv_timer_init(s->loop, &s->close_turn);
  s->close_turn.data = s;
  uv_timer_start(&s->close_turn, on_close_turn, 0, 0);
}
