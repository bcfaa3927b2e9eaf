-- One row: the relays' pause switch, the switch phase and the latest
-- verification of the secondary against the primary.
CREATE TABLE IF NOT EXISTS dualwrite_state (
  id TINYINT NOT NULL PRIMARY KEY,
  paused TINYINT NOT NULL DEFAULT 0,
  phase VARCHAR(16) NOT NULL DEFAULT 'off',
  phase_since DATETIME(6) NOT NULL DEFAULT '1970-01-01 00:00:01',
  verified_at DATETIME(6) NULL,
  verified_clean TINYINT NOT NULL DEFAULT 0,
  verify_summary TEXT NULL,
  updated_at DATETIME(6) NOT NULL DEFAULT '1970-01-01 00:00:01'
) ENGINE=InnoDB COMMENT 'shiftgate dualwrite: relay pause, switch phase, latest verification'
