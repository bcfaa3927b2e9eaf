-- On the secondary, in the direct transport's checkpoint database: the
-- latest version of each key applied by the dual write called name,
-- written in the transaction that applies it. A change whose key holds
-- this version or a later one is not applied again: a redelivery, or a
-- batch read before another relay delivered, cannot take a key back.
CREATE TABLE IF NOT EXISTS dualwrite_applied (
  name VARCHAR(64) NOT NULL,
  key_hash BIGINT UNSIGNED NOT NULL,
  version BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (name, key_hash)
) ENGINE=InnoDB COMMENT 'shiftgate dualwrite: latest version of each key applied to the secondary'
