/* SPDX-License-Identifier: MIT */
/* The 18 States.* intrinsic functions of ASL's JSONPath mode: calls are
 * parsed once into a tree of literal, path and nested-call arguments (at
 * most 10 levels), then evaluated against an sw_eval_env. Hashing and
 * base64 use OpenSSL's EVP functions.
 *
 * Decisions: AWS reports every intrinsic failure as States.Runtime; the
 * recorded cases hold no intrinsic failure text, so the messages here say
 * "<function>: <what was wrong>". States.Format renders strings as is,
 * other scalars as JSON, arrays as "[a, b]" and objects as "{k=v}" (the
 * AWS-recorded case test_context_json_path). States.StringToJson('')
 * yields null (AWS-recorded). States.MathRandom returns an integer in
 * [start, end); with a seed the sequence is deterministic. */
#include "paths/paths_int.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#define MAX_NESTING 10
#define MAX_STR_CHARS 10000 /* Base64Encode/Decode, Hash input */
#define MAX_RANGE_ITEMS 1000

typedef enum akind { A_LIT, A_PATH, A_CALL } akind;

typedef struct iarg {
  akind kind;
  cJSON *lit;       /* A_LIT; owned */
  char *raw;        /* A_LIT string: text between the quotes; owned */
  sw_path *path;    /* A_PATH; owned */
  sw__icall *call;  /* A_CALL; owned */
} iarg;

typedef int (*ifn)(cJSON **out, const sw__icall *c, cJSON **args, size_t n,
                   sw_err *err);

/* Argument and result types known before evaluation, as one letter:
 * 's' string, 'i' integer, 'n' number, 'b' boolean, 'a' array, 'o' object,
 * 'z' null, '*' anything (a path argument, or a function whose result type
 * depends on the data). */
typedef struct ifunc {
  const char *name; /* without "States." */
  size_t min_args;
  size_t max_args;
  ifn fn;
  const char *params; /* type letter per argument; the last one repeats */
  char result;        /* type letter of the result */
} ifunc;

struct sw__icall {
  const ifunc *f; /* static table entry */
  iarg *args;     /* owned, nargs entries */
  size_t nargs;
};

static const ifunc *find_func(const char *name, size_t len);

/* ---- helpers ------------------------------------------------------------ */

static int ierr(const sw__icall *c, const char *what, const char *detail,
                sw_err *err)
{
  return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0, "States.%s: %s%s%s",
                    c->f->name, what, detail ? ": " : "", detail ? detail : "");
}

static bool as_int(const cJSON *v, long long *out)
{
  double d;

  if (!cJSON_IsNumber(v))
    return false;
  d = v->valuedouble;
  if (d != floor(d) || d < -9007199254740992.0 || d > 9007199254740992.0)
    return false;
  *out = (long long)d;
  return true;
}

static cJSON *num(long long v)
{
  return cJSON_CreateNumber((double)v);
}

/* ---- States.Format ------------------------------------------------------ */

static void render(sw_buf *b, const cJSON *v)
{
  const cJSON *c;
  char *txt;

  if (cJSON_IsString(v)) {
    (void)sw_buf_puts(b, v->valuestring, NULL);
  } else if (cJSON_IsArray(v)) {
    (void)sw_buf_puts(b, "[", NULL);
    for (c = v->child; c; c = c->next) {
      render(b, c);
      if (c->next)
        (void)sw_buf_puts(b, ", ", NULL);
    }
    (void)sw_buf_puts(b, "]", NULL);
  } else if (cJSON_IsObject(v)) {
    (void)sw_buf_puts(b, "{", NULL);
    for (c = v->child; c; c = c->next) {
      (void)sw_buf_printf(b, NULL, "%s=", c->string);
      render(b, c);
      if (c->next)
        (void)sw_buf_puts(b, ", ", NULL);
    }
    (void)sw_buf_puts(b, "}", NULL);
  } else {
    txt = sw_json_print(v);
    (void)sw_buf_puts(b, txt, NULL);
    sw_free(txt);
  }
}

static int fn_format(cJSON **out, const sw__icall *c, cJSON **args, size_t n,
                     sw_err *err)
{
  const char *t;
  sw_buf b = SW_BUF_INIT(0);
  size_t next = 1;

  if (!cJSON_IsString(args[0]))
    return ierr(c, "the first argument must be a string", NULL, err);
  /* A literal template is read from its source text so that the escapes
   * \{ \} \' \\ keep their meaning; a template from the input is read as
   * the same escape language. */
  t = c->args[0].kind == A_LIT ? c->args[0].raw : args[0]->valuestring;
  while (*t) {
    if (t[0] == '\\' && t[1]) {
      (void)sw_buf_put(&b, t + 1, 1, NULL);
      t += 2;
    } else if (t[0] == '{' && t[1] == '}') {
      if (next >= n) {
        sw_buf_dispose(&b);
        return ierr(c, "the template has more placeholders '{}' than "
                       "there are arguments",
                    NULL, err);
      }
      render(&b, args[next++]);
      t += 2;
    } else {
      (void)sw_buf_put(&b, t, 1, NULL);
      t++;
    }
  }
  if (next != n) {
    sw_buf_dispose(&b);
    return ierr(c, "the template has fewer placeholders '{}' than there are "
                   "arguments",
                NULL, err);
  }
  {
    char *s = sw_buf_detach(&b);
    *out = cJSON_CreateString(s);
    sw_free(s);
  }
  return 0;
}

/* ---- JSON ----------------------------------------------------------- */

static int fn_string_to_json(cJSON **out, const sw__icall *c, cJSON **args,
                             size_t n, sw_err *err)
{
  const char *s;
  size_t len;
  sw_err perr = SW_ERR_INIT;

  (void)n;
  if (!cJSON_IsString(args[0]))
    return ierr(c, "the argument must be a string", NULL, err);
  s = args[0]->valuestring;
  len = strlen(s);
  while (len && strchr(" \t\r\n", s[len - 1]))
    len--;
  while (len && strchr(" \t\r\n", *s)) {
    s++;
    len--;
  }
  if (len == 0) {
    *out = cJSON_CreateNull(); /* AWS-recorded: '' -> null */
    return 0;
  }
  if (sw_json_parse(out, s, len, "argument", &perr) < 0)
    return ierr(c, "the argument is not valid JSON", perr.msg, err);
  return 0;
}

static int fn_json_to_string(cJSON **out, const sw__icall *c, cJSON **args,
                             size_t n, sw_err *err)
{
  char *s = sw_json_print(args[0]);

  (void)c;
  (void)n;
  (void)err;
  *out = cJSON_CreateString(s);
  sw_free(s);
  return 0;
}

static int fn_json_merge(cJSON **out, const sw__icall *c, cJSON **args,
                         size_t n, sw_err *err)
{
  cJSON *m;
  const cJSON *e;

  (void)n;
  if (!cJSON_IsObject(args[0]) || !cJSON_IsObject(args[1]))
    return ierr(c, "the first two arguments must be JSON objects", NULL, err);
  if (!cJSON_IsBool(args[2]))
    return ierr(c, "the third argument must be a boolean", NULL, err);
  if (cJSON_IsTrue(args[2]))
    return ierr(c, "only the shallow merging mode is supported; the third "
                   "argument must be false",
                NULL, err);
  /* Shallow: members of the second object replace the first's. */
  m = args[0];
  args[0] = NULL;
  for (e = args[1]->child; e; e = e->next)
    sw_json_set(m, e->string, sw_json_dup(e));
  *out = m;
  return 0;
}

/* ---- arrays ------------------------------------------------------------- */

static int fn_array(cJSON **out, const sw__icall *c, cJSON **args, size_t n,
                    sw_err *err)
{
  cJSON *a = cJSON_CreateArray();
  size_t i;

  (void)c;
  (void)err;
  for (i = 0; i < n; i++) {
    cJSON_AddItemToArray(a, args[i]);
    args[i] = NULL;
  }
  *out = a;
  return 0;
}

static int fn_array_partition(cJSON **out, const sw__icall *c, cJSON **args,
                              size_t n, sw_err *err)
{
  long long size, i = 0;
  cJSON *res, *chunk = NULL;
  const cJSON *e;

  (void)n;
  if (!cJSON_IsArray(args[0]))
    return ierr(c, "the first argument must be an array", NULL, err);
  if (!as_int(args[1], &size) || size <= 0)
    return ierr(c, "the chunk size must be a positive integer", NULL, err);
  res = cJSON_CreateArray();
  for (e = args[0]->child; e; e = e->next) {
    if (i % size == 0) {
      chunk = cJSON_CreateArray();
      cJSON_AddItemToArray(res, chunk);
    }
    cJSON_AddItemToArray(chunk, sw_json_dup(e));
    i++;
  }
  *out = res;
  return 0;
}

static int fn_array_contains(cJSON **out, const sw__icall *c, cJSON **args,
                             size_t n, sw_err *err)
{
  const cJSON *e;
  bool found = false;

  (void)n;
  if (!cJSON_IsArray(args[0]))
    return ierr(c, "the first argument must be an array", NULL, err);
  for (e = args[0]->child; e && !found; e = e->next)
    found = sw__json_equal(e, args[1]);
  *out = cJSON_CreateBool(found);
  return 0;
}

static int fn_array_range(cJSON **out, const sw__icall *c, cJSON **args,
                          size_t n, sw_err *err)
{
  long long start, end, step, count, i;
  cJSON *a;

  (void)n;
  if (!as_int(args[0], &start) || !as_int(args[1], &end) ||
      !as_int(args[2], &step))
    return ierr(c, "the start, end and step arguments must be integers", NULL,
                err);
  if (step == 0)
    return ierr(c, "the step argument must not be 0", NULL, err);
  if ((step > 0 && end < start) || (step < 0 && end > start))
    count = 0;
  else
    count = (end - start) / step + 1;
  if (count > MAX_RANGE_ITEMS)
    return sw_err_set(err, SW_ELIMIT, SW_ORIGIN_ASL, 0,
                      "States.ArrayRange: the result would have %lld items; "
                      "at most %d are allowed",
                      count, MAX_RANGE_ITEMS);
  a = cJSON_CreateArray();
  for (i = 0; i < count; i++)
    cJSON_AddItemToArray(a, num(start + i * step));
  *out = a;
  return 0;
}

static int fn_array_get_item(cJSON **out, const sw__icall *c, cJSON **args,
                             size_t n, sw_err *err)
{
  long long idx;

  (void)n;
  if (!cJSON_IsArray(args[0]))
    return ierr(c, "the first argument must be an array", NULL, err);
  if (!as_int(args[1], &idx) || idx < 0)
    return ierr(c, "the index must be a non-negative integer", NULL, err);
  if (idx >= cJSON_GetArraySize(args[0]))
    return ierr(c, "the index is out of bounds", NULL, err);
  *out = cJSON_DetachItemFromArray(args[0], (int)idx);
  return 0;
}

static int fn_array_length(cJSON **out, const sw__icall *c, cJSON **args,
                           size_t n, sw_err *err)
{
  (void)n;
  if (!cJSON_IsArray(args[0]))
    return ierr(c, "the argument must be an array", NULL, err);
  *out = num(cJSON_GetArraySize(args[0]));
  return 0;
}

/* Duplicates removed, first occurrence kept, in linear time: a hash
 * table of the kept elements (open addressing, power-of-two size). */
static int fn_array_unique(cJSON **out, const sw__icall *c, cJSON **args,
                           size_t n, sw_err *err)
{
  cJSON *a;
  const cJSON *e;
  const cJSON **slots;
  size_t cap = 16, mask, i, count = 0;

  (void)n;
  if (!cJSON_IsArray(args[0]))
    return ierr(c, "the argument must be an array", NULL, err);
  for (e = args[0]->child; e; e = e->next)
    count++;
  while (cap < 2 * count)
    cap *= 2;
  mask = cap - 1;
  slots = sw_calloc(cap, sizeof(*slots));
  a = cJSON_CreateArray();
  for (e = args[0]->child; e; e = e->next) {
    for (i = (size_t)sw__json_hash(e) & mask; slots[i]; i = (i + 1) & mask)
      if (sw__json_equal(slots[i], e))
        break;
    if (!slots[i]) {
      slots[i] = e;
      cJSON_AddItemToArray(a, sw_json_dup(e));
    }
  }
  sw_free(slots);
  *out = a;
  return 0;
}

/* ---- encoding and hashing ---------------------------------------------- */

static int check_str(const sw__icall *c, const cJSON *v, sw_err *err)
{
  if (!cJSON_IsString(v))
    return ierr(c, "the argument must be a string", NULL, err);
  if (strlen(v->valuestring) > MAX_STR_CHARS)
    return sw_err_set(err, SW_ELIMIT, SW_ORIGIN_ASL, 0,
                      "States.%s: the input string is longer than %d "
                      "characters",
                      c->f->name, MAX_STR_CHARS);
  return 0;
}

static int fn_base64_encode(cJSON **out, const sw__icall *c, cJSON **args,
                            size_t n, sw_err *err)
{
  size_t len;
  unsigned char *dst;
  int rc = check_str(c, args[0], err);

  (void)n;
  if (rc < 0)
    return rc;
  len = strlen(args[0]->valuestring);
  dst = sw_malloc(4 * ((len + 2) / 3) + 1);
  EVP_EncodeBlock(dst, (const unsigned char *)args[0]->valuestring, (int)len);
  *out = cJSON_CreateString((const char *)dst);
  sw_free(dst);
  return 0;
}

static int fn_base64_decode(cJSON **out, const sw__icall *c, cJSON **args,
                            size_t n, sw_err *err)
{
  const char *s;
  size_t len, pad = 0;
  unsigned char *dst;
  int got, rc = check_str(c, args[0], err);

  (void)n;
  if (rc < 0)
    return rc;
  s = args[0]->valuestring;
  len = strlen(s);
  if (len % 4 != 0)
    return ierr(c, "the argument is not valid base64", NULL, err);
  if (len && s[len - 1] == '=')
    pad++;
  if (len > 1 && s[len - 2] == '=')
    pad++;
  dst = sw_malloc(len / 4 * 3 + 1);
  got = EVP_DecodeBlock(dst, (const unsigned char *)s, (int)len);
  if (got < 0 || (size_t)got < pad) {
    sw_free(dst);
    return ierr(c, "the argument is not valid base64", NULL, err);
  }
  got -= (int)pad;
  dst[got] = '\0';
  if (strlen((const char *)dst) != (size_t)got) {
    sw_free(dst);
    return ierr(c, "the decoded data is not a string", NULL, err);
  }
  *out = cJSON_CreateString((const char *)dst);
  sw_free(dst);
  return 0;
}

static int fn_hash(cJSON **out, const sw__icall *c, cJSON **args, size_t n,
                   sw_err *err)
{
  static const struct {
    const char *name;
    const EVP_MD *(*md)(void);
  } algs[] = {{"MD5", EVP_md5},       {"SHA-1", EVP_sha1},
              {"SHA-256", EVP_sha256}, {"SHA-384", EVP_sha384},
              {"SHA-512", EVP_sha512}};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0, i;
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  const EVP_MD *type = NULL;
  int rc;

  (void)n;
  rc = check_str(c, args[0], err);
  if (rc < 0)
    return rc;
  if (cJSON_IsString(args[1]))
    for (i = 0; i < SW_ARRAY_SIZE(algs); i++)
      if (strcmp(args[1]->valuestring, algs[i].name) == 0)
        type = algs[i].md();
  if (!type)
    return ierr(c, "the algorithm must be one of MD5, SHA-1, SHA-256, "
                   "SHA-384, SHA-512",
                NULL, err);
  if (!EVP_Digest(args[0]->valuestring, strlen(args[0]->valuestring), md,
                  &mdlen, type, NULL))
    return ierr(c, "hashing failed", NULL, err);
  for (i = 0; i < mdlen; i++)
    snprintf(hex + 2 * i, 3, "%02x", md[i]);
  hex[2 * mdlen] = '\0';
  *out = cJSON_CreateString(hex);
  return 0;
}

/* ---- math, strings, ids ------------------------------------------------ */

static uint64_t splitmix64(uint64_t *state)
{
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static int fn_math_random(cJSON **out, const sw__icall *c, cJSON **args,
                          size_t n, sw_err *err)
{
  long long start, end, seed;
  uint64_t r = 0, state;

  if (!as_int(args[0], &start) || !as_int(args[1], &end))
    return ierr(c, "the start and end arguments must be integers", NULL, err);
  if (end <= start)
    return ierr(c, "the end argument must be greater than the start", NULL,
                err);
  if (n == 3) {
    if (!as_int(args[2], &seed))
      return ierr(c, "the seed argument must be an integer", NULL, err);
    state = (uint64_t)seed;
    r = splitmix64(&state);
  } else if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1) {
    return ierr(c, "no random bytes available", NULL, err);
  }
  *out = num(start + (long long)(r % (uint64_t)(end - start)));
  return 0;
}

static int fn_math_add(cJSON **out, const sw__icall *c, cJSON **args,
                       size_t n, sw_err *err)
{
  long long a, b;

  (void)n;
  /* AWS (recorded): a non-integer argument is truncated to an integer,
   * e.g. MathAdd(59, 4.3) = 63; only non-numbers are errors. */
  if (!cJSON_IsNumber(args[0]) || !cJSON_IsNumber(args[1]) ||
      fabs(args[0]->valuedouble) > 9007199254740992.0 ||
      fabs(args[1]->valuedouble) > 9007199254740992.0)
    return ierr(c, "both arguments must be integers", NULL, err);
  a = (long long)args[0]->valuedouble;
  b = (long long)args[1]->valuedouble;
  *out = num(a + b);
  return 0;
}

static int fn_string_split(cJSON **out, const sw__icall *c, cJSON **args,
                           size_t n, sw_err *err)
{
  const char *s, *seps;
  cJSON *a;

  (void)n;
  if (!cJSON_IsString(args[0]) || !cJSON_IsString(args[1]))
    return ierr(c, "both arguments must be strings", NULL, err);
  s = args[0]->valuestring;
  seps = args[1]->valuestring;
  a = cJSON_CreateArray();
  /* Every character of the second argument separates; empty pieces are
   * dropped. */
  while (*s) {
    size_t len = *seps ? strcspn(s, seps) : strlen(s);

    if (len) {
      char *piece = sw_strndup(s, len);
      cJSON_AddItemToArray(a, cJSON_CreateString(piece));
      sw_free(piece);
    }
    s += len;
    if (*s)
      s++;
  }
  *out = a;
  return 0;
}

static int fn_uuid(cJSON **out, const sw__icall *c, cJSON **args, size_t n,
                   sw_err *err)
{
  char id[40];

  (void)c;
  (void)args;
  (void)n;
  (void)err;
  sw_uuid_v4(id);
  *out = cJSON_CreateString(id);
  return 0;
}

static const ifunc funcs[] = {
    {"Format", 1, 1000, fn_format, "s*", 's'},
    {"StringToJson", 1, 1, fn_string_to_json, "s", '*'},
    {"JsonToString", 1, 1, fn_json_to_string, "*", 's'},
    {"Array", 0, 1000, fn_array, "*", 'a'},
    {"ArrayPartition", 2, 2, fn_array_partition, "ai", 'a'},
    {"ArrayContains", 2, 2, fn_array_contains, "a*", 'b'},
    {"ArrayRange", 3, 3, fn_array_range, "iii", 'a'},
    {"ArrayGetItem", 2, 2, fn_array_get_item, "ai", '*'},
    {"ArrayLength", 1, 1, fn_array_length, "a", 'i'},
    {"ArrayUnique", 1, 1, fn_array_unique, "a", 'a'},
    {"Base64Encode", 1, 1, fn_base64_encode, "s", 's'},
    {"Base64Decode", 1, 1, fn_base64_decode, "s", 's'},
    {"Hash", 2, 2, fn_hash, "ss", 's'},
    {"JsonMerge", 3, 3, fn_json_merge, "oob", 'o'},
    {"MathRandom", 2, 3, fn_math_random, "iii", 'i'},
    {"MathAdd", 2, 2, fn_math_add, "ii", 'i'},
    {"StringSplit", 2, 2, fn_string_split, "ss", 'a'},
    {"UUID", 0, 0, fn_uuid, "", 's'},
};

static const ifunc *find_func(const char *name, size_t len)
{
  size_t i;

  for (i = 0; i < SW_ARRAY_SIZE(funcs); i++)
    if (strlen(funcs[i].name) == len && !strncmp(funcs[i].name, name, len))
      return &funcs[i];
  return NULL;
}

/* ---- parser ------------------------------------------------------------ */

typedef struct iparser {
  const char *s; /* whole expression */
  size_t i;      /* cursor */
  sw_err *err;
} iparser;

static int iperr(iparser *p, const char *what)
{
  return sw_err_set(p->err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                    "invalid intrinsic function call '%s' at offset %zu: %s",
                    p->s, p->i, what);
}

static void iskip(iparser *p)
{
  while (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n')
    p->i++;
}

static void arg_dispose(iarg *a)
{
  cJSON_Delete(a->lit);
  sw_free(a->raw);
  sw_path_free(a->path);
  sw__icall_free(a->call);
}

void sw__icall_free(sw__icall *c)
{
  size_t i;

  if (!c)
    return;
  for (i = 0; i < c->nargs; i++)
    arg_dispose(&c->args[i]);
  sw_free(c->args);
  sw_free(c);
}

static int parse_call(iparser *p, sw__icall **out, int depth);

/* 'text' with \' \\ unescaped; the raw text is kept for States.Format. */
static int parse_string(iparser *p, iarg *a)
{
  sw_buf b = SW_BUF_INIT(0);
  size_t start = ++p->i;
  char *s;

  while (p->s[p->i] && p->s[p->i] != '\'') {
    if (p->s[p->i] == '\\' && p->s[p->i + 1]) {
      char n = p->s[p->i + 1];

      if (n == '\'' || n == '\\')
        (void)sw_buf_put(&b, &n, 1, NULL);
      else
        (void)sw_buf_put(&b, p->s + p->i, 2, NULL);
      p->i += 2;
      continue;
    }
    (void)sw_buf_put(&b, p->s + p->i, 1, NULL);
    p->i++;
  }
  if (p->s[p->i] != '\'') {
    sw_buf_dispose(&b);
    return iperr(p, "unterminated string literal");
  }
  a->raw = sw_strndup(p->s + start, p->i - start);
  p->i++;
  s = sw_buf_detach(&b);
  a->kind = A_LIT;
  a->lit = cJSON_CreateString(s);
  sw_free(s);
  return 0;
}

static int parse_arg(iparser *p, iarg *a, int depth)
{
  const char *s = p->s + p->i;

  memset(a, 0, sizeof(*a));
  if (*s == '\'')
    return parse_string(p, a);
  if (!strncmp(s, "States.", 7)) {
    a->kind = A_CALL;
    return parse_call(p, &a->call, depth + 1);
  }
  if (*s == '$') {
    /* A path runs to the ',' or ')' that is outside brackets and quotes. */
    size_t start = p->i, end;
    int br = 0;
    char q = 0;
    char *text;
    int rc;

    for (; p->s[p->i]; p->i++) {
      char ch = p->s[p->i];

      if (q) {
        if (ch == '\\' && p->s[p->i + 1])
          p->i++;
        else if (ch == q)
          q = 0;
      } else if (ch == '\'' || ch == '"') {
        q = ch;
      } else if (ch == '[' || ch == '(') {
        br++;
      } else if (ch == ']' || ch == ')') {
        if (br == 0)
          break;
        br--;
      } else if (ch == ',' && br == 0) {
        break;
      }
    }
    end = p->i;
    while (end > start && (p->s[end - 1] == ' ' || p->s[end - 1] == '\t'))
      end--;
    text = sw_strndup(p->s + start, end - start);
    a->kind = A_PATH;
    rc = sw_path_compile(&a->path, text, SW_PATH_PATH, p->err);
    sw_free(text);
    return rc;
  }
  if (!strncmp(s, "true", 4) || !strncmp(s, "false", 5) ||
      !strncmp(s, "null", 4)) {
    a->kind = A_LIT;
    a->lit = *s == 't'   ? cJSON_CreateTrue()
             : *s == 'f' ? cJSON_CreateFalse()
                         : cJSON_CreateNull();
    p->i += *s == 'f' ? 5 : 4;
    return 0;
  }
  if (*s == '-' || (*s >= '0' && *s <= '9')) {
    char *end = NULL;
    double d = strtod(s, &end);

    if (end == s)
      return iperr(p, "bad number");
    a->kind = A_LIT;
    a->lit = cJSON_CreateNumber(d);
    p->i += (size_t)(end - s);
    return 0;
  }
  return iperr(p, "expected a string literal, a number, true, false, null, "
                  "a path or a States.* call");
}

static int parse_call(iparser *p, sw__icall **out, int depth)
{
  sw__icall *c = sw_calloc(1, sizeof(*c));
  size_t start, cap = 0;
  int rc = 0;

  *out = c;
  if (depth > MAX_NESTING)
    return iperr(p, "intrinsic functions nest at most 10 levels deep");
  if (strncmp(p->s + p->i, "States.", 7))
    return iperr(p, "expected 'States.'");
  p->i += 7;
  start = p->i;
  while ((p->s[p->i] >= 'A' && p->s[p->i] <= 'Z') ||
         (p->s[p->i] >= 'a' && p->s[p->i] <= 'z') ||
         (p->s[p->i] >= '0' && p->s[p->i] <= '9'))
    p->i++;
  c->f = find_func(p->s + start, p->i - start);
  if (!c->f) {
    p->i = start;
    return iperr(p, "unknown intrinsic function");
  }
  iskip(p);
  if (p->s[p->i] != '(')
    return iperr(p, "expected '('");
  p->i++;
  iskip(p);
  if (p->s[p->i] != ')') {
    for (;;) {
      if (c->nargs == cap) {
        cap = cap ? cap * 2 : 4;
        c->args = sw_realloc(c->args, cap * sizeof(iarg));
      }
      rc = parse_arg(p, &c->args[c->nargs], depth);
      c->nargs++;
      if (rc < 0)
        return rc;
      iskip(p);
      if (p->s[p->i] == ',') {
        p->i++;
        iskip(p);
        continue;
      }
      if (p->s[p->i] == ')')
        break;
      return iperr(p, "expected ',' or ')'");
    }
  }
  p->i++;
  if (c->nargs < c->f->min_args || c->nargs > c->f->max_args) {
    if (c->f->min_args == c->f->max_args)
      return sw_err_set(p->err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                        "invalid intrinsic function call '%s': States.%s "
                        "takes %zu argument%s, not %zu",
                        p->s, c->f->name, c->f->min_args,
                        c->f->min_args == 1 ? "" : "s", c->nargs);
    return sw_err_set(p->err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                      "invalid intrinsic function call '%s': States.%s "
                      "takes %zu to %zu arguments, not %zu",
                      p->s, c->f->name, c->f->min_args, c->f->max_args,
                      c->nargs);
  }
  return 0;
}

/* ---- checks before evaluation ------------------------------------------ */

/* The type letter of an argument as far as it is known without data. */
static char arg_type(const iarg *a)
{
  long long i;

  switch (a->kind) {
  case A_CALL: return a->call->f->result;
  case A_PATH: return '*';
  case A_LIT: break;
  }
  if (cJSON_IsString(a->lit))
    return 's';
  if (cJSON_IsBool(a->lit))
    return 'b';
  if (cJSON_IsNull(a->lit))
    return 'z';
  if (cJSON_IsNumber(a->lit))
    return as_int(a->lit, &i) ? 'i' : 'n';
  return '*';
}

static const char *type_name(char t)
{
  switch (t) {
  case 's': return "a string";
  case 'i': return "an integer";
  case 'n': return "a number";
  case 'b': return "a boolean";
  case 'a': return "an array";
  case 'o': return "a JSON object";
  case 'z': return "null";
  default: return "any value";
  }
}

/* Check every argument whose type is known (literals and nested calls)
 * against what the function takes, recursively: "States.MathAdd(1,'-1')"
 * is rejected when the definition is validated, as asl-validator does,
 * instead of failing every execution that reaches it. Only types are
 * checked here; out-of-range values (a step of 0, an unknown Hash
 * algorithm) stay run-time States.Runtime errors, as AWS records them. */
static int check_call(const char *expr, const sw__icall *c, sw_err *err)
{
  size_t i, np = strlen(c->f->params);
  int rc;

  for (i = 0; i < c->nargs; i++) {
    char want = c->f->params[i < np ? i : np - 1];
    char got = arg_type(&c->args[i]);
    bool ok = want == '*' || got == '*' || want == got ||
              (want == 'n' && got == 'i');

    if (c->args[i].kind == A_CALL) {
      rc = check_call(expr, c->args[i].call, err);
      if (rc < 0)
        return rc;
    }
    if (!ok)
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                        "invalid intrinsic function call '%s': argument %zu "
                        "of States.%s must be %s, not %s",
                        expr, i + 1, c->f->name, type_name(want),
                        type_name(got));
  }
  return 0;
}

int sw__icall_compile(sw__icall **out, const char *expr, sw_err *err)
{
  iparser p;
  int rc;

  p.s = expr;
  p.i = 0;
  p.err = err;
  iskip(&p);
  rc = parse_call(&p, out, 1);
  if (rc == 0) {
    iskip(&p);
    if (p.s[p.i])
      rc = iperr(&p, "unexpected text after the call");
  }
  if (rc == 0)
    rc = check_call(expr, *out, err);
  if (rc < 0) {
    sw__icall_free(*out);
    *out = NULL;
  }
  return rc;
}

/* ---- evaluation --------------------------------------------------------- */

int sw__icall_eval(cJSON **out, const sw__icall *c, const sw_eval_env *env,
                   const char *field, sw_err *err)
{
  cJSON *small[4] = {NULL, NULL, NULL, NULL};
  cJSON **args = c->nargs <= 4 ? small : sw_calloc(c->nargs, sizeof(cJSON *));
  size_t i;
  int rc = 0;

  *out = NULL;
  for (i = 0; i < c->nargs; i++) {
    const iarg *a = &c->args[i];

    if (a->kind == A_LIT) {
      args[i] = sw_json_dup(a->lit);
    } else if (a->kind == A_CALL) {
      rc = sw__icall_eval(&args[i], a->call, env, field, err);
      if (rc < 0)
        goto done;
    } else {
      const cJSON *node = NULL;
      cJSON *owned = NULL;

      rc = sw__path_select(&node, &owned, a->path, env, err);
      if (rc == SW_ENOTFOUND) {
        rc = sw__path_not_found(err, sw_path_text(a->path), field, env);
        goto done;
      }
      if (rc < 0)
        goto done;
      args[i] = owned ? owned : sw_json_dup(node);
    }
  }
  rc = c->f->fn(out, c, args, c->nargs, err);
done:
  for (i = 0; i < c->nargs; i++)
    cJSON_Delete(args[i]);
  if (args != small)
    sw_free(args);
  return rc;
}

bool sw_intrinsic_is_call(const char *s)
{
  size_t i = 7;

  if (!s || strncmp(s, "States.", 7))
    return false;
  while ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
         (s[i] >= '0' && s[i] <= '9'))
    i++;
  while (s[i] == ' ')
    i++;
  return i > 7 && s[i] == '(';
}

int sw_intrinsic_eval_field(cJSON **out, const char *expr, const char *field,
                            const sw_eval_env *env, sw_err *err)
{
  sw__icall *c = NULL;
  int rc;

  *out = NULL;
  rc = sw__icall_compile(&c, expr, err);
  if (rc == 0)
    rc = sw__icall_eval(out, c, env, field, err);
  sw__icall_free(c);
  return rc;
}

int sw_intrinsic_eval(cJSON **out, const char *expr, const sw_eval_env *env,
                      sw_err *err)
{
  return sw_intrinsic_eval_field(out, expr, NULL, env, err);
}
