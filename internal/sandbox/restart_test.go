package sandbox_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// serverPID reads the pid mariadbd wrote into the sandbox directory.
func serverPID(t *testing.T, s *sandbox.Server) int {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(s.Dir(), "mariadbd.pid"))
	must(t, err, "mariadbd.pid")
	pid, err := strconv.Atoi(strings.TrimSpace(string(text)))
	must(t, err, "mariadbd.pid")
	return pid
}

// TestStopRestart stops and restarts a throwaway server: the same address,
// password and data, a new process; Close after Stop removes everything.
func TestStopRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	s, err := sandbox.Start(ctx, sandbox.Options{BaseDir: t.TempDir(), BufferPool: "64M"})
	if errors.Is(err, sandbox.ErrNoServerBinary) && !throwaway() {
		t.Skipf("servers come from %s and this machine has no MariaDB: %v", sandboxtest.EnvDSN, err)
	}
	must(t, err, "Start")
	defer s.Close()
	addr, dir := s.Addr(), s.Dir()

	db := sandboxtest.Open(t, s, "")
	sandboxtest.Exec(t, db, "CREATE DATABASE kept", "CREATE TABLE kept.t (id INT PRIMARY KEY)", "INSERT INTO kept.t VALUES (1), (2)")
	before := serverPID(t, s)

	// Restart of a running server.
	must(t, s.Restart(ctx), "Restart of a running server")
	equal(t, s.Addr(), addr, "Addr() after Restart")
	after := serverPID(t, s)
	if after == before {
		t.Errorf("mariadbd pid %d unchanged by Restart", after)
	}
	if err := syscall.Kill(before, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("old mariadbd pid %d after Restart: kill(0) = %v, want ESRCH", before, err)
	}
	var n int
	must(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM kept.t").Scan(&n), "reading after Restart (pool reconnects)")
	equal(t, n, 2, "rows after Restart")

	// Stop, twice, then Restart of a stopped server.
	must(t, s.Stop(), "Stop")
	must(t, s.Stop(), "second Stop")
	if ping(t, s.Config("")) == nil {
		t.Fatal("server answers after Stop")
	}
	if err := syscall.Kill(after, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("mariadbd pid %d after Stop: kill(0) = %v, want ESRCH", after, err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("Dir() after Stop: %v, want it kept", err)
	}
	must(t, s.Restart(ctx), "Restart of a stopped server")
	must(t, ping(t, s.Config("")), "ping after Restart")
	must(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM kept.t").Scan(&n), "reading after Stop and Restart")
	equal(t, n, 2, "rows after Stop and Restart")

	// Close after Stop is clean and removes the directory.
	must(t, s.Stop(), "Stop before Close")
	must(t, s.Close(), "Close after Stop")
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Dir() after Close: %v, want it gone", err)
	}
}

// TestStopRestartExternal: a server wrapped by Connect is never stopped.
func TestStopRestartExternal(t *testing.T) {
	s, err := sandbox.Connect(t.Context(), servers[0].DSN(""))
	must(t, err, "Connect")
	if err := s.Stop(); err == nil || !strings.Contains(err.Error(), "not a throwaway server") {
		t.Errorf("Stop of a Connect'ed server: %v, want an error", err)
	}
	if err := s.Restart(t.Context()); err == nil || !strings.Contains(err.Error(), "not a throwaway server") {
		t.Errorf("Restart of a Connect'ed server: %v, want an error", err)
	}
	must(t, ping(t, servers[0].Config("")), "server after Stop of a Connect'ed Server")
}
