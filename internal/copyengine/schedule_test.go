package copyengine

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScheduleSpreadsThreadsOverTables(t *testing.T) {
	table := func(name string, estimate int64, segments int) *Table {
		tr := &Table{Name: name, Estimate: estimate}
		for i := range segments {
			tr.Segments = append(tr.Segments, &Segment{Table: tr, Index: i})
		}
		return tr
	}
	big, mid, small := table("big", 3000, 3), table("mid", 1000, 2), table("small", 10, 1)
	done := table("done", 50, 1)
	done.Segments[0].Done = true
	s := newSchedule([]*Table{small, done, mid, big})

	name := func(seg *Segment) string {
		if seg == nil {
			return "none"
		}
		return seg.Table.Name
	}
	// Three threads start on three tables, the largest first.
	a, b, c := s.next(nil), s.next(nil), s.next(nil)
	assert.Equal(t, []string{"big", "mid", "small"}, []string{name(a), name(b), name(c)})
	// A fourth joins the table with the most rows left.
	d := s.next(nil)
	assert.Equal(t, "big", name(d))
	// The thread done with small goes to mid, which has one thread, not to
	// big, which has two.
	c = s.next(c)
	assert.Equal(t, "mid", name(c))
	// Then big's last segment, and nothing more; done's segment is never handed out.
	b = s.next(b)
	assert.Equal(t, "big", name(b))
	for _, seg := range []*Segment{a, c, d, b} {
		require.Nil(t, s.next(seg))
	}
}
