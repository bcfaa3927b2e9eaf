package review

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// scopeSchema is the schema of the scope tests: o's created_at and u's
// phone are indexed; p's and calls' same-named columns are not, and
// calls.phone is a number.
const scopeSchema = `CREATE TABLE o (id BIGINT PRIMARY KEY, created_at DATETIME NOT NULL, KEY idx_created (created_at));
CREATE TABLE p (id BIGINT PRIMARY KEY, o_id BIGINT NOT NULL, created_at DATETIME NOT NULL);
CREATE TABLE u (id BIGINT PRIMARY KEY, phone VARCHAR(20) NOT NULL, KEY idx_phone (phone));
CREATE TABLE calls (id BIGINT PRIMARY KEY, u_id BIGINT NOT NULL, phone BIGINT NOT NULL);
CREATE TABLE log (log_id BIGINT PRIMARY KEY, ticket_id BIGINT NOT NULL);
CREATE TABLE counter (id BIGINT PRIMARY KEY, n BIGINT NOT NULL);
`

// TestScopeResolution checks that columns resolve to the table of their
// own query block (subqueries, derived tables, CTEs, UNION branches,
// INSERT ... SELECT), or of an enclosing one when correlated, for every
// rule that looks at columns: the misses and false findings of
// top-level-only resolution.
func TestScopeResolution(t *testing.T) {
	cases := []struct {
		rule, sql string
		fires     bool
	}{
		// Functions over an indexed column inside nested blocks.
		{"dml.function-on-indexed-column", "SELECT id FROM p WHERE o_id IN (SELECT id FROM o WHERE DATE(created_at) = '2024-01-01')", true},
		{"dml.function-on-indexed-column", "SELECT x.id FROM (SELECT id FROM o WHERE DATE(created_at) = '2024-01-01') x", true},
		{"dml.function-on-indexed-column", "WITH r AS (SELECT id FROM o WHERE DATE(created_at) = '2024-01-01') SELECT id FROM r", true},
		{"dml.function-on-indexed-column", "SELECT id FROM p WHERE o_id = 1 UNION SELECT id FROM o WHERE YEAR(created_at) = 2024", true},
		{"dml.function-on-indexed-column", "UPDATE p SET o_id = 0 WHERE o_id IN (SELECT id FROM o WHERE DATE(o.created_at) = '2024-01-01')", true},
		{"dml.function-on-indexed-column", "SELECT p.id FROM p JOIN o ON DATE(o.created_at) = DATE(p.created_at)", true},
		{"dml.function-on-indexed-column", "SELECT id FROM p WHERE EXISTS (SELECT 1 FROM o WHERE o.id = p.o_id AND DATE(o.created_at) = '2024-01-01')", true},
		// ... and the same names that belong to an unindexed column.
		{"dml.function-on-indexed-column", "SELECT id FROM o WHERE EXISTS (SELECT 1 FROM p WHERE DATE(created_at) = '2024-01-01')", false},
		{"dml.function-on-indexed-column", "SELECT id FROM o x WHERE id IN (SELECT o_id FROM p x WHERE DATE(x.created_at) = '2024-01-01')", false},
		{"dml.function-on-indexed-column", "SELECT id FROM o WHERE id IN (SELECT o_id FROM (SELECT o_id, created_at FROM p) o WHERE DATE(o.created_at) = '2024-01-01')", false},
		{"dml.function-on-indexed-column", "WITH o AS (SELECT id, created_at FROM p) SELECT id FROM o WHERE DATE(created_at) = '2024-01-01'", false},
		{"dml.function-on-indexed-column", "SELECT id FROM o WHERE created_at >= '2024-01-01' UNION SELECT id FROM p WHERE DATE(created_at) = '2024-01-01'", false},
		// Implicit conversions.
		{"dml.implicit-conversion", "SELECT id FROM calls WHERE u_id IN (SELECT id FROM u WHERE phone = 13800138000)", true},
		{"dml.implicit-conversion", "SELECT d.id FROM (SELECT id FROM u WHERE phone IN (1, 2)) d", true},
		{"dml.implicit-conversion", "SELECT id FROM u WHERE id IN (SELECT u_id FROM calls WHERE phone = 13800138000)", false},
		{"dml.implicit-conversion", "SELECT id FROM u WHERE EXISTS (SELECT 1 FROM calls c WHERE c.u_id = u.id AND c.phone = 5)", false},
		// Unknown columns.
		{"script.unknown-column", "INSERT INTO log (ticket_id) SELECT 5 FROM counter WHERE id = 1", false},
		{"script.unknown-column", "INSERT INTO log (ticket_id) SELECT n FROM counter WHERE ticket_id = 1", true},
		{"script.unknown-column", "REPLACE INTO log (log_id, ticket_id) SELECT id, n FROM counter", false},
		{"script.unknown-column", "SELECT id FROM o WHERE id IN (SELECT nope FROM p)", true},
		{"script.unknown-column", "SELECT id FROM o WHERE EXISTS (SELECT 1 FROM p WHERE p.o_id = o.id)", false},
		{"script.unknown-column", "SELECT id FROM o WHERE EXISTS (SELECT 1 FROM p WHERE p.o_id = o.nope)", true},
		{"script.unknown-column", "SELECT d.n FROM (SELECT COUNT(*) AS n FROM o) d", false},
		{"script.unknown-column", "SELECT d.m FROM (SELECT COUNT(*) AS n FROM o) d", true},
		{"script.unknown-column", "SELECT d.anything FROM (SELECT * FROM o) d", false},
		{"script.unknown-column", "WITH r AS (SELECT id FROM o) SELECT id FROM r", false},
		{"script.unknown-column", "WITH r AS (SELECT id FROM o) SELECT created FROM r", true},
		{"script.unknown-column", "WITH r (a) AS (SELECT id FROM o) SELECT a FROM r WHERE a > 1", false},
		{"script.unknown-column", "SELECT id FROM o UNION SELECT nope FROM p", true},
		{"script.unknown-column", "SELECT id FROM o UNION SELECT o_id FROM p ORDER BY id", false},
		{"script.unknown-column", "UPDATE o JOIN p ON p.o_id = o.id SET o.created_at = NOW() WHERE p.nope = 1", true},
		{"script.unknown-column", "UPDATE o JOIN p ON p.o_id = o.id SET o.created_at = NOW() WHERE p.id = 1", false},
		{"script.unknown-column", "DELETE o FROM o JOIN p ON p.o_id = o.id WHERE p.created_at < '2020-01-01'", false},
		{"script.unknown-column", "UPDATE p SET created_at = (SELECT MAX(created_at) FROM o WHERE o.id = p.o_id) WHERE id = 1", false},
		{"script.unknown-column", "SELECT id AS k FROM o ORDER BY k", false},
		// Primary keys changed through an UPDATE's join.
		{"dml.update-primary-key", "UPDATE p JOIN o ON o.id = p.o_id SET p.o_id = 2 WHERE o.id = 1", false},
		{"dml.update-primary-key", "UPDATE p x JOIN o y ON y.id = x.o_id SET y.id = 2 WHERE x.id = 1", true},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			got := reviewWith(t, tc.rule, nil, scopeSchema+tc.sql)
			if tc.fires {
				assert.NotEmpty(t, got, "%s should fire on %q", tc.rule, tc.sql)
			} else {
				assert.Empty(t, got, "%s should not fire on %q", tc.rule, tc.sql)
			}
		})
	}
}

// TestConditionsOnce checks that a condition in a nested block is
// reported once, not once per enclosing block.
func TestConditionsOnce(t *testing.T) {
	got := reviewWith(t, "dml.function-on-indexed-column", nil, scopeSchema+
		"SELECT id FROM p WHERE o_id IN (SELECT id FROM o WHERE id IN (SELECT id FROM o WHERE DATE(created_at) = '2024-01-01'))")
	assert.Len(t, got, 1)
	got = reviewWith(t, "dml.leading-wildcard-like", nil, scopeSchema+
		"SELECT id FROM p WHERE o_id IN (SELECT id FROM o WHERE id IN (SELECT u_id FROM calls WHERE phone LIKE '%1'))")
	assert.Len(t, got, 1)
}
