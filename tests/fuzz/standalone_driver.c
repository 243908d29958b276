/* SPDX-License-Identifier: MIT */
/* Replays fuzz inputs without libFuzzer (libgit2 fuzzers/standalone_driver
 * pattern): each argument is a file or a directory of files, every file is
 * passed to LLVMFuzzerTestOneInput once, in name order. This is how the
 * corpora run as ordinary ctest tests (label "fuzz") in every build; a
 * crash or sanitizer report fails the test. Exit 0 after the last input,
 * 1 when an argument cannot be read or holds no input. */
#include "fuzz_asl.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define MAX_INPUT (4u * 1024u * 1024u)

static int cmp_name(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_file(const char *path, size_t *count)
{
  char *data = NULL;
  size_t len = 0;
  sw_err err = SW_ERR_INIT;

  if (sw_file_read(&data, &len, path, MAX_INPUT, &err) < 0) {
    fprintf(stderr, "standalone_driver: %s\n", err.msg);
    return -1;
  }
  /* libFuzzer hands over an exact-size buffer; so do we, so that ASan
   * sees reads past the end. */
  {
    uint8_t *copy = sw_malloc(len ? len : 1);

    memcpy(copy, data, len);
    sw_free(data);
    LLVMFuzzerTestOneInput(copy, len);
    sw_free(copy);
  }
  (*count)++;
  return 0;
}

static int run_dir(const char *dir, size_t *count)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  char **names = NULL;
  size_t n = 0, i;
  int rc = 0;

  if (!d) {
    fprintf(stderr, "standalone_driver: cannot open %s\n", dir);
    return -1;
  }
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    names = sw_realloc(names, (n + 1) * sizeof(*names));
    names[n++] = sw_asprintf("%s/%s", dir, e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof(*names), cmp_name);
  for (i = 0; i < n; i++) {
    if (rc == 0 && run_file(names[i], count) < 0)
      rc = -1;
    sw_free(names[i]);
  }
  sw_free(names);
  return rc;
}

int main(int argc, char **argv)
{
  size_t count = 0;
  int i;

  for (i = 1; i < argc; i++) {
    struct stat st;

    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "standalone_driver: no such file: %s\n", argv[i]);
      return 1;
    }
    if ((S_ISDIR(st.st_mode) ? run_dir(argv[i], &count)
                             : run_file(argv[i], &count)) < 0)
      return 1;
  }
  printf("%zu inputs replayed without a crash\n", count);
  return count ? 0 : 1;
}
