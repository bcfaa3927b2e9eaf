-- One copy per target database: which copy, from where, its state and the
-- source position it started from. IF NOT EXISTS: checkpoints written
-- before the tables were versioned are adopted as they are.
CREATE TABLE IF NOT EXISTS copy_runs (
  target_db VARCHAR(64) NOT NULL PRIMARY KEY,
  source VARCHAR(255) NOT NULL,
  source_db VARCHAR(64) NOT NULL,
  tables_json MEDIUMTEXT NOT NULL,
  state VARCHAR(16) NOT NULL,
  gtid TEXT NOT NULL,
  binlog_file VARCHAR(255) NOT NULL,
  binlog_pos BIGINT UNSIGNED NOT NULL,
  started_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB COMMENT 'shiftgate migrate.Copier: one copy per target database'
