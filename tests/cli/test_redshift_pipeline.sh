#!/usr/bin/env bash
# The sales pipeline on the Redshift Data API (--warehouse redshift-data://)
# through the Data API peer (tests/peers/data_api: SigV4 checked with AWS's
# signer, bodies checked against botocore's model, SQL run on PostgreSQL),
# with the SCD/fact invariants checked by psql on the peer's database.
# Then exactly-once on resume: SIGKILL at commit points and, precisely,
# between a submit reaching the service and the checkpoint of its Id (the
# peer holds the response back); after resume the peer's statement log
# must show every ClientToken run exactly once, and etl_batch_log one row
# per step. Needs SW_TEST_PG_DSN, psql and node_modules; exits 77 without.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sales_lib.sh"
[ -n "${SW_TEST_PG_DSN:-}" ] || { echo "skip: SW_TEST_PG_DSN is not set"; exit 77; }
command -v psql >/dev/null || { echo "skip: psql not found"; exit 77; }
command -v node >/dev/null || { echo "skip: node not found"; exit 77; }
[ -d "$SRC/node_modules/@smithy/signature-v4" ] || { echo "skip: node_modules missing (npm ci)"; exit 77; }
cd "$SRC"

DBNAME="swrs_$$"
pq "$SW_TEST_PG_DSN" "DROP DATABASE IF EXISTS $DBNAME" >/dev/null
pq "$SW_TEST_PG_DSN" "CREATE DATABASE $DBNAME" >/dev/null
DB="${SW_TEST_PG_DSN%/*}/$DBNAME"
PLOG="$T/peer.log"
node tests/peers/data_api/server.mjs --pg "$DB" --log "$PLOG" --step-ms 5 \
  --model "${SW_SHARED:-$SRC/../shared}/reference/botocore/redshift-data/service-2.json" \
  >"$T/peer.out" 2>"$T/peer.err" &
PEER=$!
cleanup() {
  kill "$PEER" 2>/dev/null; wait "$PEER" 2>/dev/null
  pq "$SW_TEST_PG_DSN" "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" >/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
for _ in $(seq 100); do grep -q listening "$T/peer.out" 2>/dev/null && break; sleep 0.1; done
PEER_URL=$(sed -n 's/^listening //p' "$T/peer.out")
[ -n "$PEER_URL" ] || { bad "the Data API peer did not start: $(cat "$T/peer.err")"; finish; exit 1; }
ctl() { curl -s -X POST -d "$2" "$PEER_URL/__peer/$1" >/dev/null; }

export AWS_ACCESS_KEY_ID=AKIDSTEPWISETEST AWS_SECRET_ACCESS_KEY=stepwise-test-secret
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION
export AWS_ENDPOINT_URL_REDSHIFT_DATA="$PEER_URL"
Q='secret_arn=arn:aws:secretsmanager:us-east-1:123456789012:secret:x&region=us-east-1'
# A workgroup name is 3..128 characters (botocore's WorkgroupNameString):
# "wg" is refused by the service with a message naming the member.
expect_exit 1 "workgroup 'wg' is refused by the service" -- "$SW" start sales_data_pipeline --home "$T/hwg" --warehouse "redshift-data://wg/DB?$Q" --quiet --json --input '{"run_date": "2021-06-26", "poll_seconds": 0}'
grep -q "RedshiftData.ValidationException" "$T/out" && grep -q "'wg' at 'WorkgroupName'" "$T/out" && ok "the error names WorkgroupName" || bad "wg: $(grep -o '"cause"[^}]*' "$T/out" | head -c 300)"
WH="redshift-data://sales-wg/DB?$Q&retry_base_ms=20"
run() { "$SW" start sales_data_pipeline --home "$1" --warehouse "$WH" --quiet --json --input "$2"; }
in_for() { echo "{\"run_date\": \"$1\", \"scale\": 1, \"poll_seconds\": 0}"; }

# tokens_once: every ClientToken in the peer log ran exactly once and was
# submitted as one statement (repeats answered by dedupe).
tokens_once() {
  node -e '
    const fs = require("fs"); const runs = {}, subs = {};
    for (const l of fs.readFileSync(process.argv[1], "utf8").split("\n")) {
      if (!l) continue; const e = JSON.parse(l);
      if (e.event === "submit") subs[e.token] = (subs[e.token] || 0) + 1;
      if (e.event === "run" && e.status === "FINISHED") runs[e.token] = (runs[e.token] || 0) + 1;
    }
    const bad = Object.keys(subs).filter((t) => subs[t] !== 1 || (runs[t] || 0) > 1);
    const dd = fs.readFileSync(process.argv[1], "utf8").split("\n").filter((l) => l.includes("\"dedupe\"")).length;
    console.log(bad.length ? "BAD " + bad.join(",") : "OK " + Object.keys(subs).length + " " + dd);
  ' "$PLOG"
}

# ---- end to end ---------------------------------------------------------
H="$T/h"
expect_exit 0 "day 1 (2021-06-26) SUCCEEDED on redshift-data" -- run "$H" "$(in_for 2021-06-26)"
grep -qE '"status":[[:space:]]*"SUCCEEDED"' "$T/out" && ok "--json prints SUCCEEDED" || bad "output: $(head -c 300 "$T/out")"
check_invariants "$DB" 2021-06-26 "redshift day 1" pq
expect_exit 0 "day 2 (2021-06-27) SUCCEEDED on redshift-data" -- run "$H" "$(in_for 2021-06-27)"
check_invariants "$DB" 2021-06-27 "redshift day 2" pq
closed=$(pq "$DB" "SELECT count(*) FROM item WHERE i_rec_end_date = '2021-06-27'")
[ "${closed:-0}" -gt 0 ] 2>/dev/null && ok "SCD2: $closed price changes closed on day 2" || bad "SCD2 closed: $closed"
grep -q '"op":"BatchExecuteStatement"' "$PLOG" && ok "scripts went as BatchExecuteStatement" || bad "no batch in the peer log"
grep -q '"op":"ExecuteStatement"' "$PLOG" && ok "single statements went as ExecuteStatement" || bad "no ExecuteStatement in the peer log"
v=$(tokens_once); [ "${v%% *}" = OK ] && ok "every ClientToken ran once ($v)" || bad "tokens: $v"
expect_exit 1 "a run date with no data FAILS" -- run "$H" "$(in_for 2035-01-01)"
grep -qE '"error":[[:space:]]*"Validation.Failed"' "$T/out" && ok "error is Validation.Failed" || bad "error: $(grep -o '"error"[^,]*' "$T/out")"

# Throttling and 5xx on the way: retried inside the driver, run unchanged.
ctl fault '{"kind":"throttle","count":3}'
ctl fault '{"kind":"500","count":2,"action":"DescribeStatement"}'
ctl fault '{"kind":"reset","count":1,"action":"BatchExecuteStatement","after":true}'
expect_exit 0 "day 3 with throttling, 500s and a lost response SUCCEEDED" -- run "$H" "$(in_for 2021-06-28)"
check_invariants "$DB" 2021-06-28 "redshift day 3 (faults)" pq

# ---- exactly once on resume ---------------------------------------------
# batch_once DATE: one etl_batch_log row per step for DATE.
batch_once() {
  pq "$DB" "SELECT string_agg(step || ':' || n, ' ' ORDER BY step) FROM (SELECT step, count(*) n FROM etl_batch_log WHERE run_date = '$1' GROUP BY step) x"
}
resume_all() {
  local h=$1 id tries=0 st
  id=$(sqlite3 "$h/state.db" "SELECT id FROM executions ORDER BY start_ms DESC LIMIT 1" 2>/dev/null)
  [ -n "$id" ] || { run "$h" "$2" >/dev/null 2>&1; return; }
  while :; do
    st=$(sqlite3 "$h/state.db" "SELECT status FROM executions WHERE id='$id'")
    [ "$st" = RUNNING ] || break
    tries=$((tries + 1)); [ $tries -gt 20 ] && return 1
    "$SW" resume "$id" --home "$h" --quiet >/dev/null 2>&1
  done
  [ "$st" = SUCCEEDED ]
}
EXPECT="fact_store_sales:1 scd1_customer_address:1 scd2_item:1 setup:1"

# A kill between the submit reaching the service and the checkpoint of its
# Id: the peer runs the batch but holds its answer back; we kill then.
day=10
for action in BatchExecuteStatement:0 BatchExecuteStatement:2 ExecuteStatement:0; do
  a=${action%%:*}; skip=${action##*:}
  d="2021-07-$day"; day=$((day + 1)); Hk="$T/k_$d"
  ctl fault "{\"kind\":\"delay\",\"count\":1,\"action\":\"$a\",\"skip\":$skip,\"delay_ms\":60000}"
  before=$(grep -c '"event":"submit"' "$PLOG")
  ( exec "$SW" start sales_data_pipeline --home "$Hk" --warehouse "$WH" --quiet --input "$(in_for "$d")" >/dev/null 2>&1 ) &
  pid=$!
  # Wait for the held submit: the (skip+1)-th new submit of that action.
  want=$((skip + 1)); n=0
  for _ in $(seq 300); do
    n=$(tail -n +"$((before + 1))" "$PLOG" | grep '"event":"submit"' | grep -c "\"op\":\"$a\"")
    [ "$n" -ge "$want" ] && break; sleep 0.05
  done
  sleep 0.2
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  if resume_all "$Hk" "$(in_for "$d")"; then ok "killed after submit #$want of $a, before its Id was saved: resumed to SUCCEEDED"; else bad "$a#$want: resume did not succeed"; fi
  v=$(batch_once "$d"); [ "$v" = "$EXPECT" ] && ok "$d: each batch committed once ($v)" || bad "$d: batches $v"
done
grep -q '"event":"dedupe"' "$PLOG" && ok "resumed submits were answered by ClientToken dedupe" || bad "no dedupe in the peer log"

# Kills at commit points (SW_CRASH_POINTS, default every 3rd of the first
# 80, until a run ends without a kill), each followed by resumes.
limit=${SW_CRASH_POINTS:-80}; n=1; killed=0
while [ $n -le "$limit" ]; do
  d=$(date -u -d "2021-08-01 + $n days" +%F); Hk="$T/c$n"
  ( STEPWISE_FAULT=kill-after-commit:$n exec "$SW" start sales_data_pipeline --home "$Hk" --warehouse "$WH" --quiet --input "$(in_for "$d")" >/dev/null 2>&1 )
  rc=$?
  [ $rc -ne 137 ] && { [ $rc -eq 0 ] && ok "no kill at commit $n: the run had fewer commits" || bad "kill point $n: exit $rc"; break; }
  killed=$((killed + 1))
  if resume_all "$Hk" "$(in_for "$d")"; then
    v=$(batch_once "$d"); [ "$v" = "$EXPECT" ] && ok "killed at commit $n: resumed, each batch once" || bad "killed at commit $n: batches $v"
  else bad "killed at commit $n: resume did not succeed"; fi
  rm -rf "$Hk"
  n=$((n + ${SW_CRASH_STRIDE:-3}))
done
[ $killed -ge 5 ] && ok "killed at $killed commit points" || bad "only $killed commit points"
v=$(tokens_once); [ "${v%% *}" = OK ] && ok "peer log: every ClientToken ran exactly once ($v)" || bad "peer log: $v"
finish
