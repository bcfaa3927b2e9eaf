-- The relay's leases: a relay delivers a bucket while it holds the lock on
-- its row; retry_at and single hold the bucket's backoff after a failure.
CREATE TABLE IF NOT EXISTS dualwrite_buckets (
  bucket SMALLINT UNSIGNED NOT NULL PRIMARY KEY,
  retry_at DATETIME(6) NOT NULL DEFAULT '1970-01-01 00:00:01',
  failures INT NOT NULL DEFAULT 0,
  single TINYINT NOT NULL DEFAULT 0,
  last_error TEXT NULL
) ENGINE=InnoDB COMMENT 'shiftgate dualwrite: relay leases and backoff'
