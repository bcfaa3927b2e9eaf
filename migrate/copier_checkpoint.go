package migrate

import (
	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/copyengine"
)

// The checkpoint of a Copier lives on the target in the tables of
// internal/checkpoint: copy_runs has one row per target database (which
// copy, from where, its state and snapshot position), copy_segments one row
// per segment of a table's key range (its bounds, the last key copied and
// the rows and bytes so far). A chunk's rows and its segment's update
// commit in one transaction.

// resumeSegment is a segment as its checkpoint left it.
func resumeSegment(sg checkpoint.Segment) *copyengine.Segment {
	return &copyengine.Segment{Index: sg.Index, Lower: sg.Lower, Upper: sg.Upper, Last: sg.Last, Rows: sg.Rows, Bytes: sg.Bytes, Chunks: sg.Chunks, Done: sg.Done}
}
