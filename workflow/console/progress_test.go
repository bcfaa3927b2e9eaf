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
