/* SPDX-License-Identifier: MIT */
/* Fuzz target: parse + validate a definition (asl/ and, through it, every
 * path, payload template, intrinsic call and Choice rule compiler in
 * paths/). A definition that parses is walked, so the model's pointers
 * are read under ASan. */
#include "fuzz_asl.h"
#include "asl/asl.h"

static void visit(const sw_asl_machine *m, const sw_asl_state *s,
                  void *payload)
{
  size_t *n = payload;

  (void)m;
  *n += strlen(s->name) + (s->next ? strlen(s->next) : 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  sw_asl_definition *def = NULL;
  sw_err err = SW_ERR_INIT;
  size_t n = 0;

  if (sw_asl_parse(&def, (const char *)data, size, "fuzz.json", &err) == 0)
    sw_asl_walk(def, visit, &n);
  else if (err.msg[0] == '\0')
    __builtin_trap(); /* every rejection carries a message */
  sw_asl_free(def);
  return 0;
}
