-- Where each change stream (a binlog sync, an outbox relay) stands on its
-- target, written in the transaction of the changes it applies. version
-- counts the saves: a save expects the version it last read, so that a
-- second writer of the same stream is noticed instead of interleaved.
CREATE TABLE IF NOT EXISTS stream_positions (
  stream VARCHAR(64) NOT NULL PRIMARY KEY,
  source VARCHAR(255) NOT NULL,
  position MEDIUMTEXT NOT NULL,
  txn_id VARCHAR(255) NOT NULL,
  source_time DATETIME(6) NULL,
  version BIGINT UNSIGNED NOT NULL,
  updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB COMMENT 'shiftgate change streams: position of each stream, written with the changes it applies'
