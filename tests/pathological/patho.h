/* SPDX-License-Identifier: MIT */
/* Helpers for the pathological tests: a wall clock, peak RSS, and an
 * engine on a real loop and store (as tests/integration/engine does). */
#ifndef SW_PATHO_H
#define SW_PATHO_H

#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "sw_test.h"
#include "engine/engine.h"
#include "resources/resources.h"
#include "store/store.h"
#include "warehouse/warehouse.h"

/* Generous bounds: the tests normally take well under a second each, the
 * 100,000-item Map a few seconds. Time is CPU time (user + system) of the
 * process, so that a loaded machine does not fail them; a hang is caught
 * by the ctest TIMEOUT. */
#define PATHO_MAX_SECONDS 10.0
#define PATHO_MAX_RSS_MB 1024L

/* CPU seconds (user + system) this process has used so far. */
static inline double patho_now(void)
{
  struct rusage ru;

  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Wall-clock seconds, for reports. */
static inline double patho_wall(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Peak resident set size of this process so far, in MiB. */
static inline long patho_peak_rss_mb(void)
{
  struct rusage ru;

  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

typedef struct patho_engine {
  uv_loop_t loop;
  sw_store *store;
  sw_warehouse *wh;
  sw_resources *res;
  sw_engine *eng;
  sw_asl_definition *def;
  int done;
} patho_engine;

static inline void patho_on_done(const char *id, const char *status,
                                 void *payload)
{
  patho_engine *h = payload;

  (void)id;
  (void)status;
  h->done++;
}

static inline int patho_open(patho_engine *h, sw_err *err)
{
  sw_engine_opts eo;
  char *path = sw_asprintf("%s/state.db", sw_test_tmpdir());
  int rc;

  memset(h, 0, sizeof(*h));
  uv_loop_init(&h->loop);
  rc = sw_store_open(&h->store, path, err);
  sw_free(path);
  if (rc == 0)
    rc = sw_warehouse_open(&h->wh, &h->loop, NULL, sw_test_tmpdir(), err);
  if (rc == 0)
    rc = sw_resources_new(&h->res, &h->loop, h->wh, "sql", err);
  memset(&eo, 0, sizeof(eo));
  eo.on_done = patho_on_done;
  eo.payload = h;
  if (rc == 0)
    rc = sw_engine_new(&h->eng, &h->loop, h->store, h->res, &eo, err);
  return rc;
}

static inline void patho_wh_closed(void *p) { *(bool *)p = true; }

static inline int patho_close(patho_engine *h)
{
  bool closed = false;

  sw_engine_free(h->eng);
  uv_run(&h->loop, UV_RUN_NOWAIT);
  sw_resources_free(h->res);
  if (h->wh) {
    sw_warehouse_close(h->wh, patho_wh_closed, &closed);
    while (!closed && uv_run(&h->loop, UV_RUN_ONCE))
      ;
  }
  uv_run(&h->loop, UV_RUN_DEFAULT);
  sw_store_close(h->store);
  sw_asl_free(h->def);
  return uv_loop_close(&h->loop);
}

/* Parse `def_text`, start it with `input` (JSON text) and run the loop
 * until it finishes; the execution's record goes to *e (dispose it). */
static inline int patho_run(patho_engine *h, const char *def_text,
                            const char *input, sw_store_execution *e,
                            sw_err *err)
{
  sw_engine_start_req req;
  cJSON *in = NULL;
  char id[37];
  int rc;

  memset(e, 0, sizeof(*e));
  rc = sw_asl_parse(&h->def, def_text, strlen(def_text), "patho.asl.json",
                    err);
  if (rc == 0)
    rc = sw_json_parse(&in, input, strlen(input), "input", err);
  if (rc < 0)
    return rc;
  memset(&req, 0, sizeof(req));
  req.def = h->def;
  req.definition_text = def_text;
  req.workflow = "pathological";
  req.input = in;
  rc = sw_engine_start(h->eng, &req, id, err);
  cJSON_Delete(in);
  if (rc < 0)
    return rc;
  while (h->done < 1)
    if (uv_run(&h->loop, UV_RUN_ONCE) == 0 && h->done < 1)
      break;
  return sw_store_get_execution(h->store, id, e, err);
}

#endif
