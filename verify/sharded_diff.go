package verify

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// checksumRange sums the rows of key range rg per location: on the source
// (each row's hash routed in Go, for every location) and on the shards of
// want (every shard when want is nil), all at once. n is the source's rows
// in rg.
func (r *shardRun) checksumRange(ctx context.Context, w shardConns, rg keyset.Range, want []int) (s, d []checksum, n int64, err error) {
	s, d = make([]checksum, len(r.tables)), make([]checksum, len(r.tables))
	where, args := r.tables[0].key.Where(rg)
	g, gctx := errgroup.WithContext(ctx)
	for i, in := range r.insts {
		var locs []int
		for _, li := range in.locs {
			if want == nil || slices.Contains(want, li) {
				locs = append(locs, li)
			}
		}
		if len(locs) > 0 {
			g.Go(func() error { return r.sumShards(gctx, in, w.inst[i], locs, where, args, d) })
		}
	}
	parts := make([][]checksum, len(r.srcInsts))
	counts := make([]int64, len(r.srcInsts))
	for i, in := range r.srcInsts {
		parts[i] = make([]checksum, len(r.tables))
		g.Go(func() (err error) {
			counts[i], err = r.sumSource(gctx, in, w.src[i], where, args, parts[i])
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, 0, err
	}
	for i, part := range parts {
		n += counts[i]
		for li, c := range part {
			s[li].rows += c.rows
			s[li].sum ^= c.sum
		}
	}
	return s, d, n, nil
}

// sumSource reads, with one query on c, the sharding key and row hash of
// the rows that match where of the source tables of instance in, and adds
// each to the checksum of its location in s.
func (r *shardRun) sumSource(ctx context.Context, in *shardInstance, c *sql.Conn, where string, args []any, s []checksum) (int64, error) {
	t := r.tables[0]
	fail := r.sourceErr(in, "checksum")
	parts := make([]string, len(in.locs))
	all := make([]any, 0, len(in.locs)*len(args))
	for j, si := range in.locs {
		parts[j] = "SELECT " + r.v.routeExpr() + ", " + t.rowHashSQL(false) + " FROM " + r.srcNames[si] + " WHERE " + where
		all = append(all, args...)
	}
	n, err := r.sumRouted(ctx, c, strings.Join(parts, " UNION ALL "), all, s, -1)
	if err != nil {
		return 0, fail(err)
	}
	return n, nil
}

// sumRouted runs q on c, whose rows are a sharding key and a row hash, and
// adds each row to the checksum in s of the location its key routes to
// (of location only, unless only is -1). n counts the rows read.
func (r *shardRun) sumRouted(ctx context.Context, c *sql.Conn, q string, args []any, s []checksum, only int) (n int64, err error) {
	rows, err := c.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var key sql.RawBytes
	var hash uint64
	for rows.Next() {
		if err := rows.Scan(&key, &hash); err != nil {
			return 0, err
		}
		i, err := r.routing.Route(key)
		if err != nil {
			return 0, err
		}
		if only < 0 || i == only {
			s[i].rows++
			s[i].sum ^= hash
		}
		n++
	}
	return n, rows.Err()
}

// sourceErr returns the function that makes err of a query over the
// source tables of instance in: a *TableError for one table, else an error
// naming the instance.
func (r *shardRun) sourceErr(in *shardInstance, what string) func(error) error {
	return func(err error) error {
		if len(in.locs) == 1 {
			l := r.v.sources[in.locs[0]]
			return &TableError{Side: Source, Database: l.Database, Table: l.Table, Err: fmt.Errorf("%s: %w", what, err)}
		}
		return fmt.Errorf("verify: %s: %s: %w", r.v.sourceName(in.name), what, err)
	}
}

// sumShards sums, with one query on the instance connection c, the rows
// that match where of each shard of locs, into d. A shard that is also a
// source table (see shardRun.shared) is summed with a query of its own
// that streams its rows' keys and hashes: only the rows that route to it
// count, the others being the source's rows that moved elsewhere.
func (r *shardRun) sumShards(ctx context.Context, in *shardInstance, c *sql.Conn, locs []int, where string, args []any, d []checksum) error {
	var parts []string
	var all []any
	for _, li := range locs {
		t := r.tables[li]
		if r.shared[li] {
			q := "SELECT " + r.v.routeExpr() + ", " + t.rowHashSQL(true) + " FROM " + t.dstName + " WHERE " + where
			if _, err := r.sumRouted(ctx, c, q, args, d, li); err != nil {
				return t.pair.targetErr(fmt.Errorf("checksum: %w", err))
			}
			continue
		}
		parts = append(parts, "SELECT "+strconv.Itoa(li)+", "+t.hashSQL(true)+" FROM "+t.dstName+" WHERE "+where)
		all = append(all, args...)
	}
	if len(parts) == 0 {
		return nil
	}
	rows, err := c.QueryContext(ctx, strings.Join(parts, " UNION ALL "), all...)
	if err != nil {
		return r.shardsErr(in, locs, "checksum", err)
	}
	defer rows.Close()
	for rows.Next() {
		var li int
		var sum checksum
		if err := rows.Scan(&li, &sum.rows, &sum.sum); err != nil {
			return r.shardsErr(in, locs, "checksum", err)
		}
		if li < 0 || li >= len(d) {
			return r.shardsErr(in, locs, "checksum", fmt.Errorf("unexpected location %d", li))
		}
		d[li] = sum
	}
	if err := rows.Err(); err != nil {
		return r.shardsErr(in, locs, "checksum", err)
	}
	return nil
}

// shardsErr is err of a query over the shards locs of instance in: a
// *TableError for one shard, else an error naming them all.
func (r *shardRun) shardsErr(in *shardInstance, locs []int, what string, err error) error {
	if len(locs) == 1 {
		t := r.tables[locs[0]]
		return t.pair.targetErr(fmt.Errorf("%s: %w", what, err))
	}
	names := make([]string, len(locs))
	for i, li := range locs {
		names[i] = r.tables[li].dstName
	}
	return fmt.Errorf("verify: instance %q: shards %s: %s: %w", in.name, strings.Join(names, ", "), what, err)
}

// narrow looks into key range rg, whose source holds n rows and whose
// shards of differ differ from the source's rows routed to them: while it
// holds more than the leaf size it is split on the source and only the
// parts where a shard differs are looked into; then the rows are merged.
func (r *shardRun) narrow(ctx context.Context, w shardConns, index int, rg keyset.Range, n int64, differ []int) error {
	if n <= int64(r.v.cfg.leafRows) {
		return r.merge(ctx, w, index, rg, differ)
	}
	size := int((n + splitWays - 1) / splitWays)
	lower := rg.Lower
	for {
		upper, ok, err := r.nextUpper(ctx, w.src, keyset.Range{Lower: lower, Upper: rg.Upper}, size)
		if err != nil {
			return err
		}
		sub := keyset.Range{Lower: lower, Upper: rg.Upper}
		if ok {
			sub.Upper = upper
		}
		s, d, subN, err := r.checksumRange(ctx, w, sub, differ)
		if err != nil {
			return err
		}
		var still []int
		for _, i := range differ {
			if s[i] != d[i] {
				still = append(still, i)
			}
		}
		switch {
		case len(still) == 0:
		case subN >= n:
			// All the source's rows in one part: merge rather than split
			// again.
			if err := r.merge(ctx, w, index, sub, still); err != nil {
				return err
			}
		default:
			if err := r.narrow(ctx, w, index, sub, subN, still); err != nil {
				return err
			}
		}
		if !ok {
			return nil
		}
		lower = upper
	}
}

// stream is one ordered row stream of a merge: the source's rows with
// the location each routes to, or one instance's shards of a merge with
// the location each comes from.
type stream struct {
	rd  *rowReader
	row *row
	loc int
	// tag turns the stream's last column into loc.
	tag func(v []byte) (int, error)
}

// advance reads the stream's next row (nil at its end) and splits off
// its last column, the location.
func (s *stream) advance() error {
	row, err := s.rd.next()
	if err != nil || row == nil {
		s.row = nil
		return err
	}
	last := len(row.vals) - 1
	if s.loc, err = s.tag(row.vals[last]); err != nil {
		return &TableError{Side: s.rd.side, Database: s.rd.db, Table: s.rd.tb, Err: err}
	}
	row.vals = row.vals[:last]
	s.row = row
	return nil
}

// openStream starts reading query on c into a stream of rows with the key
// ordering values and column values of t and one more column, the tag.
// repeats allows one key in consecutive rows.
func openStream(ctx context.Context, c *sql.Conn, t *table, side Side, db, tb, query string, args []any, repeats bool, tag func([]byte) (int, error)) (*stream, error) {
	rows, err := c.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, &TableError{Side: side, Database: db, Table: tb, Err: fmt.Errorf("read rows: %w", err)}
	}
	rd := &rowReader{t: t, rows: rows, side: side, db: db, tb: tb, repeats: repeats}
	rd.raw = make([]sql.RawBytes, len(t.keyCols)+len(t.cols)+1)
	rd.ptrs = make([]any, len(rd.raw))
	for i := range rd.raw {
		rd.ptrs[i] = &rd.raw[i]
	}
	s := &stream{rd: rd, tag: tag}
	if err := s.advance(); err != nil {
		rows.Close()
		return nil, err
	}
	return s, nil
}

// found is a row of a key read from one shard.
type found struct {
	loc int
	row *row
}

// merge reads, in key order, the source's rows of rg (one query per
// source instance, over its source tables) and the rows of rg of the
// shards of differ (one query per instance, over its shards), and records
// every key whose rows are not exactly one copy of the source's, in the
// shard it routes to. It holds one row per stream at a time. A key that
// two source tables hold is an error.
func (r *shardRun) merge(ctx context.Context, w shardConns, index int, rg keyset.Range, differ []int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t0 := r.tables[0]
	where, args := t0.key.Where(rg)
	var srcs []*stream
	for i, in := range r.srcInsts {
		froms, lists := make([]string, len(in.locs)), make([][]string, len(in.locs))
		for j, si := range in.locs {
			froms[j], lists[j] = r.srcNames[si], t0.rowList(false)
		}
		q, qargs := unionRows(t0, froms, lists, func(int) string { return r.v.routeExpr() }, where, args)
		l := r.v.sources[in.locs[0]]
		st, err := openStream(ctx, w.src[i], t0, Source, l.Database, l.Table, q, qargs, r.v.fromLayout, r.routing.Route)
		if err != nil {
			return err
		}
		defer st.rd.rows.Close()
		srcs = append(srcs, st)
	}
	read := make([]bool, len(r.tables))
	var shards []*stream
	for i, in := range r.insts {
		var locs []int
		for _, li := range in.locs {
			if slices.Contains(differ, li) {
				locs = append(locs, li)
				read[li] = true
			}
		}
		if len(locs) == 0 {
			continue
		}
		froms, lists := make([]string, len(locs)), make([][]string, len(locs))
		for j, li := range locs {
			froms[j], lists[j] = r.tables[li].dstName, r.tables[li].rowList(true)
		}
		q, qargs := unionRows(t0, froms, lists, func(j int) string { return strconv.Itoa(locs[j]) }, where, args)
		first := r.tables[locs[0]].pair
		st, err := openStream(ctx, w.inst[i], t0, Target, first.TargetDatabase, first.TargetTable, q, qargs, true, func(v []byte) (int, error) {
			li, err := strconv.Atoi(string(v))
			if err != nil || li < 0 || li >= len(r.tables) {
				return 0, fmt.Errorf("unexpected location %q", v)
			}
			return li, nil
		})
		if err != nil {
			return err
		}
		defer st.rd.rows.Close()
		shards = append(shards, st)
	}
	for {
		var least *row
		for _, st := range slices.Concat(srcs, shards) {
			if st.row != nil && (least == nil || t0.compareKeys(st.row.keys, least.keys) < 0) {
				least = st.row
			}
		}
		if least == nil {
			return nil
		}
		var s *row
		route := -1
		for _, src := range srcs {
			for src.row != nil && t0.compareKeys(src.row.keys, least.keys) == 0 {
				if s != nil {
					return fmt.Errorf("verify: source layout: key (%s) is in more than one source table: verify the source layout against its own router first",
						strings.Join(t0.keyLiterals(s.vals), ", "))
				}
				s, route = src.row, src.loc
				if err := src.advance(); err != nil {
					return err
				}
			}
		}
		var got []found
		for _, st := range shards {
			for st.row != nil && t0.compareKeys(st.row.keys, least.keys) == 0 {
				// A row of a shard that is a source table, which routes
				// elsewhere, is the source's row itself, moved.
				if s == nil || !r.shared[st.loc] || st.loc == route {
					got = append(got, found{loc: st.loc, row: st.row})
				}
				if err := st.advance(); err != nil {
					return err
				}
			}
		}
		r.classify(index, s, route, got, read)
	}
}

// unionRows is the query of the rows matching where of the tables froms
// (quoted names on one server), with the values of lists[j] (rowList of
// froms[j]) and tag(j) as the last column, in key order (of t0's key) and
// then tag order.
func unionRows(t0 *table, froms []string, lists [][]string, tag func(j int) string, where string, args []any) (string, []any) {
	parts := make([]string, len(froms))
	all := make([]any, 0, len(froms)*len(args))
	var outer, order []string
	for j, from := range froms {
		var list []string
		for i, e := range lists[j] {
			list = append(list, e+" AS sg_c"+strconv.Itoa(i))
			if j == 0 {
				outer = append(outer, "sg_c"+strconv.Itoa(i))
			}
		}
		list = append(list, tag(j)+" AS sg_loc")
		for i, c := range t0.key.Columns {
			list = append(list, schema.QuoteIdent(c)+" AS sg_o"+strconv.Itoa(i))
			if j == 0 {
				order = append(order, "sg_o"+strconv.Itoa(i))
			}
		}
		parts[j] = "SELECT " + strings.Join(list, ", ") + " FROM " + from + " WHERE " + where
		all = append(all, args...)
	}
	return "SELECT " + strings.Join(outer, ", ") + ", sg_loc FROM (" + strings.Join(parts, " UNION ALL ") + ") AS sg_u ORDER BY " +
		strings.Join(order, ", ") + ", sg_loc", all
}

// locDiff is what one shard must change for one key.
type locDiff struct {
	loc  int
	diff RowDiff
}

// keptDiff is a difference kept in the report with what each shard must
// change for it.
type keptDiff struct {
	diff ShardDiff
	rows []locDiff
}

// classify records the key of the source row s (nil when the source has
// none), which routes to location route, and of the rows got of the shards
// read (read[loc]); the shards not read hold their rows of the range as
// the source routes them.
func (r *shardRun) classify(index int, s *row, route int, got []found, read []bool) {
	if s != nil && len(got) == 0 && !read[route] {
		return // a row of a shard that matched
	}
	slices.SortFunc(got, func(a, b found) int { return cmp.Compare(a.loc, b.loc) })
	t0 := r.tables[0]
	shardRow := func(loc int, vals []string) ShardRow { return ShardRow{Shard: r.v.locs[loc].Shard, Values: vals} }
	var d ShardDiff
	var rows []locDiff
	extra := func(f found, key []string) {
		lits := t0.literals(f.row.vals)
		d.Found = append(d.Found, shardRow(f.loc, lits))
		rows = append(rows, locDiff{f.loc, RowDiff{Kind: Extra, Key: key, Target: lits}})
	}
	if s == nil {
		d = ShardDiff{Kind: Extra, Key: t0.keyLiterals(got[0].row.vals)}
		for _, f := range got {
			extra(f, d.Key)
		}
		r.record(index, d, rows)
		return
	}
	d = ShardDiff{Key: t0.keyLiterals(s.vals), Shard: r.v.locs[route].Shard, Source: t0.literals(s.vals)}
	var right *row
	var wrong []found
	for _, f := range got {
		if f.loc == route {
			right = f.row
		} else {
			wrong = append(wrong, f)
		}
	}
	missing := locDiff{route, RowDiff{Kind: Missing, Key: d.Key, Source: d.Source}}
	switch {
	case len(wrong) == 0 && right == nil:
		d.Kind, rows = Missing, []locDiff{missing}
	case len(wrong) == 0:
		if d.Columns = r.tables[route].changedColumns(s, right); d.Columns == nil {
			return
		}
		lits := t0.literals(right.vals)
		d.Kind, d.Found = Changed, []ShardRow{shardRow(route, lits)}
		rows = []locDiff{{route, RowDiff{Kind: Changed, Key: d.Key, Source: d.Source, Target: lits, Columns: d.Columns}}}
	case right != nil || !read[route]:
		// A copy where it belongs and others elsewhere.
		d.Kind = Duplicated
		for _, f := range wrong {
			extra(f, d.Key)
		}
		inRight := d.Source
		if right != nil {
			inRight = t0.literals(right.vals)
			if d.Columns = r.tables[route].changedColumns(s, right); d.Columns != nil {
				rows = append(rows, locDiff{route, RowDiff{Kind: Changed, Key: d.Key, Source: d.Source, Target: inRight, Columns: d.Columns}})
			}
		}
		d.Found = append(d.Found, shardRow(route, inRight))
		slices.SortFunc(d.Found, func(a, b ShardRow) int { return cmp.Compare(a.Shard, b.Shard) })
	case len(wrong) == 1:
		d.Kind = Misplaced
		d.Columns = r.tables[wrong[0].loc].changedColumns(s, wrong[0].row)
		extra(wrong[0], d.Key)
		rows = append(rows, missing)
	default:
		// Copies in several shards, none where it belongs.
		d.Kind = Duplicated
		for _, f := range wrong {
			extra(f, d.Key)
		}
		rows = append(rows, missing)
	}
	r.record(index, d, rows)
}

// record counts a differing key and keeps it if the sample has room.
func (r *shardRun) record(index int, d ShardDiff, rows []locDiff) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch d.Kind {
	case Missing:
		r.rep.Missing++
	case Extra:
		r.rep.Extra++
	case Changed:
		r.rep.Changed++
	case Misplaced:
		r.rep.Misplaced++
	case Duplicated:
		r.rep.Duplicated++
	}
	for _, rd := range rows {
		sh := r.rep.Shards[rd.loc]
		switch rd.diff.Kind {
		case Missing:
			sh.Missing++
		case Extra:
			sh.Extra++
		default:
			sh.Changed++
		}
	}
	if r.keptCount >= r.v.cfg.sampleLimit {
		r.rep.Truncated = true
		return
	}
	r.keptCount++
	r.kept[index] = append(r.kept[index], keptDiff{diff: d, rows: rows})
}
