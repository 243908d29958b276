#!/usr/bin/env bash
# stepwise serve (issue 7): webhooks are verified and acknowledged only once
# their execution is on disk; duplicates start nothing; a SIGKILL while
# executions run loses nothing and doubles nothing after a restart; files
# dropped in the inbox and S3 events start file ingestion; health and
# metrics answer; bad settings fail with one line. The workflows here are
# stand-ins (tests/cli/serve/) that record each event in the warehouse
# once, after a Wait that leaves time to kill the server mid-run.
. "$(dirname "$0")/lib.sh"
cd "$T"
WF="$SRC/tests/cli/serve"
H="$T/home"
mkdir -p "$H" inbox
SECRET='s3cr3t-for-tests'
# The S3 peer (s3rver behind a SigV4 check) holds the object an S3 event
# names; the workflow fetches it with stepwise.objects.get.
export AWS_ACCESS_KEY_ID=AKIDSTEPWISETEST AWS_SECRET_ACCESS_KEY=stepwise-test-secret AWS_REGION=us-east-1
node --openssl-legacy-provider "$SRC/tests/peers/s3/server.mjs" --dir "$T/s3" --bucket landing >s3.out 2>s3.err &
S3PID=$!
trap 'kill $S3PID 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 100); do grep -q listening s3.out && break; sleep 0.05; done
export AWS_ENDPOINT_URL_S3=$(sed -n 's/^listening //p' s3.out)
printf 'col1|col2\n' >obj.txt
curl -s -f --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
  -H "x-amz-content-sha256: $(sha256sum obj.txt | cut -d' ' -f1)" -T obj.txt \
  "$AWS_ENDPOINT_URL_S3/landing/external_input/big%20file.txt" >/dev/null \
  || bad "could not seed the S3 peer"
printf '[controlshift]\nwebhook_secret = %s\n' "$SECRET" >cfg.ini
sqlite3 "$H/warehouse.db" "CREATE TABLE loads (source TEXT, event TEXT)"

PID=
start_serve() {
  rm -f port
  "$SW" serve --listen 127.0.0.1:0 --port-file port --config cfg.ini \
    --inbox inbox --workflows "$WF" --home "$H" >>serve.log 2>&1 &
  PID=$!
  for _ in $(seq 100); do [ -s port ] && break; sleep 0.05; done
  P=$(cat port 2>/dev/null)
  [ -n "$P" ] || { bad "serve did not start"; cat serve.log; finish; exit 1; }
}
stop_serve() { kill "$1" "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }

# post BODY [SIGNATURE] -> prints "STATUS BODY"
post() {
  local sig=${2:-}
  if [ -z "$sig" ]; then
    sig="sha256:$(printf '%s' "$1" | openssl dgst -sha256 -hmac "$SECRET" -hex | awk '{print $NF}')"
  fi
  curl -s -o resp -w '%{http_code}' -X POST -H "x-controlshift-webhook-signature: $sig" \
    --data-binary "$1" "http://127.0.0.1:$P/hooks/controlshift"
  printf ' %s\n' "$(cat resp)"
}
hook() { # TYPE TABLE JID
  printf '{"type":"%s","data":{"url":"https://agra-data-exports.s3.amazonaws.com/org/full/%s/%s.csv?Expires=1&Signature=x","table":"%s"},"jid":"%s"}' \
    "$1" "$2" "$3" "$2" "$3"
}
rows() { sqlite3 "$H/warehouse.db" "SELECT count(*) FROM loads WHERE $1"; }
status_count() { sqlite3 "$H/state.db" "SELECT count(*) FROM executions WHERE status = '$1'"; }

start_serve

# --- signature, body and type checks --------------------------------------
r=$(post "$(hook data.full_table_exported petitions bad1)" "sha256:$(printf '0%.0s' $(seq 64))")
case $r in 401*) ok "a wrong signature gets 401" ;; *) bad "wrong signature: $r" ;; esac
r=$(post "$(hook data.full_table_exported petitions bad2)" "none")
case $r in 401*) ok "a malformed signature header gets 401" ;; *) bad "malformed signature: $r" ;; esac
r=$(post '{"type": "data.full_table_exported", "data": ' )
case $r in 400*'webhook body:1:'*) ok "invalid JSON gets 400 naming line:column" ;; *) bad "invalid JSON: $r" ;; esac
r=$(post '{"type":"data.full_table_exported","data":{"url":"https://x/y.csv","table":"Petitions; DROP"}}')
case $r in 400*'/data/table'*) ok "a bad table name gets 400 naming /data/table" ;; *) bad "bad table: $r" ;; esac
r=$(post '{"type":"petition.created","data":{}}')
case $r in 200*skipped*) ok "another event type is acknowledged as skipped" ;; *) bad "other type: $r" ;; esac
[ "$(sqlite3 "$H/serve.db" "SELECT count(*) FROM server_events")" = 0 ] \
  && ok "rejected and skipped events were not recorded" \
  || bad "rejected or skipped events were recorded in serve.db"

# --- acknowledged webhooks, duplicates, files, then SIGKILL ---------------
acked=0
for i in $(seq 1 12); do # tables t1..t4, three deliveries each
  r=$(post "$(hook data.incremental_table_exported "t$(( (i - 1) % 4 + 1 ))" "job$i")")
  case $r in 200*processed*) acked=$((acked + 1)) ;; *) bad "webhook job$i: $r" ;; esac
done
[ $acked = 12 ] && ok "12 signed webhooks acknowledged with 200 processed"
grep -q 'x-controlshift-processed' <(curl -s -i -X POST -H "x-controlshift-webhook-signature: sha256:$(printf '%s' "$(hook data.incremental_table_exported t1 job1)" | openssl dgst -sha256 -hmac "$SECRET" -hex | awk '{print $NF}')" --data-binary "$(hook data.incremental_table_exported t1 job1)" "http://127.0.0.1:$P/hooks/controlshift") \
  && ok "answers carry x-controlshift-processed as upstream" || bad "no x-controlshift-processed header"
dups=0
for i in 1 2 3; do
  r=$(post "$(hook data.incremental_table_exported "t$i" "job$i")")
  case $r in 200*duplicate*) dups=$((dups + 1)) ;; esac
done
[ $dups = 3 ] && ok "re-delivered webhooks are answered duplicate" || bad "$dups/3 duplicates recognised"
# A re-signed URL of the same file is the same delivery.
r=$(post "$(hook data.incremental_table_exported t4 job4 | sed 's/Signature=x/Signature=y/')")
case $r in 200*duplicate*) ok "a re-signed URL of the same file is a duplicate" ;; *) bad "re-signed URL: $r" ;; esac
for f in a b c; do echo "row $f" >"inbox/$f.txt"; done
echo hidden >inbox/.partial
r=$(curl -s -w ' %{http_code}' -X POST --data-binary '{"Records":[{"eventName":"ObjectCreated:CompleteMultipartUpload","s3":{"bucket":{"name":"landing"},"object":{"key":"external_input/big+file.txt","size":9,"eTag":"e1","sequencer":"0A"}}},{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"landing"},"object":{"key":"gone.txt"}}}]}' "http://127.0.0.1:$P/hooks/s3")
case $r in *'"key":"external_input/big file.txt","status":"accepted"'*200) ok "an S3 multipart ObjectCreated record starts ingestion (key URL-decoded)" ;; *) bad "s3 event: $r" ;; esac
r=$(curl -s -w ' %{http_code}' -X POST --data-binary '{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"landing"},"object":{"key":"../etc/passwd"}}}]}' "http://127.0.0.1:$P/hooks/s3")
case $r in *400) ok "an S3 key with .. is refused" ;; *) bad "s3 .. key: $r" ;; esac
# Wait until the inbox files are taken, then kill while everything waits.
for _ in $(seq 60); do [ "$(sqlite3 "$H/state.db" "SELECT count(*) FROM executions WHERE workflow='file_ingest'")" -ge 4 ] && break; sleep 0.1; done
running=$(status_count RUNNING)
stop_serve -KILL
[ "$running" -ge 3 ] && ok "SIGKILL with $running executions running" || bad "only $running running at the kill"
queued=$(sqlite3 "$H/serve.db" "SELECT count(*) FROM server_events") 
[ "$queued" = 16 ] && ok "serve.db holds the 16 acknowledged events" || bad "serve.db holds $queued events"
[ "$(rows 1)" -lt 16 ] && ok "the kill landed before every load was done" || bad "all loads done before the kill"

# --- restart: everything acknowledged is loaded exactly once ---------------
start_serve
for _ in $(seq 300); do [ "$(status_count SUCCEEDED)" -ge 16 ] && [ "$(status_count RUNNING)" = 0 ] && break; sleep 0.1; done
grep -q 'resumed' serve.log && ok "the restarted server resumed the unfinished executions" || bad "no resume logged"
[ "$(status_count SUCCEEDED)" = 16 ] && ok "16 executions SUCCEEDED (12 webhooks, 3 files, 1 S3 object)" \
  || bad "$(status_count SUCCEEDED) SUCCEEDED, expected 16"
[ "$(rows "source='controlshift'")" = 12 ] && [ "$(sqlite3 "$H/warehouse.db" "SELECT count(DISTINCT event) FROM loads WHERE source='controlshift'")" = 12 ] \
  && ok "every acknowledged webhook loaded exactly once" || bad "controlshift rows: $(rows "source='controlshift'")"
[ "$(rows "source='file'")" = 3 ] && [ "$(rows "source='file' AND event LIKE '%/inbox/a.txt'")" = 1 ] \
  && ok "every dropped file loaded exactly once (absolute path in the input)" || bad "file rows: $(rows "source='file'")"
[ "$(rows "event LIKE '%partial%'")" = 0 ] && ok "dot files in the inbox are not taken" || bad "a dot file was taken"
[ "$(rows "source='s3'")" = 1 ] && ok "the S3 object loaded once" || bad "s3 rows: $(rows "source='s3'")"
cmp -s obj.txt "$H/s3/landing/external_input/big file.txt" \
  && ok "stepwise.objects.get fetched the object under HOME/s3/BUCKET/KEY" || bad "the S3 object was not fetched"
# Loads of one table never overlapped, and ran in the order acknowledged.
sqlite3 "$H/state.db" "SELECT json_extract(input, '\$.data.table'), json_extract(input, '\$.jid'), start_ms, stop_ms FROM executions WHERE workflow = 'controlshift_bulk_data' ORDER BY 1, 3" >order
awk -F'|' '$1 == t && ($3 < stop || substr($2, 4) + 0 < last) { bad = 1 } { t = $1; stop = $4; last = substr($2, 4) + 0 } END { exit bad }' order \
  && ok "the loads of a table ran one at a time, in the order acknowledged" || { bad "loads of a table overlapped or ran out of order"; cat order; }
r=$(post "$(hook data.incremental_table_exported t3 job7)")
case $r in 200*duplicate*) ok "after the restart a re-delivery is still a duplicate" ;; *) bad "post-restart duplicate: $r" ;; esac
curl -s -o /dev/null -X POST --data-binary '{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"landing"},"object":{"key":"external_input/missing.txt","eTag":"e9"}}}]}' "http://127.0.0.1:$P/hooks/s3"
for _ in $(seq 60); do [ "$(status_count FAILED)" = 1 ] && break; sleep 0.1; done
e=$(sqlite3 "$H/state.db" "SELECT error || ': ' || cause FROM executions WHERE status = 'FAILED'")
case $e in "Objects.NoSuchKey: "*"s3://landing/external_input/missing.txt"*) ok "a missing S3 object fails the execution with Objects.NoSuchKey naming it" ;;
  *) bad "missing object: '$e'" ;; esac
sleep 1.2 # two inbox scans: nothing new may start for files still there
[ "$(sqlite3 "$H/state.db" "SELECT count(*) FROM executions")" = 17 ] && ok "no execution started twice" \
  || bad "$(sqlite3 "$H/state.db" "SELECT count(*) FROM executions") executions"

# --- health and metrics ----------------------------------------------------
curl -s "http://127.0.0.1:$P/health" | grep -q '"status":"ok"' && ok "/health answers ok" || bad "/health"
curl -s "http://127.0.0.1:$P/metrics" >metrics
grep -q '^stepwise_executions{workflow="controlshift_bulk_data",status="SUCCEEDED"} 12$' metrics \
  && grep -q '^stepwise_events_total{source="controlshift",outcome="duplicate"} 1$' metrics \
  && ok "/metrics counts executions by status and events by outcome" || { bad "/metrics"; head -30 metrics; }
stop_serve -TERM
wait "$PID" 2>/dev/null
grep -q 'SIGTERM; stopping' serve.log && ok "SIGTERM stops the server cleanly" || bad "no clean stop"
grep -q "$SECRET" serve.log "$H/state.db" && bad "the webhook secret leaked into logs or the store" \
  || ok "the webhook secret is in neither the log nor the store"

# --- bad settings: one line, non-zero, nothing written ---------------------
expect_exit 2 "a bad --listen is refused" -- "$SW" serve --listen 127.0.0.1:99999 --workflows "$WF" --home "$T/h2"
expect_err '--listen "127.0.0.1:99999": expected HOST:PORT' "the message names the option and the form"
one_line "the --listen error is one line"
printf '[serve]\nsettle_ms = soon\n' >bad.ini
expect_exit 2 "a bad config value is refused" -- "$SW" serve --config bad.ini --workflows "$WF" --home "$T/h2"
expect_err 'bad.ini:2: \[serve\] settle_ms: expected a positive integer' "the message names file:line, key and what was expected"
start_serve
expect_exit 1 "a port in use is refused" -- "$SW" serve --listen "127.0.0.1:$P" --workflows "$WF" --home "$T/h3"
expect_err "cannot listen on 127.0.0.1:$P" "the message names the address"
stop_serve -TERM
[ ! -e "$T/h2/state.db" ] && [ ! -e "$T/h3/state.db" ] && ok "refused starts left no store behind" || bad "a refused start created a store"
# Under a sanitizer build the server's own reports land in its log.
grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' serve.log \
  && { bad "sanitizer reports in the server log"; grep -E 'Sanitizer|runtime error' serve.log | head -5; } \
  || ok "no sanitizer report in the server log"
finish
