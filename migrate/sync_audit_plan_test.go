package migrate_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// TestSyncAuditPlanRefusesBinlogOff: Plan refuses a source without a
// binary log, naming the server and log_bin, and Run refuses it before it
// creates anything on the target.
func TestSyncAuditPlanRefusesBinlogOff(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	src, err := sandbox.Start(ctx, sandbox.Options{BaseDir: t.TempDir(), BufferPool: "64M", ExtraArgs: []string{"--skip-log-bin"}})
	if err != nil && servers[0].Dir() == "" {
		t.Skipf("this machine cannot start a server without a binary log: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, src.Close()) })
	const name = "shop"
	sandboxtest.Exec(t, sandboxtest.Open(t, src, ""), "CREATE DATABASE "+name)
	seedSyncTables(t, sandboxtest.Open(t, src, name))
	target := sandboxtest.NewDatabase(t, servers[1], "auditnobinlog")
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[1], ""), "DROP DATABASE `"+target+"`")

	s, err := migrate.NewSync(src.DSN(""), servers[1].DSN(""), name, migrate.WithTargetDatabase(target))
	require.NoError(t, err)
	_, err = s.Plan(ctx)
	require.ErrorIs(t, err, migrate.ErrBinlogSettings)
	assert.Contains(t, err.Error(), "log_bin")
	assert.Contains(t, err.Error(), src.Addr())
	_, err = s.Run(ctx, nil)
	require.ErrorIs(t, err, migrate.ErrBinlogSettings)
	var n int
	require.NoError(t, sandboxtest.Open(t, servers[1], "").QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", target).Scan(&n))
	assert.Zero(t, n, "Run created the target before refusing")
}

// TestSyncAuditPlanContents: Plan names every moved table with its key,
// the account(s) whose writes the cutover stops and how, the binary log's
// retention against the copy (its size, and its least time under a rate
// limit), and the steps. Not parallel: it changes the
// source's binlog_expire_logs_seconds.
func TestSyncAuditPlanContents(t *testing.T) {
	ctx := t.Context()
	name := sandboxtest.NewDatabase(t, servers[0], "auditplan")
	seedSyncTables(t, sandboxtest.Open(t, servers[0], name))
	user, _ := appAccount(t, name)
	setRetention(t, 7200)

	s, err := migrate.NewSync(servers[0].DSN(""), servers[1].DSN(""), name, migrate.WithTargetDatabase(name+"_t"),
		migrate.WithFence(migrate.FenceAccounts, user+"@%"), migrate.WithDrainWait(7*time.Second, true))
	require.NoError(t, err)
	plan, err := s.Plan(ctx)
	require.NoError(t, err)
	keys := map[string]string{}
	for _, tp := range plan.Tables {
		keys[tp.Name] = strings.Join(tp.Key, ",")
	}
	assert.Equal(t, map[string]string{"acct": "id", "items": "id", "counter": "id"}, keys)
	locks := strings.Join(plan.Locks, "\n")
	assert.Contains(t, locks, "`"+user+"`@`%`")
	assert.Contains(t, locks, "revoked")
	assert.Contains(t, locks, "up to 7s for their sessions to finish, then killed")
	steps := strings.Join(plan.Steps, "\n")
	assert.Contains(t, steps, "keeps binary logs for 2h0m0s")
	assert.Contains(t, steps, "stop writes on the source")
	assert.NotContains(t, steps, "takes at least", "a copy time without a rate limit")

	// A rate limit gives the least copy time, compared with the retention.
	var rows int64
	for _, tp := range plan.Tables {
		rows += tp.Rows
	}
	require.Positive(t, rows, "row estimates")
	for _, c := range []struct {
		rate float64
		want string
	}{
		{float64(rows) / 60, "takes at least 1m0s"},
		{float64(rows) / 3 / 3600, "takes at least 3h0m0s, longer than the retention"},
	} {
		s, err := migrate.NewSync(servers[0].DSN(""), servers[1].DSN(""), name, migrate.WithTargetDatabase(name+"_t"), migrate.WithRateLimit(c.rate, 0))
		require.NoError(t, err)
		plan, err := s.Plan(ctx)
		require.NoError(t, err)
		steps := strings.Join(plan.Steps, "\n")
		assert.Contains(t, steps, c.want)
		assert.Equal(t, strings.Contains(c.want, "longer"), strings.Contains(steps, "longer than the retention"), steps)
	}
}

// TestSyncAuditCutoverKillsTheAccountsSessions: with WithDrainWait(d, true)
// a session of the fenced account that holds an open transaction on a
// moved table when the drain's wait ends is killed, and the cutover goes
// through: its uncommitted write is on neither side, its commit fails, the
// target verifies clean, and the cutover's report counts the session and
// names its account.
func TestSyncAuditCutoverKillsTheAccountsSessions(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	s, name, target, errc, user, appDB := auditAccountSync(t, ctx, "auditkill", func(user string) []migrate.SyncOption {
		return []migrate.SyncOption{migrate.WithFence(migrate.FenceAccounts, user+"@%"), migrate.WithDrainWait(time.Second, true)}
	})
	grants := showGrants(t, user)

	tx, err := appDB.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, "UPDATE counter SET n = n + 100 WHERE id = 1")
	require.NoError(t, err)
	rep := auditCutover(t, ctx, s, name, target, errc)
	assert.Equal(t, 1, rep.DrainKilled, "sessions the drain killed")
	assert.Equal(t, []string{user}, rep.DrainKilledAccounts)
	assert.Error(t, tx.Commit(), "the killed session's commit")
	for srv, db := range []string{name, target} {
		var n int64
		require.NoError(t, sandboxtest.Open(t, servers[srv], db).QueryRow("SELECT n FROM counter WHERE id = 1").Scan(&n))
		assert.Zero(t, n, "the killed transaction's write on server %d", srv)
	}
	assert.ElementsMatch(t, grants, showGrants(t, user), "the application's grants after the cutover")
}

// holdTargetTable locks database.table on the target with LOCK TABLES ...
// WRITE from a session of its own, so that the sync's applier waits; the
// returned func releases it.
func holdTargetTable(t *testing.T, ctx context.Context, database, table string) (release func()) {
	t.Helper()
	return holdTable(t, ctx, servers[1], database, table)
}

// TestSyncAuditCutoverRefusedAboveMaxLag: while the target lags (its
// applier waits for a lock) by more than WithMaxLag, the sync is back to
// catching up, its progress shows the lag in time and in transactions,
// and Cutover is refused with ErrNotInSync, fencing nothing; once the
// target caught up (no transaction behind), the cutover goes through.
func TestSyncAuditCutoverRefusedAboveMaxLag(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var last atomic.Pointer[migrate.Progress]
	s, name, target, errc := auditSync(t, ctx, "auditlag", seedSyncTables, func(string) []migrate.SyncOption {
		return []migrate.SyncOption{migrate.WithMaxLag(300 * time.Millisecond), migrate.WithProgressInterval(50 * time.Millisecond)}
	}, func(p migrate.Progress) { last.Store(&p) })
	// reported waits for a progress report that ok accepts.
	reported := func(what string, ok func(p migrate.Progress) bool) migrate.Progress {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			if p := last.Load(); p != nil && ok(*p) {
				return *p
			}
			require.True(t, time.Now().Before(deadline), "no progress %s; last %+v", what, last.Load())
		}
	}
	release := holdTargetTable(t, ctx, target, "counter")
	src := sandboxtest.Open(t, servers[0], name)
	sandboxtest.Exec(t, src, "UPDATE counter SET n = 1 WHERE id = 1", "UPDATE counter SET n = 2 WHERE id = 1")
	waitPhase(t, s, migrate.PhaseCatchingUp, nil)
	p := reported("of the lag", func(p migrate.Progress) bool { return p.Phase == migrate.PhaseCatchingUp && p.LagTxns >= 2 })
	assert.Greater(t, p.Lag, 300*time.Millisecond, "lag while catching up")
	_, err := s.Cutover(ctx)
	require.ErrorIs(t, err, migrate.ErrNotInSync)
	_, err = src.Exec("UPDATE counter SET n = 3 WHERE id = 1")
	require.NoError(t, err, "the source is writable after the refused cutover")
	release()
	reported("in sync", func(p migrate.Progress) bool { return p.Phase == migrate.PhaseInSync && p.LagTxns == 0 })
	auditCutover(t, ctx, s, name, target, errc)
}

// TestSyncAuditCutoverCatchUpTimeout: a cutover whose target does not
// catch up within WithCutoverTimeout fails, restores the application's
// grants, and leaves the sync running; the next cutover, the target free
// again, goes through.
func TestSyncAuditCutoverCatchUpTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	s, name, target, errc, user, appDB := auditAccountSync(t, ctx, "audittimeout", func(user string) []migrate.SyncOption {
		return []migrate.SyncOption{migrate.WithMaxLag(time.Hour), migrate.WithCutoverTimeout(time.Second),
			migrate.WithFence(migrate.FenceAccounts, user+"@%"), migrate.WithDrainWait(5*time.Second, false)}
	})
	grants := showGrants(t, user)
	release := holdTargetTable(t, ctx, target, "counter")
	_, err := appDB.ExecContext(ctx, "UPDATE counter SET n = 1 WHERE id = 1")
	require.NoError(t, err)
	_, err = s.Cutover(ctx)
	require.Error(t, err)
	t.Logf("cutover: %v", err)
	assert.ErrorIs(t, err, migrate.ErrCatchUpTimeout)
	assert.Contains(t, err.Error(), "did not apply")
	assert.Equal(t, migrate.PhaseInSync, s.Phase())
	assert.ElementsMatch(t, grants, showGrants(t, user), "grants after the failed cutover")
	_, err = appDB.ExecContext(ctx, "UPDATE counter SET n = 2 WHERE id = 1")
	require.NoError(t, err, "the application writes after the failed cutover")
	release()
	auditCutover(t, ctx, s, name, target, errc)
}
