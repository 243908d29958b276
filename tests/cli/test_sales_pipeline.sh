#!/usr/bin/env bash
# The sales pipeline end to end on the embedded SQLite warehouse, as a user
# runs it: SCD1/SCD2/fact invariants, idempotent re-runs, a failing
# validation, and a FAILED run redriven after its script is fixed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sales_lib.sh"
cd "$SRC"
H="$T/h"; WH="$H/warehouse.db"
run() { "$SW" start sales_data_pipeline --home "$H" --quiet --json "$@"; }

expect_exit 0 "day 1 (2021-06-26) SUCCEEDED" -- run --input '{"run_date": "2021-06-26", "scale": 1, "poll_seconds": 0}'
grep -qE '"status":[[:space:]]*"SUCCEEDED"' "$T/out" && ok "--json prints the DescribeExecution shape" || bad "no status in --json output"
check_invariants "$WH" 2021-06-26 "day 1"
n_items_1=$(sq "$WH" "SELECT count(*) FROM item")

expect_exit 0 "day 2 (2021-06-27) SUCCEEDED" -- run --input '{"run_date": "2021-06-27", "scale": 1, "poll_seconds": 0}'
check_invariants "$WH" 2021-06-27 "day 2"
closed=$(sq "$WH" "SELECT count(*) FROM item WHERE i_rec_end_date = '2021-06-27'")
opened=$(sq "$WH" "SELECT count(*) FROM item WHERE i_rec_start_date = '2021-06-27' AND i_item_id IN (SELECT i_item_id FROM item WHERE i_rec_end_date = '2021-06-27')")
[ "${closed:-0}" -gt 0 ] && [ "$closed" = "$opened" ] && ok "SCD2: $closed price changes closed and reopened on day 2" || bad "SCD2: closed=$closed opened=$opened"
n_items_2=$(sq "$WH" "SELECT count(*) FROM item")
[ "$n_items_2" -gt "$n_items_1" ] && ok "SCD2 keeps history ($n_items_1 -> $n_items_2 item rows)" || bad "item rows $n_items_1 -> $n_items_2"
d1=$(sq "$WH" "SELECT count(*) FROM store_sales s JOIN date_dim d ON d.d_date_sk = s.ss_sold_date_sk WHERE d.d_date = '2021-06-26'")

sq "$WH" "DELETE FROM etl_batch_log" >/dev/null
dump_wh "$WH" >"$T/before"
expect_exit 0 "day 2 again SUCCEEDED" -- run --input '{"run_date": "2021-06-27", "scale": 1, "poll_seconds": 0}'
sq "$WH" "DELETE FROM etl_batch_log" >/dev/null
dump_wh "$WH" >"$T/after"
[ "$(grep -c '|' "$T/before")" -gt 100 ] && cmp -s "$T/before" "$T/after" && ok "re-running a day changes no table" || { bad "re-running day 2 changed tables"; diff "$T/before" "$T/after" | head -10; }
d1b=$(sq "$WH" "SELECT count(*) FROM store_sales s JOIN date_dim d ON d.d_date_sk = s.ss_sold_date_sk WHERE d.d_date = '2021-06-26'")
[ "$d1" = "$d1b" ] && ok "day 1 facts untouched by day 2 runs" || bad "day 1 facts $d1 -> $d1b"

expect_exit 1 "a run date with no data FAILS" -- run --input '{"run_date": "2035-01-01", "scale": 1, "poll_seconds": 0}'
grep -qE '"error":[[:space:]]*"Validation.Failed"' "$T/out" && ok "error is Validation.Failed" || bad "error is not Validation.Failed: $(grep error "$T/out")"
grep -qE '"cause":[[:space:]]*".*2035-01-01' "$T/out" && ok "cause names the failing check" || bad "cause: $(grep cause "$T/out")"

# A broken script FAILS the run; fixed, resume redrives from the failed state.
P="$T/proj"; mkdir -p "$P"; cp -r workflows sql "$P/"
H2="$T/h2"; WH2="$H2/warehouse.db"
printf '\nSELEC broken_on_purpose;\n' >>"$P/sql/sales/fact_store_sales.sql"
(cd "$P" && "$SW" start sales_data_pipeline --home "$H2" --quiet --json --input '{"run_date": "2021-06-26", "poll_seconds": 0}') >"$T/out" 2>"$T/err"
rc=$?
[ $rc = 1 ] && ok "broken fact script FAILS the execution" || bad "broken script: exit $rc"
grep -qE '"error":[[:space:]]*"StoreSalesFact.Failed"' "$T/out" && ok "error names the failed step" || bad "error: $(grep '"error"' "$T/out")"
grep -q 'syntax error' "$T/out" && ok "cause carries the SQL error" || bad "cause: $(grep cause "$T/out")"
id=$(sed -nE 's/.*"executionId":[[:space:]]*"([^"]*)".*/\1/p' "$T/out")
cp "$SRC/sql/sales/fact_store_sales.sql" "$P/sql/sales/fact_store_sales.sql"
(cd "$P" && "$SW" resume "$id" --home "$H2" --quiet --json) >"$T/out" 2>"$T/err"
rc=$?
[ $rc = 0 ] && ok "resume after the fix SUCCEEDS" || { bad "resume: exit $rc"; cat "$T/err"; }
grep -qE '"redriveCount":[[:space:]]*1' "$T/out" && ok "redriveCount is 1" || bad "redriveCount: $(grep redrive "$T/out")"
n=$(sq "$H2/state.db" "SELECT count(*) FROM tasks WHERE execution_id = '$id' AND state = 'setup_sales_data_pipeline'")
[ "$n" = 1 ] && ok "setup ran once across the failure and the redrive" || bad "setup scheduled $n times"
n=$(sq "$H2/state.db" "SELECT count(*) FROM tasks WHERE execution_id = '$id' AND state = 'load_item_scd2'")
[ "$n" = 1 ] && ok "SCD2 ran once across the failure and the redrive" || bad "SCD2 scheduled $n times"
n=$(sq "$WH2" "SELECT group_concat(step || ':' || n, ' ') FROM (SELECT step, count(*) n FROM etl_batch_log GROUP BY step ORDER BY step)")
[ "$n" = "fact_store_sales:1 scd1_customer_address:1 scd2_item:1 setup:1" ] && ok "each batch committed once: $n" || bad "batches committed: $n"
check_invariants "$WH2" 2021-06-26 "redriven run"
n=$(sq "$H2/state.db" "SELECT count(*) FROM events e JOIN executions x ON x.seq = (e.key >> 32) WHERE x.id = '$id' AND e.type = 'ExecutionRedriven'")
[ "$n" = 1 ] && ok "history records ExecutionRedriven" || bad "ExecutionRedriven events: $n"
finish
