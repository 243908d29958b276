#!/usr/bin/env bash
# The sales pipeline on PostgreSQL (--warehouse postgresql://...), as on
# SQLite: SCD1/SCD2/fact invariants, an idempotent re-run, a failing
# validation; then the crash test (DESIGN.md §4.7): SIGKILL at every
# commit point, resume, and the warehouse must equal an uninterrupted
# run row by row, with every batch committed once (etl_batch_log) and
# one FINISHED registry row per submit. Each run gets a fresh database.
# Needs SW_TEST_PG_DSN (tools/test starts a server); exits 77 without it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sales_lib.sh"
[ -n "${SW_TEST_PG_DSN:-}" ] || { echo "skip: SW_TEST_PG_DSN is not set"; exit 77; }
command -v psql >/dev/null || { echo "skip: psql not found"; exit 77; }
cd "$SRC"
# newdb TAG: create a fresh database, print its URL.
newdb() {
  local name="swcli_$$_$1"
  pq "$SW_TEST_PG_DSN" "DROP DATABASE IF EXISTS $name" >/dev/null
  pq "$SW_TEST_PG_DSN" "CREATE DATABASE $name" >/dev/null
  echo "${SW_TEST_PG_DSN%/*}/$name"
}
# resetdb URL: empty it again (cheaper than a new database per kill).
resetdb() {
  pq "$1" "DROP SCHEMA public CASCADE; CREATE SCHEMA public" >/dev/null
  echo "$1"
}
dropdbs() {
  local d
  for d in $(pq "$SW_TEST_PG_DSN" "SELECT datname FROM pg_database WHERE datname LIKE 'swcli\_$$\_%'"); do
    pq "$SW_TEST_PG_DSN" "DROP DATABASE IF EXISTS $d" >/dev/null
  done
}
trap 'dropdbs; rm -rf "$T"' EXIT
IN='{"run_date": "2021-06-26", "scale": 1, "poll_seconds": 0}'

# ---- end to end ---------------------------------------------------------
DB=$(newdb e2e); H="$T/h"
run() { "$SW" start sales_data_pipeline --home "$H" --warehouse "$DB" --quiet --json "$@"; }
expect_exit 0 "day 1 (2021-06-26) SUCCEEDED on postgres" -- run --input "$IN"
check_invariants "$DB" 2021-06-26 "pg day 1" pq
expect_exit 0 "day 2 (2021-06-27) SUCCEEDED on postgres" -- run --input '{"run_date": "2021-06-27", "scale": 1, "poll_seconds": 0}'
check_invariants "$DB" 2021-06-27 "pg day 2" pq
closed=$(pq "$DB" "SELECT count(*) FROM item WHERE i_rec_end_date = '2021-06-27'")
[ "${closed:-0}" -gt 0 ] && ok "SCD2 closed $closed versions on day 2" || bad "SCD2 closed: $closed"
pq "$DB" "DELETE FROM etl_batch_log" >/dev/null
dump_wh_pg "$DB" >"$T/before"
expect_exit 0 "day 2 again SUCCEEDED" -- run --input '{"run_date": "2021-06-27", "scale": 1, "poll_seconds": 0}'
pq "$DB" "DELETE FROM etl_batch_log" >/dev/null
dump_wh_pg "$DB" >"$T/after"
[ "$(grep -c '|' "$T/before")" -gt 100 ] && cmp -s "$T/before" "$T/after" && ok "re-running a day changes no table" || { bad "re-running day 2 changed tables"; diff "$T/before" "$T/after" | head -5; }
expect_exit 1 "a run date with no data FAILS" -- run --input '{"run_date": "2035-01-01", "scale": 1, "poll_seconds": 0}'
grep -qE '"error":[[:space:]]*"Validation.Failed"' "$T/out" && ok "error is Validation.Failed" || bad "error: $(grep error "$T/out")"

# ---- crash test -----------------------------------------------------------
start() { "$SW" start sales_data_pipeline --home "$1" --warehouse "$2" --quiet --input "$IN" >/dev/null 2>&1; }
resume_all() {
  local h=$1 db=$2 id tries=0 st
  id=$(sqlite3 "$h/state.db" "SELECT id FROM executions ORDER BY start_ms DESC LIMIT 1" 2>/dev/null)
  [ -n "$id" ] || { start "$h" "$db"; return; }
  while :; do
    st=$(sqlite3 "$h/state.db" "SELECT status FROM executions WHERE id='$id'")
    [ "$st" = RUNNING ] || break
    tries=$((tries + 1)); [ $tries -gt 20 ] && return 1
    "$SW" resume "$id" --home "$h" --warehouse "$db" --quiet >/dev/null 2>&1
  done
  [ "$st" = SUCCEEDED ]
}
verify() {
  local db=$1 label=$2 n
  dump_wh_pg "$db" >"$T/got"
  if cmp -s "$T/ref" "$T/got"; then ok "$label: warehouse identical to the uninterrupted run"; else
    bad "$label: warehouse differs"; diff "$T/ref" "$T/got" | head -6; fi
  n=$(pq "$db" "SELECT string_agg(step || ':' || n, ' ' ORDER BY step) FROM (SELECT step, count(*) n FROM etl_batch_log GROUP BY step) x")
  [ "$n" = "fact_store_sales:1 scd1_customer_address:1 scd2_item:1 setup:1" ] || bad "$label: batches committed: $n"
  n=$(pq "$db" "SELECT count(*) FROM stepwise_statements WHERE status = 'FINISHED'")
  [ "$n" = "$ref_statements" ] || bad "$label: $n finished statements, expected $ref_statements"
}
RDB=$(newdb ref)
start "$T/ref_home" "$RDB" || { bad "reference run failed"; finish; exit 1; }
dump_wh_pg "$RDB" >"$T/ref"
ref_statements=$(pq "$RDB" "SELECT count(*) FROM stepwise_statements")
# Every commit point by default; SW_CRASH_STEP=k tries every k-th.
step=${SW_CRASH_STEP:-1}
n=1; killed=0; CDB=$(newdb crash)
while [ $n -le 1000 ]; do
  H="$T/k$n"; DB=$(resetdb "$CDB")
  STEPWISE_FAULT=kill-after-commit:$n "$SW" start sales_data_pipeline --home "$H" --warehouse "$DB" --quiet --input "$IN" >/dev/null 2>&1
  rc=$?
  if [ $rc -ne 137 ]; then
    [ $rc -eq 0 ] && ok "postgres run with $((n - 1)) commit points finished without a kill" || bad "kill point $n: exit $rc"
    break
  fi
  killed=$((killed + 1))
  if resume_all "$H" "$DB"; then verify "$DB" "pg killed at commit $n"; else bad "pg killed at commit $n: resume did not succeed"; fi
  rm -rf "$H"
  n=$((n + step))
done
[ $killed -gt 10 ] && ok "killed at $killed commit points on postgres" || bad "only $killed commit points were tried"
finish
