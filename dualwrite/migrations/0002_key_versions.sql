-- The latest version of each key (by hash of table and key), taken and
-- locked by the capturing transaction: per-key order of captures.
CREATE TABLE IF NOT EXISTS dualwrite_key_versions (
  key_hash BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  version BIGINT UNSIGNED NOT NULL DEFAULT 1
) ENGINE=InnoDB COMMENT 'shiftgate dualwrite: latest version of each key'
