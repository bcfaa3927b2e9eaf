package migrate_test

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// TestOnlineAlterLeftoverShadow kills the online alter, running as a
// child process, with SIGKILL after it created the shadow table and
// before it recorded its checkpoint's position: right after the CREATE
// (the shadow carries the change's marker) and right after the ALTER
// clause ran on it (a clause that sets the table's comment overwrites the
// marker; the run recorded before the CREATE tells the shadow is the
// change's). The next Plan recognises the shadow as the change's own and
// says it drops it, the next Run starts over and finishes: the table
// equals a native ALTER's, comment included (the marker is gone).
func TestOnlineAlterLeftoverShadow(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a child process")
	}
	for _, tc := range []struct{ clause, hold string }{
		{"MODIFY n BIGINT NOT NULL, ADD INDEX n_v (n, v)", "shadow-created"},
		{"ADD COLUMN w INT NULL, COMMENT = 'the new one''s'", "shadow-created"},
		{"ADD COLUMN w INT NULL, COMMENT = 'the new one''s'", "shadow-altered"},
	} {
		t.Run(tc.hold+" "+tc.clause, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			c := alterCase{create: `CREATE TABLE %s (id INT PRIMARY KEY, n INT NOT NULL, v VARCHAR(20)) COMMENT 'it''s the \\ table'`,
				fill: "INSERT INTO %s SELECT seq, seq %% 7, CONCAT('v', seq) FROM seq_1_to_5000", clause: tc.clause}
			dbName, db := createAlterCase(t, c)
			spec := alterSpec{DSN: servers[0].DSN(""), Database: dbName, Clause: c.clause, HoldAt: tc.hold}
			cmd, out, exited := startAlterChild(t, ctx, spec)
			waitHeld(t, out, exited)
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			<-exited

			var n int
			require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = '_t_new'", dbName).Scan(&n))
			require.Equal(t, 1, n, "the killed run left no shadow")

			a, err := migrate.NewOnlineAlter(spec.DSN, dbName, "t", c.clause, alterOptions()...)
			require.NoError(t, err)
			plan, err := a.Plan(ctx)
			require.NoError(t, err, "Plan with the killed run's shadow")
			assert.Empty(t, plan.Alter.Resume)
			assert.Contains(t, strings.Join(plan.Steps, "\n"), "drop _t_new")
			rep, err := a.Run(ctx, nil)
			require.NoError(t, err, "the run after the kill")
			assert.False(t, rep.Resumed)
			var rows int
			require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM t").Scan(&rows))
			assert.Equal(t, 5000, rows)
			assertNativeDefinition(t, db, c.clause) // comment included
			assert.Zero(t, alterRunsLeft(t, dbName))
		})
	}
}

// TestOnlineAlterForeignShadow: a table of someone else's under the
// shadow's name, without the change's marker, is refused by Plan and Run
// and left alone by Abort.
func TestOnlineAlterForeignShadow(t *testing.T) {
	ctx := t.Context()
	dbName := sandboxtest.NewDatabase(t, servers[0], "oscfs")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, n INT)", "INSERT INTO t SELECT seq, seq FROM seq_1_to_100",
		"CREATE TABLE _t_new (id INT PRIMARY KEY, n INT) COMMENT 'mine'", "INSERT INTO _t_new VALUES (1, 1)")
	a, err := migrate.NewOnlineAlter(servers[0].DSN(""), dbName, "t", "ADD COLUMN c INT")
	require.NoError(t, err)
	_, err = a.Plan(ctx)
	require.ErrorIs(t, err, migrate.ErrNotEmpty)
	_, err = a.Run(ctx, nil)
	require.ErrorIs(t, err, migrate.ErrNotEmpty)
	require.NoError(t, a.Abort(ctx))
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM _t_new").Scan(&n), "Abort dropped someone else's table")
	assert.Equal(t, 1, n)
}
