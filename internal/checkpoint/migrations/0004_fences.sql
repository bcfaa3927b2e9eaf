-- Write fences on a source server (internal/fence): what a fence changed
-- and how to undo it, written before the change, so that a restart after a
-- crash restores it; and the write pause, stopped_at to released_at.
CREATE TABLE IF NOT EXISTS fences (
  id VARCHAR(64) NOT NULL PRIMARY KEY,
  source VARCHAR(255) NOT NULL,
  method VARCHAR(32) NOT NULL,
  undo_json MEDIUMTEXT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  stopped_at DATETIME(6) NULL,
  released_at DATETIME(6) NULL,
  KEY open_fences (source, released_at)
) ENGINE=InnoDB COMMENT 'shiftgate fence: write fences on a source and how to undo them'
