/* SPDX-License-Identifier: MIT */
/* libmicrohttpd driven by the libuv loop: the daemon runs in external
 * polling mode with epoll (MHD_USE_EPOLL, no thread of its own), its epoll
 * descriptor is watched with uv_poll (readable = some connection or the
 * listen socket is ready) and MHD_get_timeout arms a uv_timer, so every
 * request is handled on the loop thread. A body is collected (bounded by
 * max_body) before srv_route sees the request.
 *
 * Group acknowledgement: the events of one MHD_run share one serve.db
 * transaction (srv_queue.c). A request that recorded an event is
 * suspended with its reply; after MHD_run the transaction commits once
 * (one fsync for every webhook read in that turn) and the suspended
 * connections resume and get their replies (or a 500 when the commit
 * failed, so the sender retries). No 2xx leaves before the commit. */
#include "server/server_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

typedef struct conn {
  sw_buf body;       /* bounded by max_body */
  bool too_large;
  bool has_reply;    /* resumed: send `reply` */
  srv_reply reply;   /* held while the batch commits */
  struct MHD_Connection *c;
  struct conn *next_pending;
} conn;

static void arm(sw_server *s);
static void on_timer(uv_timer_t *t);

static void run_mhd(sw_server *s)
{
  sw_err err = SW_ERR_INIT;
  conn *cn, *next;
  int rc;

  if (!s->mhd)
    return;
  MHD_run((struct MHD_Daemon *)s->mhd);
  rc = srv_queue_commit(s, &err);
  if (rc < 0)
    sw_log(SW_LOG_ERROR, "events could not be recorded: %s", err.msg);
  for (cn = s->pending; cn; cn = next) {
    next = cn->next_pending;
    cn->next_pending = NULL;
    if (rc < 0) {
      /* Nothing of the batch is on disk: no 2xx, the sender retries. */
      s->counts[cn->reply.source][SRV_ACCEPTED] -=
          (unsigned long)cn->reply.started;
      s->counts[cn->reply.source][SRV_FAILED] +=
          (unsigned long)cn->reply.started;
      sw_free(cn->reply.body);
      cn->reply.status = 500;
      cn->reply.content_type = "application/json";
      cn->reply.processed_header = false;
      cn->reply.body = sw_strdup("{\"error\":\"the event could not be "
                                 "recorded; retry\"}");
    }
    cn->has_reply = true;
    MHD_resume_connection(cn->c);
  }
  arm(s);
  if (s->pending) /* MHD picks resumed connections up on its next run */
    uv_timer_start(&s->mhd_timer, on_timer, 0, 0);
  s->pending = NULL;
}

static void on_poll(uv_poll_t *p, int status, int events)
{
  (void)status;
  (void)events;
  run_mhd(p->data);
}

static void on_timer(uv_timer_t *t) { run_mhd(t->data); }

/* Re-arm the timer after each run: MHD says when it next needs a turn
 * (0 when it has buffered work that no descriptor event will announce). */
static void arm(sw_server *s)
{
  MHD_UNSIGNED_LONG_LONG ms = 0;

  if (MHD_get_timeout((struct MHD_Daemon *)s->mhd, &ms) == MHD_YES)
    uv_timer_start(&s->mhd_timer, on_timer, (uint64_t)ms, 0);
  else
    uv_timer_stop(&s->mhd_timer);
}

static enum MHD_Result respond(struct MHD_Connection *c, srv_reply *r)
{
  struct MHD_Response *resp;
  enum MHD_Result ret;
  const char *body = r->body ? r->body : "";
  size_t len = strlen(body);

  resp = MHD_create_response_from_buffer(len, (void *)body,
                                         MHD_RESPMEM_MUST_COPY);
  if (!resp)
    return MHD_NO;
  if (r->content_type)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type);
  if (r->processed_header)
    MHD_add_response_header(resp, "x-controlshift-processed", "1");
  ret = MHD_queue_response(c, (unsigned int)r->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
  sw_server *s = cls;
  conn *cn = *con_cls;
  srv_request rq;
  srv_reply rp;
  enum MHD_Result ret;
  unsigned long before;

  (void)version;
  if (!cn) { /* headers only: set up the body */
    cn = sw_calloc(1, sizeof(*cn));
    cn->body.max = s->max_body;
    *con_cls = cn;
    return MHD_YES;
  }
  if (*upload_data_size) {
    if (!cn->too_large &&
        sw_buf_put(&cn->body, upload_data, *upload_data_size, NULL) < 0)
      cn->too_large = true;
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (cn->has_reply) { /* resumed after the batch committed */
    cn->has_reply = false;
    ret = respond(c, &cn->reply);
    sw_free(cn->reply.body);
    cn->reply.body = NULL;
    return ret;
  }
  memset(&rq, 0, sizeof(rq));
  memset(&rp, 0, sizeof(rp));
  rq.method = method;
  rq.url = url;
  rq.body = cn->body.ptr ? cn->body.ptr : "";
  rq.body_len = cn->body.len;
  rq.too_large = cn->too_large;
  rq.signature = MHD_lookup_connection_value(
      c, MHD_HEADER_KIND, "x-controlshift-webhook-signature");
  before = s->n_accepted;
  srv_route(s, &rq, &rp);
  rp.started = (int)(s->n_accepted - before);
  if (srv_queue_in_txn(s)) {
    /* Not before the commit: hold the reply, park the connection. */
    cn->reply = rp;
    cn->c = c;
    cn->next_pending = s->pending;
    s->pending = cn;
    MHD_suspend_connection(c);
    return MHD_YES;
  }
  ret = respond(c, &rp);
  sw_free(rp.body);
  return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
  conn *cn = *con_cls;

  (void)cls;
  (void)c;
  (void)toe;
  if (cn) {
    sw_buf_dispose(&cn->body);
    sw_free(cn->reply.body);
    sw_free(cn);
  }
  *con_cls = NULL;
}

int srv_http_start(sw_server *s, const char *host, int port, sw_err *err)
{
  struct sockaddr_in sin;
  const union MHD_DaemonInfo *info;
  struct MHD_Daemon *d;

  if (port < 0 || port > 65535)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "listen port %d: expected 0..65535", port);
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "listen address \"%s\": expected an IPv4 address such "
                      "as 127.0.0.1",
                      host);
  d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME,
                       (uint16_t)port, NULL, NULL, on_request,
                       s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
                       MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                       MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60,
                       MHD_OPTION_CONNECTION_LIMIT, (unsigned int)4096,
                       MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
                       MHD_OPTION_END);
  if (!d)
    return sw_err_set(err, SW_EIO, SW_ORIGIN_OS, 0,
                      "cannot listen on %s:%d (in use, or not an address "
                      "of this machine)",
                      host, port);
  s->mhd = d;
  info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  s->port = info ? (int)info->port : port;
  info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
  if (!info) {
    MHD_stop_daemon(d);
    s->mhd = NULL;
    return sw_err_set(err, SW_EIO, SW_ORIGIN_NONE, 0,
                      "libmicrohttpd gave no epoll descriptor");
  }
  uv_poll_init(s->loop, &s->mhd_poll, info->epoll_fd);
  uv_timer_init(s->loop, &s->mhd_timer);
  s->mhd_poll.data = s;
  s->mhd_timer.data = s;
  s->mhd_handles = true;
  uv_poll_start(&s->mhd_poll, UV_READABLE, on_poll);
  arm(s);
  return 0;
}

static void on_closed(uv_handle_t *h) { srv_handle_closed(h->data); }

void srv_http_stop(sw_server *s)
{
  /* Stop watching the epoll descriptor before MHD closes it. */
  if (s->mhd_handles)
    uv_poll_stop(&s->mhd_poll);
  if (s->mhd) {
    MHD_stop_daemon((struct MHD_Daemon *)s->mhd);
    s->mhd = NULL;
  }
  if (s->mhd_handles) {
    s->mhd_handles = false;
    s->closing_handles += 2;
    uv_close((uv_handle_t *)&s->mhd_poll, on_closed);
    uv_close((uv_handle_t *)&s->mhd_timer, on_closed);
  }
}
