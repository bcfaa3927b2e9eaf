package migrate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// cutBackChildEnv holds the JSON cutBackSpec of a reverse sync run as a
// child process of the test binary (see TestMain).
const cutBackChildEnv = "SHIFTGATE_CUTBACK_CHILD"

type cutBackSpec struct {
	Source, Target, Database, TargetDatabase, Account string
	// Switched is the file the child's switch back creates before it
	// hangs: the child is killed once the host switched back.
	Switched string
	// Forward makes the child run the move itself, cut over once in sync
	// and write the cutover's error to the file Switched names, then wait
	// to be killed.
	Forward bool
}

func cutBackOptions(s cutBackSpec, switchBack func(context.Context) error) []migrate.SyncOption {
	return []migrate.SyncOption{
		migrate.WithTargetDatabase(s.TargetDatabase), migrate.WithFence(migrate.FenceAccounts, s.Account),
		migrate.WithDrainWait(5*time.Second, false), migrate.WithReverseSync(switchBack),
	}
}

// cutBackChild runs the reverse sync the spec describes and cuts back; its
// switch back switches (creates the file) and never returns. With Forward,
// it runs forwardChild instead.
func cutBackChild(spec string) int {
	var s cutBackSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if s.Forward {
		return forwardChild(s)
	}
	sy, err := migrate.NewSync(s.Source, s.Target, s.Database, cutBackOptions(s, switchAndHang(s.Switched))...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	rv, err := sy.Reverse()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	done := make(chan error, 1)
	go func() { _, err := rv.Run(context.Background(), nil); done <- err }()
	for {
		select {
		case err := <-done:
			fmt.Fprintln(os.Stderr, "reverse sync returned:", err)
			return 1
		case <-time.After(50 * time.Millisecond):
		}
		if rv.Phase() != migrate.PhaseInSync {
			continue
		}
		if _, err := rv.CutBack(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "cut-back:", err)
		}
	}
}

// killChildAt runs the child spec describes and kills it with SIGKILL once
// it wrote the file spec.Switched names; it returns what the file holds.
func killChildAt(t *testing.T, ctx context.Context, spec cutBackSpec) []byte {
	t.Helper()
	return killChildAtFile(t, ctx, cutBackChildEnv, spec, spec.Switched)
}

// TestSyncCutBackFinishedAfterSIGKILLPastTheSwitchBack kills the reverse
// sync, a child process, once its cut-back's switch back ran (the host
// points the application at the source again) and before it restored any
// writes: the next Run finishes the cut-back (it calls the switch back
// again, restores the target's writes and the source's and closes the
// window) instead of following the target again with the source fenced;
// End refuses meanwhile.
func TestSyncCutBackFinishedAfterSIGKILLPastTheSwitchBack(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a child process")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	src, dst := servers[0], servers[1]
	name := sandboxtest.NewDatabase(t, src, "cutbackkill")
	target := sandboxtest.NewDatabase(t, dst, "cutbackkill")
	sandboxtest.Exec(t, sandboxtest.Open(t, dst, ""), "DROP DATABASE `"+target+"`")
	seedSyncTables(t, sandboxtest.Open(t, src, name))
	user, srcApp := appAccount(t, name)
	spec := cutBackSpec{Source: src.DSN(""), Target: dst.DSN(""), Database: name, TargetDatabase: target, Account: user + "@%",
		Switched: filepath.Join(t.TempDir(), "switched-back")}

	var switchedBack atomic.Int32
	s, err := migrate.NewSync(spec.Source, spec.Target, name, cutBackOptions(spec, func(context.Context) error { switchedBack.Add(1); return nil })...)
	require.NoError(t, err)
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() { defer close(done); _, err := s.Run(ctx, nil); errc <- err }()
	waitPhase(t, s, migrate.PhaseInSync, done)
	dstApp := targetAppAccount(t, user, target)
	_, err = s.Cutover(ctx)
	require.NoError(t, err)
	require.NoError(t, <-errc)
	sandboxtest.Exec(t, dstApp, "INSERT INTO items VALUES (9100001, 'after the switch', NULL, NOW(6), 1)", "UPDATE counter SET n = n + 1 WHERE id = 1")

	killChildAt(t, ctx, spec)

	// Killed with both sides fenced, the application switched back.
	_, err = srcApp.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.Error(t, err, "the source's writes were restored before the kill")
	_, err = dstApp.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.Error(t, err, "the target's writes were restored before the kill")

	rv, err := s.Reverse()
	require.NoError(t, err)
	err = rv.End(ctx)
	require.Error(t, err, "End closed the window of a cut-back that switched back")
	assert.Contains(t, err.Error(), "Run finishes it")
	assert.ErrorIs(t, err, migrate.ErrSwitchPending)

	rctx, rcancel := context.WithTimeout(ctx, 90*time.Second)
	defer rcancel()
	rep, err := rv.Run(rctx, nil)
	require.NoError(t, err, "the restarted reverse sync did not finish the cut-back")
	require.NotNil(t, rep.Cutover)
	assert.Equal(t, int32(1), switchedBack.Load(), "the switch back is called again")
	assert.Equal(t, migrate.PhaseDone, rv.Phase())

	_, err = srcApp.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.NoError(t, err, "the source's writes after the finished cut-back")
	_, err = dstApp.ExecContext(ctx, "SELECT n FROM counter")
	require.NoError(t, err, "the target's grants after the finished cut-back")
	_, err = srcApp.ExecContext(ctx, "UPDATE counter SET n = n - 1 WHERE id = 1")
	require.NoError(t, err)
	assert.True(t, verifyMoved(t, ctx, name, target).Clean(), "source and target differ after the finished cut-back")
	_, err = rv.Run(ctx, nil)
	require.True(t, errors.Is(err, migrate.ErrNoReverse), "the window is still open: %v", err)
}

// forwardChild runs the move, cuts over once in sync, writes the cutover's
// error to s.Switched and waits to be killed.
func forwardChild(s cutBackSpec) int {
	sy, err := migrate.NewSync(s.Source, s.Target, s.Database, migrate.WithTargetDatabase(s.TargetDatabase),
		migrate.WithFence(migrate.FenceAccounts, s.Account), migrate.WithDrainWait(5*time.Second, false))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	done, ok, err := cutOverInSync(sy, nil)
	if !ok {
		return 1
	}
	if err := os.WriteFile(s.Switched, []byte(fmt.Sprint(err)), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Fprintln(os.Stderr, <-done)
	return 1
}

// TestSyncFailedVerificationNotSkippedAfterSIGKILL: a cutover whose
// verification finds the target different (a row something else wrote
// there) fails with ErrNotVerified and restores the source's writes; the
// move, killed with SIGKILL after that and run again, verifies again at its
// next cutover and fails again, until the difference is gone; the cutover
// that succeeds verified with the source's writes stopped: inside the
// pause it reports.
func TestSyncFailedVerificationNotSkippedAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a child process")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	src, dst := servers[0], servers[1]
	name := sandboxtest.NewDatabase(t, src, "verifykill")
	target := sandboxtest.NewDatabase(t, dst, "verifykill")
	sandboxtest.Exec(t, sandboxtest.Open(t, dst, ""), "DROP DATABASE `"+target+"`")
	seedSyncTables(t, sandboxtest.Open(t, src, name))
	user, srcApp := appAccount(t, name)
	spec := cutBackSpec{Source: src.DSN(""), Target: dst.DSN(""), Database: name, TargetDatabase: target, Account: user + "@%",
		Switched: filepath.Join(t.TempDir(), "cutover-error"), Forward: true}

	// The copy first, then a row on the target only.
	s, err := migrate.NewSync(spec.Source, spec.Target, name, migrate.WithTargetDatabase(target),
		migrate.WithFence(migrate.FenceAccounts, spec.Account), migrate.WithDrainWait(5*time.Second, false))
	require.NoError(t, err)
	errc := make(chan error, 1)
	done := make(chan struct{})
	rctx, stop := context.WithCancel(ctx)
	go func() { defer close(done); _, err := s.Run(rctx, nil); errc <- err }()
	waitPhase(t, s, migrate.PhaseInSync, done)
	stop()
	require.Error(t, <-errc)
	dstDB := sandboxtest.Open(t, dst, target)
	sandboxtest.Exec(t, dstDB, "INSERT INTO items VALUES (9200001, 'target only', NULL, NOW(6), 1)")

	cutErr := killChildAt(t, ctx, spec)
	assert.Contains(t, string(cutErr), "differ", "the child's cutover")
	_, err = srcApp.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.NoError(t, err, "the source's writes after the failed verification")

	s, err = migrate.NewSync(spec.Source, spec.Target, name, migrate.WithTargetDatabase(target),
		migrate.WithFence(migrate.FenceAccounts, spec.Account), migrate.WithDrainWait(5*time.Second, false))
	require.NoError(t, err)
	errc = make(chan error, 1)
	done = make(chan struct{})
	go func() { defer close(done); _, err := s.Run(ctx, nil); errc <- err }()
	waitPhase(t, s, migrate.PhaseInSync, done)
	_, err = s.Cutover(ctx)
	require.ErrorIs(t, err, migrate.ErrNotVerified, "the resumed move skipped the verification")
	_, err = srcApp.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.NoError(t, err, "the source's writes after the second failed verification")

	sandboxtest.Exec(t, dstDB, "DELETE FROM items WHERE id = 9200001")
	var rep *migrate.CutoverReport
	for range 50 {
		waitPhase(t, s, migrate.PhaseInSync, done)
		if rep, err = s.Cutover(ctx); err == nil {
			break
		}
		require.NotErrorIs(t, err, migrate.ErrNotVerified)
	}
	require.NoError(t, err)
	require.NoError(t, <-errc)
	assert.Equal(t, 3, rep.VerifiedTables)
	assert.GreaterOrEqual(t, rep.Pause, rep.CatchUp+rep.Verify, "verification ran outside the write pause")
	assert.True(t, verifyMoved(t, ctx, name, target).Clean())
}
