-- file_ingest: the two sample interfaces of the upstream framework, for
-- the embedded SQLite warehouse (sample_config.postgres.sql for
-- PostgreSQL). Copy it as the start of your own config script and run it
-- once after setup.sql, e.g.
--   stepwise start ... or: sqlite3 .stepwise/warehouse.db < sample_config.sql
-- It creates the target tables and inserts the config rows.
--
-- Target column types (a decision; upstream loads all-varchar stage tables
-- and sorts bad values out afterwards): dates are DATE, counts INTEGER or
-- SMALLINT, codes VARCHAR(n). stepwise checks every value against these
-- types before anything is loaded, so the two upstream sample inputs,
-- which deliberately carry bad dates, are REFUSED as a whole:
--   PROD_20151015_150510973_PA_FLAVOR_527.txt line 1, pa_eff_dt 20093232
--   hosp10_2014_RPT_558.csv.gz line 2, fy_bgn_dt 13/7/2013
-- (Ingest.BadRow, audit row FAILED, file in archive/error/). Dates may be
-- written YYYY-MM-DD, YYYYMMDD or M/D/YYYY (month first); they are stored
-- as YYYY-MM-DD. file_name is stamped with the delivered file's name and
-- target_transaction_timestamp defaults to the load time.
--
-- Post-load SQL (`query`): upstream calls a stored procedure that does
-- not exist in its DDL; here 527's query merges the file's new rows
-- into a core table (the last step of upstream's transform), 558 has
-- none. A query may use :file_name and :interface_id (bound as text).
CREATE TABLE IF NOT EXISTS rdsftetl_dc_x_pa_flavor (
  ndc VARCHAR(11) NOT NULL,
  pa_type VARCHAR(2) NOT NULL,
  pa_value SMALLINT,
  pa_eff_dt DATE,
  pa_exp_dt DATE,
  load_eff_dt DATE,
  load_exp_dt DATE,
  file_name VARCHAR(1024),
  target_transaction_timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS rdsftcore_dc_x_pa_flavor (
  ndc VARCHAR(11) NOT NULL,
  pa_type VARCHAR(2) NOT NULL,
  pa_value SMALLINT,
  pa_eff_dt DATE,
  pa_exp_dt DATE
);
CREATE TABLE IF NOT EXISTS rdsftetl_hospital_cost_report (
  rpt_rec_num INTEGER NOT NULL,
  prvdr_ctrl_type_cd VARCHAR(2),
  prvdr_num VARCHAR(6),
  npi VARCHAR(10),
  rpt_stus_cd VARCHAR(1),
  fy_bgn_dt DATE,
  fy_end_dt DATE,
  proc_dt DATE,
  initl_rpt_sw VARCHAR(1),
  last_rpt_sw VARCHAR(1),
  trnsmtl_num VARCHAR(2),
  fi_num VARCHAR(5),
  adr_vndr_cd VARCHAR(1),
  fi_creat_dt DATE,
  util_cd VARCHAR(1),
  npr_dt DATE,
  spec_ind VARCHAR(1),
  fi_rcpt_dt DATE,
  file_name VARCHAR(1024),
  target_transaction_timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

INSERT INTO rdscnfg_ext_interface (ext_interface_cid, interface_name,
  interface_desc, oprtnl_flag)
VALUES (527, 'NDC_X_PA_TYPE', 'NDC_X_PA_TYPE', 'A'),
       (558, 'HOSPITAL_COST_REPORT', 'HOSPITAL_COST_REPORT', 'A');

INSERT INTO rdscnfg_ext_file_config (ext_file_config_sid, ext_interface_cid,
  tgt_schema_name, tgt_table_name, file_prefix, file_format, file_type,
  delimiter, header_flag, trailer_flag, query, split_file_flag,
  split_prefix, escape_char, trailer_pstn, oprtnl_flag)
VALUES
  (4, 527, 'rdsftetl', 'dc_x_pa_flavor', '527.', 'txt', 'txt', '|', 'N', 'N',
   'INSERT INTO rdsftcore_dc_x_pa_flavor (ndc, pa_type, pa_value, pa_eff_dt, pa_exp_dt) SELECT DISTINCT s.ndc, s.pa_type, s.pa_value, s.pa_eff_dt, s.pa_exp_dt FROM rdsftetl_dc_x_pa_flavor s WHERE s.file_name = :file_name AND NOT EXISTS (SELECT 1 FROM rdsftcore_dc_x_pa_flavor c WHERE c.ndc = s.ndc AND c.pa_type = s.pa_type AND c.pa_eff_dt = s.pa_eff_dt)',
   'N', NULL, NULL, NULL, 'A'),
  (6, 558, 'rdsftetl', 'hospital_cost_report', '558.', 'gz', 'gz', ',', 'N',
   'N', NULL, 'N', NULL, NULL, NULL, 'A');

INSERT INTO rdscnfg_ext_file_config_dtl (ext_file_config_dtl_sid,
  ext_file_config_sid, column_name, column_width_fixed, column_order_sqnc,
  oprtnl_flag)
VALUES
  (63, 4, 'ndc', NULL, 1, 'A'),
  (64, 4, 'pa_type', NULL, 2, 'A'),
  (65, 4, 'pa_value', NULL, 3, 'A'),
  (66, 4, 'pa_eff_dt', NULL, 4, 'A'),
  (67, 4, 'pa_exp_dt', NULL, 5, 'A'),
  (68, 4, 'load_eff_dt', NULL, 6, 'A'),
  (69, 4, 'load_exp_dt', NULL, 7, 'A'),
  (90, 6, 'rpt_rec_num', NULL, 1, 'A'),
  (91, 6, 'prvdr_ctrl_type_cd', NULL, 2, 'A'),
  (92, 6, 'prvdr_num', NULL, 3, 'A'),
  (93, 6, 'npi', NULL, 4, 'A'),
  (94, 6, 'rpt_stus_cd', NULL, 5, 'A'),
  (95, 6, 'fy_bgn_dt', NULL, 6, 'A'),
  (96, 6, 'fy_end_dt', NULL, 7, 'A'),
  (97, 6, 'proc_dt', NULL, 8, 'A'),
  (98, 6, 'initl_rpt_sw', NULL, 9, 'A'),
  (99, 6, 'last_rpt_sw', NULL, 10, 'A'),
  (100, 6, 'trnsmtl_num', NULL, 11, 'A'),
  (101, 6, 'fi_num', NULL, 12, 'A'),
  (102, 6, 'adr_vndr_cd', NULL, 13, 'A'),
  (103, 6, 'fi_creat_dt', NULL, 14, 'A'),
  (104, 6, 'util_cd', NULL, 15, 'A'),
  (105, 6, 'npr_dt', NULL, 16, 'A'),
  (106, 6, 'spec_ind', NULL, 17, 'A'),
  (107, 6, 'fi_rcpt_dt', NULL, 18, 'A');
