/* SPDX-License-Identifier: MIT */
/* Unit tests of asl/: the model sw_asl_parse builds (defaults, indices,
 * resolved transitions) and the exact message of every validation rule. */
#include "sw_test.h"
#include "asl/asl.h"

#include <stdlib.h>

/* Test definitions are written with ' for " (and ` for ') to keep them
 * readable. */
static char *dq(const char *text)
{
  char *s = sw_strdup(text), *p;

  for (p = s; *p; p++) {
    if (*p == '\'')
      *p = '"';
    else if (*p == '`')
      *p = '\'';
  }
  return s;
}

static int parse(sw_asl_definition **def, const char *text, sw_err *err)
{
  char *s = dq(text);
  int rc = sw_asl_parse(def, s, strlen(s), "x.json", err);

  sw_free(s);
  return rc;
}

/* The message for an invalid definition, or "(valid)". */
static char msgbuf[SW_ERR_MSG_MAX + 16];
static const char *bad(const char *text)
{
  sw_err err = SW_ERR_INIT;
  sw_asl_definition *def = NULL;
  int rc = parse(&def, text, &err);

  if (rc == 0) {
    sw_asl_free(def);
    return "(valid)";
  }
  if (rc != SW_EINVAL || def != NULL)
    snprintf(msgbuf, sizeof(msgbuf), "(rc %d) %s", rc, err.msg);
  else
    snprintf(msgbuf, sizeof(msgbuf), "%s", err.msg);
  return msgbuf;
}

#define PASS_END "'Type':'Pass','End':true"
/* A one-state machine around a state body. */
#define ONE(body) "{'StartAt':'A','States':{'A':{" body "}}}"
/* A Task state A with extra fields, then a Pass state B. */
#define TASK(extra)                                                            \
  "{'StartAt':'A','States':{'A':{'Type':'Task','Resource':"                   \
  "'arn:aws:states:::lambda:invoke','Next':'B'" extra "},'B':{" PASS_END "}}}"

/* ---- model ------------------------------------------------------------ */

SW_TEST(asl_parse__model_defaults_and_indices)
{
  sw_err err = SW_ERR_INIT;
  sw_asl_definition *def = NULL;
  const sw_asl_state *a, *b, *c;

  SW_ASSERT_OK(parse(&def,
                     "{'Comment':'demo','TimeoutSeconds':60,'StartAt':'B',"
                     "'States':{'A':{" PASS_END "},"
                     "'B':{'Type':'Task','Resource':"
                     "'arn:aws:states:::aws-sdk:redshiftdata:executeStatement',"
                     "'Retry':[{'ErrorEquals':['X']}],"
                     "'Catch':[{'ErrorEquals':['States.ALL'],'Next':'C'}],"
                     "'Next':'A'},"
                     "'C':{'Type':'Fail','Error':'E','Cause':'why'}}}",
                     &err));
  SW_ASSERT_STR_EQ(def->name, "x.json");
  SW_ASSERT_STR_EQ(def->comment, "demo");
  SW_ASSERT_EQ(def->timeout_s, 60);
  SW_ASSERT_STR_EQ(def->root->pointer, "");
  SW_ASSERT_STR_EQ(def->root->start_at, "B");
  SW_ASSERT_EQ(def->root->start_index, 1);
  SW_ASSERT_EQ(def->root->n_states, 3);

  a = sw_asl_find(def->root, "A");
  b = sw_asl_find(def->root, "B");
  c = sw_asl_find(def->root, "C");
  SW_ASSERT_NOT_NULL(a);
  SW_ASSERT_NULL(sw_asl_find(def->root, "D"));
  SW_ASSERT_EQ(a->index, 0);
  SW_ASSERT_EQ(a->type, SW_STATE_PASS);
  SW_ASSERT(a->end);
  SW_ASSERT_NULL(a->next);
  SW_ASSERT_EQ(a->next_index, -1);
  SW_ASSERT_EQ(a->default_index, -1);
  SW_ASSERT_NULL(a->input_path);
  SW_ASSERT(!a->input_path_null);
  SW_ASSERT_NULL(a->result);
  SW_ASSERT_STR_EQ(a->pointer, "/States/A");

  SW_ASSERT_EQ(b->type, SW_STATE_TASK);
  SW_ASSERT_STR_EQ(b->next, "A");
  SW_ASSERT_EQ(b->next_index, 0);
  SW_ASSERT_EQ(b->timeout_s, 0);
  SW_ASSERT_EQ(b->heartbeat_s, 0);
  SW_ASSERT_STR_EQ(b->resource,
                   "arn:aws:states:::aws-sdk:redshiftdata:executeStatement");
  SW_ASSERT_EQ(b->n_retry, 1);
  SW_ASSERT_EQ(b->retry[0].n_error_equals, 1);
  SW_ASSERT_STR_EQ(b->retry[0].error_equals[0], "X");
  SW_ASSERT(b->retry[0].interval_s == 1.0);
  SW_ASSERT_EQ(b->retry[0].max_attempts, 3);
  SW_ASSERT(b->retry[0].backoff_rate == 2.0);
  SW_ASSERT(b->retry[0].max_delay_s == 0.0);
  SW_ASSERT(!b->retry[0].jitter_full);
  SW_ASSERT_EQ(b->n_catch, 1);
  SW_ASSERT_STR_EQ(b->catchers[0].next, "C");
  SW_ASSERT_EQ(b->catchers[0].next_index, 2);
  SW_ASSERT_NULL(b->catchers[0].result_path);
  SW_ASSERT(!b->catchers[0].result_path_null);

  SW_ASSERT_EQ(c->type, SW_STATE_FAIL);
  SW_ASSERT_STR_EQ(c->error, "E");
  SW_ASSERT_STR_EQ(c->cause, "why");
  SW_ASSERT(!c->end);
  SW_ASSERT_EQ(c->next_index, -1);
  sw_asl_free(def);
}

SW_TEST(asl_parse__model_fields)
{
  sw_err err = SW_ERR_INIT;
  sw_asl_definition *def = NULL;
  const sw_asl_state *s;

  SW_ASSERT_OK(parse(
      &def,
      "{'StartAt':'P','States':{"
      "'P':{'Type':'Pass','InputPath':null,'OutputPath':'$.o',"
      "'ResultPath':null,'Result':{'k':[1,2]},'Parameters':{'a.$':'$.b'},"
      "'Assign':{'v':1},'Next':'T'},"
      "'T':{'Type':'Task','Resource':'arn:aws:states:::lambda:invoke',"
      "'TimeoutSeconds':30,'HeartbeatSeconds':10,'ResultPath':'$.r',"
      "'ResultSelector':{'x.$':'$.y'},'Credentials':{'RoleArn':'r'},"
      "'Retry':[{'ErrorEquals':['A','B'],'IntervalSeconds':3,"
      "'MaxAttempts':0,'BackoffRate':1.5,'MaxDelaySeconds':10,"
      "'JitterStrategy':'FULL'}],"
      "'Catch':[{'ErrorEquals':['States.ALL'],'ResultPath':null,"
      "'Next':'W1'}],'Next':'W1'},"
      "'W1':{'Type':'Wait','Seconds':0,'Next':'W2'},"
      "'W2':{'Type':'Wait','Timestamp':'2016-03-14T01:59:00Z','Next':'W3'},"
      "'W3':{'Type':'Wait','SecondsPath':'$.s','Next':'W4'},"
      "'W4':{'Type':'Wait','TimestampPath':'$.t','Next':'T2'},"
      "'T2':{'Type':'Task','Resource':'arn:aws:states:::lambda:invoke',"
      "'TimeoutSecondsPath':'$.to','HeartbeatSecondsPath':'$.hb',"
      "'Next':'S'},"
      "'S':{'Type':'Succeed','OutputPath':null}}}",
      &err));
  s = sw_asl_find(def->root, "P");
  SW_ASSERT(s->input_path_null);
  SW_ASSERT_NULL(s->input_path);
  SW_ASSERT_NOT_NULL(s->output_path);
  SW_ASSERT_STR_EQ(sw_path_text(s->output_path), "$.o");
  SW_ASSERT(s->result_path_null);
  SW_ASSERT_NOT_NULL(s->parameters);
  SW_ASSERT_NOT_NULL(s->assign);
  SW_ASSERT_JSON_EQ(s->result, "{\"k\":[1,2]}");

  s = sw_asl_find(def->root, "T");
  SW_ASSERT_EQ(s->timeout_s, 30);
  SW_ASSERT_EQ(s->heartbeat_s, 10);
  SW_ASSERT_STR_EQ(sw_path_text(s->result_path), "$.r");
  SW_ASSERT_NOT_NULL(s->result_selector);
  SW_ASSERT_NOT_NULL(s->credentials);
  SW_ASSERT_EQ(s->retry[0].n_error_equals, 2);
  SW_ASSERT_STR_EQ(s->retry[0].error_equals[1], "B");
  SW_ASSERT(s->retry[0].interval_s == 3.0);
  SW_ASSERT_EQ(s->retry[0].max_attempts, 0);
  SW_ASSERT(s->retry[0].backoff_rate == 1.5);
  SW_ASSERT(s->retry[0].max_delay_s == 10.0);
  SW_ASSERT(s->retry[0].jitter_full);
  SW_ASSERT(s->catchers[0].result_path_null);

  s = sw_asl_find(def->root, "W1");
  SW_ASSERT(s->has_seconds);
  SW_ASSERT_EQ(s->seconds, 0);
  SW_ASSERT(!s->has_timestamp);
  s = sw_asl_find(def->root, "W2");
  SW_ASSERT(!s->has_seconds);
  SW_ASSERT(s->has_timestamp);
  SW_ASSERT_EQ(s->timestamp_ms, 1457920740000LL);
  s = sw_asl_find(def->root, "W3");
  SW_ASSERT_STR_EQ(sw_path_text(s->seconds_path), "$.s");
  s = sw_asl_find(def->root, "W4");
  SW_ASSERT_STR_EQ(sw_path_text(s->timestamp_path), "$.t");
  s = sw_asl_find(def->root, "T2");
  SW_ASSERT_STR_EQ(sw_path_text(s->timeout_path), "$.to");
  SW_ASSERT_STR_EQ(sw_path_text(s->heartbeat_path), "$.hb");
  SW_ASSERT_EQ(s->timeout_s, 0);
  s = sw_asl_find(def->root, "S");
  SW_ASSERT(s->output_path_null);
  sw_asl_free(def);
}

SW_TEST(asl_parse__model_choice_fail_paths)
{
  sw_err err = SW_ERR_INIT;
  sw_asl_definition *def = NULL;
  const sw_asl_state *s;

  SW_ASSERT_OK(parse(
      &def,
      "{'StartAt':'C','States':{"
      "'C':{'Type':'Choice','Choices':["
      "{'Variable':'$.x','NumericEquals':1,'Next':'F1'},"
      "{'Variable':'$.x','NumericEquals':2,'Next':'F2'}],"
      "'Default':'F3'},"
      "'F1':{'Type':'Fail','ErrorPath':'$.e','CausePath':"
      "'States.Format(`{}`, $.c)'},"
      "'F2':{'Type':'Fail'},"
      "'F3':{'Type':'Succeed'}}}",
      &err));
  s = sw_asl_find(def->root, "C");
  SW_ASSERT_EQ(s->n_choices, 2);
  SW_ASSERT_NOT_NULL(s->choices[0].rule);
  SW_ASSERT_STR_EQ(s->choices[1].next, "F2");
  SW_ASSERT_EQ(s->choices[0].next_index, 1);
  SW_ASSERT_EQ(s->choices[1].next_index, 2);
  SW_ASSERT_STR_EQ(s->default_next, "F3");
  SW_ASSERT_EQ(s->default_index, 3);
  SW_ASSERT_NULL(s->next);
  SW_ASSERT_EQ(s->next_index, -1);
  s = sw_asl_find(def->root, "F1");
  SW_ASSERT_STR_EQ(sw_path_text(s->error_path), "$.e");
  SW_ASSERT_NULL(s->error_path_intrinsic);
  SW_ASSERT_NULL(s->cause_path);
  SW_ASSERT_STR_EQ(s->cause_path_intrinsic, "States.Format('{}', $.c)");
  s = sw_asl_find(def->root, "F2");
  SW_ASSERT_NULL(s->error);
  SW_ASSERT_NULL(s->cause);
  sw_asl_free(def);
}

static void visit(const sw_asl_machine *m, const sw_asl_state *s,
                  void *payload)
{
  sw_buf *b = payload;

  (void)sw_buf_printf(b, NULL, "%s%s@%s;", s->name,
                      *m->pointer ? "" : "(top)", s->pointer);
}

SW_TEST(asl_parse__model_nested_machines_and_walk)
{
  sw_err err = SW_ERR_INIT;
  sw_asl_definition *def = NULL;
  const sw_asl_state *p, *m;
  sw_buf b = SW_BUF_INIT(0);

  SW_ASSERT_OK(parse(
      &def,
      "{'StartAt':'P','States':{"
      "'P':{'Type':'Parallel','Branches':["
      "{'StartAt':'B1','States':{'B1':{" PASS_END "}}},"
      "{'StartAt':'B2','States':{'B2':{'Type':'Pass','Next':'B3'},"
      "'B3':{'Type':'Succeed'}}}],'Next':'M'},"
      "'M':{'Type':'Map','ItemsPath':'$.items','MaxConcurrency':2,"
      "'ItemSelector':{'v.$':'$$.Map.Item.Value'},"
      "'ItemProcessor':{'ProcessorConfig':{'Mode':'INLINE'},"
      "'StartAt':'I','States':{'I':{" PASS_END "}}},'Next':'L'},"
      "'L':{'Type':'Map','Parameters':{'a':1},'MaxConcurrencyPath':'$.n',"
      "'Iterator':{'StartAt':'J','States':{'J':{" PASS_END "}}},"
      "'End':true}}}",
      &err));
  p = sw_asl_find(def->root, "P");
  SW_ASSERT_EQ(p->n_branches, 2);
  SW_ASSERT_STR_EQ(p->branches[0]->pointer, "/States/P/Branches/0");
  SW_ASSERT_STR_EQ(p->branches[1]->start_at, "B2");
  SW_ASSERT_EQ(p->branches[1]->n_states, 2);
  SW_ASSERT_EQ(p->branches[1]->states[0].next_index, 1);
  SW_ASSERT_STR_EQ(p->branches[1]->states[1].pointer,
                   "/States/P/Branches/1/States/B3");
  m = sw_asl_find(def->root, "M");
  SW_ASSERT_STR_EQ(sw_path_text(m->items_path), "$.items");
  SW_ASSERT_EQ(m->max_concurrency, 2);
  SW_ASSERT_NOT_NULL(m->parameters);
  SW_ASSERT_NOT_NULL(m->iterator);
  SW_ASSERT_STR_EQ(m->iterator->pointer, "/States/M/ItemProcessor");
  SW_ASSERT_STR_EQ(m->iterator->states[0].name, "I");
  m = sw_asl_find(def->root, "L");
  SW_ASSERT_NULL(m->items_path);
  SW_ASSERT_EQ(m->max_concurrency, 0);
  SW_ASSERT_STR_EQ(sw_path_text(m->max_concurrency_path), "$.n");
  SW_ASSERT_NOT_NULL(m->parameters);
  SW_ASSERT_STR_EQ(m->iterator->pointer, "/States/L/Iterator");

  sw_asl_walk(def, visit, &b);
  SW_ASSERT_STR_EQ(b.ptr,
                   "P(top)@/States/P;B1@/States/P/Branches/0/States/B1;"
                   "B2@/States/P/Branches/1/States/B2;"
                   "B3@/States/P/Branches/1/States/B3;M(top)@/States/M;"
                   "I@/States/M/ItemProcessor/States/I;L(top)@/States/L;"
                   "J@/States/L/Iterator/States/J;");
  sw_buf_dispose(&b);
  sw_asl_free(def);
}

SW_TEST(asl_parse__type_names)
{
  SW_ASSERT_STR_EQ(sw_state_type_name(SW_STATE_PASS), "Pass");
  SW_ASSERT_STR_EQ(sw_state_type_name(SW_STATE_TASK), "Task");
  SW_ASSERT_STR_EQ(sw_state_type_name(SW_STATE_CHOICE), "Choice");
  SW_ASSERT_STR_EQ(sw_state_type_name(SW_STATE_WAIT), "Wait");
  SW_ASSERT_STR_EQ(sw_state_type_name(SW_STATE_SUCCEED), "Succeed");
  SW_ASSERT_STR_EQ(sw_state_type_name(SW_STATE_FAIL), "Fail");
  SW_ASSERT_STR_EQ(sw_state_type_name(SW_STATE_PARALLEL), "Parallel");
  SW_ASSERT_STR_EQ(sw_state_type_name(SW_STATE_MAP), "Map");
}

SW_TEST(asl_parse__load_file)
{
  sw_err err = SW_ERR_INIT;
  sw_asl_definition *def = NULL;
  char *path = sw_asprintf("%s/def.json", sw_test_tmpdir());
  FILE *f;

  SW_ASSERT_ERR(sw_asl_load_file(&def, path, &err), SW_ENOTFOUND);
  SW_ASSERT_NULL(def);
  f = fopen(path, "w");
  SW_ASSERT_NOT_NULL(f);
  fputs("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Succeed\"}}}", f);
  fclose(f);
  SW_ASSERT_OK(sw_asl_load_file(&def, path, &err));
  SW_ASSERT_STR_EQ(def->name, path);
  SW_ASSERT_EQ(def->root->states[0].type, SW_STATE_SUCCEED);
  sw_asl_free(def);
  sw_asl_free(NULL);
  sw_free(path);
}

SW_TEST(asl_parse__null_err_is_allowed)
{
  sw_asl_definition *def = NULL;
  const char *t = "{\"StartAt\":\"A\"}";

  SW_ASSERT_ERR(sw_asl_parse(&def, t, strlen(t), "x", NULL), SW_EINVAL);
  SW_ASSERT_NULL(def);
}

/* ---- top level and JSON ----------------------------------------------- */

SW_TEST(asl_parse__json_syntax_error)
{
  SW_ASSERT_STR_CONTAINS(bad("{'StartAt':}"), "x.json:1:12: invalid JSON");
  SW_ASSERT_STR_EQ(bad("[1]"),
                   "x.json: expected a JSON object with StartAt and States");
}

SW_TEST(asl_parse__top_level_fields)
{
  SW_ASSERT_STR_EQ(bad("{'States':{'A':{" PASS_END "}}}"),
                   "x.json: missing required field StartAt");
  SW_ASSERT_STR_EQ(bad("{'StartAt':'A'}"),
                   "x.json: missing required field States");
  SW_ASSERT_STR_EQ(bad("{'StartAt':'A','States':{}}"),
                   "x.json: /States: expected a non-empty object of states");
  SW_ASSERT_STR_EQ(bad("{'StartAt':1,'States':{'A':{" PASS_END "}}}"),
                   "x.json: /StartAt: expected a state name string");
  SW_ASSERT_STR_EQ(bad("{'StartAt':'Z','States':{'A':{" PASS_END "}}}"),
                   "x.json: /StartAt: no state named \"Z\"");
  SW_ASSERT_STR_EQ(bad("{'StartAt':'A','Foo':1,'States':{'A':{" PASS_END
                       "}}}"),
                   "x.json: /Foo: field not allowed in the top level");
  SW_ASSERT_STR_EQ(bad("{'StartAt':'A','TimeoutSeconds':-1,'States':{'A':{"
                       PASS_END "}}}"),
                   "x.json: /TimeoutSeconds: expected a non-negative integer");
  SW_ASSERT_STR_EQ(bad("{'StartAt':'A','TimeoutSeconds':100000000,"
                       "'States':{'A':{" PASS_END "}}}"),
                   "x.json: /TimeoutSeconds: expected an integer no larger "
                   "than 99999999");
  SW_ASSERT_STR_EQ(bad("{'StartAt':'A','Version':'2.0','States':{'A':{"
                       PASS_END "}}}"),
                   "x.json: /Version: expected \"1.0\"");
  SW_ASSERT_STR_EQ(bad("{'StartAt':'A','Version':'1.0','TimeoutSeconds':0,"
                       "'QueryLanguage':'JSONPath','States':{'A':{"
                       PASS_END "}}}"),
                   "(valid)");
}

SW_TEST(asl_parse__jsonata_rejected)
{
  SW_ASSERT_STR_EQ(bad("{'QueryLanguage':'JSONata','StartAt':'A',"
                       "'States':{'A':{" PASS_END "}}}"),
                   "x.json: /QueryLanguage: JSONata is not supported yet");
  SW_ASSERT_STR_EQ(bad(ONE(PASS_END ",'QueryLanguage':'JSONata'")),
                   "x.json: /States/A/QueryLanguage: JSONata is not "
                   "supported yet");
  SW_ASSERT_STR_EQ(
      bad("{'StartAt':'P','States':{'P':{'Type':'Parallel','End':true,"
          "'Branches':[{'StartAt':'B','States':{'B':{'Type':'Pass',"
          "'QueryLanguage':'JSONata','Output':1,'End':true}}}]}}}"),
      "x.json: /States/P/Branches/0/States/B/QueryLanguage: JSONata is not "
      "supported yet");
  SW_ASSERT_STR_EQ(bad(ONE(PASS_END ",'QueryLanguage':'XPath'")),
                   "x.json: /States/A/QueryLanguage: expected \"JSONPath\" or "
                   "\"JSONata\"");
  SW_ASSERT_STR_EQ(bad(ONE(PASS_END ",'QueryLanguage':'JSONPath'")),
                   "(valid)");
  SW_ASSERT_STR_EQ(bad(ONE(PASS_END ",'Output':{}")),
                   "x.json: /States/A/Output: field not allowed in a Pass "
                   "state (it is a JSONata field; JSONata is not supported "
                   "yet)");
}

/* ---- states in general ------------------------------------------------ */

SW_TEST(asl_parse__state_type_and_fields)
{
  SW_ASSERT_STR_EQ(bad(ONE("'End':true")),
                   "x.json: /States/A: missing required field Type");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Sleep','End':true")),
                   "x.json: /States/A/Type: expected one of Pass, Task, "
                   "Choice, Wait, Succeed, Fail, Parallel, Map");
  SW_ASSERT_STR_EQ(bad("{'StartAt':'A','States':{'A':1}}"),
                   "x.json: /States/A: expected a state object");
  SW_ASSERT_STR_EQ(bad(TASK(",'Result':{}")),
                   "x.json: /States/A/Result: field not allowed in a Task "
                   "state");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Fail','InputPath':'$'")),
                   "x.json: /States/A/InputPath: field not allowed in a Fail "
                   "state");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Succeed','Next':'A'")),
                   "x.json: /States/A/Next: field not allowed in a Succeed "
                   "state");
  SW_ASSERT_STR_EQ(bad(ONE(PASS_END ",'Comment':5")),
                   "x.json: /States/A/Comment: expected a string");
  SW_ASSERT_STR_EQ(bad(ONE(PASS_END ",'End':true")),
                   "x.json: /States/A/End: duplicate field");
  /* JSON Pointer escaping of ~ and / in state names. */
  SW_ASSERT_STR_EQ(bad("{'StartAt':'a/b~c','States':{'a/b~c':{" PASS_END
                       ",'Bogus':1}}}"),
                   "x.json: /States/a~1b~0c/Bogus: field not allowed in a "
                   "Pass state");
}

SW_TEST(asl_parse__next_and_end)
{
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Pass'")),
                   "x.json: /States/A: Pass state needs exactly one of Next, "
                   "End");
  SW_ASSERT_STR_EQ(bad("{'StartAt':'A','States':{'A':{'Type':'Wait',"
                       "'Seconds':1,'Next':'B','End':true},'B':{" PASS_END
                       "}}}"),
                   "x.json: /States/A: Wait state needs exactly one of Next, "
                   "End");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Pass','End':false")),
                   "x.json: /States/A/End: expected true");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Pass','Next':3")),
                   "x.json: /States/A/Next: expected a state name string");
  SW_ASSERT_STR_EQ(bad("{'StartAt':'Load','States':{'Load':{'Type':'Pass',"
                       "'Next':'Lod'},'Done':{" PASS_END "}}}"),
                   "x.json: /States/Load/Next: no state named \"Lod\"");
}

SW_TEST(asl_parse__state_names)
{
  /* 80 characters is the limit; 81 is rejected. */
  char name[82], *def80, *def81;

  memset(name, 'n', 80);
  name[80] = '\0';
  def80 = sw_asprintf("{'StartAt':'%s','States':{'%s':{" PASS_END "}}}",
                      name, name);
  SW_ASSERT_STR_EQ(bad(def80), "(valid)");
  name[80] = 'n';
  name[81] = '\0';
  def81 = sw_asprintf("{'StartAt':'%s','States':{'%s':{" PASS_END "}}}",
                      name, name);
  msgbuf[0] = '\0';
  SW_ASSERT_STR_CONTAINS(bad(def81),
                         "n: state names must be 1 to 80 characters long");
  sw_free(def80);
  sw_free(def81);
  /* Multi-byte characters count once. */
  SW_ASSERT_STR_EQ(bad("{'StartAt':'\xc3\xa9','States':{'\xc3\xa9':{" PASS_END
                       "}}}"),
                   "(valid)");
  SW_ASSERT_STR_EQ(bad("{'StartAt':'A','States':{'':{" PASS_END "}}}"),
                   "x.json: /States/: state names must be 1 to 80 characters "
                   "long");
}

SW_TEST(asl_parse__duplicate_state_names)
{
  SW_ASSERT_STR_EQ(bad("{'StartAt':'A','States':{'A':{'Type':'Pass',"
                       "'Next':'B'},'B':{" PASS_END "},'B':{" PASS_END "}}}"),
                   "x.json: /States/B: duplicate state name \"B\" (also at "
                   "/States/B); state names must be unique in the whole state "
                   "machine");
  SW_ASSERT_STR_EQ(
      bad("{'StartAt':'M','States':{'M':{'Type':'Map','Next':'F',"
          "'Iterator':{'StartAt':'F','States':{'F':{" PASS_END "}}}},"
          "'F':{" PASS_END "}}}"),
      "x.json: /States/F: duplicate state name \"F\" (also at "
      "/States/M/Iterator/States/F); state names must be unique in the "
      "whole state machine");
}

SW_TEST(asl_parse__reachability_and_terminal)
{
  SW_ASSERT_STR_EQ(bad("{'StartAt':'A','States':{'A':{" PASS_END "},"
                       "'B':{" PASS_END "}}}"),
                   "x.json: /States/B: state is not reachable from StartAt "
                   "\"A\"");
  SW_ASSERT_STR_EQ(bad("{'StartAt':'A','States':{'A':{'Type':'Pass',"
                       "'Next':'B'},'B':{'Type':'Pass','Next':'A'}}}"),
                   "x.json: /States: no terminal state (a state with \"End\": "
                   "true, or a Succeed or Fail state)");
  /* Reachable only through a Catch or a Choice Default. */
  SW_ASSERT_STR_EQ(bad(TASK(",'Catch':[{'ErrorEquals':['States.ALL'],"
                            "'Next':'B'}]")),
                   "(valid)");
}

SW_TEST(asl_parse__paths_compiled_by_kind)
{
  const char *m;

  /* InputPath/OutputPath are Paths: wildcards and filters are fine. */
  SW_ASSERT_STR_EQ(bad(ONE(PASS_END ",'InputPath':'$.a[*].b',"
                           "'OutputPath':'$.c[0]'")),
                   "(valid)");
  /* ResultPath is a Reference Path: no wildcard. */
  m = bad(ONE(PASS_END ",'ResultPath':'$.a[*]'"));
  SW_ASSERT(strncmp(m, "x.json: /States/A/ResultPath: ", 30) == 0);
  m = bad(ONE("'Type':'Map','End':true,'ItemsPath':'$..x',"
              "'Iterator':{'StartAt':'I','States':{'I':{" PASS_END "}}}"));
  SW_ASSERT(strncmp(m, "x.json: /States/A/ItemsPath: ", 29) == 0);
  m = bad(ONE("'Type':'Wait','End':true,'SecondsPath':'$.a[*]'"));
  SW_ASSERT(strncmp(m, "x.json: /States/A/SecondsPath: ", 31) == 0);
  m = bad(ONE(PASS_END ",'InputPath':'bug$.x'"));
  SW_ASSERT(strncmp(m, "x.json: /States/A/InputPath: ", 29) == 0);
  SW_ASSERT_STR_EQ(bad(ONE(PASS_END ",'InputPath':5")),
                   "x.json: /States/A/InputPath: expected a path string or "
                   "null");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Wait','End':true,'SecondsPath':null")),
                   "x.json: /States/A/SecondsPath: expected a reference path "
                   "string");
  SW_ASSERT_STR_EQ(bad(ONE(PASS_END ",'Parameters':'x'")),
                   "x.json: /States/A/Parameters: expected an object or an "
                   "array");
  SW_ASSERT_STR_EQ(bad(ONE(PASS_END ",'Parameters':[1]")), "(valid)");
  m = bad(ONE(PASS_END ",'Parameters':{'a':1,'a.$':'$.a'}"));
  SW_ASSERT(strncmp(m, "x.json: /States/A/Parameters: ", 30) == 0);
}

/* ---- Task ------------------------------------------------------------- */

SW_TEST(asl_parse__task_rules)
{
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Task','End':true")),
                   "x.json: /States/A: Task state needs Resource");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Task','Resource':'${lambdaArn',"
                           "'End':true")),
                   "x.json: /States/A/Resource: expected a resource ARN "
                   "(arn:PARTITION:SERVICE:REGION:ACCOUNT:TYPE:NAME), got "
                   "\"${lambdaArn\"");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Task','Resource':'${lambdaArn}',"
                           "'End':true")),
                   "(valid)");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Task','End':true,'Resource':"
                           "'arn:aws:states:::activity:stepwise.sql.run'")),
                   "(valid)");
  SW_ASSERT_STR_EQ(bad(TASK(",'TimeoutSeconds':0")),
                   "x.json: /States/A/TimeoutSeconds: expected a positive "
                   "integer");
  SW_ASSERT_STR_EQ(bad(TASK(",'TimeoutSeconds':1.5")),
                   "x.json: /States/A/TimeoutSeconds: expected a positive "
                   "integer");
  SW_ASSERT_STR_EQ(bad(TASK(",'HeartbeatSeconds':'5'")),
                   "x.json: /States/A/HeartbeatSeconds: expected a positive "
                   "integer");
  SW_ASSERT_STR_EQ(bad(TASK(",'TimeoutSeconds':5,'TimeoutSecondsPath':'$.t'")),
                   "x.json: /States/A: Task state takes at most one of "
                   "TimeoutSeconds, TimeoutSecondsPath");
  SW_ASSERT_STR_EQ(bad(TASK(",'HeartbeatSeconds':5,"
                            "'HeartbeatSecondsPath':'$.t'")),
                   "x.json: /States/A: Task state takes at most one of "
                   "HeartbeatSeconds, HeartbeatSecondsPath");
  SW_ASSERT_STR_EQ(bad(TASK(",'TimeoutSeconds':5,'HeartbeatSeconds':5")),
                   "x.json: /States/A/HeartbeatSeconds: must be smaller than "
                   "TimeoutSeconds");
  SW_ASSERT_STR_EQ(bad(TASK(",'Credentials':null")),
                   "x.json: /States/A/Credentials: expected an object");
}

SW_TEST(asl_parse__retry_rules)
{
  SW_ASSERT_STR_EQ(bad(TASK(",'Retry':{}")),
                   "x.json: /States/A/Retry: expected an array of retriers");
  SW_ASSERT_STR_EQ(bad(TASK(",'Retry':[{}]")),
                   "x.json: /States/A/Retry/0: missing required field "
                   "ErrorEquals");
  SW_ASSERT_STR_EQ(bad(TASK(",'Retry':[{'ErrorEquals':[]}]")),
                   "x.json: /States/A/Retry/0/ErrorEquals: expected a "
                   "non-empty array of error names");
  SW_ASSERT_STR_EQ(bad(TASK(",'Retry':[{'ErrorEquals':['a',true]}]")),
                   "x.json: /States/A/Retry/0/ErrorEquals/1: expected an "
                   "error name string");
  SW_ASSERT_STR_EQ(bad(TASK(",'Retry':[{'ErrorEquals':['X'],"
                            "'IntervalSeconds':0}]")),
                   "x.json: /States/A/Retry/0/IntervalSeconds: expected a "
                   "positive integer");
  SW_ASSERT_STR_EQ(bad(TASK(",'Retry':[{'ErrorEquals':['X'],"
                            "'MaxAttempts':-1}]")),
                   "x.json: /States/A/Retry/0/MaxAttempts: expected a "
                   "non-negative integer");
  SW_ASSERT_STR_EQ(bad(TASK(",'Retry':[{'ErrorEquals':['X'],"
                            "'BackoffRate':0.5}]")),
                   "x.json: /States/A/Retry/0/BackoffRate: expected a number "
                   ">= 1.0");
  SW_ASSERT_STR_EQ(bad(TASK(",'Retry':[{'ErrorEquals':['X'],"
                            "'MaxDelaySeconds':0}]")),
                   "x.json: /States/A/Retry/0/MaxDelaySeconds: expected a "
                   "positive integer");
  SW_ASSERT_STR_EQ(bad(TASK(",'Retry':[{'ErrorEquals':['X'],"
                            "'MaxDelaySeconds':31622401}]")),
                   "x.json: /States/A/Retry/0/MaxDelaySeconds: expected an "
                   "integer no larger than 31622400");
  SW_ASSERT_STR_EQ(bad(TASK(",'Retry':[{'ErrorEquals':['X'],"
                            "'MaxDelaySeconds':31622400}]")),
                   "(valid)");
  SW_ASSERT_STR_EQ(bad(TASK(",'Retry':[{'ErrorEquals':['X'],"
                            "'JitterStrategy':'HALF'}]")),
                   "x.json: /States/A/Retry/0/JitterStrategy: expected "
                   "\"FULL\" or \"NONE\"");
  SW_ASSERT_STR_EQ(bad(TASK(",'Retry':[{'ErrorEquals':['X'],'Next':'B'}]")),
                   "x.json: /States/A/Retry/0/Next: field not allowed in a "
                   "retrier");
  SW_ASSERT_STR_EQ(bad(TASK(",'Retry':[{'ErrorEquals':['States.ALL','X']}]")),
                   "x.json: /States/A/Retry/0/ErrorEquals: States.ALL must be "
                   "the only error name in ErrorEquals");
  SW_ASSERT_STR_EQ(bad(TASK(",'Retry':[{'ErrorEquals':['States.ALL']},"
                            "{'ErrorEquals':['X']}]")),
                   "x.json: /States/A/Retry/0: a retrier with States.ALL must "
                   "be the last one");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Pass','End':true,'Retry':[]")),
                   "x.json: /States/A/Retry: field not allowed in a Pass "
                   "state");
}

SW_TEST(asl_parse__catch_rules)
{
  SW_ASSERT_STR_EQ(bad(TASK(",'Catch':[{'ErrorEquals':['X']}]")),
                   "x.json: /States/A/Catch/0: missing required field Next");
  SW_ASSERT_STR_EQ(bad(TASK(",'Catch':[{'Error Equals':['X'],'Next':'B'}]")),
                   "x.json: /States/A/Catch/0/Error Equals: field not allowed "
                   "in a catcher");
  SW_ASSERT_STR_EQ(bad(TASK(",'Catch':[{'ErrorEquals':['X'],'Next':'Z'}]")),
                   "x.json: /States/A/Catch/0/Next: no state named \"Z\"");
  SW_ASSERT_STR_EQ(bad(TASK(",'Catch':[{'ErrorEquals':['States.ALL'],"
                            "'Next':'B'},{'ErrorEquals':['X'],'Next':'B'}]")),
                   "x.json: /States/A/Catch/0: a catcher with States.ALL must "
                   "be the last one");
  SW_ASSERT_STR_EQ(bad(TASK(",'Catch':[{'ErrorEquals':['X'],'Next':'B',"
                            "'ResultPath':5}]")),
                   "x.json: /States/A/Catch/0/ResultPath: expected a reference "
                   "path string or null");
}

/* ---- Choice, Wait, Fail ----------------------------------------------- */

SW_TEST(asl_parse__choice_rules)
{
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Choice'")),
                   "x.json: /States/A: Choice state needs Choices");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Choice','Choices':[]")),
                   "x.json: /States/A/Choices: expected a non-empty array of "
                   "Choice rules");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Choice','Choices':[1]")),
                   "x.json: /States/A/Choices/0: expected a Choice rule "
                   "object");
  SW_ASSERT_STR_EQ(bad("{'StartAt':'C','States':{'C':{'Type':'Choice',"
                       "'End':true,'Choices':[{'Variable':'$.x',"
                       "'IsNull':true,'Next':'B'}]},'B':{" PASS_END "}}}"),
                   "x.json: /States/C/End: field not allowed in a Choice "
                   "state");
  SW_ASSERT_STR_EQ(bad("{'StartAt':'C','States':{'C':{'Type':'Choice',"
                       "'Choices':[{'Variable':'$.x','IsNull':true,"
                       "'Next':'Nope'}]},'B':{" PASS_END "}}}"),
                   "x.json: /States/C/Choices/0/Next: no state named "
                   "\"Nope\"");
  SW_ASSERT_STR_EQ(bad("{'StartAt':'C','States':{'C':{'Type':'Choice',"
                       "'Choices':[{'Variable':'$.x','IsNull':true,"
                       "'Next':'B'}],'Default':'Nope'},'B':{" PASS_END
                       "}}}"),
                   "x.json: /States/C/Default: no state named \"Nope\"");
  /* The rule's own problems come from paths/ with the rule's pointer. */
  SW_ASSERT(strncmp(bad("{'StartAt':'C','States':{'C':{'Type':'Choice',"
                        "'Choices':[{'Variable':'$.x','IsNull':true,"
                        "'End':true}]},'B':{" PASS_END "}}}"),
                    "x.json: /States/C/Choices/0", 27) == 0);
}

SW_TEST(asl_parse__wait_rules)
{
  const char *want = "x.json: /States/A: Wait state needs exactly one of "
                     "Seconds, SecondsPath, Timestamp, TimestampPath";

  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Wait','End':true")), want);
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Wait','End':true,'Seconds':1,"
                           "'SecondsPath':'$.s'")),
                   want);
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Wait','End':true,'Timestamp':"
                           "'2016-03-14T01:59:00Z','TimestampPath':'$.s'")),
                   want);
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Wait','End':true,'Seconds':-1")),
                   "x.json: /States/A/Seconds: expected a non-negative "
                   "integer");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Wait','End':true,'Timestamp':"
                           "'2016-03-14 01:59'")),
                   "x.json: /States/A/Timestamp: expected an RFC 3339 "
                   "timestamp such as \"2016-03-14T01:59:00Z\"");
}

SW_TEST(asl_parse__fail_rules)
{
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Fail','Error':'E','ErrorPath':'$.e'")),
                   "x.json: /States/A: Fail state takes at most one of "
                   "Error, ErrorPath");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Fail','Cause':'E','CausePath':'$.e'")),
                   "x.json: /States/A: Fail state takes at most one of "
                   "Cause, CausePath");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Fail','Error':5")),
                   "x.json: /States/A/Error: expected a string");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Fail','ErrorPath':true")),
                   "x.json: /States/A/ErrorPath: expected a path or an "
                   "intrinsic function call");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Fail','End':true")),
                   "x.json: /States/A/End: field not allowed in a Fail "
                   "state");
}

/* ---- Parallel and Map ------------------------------------------------- */

SW_TEST(asl_parse__parallel_rules)
{
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Parallel','End':true")),
                   "x.json: /States/A: Parallel state needs Branches");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Parallel','End':true,'Branches':[]")),
                   "x.json: /States/A/Branches: expected a non-empty array of "
                   "state machines");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Parallel','End':true,'Branches':[[]]")),
                   "x.json: /States/A/Branches/0: expected an object with "
                   "StartAt and States");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Parallel','End':true,'Branches':[{"
                           "'StartAt':'B','States':{'B':{'Type':'Wait',"
                           "'Seconds':1}}}]")),
                   "x.json: /States/A/Branches/0/States/B: Wait state needs "
                   "exactly one of Next, End");
  /* No transition out of a branch, nor into one. */
  SW_ASSERT_STR_EQ(bad("{'StartAt':'A','States':{'A':{'Type':'Parallel',"
                       "'Next':'F','Branches':[{'StartAt':'B','States':{"
                       "'B':{'Type':'Pass','Next':'F'}}}]},'F':{" PASS_END
                       "}}}"),
                   "x.json: /States/A/Branches/0/States/B/Next: no state "
                   "named \"F\" in this branch (transitions cannot leave a "
                   "Parallel branch or Map processor)");
  SW_ASSERT_STR_EQ(bad("{'StartAt':'A','States':{'A':{'Type':'Parallel',"
                       "'Next':'B','Branches':[{'StartAt':'B','States':{"
                       "'B':{" PASS_END "}}}]}}}"),
                   "x.json: /States/A/Next: no state named \"B\"");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Parallel','End':true,'Branches':[{"
                           "'StartAt':'B','Version':'1.0','States':{'B':{"
                           PASS_END "}}}]")),
                   "x.json: /States/A/Branches/0/Version: field not allowed "
                   "in a Parallel branch");
}

#define ITER "'Iterator':{'StartAt':'I','States':{'I':{" PASS_END "}}}"

SW_TEST(asl_parse__map_rules)
{
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Map','End':true")),
                   "x.json: /States/A: Map state needs exactly one of "
                   "ItemProcessor, Iterator");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Map','End':true," ITER
                           ",'ItemProcessor':{'StartAt':'J','States':{'J':{"
                           PASS_END "}}}")),
                   "x.json: /States/A: Map state needs exactly one of "
                   "ItemProcessor, Iterator");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Map','End':true," ITER
                           ",'ItemSelector':{},'Parameters':{}")),
                   "x.json: /States/A: Map state takes at most one of "
                   "ItemSelector, Parameters");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Map','End':true," ITER
                           ",'MaxConcurrency':1,'MaxConcurrencyPath':'$.m'")),
                   "x.json: /States/A: Map state takes at most one of "
                   "MaxConcurrency, MaxConcurrencyPath");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Map','End':true," ITER
                           ",'MaxConcurrency':-1")),
                   "x.json: /States/A/MaxConcurrency: expected a "
                   "non-negative integer");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Map','End':true," ITER
                           ",'ItemSelector':[]")),
                   "x.json: /States/A/ItemSelector: expected an object");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Map','End':true,'Iterator':{"
                           "'StartAt':'I','States':{'I':{'Type':'Pass',"
                           "'Next':'A'}}}")),
                   "x.json: /States/A/Iterator/States/I/Next: no state named "
                   "\"A\" in this Map processor (transitions cannot leave a "
                   "Parallel branch or Map processor)");
  /* A distributed Map over an items array runs inline. */
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Map','End':true,'ItemProcessor':{"
                           "'ProcessorConfig':{'Mode':'DISTRIBUTED'},"
                           "'StartAt':'I','States':{'I':{" PASS_END "}}},"
                           "'Label':'L','ToleratedFailureCount':2")),
                   "(valid)");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Map','End':true,'ItemProcessor':{"
                           "'ProcessorConfig':{'Mode':'FAST'},"
                           "'StartAt':'I','States':{'I':{" PASS_END "}}}")),
                   "x.json: /States/A/ItemProcessor/ProcessorConfig/Mode: "
                   "expected \"INLINE\" or \"DISTRIBUTED\"");
  /* AWS accepts ProcessorConfig in a legacy Iterator too. */
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Map','End':true,'Iterator':{"
                           "'ProcessorConfig':{'Mode':'INLINE'},"
                           "'StartAt':'I','States':{'I':{" PASS_END "}}}")),
                   "(valid)");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Map','End':true,'Iterator':{"
                           "'ProcessorConfig':{'Mode':'DISTRIBUTED'},"
                           "'StartAt':'I','States':{'I':{" PASS_END "}}}")),
                   "(valid)");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Map','End':true,'Iterator':{"
                           "'ProcessorConfig':{'Mode':'INLINE','X':1},"
                           "'StartAt':'I','States':{'I':{" PASS_END "}}}")),
                   "x.json: /States/A/Iterator/ProcessorConfig/X: field not "
                   "allowed in ProcessorConfig");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Map','End':true," ITER
                           ",'ItemReader':{'Resource':'x'}")),
                   "x.json: /States/A/ItemReader: distributed Map is not "
                   "supported yet");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Map','End':true," ITER
                           ",'ToleratedFailurePercentage':105")),
                   "x.json: /States/A/ToleratedFailurePercentage: expected a "
                   "number from 0 to 100");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Map','End':true," ITER
                           ",'ToleratedFailureCount':1,"
                           "'ToleratedFailureCountPath':'$.n'")),
                   "x.json: /States/A: Map state takes at most one of "
                   "ToleratedFailureCount, ToleratedFailureCountPath");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Map','End':true,'Iterator':{"
                           "'StartAt':'I','QueryLanguage':'JSONPath',"
                           "'States':{'I':{" PASS_END "}}}")),
                   "x.json: /States/A/Iterator/QueryLanguage: field not "
                   "allowed in an Iterator");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Map','End':true,'Iterator':{"
                           "'StartAt':'I','States':{'I':{'Type':'Pass',"
                           "'Next':'I'}}}")),
                   "x.json: /States/A/Iterator/States: no terminal state (a "
                   "state with \"End\": true, or a Succeed or Fail state)");
}

SW_TEST(asl_parse__result_path_is_not_a_variable)
{
  SW_ASSERT_STR_EQ(bad(TASK(",'ResultPath':'$foo'")),
                   "x.json: /States/A/ResultPath: expected a reference path "
                   "into the state input, such as \"$.result\" (variables "
                   "are set with Assign)");
  SW_ASSERT_STR_EQ(bad(TASK(",'Catch':[{'ErrorEquals':['X'],'Next':'B',"
                            "'ResultPath':'$err'}]")),
                   "x.json: /States/A/Catch/0/ResultPath: expected a "
                   "reference path into the state input, such as "
                   "\"$.result\" (variables are set with Assign)");
  SW_ASSERT_STR_EQ(bad(TASK(",'ResultPath':'$'")), "(valid)");
}

SW_TEST(asl_parse__resource_forms)
{
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Task','End':true,'Resource':"
                           "{'Fn::GetAtt':['f','Arn']}")),
                   "x.json: /States/A/Resource: CloudFormation intrinsic "
                   "functions are not supported yet; expected a resource ARN "
                   "string");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Task','End':true,'Resource':"
                           "'arn:aws:lambda:us-east-1:123:function:f:"
                           "$LATEST'")),
                   "(valid)");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Task','End':true,'Resource':"
                           "'arn:aws:states:::states:startExecution.sync:2'")),
                   "(valid)");
  SW_ASSERT_STR_EQ(bad(ONE("'Type':'Task','End':true,'Resource':"
                           "'lambda:f'")),
                   "x.json: /States/A/Resource: expected a resource ARN "
                   "(arn:PARTITION:SERVICE:REGION:ACCOUNT:TYPE:NAME), got "
                   "\"lambda:f\"");
}

SW_TEST(asl_parse__assign_templates)
{
  sw_err err = SW_ERR_INIT;
  sw_asl_definition *def = NULL;
  const sw_asl_state *s;

  SW_ASSERT_OK(parse(
      &def,
      "{'StartAt':'C','States':{"
      "'C':{'Type':'Choice','Assign':{'a':1},'Choices':[{'Variable':'$.x',"
      "'IsNull':true,'Assign':{'b.$':'$.y'},'Next':'T'}],'Default':'T'},"
      "'T':{'Type':'Task','Resource':'arn:aws:states:::lambda:invoke',"
      "'Catch':[{'ErrorEquals':['States.ALL'],'Assign':{'e.$':'$.Error'},"
      "'Next':'S'}],'End':true},"
      "'S':{'Type':'Succeed'}}}",
      &err));
  s = sw_asl_find(def->root, "C");
  SW_ASSERT_NOT_NULL(s->assign);
  SW_ASSERT_NOT_NULL(s->choices[0].assign);
  s = sw_asl_find(def->root, "T");
  SW_ASSERT_NOT_NULL(s->catchers[0].assign);
  SW_ASSERT_NULL(s->assign);
  sw_asl_free(def);
  SW_ASSERT_STR_EQ(bad(ONE(PASS_END ",'Assign':[1]")),
                   "x.json: /States/A/Assign: expected an object");
}
