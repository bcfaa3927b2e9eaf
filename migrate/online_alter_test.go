package migrate_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/verify"
)

// alterWorkload writes to table t as an application would, each
// transaction also written to the table mirror (the original definition),
// and reads t, until stopped. It counts errors and checks that once a read
// saw the new table (newCols columns) no read sees the old one again.
type alterWorkload struct {
	db                *sql.DB
	insert            func(rng *rand.Rand, id int) string // the values of a new row, original columns
	oldCols, newCols  int
	errs              atomic.Int64
	commits           atomic.Int64
	sawNew, sawOldAft atomic.Bool
	firstErr          atomic.Value
	maxStall          atomic.Int64
	wg                sync.WaitGroup
}

func (w *alterWorkload) fail(err error) {
	w.errs.Add(1)
	w.firstErr.CompareAndSwap(nil, err.Error())
}

func (w *alterWorkload) start(ctx context.Context, rows int) {
	w.wg.Go(func() {
		rng := rand.New(rand.NewPCG(3, 5))
		next := rows + 1
		for ctx.Err() == nil {
			id := rng.IntN(next) + 1
			var stmts []string
			switch rng.IntN(5) {
			case 0:
				stmts = []string{"INSERT INTO %s (id, n, v) VALUES " + w.insert(rng, next)}
				next++
			case 1:
				stmts = []string{fmt.Sprintf("DELETE FROM %%s WHERE id = %d", id)}
			case 2: // the row moves to a key never used
				stmts = []string{fmt.Sprintf("UPDATE %%s SET id = %d WHERE id = %d", next, id)}
				next++
			default:
				stmts = []string{fmt.Sprintf("UPDATE %%s SET n = n + 1 WHERE id = %d", id)}
			}
			begin := time.Now()
			tx, err := w.db.BeginTx(context.Background(), nil)
			if err != nil {
				w.fail(err)
				continue
			}
			ok := true
			for _, s := range stmts {
				for _, tbl := range []string{"t", "mirror"} {
					if _, err := tx.Exec(fmt.Sprintf(s, tbl)); err != nil {
						w.fail(err)
						ok = false
					}
				}
			}
			if ok {
				if err := tx.Commit(); err != nil {
					w.fail(err)
				} else {
					w.commits.Add(1)
				}
			} else {
				_ = tx.Rollback()
			}
			if d := time.Since(begin); int64(d) > w.maxStall.Load() {
				w.maxStall.Store(int64(d))
			}
		}
	})
	w.wg.Go(func() {
		for ctx.Err() == nil {
			rows, err := w.db.Query("SELECT * FROM t LIMIT 1")
			if err != nil {
				w.fail(err)
				continue
			}
			cols, err := rows.Columns()
			rows.Close()
			if err != nil {
				w.fail(err)
				continue
			}
			switch len(cols) {
			case w.newCols:
				w.sawNew.Store(true)
			case w.oldCols:
				if w.sawNew.Load() && w.newCols != w.oldCols {
					w.sawOldAft.Store(true)
				}
			}
		}
	})
}

// alterCase is a table, its rows and an ALTER to run online on it.
type alterCase struct {
	name, create, fill, clause string
	insert                     func(rng *rand.Rand, id int) string
	oldCols, newCols           int
}

// runAlterCase creates the case's table and its mirror, runs the change
// online under the workload and checks: no error, no read of the old table
// after the swap, the new table equal to the mirror on the shared columns,
// the original kept as _t_old, no helper left.
func runAlterCase(t *testing.T, c alterCase, opts ...migrate.OnlineAlterOption) {
	ctx := context.Background()
	dbName, db := createAlterCase(t, c)
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM t").Scan(&n))

	w := &alterWorkload{db: db, insert: c.insert, oldCols: c.oldCols, newCols: c.newCols}
	wctx, stop := context.WithCancel(ctx)
	w.start(wctx, n)
	var logBuf syncBuffer
	defer func() {
		if t.Failed() {
			t.Log(logBuf.String())
		}
	}()
	a, err := migrate.NewOnlineAlter(servers[0].DSN(""), dbName, "t", c.clause, append([]migrate.OnlineAlterOption{migrate.WithChunkRows(500), migrate.WithLogger(slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})))}, opts...)...)
	require.NoError(t, err)
	plan, err := a.Plan(ctx)
	require.NoError(t, err)
	require.Equal(t, "online", plan.Alter.Method)
	var phases []migrate.Phase
	time.Sleep(200 * time.Millisecond) // writes before the copy starts
	rep, err := a.Run(ctx, func(p migrate.Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
	})
	time.Sleep(200 * time.Millisecond) // writes after the swap
	stop()
	w.wg.Wait()
	require.NoError(t, err)
	assert.Contains(t, phases, migrate.PhaseCopying)
	assert.Contains(t, phases, migrate.PhaseCuttingOver)
	assert.Equal(t, migrate.PhaseDone, phases[len(phases)-1])
	require.NotNil(t, rep.Cutover)
	cut := rep.Cutover
	assert.Positive(t, cut.VerifyPause, "the verification's write pause")
	assert.LessOrEqual(t, cut.VerifyPause, cut.Verify, "the verification's write pause is within the verification")
	assert.LessOrEqual(t, cut.CatchUp, cut.Pause, "the swap's catch-up is within its pause")
	assert.GreaterOrEqual(t, cut.LongestPause, max(cut.Pause, cut.VerifyPause), "the longest write pause")
	t.Logf("%s: %d commits during the change, write pauses: verification %s (verification %s), swap %s (catch-up %s); longest write seen by the workload %s",
		c.name, w.commits.Load(), cut.VerifyPause, cut.Verify, cut.Pause, cut.CatchUp, time.Duration(w.maxStall.Load()))
	checkAlterResult(t, ctx, w, dbName, db)
	assertNativeDefinition(t, db, c.clause)
}

// assertNativeDefinition runs the ALTER natively on the mirror and checks
// that the table t, changed online, has the same definition: its columns
// and every index, those the copy deferred included.
func assertNativeDefinition(t *testing.T, db *sql.DB, clause string) {
	t.Helper()
	sandboxtest.Exec(t, db, "ALTER TABLE mirror "+clause)
	show := func(table string) string {
		var name, create string
		require.NoError(t, db.QueryRow("SHOW CREATE TABLE "+table).Scan(&name, &create))
		return strings.Replace(create, "CREATE TABLE `"+table+"`", "CREATE TABLE", 1)
	}
	assert.Equal(t, show("mirror"), show("t"), "the table changed online differs from a native ALTER")
}

// createAlterCase creates a database with the case's table t and its
// mirror, both filled, and returns its name and a pool on it.
func createAlterCase(t *testing.T, c alterCase) (string, *sql.DB) {
	dbName := sandboxtest.NewDatabase(t, servers[0], "osc")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, fmt.Sprintf(c.create, "t"), fmt.Sprintf(c.create, "mirror"), fmt.Sprintf(c.fill, "t"), fmt.Sprintf(c.fill, "mirror"))
	return dbName, db
}

// checkAlterResult checks, after a change under the stopped workload w:
// no workload error, no read of the old table after the swap, the new
// table equal to the mirror on the shared columns, the original kept as
// _t_old and no other helper table.
func checkAlterResult(t *testing.T, ctx context.Context, w *alterWorkload, dbName string, db *sql.DB) {
	t.Helper()
	assert.Zero(t, w.errs.Load(), "workload errors, first: %v", w.firstErr.Load())
	assert.False(t, w.sawOldAft.Load(), "a read saw the old table after the swap")
	assert.True(t, w.sawNew.Load())
	assert.Positive(t, w.commits.Load())
	// The new table holds what the mirror holds.
	var shared []string
	rows, err := db.Query("SELECT m.COLUMN_NAME FROM information_schema.COLUMNS m JOIN information_schema.COLUMNS n ON n.TABLE_SCHEMA = m.TABLE_SCHEMA AND n.TABLE_NAME = 't' AND n.COLUMN_NAME = m.COLUMN_NAME AND n.COLUMN_TYPE = m.COLUMN_TYPE WHERE m.TABLE_SCHEMA = ? AND m.TABLE_NAME = 'mirror' AND m.EXTRA NOT LIKE '%GENERATED%'", dbName)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		shared = append(shared, s)
	}
	require.NoError(t, rows.Err())
	v, err := verify.New(db, db)
	require.NoError(t, err)
	vr, err := v.Verify(ctx, verify.TablePair{SourceDatabase: dbName, SourceTable: "mirror", TargetDatabase: dbName, TargetTable: "t", Columns: shared})
	require.NoError(t, err)
	require.Empty(t, vr.Unverified)
	if !vr.Clean() {
		for _, d := range vr.Tables[0].Diffs {
			var old string
			err := db.QueryRow("SELECT CONCAT_WS(',', id, n, v) FROM _t_old WHERE id = " + d.Key[0]).Scan(&old)
			t.Errorf("the new table differs from the mirror: %s row %v: mirror %v, new table %v (columns %v), original table %q (%v)", d.Kind, d.Key, d.Source, d.Target, d.Columns, old, err)
		}
	}
	var tables []string
	rows, err = db.Query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY BINARY TABLE_NAME", dbName)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		tables = append(tables, s)
	}
	assert.ElementsMatch(t, []string{"_t_old", "mirror", "t"}, tables)
}

// oscRowsEnv sets the rows of TestOnlineAlterUnderWrites's tables
// (default 5,000; make test-long runs 2,000,000).
const oscRowsEnv = "SHIFTGATE_OSC_ROWS"

func TestOnlineAlterUnderWrites(t *testing.T) {
	rows := 5000
	if v := os.Getenv(oscRowsEnv); v != "" {
		var err error
		if rows, err = strconv.Atoi(v); err != nil || rows < 1 {
			t.Fatalf("$%s=%q: want a positive row count", oscRowsEnv, v)
		}
	}
	intRow := func(rng *rand.Rand, id int) string {
		return fmt.Sprintf("(%d, %d, 'v%d')", id, rng.IntN(100), id)
	}
	for _, c := range []alterCase{
		{name: "add column", create: "CREATE TABLE %s (id INT PRIMARY KEY, n INT NOT NULL, v VARCHAR(20))", fill: "INSERT INTO %s SELECT seq, seq %% 7, CONCAT('v', seq) FROM seq_1_to_5000",
			clause: "ADD COLUMN extra INT NOT NULL DEFAULT 42", insert: intRow, oldCols: 3, newCols: 4},
		{name: "modify", create: "CREATE TABLE %s (id INT PRIMARY KEY, n INT NOT NULL, v VARCHAR(20))", fill: "INSERT INTO %s SELECT seq, seq %% 7, CONCAT('v', seq) FROM seq_1_to_5000",
			clause: "MODIFY n BIGINT NOT NULL, ADD COLUMN w INT NULL", insert: intRow, oldCols: 3, newCols: 4},
		{name: "indexes", create: "CREATE TABLE %s (id INT PRIMARY KEY, n INT NOT NULL, v VARCHAR(20), KEY v5 (v(5)), KEY n_id (n, id) COMMENT 'c', UNIQUE KEY v (v))",
			fill:   "INSERT INTO %s SELECT seq, seq %% 7, CONCAT('v', seq) FROM seq_1_to_5000",
			clause: "MODIFY n BIGINT NOT NULL, ADD INDEX v_n (v, n), DROP INDEX n_id, ADD INDEX id_n (id, n) COMMENT 'added'", insert: intRow, oldCols: 3, newCols: 3},
		{name: "add index and drop column", create: "CREATE TABLE %s (id INT PRIMARY KEY, n INT NOT NULL, v VARCHAR(20), junk INT NULL DEFAULT 5)", fill: "INSERT INTO %s (id, n, v) SELECT seq, seq %% 7, CONCAT('v', seq) FROM seq_1_to_5000",
			clause: "ADD INDEX n_v (n, v), DROP COLUMN junk", insert: intRow, oldCols: 4, newCols: 3},
	} {
		c.fill = strings.Replace(c.fill, "seq_1_to_5000", "seq_1_to_"+strconv.Itoa(rows), 1)
		t.Run(c.name, func(t *testing.T) { runAlterCase(t, c) })
	}
}

// TestOnlineAlterKeys: a composite primary key with a string part, a
// secondary unique key and a generated column, under writes.
func TestOnlineAlterKeys(t *testing.T) {
	runAlterCase(t, alterCase{name: "composite string key",
		create:  "CREATE TABLE %s (id INT NOT NULL, k VARCHAR(10) NOT NULL DEFAULT 'a', n INT NOT NULL, v VARCHAR(20), u INT NULL, g INT AS (n * 2) VIRTUAL, PRIMARY KEY (k, id), UNIQUE KEY (u))",
		fill:    "INSERT INTO %s (id, k, n, v, u) SELECT seq, 'a', seq %% 7, CONCAT('v', seq), seq FROM seq_1_to_3000",
		clause:  "ADD COLUMN extra VARCHAR(5) NOT NULL DEFAULT 'x', MODIFY v VARCHAR(40)",
		insert:  func(rng *rand.Rand, id int) string { return fmt.Sprintf("(%d, %d, 'v%d')", id, rng.IntN(100), id) },
		oldCols: 6, newCols: 7})
}

// TestOnlineAlterRefusals: no primary key, a trigger, a foreign key
// referencing the table, a renaming clause: Plan and Run refuse, naming
// the table and the reason, and change nothing.
func TestOnlineAlterRefusals(t *testing.T) {
	ctx := context.Background()
	dbName := sandboxtest.NewDatabase(t, servers[0], "oscno")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db,
		"CREATE TABLE nokey (a INT, b INT)",
		"CREATE TABLE trig (id INT PRIMARY KEY, n INT)",
		"CREATE TABLE log (n INT)",
		"CREATE TRIGGER trig_ai AFTER INSERT ON trig FOR EACH ROW INSERT INTO log VALUES (NEW.n)",
		"CREATE TABLE parent (id INT PRIMARY KEY)",
		"CREATE TABLE child (id INT PRIMARY KEY, p INT, CONSTRAINT child_p FOREIGN KEY (p) REFERENCES parent (id))",
		"CREATE TABLE plain (id INT PRIMARY KEY, n INT)")
	for _, c := range []struct {
		table, clause string
		want          error
		says          string
	}{
		{"nokey", "ADD COLUMN c INT", migrate.ErrNoKey, "primary key"},
		{"trig", "ADD COLUMN c INT", migrate.ErrTriggers, "`trig_ai`"},
		{"parent", "ADD COLUMN c INT", migrate.ErrReferenced, "child.child_p"},
		{"plain", "RENAME COLUMN n TO m", migrate.ErrAlterClause, "RENAME COLUMN"},
		{"plain", "CHANGE n m INT", migrate.ErrAlterClause, "renames it"},
	} {
		a, err := migrate.NewOnlineAlter(servers[0].DSN(""), dbName, c.table, c.clause)
		require.NoError(t, err)
		_, err = a.Plan(ctx)
		require.ErrorIs(t, err, c.want, c.table)
		assert.Contains(t, err.Error(), c.says)
		assert.Contains(t, err.Error(), "`"+c.table+"`")
		_, err = a.Run(ctx, nil)
		require.ErrorIs(t, err, c.want, c.table)
	}
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE '\\_%'", dbName).Scan(&n))
	assert.Zero(t, n, "helper tables were created")
}

// TestOnlineAlterParentForeignKey: the table's own foreign key is kept on
// the new table, renamed.
func TestOnlineAlterParentForeignKey(t *testing.T) {
	ctx := context.Background()
	dbName := sandboxtest.NewDatabase(t, servers[0], "oscfk")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE parent (id INT PRIMARY KEY)", "INSERT INTO parent SELECT seq FROM seq_1_to_10",
		"CREATE TABLE t (id INT PRIMARY KEY, p INT, CONSTRAINT t_p FOREIGN KEY (p) REFERENCES parent (id))",
		"INSERT INTO t SELECT seq, seq % 10 + 1 FROM seq_1_to_1000")
	a, err := migrate.NewOnlineAlter(servers[0].DSN(""), dbName, "t", "ADD COLUMN c INT", migrate.WithDropOld())
	require.NoError(t, err)
	plan, err := a.Plan(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"t_p -> _t_p (references `" + dbName + "`.`parent`)"}, plan.Alter.ParentForeignKeys)
	_, err = a.Run(ctx, nil)
	require.NoError(t, err)
	var fk string
	require.NoError(t, db.QueryRow("SELECT CONSTRAINT_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = 't'", dbName).Scan(&fk))
	assert.Equal(t, "_t_p", fk)
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM t").Scan(&n))
	assert.Equal(t, 1000, n)
}

// TestOnlineAlterAbort cancels a run in the middle of its copy: the table
// is untouched, the shadow and the checkpoint are gone.
func TestOnlineAlterAbort(t *testing.T) {
	ctx := context.Background()
	dbName := sandboxtest.NewDatabase(t, servers[0], "oscab")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, n INT)", "INSERT INTO t SELECT seq, seq FROM seq_1_to_20000")
	a, err := migrate.NewOnlineAlter(servers[0].DSN(""), dbName, "t", "ADD COLUMN c INT", migrate.WithChunkRows(200), migrate.WithRateLimit(4000, 0))
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	_, err = a.Run(rctx, func(p migrate.Progress) {
		if p.Phase == migrate.PhaseCopying && p.Rows > 1000 {
			cancel()
		}
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "aborted")
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE '\\_%'", dbName).Scan(&n))
	assert.Zero(t, n)
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 't'", dbName).Scan(&n))
	assert.Equal(t, 2, n)
	plan, err := a.Plan(ctx)
	require.NoError(t, err)
	assert.Empty(t, plan.Alter.Resume)
}

// TestOnlineAlterForeignDDL: someone else changes the table's definition
// during the copy or the catch-up. The run stops with an error naming the
// statement, the table keeps its name and the definition the other DDL
// gave it, and Abort removes the shadow and the checkpoint.
func TestOnlineAlterForeignDDL(t *testing.T) {
	for _, when := range []string{"copy", "catch-up"} {
		t.Run(when, func(t *testing.T) {
			ctx := context.Background()
			dbName := sandboxtest.NewDatabase(t, servers[0], "oscddl")
			db := sandboxtest.Open(t, servers[0], dbName)
			sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, n INT)", "INSERT INTO t SELECT seq, seq FROM seq_1_to_10000")
			const ddl = "ALTER TABLE t ADD COLUMN theirs INT"
			a, err := migrate.NewOnlineAlter(servers[0].DSN(""), dbName, "t", "ADD COLUMN c INT", migrate.WithChunkRows(200), migrate.WithRateLimit(10000, 0))
			require.NoError(t, err)
			var once sync.Once
			ddlDone := make(chan error, 1)
			theirs := func() { once.Do(func() { _, err := db.Exec(ddl); ddlDone <- err }) }
			migrate.SetOnlineAlterHook(a, func(point string) {
				if point == "catching-up" && when == "catch-up" {
					theirs()
					sandboxtest.Exec(t, db, "UPDATE t SET n = n + 1 WHERE id = 1")
				}
			})
			_, err = a.Run(ctx, func(p migrate.Progress) {
				if when == "copy" && p.Phase == migrate.PhaseCopying && p.Rows > 1000 {
					go theirs() // the copy's readers may hold the table's metadata lock
				}
			})
			require.NoError(t, <-ddlDone)
			require.ErrorIs(t, err, migrate.ErrSchemaChange)
			assert.Contains(t, err.Error(), ddl)
			assert.Contains(t, err.Error(), "Abort")
			var cols []string
			require.NoError(t, scanColumn(db, &cols, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 't' ORDER BY ORDINAL_POSITION", dbName))
			assert.Equal(t, []string{"id", "n", "theirs"}, cols, "the table was changed by the run")
			var n int
			require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM t").Scan(&n))
			assert.Equal(t, 10000, n)

			require.NoError(t, a.Abort(ctx))
			var helpers []string
			require.NoError(t, scanColumn(db, &helpers, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME <> 't'", dbName))
			assert.Empty(t, helpers)
			assert.Zero(t, alterRunsLeft(t, dbName))
		})
	}
}

// scanColumn appends the first column of query's rows to out.
func scanColumn(db *sql.DB, out *[]string, query string, args ...any) error {
	rows, err := db.Query(query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		*out = append(*out, s)
	}
	return rows.Err()
}

// TestOnlineAlterVerifyLock: the verification's READ lock is taken once
// the shadow caught up with what was written before (a burst written just
// before the verification is in the shadow when the lock is held), and
// under it the server runs only the catch-up's position read and the
// snapshots' START TRANSACTION, verify's preparation and connections being
// ready before.
func TestOnlineAlterVerifyLock(t *testing.T) {
	dbName := sandboxtest.NewDatabase(t, servers[0], "oscvl")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL)", "INSERT INTO t SELECT seq, seq % 7 FROM seq_1_to_3000")
	a, err := migrate.NewOnlineAlter(servers[0].DSN(""), dbName, "t", "MODIFY n BIGINT NOT NULL", migrate.WithChunkRows(500))
	require.NoError(t, err)
	questions := func() int64 {
		var name string
		var n int64
		require.NoError(t, db.QueryRow("SHOW GLOBAL STATUS LIKE 'Questions'").Scan(&name, &n))
		return n
	}
	var locked, unlocking int64
	behind := -1
	migrate.SetOnlineAlterHook(a, func(point string) {
		switch point {
		case "verifying":
			sandboxtest.Exec(t, db, "UPDATE t SET n = n + 1000")
		case "verify-locked":
			if locked == 0 {
				require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM _t_new WHERE n < 1000").Scan(&behind))
				locked = questions()
			}
		case "verify-unlocking":
			if unlocking == 0 {
				unlocking = questions()
			}
		}
	})
	rep, err := a.Run(context.Background(), nil)
	require.NoError(t, err)
	assert.Zero(t, behind, "rows of the burst not in the shadow when the verification's lock is taken")
	// The snapshots' START TRANSACTION on each reader (2n+1), the position
	// read, the two SHOW STATUS and the applier's checkpoint saves meanwhile
	// (a few statements each); verify's preparation alone is more than 20.
	bound := 2*migrate.VerifyParallelism + 1 + 10
	assert.LessOrEqual(t, unlocking-locked, int64(bound), "statements run under the verification's lock")
	t.Logf("statements under the verification's lock: %d; write pauses: verification %s, swap %s",
		unlocking-locked, rep.Cutover.VerifyPause, rep.Cutover.Pause)
}
