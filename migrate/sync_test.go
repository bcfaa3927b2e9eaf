package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
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

// syncWorkload writes to the moved tables as an application would, through
// its own account, until the switch: random inserts, updates and deletes,
// primary key updates, swaps of a unique value inside one transaction, and
// a counter every transaction increments (a transaction applied twice
// shows there).
type syncWorkload struct {
	db       *sql.DB
	mu       sync.RWMutex // held by a transaction, taken by the switch
	switched bool
	commits  atomic.Int64
	failures atomic.Int64
}

const syncTables = `
CREATE TABLE acct (id INT PRIMARY KEY, u INT NULL UNIQUE, bal BIGINT NOT NULL);
CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(40) NOT NULL, data BLOB, ts DATETIME(6) NOT NULL, price DECIMAL(12,3));
CREATE TABLE counter (id INT PRIMARY KEY, n BIGINT NOT NULL)`

func seedSyncTables(t *testing.T, db *sql.DB) {
	t.Helper()
	for _, stmt := range strings.Split(syncTables, ";") {
		sandboxtest.Exec(t, db, stmt)
	}
	sandboxtest.Exec(t, db, "INSERT INTO counter VALUES (1, 0)")
	var acct, items []string
	for i := 1; i <= 200; i++ {
		acct = append(acct, fmt.Sprintf("(%d, %d, %d)", i, i, i*10))
	}
	for i := 1; i <= 3000; i++ {
		items = append(items, fmt.Sprintf("(%d, 'item %d', REPEAT('x', %d), NOW(6), %d.125)", i, i, i%300, i))
	}
	sandboxtest.Exec(t, db, "INSERT INTO acct VALUES "+strings.Join(acct, ","), "INSERT INTO items VALUES "+strings.Join(items, ","))
}

// run writes until the switch or ctx is done.
func (w *syncWorkload) run(ctx context.Context) {
	rng := rand.New(rand.NewPCG(7, 13))
	next := int64(1_000_000)
	for ctx.Err() == nil {
		w.mu.RLock()
		if w.switched {
			w.mu.RUnlock()
			return
		}
		next++
		err := w.txn(ctx, rng, next)
		w.mu.RUnlock()
		if err != nil {
			w.failures.Add(1)
			time.Sleep(5 * time.Millisecond)
			continue
		}
		w.commits.Add(1)
	}
}

func (w *syncWorkload) txn(ctx context.Context, rng *rand.Rand, next int64) error {
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	exec := func(q string, args ...any) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}
	a, b := 1+rng.IntN(200), 1+rng.IntN(200)
	var stmts []func() error
	switch rng.IntN(6) {
	case 0: // swap the unique values of two accounts
		if a == b {
			b = a%200 + 1
		}
		stmts = append(stmts,
			func() error {
				return exec("UPDATE acct a JOIN acct b ON a.id = ? AND b.id = ? SET a.u = NULL, b.u = NULL, a.bal = a.bal - 1, b.bal = b.bal + 1", a, b)
			},
			func() error { return exec("UPDATE acct SET u = ? WHERE id = ?", b, a) },
			func() error { return exec("UPDATE acct SET u = ? WHERE id = ?", a, b) })
	case 1: // a primary key update
		stmts = append(stmts, func() error {
			return exec("UPDATE items SET id = ? WHERE id = (SELECT id FROM (SELECT id FROM items ORDER BY RAND() LIMIT 1) x)", next)
		})
	case 2:
		stmts = append(stmts, func() error {
			return exec("INSERT INTO items VALUES (?, ?, ?, NOW(6), ?)", next+1_000_000, fmt.Sprint("new ", next), strings.Repeat("y", rng.IntN(500)), float64(rng.IntN(100000))/8)
		})
	case 3:
		stmts = append(stmts, func() error { return exec("DELETE FROM items ORDER BY RAND() LIMIT 2") })
	default:
		stmts = append(stmts, func() error {
			return exec("UPDATE items SET name = CONCAT('upd ', id), ts = NOW(6), price = price + 1 WHERE id % 97 = ?", rng.IntN(97))
		})
	}
	stmts = append(stmts, func() error { return exec("UPDATE counter SET n = n + 1 WHERE id = 1") })
	for _, s := range stmts {
		if err := s(); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func TestSyncMovesTablesWhileTheyAreWritten(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	src, dst := servers[0], servers[1]
	name := sandboxtest.NewDatabase(t, src, "syncmove")
	target := sandboxtest.NewDatabase(t, dst, "syncmove")
	sandboxtest.Exec(t, sandboxtest.Open(t, dst, ""), "DROP DATABASE `"+target+"`")
	db := sandboxtest.Open(t, src, name)
	seedSyncTables(t, db)

	user, appDB := appAccount(t, name)

	w := &syncWorkload{db: appDB}
	wctx, stopWriting := context.WithCancel(ctx)
	defer stopWriting()
	var writers sync.WaitGroup
	for range 2 {
		writers.Go(func() { w.run(wctx) })
	}

	s, err := migrate.NewSync(src.DSN(""), dst.DSN(""), name, migrate.WithTargetDatabase(target),
		migrate.WithFence(migrate.FenceAccounts, user+"@%"), migrate.WithDrainWait(5*time.Second, false),
		migrate.WithProgressInterval(200*time.Millisecond),
		migrate.WithSwitch(func(context.Context) error {
			w.mu.Lock()
			w.switched = true
			w.mu.Unlock()
			return nil
		}))
	require.NoError(t, err)
	plan, err := s.Plan(ctx)
	require.NoError(t, err)
	assert.Equal(t, "sync", plan.Executor)
	assert.Len(t, plan.Tables, 3)

	var phases sync.Map
	var inSyncTables atomic.Int64 // tables shown done while in sync
	done := make(chan struct{})
	var rep *migrate.Report
	var runErr error
	go func() {
		defer close(done)
		rep, runErr = s.Run(ctx, func(p migrate.Progress) {
			phases.Store(p.Phase, true)
			if p.Phase == migrate.PhaseInSync {
				inSyncTables.Store(int64(p.TablesDone))
			}
		})
	}()

	// A big transaction and a binary log rotation while the sync follows.
	waitPhase(t, s, migrate.PhaseInSync, done)
	sandboxtest.Exec(t, db, "UPDATE items SET data = CONCAT(IFNULL(data, ''), 'z')", "FLUSH BINARY LOGS")
	time.Sleep(300 * time.Millisecond)

	// Cutover is refused until in sync; retried until it is.
	var cut *migrate.CutoverReport
	for attempt := 0; ; attempt++ {
		waitPhase(t, s, migrate.PhaseInSync, done)
		cut, err = s.Cutover(ctx)
		if err == nil || !errors.Is(err, migrate.ErrNotInSync) || attempt > 50 {
			break
		}
	}
	require.NoError(t, err)
	<-done
	require.NoError(t, runErr)
	stopWriting()
	writers.Wait()

	require.NotNil(t, rep.Cutover)
	assert.Equal(t, cut.Pause, rep.Cutover.Pause)
	assert.Positive(t, cut.Pause)
	assert.Equal(t, 3, cut.VerifiedTables)
	assert.EqualValues(t, 3, inSyncTables.Load(), "the copied tables stay done in the progress while in sync")
	assert.Positive(t, w.commits.Load())
	t.Logf("commits %d (failed attempts %d), applied %d rows in %d txns, pause %s (catch-up %s, verify %s)",
		w.commits.Load(), w.failures.Load(), rep.AppliedRows, rep.AppliedTxns, cut.Pause, cut.CatchUp, cut.Verify)
	for _, p := range []migrate.Phase{migrate.PhaseCopying, migrate.PhaseCatchingUp, migrate.PhaseInSync, migrate.PhaseDone} {
		_, seen := phases.Load(p)
		assert.True(t, seen, "phase %s reported", p)
	}

	// The target holds what the source holds: every table equal, the
	// counter equal to the commits.
	v, err := verify.New(sandboxtest.Open(t, src, ""), sandboxtest.Open(t, dst, ""))
	require.NoError(t, err)
	vr, err := v.VerifyDatabase(ctx, name, target)
	require.NoError(t, err)
	assert.True(t, vr.Clean(), "differences after cutover: %d", vr.Differences())
	var n int64
	require.NoError(t, sandboxtest.Open(t, dst, target).QueryRow("SELECT n FROM counter WHERE id = 1").Scan(&n))
	assert.Equal(t, w.commits.Load(), n, "counter on the target")

	// The application's grants are back.
	_, err = appDB.Exec("UPDATE counter SET n = n WHERE id = 1")
	assert.NoError(t, err)
}

// waitPhase waits until s is in phase p (or Run ended).
func waitPhase(t *testing.T, s interface{ Phase() migrate.Phase }, p migrate.Phase, done <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for s.Phase() != p {
		select {
		case <-done:
			t.Fatalf("sync ended while waiting for phase %s", p)
		default:
		}
		require.True(t, time.Now().Before(deadline), "phase %s not reached (now %s)", p, s.Phase())
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSyncCutoverWithLockKillsQueuedWrites cuts over with FenceFlushTables
// while the application writes: its writes queue behind the lock, and the
// ones still queued at the switch are killed, so that none runs on the
// source after the application moved.
func TestSyncCutoverWithLockKillsQueuedWrites(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	src, dst := servers[0], servers[1]
	name := sandboxtest.NewDatabase(t, src, "synclock")
	target := sandboxtest.NewDatabase(t, dst, "synclock")
	sandboxtest.Exec(t, sandboxtest.Open(t, dst, ""), "DROP DATABASE `"+target+"`")
	seedSyncTables(t, sandboxtest.Open(t, src, name))
	_, appDB := appAccount(t, name)

	var switched atomic.Bool
	var commits atomic.Int64
	wctx, stopWriting := context.WithCancel(ctx)
	defer stopWriting()
	var writers sync.WaitGroup
	for i := range 2 {
		writers.Go(func() {
			for n := int64(5_000_000 + i*1_000_000); wctx.Err() == nil && !switched.Load(); n++ {
				stmt, args := "UPDATE counter SET n = n + 1 WHERE id = 1", []any(nil)
				if n%2 == 0 {
					stmt, args = "INSERT INTO items VALUES (?, 'w', NULL, NOW(6), 1)", []any{n}
				}
				if _, err := appDB.ExecContext(wctx, stmt, args...); err == nil {
					commits.Add(1)
				}
			}
		})
	}
	s, err := migrate.NewSync(src.DSN(""), dst.DSN(""), name, migrate.WithTargetDatabase(target),
		migrate.WithSwitch(func(context.Context) error {
			switched.Store(true)
			time.Sleep(time.Second) // writers that had not seen it are queued behind the lock by now
			return nil
		}))
	require.NoError(t, err)
	done := make(chan struct{})
	var rep *migrate.Report
	var runErr error
	go func() { defer close(done); rep, runErr = s.Run(ctx, nil) }()
	var cut *migrate.CutoverReport
	for range 50 {
		waitPhase(t, s, migrate.PhaseInSync, done)
		if cut, err = s.Cutover(ctx); err == nil {
			break
		}
	}
	require.NoError(t, err)
	<-done
	require.NoError(t, runErr)
	writers.Wait()
	assert.Equal(t, "flush-tables", rep.Cutover.Method)
	assert.Positive(t, cut.KilledSessions, "writers queued behind the lock at the switch")
	t.Logf("commits %d, pause %s (catch-up %s, verify %s), killed %d", commits.Load(), cut.Pause, cut.CatchUp, cut.Verify, cut.KilledSessions)

	v, err := verify.New(sandboxtest.Open(t, src, ""), sandboxtest.Open(t, dst, ""))
	require.NoError(t, err)
	vr, err := v.VerifyDatabase(ctx, name, target)
	require.NoError(t, err)
	assert.True(t, vr.Clean(), "a write reached the source after the switch: %d difference(s)", vr.Differences())
}
