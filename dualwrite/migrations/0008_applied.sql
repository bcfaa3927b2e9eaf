-- When the secondary had applied the entry (or held a later version of
-- its key, or the entry became a dead letter): set with delivered_at by a
-- transport that applies as it delivers (Direct), later by the consumer of
-- a broker transport (NATS), after its commit on the secondary. The
-- switches count the entries not applied (phase.go).
ALTER TABLE dualwrite_outbox ADD COLUMN applied_at DATETIME(6) NULL,
  ADD KEY unapplied (applied_at, delivered_at, bucket)
