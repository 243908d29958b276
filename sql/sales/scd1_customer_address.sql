-- sales_data_pipeline: SCD type 1 on customer_address from stg_customer_address.
--
-- Parameters: :run_date, :scale (bound as text; only logged here).
-- Runs as one batch in one transaction (the engine wraps it).
--
-- 1. Rows whose ca_address_id is staged get ca_state, ca_zip and ca_country
--    overwritten in place (no history). Only rows that actually differ are
--    touched; the comparison is NULL-safe without IS DISTINCT FROM (which
--    SQLite lacks): a <> b, or exactly one of the two is NULL.
-- 2. Staged ids not in the table are inserted with new surrogate keys:
--    current max(ca_address_sk) + row_number() ordered by ca_address_id.
-- Re-running with the same staging changes nothing: step 1 finds no
-- differences, step 2 finds no missing ids.
-- Standard SQL (correlated subqueries rather than UPDATE ... FROM), so it
-- runs unchanged on SQLite and PostgreSQL.

UPDATE customer_address
SET ca_state   = (SELECT s.ca_state FROM stg_customer_address s
                  WHERE s.ca_address_id = customer_address.ca_address_id),
    ca_zip     = (SELECT s.ca_zip FROM stg_customer_address s
                  WHERE s.ca_address_id = customer_address.ca_address_id),
    ca_country = (SELECT s.ca_country FROM stg_customer_address s
                  WHERE s.ca_address_id = customer_address.ca_address_id)
WHERE EXISTS (
  SELECT 1 FROM stg_customer_address s
  WHERE s.ca_address_id = customer_address.ca_address_id
    AND (   s.ca_state <> customer_address.ca_state
         OR (s.ca_state IS NULL) <> (customer_address.ca_state IS NULL)
         OR s.ca_zip <> customer_address.ca_zip
         OR (s.ca_zip IS NULL) <> (customer_address.ca_zip IS NULL)
         OR s.ca_country <> customer_address.ca_country
         OR (s.ca_country IS NULL) <> (customer_address.ca_country IS NULL)));

INSERT INTO customer_address (ca_address_sk, ca_address_id, ca_state, ca_zip, ca_country)
SELECT mx.max_sk + ROW_NUMBER() OVER (ORDER BY s.ca_address_id),
       s.ca_address_id, s.ca_state, s.ca_zip, s.ca_country
FROM stg_customer_address s
CROSS JOIN (SELECT COALESCE(MAX(ca_address_sk), 0) AS max_sk FROM customer_address) mx
WHERE NOT EXISTS (SELECT 1 FROM customer_address a
                  WHERE a.ca_address_id = s.ca_address_id);

-- Audit: this batch committed (see setup.sql).
INSERT INTO etl_batch_log (step, run_date, scale)
VALUES ('scd1_customer_address', :run_date, CAST(:scale AS INTEGER));
