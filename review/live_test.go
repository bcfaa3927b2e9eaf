package review_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/review"
)

var servers []*sandbox.Server

func TestMain(m *testing.M) {
	os.Exit(sandboxtest.Main(m, 1, &servers))
}

func rulesOf(res *review.Result, index int) []string {
	var out []string
	for _, f := range res.Statements[index].Findings {
		out = append(out, f.Rule)
	}
	return out
}

func TestLiveCatalog(t *testing.T) {
	ctx := context.Background()
	dbName := sandboxtest.NewDatabase(t, servers[0], "review")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db,
		`CREATE TABLE orders (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
			user_id BIGINT UNSIGNED NOT NULL, status TINYINT NOT NULL DEFAULT 0, phone VARCHAR(20) NOT NULL DEFAULT '',
			note VARCHAR(100) NOT NULL DEFAULT '', KEY idx_user (user_id), KEY idx_phone (phone))`,
		"CREATE TABLE archive (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, status TINYINT NOT NULL)")
	// 2,000 rows, 20 per user.
	sandboxtest.Exec(t, db, "INSERT INTO orders (user_id, status) SELECT seq DIV 20, seq MOD 3 FROM seq_0_to_1999",
		"ANALYZE TABLE orders")

	cat, err := review.NewLiveCatalog(db)
	require.NoError(t, err)
	def, err := cat.Table(ctx, dbName, "orders")
	require.NoError(t, err)
	assert.Len(t, def.Indexes, 3)
	_, err = cat.Table(ctx, dbName, "nope")
	assert.ErrorIs(t, err, review.ErrNotFound)

	r, err := review.New(review.WithCatalog(cat), review.WithDefaultDatabase(dbName),
		review.WithPolicy(&review.Policy{Name: "t", BigTableRows: 1000, BigAffectedRows: 100, Rules: map[string]review.RuleConfig{
			"dml.max-affected-rows": {Params: map[string]any{"max": 500}},
			"ddl.big-table-alter":   {Params: map[string]any{"rows": 1000}},
		}}))
	require.NoError(t, err)
	res, err := r.Review(ctx, `UPDATE orders SET status = 1 WHERE user_id = 7;
DELETE FROM orders WHERE status = 2;
INSERT INTO archive (id, status) SELECT id, status FROM orders WHERE user_id = 3;
ALTER TABLE orders ADD INDEX idx_user2 (user_id), ADD COLUMN user_id BIGINT;
ALTER TABLE orders ADD INDEX idx_user_status (user_id, status);
SELECT id FROM orders WHERE phone = 13800138000;
UPDATE missing SET a = 1 WHERE id = 1;
SELECT nope FROM orders WHERE id = 1;
CREATE TABLE fresh (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, v INT NOT NULL);
UPDATE fresh SET v = 2 WHERE id = 1`)
	require.NoError(t, err)
	require.Len(t, res.Statements, 10)
	require.Empty(t, res.Summary.Notes)

	// EXPLAIN estimates: 20 rows for one user through idx_user; a full scan for status.
	require.NotNil(t, res.Statements[0].AffectedRows)
	assert.InDelta(t, 20, *res.Statements[0].AffectedRows, 15)
	require.NotNil(t, res.Statements[1].AffectedRows)
	assert.Greater(t, *res.Statements[1].AffectedRows, int64(500))
	assert.Contains(t, rulesOf(res, 1), "dml.max-affected-rows")
	assert.NotContains(t, rulesOf(res, 0), "dml.max-affected-rows")
	assert.Equal(t, review.RiskHigh, res.Statements[1].Risk, "a big table and many rows raise DELETE to high")
	require.NotNil(t, res.Statements[2].AffectedRows, "INSERT ... SELECT is estimated")
	require.NotNil(t, res.Statements[0].TableRows)

	// Duplicate column and index against the live table, and big-table ALTER.
	assert.Contains(t, rulesOf(res, 3), "ddl.existence")
	assert.Contains(t, rulesOf(res, 3), "index.duplicate")
	assert.Contains(t, rulesOf(res, 3), "ddl.big-table-alter")
	// Redundancy against an existing index: idx_user is a prefix of the new one.
	assert.Contains(t, rulesOf(res, 4), "index.redundant")
	assert.Contains(t, rulesOf(res, 5), "dml.implicit-conversion")
	assert.Contains(t, rulesOf(res, 6), "script.unknown-table")
	assert.Contains(t, rulesOf(res, 7), "script.unknown-column")
	// A table the script creates is known to later statements, and not EXPLAINed.
	assert.NotContains(t, rulesOf(res, 9), "script.unknown-table")
	assert.Nil(t, res.Statements[9].AffectedRows)
}

// TestLiveCatalogInvisibleColumn checks that an INSERT without a column
// list takes values for the visible columns of a live table only.
func TestLiveCatalogInvisibleColumn(t *testing.T) {
	ctx := context.Background()
	dbName := sandboxtest.NewDatabase(t, servers[0], "invisible")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE log (id BIGINT NOT NULL PRIMARY KEY, note VARCHAR(40) NOT NULL, added_at DATETIME INVISIBLE DEFAULT CURRENT_TIMESTAMP)")
	sandboxtest.Exec(t, db, "INSERT INTO log VALUES (1, 'accepted by the server')")

	cat, err := review.NewLiveCatalog(db)
	require.NoError(t, err)
	r, err := review.New(review.WithCatalog(cat), review.WithDefaultDatabase(dbName))
	require.NoError(t, err)
	res, err := r.Review(ctx, `INSERT INTO log VALUES (2, 'x');
INSERT INTO log VALUES (3, 'x', NOW());
INSERT INTO log (id, note, added_at) VALUES (4, 'x', NOW())`)
	require.NoError(t, err)
	require.Len(t, res.Statements, 3)
	assert.NotContains(t, rulesOf(res, 0), "dml.insert-value-count")
	assert.Contains(t, rulesOf(res, 1), "dml.insert-value-count")
	assert.NotContains(t, rulesOf(res, 2), "dml.insert-value-count")
}

func TestLiveCatalogUnknownDatabase(t *testing.T) {
	db := sandboxtest.Open(t, servers[0], "")
	cat, err := review.NewLiveCatalog(db)
	require.NoError(t, err)
	r, err := review.New(review.WithCatalog(cat))
	require.NoError(t, err)
	res, err := r.Review(context.Background(), "UPDATE t SET a = 1 WHERE id = 1")
	require.NoError(t, err)
	assert.NotContains(t, rulesOf(res, 0), "script.unknown-table", "without a database the catalog cannot tell")
}

// TestDryRun checks dml.dry-run: the server's EXPLAIN refuses what the
// parser accepts (an unknown function, a column of the wrong table), and
// passes good statements, a table the script creates, and statements
// without a live catalog.
func TestDryRun(t *testing.T) {
	ctx := context.Background()
	dbName := sandboxtest.NewDatabase(t, servers[0], "dryrun")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE big (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, a INT NOT NULL, b VARCHAR(20) NOT NULL)")
	cat, err := review.NewLiveCatalog(db)
	require.NoError(t, err)
	only := &review.Policy{Name: "dry", Rules: map[string]review.RuleConfig{}}
	for _, r := range review.Rules() {
		only.Rules[r.ID] = review.RuleConfig{Level: review.Lvl(review.LevelOff)}
	}
	only.Rules["dml.dry-run"] = review.RuleConfig{Level: review.Lvl(review.LevelError)}
	var example review.Rule
	for _, r := range review.Rules() {
		if r.ID == "dml.dry-run" {
			example = r
		}
	}
	r, err := review.New(review.WithCatalog(cat), review.WithDefaultDatabase(dbName), review.WithPolicy(only))
	require.NoError(t, err)
	res, err := r.Review(ctx, example.Fires+";\n"+example.Passes+`;
INSERT INTO big (a, b) VALUES (1, 'x');
DELETE FROM big WHERE id = no_such_function(2);
INSERT INTO big (a, b) VALUES (no_such_function(3), 'x');
CREATE TABLE fresh (id BIGINT PRIMARY KEY, v INT);
UPDATE fresh SET v = no_such_function(1) WHERE id = 1`)
	require.NoError(t, err)
	require.Len(t, res.Statements, 7)
	for i, want := range []bool{true, false, false, true, true, false, false} {
		if want {
			require.Contains(t, rulesOf(res, i), "dml.dry-run", "statement %d", i+1)
			assert.Contains(t, res.Statements[i].Findings[0].Message, "no_such_function", "statement %d", i+1)
		} else {
			assert.NotContains(t, rulesOf(res, i), "dml.dry-run", "statement %d", i+1)
		}
	}

	offline, err := review.New(review.WithDefaultDatabase(dbName), review.WithPolicy(only))
	require.NoError(t, err)
	res, err = offline.Review(ctx, example.Fires)
	require.NoError(t, err)
	assert.Empty(t, res.Findings(), "without a live catalog there is no dry run")
}

// TestLiveVerdictCorpus reviews the verdict corpus's live cases (rules that
// EXPLAIN on the server) against a sandbox server.
func TestLiveVerdictCorpus(t *testing.T) {
	dbName := sandboxtest.NewDatabase(t, servers[0], "corpus")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE big (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, a INT NOT NULL, b VARCHAR(20) NOT NULL)")
	cat, err := review.NewLiveCatalog(db)
	require.NoError(t, err)
	review.LiveVerdictCorpus(t, cat, dbName)
}
