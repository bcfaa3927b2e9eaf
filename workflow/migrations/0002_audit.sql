-- The audit trail: one row per transition, written in the transition's
-- transaction.
CREATE TABLE shiftgate_audit (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  ticket_id BIGINT UNSIGNED NOT NULL,
  actor VARCHAR(191) NOT NULL,
  action VARCHAR(32) NOT NULL,
  from_state VARCHAR(32) NOT NULL,
  to_state VARCHAR(32) NOT NULL,
  comment TEXT NOT NULL,
  at DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  KEY ticket_id (ticket_id, id),
  CONSTRAINT shiftgate_audit_ticket FOREIGN KEY (ticket_id) REFERENCES shiftgate_tickets (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
