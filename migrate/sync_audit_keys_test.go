package migrate_test

import (
	"context"
	"database/sql"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/verify"
)

// auditSync creates a database on the source, seeded by seed, starts a
// Sync of it into a new target database, with the options optsFor (if not
// nil) gives for the source database's name, and waits until it is in
// sync. Run reports to progress (may be nil). It returns the sync, both
// databases' names, and the channel that receives Run's error.
func auditSync(t *testing.T, ctx context.Context, prefix string, seed func(*testing.T, *sql.DB), optsFor func(database string) []migrate.SyncOption, progress migrate.ProgressFunc) (s *migrate.Sync, name, target string, errc <-chan error) {
	t.Helper()
	src, dst := servers[0], servers[1]
	name = sandboxtest.NewDatabase(t, src, prefix)
	target = sandboxtest.NewDatabase(t, dst, prefix)
	sandboxtest.Exec(t, sandboxtest.Open(t, dst, ""), "DROP DATABASE `"+target+"`")
	seed(t, sandboxtest.Open(t, src, name))
	opts := []migrate.SyncOption{migrate.WithTargetDatabase(target)}
	if optsFor != nil {
		opts = append(opts, optsFor(name)...)
	}
	s, err := migrate.NewSync(src.DSN(""), dst.DSN(""), name, opts...)
	require.NoError(t, err)
	runErr := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := s.Run(ctx, progress)
		runErr <- err
	}()
	waitPhase(t, s, migrate.PhaseInSync, done)
	return s, name, target, runErr
}

// execAll is a seed of auditSync that runs stmts.
func execAll(stmts ...string) func(*testing.T, *sql.DB) {
	return func(t *testing.T, db *sql.DB) { sandboxtest.Exec(t, db, stmts...) }
}

// auditAccountSync is auditSync of the tables of seedSyncTables, with the
// application account of appAccount, which it returns too; opts gives the
// options for the account's name.
func auditAccountSync(t *testing.T, ctx context.Context, prefix string, opts func(user string) []migrate.SyncOption) (s *migrate.Sync, name, target string, errc <-chan error, user string, appDB *sql.DB) {
	t.Helper()
	s, name, target, errc = auditSync(t, ctx, prefix, seedSyncTables, func(database string) []migrate.SyncOption {
		user = appUser(database)
		return opts(user)
	}, nil)
	_, appDB = appAccount(t, name)
	return s, name, target, errc, user, appDB
}

// auditCutover cuts s over (retrying while the lag keeps it out of sync),
// waits for Run, verifies the target's tables against the source's and
// returns the cutover's report.
func auditCutover(t *testing.T, ctx context.Context, s *migrate.Sync, name, target string, errc <-chan error) *migrate.CutoverReport {
	t.Helper()
	var err error
	var rep *migrate.CutoverReport
	for range 50 {
		waitPhase(t, s, migrate.PhaseInSync, nil)
		if rep, err = s.Cutover(ctx); err == nil {
			break
		}
		t.Logf("cutover: %v", err)
	}
	require.NoError(t, err)
	require.NoError(t, <-errc)
	// The target's tables (the moved ones, under their names) against
	// the source's.
	dst := sandboxtest.Open(t, servers[1], "")
	rows, err := dst.QueryContext(ctx, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", target)
	require.NoError(t, err)
	var pairs []verify.TablePair
	for rows.Next() {
		var table string
		require.NoError(t, rows.Scan(&table))
		pairs = append(pairs, verify.TablePair{SourceDatabase: name, SourceTable: table, TargetDatabase: target, TargetTable: table})
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, pairs, "tables on the target")
	v, err := verify.New(sandboxtest.Open(t, servers[0], ""), dst)
	require.NoError(t, err)
	vr, err := v.Verify(ctx, pairs...)
	require.NoError(t, err)
	assert.True(t, vr.Clean(), "after cutover: %d difference(s), %d table(s) unverified", vr.Differences(), len(vr.Unverified))
	return rep
}

// auditRows lists db.table's rows as "id|u|v|note", by id.
func auditRows(t *testing.T, database string, srv int) []string {
	t.Helper()
	rows, err := sandboxtest.Open(t, servers[srv], database).Query(
		"SELECT CONCAT_WS('|', id, IFNULL(u, '-'), v, note) FROM ku ORDER BY id")
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		require.NoError(t, rows.Scan(&r))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

// TestSyncAuditKeyUpdatesWithSecondaryUniques: source transactions that
// the server itself logs as row events (no hand-built changes) on a table
// with a primary key and two secondary unique keys, one NULL-able and one
// NOT NULL: primary keys shifted onto each other, swaps of both unique
// values inside one transaction, a primary key update that also takes a
// unique value another row gave up, rows deleted and inserted again with
// another row's old values, and a cycle of the NOT NULL unique values. A
// blind REPLACE (or ON DUPLICATE KEY UPDATE) would delete or merge rows
// colliding on the secondary keys; the target must end equal row for row,
// before and after the cutover.
func TestSyncAuditKeyUpdatesWithSecondaryUniques(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	setup := []string{
		"CREATE TABLE ku (id INT PRIMARY KEY, u INT NULL UNIQUE, v INT NOT NULL UNIQUE, note VARCHAR(40) NOT NULL)",
		"INSERT INTO ku SELECT seq, seq * 10, seq * 100, CONCAT('row ', seq) FROM seq_1_to_50",
	}
	s, name, target, errc := auditSync(t, ctx, "auditku", execAll(setup...), nil, nil)
	db := sandboxtest.Open(t, servers[0], name)
	txn := func(stmts ...string) {
		t.Helper()
		sandboxtest.Exec(t, db, append(append([]string{"BEGIN"}, stmts...), "COMMIT")...)
	}
	// Primary keys shifted onto each other, unique values kept.
	txn("UPDATE ku SET id = id + 1 ORDER BY id DESC", "UPDATE ku SET note = CONCAT(note, ' +1')")
	// Row k now holds u = (k-1)*10, v = (k-1)*100. Swap u (through NULL)
	// and v (through a free value) of rows 2 and 3.
	txn("UPDATE ku SET u = NULL WHERE id = 2",
		"UPDATE ku SET u = 10 WHERE id = 3",
		"UPDATE ku SET u = 20 WHERE id = 2",
		"UPDATE ku SET v = -1 WHERE id = 2",
		"UPDATE ku SET v = 100 WHERE id = 3",
		"UPDATE ku SET v = 200 WHERE id = 2")
	// Row 10 gives up its unique values; row 11 moves to a new primary key
	// and takes them; a new row 11 takes row 11's old ones.
	txn("UPDATE ku SET u = NULL, v = -10 WHERE id = 10",
		"UPDATE ku SET id = 1000, u = 90, v = 900 WHERE id = 11",
		"INSERT INTO ku VALUES (11, 100, 1000, 'new 11')")
	// Row 20 deleted, row 21 moved onto its key, and a new row 21 takes
	// the deleted row's unique values.
	txn("DELETE FROM ku WHERE id = 20",
		"UPDATE ku SET id = 20, note = 'was 21' WHERE id = 21",
		"INSERT INTO ku VALUES (21, 190, 1900, 'again 21')")
	// A cycle of the NOT NULL unique values of rows 30 to 40, through a free
	// value: each of rows 30 to 39 takes the next one's, 40 takes 30's.
	txn("UPDATE ku SET v = -30 WHERE id = 40",
		"UPDATE ku SET v = v + 100 WHERE id BETWEEN 30 AND 39 ORDER BY id DESC",
		"UPDATE ku SET v = 2900 WHERE id = 40")
	// Primary keys shifted down again in one statement, across the gaps.
	txn("UPDATE ku SET id = id - 1 WHERE id > 1 ORDER BY id")

	want := auditRows(t, name, 0)
	deadline := time.Now().Add(2 * time.Minute)
	for !assert.ObjectsAreEqual(want, auditRows(t, target, 1)) {
		select {
		case err := <-errc:
			t.Fatalf("the sync stopped: %v", err)
		default:
		}
		require.True(t, time.Now().Before(deadline), "the target never held the source's rows:\nsource %v\ntarget %v", want, auditRows(t, target, 1))
		time.Sleep(50 * time.Millisecond)
	}
	auditCutover(t, ctx, s, name, target, errc)
	assert.Equal(t, want, auditRows(t, target, 1))
}

// liveHeap samples the Go heap that survived the last garbage collection
// (live objects only, whatever GOGC) until stop is called, and returns the
// highest sample.
func liveHeap() (stop func() uint64) {
	var peak atomic.Uint64
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-quit:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(quit); <-done; return peak.Load() }
}

// TestSyncAuditBigTransactions: a transaction inserting 200,000 rows of
// 1 KiB (about 200 MiB of row images) and one deleting them all, on a
// moved table while the Sync follows: each reaches the target whole, and
// the live heap of the process (the sync runs in it) stays far below the
// transaction's size, under 128 MiB. Not parallel: the heap is the
// process's.
func TestSyncAuditBigTransactions(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200 MiB of binary log twice")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	setup := []string{
		"CREATE TABLE big (id INT PRIMARY KEY, u INT NOT NULL UNIQUE, b BLOB NOT NULL)",
		"CREATE TABLE counter (id INT PRIMARY KEY, n BIGINT NOT NULL)",
		"INSERT INTO counter VALUES (1, 0)",
	}
	s, name, target, errc := auditSync(t, ctx, "auditbig", execAll(setup...), nil, nil)
	db := sandboxtest.Open(t, servers[0], name)
	dst := sandboxtest.Open(t, servers[1], target)
	// reached waits until the target's counter is n and big holds rows rows.
	reached := func(n int64, rows int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Minute)
		for {
			var c, r int64
			if dst.QueryRow("SELECT (SELECT n FROM counter WHERE id = 1), (SELECT COUNT(*) FROM big)").Scan(&c, &r) == nil && c == n {
				require.Equal(t, rows, r, "rows of big once the counter is %d", n)
				return
			}
			select {
			case err := <-errc:
				t.Fatalf("the sync stopped: %v", err)
			default:
			}
			require.True(t, time.Now().Before(deadline), "the target's counter never reached %d", n)
			time.Sleep(100 * time.Millisecond)
		}
	}
	const rows = 200_000
	peak := liveHeap()
	sandboxtest.Exec(t, db, "BEGIN",
		"INSERT INTO big SELECT seq, seq, CONCAT(REPEAT(CHAR(65 + seq % 26), 1000), seq) FROM seq_1_to_200000",
		"UPDATE counter SET n = n + 1 WHERE id = 1", "COMMIT")
	reached(1, rows)
	sandboxtest.Exec(t, db, "BEGIN", "DELETE FROM big WHERE id > 10", "UPDATE counter SET n = n + 1 WHERE id = 1", "COMMIT")
	reached(2, 10)
	heap := peak()
	t.Logf("peak live heap %.1f MiB", float64(heap)/(1<<20))
	assert.Less(t, heap, uint64(128<<20), "peak live heap while 2 transactions of %d rows were applied", rows)
	auditCutover(t, ctx, s, name, target, errc)
	var sum int64
	require.NoError(t, dst.QueryRow("SELECT SUM(LENGTH(b)) FROM big").Scan(&sum))
	assert.Positive(t, sum, "big's rows on the target")
}

// TestSyncAuditNeverDeletesAForeignRow: a row that something else wrote on
// the target holds a unique value that a source row then takes. The sync
// stops with the duplicate-key error naming the table; it never deletes
// the target's row to make room (REPLACE would, silently).
func TestSyncAuditNeverDeletesAForeignRow(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	setup := []string{
		"CREATE TABLE ku (id INT PRIMARY KEY, u INT NULL UNIQUE, v INT NOT NULL UNIQUE, note VARCHAR(40) NOT NULL)",
		"INSERT INTO ku SELECT seq, seq * 10, seq * 100, CONCAT('row ', seq) FROM seq_1_to_5",
	}
	_, name, target, errc := auditSync(t, ctx, "auditforeign", execAll(setup...), nil, nil)
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[1], target), "INSERT INTO ku VALUES (900, 77, 7700, 'written on the target')")
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], name), "INSERT INTO ku VALUES (6, 77, 600, 'source')")
	select {
	case err := <-errc:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "Duplicate entry")
		assert.Contains(t, err.Error(), "`"+target+"`.`ku`")
	case <-ctx.Done():
		t.Fatal("the sync went on over a duplicate unique value")
	}
	assert.Contains(t, auditRows(t, target, 1), "900|77|7700|written on the target")
	assert.NotContains(t, auditRows(t, target, 1), "6|77|600|source")
}
