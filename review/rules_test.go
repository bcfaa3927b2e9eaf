package review

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exampleCatalog is the world rule examples are reviewed in: database shop
// holding only table big, of 50 million rows.
func exampleCatalog(t testing.TB) *ScriptCatalog {
	t.Helper()
	cat := NewScriptCatalog(nil)
	require.NoError(t, cat.Apply(context.Background(), "shop", "CREATE TABLE big (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, a INT NOT NULL, b VARCHAR(20) NOT NULL)"))
	big, err := cat.Table(context.Background(), "shop", "big")
	require.NoError(t, err)
	big.Rows, big.DataLength = 50_000_000, 5<<30
	return cat
}

// onlyRule returns a policy with every rule off but id, at level (or its
// default level, or notice if it is off by default), with params.
func onlyRule(id string, params map[string]any) *Policy {
	p := &Policy{Name: "only-" + id, Rules: map[string]RuleConfig{}}
	for _, r := range Rules() {
		p.Rules[r.ID] = RuleConfig{Level: Lvl(LevelOff)}
	}
	lvl := LevelNotice
	for _, r := range Rules() {
		if r.ID == id && r.Level != LevelNone {
			lvl = r.Level
		}
	}
	p.Rules[id] = RuleConfig{Level: Lvl(lvl), Params: params}
	return p
}

func reviewWith(t *testing.T, id string, params map[string]any, script string) []Finding {
	t.Helper()
	r, err := New(WithPolicy(onlyRule(id, params)), WithCatalog(exampleCatalog(t)), WithDefaultDatabase("shop"))
	require.NoError(t, err)
	res, err := r.Review(context.Background(), script)
	require.NoError(t, err)
	var out []Finding
	for _, f := range res.Findings() {
		require.Equal(t, id, f.Rule, "only %s is on", id)
		out = append(out, f)
	}
	return out
}

// TestRuleExamples reviews every rule's documented examples: Fires must
// produce a finding of that rule, Passes none.
func TestRuleExamples(t *testing.T) {
	rules := Rules()
	require.GreaterOrEqual(t, len(rules), 60)
	for _, r := range rules {
		t.Run(r.ID, func(t *testing.T) {
			require.NotEmpty(t, r.Fires)
			require.NotEmpty(t, r.Passes)
			if r.Live {
				t.Skip("needs a live server: see TestDryRun")
			}
			fired := reviewWith(t, r.ID, r.ExampleParams, r.Fires)
			require.NotEmpty(t, fired, "example that should fire:\n%s", r.Fires)
			for _, f := range fired {
				assert.NotEmpty(t, f.Message)
				assert.Positive(t, f.Position.Line)
			}
			assert.Empty(t, reviewWith(t, r.ID, r.ExampleParams, r.Passes), "example that should pass:\n%s", r.Passes)
		})
	}
}

// TestRuleParams checks that rules respect their parameters.
func TestRuleParams(t *testing.T) {
	cases := []struct {
		rule   string
		params map[string]any
		script string
		fires  bool
	}{
		{"naming.max-length", map[string]any{"max": 5}, "CREATE TABLE orders (id BIGINT PRIMARY KEY)", true},
		{"naming.max-length", map[string]any{"max": 6}, "CREATE TABLE orders (id BIGINT PRIMARY KEY)", false},
		{"naming.index-prefix", map[string]any{"prefix": "ix_"}, "CREATE INDEX idx_a ON t (a)", true},
		{"naming.index-prefix", map[string]any{"prefix": "ix_"}, "CREATE INDEX ix_a ON t (a)", false},
		{"naming.unique-prefix", map[string]any{"prefix": "ux_"}, "CREATE UNIQUE INDEX uk_a ON t (a)", true},
		{"naming.table-pattern", map[string]any{"pattern": "^t_"}, "CREATE TABLE orders (id INT PRIMARY KEY)", true},
		{"naming.table-pattern", map[string]any{"pattern": "^t_"}, "CREATE TABLE t_orders (id INT PRIMARY KEY)", false},
		{"table.engine", map[string]any{"engines": []string{"InnoDB", "Aria"}}, "CREATE TABLE t (id INT PRIMARY KEY) ENGINE=Aria", false},
		{"table.engine", map[string]any{"engines": []any{"MyISAM"}}, "CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB", true},
		{"table.charset", map[string]any{"charsets": []string{"utf8mb4", "latin1"}}, "CREATE TABLE t (id INT PRIMARY KEY) CHARSET=latin1", false},
		{"table.max-columns", map[string]any{"max": 2}, "CREATE TABLE t (id INT PRIMARY KEY, a INT, b INT)", true},
		{"table.max-columns", map[string]any{"max": 3}, "CREATE TABLE t (id INT PRIMARY KEY, a INT, b INT)", false},
		{"table.max-columns", map[string]any{"max": 3}, "ALTER TABLE big ADD COLUMN c INT", true},
		{"table.required-columns", map[string]any{"columns": []string{"tenant_id"}}, "CREATE TABLE t (id INT PRIMARY KEY, created_at DATETIME)", true},
		{"table.required-columns", map[string]any{"columns": []string{}}, "CREATE TABLE t (id INT PRIMARY KEY)", false},
		{"table.text-blob-limit", map[string]any{"max": 0}, "CREATE TABLE t (id INT PRIMARY KEY, a TEXT)", true},
		{"column.char-max-length", map[string]any{"max": 4}, "CREATE TABLE t (id INT PRIMARY KEY, c CHAR(8))", true},
		{"column.varchar-max-length", map[string]any{"max": 10000}, "CREATE TABLE t (id INT PRIMARY KEY, c VARCHAR(8000))", false},
		{"column.float-money", map[string]any{"pattern": "^cash$"}, "CREATE TABLE t (id INT PRIMARY KEY, price DOUBLE)", false},
		{"column.auto-increment-type", map[string]any{"types": []string{"int", "bigint"}}, "CREATE TABLE t (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY)", false},
		{"index.max-per-table", map[string]any{"max": 2}, "CREATE INDEX idx_a ON big (a)", false},
		{"index.max-per-table", map[string]any{"max": 2}, "CREATE INDEX idx_a ON big (a); CREATE INDEX idx_b ON big (b)", true},
		{"index.max-columns", map[string]any{"max": 1}, "CREATE INDEX idx_ab ON t (a, b)", true},
		{"index.duplicate", nil, "CREATE INDEX idx_id ON big (id)", true},
		{"index.redundant", nil, "CREATE INDEX idx_a_b ON big (a, b); CREATE INDEX idx_a ON big (a)", true},
		{"ddl.big-table-alter", map[string]any{"rows": 100_000_000}, "ALTER TABLE big ADD INDEX idx_a (a)", false},
		{"ddl.big-table-alter", nil, "ALTER TABLE big ADD COLUMN c INT", false}, // instant
		{"ddl.lossy-type-change", nil, "ALTER TABLE big MODIFY a BIGINT NOT NULL", false},
		{"ddl.lossy-type-change", nil, "ALTER TABLE big MODIFY a TINYINT NOT NULL", true},
		{"ddl.existence", nil, "CREATE TABLE big (id INT PRIMARY KEY)", true},
		{"ddl.existence", nil, "CREATE TABLE IF NOT EXISTS big (id INT PRIMARY KEY)", false},
		{"ddl.existence", nil, "ALTER TABLE big DROP COLUMN a, ADD COLUMN a BIGINT NOT NULL", false},
		{"ddl.merge-alters", nil, "ALTER TABLE big ADD COLUMN c INT; ALTER TABLE other ADD COLUMN c INT", false},
		{"dml.max-in-list", map[string]any{"max": 2}, "SELECT id FROM big WHERE id IN (1, 2, 3)", true},
		{"dml.max-affected-rows", map[string]any{"max": 100_000_000}, "DELETE FROM big", false},
		{"dml.insert-max-rows", map[string]any{"max": 2}, "INSERT INTO t (a) VALUES (1), (2), (3)", true},
		{"dml.large-offset", map[string]any{"max": 10}, "SELECT id FROM big LIMIT 20, 5", true},
		{"dml.always-true-where", nil, "DELETE FROM big WHERE id = id", true},
		{"dml.always-true-where", nil, "DELETE FROM big WHERE 1 = 0 OR id = 3", false},
		{"dml.implicit-conversion", nil, "SELECT id FROM big WHERE b IN ('x', 3)", true},
		{"dml.implicit-conversion", nil, "SELECT id FROM big WHERE a = '3'", false},
		{"dml.function-on-indexed-column", nil, "SELECT id FROM big WHERE id + 1 = 5", true},
		{"dml.function-on-indexed-column", nil, "SELECT id FROM big WHERE a + 1 = 5", false}, // a is not indexed
		{"script.banned-statement", map[string]any{"types": []string{"SELECT"}}, "SELECT 1", true},
		{"script.max-statements", map[string]any{"max": 2}, "SELECT 1; SELECT 2; SELECT 3", true},
		{"script.max-statements", map[string]any{"max": 3}, "SELECT 1; SELECT 2; SELECT 3", false},
		{"script.unknown-table", nil, "SELECT id FROM big", false},
		{"script.unknown-table", nil, "DROP TABLE big; SELECT id FROM big", true},
		{"script.unknown-table", nil, "RENAME TABLE big TO huge; SELECT id FROM huge", false},
		{"script.unknown-column", nil, "SELECT nope FROM big", true},
		{"script.unknown-column", nil, "SELECT a AS x FROM big ORDER BY x", false},
		{"script.unknown-column", nil, "ALTER TABLE big ADD COLUMN c INT; UPDATE big SET c = 1 WHERE id = 1", false},
		{"script.unknown-column", nil, "ALTER TABLE big CHANGE a aa INT; UPDATE big SET a = 1 WHERE id = 1", true},
		{"script.query-in-change", nil, "SELECT 1; SELECT 2; UPDATE big SET a = 1 WHERE id = 1", true},
		{"script.query-in-change", nil, "SELECT 1; UPDATE big SET a = = 1; SELECT 2", true},
		{"script.query-in-change", nil, "SELECT 1; SELECT 2; USE shop", false},
		{"script.mixed-ddl-dml", nil, "UPDATE big SET a = 1 WHERE id = 1; SELECT 1; ALTER TABLE big ADD COLUMN c INT", true},
		{"script.mixed-ddl-dml", nil, "ALTER TABLE big ADD COLUMN c INT; SELECT 1; ALTER TABLE big ADD COLUMN d INT", false},
		{"ddl.merge-alters", nil, "CREATE INDEX idx_a ON big (a); SELECT 1; ALTER TABLE shop.big ADD COLUMN c INT", true},
		{"script.executable-comment", nil, "UPDATE big SET a = 1 /*!50000 WHERE id = 1 */", true},
		{"script.executable-comment", nil, "/*M! GRANT ALL ON *.* TO 'app'@'%' */", true},
		{"script.executable-comment", nil, "/*!40103 SET TIME_ZONE='+00:00' */; /*!40000 ALTER TABLE big ENABLE KEYS */; SELECT id /*!50000 , a */ FROM big", false},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			got := reviewWith(t, tc.rule, tc.params, tc.script)
			if tc.fires {
				assert.NotEmpty(t, got, "%s with %v should fire on %q", tc.rule, tc.params, tc.script)
			} else {
				assert.Empty(t, got, "%s with %v should not fire on %q", tc.rule, tc.params, tc.script)
			}
		})
	}
}

// TestScriptWideRules checks the rules that look at the statements before
// their own through the script summary: what they report and where.
func TestScriptWideRules(t *testing.T) {
	got := reviewWith(t, "script.query-in-change", nil, "SELECT 1;\nSELECT 2;\nUPDATE big SET a = 1 WHERE id = 1;\nSELECT 3;\nDELETE FROM big WHERE id = 2")
	require.Len(t, got, 3, "each query once")
	assert.Equal(t, []int{1, 2, 4}, []int{got[0].Position.Line, got[1].Position.Line, got[2].Position.Line})

	got = reviewWith(t, "ddl.merge-alters", nil, "ALTER TABLE big ADD COLUMN c INT;\nCREATE INDEX idx_c ON big (c);\nDROP INDEX idx_c ON big")
	require.Len(t, got, 2)
	for _, f := range got {
		assert.Contains(t, f.Message, "statement 1 at line 1")
	}

	got = reviewWith(t, "script.max-statements", map[string]any{"max": 2}, "SELECT 1; SELECT 2; SELECT 3; SELECT 4")
	require.Len(t, got, 1)
	assert.Equal(t, "the script has more than 2 statements; this is statement 3", got[0].Message)
}

// TestScriptCatalogDropDatabase checks that dropping a database drops its
// tables only.
func TestScriptCatalogDropDatabase(t *testing.T) {
	ctx := context.Background()
	cat := NewScriptCatalog(nil)
	require.NoError(t, cat.Apply(ctx, "a", "CREATE TABLE t (id INT PRIMARY KEY); CREATE TABLE b.u (id INT PRIMARY KEY); DROP DATABASE a; CREATE DATABASE a"))
	_, err := cat.Table(ctx, "a", "t")
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = cat.Table(ctx, "b", "u")
	assert.NoError(t, err)
}

// TestScriptCatalogAlterTableOptions checks that ALTER TABLE table options
// reach the script's catalog as CREATE TABLE's do: a later statement's
// algorithm is predicted from the table as the script left it.
func TestScriptCatalogAlterTableOptions(t *testing.T) {
	ctx := context.Background()
	cat := NewScriptCatalog(nil)
	require.NoError(t, cat.Apply(ctx, "a", "CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB ROW_FORMAT=DYNAMIC; ALTER TABLE t ROW_FORMAT=COMPRESSED, COMMENT 'archived'"))
	def, err := cat.Table(ctx, "a", "t")
	require.NoError(t, err)
	assert.Equal(t, "Compressed", def.RowFormat)
	assert.Equal(t, "archived", def.Comment)
}

// TestMultiTableDeleteTargets checks that the target list of a
// multi-table DELETE is read through the aliases of its FROM clause: the
// statement's tables are real tables and its size is the target's.
func TestMultiTableDeleteTargets(t *testing.T) {
	r, err := New(WithCatalog(exampleCatalog(t)), WithDefaultDatabase("shop"))
	require.NoError(t, err)
	res, err := r.Review(context.Background(), "CREATE TABLE log (id BIGINT PRIMARY KEY, ticket_id BIGINT);\nDELETE b FROM big b JOIN log l ON l.ticket_id = b.id WHERE l.id = 1")
	require.NoError(t, err)
	st := res.Statements[1]
	require.Equal(t, []string{"shop.big", "shop.log"}, st.Tables)
	require.NotNil(t, st.TableRows)
	require.Equal(t, int64(50_000_000), *st.TableRows)
}
