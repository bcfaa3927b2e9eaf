package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// moveWithWindow runs movedb run -reverse with more flags, confirms the
// switch on stdin and expects it to cut over, keeping the window open.
func (f moveFixture) moveWithWindow(t *testing.T, ctx context.Context, fence []string, more ...string) {
	t.Helper()
	stdinR, stdinW := io.Pipe()
	defer stdinW.Close()
	var stdout bytes.Buffer
	stderr := newWatcher()
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, f.args("run", append(append([]string{"-reverse", "-cutover-when-in-sync"}, fence...), more...)...), stdinR, &stdout, stderr, nil)
	}()
	stderr.next(t, exited, "point the application at the target now")
	fmt.Fprintln(stdinW, "switched")
	require.Equal(t, exitDone, <-exited, "stderr:\n%s", stderr)
	assert.Contains(t, stdout.String(), "rollback window open")
}

// TestMovedbReverseCutBackAndEnd: run -reverse cuts over keeping the
// source fenced; reverse carries the application's writes to the target
// back into the source, shows its lag, and cuts back on a "cutback" line
// (its switch confirmed on stdin): the application writes the source
// again, both sides equal. A second move with -reverse ends its window
// with end instead: the source's writes are back, and reverse has no
// window to follow (exit 1, with a hint).
func TestMovedbReverseCutBackAndEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	f := newFixture(t, "moverev")
	user, appDB := f.appAccount(t)
	fence := []string{"-fence", "accounts", "-account", user + "@%"}
	f.moveWithWindow(t, ctx, fence)
	_, err := appDB.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.Error(t, err, "the source is writable in the rollback window")

	dstApp := account(t, servers[1], f.target, user)
	sandboxtest.Exec(t, dstApp, "INSERT INTO items VALUES (900001, 'on the target', NULL, 0)", "UPDATE counter SET n = n + 5 WHERE id = 1")

	stdinR, stdinW := io.Pipe()
	defer stdinW.Close()
	var stdout bytes.Buffer
	stderr := newWatcher()
	exited := make(chan int, 1)
	go func() { exited <- run(ctx, f.args("reverse", fence...), stdinR, &stdout, stderr, nil) }()
	stderr.next(t, exited, "reverse sync: in sync: lag")
	fmt.Fprintln(stdinW, "cutback")
	stderr.next(t, exited, "point the application back at the source now")
	fmt.Fprintln(stdinW, "switched")
	require.Equal(t, exitDone, <-exited, "stderr:\n%s", stderr)
	assert.Contains(t, stdout.String(), "the application is on the source again")
	_, err = appDB.ExecContext(ctx, "UPDATE counter SET n = n - 5 WHERE id = 1")
	require.NoError(t, err, "the source is not writable after the cut-back")
	_, err = appDB.ExecContext(ctx, "UPDATE counter SET n = n + 5 WHERE id = 1")
	require.NoError(t, err)
	var name string
	require.NoError(t, f.src.QueryRowContext(ctx, "SELECT name FROM items WHERE id = 900001").Scan(&name))
	assert.Equal(t, "on the target", name)

	// A new move over the target, its window closed by end.
	f.moveWithWindow(t, ctx, fence, "-replace")
	_, err = appDB.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1")
	require.Error(t, err, "the source is writable in the rollback window")
	var out, errOut bytes.Buffer
	require.Equal(t, exitDone, run(ctx, f.args("end", fence...), nil, &out, &errOut, nil), "stderr:\n%s", &errOut)
	assert.Contains(t, out.String(), "rollback window closed")
	_, err = appDB.ExecContext(ctx, "UPDATE counter SET n = n - 1 WHERE id = 1")
	require.NoError(t, err, "the source is not writable after end")
	out.Reset()
	errOut.Reset()
	require.Equal(t, exitFailed, run(ctx, f.args("reverse", fence...), strings.NewReader(""), &out, &errOut, nil), "stderr:\n%s", &errOut)
	assert.Contains(t, errOut.String(), "no rollback window is open")
}

// -switch-back-command and -reverse with a lock fence are refused as bad
// usage.
func TestMovedbReverseUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	args := []string{"-source", "u@tcp(127.0.0.1:1)/", "-target", "u@tcp(127.0.0.1:2)/", "-database", "x"}
	assert.Equal(t, exitUsage, run(t.Context(), append([]string{"run", "-switch-back-command", "true"}, args...), nil, &out, &errOut, nil))
	assert.Contains(t, errOut.String(), "-switch-back-command: only with -reverse")
	errOut.Reset()
	assert.Equal(t, exitUsage, run(t.Context(), append([]string{"reverse"}, args...), nil, &out, &errOut, nil))
	assert.Contains(t, errOut.String(), "-reverse")
}
