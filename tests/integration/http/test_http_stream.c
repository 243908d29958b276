/* SPDX-License-Identifier: MIT */
/* src/http streaming against a tiny node peer (tests/peers/http) on
 * 127.0.0.1: a 2xx body reaches the sink in order and byte-exact even
 * past the 8 MiB in-memory limit; a non-2xx body is kept in memory for the
 * error document and never streamed; a sink error aborts the transfer
 * with that error; a `source` PUT arrives byte-exact with the right
 * Content-Length (not chunked); a source error aborts the upload. Skips
 * (77) without node. Each test ends with uv_loop_close() == 0. */
#include "sw_test.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "http/http.h"

#define MIB (1024u * 1024u)

typedef struct hpeer {
  pid_t pid;
  char url[64];
} hpeer;

static unsigned char pat(unsigned long long i)
{
  return (unsigned char)((i * 7 + (i >> 11)) & 255);
}

static bool hpeer_start(hpeer *p)
{
  char script[1024], line[256];
  int fds[2], port = 0;
  size_t n = 0;
  struct pollfd pf;

  if (system("node --version >/dev/null 2>&1") != 0)
    sw_test_skip("node not found");
  snprintf(script, sizeof(script), "%s/tests/peers/http/server.mjs",
           sw_test_srcdir());
  if (pipe(fds) != 0)
    return false;
  p->pid = fork();
  if (p->pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execlp("node", "node", script, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  pf.fd = fds[0];
  pf.events = POLLIN;
  while (n < sizeof(line) - 1 && poll(&pf, 1, 10000) == 1) {
    if (read(fds[0], line + n, 1) <= 0 || line[n] == '\n')
      break;
    n++;
  }
  line[n] = '\0';
  close(fds[0]);
  if (sscanf(line, "listening http://127.0.0.1:%d", &port) != 1) {
    fprintf(stderr, "  http peer did not start: '%s'\n", line);
    return false;
  }
  snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%d", port);
  return true;
}

static void hpeer_stop(hpeer *p)
{
  int st;

  if (p->pid > 0) {
    kill(p->pid, SIGTERM);
    waitpid(p->pid, &st, 0);
    p->pid = 0;
  }
}

typedef struct box {
  bool done;
  int code;
  char msg[SW_ERR_MSG_MAX];
  long status;
  size_t body_len;
  char *body;                /* owned copy of resp->body */
  /* sink */
  unsigned long long got;
  unsigned long long calls;
  unsigned long long bad_at; /* first offset that differs, +1 */
  unsigned long long fail_after; /* sink error once got passes this */
  bool called_after_fail;
  bool failed;
  /* source */
  unsigned long long sent, src_len, src_fail_at;
} box;

static int sink(const char *data, size_t n, void *payload, sw_err *err)
{
  box *b = payload;
  size_t i;

  if (b->failed)
    b->called_after_fail = true;
  b->calls++;
  for (i = 0; i < n && !b->bad_at; i++)
    if ((unsigned char)data[i] != pat(b->got + i))
      b->bad_at = b->got + i + 1;
  b->got += n;
  if (b->fail_after && b->got > b->fail_after) {
    b->failed = true;
    return sw_err_set(err, SW_EIO, SW_ORIGIN_NONE, 0,
                      "test sink: the disk is full");
  }
  return 0;
}

static int source(char *buf, size_t cap, size_t *n_out, void *payload,
                  sw_err *err)
{
  box *b = payload;
  size_t i, n = cap;

  if (b->src_fail_at && b->sent >= b->src_fail_at)
    return sw_err_set(err, SW_EIO, SW_ORIGIN_NONE, 0,
                      "test source: the file went away");
  if (n > b->src_len - b->sent)
    n = (size_t)(b->src_len - b->sent);
  for (i = 0; i < n; i++)
    buf[i] = (char)pat(b->sent + i);
  b->sent += n;
  *n_out = n;
  return 0;
}

static void on_done(const sw_err *err, const sw_http_response *resp,
                    void *payload)
{
  box *b = payload;

  b->done = true;
  b->code = err ? err->code : 0;
  snprintf(b->msg, sizeof(b->msg), "%s", err ? err->msg : "");
  b->status = resp->status;
  b->body_len = resp->body_len;
  b->body = sw_strndup(resp->body, resp->body_len);
}

static void closed_cb(void *payload) { *(bool *)payload = true; }

/* Run one request to completion on a fresh loop and handle. */
static bool run(const hpeer *p, const char *method, const char *path,
                sw_http_opts *o, box *b)
{
  uv_loop_t loop;
  sw_http *h = NULL;
  sw_err err = SW_ERR_INIT;
  char *url = sw_asprintf("%s%s", p->url, path);
  bool closed = false, ok;

  uv_loop_init(&loop);
  if (sw_http_new(&h, &loop, NULL, &err) < 0) {
    sw_free(url);
    uv_loop_close(&loop);
    return false;
  }
  o->method = method;
  o->url = url;
  if (sw_http_request(h, o, on_done, b, NULL, &err) < 0) {
    b->done = true;
    b->code = err.code;
  }
  while (!b->done)
    uv_run(&loop, UV_RUN_ONCE);
  sw_http_close(h, closed_cb, &closed);
  while (!closed)
    uv_run(&loop, UV_RUN_ONCE);
  uv_run(&loop, UV_RUN_DEFAULT);
  ok = uv_loop_close(&loop) == 0;
  sw_free(url);
  return ok;
}

SW_TEST(http_sink_streams_a_large_2xx_body_in_order)
{
  hpeer p = {0};
  box b = {0};
  sw_http_opts o = {0};
  const unsigned long long n = 20 * MIB + 12345; /* > the 8 MiB default */
  char path[96];
  bool loop_ok;

  SW_ASSERT(hpeer_start(&p));
  snprintf(path, sizeof(path), "/bytes?n=%llu&chunk=100003", n);
  o.sink = sink;
  o.sink_payload = &b;
  loop_ok = run(&p, "GET", path, &o, &b);
  hpeer_stop(&p);
  SW_ASSERT(loop_ok);
  SW_ASSERT_EQ(b.code, 0);
  SW_ASSERT_EQ(b.status, 200);
  SW_ASSERT_EQ(b.got, n);
  SW_ASSERT_EQ(b.bad_at, 0);      /* every byte in order */
  SW_ASSERT(b.calls > 1);         /* it really streamed */
  SW_ASSERT_EQ(b.body_len, 0);    /* nothing kept in memory */
  sw_free(b.body);
}

SW_TEST(http_sink_keeps_a_non_2xx_body_in_memory)
{
  hpeer p = {0};
  box b5 = {0}, b4 = {0};
  sw_http_opts o = {0};
  bool ok5, ok4;

  SW_ASSERT(hpeer_start(&p));
  o.sink = sink;
  o.sink_payload = &b5;
  ok5 = run(&p, "GET", "/status/503?n=100000", &o, &b5);
  memset(&o, 0, sizeof(o));
  o.sink = sink;
  o.sink_payload = &b4;
  ok4 = run(&p, "GET", "/status/403?n=10", &o, &b4);
  hpeer_stop(&p);
  SW_ASSERT(ok5 && ok4);
  SW_ASSERT_EQ(b5.code, SW_EAGAIN);
  SW_ASSERT_EQ(b5.status, 503);
  SW_ASSERT_EQ(b5.calls, 0);      /* never streamed */
  SW_ASSERT(b5.body_len > 100000);
  SW_ASSERT_STR_CONTAINS(b5.body, "{\"status\":503,\"pad\":\"xxx");
  SW_ASSERT_EQ(b4.code, SW_EREMOTE);
  SW_ASSERT_EQ(b4.status, 403);
  SW_ASSERT_EQ(b4.calls, 0);
  SW_ASSERT_STR_CONTAINS(b4.body, "\"status\":403");
  sw_free(b5.body);
  sw_free(b4.body);
}

SW_TEST(http_sink_error_aborts_with_that_error)
{
  hpeer p = {0};
  box b = {0};
  sw_http_opts o = {0};
  bool loop_ok;

  SW_ASSERT(hpeer_start(&p));
  b.fail_after = 1 * MIB;
  o.sink = sink;
  o.sink_payload = &b;
  loop_ok = run(&p, "GET", "/bytes?n=16777216", &o, &b);
  hpeer_stop(&p);
  SW_ASSERT(loop_ok);
  SW_ASSERT_EQ(b.code, SW_EIO);
  SW_ASSERT_STR_CONTAINS(b.msg, "test sink: the disk is full");
  SW_ASSERT(!b.called_after_fail);
  SW_ASSERT(b.got < 16777216ull);
  sw_free(b.body);
}

SW_TEST(http_source_put_arrives_byte_exact)
{
  hpeer p = {0};
  box b = {0}, e = {0};
  sw_http_opts o = {0};
  cJSON *j;
  char want[32];
  bool ok1, ok2;

  SW_ASSERT(hpeer_start(&p));
  b.src_len = 10 * MIB + 7;
  o.source = source;
  o.source_payload = &b;
  o.source_len = b.src_len;
  ok1 = run(&p, "PUT", "/upload", &o, &b);
  /* a source error stops the upload with that error */
  memset(&o, 0, sizeof(o));
  e.src_len = 4 * MIB;
  e.src_fail_at = 1 * MIB;
  o.source = source;
  o.source_payload = &e;
  o.source_len = e.src_len;
  ok2 = run(&p, "PUT", "/upload", &o, &e);
  hpeer_stop(&p);
  SW_ASSERT(ok1 && ok2);
  SW_ASSERT_EQ(b.code, 0);
  SW_ASSERT_EQ(b.status, 200);
  SW_ASSERT_EQ(b.sent, b.src_len);
  j = cJSON_Parse(b.body);
  SW_ASSERT_NOT_NULL(j);
  snprintf(want, sizeof(want), "%llu", b.src_len);
  SW_ASSERT_EQ(sw_json_get(j, "bytes")->valuedouble, (double)b.src_len);
  SW_ASSERT_STR_EQ(sw_json_get_str(j, "content_length"), want);
  SW_ASSERT(cJSON_IsNull(sw_json_get(j, "transfer_encoding")));
  SW_ASSERT(cJSON_IsTrue(sw_json_get(j, "pattern_ok")));
  cJSON_Delete(j);
  SW_ASSERT_EQ(e.code, SW_EIO);
  SW_ASSERT_STR_CONTAINS(e.msg, "test source: the file went away");
  sw_free(b.body);
  sw_free(e.body);
}
