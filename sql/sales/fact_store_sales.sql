-- sales_data_pipeline: load the store_sales fact for :run_date from
-- stg_store_sales.
--
-- Parameters: :run_date 'YYYY-MM-DD' (text), :scale (only logged).
-- Runs as one batch in one transaction (the engine wraps it).
--
-- Deletes the run date's fact rows, then inserts the staged lines of that
-- date, so running it twice gives the same table. Surrogate keys come from
-- date_dim (inner join: the date must exist), the item version valid AT THE
-- SALE DATE (i_rec_start_date <= date and (i_rec_end_date IS NULL or
-- i_rec_end_date > date)), customer and customer_address (left joins, as
-- upstream: an unresolved customer or address leaves a NULL key, which
-- validate.sql reports; an unresolved item leaves ss_item_sk NULL, which the
-- primary key rejects, so the batch fails). ss_store_sk stays NULL (no store
-- dimension).
-- Standard SQL.

DELETE FROM store_sales
WHERE ss_sold_date_sk = (SELECT d_date_sk FROM date_dim WHERE d_date = :run_date);

INSERT INTO store_sales (ss_sold_date_sk, ss_item_sk, ss_customer_sk, ss_addr_sk,
                         ss_store_sk, ss_ticket_number, ss_quantity,
                         ss_net_paid, ss_net_profit)
SELECT d.d_date_sk, i.i_item_sk, c.c_customer_sk, a.ca_address_sk,
       NULL, s.ss_ticket_number, s.ss_quantity,
       s.ss_net_paid, s.ss_net_profit
FROM stg_store_sales s
JOIN date_dim d
  ON d.d_date = s.sold_date
LEFT JOIN item i
  ON i.i_item_id = s.i_item_id
 AND i.i_rec_start_date <= d.d_date
 AND (i.i_rec_end_date IS NULL OR i.i_rec_end_date > d.d_date)
LEFT JOIN customer c
  ON c.c_customer_id = s.c_customer_id
LEFT JOIN customer_address a
  ON a.ca_address_id = s.ca_address_id
WHERE d.d_date = :run_date;

-- Audit: this batch committed (see setup.sql).
INSERT INTO etl_batch_log (step, run_date, scale)
VALUES ('fact_store_sales', :run_date, CAST(:scale AS INTEGER));
