package review

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitPositions(t *testing.T) {
	script := "-- header\n/* block; comment */ SELECT 'a;b', \"c;d\", `e;f` FROM t;\n\n  UPDATE t SET a = 1 # trailing; comment\n WHERE id = 2;\nDELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END$$\nDELIMITER ;\nSELECT 'é'; SELECT 2"
	sp := newSplitter(script)
	var got []piece
	for {
		p, ok := sp.next()
		if !ok {
			break
		}
		got = append(got, p)
	}
	require.Len(t, got, 5)
	assert.Equal(t, "SELECT 'a;b', \"c;d\", `e;f` FROM t", got[0].text)
	assert.Equal(t, Position{Line: 2, Column: 22, Offset: 31}, got[0].pos)
	assert.Equal(t, "UPDATE t SET a = 1 # trailing; comment\n WHERE id = 2", got[1].text)
	assert.Equal(t, 4, got[1].pos.Line)
	assert.Equal(t, 3, got[1].pos.Column)
	assert.Equal(t, "CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", got[2].text)
	assert.Equal(t, "$$", got[2].delim)
	assert.Equal(t, 7, got[2].pos.Line)
	assert.Equal(t, Position{Line: 9, Column: 13, Offset: strings.LastIndex(script, "SELECT 2")}, got[4].pos, "columns count characters")
	for _, p := range got {
		assert.Equal(t, p.text, script[p.pos.Offset:p.pos.Offset+len(p.text)])
	}
}

func TestParseErrorDoesNotStopReview(t *testing.T) {
	r, err := New()
	require.NoError(t, err)
	res, err := r.Review(context.Background(), "SELECT 1;\nUPDATE t SET a = = 1 WHERE id = 1;\nDELETE FROM t")
	require.NoError(t, err)
	require.Len(t, res.Statements, 3)
	f := res.Statements[1].Findings
	require.Len(t, f, 1)
	assert.Equal(t, "parse.error", f[0].Rule)
	assert.Contains(t, f[0].Message, `near "= 1 WHERE id = 1"`)
	assert.Equal(t, Position{Line: 2, Column: 18, Offset: 27}, f[0].Position)
	assert.Equal(t, "dml.require-where", res.Statements[2].Findings[0].Rule)
	assert.False(t, res.Summary.Pass)
	assert.Equal(t, LevelError, res.Summary.Level)
}

func TestFindingPositionWithinStatement(t *testing.T) {
	r, err := New(WithPolicy(onlyRule("dml.leading-wildcard-like", nil)))
	require.NoError(t, err)
	res, err := r.Review(context.Background(), "SELECT 1;\nSELECT id\nFROM u\nWHERE a = 1 AND name LIKE '%x'")
	require.NoError(t, err)
	require.Len(t, res.Statements[1].Findings, 1)
	assert.Equal(t, Position{Line: 4, Column: 17, Offset: 43}, res.Statements[1].Findings[0].Position)
}

func TestScriptCatalogAppliesDDLInOrder(t *testing.T) {
	ctx := context.Background()
	cat := NewScriptCatalog(nil)
	require.NoError(t, cat.Apply(ctx, "shop", `CREATE TABLE a (id INT PRIMARY KEY, x VARCHAR(10), KEY idx_x (x));
ALTER TABLE a ADD COLUMN y INT AFTER id, DROP INDEX idx_x, ADD UNIQUE KEY uk_y (y), CHANGE x z VARCHAR(20);
RENAME TABLE a TO b;
CREATE INDEX idx_z ON b (z(4))`))
	_, err := cat.Table(ctx, "shop", "a")
	assert.ErrorIs(t, err, ErrNotFound)
	b, err := cat.Table(ctx, "shop", "b")
	require.NoError(t, err)
	assert.Equal(t, []string{"id", "y", "z"}, []string{b.Columns[0].Name, b.Columns[1].Name, b.Columns[2].Name})
	assert.Equal(t, int64(20), b.Column("z").MaxLength)
	require.Len(t, b.Indexes, 3)
	assert.Equal(t, "PRIMARY", b.Indexes[0].Name)
	assert.Equal(t, []IndexColumn{{Name: "z", SubPart: 4}}, b.Index("idx_z").Columns)
	_, err = cat.Table(ctx, "other", "t")
	assert.ErrorIs(t, err, ErrUnknown)
	assert.Error(t, cat.Apply(ctx, "shop", "CREATE TABLE broken ("))
}

func TestAlgorithmPrediction(t *testing.T) {
	base := "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR(20) NOT NULL, e ENUM('a','b') NOT NULL, n INT NULL, KEY idx_name (name));\n"
	cases := []struct {
		alter           string
		mariadb, mysql8 string
	}{
		{"ALTER TABLE t ADD COLUMN c INT", "INSTANT", "INSTANT"},
		{"ALTER TABLE t ADD COLUMN c INT AFTER id", "INSTANT", "INSTANT"},
		{"ALTER TABLE t DROP COLUMN n", "INSTANT", "INSTANT"},
		{"ALTER TABLE t DROP COLUMN name", "INPLACE", "INPLACE"},
		{"ALTER TABLE t MODIFY name VARCHAR(50) NOT NULL", "INSTANT", "INPLACE"},
		{"ALTER TABLE t MODIFY name VARCHAR(100) NOT NULL", "COPY", "COPY"}, // crosses 255 bytes in utf8mb4
		{"ALTER TABLE t MODIFY name VARCHAR(10) NOT NULL", "COPY", "COPY"},
		{"ALTER TABLE t MODIFY e ENUM('a','b','c') NOT NULL", "INSTANT", "INSTANT"},
		{"ALTER TABLE t MODIFY n INT NOT NULL", "INPLACE", "INPLACE"},
		{"ALTER TABLE t MODIFY n BIGINT NULL", "COPY", "COPY"},
		{"ALTER TABLE t ADD INDEX idx_n (n)", "INPLACE", "INPLACE"},
		{"ALTER TABLE t RENAME COLUMN n TO m", "INSTANT", "INSTANT"},
		{"ALTER TABLE t ALTER COLUMN n SET DEFAULT 3", "INSTANT", "INSTANT"},
		{"ALTER TABLE t DROP PRIMARY KEY", "COPY", "COPY"},
		{"ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4", "COPY", "COPY"},
		{"ALTER TABLE t ENGINE=InnoDB", "INPLACE", "INPLACE"},
		{"ALTER TABLE t COMMENT 'x'", "INSTANT", "INSTANT"},
		{"ALTER TABLE t ADD COLUMN s INT AS (n + 1) STORED", "COPY", "COPY"},
		{"ALTER TABLE unknown_table MODIFY a INT", "COPY", "COPY"},
	}
	for _, tc := range cases {
		for _, srv := range []Server{MariaDB1011, MySQL80} {
			r, err := New(WithServer(srv))
			require.NoError(t, err)
			res, err := r.Review(context.Background(), base+tc.alter)
			require.NoError(t, err)
			want := tc.mariadb
			if srv == MySQL80 {
				want = tc.mysql8
			}
			assert.Equal(t, want, res.Statements[1].Algorithm, "%s on %s", tc.alter, srv)
		}
	}
}

func TestPolicies(t *testing.T) {
	yamlPolicy := []byte(`name: team
base: prod
fail_level: error
rules:
  dml.require-limit: {level: off}
  table.max-columns: {params: {max: 2}}
  naming.table-pattern: {params: {pattern: "^t_"}}
`)
	p, err := ParsePolicy(yamlPolicy)
	require.NoError(t, err)
	r, err := New(WithPolicy(p))
	require.NoError(t, err)
	res, err := r.Review(context.Background(), "CREATE TABLE t (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, a INT, b INT);\nDELETE FROM t WHERE id = 1")
	require.NoError(t, err)
	var ids []string
	for _, f := range res.Findings() {
		ids = append(ids, f.Rule)
	}
	assert.Contains(t, ids, "table.max-columns")
	assert.Contains(t, ids, "naming.table-pattern")
	assert.NotContains(t, ids, "dml.require-limit")
	assert.Equal(t, "team", res.Summary.Policy)

	js, err := json.Marshal(ProdPolicy())
	require.NoError(t, err)
	back, err := ParsePolicy(js)
	require.NoError(t, err)
	assert.Equal(t, ProdPolicy(), back)

	for _, bad := range []string{
		`{"name": "x", "rules": {"no.such-rule": {}}}`,
		`{"name": "x", "rules": {"table.max-columns": {"params": {"max": "ten"}}}}`,
		`{"name": "x", "rules": {"table.max-columns": {"params": {"nope": 1}}}}`,
		`{"name": "x", "rules": {"naming.table-pattern": {"params": {"pattern": "("}}}}`,
		`{"name": "x", "base": "staging"}`,
	} {
		p, err := ParsePolicy([]byte(bad))
		require.NoError(t, err, bad)
		_, err = New(WithPolicy(p))
		assert.Error(t, err, bad)
	}
	_, err = ParsePolicy([]byte(`{"name": "x", "level": 3}`))
	assert.Error(t, err, "unknown fields are errors")
	_, err = ParsePolicy([]byte("name: x\nrules:\n  a.b: {level: loud}\n"))
	assert.Error(t, err)
}

func TestCustomRule(t *testing.T) {
	// A rule that looks back at the script: rows of orders may be deleted
	// only after an earlier statement archived them.
	archives := func(st Statement) bool {
		return strings.HasPrefix(st.Type, "INSERT") && slices.ContainsFunc(st.Tables, func(t string) bool {
			return t == "orders_archive" || strings.HasSuffix(t, ".orders_archive")
		})
	}
	rule := Rule{
		ID: "acme.no-unarchived-delete", Category: CategoryDML, Level: LevelError,
		Summary: "Orders are archived before they are deleted.",
		Fires:   "DELETE FROM orders WHERE id = 1",
		Passes:  "INSERT INTO orders_archive SELECT * FROM orders WHERE id = 1;\nDELETE FROM orders WHERE id = 1",
		Check: func(c *Check) {
			if c.Kind() != KindDML || !strings.HasPrefix(c.Text(), "DELETE FROM orders") || slices.ContainsFunc(c.Prior(), archives) {
				return
			}
			c.Report("rows of table orders are deleted without being archived first")
		},
	}
	r, err := New(WithRules(rule))
	require.NoError(t, err)
	findings := func(script string) (out []Finding) {
		res, err := r.Review(context.Background(), script)
		require.NoError(t, err)
		for _, f := range res.Findings() {
			if f.Rule == rule.ID {
				out = append(out, f)
			}
		}
		return out
	}
	fired := findings(rule.Fires)
	require.Len(t, fired, 1, "the rule's Fires example")
	assert.Equal(t, "rows of table orders are deleted without being archived first", fired[0].Message)
	assert.Equal(t, LevelError, fired[0].Level)
	assert.Empty(t, findings(rule.Passes), "the rule's Passes example")
	// Order matters: archiving after the delete is too late.
	assert.Len(t, findings("DELETE FROM orders WHERE id = 1;\nINSERT INTO orders_archive SELECT * FROM orders WHERE id = 1"), 1)

	_, err = New(WithRules(Rule{ID: "table.require-pk", Category: CategoryTable, Summary: "x", Check: func(*Check) {}}))
	assert.Error(t, err, "IDs are unique")
	_, err = New(WithRules(Rule{ID: "Bad ID", Category: CategoryTable, Summary: "x", Check: func(*Check) {}}))
	assert.Error(t, err)

	panicky := Rule{ID: "acme.panics", Category: CategoryDML, Level: LevelWarning, Summary: "panics", Check: func(*Check) { panic("boom") }}
	r, err = New(WithRules(panicky))
	require.NoError(t, err)
	res, err := r.Review(context.Background(), "SELECT 1")
	require.NoError(t, err)
	assert.Contains(t, res.Statements[0].Findings[0].Message, "boom")
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Option{WithPolicy(nil), WithCatalog(nil), WithLogger(nil), WithDefaultDatabase(""), WithServer("oracle"), nil} {
		_, err := New(o)
		assert.Error(t, err)
	}
}

func TestConcurrentReviews(t *testing.T) {
	r, err := New(WithCatalog(exampleCatalog(t)), WithDefaultDatabase("shop"))
	require.NoError(t, err)
	script := benchScript(50)
	want, err := r.Review(context.Background(), script)
	require.NoError(t, err)
	wantJSON, _ := want.JSON()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, err := r.Review(context.Background(), script)
			assert.NoError(t, err)
			gotJSON, _ := got.JSON()
			assert.JSONEq(t, string(wantJSON), string(gotJSON))
		})
	}
	wg.Wait()
}

func TestCancelled(t *testing.T) {
	r, err := New()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = r.Review(ctx, "SELECT 1")
	assert.ErrorIs(t, err, context.Canceled)
}

func FuzzReview(f *testing.F) {
	for _, r := range Rules() {
		f.Add(r.Fires)
		f.Add(r.Passes)
	}
	f.Add("DELIMITER $$\nSELECT 1; SELECT 2$$\nDELIMITER ;\nSELECT '")
	f.Add("/*! unterminated")
	f.Add("DELIMITER\n;;;")
	f.Add("/*M!100000 DELETE FROM t */; UPDATE t SET a = 1 /*!50000 WHERE id = 1; */ */")
	f.Add("DELIMITER $$\n/*!50003 CREATE*/ /*!50020 PROCEDURE p() BEGIN SELECT 1; END */$$\nDELIMITER ;\n/*M!")
	rv, err := New(WithCatalog(exampleCatalog(f)), WithDefaultDatabase("shop"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, script string) {
		res, err := rv.Review(context.Background(), script)
		if err != nil || res == nil {
			t.Fatalf("no result: %v", err)
		}
		for _, st := range res.Statements {
			if st.Position.Offset < 0 || st.End > len(script) || script[st.Position.Offset:st.End] != st.Text {
				t.Fatalf("statement %d text does not match its offsets", st.Index)
			}
			for _, f := range st.Findings {
				if f.Position.Offset < 0 || f.Position.Offset > len(script) || f.Position.Line < 1 {
					t.Fatalf("finding %s at bad position %+v", f.Rule, f.Position)
				}
			}
		}
		if _, err := res.JSON(); err != nil {
			t.Fatal(err)
		}
	})
}
