/* SPDX-License-Identifier: MIT */
/* Test runner: runs registered tests (optionally those whose name starts
 * with -s PREFIX, leaving out those starting with any -x PREFIX), each in a forked child with a timeout, and prints
 * "N passed, N failed[, N skipped]" last. Exit 0 only when none failed. */
#define _POSIX_C_SOURCE 200809L
#include "sw_test.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_TESTS 4096
#define SKIP_CODE 77

static struct {
  const char *name;
  sw_test_fn fn;
} tests[MAX_TESTS];
static int ntests;
static int failed_here;
static char tmpdir[512];

void sw_test_register(const char *name, sw_test_fn fn)
{
  if (ntests < MAX_TESTS) {
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    ntests++;
  }
}

void sw_test_fail(const char *file, int line, const char *fmt, ...)
{
  va_list ap;
  fprintf(stderr, "  %s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  failed_here = 1;
}

void sw_test_skip(const char *why)
{
  fprintf(stderr, "  skipped: %s\n", why);
  fflush(NULL);
  _exit(SKIP_CODE);
}

const char *sw_test_srcdir(void)
{
  const char *d = getenv("SW_TEST_SRCDIR");
  return d ? d : SW_TEST_DEFAULT_SRCDIR;
}

const char *sw_test_shareddir(void)
{
  static char buf[1024];
  const char *d = getenv("SW_TEST_SHARED");
  if (d)
    return d;
  snprintf(buf, sizeof(buf), "%s/../shared", sw_test_srcdir());
  return buf;
}

const char *sw_test_tmpdir(void)
{
  if (!tmpdir[0]) {
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/sw_test_XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
      perror("mkdtemp");
      _exit(2);
    }
  }
  return tmpdir;
}

static void rm_tmpdir(void)
{
  char cmd[600];
  if (!tmpdir[0])
    return;
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0)
    fprintf(stderr, "  could not remove %s\n", tmpdir);
}

bool sw_test_json_eq(const cJSON *actual, const char *expected, char **why)
{
  cJSON *e = cJSON_Parse(expected);
  bool same;
  char *a;

  if (!e) {
    *why = strdup("expected text is not JSON");
    return false;
  }
  same = cJSON_Compare(actual, e, 1);
  if (!same) {
    a = actual ? cJSON_PrintUnformatted(actual) : NULL;
    *why = malloc(strlen(expected) + (a ? strlen(a) : 6) + 32);
    sprintf(*why, "got %s, expected %s", a ? a : "(null)", expected);
    free(a);
  }
  cJSON_Delete(e);
  return same;
}

static int run_one(int i, int timeout_s)
{
  pid_t pid;
  int status = 0;
  int waited = 0;

  fflush(NULL);
  pid = fork();
  if (pid == 0) {
    alarm((unsigned)timeout_s);
    tests[i].fn();
    fflush(NULL);
    if (!failed_here)
      rm_tmpdir();
    else if (tmpdir[0])
      fprintf(stderr, "  kept %s\n", tmpdir);
    exit(failed_here ? 1 : 0); /* exit, not _exit: LeakSanitizer runs */
  }
  while (waitpid(pid, &status, 0) < 0)
    waited++;
  if (WIFSIGNALED(status)) {
    fprintf(stderr, "  died with signal %d%s\n", WTERMSIG(status),
            WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
    return 1;
  }
  return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
  const char *prefix = NULL;
  const char *exclude[16];
  int n_exclude = 0, j;
  int list = 0, timeout_s = 300;
  int passed = 0, failed = 0, skipped = 0, i;

  for (i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-s") && i + 1 < argc)
      prefix = argv[++i];
    else if (!strcmp(argv[i], "-x") && i + 1 < argc && n_exclude < 16)
      exclude[n_exclude++] = argv[++i];
    else if (!strcmp(argv[i], "--list"))
      list = 1;
    else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
      timeout_s = atoi(argv[++i]);
  }
  for (i = 0; i < ntests; i++) {
    int rc;
    if (prefix && strncmp(tests[i].name, prefix, strlen(prefix)) != 0)
      continue;
    for (j = 0; j < n_exclude; j++)
      if (!strncmp(tests[i].name, exclude[j], strlen(exclude[j])))
        break;
    if (j < n_exclude)
      continue;
    if (list) {
      printf("%s\n", tests[i].name);
      continue;
    }
    rc = run_one(i, timeout_s);
    if (rc == 0) {
      passed++;
      printf("ok   %s\n", tests[i].name);
    } else if (rc == SKIP_CODE) {
      skipped++;
      printf("skip %s\n", tests[i].name);
    } else {
      failed++;
      printf("FAIL %s\n", tests[i].name);
    }
    fflush(stdout);
  }
  if (list)
    return 0;
  if (skipped)
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  else
    printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
