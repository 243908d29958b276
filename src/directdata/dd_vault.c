/* SPDX-License-Identifier: MIT */
/* directdata: the Vault client on src/http, and the list and retrieve
 * activities.
 *
 * Vault answers HTTP 200 with responseStatus FAILURE, so every reply is
 * judged by its body: a JSON envelope with FAILURE/EXCEPTION is an error
 * whatever the status; a download is data only when it is not such an
 * envelope. The session is cached per (Vault, user) in the shared context;
 * on INVALID_SESSION_ID a request logs in again once and is retried.
 * X-VaultAPI-ResponseDelay (Vault slowed us down) and
 * X-VaultAPI-BurstLimitRemaining below `burst_limit_floor` pause the next
 * request (header names compared case-insensitively by src/http).
 *
 * Download: up to max_parallel_downloads parts at once. Each body streams
 * (src/http's sink) into <part>.tmp while its md5 (OpenSSL EVP) and size
 * are computed as the bytes arrive, so a 1 GB part never sits in memory;
 * the writes are plain write(2)s on the loop thread (page-cache writes of
 * curl's buffers, at most 16 KiB each). At the end size and md5 are
 * checked against the listing, then a thread-pool job fsyncs the file,
 * renames it into place and fsyncs the directory. A part already in place
 * was verified before it was renamed, so it is never downloaded again.
 * Vault answers a failed download with HTTP 200 and a JSON envelope, which
 * the sink writes like data: the first DD_HEAD_MAX bytes are also kept in
 * memory so a short body can be read as an envelope (INVALID_SESSION_ID:
 * log in again, truncate the file, download again). */
#include "directdata/dd_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

static const char *const want_headers[] = {"X-VaultAPI-ResponseDelay",
                                           "X-VaultAPI-BurstLimitRemaining"};

static void send_req(sw_dd_task *t, dd_vreq *q);

static void vreq_free(dd_vreq *q)
{
  if (q->body)
    memset(q->body, 0, strlen(q->body));
  sw_free(q->body);
  sw_free(q->method);
  sw_free(q->url);
  sw_free(q->used_session);
  sw_free(q->head);
  sw_free(q);
}

static void chain_free(dd_vreq *q)
{
  dd_vreq *n;

  for (; q; q = n) {
    n = q->next_waiting;
    vreq_free(q);
  }
}

static char *form_escape(const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  sw_buf b = SW_BUF_INIT(0);
  const unsigned char *p;
  char enc[4];

  sw_buf_puts(&b, "", NULL);
  for (p = (const unsigned char *)s; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
        (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' ||
        *p == '~') {
      sw_buf_put(&b, p, 1, NULL);
    } else {
      enc[0] = '%';
      enc[1] = hex[*p >> 4];
      enc[2] = hex[*p & 15];
      sw_buf_put(&b, enc, 3, NULL);
    }
  }
  return sw_buf_detach(&b);
}

static char *session_key(const sw_dd_task *t)
{
  return sw_asprintf("%s|%s", t->cfg.base_url, t->cfg.username);
}

static const char *cached_session(const sw_dd_task *t)
{
  char *k = session_key(t);
  const char *s = NULL;

  if (t->dd->session_key && !strcmp(k, t->dd->session_key))
    s = t->dd->session_id;
  sw_free(k);
  return s;
}

/* Error type of a Vault FAILURE envelope, or NULL when body is not one. */
static const char *failure_type(const cJSON *j, const char **msg)
{
  const char *st = sw_json_get_str(j, "responseStatus");
  const cJSON *e;

  *msg = "";
  if (!st || !strcmp(st, "SUCCESS") || !strcmp(st, "WARNING"))
    return NULL;
  e = cJSON_GetArrayItem(sw_json_get(j, "errors"), 0);
  if (sw_json_get_str(e, "message"))
    *msg = sw_json_get_str(e, "message");
  return sw_json_get_str(e, "type") ? sw_json_get_str(e, "type") : st;
}

static cJSON *parse_envelope(const sw_http_response *resp)
{
  cJSON *j = NULL;
  size_t i = 0;

  while (i < resp->body_len && (resp->body[i] == ' ' ||
                                resp->body[i] == '\n' ||
                                resp->body[i] == '\r'))
    i++;
  if (i >= resp->body_len || resp->body[i] != '{')
    return NULL;
  if (sw_json_parse(&j, resp->body, resp->body_len, "vault", NULL) < 0)
    return NULL;
  if (!sw_json_get(j, "responseStatus")) {
    cJSON_Delete(j);
    return NULL;
  }
  return j;
}

static void note_throttle(sw_dd_task *t, const sw_http_response *resp)
{
  const char *delay = resp->header_values ? resp->header_values[0] : NULL;
  const char *left = resp->header_values ? resp->header_values[1] : NULL;
  int64_t now = sw_time_now_ms(), until = 0;
  long v;

  if (delay && (v = strtol(delay, NULL, 10)) > 0) {
    sw_log(SW_LOG_WARN, "directdata: Vault delayed a response by %ld ms "
           "(burst limit); slowing down", v);
    until = now + v;
  }
  if (left && strtol(left, NULL, 10) < t->cfg.burst_floor) {
    sw_log(SW_LOG_WARN, "directdata: X-VaultAPI-BurstLimitRemaining is %s "
           "(< %ld); pausing %ld ms", left, t->cfg.burst_floor,
           t->cfg.burst_pause_ms);
    if (now + t->cfg.burst_pause_ms > until)
      until = now + t->cfg.burst_pause_ms;
  }
  if (until > t->pause_until)
    t->pause_until = until;
}

/* ---- auth ------------------------------------------------------------ */

static void on_auth(const sw_err *err, const sw_http_response *resp,
                    void *payload);

static void start_auth(sw_dd_task *t, dd_vreq *after)
{
  static const char *const hdrs[] = {
      "Content-Type: application/x-www-form-urlencoded",
      "Accept: application/json"};
  dd_vreq *q, **w;
  char *u, *p, *cid;
  const char *h[3];
  sw_http_opts o;
  sw_err err = SW_ERR_INIT;

  if (t->auth_q) { /* a login is on its way: wait for it */
    for (w = &t->auth_q->after; *w; w = &(*w)->next_waiting)
      ;
    *w = after;
    return;
  }
  q = sw_calloc(1, sizeof(*q));
  u = form_escape(t->cfg.username);
  p = form_escape(t->cfg.password);
  cid = sw_asprintf("X-VaultAPI-ClientID: %s", t->cfg.client_id);
  h[0] = hdrs[0];
  h[1] = hdrs[1];
  h[2] = cid;
  q->t = t;
  q->is_auth = true;
  q->url = sw_asprintf("%s/api/%s/auth", t->cfg.base_url, t->cfg.version);
  q->body = sw_asprintf("username=%s&password=%s", u, p);
  memset(p, 0, strlen(p));
  sw_free(u);
  sw_free(p);
  q->idx = -1;
  memset(&o, 0, sizeof(o));
  o.method = "POST";
  o.url = q->url;
  o.headers = h;
  o.n_headers = 3;
  o.body = q->body;
  o.body_len = strlen(q->body);
  o.timeout_ms = 60000;
  o.max_body = 1 << 20;
  o.want_headers = want_headers;
  o.n_want_headers = 2;
  /* the requests waiting for the session ride along as `after` */
  q->cb = NULL;
  q->after = after;
  t->inflight++;
  t->auth_q = q;
  if (sw_http_request(t->http, &o, on_auth, q, NULL, &err) < 0) {
    t->inflight--;
    t->auth_q = NULL;
    sw_free(cid);
    chain_free(q->after);
    vreq_free(q);
    dd_fail(t, E_VAULT, "cannot send the Vault login: %s", err.msg);
    return;
  }
  sw_free(cid);
}

static void on_auth(const sw_err *err, const sw_http_response *resp,
                    void *payload)
{
  dd_vreq *q = payload;
  sw_dd_task *t = q->t;
  dd_vreq *after = q->after, *n;
  cJSON *j = NULL;
  const char *type, *msg, *sid;
  const cJSON *vid;

  vreq_free(q);
  t->auth_q = NULL;
  t->inflight--;
  if (t->failing || t->finished) {
    chain_free(after);
    if (t->failing && t->inflight == 0) {
      t->failing = false;
      t->inflight = 0;
      dd_fail(t, t->fail_name, "%s", t->err.msg);
    }
    return;
  }
  j = parse_envelope(resp);
  if (!j) {
    chain_free(after);
    dd_fail(t, E_TRANSIENT, "Vault login at %s failed: %s; check vault_dns "
            "and the network, then retry", t->cfg.base_url,
            err ? err->msg : "the answer is not a Vault JSON envelope");
    return;
  }
  note_throttle(t, resp);
  type = failure_type(j, &msg);
  if (type) {
    chain_free(after);
    dd_fail(t, E_AUTH, "Vault login as %s failed: %s %s; check "
            "vault_username and vault_password in section [%s]",
            t->cfg.username, type, msg, t->cfg.section);
    goto done;
  }
  sid = sw_json_get_str(j, "sessionId");
  vid = sw_json_get(j, "vaultId");
  if (!sid) {
    chain_free(after);
    dd_fail(t, E_AUTH, "Vault login answered SUCCESS without a sessionId");
    goto done;
  }
  if (t->cfg.vault_id && (!cJSON_IsNumber(vid) ||
                          (long)vid->valuedouble != t->cfg.vault_id)) {
    chain_free(after);
    dd_fail(t, E_MISMATCH, "Vault login returned a session for Vault %ld, "
            "not %ld: the user cannot reach %s; fix vault_dns or the "
            "user's access", cJSON_IsNumber(vid) ? (long)vid->valuedouble
                                                 : 0L,
            t->cfg.vault_id, t->cfg.base_url);
    goto done;
  }
  sw_free(t->dd->session_key);
  sw_free(t->dd->session_id);
  t->dd->session_key = session_key(t);
  t->dd->session_id = sw_strdup(sid);
  for (; after; after = n) {
    n = after->next_waiting;
    after->next_waiting = NULL;
    if (t->finished || t->failing)
      vreq_free(after);
    else
      send_req(t, after);
  }
done:
  cJSON_Delete(j);
}

/* ---- requests -------------------------------------------------------- */

static void on_resp(const sw_err *err, const sw_http_response *resp,
                    void *payload);

/* src/http's sink for a streamed request: keep the head, pass it on. */
static int vreq_sink(const char *data, size_t n, void *payload, sw_err *err)
{
  dd_vreq *q = payload;
  size_t k;

  if (q->head_len < DD_HEAD_MAX) {
    k = n < DD_HEAD_MAX - q->head_len ? n : DD_HEAD_MAX - q->head_len;
    if (!q->head)
      q->head = sw_malloc(DD_HEAD_MAX + 1);
    memcpy(q->head + q->head_len, data, k);
    q->head_len += k;
    q->head[q->head_len] = '\0';
  }
  q->total += n;
  return q->sink(q->t, q, data, n, err);
}

static void ensure_http(sw_dd_task *t)
{
  sw_err err = SW_ERR_INIT;

  if (!t->http)
    sw_http_new(&t->http, t->loop, NULL, &err);
}

static void send_req(sw_dd_task *t, dd_vreq *q)
{
  const char *sid = cached_session(t);
  char *auth, *cid;
  const char *h[3];
  sw_http_opts o;
  sw_err err = SW_ERR_INIT;

  ensure_http(t);
  if (!sid) {
    start_auth(t, q);
    return;
  }
  if (q->begin) {
    q->head_len = 0;
    q->total = 0;
    if (q->begin(t, q, &err) < 0) {
      vreq_free(q);
      dd_fail(t, E_LOAD, "%s", err.msg);
      return;
    }
  }
  sw_free(q->used_session);
  q->used_session = sw_strdup(sid);
  auth = sw_asprintf("Authorization: %s", sid);
  cid = sw_asprintf("X-VaultAPI-ClientID: %s", t->cfg.client_id);
  h[0] = auth;
  h[1] = cid;
  h[2] = q->idx >= 0 ? "Accept: application/octet-stream, application/json"
                     : "Accept: application/json";
  memset(&o, 0, sizeof(o));
  o.method = q->method;
  o.url = q->url;
  o.headers = h;
  o.n_headers = 3;
  o.timeout_ms = q->timeout_ms;
  o.max_body = q->max_body;
  o.want_headers = want_headers;
  o.n_want_headers = 2;
  if (q->sink) {
    o.sink = vreq_sink;
    o.sink_payload = q;
  }
  t->inflight++;
  if (sw_http_request(t->http, &o, on_resp, q, NULL, &err) < 0) {
    t->inflight--;
    vreq_free(q);
    dd_fail(t, E_VAULT, "cannot send a Vault request: %s", err.msg);
  }
  memset(auth, 0, strlen(auth));
  sw_free(auth);
  sw_free(cid);
}

static void on_resp(const sw_err *err, const sw_http_response *resp,
                    void *payload)
{
  dd_vreq *q = payload;
  sw_dd_task *t = q->t;
  sw_http_response view;
  cJSON *j;
  const char *type, *msg;

  t->inflight--;
  if (t->failing || t->finished) {
    vreq_free(q);
    if (t->failing && t->inflight == 0 && !t->finished) {
      t->failing = false;
      dd_fail(t, t->fail_name, "%s", t->err.msg);
    }
    return;
  }
  note_throttle(t, resp);
  if (q->sink && resp->status >= 200 && resp->status < 300) {
    /* streamed: the body is in the sink; a short one may be an envelope */
    view = *resp;
    view.body = q->total <= DD_HEAD_MAX && q->head ? q->head : "";
    view.body_len = q->total <= DD_HEAD_MAX ? q->head_len : 0;
    resp = &view;
  }
  j = resp->status > 0 ? parse_envelope(resp) : NULL;
  if (j && (type = failure_type(j, &msg)) &&
      !strcmp(type, "INVALID_SESSION_ID") && !q->relogged) {
    cJSON_Delete(j);
    q->relogged = true;
    if (cached_session(t) && q->used_session &&
        !strcmp(cached_session(t), q->used_session)) {
      sw_free(t->dd->session_id); /* expired: log in again once */
      t->dd->session_id = NULL;
    }
    send_req(t, q);
    return;
  }
  cJSON_Delete(j);
  if (err && resp->status == 0) {
    sw_log(SW_LOG_INFO, "directdata: %s: %s", q->url, err->msg);
  }
  /* a 2xx with an error is a transfer that broke off (truncated, a sink
   * error): no usable answer either */
  q->cb(t, q, err, err ? NULL : resp);
  vreq_free(q);
}

void dd_vault_request(sw_dd_task *t, const char *method, const char *url,
                      size_t max_body, long timeout_ms, int idx,
                      dd_vreq_cb cb)
{
  dd_vreq *q = sw_calloc(1, sizeof(*q));

  q->t = t;
  q->method = sw_strdup(method);
  q->url = sw_strdup(url);
  q->max_body = max_body;
  q->timeout_ms = timeout_ms;
  q->idx = idx;
  q->cb = cb;
  send_req(t, q);
}

void dd_vault_stream(sw_dd_task *t, const char *url, long timeout_ms,
                     int idx, dd_vreq_begin_fn begin, dd_vreq_sink_fn sink,
                     dd_vreq_cb cb)
{
  dd_vreq *q = sw_calloc(1, sizeof(*q));

  q->t = t;
  q->method = sw_strdup("GET");
  q->url = sw_strdup(url);
  q->max_body = DD_HEAD_MAX; /* bounds a non-2xx body only */
  q->timeout_ms = timeout_ms;
  q->idx = idx;
  q->cb = cb;
  q->begin = begin;
  q->sink = sink;
  send_req(t, q);
}

/* ---- list ------------------------------------------------------------ */

static int cmp_stop(const void *a, const void *b)
{
  const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
  const char *sx = sw_json_get_str(x, "stop_time");
  const char *sy = sw_json_get_str(y, "stop_time");
  int c = strcmp(sx ? sx : "", sy ? sy : "");

  return c ? c : strcmp(sw_json_get_str(x, "name"),
                        sw_json_get_str(y, "name"));
}

static void on_list(sw_dd_task *t, dd_vreq *q, const sw_err *err,
                    const sw_http_response *resp)
{
  cJSON *j = NULL, *files, *e, **arr = NULL, *pending = NULL;
  const char *type, *msg, *want;
  size_t n = 0, i, k;

  (void)q;
  if (!resp) {
    dd_fail(t, E_TRANSIENT, "listing Direct Data files at %s failed (%s); "
            "retry later", t->cfg.base_url, err ? err->msg : "no answer");
    return;
  }
  j = parse_envelope(resp);
  if (!j) {
    dd_fail(t, E_VAULT, "the Direct Data listing is not a Vault JSON "
            "answer (HTTP %ld)", resp->status);
    return;
  }
  if ((type = failure_type(j, &msg))) {
    dd_fail(t, !strcmp(type, "UNEXPECTED_ERROR") ||
                   !strcmp(type, "API_LIMIT_EXCEEDED") ? E_TRANSIENT
                                                       : E_VAULT,
            "listing Direct Data files failed: %s %s", type, msg);
    goto done;
  }
  want = sw_json_get_str(t->out, "extract_type");
  arr = sw_calloc((size_t)cJSON_GetArraySize(sw_json_get(j, "data")) + 1,
                  sizeof(cJSON *));
  cJSON_ArrayForEach(e, sw_json_get(j, "data")) {
    const char *nm = sw_json_get_str(e, "name");
    if (!nm || !dd_safe_name(nm))
      continue;
    for (k = 0; k < n; k++) /* de-duplicate on name */
      if (!strcmp(sw_json_get_str(arr[k], "name"), nm))
        break;
    if (k == n)
      arr[n++] = e;
  }
  qsort(arr, n, sizeof(*arr), cmp_stop);
  files = cJSON_CreateArray();
  for (i = 0; i < n; i++) {
    const cJSON *err_e = sw_json_get(arr[i], "error"), *p;
    cJSON *f, *parts;
    if (err_e) { /* failed publish: stop here, never skip a window */
      pending = cJSON_CreateObject();
      cJSON_AddStringToObject(pending, "name",
                              sw_json_get_str(arr[i], "name"));
      if (sw_json_get_str(err_e, "next_retry"))
        cJSON_AddStringToObject(pending, "next_retry",
                                sw_json_get_str(err_e, "next_retry"));
      if (sw_json_get_str(err_e, "message"))
        cJSON_AddStringToObject(pending, "message",
                                sw_json_get_str(err_e, "message"));
      break;
    }
    if (want && sw_json_get_str(arr[i], "extract_type") &&
        strcmp(sw_json_get_str(arr[i], "extract_type"), want) != 0)
      continue;
    f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "name", sw_json_get_str(arr[i], "name"));
    cJSON_AddStringToObject(f, "extract_type",
                            sw_json_get_str(arr[i], "extract_type"));
    cJSON_AddStringToObject(f, "start_time",
                            sw_json_get_str(arr[i], "start_time"));
    cJSON_AddStringToObject(f, "stop_time",
                            sw_json_get_str(arr[i], "stop_time"));
    cJSON_AddItemToObject(f, "record_count",
                          sw_json_dup(sw_json_get(arr[i], "record_count")));
    parts = cJSON_AddArrayToObject(f, "parts");
    cJSON_ArrayForEach(p, sw_json_get(arr[i], "filepart_details")) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "name", sw_json_get_str(p, "name"));
      cJSON_AddStringToObject(o, "filename", sw_json_get_str(p, "filename"));
      cJSON_AddItemToObject(o, "size", sw_json_dup(sw_json_get(p, "size")));
      if (sw_json_get_str(p, "md5checksum"))
        cJSON_AddStringToObject(o, "md5checksum",
                                sw_json_get_str(p, "md5checksum"));
      cJSON_AddItemToArray(parts, o);
    }
    cJSON_AddItemToArray(files, f);
  }
  /* Full: only the newest Full file is loaded. */
  if (want && !strcmp(want, "full_directdata")) {
    while (cJSON_GetArraySize(files) > 1)
      cJSON_DeleteItemFromArray(files, 0);
  }
  sw_json_set(t->out, "files", files);
  if (pending)
    sw_json_set(t->out, "pending", pending);
  dd_succeed(t, t->out);
done:
  sw_free(arr);
  cJSON_Delete(j);
}

void dd_vault_list(sw_dd_task *t)
{
  char *url = sw_asprintf("%s/api/%s/services/directdata/files?extract_type"
                          "=%s&start_time=%s&stop_time=%s", t->cfg.base_url,
                          t->cfg.version,
                          sw_json_get_str(t->out, "extract_type"),
                          t->win_start, t->win_stop);

  dd_vault_request(t, "GET", url, 16 << 20, 120000, -1, on_list);
  sw_free(url);
}

/* ---- retrieve ---------------------------------------------------------- */

static void pump(sw_dd_task *t);

static char *part_path(const sw_dd_task *t, const dd_part *p, bool tmp)
{
  return sw_asprintf("%s/parts/%s%s", t->dir, p->filename, tmp ? ".tmp" : "");
}

/* Thread pool: which parts are already in place (verified earlier). */
static void scan_work(sw_dd_task *t)
{
  char *dir = sw_asprintf("%s/parts", t->dir);
  struct stat st;
  size_t i;

  if (sw_mkdirs(dir, &t->err) < 0)
    t->fail_name = E_LOAD;
  for (i = 0; i < t->n_parts; i++) {
    char *p = part_path(t, &t->parts[i], false);
    t->parts[i].have = stat(p, &st) == 0 &&
                       (long long)st.st_size == t->parts[i].size;
    sw_free(p);
  }
  sw_free(dir);
}

static void retrieve_done(sw_dd_task *t)
{
  cJSON *o = cJSON_CreateObject();

  cJSON_AddStringToObject(o, "name", t->name);
  cJSON_AddNumberToObject(o, "parts", (double)t->n_parts);
  cJSON_AddNumberToObject(o, "downloaded", t->downloaded);
  cJSON_AddNumberToObject(o, "reused", t->reused);
  dd_succeed(t, o);
}

static void part_close(dd_part *p)
{
  if (p->fd >= 0)
    close(p->fd);
  p->fd = -1;
}

/* Before each send of a part request: (re)start <part>.tmp and the md5. */
static int part_begin(sw_dd_task *t, dd_vreq *q, sw_err *err)
{
  dd_part *p = &t->parts[q->idx];
  char *tmp = part_path(t, p, true);

  part_close(p);
  p->got = 0;
  if (!p->md)
    p->md = EVP_MD_CTX_new();
  p->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (p->fd < 0 || !p->md || !EVP_DigestInit_ex(p->md, EVP_md5(), NULL)) {
    sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno, "cannot write %s", tmp);
    sw_free(tmp);
    return err->code;
  }
  sw_free(tmp);
  return 0;
}

/* The body as it arrives: into the file and the digest. */
static int part_sink(sw_dd_task *t, dd_vreq *q, const char *data, size_t n,
                     sw_err *err)
{
  dd_part *p = &t->parts[q->idx];
  size_t off = 0;
  ssize_t w;

  /* more than listed (and too long to be an envelope): stop early */
  if (p->got + n > (unsigned long long)p->size && p->got + n > DD_HEAD_MAX)
    return sw_err_set(err, SW_ELIMIT, SW_ORIGIN_NONE, 0,
                      "part %s: more than the %lld bytes the listing says",
                      p->name, p->size);
  while (off < n) {
    w = write(p->fd, data + off, n - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno,
                        "cannot write part %s to %s/parts", p->filename,
                        t->dir);
    off += (size_t)w;
  }
  EVP_DigestUpdate(p->md, data, n);
  p->got += n;
  return 0;
}

/* The finish job works on one part at a time; parts queue on the task. */

static void finish_work(sw_dd_task *t);
static void finish_after(sw_dd_task *t);

static int next_to_finish(const sw_dd_task *t)
{
  size_t i;

  for (i = 0; i < t->n_parts; i++)
    if (t->parts[i].fetched && t->parts[i].busy)
      return (int)i;
  return -1;
}

/* Thread pool: make the checked part durable and put it in place. */
static void finish_work(sw_dd_task *t)
{
  dd_part *p = &t->parts[t->next_part];
  char *tmp = part_path(t, p, true), *fin = part_path(t, p, false);
  char *dir = sw_asprintf("%s/parts", t->dir);
  int fd = p->fd, dfd;

  p->fd = -1;
  if (sw_fsync_close(fd) < 0) {
    fd = -1;
    goto io;
  }
  fd = -1;
  if (rename(tmp, fin) < 0)
    goto io;
  dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) { /* the rename itself survives a power cut */
    (void)fsync(dfd);
    close(dfd);
  }
  goto done;
io:
  t->fail_name = E_LOAD;
  sw_err_set(&t->err, SW_EIO, SW_ORIGIN_OS, errno, "cannot write %s", tmp);
  if (fd >= 0)
    close(fd);
done:
  sw_free(tmp);
  sw_free(fin);
  sw_free(dir);
}

static void finish_after(sw_dd_task *t)
{
  dd_part *p = &t->parts[t->next_part];
  int n;

  p->fetched = false;
  p->busy = false;
  t->verifying = -1;
  if (t->fail_name) {
    const char *nm = t->fail_name;
    t->fail_name = NULL;
    dd_fail(t, nm, "%s", t->err.msg);
    return;
  }
  p->have = true;
  t->downloaded++;
  n = next_to_finish(t);
  if (n >= 0) {
    t->next_part = (size_t)n;
    t->verifying = n;
    dd_job(t, finish_work, finish_after);
    return;
  }
  pump(t);
}

static void on_part(sw_dd_task *t, dd_vreq *q, const sw_err *err,
                    const sw_http_response *resp)
{
  dd_part *p = &t->parts[q->idx];
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0, k;
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  cJSON *j;
  const char *type = NULL, *msg = "";

  if (!resp) {
    part_close(p);
    if (err && err->code == SW_EIO && err->origin == SW_ORIGIN_OS)
      dd_fail(t, E_LOAD, "download of part %s: %s", p->name, err->msg);
    else
      dd_fail(t, E_TRANSIENT, "download of part %s failed (%s); retry",
              p->name, err ? err->msg : "no answer");
    return;
  }
  j = parse_envelope(resp);
  if (j) {
    part_close(p);
    type = failure_type(j, &msg);
    dd_fail(t, type && !strcmp(type, "UNEXPECTED_ERROR") ? E_TRANSIENT
                                                         : E_VAULT,
            "download of part %s answered %s %s", p->name,
            type ? type : "a JSON document", msg);
    cJSON_Delete(j);
    return;
  }
  if (p->got != (unsigned long long)p->size) {
    part_close(p);
    dd_fail(t, E_TRANSIENT, "part %s: received %llu bytes, the listing says "
            "%lld (truncated transfer); retry", p->name, p->got, p->size);
    return;
  }
  EVP_DigestFinal_ex(p->md, md, &mdlen);
  for (k = 0; k < mdlen; k++)
    snprintf(hex + 2 * k, 3, "%02x", md[k]);
  hex[2 * mdlen] = '\0';
  if (p->md5 && strcasecmp(hex, p->md5) != 0) {
    part_close(p);
    dd_fail(t, E_TRANSIENT, "part %s: md5 %s does not match the listing's "
            "%s (corrupt download); retry", p->name, hex, p->md5);
    return;
  }
  p->fetched = true;
  if (t->verifying < 0 && !t->finished && !t->failing) {
    t->next_part = (size_t)q->idx;
    t->verifying = q->idx;
    dd_job(t, finish_work, finish_after);
  }
}

static void pump(sw_dd_task *t)
{
  int64_t now = sw_time_now_ms();
  size_t i, busy = 0;
  bool all = true;

  if (t->finished || t->failing)
    return;
  for (i = 0; i < t->n_parts; i++) {
    if (t->parts[i].busy)
      busy++;
    if (!t->parts[i].have)
      all = false;
  }
  if (all) {
    retrieve_done(t);
    return;
  }
  if (t->pause_until > now) {
    dd_after(t, (long)(t->pause_until - now), pump);
    return;
  }
  for (i = 0; i < t->n_parts && busy < (size_t)t->cfg.max_parallel; i++) {
    dd_part *p = &t->parts[i];
    char *url;
    if (p->have || p->busy)
      continue;
    p->busy = true;
    busy++;
    url = sw_asprintf("%s/api/%s/services/directdata/files/%s",
                      t->cfg.base_url, t->cfg.version, p->name);
    dd_vault_stream(t, url, t->cfg.part_timeout_ms, (int)i, part_begin,
                    part_sink, on_part);
    sw_free(url);
    if (t->finished)
      return;
  }
}

static void scan_after(sw_dd_task *t)
{
  size_t i;

  if (t->fail_name) {
    const char *nm = t->fail_name;
    t->fail_name = NULL;
    dd_fail(t, nm, "%s", t->err.msg);
    return;
  }
  for (i = 0; i < t->n_parts; i++)
    if (t->parts[i].have)
      t->reused++;
  if ((size_t)t->reused == t->n_parts) {
    retrieve_done(t);
    return;
  }
  ensure_http(t);
  pump(t);
}

void dd_retrieve_start(sw_dd_task *t)
{
  const cJSON *rc = sw_json_get(t->file, "record_count");

  if (cJSON_IsNumber(rc) && rc->valuedouble == 0) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddNumberToObject(o, "downloaded", 0);
    cJSON_AddStringToObject(o, "reason", "record_count is 0: nothing to "
                                         "download");
    dd_succeed(t, o);
    return;
  }
  dd_job(t, scan_work, scan_after);
}
