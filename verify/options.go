package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Option configures a Verifier. Options validate their arguments; New
// returns the first error.
type Option func(*config) error

// SnapshotMode says how Verify reads both sides at one quiet point.
type SnapshotMode int

const (
	// SnapshotNone reads each chunk when its turn comes (the default): fine
	// for data at rest; with writes going on, use WithRecheck.
	SnapshotNone SnapshotMode = iota
	// SnapshotQuiesced opens a consistent-snapshot, read-only transaction on
	// every reading connection of both sides before the first chunk. The
	// caller guarantees that neither side changes while Verify starts (for
	// example writes are stopped and the target has caught up); Verify then
	// compares that point however long it runs, while writes resume.
	SnapshotQuiesced
	// SnapshotLocked is SnapshotQuiesced with the quiet point made by
	// Verify: it takes FLUSH TABLES WITH READ LOCK on the source and then on
	// the target, opens the snapshots and unlocks both, blocking writes for
	// the few milliseconds that takes (plus the wait for running statements
	// to finish, bounded by lock_wait_timeout = 10 s). It needs the RELOAD
	// privilege on both sides. Both sides are at one point only if nothing
	// was in flight between them (no replication lag).
	SnapshotLocked
)

func (s SnapshotMode) String() string {
	switch s {
	case SnapshotNone:
		return "none"
	case SnapshotQuiesced:
		return "quiesced"
	case SnapshotLocked:
		return "locked"
	}
	return fmt.Sprintf("SnapshotMode(%d)", int(s))
}

type config struct {
	logger      *slog.Logger
	parallel    int
	chunkTime   time.Duration
	chunkRows   [3]int // start, min, max
	leafRows    int
	tolerance   float64
	sampleLimit int
	snapshot    SnapshotMode
	recheck     time.Duration
	attempts    int
	batchRows   int
	exactChunks bool
	wholeRows   int64
	opened      func()
	quiet       func(context.Context) error
	// wait waits out a recheck delay (sleep; tests replace it).
	wait func(ctx context.Context, d time.Duration) error
	// lacksCRC32C marks the pools whose servers the row hash probe
	// treats as lacking CRC32C() (tests; see withoutCRC32C).
	lacksCRC32C map[*sql.DB]bool
}

func defaultConfig() config {
	return config{
		logger:      slog.New(slog.DiscardHandler),
		parallel:    4,
		chunkTime:   250 * time.Millisecond,
		chunkRows:   [3]int{5000, 100, 1_000_000},
		leafRows:    2000,
		sampleLimit: 1000,
		batchRows:   200,
		wholeRows:   10_000_000,
		wait:        sleep,
	}
}

// WithLogger logs chunk and table progress to logger (debug and info
// levels). The default discards.
func WithLogger(logger *slog.Logger) Option {
	return func(c *config) error {
		if logger == nil {
			return errors.New("WithLogger: nil logger")
		}
		c.logger = logger
		return nil
	}
}

// WithParallelism checksums n chunks at a time (default 4), each on one
// connection per side.
func WithParallelism(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 64 {
			return fmt.Errorf("WithParallelism: %d is not between 1 and 64", n)
		}
		c.parallel = n
		return nil
	}
}

// WithChunkTime sizes chunks so that checksumming one takes about d
// (default 250ms), within WithChunkRowRange.
func WithChunkTime(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond {
			return fmt.Errorf("WithChunkTime: %v is below 1ms", d)
		}
		c.chunkTime = d
		return nil
	}
}

// WithChunkRowRange sets the rows of the first chunk of a table (default
// 5,000) and the bounds that chunk sizes adapted to WithChunkTime stay
// within (default 100 to 1,000,000).
func WithChunkRowRange(start, minRows, maxRows int) Option {
	return func(c *config) error {
		if minRows < 1 || maxRows < minRows || start < minRows || start > maxRows {
			return fmt.Errorf("WithChunkRowRange: want 1 <= min (%d) <= start (%d) <= max (%d)", minRows, start, maxRows)
		}
		c.chunkRows = [3]int{start, minRows, maxRows}
		return nil
	}
}

// WithFloatTolerance treats FLOAT and DOUBLE values as equal when they
// differ by at most tol (absolute). The default, 0, compares them exactly.
// DECIMAL values are always compared exactly.
func WithFloatTolerance(tol float64) Option {
	return func(c *config) error {
		if tol < 0 || math.IsNaN(tol) || math.IsInf(tol, 0) {
			return fmt.Errorf("WithFloatTolerance: %v is not a finite non-negative number", tol)
		}
		c.tolerance = tol
		return nil
	}
}

// WithSampleLimit keeps at most n differing rows per table in the report
// (default 1000); the counts are always complete. Repair repairs the rows
// kept, so with more differences than that it takes several rounds.
func WithSampleLimit(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("WithSampleLimit: %d is not positive", n)
		}
		c.sampleLimit = n
		return nil
	}
}

// WithSnapshot reads both sides at one quiet point; see SnapshotMode. It
// cannot be combined with WithRecheck: a snapshot does not change.
func WithSnapshot(s SnapshotMode) Option {
	return func(c *config) error {
		if s < SnapshotNone || s > SnapshotLocked {
			return fmt.Errorf("WithSnapshot: unknown mode %d", int(s))
		}
		c.snapshot = s
		return nil
	}
}

// WithSnapshotOpened calls f once Verify has opened the snapshots of
// SnapshotQuiesced, before it reads any row: from then on the caller may
// let writes resume (an online schema change unlocks its table there).
// Verify does not call it when it returns before opening them. Only with
// WithSnapshot(SnapshotQuiesced).
func WithSnapshotOpened(f func()) Option {
	return func(c *config) error {
		if f == nil {
			return errors.New("WithSnapshotOpened: nil function")
		}
		c.opened = f
		return nil
	}
}

// WithQuietPoint calls f once Verify has prepared its tables and opened
// its connections, right before it starts the snapshots of
// SnapshotQuiesced: f makes the quiet point (an online schema change locks
// its table and lets the shadow catch up), so that only the snapshots'
// start runs in it; WithSnapshotOpened then ends it. An error of f ends
// Verify, wrapped. Only with WithSnapshot(SnapshotQuiesced).
func WithQuietPoint(f func(context.Context) error) Option {
	return func(c *config) error {
		if f == nil {
			return errors.New("WithQuietPoint: nil function")
		}
		c.quiet = f
		return nil
	}
}

// WithRecheck re-examines a chunk found different after delay, up to
// attempts times, and looks into it only if it still differs every time;
// then its differing rows (up to the sample limit) are read once more after
// another delay and only those that still differ are reported, with their
// values at that last look. Rows that differed only because a write was on
// its way (replication lag, an in-flight dual write) are thus not
// reported; TableReport.Rechecked and SettledRows count them. It cannot be
// combined with WithSnapshot.
func WithRecheck(delay time.Duration, attempts int) Option {
	return func(c *config) error {
		if delay <= 0 || attempts < 1 {
			return fmt.Errorf("WithRecheck: delay %v and attempts %d must be positive", delay, attempts)
		}
		c.recheck, c.attempts = delay, attempts
		return nil
	}
}

// WithRepairBatch writes and applies repairs in transactions of at most n
// rows (default 200).
func WithRepairBatch(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("WithRepairBatch: %d is not positive", n)
		}
		c.batchRows = n
		return nil
	}
}

// WithWholeTables compares a table that the source's statistics put at no
// more than maxRows rows (default 10,000,000: a few seconds of one core)
// with one checksum query a side first, and cuts it into chunks only when
// the two differ (to find the rows) or it is larger. A whole-table query
// costs the servers about a sixth less CPU than the same rows in chunks,
// whose range conditions are checked row by row (4.2M rows: 1.44 s against
// 1.71 s on one core), and an equal table, the common case after a copy,
// needs nothing more; a table that differs costs one pass more. Chunks are
// still compared in parallel; whole tables in parallel with each other.
// Zero cuts every table into chunks from the start.
func WithWholeTables(maxRows int64) Option {
	return func(c *config) error {
		if maxRows < 0 {
			return fmt.Errorf("WithWholeTables: %d rows is negative", maxRows)
		}
		c.wholeRows = maxRows
		return nil
	}
}

// WithExactChunks cuts every table into chunks at keys read from the source
// (keyset.NextUpper, an index scan of each chunk's rows). By default a
// table whose row key starts with an integer column is cut by ranges of
// that column's values, sized from the rows per value seen so far, which
// reads nothing extra; chunks then vary in size where keys are unevenly
// spread.
func WithExactChunks() Option {
	return func(c *config) error { c.exactChunks = true; return nil }
}

// withWait replaces the recheck delay's sleep (tests).
func withWait(wait func(ctx context.Context, d time.Duration) error) Option {
	return func(c *config) error { c.wait = wait; return nil }
}

// withLeafRows sets the chunk size below which a differing chunk is
// compared row by row instead of split further (tests).
func withLeafRows(n int) Option {
	return func(c *config) error { c.leafRows = n; return nil }
}

// withoutCRC32C makes the row hash probe treat the servers of pools as
// lacking CRC32C(), as MySQL does (tests): it asks them for a function
// that does not exist instead.
func withoutCRC32C(pools ...*sql.DB) Option {
	return func(c *config) error {
		if c.lacksCRC32C == nil {
			c.lacksCRC32C = map[*sql.DB]bool{}
		}
		for _, p := range pools {
			c.lacksCRC32C[p] = true
		}
		return nil
	}
}
