#!/usr/bin/env bash
# Resume after SIGKILL at a commit point: a Wait continues with the time
# that is left (not from the start), variables and Map/Parallel progress
# survive, and the output equals an uninterrupted run's.
. "$(dirname "$0")/lib.sh"
H="$T/h"
cat >"$T/flow.asl.json" <<'J'
{"StartAt": "Init", "States": {
  "Init": {"Type": "Pass", "Assign": {"greeting": "hello", "n": 3},
           "Result": [1, 2, 3], "ResultPath": "$.items", "Next": "Fan"},
  "Fan": {"Type": "Parallel", "ResultPath": "$.fan", "Next": "Nap", "Branches": [
    {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
      "MaxConcurrency": 1, "ItemSelector": {"v.$": "$$.Map.Item.Value", "g.$": "$greeting"},
      "ItemProcessor": {"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 0, "Next": "P"},
        "P": {"Type": "Pass", "End": true}}}, "End": true}}},
    {"StartAt": "B", "States": {"B": {"Type": "Pass", "Parameters": {"n.$": "$n"}, "End": true}}}]},
  "Nap": {"Type": "Wait", "Seconds": 2, "Next": "Done"},
  "Done": {"Type": "Pass", "Parameters": {"fan.$": "$.fan", "greeting.$": "$greeting"}, "End": true}}}
J
expect_exit 0 "uninterrupted run" -- "$SW" exec "$T/flow.asl.json" --home "$T/ref" --quiet --json
want=$(sqlite3 "$T/ref/state.db" "SELECT output FROM executions WHERE status = 'SUCCEEDED'")
[ -n "$want" ] && ok "reference output: $want" || bad "no reference output"

# Kill at each of the first commit points, resume, compare.
for n in 2 3 4 5 6; do
  rm -rf "$H"
  ( STEPWISE_FAULT=kill-after-commit:$n exec "$SW" exec "$T/flow.asl.json" --home "$H" --quiet >/dev/null 2>&1 )
  rc=$?
  id=$(sqlite3 "$H/state.db" "SELECT id FROM executions")
  if [ $rc -ne 137 ]; then bad "commit $n: not killed (exit $rc)"; continue; fi
  "$SW" resume "$id" --home "$H" --quiet --json >"$T/out" 2>"$T/err"
  got=$(sqlite3 "$H/state.db" "SELECT output FROM executions WHERE status = 'SUCCEEDED'")
  [ "$got" = "$want" ] && ok "killed at commit $n, resumed: same output" || { bad "commit $n: got $got"; cat "$T/err"; }
done

# A kill during the 2 s Nap: the resume waits only for what is left.
rm -rf "$H"
"$SW" exec "$T/flow.asl.json" --home "$H" --quiet >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  st=$(sqlite3 "$H/state.db" "SELECT state FROM branches WHERE path = '' AND phase = 'wait'" 2>/dev/null)
  [ "$st" = Nap ] && break; sleep 0.05
done
sleep 1
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
id=$(sqlite3 "$H/state.db" "SELECT id FROM executions")
t0=$(date +%s%N)
"$SW" resume "$id" --home "$H" --quiet --json >"$T/out" 2>"$T/err"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$st" = Nap ] && [ $ms -lt 1800 ] && ok "Wait resumed with the time left (${ms} ms of 2000)" || bad "Wait took ${ms} ms after resume (state $st)"
got=$(sqlite3 "$H/state.db" "SELECT output FROM executions WHERE status = 'SUCCEEDED'")
[ "$got" = "$want" ] && ok "resumed Wait: same output" || bad "resumed Wait output: $got"
# Two processes never run one execution: a resume while it runs is refused.
rm -rf "$H"
"$SW" exec "$T/flow.asl.json" --home "$H" --quiet >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  id=$(sqlite3 "$H/state.db" "SELECT id FROM executions" 2>/dev/null)
  [ -n "$id" ] && break; sleep 0.05
done
expect_exit 2 "resume while another process runs it is refused" -- "$SW" resume "$id" --home "$H" --quiet
expect_err "being run by another stepwise process" "the refusal says why"
wait $pid
finish
