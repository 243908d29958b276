/* SPDX-License-Identifier: MIT */
/* http: curl multi driven by libuv, after curl's docs/examples/multi-uv.c
 * with the fixes STYLE.md 3.1 lists: completions are drained after every
 * curl_multi_socket_action (also on the timer path, so a transfer that
 * hit CURLOPT_TIMEOUT_MS as the last one running is still reported); a
 * poll error status becomes CURL_CSELECT_ERR; every return value is
 * checked; owners are recovered with container_of; and the teardown order
 * is easy handles, curl_multi_cleanup (socket callbacks still arrive and
 * close our polls), then our timers, and the owner is freed when the last
 * close callback has run.
 *
 * Decisions:
 * - The CURLcode, CURLINFO_RESPONSE_CODE and the per-easy error buffer are
 *   turned into an sw_err in map_result() only.
 * - Cancelled requests leave curl at once and complete on a later loop
 *   turn (a 0 ms timer), so a callback never runs inside the call that
 *   cancelled it.
 * - The request body goes through CURLOPT_POSTFIELDS with its size, never
 *   a read callback: libcurl's SigV4 would hash an empty body otherwise.
 * - A curl_multi_socket_action error leaves "the state of all transfers
 *   uncertain": every request in flight fails with SW_EAGAIN and the multi
 *   handle is rebuilt.
 * - Deadlines are curl's CURLOPT_TIMEOUT_MS/CONNECTTIMEOUT_MS. They are
 *   enforced through the timer callback, which is always drained, so no
 *   separate uv_timer per request is needed. */
#include "http/http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_MAX_BODY (8u << 20)
#define DEFAULT_MAX_TOTAL 64
#define DEFAULT_MAX_HOST 32

typedef struct sock {
  uv_poll_t poll;         /* embedded; freed in on_sock_closed */
  curl_socket_t fd;       /* the socket curl asked us to watch */
  sw_http *http;          /* owner */
  struct sock *prev, *next; /* http->socks */
} sock;

struct sw_http_req {
  sw_http *http;           /* owner */
  CURL *easy;              /* NULL once removed from curl */
  struct curl_slist *hdrs; /* request headers; may hold a session token */
  char *body;              /* copy of the request body; owned */
  char *url;               /* copy, for messages */
  sw_buf resp;             /* response body, bounded by max_body */
  bool limit_hit;          /* the write callback refused bytes */
  sw_http_sink_fn sink;    /* streaming 2xx body consumer, or NULL */
  void *sink_payload;
  sw_http_source_fn source;/* streaming request body, or NULL */
  void *source_payload;
  sw_err stream_err;       /* a sink's or source's own error */
  bool stream_failed;      /* stream_err is set: report it */
  char **want;             /* header names to capture; owned */
  char **values;           /* captured values (parallel); owned */
  size_t n_want;
  char errbuf[CURL_ERROR_SIZE]; /* CURLOPT_ERRORBUFFER */
  sw_http_cb cb;
  void *payload;
  struct sw_http_req *prev, *next; /* http->reqs or http->cancelled */
};

struct sw_http {
  uv_loop_t *loop;
  CURLM *multi;            /* NULL after curl_multi_cleanup */
  sw_http_limits limits;   /* for rebuilding the multi */
  uv_timer_t timer;        /* curl's one-shot timer (TIMERFUNCTION) */
  uv_timer_t defer;        /* completes cancelled requests */
  sw_http_req *reqs;       /* in curl */
  sw_http_req *cancelled;  /* out of curl, callback not run yet */
  sock *socks;             /* live poll handles */
  size_t pending;          /* requests whose callback has not run */
  int closes_pending;      /* uv_close callbacks still to come */
  bool closing;
  void (*close_cb)(void *payload);
  void *close_payload;
};

static bool curl_ready;

/* ---- lists -------------------------------------------------------------- */

static void req_link(sw_http_req **head, sw_http_req *r)
{
  r->prev = NULL;
  r->next = *head;
  if (*head)
    (*head)->prev = r;
  *head = r;
}

static void req_unlink(sw_http_req **head, sw_http_req *r)
{
  if (r->prev)
    r->prev->next = r->next;
  else
    *head = r->next;
  if (r->next)
    r->next->prev = r->prev;
  r->prev = r->next = NULL;
}

static void req_free(sw_http_req *r)
{
  size_t i;

  if (r->easy)
    curl_easy_cleanup(r->easy);
  curl_slist_free_all(r->hdrs);
  sw_free(r->body);
  sw_free(r->url);
  sw_buf_dispose(&r->resp);
  for (i = 0; i < r->n_want; i++) {
    sw_free(r->want[i]);
    sw_free(r->values[i]);
  }
  sw_free(r->want);
  sw_free(r->values);
  sw_free(r);
}

/* ---- error mapping (the one place) ------------------------------------- */

/* The host part of a URL, for messages: "http://h:p/x" -> "h:p". User
 * info ("user:secret@") is a credential and is left out. */
static void url_host(const char *url, char *out, size_t size)
{
  const char *p = strstr(url, "://"), *at;
  size_t n;

  p = p ? p + 3 : url;
  n = strcspn(p, "/?#");
  while ((at = memchr(p, '@', n)) != NULL) {
    n -= (size_t)(at + 1 - p);
    p = at + 1;
  }
  snprintf(out, size, "%.*s", (int)n, p);
}

static int map_result(sw_http_req *r, CURLcode cres, long status,
                      sw_err *err)
{
  char host[256];
  const char *what;

  url_host(r->url, host, sizeof(host));
  if (cres == CURLE_OK) {
    if (status < 400)
      return 0;
    if (status == 429 || status >= 500)
      return sw_err_set(err, SW_EAGAIN, SW_ORIGIN_HTTP, status,
                        "HTTP %ld from %s", status, host);
    return sw_err_set(err, SW_EREMOTE, SW_ORIGIN_HTTP, status,
                      "HTTP %ld from %s", status, host);
  }
  what = r->errbuf[0] ? r->errbuf : curl_easy_strerror(cres);
  if (r->stream_failed) {
    *err = r->stream_err;
    return err->code;
  }
  if (cres == CURLE_WRITE_ERROR && r->limit_hit)
    return sw_err_set(err, SW_ELIMIT, SW_ORIGIN_CURL, cres,
                      "response from %s is larger than %zu bytes", host,
                      r->resp.max);
  switch (cres) {
  case CURLE_OPERATION_TIMEDOUT:
    return sw_err_set(err, SW_ETIMEDOUT, SW_ORIGIN_CURL, cres,
                      "%s: %s", host, what);
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_CONNECT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return sw_err_set(err, SW_EAGAIN, SW_ORIGIN_CURL, cres, "%s: %s", host,
                      what);
  default:
    return sw_err_set(err, SW_EIO, SW_ORIGIN_CURL, cres, "%s: %s", host,
                      what);
  }
}

/* Run the callback of a request that has left curl, then free it. */
static void complete(sw_http_req *r, CURLcode cres, long status,
                     const sw_err *forced)
{
  sw_http *h = r->http;
  sw_http_response resp;
  sw_err err = SW_ERR_INIT;
  const sw_err *e = forced;

  if (!e && map_result(r, cres, status, &err) < 0)
    e = &err;
  memset(&resp, 0, sizeof(resp));
  resp.status = forced ? 0 : status;
  resp.body = r->resp.ptr && !forced ? r->resp.ptr : "";
  resp.body_len = forced ? 0 : r->resp.len;
  resp.header_values = (const char *const *)r->values;
  h->pending--;
  r->cb(e, &resp, r->payload);
  req_free(r);
}

/* ---- curl -> us -------------------------------------------------------- */

static void on_poll(uv_poll_t *p, int status, int events);

/* One close callback has run: when closing and it was the last, the
 * owner goes. */
static void close_done(sw_http *h)
{
  h->closes_pending--;
  if (h->closing && h->closes_pending == 0) {
    if (h->close_cb)
      h->close_cb(h->close_payload);
    sw_free(h);
  }
}

static void on_sock_closed(uv_handle_t *hd)
{
  sock *s = SW_CONTAINER_OF((uv_poll_t *)hd, sock, poll);
  sw_http *h = s->http;

  sw_free(s);
  close_done(h);
}

static void sock_close(sw_http *h, sock *s)
{
  if (s->prev)
    s->prev->next = s->next;
  else
    h->socks = s->next;
  if (s->next)
    s->next->prev = s->prev;
  /* Stop before curl closes the fd (libuv #1468): uv_poll_stop removes it
   * from epoll now; the memory goes in the close callback. */
  uv_poll_stop(&s->poll);
  h->closes_pending++;
  uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

/* curl -> us: start/stop watching fd. 0, or -1 to abort the multi. */
static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *userp,
                          void *sockp)
{
  sw_http *h = userp;
  sock *s = sockp;
  int events = 0, rc;

  (void)e;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      curl_multi_assign(h->multi, fd, NULL);
      sock_close(h, s);
    }
    return 0;
  }
  if (!s) {
    if (h->closing)
      return 0; /* curl_multi_cleanup in progress: nothing new to watch */
    s = sw_calloc(1, sizeof(*s));
    s->fd = fd;
    s->http = h;
    rc = uv_poll_init_socket(h->loop, &s->poll, fd);
    if (rc < 0) {
      sw_log(SW_LOG_ERROR, "http: uv_poll_init_socket(%d): %s", (int)fd,
             uv_strerror(rc));
      sw_free(s);
      return -1;
    }
    s->next = h->socks;
    if (h->socks)
      h->socks->prev = s;
    h->socks = s;
    if (curl_multi_assign(h->multi, fd, s) != CURLM_OK) {
      sock_close(h, s);
      return -1;
    }
  }
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
    events |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
    events |= UV_WRITABLE;
  /* Starting an active poll handle replaces its event mask. */
  rc = uv_poll_start(&s->poll, events, on_poll);
  if (rc < 0) {
    sw_log(SW_LOG_ERROR, "http: uv_poll_start(%d): %s", (int)fd,
           uv_strerror(rc));
    return -1;
  }
  return 0;
}

static void on_timer(uv_timer_t *t);

/* curl -> us: (re)arm the single one-shot timer; -1 disarms; 0 becomes
 * 1 ms, because curl must not be called back from inside this callback. */
static int on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
  sw_http *h = userp;

  (void)m;
  if (timeout_ms < 0) {
    uv_timer_stop(&h->timer);
    return 0;
  }
  if (uv_timer_start(&h->timer, on_timer,
                     (uint64_t)(timeout_ms == 0 ? 1 : timeout_ms), 0) < 0)
    return -1;
  return 0;
}

/* ---- us -> curl --------------------------------------------------------- */

static int multi_setup(sw_http *h, sw_err *err)
{
  CURLM *m = curl_multi_init();
  long total = h->limits.max_total_connections;
  long host = h->limits.max_host_connections;

  if (!m)
    return sw_err_set(err, SW_EIO, SW_ORIGIN_CURL, 0,
                      "curl_multi_init failed");
  if (curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_curl_socket) ||
      curl_multi_setopt(m, CURLMOPT_SOCKETDATA, h) ||
      curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_curl_timer) ||
      curl_multi_setopt(m, CURLMOPT_TIMERDATA, h) ||
      curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                        total > 0 ? total : DEFAULT_MAX_TOTAL) ||
      curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS,
                        host > 0 ? host : DEFAULT_MAX_HOST)) {
    curl_multi_cleanup(m);
    return sw_err_set(err, SW_EIO, SW_ORIGIN_CURL, 0,
                      "curl_multi_setopt failed");
  }
  h->multi = m;
  return 0;
}

/* Take every request out of curl: easy handles first, then the multi. */
static void multi_teardown(sw_http *h, sw_http_req **out)
{
  sw_http_req *r;

  while ((r = h->reqs) != NULL) {
    req_unlink(&h->reqs, r);
    curl_multi_remove_handle(h->multi, r->easy);
    curl_easy_cleanup(r->easy);
    r->easy = NULL;
    req_link(out, r);
  }
  /* Socket callbacks still arrive here (cached connections shut down) and
   * close our polls; anything curl did not REMOVE is closed below. */
  curl_multi_cleanup(h->multi);
  h->multi = NULL;
  uv_timer_stop(&h->timer);
  while (h->socks)
    sock_close(h, h->socks);
}

/* curl_multi_socket_action failed: all transfers are in an unknown state.
 * Fail them (retryable) and start over with a new multi handle. */
static void multi_failed(sw_http *h, CURLMcode mc)
{
  sw_http_req *victims = NULL, *r;
  sw_err err = SW_ERR_INIT;
  sw_err setup_err = SW_ERR_INIT;

  sw_log(SW_LOG_ERROR, "http: curl_multi_socket_action: %s",
         curl_multi_strerror(mc));
  multi_teardown(h, &victims);
  if (multi_setup(h, &setup_err) < 0)
    sw_log(SW_LOG_ERROR, "http: %s", setup_err.msg);
  sw_err_set(&err, SW_EAGAIN, SW_ORIGIN_CURL, mc,
             "curl multi handle failed: %s", curl_multi_strerror(mc));
  while ((r = victims) != NULL) {
    req_unlink(&victims, r);
    complete(r, CURLE_OK, 0, &err);
  }
}

/* Read every CURLMSG_DONE: result and status before the handle goes
 * (the message does not survive curl_multi_remove_handle). */
static void drain(sw_http *h)
{
  CURLMsg *msg;
  int left;

  while (h->multi && (msg = curl_multi_info_read(h->multi, &left)) != NULL) {
    CURL *easy = msg->easy_handle;
    CURLcode cres = msg->data.result;
    sw_http_req *r = NULL;
    long status = 0;

    if (msg->msg != CURLMSG_DONE)
      continue;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(h->multi, easy);
    curl_easy_cleanup(easy);
    if (!r)
      continue;
    r->easy = NULL;
    req_unlink(&h->reqs, r);
    complete(r, cres, status, NULL);
  }
}

static void act(sw_http *h, curl_socket_t fd, int flags)
{
  int running = 0;
  CURLMcode mc;

  if (!h->multi)
    return;
  mc = curl_multi_socket_action(h->multi, fd, flags, &running);
  if (mc != CURLM_OK) {
    multi_failed(h, mc);
    return;
  }
  drain(h); /* always, also when nothing is running any more */
}

static void on_poll(uv_poll_t *p, int status, int events)
{
  sock *s = SW_CONTAINER_OF(p, sock, poll);
  int flags = 0;

  if (status < 0) {
    flags = CURL_CSELECT_ERR; /* let curl find out what broke */
  } else {
    if (events & UV_READABLE)
      flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
      flags |= CURL_CSELECT_OUT;
  }
  act(s->http, s->fd, flags);
}

static void on_timer(uv_timer_t *t)
{
  sw_http *h = SW_CONTAINER_OF(t, sw_http, timer);

  act(h, CURL_SOCKET_TIMEOUT, 0);
}

static void on_defer(uv_timer_t *t)
{
  sw_http *h = SW_CONTAINER_OF(t, sw_http, defer);
  sw_err err = SW_ERR_INIT;
  sw_http_req *r;

  sw_err_set(&err, SW_ECANCELED, SW_ORIGIN_NONE, 0, "request cancelled");
  while ((r = h->cancelled) != NULL) {
    req_unlink(&h->cancelled, r);
    complete(r, CURLE_OK, 0, &err);
  }
}

/* ---- easy handle callbacks --------------------------------------------- */

static size_t on_write(char *data, size_t size, size_t n, void *userp)
{
  sw_http_req *r = userp;
  long status = 0;

  if (r->sink) {
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
      if (r->sink(data, size * n, r->sink_payload, &r->stream_err) < 0) {
        r->stream_failed = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
      }
      return size * n;
    }
  }
  if (sw_buf_put(&r->resp, data, size * n, NULL) < 0) {
    r->limit_hit = true;
    return 0; /* short count: curl stops with CURLE_WRITE_ERROR */
  }
  return size * n;
}

static size_t on_read(char *buf, size_t size, size_t n, void *userp)
{
  sw_http_req *r = userp;
  size_t got = 0;

  if (r->source(buf, size * n, &got, r->source_payload, &r->stream_err) <
      0) {
    r->stream_failed = true;
    return CURL_READFUNC_ABORT;
  }
  return got;
}

static size_t on_header(char *data, size_t size, size_t n, void *userp)
{
  sw_http_req *r = userp;
  size_t len = size * n, i, name_len;
  const char *colon, *v, *end;

  if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
    /* A new response (after 100 Continue or a redirect): start over. */
    for (i = 0; i < r->n_want; i++) {
      sw_free(r->values[i]);
      r->values[i] = NULL;
    }
    return len;
  }
  colon = memchr(data, ':', len);
  if (!colon)
    return len;
  name_len = (size_t)(colon - data);
  for (i = 0; i < r->n_want; i++) {
    if (strlen(r->want[i]) != name_len ||
        strncasecmp(r->want[i], data, name_len) != 0)
      continue;
    v = colon + 1;
    end = data + len;
    while (v < end && (*v == ' ' || *v == '\t'))
      v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
                       end[-1] == ' ' || end[-1] == '\t'))
      end--;
    sw_free(r->values[i]);
    r->values[i] = sw_strndup(v, (size_t)(end - v));
  }
  return len;
}

/* ---- API ---------------------------------------------------------------- */

int sw_http_new(sw_http **out, uv_loop_t *loop, const sw_http_limits *limits,
                sw_err *err)
{
  sw_http *h;
  int rc;

  *out = NULL;
  if (!curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      return sw_err_set(err, SW_EIO, SW_ORIGIN_CURL, 0,
                        "curl_global_init failed");
    curl_ready = true;
  }
  h = sw_calloc(1, sizeof(*h));
  h->loop = loop;
  if (limits)
    h->limits = *limits;
  rc = multi_setup(h, err);
  if (rc < 0) {
    sw_free(h);
    return rc;
  }
  uv_timer_init(loop, &h->timer);
  uv_timer_init(loop, &h->defer);
  *out = h;
  return 0;
}

static bool header_name_eq(const char *a, const char *b)
{
  size_t na = strcspn(a, ":"), nb = strcspn(b, ":");

  return na == nb && strncasecmp(a, b, na) == 0;
}

static int check_headers(const sw_http_opts *o, sw_err *err)
{
  size_t i, j;
  const char *c, *v;

  for (i = 0; i < o->n_headers; i++) {
    c = strchr(o->headers[i], ':');
    v = c ? c + 1 : NULL;
    while (v && *v == ' ')
      v++;
    if (!c || c == o->headers[i] || !*v || strpbrk(o->headers[i], "\r\n"))
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "HTTP header %zu is not \"Name: value\" with a "
                        "non-empty value", i + 1);
    for (j = 0; j < i; j++)
      if (header_name_eq(o->headers[i], o->headers[j]))
        return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                          "HTTP header '%.*s' given twice",
                          (int)(c - o->headers[i]), o->headers[i]);
  }
  return 0;
}

static int add_header(struct curl_slist **l, const char *line, sw_err *err)
{
  struct curl_slist *n = curl_slist_append(*l, line);

  if (!n)
    return sw_err_set(err, SW_ENOMEM, SW_ORIGIN_CURL, 0,
                      "curl_slist_append failed");
  *l = n;
  return 0;
}

#define SETOPT(opt, val)                                                       \
  do {                                                                         \
    if (curl_easy_setopt(r->easy, opt, val) != CURLE_OK) {                     \
      rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_CURL, 0,                       \
                      "curl_easy_setopt(%s) failed", #opt);                    \
      goto done;                                                               \
    }                                                                          \
  } while (0)

int sw_http_request(sw_http *h, const sw_http_opts *o, sw_http_cb cb,
                    void *payload, sw_http_req **req_out, sw_err *err)
{
  sw_http_req *r = NULL;
  char *provider = NULL, *line = NULL;
  bool sign = o->sigv4_region && o->sigv4_service;
  size_t i;
  int rc = 0;

  if (req_out)
    *req_out = NULL;
  if (h->closing || !h->multi)
    return sw_err_set(err, SW_ECANCELED, SW_ORIGIN_NONE, 0,
                      "HTTP client is closing");
  if (!o->method || !*o->method || !o->url ||
      (strncmp(o->url, "http://", 7) && strncmp(o->url, "https://", 8)))
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "HTTP request needs a method and an http(s):// URL "
                      "(got '%.200s')", o->url ? o->url : "");
  if (sign && (!o->creds || !o->creds->access_key_id ||
               !o->creds->secret_access_key))
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "SigV4 signing needs credentials");
  rc = check_headers(o, err);
  if (rc < 0)
    return rc;

  r = sw_calloc(1, sizeof(*r));
  r->http = h;
  r->cb = cb;
  r->payload = payload;
  r->url = sw_strdup(o->url);
  r->resp.max = o->max_body ? o->max_body : DEFAULT_MAX_BODY;
  r->n_want = o->n_want_headers;
  r->want = sw_calloc(r->n_want + 1, sizeof(*r->want));
  r->values = sw_calloc(r->n_want + 1, sizeof(*r->values));
  for (i = 0; i < r->n_want; i++)
    r->want[i] = sw_strdup(o->want_headers[i]);
  r->easy = curl_easy_init();
  if (!r->easy) {
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_CURL, 0, "curl_easy_init failed");
    goto done;
  }
  for (i = 0; i < o->n_headers; i++)
    if ((rc = add_header(&r->hdrs, o->headers[i], err)) < 0)
      goto done;

  SETOPT(CURLOPT_URL, o->url);
  SETOPT(CURLOPT_PRIVATE, (void *)r);
  SETOPT(CURLOPT_ERRORBUFFER, r->errbuf);
  SETOPT(CURLOPT_NOSIGNAL, 1L);
  SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
  SETOPT(CURLOPT_USERAGENT, "stepwise/" "0.1");
  SETOPT(CURLOPT_WRITEFUNCTION, on_write);
  SETOPT(CURLOPT_WRITEDATA, (void *)r);
  SETOPT(CURLOPT_HEADERFUNCTION, on_header);
  SETOPT(CURLOPT_HEADERDATA, (void *)r);
  SETOPT(CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms
                                              : (long)DEFAULT_TIMEOUT_MS);
  SETOPT(CURLOPT_CONNECTTIMEOUT_MS,
         o->connect_timeout_ms > 0 ? o->connect_timeout_ms
                                   : (long)DEFAULT_CONNECT_TIMEOUT_MS);
  SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
  r->sink = o->sink;
  r->sink_payload = o->sink_payload;
  if (o->source) {
    r->source = o->source;
    r->source_payload = o->source_payload;
    SETOPT(CURLOPT_UPLOAD, 1L);
    SETOPT(CURLOPT_READFUNCTION, on_read);
    SETOPT(CURLOPT_READDATA, (void *)r);
    SETOPT(CURLOPT_INFILESIZE_LARGE, (curl_off_t)o->source_len);
    if (strcmp(o->method, "PUT") != 0)
      SETOPT(CURLOPT_CUSTOMREQUEST, o->method);
  } else if (o->body) {
    r->body = sw_malloc(o->body_len + 1);
    memcpy(r->body, o->body, o->body_len);
    r->body[o->body_len] = '\0';
    SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    SETOPT(CURLOPT_POSTFIELDS, r->body);
    if (strcmp(o->method, "POST") != 0)
      SETOPT(CURLOPT_CUSTOMREQUEST, o->method);
  } else if (!strcmp(o->method, "GET")) {
    SETOPT(CURLOPT_HTTPGET, 1L);
  } else if (!strcmp(o->method, "HEAD")) {
    SETOPT(CURLOPT_NOBODY, 1L);
  } else {
    SETOPT(CURLOPT_CUSTOMREQUEST, o->method);
  }
  if (sign) {
    /* Always name region and service: for 127.0.0.1 libcurl would guess
     * region "0" and service "127" (aws-apis.md, signing pitfall 1). */
    provider = sw_asprintf("aws:amz:%s:%s", o->sigv4_region,
                           o->sigv4_service);
    SETOPT(CURLOPT_AWS_SIGV4, provider);
    SETOPT(CURLOPT_USERNAME, o->creds->access_key_id);
    SETOPT(CURLOPT_PASSWORD, o->creds->secret_access_key);
    if (o->creds->session_token) {
      /* libcurl has no option for it; as a header it is signed. */
      line = sw_asprintf("X-Amz-Security-Token: %s",
                         o->creds->session_token);
      rc = add_header(&r->hdrs, line, err);
      if (rc < 0)
        goto done;
    }
  }
  if (r->hdrs)
    SETOPT(CURLOPT_HTTPHEADER, r->hdrs);
  if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_CURL, 0,
                    "curl_multi_add_handle failed");
    goto done;
  }
  req_link(&h->reqs, r);
  h->pending++;
  if (req_out)
    *req_out = r;
  r = NULL;

done:
  if (line) {
    /* The token line held a secret: wipe our copy (curl has its own). */
    memset(line, 0, strlen(line));
    sw_free(line);
  }
  sw_free(provider);
  if (r)
    req_free(r);
  return rc;
}

void sw_http_cancel(sw_http_req *r)
{
  sw_http *h;

  if (!r || !r->easy)
    return;
  h = r->http;
  req_unlink(&h->reqs, r);
  curl_multi_remove_handle(h->multi, r->easy);
  curl_easy_cleanup(r->easy);
  r->easy = NULL;
  req_link(&h->cancelled, r);
  uv_timer_start(&h->defer, on_defer, 0, 0);
}

size_t sw_http_pending(const sw_http *h)
{
  return h ? h->pending : 0;
}

static void on_timer_closed(uv_handle_t *hd)
{
  close_done(hd->data);
}

void sw_http_close(sw_http *h, void (*cb)(void *payload), void *payload)
{
  sw_http_req *victims = NULL, *r;
  sw_err err = SW_ERR_INIT;

  if (!h) {
    if (cb)
      cb(payload);
    return;
  }
  if (h->closing)
    return;
  h->closing = true;
  h->close_cb = cb;
  h->close_payload = payload;
  /* The multi's timer and poll handles must outlive curl_multi_cleanup;
   * the timers are closed after it. */
  h->closes_pending++; /* held until the timers are closed below */
  multi_teardown(h, &victims);
  sw_err_set(&err, SW_ECANCELED, SW_ORIGIN_NONE, 0,
             "HTTP client closed");
  while ((r = victims) != NULL) {
    req_unlink(&victims, r);
    complete(r, CURLE_OK, 0, &err);
  }
  while ((r = h->cancelled) != NULL) {
    req_unlink(&h->cancelled, r);
    complete(r, CURLE_OK, 0, &err);
  }
  h->timer.data = h;
  h->defer.data = h;
  h->closes_pending += 2;
  uv_close((uv_handle_t *)&h->timer, on_timer_closed);
  uv_close((uv_handle_t *)&h->defer, on_timer_closed);
  /* Drop the hold taken above; the close callbacks (never synchronous)
   * bring the count to zero and free h. */
  h->closes_pending--;
}

char *sw_url_decode(const char *s, size_t n, bool plus_is_space)
{
  char *tmp = sw_strndup(s, n), *out, *dec;
  int len = 0;
  size_t i;

  if (plus_is_space)
    for (i = 0; tmp[i]; i++)
      if (tmp[i] == '+')
        tmp[i] = ' ';
  dec = curl_easy_unescape(NULL, tmp, (int)strlen(tmp), &len);
  if (!dec)
    return tmp;
  out = sw_strndup(dec, (size_t)len);
  curl_free(dec);
  sw_free(tmp);
  return out;
}
