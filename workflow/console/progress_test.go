package console

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/shiftgate/shiftgate/migrate"
)

// TestProgressOfOnlineAlter: a SQL change whose ALTER runs online shows
// the change's phase, rows, rate, ETA and lag, its bar counting
// statements.
func TestProgressOfOnlineAlter(t *testing.T) {
	p := progressOf(&migrate.Progress{TablesDone: 1, TablesTotal: 4, Phase: migrate.PhaseCatchingUp, Rows: 1500, RowsEstimate: 3000,
		RowsPerSecond: 750, ETA: 2 * time.Second, Lag: 120 * time.Millisecond}, true)
	assert.Equal(t, "1 of 4 statements done; online ALTER catching up: 1500 of about 3000 row(s) copied, 750 rows/s, ETA 2s, lag 120ms", p.Text)
	assert.InDelta(t, 25, p.Percent, 0.01)
	p = progressOf(&migrate.Progress{TablesDone: 1, TablesTotal: 2, Rows: 7}, true)
	assert.Equal(t, "1 of 2 statements done, 7 row(s)", p.Text)
}

// TestProgressOfLiveMove: a live move past its copy shows its lag in time
// and in transactions.
func TestProgressOfLiveMove(t *testing.T) {
	p := progressOf(&migrate.Progress{Phase: migrate.PhaseInSync, Lag: 1500 * time.Millisecond, LagTxns: 12, AppliedRows: 40, AppliedTxns: 9}, false)
	assert.Equal(t, "in sync: 40 row change(s) in 9 transaction(s) applied, lag 1.5s (12 transaction(s) behind)", p.Text)
	assert.Equal(t, int64(12), p.LagTxns)
	assert.Equal(t, int64(1500), p.LagMS)
}
