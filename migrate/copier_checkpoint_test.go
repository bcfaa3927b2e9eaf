package migrate_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// TestCopierRefusesACheckpointOfANewerVersion interrupts a copy, then marks
// its checkpoint database as written by a newer version: the Copier's Plan
// and Run refuse it, naming the database and the versions, even with
// WithReplace, and change nothing; once the version is one it knows, the
// copy resumes.
func TestCopierRefusesACheckpointOfANewerVersion(t *testing.T) {
	ctx := context.Background()
	src, _ := newSample(t)
	dst := targetName(t, servers[1])
	cp := dst + "_cp"
	interruptCopy(t, src, dst)
	cpDB := sandboxtest.Open(t, servers[1], cp)
	sandboxtest.Exec(t, cpDB, "INSERT INTO schema_version VALUES (99, '0099_future.sql', NOW(6))")
	rowsBefore, stateBefore := checkpointRows(t, cp, dst)
	require.Positive(t, rowsBefore)

	for _, opts := range [][]migrate.CopierOption{nil, {migrate.WithReplace()}} {
		c := newCopier(t, src, servers[1], dst, opts...)
		_, err := c.Plan(ctx)
		require.ErrorIs(t, err, migrate.ErrCheckpointVersion)
		for _, part := range []string{"`" + cp + "`", "99 (0099_future.sql)", "newer than this library's"} {
			assert.Contains(t, err.Error(), part)
		}
		_, err = c.Run(ctx, nil)
		require.ErrorIs(t, err, migrate.ErrCheckpointVersion)
		rows, state := checkpointRows(t, cp, dst)
		assert.Equal(t, [2]any{rowsBefore, stateBefore}, [2]any{rows, state}, "the refused run changed the checkpoint")
	}

	sandboxtest.Exec(t, cpDB, "DELETE FROM schema_version WHERE version = 99")
	report, err := newCopier(t, src, servers[1], dst).Run(ctx, nil)
	require.NoError(t, err)
	assert.True(t, report.Resumed)
	assertCopied(t, src, servers[1], dst)
}
