-- Entries delivered before applied_at existed count as applied, as the
-- switches counted them then.
UPDATE dualwrite_outbox SET applied_at = delivered_at WHERE delivered_at IS NOT NULL
