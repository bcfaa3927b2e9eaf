package copyengine

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/shiftgate/shiftgate/internal/keyset"
)

// Sampled is what Sample read: the rows, their bytes as the batch encoded
// them, and how long reading them took.
type Sampled struct {
	Rows, Bytes int64
	Took        time.Duration
	// End says that the sample reached the end of the table.
	End bool
}

// Sample reads t from the start of its key range the way Run reads it
// (the same chunk queries, sizes and encoding into b) on conn, until it
// has read for at least d, has read maxBytes, or reached the end of the
// table; no chunk is larger than maxBytes. It only reads: each chunk is a
// plain SELECT in the connection's own transaction mode, and nothing is
// written. It is how a dry run measures the copy's read rate. t must have
// a key and a Sizer; its counters are changed, so t must not be copied
// afterwards. cfg.Pace and cfg.Wrote are not called.
func Sample(ctx context.Context, cfg Config, conn *sql.Conn, t *Table, b Batch, d time.Duration, maxBytes int64) (Sampled, error) {
	if t.Keyless {
		return Sampled{}, errors.New("a keyless table is read in one chunk, not sampled")
	}
	cfg.ChunkBytes = min(cfg.ChunkBytes, maxBytes)
	cfg.Pace = nil
	seg := &Segment{Table: t}
	var from keyset.Values
	var s Sampled
	start := time.Now()
	for {
		ch, err := read(ctx, &cfg, conn, seg, from, b)
		if err != nil {
			return s, err
		}
		s.Rows += int64(ch.Rows)
		s.Bytes += int64(b.Len())
		if cfg.ChunkRows == 0 {
			t.observe(ch.Rows, ch.took)
		}
		s.Took, s.End = time.Since(start), ch.Final
		if ch.Final || s.Took >= d || s.Bytes >= maxBytes {
			return s, nil
		}
		from = ch.Last
	}
}
