package apply

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/rowchange"
)

// model is a source table (id primary key, u unique or NULL, v) that makes
// only changes its server would accept, checking unique keys row by row.
type model struct {
	shape *rowchange.Shape
	rows  map[int64][]any
	byU   map[int64]int64
	rng   *rand.Rand
	out   []rowchange.Change
}

func newModel(shape *rowchange.Shape, rng *rand.Rand) *model {
	return &model{shape: shape, rows: map[int64][]any{}, byU: map[int64]int64{}, rng: rng}
}

func (m *model) freeID() int64 {
	for {
		if id := m.rng.Int64N(400); m.rows[id] == nil {
			return id
		}
	}
}

// freeU is a unique value no row holds, or NULL.
func (m *model) freeU() any {
	if m.rng.IntN(5) == 0 {
		return nil
	}
	for {
		if u := m.rng.Int64N(400); func() bool { _, ok := m.byU[u]; return !ok }() {
			return u
		}
	}
}

func (m *model) any() []any {
	ids := make([]int64, 0, len(m.rows))
	for id := range m.rows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return m.rows[ids[m.rng.IntN(len(ids))]]
}

func (m *model) set(before, after []any) {
	if before != nil {
		delete(m.rows, before[0].(int64))
		if u, ok := before[1].(int64); ok {
			delete(m.byU, u)
		}
	}
	if after != nil {
		m.rows[after[0].(int64)] = after
		if u, ok := after[1].(int64); ok {
			m.byU[u] = after[0].(int64)
		}
	}
	op := rowchange.Update
	switch {
	case before == nil:
		op = rowchange.Insert
	case after == nil:
		op = rowchange.Delete
	}
	m.out = append(m.out, rowchange.Change{Shape: m.shape, Op: op, Before: before, After: after})
}

// step makes one random change (or a few, for a swap).
func (m *model) step() {
	if len(m.rows) < 20 || m.rng.IntN(6) == 0 {
		m.set(nil, row(m.freeID(), m.freeU(), fmt.Sprint("v", m.rng.IntN(1000))))
		return
	}
	r := m.any()
	switch m.rng.IntN(6) {
	case 0:
		m.set(r, nil)
	case 1: // primary key update
		m.set(r, row(m.freeID(), r[1], r[2]))
	case 2: // unique value update
		m.set(r, row(r[0], m.freeU(), r[2]))
	case 3: // swap unique values with another row, through NULL
		o := m.any()
		if o[0] == r[0] {
			return
		}
		m.set(r, row(r[0], nil, r[2]))
		o2 := row(o[0], r[1], o[2])
		m.set(o, o2)
		m.set(m.rows[r[0].(int64)], row(r[0], o[1], r[2]))
	case 4: // the same row, many times
		for range 1 + m.rng.IntN(8) {
			cur := m.rows[r[0].(int64)]
			m.set(cur, row(cur[0], cur[1], fmt.Sprint("v", m.rng.IntN(1000))))
		}
	default: // delete and insert the same key again, maybe with another's old unique value
		m.set(r, nil)
		m.set(nil, row(r[0], m.freeU(), "again"))
	}
}

func (m *model) want() []string {
	ids := make([]int64, 0, len(m.rows))
	for id := range m.rows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []string // nil when empty, as the table's rows are read
	if len(ids) > 0 {
		out = make([]string, len(ids))
	}
	for i, id := range ids {
		r := m.rows[id]
		u := "∅"
		if r[1] != nil {
			u = fmt.Sprint(r[1])
		}
		out[i] = fmt.Sprintf("%d|%s|%s", id, u, r[2])
	}
	return out
}

// TestRandomChanges applies random transactions over two tables, one with
// a secondary unique key (delete and insert) and one without (ON DUPLICATE
// KEY UPDATE), split in random batches, and checks the target against the
// source's model after each transaction. It runs with the default batch
// bounds and with tiny ones, so that batches are executed at every point;
// and with each transaction committed alone, or in groups flushed at
// random points (where the target is checked), some transactions read in
// part first (their read fails) and delivered again whole.
func TestRandomChanges(t *testing.T) {
	for _, c := range []struct {
		flushBytes int
		grouped    bool
	}{{1 << 20, false}, {200, false}, {1 << 20, true}, {200, true}} {
		t.Run(fmt.Sprintf("flush=%d,grouped=%t", c.flushBytes, c.grouped), func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, tableU, "p (id INT NOT NULL PRIMARY KEY, u INT NULL, v VARCHAR(20) NOT NULL, KEY (u))")
			var opts []Option
			if c.grouped {
				opts = append(opts, WithGroupCommit(100, time.Hour))
			}
			a := e.applier(t, opts...)
			a.cfg.flushBytes = c.flushBytes
			lost := errors.New("source connection lost")
			seed := rand.Uint64()
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 1))
			shapeP := &rowchange.Shape{Table: rowchange.Table{Schema: "src", Name: "p"}, Columns: []string{"id", "u", "v"}}
			mu, mp := newModel(shapeU, rng), newModel(shapeP, rng)
			for txn := 1; txn <= 60; txn++ {
				var all []rowchange.Change
				for range 1 + rng.IntN(150) {
					m := mu
					if rng.IntN(2) == 0 {
						m = mp
					}
					m.step()
					all = append(all, m.out...)
					m.out = m.out[:0]
				}
				var list [][]rowchange.Change
				for len(all) > 0 {
					n := min(len(all), 1+rng.IntN(40))
					list = append(list, all[:n])
					all = all[n:]
				}
				pos := fmt.Sprint(txn)
				if c.grouped && len(list) > 1 && rng.IntN(4) == 0 {
					part := &failing{list: list[:1+rng.IntN(len(list)-1)], err: lost}
					require.ErrorIs(t, a.Apply(ctx, rowchange.Txn{ID: pos, Position: pos, Changes: part}), lost, "transaction %d read in part", txn)
				}
				require.NoError(t, a.Apply(ctx, rowchange.Txn{ID: pos, Position: pos, Changes: &batchList{list: list}}), "transaction %d", txn)
				if c.grouped {
					if txn < 60 && rng.IntN(4) != 0 {
						continue
					}
					require.NoError(t, a.Flush(ctx))
				}
				if !assert.Equal(t, mu.want(), e.rows(t, "u"), "table u after transaction %d", txn) ||
					!assert.Equal(t, mp.want(), e.rows(t, "p"), "table p after transaction %d", txn) {
					return
				}
			}
		})
	}
}
