#!/usr/bin/env bash
# workflows/controlshift_bulk_data.asl.json end to end against the
# ControlShift peer (tests/peers/controlshift), on sqlite and, when
# SW_TEST_PG_DSN is set, on PostgreSQL. Three tables (members as bzip2,
# petitions as gzip, events as plain CSV; values with commas, quotes,
# newlines, empty strings and NULLs): full -> incrementals with
# duplicates in the file, the same delivery twice and the same file under
# another jid -> a full that replaces -> an incremental; after each step
# the table equals the peer's model (the union of the exports, no id
# twice). Then: other webhook types are skipped; a column added upstream
# is added; an expired URL FAILS with ControlShift.UrlExpired and says
# what to do; a 503 is retried; a file that is not CSV FAILS with
# ControlShift.BadExport and changes nothing; no URL signature reaches
# the warehouse; killed (SIGKILL) while the load runs and resumed, the
# table is the same and the delivery is recorded once.
# Skips (77) without node, sqlite3 or bzip2.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null || { echo "skip: node not found"; exit 77; }
command -v sqlite3 >/dev/null || { echo "skip: sqlite3 not found"; exit 77; }
command -v bzip2 >/dev/null || { echo "skip: bzip2 not found"; exit 77; }
PEERDIR=$SRC/tests/peers/controlshift
cd "$T"
node "$PEERDIR/server.mjs" --dir "$T/peer" --port-file "$T/port" >peer.out 2>peer.err &
PEER=$!
PGDB=""
cleanup() {
  kill $PEER 2>/dev/null
  [ -n "$PGDB" ] && psql "$SW_TEST_PG_DSN" -XAtq -c "DROP DATABASE IF EXISTS $PGDB" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
P=http://127.0.0.1:$(cat "$T/port" 2>/dev/null)
[ -s "$T/port" ] && ok "ControlShift peer at $P" || { bad "peer did not start"; cat peer.err; finish; exit 1; }
printf '[controlshift]\ninstance_url = %s\nwork_dir = %s/work\nwebhook_secret = not-read-here\n' "$P" "$T" >stepwise.ini
export STEPWISE_CONFIG=$T/stepwise.ini

payload() { node "$PEERDIR/send.mjs" --peer "$P" --print "$@"; }
# run HOME WAREHOUSE PAYLOAD
run() { "$SW" start controlshift_bulk_data --workflows "$SRC/workflows" --home "$1" --warehouse "$2" --quiet --json --input "$3"; }
out_has() { grep -q -- "$1" "$T/out"; }

# sequence DRIVER WAREHOUSE DB(for compare)
sequence() {
  local drv=$1 wh=$2 db=$3 H=$T/h-$1 tb comp steps
  for tb in members:bz2 petitions:gz events:none; do
    comp=${tb#*:}; tb=${tb%:*}
    steps=""
    check() { # check STEP DESCRIPTION
      steps="${steps:+$steps,}$1"
      if node "$PEERDIR/compare.mjs" --driver "$drv" --db "$db" --table "$tb" --steps "$steps" >cmp.out 2>&1; then
        ok "$drv $tb: $2: table = union of the exports ($(cat cmp.out))"
      else bad "$drv $tb: $2"; sed 's/^/    | /' cmp.out | head -8; fi
    }
    expect_exit 0 "$drv $tb: full export SUCCEEDED" -- run "$H" "$wh" "$(payload --type full --table $tb --jid F1$tb --compress $comp)"
    check full:1 "after the full export"
    expect_exit 0 "$drv $tb: incremental 1 SUCCEEDED" -- run "$H" "$wh" "$(payload --type incremental --seq 1 --table $tb --jid I1$tb --compress $comp)"
    check incremental:1 "after incremental 1 (ids already there, one id twice in the file)"
    expect_exit 0 "$drv $tb: incremental 1 delivered again (same jid) SUCCEEDED" -- run "$H" "$wh" "$(payload --type incremental --seq 1 --table $tb --jid I1$tb --compress $comp)"
    out_has '"already loaded"' && ok "$drv $tb: the same delivery again loads nothing (already loaded)" || bad "$drv $tb: redelivery not recognised: $(grep -E '"status"' "$T/out" | tail -1)"
    expect_exit 0 "$drv $tb: incremental 1 under another jid SUCCEEDED" -- run "$H" "$wh" "$(payload --type incremental --seq 1 --table $tb --jid I1b$tb --compress $comp)"
    check incremental:1 "the same file under another jid adds no row"
    expect_exit 0 "$drv $tb: incremental 2 SUCCEEDED" -- run "$H" "$wh" "$(payload --type incremental --seq 2 --table $tb --jid I2$tb --compress $comp --s3)"
    check incremental:2 "after incremental 2"
    expect_exit 0 "$drv $tb: full export 2 SUCCEEDED" -- run "$H" "$wh" "$(payload --type full --seq 2 --table $tb --jid F2$tb --compress $comp)"
    check full:2 "a full after incrementals replaces the table"
    expect_exit 0 "$drv $tb: incremental 3 SUCCEEDED" -- run "$H" "$wh" "$(payload --type incremental --seq 3 --table $tb --jid I3$tb --compress $comp)"
    check incremental:3 "after incremental 3"
  done
}

hist() { # hist DRIVER DB SQL
  if [ "$1" = sqlite ]; then sqlite3 "$2" "$3"; else psql "$2" -XAtq -c "$3"; fi
}

checks() { # checks DRIVER WAREHOUSE DB
  local drv=$1 wh=$2 db=$3 H=$T/h-$1 n before after
  n=$(hist "$drv" "$db" "SELECT count(*) FROM controlshift_loads WHERE status = 'SUCCEEDED'")
  [ "$n" = 18 ] && ok "$drv: 18 deliveries in controlshift_loads, each once" || bad "$drv: $n SUCCEEDED history rows, expected 18"
  n=$(hist "$drv" "$db" "SELECT count(*) FROM controlshift_loads WHERE file LIKE '%Signature%' OR file LIKE '%?%'")
  [ "$n" = 0 ] && ok "$drv: no URL signature in the load history" || bad "$drv: $n history rows hold a query string"
  n=$(find "$T/work" -name '*.csv*' -path '*/F1members/*' | wc -l)
  [ "$n" = 0 ] && ok "$drv: a loaded download is removed from work_dir" || bad "$drv: $n loaded downloads left in work_dir"
  n=$(hist "$drv" "$db" "SELECT rows FROM controlshift_loads WHERE jid = 'I1bmembers'")
  [ "$n" = 0 ] && ok "$drv: the history records 0 rows added by the duplicate file" || bad "$drv: duplicate file added $n rows"

  # another webhook type is skipped
  expect_exit 0 "$drv: an unknown webhook type SUCCEEDED" -- run "$H" "$wh" '{"type":"data.something_else","data":{"url":"http://127.0.0.1:9/x","table":"members"},"jid":"X1"}'
  out_has '"skipped"' && ok "$drv: an unknown type is skipped" || bad "$drv: unknown type output: $(cat "$T/out" | head -5)"

  # a column appears upstream
  curl -s -X POST -d "{\"table\":\"members\",\"column\":\"nickname_$drv\",\"sql_type\":\"character varying(255)\"}" "$P/__peer/add_column" >/dev/null
  expect_exit 0 "$drv: incremental with a new column SUCCEEDED" -- run "$H" "$wh" "$(payload --type incremental --seq 4 --table members --jid I4$drv)"
  out_has "\"nickname_$drv\"" && ok "$drv: the schema step added column nickname_$drv" || bad "$drv: schema output: $(grep -A3 '"added"' "$T/out")"
  n=$(hist "$drv" "$db" "SELECT count(*) FROM members WHERE nickname_$drv IS NOT NULL")
  [ "${n:-0}" -gt 0 ] && ok "$drv: the new column holds the new rows' values ($n)" || bad "$drv: nickname values: $n"

  # expired URL
  before=$(hist "$drv" "$db" "SELECT count(*) FROM petitions")
  local p; p=$(payload --type incremental --seq 5 --table petitions --jid E1$drv --ttl -60)
  expect_exit 1 "$drv: an expired URL FAILS" -- run "$H" "$wh" "$p"
  out_has '"error":[[:space:]]*"ControlShift.UrlExpired"' && out_has '6 hours' && out_has 'Test Nightly Bulk Data Export Webhook' \
    && ok "$drv: error ControlShift.UrlExpired, the cause says the link lasts 6 h and how to get a new one" \
    || bad "$drv: expired: $(grep -E '"(error|cause)"' "$T/out")"
  sig=$(echo "$p" | sed -E 's/.*Signature=([0-9a-f]+).*/\1/')
  grep -E '"cause"' "$T/out" | grep -q "$sig" && bad "$drv: the signature appears in the cause" || ok "$drv: the signature is not in the cause"
  after=$(hist "$drv" "$db" "SELECT count(*) FROM petitions")
  [ "$before" = "$after" ] && ok "$drv: the failed delivery changed nothing" || bad "$drv: petitions went from $before to $after rows"

  # a 503, then success
  curl -s -X POST -d '{"kind":"5xx","count":1}' "$P/__peer/fault" >/dev/null
  expect_exit 0 "$drv: a download answered 503 once SUCCEEDED after a retry" -- run "$H" "$wh" "$(payload --type incremental --seq 5 --table petitions --jid T1$drv)"
  "$SW" history "$(sqlite3 "$H/state.db" "SELECT id FROM executions ORDER BY start_ms DESC LIMIT 1")" --home "$H" 2>/dev/null | grep -q 'ControlShift.Transient' \
    && ok "$drv: the 503 was a ControlShift.Transient failure, retried" || bad "$drv: no ControlShift.Transient in the history"

  # not a CSV export
  before=$(hist "$drv" "$db" "SELECT count(*) FROM events")
  expect_exit 1 "$drv: a file that is not a CSV export FAILS" -- run "$H" "$wh" "$(payload --type full --table events --jid B1$drv --data-url "$P/api/bulk_data/schema.json")"
  out_has '"error":[[:space:]]*"ControlShift.BadExport"' && out_has 'line 1' \
    && ok "$drv: error ControlShift.BadExport names the line" || bad "$drv: bad export: $(grep -E '"(error|cause)"' "$T/out")"
  after=$(hist "$drv" "$db" "SELECT count(*) FROM events")
  [ "$before" = "$after" ] && ok "$drv: the bad file changed nothing" || bad "$drv: events went from $before to $after rows"
  n=$(hist "$drv" "$db" "SELECT count(*) FROM controlshift_loads WHERE jid = 'B1$drv' AND status = 'FAILED'")
  [ "$n" = 1 ] && ok "$drv: the failed load is in the history as FAILED" || bad "$drv: FAILED history rows for B1: $n"
  [ -n "$(ls "$T/work/B1$drv" 2>/dev/null)" ] && ok "$drv: the failed load's download is kept for a resume" || bad "$drv: the failed load's download is gone"
}

# crash DRIVER WAREHOUSE DB: SIGKILL while the load runs, then resume.
crash() {
  local drv=$1 wh=$2 db=$3 i H id st tries n delay p stage_q crash_bad="" hit=0
  if [ "$drv" = sqlite ]; then stage_q="SELECT count(*) FROM sqlite_master WHERE name LIKE '\_cs\_stage%' ESCAPE '\\'"
  else stage_q="SELECT count(*) FROM pg_tables WHERE tablename LIKE '\\_cs\\_stage%'"; fi
  for i in 1 2 3; do
    H=$T/crash-$drv-$i
    # sqlite loads 80000 rows in about 1.5 s here, postgres in about 0.6 s
    if [ "$drv" = sqlite ]; then delay=$(( (i - 1) * 40 )); else delay=$(( (i - 1) * 15 )); fi
    p=$(payload --type full --seq 7 --rows 80000 --table members --jid K$i$drv)
    ( exec "$SW" start controlshift_bulk_data --workflows "$SRC/workflows" --home "$H" --warehouse "$wh" --quiet --input "$p" >/dev/null 2>&1 ) &
    local pid=$!
    # wait until the staging table exists: the load is running
    for _ in $(seq 300); do
      n=$(hist "$drv" "$db" "$stage_q" 2>/dev/null)
      [ "${n:-0}" -gt 0 ] && break
      kill -0 $pid 2>/dev/null || break
      sleep 0.02
    done
    sleep "$(printf '0.%02d' $delay)"
    kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
    id=$(sqlite3 "$H/state.db" "SELECT id FROM executions ORDER BY start_ms DESC LIMIT 1" 2>/dev/null)
    st=$(sqlite3 "$H/state.db" "SELECT status FROM executions WHERE id='$id'" 2>/dev/null)
    [ "$st" = RUNNING ] && hit=$((hit + 1))
    tries=0
    while [ -n "$id" ] && [ $tries -lt 10 ]; do
      st=$(sqlite3 "$H/state.db" "SELECT status FROM executions WHERE id='$id'")
      [ "$st" = RUNNING ] || break
      "$SW" resume "$id" --workflows "$SRC/workflows" --home "$H" --warehouse "$wh" --quiet >/dev/null 2>&1
      tries=$((tries + 1))
    done
    [ "$st" = SUCCEEDED ] || { crash_bad="$crash_bad kill$i(status $st)"; continue; }
    node "$PEERDIR/compare.mjs" --driver "$drv" --db "$db" --table members --steps full:7:80000 >cmp.out 2>&1 \
      || crash_bad="$crash_bad kill$i($(head -1 cmp.out))"
    n=$(hist "$drv" "$db" "SELECT count(*) FROM controlshift_loads WHERE jid = 'K$i$drv' AND status = 'SUCCEEDED'")
    [ "$n" = 1 ] || crash_bad="$crash_bad kill$i($n history rows)"
    n=$(hist "$drv" "$db" "$stage_q")
    [ "$n" = 0 ] || crash_bad="$crash_bad kill$i(staging left: $n)"
  done
  [ -z "$crash_bad" ] && ok "$drv: killed during a 80000-row load and resumed (3 times): table = the export, recorded once" \
    || bad "$drv: crash:$crash_bad"
  [ $hit -ge 2 ] && ok "$drv: $hit of 3 kills interrupted a running load" || bad "$drv: only $hit of 3 kills came before the load finished"

  # killed while the apply batch of an incremental runs (its registry row
  # is not FINISHED yet), then resumed
  H=$T/crash-$drv-apply
  p=$(payload --type incremental --seq 1 --rows 90000 --table members --jid KA$drv)
  ( exec "$SW" start controlshift_bulk_data --workflows "$SRC/workflows" --home "$H" --warehouse "$wh" --quiet --input "$p" >/dev/null 2>&1 ) &
  pid=$!
  for _ in $(seq 1500); do
    n=$(hist "$drv" "$db" "SELECT count(*) FROM stepwise_statements WHERE status <> 'FINISHED' AND sqls LIKE '%_cs_rn%'" 2>/dev/null)
    [ "${n:-0}" -gt 0 ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.01
  done
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  id=$(sqlite3 "$H/state.db" "SELECT id FROM executions ORDER BY start_ms DESC LIMIT 1" 2>/dev/null)
  st=$(sqlite3 "$H/state.db" "SELECT status FROM executions WHERE id='$id'" 2>/dev/null)
  [ "$st" = RUNNING ] && "$SW" resume "$id" --workflows "$SRC/workflows" --home "$H" --warehouse "$wh" --quiet >/dev/null 2>&1
  st=$(sqlite3 "$H/state.db" "SELECT status FROM executions WHERE id='$id'" 2>/dev/null)
  n=$(hist "$drv" "$db" "SELECT count(*) FROM controlshift_loads WHERE jid = 'KA$drv' AND status = 'SUCCEEDED'")
  if [ "$st" = SUCCEEDED ] && [ "$n" = 1 ] && node "$PEERDIR/compare.mjs" --driver "$drv" --db "$db" --table members --steps full:7:80000,incremental:1:90000 >cmp.out 2>&1; then
    ok "$drv: killed during the apply batch of a 90000-row incremental, resumed: table = union, recorded once"
  else bad "$drv: apply-batch crash: status $st, history rows $n, $(head -2 cmp.out)"; fi
}

# table_prefix and (postgres) schema from the config
prefixed() { # prefixed DRIVER WAREHOUSE DB
  local drv=$1 wh=$2 db=$3 H=$T/h-prefix-$1 target=cs_users
  printf '[controlshift]\ninstance_url = %s\nwork_dir = %s/work\ntable_prefix = cs_\nschema = cs\n' "$P" "$T" >"$T/prefix.ini"
  if [ "$drv" = postgres ]; then hist "$drv" "$db" "CREATE SCHEMA IF NOT EXISTS cs" >/dev/null; target=cs.cs_users; fi
  STEPWISE_CONFIG=$T/prefix.ini expect_exit 0 "$drv: full users with table_prefix (and schema) SUCCEEDED" -- run "$H" "$wh" "$(payload --type full --table users --jid PF$drv)"
  STEPWISE_CONFIG=$T/prefix.ini expect_exit 0 "$drv: incremental users with table_prefix SUCCEEDED" -- run "$H" "$wh" "$(payload --type incremental --table users --jid PI$drv)"
  if node "$PEERDIR/compare.mjs" --driver "$drv" --db "$db" --table users --target $target --steps full:1,incremental:1 >cmp.out 2>&1; then
    ok "$drv: $target holds the exports ($(cat cmp.out))"; else bad "$drv: $target"; sed 's/^/    | /' cmp.out | head -5; fi
}

# build the big exports once, outside the timed kills
url_of() { node -pe 'JSON.parse(require("fs").readFileSync(0)).data.url'; }
curl -s -o /dev/null "$(payload --type full --seq 7 --rows 80000 --table members --jid warm | url_of)" &
w1=$!
curl -s -o /dev/null "$(payload --type incremental --seq 1 --rows 90000 --table members --jid warm | url_of)" &
wait $w1 $!

sequence sqlite "sqlite:$T/wh.db" "$T/wh.db"
checks sqlite "sqlite:$T/wh.db" "$T/wh.db"
prefixed sqlite "sqlite:$T/wh.db" "$T/wh.db"
crash sqlite "sqlite:$T/wh.db" "$T/wh.db"

if [ -n "${SW_TEST_PG_DSN:-}" ] && command -v psql >/dev/null; then
  PGDB=swcs_$$
  psql "$SW_TEST_PG_DSN" -XAtq -c "DROP DATABASE IF EXISTS $PGDB" -c "CREATE DATABASE $PGDB" >/dev/null 2>&1
  DB=${SW_TEST_PG_DSN%/*}/$PGDB
  sequence postgres "$DB" "$DB"
  checks postgres "$DB" "$DB"
  prefixed postgres "$DB" "$DB"
  crash postgres "$DB" "$DB"
else
  echo "skip: postgres part (SW_TEST_PG_DSN is not set)"
fi
finish
