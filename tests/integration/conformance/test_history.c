/* SPDX-License-Identifier: MIT */
/* Per-state history conformance: for JSONPath cases with a recorded AWS
 * history, every *StateEntered input and *StateExited output must match. */
#include "sw_test.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "resources/resources.h"
#include "store/store.h"
#include "warehouse/warehouse.h"

/* The fraction of compared cases whose per-state payloads must match:
 * 192 of 192 are measured; 99% leaves room for none but one. Raise it as
 * the interpreter improves; never lower it to make a red run green. */
#ifndef SW_HISTORY_MIN_PERCENT
#define SW_HISTORY_MIN_PERCENT 99
#endif

/* The shared share of the corpus holds 197 eligible cases (5 skipped for
 * redactions); fewer compared means the corpus is not the one the test was
 * written for. */
#ifndef SW_HISTORY_MIN_COMPARED
#define SW_HISTORY_MIN_COMPARED 100
#endif

typedef struct run_state {
  uv_loop_t loop;
  sw_store *store;
  sw_warehouse *wh;
  sw_resources *res;
  sw_engine *eng;
  char id[37];
  bool done;
} run_state;

/* One (type, name, payload) entry; payload is canonical JSON text. */
typedef struct hist_entry {
  char *type;
  char *name;
  char *payload;
} hist_entry;

typedef struct hist_list {
  hist_entry *v;
  size_t n, cap;
} hist_list;

static void on_done(const char *id, const char *status, void *payload)
{
  run_state *rs = payload;
  (void)status;
  if (!strcmp(id, rs->id)) {
    rs->done = true;
    uv_stop(&rs->loop);
  }
}

static cJSON *read_json(const char *dir, const char *file)
{
  char *path = sw_asprintf("%s/%s", dir, file);
  char *text = NULL;
  size_t len = 0;
  cJSON *v = NULL;
  sw_err err = SW_ERR_INIT;

  if (sw_file_read(&text, &len, path, 0, &err) == 0)
    sw_json_parse(&v, text, len, path, &err);
  sw_free(text);
  sw_free(path);
  return v;
}

static int cmp_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_items(const void *a, const void *b)
{
  const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
  return strcmp(x->string ? x->string : "", y->string ? y->string : "");
}

/* Sort object keys recursively so equal values print equally. */
static void canonicalise(cJSON *v)
{
  cJSON *c;
  if (cJSON_IsObject(v)) {
    int i, k = cJSON_GetArraySize(v);
    cJSON **items = sw_malloc((size_t)(k ? k : 1) * sizeof(cJSON *));
    for (i = 0; i < k; i++)
      items[i] = cJSON_DetachItemFromArray(v, 0);
    qsort(items, (size_t)k, sizeof(cJSON *), cmp_items);
    for (i = 0; i < k; i++)
      cJSON_AddItemToArray(v, items[i]);
    sw_free(items);
  }
  cJSON_ArrayForEach(c, v)
  {
    canonicalise(c);
  }
}

/* True when key contains "timestamp", ignoring case. */
static bool timestamp_key(const char *key)
{
  static const char want[] = "timestamp";
  size_t i, j;
  for (i = 0; key && key[i]; i++) {
    for (j = 0; want[j]; j++) {
      char ch = key[i + j];
      if (ch >= 'A' && ch <= 'Z')
        ch = (char)(ch - 'A' + 'a');
      if (ch != want[j])
        break;
    }
    if (!want[j])
      return true;
  }
  return false;
}

/* True when v holds a snapshot redaction placeholder anywhere. Besides
 * the listed marks, the snapshot replaced the value of any key containing
 * "timestamp" by the string "timestamp" (README, input.json). */
static bool has_redaction(const cJSON *v)
{
  static const char *const marks[] = {"<ArnPart", "<ExecArnPart", "<uuid:",
                                      "snf_role_arn", "111111111111"};
  const cJSON *c;
  size_t i;
  if (cJSON_IsString(v)) {
    if (!strcmp(v->valuestring, "date"))
      return true;
    if (!strcmp(v->valuestring, "timestamp") && timestamp_key(v->string))
      return true;
    for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
      if (strstr(v->valuestring, marks[i]))
        return true;
    return false;
  }
  cJSON_ArrayForEach(c, v)
  {
    if (has_redaction(c))
      return true;
  }
  return false;
}

static bool ends_with(const char *s, const char *suffix)
{
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcmp(s + a - b, suffix);
}

/* Takes ownership of payload (NULL counts as JSON null). */
static void list_add(hist_list *l, const char *type, const char *name,
                     cJSON *payload)
{
  if (!payload)
    payload = cJSON_CreateNull();
  canonicalise(payload);
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 32;
    l->v = sw_realloc(l->v, l->cap * sizeof(hist_entry));
  }
  l->v[l->n].type = sw_strdup(type);
  l->v[l->n].name = sw_strdup(name ? name : "");
  l->v[l->n].payload = sw_json_print(payload);
  l->n++;
  cJSON_Delete(payload);
}

static void list_free(hist_list *l)
{
  size_t i;
  for (i = 0; i < l->n; i++) {
    sw_free(l->v[i].type);
    sw_free(l->v[i].name);
    sw_free(l->v[i].payload);
  }
  sw_free(l->v);
  memset(l, 0, sizeof(*l));
}

static int cmp_key(const hist_entry *x, const hist_entry *y)
{
  int c = strcmp(x->type, y->type);
  return c ? c : strcmp(x->name, y->name);
}

static int cmp_entries(const void *a, const void *b)
{
  const hist_entry *x = a, *y = b;
  int c = cmp_key(x, y);
  return c ? c : strcmp(x->payload, y->payload);
}

/* AWS payloads: a string holding JSON text is decoded (the snapshot kept
 * non-object texts as strings). */
static cJSON *aws_payload(const cJSON *v)
{
  if (cJSON_IsString(v)) {
    cJSON *p = cJSON_Parse(v->valuestring);
    if (p)
      return p;
  }
  return v ? cJSON_Duplicate(v, 1) : NULL;
}

/* Collect AWS's state events; returns false when a payload is redacted. */
static bool aws_events(const cJSON *hist, hist_list *l)
{
  const cJSON *ev;
  cJSON_ArrayForEach(ev, hist)
  {
    const char *type = sw_json_get_str(ev, "type");
    const cJSON *det;
    cJSON *p;
    bool entered;
    if (!type)
      continue;
    entered = ends_with(type, "StateEntered");
    if (!entered && !ends_with(type, "StateExited"))
      continue;
    det = sw_json_get(ev, entered ? "stateEnteredEventDetails"
                                  : "stateExitedEventDetails");
    p = aws_payload(sw_json_get(det, entered ? "input" : "output"));
    if (p && has_redaction(p)) {
      cJSON_Delete(p);
      return false;
    }
    list_add(l, type, sw_json_get_str(det, "name"), p);
  }
  return true;
}

/* Our events, less those of states that AWS runs in the child executions
 * of a Distributed Map (their events are not in the parent's history). */
typedef struct our_events {
  hist_list *l;
  const cJSON *child_names; /* object: state name -> true */
} our_events;

static void on_event(const sw_store_event *ev, void *payload)
{
  our_events *oe = payload;
  bool entered = ends_with(ev->type, "StateEntered");
  const char *name;
  cJSON *det;
  if (!entered && !ends_with(ev->type, "StateExited"))
    return;
  det = ev->details ? cJSON_Parse(ev->details) : NULL;
  name = sw_json_get_str(det, "name");
  if (!name || !sw_json_get(oe->child_names, name))
    list_add(oe->l, ev->type, name,
             cJSON_DetachItemFromObjectCaseSensitive(
                 det, entered ? "input" : "output"));
  cJSON_Delete(det);
}

/* Add to names every state nested in a Distributed Map's processor
 * (inside is true below such a Map). */
static void child_state_names(const cJSON *states, bool inside, cJSON *names)
{
  const cJSON *s, *b;
  cJSON_ArrayForEach(s, states)
  {
    const char *type = sw_json_get_str(s, "Type");
    if (inside && !sw_json_get(names, s->string))
      cJSON_AddTrueToObject(names, s->string);
    if (type && !strcmp(type, "Map")) {
      const cJSON *ip = sw_json_get(s, "ItemProcessor");
      const char *mode;
      if (!ip)
        ip = sw_json_get(s, "Iterator");
      mode = sw_json_get_str(sw_json_get(ip, "ProcessorConfig"), "Mode");
      child_state_names(sw_json_get(ip, "States"),
                        inside || (mode && !strcmp(mode, "DISTRIBUTED")),
                        names);
    }
    if (type && !strcmp(type, "Parallel")) {
      cJSON_ArrayForEach(b, sw_json_get(s, "Branches"))
      {
        child_state_names(sw_json_get(b, "States"), inside, names);
      }
    }
  }
}

/* True when every state in states (recursively) is of an allowed type. */
static bool states_allowed(const cJSON *states)
{
  static const char *const ok[] = {"Pass", "Choice",  "Map", "Parallel",
                                   "Succeed", "Fail", "Wait"};
  const cJSON *s, *b;
  cJSON_ArrayForEach(s, states)
  {
    const char *type = sw_json_get_str(s, "Type");
    size_t i;
    bool found = false;
    for (i = 0; type && i < sizeof(ok) / sizeof(ok[0]); i++)
      if (!strcmp(type, ok[i]))
        found = true;
    if (!found)
      return false;
    if (!strcmp(type, "Map")) {
      const cJSON *ip = sw_json_get(s, "ItemProcessor");
      if (!ip)
        ip = sw_json_get(s, "Iterator");
      if (!states_allowed(sw_json_get(ip, "States")))
        return false;
    }
    if (!strcmp(type, "Parallel")) {
      cJSON_ArrayForEach(b, sw_json_get(s, "Branches"))
      {
        if (!states_allowed(sw_json_get(b, "States")))
          return false;
      }
    }
  }
  return true;
}

/* Print the first differing (type, name) of two sorted lists. */
static void report_diff(const char *case_id, const hist_list *ours,
                        const hist_list *aws)
{
  size_t i, n = ours->n < aws->n ? ours->n : aws->n;
  const hist_entry *o = NULL, *a = NULL;
  for (i = 0; i < n; i++)
    if (cmp_entries(&ours->v[i], &aws->v[i]))
      break;
  if (i < ours->n)
    o = &ours->v[i];
  if (i < aws->n)
    a = &aws->v[i];
  if (o && a && cmp_key(o, a)) {
    /* Different states: show the earlier key with the other side absent. */
    if (cmp_key(o, a) < 0)
      a = NULL;
    else
      o = NULL;
  }
  printf("  history mismatch %s: %s %s (%zu vs %zu events)\n"
         "    got      %.200s\n    expected %.200s\n",
         case_id, o ? o->type : a->type, o ? o->name : a->name, ours->n,
         aws->n, o ? o->payload : "(none)", a ? a->payload : "(none)");
}

/* Run one case: 1 match, 0 mismatch, -1 skipped (redacted), -2 error. */
static int run_case(run_state *rs, const char *dir, const char *case_id,
                    const cJSON *hist)
{
  cJSON *def_json = read_json(dir, "definition.json");
  cJSON *input = read_json(dir, "input.json");
  sw_asl_definition *def = NULL;
  sw_err err = SW_ERR_INIT;
  char *text = NULL;
  hist_list aws, ours;
  int rc = -2;
  size_t i;

  memset(&aws, 0, sizeof(aws));
  memset(&ours, 0, sizeof(ours));
  if (!aws_events(hist, &aws)) {
    rc = -1;
    goto done;
  }
  if (!def_json) {
    printf("  history error %s: unreadable definition\n", case_id);
    goto done;
  }
  if (!input)
    input = cJSON_CreateObject();
  text = sw_json_print(def_json);
  if (sw_asl_parse(&def, text, strlen(text), case_id, &err) < 0) {
    printf("  history error %s: rejected: %s\n", case_id, err.msg);
    goto done;
  }
  {
    sw_engine_start_req req;
    memset(&req, 0, sizeof(req));
    req.def = def;
    req.definition_text = text;
    req.workflow = case_id;
    req.source = case_id;
    req.input = input;
    rs->done = false;
    if (sw_engine_start(rs->eng, &req, rs->id, &err) < 0) {
      printf("  history error %s: start: %s\n", case_id, err.msg);
      goto done;
    }
  }
  while (!rs->done)
    if (uv_run(&rs->loop, UV_RUN_DEFAULT) == 0 && !rs->done)
      break;
  if (!rs->done) {
    printf("  history error %s: did not finish\n", case_id);
    goto done;
  }
  {
    cJSON *names = cJSON_CreateObject();
    our_events oe;
    int lrc;
    child_state_names(sw_json_get(def_json, "States"), false, names);
    oe.l = &ours;
    oe.child_names = names;
    lrc = sw_store_list_events(rs->store, rs->id, on_event, &oe, &err);
    cJSON_Delete(names);
    if (lrc < 0) {
      printf("  history error %s: %s\n", case_id, err.msg);
      goto done;
    }
  }
  qsort(ours.v, ours.n, sizeof(hist_entry), cmp_entries);
  qsort(aws.v, aws.n, sizeof(hist_entry), cmp_entries);
  rc = ours.n == aws.n;
  for (i = 0; rc && i < ours.n; i++)
    if (cmp_entries(&ours.v[i], &aws.v[i]))
      rc = 0;
  if (!rc)
    report_diff(case_id, &ours, &aws);
done:
  list_free(&aws);
  list_free(&ours);
  sw_asl_free(def);
  sw_free(text);
  cJSON_Delete(def_json);
  cJSON_Delete(input);
  return rc;
}

static void wh_closed(void *payload) { *(bool *)payload = true; }

SW_TEST(conformance_history__per_state_payloads_match_aws)
{
  char *root = sw_asprintf("%s/reference/conformance/cases",
                           sw_test_shareddir());
  run_state rs;
  sw_engine_opts eo;
  sw_err err = SW_ERR_INIT;
  DIR *d;
  struct dirent *de;
  char **names = NULL;
  size_t n = 0, cap = 0, i;
  int pass = 0, fail = 0, skipped = 0, compared;
  char *path;
  bool closed = false;

  d = opendir(root);
  if (!d) {
    sw_free(root);
    sw_test_skip("shared/reference/conformance/cases not found");
  }
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.')
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 256;
      names = sw_realloc(names, cap * sizeof(char *));
    }
    names[n++] = sw_strdup(de->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof(char *), cmp_names);

  memset(&rs, 0, sizeof(rs));
  uv_loop_init(&rs.loop);
  path = sw_asprintf("%s/state.db", sw_test_tmpdir());
  SW_ASSERT_OK(sw_store_open(&rs.store, path, &err));
  sw_free(path);
  SW_ASSERT_OK(sw_warehouse_open(&rs.wh, &rs.loop, NULL, sw_test_tmpdir(),
                                 &err));
  SW_ASSERT_OK(sw_resources_new(&rs.res, &rs.loop, rs.wh, "sql", &err));
  memset(&eo, 0, sizeof(eo));
  eo.on_done = on_done;
  eo.payload = &rs;
  SW_ASSERT_OK(sw_engine_new(&rs.eng, &rs.loop, rs.store, rs.res, &eo, &err));

  for (i = 0; i < n; i++) {
    char *dir = sw_asprintf("%s/%s", root, names[i]);
    cJSON *meta = read_json(dir, "meta.json");
    cJSON *hist = NULL, *def_json = NULL;
    const char *ql = sw_json_get_str(meta, "query_language");
    const cJSON *nd = sw_json_get(meta, "nondeterministic");
    if (ql && !strcmp(ql, "JSONPath") && cJSON_IsFalse(nd) &&
        (hist = read_json(dir, "history.json")) != NULL &&
        (def_json = read_json(dir, "definition.json")) != NULL &&
        states_allowed(sw_json_get(def_json, "States"))) {
      switch (run_case(&rs, dir, names[i], hist)) {
      case 1: pass++; break;
      case -1: skipped++; break;
      default: fail++; break;
      }
    }
    cJSON_Delete(hist);
    cJSON_Delete(def_json);
    cJSON_Delete(meta);
    sw_free(dir);
    sw_free(names[i]);
  }
  sw_free(names);
  sw_free(root);

  compared = pass + fail;
  printf("  history: %d of %d cases match per-state payloads (%d skipped)\n",
         pass, compared, skipped);

  sw_engine_free(rs.eng);
  uv_run(&rs.loop, UV_RUN_NOWAIT);
  sw_resources_free(rs.res);
  sw_warehouse_close(rs.wh, wh_closed, &closed);
  while (!closed && uv_run(&rs.loop, UV_RUN_ONCE))
    ;
  uv_run(&rs.loop, UV_RUN_DEFAULT);
  SW_ASSERT_EQ(uv_loop_close(&rs.loop), 0);
  sw_store_close(rs.store);
  SW_ASSERT(compared >= SW_HISTORY_MIN_COMPARED);
  SW_ASSERT(pass * 100 >= SW_HISTORY_MIN_PERCENT * compared);
}
