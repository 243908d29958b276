#!/usr/bin/env bash
# workflows/direct_data.asl.json end to end on PostgreSQL (--warehouse
# postgresql://...): the Vault peer (tests/peers/vault) serves archives from
# tools/directdata_gen; Full -> three Incrementals (updates, deletes, a new
# column, a dropped column) + one with record_count 0 -> Log, and after each
# run the warehouse equals the generator's model (typed: NUMERIC, DATE,
# TIMESTAMPTZ, BOOLEAN). Then re-running every step changes no table and
# downloads nothing again. Crash test: killed after the n-th state-store
# commit of a full, an incremental and a log run, for every 3rd n (every n
# with SW_DD_CRASH_ALL=1; none with SW_DD_CRASH=none), then resumed: the
# warehouse equals the model and no verified part is downloaded again.
# Needs SW_TEST_PG_DSN (tools/test starts a server); exits 77 without it,
# node or psql.
. "$(dirname "$0")/lib.sh"
[ -n "${SW_TEST_PG_DSN:-}" ] || { echo "skip: SW_TEST_PG_DSN is not set"; exit 77; }
command -v psql >/dev/null || { echo "skip: psql not found"; exit 77; }
command -v node >/dev/null || { echo "skip: node not found"; exit 77; }
command -v sqlite3 >/dev/null || { echo "skip: sqlite3 not found"; exit 77; }
pq() { psql "$1" -X -q -A -t -F '|' -c "$2" 2>&1; }
DBNAME="swdd_$$"
pq "$SW_TEST_PG_DSN" "DROP DATABASE IF EXISTS $DBNAME" >/dev/null
pq "$SW_TEST_PG_DSN" "CREATE DATABASE $DBNAME" >/dev/null
DB="${SW_TEST_PG_DSN%/*}/$DBNAME"
cd "$T"
node "$SRC/tools/directdata_gen/gen.mjs" --out gen --rows 60 --part-size 700 >/dev/null || { bad "generator"; finish; exit 1; }
node "$SRC/tests/peers/vault/server.mjs" --dir gen >peer.out 2>peer.err &
PEER=$!
trap 'kill $PEER 2>/dev/null; pq "$SW_TEST_PG_DSN" "DROP DATABASE IF EXISTS $DBNAME" >/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 50); do grep -q listening peer.out 2>/dev/null && break; sleep 0.1; done
U=$(head -1 peer.out | cut -d' ' -f2)
[ -n "$U" ] && ok "vault peer at $U, warehouse $DBNAME" || { bad "vault peer did not start"; cat peer.err; finish; exit 1; }
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
run() { "$SW" start direct_data --workflows "$SRC/workflows" --home "$H" --warehouse "$DB" --quiet --json --input "$1"; }
FULL='{"step":"retrieve","start_time":"2000-01-01T00:00Z","stop_time":"2025-01-01T00:00Z","extract_type":"full","continue_processing":true,"secret":"demo"}'
INC1='{"step":"retrieve","extract_type":"incremental","stop_time":"2025-01-01T00:15Z","continue_processing":true,"secret":"demo","now":"2025-01-01T00:31Z"}'
INC='{"extract_type":"incremental","secret":"demo","now":"2025-01-01T01:10Z"}'
LOG='{"extract_type":"log","secret":"demo","now":"2025-01-01T02:00Z"}'
same() { # same MODEL DESCRIPTION
  if node "$SRC/tests/peers/vault/compare.mjs" "gen/expected/$1.json" "$DB" >cmp.out 2>&1; then ok "$2"
  else bad "$2"; sed 's/^/    | /' cmp.out | head -10; fi
}
downloads() { curl -s "$U/__peer/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);console.log(Object.values(j.downloads).reduce((a,b)=>a+b,0))})'; }
# every user table, typed columns included, in a stable order
dump() {
  local t
  for t in $(pq "$DB" "SELECT table_name FROM information_schema.tables WHERE table_schema='public' AND table_name NOT LIKE 'stepwise%' AND table_name NOT LIKE '\\_dd\\_%' ORDER BY 1"); do
    echo "== $t"
    pq "$DB" "SELECT column_name, data_type FROM information_schema.columns WHERE table_name='$t' ORDER BY 1"
    pq "$DB" "SELECT * FROM \"$t\" ORDER BY 1, 2, 3"
  done
}

expect_exit 0 "full extract SUCCEEDED on postgres" -- run "$FULL"
same 999999-20250101-0000-F "warehouse = model after the Full file"
ty=$(pq "$DB" "SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name='study__v' AND column_name IN ('enrollment__c','start_date__c','modified_date__v','blinded__c','id')")
[ "$ty" = "blinded__c:boolean,enrollment__c:numeric,id:text,modified_date__v:timestamp with time zone,start_date__c:date" ] \
  && ok "Vault types map to BOOLEAN, NUMERIC, TEXT, TIMESTAMPTZ, DATE" || bad "column types: $ty"
expect_exit 0 "first incremental window SUCCEEDED" -- run "$INC1"
same 999999-20250101-0015-N "warehouse = model after 0015-N (updates, deletes, reordered columns)"
expect_exit 0 "incrementals from the cursor SUCCEEDED" -- run "$INC"
same 999999-20250101-0100-N "warehouse = model after 0030/0045/0100-N (new column, dropped column, deletes, record_count 0)"
m=$(pq "$DB" "SELECT length FROM metadata WHERE extract='Object.study__v' AND column_name='name__v'")/$(pq "$DB" "SELECT count(*) FROM metadata WHERE column_name='enrollment__c'")/$(pq "$DB" "SELECT max(length(name__v)) FROM study__v")
[ "$m" = "1500/0/621" ] && ok "metadata patched: name__v widened to 1500 (a 621-character name loaded), enrollment__c's row deleted" || bad "metadata patches: $m"
c=$(pq "$DB" "SELECT stop_time FROM _dd_cursor WHERE extract_type='incremental'")
[ "$c" = "2025-01-01T01:00Z" ] && ok "cursor advanced past the record_count 0 file ($c)" || bad "cursor: $c"
expect_exit 0 "log extract SUCCEEDED" -- run "$LOG"
same final "warehouse = model after the Log file (duplicates dropped)"

dump >before
d1=$(downloads)
expect_exit 0 "full again SUCCEEDED" -- run "$FULL"
expect_exit 0 "incrementals again SUCCEEDED" -- run "$INC"
expect_exit 0 "log again SUCCEEDED" -- run "$LOG"
dump >after
[ "$(wc -l <before)" -gt 100 ] && cmp -s before after && ok "re-running every step changes no table" \
  || { bad "re-run changed the warehouse"; diff before after | head -5; }
d2=$(downloads)
[ "$d1" = "$d2" ] && ok "re-running downloads no verified part again ($d1 downloads)" || bad "downloads went from $d1 to $d2"

# ---- crash and resume -----------------------------------------------------------
WH=$DB
stats() { curl -s "$U/__peer/stats"; }
fresh() {
  rm -rf "$T/store" "$H"; curl -s -X POST "$U/__peer/reset" >/dev/null
  pq "$DB" "DROP SCHEMA public CASCADE; CREATE SCHEMA public" >/dev/null
}
. "$SRC/tests/cli/dd_lib.sh"
if [ "${SW_DD_CRASH:-sample}" != none ]; then
  STEP=${STEP:-3}
  [ "${SW_DD_CRASH_ALL:-0}" = 1 ] && STEP=1
  sweep full 999999-20250101-0000-F "$FULL"
  sweep incremental 999999-20250101-0100-N "$INC" "$FULL"
  sweep log final "$LOG" "$FULL" "$INC"
  [ -z "$crash_bad" ] && ok "killed at $crash_points commit points (one in $STEP) of a full, an incremental (3 files) and a log run, resumed: warehouse = model, no verified part downloaded again" \
    || bad "crash points:$crash_bad"
fi
finish
