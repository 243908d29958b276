# Helpers for the sales pipeline tests: run it, dump the warehouse.
WH_TABLES="customer customer_address date_dim item store_sales etl_batch_log"

# dump_wh DB: every warehouse table, rows sorted, as text (the statement
# registry is left out: its ids are random).
dump_wh() {
  local db=$1 t
  for t in $WH_TABLES; do
    echo "== $t"
    sqlite3 "$db" "SELECT * FROM $t ORDER BY 1, 2, 3" 2>&1
  done
}

# sq DB SQL: one value
sq() { sqlite3 "$1" "$2" 2>&1; }

# The same on PostgreSQL: DB is a libpq URL.
pq() { psql "$1" -X -q -A -t -F '|' -c "$2" 2>&1; }
dump_wh_pg() {
  local db=$1 t
  for t in $WH_TABLES; do
    echo "== $t"
    pq "$db" "SELECT * FROM $t ORDER BY 1, 2, 3"
  done
}

# check_invariants DB RUN_DATE LABEL [QUERY_FN]: the SCD and fact
# invariants. The queries run on SQLite (sq, default) and PostgreSQL (pq).
check_invariants() {
  local db=$1 d=$2 label=$3 sq=${4:-sq} v
  v=$($sq "$db" "SELECT count(*) FROM (SELECT i_item_id FROM item WHERE i_rec_end_date IS NULL GROUP BY 1 HAVING count(*) <> 1) x")
  [ "$v" = 0 ] && ok "$label: one current row per item" || bad "$label: $v items without exactly one current row"
  v=$($sq "$db" "SELECT count(*) FROM (SELECT i_item_id FROM item GROUP BY 1 HAVING sum(CASE WHEN i_rec_end_date IS NULL THEN 1 ELSE 0 END) = 0) x")
  [ "$v" = 0 ] && ok "$label: no item without a current row" || bad "$label: $v items lost their current row"
  v=$($sq "$db" "SELECT count(*) FROM store_sales s JOIN date_dim d ON d.d_date_sk = s.ss_sold_date_sk WHERE d.d_date = '$d'")
  [ "${v:-0}" -gt 0 ] 2>/dev/null && ok "$label: $v fact rows for $d" || bad "$label: no fact rows for $d ($v)"
  v=$($sq "$db" "SELECT count(*) FROM store_sales s LEFT JOIN item i ON i.i_item_sk = s.ss_item_sk LEFT JOIN customer c ON c.c_customer_sk = s.ss_customer_sk LEFT JOIN customer_address a ON a.ca_address_sk = s.ss_addr_sk WHERE i.i_item_sk IS NULL OR c.c_customer_sk IS NULL OR a.ca_address_sk IS NULL")
  [ "$v" = 0 ] && ok "$label: every fact row resolves to its dimensions" || bad "$label: $v fact rows do not resolve"
  v=$($sq "$db" "SELECT count(*) FROM (SELECT ca_address_id FROM customer_address GROUP BY 1 HAVING count(*) > 1) x")
  [ "$v" = 0 ] && ok "$label: SCD1 keeps one row per address id" || bad "$label: $v address ids duplicated"
}
