-- Changes the secondary rejected too often: the entry and the last error;
-- alerted once the alert hook took it.
CREATE TABLE IF NOT EXISTS dualwrite_dead_letters (
  id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  bucket SMALLINT UNSIGNED NOT NULL,
  key_hash BIGINT UNSIGNED NOT NULL,
  version BIGINT UNSIGNED NOT NULL,
  tbl VARCHAR(64) NOT NULL,
  key_json TEXT NOT NULL,
  row_json LONGTEXT NULL,
  created_at DATETIME(6) NOT NULL,
  failed_at DATETIME(6) NOT NULL,
  attempts INT NOT NULL,
  error TEXT NOT NULL,
  alerted TINYINT NOT NULL DEFAULT 0
) ENGINE=InnoDB COMMENT 'shiftgate dualwrite: changes the secondary rejected'
