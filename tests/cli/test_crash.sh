#!/usr/bin/env bash
# Crash test (DESIGN.md §4.7): kill the process with SIGKILL at every
# commit point in turn, and at random moments, then resume; the warehouse
# must end identical (row by row) to an uninterrupted run, and every batch
# must have committed exactly once (etl_batch_log has one row per step,
# the statement registry one FINISHED statement per submit).
# SW_CRASH_POINTS=N limits the commit points tried (default: all).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sales_lib.sh"
cd "$SRC"
IN='{"run_date": "2021-06-26", "scale": 1, "poll_seconds": 0}'
start() { "$SW" start sales_data_pipeline --home "$1" --quiet --input "$IN" >/dev/null 2>&1; }

# Resume until the execution is no longer RUNNING, optionally killing each
# resume at commit point $2 too. Fails after 50 tries.
resume_all() {
  local h=$1 kill_at=${2:-} id tries=0 st
  id=$(sqlite3 "$h/state.db" "SELECT id FROM executions ORDER BY start_ms DESC LIMIT 1" 2>/dev/null)
  # Killed before the execution was created: nothing happened; start it.
  [ -n "$id" ] || { start "$h"; return; }
  while :; do
    st=$(sqlite3 "$h/state.db" "SELECT status FROM executions WHERE id='$id'")
    [ "$st" = RUNNING ] || break
    tries=$((tries + 1)); [ $tries -gt 50 ] && return 1
    if [ -n "$kill_at" ]; then
      # Each resume dies a little later than the one before, so the
      # batches (which run beside the engine) eventually get to commit.
      STEPWISE_FAULT=kill-after-commit:$((kill_at + tries / 3)) "$SW" resume "$id" --home "$h" --quiet >/dev/null 2>&1
    else
      "$SW" resume "$id" --home "$h" --quiet >/dev/null 2>&1
    fi
  done
  [ "$st" = SUCCEEDED ]
}

verify() {
  local h=$1 label=$2 n
  dump_wh "$h/warehouse.db" >"$T/got"
  if cmp -s "$T/ref" "$T/got"; then ok "$label: warehouse identical to the uninterrupted run"; else
    bad "$label: warehouse differs"; diff "$T/ref" "$T/got" | head -6; fi
  n=$(sqlite3 "$h/warehouse.db" "SELECT count(*) FROM stepwise_statements WHERE status = 'FINISHED'")
  [ "$n" = "$ref_statements" ] || bad "$label: $n finished statements, expected $ref_statements"
}

R="$T/ref_home"
start "$R" || { bad "reference run failed"; finish; exit 1; }
dump_wh "$R/warehouse.db" >"$T/ref"
ref_statements=$(sqlite3 "$R/warehouse.db" "SELECT count(*) FROM stepwise_statements")
grep -q "^== etl_batch_log" "$T/ref" && [ "$(sed -n '/^== etl_batch_log/,$p' "$T/ref" | wc -l)" -gt 1 ] \
  && ok "reference run logged its batches" || bad "reference run has no etl_batch_log rows"

limit=${SW_CRASH_POINTS:-1000}
n=1; killed=0
while [ $n -le "$limit" ]; do
  H="$T/k$n"
  STEPWISE_FAULT=kill-after-commit:$n "$SW" start sales_data_pipeline --home "$H" --quiet --input "$IN" >/dev/null 2>&1
  rc=$?
  if [ $rc -ne 137 ]; then
    [ $rc -eq 0 ] && ok "run with $((n - 1)) commit points finished without a kill" || bad "kill point $n: exit $rc"
    rm -rf "$H"; break
  fi
  killed=$((killed + 1))
  if resume_all "$H"; then verify "$H" "killed at commit $n"; else bad "killed at commit $n: resume did not succeed"; fi
  rm -rf "$H"
  n=$((n + 1))
done
[ $killed -gt 10 ] && ok "killed at $killed commit points" || bad "only $killed commit points were tried"

# Kill the resumes as well: each resume dies at its 2nd commit or soon
# after.
H="$T/kk"
STEPWISE_FAULT=kill-after-commit:3 "$SW" start sales_data_pipeline --home "$H" --quiet --input "$IN" >/dev/null 2>&1
if resume_all "$H" 2; then verify "$H" "resumes killed again and again"; else bad "repeatedly killed resumes did not finish"; fi

# Random moments: SIGKILL after a random delay, then resume.
for i in 1 2 3 4 5 6; do
  H="$T/r$i"
  ( exec "$SW" start sales_data_pipeline --home "$H" --quiet --input "$IN" >/dev/null 2>&1 ) &
  pid=$!
  sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  if resume_all "$H"; then verify "$H" "random kill $i"; else bad "random kill $i: resume did not succeed"; fi
  rm -rf "$H"
done
finish
