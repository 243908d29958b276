-- sales_data_pipeline: validate the load of :run_date.
--
-- Parameters: :run_date 'YYYY-MM-DD' (text), :scale (unused here).
-- One SELECT returning one row with one column, failed_check: NULL when every
-- check passes, else "<check>: <detail>" of the first failing check, in order:
--   run_date          :run_date is a day of date_dim
--   fact_rows         store_sales has rows for :run_date
--   fact_dimensions   every such row resolves to the item version valid on
--                     that day, its customer and its address
--   item_current      every i_item_id has exactly one current row
--   fact_count        staged lines for :run_date = fact rows for :run_date
--   fact_quantity     no fact row for :run_date has ss_quantity <= 0
-- The workflow reads it through getStatementResult: Records[0][0] is
-- {"isNull": true} on success, {"stringValue": "..."} on failure.
-- Standard SQL; the :run_date text is only concatenated into messages, and
-- compared through date_dim.d_date.

WITH run AS (
  SELECT d_date_sk, d_date FROM date_dim WHERE d_date = :run_date
),
checks (ord, failed) AS (
  SELECT 1, 'run_date: ' || COALESCE(:run_date, 'NULL')
            || ' is not a day of date_dim (2020-01-01..2030-12-31)'
  FROM (SELECT COUNT(*) AS n FROM run) r
  WHERE r.n = 0

  UNION ALL
  SELECT 2, 'fact_rows: no store_sales rows for ' || :run_date
  FROM run
  WHERE NOT EXISTS (SELECT 1 FROM store_sales f WHERE f.ss_sold_date_sk = run.d_date_sk)

  UNION ALL
  SELECT 3, 'fact_dimensions: ' || CAST(x.n AS TEXT) || ' store_sales rows for '
            || :run_date || ' do not resolve to item, customer and address'
            || ' (first ticket ' || CAST(x.first_ticket AS TEXT) || ')'
  FROM (SELECT COUNT(*) AS n, MIN(f.ss_ticket_number) AS first_ticket
        FROM run
        JOIN store_sales f ON f.ss_sold_date_sk = run.d_date_sk
        WHERE NOT EXISTS (SELECT 1 FROM item i
                          WHERE i.i_item_sk = f.ss_item_sk
                            AND i.i_rec_start_date <= run.d_date
                            AND (i.i_rec_end_date IS NULL OR i.i_rec_end_date > run.d_date))
           OR NOT EXISTS (SELECT 1 FROM customer c WHERE c.c_customer_sk = f.ss_customer_sk)
           OR NOT EXISTS (SELECT 1 FROM customer_address a WHERE a.ca_address_sk = f.ss_addr_sk)) x
  WHERE x.n > 0

  UNION ALL
  SELECT 4, 'item_current: ' || CAST(x.n AS TEXT)
            || ' item ids without exactly one current row (first ' || x.first_id || ')'
  FROM (SELECT COUNT(*) AS n, MIN(bad.i_item_id) AS first_id
        FROM (SELECT i_item_id
              FROM item
              GROUP BY i_item_id
              HAVING SUM(CASE WHEN i_rec_end_date IS NULL THEN 1 ELSE 0 END) <> 1) bad) x
  WHERE x.n > 0

  UNION ALL
  SELECT 5, 'fact_count: ' || CAST(st.n AS TEXT) || ' staged lines but '
            || CAST(fa.n AS TEXT) || ' store_sales rows for ' || :run_date
  FROM (SELECT COUNT(*) AS n FROM stg_store_sales s JOIN run ON s.sold_date = run.d_date) st
  CROSS JOIN (SELECT COUNT(*) AS n FROM store_sales f JOIN run ON f.ss_sold_date_sk = run.d_date_sk) fa
  WHERE st.n <> fa.n

  UNION ALL
  SELECT 6, 'fact_quantity: ' || CAST(x.n AS TEXT)
            || ' store_sales rows for ' || :run_date || ' have ss_quantity <= 0'
  FROM (SELECT COUNT(*) AS n
        FROM run
        JOIN store_sales f ON f.ss_sold_date_sk = run.d_date_sk
        WHERE f.ss_quantity <= 0) x
  WHERE x.n > 0
)
SELECT (SELECT failed FROM checks ORDER BY ord LIMIT 1) AS failed_check;
