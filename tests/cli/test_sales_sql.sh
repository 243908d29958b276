#!/usr/bin/env bash
# Tests of sql/sales/*.sql on the sqlite3 CLI, the way the engine submits them:
# each script is one batch in one transaction, with :run_date and :scale bound
# as text.
#
# Usage: test_sales_sql.sh [STEPWISE_BIN]   (the binary is not used here)
# Env:   SW_SRCDIR  repository root (default: two levels above this script)
#        SW_SALES_SQL_SCALE100=0  skip the scale-100 timing run
# Exit:  0 pass, 1 fail (each failure is printed), 77 skip (no sqlite3 CLI).
#
# Checked, for scale 1 and 10 over two consecutive run dates:
#   - validate.sql returns NULL (all checks pass) after each day;
#   - seed sizes follow :scale and are not re-seeded on day 2;
#   - SCD1: ids unique, surrogate keys 1..count, every staged address equals
#     its table row, new addresses of each day are present;
#   - SCD2: exactly one current row per item id, versions of an id do not
#     overlap and chain (end of one = start of the next), every staged item
#     equals its current row, a price change closed a row on the run date,
#     attribute-only changes and new items happened, unchanged rows untouched;
#   - fact: 1000*scale rows per date, each pointing at the item version valid
#     on the sale date, its customer and its address;
#   - successive days stage different change sets;
#   - idempotency: re-running all five scripts for the last date, and each
#     of scd1/scd2/fact alone, leaves `.dump` byte-identical (except the
#     append-only etl_batch_log, which gains exactly one row per batch);
#   - determinism: a second database built by the same runs dumps identically;
#   - validate.sql names the failing check (bad date, missing facts, broken
#     item history, count mismatch);
# and the scale-100 day runs in seconds (printed; fails above 120 s).
set -uo pipefail

SRC=${SW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SQL=$SRC/sql/sales
command -v sqlite3 >/dev/null 2>&1 || { echo "SKIP: no sqlite3 CLI"; exit 77; }
for f in setup scd1_customer_address scd2_item fact_store_sales validate; do
  [ -f "$SQL/$f.sql" ] || { echo "FAIL: missing $SQL/$f.sql"; exit 1; }
done

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# run_script DB SCRIPT RUN_DATE SCALE: one transaction, parameters as text.
run_script() {
  local db=$1 script=$2 date=$3 scale=$4 out
  if ! out=$({
      echo ".bail on"
      echo ".nullvalue NULL"
      echo ".parameter set :run_date \"'$date'\""
      echo ".parameter set :scale \"'$scale'\""
      echo "BEGIN;"
      cat "$SQL/$script.sql"
      echo "COMMIT;"
    } | sqlite3 "$db" 2>&1); then
    fail "$script ($date, scale $scale): $out"
    return 1
  fi
  printf '%s' "$out"
}

# run_day DB DATE SCALE: the pipeline order; prints validate's result.
run_day() {
  local db=$1 date=$2 scale=$3 s
  for s in setup scd1_customer_address scd2_item fact_store_sales; do
    run_script "$db" $s "$date" "$scale" >/dev/null || return 1
  done
  run_script "$db" validate "$date" "$scale"
}

q() { sqlite3 -bail "$1" "$2" 2>&1; }

# expect DB LABEL SQL EXPECTED
expect() {
  local got
  got=$(q "$1" "$3")
  if [ "$got" = "$4" ]; then pass "$2"; else fail "$2: expected '$4', got '$got'"; fi
}

# The whole database except the append-only audit log etl_batch_log.
dump() { sqlite3 "$1" .dump | grep -v 'etl_batch_log'; }

check_day() {  # DB DATE SCALE DAYS_SO_FAR
  local db=$1 d=$2 s=$3 days=$4 n0=$((100 * $3))
  local tag="scale $s $d"
  expect "$db" "$tag: customers seeded once" "SELECT COUNT(*), MIN(c_customer_sk), MAX(c_customer_sk) FROM customer" "$n0|1|$n0"
  expect "$db" "$tag: date_dim 2020-01-01..2030-12-31" \
    "SELECT COUNT(*), MIN(d_date), MAX(d_date) FROM date_dim" "4018|2020-01-01|2030-12-31"
  expect "$db" "$tag: addresses = seed + 5*scale per day, sks dense" \
    "SELECT COUNT(*), COUNT(DISTINCT ca_address_id), MAX(ca_address_sk) FROM customer_address" \
    "$((n0 + 5 * s * days))|$((n0 + 5 * s * days))|$((n0 + 5 * s * days))"
  expect "$db" "$tag: SCD1 every staged address equals its row" \
    "SELECT COUNT(*) FROM stg_customer_address s LEFT JOIN customer_address a
       ON a.ca_address_id = s.ca_address_id
     WHERE a.ca_address_id IS NULL OR a.ca_state IS NOT s.ca_state
        OR a.ca_zip IS NOT s.ca_zip OR a.ca_country IS NOT s.ca_country" "0"
  expect "$db" "$tag: SCD1 staged changed, unchanged and new rows" \
    "SELECT SUM(substr(ca_address_id,1,2)='AB') > 0, SUM(substr(ca_address_id,1,2)='AN') FROM stg_customer_address" \
    "1|$((5 * s))"
  expect "$db" "$tag: SCD2 exactly one current row per item id" \
    "SELECT COUNT(*) FROM (SELECT i_item_id FROM item GROUP BY i_item_id
       HAVING SUM(i_rec_end_date IS NULL) <> 1)" "0"
  expect "$db" "$tag: SCD2 versions chain without overlap" \
    "SELECT COUNT(*) FROM item a JOIN item b ON a.i_item_id = b.i_item_id AND a.i_item_sk <> b.i_item_sk
     WHERE a.i_rec_start_date < COALESCE(b.i_rec_end_date, '9999-12-31')
       AND b.i_rec_start_date < COALESCE(a.i_rec_end_date, '9999-12-31')" "0"
  expect "$db" "$tag: SCD2 closed rows are followed by a version starting that day" \
    "SELECT COUNT(*) FROM item a WHERE a.i_rec_end_date IS NOT NULL AND (a.i_rec_end_date <= a.i_rec_start_date
       OR NOT EXISTS (SELECT 1 FROM item b WHERE b.i_item_id = a.i_item_id AND b.i_rec_start_date = a.i_rec_end_date))" "0"
  expect "$db" "$tag: SCD2 every staged item equals its current row" \
    "SELECT COUNT(*) FROM stg_item s LEFT JOIN item i ON i.i_item_id = s.i_item_id AND i.i_rec_end_date IS NULL
     WHERE i.i_item_id IS NULL OR i.i_current_price <> s.i_current_price
        OR i.i_category IS NOT s.i_category OR i.i_product_name IS NOT s.i_product_name" "0"
  expect "$db" "$tag: SCD2 price changes closed rows and opened versions on the run date" \
    "SELECT (SELECT COUNT(*) FROM item WHERE i_rec_end_date = '$d') > 0,
            (SELECT COUNT(*) FROM item WHERE i_rec_end_date = '$d')
          = (SELECT COUNT(*) FROM item WHERE i_rec_start_date = '$d' AND substr(i_item_id,1,2) = 'IB')" "1|1"
  expect "$db" "$tag: SCD2 new items of the day" \
    "SELECT COUNT(*) FROM item WHERE i_rec_start_date = '$d' AND substr(i_item_id,1,2) = 'IN' AND i_rec_end_date IS NULL" \
    "$((3 * s))"
  expect "$db" "$tag: fact rows for the date" \
    "SELECT COUNT(*) FROM store_sales f JOIN date_dim d ON d.d_date_sk = f.ss_sold_date_sk WHERE d.d_date = '$d'" \
    "$((1000 * s))"
  expect "$db" "$tag: fact rows point at the item version valid on the sale date" \
    "SELECT COUNT(*) FROM store_sales f JOIN date_dim d ON d.d_date_sk = f.ss_sold_date_sk
     LEFT JOIN item i ON i.i_item_sk = f.ss_item_sk
     LEFT JOIN customer c ON c.c_customer_sk = f.ss_customer_sk
     LEFT JOIN customer_address a ON a.ca_address_sk = f.ss_addr_sk
     WHERE i.i_item_sk IS NULL OR c.c_customer_sk IS NULL OR a.ca_address_sk IS NULL
        OR NOT (i.i_rec_start_date <= d.d_date AND (i.i_rec_end_date IS NULL OR i.i_rec_end_date > d.d_date))" "0"
  expect "$db" "$tag: fact keys match the staged business keys" \
    "SELECT COUNT(*) FROM stg_store_sales s
     JOIN store_sales f ON f.ss_ticket_number = s.ss_ticket_number
     JOIN item i ON i.i_item_sk = f.ss_item_sk AND i.i_item_id = s.i_item_id
     JOIN customer c ON c.c_customer_sk = f.ss_customer_sk AND c.c_customer_id = s.c_customer_id
     JOIN customer_address a ON a.ca_address_sk = f.ss_addr_sk AND a.ca_address_id = s.ca_address_id
     WHERE f.ss_quantity = s.ss_quantity AND f.ss_net_paid = s.ss_net_paid" "$((1000 * s))"
}

for scale in 1 10; do
  db=$TMP/s$scale.db
  d1=2021-06-26 d2=2021-06-27

  v=$(run_day "$db" $d1 $scale) || continue
  [ "$v" = "NULL" ] && pass "scale $scale $d1: validate" || fail "scale $scale $d1: validate says '$v'"
  check_day "$db" $d1 $scale 1
  cp "$db" "$TMP/day1.db"
  q "$db" "SELECT * FROM stg_item ORDER BY 1" >"$TMP/stg_item1"
  q "$db" "SELECT * FROM stg_customer_address ORDER BY 1" >"$TMP/stg_addr1"

  v=$(run_day "$db" $d2 $scale) || continue
  [ "$v" = "NULL" ] && pass "scale $scale $d2: validate" || fail "scale $scale $d2: validate says '$v'"
  check_day "$db" $d2 $scale 2
  expect "$db" "scale $scale: day-1 facts kept after day 2" \
    "SELECT COUNT(*) FROM store_sales f JOIN date_dim d ON d.d_date_sk = f.ss_sold_date_sk WHERE d.d_date = '$d1'" \
    "$((1000 * scale))"
  expect "$db" "scale $scale: history spans both days" \
    "SELECT COUNT(DISTINCT i_rec_end_date) FROM item WHERE i_rec_end_date IS NOT NULL" "2"

  # Day 2 against the day-1 copy: what changed is exactly what was staged.
  day1="ATTACH '$TMP/day1.db' AS p;"
  expect "$db" "scale $scale: SCD2 type-1 changes overwrote current rows in place" \
    "$day1 SELECT COUNT(*) > 0 FROM item i JOIN p.item o ON o.i_item_sk = i.i_item_sk
     WHERE i.i_rec_end_date IS NULL AND o.i_rec_end_date IS NULL AND i.i_current_price = o.i_current_price
       AND (i.i_category <> o.i_category OR i.i_product_name <> o.i_product_name)" "1"
  expect "$db" "scale $scale: SCD2 price changes kept the old version intact" \
    "$day1 SELECT COUNT(*) FROM p.item o LEFT JOIN item i ON i.i_item_sk = o.i_item_sk
     WHERE i.i_item_sk IS NULL OR i.i_item_id <> o.i_item_id OR i.i_rec_start_date <> o.i_rec_start_date
        OR (o.i_rec_end_date IS NOT NULL AND i.i_rec_end_date IS NOT o.i_rec_end_date)
        OR (i.i_rec_end_date IS NOT NULL AND (i.i_current_price <> o.i_current_price
            OR i.i_category <> o.i_category OR i.i_product_name <> o.i_product_name))" "0"
  expect "$db" "scale $scale: SCD2 items not staged on day 2 untouched" \
    "$day1 SELECT COUNT(*) FROM p.item o LEFT JOIN item i ON i.i_item_sk = o.i_item_sk
     WHERE o.i_item_id NOT IN (SELECT i_item_id FROM stg_item)
       AND (i.i_rec_end_date IS NOT o.i_rec_end_date OR i.i_current_price <> o.i_current_price
            OR i.i_category <> o.i_category OR i.i_product_name <> o.i_product_name)" "0"
  expect "$db" "scale $scale: SCD2 restated unchanged items untouched" \
    "$day1 SELECT COUNT(*) > 0, SUM(i.i_item_sk IS NULL) FROM stg_item s
     JOIN p.item o ON o.i_item_id = s.i_item_id AND o.i_rec_end_date IS NULL
     LEFT JOIN item i ON i.i_item_sk = o.i_item_sk AND i.i_rec_end_date IS NULL
     WHERE s.i_current_price = o.i_current_price AND s.i_category = o.i_category
       AND s.i_product_name = o.i_product_name" "1|0"
  expect "$db" "scale $scale: SCD1 changed addresses updated in place, others untouched" \
    "$day1 SELECT SUM(o.ca_address_id IN (SELECT ca_address_id FROM stg_customer_address)
                    AND (a.ca_state <> o.ca_state OR a.ca_zip <> o.ca_zip OR a.ca_country <> o.ca_country)) > 0,
            SUM(a.ca_address_sk IS NULL OR a.ca_address_id <> o.ca_address_id),
            SUM(o.ca_address_id NOT IN (SELECT ca_address_id FROM stg_customer_address)
                AND (a.ca_state <> o.ca_state OR a.ca_zip <> o.ca_zip OR a.ca_country <> o.ca_country))
     FROM p.customer_address o LEFT JOIN customer_address a ON a.ca_address_sk = o.ca_address_sk" "1|0|0"

  q "$db" "SELECT * FROM stg_item ORDER BY 1" >"$TMP/stg_item2"
  q "$db" "SELECT * FROM stg_customer_address ORDER BY 1" >"$TMP/stg_addr2"
  cmp -s "$TMP/stg_item1" "$TMP/stg_item2" && fail "scale $scale: stg_item identical on both days" \
    || pass "scale $scale: successive days stage different item changes"
  cmp -s "$TMP/stg_addr1" "$TMP/stg_addr2" && fail "scale $scale: stg_customer_address identical on both days" \
    || pass "scale $scale: successive days stage different address changes"

  # Idempotency: the whole day again, then each load step alone.
  dump "$db" >"$TMP/dump_a"
  v=$(run_day "$db" $d2 $scale)
  [ "$v" = "NULL" ] || fail "scale $scale: re-run validate says '$v'"
  dump "$db" >"$TMP/dump_b"
  cmp -s "$TMP/dump_a" "$TMP/dump_b" && pass "scale $scale: re-running $d2 changes nothing" \
    || { fail "scale $scale: re-running $d2 changed the database"; diff "$TMP/dump_a" "$TMP/dump_b" | head -10; }
  for s in scd1_customer_address scd2_item fact_store_sales; do
    run_script "$db" $s $d2 $scale >/dev/null
    dump "$db" >"$TMP/dump_c"
    cmp -s "$TMP/dump_a" "$TMP/dump_c" && pass "scale $scale: $s twice = once" \
      || { fail "scale $scale: re-running $s changed the database"; diff "$TMP/dump_a" "$TMP/dump_c" | head -10; }
  done

  # Audit log: one row per committed load batch, re-runs included
  # (day 1, day 2, day 2 again, then scd1, scd2 and fact alone).
  expect "$db" "scale $scale: etl_batch_log has one row per committed batch" \
    "SELECT group_concat(step || ':' || n, ' ') FROM (SELECT step, COUNT(*) AS n FROM etl_batch_log
       WHERE scale = $scale GROUP BY step ORDER BY step)" \
    "fact_store_sales:4 scd1_customer_address:4 scd2_item:4 setup:3"

  # Determinism: a fresh database through the same runs.
  db2=$TMP/s$scale-again.db
  run_day "$db2" $d1 $scale >/dev/null && run_day "$db2" $d2 $scale >/dev/null
  dump "$db2" >"$TMP/dump_d"
  cmp -s "$TMP/dump_a" "$TMP/dump_d" && pass "scale $scale: same runs give identical databases" \
    || fail "scale $scale: a second database built the same way differs"
done

# validate.sql names the first failing check.
db=$TMP/s1.db
expect_validate() {  # LABEL DATE PREFIX
  local v
  v=$(run_script "$db" validate "$2" 1)
  case $v in
    "$3"*) pass "validate: $1 -> $v" ;;
    *) fail "validate: $1: expected '$3...', got '$v'" ;;
  esac
}
expect_validate "date outside date_dim" 2019-12-31 "run_date: 2019-12-31"
expect_validate "malformed date" 2021-6-26 "run_date: 2021-6-26"
expect_validate "date not loaded" 2021-06-28 "fact_rows: no store_sales rows for 2021-06-28"
cp "$db" "$TMP/broken.db"
db=$TMP/broken.db
q "$db" "DELETE FROM store_sales WHERE ss_ticket_number = (SELECT MIN(ss_ticket_number) FROM store_sales
         WHERE ss_sold_date_sk = 2459393)" >/dev/null
expect_validate "missing fact rows" 2021-06-27 "fact_count: 1000 staged lines but"
run_script "$db" fact_store_sales 2021-06-27 1 >/dev/null
q "$db" "UPDATE store_sales SET ss_addr_sk = -1 WHERE ss_ticket_number = 543000005" >/dev/null
expect_validate "unresolved address" 2021-06-27 "fact_dimensions: 3 store_sales rows for 2021-06-27"
run_script "$db" fact_store_sales 2021-06-27 1 >/dev/null
q "$db" "UPDATE item SET i_rec_end_date = '2021-06-28'
         WHERE i_item_id = 'IB00000000000001' AND i_rec_end_date IS NULL" >/dev/null
expect_validate "item without current row" 2021-06-27 "item_current: 1 item ids"
q "$db" "UPDATE item SET i_rec_end_date = NULL WHERE i_item_id = 'IB00000000000001'
         AND i_rec_end_date = '2021-06-28'; UPDATE store_sales SET ss_quantity = 0
         WHERE ss_ticket_number = 543000007" >/dev/null
expect_validate "zero quantity" 2021-06-27 "fact_quantity: "
run_script "$db" fact_store_sales 2021-06-27 1 >/dev/null
expect_validate "repaired" 2021-06-27 "NULL"

# Scale 100: one day in seconds, not minutes.
if [ "${SW_SALES_SQL_SCALE100:-1}" != 0 ]; then
  db=$TMP/s100.db
  t0=$(date +%s.%N)
  v=$(run_day "$db" 2021-06-26 100)
  t1=$(date +%s.%N)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  [ "$v" = "NULL" ] || fail "scale 100: validate says '$v'"
  # items: 10000 seeded + 1000 new versions (10% price changes) + 300 new
  expect "$db" "scale 100: sizes" \
    "SELECT (SELECT COUNT(*) FROM customer), (SELECT COUNT(*) FROM item), (SELECT COUNT(*) FROM store_sales)" \
    "10000|11300|100000"
  if awk -v s="$secs" 'BEGIN { exit !(s < 120) }'; then pass "scale 100: one day took ${secs}s"
  else fail "scale 100: one day took ${secs}s (limit 120s)"; fi
fi

if [ "$failures" -ne 0 ]; then
  echo "test_sales_sql: $failures failure(s)"
  exit 1
fi
echo "test_sales_sql: all passed"
