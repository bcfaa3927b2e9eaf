package migrate_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// setRetention sets the source's binlog_expire_logs_seconds for the test
// and restores it after.
func setRetention(t *testing.T, seconds int) {
	t.Helper()
	root := sandboxtest.Open(t, servers[0], "")
	var old int64
	require.NoError(t, root.QueryRow("SELECT @@GLOBAL.binlog_expire_logs_seconds").Scan(&old))
	sandboxtest.Exec(t, root, fmt.Sprintf("SET GLOBAL binlog_expire_logs_seconds = %d", seconds))
	t.Cleanup(func() {
		if db, err := servers[0].Open(""); err == nil {
			_, _ = db.Exec("SET GLOBAL binlog_expire_logs_seconds = ?", old)
			db.Close()
		}
	})
}

// seedEstimated creates the sync's tables in database on the source, with
// their sizes in information_schema up to date: items is the largest.
func seedEstimated(t *testing.T, database string) {
	t.Helper()
	db := sandboxtest.Open(t, servers[0], database)
	seedSyncTables(t, db)
	sandboxtest.Exec(t, db, "ANALYZE TABLE acct, items, counter")
}

// sampleWaiting waits until a query reading database.items waits for the
// table's metadata lock on the source, and returns its connection id.
func sampleWaiting(t *testing.T, ctx context.Context, database string) int64 {
	t.Helper()
	root := sandboxtest.Open(t, servers[0], "")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		var id int64
		err := root.QueryRowContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE STATE = 'Waiting for table metadata lock' AND INFO LIKE ?",
			"%`"+database+"`.`items`%").Scan(&id)
		if err == nil {
			return id
		}
		require.ErrorIs(t, err, sql.ErrNoRows)
		require.True(t, time.Now().Before(deadline), "the plan's sample of items never waited for its lock")
	}
}

// holdTable locks database.table on srv with LOCK TABLES ... WRITE from
// a session of its own, so that a plain SELECT of it waits; the returned
// func releases it.
func holdTable(t *testing.T, ctx context.Context, srv *sandbox.Server, database, table string) (release func()) {
	t.Helper()
	c, err := sandboxtest.Open(t, srv, database).Conn(ctx)
	require.NoError(t, err)
	_, err = c.ExecContext(ctx, "LOCK TABLES `"+table+"` WRITE")
	require.NoError(t, err)
	released := false
	release = func() {
		if !released {
			released = true
			_, _ = c.ExecContext(context.WithoutCancel(ctx), "UNLOCK TABLES")
			_ = c.Close()
		}
	}
	t.Cleanup(release)
	return release
}

// planWhileSampleWaits runs the Sync's Plan of database while the source's
// items table is locked; once the Plan's sample of items waits for the
// lock, waiting is called with the sample's connection id, then the lock
// is released.
func planWhileSampleWaits(t *testing.T, ctx context.Context, database string, waiting func(id int64)) *migrate.Plan {
	t.Helper()
	release := holdTable(t, ctx, servers[0], database, "items")
	s, err := migrate.NewSync(servers[0].DSN(""), servers[1].DSN(""), database, migrate.WithTargetDatabase(database+"_t"))
	require.NoError(t, err)
	type result struct {
		plan *migrate.Plan
		err  error
	}
	done := make(chan result, 1)
	go func() {
		plan, err := s.Plan(ctx)
		done <- result{plan, err}
	}()
	waiting(sampleWaiting(t, ctx, database))
	release()
	r := <-done
	require.NoError(t, r.err)
	t.Log(strings.Join(r.plan.Steps, "\n"))
	return r.plan
}

// TestSyncPlanEstimatesCopyTime: without a rate limit, Plan (the Copier's
// and the Sync's) states the copy's expected time with its basis, a read
// sample of the largest table, and the Sync's binlog step compares it with
// the retention.
func TestSyncPlanEstimatesCopyTime(t *testing.T) {
	ctx := t.Context()
	name := sandboxtest.NewDatabase(t, servers[0], "planrate")
	seedEstimated(t, name)
	setRetention(t, 7200)

	c, err := migrate.NewCopier(servers[0].DSN(""), servers[1].DSN(""), name, migrate.WithTargetDatabase(name+"_t"))
	require.NoError(t, err)
	cplan, err := c.Plan(ctx)
	require.NoError(t, err)
	csteps := strings.Join(cplan.Steps, "\n")
	assert.Contains(t, csteps, "expected copy time: ")
	assert.Contains(t, csteps, "(an estimate: ")
	assert.Contains(t, csteps, "MiB/s read from `"+name+"`.`items` for ")

	s, err := migrate.NewSync(servers[0].DSN(""), servers[1].DSN(""), name, migrate.WithTargetDatabase(name+"_t"))
	require.NoError(t, err)
	plan, err := s.Plan(ctx)
	require.NoError(t, err)
	steps := strings.Join(plan.Steps, "\n")
	t.Log(steps)
	assert.Contains(t, steps, "(an estimate: ")
	assert.Contains(t, steps, "MiB/s read from `"+name+"`.`items` for ")
	assert.Contains(t, steps, "keeps binary logs for 2h0m0s")
	assert.Contains(t, steps, "is well within it")
	assert.NotContains(t, steps, "WARNING")

	// A rate limit that holds the copy to 1h30m, within 2x of the 2h
	// retention (the sample itself reads the little data in far less).
	var rows int64
	for _, tp := range plan.Tables {
		rows += tp.Rows
	}
	require.Positive(t, rows, "row estimates")
	s, err = migrate.NewSync(servers[0].DSN(""), servers[1].DSN(""), name, migrate.WithTargetDatabase(name+"_t"), migrate.WithRateLimit(float64(rows)/5400, 0))
	require.NoError(t, err)
	plan, err = s.Plan(ctx)
	require.NoError(t, err)
	steps = strings.Join(plan.Steps, "\n")
	assert.Contains(t, steps, "WithRateLimit holds it to at least about 1h30m0s")
	assert.Contains(t, steps, "WARNING: the expected copy time (about 1h30m0s, above) is within 2x of the retention")
}

// TestSyncPlanEstimateWhileSampleWaits: Plan's read sample of items waits
// for a lock the test holds.
//
// When the test holds it 2.5 s after the sample started waiting, the
// sample took at least that, and so does the estimate (which extrapolates
// the sample to more data): longer than the source's 1 s retention
// whatever the machine's speed, and the binlog step warns.
//
// When the test kills the sample's connection instead, Plan still succeeds
// and says that the expected copy time is unavailable and why.
func TestSyncPlanEstimateWhileSampleWaits(t *testing.T) {
	for _, c := range []struct {
		name      string
		retention int
		waiting   func(id int64)
		want      []string
		notWant   string
	}{
		{"warns", 1, func(int64) { time.Sleep(2500 * time.Millisecond) },
			[]string{"(an estimate: ", "keeps binary logs for 1s", "WARNING: the expected copy time", "is longer than the retention"}, "unavailable"},
		{"unavailable", 7200, func(id int64) {
			sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], ""), fmt.Sprintf("KILL %d", id))
		}, []string{"expected copy time: unavailable: reading a sample of `%s`.`items` failed", "the expected copy time is unavailable"}, "WARNING"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			name := sandboxtest.NewDatabase(t, servers[0], "planrate"+c.name)
			seedEstimated(t, name)
			setRetention(t, c.retention)
			steps := strings.Join(planWhileSampleWaits(t, ctx, name, c.waiting).Steps, "\n")
			for _, w := range c.want {
				assert.Contains(t, steps, strings.ReplaceAll(w, "%s", name))
			}
			assert.NotContains(t, steps, c.notWant)
		})
	}
}
