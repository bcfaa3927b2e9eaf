package verify

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/rowcodec"
)

// splitWays is how many sub-chunks a differing chunk is split into.
const splitWays = 16

// differ finds the differing rows of one differing chunk.
type differ struct {
	v      *Verifier
	sc, dc *sql.Conn
	tr     *tableRun
	index  int
	// sink, if set, receives the differing rows instead of the table's
	// report (for a recheck of the rows).
	sink func(RowDiff)
}

func (d *differ) emit(r RowDiff) {
	if d.sink != nil {
		d.sink(r)
		return
	}
	d.tr.record(d.index, r)
}

// diff narrows r down: while it holds more rows than the leaf size it is
// split on the source and only the parts whose checksums differ are looked
// into; then both sides' rows are merged.
func (d *differ) diff(ctx context.Context, sp span, s, t checksum) error {
	if s == t {
		return nil
	}
	leaf := int64(d.v.cfg.leafRows)
	if s.rows <= leaf {
		return d.merge(ctx, sp)
	}
	tb := d.tr.t
	size := int((s.rows + splitWays - 1) / splitWays)
	lower := sp.r.Lower
	extra, extraArgs := tb.extra(sp)
	for {
		upper, ok, err := tb.key.NextUpperIn(ctx, d.sc, tb.pair.SourceDatabase, tb.pair.SourceTable,
			keyset.Range{Lower: lower, Upper: sp.r.Upper}, size, extra, extraArgs...)
		if err != nil {
			return &TableError{Side: "source", Database: tb.pair.SourceDatabase, Table: tb.pair.SourceTable, Err: err}
		}
		sub := span{base: sp.base, baseArgs: sp.baseArgs, r: keyset.Range{Lower: lower, Upper: sp.r.Upper}}
		if ok {
			sub.r.Upper = upper
		}
		ss, ts, err := tb.checksumRange(ctx, d.sc, d.dc, sub)
		if err != nil {
			return err
		}
		if ss != ts {
			if ss.rows >= s.rows {
				// No smaller part on the source (all rows in one sub-range):
				// merge rather than split again.
				if err := d.merge(ctx, sub); err != nil {
					return err
				}
			} else if err := d.diff(ctx, sub, ss, ts); err != nil {
				return err
			}
		}
		if !ok {
			return nil
		}
		lower = upper
	}
}

// row is one row read for merging: the key ordering values and the column
// values (nil for NULL).
type row struct {
	keys, vals [][]byte
}

// rowReader reads rows of one side in key order and checks that the order
// agrees with the Go-side comparison.
type rowReader struct {
	t      *table
	rows   *sql.Rows
	raw    []sql.RawBytes
	ptrs   []any
	prev   *row
	side   Side
	db, tb string
	// repeats allows one key in consecutive rows (a union of shards, where
	// a key can be in several).
	repeats bool
}

func (r *rowReader) next() (*row, error) {
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return nil, &TableError{Side: r.side, Database: r.db, Table: r.tb, Err: fmt.Errorf("read rows: %w", err)}
		}
		return nil, nil
	}
	if err := r.rows.Scan(r.ptrs...); err != nil {
		return nil, &TableError{Side: r.side, Database: r.db, Table: r.tb, Err: fmt.Errorf("read rows: %w", err)}
	}
	nk := len(r.t.keyCols)
	out := &row{keys: make([][]byte, nk), vals: make([][]byte, len(r.raw)-nk)}
	for i, b := range r.raw {
		var c []byte
		if b != nil {
			c = append([]byte{}, b...)
		}
		if i < nk {
			out.keys[i] = c
		} else {
			out.vals[i-nk] = c
		}
	}
	if r.prev != nil {
		if c := r.t.compareKeys(r.prev.keys, out.keys); c > 0 || c == 0 && !r.repeats {
			// The server's order and ours disagree: a merge would report
			// nonsense, so stop.
			return nil, &TableError{Side: r.side, Database: r.db, Table: r.tb,
				Err: fmt.Errorf("rows do not arrive in the key order expected (key %s after %s): %w",
					r.t.keyLiterals(out.vals), r.t.keyLiterals(r.prev.vals), ErrUnsupported)}
		}
	}
	r.prev = out
	return out, nil
}

// merge reads both sides' rows of r in key order and records the missing,
// extra and changed ones. It holds one row per side at a time.
func (d *differ) merge(ctx context.Context, sp span) error {
	where, args := d.tr.t.rangeWhere(sp)
	return d.mergeWhere(ctx, where, args)
}

// mergeWhere merges both sides' rows that match where, in key order,
// and emits each missing, extra and changed row. It holds one row per
// side at a time.
func (d *differ) mergeWhere(ctx context.Context, where string, args []any) error {
	t := d.tr.t
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sr, err := t.readRows(ctx, d.sc, false, where, args)
	if err != nil {
		return err
	}
	defer sr.rows.Close()
	tr, err := t.readRows(ctx, d.dc, true, where, args)
	if err != nil {
		return err
	}
	defer tr.rows.Close()

	s, err := sr.next()
	if err != nil {
		return err
	}
	g, err := tr.next()
	if err != nil {
		return err
	}
	for s != nil || g != nil {
		c := 0
		switch {
		case s == nil:
			c = 1
		case g == nil:
			c = -1
		default:
			c = t.compareKeys(s.keys, g.keys)
		}
		switch {
		case c < 0:
			d.emit(RowDiff{Kind: Missing, Key: t.keyLiterals(s.vals), Source: t.literals(s.vals)})
			if s, err = sr.next(); err != nil {
				return err
			}
		case c > 0:
			d.emit(RowDiff{Kind: Extra, Key: t.keyLiterals(g.vals), Target: t.literals(g.vals)})
			if g, err = tr.next(); err != nil {
				return err
			}
		default:
			if changed := t.changedColumns(s, g); changed != nil {
				d.emit(RowDiff{Kind: Changed, Key: t.keyLiterals(s.vals), Source: t.literals(s.vals), Target: t.literals(g.vals), Columns: changed})
			}
			if s, err = sr.next(); err != nil {
				return err
			}
			if g, err = tr.next(); err != nil {
				return err
			}
		}
	}
	return nil
}

// readRows starts reading, on conn, the rows of the source table (or of
// the target table when target is set) that match where with args, in
// key order. The query's failure is a *TableError naming that side's
// table; the caller closes the reader's rows.
func (t *table) readRows(ctx context.Context, conn *sql.Conn, target bool, where string, args []any) (*rowReader, error) {
	rr := &rowReader{t: t, side: "source", db: t.pair.SourceDatabase, tb: t.pair.SourceTable}
	if target {
		rr.side, rr.db, rr.tb = "target", t.pair.TargetDatabase, t.pair.TargetTable
	}
	rows, err := conn.QueryContext(ctx, t.rowsSQL(target, where), args...)
	if err != nil {
		return nil, &TableError{Side: rr.side, Database: rr.db, Table: rr.tb, Err: fmt.Errorf("read rows: %w", err)}
	}
	rr.rows = rows
	rr.raw = make([]sql.RawBytes, len(t.keyCols)+len(t.cols))
	rr.ptrs = make([]any, len(rr.raw))
	for i := range rr.raw {
		rr.ptrs[i] = &rr.raw[i]
	}
	return rr, nil
}

// changedColumns names the compared columns whose values differ between
// the source row s and the target row g of one key (see equalValue), nil
// when none does.
func (t *table) changedColumns(s, g *row) []string {
	var changed []string
	for i := range t.cols {
		if !t.equalValue(i, s.vals[i], g.vals[i]) {
			changed = append(changed, t.cols[i].name)
		}
	}
	return changed
}

// literals writes a row's values as SQL literals.
func (t *table) literals(vals [][]byte) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = rowcodec.Literal(t.cols[i].kind, v)
	}
	return out
}

// keyLiterals writes a row's key values as SQL literals.
func (t *table) keyLiterals(vals [][]byte) []string {
	out := make([]string, len(t.keyIdx))
	for i, j := range t.keyIdx {
		out[i] = rowcodec.Literal(t.cols[j].kind, vals[j])
	}
	return out
}

// recheckBatch is how many rows a recheck reads per query.
const recheckBatch = 500

// recheckRows reads the rows of diffs again on both sides and emits those
// that still differ, with their current values.
func (d *differ) recheckRows(ctx context.Context, diffs []RowDiff) error {
	t := d.tr.t
	lhs := t.key.List()
	if len(t.key.Columns) > 1 {
		lhs = "(" + lhs + ")"
	}
	for len(diffs) > 0 {
		n := min(len(diffs), recheckBatch)
		keys := make([]string, n)
		for i, r := range diffs[:n] {
			keys[i] = strings.Join(r.Key, ", ")
			if len(t.key.Columns) > 1 {
				keys[i] = "(" + keys[i] + ")"
			}
		}
		where := lhs + " IN (" + strings.Join(keys, ", ") + ")"
		if t.where != "" {
			where = "(" + t.where + ") AND " + where
		}
		if err := d.mergeWhere(ctx, where, nil); err != nil {
			return err
		}
		diffs = diffs[n:]
	}
	return nil
}
