package apply

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// TestReplaceRowsConvergesOnALaterCopy replays a stream onto a target that
// was copied after the stream's start, as an online schema change does:
// row 1 took the unique value 7, gave it up (deleted), and row 2 took it,
// all before the copy read row 2 with it. Replaying row 1's insert
// collides with row 2 on the secondary unique key: an error by default,
// with WithReplaceRows row 2 is deleted and written again by its own
// later insert, and the target ends as the source.
func TestReplaceRowsConvergesOnALaterCopy(t *testing.T) {
	ctx := context.Background()
	stream := []string{"1", "2", "3"}
	changes := func(i int) []rowchange.Change {
		switch i {
		case 0:
			return []rowchange.Change{ins(shapeU, int64(1), int64(7), "first")}
		case 1:
			return []rowchange.Change{del(shapeU, int64(1), int64(7), "first")}
		}
		return []rowchange.Change{ins(shapeU, int64(2), int64(7), "second")}
	}
	for _, replace := range []bool{false, true} {
		e := newEnv(t, tableU)
		sandboxtest.Exec(t, e.db, "INSERT INTO `"+e.target+"`.u VALUES (2, 7, 'second')") // the copy
		var opts []Option
		if replace {
			opts = append(opts, WithReplaceRows())
		}
		a := e.applier(t, opts...)
		var err error
		for i, pos := range stream {
			if err = a.Apply(ctx, txn(pos, changes(i)...)); err != nil {
				break
			}
		}
		if !replace {
			require.Error(t, err)
			assert.Contains(t, err.Error(), "Duplicate entry")
			continue
		}
		require.NoError(t, err)
		require.NoError(t, a.Flush(ctx))
		assert.Equal(t, []string{"2|7|second"}, e.rows(t, "u"))
	}
}
