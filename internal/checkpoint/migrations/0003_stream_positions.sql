-- Placeholder from branch fence so that 0004 loads (versions have no gaps):
-- the stream branch owns version 3; on merge keep its file, drop this one.
CREATE TABLE IF NOT EXISTS stream_positions (
  stream VARCHAR(64) NOT NULL PRIMARY KEY,
  source VARCHAR(255) NOT NULL,
  gtid TEXT NOT NULL,
  binlog_file VARCHAR(255) NOT NULL,
  binlog_pos BIGINT UNSIGNED NOT NULL,
  updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB COMMENT 'shiftgate binlog stream: position of each stream'
