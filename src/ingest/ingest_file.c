/* SPDX-License-Identifier: MIT */
/* ingest: the file side, all on thread-pool threads. Config rows parsed
 * and checked; a streaming line reader (libarchive raw format behind all
 * its decompression filters, so plain, gzip, bzip2 and xz files read the
 * same, with a SHA-256 of the bytes as delivered); the check pass; the
 * split pass; and the converter that turns a part's lines into CSV for
 * sw_warehouse_bulk_load while checking every value against its target
 * column. Memory is bounded by the longest line (IG_MAX_LINE) and one
 * output chunk: files are never read whole. */
#include "ingest/ingest_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <csv.h>
#include <openssl/evp.h>

/* ---- config ------------------------------------------------------------- */

void ig_config_dispose(ig_config *c)
{
  size_t i;

  sw_free(c->interface_id);
  sw_free(c->tgt_schema);
  sw_free(c->tgt_table);
  sw_free(c->file_type);
  sw_free(c->query);
  for (i = 0; i < c->n_prefixes; i++)
    sw_free(c->prefixes[i]);
  sw_free(c->prefixes);
  for (i = 0; i < c->n_cols; i++) {
    sw_free(c->cols[i].name);
    sw_free(c->cols[i].type);
  }
  sw_free(c->cols);
  memset(c, 0, sizeof(*c));
}

static bool flag(const cJSON *j, const char *k)
{
  const char *v = sw_json_get_str(j, k);
  return v && (v[0] == 'Y' || v[0] == 'y') && !v[1];
}

static bool plain_ident(const char *s)
{
  if (!s || !*s || strlen(s) > 120)
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '_'))
      return false;
  return true;
}

int ig_config_parse(ig_config *c, const cJSON *j, sw_err *err)
{
  const char *fmt = sw_json_get_str(j, "file_format");
  const char *d = sw_json_get_str(j, "delimiter");
  const char *q = sw_json_get_str(j, "escape_char");
  const char *tp = sw_json_get_str(j, "trailer_pstn");
  const char *sp = sw_json_get_str(j, "split_prefix");
  const cJSON *cols = sw_json_get(j, "columns"), *it;
  size_t i;

  memset(c, 0, sizeof(*c));
  c->interface_id = sw_strdup(sw_json_get_str(j, "interface_id"));
  c->tgt_schema = sw_strdup(sw_json_get_str(j, "tgt_schema_name"));
  c->tgt_table = sw_strdup(sw_json_get_str(j, "tgt_table_name"));
  c->file_type = sw_strdup(sw_json_get_str(j, "file_type"));
  c->query = sw_strdup(sw_json_get_str(j, "query"));
  c->fixed = fmt && (!strcasecmp(fmt, "fixed_width") ||
                     !strcasecmp(fmt, "fixedwidth") ||
                     !strcasecmp(fmt, "fixed"));
  c->header = flag(j, "header_flag");
  c->trailer = flag(j, "trailer_flag");
  c->split = flag(j, "split_file_flag");
  c->quote = q && *q ? q[0] : '"';
  if (!c->file_type) {
    sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0, "file_type is empty");
    goto bad;
  }
  if (!c->split) {
    if (!c->tgt_table || !plain_ident(c->tgt_table) ||
        (c->tgt_schema && *c->tgt_schema && !plain_ident(c->tgt_schema))) {
      sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                 "tgt_schema_name/tgt_table_name must be plain identifiers "
                 "([A-Za-z0-9_]+), got '%s'.'%s'",
                 c->tgt_schema ? c->tgt_schema : "",
                 c->tgt_table ? c->tgt_table : "");
      goto bad;
    }
  }
  if (!c->fixed) {
    if (!d || !*d)
      c->delim = ',';
    else if (!strcmp(d, "\\t") || !strcasecmp(d, "tab") || !strcmp(d, "\t"))
      c->delim = '\t';
    else if (strlen(d) == 1)
      c->delim = d[0];
    else {
      sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                 "delimiter '%s' must be one character (or 'tab')", d);
      goto bad;
    }
  }
  if (c->trailer) {
    char *end;
    if (!tp || (c->tr_start = strtol(tp, &end, 10)) < 1 || *end != ':' ||
        (c->tr_end = strtol(end + 1, &end, 10)) < c->tr_start || *end) {
      sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                 "trailer_flag is Y but trailer_pstn '%s' is not "
                 "'start:end' (1-based, start <= end)", tp ? tp : "");
      goto bad;
    }
  }
  if (c->split) {
    const char *s = sp;
    if (!sp || !*sp) {
      sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                 "split_file_flag is Y but split_prefix is empty");
      goto bad;
    }
    while (*s) {
      size_t n = strcspn(s, ",");
      const char *a = s, *b = s + n;
      while (a < b && *a == ' ')
        a++;
      while (b > a && b[-1] == ' ')
        b--;
      for (i = 0; a + i < b; i++)
        if (!((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= 'A' && a[i] <= 'Z') ||
              (a[i] >= '0' && a[i] <= '9')))
          break;
      if (a == b || a + i < b) {
        sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                   "split_prefix '%s': each record prefix must be "
                   "[A-Za-z0-9]+, separated by ','", sp);
        goto bad;
      }
      c->prefixes = sw_realloc(c->prefixes,
                               (c->n_prefixes + 1) * sizeof(char *));
      c->prefixes[c->n_prefixes++] = sw_strndup(a, (size_t)(b - a));
      s += n;
      if (*s == ',')
        s++;
    }
    return 0; /* the parts have the columns */
  }
  c->n_cols = (size_t)cJSON_GetArraySize(cols);
  if (c->n_cols == 0) {
    sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
               "no active ext_file_config_dtl rows (columns)");
    goto bad;
  }
  c->cols = sw_calloc(c->n_cols, sizeof(ig_col));
  i = 0;
  cJSON_ArrayForEach(it, cols) {
    const char *nm = sw_json_get_str(it, "name");
    const cJSON *w = sw_json_get(it, "width");
    c->cols[i].name = sw_strdup(nm);
    if (!plain_ident(nm)) {
      sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                 "column_name '%s' is not a plain identifier",
                 nm ? nm : "");
      goto bad;
    }
    if (c->fixed) {
      if (!cJSON_IsNumber(w) || w->valuedouble < 1 ||
          w->valuedouble > 65535) {
        sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                   "file_format is fixed_width but column %s has no "
                   "column_width_fixed >= 1", nm);
        goto bad;
      }
      c->cols[i].width = (long)w->valuedouble;
      c->total_width += c->cols[i].width;
    }
    i++;
  }
  return 0;
bad:
  ig_config_dispose(c);
  return err ? err->code : SW_EINVAL;
}

/* ---- target column types -------------------------------------------- */

static bool has(const char *s, const char *w)
{
  return strstr(s, w) != NULL;
}

int ig_col_type(ig_col *c, const char *type, sw_err *err)
{
  char low[128];
  const char *par;
  size_t i;
  long a = -1, b = 0;

  (void)err;
  snprintf(low, sizeof(low), "%s", type ? type : "");
  for (i = 0; low[i]; i++)
    if (low[i] >= 'A' && low[i] <= 'Z')
      low[i] = (char)(low[i] - 'A' + 'a');
  sw_free(c->type);
  c->type = sw_strdup(type ? type : "");
  par = strchr(low, '(');
  if (par) {
    a = strtol(par + 1, NULL, 10);
    if (strchr(par, ','))
      b = strtol(strchr(par, ',') + 1, NULL, 10);
  }
  c->maxlen = 0;
  c->int_digits = -1;
  if (has(low, "bool")) {
    c->kind = K_BOOL;
  } else if (has(low, "timestamp") || has(low, "datetime")) {
    c->kind = K_TS;
  } else if (!strncmp(low, "date", 4)) {
    c->kind = K_DATE;
  } else if (has(low, "char") || has(low, "text") || has(low, "clob") ||
             has(low, "string")) {
    c->kind = K_TEXT;
    c->maxlen = a > 0 ? a : 0;
  } else if (has(low, "int")) {
    c->kind = K_INT;
    if (has(low, "smallint") || has(low, "int2")) {
      c->imin = -32768;
      c->imax = 32767;
    } else if (has(low, "bigint") || has(low, "int8")) {
      c->imin = INT64_MIN;
      c->imax = INT64_MAX;
    } else {
      c->imin = INT32_MIN;
      c->imax = INT32_MAX;
    }
  } else if (has(low, "numeric") || has(low, "decimal") ||
             has(low, "number")) {
    c->kind = K_NUM;
    c->int_digits = a > 0 ? (int)(a - b) : -1;
  } else if (has(low, "real") || has(low, "float") || has(low, "double")) {
    c->kind = K_FLOAT;
  } else {
    c->kind = K_TEXT;
  }
  return 0;
}

/* ---- the line reader ------------------------------------------------- */

struct ig_reader {
  int fd;
  struct archive *a;
  EVP_MD_CTX *md;
  char raw[65536];
  char chunk[65536];
  size_t clen, cpos;
  bool eof;
  bool partial;
  sw_buf line;
  long lineno;
  uint64_t raw_bytes;
  const char *path;
};

static la_ssize_t rd_cb(struct archive *a, void *ud, const void **buf)
{
  ig_reader *r = ud;
  ssize_t n;

  do
    n = read(r->fd, r->raw, sizeof(r->raw));
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    archive_set_error(a, errno, "read failed");
    return -1;
  }
  if (r->md && n > 0)
    EVP_DigestUpdate(r->md, r->raw, (size_t)n);
  r->raw_bytes += (uint64_t)n;
  *buf = r->raw;
  return n;
}

static void rd_close(ig_reader *r)
{
  if (!r)
    return;
  if (r->a)
    archive_read_free(r->a);
  if (r->fd >= 0)
    close(r->fd);
  if (r->md)
    EVP_MD_CTX_free(r->md);
  sw_buf_dispose(&r->line);
  sw_free(r);
}

static int rd_open(ig_reader **out, const char *path, bool hash, sw_err *err)
{
  ig_reader *r = sw_calloc(1, sizeof(*r));
  struct archive_entry *e;
  int rc;

  *out = NULL;
  r->path = path;
  r->line.max = IG_MAX_LINE;
  r->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (r->fd < 0) {
    rc = sw_err_set(err, errno == ENOENT ? SW_ENOTFOUND : SW_EIO,
                    SW_ORIGIN_OS, errno, "%s: cannot open (%s)", path,
                    errno == ENOENT ? "no such file" : "not readable");
    sw_free(r);
    return rc;
  }
  if (hash) {
    r->md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(r->md, EVP_sha256(), NULL);
  }
  r->a = archive_read_new();
  archive_read_support_filter_all(r->a);
  archive_read_support_format_raw(r->a);
  archive_read_support_format_empty(r->a);
  if (archive_read_open(r->a, r, NULL, rd_cb, NULL) != ARCHIVE_OK) {
    rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_ARCHIVE, 0, "%s: %s", path,
                    archive_error_string(r->a)
                        ? archive_error_string(r->a)
                        : "unreadable");
    rd_close(r);
    return rc;
  }
  rc = archive_read_next_header(r->a, &e);
  if (rc == ARCHIVE_EOF) {
    r->eof = true;
  } else if (rc != ARCHIVE_OK) {
    rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_ARCHIVE, 0, "%s: %s", path,
                    archive_error_string(r->a)
                        ? archive_error_string(r->a)
                        : "unreadable");
    rd_close(r);
    return rc;
  }
  *out = r;
  return 0;
}

/* The next line (without '\n' and a '\r' before it) in *line and *len,
 * borrowed until the next call. 1: a line; 0: the end; < 0: error. */
static int rd_line(ig_reader *r, const char **line, size_t *len, sw_err *err)
{
  la_ssize_t n;
  const char *nl;
  size_t take;

  r->line.len = 0;
  if (r->line.ptr)
    r->line.ptr[0] = '\0';
  r->partial = false;
  for (;;) {
    if (r->cpos < r->clen) {
      nl = memchr(r->chunk + r->cpos, '\n', r->clen - r->cpos);
      take = nl ? (size_t)(nl - (r->chunk + r->cpos)) : r->clen - r->cpos;
      if (take && sw_buf_put(&r->line, r->chunk + r->cpos, take, NULL) < 0) {
        r->line.max = IG_MAX_LINE;
        return sw_err_set(err, SW_ELIMIT, SW_ORIGIN_NONE, 0,
                          "%s:%ld: line longer than %u bytes", r->path,
                          r->lineno + 1, IG_MAX_LINE);
      }
      r->cpos += take;
      r->partial = true;
      if (nl) {
        r->cpos++;
        break;
      }
      continue;
    }
    if (r->eof) {
      if (!r->partial)
        return 0;
      break;
    }
    n = archive_read_data(r->a, r->chunk, sizeof(r->chunk));
    if (n < 0)
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ARCHIVE, 0,
                        "%s: corrupt or truncated data after line %ld: %s",
                        r->path, r->lineno,
                        archive_error_string(r->a)
                            ? archive_error_string(r->a)
                            : "read error");
    if (n == 0)
      r->eof = true;
    r->clen = (size_t)n;
    r->cpos = 0;
  }
  r->lineno++;
  *line = r->line.ptr ? r->line.ptr : "";
  *len = r->line.len;
  if (*len && (*line)[*len - 1] == '\r')
    (*len)--;
  return 1;
}

/* Read the rest of the file into the hash (libarchive may stop early). */
static int rd_finish_hash(ig_reader *r, char hex[65], sw_err *err)
{
  unsigned char d[32];
  unsigned int dl = 0, i;
  ssize_t n;

  while ((n = read(r->fd, r->raw, sizeof(r->raw))) > 0)
    EVP_DigestUpdate(r->md, r->raw, (size_t)n);
  if (n < 0)
    return sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno, "%s: read failed",
                      r->path);
  EVP_DigestFinal_ex(r->md, d, &dl);
  for (i = 0; i < dl && i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", d[i]);
  return 0;
}

/* ---- delimited fields via libcsv ------------------------------------- */

typedef struct fields {
  char **v;      /* NULL for an empty unquoted field */
  size_t n, cap;
  bool more;     /* a second record on one line (should not happen) */
} fields;

static void fields_clear(fields *f)
{
  size_t i;

  for (i = 0; i < f->n; i++)
    sw_free(f->v[i]);
  f->n = 0;
  f->more = false;
}

static void fields_dispose(fields *f)
{
  fields_clear(f);
  sw_free(f->v);
  memset(f, 0, sizeof(*f));
}

static void on_field(void *s, size_t len, void *data)
{
  fields *f = data;

  if (f->n == f->cap) {
    f->cap = f->cap ? f->cap * 2 : 16;
    f->v = sw_realloc(f->v, f->cap * sizeof(char *));
  }
  f->v[f->n++] = s ? sw_strndup(s, len) : NULL;
}

static void on_record(int c, void *data)
{
  (void)c;
  (void)data;
}

typedef struct splitter {
  struct csv_parser p;
  bool init;
  char delim, quote;
} splitter;

static void sp_init(splitter *s, char delim, char quote)
{
  if (s->init)
    csv_free(&s->p);
  csv_init(&s->p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL |
                      CSV_EMPTY_IS_NULL);
  csv_set_delim(&s->p, (unsigned char)delim);
  csv_set_quote(&s->p, (unsigned char)quote);
  s->init = true;
  s->delim = delim;
  s->quote = quote;
}

static void sp_free(splitter *s)
{
  if (s->init)
    csv_free(&s->p);
  s->init = false;
}

/* Split one line into f; NULL or the reason it is malformed. */
static const char *sp_line(splitter *s, const char *line, size_t len,
                           fields *f)
{
  const char *why = NULL;

  fields_clear(f);
  if (csv_parse(&s->p, line, len, on_field, on_record, f) != len ||
      csv_fini(&s->p, on_field, on_record, f) != 0) {
    why = csv_error(&s->p) == CSV_EPARSE ? "malformed quoting"
                                         : csv_strerror(csv_error(&s->p));
    sp_init(s, s->delim, s->quote); /* reset after an error */
  }
  return why;
}

/* ---- check ------------------------------------------------------------ */

static const char *last_ext(const char *name)
{
  const char *d = strrchr(name, '.');
  return d ? d + 1 : "";
}

void ig_check_work(sw_ingest_task *t)
{
  const cJSON *cfgj = sw_json_get(sw_json_get(t->params, "lookup"),
                                  "config");
  ig_config c;
  ig_reader *r = NULL;
  struct stat st;
  const char *line;
  size_t len;
  sw_buf first = SW_BUF_INIT(0), last = SW_BUF_INIT(0);
  long first_no = 0, last_no = 0;
  long long nonblank = 0, data_lines, count = 0;
  char hex[65] = "";
  int rc;

  if (ig_config_parse(&c, cfgj, &t->err) < 0) {
    t->fail_name = E_CONFIG;
    return;
  }
  if (stat(t->file, &st) < 0) {
    t->fail_name = E_NOFILE;
    sw_err_set(&t->err, SW_ENOTFOUND, SW_ORIGIN_OS, errno,
               "%s: no such file", t->file);
    goto out;
  }
  if ((long long)st.st_size < t->set.min_size) {
    t->fail_name = E_TOOSMALL;
    sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
               "%s is %lld bytes, less than min_size_bytes %lld (%s "
               "[ingest])", t->name, (long long)st.st_size,
               t->set.min_size, t->set.path);
    goto out;
  }
  if (strcasecmp(last_ext(t->name), c.file_type) != 0) {
    t->fail_name = E_FILETYPE;
    sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
               "%s: extension '%s' is not the config's file_type '%s'",
               t->name, last_ext(t->name), c.file_type);
    goto out;
  }
  if ((rc = rd_open(&r, t->file, true, &t->err)) < 0) {
    t->fail_name = rc == SW_ENOTFOUND ? E_NOFILE : E_BADFILE;
    goto out;
  }
  while ((rc = rd_line(r, &line, &len, &t->err)) > 0) {
    if (len == 0)
      continue;
    nonblank++;
    if (nonblank == 1) {
      sw_buf_put(&first, line, len, NULL);
      first_no = r->lineno;
    }
    if (c.trailer) {
      last.len = 0;
      sw_buf_put(&last, line, len, NULL);
      last_no = r->lineno;
    }
  }
  if (rc < 0) {
    t->fail_name = E_BADFILE;
    goto out;
  }
  if (rd_finish_hash(r, hex, &t->err) < 0) {
    t->fail_name = E_BADFILE;
    goto out;
  }
  if (c.header) {
    if (nonblank < (c.trailer ? 2 : 1)) {
      t->fail_name = E_NOHEADER;
      sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                 "%s: header_flag is Y but the file has no header line",
                 t->name);
      goto out;
    }
    if (!c.fixed) {
      splitter s = {0};
      fields f = {0};
      const char *why;
      sp_init(&s, c.delim, c.quote);
      why = sp_line(&s, first.ptr, first.len, &f);
      if (why || f.n != c.n_cols) {
        t->fail_name = E_NOHEADER;
        sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                   "%s:%ld: header_flag is Y but the first line is not a "
                   "header of %zu fields (%s%zu fields)", t->name, first_no,
                   c.n_cols, why ? why : "", why ? 0 : f.n);
      }
      fields_dispose(&f);
      sp_free(&s);
      if (t->fail_name)
        goto out;
    }
  }
  data_lines = nonblank - (c.header ? 1 : 0) - (c.trailer ? 1 : 0);
  if (c.trailer) {
    char val[64];
    size_t a = (size_t)c.tr_start - 1, b = (size_t)c.tr_end, i, k = 0;
    if (nonblank < 1 + (c.header ? 1 : 0)) {
      t->fail_name = E_TRAILER;
      sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                 "%s: trailer_flag is Y but the file has no trailer line",
                 t->name);
      goto out;
    }
    if (b > last.len) {
      t->fail_name = E_TRAILER;
      sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                 "%s:%ld: the trailer line has %zu characters; "
                 "trailer_pstn %ld:%ld reaches past its end", t->name,
                 last_no, last.len, c.tr_start, c.tr_end);
      goto out;
    }
    for (i = a; i < b && k + 1 < sizeof(val); i++)
      if (last.ptr[i] != ' ')
        val[k++] = last.ptr[i];
    val[k] = '\0';
    for (i = 0; i < k; i++)
      if (val[i] < '0' || val[i] > '9')
        break;
    if (k == 0 || i < k || k > 18) {
      bool ascii = true;
      for (i = a; i < b; i++)
        ascii = ascii && (unsigned char)last.ptr[i] >= 0x20 &&
                (unsigned char)last.ptr[i] < 0x7F;
      t->fail_name = E_TRAILER;
      sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                 "%s:%ld: positions %ld-%ld of the trailer line hold "
                 "'%.*s', not a record count", t->name, last_no, c.tr_start,
                 c.tr_end, ascii ? (int)(b - a) : 0, last.ptr + a);
      goto out;
    }
    count = strtoll(val, NULL, 10);
    if (count != data_lines) {
      t->fail_name = E_TRAILER;
      sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                 "%s:%ld: the trailer says %lld records but the file has "
                 "%lld data lines", t->name, last_no, count, data_lines);
      goto out;
    }
  }
  t->out = cJSON_CreateObject();
  cJSON_AddNumberToObject(t->out, "bytes", (double)st.st_size);
  cJSON_AddStringToObject(t->out, "sha256", hex);
  cJSON_AddNumberToObject(t->out, "lines", (double)nonblank);
  cJSON_AddNumberToObject(t->out, "data_lines", (double)data_lines);
  if (c.trailer)
    cJSON_AddNumberToObject(t->out, "trailer_count", (double)count);
out:
  rd_close(r);
  sw_buf_dispose(&first);
  sw_buf_dispose(&last);
  ig_config_dispose(&c);
}

/* ---- split ------------------------------------------------------------ */

static bool compressed_ext(const char *e)
{
  return !strcasecmp(e, "gz") || !strcasecmp(e, "bz2") ||
         !strcasecmp(e, "xz") || !strcasecmp(e, "zst") ||
         !strcasecmp(e, "Z");
}

/* Write a data line to the part of the longest record prefix it starts
 * with; a line that starts with none is a bad row (counted, the first
 * IG_MAX_BAD described in *bad). Nothing is written once a row is bad. */
static void route(const ig_config *c, FILE **fp, const char *line,
                  size_t len, long no, const char *name, long *n_bad,
                  sw_buf *bad, const char *list)
{
  size_t i, best = c->n_prefixes, blen = 0, pl;

  for (i = 0; i < c->n_prefixes; i++) {
    pl = strlen(c->prefixes[i]);
    if (pl <= len && pl > blen && !memcmp(line, c->prefixes[i], pl)) {
      best = i;
      blen = pl;
    }
  }
  if (best == c->n_prefixes) {
    if ((*n_bad)++ < IG_MAX_BAD)
      sw_buf_printf(bad, NULL, "%s%s:%ld: '%.*s' starts with none of the "
                    "record prefixes %s", *n_bad > 1 ? "; " : "", name, no,
                    (int)ig_utf8_cut(line, len, 12), line, list);
    return;
  }
  if (*n_bad == 0) {
    fwrite(line, 1, len, fp[best]);
    fputc('\n', fp[best]);
  }
}

void ig_split_work(sw_ingest_task *t)
{
  const cJSON *cfgj = sw_json_get(sw_json_get(t->params, "lookup"),
                                  "config");
  ig_config c;
  ig_reader *r = NULL;
  FILE **fp = NULL;
  size_t i, n_dot, len;
  char *stem = NULL, *ext = NULL;
  const char *dot, *line;
  sw_buf held = SW_BUF_INIT(0), bad = SW_BUF_INIT(0), list = SW_BUF_INIT(0);
  long held_no = 0, n_bad = 0;
  bool have_held = false, header_seen = false;
  int rc;

  if (ig_config_parse(&c, cfgj, &t->err) < 0) {
    t->fail_name = E_CONFIG;
    return;
  }
  for (i = 0; i < c.n_prefixes; i++)
    sw_buf_printf(&list, NULL, "%s%s", i ? ", " : "", c.prefixes[i]);
  /* "<stem>.<ext>[.gz]" -> "<stem>-P.<ext>" */
  n_dot = strcspn(t->name, ".");
  stem = sw_strndup(t->name, n_dot);
  dot = t->name[n_dot] ? t->name + n_dot + 1 : "";
  ext = sw_strdup(*dot ? dot : "txt");
  if (strrchr(ext, '.') && compressed_ext(strrchr(ext, '.') + 1))
    *strrchr(ext, '.') = '\0';
  else if (compressed_ext(ext)) {
    sw_free(ext);
    ext = sw_strdup("txt");
  }
  if (sw_mkdirs(t->work_dir, &t->err) < 0) {
    t->fail_name = E_LOAD;
    goto out;
  }
  fp = sw_calloc(c.n_prefixes, sizeof(FILE *));
  for (i = 0; i < c.n_prefixes; i++) {
    t->parts[i].prefix = sw_strdup(c.prefixes[i]);
    t->parts[i].file = sw_asprintf("%s/%s-%s.%s", t->work_dir, stem,
                                   c.prefixes[i], ext);
    t->parts[i].name = sw_strdup(ig_basename(t->parts[i].file));
    fp[i] = fopen(t->parts[i].file, "w");
    if (!fp[i]) {
      t->fail_name = E_LOAD;
      sw_err_set(&t->err, SW_EIO, SW_ORIGIN_OS, errno, "cannot create %s",
                 t->parts[i].file);
      goto out;
    }
  }
  if ((rc = rd_open(&r, t->file, false, &t->err)) < 0) {
    t->fail_name = rc == SW_ENOTFOUND ? E_NOFILE : E_BADFILE;
    goto out;
  }
  for (;;) {
    rc = rd_line(r, &line, &len, &t->err);
    if (rc < 0) {
      t->fail_name = E_BADFILE;
      goto out;
    }
    if (rc == 0)
      break; /* a held line is the trailer: it stays with the parent */
    if (len == 0)
      continue;
    if (c.header && !header_seen) {
      header_seen = true;
      continue;
    }
    if (c.trailer) { /* hold each line back: the last one is the trailer */
      if (have_held)
        route(&c, fp, held.ptr, held.len, held_no, t->name, &n_bad, &bad, list.ptr);
      held.len = 0;
      sw_buf_put(&held, line, len, NULL);
      held_no = r->lineno;
      have_held = true;
      continue;
    }
    route(&c, fp, line, len, r->lineno, t->name, &n_bad, &bad, list.ptr);
  }
  if (n_bad) {
    t->fail_name = E_BADROW;
    t->pending_msg = sw_asprintf("%ld bad row%s (nothing was loaded): %s%s",
                                 n_bad, n_bad > 1 ? "s" : "",
                                 bad.ptr ? bad.ptr : "",
                                 n_bad > IG_MAX_BAD ? "; ..." : "");
    goto out;
  }
  for (i = 0; i < c.n_prefixes; i++) {
    bool werr = ferror(fp[i]) != 0;
    if ((fclose(fp[i]) != 0 || werr) && !t->fail_name) {
      t->fail_name = E_LOAD;
      sw_err_set(&t->err, SW_EIO, SW_ORIGIN_OS, errno, "cannot write %s",
                 t->parts[i].file);
    }
    fp[i] = NULL;
  }
out:
  if (fp)
    for (i = 0; i < c.n_prefixes; i++) {
      if (fp[i])
        fclose(fp[i]);
      if (t->fail_name && t->parts[i].file) /* nothing half-split stays */
        unlink(t->parts[i].file);
    }
  if (t->fail_name)
    rmdir(t->work_dir);
  sw_free(fp);
  rd_close(r);
  sw_buf_dispose(&held);
  sw_buf_dispose(&bad);
  sw_buf_dispose(&list);
  sw_free(stem);
  sw_free(ext);
  ig_config_dispose(&c);
}

/* ---- values ------------------------------------------------------------ */

static int days_in(int y, int m)
{
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : d[m - 1];
}

static bool digits(const char *s, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return false;
  return n > 0;
}

static int num(const char *s, size_t n)
{
  int v = 0;
  size_t i;

  for (i = 0; i < n; i++)
    v = v * 10 + (s[i] - '0');
  return v;
}

/* Parse a date at s (n bytes): *used = bytes consumed; YYYY-MM-DD into
 * out[11]. */
static bool parse_date(const char *s, size_t n, size_t *used, char out[16])
{
  int y, m, d;
  size_t a, b;

  if (n >= 10 && digits(s, 4) && s[4] == '-' && digits(s + 5, 2) &&
      s[7] == '-' && digits(s + 8, 2)) {
    y = num(s, 4);
    m = num(s + 5, 2);
    d = num(s + 8, 2);
    *used = 10;
  } else if (n >= 8 && digits(s, 8) && (n == 8 || !digits(s + 8, 1))) {
    y = num(s, 4);
    m = num(s + 4, 2);
    d = num(s + 6, 2);
    *used = 8;
  } else {
    for (a = 0; a < n && a < 3 && s[a] != '/'; a++)
      ;
    if (a == 0 || a > 2 || a >= n || s[a] != '/' || !digits(s, a))
      return false;
    for (b = a + 1; b < n && b < a + 4 && s[b] != '/'; b++)
      ;
    if (b == a + 1 || b - a - 1 > 2 || b >= n || s[b] != '/' ||
        !digits(s + a + 1, b - a - 1) || n < b + 5 ||
        !digits(s + b + 1, 4) || (n > b + 5 && digits(s + b + 5, 1)))
      return false;
    m = num(s, a);
    d = num(s + a + 1, b - a - 1);
    y = num(s + b + 1, 4);
    *used = b + 5;
  }
  if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in(y, m))
    return false;
  snprintf(out, 16, "%04d-%02d-%02d", y % 10000, m % 100, d % 100);
  return true;
}

static size_t utf8_chars(const char *s, size_t n)
{
  size_t i, k = 0;

  for (i = 0; i < n; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80)
      k++;
  return k;
}

/* Check v (n bytes, trimmed for non-text) against column c; the value to
 * load goes to norm. NULL when fine, else why (into why[cap]). */
static const char *check_value(const ig_col *c, const char *v, size_t n,
                               sw_buf *norm, char *why, size_t cap)
{
  char d[16];
  size_t used, i;

  norm->len = 0;
  if (c->kind != K_TEXT) {
    while (n && (*v == ' ' || *v == '\t')) {
      v++;
      n--;
    }
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
      n--;
  }
  switch (c->kind) {
  case K_TEXT:
    if (c->maxlen && (long long)utf8_chars(v, n) > c->maxlen) {
      snprintf(why, cap, "%zu characters, more than %s allows",
               utf8_chars(v, n), c->type);
      return why;
    }
    sw_buf_put(norm, v, n, NULL);
    return NULL;
  case K_DATE:
    if (!parse_date(v, n, &used, d) || used != n) {
      snprintf(why, cap, "not a date (YYYY-MM-DD, YYYYMMDD or M/D/YYYY)");
      return why;
    }
    sw_buf_puts(norm, d, NULL);
    return NULL;
  case K_TS:
    if (!parse_date(v, n, &used, d)) {
      snprintf(why, cap, "not a timestamp (a date, then HH:MM[:SS])");
      return why;
    }
    sw_buf_puts(norm, d, NULL);
    if (used < n) {
      const char *tm = v + used + 1;
      size_t tl = n - used - 1;
      if ((v[used] != ' ' && v[used] != 'T') || tl < 5 || !digits(tm, 2) ||
          tm[2] != ':' || !digits(tm + 3, 2) || num(tm, 2) > 23 ||
          num(tm + 3, 2) > 59 ||
          (tl > 5 && (tm[5] != ':' || tl < 8 || !digits(tm + 6, 2) ||
                      num(tm + 6, 2) > 60 ||
                      (tl > 8 && (tm[8] != '.' || !digits(tm + 9, tl - 9)))))) {
        snprintf(why, cap, "not a timestamp (a date, then HH:MM[:SS])");
        return why;
      }
      sw_buf_puts(norm, " ", NULL);
      sw_buf_put(norm, tm, tl, NULL);
      if (tl == 5)
        sw_buf_puts(norm, ":00", NULL);
    }
    return NULL;
  case K_INT: {
    char buf[32];
    char *end;
    long long x;
    if (n == 0 || n > 20) {
      snprintf(why, cap, "not an integer");
      return why;
    }
    memcpy(buf, v, n);
    buf[n] = '\0';
    errno = 0;
    x = strtoll(buf, &end, 10);
    if (*end || end == buf || !(buf[0] == '-' || buf[0] == '+' ||
                                (buf[0] >= '0' && buf[0] <= '9'))) {
      snprintf(why, cap, "not an integer");
      return why;
    }
    if (errno == ERANGE || x < c->imin || x > c->imax) {
      snprintf(why, cap, "out of range for %s", c->type);
      return why;
    }
    sw_buf_printf(norm, NULL, "%lld", x);
    return NULL;
  }
  case K_NUM: {
    size_t k = 0, intd = 0;
    bool dot = false, any = false, lead = true;
    if (k < n && (v[k] == '-' || v[k] == '+'))
      k++;
    for (i = k; i < n; i++) {
      if (v[i] == '.' && !dot) {
        dot = true;
        continue;
      }
      if (v[i] < '0' || v[i] > '9')
        break;
      any = true;
      if (!dot) {
        if (v[i] != '0')
          lead = false;
        if (!lead)
          intd++;
      }
    }
    if (!any || i < n) {
      snprintf(why, cap, "not a number");
      return why;
    }
    if (c->int_digits >= 0 && (int)intd > c->int_digits) {
      snprintf(why, cap, "too many digits for %s", c->type);
      return why;
    }
    sw_buf_put(norm, v, n, NULL);
    return NULL;
  }
  case K_FLOAT: {
    char buf[64];
    char *end;
    if (n == 0 || n >= sizeof(buf)) {
      snprintf(why, cap, "not a number");
      return why;
    }
    memcpy(buf, v, n);
    buf[n] = '\0';
    errno = 0;
    (void)strtod(buf, &end);
    if (*end || errno == ERANGE || strpbrk(buf, "nNiI")) {
      snprintf(why, cap, "not a number");
      return why;
    }
    sw_buf_put(norm, v, n, NULL);
    return NULL;
  }
  case K_BOOL: {
    static const char *const yes[] = {"t", "true", "y", "yes", "1"};
    static const char *const no[] = {"f", "false", "n", "no", "0"};
    for (i = 0; i < 5; i++) {
      if (strlen(yes[i]) == n && !strncasecmp(v, yes[i], n)) {
        sw_buf_puts(norm, "1", NULL);
        return NULL;
      }
      if (strlen(no[i]) == n && !strncasecmp(v, no[i], n)) {
        sw_buf_puts(norm, "0", NULL);
        return NULL;
      }
    }
    snprintf(why, cap, "not a boolean");
    return why;
  }
  }
  return NULL;
}

/* ---- converter ---------------------------------------------------------- */

typedef struct conv {
  const ig_part *p;
  const ig_config *c;
  ig_reader *r;
  bool started, done, header_seen;
  sw_buf held;
  long held_no;
  bool have_held;
  sw_buf out;
  size_t out_pos;
  long bad;
  sw_buf badmsg;
  char *fatal;       /* a read error, ends the load */
  splitter sp;
  fields f;
  sw_buf norm;
} conv;

void *ig_conv_new(const ig_part *p, bool skip_header, bool skip_trailer)
{
  conv *c = sw_calloc(1, sizeof(*c));

  (void)skip_header;
  (void)skip_trailer;
  c->p = p;
  c->c = &p->cfg;
  return c;
}

void ig_conv_free(void *payload)
{
  conv *c = payload;

  if (!c)
    return;
  rd_close(c->r);
  sw_buf_dispose(&c->held);
  sw_buf_dispose(&c->out);
  sw_buf_dispose(&c->badmsg);
  sw_buf_dispose(&c->norm);
  sw_free(c->fatal);
  sp_free(&c->sp);
  fields_dispose(&c->f);
  sw_free(c);
}

long ig_conv_bad(void *payload, const char **cause)
{
  conv *c = payload;

  *cause = c->badmsg.ptr ? c->badmsg.ptr : "";
  return c->bad;
}

static void bad_row(conv *c, long no, const char *fmt, ...) SW_PRINTF(3, 4);
static void bad_row(conv *c, long no, const char *fmt, ...)
{
  va_list ap;
  char *m;

  c->bad++;
  if (c->bad > IG_MAX_BAD)
    return;
  va_start(ap, fmt);
  m = sw_vasprintf(fmt, ap);
  va_end(ap);
  sw_buf_printf(&c->badmsg, NULL, "%s%s:%ld: %s", c->bad > 1 ? "; " : "",
                c->p->name, no, m);
  sw_free(m);
  if (c->bad >= IG_MAX_BAD)
    c->done = true; /* enough to act on: stop reading */
}

static void put_field(conv *c, const char *v, size_t n, bool null, bool first)
{
  size_t i, s = 0;

  if (!first)
    sw_buf_puts(&c->out, ",", NULL);
  if (null)
    return;
  sw_buf_puts(&c->out, "\"", NULL);
  for (i = 0; i < n; i++)
    if (v[i] == '"') {
      sw_buf_put(&c->out, v + s, i - s + 1, NULL);
      sw_buf_puts(&c->out, "\"", NULL);
      s = i + 1;
    }
  sw_buf_put(&c->out, v + s, n - s, NULL);
  sw_buf_puts(&c->out, "\"", NULL);
}

/* Advance n characters (UTF-8) from s within len; bytes consumed. */
static size_t chars(const char *s, size_t len, long n)
{
  size_t i = 0;

  while (n > 0 && i < len) {
    i++;
    while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
      i++;
    n--;
  }
  return i;
}

/* Offset of the first byte that is not part of valid UTF-8 (or is NUL),
 * or len when the whole line is valid. */
static size_t utf8_invalid(const unsigned char *s, size_t len)
{
  size_t i = 0, n, k;
  unsigned cp;

  while (i < len) {
    unsigned char b = s[i];
    if (b == 0)
      return i;
    if (b < 0x80) {
      i++;
      continue;
    }
    if (b >= 0xC2 && b <= 0xDF) {
      n = 1;
      cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
      n = 2;
      cp = b & 0x0F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      n = 3;
      cp = b & 0x07;
    } else {
      return i;
    }
    for (k = 1; k <= n; k++) {
      if (i + k >= len || (s[i + k] & 0xC0) != 0x80)
        return i;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
      return i;
    i += n + 1;
  }
  return len;
}

static void row(conv *c, const char *line, size_t len, long no)
{
  const ig_config *cf = c->c;
  size_t mark = c->out.len, i, off = 0, n;
  char why[160], vshow[48];
  const char *w;
  bool ok = true;

  if ((n = utf8_invalid((const unsigned char *)line, len)) < len) {
    bad_row(c, no, "byte %zu is not valid UTF-8", n + 1);
    return;
  }
  if (!cf->fixed) {
    w = sp_line(&c->sp, line, len, &c->f);
    if (w) {
      bad_row(c, no, "%s", w);
      return;
    }
    if (c->f.n != cf->n_cols) {
      bad_row(c, no, "%zu fields, expected %zu (delimiter '%c')", c->f.n,
              cf->n_cols, cf->delim);
      return;
    }
  } else if ((long)utf8_chars(line, len) != cf->total_width) {
    bad_row(c, no, "%zu characters, expected %ld (the sum of the "
            "column widths)", utf8_chars(line, len), cf->total_width);
    return;
  }
  for (i = 0; i < cf->n_cols && ok; i++) {
    const ig_col *col = &cf->cols[i];
    const char *v;
    if (cf->fixed) {
      size_t b = chars(line + off, len - off, col->width);
      v = line + off;
      n = b;
      off += b;
      while (n && v[n - 1] == ' ')
        n--;
      while (n && *v == ' ') {
        v++;
        n--;
      }
    } else {
      v = c->f.v[i];
      n = v ? strlen(v) : 0;
    }
    if (!v || n == 0) {
      if (col->notnull) {
        bad_row(c, no, "column %s (%zu): empty, but the column is NOT NULL",
                col->name, i + 1);
        ok = false;
      }
      put_field(c, "", 0, true, i == 0);
      continue;
    }
    if (check_value(col, v, n, &c->norm, why, sizeof(why))) {
      snprintf(vshow, sizeof(vshow), "%.*s%s", (int)ig_utf8_cut(v, n, 40), v,
               n > 40 ? "..." : "");
      bad_row(c, no, "column %s (%zu): '%s' is %s", col->name, i + 1, vshow,
              why);
      ok = false;
      continue;
    }
    put_field(c, c->norm.ptr ? c->norm.ptr : "", c->norm.len, false, i == 0);
  }
  if (!ok || c->bad) {
    c->out.len = mark;
    return;
  }
  sw_buf_puts(&c->out, "\n", NULL);
}

static void produce(conv *c)
{
  const char *line;
  size_t len;
  sw_err e = SW_ERR_INIT;
  int rc = rd_line(c->r, &line, &len, &e);

  if (rc < 0) {
    c->fatal = sw_strdup(e.msg);
    c->done = true;
    return;
  }
  if (rc == 0) {
    c->done = true; /* a held line is the trailer: dropped */
    return;
  }
  if (len == 0)
    return;
  if (c->p->skip_header && !c->header_seen) {
    c->header_seen = true;
    return;
  }
  if (c->p->skip_trailer) {
    if (c->have_held) /* the held line was not the last: a data line */
      row(c, c->held.ptr, c->held.len, c->held_no);
    c->held.len = 0;
    sw_buf_put(&c->held, line, len, NULL);
    c->held_no = c->r->lineno;
    c->have_held = true;
    return;
  }
  row(c, line, len, c->r->lineno);
}

int ig_conv_read(void *payload, char *buf, size_t cap, size_t *n_out,
                 sw_err *err)
{
  conv *c = payload;
  size_t avail;
  int rc;

  *n_out = 0;
  if (cap == 0)
    return 0;
  if (!c->started) {
    c->started = true;
    if (!c->c->fixed)
      sp_init(&c->sp, c->c->delim, c->c->quote);
    rc = rd_open(&c->r, c->p->file, false, err);
    if (rc < 0)
      return rc;
  }
  while (!c->done && c->out.len - c->out_pos < cap)
    produce(c);
  if (c->fatal)
    return sw_err_set(err, SW_EIO, SW_ORIGIN_NONE, 0, "%s", c->fatal);
  if (c->bad)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0, "%ld bad row%s",
                      c->bad, c->bad > 1 ? "s" : "");
  avail = c->out.len - c->out_pos;
  if (avail > cap)
    avail = cap;
  memcpy(buf, c->out.ptr + c->out_pos, avail);
  c->out_pos += avail;
  /* keep the buffer at about one chunk: move the rest to the front */
  memmove(c->out.ptr, c->out.ptr + c->out_pos, c->out.len - c->out_pos);
  c->out.len -= c->out_pos;
  c->out_pos = 0;
  *n_out = avail;
  return 0;
}
