package migrate

import (
	"context"
	"fmt"
	"time"

	"github.com/shiftgate/shiftgate/internal/copyengine"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// The dry run's read sample: about this long and at most this many bytes,
// from the largest table with a key, given up after sampleTimeout.
const (
	sampleTime    = time.Second
	sampleBytes   = 4 << 20
	sampleTimeout = 10 * sampleTime
)

// copyEstimate is the expected time of a copy, measured by the dry run.
type copyEstimate struct {
	// took is the expected copy time; 0 when it is unavailable.
	took time.Duration
	// basis says how took was measured, or why it is unavailable.
	basis string
}

// step is the estimate as a step of a Plan.
func (e copyEstimate) step() string {
	if e.took == 0 {
		return "expected copy time: unavailable: " + e.basis
	}
	return fmt.Sprintf("expected copy time: %s (an estimate: %s)", formatEstimate(e.took), e.basis)
}

// formatEstimate says an estimated d for people: "about" d to the
// second, or "under 1s".
func formatEstimate(d time.Duration) string {
	if d < time.Second {
		return "under 1s"
	}
	return "about " + d.Round(time.Second).String()
}

// estimate measures the read rate of the copy on the largest of the
// selected tables that has a key (copyengine.Sample on a connection of the
// survey: plain SELECTs, no lock beyond theirs, nothing written) and
// extrapolates it to the tables' data size in information_schema. The
// target's write rate is not measured: a dry run changes nothing there.
// A failure makes the estimate unavailable, never the plan: the reason is
// in the basis.
func (c *Copier) estimate(ctx context.Context, s *survey, facts *copierFacts) copyEstimate {
	var rows, total int64
	var largest *copyTable
	for _, ct := range facts.tables {
		rows, total = rows+ct.def.Rows, total+ct.def.DataLength
		if !ct.keyless && len(ct.key.Columns) > 0 && (largest == nil || ct.def.DataLength > largest.def.DataLength) {
			largest = ct
		}
	}
	if largest == nil {
		return copyEstimate{basis: "no selected table has a key to sample"}
	}
	name := schema.QualifiedName(c.database, largest.def.Name)
	ctx, cancel := context.WithTimeout(ctx, sampleTimeout)
	defer cancel()
	conn, err := s.src.Conn(ctx)
	if err != nil {
		return copyEstimate{basis: fmt.Sprintf("the source cannot be read to sample %s: %v", name, err)}
	}
	defer conn.Close()
	tr := c.newTableRun(largest, facts.method)
	batch := &copierBatch{runs: map[*copyengine.Table]*tableRun{tr.Table: tr}}
	cfg := copyengine.Config{ChunkBytes: c.chunkBytes(), ChunkRows: c.cfg.chunkRows,
		SourceError: func(object string, err error) error { return fmt.Errorf("%s: %w", object, err) }}
	got, err := copyengine.Sample(ctx, cfg, conn, tr.Table, batch, sampleTime, sampleBytes)
	switch {
	case err != nil:
		return copyEstimate{basis: fmt.Sprintf("reading a sample of %s failed: %v", name, err)}
	case got.Rows == 0:
		return copyEstimate{basis: fmt.Sprintf("the largest table with a key, %s, has no rows to sample", name)}
	case total <= 0:
		return copyEstimate{basis: "information_schema sizes the tables at 0 bytes: there is nothing to extrapolate to"}
	}
	// The rate in information_schema's bytes, which the total counts: the
	// rows read times the table's average row length there (or the bytes
	// the copy encoded when it has none).
	perRow := float64(got.Bytes) / float64(got.Rows)
	if d := largest.def; d.Rows > 0 && d.DataLength > 0 {
		perRow = float64(d.DataLength) / float64(d.Rows)
	}
	rate := float64(got.Rows) * perRow / max(got.Took.Seconds(), 1e-6)
	e := copyEstimate{took: max(time.Millisecond, time.Duration(float64(total)/rate*float64(time.Second))), basis: fmt.Sprintf(
		"%s of table data at ~%.1f MiB/s read from %s for %.2f s (%d rows, one reader, the copy's chunk queries); the copy reads with %d thread(s), but the target's write rate is not measured (a dry run writes nothing there), so the copy may take longer",
		formatBytes(total), rate/(1<<20), name, got.Took.Seconds(), got.Rows, c.cfg.threads)}
	if least := c.cfg.leastCopyTime(rows, total); least > e.took {
		e.took = least
		e.basis += fmt.Sprintf("; WithRateLimit holds it to at least %s", formatEstimate(least))
	}
	return e
}

// leastCopyTime is the least time a copy of rows rows and data bytes of
// table data takes under WithRateLimit; 0 without a limit.
func (c *config) leastCopyTime(rows, data int64) time.Duration {
	var least time.Duration
	if r := c.rowsPerSecond; r > 0 {
		least = time.Duration(float64(rows) / r * float64(time.Second))
	}
	if r := c.bytesPerSecond; r > 0 {
		least = max(least, time.Duration(float64(data)/r*float64(time.Second)))
	}
	return least
}
