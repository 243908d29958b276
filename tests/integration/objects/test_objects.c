/* SPDX-License-Identifier: MIT */
/* objects: the local-directory backend, and the S3 backend against
 * s3rver (tests/peers/s3, which also checks every SigV4 signature and
 * payload hash the way S3 does). Each test ends with uv_loop_close() == 0. */
#include "sw_test.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include "common/common.h"
#include "objects/objects.h"
#include "s3_peer.h"

typedef struct box {
  bool done;
  int code;
  char msg[SW_ERR_MSG_MAX];
  char keys[64][128];
  uint64_t sizes[64];
  size_t n;
} box;

static void on_done(const sw_err *err, void *payload)
{
  box *b = payload;

  b->done = true;
  b->code = err ? err->code : 0;
  snprintf(b->msg, sizeof(b->msg), "%s", err ? err->msg : "");
}

static void on_list(const sw_err *err, const sw_object_info *items,
                    size_t n, void *payload)
{
  box *b = payload;
  size_t i;

  b->done = true;
  b->code = err ? err->code : 0;
  snprintf(b->msg, sizeof(b->msg), "%s", err ? err->msg : "");
  b->n = n;
  for (i = 0; i < n && i < 64; i++) {
    snprintf(b->keys[i], sizeof(b->keys[i]), "%s", items[i].key);
    b->sizes[i] = items[i].size;
  }
}

static void run_until(uv_loop_t *loop, box *b)
{
  while (!b->done)
    uv_run(loop, UV_RUN_ONCE);
}

enum { PUT, GET, DEL };

static int op(uv_loop_t *loop, sw_objects *os, int what, const char *key,
              const char *path, box *b)
{
  sw_err err = SW_ERR_INIT;
  int rc;

  memset(b, 0, sizeof(*b));
  rc = what == PUT   ? sw_objects_put(os, key, path, on_done, b, &err)
       : what == GET ? sw_objects_get(os, key, path, on_done, b, &err)
                     : sw_objects_delete(os, key, on_done, b, &err);
  if (rc < 0) {
    snprintf(b->msg, sizeof(b->msg), "%s", err.msg);
    return rc;
  }
  run_until(loop, b);
  return b->code;
}

static int list(uv_loop_t *loop, sw_objects *os, const char *prefix, box *b)
{
  sw_err err = SW_ERR_INIT;
  int rc;

  memset(b, 0, sizeof(*b));
  rc = sw_objects_list(os, prefix, on_list, b, &err);
  if (rc < 0)
    return rc;
  run_until(loop, b);
  return b->code;
}

static void closed(void *payload) { *(bool *)payload = true; }

static bool close_all(uv_loop_t *loop, sw_objects *os)
{
  bool done = false;

  sw_objects_close(os, closed, &done);
  while (!done)
    uv_run(loop, UV_RUN_ONCE);
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0;
}

static char *write_file(const char *name, const char *text)
{
  char *path = sw_asprintf("%s/%s", sw_test_tmpdir(), name);
  FILE *f = fopen(path, "w");

  fputs(text, f);
  fclose(f);
  return path;
}

static char *slurp(const char *path)
{
  char *s = NULL;

  if (sw_file_read(&s, NULL, path, 0, NULL) < 0)
    return NULL;
  return s;
}

/* Put three objects, list by prefix, get one back, delete, list again. */
static void roundtrip(uv_loop_t *loop, sw_objects *os)
{
  char *a = write_file("a.csv", "id,name\n1,\"x, y\"\n");
  char *bb = write_file("b.csv", "id\n2\n");
  char *out = sw_asprintf("%s/got.csv", sw_test_tmpdir());
  char *got = NULL;
  box b;

  SW_ASSERT_OK(op(loop, os, PUT, "load/a b+c.csv", a, &b));
  SW_ASSERT_OK(op(loop, os, PUT, "load/b.csv", bb, &b));
  SW_ASSERT_OK(op(loop, os, PUT, "other/c.csv", bb, &b));
  SW_ASSERT_OK(list(loop, os, "load/", &b));
  SW_ASSERT_EQ(b.n, 2);
  SW_ASSERT_STR_EQ(b.keys[0], "load/a b+c.csv");
  SW_ASSERT_EQ(b.sizes[0], 17);
  SW_ASSERT_STR_EQ(b.keys[1], "load/b.csv");
  SW_ASSERT_OK(op(loop, os, GET, "load/a b+c.csv", out, &b));
  got = slurp(out);
  SW_ASSERT_STR_EQ(got, "id,name\n1,\"x, y\"\n");
  sw_free(got);
  /* Replacing an object, then reading it back. */
  SW_ASSERT_OK(op(loop, os, PUT, "load/a b+c.csv", bb, &b));
  SW_ASSERT_OK(op(loop, os, GET, "load/a b+c.csv", out, &b));
  got = slurp(out);
  SW_ASSERT_STR_EQ(got, "id\n2\n");
  sw_free(got);
  SW_ASSERT_OK(op(loop, os, DEL, "load/a b+c.csv", NULL, &b));
  SW_ASSERT_OK(op(loop, os, DEL, "load/a b+c.csv", NULL, &b)); /* again */
  SW_ASSERT_OK(list(loop, os, "", &b));
  SW_ASSERT_EQ(b.n, 2);
  SW_ASSERT_STR_EQ(b.keys[0], "load/b.csv");
  SW_ASSERT_STR_EQ(b.keys[1], "other/c.csv");
  /* A missing key: NoSuchKey, and the destination is not created. */
  SW_ASSERT_ERR(op(loop, os, GET, "load/nope.csv", out, &b), SW_ENOTFOUND);
  SW_ASSERT_STR_CONTAINS(b.msg, "NoSuchKey");
  SW_ASSERT_STR_CONTAINS(b.msg, "load/nope.csv");
  /* A bad key is refused before anything happens. */
  SW_ASSERT_ERR(op(loop, os, PUT, "../x.csv", a, &b), SW_EINVAL);
  SW_ASSERT_ERR(op(loop, os, PUT, "/x.csv", a, &b), SW_EINVAL);
  SW_ASSERT_ERR(op(loop, os, PUT, "a//x.csv", a, &b), SW_EINVAL);
  /* A missing local file. */
  SW_ASSERT_ERR(op(loop, os, PUT, "load/z.csv", "/nonexistent/z.csv", &b),
                SW_ENOTFOUND);
  sw_free(a);
  sw_free(bb);
  sw_free(out);
}

SW_TEST(objects__local_roundtrip)
{
  uv_loop_t loop;
  sw_objects *os = NULL;
  sw_err err = SW_ERR_INIT;
  char *url = sw_asprintf("file://%s/store", sw_test_tmpdir());
  char *u;

  uv_loop_init(&loop);
  SW_ASSERT_OK(sw_objects_open(&os, &loop, url, NULL, &err));
  SW_ASSERT_STR_EQ(sw_objects_scheme(os), "file");
  u = sw_objects_url_of(os, "k/x.csv");
  SW_ASSERT_STR_CONTAINS(u, "/store/k/x.csv");
  sw_free(u);
  roundtrip(&loop, os);
  SW_ASSERT(close_all(&loop, os));
  sw_free(url);
}

SW_TEST(objects__bad_urls)
{
  uv_loop_t loop;
  sw_objects *os = NULL;
  sw_err err = SW_ERR_INIT;

  uv_loop_init(&loop);
  SW_ASSERT_ERR(sw_objects_open(&os, &loop, "ftp://x/y", NULL, &err),
                SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(err.msg, "expected file:///DIR or s3://BUCKET");
  SW_ASSERT_ERR(sw_objects_open(&os, &loop, "s3://A_B/x", NULL, &err),
                SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(err.msg, "bucket name");
  SW_ASSERT_ERR(sw_objects_open(&os, &loop, "s3://bucket/x?bogus=1", NULL,
                                &err), SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(err.msg, "bogus");
  uv_run(&loop, UV_RUN_DEFAULT);
  SW_ASSERT(uv_loop_close(&loop) == 0);
}

#define S3_SETUP(url)                                                          \
  uv_loop_t loop;                                                              \
  sw_objects *os = NULL;                                                       \
  sw_err err = SW_ERR_INIT;                                                    \
  s3_peer peer = {0};                                                          \
  uv_loop_init(&loop);                                                         \
  SW_ASSERT(s3_peer_start(&peer));                                             \
  if (sw_objects_open(&os, &loop, url, NULL, &err) != 0) {                     \
    s3_peer_stop(&peer);                                                       \
    sw_test_fail(__FILE__, __LINE__, "open: %s", err.msg);                     \
    return;                                                                    \
  }

SW_TEST(objects__s3_roundtrip)
{
  S3_SETUP("s3://stage/runs/1");
  char *u = sw_objects_url_of(os, "k/x.csv");
  bool ok;

  SW_ASSERT_STR_EQ(sw_objects_scheme(os), "s3");
  SW_ASSERT_STR_EQ(u, "s3://stage/runs/1/k/x.csv");
  sw_free(u);
  roundtrip(&loop, os);
  ok = close_all(&loop, os);
  s3_peer_stop(&peer);
  SW_ASSERT(ok);
}

/* More keys than one page holds: every page is read, in order. */
SW_TEST(objects__s3_list_pages)
{
  S3_SETUP("s3://stage/pages?max_keys=3");
  char *f = write_file("one.csv", "1\n");
  char key[64];
  box b;
  int i;
  bool ok;

  for (i = 0; i < 8; i++) {
    snprintf(key, sizeof(key), "p/k%02d.csv", i);
    SW_ASSERT_OK(op(&loop, os, PUT, key, f, &b));
  }
  SW_ASSERT_OK(op(&loop, os, PUT, "q/other.csv", f, &b));
  if (list(&loop, os, "p/", &b) != 0)
    sw_test_fail(__FILE__, __LINE__, "list: %s", b.msg);
  SW_ASSERT_EQ(b.n, 8);
  for (i = 0; i < 8; i++) {
    snprintf(key, sizeof(key), "p/k%02d.csv", i);
    SW_ASSERT_STR_EQ(b.keys[i], key);
  }
  SW_ASSERT_OK(list(&loop, os, NULL, &b));
  SW_ASSERT_EQ(b.n, 9);
  sw_free(f);
  ok = close_all(&loop, os);
  s3_peer_stop(&peer);
  SW_ASSERT(ok);
}

/* A file larger than the http module's 8 MiB in-memory body limit goes up
 * and comes back byte for byte, without the process holding it. */
SW_TEST(objects__s3_big_file_streamed)
{
  S3_SETUP("s3://stage/big");
  const size_t size = 24u << 20;
  char *src = sw_asprintf("%s/big.bin", sw_test_tmpdir());
  char *dst = sw_asprintf("%s/big.out", sw_test_tmpdir());
  char *buf = sw_malloc(1 << 20), *buf2 = sw_malloc(1 << 20);
  char stats[512];
  struct rusage ru0, ru1;
  uint64_t x = 88172645463325252ull, t0, t1, t2;
  size_t i, k;
  FILE *f = fopen(src, "wb"), *g;
  box b;
  bool ok, same = true;

  for (k = 0; k < size; k += 1 << 20) {
    for (i = 0; i < (1u << 20); i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      buf[i] = (char)(x >> 24);
    }
    fwrite(buf, 1, 1 << 20, f);
  }
  fclose(f);
  getrusage(RUSAGE_SELF, &ru0);
  t0 = uv_hrtime();
  SW_ASSERT_OK(op(&loop, os, PUT, "big.bin", src, &b));
  t1 = uv_hrtime();
  SW_ASSERT_OK(op(&loop, os, GET, "big.bin", dst, &b));
  t2 = uv_hrtime();
  getrusage(RUSAGE_SELF, &ru1);
  fprintf(stderr, "  24 MiB: put %.0f ms, get %.0f ms, peak RSS +%ld KiB\n",
          (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6,
          ru1.ru_maxrss - ru0.ru_maxrss);
  f = fopen(src, "rb");
  g = fopen(dst, "rb");
  SW_ASSERT(f && g);
  for (k = 0; k < size && same; k += 1 << 20)
    same = fread(buf, 1, 1 << 20, f) == (1u << 20) &&
           fread(buf2, 1, 1 << 20, g) == (1u << 20) &&
           memcmp(buf, buf2, 1 << 20) == 0;
  same = same && fread(buf2, 1, 1, g) == 0;
  fclose(f);
  fclose(g);
  SW_ASSERT(same);
  /* The peer received it as one PUT of the whole size. */
  SW_ASSERT(s3_peer_ctl(&peer, "/__peer/stats", NULL, stats,
                        sizeof(stats)));
  SW_ASSERT_STR_CONTAINS(stats, "\"max_put_bytes\":25165824");
  /* Peak RSS grew by far less than the file (it was never in memory). */
  if (ru1.ru_maxrss - ru0.ru_maxrss >= 8 * 1024)
    sw_test_fail(__FILE__, __LINE__, "peak RSS grew by %ld KiB",
                 ru1.ru_maxrss - ru0.ru_maxrss);
  sw_free(buf);
  sw_free(buf2);
  sw_free(src);
  sw_free(dst);
  ok = close_all(&loop, os);
  s3_peer_stop(&peer);
  SW_ASSERT(ok);
}

SW_TEST(objects__s3_errors)
{
  S3_SETUP("s3://stage/err");
  char *f = write_file("e.csv", "1\n");
  char *out = sw_asprintf("%s/e.out", sw_test_tmpdir());
  char ans[256];
  sw_objects *nb = NULL, *bad = NULL;
  box b;
  bool ok;

  /* No such key: named, and nothing left behind at the destination. */
  SW_ASSERT_ERR(op(&loop, os, GET, "missing.csv", out, &b), SW_ENOTFOUND);
  SW_ASSERT_STR_CONTAINS(b.msg, "NoSuchKey");
  SW_ASSERT_STR_CONTAINS(b.msg, "s3://stage/err/missing.csv");
  SW_ASSERT(!sw_file_exists(out));
  /* No such bucket. */
  SW_ASSERT_OK(sw_objects_open(&nb, &loop, "s3://nobucket/x", NULL, &err));
  SW_ASSERT_ERR(list(&loop, nb, "", &b), SW_ENOTFOUND);
  SW_ASSERT_STR_CONTAINS(b.msg, "NoSuchBucket");
  /* Access denied on a prefix: the bucket and key are named. */
  SW_ASSERT(s3_peer_ctl(&peer, "/__peer/deny",
                        "{\"path\":\"/stage/err/secret/\"}", ans,
                        sizeof(ans)));
  SW_ASSERT_ERR(op(&loop, os, PUT, "secret/x.csv", f, &b), SW_EREMOTE);
  SW_ASSERT_STR_CONTAINS(b.msg, "AccessDenied");
  SW_ASSERT_STR_CONTAINS(b.msg, "s3://stage/err/secret/x.csv");
  SW_ASSERT_STR_CONTAINS(b.msg, "credentials from environment");
  /* A wrong secret: the signature is refused; the secret never shows. */
  setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-xyz", 1);
  SW_ASSERT_OK(sw_objects_open(&bad, &loop, "s3://stage/err", NULL, &err));
  SW_ASSERT_ERR(op(&loop, bad, PUT, "x.csv", f, &b), SW_EREMOTE);
  SW_ASSERT_STR_CONTAINS(b.msg, "SignatureDoesNotMatch");
  SW_ASSERT(!strstr(b.msg, "not-the-secret-xyz"));
  setenv("AWS_SECRET_ACCESS_KEY", "stepwise-test-secret", 1);
  /* The object did not appear. */
  SW_ASSERT_OK(list(&loop, os, "", &b));
  SW_ASSERT_EQ(b.n, 0);
  sw_objects_close(nb, NULL, NULL);
  sw_objects_close(bad, NULL, NULL);
  sw_free(f);
  sw_free(out);
  ok = close_all(&loop, os);
  s3_peer_stop(&peer);
  SW_ASSERT(ok);
}

/* The server is gone: connection refused is retried, then named. */
SW_TEST(objects__s3_unreachable)
{
  uv_loop_t loop;
  sw_objects *os = NULL;
  sw_err err = SW_ERR_INIT;
  char *f = write_file("u.csv", "1\n");
  box b;

  uv_loop_init(&loop);
  setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9", 1);
  setenv("AWS_REGION", "us-east-1", 1);
  setenv("AWS_ACCESS_KEY_ID", "AKIDSTEPWISETEST", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "stepwise-test-secret", 1);
  SW_ASSERT_OK(sw_objects_open(&os, &loop, "s3://stage/u", NULL, &err));
  SW_ASSERT_ERR(op(&loop, os, PUT, "u.csv", f, &b), SW_EAGAIN);
  SW_ASSERT_STR_CONTAINS(b.msg, "S3 PutObject s3://stage/u/u.csv");
  SW_ASSERT_STR_CONTAINS(b.msg, "gave up after 5 attempts");
  unsetenv("AWS_ENDPOINT_URL_S3");
  sw_free(f);
  SW_ASSERT(close_all(&loop, os));
}
