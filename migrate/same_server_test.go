package migrate_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// otherSpelling returns the DSN of s with its host written as localhost
// instead of 127.0.0.1: the same server under a second name.
func otherSpelling(t *testing.T, s *sandbox.Server) string {
	t.Helper()
	cfg := s.Config("")
	host, port, err := net.SplitHostPort(cfg.Addr)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", host, "the sandbox listens on 127.0.0.1")
	addrs, err := net.DefaultResolver.LookupHost(context.Background(), "localhost")
	require.NoError(t, err)
	if !strings.Contains(strings.Join(addrs, " "), "127.0.0.1") {
		t.Skipf("localhost resolves to %v, not 127.0.0.1", addrs)
	}
	cfg.Addr = net.JoinHostPort("localhost", port)
	return cfg.FormatDSN()
}

// TestCopyOntoItselfThroughAnotherHostNameIsRefused copies a database
// onto itself, the target DSN naming the source server as localhost: Plan
// and Run refuse with ErrSameDatabase and the source is left as it was.
func TestCopyOntoItselfThroughAnotherHostNameIsRefused(t *testing.T) {
	ctx := context.Background()
	src, _ := newSample(t)
	before := state(t, servers[0], src)
	target := otherSpelling(t, servers[0])
	for _, tc := range []struct {
		name string
		new  func() (migrate.Executor, error)
	}{
		{"pipe", func() (migrate.Executor, error) {
			return migrate.NewPipe(servers[0].DSN(""), target, src, migrate.WithReplace(), migrate.WithTempDir(t.TempDir()))
		}},
		{"copier", func() (migrate.Executor, error) {
			return migrate.NewCopier(servers[0].DSN(""), target, src, migrate.WithReplace(), migrate.WithCheckpointDatabase(src+"_cp"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exec, err := tc.new()
			require.NoError(t, err, "the DSNs differ: the constructor cannot tell")
			_, err = exec.Plan(ctx)
			require.ErrorIs(t, err, migrate.ErrSameDatabase)
			assert.Contains(t, err.Error(), "127.0.0.1:")
			assert.Contains(t, err.Error(), "localhost:")
			assert.Contains(t, err.Error(), src)
			report, err := exec.Run(ctx, nil)
			require.ErrorIs(t, err, migrate.ErrSameDatabase)
			assert.Nil(t, report, "nothing was attempted")
			assert.Equal(t, before, state(t, servers[0], src), "the refused copy changed the source")
		})
	}
}

// TestPlanAgainstSilentHost plans a copy from, and statements on, a host
// that accepts TCP connections and never answers: Plan returns an error
// naming the endpoint and the timed-out handshake instead of hanging.
func TestPlanAgainstSilentHost(t *testing.T) {
	addr := sandboxtest.SilentHost(t)
	silent := "app:pw@tcp(" + addr + ")/"
	copier, err := migrate.NewCopier(silent, servers[1].DSN(""), "shop", migrate.WithTimeouts(300*time.Millisecond, 0, 0))
	require.NoError(t, err)
	statements, err := migrate.NewStatements(silent, "shop", []string{"SELECT 1"}, migrate.WithTimeouts(300*time.Millisecond, 0, 0))
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		exec migrate.Executor
		side migrate.Side
	}{{"copier", copier, migrate.Source}, {"statements", statements, migrate.Target}} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a guard, not an assertion
		_, err = tc.exec.Plan(ctx)
		guard := ctx.Err()
		cancel()
		require.Error(t, err, tc.name)
		require.NoError(t, guard, "%s: Plan hung until the guard deadline", tc.name)
		assert.ErrorIs(t, err, migrate.ErrConnect, tc.name)
		assert.ErrorIs(t, err, migrate.ErrTimeout, tc.name)
		var ee *migrate.EndpointError
		require.True(t, errors.As(err, &ee), "%s: %v", tc.name, err)
		assert.Equal(t, tc.side, ee.Side, tc.name)
		assert.Contains(t, err.Error(), addr, tc.name)
		assert.Contains(t, err.Error(), "handshake", tc.name)
		assert.NotContains(t, err.Error(), ":pw@", tc.name)
	}
}
