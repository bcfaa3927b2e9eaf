-- Tickets: the columns that List and Claim query, and the whole ticket as
-- JSON in body (the source of truth when reading).
CREATE TABLE shiftgate_tickets (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  client_key VARCHAR(191) NULL,
  kind VARCHAR(64) NOT NULL,
  title VARCHAR(500) NOT NULL,
  submitter VARCHAR(191) NOT NULL,
  instance VARCHAR(191) NOT NULL,
  source_instance VARCHAR(191) NOT NULL DEFAULT '',
  database_name VARCHAR(64) NOT NULL,
  sql_text MEDIUMTEXT NOT NULL,
  state VARCHAR(32) NOT NULL,
  version BIGINT NOT NULL,
  not_before DATETIME(6) NULL,
  not_after DATETIME(6) NULL,
  worker VARCHAR(191) NOT NULL DEFAULT '',
  lease_until DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  body LONGTEXT NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY client_key (client_key),
  KEY state_id (state, id),
  KEY submitter_id (submitter, id),
  KEY instance_id (instance, id),
  KEY created_at (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
