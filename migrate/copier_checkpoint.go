package migrate

import (
	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/keyset"
)

// The checkpoint of a Copier lives on the target in the tables of
// internal/checkpoint: copy_runs has one row per target database (which
// copy, from where, its state and snapshot position), copy_segments one row
// per segment of a table's key range (its bounds, the last key copied and
// the rows and bytes so far). A chunk's rows and its segment's update
// commit in one transaction.

// segment is one part of a table's key range and its progress.
type segment struct {
	table *tableRun
	index int
	// lower is exclusive (nil: the start of the table), upper inclusive
	// (nil: the end).
	lower, upper keyset.Values
	// last is the key of the last row copied (nil: none yet).
	last   keyset.Values
	rows   int64
	bytes  int64
	chunks int64
	done   bool
}

// from is where the next chunk starts.
func (s *segment) from() keyset.Values {
	if s.last != nil {
		return s.last
	}
	return s.lower
}

// resumeSegment is a segment as its checkpoint left it.
func resumeSegment(sg checkpoint.Segment) *segment {
	return &segment{index: sg.Index, lower: sg.Lower, upper: sg.Upper, last: sg.Last, rows: sg.Rows, bytes: sg.Bytes, chunks: sg.Chunks, done: sg.Done}
}
