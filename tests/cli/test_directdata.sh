#!/usr/bin/env bash
# workflows/direct_data.asl.json end to end against the Vault peer
# (tests/peers/vault) serving archives from tools/directdata_gen, on the
# embedded sqlite warehouse: Full -> three Incrementals (updates, deletes,
# a new column, a dropped column) + one with record_count 0 -> Log; after
# each run the warehouse must equal the generator's model. Then: re-runs
# change nothing and download nothing again; injected faults (expired
# session, burst delay, FAILURE with HTTP 200, md5 mismatch, truncated
# part, slow part) end in SUCCEEDED after retry; bad credentials and a
# cursor more than 10 days old end FAILED with a named error and a cause
# that says what to do; a session that expires mid-run costs one re-login;
# killed at every commit point of a full, an incremental and a log run
# (SW_DD_CRASH=none skips that sweep; STEP=k samples every k-th point) and
# mid-download, then resumed, the warehouse equals the model and no part
# verified before the kill is downloaded again. A 44 MiB part streams to
# disk: the retrieve step's peak memory stays below half its size.
# Skips (77) without node or the sqlite3 CLI.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null || { echo "skip: node not found"; exit 77; }
command -v sqlite3 >/dev/null || { echo "skip: sqlite3 not found"; exit 77; }
[ -d "$SRC/node_modules" ] || { echo "skip: node_modules missing (npm install)"; exit 77; }
cd "$T"
node "$SRC/tools/directdata_gen/gen.mjs" --out gen --rows 60 --part-size 700 >/dev/null || { bad "generator"; finish; exit 1; }
node "$SRC/tests/peers/vault/server.mjs" --dir gen >peer.out 2>peer.err &
PEER=$!
trap 'kill $PEER 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 50); do grep -q listening peer.out 2>/dev/null && break; sleep 0.1; done
U=$(head -1 peer.out | cut -d' ' -f2)
[ -n "$U" ] && ok "vault peer at $U" || { bad "vault peer did not start"; cat peer.err; finish; exit 1; }
ini() { # ini FILE PASSWORD
  cat >"$1" <<INI
[demo]
vault_dns = 127.0.0.1
vault_url = $U
vault_username = integration@example.com
vault_password = $2
vault_id = 999999
object_store = $T/store
INI
}
ini dd.ini 'p&ss+word=1'
export STEPWISE_DIRECTDATA_CONFIG=$T/dd.ini
H=$T/h
run() { "$SW" start direct_data --workflows "$SRC/workflows" --home "$H" --quiet --json --input "$1"; }
FULL='{"step":"retrieve","start_time":"2000-01-01T00:00Z","stop_time":"2025-01-01T00:00Z","extract_type":"full","continue_processing":true,"secret":"demo"}'
INC1='{"step":"retrieve","extract_type":"incremental","stop_time":"2025-01-01T00:15Z","continue_processing":true,"secret":"demo","now":"2025-01-01T00:31Z"}'
INC='{"extract_type":"incremental","secret":"demo","now":"2025-01-01T01:10Z"}'
LOG='{"extract_type":"log","secret":"demo","now":"2025-01-01T02:00Z"}'
same() { # same MODEL DESCRIPTION
  if node "$SRC/tests/peers/vault/compare.mjs" "gen/expected/$1.json" "$H/warehouse.db" >cmp.out; then ok "$2"
  else bad "$2"; sed 's/^/    | /' cmp.out | head -10; fi
}
stats() { curl -s "$U/__peer/stats"; }
fault() { curl -s -X POST -d "$1" "$U/__peer/fault" >/dev/null; }
dump() { sqlite3 "$1" ".dump" | grep -v stepwise_statements | grep -v '^INSERT INTO "\?_dd_' ; }

# ---- the sequence ----------------------------------------------------------
expect_exit 0 "full extract SUCCEEDED" -- run "$FULL"
same 999999-20250101-0000-F "warehouse = model after the Full file"
expect_exit 0 "first incremental window SUCCEEDED" -- run "$INC1"
same 999999-20250101-0015-N "warehouse = model after 0015-N (updates, deletes, reordered columns)"
expect_exit 0 "incrementals from the cursor SUCCEEDED" -- run "$INC"
same 999999-20250101-0100-N "warehouse = model after 0030/0045/0100-N (new column, dropped column, deletes, record_count 0)"
m=$(sqlite3 "$H/warehouse.db" "SELECT length FROM metadata WHERE extract='Object.study__v' AND column_name='name__v'")/$(sqlite3 "$H/warehouse.db" "SELECT count(*) FROM metadata WHERE column_name='enrollment__c'")/$(sqlite3 "$H/warehouse.db" "SELECT max(length(name__v)) FROM study__v")
[ "$m" = "1500/0/621" ] && ok "metadata patched: name__v widened to 1500 (a 621-character name loaded), enrollment__c's row deleted" || bad "metadata patches: $m"
c=$(sqlite3 "$H/warehouse.db" "SELECT stop_time FROM _dd_cursor WHERE extract_type='incremental'")
[ "$c" = "2025-01-01T01:00Z" ] && ok "cursor advanced past the record_count 0 file ($c)" || bad "cursor: $c"
[ ! -d "$T/store/999999-20250101-0100-N/parts" ] && ok "record_count 0: nothing downloaded" || bad "record_count 0 file was downloaded"
expect_exit 0 "log extract SUCCEEDED" -- run "$LOG"
same final "warehouse = model after the Log file (duplicates dropped)"

# ---- re-running changes nothing ------------------------------------------
dump "$H/warehouse.db" >before
s1=$(stats)
expect_exit 0 "full again SUCCEEDED" -- run "$FULL"
expect_exit 0 "incrementals again SUCCEEDED" -- run "$INC"
expect_exit 0 "log again SUCCEEDED" -- run "$LOG"
dump "$H/warehouse.db" >after
cmp -s before after && ok "re-running every step changes no table" || { bad "re-run changed the warehouse"; diff before after | head -5; }
s2=$(stats)
d1=$(echo "$s1" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);console.log(Object.values(j.downloads).reduce((a,b)=>a+b,0))})')
d2=$(echo "$s2" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);console.log(Object.values(j.downloads).reduce((a,b)=>a+b,0))})')
[ "$d1" = "$d2" ] && ok "re-running downloads no verified part again ($d1 downloads)" || bad "downloads went from $d1 to $d2"

# ---- faults ----------------------------------------------------------------
fresh() { rm -rf "$T/store" "$H"; curl -s -X POST "$U/__peer/reset" >/dev/null; }
P1=999999-20250101-0000-F.001
for f in '{"kind":"expire"}' '{"kind":"burst","count":3,"delay_ms":300}' '{"kind":"failure","count":1}' \
         "{\"kind\":\"md5\",\"part\":\"$P1\"}" "{\"kind\":\"truncate\",\"part\":\"$P1\"}" \
         "{\"kind\":\"slow\",\"part\":\"$P1\",\"delay_ms\":800}"; do
  fresh
  [ "$(echo "$f" | grep -c expire)" = 1 ] && { run "$FULL" >/dev/null 2>&1; rm -rf "$T/store" "$H"; }
  fault "$f"
  expect_exit 0 "fault $f: SUCCEEDED after retry" -- run "$FULL"
  same 999999-20250101-0000-F "fault $f: warehouse = model"
done
fresh
ini bad.ini 'wrong'
STEPWISE_DIRECTDATA_CONFIG=$T/bad.ini expect_exit 1 "wrong password FAILS" -- run "$FULL"
grep -q '"error":[[:space:]]*"DirectData.AuthFailed"' "$T/out" && grep -q 'vault_password' "$T/out" \
  && ok "error DirectData.AuthFailed, cause names vault_password" || bad "auth failure: $(grep -E '"(error|cause)"' "$T/out")"
grep -q 'wrong' "$T/out" "$T/err" && bad "the password appears in the output" || ok "the password is not in the output"
fresh
expect_exit 0 "full (for the staleness check)" -- run "$FULL"
expect_exit 1 "incremental 12 days behind FAILS" -- run '{"extract_type":"incremental","secret":"demo","now":"2025-01-13T00:00Z"}'
grep -q '"error":[[:space:]]*"DirectData.FullReloadRequired"' "$T/out" && grep -q 'full reload' "$T/out" \
  && ok "error DirectData.FullReloadRequired says to run a full reload" || bad "staleness: $(grep -E '"(error|cause)"' "$T/out")"

# ---- re-login mid-run ----------------------------------------------------------
# The session expires after 3 requests (listing + 2 parts): the next part
# request answers INVALID_SESSION_ID, the client logs in again once and
# goes on; no part is fetched twice.
fresh
fault '{"kind":"expire_after","requests":3}'
expect_exit 0 "session expired mid-run: SUCCEEDED after one re-login" -- run "$FULL"
same 999999-20250101-0000-F "session expired mid-run: warehouse = model"
st=$(stats)
echo "$st" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);const d=Object.values(j.downloads);process.exit(j.expired===1&&j.auth===2&&d.length===4&&d.every(v=>v===1)?0:1)})' \
  && ok "one expiry, two logins, every part downloaded once" || bad "re-login stats: $st"

# ---- crash and resume -----------------------------------------------------------
WH=$H/warehouse.db
. "$SRC/tests/cli/dd_lib.sh"
if [ "${SW_DD_CRASH:-all}" != none ]; then
  STEP=${STEP:-1}
  sweep full 999999-20250101-0000-F "$FULL"
  sweep incremental 999999-20250101-0100-N "$INC" "$FULL"
  sweep log final "$LOG" "$FULL" "$INC"
  [ -z "$crash_bad" ] && ok "killed at each of $crash_points commit points of a full, an incremental (3 files) and a log run, resumed: warehouse = model, no verified part downloaded again" \
    || bad "crash points:$crash_bad"
fi

# kill mid-download: three parts verified, the fourth stalled at the peer
fresh
fault "{\"kind\":\"slow\",\"part\":\"999999-20250101-0000-F.004\",\"delay_ms\":20000}"
"$SW" start direct_data --workflows "$SRC/workflows" --home "$H" --quiet --input "$FULL" >/dev/null 2>&1 &
RUNPID=$!
for _ in $(seq 100); do
  [ "$(ls "$T"/store/999999-20250101-0000-F/parts/ 2>/dev/null | grep -vc '\.tmp$')" = 3 ] && break; sleep 0.1
done
sleep 0.2
kill -9 $RUNPID 2>/dev/null; wait $RUNPID 2>/dev/null
v=$(verified)
[ "$(echo "$v" | grep -c .)" = 3 ] && [ -e "$T/store/999999-20250101-0000-F/parts/999999-20250101-0000-F.tar.gz.004.tmp" ] \
  && ok "killed mid-download: 3 parts verified, the 4th half-way (.tmp)" || bad "mid-download kill: verified [$v]"
resume_all && same 999999-20250101-0000-F "resumed after the mid-download kill: warehouse = model" || bad "resume after the mid-download kill"
again=$(redownloaded "$v")
[ -z "$again" ] && ok "resumed: the 3 verified parts were not downloaded again" || bad "downloaded again: $again"
n4=$(stats | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{console.log(JSON.parse(s).downloads["999999-20250101-0000-F.004"])})')
[ "$n4" = 2 ] && ok "the half-way part was fetched again (2 requests)" || bad "part 4 requests: $n4"

# ---- a large part streams to disk --------------------------------------------
# One 48 MB part (stored, not compressed): the retrieve step's peak memory
# stays far below the part's size, and the part on disk is byte-exact.
if [ -x /usr/bin/time ]; then
  node "$SRC/tools/directdata_gen/gen.mjs" --out big --rows 40000 --text-bytes 1200 --level 0 --part-size 100000000 \
    --only-full --no-model --vault 999998 >/dev/null
  node "$SRC/tests/peers/vault/server.mjs" --dir big --vault-id 999998 >peer2.out 2>peer2.err &
  PEER2=$!
  for _ in $(seq 50); do grep -q listening peer2.out 2>/dev/null && break; sleep 0.1; done
  sed -e "s|^vault_url = .*|vault_url = $(head -1 peer2.out | cut -d' ' -f2)|" -e 's/^vault_id = .*/vault_id = 999998/' \
    -e "s|^object_store = .*|object_store = $T/bigstore|" dd.ini >big.ini
  BIGIN='{"step":"retrieve","stop_time":"2025-01-01T00:00Z","extract_type":"full","continue_processing":false,"secret":"demo"}'
  STEPWISE_DIRECTDATA_CONFIG=$T/big.ini /usr/bin/time -f '%M' -o rss "$SW" start direct_data --workflows "$SRC/workflows" \
    --home "$T/hbig" --quiet --input "$BIGIN" >/dev/null 2>big.err
  kill $PEER2 2>/dev/null
  part=$(echo "$T"/bigstore/999998-20250101-0000-F/parts/*.001)
  size=$(stat -c %s "$part" 2>/dev/null || echo 0)
  rss=$(tail -1 rss)
  if [ "$size" -gt 40000000 ] && cmp -s "$part" big/files/999998-20250101-0000-F.tar.gz.001 && [ "$rss" -lt $((size / 1024 / 2)) ]; then
    ok "a $((size >> 20)) MiB part streamed to disk byte-exact; peak memory $((rss >> 10)) MiB"
  else bad "large part: size $size, peak RSS ${rss} KiB, $(head -3 big.err)"; fi
fi
finish
