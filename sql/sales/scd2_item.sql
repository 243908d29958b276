-- sales_data_pipeline: SCD type 2 on item (keyed by i_item_id, history on
-- i_current_price) from stg_item, effective :run_date.
--
-- Parameters: :run_date 'YYYY-MM-DD' (text), :scale (only logged).
-- Runs as one batch in one transaction (the engine wraps it).
--
-- The current version of an item is its row with i_rec_end_date NULL; a
-- version is valid on day D when i_rec_start_date <= D and (i_rec_end_date IS
-- NULL or i_rec_end_date > D). For each staged item:
--   - same price, other attributes differ: overwrite i_category and
--     i_product_name of the current row (type 1);
--   - price differs: close the current row (i_rec_end_date = :run_date) and
--     open a new current row (new sk, i_rec_start_date = :run_date);
--   - unchanged: untouched;
--   - new id: a current row starting :run_date.
-- New surrogate keys are max(i_item_sk) + row_number() ordered by i_item_id.
-- Decisions beyond the upstream sample:
--   - a current row that already starts on :run_date (a same-day correction)
--     is overwritten in place rather than given a zero-length version;
--   - a current row that starts after :run_date (a back-dated run) is not
--     versioned, so histories never overlap;
--   - a :run_date outside date_dim changes nothing (validate.sql reports it).
-- Re-running for the same date changes nothing: staged prices then equal the
-- current prices, and every staged id has a current row.
-- :run_date is always taken through date_dim.d_date so that PostgreSQL sees a
-- DATE, not text; the statements are otherwise standard SQL.

-- 1. Same-day correction of a version opened on :run_date.
UPDATE item
SET i_current_price = (SELECT s.i_current_price FROM stg_item s WHERE s.i_item_id = item.i_item_id),
    i_category      = (SELECT s.i_category      FROM stg_item s WHERE s.i_item_id = item.i_item_id),
    i_product_name  = (SELECT s.i_product_name  FROM stg_item s WHERE s.i_item_id = item.i_item_id)
WHERE i_rec_end_date IS NULL
  AND i_rec_start_date = (SELECT d_date FROM date_dim WHERE d_date = :run_date)
  AND EXISTS (SELECT 1 FROM stg_item s
              WHERE s.i_item_id = item.i_item_id
                AND s.i_current_price <> item.i_current_price);

-- 2. Type 1: same price, other attributes changed.
UPDATE item
SET i_category     = (SELECT s.i_category     FROM stg_item s WHERE s.i_item_id = item.i_item_id),
    i_product_name = (SELECT s.i_product_name FROM stg_item s WHERE s.i_item_id = item.i_item_id)
WHERE i_rec_end_date IS NULL
  AND EXISTS (SELECT 1 FROM stg_item s
              WHERE s.i_item_id = item.i_item_id
                AND s.i_current_price = item.i_current_price
                AND (   s.i_category <> item.i_category
                     OR (s.i_category IS NULL) <> (item.i_category IS NULL)
                     OR s.i_product_name <> item.i_product_name
                     OR (s.i_product_name IS NULL) <> (item.i_product_name IS NULL)));

-- 3. Price changed: close the current version as of :run_date.
UPDATE item
SET i_rec_end_date = (SELECT d_date FROM date_dim WHERE d_date = :run_date)
WHERE i_rec_end_date IS NULL
  AND i_rec_start_date < (SELECT d_date FROM date_dim WHERE d_date = :run_date)
  AND EXISTS (SELECT 1 FROM stg_item s
              WHERE s.i_item_id = item.i_item_id
                AND s.i_current_price <> item.i_current_price);

-- 4. Open a current version for every staged id that has none: the ids
--    closed in step 3 and new items.
INSERT INTO item (i_item_sk, i_item_id, i_rec_start_date, i_rec_end_date,
                  i_current_price, i_category, i_product_name)
SELECT mx.max_sk + ROW_NUMBER() OVER (ORDER BY s.i_item_id),
       s.i_item_id, d.d_date, NULL,
       s.i_current_price, s.i_category, s.i_product_name
FROM stg_item s
JOIN date_dim d ON d.d_date = :run_date
CROSS JOIN (SELECT COALESCE(MAX(i_item_sk), 0) AS max_sk FROM item) mx
WHERE NOT EXISTS (SELECT 1 FROM item i
                  WHERE i.i_item_id = s.i_item_id AND i.i_rec_end_date IS NULL);

-- Audit: this batch committed (see setup.sql).
INSERT INTO etl_batch_log (step, run_date, scale)
VALUES ('scd2_item', :run_date, CAST(:scale AS INTEGER));
