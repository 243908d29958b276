-- file_ingest: configuration and audit tables of the external file
-- ingestion framework, embedded SQLite warehouse. (setup.postgres.sql is
-- the PostgreSQL text; keep the two in step.) stepwise.ingest.lookup runs
-- this script (as one transaction) before every lookup; it only creates
-- what is missing, so it is safe to run any number of times.
--
-- Naming: upstream keeps these tables in the PostgreSQL schema RDSCNFG.
-- SQLite has no schemas, so here "<schema>.<table>" is spelled
-- "<schema>_<table>": rdscnfg.ext_file_config is rdscnfg_ext_file_config.
-- The same rule maps a config row's tgt_schema_name/tgt_table_name to the
-- target table (rdsftetl + dc_x_pa_flavor -> rdsftetl_dc_x_pa_flavor);
-- with an empty schema the table name is used alone.
--
-- Columns mean what they mean upstream (upstream-pipelines.md §4.5):
--   ext_interface        one row per partner feed (oprtnl_flag A|I|D)
--   ext_file_config      file_prefix '<key>.' selects the row for a file
--                        whose key (the file name up to its first '.', last
--                        '_'-separated token) is <key>; file_format
--                        'fixed_width' or anything else for delimited;
--                        file_type = the file's last extension (txt, csv,
--                        gz); delimiter (one character; 'tab' or '\t' for
--                        a tab); header_flag/trailer_flag Y|N;
--                        trailer_pstn 'start:end' (1-based, inclusive
--                        character positions of the record count in the
--                        last line); split_file_flag Y|N with split_prefix
--                        'P1,P2,...' (record prefixes, exact match at the
--                        start of a line); escape_char: the quote character
--                        around delimited fields (default '"'); query: SQL
--                        run after a successful load.
--   ext_file_config_dtl  the columns of a config in column_order_sqnc
--                        order; column_width_fixed for fixed_width files.
--   ext_file_audit       one row per load attempt and target table:
--                        file_process_status FINISHED | FAILED,
--                        file_prcsd_flag Y | N, error_msg, start/end time.
-- Stepwise additions to the audit row (upstream has no file column):
--   file_name, file_sha256 (of the file's bytes as delivered),
--   rows_loaded, error_name (the named check that failed, e.g.
--   Ingest.TrailerMismatch), client_token (the load's idempotency token).
-- ext_interface_cid and the target names are NULL in the audit row of a
-- file for which no config was found (Ingest.NoConfig).
-- A partial unique index allows one FINISHED row per file name, content
-- and target table: the same file never loads twice, even when two
-- executions race.
CREATE TABLE IF NOT EXISTS rdscnfg_ext_interface (
  ext_interface_cid NUMERIC(30) NOT NULL PRIMARY KEY,
  interface_name VARCHAR(200) NOT NULL,
  interface_desc VARCHAR(4000) NULL,
  oprtnl_flag VARCHAR(1) NOT NULL DEFAULT 'A',
  created_date TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  modified_date TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS rdscnfg_ext_file_config (
  ext_file_config_sid INTEGER NOT NULL PRIMARY KEY,
  ext_interface_cid NUMERIC(30) NOT NULL
    REFERENCES rdscnfg_ext_interface (ext_interface_cid),
  tgt_schema_name VARCHAR(200) NULL,
  tgt_table_name VARCHAR(200) NULL,
  file_prefix VARCHAR(50) NOT NULL,
  file_format VARCHAR(50) NOT NULL,
  file_type VARCHAR(50) NOT NULL,
  delimiter VARCHAR(20) NULL,
  header_flag VARCHAR(1) NOT NULL,
  trailer_flag VARCHAR(1) NOT NULL,
  query VARCHAR(65535) NULL,
  split_file_flag VARCHAR(1) NOT NULL,
  split_prefix VARCHAR(50) NULL,
  escape_char VARCHAR(50) NULL,
  trailer_pstn VARCHAR(50) NULL,
  oprtnl_flag VARCHAR(1) NOT NULL DEFAULT 'A',
  created_date TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  modified_date TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS rdscnfg_ext_file_config_dtl (
  ext_file_config_dtl_sid INTEGER NOT NULL PRIMARY KEY,
  ext_file_config_sid INTEGER NOT NULL
    REFERENCES rdscnfg_ext_file_config (ext_file_config_sid),
  column_name VARCHAR(200) NOT NULL,
  column_width_fixed NUMERIC(20) NULL,
  column_order_sqnc NUMERIC(5, 2) NOT NULL,
  oprtnl_flag VARCHAR(1) NOT NULL DEFAULT 'A',
  created_date TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  modified_date TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS rdscnfg_ext_file_audit (
  ext_file_audit_sid INTEGER PRIMARY KEY AUTOINCREMENT,
  ext_interface_cid NUMERIC(30) NULL
    REFERENCES rdscnfg_ext_interface (ext_interface_cid),
  tgt_schema_name VARCHAR(200) NULL,
  tgt_table_name VARCHAR(200) NULL,
  file_process_status VARCHAR(50) NOT NULL,
  file_process_date TIMESTAMP NOT NULL,
  file_prcsd_flag VARCHAR(1) NOT NULL,
  merge_query VARCHAR(65535) NULL,
  error_msg VARCHAR(4000) NULL,
  start_time TIMESTAMP NOT NULL,
  end_time TIMESTAMP NOT NULL,
  update_query VARCHAR(65535) NULL,
  escape_char VARCHAR(50) NULL,
  created_date TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  modified_date TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  file_name VARCHAR(1024) NOT NULL,
  file_sha256 VARCHAR(64) NULL,
  rows_loaded BIGINT NULL,
  error_name VARCHAR(200) NULL,
  client_token VARCHAR(64) NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS rdscnfg_ext_file_audit_once
  ON rdscnfg_ext_file_audit (file_name, file_sha256, tgt_schema_name,
                             tgt_table_name)
  WHERE file_process_status = 'FINISHED';
CREATE INDEX IF NOT EXISTS rdscnfg_ext_file_audit_token
  ON rdscnfg_ext_file_audit (client_token);
