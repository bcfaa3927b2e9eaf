package review

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// benchScript returns a realistic mixed change script of about n*20
// statements: table creation, ALTERs, index changes, DML with and without
// problems, queries, a routine in a DELIMITER block, comments.
func benchScript(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `-- change %d
CREATE TABLE t_%d (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'id',
  user_id BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'owner',
  amount DECIMAL(12,2) NOT NULL DEFAULT 0 COMMENT 'amount',
  status TINYINT NOT NULL DEFAULT 0 COMMENT 'state',
  note VARCHAR(200) NOT NULL DEFAULT '' COMMENT 'note',
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT 'created',
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP COMMENT 'updated',
  PRIMARY KEY (id), KEY idx_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='orders %d';
ALTER TABLE t_%d ADD COLUMN channel VARCHAR(32) NOT NULL DEFAULT '' COMMENT 'channel', ADD INDEX idx_status_created (status, created_at);
ALTER TABLE t_%d MODIFY note VARCHAR(50) NOT NULL DEFAULT '' COMMENT 'note';
CREATE INDEX idx_user_status ON t_%d (user_id, status);
INSERT INTO t_%d (user_id, amount, status, note) VALUES (1, 9.90, 0, 'a'), (2, 19.90, 1, 'b'), (3, 5.00, 0, 'c');
INSERT INTO t_%d VALUES (4, 4, 1.00, 0, 'd', NOW(), NOW(), 'web');
UPDATE t_%d SET status = 2, note = 'paid' WHERE id = 42;
UPDATE t_%d SET status = 3 WHERE user_id = 7 AND DATE(created_at) = '2024-01-01' ORDER BY id LIMIT 100;
DELETE FROM t_%d WHERE status = 9 AND note LIKE '%%tmp' LIMIT 10;
DELETE FROM t_%d;
SELECT * FROM t_%d WHERE note = 12345 ORDER BY RAND() LIMIT 10;
SELECT o.id, o.amount FROM t_%d o JOIN big b ON b.id = o.user_id WHERE o.status IN (1, 2, 3) AND b.a > 10;
/* housekeeping */ UPDATE big SET a = a + 1 WHERE 1 = 1;
INSERT INTO t_%d (user_id, amount, status) SELECT a, 1.0, 0 FROM big WHERE id < 1000;
ALTER TABLE big ADD INDEX idx_a (a);
DROP INDEX idx_a ON big;
RENAME TABLE t_%d TO t_%d_v2;
SELEC broken FROM nowhere;
DELIMITER ;;
CREATE PROCEDURE p_%d() BEGIN SELECT 1; SELECT 2; END;;
DELIMITER ;
DROP TABLE t_%d_v2;
`, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i)
	}
	return b.String()
}

// BenchmarkReview reviews a mixed script of 1,000+ statements without a
// server (a ScriptCatalog stands in for the schema) and reports statements
// per second and allocations per statement.
func BenchmarkReview(b *testing.B) {
	cat := exampleCatalog(b)
	r, err := New(WithCatalog(cat), WithDefaultDatabase("shop"))
	if err != nil {
		b.Fatal(err)
	}
	script := benchScript(55)
	res, err := r.Review(context.Background(), script)
	if err != nil {
		b.Fatal(err)
	}
	n := len(res.Statements)
	if n < 1000 {
		b.Fatalf("only %d statements", n)
	}
	b.SetBytes(int64(len(script)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Review(context.Background(), script); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(n*b.N), "allocs/stmt")
	elapsed := b.Elapsed().Seconds()
	b.ReportMetric(float64(n*b.N)/elapsed, "stmts/s")
	b.ReportMetric(float64(n), "stmts/op")
}

// BenchmarkReviewLarge reviews scripts of 10k, 100k and 300k statements, to
// show that time per statement stays flat (every rule is linear in the
// script) and to measure statements per second on long scripts. Run it
// with -benchtime=1x: one review of 300k statements takes several seconds.
func BenchmarkReviewLarge(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 300_000} {
		b.Run(fmt.Sprintf("stmts=%dk", n/1000), func(b *testing.B) {
			cat := exampleCatalog(b)
			r, err := New(WithCatalog(cat), WithDefaultDatabase("shop"))
			if err != nil {
				b.Fatal(err)
			}
			script := benchScript(n / 20)
			b.SetBytes(int64(len(script)))
			b.ReportAllocs()
			var stmts int
			for b.Loop() {
				res, err := r.Review(context.Background(), script)
				if err != nil {
					b.Fatal(err)
				}
				stmts = len(res.Statements)
			}
			if stmts != n {
				b.Fatalf("%d statements, want %d", stmts, n)
			}
			elapsed := b.Elapsed().Seconds()
			b.ReportMetric(float64(stmts*b.N)/elapsed, "stmts/s")
			b.ReportMetric(elapsed*1e9/float64(stmts*b.N), "ns/stmt")
		})
	}
}
