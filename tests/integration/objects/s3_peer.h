/* SPDX-License-Identifier: MIT */
/* Start and stop the S3 peer (tests/peers/s3: s3rver behind a SigV4
 * check) for a test: a throwaway directory under the test's tmpdir, a free
 * port, bucket "stage". Sets AWS_ENDPOINT_URL_S3, AWS_REGION and the test
 * keys in this process's environment. Skips (77) without node_modules. */
#ifndef SW_TEST_S3_PEER_H
#define SW_TEST_S3_PEER_H

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "sw_test.h"

typedef struct s3_peer {
  pid_t pid;
  int port;
  char url[64];
} s3_peer;

static inline bool s3_peer_start(s3_peer *p)
{
  char mod[1024], script[1024], dir[1024], errpath[1024], line[256];
  int fds[2];
  size_t n = 0;
  struct pollfd pf;
  ssize_t got;

  snprintf(mod, sizeof(mod), "%s/node_modules/s3rver", sw_test_srcdir());
  if (access(mod, F_OK) != 0)
    sw_test_skip("node_modules/s3rver missing (npm ci)");
  snprintf(script, sizeof(script), "%s/tests/peers/s3/server.mjs",
           sw_test_srcdir());
  snprintf(dir, sizeof(dir), "%s/s3data", sw_test_tmpdir());
  snprintf(errpath, sizeof(errpath), "%s/s3peer.err", sw_test_tmpdir());
  if (pipe(fds) != 0)
    return false;
  p->pid = fork();
  if (p->pid == 0) {
    int errfd = open(errpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    dup2(fds[1], 1);
    if (errfd >= 0)
      dup2(errfd, 2);
    close(fds[0]);
    close(fds[1]);
    execlp("node", "node", "--openssl-legacy-provider", script, "--dir", dir, "--bucket", "stage",
           (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  pf.fd = fds[0];
  pf.events = POLLIN;
  while (n < sizeof(line) - 1 && poll(&pf, 1, 10000) == 1) {
    got = read(fds[0], line + n, 1);
    if (got <= 0 || line[n] == '\n')
      break;
    n++;
  }
  line[n] = '\0';
  close(fds[0]);
  if (sscanf(line, "listening http://127.0.0.1:%d", &p->port) != 1) {
    fprintf(stderr, "  s3 peer did not start: '%s'\n", line);
    return false;
  }
  snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%d", p->port);
  setenv("AWS_ENDPOINT_URL_S3", p->url, 1);
  setenv("AWS_REGION", "us-east-1", 1);
  setenv("AWS_ACCESS_KEY_ID", "AKIDSTEPWISETEST", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "stepwise-test-secret", 1);
  unsetenv("AWS_SESSION_TOKEN");
  unsetenv("AWS_PROFILE");
  return true;
}

static inline void s3_peer_stop(s3_peer *p)
{
  int st;

  if (p->pid > 0) {
    kill(p->pid, SIGTERM);
    waitpid(p->pid, &st, 0);
    p->pid = 0;
  }
  unsetenv("AWS_ENDPOINT_URL_S3");
}

/* A control request (POST json when non-NULL); the answer into out
 * (NUL-terminated, at most cap-1 bytes). Blocking; test code only. */
static inline bool s3_peer_ctl(const s3_peer *p, const char *path,
                               const char *json, char *out, size_t cap)
{
  CURL *c = curl_easy_init();
  char url[256];
  FILE *f = fmemopen(out, cap, "w");
  bool ok;

  snprintf(url, sizeof(url), "%s%s", p->url, path);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
  if (json)
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
  ok = curl_easy_perform(c) == CURLE_OK;
  curl_easy_cleanup(c);
  fclose(f);
  return ok;
}

#endif
