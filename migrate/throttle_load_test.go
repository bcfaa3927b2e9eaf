package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// TestLoadThrottlerThreadsRunning: the work is held while Threads_running
// is above the limit (a second session sleeping in a query), and goes on
// under a limit the server is below.
func TestLoadThrottlerThreadsRunning(t *testing.T) {
	ctx := t.Context()
	db := sandboxtest.Open(t, servers[0], "")
	held, err := migrate.NewLoadThrottler(servers[0].DSN(""), migrate.LoadLimits{MaxThreadsRunning: 1, Interval: 50 * time.Millisecond}, nil)
	require.NoError(t, err)
	defer held.Close()
	sleeping := make(chan error, 1)
	go func() { _, err := db.ExecContext(ctx, "SELECT SLEEP(2)"); sleeping <- err }()
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	require.ErrorIs(t, held.Throttle(wctx, "t"), context.DeadlineExceeded)
	assert.Contains(t, held.Held(), "Threads_running")
	require.NoError(t, <-sleeping)

	free, err := migrate.NewLoadThrottler(servers[0].DSN(""), migrate.LoadLimits{MaxThreadsRunning: 1000}, nil)
	require.NoError(t, err)
	defer free.Close()
	require.NoError(t, free.Throttle(ctx, "t"))
	assert.Empty(t, free.Held())
}

// TestLoadThrottlerReplica: a server given as a replica that replicates
// from nothing stops the work with an error naming it; a lag limit
// without replicas is refused.
func TestLoadThrottlerReplica(t *testing.T) {
	l, err := migrate.NewLoadThrottler(servers[0].DSN(""), migrate.LoadLimits{MaxReplicaLag: time.Second, Replicas: []string{servers[1].DSN("")}}, nil)
	require.NoError(t, err)
	defer l.Close()
	err = l.Throttle(t.Context(), "t")
	require.ErrorIs(t, err, migrate.ErrNotReplica)
	var ee *migrate.EndpointError
	require.True(t, errors.As(err, &ee))
	assert.Equal(t, "replica", ee.Object)

	_, err = migrate.NewLoadThrottler(servers[0].DSN(""), migrate.LoadLimits{MaxReplicaLag: time.Second}, nil)
	require.Error(t, err)
}

// TestOnlineAlterPauseResume: a paused LoadThrottler holds an
// OnlineAlter's copy (no row reaches the shadow table) until Resume; the
// change then finishes with every row.
func TestOnlineAlterPauseResume(t *testing.T) {
	ctx := t.Context()
	dbName := sandboxtest.NewDatabase(t, servers[0], "oscp")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL)", "INSERT INTO t SELECT seq, seq FROM seq_1_to_3000")
	l, err := migrate.NewLoadThrottler(servers[0].DSN(""), migrate.LoadLimits{}, nil)
	require.NoError(t, err)
	defer l.Close()
	l.Pause()
	a, err := migrate.NewOnlineAlter(servers[0].DSN(""), dbName, "t", "MODIFY n BIGINT NOT NULL", migrate.WithChunkRows(500), migrate.WithThrottler(l), migrate.WithDropOld())
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { _, err := a.Run(ctx, nil); done <- err }()
	for a.Phase() != migrate.PhaseCopying {
		select {
		case err := <-done:
			t.Fatalf("Run ended while paused: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	time.Sleep(300 * time.Millisecond) // a copy that ignored the pause would have copied by now
	assert.Equal(t, "paused", l.Held())
	assert.Zero(t, count(t, db, "_t_new"), "rows copied while paused")
	l.Resume()
	require.NoError(t, <-done)
	assert.Equal(t, 3000, count(t, db, "t"))
}

func count(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+table).Scan(&n))
	return n
}
