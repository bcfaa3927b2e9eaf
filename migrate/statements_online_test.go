package migrate_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// TestStatementsOnlineAlter: with WithOnlineAlter, an ALTER that review
// predicts INSTANT runs natively, one that needs COPY runs online with
// its progress reported, both results say which method and why, and the
// other statements run as they are.
func TestStatementsOnlineAlter(t *testing.T) {
	ctx := t.Context()
	dbName := sandboxtest.NewDatabase(t, servers[0], "stmon")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL)", "INSERT INTO t SELECT seq, seq FROM seq_1_to_3000")
	script := []string{
		"UPDATE t SET n = n + 1 WHERE id <= 10",
		"ALTER TABLE t ADD COLUMN x INT NULL",
		"ALTER TABLE `" + dbName + "`.`t` MODIFY n BIGINT NOT NULL",
	}
	ex, err := migrate.NewStatements(servers[0].DSN(""), dbName, script,
		migrate.WithOnlineAlter(migrate.WithNativeMethod(0), migrate.WithChunkRows(500), migrate.WithDropOld()))
	require.NoError(t, err)
	var mu sync.Mutex
	var phases []migrate.Phase
	_, err = ex.Run(ctx, func(p migrate.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if p.Phase != "" {
			phases = append(phases, p.Phase)
		}
	})
	require.NoError(t, err)
	res := ex.Results()
	assert.Equal(t, int64(10), res[0].AffectedRows)
	assert.Empty(t, res[0].Method)
	assert.Equal(t, "native", res[1].Method)
	assert.Contains(t, res[1].MethodWhy, "ALGORITHM=INSTANT, LOCK=NONE")
	assert.Equal(t, "online", res[2].Method)
	assert.Contains(t, res[2].MethodWhy, "COPY")
	assert.Contains(t, res[2].MethodWhy, "review: ")
	assert.Equal(t, int64(3000), res[2].AffectedRows)
	for _, r := range res {
		assert.Equal(t, migrate.StatementSucceeded, r.Status, r.Text)
	}
	assert.Contains(t, phases, migrate.PhaseCopying)
	var typ string
	require.NoError(t, db.QueryRow("SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 't' AND COLUMN_NAME = 'n'", dbName).Scan(&typ))
	assert.Equal(t, "bigint(20)", typ)
	assert.Equal(t, 3000, count(t, db, "t"))
	var sum int
	require.NoError(t, db.QueryRow("SELECT SUM(n) - SUM(id) FROM t").Scan(&sum))
	assert.Equal(t, 10, sum)
}

// TestStatementsOnlineAlterCancel: canceling the run while its ALTER is
// being copied online (held there by a paused throttler) aborts it: the
// table keeps its definition and rows, no shadow table is left, and the
// statement is failed.
func TestStatementsOnlineAlterCancel(t *testing.T) {
	dbName := sandboxtest.NewDatabase(t, servers[0], "stmcn")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL)", "INSERT INTO t SELECT seq, seq FROM seq_1_to_1000")
	l, err := migrate.NewLoadThrottler(servers[0].DSN(""), migrate.LoadLimits{}, nil)
	require.NoError(t, err)
	defer l.Close()
	l.Pause()
	ex, err := migrate.NewStatements(servers[0].DSN(""), dbName, []string{"ALTER TABLE t MODIFY n BIGINT NOT NULL"},
		migrate.WithOnlineAlter(migrate.WithThrottler(l)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	copying := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		_, err := ex.Run(ctx, func(p migrate.Progress) {
			if p.Phase == migrate.PhaseCopying {
				once.Do(func() { close(copying) })
			}
		})
		done <- err
	}()
	select {
	case <-copying:
	case err := <-done:
		t.Fatalf("Run ended before the copy: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("no copying phase in a minute")
	}
	cancel()
	err = <-done
	require.ErrorIs(t, err, context.Canceled)
	res := ex.Results()
	assert.Equal(t, migrate.StatementFailed, res[0].Status)
	assert.Equal(t, "online", res[0].Method)
	var typ string
	require.NoError(t, db.QueryRow("SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 't' AND COLUMN_NAME = 'n'", dbName).Scan(&typ))
	assert.Equal(t, "int(11)", typ)
	assert.Equal(t, 1000, count(t, db, "t"))
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME <> 't'", dbName).Scan(&n))
	assert.Zero(t, n, "helper tables left")
}

// TestStatementsOnlineAlterRefused: a table the online method refuses
// fails the statement, named, before anything changes.
func TestStatementsOnlineAlterRefused(t *testing.T) {
	dbName := sandboxtest.NewDatabase(t, servers[0], "stmrf")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE nokey (a INT, b INT)")
	ex, err := migrate.NewStatements(servers[0].DSN(""), dbName, []string{"ALTER TABLE nokey MODIFY a BIGINT"}, migrate.WithOnlineAlter())
	require.NoError(t, err)
	_, err = ex.Run(t.Context(), nil)
	require.ErrorIs(t, err, migrate.ErrNoKey)
	assert.Contains(t, err.Error(), "`nokey`")
	assert.Equal(t, migrate.StatementFailed, ex.Results()[0].Status)
}

func TestSplitAlter(t *testing.T) {
	for _, c := range []struct {
		text, db, table, clause string
		ok, fails               bool
	}{
		{"ALTER TABLE t ADD COLUMN x INT", "d", "t", "ADD COLUMN x INT", true, false},
		{"alter  table `o`.`we``ird` MODIFY n BIGINT, ALGORITHM=COPY", "o", "we`ird", "MODIFY n BIGINT, ALGORITHM=COPY", true, false},
		{"ALTER TABLE t /* c */ ADD x INT", "", "", "", true, true},
		{"UPDATE t SET a = 1", "", "", "", false, false},
	} {
		db, table, clause, ok, err := migrate.SplitAlter(c.text, "d")
		assert.Equal(t, c.ok, ok, c.text)
		if c.fails {
			assert.Error(t, err, c.text)
			continue
		}
		require.NoError(t, err, c.text)
		if ok {
			assert.Equal(t, []string{c.db, c.table, c.clause}, []string{db, table, clause}, c.text)
		}
	}
}

// TestStatementsOnlineAlterRollback: an ALTER run online still gets its
// inverse with WithRollbackSQL, and the inverse restores the definition.
func TestStatementsOnlineAlterRollback(t *testing.T) {
	dbName := sandboxtest.NewDatabase(t, servers[0], "stmrb")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL)", "INSERT INTO t SELECT seq, seq FROM seq_1_to_500")
	var before string
	require.NoError(t, db.QueryRow("SHOW CREATE TABLE t").Scan(new(string), &before))
	ex, err := migrate.NewStatements(servers[0].DSN(""), dbName, []string{"ALTER TABLE t MODIFY n BIGINT NOT NULL"},
		migrate.WithOnlineAlter(migrate.WithDropOld()), migrate.WithRollbackSQL(rollbackServerID(), 0))
	require.NoError(t, err)
	_, err = ex.Run(t.Context(), nil)
	require.NoError(t, err)
	r := ex.Results()[0]
	require.Equal(t, "online", r.Method)
	require.NotEmpty(t, r.Rollback, r.RollbackNote)
	rb, err := migrate.NewStatements(servers[0].DSN(""), dbName, []string{strings.TrimSuffix(r.Rollback, ";\n")})
	require.NoError(t, err)
	_, err = rb.Run(t.Context(), nil)
	require.NoError(t, err)
	var after string
	require.NoError(t, db.QueryRow("SHOW CREATE TABLE t").Scan(new(string), &after))
	assert.Equal(t, before, after)
	assert.Equal(t, 500, count(t, db, "t"))
}

// TestStatementsOnlineAlterPlan: Plan says each ALTER's method and
// refuses, as a dry run, one the online method refuses; an ALTER of a
// table the script creates is left to Run.
func TestStatementsOnlineAlterPlan(t *testing.T) {
	dbName := sandboxtest.NewDatabase(t, servers[0], "stmpl")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL)", "CREATE TABLE nokey (a INT)")
	ex, err := migrate.NewStatements(servers[0].DSN(""), dbName, []string{"CREATE TABLE later (id INT PRIMARY KEY)", "ALTER TABLE later ADD COLUMN c INT",
		"ALTER TABLE t MODIFY n BIGINT NOT NULL", "ALTER TABLE nokey MODIFY a BIGINT"}, migrate.WithOnlineAlter())
	require.NoError(t, err)
	plan, err := ex.Plan(t.Context())
	require.ErrorIs(t, err, migrate.ErrNoKey)
	assert.Contains(t, err.Error(), "statement 4 (ALTER TABLE nokey")
	assert.NotContains(t, err.Error(), "later")
	assert.Contains(t, strings.Join(plan.Steps, "\n"), "3. runs online: review predicts COPY")
	assert.Equal(t, migrate.StatementPending, ex.Results()[0].Status, "Plan ran nothing")
}
