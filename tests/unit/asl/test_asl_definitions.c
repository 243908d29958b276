/* SPDX-License-Identifier: MIT */
/* Runs sw_asl_parse over asl-validator's 112 bundled definitions
 * (shared/reference/asl-validator/definitions, valid-* and invalid-*) and
 * compares the verdicts; JSONata and distributed Map are counted apart
 * (rejected as "not supported yet", naming the pointer) and listed. */
#include "sw_test.h"
#include "asl/asl.h"

#include <dirent.h>
#include <stdlib.h>

typedef struct verdicts {
  int valid_ok;            /* valid-*, parsed */
  int valid_unsupported;   /* valid-*, "not supported yet" */
  int valid_wrong;         /* valid-*, rejected otherwise */
  int invalid_ok;          /* invalid-*, rejected naming a JSON Pointer */
  int invalid_unsupported; /* invalid-*, rejected as not supported yet */
  int invalid_wrong;       /* invalid-*, parsed */
  int invalid_nopointer;   /* invalid-*, rejected without a pointer */
  int unsupported_nopointer; /* "not supported yet" without a pointer */
  int n_jsonata;           /* not supported: JSONata */
  int n_distributed;       /* not supported: distributed Map */
  int n_cfn;               /* not supported: CloudFormation Fn::/Ref */
  int n_valid;             /* valid-* files */
} verdicts;

/* Verdicts that once depended on paths/ knowing syntax asl-validator
 * accepts or rejects through asl-path-validator's grammar; each is now
 * asserted with the exact outcome. */
static const struct {
  const char *file;
  const char *msg; /* NULL: parses; else the expected message's tail */
} paths_cases[] = {
    {"valid-current-value-predicate.json", NULL}, /* [?(@.k == FooBar)] */
    {"valid-path-array-context.json", NULL},      /* $[(@.length-1)] */
    {"invalid-math-add.json",
     ": /States/validate input/Parameters: field 'foo.$': invalid intrinsic "
     "function call 'States.MathAdd(1,'-1')': argument 2 of States.MathAdd "
     "must be an integer, not a string"},
};

static void check_paths_case(const char *dir, size_t i)
{
  char *path = sw_asprintf("%s/%s", dir, paths_cases[i].file);
  sw_err err = SW_ERR_INIT;
  sw_asl_definition *def = NULL;
  int rc = sw_asl_load_file(&def, path, &err);
  const char *want = paths_cases[i].msg;

  if (!want) {
    SW_ASSERT_OK(rc);
  } else {
    size_t lm = strlen(err.msg), lw = strlen(want);

    SW_ASSERT_ERR(rc, SW_EINVAL);
    SW_ASSERT(lm >= lw && strcmp(err.msg + lm - lw, want) == 0);
  }
  sw_asl_free(def);
  sw_free(path);
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

SW_TEST(asl_definitions__asl_validator_corpus)
{
  char *dir = sw_asprintf("%s/reference/asl-validator/definitions",
                          sw_test_shareddir());
  char **files = NULL;
  size_t n = 0, cap = 0, i;
  verdicts v = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  char **unsup = NULL; /* "file: message" of each unsupported one */
  size_t n_unsupported = 0;
  DIR *d = opendir(dir);
  struct dirent *e;

  if (!d) {
    sw_free(dir);
    sw_test_skip("asl-validator definitions not found");
    return;
  }
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 128;
      files = sw_realloc(files, cap * sizeof(*files));
    }
    files[n++] = sw_strdup(e->d_name);
  }
  closedir(d);
  qsort(files, n, sizeof(*files), cmp_str);

  for (i = 0; i < n; i++) {
    char *path = sw_asprintf("%s/%s", dir, files[i]);
    sw_err err = SW_ERR_INIT;
    sw_asl_definition *def = NULL;
    bool want_valid = strncmp(files[i], "valid-", 6) == 0;
    int rc = sw_asl_load_file(&def, path, &err);
    /* Messages name the file, then ": /" starts the JSON Pointer. */
    bool unsupported = rc < 0 && strstr(err.msg, "not supported yet");
    bool pointer = rc < 0 && strstr(err.msg, ": /") != NULL;

    v.n_valid += want_valid;
    if (unsupported) {
      /* JSONata or distributed Map: rejected by design, naming where. */
      unsup = sw_realloc(unsup, (n_unsupported + 1) * sizeof(*unsup));
      unsup[n_unsupported++] = sw_asprintf("%s: %s", files[i], err.msg);
      if (!pointer)
        v.unsupported_nopointer++;
      if (strstr(err.msg, "JSONata is not supported yet"))
        v.n_jsonata++;
      else if (strstr(err.msg, "distributed Map is not supported yet"))
        v.n_distributed++;
      else if (strstr(err.msg, "CloudFormation intrinsic functions are not "
                               "supported yet"))
        v.n_cfn++;
    }
    if (want_valid && rc == 0) {
      v.valid_ok++;
    } else if (want_valid && unsupported) {
      v.valid_unsupported++;
    } else if (want_valid) {
      v.valid_wrong++;
      printf("  valid rejected: %s\n", err.msg);
    } else if (rc == 0) {
      v.invalid_wrong++;
      printf("  invalid accepted: %s\n", files[i]);
    } else if (unsupported) {
      v.invalid_unsupported++;
    } else if (!pointer) {
      v.invalid_nopointer++;
      printf("  invalid rejected without a pointer: %s\n", err.msg);
    } else {
      v.invalid_ok++;
    }
    if (getenv("SW_ASL_CORPUS_VERBOSE"))
      printf("  %s: %s\n", files[i], rc == 0 ? "ok" : err.msg);
    sw_asl_free(def);
    sw_free(path);
    sw_free(files[i]);
  }
  sw_free(files);
  printf("  asl-validator corpus: %zu files, same verdict as asl-validator "
         "on %d (valid-*: %d parsed; invalid-*: %d rejected with a "
         "pointer); %d rejected as not supported yet (%d valid-*, %d "
         "invalid-*): %d JSONata, %d distributed Map, %d CloudFormation "
         "Fn::/Ref; wrong: %d valid rejected, %d invalid accepted, %d "
         "rejected without a pointer\n",
         n, v.valid_ok + v.invalid_ok, v.valid_ok, v.invalid_ok,
         v.valid_unsupported + v.invalid_unsupported, v.valid_unsupported,
         v.invalid_unsupported, v.n_jsonata, v.n_distributed, v.n_cfn,
         v.valid_wrong, v.invalid_wrong, v.invalid_nopointer);
  for (i = 0; i < n_unsupported; i++) {
    printf("    not supported yet: %s\n", unsup[i]);
    sw_free(unsup[i]);
  }
  sw_free(unsup);
  for (i = 0; i < SW_ARRAY_SIZE(paths_cases); i++)
    check_paths_case(dir, i);
  sw_free(dir);
  SW_ASSERT_EQ(n, 112);
  SW_ASSERT_EQ(v.n_valid, 62);
  SW_ASSERT_EQ(v.valid_wrong, 0);
  SW_ASSERT_EQ(v.invalid_wrong, 0);
  SW_ASSERT_EQ(v.invalid_nopointer, 0);
  /* Every "not supported yet" names the JSON Pointer of the construct. */
  SW_ASSERT_EQ(v.unsupported_nopointer, 0);
  SW_ASSERT_EQ(v.valid_ok + v.invalid_ok + v.valid_unsupported +
                   v.invalid_unsupported,
               112);
  SW_ASSERT_EQ(v.n_jsonata + v.n_distributed + v.n_cfn,
               v.valid_unsupported + v.invalid_unsupported);
}
