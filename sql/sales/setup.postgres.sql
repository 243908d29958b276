-- PostgreSQL variant of setup.sql (stepwise.sql.submitScript prefers
-- "<name>.<driver>.sql" when it exists). Why it differs: the date_dim seed
-- does date arithmetic, which has no common spelling -- SQLite's
-- date('2020-01-01', '+N days') does not exist in PostgreSQL, and
-- PostgreSQL's DATE '2020-01-01' + n is a number in SQLite. Everything else
-- is the same text as setup.sql; keep the two in step.
--
-- sales_data_pipeline, step 1: schema, first-run seed, staging for :run_date.
--
-- Parameters (bound as text): :run_date 'YYYY-MM-DD', :scale (integer >= 1;
-- anything smaller or non-numeric counts as 1).
-- Runs as one batch in one transaction (the engine wraps it); no BEGIN/COMMIT.
--
-- What it does
--   1. CREATE TABLE/INDEX IF NOT EXISTS: dimensions customer, customer_address,
--      date_dim, item; fact store_sales; staging stg_customer_address, stg_item,
--      stg_store_sales (TPC-DS column names); the audit log etl_batch_log.
--   2. Seeds each base table ONLY when it is empty, so daily runs accumulate
--      SCD history: N0 = 100 * scale customers, addresses and items, and
--      date_dim for 2020-01-01 .. 2030-12-31 (d_date_sk = Julian day number, as
--      in TPC-DS).
--   3. Refills the staging tables for :run_date. Every value is a function of
--      (run date, scale, current dimension rows): no random(), no clock, so the
--      same sequence of (run_date, scale) runs always gives identical tables,
--      and re-running a date stages exactly the same rows again.
--      Staged rows refer to the base population that was seeded (N0 = number
--      of customers), so a later run with another :scale changes the day's
--      volume (sales, new rows) but never refers to rows that do not exist.
--
-- Generated data, with dn = day number of :run_date since 2020-01-01 and
-- k = 1..N0 the base key (N0 = 100 * scale of the first run):
--   ids      base  'AB'/'CB'/'IB' || 14-digit k       (address/customer/item)
--            new   'AN'/'IN' || 6-digit dn || 8-digit j (new on day dn)
--   stg_customer_address  (k+dn) % 10 = 0: changed state/zip/country;
--                         (k+dn) % 10 = 5: restated unchanged (current values);
--                         5*scale new addresses.
--   stg_item              (k+dn) % 10 = 0: new price (same other attributes);
--                         (k+dn) % 10 = 3: same price, new category/name;
--                         (k+dn) % 10 = 6: restated unchanged;
--                         3*scale new items.
--   stg_store_sales       1000*scale lines on :run_date, 3 lines per ticket,
--                         ticket = dn * 1000000 + line / 3 (so scale <= 2999);
--                         every 50th line sells a new item of the day, every
--                         40th ticket ships to a new address of the day.
--   A run_date outside date_dim stages nothing (validate.sql reports it).
--   4. Appends ('setup', :run_date, :scale) to etl_batch_log.
--
-- Portability: standard SQL that also runs on PostgreSQL, except where marked
-- "SQLite-specific". Integer arithmetic stays below 2^31 for scale <= 1000.
-- Dates are stored as 'YYYY-MM-DD' (text in SQLite, DATE in PostgreSQL).

CREATE TABLE IF NOT EXISTS customer_address (
  ca_address_sk   INTEGER     NOT NULL PRIMARY KEY,
  ca_address_id   CHAR(16)    NOT NULL,
  ca_state        VARCHAR(2),
  ca_zip          VARCHAR(10),
  ca_country      VARCHAR(20)
);
CREATE UNIQUE INDEX IF NOT EXISTS customer_address_id_uq
  ON customer_address (ca_address_id);

CREATE TABLE IF NOT EXISTS customer (
  c_customer_sk     INTEGER     NOT NULL PRIMARY KEY,
  c_customer_id     CHAR(16)    NOT NULL,
  c_current_addr_sk INTEGER,
  c_first_name      VARCHAR(20),
  c_last_name       VARCHAR(30)
);
CREATE UNIQUE INDEX IF NOT EXISTS customer_id_uq ON customer (c_customer_id);

CREATE TABLE IF NOT EXISTS date_dim (
  d_date_sk   INTEGER     NOT NULL PRIMARY KEY,
  d_date_id   CHAR(16)    NOT NULL,
  d_date      DATE        NOT NULL,
  d_day_name  VARCHAR(9)
);
CREATE UNIQUE INDEX IF NOT EXISTS date_dim_date_uq ON date_dim (d_date);

-- SCD type 2: history on i_current_price; the current row has
-- i_rec_end_date NULL. The partial unique index makes "at most one current row
-- per i_item_id" a constraint (SQLite >= 3.8 and PostgreSQL both have them).
CREATE TABLE IF NOT EXISTS item (
  i_item_sk         INTEGER       NOT NULL PRIMARY KEY,
  i_item_id         CHAR(16)      NOT NULL,
  i_rec_start_date  DATE          NOT NULL,
  i_rec_end_date    DATE,
  i_current_price   NUMERIC(7,2),
  i_category        VARCHAR(50),
  i_product_name    VARCHAR(50)
);
CREATE UNIQUE INDEX IF NOT EXISTS item_id_start_uq
  ON item (i_item_id, i_rec_start_date);
CREATE UNIQUE INDEX IF NOT EXISTS item_current_uq
  ON item (i_item_id) WHERE i_rec_end_date IS NULL;

CREATE TABLE IF NOT EXISTS store_sales (
  ss_sold_date_sk   INTEGER,
  ss_item_sk        INTEGER       NOT NULL,
  ss_customer_sk    INTEGER,
  ss_addr_sk        INTEGER,
  ss_store_sk       INTEGER,
  ss_ticket_number  BIGINT        NOT NULL,
  ss_quantity       INTEGER,
  ss_net_paid       NUMERIC(7,2),
  ss_net_profit     NUMERIC(7,2),
  PRIMARY KEY (ss_item_sk, ss_ticket_number)
);
CREATE INDEX IF NOT EXISTS store_sales_date_ix ON store_sales (ss_sold_date_sk);

CREATE TABLE IF NOT EXISTS stg_customer_address (
  ca_address_id   CHAR(16)    NOT NULL PRIMARY KEY,
  ca_state        VARCHAR(2),
  ca_zip          VARCHAR(10),
  ca_country      VARCHAR(20)
);

CREATE TABLE IF NOT EXISTS stg_item (
  i_item_id         CHAR(16)      NOT NULL PRIMARY KEY,
  i_current_price   NUMERIC(7,2),
  i_category        VARCHAR(50),
  i_product_name    VARCHAR(50)
);

CREATE TABLE IF NOT EXISTS stg_store_sales (
  sold_date         DATE          NOT NULL,
  i_item_id         CHAR(16)      NOT NULL,
  c_customer_id     CHAR(16),
  ca_address_id     CHAR(16),
  ss_ticket_number  BIGINT        NOT NULL,
  ss_quantity       INTEGER,
  ss_net_paid       NUMERIC(7,2),
  ss_net_profit     NUMERIC(7,2),
  PRIMARY KEY (i_item_id, ss_ticket_number)
);

-- Audit log: every load batch (setup, scd1, scd2, fact) appends one row as
-- its last statement, inside its own transaction, so a row exists exactly when
-- the batch committed. No timestamps, so two identical sequences of runs give
-- identical logs. validate.sql (read-only) does not log.
CREATE TABLE IF NOT EXISTS etl_batch_log (
  step      VARCHAR(40)   NOT NULL,
  run_date  VARCHAR(10)   NOT NULL,
  scale     INTEGER       NOT NULL
);

------------------------------------------------------------------------------
-- Seed (only into empty tables).
------------------------------------------------------------------------------

-- date_dim: 4018 days from 2020-01-01 (a Wednesday, Julian day 2458850).
INSERT INTO date_dim (d_date_sk, d_date_id, d_date, d_day_name)
WITH RECURSIVE days(n) AS (
  SELECT 0
  UNION ALL
  SELECT n + 1 FROM days WHERE n < 4017
)
SELECT 2458850 + n,
       'DD' || substr('00000000000000' || CAST(2458850 + n AS TEXT),
                      length(CAST(2458850 + n AS TEXT)) + 1, 14),
       -- PostgreSQL: date + integer is a date.
       DATE '2020-01-01' + n,
       CASE n % 7 WHEN 0 THEN 'Wednesday' WHEN 1 THEN 'Thursday'
                  WHEN 2 THEN 'Friday'    WHEN 3 THEN 'Saturday'
                  WHEN 4 THEN 'Sunday'    WHEN 5 THEN 'Monday'
                  ELSE 'Tuesday' END
FROM days
WHERE NOT EXISTS (SELECT 1 FROM date_dim);

-- customer_address: sk = k, id 'AB' || k.
INSERT INTO customer_address (ca_address_sk, ca_address_id, ca_state, ca_zip, ca_country)
WITH RECURSIVE cfg(n0) AS (
  SELECT 100 * CASE WHEN CAST(:scale AS INTEGER) > 1
                    THEN CAST(:scale AS INTEGER) ELSE 1 END
), seq(k) AS (
  SELECT 1
  UNION ALL
  SELECT k + 1 FROM seq, cfg WHERE k < cfg.n0
)
SELECT k,
       'AB' || substr('00000000000000' || CAST(k AS TEXT), length(CAST(k AS TEXT)) + 1, 14),
       substr('CAGATXNYWAILOHPAMIFLNCVA', 2 * ((k * 7) % 12) + 1, 2),
       CAST(10000 + (k * 7919) % 90000 AS TEXT),
       'United States'
FROM seq
WHERE NOT EXISTS (SELECT 1 FROM customer_address);

-- customer: sk = k, id 'CB' || k, living at address sk k.
INSERT INTO customer (c_customer_sk, c_customer_id, c_current_addr_sk, c_first_name, c_last_name)
WITH RECURSIVE cfg(n0) AS (
  SELECT 100 * CASE WHEN CAST(:scale AS INTEGER) > 1
                    THEN CAST(:scale AS INTEGER) ELSE 1 END
), seq(k) AS (
  SELECT 1
  UNION ALL
  SELECT k + 1 FROM seq, cfg WHERE k < cfg.n0
)
SELECT k,
       'CB' || substr('00000000000000' || CAST(k AS TEXT), length(CAST(k AS TEXT)) + 1, 14),
       k,
       CASE (k * 3) % 10 WHEN 0 THEN 'James'   WHEN 1 THEN 'Mary'
                         WHEN 2 THEN 'Robert'  WHEN 3 THEN 'Patricia'
                         WHEN 4 THEN 'John'    WHEN 5 THEN 'Jennifer'
                         WHEN 6 THEN 'Michael' WHEN 7 THEN 'Linda'
                         WHEN 8 THEN 'David'   ELSE 'Barbara' END,
       CASE (k * 7 + k / 10) % 10 WHEN 0 THEN 'Smith'    WHEN 1 THEN 'Johnson'
                         WHEN 2 THEN 'Williams' WHEN 3 THEN 'Brown'
                         WHEN 4 THEN 'Jones'    WHEN 5 THEN 'Garcia'
                         WHEN 6 THEN 'Miller'   WHEN 7 THEN 'Davis'
                         WHEN 8 THEN 'Rodriguez' ELSE 'Martinez' END
FROM seq
WHERE NOT EXISTS (SELECT 1 FROM customer);

-- item: sk = k, id 'IB' || k, valid from 2020-01-01, current.
-- Product names are built from TPC-DS-style syllables (5-character slots).
INSERT INTO item (i_item_sk, i_item_id, i_rec_start_date, i_rec_end_date,
                  i_current_price, i_category, i_product_name)
WITH RECURSIVE cfg(n0) AS (
  SELECT 100 * CASE WHEN CAST(:scale AS INTEGER) > 1
                    THEN CAST(:scale AS INTEGER) ELSE 1 END
), seq(k) AS (
  SELECT 1
  UNION ALL
  SELECT k + 1 FROM seq, cfg WHERE k < cfg.n0
)
SELECT seq.k,
       'IB' || substr('00000000000000' || CAST(seq.k AS TEXT), length(CAST(seq.k AS TEXT)) + 1, 14),
       d.d_date,
       NULL,
       (99 + (seq.k * 7919) % 9900) / 100.0,
       CASE (seq.k * 3) % 10 WHEN 0 THEN 'Books'   WHEN 1 THEN 'Children'
                             WHEN 2 THEN 'Electronics' WHEN 3 THEN 'Home'
                             WHEN 4 THEN 'Jewelry' WHEN 5 THEN 'Men'
                             WHEN 6 THEN 'Music'   WHEN 7 THEN 'Shoes'
                             WHEN 8 THEN 'Sports'  ELSE 'Women' END,
       rtrim(substr('oughtable pri  ese  anti callyationeing bar  n st ', 5 * (seq.k % 10) + 1, 5))
       || rtrim(substr('oughtable pri  ese  anti callyationeing bar  n st ', 5 * ((seq.k / 10) % 10) + 1, 5))
       || rtrim(substr('oughtable pri  ese  anti callyationeing bar  n st ', 5 * ((seq.k / 100) % 10) + 1, 5))
FROM seq
JOIN date_dim d ON d.d_date_sk = 2458850
WHERE NOT EXISTS (SELECT 1 FROM item);

------------------------------------------------------------------------------
-- Staging for :run_date (refilled on every run).
------------------------------------------------------------------------------

DELETE FROM stg_customer_address;
DELETE FROM stg_item;
DELETE FROM stg_store_sales;

-- Addresses: changed attributes, restated unchanged rows, new addresses.
INSERT INTO stg_customer_address (ca_address_id, ca_state, ca_zip, ca_country)
WITH RECURSIVE cfg(s, n0, dn) AS (
  SELECT CASE WHEN CAST(:scale AS INTEGER) > 1 THEN CAST(:scale AS INTEGER) ELSE 1 END,
         (SELECT COUNT(*) FROM customer),
         d_date_sk - 2458850
  FROM date_dim WHERE d_date = :run_date
), seq(k) AS (
  SELECT 1
  UNION ALL
  SELECT k + 1 FROM seq, cfg WHERE k < cfg.n0
)
-- changed: new state, zip and (every 7th) country
SELECT 'AB' || substr('00000000000000' || CAST(k AS TEXT), length(CAST(k AS TEXT)) + 1, 14),
       substr('CAGATXNYWAILOHPAMIFLNCVA', 2 * ((k + dn) % 12) + 1, 2),
       CAST(10000 + (k * 7919 + dn * 337) % 90000 AS TEXT),
       CASE WHEN (k + dn) % 7 = 0 THEN 'Canada' ELSE 'United States' END
FROM seq, cfg
WHERE (k + dn) % 10 = 0
UNION ALL
-- restated: the current values, so SCD1 must leave them alone
SELECT a.ca_address_id, a.ca_state, a.ca_zip, a.ca_country
FROM seq
CROSS JOIN cfg
JOIN customer_address a
  ON a.ca_address_id = 'AB' || substr('00000000000000' || CAST(k AS TEXT), length(CAST(k AS TEXT)) + 1, 14)
WHERE (k + dn) % 10 = 5
UNION ALL
-- new addresses of the day: j = 1 .. 5 * scale
SELECT 'AN' || substr('000000' || CAST(dn AS TEXT), length(CAST(dn AS TEXT)) + 1, 6)
            || substr('00000000' || CAST(k AS TEXT), length(CAST(k AS TEXT)) + 1, 8),
       substr('CAGATXNYWAILOHPAMIFLNCVA', 2 * ((k + dn * 5) % 12) + 1, 2),
       CAST(10000 + (k * 4931 + dn * 211) % 90000 AS TEXT),
       'United States'
FROM seq, cfg
WHERE k <= 5 * s;

-- Items: price changes, attribute-only changes, restated unchanged, new items.
INSERT INTO stg_item (i_item_id, i_current_price, i_category, i_product_name)
WITH RECURSIVE cfg(s, n0, dn) AS (
  SELECT CASE WHEN CAST(:scale AS INTEGER) > 1 THEN CAST(:scale AS INTEGER) ELSE 1 END,
         (SELECT COUNT(*) FROM customer),
         d_date_sk - 2458850
  FROM date_dim WHERE d_date = :run_date
), seq(k) AS (
  SELECT 1
  UNION ALL
  SELECT k + 1 FROM seq, cfg WHERE k < cfg.n0
)
-- price change (other attributes as they are)
SELECT i.i_item_id,
       (99 + (k * 7919 + dn * 104729) % 9900) / 100.0,
       i.i_category,
       i.i_product_name
FROM seq
CROSS JOIN cfg
JOIN item i
  ON i.i_item_id = 'IB' || substr('00000000000000' || CAST(k AS TEXT), length(CAST(k AS TEXT)) + 1, 14)
 AND i.i_rec_end_date IS NULL
WHERE (k + dn) % 10 = 0
UNION ALL
-- same price, new category and product name (type-1 change)
SELECT i.i_item_id,
       i.i_current_price,
       CASE (k / 10 + dn) % 10 WHEN 0 THEN 'Books'   WHEN 1 THEN 'Children'
                               WHEN 2 THEN 'Electronics' WHEN 3 THEN 'Home'
                               WHEN 4 THEN 'Jewelry' WHEN 5 THEN 'Men'
                               WHEN 6 THEN 'Music'   WHEN 7 THEN 'Shoes'
                               WHEN 8 THEN 'Sports'  ELSE 'Women' END,
       rtrim(substr('oughtable pri  ese  anti callyationeing bar  n st ', 5 * ((k + dn) % 10) + 1, 5))
       || rtrim(substr('oughtable pri  ese  anti callyationeing bar  n st ', 5 * ((k / 10) % 10) + 1, 5))
       || rtrim(substr('oughtable pri  ese  anti callyationeing bar  n st ', 5 * ((dn / 10) % 10) + 1, 5))
FROM seq
CROSS JOIN cfg
JOIN item i
  ON i.i_item_id = 'IB' || substr('00000000000000' || CAST(k AS TEXT), length(CAST(k AS TEXT)) + 1, 14)
 AND i.i_rec_end_date IS NULL
WHERE (k + dn) % 10 = 3
UNION ALL
-- restated unchanged
SELECT i.i_item_id, i.i_current_price, i.i_category, i.i_product_name
FROM seq
CROSS JOIN cfg
JOIN item i
  ON i.i_item_id = 'IB' || substr('00000000000000' || CAST(k AS TEXT), length(CAST(k AS TEXT)) + 1, 14)
 AND i.i_rec_end_date IS NULL
WHERE (k + dn) % 10 = 6
UNION ALL
-- new items of the day: j = 1 .. 3 * scale
SELECT 'IN' || substr('000000' || CAST(dn AS TEXT), length(CAST(dn AS TEXT)) + 1, 6)
            || substr('00000000' || CAST(k AS TEXT), length(CAST(k AS TEXT)) + 1, 8),
       (99 + (k * 6007 + dn * 104729) % 9900) / 100.0,
       CASE (k + dn) % 10 WHEN 0 THEN 'Books'   WHEN 1 THEN 'Children'
                          WHEN 2 THEN 'Electronics' WHEN 3 THEN 'Home'
                          WHEN 4 THEN 'Jewelry' WHEN 5 THEN 'Men'
                          WHEN 6 THEN 'Music'   WHEN 7 THEN 'Shoes'
                          WHEN 8 THEN 'Sports'  ELSE 'Women' END,
       rtrim(substr('oughtable pri  ese  anti callyationeing bar  n st ', 5 * (dn % 10) + 1, 5))
       || rtrim(substr('oughtable pri  ese  anti callyationeing bar  n st ', 5 * (k % 10) + 1, 5))
       || rtrim(substr('oughtable pri  ese  anti callyationeing bar  n st ', 5 * ((k / 10 + dn / 10) % 10) + 1, 5))
FROM seq, cfg
WHERE k <= 3 * s;

-- Sales lines of the day: t = 1 .. 1000 * scale; ticket m = t / 3.
-- A ticket's lines have distinct items: base items step by 7 (mod N0, N0 a
-- multiple of 100) and at most one of three consecutive lines is a new item.
INSERT INTO stg_store_sales (sold_date, i_item_id, c_customer_id, ca_address_id,
                             ss_ticket_number, ss_quantity, ss_net_paid, ss_net_profit)
WITH RECURSIVE cfg(s, n0, dn, run_date) AS (
  SELECT CASE WHEN CAST(:scale AS INTEGER) > 1 THEN CAST(:scale AS INTEGER) ELSE 1 END,
         (SELECT COUNT(*) FROM customer),
         d_date_sk - 2458850,
         d_date
  FROM date_dim WHERE d_date = :run_date
), seq(t) AS (
  SELECT 1
  UNION ALL
  SELECT t + 1 FROM seq, cfg WHERE t < 1000 * cfg.s
), line(t, m, dn, s, n0, run_date, item_k, new_item_j, cust_k, new_addr_j, qty, unit_cents) AS (
  SELECT t, t / 3, dn, s, n0, run_date,
         (t * 7 + dn * 13) % n0 + 1,
         CASE WHEN t % 50 = 0 THEN (t / 50) % (3 * s) + 1 END,
         ((t / 3) * 13 + dn * 7) % n0 + 1,
         CASE WHEN (t / 3) % 40 = 1 THEN ((t / 3) / 40) % (5 * s) + 1 END,
         1 + (t * 31 + dn) % 20,
         99 + ((t % 10007) * 7919 + dn * 337) % 9900
  FROM seq, cfg
)
SELECT run_date,
       CASE WHEN new_item_j IS NULL
            THEN 'IB' || substr('00000000000000' || CAST(item_k AS TEXT), length(CAST(item_k AS TEXT)) + 1, 14)
            ELSE 'IN' || substr('000000' || CAST(dn AS TEXT), length(CAST(dn AS TEXT)) + 1, 6)
                      || substr('00000000' || CAST(new_item_j AS TEXT), length(CAST(new_item_j AS TEXT)) + 1, 8)
       END,
       'CB' || substr('00000000000000' || CAST(cust_k AS TEXT), length(CAST(cust_k AS TEXT)) + 1, 14),
       CASE WHEN new_addr_j IS NULL
            THEN 'AB' || substr('00000000000000' || CAST(cust_k AS TEXT), length(CAST(cust_k AS TEXT)) + 1, 14)
            ELSE 'AN' || substr('000000' || CAST(dn AS TEXT), length(CAST(dn AS TEXT)) + 1, 6)
                      || substr('00000000' || CAST(new_addr_j AS TEXT), length(CAST(new_addr_j AS TEXT)) + 1, 8)
       END,
       CAST(dn AS BIGINT) * 1000000 + m,
       qty,
       qty * unit_cents / 100.0,
       (qty * unit_cents * (t % 60 - 20) / 100) / 100.0
FROM line;

INSERT INTO etl_batch_log (step, run_date, scale)
VALUES ('setup', :run_date, CAST(:scale AS INTEGER));
