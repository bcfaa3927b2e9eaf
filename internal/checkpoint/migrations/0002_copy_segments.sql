-- The progress of each segment of a table's key range, written in the
-- transaction of the rows it counts.
CREATE TABLE IF NOT EXISTS copy_segments (
  target_db VARCHAR(64) NOT NULL,
  target_table VARCHAR(64) NOT NULL,
  segment INT NOT NULL,
  lower_key MEDIUMTEXT NOT NULL,
  upper_key MEDIUMTEXT NOT NULL,
  last_key MEDIUMTEXT NOT NULL,
  rows_copied BIGINT NOT NULL DEFAULT 0,
  bytes_copied BIGINT NOT NULL DEFAULT 0,
  chunks BIGINT NOT NULL DEFAULT 0,
  done TINYINT NOT NULL DEFAULT 0,
  PRIMARY KEY (target_db, target_table, segment)
) ENGINE=InnoDB COMMENT 'shiftgate migrate.Copier: progress of each segment, written with its rows'
