package migrate_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// switchChildEnv holds the JSON switchSpec of a move run as a child
// process of the test binary (see TestMain).
const switchChildEnv = "SHIFTGATE_SWITCH_CHILD"

// switchSpec is a move that cuts over once in sync; its switch creates
// the file Switched (the host switched) and never returns: the child is
// killed past the switch, before the cutover is recorded done.
type switchSpec struct {
	Source, Target, Database, TargetDatabase, Account, Switched string
	Reverse                                                     bool // WithReverseSync
	// Lock: FenceFlushTables instead of FenceAccounts (Account unused);
	// Pending: WithPendingSwitch.
	Lock    bool
	Pending migrate.PendingSwitch
	// Hold, set, makes the child write the file Hold+".insync" once in
	// sync and wait for the file Hold+".go" before its cutover.
	Hold string
	// Point, set, makes the switch return instead (it writes the file
	// Switched+".in" and waits for the file Switched+".go"), and the
	// child create Switched and hang at that point of its cutover
	// (migrate.SetSyncHook).
	Point string
}

func (s switchSpec) options(switchHook func(context.Context) error) []migrate.SyncOption {
	fence := migrate.WithFence(migrate.FenceAccounts, s.Account)
	if s.Lock {
		fence = migrate.WithFence(migrate.FenceFlushTables)
	}
	opts := []migrate.SyncOption{
		migrate.WithTargetDatabase(s.TargetDatabase), fence,
		migrate.WithDrainWait(5*time.Second, false), migrate.WithSwitch(switchHook), migrate.WithPendingSwitch(s.Pending),
	}
	if s.Reverse {
		opts = append(opts, migrate.WithReverseSync(nil))
	}
	return opts
}

// switchChild runs the move the spec describes and cuts over once in sync.
func switchChild(spec string) int {
	var s switchSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	switchHook := switchAndHang(s.Switched)
	if s.Point != "" {
		switchHook = func(context.Context) error {
			if err := os.WriteFile(s.Switched+".in", nil, 0o600); err != nil {
				return err
			}
			waitForFile(s.Switched + ".go")
			return nil
		}
	}
	sy, err := migrate.NewSync(s.Source, s.Target, s.Database, s.options(switchHook)...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if s.Point != "" {
		migrate.SetSyncHook(sy, func(point string) {
			if point == s.Point {
				_ = os.WriteFile(s.Switched, nil, 0o600)
				select {}
			}
		})
	}
	var hold func()
	if s.Hold != "" {
		hold = func() {
			if err := os.WriteFile(s.Hold+".insync", nil, 0o600); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
			waitForFile(s.Hold + ".go")
		}
	}
	if _, ok, err := cutOverInSync(sy, hold); ok {
		fmt.Fprintln(os.Stderr, "cutover returned:", err)
	}
	return 1
}

// waitForFile returns once file exists.
func waitForFile(file string) { _ = awaitFile(context.Background(), file) }

// awaitFile returns once file exists, or ctx's error once it is done.
func awaitFile(ctx context.Context, file string) error {
	for {
		if _, err := os.Stat(file); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// switchAndHang is a switch that switches (creates file) and never
// returns: its process is killed in it.
func switchAndHang(file string) func(context.Context) error {
	return func(context.Context) error {
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			return err
		}
		select {}
	}
}

// cutOverInSync runs sy and cuts over once it is in sync, after hold
// returns (nil: at once); it returns Run's outcome, the cutover's error
// and true, or false when Run returned before (it says so on stderr).
func cutOverInSync(sy *migrate.Sync, hold func()) (<-chan error, bool, error) {
	done := make(chan error, 1)
	go func() { _, err := sy.Run(context.Background(), nil); done <- err }()
	for sy.Phase() != migrate.PhaseInSync {
		select {
		case err := <-done:
			fmt.Fprintln(os.Stderr, "sync returned:", err)
			return nil, false, nil
		case <-time.After(20 * time.Millisecond):
		}
	}
	if hold != nil {
		hold()
	}
	_, err := sy.Cutover(context.Background())
	return done, true, err
}

// pastSwitch is a move whose process was killed inside its switch.
type pastSwitch struct {
	spec    switchSpec
	srcApp  *sql.DB // the application's account on the source
	srcRoot *sql.DB
	dstDB   *sql.DB // the target database
	user    string  // the application's account, and its grants
	grants  []string
}

// killPastSwitch copies a database to the target with a move run as a
// child process (WithReverseSync if reverse) and kills it with SIGKILL inside its switch (the host
// switched); then the application writes the target, and something writes
// the source (the move's own account, which the fence leaves writing).
func killPastSwitch(t *testing.T, prefix string, reverse bool) (context.Context, *pastSwitch) {
	t.Helper()
	ctx, spec, srcDB := newSwitchMove(t, prefix)
	p := &pastSwitch{srcRoot: srcDB, spec: spec}
	p.user, p.srcApp = appAccount(t, spec.Database)
	p.grants = showGrants(t, p.user)
	p.spec.Account, p.spec.Reverse = p.user+"@%", reverse

	killChildAtFile(t, ctx, switchChildEnv, p.spec, p.spec.Switched)

	_, err := p.srcApp.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.Error(t, err, "the source's writes were restored before the kill")
	target := spec.TargetDatabase
	p.dstDB = sandboxtest.Open(t, servers[1], target)
	sandboxtest.Exec(t, targetAppAccount(t, p.user, target), "INSERT INTO items VALUES (9300001, 'after the switch', NULL, NOW(6), 1)", "UPDATE counter SET n = 500 WHERE id = 1")
	sandboxtest.Exec(t, p.srcRoot, "INSERT INTO items VALUES (9300002, 'source after the switch', NULL, NOW(6), 1)", "UPDATE counter SET n = 900 WHERE id = 1")
	return ctx, p
}

// newSwitchMove seeds a database of the source, prefix its name's, for a
// move into a new database of the target run as a child process (its spec:
// the fence and the account left to the caller); it returns the test's
// context and the source database.
func newSwitchMove(t *testing.T, prefix string) (context.Context, switchSpec, *sql.DB) {
	t.Helper()
	if testing.Short() {
		t.Skip("kills a child process")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	t.Cleanup(cancel)
	src, dst := servers[0], servers[1]
	name := sandboxtest.NewDatabase(t, src, prefix)
	target := sandboxtest.NewDatabase(t, dst, prefix)
	sandboxtest.Exec(t, sandboxtest.Open(t, dst, ""), "DROP DATABASE `"+target+"`")
	srcDB := sandboxtest.Open(t, src, name)
	seedSyncTables(t, srcDB)
	return ctx, switchSpec{Source: src.DSN(""), Target: dst.DSN(""), Database: name, TargetDatabase: target,
		Switched: filepath.Join(t.TempDir(), "switched")}, srcDB
}

// killChildAtFile runs this test binary as a child, spec (JSON) in the
// environment variable env, and kills it with SIGKILL once it wrote file;
// it returns what the file holds.
func killChildAtFile(t *testing.T, ctx context.Context, env string, spec any, file string) []byte {
	t.Helper()
	specJSON, err := json.Marshal(spec)
	require.NoError(t, err)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"="+string(specJSON))
	out := &limitedWriter{max: 4096}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if b, err := os.ReadFile(file); err == nil {
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			<-exited
			return b
		}
		select {
		case err := <-exited:
			t.Fatalf("the child ended before it was killed: %v: %s", err, out)
		case <-time.After(20 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "the child never got to be killed: %s", out)
	}
}

// assertNotSynced checks that the target holds the application's writes
// and none of the source's made after the switch.
func (p *pastSwitch) assertNotSynced(t *testing.T, ctx context.Context) {
	t.Helper()
	var n, rows int64
	require.NoError(t, p.dstDB.QueryRowContext(ctx, "SELECT n FROM counter WHERE id = 1").Scan(&n))
	assert.Equal(t, int64(500), n, "the target's counter: the source's write after the switch was synced over the application's")
	require.NoError(t, p.dstDB.QueryRowContext(ctx, "SELECT COUNT(*) FROM items WHERE id IN (9300001, 9300002)").Scan(&rows))
	assert.Equal(t, int64(1), rows, "the target's items: the application's row, not the source's")
}

// assertFinished checks the return of a Run that finished the cutover
// (its switch counting its calls in switched): the switch called once,
// nothing synced, the source's writes and grants restored, and a later
// Run refused with ErrCutOver, calling no switch.
func (p *pastSwitch) assertFinished(t *testing.T, ctx context.Context, rep *migrate.Report, err error, switched *atomic.Int32) {
	t.Helper()
	require.NoError(t, err, "the restarted move did not finish the cutover")
	require.NotNil(t, rep.Cutover)
	assert.Equal(t, int32(1), switched.Load(), "the switch is called again")
	p.assertNotSynced(t, ctx)

	_, err = p.srcApp.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.NoError(t, err, "the source's writes after the finished cutover")
	assert.ElementsMatch(t, p.grants, showGrants(t, p.user), "the application's grants after the finished cutover")

	_, err = p.run(t, ctx, func(context.Context) error { switched.Add(1); return nil })
	require.ErrorIs(t, err, migrate.ErrCutOver, "a Run after the finished cutover")
	assert.Equal(t, int32(1), switched.Load())
}

// run runs a new move of p's spec with switchHook until it returns; a Run
// that reaches in sync (syncing into the target again) fails the test.
func (p *pastSwitch) run(t *testing.T, ctx context.Context, switchHook func(context.Context) error) (*migrate.Report, error) {
	t.Helper()
	s, err := migrate.NewSync(p.spec.Source, p.spec.Target, p.spec.Database, p.spec.options(switchHook)...)
	require.NoError(t, err)
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var rep *migrate.Report
	done := make(chan struct{})
	go func() { defer close(done); rep, err = s.Run(rctx, nil) }()
	for {
		select {
		case <-done:
			return rep, err
		case <-time.After(20 * time.Millisecond):
		}
		if s.Phase() == migrate.PhaseInSync {
			cancel()
			<-done
			p.assertNotSynced(t, ctx)
			t.Fatal("the restarted move syncs into the target the application writes (it got in sync)")
		}
	}
}

// TestSyncCutoverFinishedAfterSIGKILLPastTheSwitch kills the move, a child
// process, inside its switch (the host switched the application to the
// target) before the cutover is recorded done: the next Run applies
// nothing more to the target (the source's later writes stay off it, the
// application's stay), calls the switch again, records the cutover and
// only then restores the source's writes; a later Run says ErrCutOver.
func TestSyncCutoverFinishedAfterSIGKILLPastTheSwitch(t *testing.T) {
	ctx, p := killPastSwitch(t, "switchkill", false)

	var switched atomic.Int32
	rep, err := p.run(t, ctx, func(context.Context) error {
		// Called with the source's writes still stopped.
		if _, err := p.srcApp.ExecContext(ctx, "UPDATE counter SET n = n WHERE id = 1"); err == nil {
			return errors.New("the source takes the application's writes during the switch")
		}
		switched.Add(1)
		return nil
	})
	p.assertFinished(t, ctx, rep, err, &switched)
}

// TestSyncCutoverSwitchFailsWhenFinishing: the restarted move's switch
// fails again: Run says so with the state of both sides, applies nothing
// to the target and keeps the source's writes stopped, and the next Run,
// its switch working, finishes the cutover.
func TestSyncCutoverSwitchFailsWhenFinishing(t *testing.T) {
	ctx, p := killPastSwitch(t, "switchfail", false)

	for range 2 {
		_, err := p.run(t, ctx, func(context.Context) error { return errors.New("configuration store unreachable") })
		require.Error(t, err)
		assert.NotErrorIs(t, err, migrate.ErrCutOver)
		assert.ErrorIs(t, err, migrate.ErrSwitchPending)
		for _, part := range []string{"configuration store unreachable", "verified equal", "the application may write it already",
			"the source's writes to the moved tables stay stopped", "Run again, which calls it again"} {
			assert.Contains(t, err.Error(), part)
		}
		p.assertNotSynced(t, ctx)
		_, err = p.srcApp.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
		require.Error(t, err, "the source's writes were restored with the switch failed")
	}

	var switched atomic.Int32
	rep, err := p.run(t, ctx, func(context.Context) error { switched.Add(1); return nil })
	p.assertFinished(t, ctx, rep, err, &switched)
}

// TestSyncCutoverFinishedWithReverseSyncKeepsTheSourceFenced: a move made
// WithReverseSync, killed inside its switch: the next Run finishes the
// cutover and leaves the source's writes stopped for the reverse sync (a
// later Run says ErrCutOver, restoring nothing), whose End restores them.
func TestSyncCutoverFinishedWithReverseSyncKeepsTheSourceFenced(t *testing.T) {
	ctx, p := killPastSwitch(t, "switchrev", true)

	var switched atomic.Int32
	hook := func(context.Context) error { switched.Add(1); return nil }
	rep, err := p.run(t, ctx, hook)
	require.NoError(t, err, "the restarted move did not finish the cutover")
	require.NotNil(t, rep.Cutover)
	assert.Equal(t, int32(1), switched.Load(), "the switch is called again")
	p.assertNotSynced(t, ctx)
	// The reverse sync's start, as the cutover saved it before the kill.
	var reverseStart string
	require.NoError(t, p.srcRoot.QueryRowContext(ctx, "SELECT position FROM _shiftgate.stream_positions WHERE stream = ?", "reverse."+p.spec.Database).Scan(&reverseStart))
	assert.NotEmpty(t, reverseStart)
	assert.Equal(t, reverseStart, rep.Cutover.ReversePosition, "the finished cutover's reverse position")
	_, err = p.run(t, ctx, hook)
	require.ErrorIs(t, err, migrate.ErrCutOver, "a Run after the finished cutover")
	_, err = p.srcApp.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.Error(t, err, "the source's writes were restored with the rollback window open")

	s, err := migrate.NewSync(p.spec.Source, p.spec.Target, p.spec.Database, p.spec.options(hook)...)
	require.NoError(t, err)
	rv, err := s.Reverse()
	require.NoError(t, err)
	require.NoError(t, rv.End(ctx))
	_, err = p.srcApp.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.NoError(t, err, "the source's writes after the end of the rollback window")
	assert.ElementsMatch(t, p.grants, showGrants(t, p.user))
	assert.Equal(t, int32(1), switched.Load())
}
