#!/usr/bin/env bash
# stepwise serve with the shipped workflows (issue 7, "Prove it"), on the
# embedded SQLite warehouse: signed ControlShift webhooks from the
# ControlShift peer (full then incrementals for two tables, redeliveries
# included, one with a bad signature) and partner files dropped in the
# inbox; the server is killed (SIGKILL) while loads run and started again.
# Then: each table equals the union of its exports with no row twice,
# every acknowledged webhook and every dropped file is loaded exactly
# once, the bad signature loaded nothing, and a bad file failed with an
# audit row naming the check and left its target unchanged.
# Skips (77) without node, sqlite3 or bzip2.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null || { echo "skip: node not found"; exit 77; }
command -v sqlite3 >/dev/null || { echo "skip: sqlite3 not found"; exit 77; }
command -v bzip2 >/dev/null || { echo "skip: bzip2 not found"; exit 77; }
CS=$SRC/tests/peers/controlshift
cd "$T"
node "$CS/server.mjs" --dir "$T/peer" --port-file "$T/peerport" >peer.out 2>peer.err &
PEER=$!
SPID=
trap 'kill $PEER 2>/dev/null; [ -n "$SPID" ] && kill -9 $SPID 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 50); do [ -s peerport ] && break; sleep 0.1; done
CSURL=http://127.0.0.1:$(cat peerport 2>/dev/null)
[ -s peerport ] || { bad "ControlShift peer did not start"; cat peer.err; finish; exit 1; }
H=$T/home
mkdir -p "$H" inbox
SECRET=pipeline-secret
cat >stepwise.ini <<EOF
[controlshift]
instance_url = $CSURL
work_dir = $T/cswork
webhook_secret = $SECRET
[ingest]
archive_dir = $T/archive
work_dir = $T/ingwork
EOF
WH=$H/warehouse.db
# The sample file-ingestion config (interfaces 527 and 558) in the warehouse.
sqlite3 "$WH" <"$SRC/sql/file_ingest/setup.sql" && sqlite3 "$WH" <"$SRC/sql/file_ingest/sample_config.sql" \
  || bad "could not seed the file-ingestion config"

start_serve() {
  rm -f port
  "$SW" serve --listen 127.0.0.1:0 --port-file port --config stepwise.ini --inbox inbox \
    --workflows "$SRC/workflows" --sql "$SRC/sql" --home "$H" >>serve.log 2>&1 &
  SPID=$!
  for _ in $(seq 100); do [ -s port ] && break; sleep 0.05; done
  P=$(cat port 2>/dev/null)
  [ -n "$P" ] || { bad "serve did not start"; tail -5 serve.log; finish; exit 1; }
}
send() { node "$CS/send.mjs" --url "http://127.0.0.1:$P/hooks/controlshift" --secret "$SECRET" --peer "$CSURL" "$@"; }
metric() { curl -s "http://127.0.0.1:$P/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
settle() { # until N executions exist and nothing is queued or running (at most ~3 min)
  for _ in $(seq 900); do
    [ "$(sqlite3 "$H/state.db" "SELECT count(*) FROM executions")" -ge "$1" ] &&
      [ "$(metric stepwise_events_queued)" = 0 ] && [ "$(metric stepwise_executions_running_here)" = 0 ] && return 0
    sleep 0.2
  done
  return 1
}
wh() { sqlite3 "$WH" "$1"; }

start_serve
# ---- events: webhooks (members large enough to be killed mid-load) -------
acked=0
for args in "--type full --table members --jid F1m --rows 300000" \
            "--type incremental --seq 1 --table members --jid I1m" \
            "--type incremental --seq 1 --table members --jid I1m --repeat 2" \
            "--type incremental --seq 2 --table members --jid I2m" \
            "--type full --table petitions --jid F1p --compress gz" \
            "--type incremental --seq 1 --table petitions --jid I1p --compress gz"; do
  # shellcheck disable=SC2086
  if send $args >send.out 2>&1; then acked=$((acked + 1)); else bad "webhook $args: $(tr '\n' ' ' <send.out)"; fi
done
[ $acked = 6 ] && ok "6 webhook deliveries acknowledged (one of them sent twice)"
send --type incremental --seq 3 --table members --jid BADm --bad-signature >send.out 2>&1
grep -q '^401' send.out && ok "a delivery with a bad signature gets 401" || bad "bad signature: $(cat send.out)"
# ---- files: a good one and one with a bad date ---------------------------
sed 's/20093232/20090101/' "$SRC/tests/data/file_ingest/PROD_20151015_150510973_PA_FLAVOR_527.txt" >inbox/PROD_20151016_150510973_PA_FLAVOR_527.txt
cp "$SRC/tests/data/file_ingest/PROD_20151015_150510973_PA_FLAVOR_527.txt" inbox/
# ---- kill while the members full export loads, then restart --------------
for _ in $(seq 200); do
  [ "$(sqlite3 "$H/state.db" "SELECT count(*) FROM executions WHERE status = 'RUNNING'" 2>/dev/null)" -ge 1 ] && break
  sleep 0.05
done

kill -9 $SPID; wait $SPID 2>/dev/null; SPID=
running=$(sqlite3 "$H/state.db" "SELECT count(*) FROM executions WHERE status = 'RUNNING'")
queued=$(sqlite3 "$H/serve.db" "SELECT count(*) FROM server_events")
[ "$running" -ge 1 ] && ok "SIGKILL with $running execution(s) running" || bad "nothing was running at the kill"
start_serve
settle 7 && ok "after the restart every event ran" || bad "events still queued or running"
st=$(sqlite3 "$H/state.db" "SELECT workflow || ':' || status || ':' || count(*) FROM executions GROUP BY workflow, status ORDER BY workflow, status" | tr '\n' ' ')
case $st in "controlshift_bulk_data:SUCCEEDED:5 file_ingest:FAILED:1 file_ingest:SUCCEEDED:1 ") ok "5 loads SUCCEEDED, the good file SUCCEEDED, the bad file FAILED" ;;
  *) bad "executions: $st" ;; esac
[ "$queued" -ge 5 ] && ok "serve.db held the acknowledged webhooks at the kill ($queued)" || bad "serve.db held $queued events"

# ---- the warehouse ---------------------------------------------------------
if node "$CS/compare.mjs" --driver sqlite --db "$WH" --table members --steps full:1:300000,incremental:1,incremental:2 >cmp.out 2>&1; then
  ok "members = full + incrementals 1 and 2, no id twice ($(cat cmp.out))"; else bad "members"; head -5 cmp.out; fi
if node "$CS/compare.mjs" --driver sqlite --db "$WH" --table petitions --steps full:1,incremental:1 >cmp.out 2>&1; then
  ok "petitions = full + incremental 1 ($(cat cmp.out))"; else bad "petitions"; head -5 cmp.out; fi
n=$(wh "SELECT count(*) FROM controlshift_loads WHERE status = 'SUCCEEDED'")
[ "$n" = 5 ] && ok "controlshift_loads records 5 loads, the redelivery once" || bad "controlshift_loads: $n SUCCEEDED rows"
[ "$(wh "SELECT count(*) FROM controlshift_loads WHERE jid = 'BADm'")" = 0 ] && ok "the badly signed delivery loaded nothing" || bad "BADm was loaded"
[ "$(wh "SELECT count(*) FROM rdsftetl_dc_x_pa_flavor")" = 2 ] && [ -f "$T/archive/527/PROD_20151016_150510973_PA_FLAVOR_527.txt" ] \
  && ok "the good file loaded 2 rows once and was archived under archive/527/" || bad "good file: $(wh "SELECT count(*) FROM rdsftetl_dc_x_pa_flavor") rows"
a=$(wh "SELECT file_process_status || '|' || error_name FROM rdscnfg_ext_file_audit WHERE file_name = 'PROD_20151015_150510973_PA_FLAVOR_527.txt'")
[ "$a" = "FAILED|Ingest.BadRow" ] && [ -f "$T/archive/error/PROD_20151015_150510973_PA_FLAVOR_527.txt" ] \
  && ok "the bad file: audit FAILED Ingest.BadRow, moved to archive/error/" || bad "bad file audit: '$a'"
[ -z "$(ls inbox)" ] && ok "the inbox is empty" || bad "left in the inbox: $(ls inbox)"
grep -q "$SECRET" serve.log "$H/state.db" "$H/serve.db" && bad "the webhook secret leaked" || ok "the webhook secret is in no log or store"
kill -TERM $SPID; wait $SPID 2>/dev/null; SPID=
finish
