package migrate_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/migrate"
)

// TestCopierRefusesASecondCopyIntoItsDatabase holds the lock of a copy
// into the target database, as a running copy does: another copy there is
// refused with ErrRunning before it changes anything.
func TestCopierRefusesASecondCopyIntoItsDatabase(t *testing.T) {
	ctx := context.Background()
	src, _ := newSample(t)
	dst := targetName(t, servers[1])
	db, err := servers[1].Open("")
	require.NoError(t, err)
	defer db.Close()
	release, err := conn.Lock(ctx, db, "shiftgate.copy."+dst, 0)
	require.NoError(t, err)
	_, err = newCopier(t, src, servers[1], dst).Run(ctx, nil)
	require.ErrorIs(t, err, migrate.ErrRunning)
	assert.Contains(t, err.Error(), "another copy into this database")
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", dst).Scan(&n))
	assert.Zero(t, n, "the refused copy created the target database")

	release()
	_, err = newCopier(t, src, servers[1], dst).Run(ctx, nil)
	require.NoError(t, err)
}
