#!/usr/bin/env bash
# workflows/file_ingest.asl.json end to end, on the embedded SQLite
# warehouse and (when SW_TEST_PG_DSN is set, as tools/test does) on
# PostgreSQL: the upstream sample inputs (refused: they carry bad dates,
# sql/file_ingest/sample_config.sql), generated good files (delimited with
# header and trailer and quoting, with and without a final newline,
# fixed-width, gzip, split by record prefix) that load and archive under
# archive/<interface id>/; bad files (too small, wrong extension, bad
# trailer count, bad date, wrong column count, no config) that each fail
# with the named error, a FAILED audit row naming it, the target
# unchanged and the file in archive/error/; the same file twice loads
# once; killed (SIGKILL) at every commit point and at a random time
# during a large load, then resumed: loaded exactly once. Notifications
# go to a node peer (tests/peers/notify) or a command.
# Skips (77) without the sqlite3 CLI or node.
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || { echo "skip: sqlite3 not found"; exit 77; }
command -v node >/dev/null || { echo "skip: node not found"; exit 77; }
REF=$SRC/tests/data/file_ingest # the upstream sample inputs
cd "$T"
node "$SRC/tests/peers/notify/server.mjs" --out "$T/notices" >peer.out 2>peer.err &
PEER=$!
DBS=""
cleanup() {
  kill $PEER 2>/dev/null
  local d
  for d in $DBS; do psql "$SW_TEST_PG_DSN" -X -q -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1; done
  rm -rf "$T"
}
trap cleanup EXIT
for _ in $(seq 50); do grep -q listening peer.out 2>/dev/null && break; sleep 0.1; done
U=$(head -1 peer.out | cut -d' ' -f2)
[ -n "$U" ] && ok "notification peer at $U" || { bad "notify peer did not start"; cat peer.err; finish; exit 1; }

# ---- test configs: three more interfaces (@.@ is '_' on sqlite, '.' on pg)
cat >test_config.sql <<'SQL'
CREATE TABLE ingtest@.@people (id INTEGER NOT NULL, name VARCHAR(30), born DATE,
  score NUMERIC(5,1), file_name VARCHAR(1024));
CREATE TABLE ingtest@.@fixed (code VARCHAR(5) NOT NULL, amount NUMERIC(8,2),
  day DATE, file_name VARCHAR(1024));
CREATE TABLE ingtest@.@orders (rec VARCHAR(2), order_id INTEGER NOT NULL,
  customer VARCHAR(10), file_name VARCHAR(1024));
CREATE TABLE ingtest@.@order_lines (rec VARCHAR(2), order_id INTEGER NOT NULL,
  sku VARCHAR(8), qty SMALLINT, file_name VARCHAR(1024));
INSERT INTO rdscnfg@.@ext_interface (ext_interface_cid, interface_name) VALUES
  (710, 'PEOPLE'), (700, 'FIXED'), (720, 'ORDERS'), (730, 'BROKEN_POSTLOAD');
INSERT INTO rdscnfg@.@ext_file_config (ext_file_config_sid, ext_interface_cid,
  tgt_schema_name, tgt_table_name, file_prefix, file_format, file_type,
  delimiter, header_flag, trailer_flag, query, split_file_flag, split_prefix,
  escape_char, trailer_pstn) VALUES
  (71, 710, 'ingtest', 'people', '710.', 'delimited', 'csv', ',', 'Y', 'Y',
   NULL, 'N', NULL, NULL, '9:18'),
  (72, 710, 'ingtest', 'people', '711.', 'delimited', 'gz', ',', 'Y', 'N',
   NULL, 'N', NULL, NULL, NULL),
  (70, 700, 'ingtest', 'fixed', '700.', 'fixed_width', 'dat', NULL, 'Y', 'Y',
   NULL, 'N', NULL, NULL, '4:12'),
  (73, 720, NULL, NULL, '720.', 'delimited', 'gz', '|', 'N', 'Y', NULL, 'Y',
   'HD,DT', NULL, '4:9'),
  (74, 720, 'ingtest', 'orders', '720-HD.', 'delimited', 'txt', '|', 'N', 'N',
   NULL, 'N', NULL, NULL, NULL),
  (75, 720, 'ingtest', 'order_lines', '720-DT.', 'delimited', 'txt', '|', 'N',
   'N', NULL, 'N', NULL, NULL, NULL),
  (76, 710, 'ingtest', 'people', '799.', 'delimited', 'csv', ',', 'N', 'N',
   NULL, 'N', NULL, NULL, NULL),
  (77, 710, 'ingtest', 'people', '799.', 'delimited', 'csv', ',', 'N', 'N',
   NULL, 'N', NULL, NULL, NULL),
  (78, 730, 'ingtest', 'people', '730.', 'delimited', 'csv', ',', 'N', 'N',
   'UPDATE ingtest_no_such_table SET x = 1', 'N', NULL, NULL, NULL),
  (79, 710, 'ingtest', 'people', '740.', 'delimited', 'csv', ';', 'N', 'N',
   NULL, 'N', NULL, '''', NULL);
INSERT INTO rdscnfg@.@ext_file_config_dtl (ext_file_config_dtl_sid,
  ext_file_config_sid, column_name, column_width_fixed, column_order_sqnc)
VALUES (701, 71, 'id', NULL, 1), (702, 71, 'name', NULL, 2),
  (703, 71, 'born', NULL, 3), (704, 71, 'score', NULL, 4),
  (711, 72, 'id', NULL, 1), (712, 72, 'name', NULL, 2),
  (713, 72, 'born', NULL, 3), (714, 72, 'score', NULL, 4),
  (721, 70, 'code', 5, 1), (722, 70, 'amount', 8, 2), (723, 70, 'day', 8, 3),
  (741, 74, 'rec', NULL, 1), (742, 74, 'order_id', NULL, 2),
  (743, 74, 'customer', NULL, 3),
  (751, 75, 'rec', NULL, 1), (752, 75, 'order_id', NULL, 2),
  (753, 75, 'sku', NULL, 3), (754, 75, 'qty', NULL, 4),
  (781, 78, 'id', NULL, 1), (782, 78, 'name', NULL, 2),
  (783, 78, 'born', NULL, 3), (784, 78, 'score', NULL, 4),
  (791, 79, 'id', NULL, 1), (792, 79, 'name', NULL, 2),
  (793, 79, 'born', NULL, 3), (794, 79, 'score', NULL, 4);
SQL

# ---- generated inputs ---------------------------------------------------------
mkdir -p gen
# people: header, 4 rows (quoted comma, quoted quote, empty score), trailer
people() { # people FILE ID0 [final-newline: yes|no] [trailer count]
  local n=${4:-4}
  {
    printf 'id,name,born,score\n'
    printf '%d,"Ada, Countess",1815-12-10,99.5\n' "$2"
    printf '%d,"Grace ""Amazing"" Hopper",19061209,88\n' $(($2 + 1))
    printf '%d,Alan,6/23/1912,\n' $(($2 + 2))
    printf '\n'
    printf '%d,Edsger,1930-05-11,77.0\r\n' $(($2 + 3))
    printf 'TRAILER %010d' "$n"
    [ "${3:-yes}" = yes ] && printf '\n'
  } >"$1"
}
people gen/people_a_710.csv 1 yes
people gen/people_b_710.csv 11 no
people gen/badtrailer_710.csv 21 yes 5
people gen/baddate_710.csv 31 yes; sed -i 's/1930-05-11/1930-02-30/' gen/baddate_710.csv
people gen/badcols_710.csv 41 yes; sed -i 's/^43,Alan,6\/23\/1912,$/43,Alan,6\/23\/1912,1,extra/' gen/badcols_710.csv
people gen/people_c_710.txt 51 yes
printf 'id,name\n' >gen/tiny_710.csv
people gen/badutf8_710.csv 71 yes; sed -i 's/Alan/Al\xe9n/' gen/badutf8_710.csv
{ printf 'id,name,born,score\n'; for i in $(seq 1 12); do printf '%d,many%d,2001-13-%02d,1\n' $i $i $i; done; printf 'TRAILER %010d\n' 12; } >gen/manybad_710.csv
people gen/badnum_710.csv 81 yes; sed -i 's/,99.5$/,9x9/' gen/badnum_710.csv
people gen/badwidth_710.csv 91 yes; sed -i 's/Edsger/Edsger Wybe Dijkstra of Rotterdam NL/' gen/badwidth_710.csv
printf "5001;'O''Hara; Scarlett';1936-06-30;1.5\n5002;Rhett;1936-06-30;2\n5003;'Mammy';;\n" >gen/quote_740.csv
printf "5011;'O''Hara; Scarlett';1936-06-31;1.5\n5012;Rhett;1936-06-30;2\n5013;'Mammy';;\n" >gen/badquote_740.csv
printf '3001,Post,2000-01-01,1\n3002,Load,2000-01-02,2\n3003,Sql,2000-01-03,3\n' >gen/pl_730.csv
cp gen/people_a_710.csv gen/stuff_999.csv
cp gen/people_a_710.csv gen/dup_799.csv
{ printf 'id,name,born,score\n'; for i in $(seq 61 63); do printf '%d,gz%d,2020-01-0%d,%d.5\n' $i $i $((i - 60)) $i; done; } | gzip -c >gen/people_711.csv.gz
{ printf 'HDRFIXED000\n'; printf 'A0001  123.45201501%02d\n' 1 2 3; printf 'TRL000000003\n'; } >gen/pay_700.dat
sed -i '3s/A0001/B0002/; 4s/A0001/C0003/' gen/pay_700.dat
{
  printf 'HD|1|alice\nDT|1|SKU-1|2\nDT|1|SKU-2|1\nHD|2|bob\nDT|2|SKU-1|5\n'
  printf 'TRL000005\n'
} | gzip -c >gen/orders_720.txt.gz
{ printf 'HD|1|alice\nDT|1|SKU-1|2\nXX|1|gift\nTRL000003\n'; } | gzip -c >gen/badsplit_720.txt.gz
# the upstream samples with their bad dates corrected
sed 's/20093232/20090101/' "$REF/PROD_20151015_150510973_PA_FLAVOR_527.txt" >gen/PROD_20151016_150510973_PA_FLAVOR_527.txt
gzip -dc "$REF/hosp10_2014_RPT_558.csv.gz" | sed 's/13\/7\/2013/11\/7\/2013/; s/12\/33\/2013/12\/31\/2013/' | gzip -c >gen/hosp11_2014_RPT_558.csv.gz

# ---- one suite per warehouse ------------------------------------------------------
suite() {
  local wh=$1 url=$2 sep=$3 q=$4 tag=$1
  local H=$T/h_$wh IN=$T/in_$wh
  rm -rf "$H" "$IN" "$T/archive"; mkdir -p "$H" "$IN"
  cat >stepwise.ini <<INI
[ingest]
archive_dir = $T/archive
min_size_bytes = 40
work_dir = $T/work
notify_url = $U/notify
INI
  export STEPWISE_CONFIG=$T/stepwise.ini
  : >"$T/notices"
  db() { $q "$1"; }
  if [ "$wh" = sqlite ]; then
    sqlite3 "$H/warehouse.db" <"$SRC/sql/file_ingest/setup.sql" &&
    sqlite3 "$H/warehouse.db" <"$SRC/sql/file_ingest/sample_config.sql" &&
    sed "s/@.@/_/g" test_config.sql | sqlite3 "$H/warehouse.db" || { bad "$tag: seeding"; return; }
  else
    { psql "$url" -X -q -v ON_ERROR_STOP=1 -f "$SRC/sql/file_ingest/setup.postgres.sql" &&
      psql "$url" -X -q -v ON_ERROR_STOP=1 -f "$SRC/sql/file_ingest/sample_config.postgres.sql" &&
      psql "$url" -X -q -v ON_ERROR_STOP=1 -c "CREATE SCHEMA ingtest" &&
      sed "s/@.@/./g" test_config.sql | psql "$url" -X -q -v ON_ERROR_STOP=1; } >/dev/null || { bad "$tag: seeding"; return; }
  fi
  ingest() { # ingest FILE: copy into the inbox and run the workflow on it
    cp "$1" "$IN/$(basename "$1")"
    "$SW" start file_ingest --workflows "$SRC/workflows" --sql "$SRC/sql" --home "$H" \
      ${url:+--warehouse "$url"} --quiet --json --input "{\"file\": \"$IN/$(basename "$1")\"}"
  }
  count() { db "SELECT count(*) FROM ingtest${sep}$1"; }
  audit() { # audit NAME: status|error_name|rows of the newest audit row of a file
    db "SELECT file_process_status || '|' || coalesce(error_name, '') || '|' || coalesce(rows_loaded, -1) FROM rdscnfg${sep}ext_file_audit WHERE file_name = '$1' ORDER BY ext_file_audit_sid DESC LIMIT 1"
  }

  # -- the upstream samples: refused as a whole, named line and column
  expect_exit 1 "$tag: sample 527 (bad date 20093232) FAILS" -- ingest "$REF/PROD_20151015_150510973_PA_FLAVOR_527.txt"
  grep -q '"error":[[:space:]]*"Ingest.BadRow"' "$T/out" && grep -q 'PA_FLAVOR_527.txt:1: column pa_eff_dt (4): .20093232. is not a date' "$T/out" \
    && ok "$tag: Ingest.BadRow names file, line 1 and column pa_eff_dt" || bad "$tag: sample 527: $(grep -E '"(error|cause)"' "$T/out")"
  expect_exit 1 "$tag: sample 558 (gzip, bad dates 13/7/2013) FAILS" -- ingest "$REF/hosp10_2014_RPT_558.csv.gz"
  grep -q 'RPT_558.csv.gz:2: column fy_bgn_dt (6): .13/7/2013.' "$T/out" && ok "$tag: 558 bad row: line 2, fy_bgn_dt" || bad "$tag: sample 558: $(grep cause "$T/out")"
  [ "$(db "SELECT count(*) FROM rdsftetl${sep}dc_x_pa_flavor") $(db "SELECT count(*) FROM rdsftetl${sep}hospital_cost_report")" = "0 0" ] \
    && ok "$tag: the good row of each sample was not loaded either" || bad "$tag: samples half-loaded"
  [ "$(audit PROD_20151015_150510973_PA_FLAVOR_527.txt)" = "FAILED|Ingest.BadRow|0" ] && [ -f "$T/archive/error/PROD_20151015_150510973_PA_FLAVOR_527.txt" ] \
    && ok "$tag: audit FAILED Ingest.BadRow, file in archive/error/" || bad "$tag: sample audit $(audit PROD_20151015_150510973_PA_FLAVOR_527.txt)"

  # -- the samples with corrected dates load; 527's post-load SQL fills the core table
  expect_exit 0 "$tag: corrected sample 527 SUCCEEDED" -- ingest gen/PROD_20151016_150510973_PA_FLAVOR_527.txt
  expect_exit 0 "$tag: corrected sample 558 (gzip) SUCCEEDED" -- ingest gen/hosp11_2014_RPT_558.csv.gz
  [ "$(db "SELECT count(*) FROM rdsftetl${sep}dc_x_pa_flavor WHERE file_name = 'PROD_20151016_150510973_PA_FLAVOR_527.txt'")" = 2 ] \
    && [ "$(db "SELECT count(*) FROM rdsftcore${sep}dc_x_pa_flavor")" = 2 ] && [ -f "$T/archive/527/PROD_20151016_150510973_PA_FLAVOR_527.txt" ] \
    && ok "$tag: 527 loaded 2 rows stamped with file_name, post-load SQL ran, archived under archive/527/" || bad "$tag: 527 load"
  [ "$(db "SELECT fy_end_dt FROM rdsftetl${sep}hospital_cost_report WHERE rpt_rec_num = 534843")" = 2013-12-31 ] && [ -f "$T/archive/558/hosp11_2014_RPT_558.csv.gz" ] \
    && ok "$tag: 558 dates M/D/YYYY stored as YYYY-MM-DD" || bad "$tag: 558: $(db "SELECT fy_end_dt FROM rdsftetl${sep}hospital_cost_report")"

  # -- generated good files
  expect_exit 0 "$tag: delimited, header, trailer, quoting, CRLF, blank line, final newline SUCCEEDED" -- ingest gen/people_a_710.csv
  expect_exit 0 "$tag: the same without a final newline SUCCEEDED" -- ingest gen/people_b_710.csv
  [ "$(count people)" = 8 ] && ok "$tag: 8 people loaded" || bad "$tag: people: $(count people)"
  [ "$(db "SELECT name FROM ingtest${sep}people WHERE id = 2")" = 'Grace "Amazing" Hopper' ] && [ "$(db "SELECT name FROM ingtest${sep}people WHERE id = 1")" = 'Ada, Countess' ] \
    && [ "$(db "SELECT born FROM ingtest${sep}people WHERE id = 3")" = 1912-06-23 ] && [ "$(db "SELECT coalesce(score, -1) FROM ingtest${sep}people WHERE id = 3")" = -1 ] \
    && ok "$tag: quoted fields, date formats and empty-as-NULL load right" || bad "$tag: values: $(db "SELECT * FROM ingtest${sep}people WHERE id <= 3")"
  expect_exit 0 "$tag: gzip delimited with header SUCCEEDED" -- ingest gen/people_711.csv.gz
  [ "$(count people)" = 11 ] && ok "$tag: 3 rows from the gzip file" || bad "$tag: gzip people: $(count people)"
  expect_exit 0 "$tag: fixed-width with header and trailer SUCCEEDED" -- ingest gen/pay_700.dat
  [ "$(db "SELECT code || '|' || amount || '|' || day FROM ingtest${sep}fixed WHERE code = 'B0002'")" = "B0002|123.45|2015-01-02" ] \
    && [ "$(count fixed)" = 3 ] && ok "$tag: fixed-width values cut by widths" || bad "$tag: fixed: $(db "SELECT * FROM ingtest${sep}fixed")"
  expect_exit 0 "$tag: gzip split by record prefix HD/DT SUCCEEDED" -- ingest gen/orders_720.txt.gz
  [ "$(count orders) $(count order_lines)" = "2 3" ] && [ -f "$T/archive/720/orders_720.txt.gz" ] \
    && ok "$tag: split: 2 HD rows and 3 DT rows in their own tables, file archived" || bad "$tag: split: $(count orders) $(count order_lines)"
  [ "$(db "SELECT count(*) FROM rdscnfg${sep}ext_file_audit WHERE file_name = 'orders_720.txt.gz' AND file_process_status = 'FINISHED'")" = 2 ] \
    && ok "$tag: split: one FINISHED audit row per part table" || bad "$tag: split audit"
  ls "$T/work" 2>/dev/null | grep -q . && bad "$tag: split parts left in the work directory" || ok "$tag: split parts removed"

  expect_exit 0 "$tag: ';'-delimited with escape_char \"'\" as the quote SUCCEEDED" -- ingest gen/quote_740.csv
  [ "$(db "SELECT name FROM ingtest${sep}people WHERE id = 5001")" = "O'Hara; Scarlett" ] && ok "$tag: single-quoted field with a doubled quote and the delimiter" \
    || bad "$tag: quote_740: $(db "SELECT name FROM ingtest${sep}people WHERE id = 5001")"

  # -- bad files: named check, audit row, target unchanged, archive/error/
  local before; before=$(count people)
  badfile() { # badfile FILE ERROR PATTERN
    local f=$1 e=$2 p=$3 n
    n=$(basename "$f")
    expect_exit 1 "$tag: $n FAILS" -- ingest "$f"
    if grep -q "\"error\":[[:space:]]*\"$e\"" "$T/out" && grep -qE -- "$p" "$T/out"; then ok "$tag: $n: $e, cause matches /$p/"
    else bad "$tag: $n: $(grep -E '"(error|cause)"' "$T/out")"; fi
    [ "$(audit "$n")" = "FAILED|$e|0" ] && ok "$tag: $n: audit row FAILED $e" || bad "$tag: $n: audit $(audit "$n")"
    [ -f "$T/archive/error/$n" ] && [ ! -f "$IN/$n" ] && ok "$tag: $n moved to archive/error/" || bad "$tag: $n not in archive/error/"
  }
  badfile gen/tiny_710.csv Ingest.TooSmall 'tiny_710.csv is 8 bytes, less than min_size_bytes 40'
  badfile gen/people_c_710.txt Ingest.WrongFileType "extension 'txt' is not the config's file_type 'csv'"
  badfile gen/badtrailer_710.csv Ingest.TrailerMismatch 'badtrailer_710.csv:7: the trailer says 5 records but the file has 4 data lines'
  badfile gen/baddate_710.csv Ingest.BadRow "baddate_710.csv:6: column born \\(3\\): '1930-02-30' is not a date"
  badfile gen/badcols_710.csv Ingest.BadRow 'badcols_710.csv:4: 5 fields, expected 4'
  badfile gen/badutf8_710.csv Ingest.BadRow "badutf8_710.csv:4: byte 6 is not valid UTF-8"
  badfile gen/manybad_710.csv Ingest.BadRow "at least 10 bad rows \\(nothing was loaded; checking stopped there\\): manybad_710.csv:2: column born \\(3\\): '2001-13-01' is not a date.*manybad_710.csv:11: column born \\(3\\): '2001-13-10' is not a date[^;]*\""
  badfile gen/badquote_740.csv Ingest.BadRow "badquote_740.csv:1: column born \\(3\\): '1936-06-31' is not a date"
  badfile gen/badnum_710.csv Ingest.BadRow "badnum_710.csv:2: column score \\(4\\): '9x9' is not a number"
  badfile gen/badwidth_710.csv Ingest.BadRow "badwidth_710.csv:6: column name \\(2\\): 'Edsger Wybe Dijkstra of Rotterdam NL' is 36 characters, more than (VARCHAR|character varying)\\(30\\) allows"
  badfile gen/badsplit_720.txt.gz Ingest.BadRow "badsplit_720.txt.gz:3: 'XX\\|1\\|gift' starts with none of the record prefixes HD, DT"
  [ "$(count orders) $(count order_lines)" = "2 3" ] && ok "$tag: the split tables are unchanged" || bad "$tag: split tables changed"
  ls "$T/work" 2>/dev/null | grep -q . && bad "$tag: a failed split left parts behind" || ok "$tag: a failed split leaves no parts"
  badfile gen/stuff_999.csv Ingest.NoConfig "no active config row has file_prefix '999.'"
  badfile gen/dup_799.csv Ingest.AmbiguousConfig "2 active config rows have file_prefix '799.' \\(ext_file_config_sid 76, 77\\)"
  [ "$(count people)" = "$before" ] && ok "$tag: the people table is unchanged by every bad file" || bad "$tag: people changed: $before -> $(count people)"
  [ "$(db "SELECT count(*) FROM rdscnfg${sep}ext_file_audit WHERE file_name = 'stuff_999.csv' AND ext_interface_cid IS NULL")" = 1 ] \
    && ok "$tag: the NoConfig audit row has no interface" || bad "$tag: NoConfig audit"
  local stage_cat
  stage_cat=$( [ "$wh" = sqlite ] && echo "sqlite_master WHERE type = 'table' AND name" || echo "pg_tables WHERE tablename")
  stage=$(db "SELECT count(*) FROM $stage_cat LIKE '_ingest_stage%'")
  [ "$stage" = 0 ] && ok "$tag: no staging table left behind" || bad "$tag: $stage staging tables left"

  # -- a failing post-load SQL: the rows are in (their own FINISHED audit
  # row), the file is audited FAILED Ingest.PostLoadFailed and moved to error/
  expect_exit 1 "$tag: broken post-load SQL FAILS" -- ingest gen/pl_730.csv
  grep -q '"error":[[:space:]]*"Ingest.PostLoadFailed"' "$T/out" && grep -q 'no_such_table' "$T/out" \
    && ok "$tag: Ingest.PostLoadFailed names the statement's error" || bad "$tag: post-load: $(grep -E '"(error|cause)"' "$T/out")"
  [ "$(audit pl_730.csv)" = "FAILED|Ingest.PostLoadFailed|0" ] && [ -f "$T/archive/error/pl_730.csv" ] \
    && [ "$(db "SELECT count(*) FROM ingtest${sep}people WHERE file_name = 'pl_730.csv'")" = 3 ] \
    && ok "$tag: post-load failure audited, file in archive/error/, the load itself kept" || bad "$tag: post-load audit $(audit pl_730.csv)"
  before=$(count people)

  # -- notifications
  grep -q '"status":"SUCCEEDED","file":"[^"]*/people_a_710.csv","name":"people_a_710.csv","interface_id":"710","rows":4' "$T/notices" \
    && grep -q '"status":"FAILED".*"name":"badtrailer_710.csv".*"error":"Ingest.TrailerMismatch"' "$T/notices" \
    && ok "$tag: the peer received SUCCEEDED and FAILED notices" || { bad "$tag: notices"; head -3 "$T/notices" | sed 's/^/    | /'; }

  # -- a notification refused once (503) is retried
  curl -s -X POST -d 1 "$U/__peer/fail" >/dev/null
  people gen/retry_710.csv 2001 yes
  expect_exit 0 "$tag: notification refused once (503), retried: SUCCEEDED" -- ingest gen/retry_710.csv
  grep -q '"name":"retry_710.csv"' "$T/notices" && ok "$tag: the retried notice arrived" || bad "$tag: retried notice missing"
  before=$(count people)

  # -- the same file twice loads once
  expect_exit 0 "$tag: people_a_710.csv delivered again SUCCEEDED" -- ingest gen/people_a_710.csv
  grep -q '"reason":[[:space:]]*"already loaded"' "$T/out" && [ "$(count people)" = "$before" ] \
    && ok "$tag: second delivery: already loaded, no row twice" || bad "$tag: duplicate delivery: $(count people) rows"
  grep -q '"status":"SKIPPED".*"name":"people_a_710.csv"' "$T/notices" && ok "$tag: SKIPPED notice" || bad "$tag: no SKIPPED notice"

  # -- the same file delivered twice at once (two inbox folders): one load
  people gen/race_710.csv 4001 yes
  mkdir -p "$IN/a" "$IN/b"
  cp gen/race_710.csv "$IN/a/"; cp gen/race_710.csv "$IN/b/"
  local p1 p2
  "$SW" start file_ingest --workflows "$SRC/workflows" --sql "$SRC/sql" --home "$H" ${url:+--warehouse "$url"} \
    --quiet --input "{\"file\": \"$IN/a/race_710.csv\"}" >race_a.out 2>&1 & p1=$!
  "$SW" start file_ingest --workflows "$SRC/workflows" --sql "$SRC/sql" --home "$H" ${url:+--warehouse "$url"} \
    --quiet --input "{\"file\": \"$IN/b/race_710.csv\"}" >race_b.out 2>&1 & p2=$!
  wait $p1 $p2
  [ "$(db "SELECT count(*) FROM ingtest${sep}people WHERE file_name = 'race_710.csv'")" = 4 ] \
    && [ "$(db "SELECT count(*) FROM rdscnfg${sep}ext_file_audit WHERE file_name = 'race_710.csv' AND file_process_status = 'FINISHED'")" = 1 ] \
    && [ "$(db "SELECT count(*) FROM $stage_cat LIKE '_ingest_stage%'")" = 0 ] \
    && ok "$tag: the same file delivered twice at once loads once (one FINISHED audit row, no staging left)" \
    || bad "$tag: race: $(db "SELECT count(*) FROM ingtest${sep}people WHERE file_name = 'race_710.csv'") rows"

  # -- killed at every commit point, resumed: exactly once
  local n=1 killed=0 rc id st tries crash_bad=""
  while [ $n -le 60 ]; do
    people "gen/k${n}_710.csv" $((1000 + 10 * n)) yes
    cp "gen/k${n}_710.csv" "$IN/"
    ( STEPWISE_FAULT=kill-after-commit:$n "$SW" start file_ingest --workflows "$SRC/workflows" --sql "$SRC/sql" --home "$H" \
      ${url:+--warehouse "$url"} --quiet --input "{\"file\": \"$IN/k${n}_710.csv\"}" >/dev/null 2>&1 &
      wait $! ) 2>/dev/null # (the subshell's wait reports the SIGKILL, not us)
    rc=$?
    if [ $rc -ne 137 ]; then
      [ $rc -eq 0 ] && ok "$tag: a run with $((n - 1)) commit points finished without a kill" || bad "$tag: kill point $n: exit $rc"
      break
    fi
    killed=$((killed + 1))
    id=$(sqlite3 "$H/state.db" "SELECT id FROM executions WHERE input LIKE '%/k${n}_710.csv%'")
    tries=0
    while :; do
      st=$(sqlite3 "$H/state.db" "SELECT status FROM executions WHERE id='$id'")
      [ "$st" = RUNNING ] || break
      tries=$((tries + 1)); [ $tries -gt 10 ] && break
      "$SW" resume "$id" --home "$H" --workflows "$SRC/workflows" --sql "$SRC/sql" ${url:+--warehouse "$url"} --quiet >/dev/null 2>&1
    done
    [ "$st" = SUCCEEDED ] || crash_bad="$crash_bad $n($st)"
    [ "$(db "SELECT count(*) FROM ingtest${sep}people WHERE file_name = 'k${n}_710.csv'")" = 4 ] || crash_bad="$crash_bad $n(rows $(db "SELECT count(*) FROM ingtest${sep}people WHERE file_name = 'k${n}_710.csv'"))"
    [ "$(db "SELECT count(*) FROM rdscnfg${sep}ext_file_audit WHERE file_name = 'k${n}_710.csv'")" = 1 ] || crash_bad="$crash_bad $n(audit)"
    [ -f "$T/archive/710/k${n}_710.csv" ] || crash_bad="$crash_bad $n(archive)"
    n=$((n + 1))
  done
  [ $killed -ge 6 ] && [ -z "$crash_bad" ] && ok "$tag: killed at $killed commit points and resumed: each file loaded once, one audit row, archived" \
    || bad "$tag: crash points ($killed killed):$crash_bad"

  # -- killed at a random time during a large load, resumed: exactly once
  {
    printf 'id,name,born,score\n'
    seq 100000 300000 | awk '{printf "%d,name%d,2001-01-%02d,%d.5\n", $1, $1, $1 % 28 + 1, $1 % 1000}'
    printf 'TRAILER %010d\n' 200001
  } >gen/big_710.csv
  cp gen/big_710.csv "$IN/"
  "$SW" start file_ingest --workflows "$SRC/workflows" --sql "$SRC/sql" --home "$H" ${url:+--warehouse "$url"} \
    --quiet --input "{\"file\": \"$IN/big_710.csv\"}" >/dev/null 2>&1 &
  local pid=$! waited=0
  disown $pid # (no "Killed" report from bash)
  # the staging table is created (and committed) just before the bulk load
  while [ "$(db "SELECT count(*) FROM $stage_cat LIKE '_ingest_stage%'")" = 0 ] && [ $waited -lt 200 ]; do
    sleep 0.02; waited=$((waited + 1))
  done
  sleep 0.$((RANDOM % 3 + 1))
  kill -9 $pid 2>/dev/null
  while kill -0 $pid 2>/dev/null; do sleep 0.02; done
  [ $waited -lt 200 ] && ok "$tag: killed (SIGKILL) while the 200001-row file was being bulk-loaded" || bad "$tag: never saw the staging table"
  id=$(sqlite3 "$H/state.db" "SELECT id FROM executions WHERE input LIKE '%/big_710.csv%'")
  tries=0
  while :; do
    st=$(sqlite3 "$H/state.db" "SELECT status FROM executions WHERE id='$id'")
    [ "$st" = RUNNING ] || break
    tries=$((tries + 1)); [ $tries -gt 10 ] && break
    "$SW" resume "$id" --home "$H" --workflows "$SRC/workflows" --sql "$SRC/sql" ${url:+--warehouse "$url"} --quiet >/dev/null 2>&1
  done
  [ "$st" = SUCCEEDED ] && [ "$(db "SELECT count(*) FROM ingtest${sep}people WHERE file_name = 'big_710.csv'")" = 200001 ] \
    && [ "$(db "SELECT count(*) FROM $stage_cat LIKE '_ingest_stage%'")" = 0 ] \
    && ok "$tag: 200001-row file killed mid-load and resumed: loaded once, no staging left" \
    || { bad "$tag: big file after kill: $st, $(db "SELECT count(*) FROM ingtest${sep}people WHERE file_name = 'big_710.csv'") rows"
         "$SW" status "$id" --home "$H" --json | grep -E '"(error|cause|loaded|rows|reason|archived_to)"' | sed 's/^/    | /'
         db "SELECT file_name, file_process_status, rows_loaded, client_token FROM rdscnfg${sep}ext_file_audit WHERE file_name = 'big_710.csv'" | sed 's/^/    | /'; }
}

sqlq() { sqlite3 "$T/h_sqlite/warehouse.db" "$1"; }
suite sqlite "" _ sqlq

# ---- a notify_command instead of a URL ---------------------------------------------------
cat >stepwise.ini <<INI
[ingest]
archive_dir = $T/archive
notify_command = env | grep '^INGEST_' | sort > $T/cmd.env
INI
cp gen/people_b_710.csv "$T/in_sqlite/again_710.csv"
sed -i 's/^1[1-4],/9&/' "$T/in_sqlite/again_710.csv"
expect_exit 0 "notify_command: run SUCCEEDED" -- "$SW" start file_ingest --workflows "$SRC/workflows" --sql "$SRC/sql" --home "$T/h_sqlite" --quiet --json --input "{\"file\": \"$T/in_sqlite/again_710.csv\"}"
grep -q '^INGEST_STATUS=SUCCEEDED$' cmd.env && grep -q '^INGEST_ROWS=4$' cmd.env && grep -q "^INGEST_ARCHIVED_TO=$T/archive/710/again_710.csv$" cmd.env \
  && ok "notify_command ran with INGEST_STATUS, INGEST_ROWS, INGEST_ARCHIVED_TO" || { bad "notify_command env"; sed 's/^/    | /' cmd.env; }
# an unreachable notify_url: retried, then Ingest.NotifyFailed (the data is
# in and archived); the URL's secret parts never reach the history
printf '[ingest]\narchive_dir = %s/archive\nnotify_url = http://hook:s3cret@127.0.0.1:9/hooks/s3cret-path?sig=s3cret\n' "$T" >stepwise.ini
cp gen/people_b_710.csv "$T/in_sqlite/unreach_710.csv"
sed -i 's/^1[1-4],/8&/' "$T/in_sqlite/unreach_710.csv"
expect_exit 1 "unreachable notify_url FAILS after retries" -- "$SW" start file_ingest --workflows "$SRC/workflows" --sql "$SRC/sql" --home "$T/h_sqlite" --quiet --json --input "{\"file\": \"$T/in_sqlite/unreach_710.csv\"}"
grep -q '"error":[[:space:]]*"Ingest.NotifyFailed"' "$T/out" && grep -q 'http://127.0.0.1:9\.\.\.' "$T/out" && [ -f "$T/archive/710/unreach_710.csv" ] \
  && ok "Ingest.NotifyFailed names the URL's origin; the file was loaded and archived" || bad "notify failure: $(grep -E '"(error|cause)"' "$T/out")"
id=$(sqlite3 "$T/h_sqlite/state.db" "SELECT id FROM executions ORDER BY start_ms DESC LIMIT 1")
"$SW" history "$id" --home "$T/h_sqlite" --json >hist.json 2>&1
grep -q s3cret "$T/out" hist.json && { bad "the notify_url secret reached the output or history"; grep -o ".\{60\}s3cret.\{20\}" "$T/out" hist.json | head -3; } || ok "the notify_url secret is not in the output nor the history"
printf '[ingest]\nmin_size_bytes = lots\n' >stepwise.ini
cp gen/people_a_710.csv "$T/in_sqlite/cfg_710.csv"
expect_exit 1 "a bad setting FAILS" -- "$SW" start file_ingest --workflows "$SRC/workflows" --sql "$SRC/sql" --home "$T/h_sqlite" --quiet --json --input "{\"file\": \"$T/in_sqlite/cfg_710.csv\"}"
grep -q "stepwise.ini:2: \[ingest\] min_size_bytes: expected a whole number" "$T/out" && ok "Ingest.ConfigError names the INI file, line and key" || bad "bad setting: $(grep cause "$T/out")"

if [ -n "${SW_TEST_PG_DSN:-}" ] && command -v psql >/dev/null; then
  name="swingest_$$"
  psql "$SW_TEST_PG_DSN" -X -q -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null 2>&1
  DBS=$name
  PGURL="${SW_TEST_PG_DSN%/*}/$name"
  pgq() { psql "$PGURL" -X -q -A -t -c "$1" 2>&1; }
  suite postgres "$PGURL" . pgq
else
  echo "skip: postgres part (SW_TEST_PG_DSN is not set)"
fi
finish
