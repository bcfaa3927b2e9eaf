-- The changes captured in the host's transactions: one row per key and
-- capture, the row's state after the transaction (row_json NULL: deleted),
-- delivered in id order within its bucket.
CREATE TABLE IF NOT EXISTS dualwrite_outbox (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  bucket SMALLINT UNSIGNED NOT NULL,
  key_hash BIGINT UNSIGNED NOT NULL,
  version BIGINT UNSIGNED NOT NULL,
  tbl VARCHAR(64) NOT NULL,
  key_json TEXT NOT NULL,
  row_json LONGTEXT NULL,
  created_at DATETIME(6) NOT NULL,
  delivered_at DATETIME(6) NULL,
  attempts INT NOT NULL DEFAULT 0,
  KEY pending (bucket, delivered_at, id),
  KEY delivered (delivered_at)
) ENGINE=InnoDB COMMENT 'shiftgate dualwrite: captured row states'
