package migrate

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The guard admits one holder at a time, and a context already done
// leaves it free.
func TestRunGuard(t *testing.T) {
	var g runGuard
	require.NoError(t, g.enter(t.Context(), "copier shop"))
	assert.True(t, g.busy())
	err := g.enter(t.Context(), "copier shop")
	require.ErrorIs(t, err, ErrRunning)
	assert.Equal(t, "migrate: copier shop: executor is already running", err.Error())
	g.leave()
	assert.False(t, g.busy())

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = g.enter(ctx, "copier shop")
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, "migrate: copier shop: nothing changed: context canceled", err.Error())
	assert.False(t, g.busy(), "a refused enter holds nothing")
	require.NoError(t, g.enter(t.Context(), "copier shop"))
}
