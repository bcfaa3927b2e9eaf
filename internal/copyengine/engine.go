package copyengine

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// Table is a source table being copied, and its progress.
type Table struct {
	// Database and Name name the source table.
	Database, Name string
	// Key is the key the chunks walk; Keyless tables are read in one chunk.
	Key     keyset.Key
	Keyless bool
	// SelectList is what a chunk's SELECT reads; KeyPos are the positions
	// of Key's columns in it (as the server returns them, not converted).
	SelectList string
	KeyPos     []int
	// Estimate is the table's estimated rows, AvgRowBytes information_schema's
	// average row length (0 if unknown).
	Estimate, AvgRowBytes int64
	// Sizer sizes the chunks when Config.ChunkRows is 0.
	Sizer *keyset.Sizer
	// Segments are the parts of the key range, as the checkpoint left them.
	Segments []*Segment

	rows, bytes, chunks atomic.Int64 // committed, earlier runs included
	// readRows and readBytes are what readers encoded in this run, chunks
	// not yet written included: the row width that sizes the next chunks.
	readRows, readBytes atomic.Int64
	startRows           int64        // committed before this run
	pending             atomic.Int32 // segments not done
	done                atomic.Bool
	mu                  sync.Mutex // guards Sizer
}

// Init sets t's counters from its segments' checkpointed progress and
// points the segments at t. Call it once, before Run.
func (t *Table) Init() {
	for _, s := range t.Segments {
		s.Table = t
		t.rows.Add(s.Rows)
		t.bytes.Add(s.Bytes)
		t.chunks.Add(s.Chunks)
		if !s.Done {
			t.pending.Add(1)
		}
	}
	t.startRows = t.rows.Load()
}

// Rows, Bytes and Chunks are what was committed so far, earlier runs
// included; StartRows what was committed before this run.
func (t *Table) Rows() int64      { return t.rows.Load() }
func (t *Table) Bytes() int64     { return t.bytes.Load() }
func (t *Table) Chunks() int64    { return t.chunks.Load() }
func (t *Table) StartRows() int64 { return t.startRows }

// Pending is the number of segments not done.
func (t *Table) Pending() int { return int(t.pending.Load()) }

// Done reports whether the writer finished the table (ThreadWriter.Finish).
func (t *Table) Done() bool { return t.done.Load() }

// QualifiedName is the table's quoted database.table.
func (t *Table) QualifiedName() string { return schema.QualifiedName(t.Database, t.Name) }

// limit is the row count of the next chunk: the sizer's (or the fixed
// size), or fewer when the rows are so wide that the chunk would pass the
// byte cap. A reader stops at the cap anyway, but the rows of the SELECT
// it does not take still cross the network, so the limit aims at 80% of
// it. Before any row of the table was read, the width is
// information_schema's estimate, and without one a first chunk probes
// with few rows.
func (t *Table) limit(fixed int, capBytes int64) int {
	t.mu.Lock()
	n := t.Sizer.Size()
	t.mu.Unlock()
	if fixed > 0 {
		n = fixed
	}
	avg := t.AvgRowBytes
	if rows := t.readRows.Load(); rows > 0 {
		avg = t.readBytes.Load() / rows
	} else if avg == 0 {
		return min(n, 16)
	}
	return int(min(int64(n), max(1, capBytes*4/5/max(1, avg))))
}

func (t *Table) observe(rows int, took time.Duration) {
	t.mu.Lock()
	t.Sizer.Observe(rows, took)
	t.mu.Unlock()
}

// Segment is one part of a table's key range and its progress. Lower is
// exclusive (nil: the start of the table), Upper inclusive (nil: the end),
// Last the key of the last row written (nil: none yet). Run updates Last,
// Done and the counters after each chunk a writer commits.
type Segment struct {
	Table               *Table
	Index               int
	Lower, Upper, Last  keyset.Values
	Rows, Bytes, Chunks int64
	Done                bool
}

// From is where the segment's next chunk starts.
func (s *Segment) From() keyset.Values {
	if s.Last != nil {
		return s.Last
	}
	return s.Lower
}

// Range is the part of the key range the segment has left.
func (s *Segment) Range() keyset.Range { return keyset.Range{Lower: s.From(), Upper: s.Upper} }

// CutSegments splits t's key range at keyset.NextUpper boundaries every
// segmentRows rows (more when the table would have more than eight
// segments per thread). A keyless table has one segment.
func CutSegments(ctx context.Context, q schema.Querier, t *Table, threads, segmentRows int) ([]*Segment, error) {
	if t.Keyless {
		return []*Segment{{Table: t, Index: 0}}, nil
	}
	maxSegs := int64(8 * threads)
	step := max(int64(segmentRows), (t.Estimate+maxSegs-1)/maxSegs)
	var segs []*Segment
	var lower keyset.Values
	for int64(len(segs)) < maxSegs-1 {
		upper, ok, err := t.Key.NextUpper(ctx, q, t.Database, t.Name, lower, int(step), "")
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		segs = append(segs, &Segment{Table: t, Index: len(segs), Lower: lower, Upper: upper})
		lower = upper
	}
	return append(segs, &Segment{Table: t, Index: len(segs), Lower: lower}), nil
}

// Batch holds the rows of one chunk, encoded for its destination. A
// reader thread reuses its batches: Reset empties one for a chunk of
// another table.
type Batch interface {
	// Reset empties the batch for a chunk of t.
	Reset(t *Table)
	// Add encodes one row: the raw values of the table's select list, nil
	// for NULL. It must copy what it keeps; row is reused.
	Add(row []sql.RawBytes) error
	// Len is the bytes encoded so far; a chunk ends when it reaches
	// Config.ChunkBytes. Cap is the memory the batch holds.
	Len() int
	Cap() int
}

// Chunk is a part of a segment, read and encoded, that a ThreadWriter
// writes.
type Chunk struct {
	Segment *Segment
	Batch   Batch
	// Rows are the rows read. A writer that copies the chunk's key range
	// itself (INSERT ... SELECT on the same server) sets it to the rows it
	// wrote, which Run then counts.
	Rows int
	// From is where the chunk starts (exclusive; nil: the start of the
	// table). Last is the key of the chunk's last row
	// (From when it has none); Final says that the segment ends with this
	// chunk.
	From, Last keyset.Values
	Final      bool

	took   time.Duration
	finish *Table // no rows: the table's segments are all done
}

// Writer is where the chunks go.
type Writer interface {
	// NewBatch returns an empty batch.
	NewBatch() Batch
	// Open returns the writer of one copy thread, with its own
	// connections.
	Open(ctx context.Context, thread int) (ThreadWriter, error)
}

// ThreadWriter writes the chunks of one thread.
type ThreadWriter interface {
	// Write writes a chunk's rows with the checkpoint that counts them:
	// when it returns nil, the rows and a checkpoint saying the segment
	// continues after ch.Last (and is done if ch.Final) are committed;
	// when it fails, a later run resumes from the checkpoints as they
	// are. A chunk of a segment is written after the segment's previous
	// chunk returned.
	Write(ctx context.Context, ch *Chunk) error
	// Finish completes a table whose segments are all done, in this run or
	// an earlier one (so it must be safe to repeat): deferred indexes,
	// checks. Run marks the table done when it returns nil.
	Finish(ctx context.Context, t *Table) error
	Close()
}

// Config is how Run reads.
type Config struct {
	// ChunkBytes caps the encoded bytes of one chunk.
	ChunkBytes int64
	// ChunkRows fixes the rows of a chunk (0: the tables' Sizer decides);
	// MaxChunkRows caps them (0: no cap).
	ChunkRows, MaxChunkRows int
	// KeylessMaxRows is the most rows a keyless table may have; past it, or
	// past ChunkBytes, the copy fails with KeylessTooLarge.
	KeylessMaxRows  int64
	KeylessTooLarge error
	// ProgressInterval is how often Progress is called while rows are
	// copied; Progress is also called when a table is done.
	ProgressInterval time.Duration
	Progress         func()
	// Pace, if set, is called before each chunk is read (throttling, rate
	// limits); Wrote after each chunk is written.
	Pace  func(ctx context.Context, t *Table) error
	Wrote func(rows, bytes int64)
	// SourceError wraps an error of reading a table (object names it).
	SourceError func(object string, err error) error
}

// Run copies the tables' segments that are not done with one reader
// goroutine per reader connection, each with a writer goroutine of its own
// (Writer.Open). A reader takes a segment, reads it chunk by chunk and
// hands each chunk to its writer through a channel of one; so every thread
// has at most three chunks in memory (being read, waiting, being written),
// and a segment's chunks commit in order. Tables whose segments an earlier
// run finished are finished again first (ThreadWriter.Finish).
func Run(ctx context.Context, cfg Config, tables []*Table, readers []*sql.Conn, w Writer) error {
	finished := make(chan *Table, len(tables))
	for _, t := range tables {
		if t.pending.Load() == 0 {
			finished <- t
		}
	}
	close(finished)
	sched := newSchedule(tables)

	g, gctx := errgroup.WithContext(ctx)
	stopTicker := ticker(gctx, cfg.ProgressInterval, cfg.Progress)
	defer stopTicker()
	for i, reader := range readers {
		chunks := make(chan *Chunk, 1)
		free := make(chan Batch, 3)
		g.Go(func() error {
			defer close(chunks)
			for t := range finished {
				select {
				case chunks <- &Chunk{finish: t}:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			var seg *Segment
			for {
				if seg = sched.next(seg); seg == nil {
					return nil
				}
				from := seg.From()
				for {
					var b Batch
					select {
					case b = <-free:
					default:
						b = w.NewBatch()
					}
					ch, err := read(gctx, &cfg, reader, seg, from, b)
					if err != nil {
						return err
					}
					select {
					case chunks <- ch:
					case <-gctx.Done():
						return gctx.Err()
					}
					if ch.Final {
						break
					}
					from = ch.Last
				}
			}
		})
		g.Go(func() error {
			tw, err := w.Open(gctx, i)
			if err != nil {
				return err
			}
			defer tw.Close()
			for ch := range chunks {
				if ch.finish != nil {
					if err := finish(gctx, &cfg, tw, ch.finish); err != nil {
						return err
					}
					continue
				}
				if err := write(gctx, &cfg, tw, ch); err != nil {
					return err
				}
				// Reuse the batch unless one huge row made it outgrow the cap.
				if int64(ch.Batch.Cap()) <= 2*cfg.ChunkBytes {
					select {
					case free <- ch.Batch:
					default:
					}
				}
			}
			return nil
		})
	}
	err := g.Wait()
	if ctx.Err() != nil {
		return fmt.Errorf("canceled: %w", ctx.Err())
	}
	return err
}

// write has tw write a chunk, then counts it.
func write(ctx context.Context, cfg *Config, tw ThreadWriter, ch *Chunk) error {
	seg, t := ch.Segment, ch.Segment.Table
	start := time.Now()
	if err := tw.Write(ctx, ch); err != nil {
		return err
	}
	n := int64(ch.Batch.Len())
	seg.Last, seg.Done = ch.Last, ch.Final
	seg.Rows += int64(ch.Rows)
	seg.Bytes += n
	seg.Chunks++
	t.rows.Add(int64(ch.Rows))
	t.bytes.Add(n)
	t.chunks.Add(1)
	if cfg.Wrote != nil {
		cfg.Wrote(int64(ch.Rows), n)
	}
	if cfg.ChunkRows == 0 {
		t.observe(ch.Rows, ch.took+time.Since(start))
	}
	if ch.Final && t.pending.Add(-1) == 0 {
		return finish(ctx, cfg, tw, t)
	}
	return nil
}

// finish has tw finish a table and marks it done.
func finish(ctx context.Context, cfg *Config, tw ThreadWriter, t *Table) error {
	if err := tw.Finish(ctx, t); err != nil {
		return err
	}
	t.done.Store(true)
	if cfg.Progress != nil {
		cfg.Progress()
	}
	return nil
}

// ticker calls progress every interval until stop is called.
func ticker(ctx context.Context, interval time.Duration, progress func()) (stop func()) {
	if progress == nil || interval <= 0 {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				progress()
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}
