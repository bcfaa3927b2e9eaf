package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"regexp"
	"sync"
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
// from nothing, or that cannot be reached, stops the work with an error
// naming it; a lag limit without replicas is refused.
func TestLoadThrottlerReplica(t *testing.T) {
	l, err := migrate.NewLoadThrottler(servers[0].DSN(""), migrate.LoadLimits{MaxReplicaLag: time.Second, Replicas: []string{servers[1].DSN("")}}, nil)
	require.NoError(t, err)
	defer l.Close()
	err = l.Throttle(t.Context(), "t")
	require.ErrorIs(t, err, migrate.ErrNotReplica)
	var ee *migrate.EndpointError
	require.True(t, errors.As(err, &ee))
	assert.Equal(t, "replica", ee.Object)

	gone, err := migrate.NewLoadThrottler(servers[0].DSN(""), migrate.LoadLimits{MaxReplicaLag: time.Second, Replicas: []string{"u:p@tcp(127.0.0.1:1)/"}}, nil)
	require.NoError(t, err)
	defer gone.Close()
	err = gone.Throttle(t.Context(), "t")
	require.ErrorIs(t, err, migrate.ErrConnect)
	require.True(t, errors.As(err, &ee))
	assert.Equal(t, "127.0.0.1:1", ee.Endpoint)

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
	l := unlimitedThrottler(t)
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

// unlimitedThrottler is a LoadThrottler with no limit, for Pause and
// Resume, closed when the test ends.
func unlimitedThrottler(t *testing.T) *migrate.LoadThrottler {
	t.Helper()
	l, err := migrate.NewLoadThrottler(servers[0].DSN(""), migrate.LoadLimits{}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

// progressLog keeps the progress reports of a run, for a test to wait for
// one.
type progressLog struct {
	mu   sync.Mutex
	seen []migrate.Progress
}

func (l *progressLog) add(p migrate.Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, p)
}

// await waits, at most a minute, for a report that match accepts, or for
// the run to end (done), which fails the test.
func (l *progressLog) await(t *testing.T, done <-chan error, what string, match func(migrate.Progress) bool) migrate.Progress {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for seen := 0; time.Now().Before(deadline); {
		l.mu.Lock()
		for ; seen < len(l.seen); seen++ {
			if p := l.seen[seen]; match(p) {
				l.mu.Unlock()
				return p
			}
		}
		l.mu.Unlock()
		select {
		case err := <-done:
			t.Fatalf("Run ended (%v) before the progress showed %s", err, what)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no progress showed %s within a minute", what)
	return migrate.Progress{}
}

// TestOnlineAlterThrottlesCatchUp: a LoadThrottler paused when the
// catch-up starts holds the table's changes from the shadow (rows
// written meanwhile do not reach it; the progress says "paused") until
// Resume; the change then finishes with them.
func TestOnlineAlterThrottlesCatchUp(t *testing.T) {
	ctx := t.Context()
	dbName := sandboxtest.NewDatabase(t, servers[0], "osccu")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL)", "INSERT INTO t SELECT seq, seq FROM seq_1_to_1000")
	l := unlimitedThrottler(t)
	a, err := migrate.NewOnlineAlter(servers[0].DSN(""), dbName, "t", "MODIFY n BIGINT NOT NULL", migrate.WithThrottler(l), migrate.WithDropOld())
	require.NoError(t, err)
	catchingUp := make(chan struct{})
	migrate.SetOnlineAlterHook(a, func(point string) {
		if point == "catching-up" {
			l.Pause()
			close(catchingUp)
		}
	})
	var progress progressLog
	done := make(chan error, 1)
	go func() { _, err := a.Run(ctx, progress.add); done <- err }()
	select {
	case <-catchingUp:
	case err := <-done:
		t.Fatalf("Run ended before the catch-up: %v", err)
	}
	sandboxtest.Exec(t, db, "INSERT INTO t SELECT seq, seq FROM seq_1001_to_1100", "UPDATE t SET n = 0 WHERE id <= 10")
	progress.await(t, done, "the catch-up paused", func(p migrate.Progress) bool {
		return p.Phase == migrate.PhaseCatchingUp && p.Throttled == "paused"
	})
	time.Sleep(300 * time.Millisecond) // a stream that ignored the pause would have applied the rows by now
	var applied int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM _t_new WHERE id > 1000 OR n = 0").Scan(&applied))
	assert.Zero(t, applied, "changes applied to the shadow while paused")
	assert.Equal(t, migrate.PhaseCatchingUp, a.Phase())
	l.Resume()
	require.NoError(t, <-done)
	assert.Equal(t, 1100, count(t, db, "t"))
	var zeroed int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM t WHERE n = 0").Scan(&zeroed))
	assert.Equal(t, 10, zeroed)
}

// TestOnlineAlterReplicaLag: with a real replica of the server
// (sandboxtest.StartReplica) lagging more than MaxReplicaLag (its SQL
// thread waits for a table lock taken on the replica), a LoadThrottler
// holds the OnlineAlter's copy from its first chunk, the progress saying
// why; once the lock is released and the replica caught up, the copy goes
// on and the change finishes, and the replica holds the changed table.
func TestOnlineAlterReplicaLag(t *testing.T) {
	ctx := t.Context()
	dbName := sandboxtest.NewDatabase(t, servers[0], "osclag")
	replica := sandboxtest.StartReplica(t, servers[0], dbName)
	db := sandboxtest.Open(t, servers[0], dbName)
	rdb := sandboxtest.Open(t, replica, dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL)", "INSERT INTO t SELECT seq, seq FROM seq_1_to_3000")
	waitReplica(t, rdb, "the table's rows", "SELECT COUNT(*) = 3000 FROM t")

	lock, err := rdb.Conn(ctx)
	require.NoError(t, err)
	defer lock.Close()
	_, err = lock.ExecContext(ctx, "LOCK TABLES t READ")
	require.NoError(t, err)
	sandboxtest.Exec(t, db, "UPDATE t SET n = 0 WHERE id = 1")
	l, err := migrate.NewLoadThrottler(servers[0].DSN(""), migrate.LoadLimits{MaxReplicaLag: time.Second, Replicas: []string{replica.DSN("")}, Interval: 100 * time.Millisecond}, nil)
	require.NoError(t, err)
	defer l.Close()
	for deadline := time.Now().Add(time.Minute); ; {
		if lag := replicaLag(t, rdb); lag >= 2 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the replica does not lag")
		time.Sleep(100 * time.Millisecond)
	}

	a, err := migrate.NewOnlineAlter(servers[0].DSN(""), dbName, "t", "MODIFY n BIGINT NOT NULL", migrate.WithChunkRows(500), migrate.WithThrottler(l), migrate.WithDropOld())
	require.NoError(t, err)
	var progress progressLog
	done := make(chan error, 1)
	go func() { _, err := a.Run(ctx, progress.add); done <- err }()
	p := progress.await(t, done, "the copy held on the replica's lag", func(p migrate.Progress) bool {
		return p.Phase == migrate.PhaseCopying && p.Throttled != ""
	})
	assert.Regexp(t, `^replica `+regexp.QuoteMeta(replica.Addr())+`: lag [0-9hms]+ above 1s$`, p.Throttled)
	assert.Zero(t, count(t, db, "_t_new"), "rows copied while the replica lagged")
	assert.Zero(t, p.Rows)

	_, err = lock.ExecContext(ctx, "UNLOCK TABLES")
	require.NoError(t, err)
	progress.await(t, done, "the copy going on", func(p migrate.Progress) bool {
		return p.Phase == migrate.PhaseCopying && p.Throttled == "" && p.Rows > 0
	})
	require.NoError(t, <-done)
	assert.Equal(t, 3000, count(t, db, "t"))
	waitReplica(t, rdb, "the changed table", "SELECT COUNT(*) = 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't' AND COLUMN_NAME = 'n' AND DATA_TYPE = 'bigint'")
	waitReplica(t, rdb, "the rows", "SELECT COUNT(*) = 3000 AND SUM(n = 0) = 1 FROM t")
}

// waitReplica waits, at most a minute, until query returns true on the
// replica db.
func waitReplica(t *testing.T, db *sql.DB, what, query string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; {
		var ok sql.NullBool
		err := db.QueryRow(query).Scan(&ok)
		if err == nil && ok.Bool {
			return
		}
		require.True(t, time.Now().Before(deadline), "the replica does not have %s (%v)", what, err)
		time.Sleep(50 * time.Millisecond)
	}
}

// replicaLag is the replica's Seconds_Behind_Master, -1 when unknown.
func replicaLag(t *testing.T, db *sql.DB) int {
	t.Helper()
	rows, err := db.Query("SHOW SLAVE STATUS")
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	require.True(t, rows.Next(), "the replica replicates from nothing")
	vals := make([]sql.NullInt64, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = new(sql.RawBytes)
		if cols[i] == "Seconds_Behind_Master" {
			ptrs[i] = &vals[i]
		}
	}
	require.NoError(t, rows.Scan(ptrs...))
	for i, c := range cols {
		if c == "Seconds_Behind_Master" {
			if !vals[i].Valid {
				return -1
			}
			return int(vals[i].Int64)
		}
	}
	t.Fatal("SHOW SLAVE STATUS has no Seconds_Behind_Master")
	return 0
}
