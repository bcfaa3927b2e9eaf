package migrate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/migrate"
)

// copierChildEnv holds the JSON childSpec of a copier run as a child
// process of the test binary (see TestMain).
const copierChildEnv = "SHIFTGATE_COPIER_CHILD"

type childSpec struct {
	Source, Target, Database, TargetDatabase, CheckpointDB string
	// RowsPerSecond slows the copy down (0: no limit).
	RowsPerSecond float64
}

// childOptions are the options of the killed copies and of the one that
// finishes: small chunks (many commit points), several segments per table,
// deferred indexes.
func childOptions(s childSpec) []migrate.CopierOption {
	opts := []migrate.CopierOption{migrate.WithTargetDatabase(s.TargetDatabase), migrate.WithCheckpointDatabase(s.CheckpointDB),
		migrate.WithChunkRows(400), migrate.WithSegmentRows(6000), migrate.WithThreads(3), migrate.WithDeferredIndexes(true)}
	if s.RowsPerSecond > 0 {
		opts = append(opts, migrate.WithRateLimit(s.RowsPerSecond, 0))
	}
	return opts
}

// copierChild runs the copy the spec describes and returns the exit code.
func copierChild(spec string) int {
	var s childSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	c, err := migrate.NewCopier(s.Source, s.Target, s.Database, childOptions(s)...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if _, err := c.Run(context.Background(), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// checkpointRows returns the rows the checkpoint counts and whether the
// run is done.
func checkpointRows(t *testing.T, cp, target string) (int64, string) {
	db := sandboxtest.Open(t, servers[1], "")
	var n int64
	var state string
	err := db.QueryRow("SELECT COALESCE((SELECT SUM(rows_copied) FROM `"+cp+"`.copy_segments WHERE target_db = ?), 0), (SELECT state FROM `"+cp+"`.copy_runs WHERE target_db = ?)", target, target).Scan(&n, &state)
	if err != nil {
		return 0, "none" // not created yet
	}
	return n, state
}

// TestCopierResumesAfterSIGKILL kills the copier, running as a child
// process, with SIGKILL at random points several times, then lets it
// finish, and checks that the target holds exactly the source's rows.
func TestCopierResumesAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes for several seconds")
	}
	ctx := context.Background()
	const scale = 30_000 // 127,000 rows
	src := sandboxtest.NewDatabase(t, servers[0], "shop")
	srcDB := sandboxtest.Open(t, servers[0], "")
	require.NoError(t, sampledata.Create(ctx, srcDB, src, scale))
	sandboxtest.Exec(t, srcDB, "ANALYZE TABLE `"+src+"`.orders, `"+src+"`.order_items")
	dst := targetName(t, servers[1])
	spec := childSpec{Source: servers[0].DSN(""), Target: servers[1].DSN(""), Database: src, TargetDatabase: dst, CheckpointDB: dst + "_cp"}
	t.Cleanup(func() {
		if db, err := servers[1].Open(""); err == nil {
			_, _ = db.Exec("DROP DATABASE IF EXISTS `" + spec.CheckpointDB + "`")
			db.Close()
		}
	})
	specJSON, err := json.Marshal(spec)
	require.NoError(t, err)
	customers, products, orders, items := sampledata.Size(scale)
	total := int64(customers + products + orders + items)

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	delay := 300 * time.Millisecond
	partial := 0
	resumable := false // the last attempt left an interrupted copy
	var seen []int64
	for attempt := 0; attempt < 16 && !(partial >= 3 && resumable); attempt++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), copierChildEnv+"="+string(specJSON))
		out := &limitedWriter{max: 4096}
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		wait := time.Duration(rng.Int64N(int64(delay))) + 20*time.Millisecond
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		killed := false
		select {
		case err := <-exited:
			require.NoError(t, err, "the copy failed before it was killed: %s", out)
		case <-time.After(wait):
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			<-exited
			killed = true
		}
		n, state := checkpointRows(t, spec.CheckpointDB, dst)
		t.Logf("attempt %d: killed %v after %v: checkpoint holds %d rows, state %s", attempt+1, killed, wait, n, state)
		seen = append(seen, n)
		resumable = state == "copying"
		switch {
		case state == "done":
			// The copy finished before the kill: start over, and kill
			// sooner, so that the next attempts interrupt a copy again.
			sandboxtest.Exec(t, sandboxtest.Open(t, servers[1], ""), "DROP DATABASE `"+dst+"`", "DELETE FROM `"+spec.CheckpointDB+"`.copy_runs")
			delay /= 2
		case n > 0 && n < total:
			partial++
		case n == 0:
			delay += delay / 2 // killed before any chunk: wait longer next time
		}
	}
	require.GreaterOrEqual(t, partial, 2, "too few kills hit the copy part-way (%v): the test proves nothing", seen)
	require.True(t, resumable, "the last attempt left no interrupted copy (%v)", seen)

	c, err := migrate.NewCopier(spec.Source, spec.Target, src, childOptions(spec)...)
	require.NoError(t, err)
	plan, err := c.Plan(ctx)
	require.NoError(t, err, "a rerun after a kill needs no WithReplace")
	assert.True(t, plan.Tables[0].Resume)
	report, err := c.Run(ctx, nil)
	require.NoError(t, err)
	assert.True(t, report.Resumed)
	assert.False(t, report.Consistent, "a resumed copy spans several snapshots")
	assert.False(t, report.Position.IsZero())

	assertCopied(t, src, servers[1], dst)
	for _, table := range []string{"customers", "products", "orders", "order_items", "audit_log"} {
		wn, ws, err := schema.Checksum(ctx, srcDB, src, table)
		require.NoError(t, err)
		gn, gs, err := schema.Checksum(ctx, sandboxtest.Open(t, servers[1], ""), dst, table)
		require.NoError(t, err)
		assert.Equal(t, [2]int64{wn, ws}, [2]int64{gn, gs}, "table %s", table)
		assert.Equal(t, sortedLines(showCreate(t, servers[0], src, table)), sortedLines(showCreate(t, servers[1], dst, table)), "definition of %s", table)
	}
}

// TestCopierResumeNeverSkipsTheCheck interrupts a copy, writes a row of
// its own into a target table, and checks that every later run refuses to
// call the copy done.
func TestCopierResumeNeverSkipsTheCheck(t *testing.T) {
	ctx := context.Background()
	src, _ := newSample(t)
	dst := targetName(t, servers[1])
	interruptCopy(t, src, dst)
	var err error
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[1], dst), "INSERT INTO customers (id, name, email, created_at) VALUES (999999, 'intruder', 'x@y', NOW())")
	for range 2 {
		_, err = newCopier(t, src, servers[1], dst, migrate.WithChunkRows(50)).Run(ctx, nil)
		require.ErrorIs(t, err, migrate.ErrRowsDiffer)
		assert.Contains(t, err.Error(), "checkpoints count")
		assert.Contains(t, err.Error(), "customers")
		assert.NotContains(t, err.Error(), "run the same copy again", "running it again cannot help")
		assert.Contains(t, err.Error(), "drop the target database")
	}
	_, err = newCopier(t, src, servers[1], dst, migrate.WithReplace()).Run(ctx, nil)
	require.Error(t, err, "a resume is not a replace: the foreign row still fails the check")

	// Dropping the target database starts the copy over, as the error says.
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[1], ""), "DROP DATABASE `"+dst+"`")
	plan, err := newCopier(t, src, servers[1], dst).Plan(ctx)
	require.NoError(t, err)
	assert.False(t, plan.Tables[0].Resume)
	_, err = newCopier(t, src, servers[1], dst).Run(ctx, nil)
	require.NoError(t, err)
	assertCopied(t, src, servers[1], dst)
}

type limitedWriter struct {
	max int
	buf []byte
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if room := w.max - len(w.buf); room > 0 {
		w.buf = append(w.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (w *limitedWriter) String() string { return string(w.buf) }
