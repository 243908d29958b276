#!/usr/bin/env bash
# workflows/direct_data.asl.json end to end on Redshift
# (--warehouse redshift-data://...): the Vault peer (tests/peers/vault)
# serves archives from tools/directdata_gen; the Data API peer
# (tests/peers/data_api) runs the statements on PostgreSQL with Redshift's
# dialect (no ON CONFLICT, no cast to BOOLEAN, TEXT = VARCHAR(256), bare
# NUMERIC = (18,0), keys not enforced); bulk loads go to the S3 peer
# (tests/peers/s3) and in with COPY ... FROM 's3://...' IAM_ROLE.
# Full -> three Incrementals (updates, deletes, a new column, a dropped
# column) + one with record_count 0 -> Log; after each run the warehouse
# equals the generator's model. Re-running every step changes no table.
# Then killed after sampled state-store commits and resumed, and a Full of
# 25 tables (more statements than one batch runs) is loaded (see below).
# Needs SW_TEST_PG_DSN (tools/test starts a server); exits 77 without it,
# node, node_modules, psql or sqlite3.
. "$(dirname "$0")/lib.sh"
[ -n "${SW_TEST_PG_DSN:-}" ] || { echo "skip: SW_TEST_PG_DSN is not set"; exit 77; }
command -v psql >/dev/null || { echo "skip: psql not found"; exit 77; }
command -v node >/dev/null || { echo "skip: node not found"; exit 77; }
command -v sqlite3 >/dev/null || { echo "skip: sqlite3 not found"; exit 77; }
[ -d "$SRC/node_modules/s3rver" ] && [ -d "$SRC/node_modules/@smithy/signature-v4" ] \
  || { echo "skip: node_modules missing (npm ci)"; exit 77; }
pq() { psql "$1" -X -q -A -t -F '|' -c "$2" 2>&1; }
DBNAME="swddrs_$$"
pq "$SW_TEST_PG_DSN" "DROP DATABASE IF EXISTS $DBNAME" >/dev/null
pq "$SW_TEST_PG_DSN" "CREATE DATABASE $DBNAME" >/dev/null
DB="${SW_TEST_PG_DSN%/*}/$DBNAME"
cd "$T"
PIDS=""
cleanup() {
  local p
  for p in $PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  pq "$SW_TEST_PG_DSN" "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" >/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
# start NAME CMD...: a peer in the background; its URL in $URL
start() {
  local name=$1; shift
  "$@" >"$name.out" 2>"$name.err" &
  PIDS="$PIDS $!"
  for _ in $(seq 100); do grep -q listening "$name.out" 2>/dev/null && break; sleep 0.1; done
  URL=$(sed -n 's/^listening //p' "$name.out")
  [ -n "$URL" ] || { bad "the $name peer did not start: $(head -c 300 "$name.err")"; finish; exit 1; }
}

node "$SRC/tools/directdata_gen/gen.mjs" --out gen --rows 60 --part-size 700 >/dev/null || { bad "generator"; finish; exit 1; }
start vault node "$SRC/tests/peers/vault/server.mjs" --dir gen
U=$URL
start s3 node --openssl-legacy-provider "$SRC/tests/peers/s3/server.mjs" --dir "$T/s3" --bucket stage
export AWS_ACCESS_KEY_ID=AKIDSTEPWISETEST AWS_SECRET_ACCESS_KEY=stepwise-test-secret AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_REGION AWS_ENDPOINT_URL
export AWS_ENDPOINT_URL_S3=$URL
start data_api node "$SRC/tests/peers/data_api/server.mjs" --pg "$DB" --log "$T/dataapi.log" --step-ms 2 \
  --model "${SW_SHARED:-$SRC/../shared}/reference/botocore/redshift-data/service-2.json"
export AWS_ENDPOINT_URL_REDSHIFT_DATA=$URL
ok "peers up: vault $U, S3, Data API on $DBNAME"
cat >dd.ini <<INI
[demo]
vault_dns = 127.0.0.1
vault_url = $U
vault_username = integration@example.com
vault_password = p&ss+word=1
vault_id = 999999
object_store = $T/store
INI
export STEPWISE_DIRECTDATA_CONFIG=$T/dd.ini
H=$T/h
RS="redshift-data://dd-wg/dev?secret_arn=arn:aws:secretsmanager:us-east-1:123456789012:secret:dd&region=us-east-1"
RS="$RS&s3_staging=s3%3A%2F%2Fstage%2Fdd-loads&iam_role=arn:aws:iam::123456789012:role/RedshiftCopy&retry_base_ms=20"
run() { "$SW" start direct_data --workflows "$SRC/workflows" --home "$H" --warehouse "$RS" --quiet --json --input "$1"; }
FULL='{"step":"retrieve","start_time":"2000-01-01T00:00Z","stop_time":"2025-01-01T00:00Z","extract_type":"full","continue_processing":true,"secret":"demo"}'
INC1='{"step":"retrieve","extract_type":"incremental","stop_time":"2025-01-01T00:15Z","continue_processing":true,"secret":"demo","now":"2025-01-01T00:31Z"}'
INC='{"extract_type":"incremental","secret":"demo","now":"2025-01-01T01:10Z"}'
LOG='{"extract_type":"log","secret":"demo","now":"2025-01-01T02:00Z"}'
same() { # same MODEL DESCRIPTION
  if node "$SRC/tests/peers/vault/compare.mjs" "gen/expected/$1.json" "$DB" >cmp.out 2>&1; then ok "$2"
  else bad "$2"; sed 's/^/    | /' cmp.out | head -10; fi
}
# every user table, typed columns included, in a stable order
dump() {
  local t
  for t in $(pq "$DB" "SELECT table_name FROM information_schema.tables WHERE table_schema='public' AND table_name NOT LIKE '\\_dd\\_%' ORDER BY 1"); do
    echo "== $t"
    pq "$DB" "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale FROM information_schema.columns WHERE table_name='$t' ORDER BY 1"
    pq "$DB" "SELECT * FROM \"$t\" ORDER BY 1, 2, 3"
  done
  pq "$DB" "SELECT * FROM _dd_cursor ORDER BY 1"
  pq "$DB" "SELECT * FROM _dd_loaded ORDER BY 1"
  pq "$DB" "SELECT * FROM _dd_columns ORDER BY 1, 2"
}
fails() { grep -c '"status":"FAILED"' "$T/dataapi.log"; }

# Without s3_staging and iam_role there is nowhere to COPY from: the run
# FAILS naming what to add, and no table is made.
NOSTAGE="redshift-data://dd-wg/dev?secret_arn=arn:aws:secretsmanager:us-east-1:123456789012:secret:dd&region=us-east-1&retry_base_ms=20"
expect_exit 1 "a warehouse URL without s3_staging FAILS" -- "$SW" start direct_data --workflows "$SRC/workflows" --home "$T/h0" --warehouse "$NOSTAGE" --quiet --json --input "$FULL"
grep -q "DirectData.LoadFailed" "$T/out" && grep -q "s3_staging=s3://BUCKET/PREFIX" "$T/out" \
  && ok "the error is DirectData.LoadFailed and names s3_staging=s3://BUCKET/PREFIX&iam_role=..." || bad "no staging: $(head -c 400 "$T/out")"
n=$(pq "$DB" "SELECT count(*) FROM information_schema.tables WHERE table_schema='public' AND table_name NOT LIKE '\\_dd\\_%'")
[ "$n" = 0 ] && ok "no table made by the failed load" || bad "$n tables after the failed load"

expect_exit 0 "full extract SUCCEEDED on redshift-data" -- run "$FULL"
same 999999-20250101-0000-F "warehouse = model after the Full file"
ty=$(pq "$DB" "SELECT string_agg(column_name || ':' || data_type || coalesce('(' || character_maximum_length || ')', '') || coalesce('(' || numeric_precision || ',' || numeric_scale || ')', ''), ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name='study__v' AND column_name IN ('enrollment__c','start_date__c','modified_date__v','blinded__c','id')")
[ "$ty" = "blinded__c:boolean,enrollment__c:numeric(38,10),id:character varying(65535),modified_date__v:timestamp with time zone,start_date__c:date" ] \
  && ok "Vault types map to BOOLEAN, DECIMAL(38,10), VARCHAR(65535), TIMESTAMPTZ, DATE" || bad "column types: $ty"
c=$(pq "$DB" "SELECT count(*) FROM information_schema.columns WHERE table_name LIKE '\\_dd\\_%' AND data_type = 'character varying' AND character_maximum_length = 256")
[ "$c" = 0 ] && ok "bookkeeping tables declare their VARCHAR sizes" || bad "$c bookkeeping columns fell back to Redshift's TEXT = VARCHAR(256)"
grep -q '"event":"copy"' "$T/dataapi.log" && ok "staged CSVs went in by COPY from S3" || bad "no COPY in the Data API log"
expect_exit 0 "first incremental window SUCCEEDED" -- run "$INC1"
same 999999-20250101-0015-N "warehouse = model after 0015-N (updates, deletes, reordered columns)"
expect_exit 0 "incrementals from the cursor SUCCEEDED" -- run "$INC"
same 999999-20250101-0100-N "warehouse = model after 0030/0045/0100-N (new column, dropped column, deletes, record_count 0)"
m=$(pq "$DB" "SELECT length FROM metadata WHERE extract='Object.study__v' AND column_name='name__v'")/$(pq "$DB" "SELECT count(*) FROM metadata WHERE column_name='enrollment__c'")/$(pq "$DB" "SELECT max(octet_length(name__v)) FROM study__v")
[ "$m" = "1500/0/1221" ] && ok "metadata patched: name__v widened to 1500 (a 1221-byte name loaded, past VARCHAR(256)), enrollment__c's row deleted" || bad "metadata patches: $m"
c=$(pq "$DB" "SELECT stop_time FROM _dd_cursor WHERE extract_type='incremental'")/$(pq "$DB" "SELECT count(*) FROM _dd_cursor")
[ "$c" = "2025-01-01T01:00Z/2" ] && ok "one cursor row per extract type, advanced past the record_count 0 file ($c)" || bad "cursor: $c"
expect_exit 0 "log extract SUCCEEDED" -- run "$LOG"
same final "warehouse = model after the Log file (duplicates dropped although keys are not enforced)"
n=$(find "$T/s3/stage" -type f 2>/dev/null | grep -c .)
[ -d "$T/s3/stage" ] && [ "$n" = 0 ] && ok "no staged object left in s3://stage" || bad "$n objects left in the staging bucket"

dump >before
f1=$(fails)
expect_exit 0 "full again SUCCEEDED" -- run "$FULL"
expect_exit 0 "incrementals again SUCCEEDED" -- run "$INC"
expect_exit 0 "log again SUCCEEDED" -- run "$LOG"
dump >after
[ "$(wc -l <before)" -gt 100 ] && cmp -s before after && ok "re-running every step changes no table" \
  || { bad "re-run changed the warehouse"; diff before after | head -5; }
[ "$f1" = 0 ] && [ "$(fails)" = 0 ] && ok "no statement FAILED on the Data API peer" \
  || bad "statements failed: $(grep '"FAILED"' "$T/dataapi.log" | head -3)"

# ---- crash and resume -----------------------------------------------------------
# Killed right after the n-th state-store commit of an incremental run (3
# files: DDL, deletes, upserts) and of a log run, for every STEP-th n (4;
# every n with SW_DD_CRASH_ALL=1; none with SW_DD_CRASH=none), resumed: the
# warehouse equals the model (a batch resubmitted with its ClientToken runs
# once; staging is reloaded) and no verified part is downloaded again.
WH=$DB
stats() { curl -s "$U/__peer/stats"; }
fresh() {
  rm -rf "$T/store" "$H"; curl -s -X POST "$U/__peer/reset" >/dev/null
  pq "$DB" "DROP SCHEMA public CASCADE; CREATE SCHEMA public" >/dev/null
}
. "$SRC/tests/cli/dd_lib.sh"
if [ "${SW_DD_CRASH:-sample}" != none ]; then
  STEP=${STEP:-4}
  [ "${SW_DD_CRASH_ALL:-0}" = 1 ] && STEP=1
  sweep incremental 999999-20250101-0100-N "$INC" "$FULL"
  sweep log final "$LOG" "$FULL" "$INC"
  [ -z "$crash_bad" ] && ok "killed at $crash_points commit points (one in $STEP) of an incremental (3 files) and a log run on redshift-data, resumed: warehouse = model, no verified part downloaded again" \
    || bad "crash points:$crash_bad"
fi

# ---- a Full with 25 tables ------------------------------------------------------
# Its apply needs ~60 statements, more than one BatchExecuteStatement runs
# (40): they go into stored procedures that one batch CALLs and drops, so
# the file still applies in one transaction.
node "$SRC/tools/directdata_gen/gen.mjs" --out gen25 --rows 20 --tables 20 --only-full >/dev/null || bad "generator --tables"
start vault25 node "$SRC/tests/peers/vault/server.mjs" --dir gen25
sed "s|^vault_url = .*|vault_url = $URL|; s|^object_store = .*|object_store = $T/store25|" dd.ini >dd25.ini
rm -rf "$H"; pq "$DB" "DROP SCHEMA public CASCADE; CREATE SCHEMA public" >/dev/null
STEPWISE_DIRECTDATA_CONFIG=$T/dd25.ini expect_exit 0 "a Full of 25 tables SUCCEEDED on redshift-data" -- run "$FULL"
if node "$SRC/tests/peers/vault/compare.mjs" gen25/expected/final.json "$DB" >cmp.out 2>&1; then ok "warehouse = model (25 tables) after the Full"
else bad "warehouse = model (25 tables)"; sed 's/^/    | /' cmp.out | head -10; fi
n=$(pq "$DB" "SELECT count(*) FROM pg_proc WHERE proname LIKE '\\_dd\\_apply\\_%'")
[ "$n" = 0 ] && ok "the apply procedures were dropped in the same batch" || bad "$n apply procedures left"
finish
