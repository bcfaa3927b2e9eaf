package migrate_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// startSync seeds a database (seedSyncTables and a table not moved),
// starts a Sync of its tables acct, items and counter, with the options
// optsFor gives for the source database's name, and waits until it is in
// sync (auditSync).
func startSync(t *testing.T, ctx context.Context, prefix string, optsFor func(database string) []migrate.SyncOption) (s *migrate.Sync, name, target string, errc <-chan error) {
	t.Helper()
	return auditSync(t, ctx, prefix, func(t *testing.T, db *sql.DB) {
		seedSyncTables(t, db)
		sandboxtest.Exec(t, db, "CREATE TABLE other (id INT PRIMARY KEY)")
	}, func(database string) []migrate.SyncOption {
		opts := []migrate.SyncOption{migrate.WithTables("acct", "items", "counter")}
		if optsFor != nil {
			opts = append(opts, optsFor(database)...)
		}
		return opts
	}, nil)
}

// A schema change of a moved table stops the sync, naming the statement
// and the table; one of another table does not.
func TestSyncStopsAtSchemaChange(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	_, name, _, errc := startSync(t, ctx, "syncddl", nil)
	db := sandboxtest.Open(t, servers[0], name)
	sandboxtest.Exec(t, db, "ALTER TABLE other ADD COLUMN c INT", "INSERT INTO items VALUES (99999, 'after', NULL, NOW(6), 1)")
	select {
	case err := <-errc:
		t.Fatalf("a schema change of a table not moved stopped the sync: %v", err)
	case <-time.After(time.Second):
	}
	sandboxtest.Exec(t, db, "ALTER TABLE items ADD COLUMN extra INT")
	select {
	case err := <-errc:
		require.ErrorIs(t, err, migrate.ErrSchemaChange)
		assert.Contains(t, err.Error(), "ADD COLUMN extra")
		assert.Contains(t, err.Error(), name+".items")
	case <-ctx.Done():
		t.Fatal("the sync went on after a schema change of a moved table")
	}
}

// A cutover whose drain finds the application's session holding a
// transaction is refused, listing it; writes come back and the sync goes
// on, and the next cutover succeeds once the transaction ended.
func TestSyncCutoverRefusedWhileASessionHoldsATransaction(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var user string
	s, name, target, errc := startSync(t, ctx, "syncdrain", func(database string) []migrate.SyncOption {
		user = appUser(database)
		return []migrate.SyncOption{migrate.WithFence(migrate.FenceAccounts, user+"@%"), migrate.WithDrainWait(time.Second, false)}
	})
	_, appDB := appAccount(t, name)
	grants := showGrants(t, user)

	tx, err := appDB.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.NoError(t, err)
	_, err = s.Cutover(ctx)
	require.ErrorIs(t, err, migrate.ErrDrain)
	assert.Contains(t, err.Error(), user)
	assert.ElementsMatch(t, grants, showGrants(t, user), "grants after the refused cutover")
	assert.Equal(t, migrate.PhaseInSync, s.Phase())
	require.NoError(t, tx.Commit())

	var cutErr error
	for range 50 {
		waitPhase(t, s, migrate.PhaseInSync, nil)
		if _, cutErr = s.Cutover(ctx); cutErr == nil {
			break
		}
	}
	require.NoError(t, cutErr)
	require.NoError(t, <-errc)
	var n int64
	require.NoError(t, sandboxtest.Open(t, servers[1], "").QueryRow("SELECT n FROM `"+target+"`.counter WHERE id = 1").Scan(&n))
	assert.Equal(t, int64(1), n, "the transaction committed after the refused cutover reached the target")
}

// Plan refuses a source whose binary log is not in ROW format, naming the
// server and the setting.
func TestSyncPlanRefusesStatementFormat(t *testing.T) {
	ctx := t.Context()
	src, dst := servers[0], servers[1]
	name := sandboxtest.NewDatabase(t, src, "syncfmt")
	seedSyncTables(t, sandboxtest.Open(t, src, name))
	root := sandboxtest.Open(t, src, "")
	sandboxtest.Exec(t, root, "SET GLOBAL binlog_format = 'STATEMENT'")
	t.Cleanup(func() { _, _ = root.Exec("SET GLOBAL binlog_format = 'ROW'") })
	s, err := migrate.NewSync(src.DSN(""), dst.DSN(""), name, migrate.WithTargetDatabase(name+"_t"))
	require.NoError(t, err)
	_, err = s.Plan(ctx)
	require.ErrorIs(t, err, migrate.ErrBinlogSettings)
	assert.Contains(t, err.Error(), "binlog_format")
	assert.Contains(t, err.Error(), src.Addr())
	_, err = s.Run(ctx, nil)
	require.Error(t, err)
	var n int
	require.NoError(t, sandboxtest.Open(t, dst, "").QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name+"_t").Scan(&n))
	assert.Zero(t, n, "Run changed the target before refusing")
}

// Cutover is refused at once while the sync copies, and a move that cut
// over is never run again.
func TestSyncCutoverOnlyInSyncAndOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	src, dst := servers[0], servers[1]
	name := sandboxtest.NewDatabase(t, src, "synconce")
	target := sandboxtest.NewDatabase(t, dst, "synconce")
	sandboxtest.Exec(t, sandboxtest.Open(t, dst, ""), "DROP DATABASE `"+target+"`")
	seedSyncTables(t, sandboxtest.Open(t, src, name))

	slow, err := migrate.NewSync(src.DSN(""), dst.DSN(""), name, migrate.WithTargetDatabase(target), migrate.WithRateLimit(500, 0), migrate.WithThreads(1))
	require.NoError(t, err)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _, _ = slow.Run(rctx, nil) }()
	waitPhase(t, slow, migrate.PhaseCopying, done)
	begin := time.Now()
	_, err = slow.Cutover(ctx)
	require.ErrorIs(t, err, migrate.ErrNotInSync)
	assert.Less(t, time.Since(begin), 5*time.Second, "Cutover waited for the copy")
	stop()
	<-done

	s, err := migrate.NewSync(src.DSN(""), dst.DSN(""), name, migrate.WithTargetDatabase(target))
	require.NoError(t, err)
	errc := make(chan error, 1)
	done = make(chan struct{})
	go func() { defer close(done); _, err := s.Run(ctx, nil); errc <- err }()
	waitPhase(t, s, migrate.PhaseInSync, done)
	_, err = s.Cutover(ctx)
	require.NoError(t, err)
	require.NoError(t, <-errc)

	_, err = s.Plan(ctx)
	require.ErrorIs(t, err, migrate.ErrCutOver)
	_, err = s.Run(ctx, nil)
	require.ErrorIs(t, err, migrate.ErrCutOver)
}

func TestSyncOptionsRefuseKillWithALock(t *testing.T) {
	_, err := migrate.NewSync("u@tcp(h:1)/", "u@tcp(h:2)/", "x", migrate.WithDrainWait(time.Second, true))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "WithDrainWait")
	_, err = migrate.NewSync("u@tcp(h:1)/", "u@tcp(h:2)/", "x", migrate.WithFence(migrate.FenceAccounts, "app@%"), migrate.WithDrainWait(time.Second, true))
	require.NoError(t, err)
}

// A copy read after its position (here: without a snapshot, the source
// changed before the first chunk) holds a unique value that the replay
// first gives to another row: the catch-up to the copy's end converges
// instead of failing on the duplicate, and the target ends equal.
func TestSyncConvergesOverACopyNewerThanItsPosition(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	src, dst := servers[0], servers[1]
	name := sandboxtest.NewDatabase(t, src, "syncconv")
	target := sandboxtest.NewDatabase(t, dst, "syncconv")
	sandboxtest.Exec(t, sandboxtest.Open(t, dst, ""), "DROP DATABASE `"+target+"`")
	db := sandboxtest.Open(t, src, name)
	sandboxtest.Exec(t, db, "CREATE TABLE acct (id INT PRIMARY KEY, u INT NULL UNIQUE)", "INSERT INTO acct VALUES (1, 1)")
	var once sync.Once
	moveUnique := migrate.ThrottlerFunc(func(ctx context.Context, table string) error {
		once.Do(func() {
			// After the copy's position, before its first chunk: u = 20
			// goes to row 3, then moves to row 4.
			sandboxtest.Exec(t, db, "INSERT INTO acct VALUES (3, 20)", "UPDATE acct SET u = NULL WHERE id = 3", "INSERT INTO acct VALUES (4, 20)")
		})
		return nil
	})
	s, err := migrate.NewSync(src.DSN(""), dst.DSN(""), name, migrate.WithTargetDatabase(target),
		migrate.WithSnapshot(migrate.SnapshotNone), migrate.WithThrottler(moveUnique))
	require.NoError(t, err)
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() { defer close(done); _, err := s.Run(ctx, nil); errc <- err }()
	waitPhase(t, s, migrate.PhaseInSync, done)
	sandboxtest.Exec(t, db, "UPDATE acct SET u = 5 WHERE id = 1")
	_, err = s.Cutover(ctx)
	require.NoError(t, err)
	require.NoError(t, <-errc)
	var rows []string
	r, err := sandboxtest.Open(t, dst, target).Query("SELECT CONCAT(id, ':', IFNULL(u, 'null')) FROM acct ORDER BY id")
	require.NoError(t, err)
	defer r.Close()
	for r.Next() {
		var v string
		require.NoError(t, r.Scan(&v))
		rows = append(rows, v)
	}
	assert.Equal(t, []string{"1:5", "3:null", "4:20"}, rows)
}
