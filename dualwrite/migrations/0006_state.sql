-- One row: the relay's pause switch and the switch phase.
CREATE TABLE IF NOT EXISTS dualwrite_state (
  id TINYINT NOT NULL PRIMARY KEY,
  paused TINYINT NOT NULL DEFAULT 0,
  phase VARCHAR(16) NOT NULL DEFAULT 'off',
  updated_at DATETIME(6) NOT NULL DEFAULT '1970-01-01 00:00:01'
) ENGINE=InnoDB COMMENT 'shiftgate dualwrite: relay pause and switch phase'
