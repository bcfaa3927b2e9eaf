package binlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// ownServer starts a server of the test's own, which it may stop and
// restart; it is closed when the test ends.
func ownServer(t *testing.T) *sandbox.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	srv, err := sandbox.Start(ctx, sandbox.Options{BaseDir: t.TempDir(), BufferPool: "64M"})
	if errors.Is(err, sandbox.ErrNoServerBinary) && servers[0].Dir() == "" {
		t.Skipf("the servers come from %s and this machine cannot start servers to restart: %v", sandboxtest.EnvDSN, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return srv
}

// logBuffer collects a stream's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// waitRetries waits until the stream logged that the source did not
// answer its check at least n times, failing the test if Run returns
// meanwhile.
func waitRetries(t *testing.T, r *running, logs *logBuffer, n int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for logs.count("binlog: source unreachable, retrying") < n {
		select {
		case err := <-r.done:
			r.done <- err // for the cleanup
			t.Fatalf("Run returned while the source was down: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream did not retry the source")
		}
	}
}

// A stream started while its source is down waits for it (backoff, the
// reconnect's bound) and streams once it is back.
func TestRunWaitsForTheSource(t *testing.T) {
	srv := ownServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	name := sandboxtest.NewDatabase(t, srv, "down")
	db := sandboxtest.Open(t, srv, name)
	sandboxtest.Exec(t, db, "CREATE TABLE d (id INT PRIMARY KEY)")
	pos := current(t, db)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	logs := &logBuffer{}
	sink := &recorder{}
	r := start(t, srv, binlog.Config{Start: pos, BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil)), Tables: []rowchange.Table{{Schema: name, Name: "d"}}}, sink)
	waitRetries(t, r, logs, 3)
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	sandboxtest.Exec(t, db, "INSERT INTO d VALUES (1)")
	r.waitPosition(t, current(t, db))
	if ids := sink.insertedIDs(); fmt.Sprint(ids) != "[1]" {
		t.Errorf("delivered ids %v, want [1]", ids)
	}
	if st := r.s.Stats(); st.Reconnects == 0 {
		t.Errorf("stats %+v: no retry counted", st)
	}
}

// A source that purged the binary log the stream needs while the stream
// could not reach it (restarted, then purged before the stream got
// through) gets ErrPurged, not a silent restart and not a wait without
// end.
func TestRunPurgedWhileDown(t *testing.T) {
	srv := ownServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	name := sandboxtest.NewDatabase(t, srv, "purgedown")
	db := sandboxtest.Open(t, srv, name)
	sandboxtest.Exec(t, db, "CREATE TABLE p (id INT PRIMARY KEY)", "INSERT INTO p VALUES (1)")
	pos := current(t, db)
	// The stream reaches the source through a proxy that keeps it away
	// until the purge is done.
	proxy := newFreezer(t, srv.Addr())
	proxy.shut.Store(true)
	cfg := srv.Config("")
	cfg.Addr = proxy.ln.Addr().String()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	logs := &logBuffer{}
	sink := &recorder{}
	r := start(t, srv, binlog.Config{DSN: cfg.FormatDSN(), Start: pos, BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil)), Tables: []rowchange.Table{{Schema: name, Name: "p"}}}, sink)
	waitRetries(t, r, logs, 2)
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	sandboxtest.Exec(t, db, "INSERT INTO p VALUES (2)")
	purgeAll(t, db)
	waitRetries(t, r, logs, logs.count("binlog: source unreachable, retrying")+1)
	proxy.shut.Store(false)

	err := r.waitEnd(t)
	if !errors.Is(err, binlog.ErrPurged) || !strings.Contains(err.Error(), cfg.Addr) {
		t.Fatalf("Run after the purge: %v, want ErrPurged naming %s", err, cfg.Addr)
	}
	t.Logf("Run: %v", err)
	if n := len(sink.all()); n != 0 {
		t.Errorf("%d transactions delivered after the purge", n)
	}
}
