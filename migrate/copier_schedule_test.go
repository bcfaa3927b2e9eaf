package migrate

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScheduleSpreadsThreadsOverTables(t *testing.T) {
	table := func(name string, estimate int64, segments int) *tableRun {
		tr := &tableRun{ct: &copyTable{target: name}, estimate: estimate}
		for i := range segments {
			tr.segments = append(tr.segments, &segment{table: tr, index: i})
		}
		return tr
	}
	big, mid, small := table("big", 3000, 3), table("mid", 1000, 2), table("small", 10, 1)
	done := table("done", 50, 1)
	done.segments[0].done = true
	s := newSchedule([]*tableRun{small, done, mid, big})

	name := func(seg *segment) string {
		if seg == nil {
			return "none"
		}
		return seg.table.ct.target
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
	for _, seg := range []*segment{a, c, d, b} {
		require.Nil(t, s.next(seg))
	}
}
