-- The 64 buckets (dualwrite.buckets).
INSERT IGNORE INTO dualwrite_buckets (bucket)
WITH RECURSIVE n (b) AS (SELECT 0 UNION ALL SELECT b + 1 FROM n WHERE b < 63) SELECT b FROM n
