/* SPDX-License-Identifier: MIT */
/* Payload templates (Parameters, ResultSelector, ItemSelector, JSONPath
 * Assign): compiled once into a tree whose static subtrees are kept as
 * ready-made literals, so evaluation only copies them and resolves the
 * ".$" fields (paths, context paths, variables, intrinsic calls). */
#include "paths/paths_int.h"

#include <string.h>

typedef enum tkind { T_LIT, T_PATH, T_CALL, T_OBJECT, T_ARRAY } tkind;

typedef struct tnode {
  tkind kind;
  char *key;          /* output member name (".$" stripped); owned */
  char *field;        /* member name as written ("k.$"); owned */
  cJSON *lit;         /* T_LIT; owned */
  sw_path *path;      /* T_PATH; owned */
  sw__icall *call;    /* T_CALL; owned */
  struct tnode *kids; /* T_OBJECT/T_ARRAY; owned, nkids entries */
  size_t nkids;
} tnode;

struct sw_template {
  tnode root;
};

static void node_dispose(tnode *n)
{
  size_t i;

  sw_free(n->key);
  sw_free(n->field);
  cJSON_Delete(n->lit);
  sw_path_free(n->path);
  sw__icall_free(n->call);
  for (i = 0; i < n->nkids; i++)
    node_dispose(&n->kids[i]);
  sw_free(n->kids);
  memset(n, 0, sizeof(*n));
}

static bool ends_with_dollar(const char *k)
{
  size_t n = strlen(k);

  return n >= 2 && k[n - 2] == '.' && k[n - 1] == '$';
}

static int compile_dynamic(tnode *n, const char *field, const cJSON *v,
                           sw_err *err)
{
  int rc;

  if (!cJSON_IsString(v))
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                      "field '%s': expected a string holding a path or an "
                      "intrinsic function call",
                      field);
  if (sw_intrinsic_is_call(v->valuestring)) {
    n->kind = T_CALL;
    rc = sw__icall_compile(&n->call, v->valuestring, err);
  } else {
    n->kind = T_PATH;
    rc = sw_path_compile(&n->path, v->valuestring, SW_PATH_PATH, err);
  }
  if (rc < 0)
    sw_err_prefix(err, "field '%s': ", field);
  return rc;
}

static int node_compile(tnode *n, const cJSON *v, int depth, sw_err *err)
{
  const cJSON *c;
  size_t i, j;
  bool all_lit = true;
  int rc = 0;

  if (depth > 200)
    return sw_err_set(err, SW_ELIMIT, SW_ORIGIN_ASL, 0,
                      "payload template nested too deeply");
  if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) {
    n->kind = T_LIT;
    n->lit = sw_json_dup(v);
    return 0;
  }
  n->kind = cJSON_IsObject(v) ? T_OBJECT : T_ARRAY;
  n->nkids = (size_t)cJSON_GetArraySize(v);
  n->kids = sw_calloc(n->nkids ? n->nkids : 1, sizeof(tnode));
  for (i = 0, c = v->child; c; c = c->next, i++) {
    tnode *k = &n->kids[i];

    if (n->kind == T_OBJECT) {
      size_t len = strlen(c->string);

      k->field = sw_strdup(c->string);
      if (ends_with_dollar(c->string)) {
        k->key = sw_strndup(c->string, len - 2);
        rc = compile_dynamic(k, c->string, c, err);
      } else {
        k->key = sw_strdup(c->string);
        rc = node_compile(k, c, depth + 1, err);
      }
      if (rc < 0)
        return rc;
      /* asl-validator DUPLICATE_FIELD_NAME: "a" and "a.$" collide. */
      for (j = 0; j < i; j++)
        if (strcmp(n->kids[j].key, k->key) == 0)
          return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                            "field '%s': duplicate field name '%s' (fields "
                            "'%s' and '%s' are equal once '.$' is removed)",
                            k->field, k->key, n->kids[j].field, k->field);
    } else {
      rc = node_compile(k, c, depth + 1, err);
      if (rc < 0)
        return rc;
    }
    if (k->kind != T_LIT)
      all_lit = false;
  }
  if (all_lit) {
    /* Nothing to resolve below here: keep one literal to copy. */
    for (i = 0; i < n->nkids; i++)
      node_dispose(&n->kids[i]);
    sw_free(n->kids);
    n->kids = NULL;
    n->nkids = 0;
    n->kind = T_LIT;
    n->lit = sw_json_dup(v);
  }
  return 0;
}

int sw_template_compile(sw_template **out, const cJSON *tmpl, sw_err *err)
{
  sw_template *t = sw_calloc(1, sizeof(*t));
  int rc;

  *out = NULL;
  rc = node_compile(&t->root, tmpl, 0, err);
  if (rc < 0) {
    sw_template_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

void sw_template_free(sw_template *t)
{
  if (!t)
    return;
  node_dispose(&t->root);
  sw_free(t);
}

static int node_eval(cJSON **out, const tnode *n, const sw_eval_env *env,
                     sw_err *err)
{
  const cJSON *node = NULL;
  cJSON *owned = NULL, *agg = NULL, *v = NULL;
  size_t i;
  int rc;

  *out = NULL;
  switch (n->kind) {
  case T_LIT:
    *out = sw_json_dup(n->lit);
    return 0;
  case T_PATH:
    rc = sw__path_select(&node, &owned, n->path, env, err);
    if (rc == SW_ENOTFOUND)
      return sw__path_not_found(err, sw_path_text(n->path), n->field, env);
    if (rc < 0)
      return rc;
    *out = owned ? owned : sw_json_dup(node);
    return 0;
  case T_CALL:
    return sw__icall_eval(out, n->call, env, n->field, err);
  case T_OBJECT:
  case T_ARRAY:
    break;
  }
  agg = n->kind == T_OBJECT ? cJSON_CreateObject() : cJSON_CreateArray();
  for (i = 0; i < n->nkids; i++) {
    rc = node_eval(&v, &n->kids[i], env, err);
    if (rc < 0) {
      cJSON_Delete(agg);
      return rc;
    }
    if (n->kind == T_OBJECT)
      cJSON_AddItemToObject(agg, n->kids[i].key, v);
    else
      cJSON_AddItemToArray(agg, v);
  }
  *out = agg;
  return 0;
}

int sw_template_eval(cJSON **out, const sw_template *t, const sw_eval_env *env,
                     sw_err *err)
{
  return node_eval(out, &t->root, env, err);
}
