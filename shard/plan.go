package shard

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Action is what a resharding plan does with one source shard.
type Action string

// The actions of a plan, cheapest first.
const (
	// Keep: every key of the shard stays, in the same table.
	Keep Action = "keep"
	// MoveTable: every key goes to one target shard at another location:
	// the table moves whole (a rename on one server, a table copy across
	// servers), no routing per row.
	MoveTable Action = "move-table"
	// MoveRows: the keys spread over several target shards; rows are copied
	// by key, routed one by one.
	MoveRows Action = "move-rows"
)

// Plan is a resharding plan from one layout to another: for each source
// shard, which target shards receive its keys and what fraction of them.
// Fractions are of the shard's keys, which are rows when keys are unique;
// the figures of rows come from the servers' estimates (EstimateRows).
type Plan struct {
	// Basis says how the fractions were computed.
	Basis string `json:"basis"`
	// Exact is true when the fractions follow from the methods' arithmetic
	// rather than from a sample of keys.
	Exact bool `json:"exact"`
	// SampleKeys is the number of keys sampled when not Exact.
	SampleKeys int            `json:"sample_keys,omitempty"`
	Sources    []SourcePlan   `json:"sources"`
	Pinned     []PinnedChange `json:"pinned,omitempty"`
	// MovedFraction is the share of all keys that change location
	// (source shards weighed by their rows when known, else equally).
	MovedFraction float64 `json:"moved_fraction"`
	// MovedRows estimates the rows that change location, when the rows of
	// every source shard are known.
	MovedRows *int64 `json:"moved_rows,omitempty"`
}

// SourcePlan is the plan of one source shard.
type SourcePlan struct {
	Shard    int      `json:"shard"`
	Location Location `json:"location"`
	Action   Action   `json:"action"`
	// Rows is the server's estimate of the shard's rows, when given.
	Rows *int64 `json:"rows,omitempty"`
	// Targets lists the target shards that receive keys, in shard order.
	// A sampled plan leaves it empty for a source shard no sample key
	// reached (a narrow range).
	Targets []Flow `json:"targets"`
}

// Flow is the part of a source shard's keys that one target shard
// receives.
type Flow struct {
	Shard    int      `json:"shard"`
	Location Location `json:"location"`
	Fraction float64  `json:"fraction"`
	// Rows is Fraction of the source shard's rows, when they are known.
	Rows *int64 `json:"rows,omitempty"`
	// Stays is true when the target is the source's own table: these rows
	// do not move.
	Stays bool `json:"stays,omitempty"`
}

// PinnedChange is a directory key whose location differs between the
// layouts. Pinned keys are left out of the fractions.
type PinnedChange struct {
	Key  string   `json:"key"`
	From Location `json:"from"`
	To   Location `json:"to"`
}

// PlanOption configures NewPlan.
type PlanOption func(*planConfig) error

type planConfig struct {
	rows   map[int]int64
	sample int
}

// DefaultSampleKeys is the number of keys NewPlan samples when the
// fractions cannot be computed exactly.
const DefaultSampleKeys = 200_000

// WithRows gives the source shards' row counts (shard number to rows), as
// EstimateRows returns them, so the plan estimates rows moved.
func WithRows(rows map[int]int64) PlanOption {
	return func(c *planConfig) error {
		for n, r := range rows {
			if r < 0 {
				return fmt.Errorf("shard: plan: rows of shard %d: %d is negative", n, r)
			}
		}
		c.rows = rows
		return nil
	}
}

// WithSampleKeys sets the number of keys sampled when the fractions cannot
// be computed exactly (default DefaultSampleKeys).
func WithSampleKeys(n int) PlanOption {
	return func(c *planConfig) error {
		if n < 1000 {
			return fmt.Errorf("shard: plan: %d sample keys: need at least 1000", n)
		}
		c.sample = n
		return nil
	}
}

// NewPlan plans the move from layout from to layout to. The fractions are
// exact when the methods allow it:
//
//   - the same method and shard count (locations may differ): shard n goes
//     whole to shard n; this is how doubling the servers or databases of a
//     power-of-two layout moves whole tables;
//   - md5, crc32 or mod to the same method with another count: a key's
//     shards are its residues modulo N_from and N_to, spread evenly over
//     the residues modulo lcm(N_from, N_to); with g = gcd(N_from, N_to),
//     source residue a sends g/N_to of its keys to each target residue b
//     with b = a (mod g) (for mod this assumes keys spread evenly over the
//     residues, as sequential ids do);
//   - jump to jump: growing from n to m shards, each source keeps n/m of its
//     keys and sends 1/m to each new shard; shrinking, the shards that
//     remain keep their keys and each removed one spreads evenly over the
//     remaining;
//   - range to range of one key kind: the overlap of the intervals, open
//     ends measured to the outermost finite bound of either layout.
//
// Otherwise the fractions come from routing a sample of keys (integers, or
// times in a range layout, from a fixed seed) with both layouts.
func NewPlan(from, to *Layout, opts ...PlanOption) (*Plan, error) {
	cfg := planConfig{sample: DefaultSampleKeys}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("shard: plan: nil option")
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	ra, err := from.Router()
	if err != nil {
		return nil, fmt.Errorf("shard: plan: from layout: %w", err)
	}
	rb, err := to.Router()
	if err != nil {
		return nil, fmt.Errorf("shard: plan: to layout: %w", err)
	}
	sa, sb := unpin(ra.Scheme()), unpin(rb.Scheme())
	p := &Plan{}
	frac, err := p.fractions(sa, sb, cfg.sample)
	if err != nil {
		return nil, err
	}
	la, lb := ra.Locations(), rb.Locations()
	var moved, weight float64
	var movedRows float64
	allRows := cfg.rows != nil
	for i, row := range frac {
		sp := SourcePlan{Shard: i + 1, Location: la[i], Action: MoveRows}
		r, known := cfg.rows[i+1]
		if known {
			sp.Rows = &r
		} else {
			allRows = false
		}
		w := 1.0
		if cfg.rows != nil {
			w = float64(r)
		}
		weight += w
		for j, f := range row {
			if f == 0 {
				continue
			}
			fl := Flow{Shard: j + 1, Location: lb[j], Fraction: f, Stays: sameTable(la[i], lb[j])}
			if known {
				n := int64(math.Round(f * float64(r)))
				fl.Rows = &n
				if !fl.Stays {
					movedRows += f * float64(r)
				}
			}
			if !fl.Stays {
				moved += w * f
			}
			sp.Targets = append(sp.Targets, fl)
		}
		if len(sp.Targets) == 1 && sp.Targets[0].Fraction == 1 {
			sp.Action = MoveTable
			if sp.Targets[0].Stays {
				sp.Action = Keep
			}
		}
		p.Sources = append(p.Sources, sp)
	}
	if weight > 0 {
		p.MovedFraction = moved / weight
	}
	if allRows {
		n := int64(math.Round(movedRows))
		p.MovedRows = &n
	}
	p.Pinned, err = pinnedChanges(ra, rb)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// sameTable reports whether two locations are one table.
func sameTable(a, b Location) bool {
	a.Shard, b.Shard = 0, 0
	return a == b
}

// unpin returns a directory's fallback, or s.
func unpin(s Scheme) Scheme {
	if d, ok := s.(*Directory); ok {
		return d.Fallback()
	}
	return s
}

// pinnedChanges lists the directory keys of either layout whose location
// differs.
func pinnedChanges(ra, rb *Map) ([]PinnedChange, error) {
	var keys []Key
	for _, r := range []*Map{ra, rb} {
		if d, ok := r.Scheme().(*Directory); ok {
			for _, e := range d.Entries() {
				keys = append(keys, e.Key)
			}
		}
	}
	var out []PinnedChange
	seen := map[Key]bool{}
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		a, err := ra.Route(k)
		if err != nil {
			return nil, fmt.Errorf("shard: plan: pinned key %s in the from layout: %w", k, err)
		}
		b, err := rb.Route(k)
		if err != nil {
			return nil, fmt.Errorf("shard: plan: pinned key %s in the to layout: %w", k, err)
		}
		if !sameTable(a, b) {
			out = append(out, PinnedChange{Key: k.String(), From: a, To: b})
		}
	}
	return out, nil
}

// fractions returns f[a][b], the fraction of source shard a+1's keys that
// target shard b+1 receives, and sets p's basis.
func (p *Plan) fractions(a, b Scheme, sample int) ([][]float64, error) {
	na, nb := a.Shards(), b.Shards()
	f := make([][]float64, na)
	for i := range f {
		f[i] = make([]float64, nb)
	}
	p.Exact = true
	ma, mb := a.Method(), b.Method()
	ra, aRanged := a.(*Ranges)
	rb, bRanged := b.(*Ranges)
	switch {
	case ma == mb && na == nb && !aRanged:
		p.Basis = fmt.Sprintf("exact: same method (%s) and shard count (%d): shard n stays shard n", ma, na)
		for i := range f {
			f[i][i] = 1
		}
	case ma == mb && (ma == MD5 || ma == CRC32 || ma == Mod):
		g := gcd(na, nb)
		p.Basis = fmt.Sprintf("exact: %s keys spread evenly over the residues modulo lcm(%d, %d) = %d; each source shard sends %d/%d of its keys to each target shard congruent to it modulo %d",
			ma, na, nb, na/g*nb, g, nb, g)
		for i := range f {
			for j := i % g; j < nb; j += g {
				f[i][j] = float64(g) / float64(nb)
			}
		}
	case ma == Jump && mb == Jump:
		if na < nb {
			p.Basis = fmt.Sprintf("exact: jump hash growing from %d to %d shards: each shard keeps %d/%d of its keys and sends 1/%d to each new shard", na, nb, na, nb, nb)
			for i := range f {
				f[i][i] = float64(na) / float64(nb)
				for j := na; j < nb; j++ {
					f[i][j] = 1 / float64(nb)
				}
			}
		} else {
			p.Basis = fmt.Sprintf("exact: jump hash shrinking from %d to %d shards: shards 1..%d keep their keys, each removed shard spreads evenly over them", na, nb, nb)
			for i := range f {
				if i < nb {
					f[i][i] = 1
					continue
				}
				for j := range nb {
					f[i][j] = 1 / float64(nb)
				}
			}
		}
	case aRanged && bRanged && (ra.KeyKind() == rb.KeyKind() || ra.KeyKind() == KindNone || rb.KeyKind() == KindNone):
		p.Basis = "exact: overlap of the key intervals (open ends measured to the outermost finite bound of either layout)"
		rangeOverlap(f, ra, rb)
	default:
		if err := p.sampleFractions(f, a, b, sample); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// span is an interval of keys as numbers (integers, or Unix seconds for
// times).
type span struct {
	shard  int
	lo, hi float64
}

// spans turns r's intervals into numbers, open ends at -inf and +inf.
func spans(r *Ranges) []span {
	out := make([]span, len(r.ranges))
	for i, iv := range r.ranges {
		out[i] = span{shard: iv.Shard, lo: math.Inf(-1), hi: math.Inf(1)}
		if iv.From.kind != KindNone {
			out[i].lo = boundNumber(iv.From)
		}
		if iv.To.kind != KindNone {
			out[i].hi = boundNumber(iv.To)
		}
	}
	return out
}

func boundNumber(k Key) float64 {
	if k.kind == KindTime {
		return float64(k.t.UnixNano()) / 1e9
	}
	return float64(k.i)
}

// rangeOverlap fills f from the overlaps of a's and b's intervals, open
// ends clamped to the outermost finite bounds of both.
func rangeOverlap(f [][]float64, a, b *Ranges) {
	sa, sb := spans(a), spans(b)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range append(append([]span(nil), sa...), sb...) {
		for _, x := range []float64{s.lo, s.hi} {
			if !math.IsInf(x, 0) {
				lo, hi = min(lo, x), max(hi, x)
			}
		}
	}
	clamp := func(s span) (float64, float64) {
		l, h := s.lo, s.hi
		if math.IsInf(l, -1) {
			l = lo
		}
		if math.IsInf(h, 1) {
			h = hi
		}
		return l, h
	}
	for _, x := range sa {
		xl, xh := clamp(x)
		for _, y := range sb {
			yl, yh := clamp(y)
			if xh > xl {
				if o := min(xh, yh) - max(xl, yl); o > 0 {
					f[x.shard-1][y.shard-1] = o / (xh - xl)
				}
				continue
			}
			// Nothing finite in x: an open tail beyond every bound. It
			// goes where a point of that tail goes in b.
			pt := lo - 1
			if math.IsInf(x.hi, 1) {
				pt = hi + 1
			}
			if y.lo <= pt && pt < y.hi {
				f[x.shard-1][y.shard-1] = 1
			}
		}
	}
}

// sampleFractions routes sample keys with both schemes: integers from a
// fixed seed over the whole int64 range, or, when either scheme is a range
// layout, integers or times spread evenly between its outermost finite
// bounds.
func (p *Plan) sampleFractions(f [][]float64, a, b Scheme, sample int) error {
	p.Exact = false
	p.SampleKeys = sample
	rng := rand.New(rand.NewPCG(4, 16))
	gen := func() Key { return Int(int64(rng.Uint64())) }
	what := "integer keys from the whole int64 range"
	for _, s := range []Scheme{a, b} {
		r, ok := s.(*Ranges)
		if !ok || len(r.ranges) < 2 {
			continue
		}
		first, last := r.ranges[1].From, r.ranges[len(r.ranges)-1].From
		if r.ranges[0].From.kind != KindNone {
			first = r.ranges[0].From
		}
		if t := r.ranges[len(r.ranges)-1].To; t.kind != KindNone {
			last = t
		}
		if r.kind == KindTime {
			lo, width := first.t, last.t.Sub(first.t)
			if width <= 0 { // one finite bound: a year either side
				lo, width = lo.AddDate(-1, 0, 0), 2*365*24*time.Hour
			}
			gen = func() Key { return Time(lo.Add(time.Duration(rng.Int64N(int64(width))))) }
			what = fmt.Sprintf("times spread evenly from %s to %s", first, last)
		} else {
			lo, width := first.i, uint64(last.i-first.i)
			if width == 0 { // one finite bound: 2^31 either side
				lo, width = lo-1<<31, 1<<32
			}
			gen = func() Key { return Int(lo + int64(rng.Uint64N(width))) }
			what = fmt.Sprintf("integer keys spread evenly from %d to %d", first.i, last.i)
		}
		break
	}
	p.Basis = fmt.Sprintf("sampled: %d %s, routed with both layouts (%s to %s)", sample, what, a.Method(), b.Method())
	counts := make([]int, len(f))
	for range sample {
		k := gen()
		x, err := a.Shard(k)
		if err != nil {
			return fmt.Errorf("shard: plan: the from layout cannot route sample key %s: %w", k, err)
		}
		y, err := b.Shard(k)
		if err != nil {
			return fmt.Errorf("shard: plan: the to layout cannot route sample key %s: %w", k, err)
		}
		f[x-1][y-1]++
		counts[x-1]++
	}
	for i, row := range f {
		for j := range row {
			if counts[i] > 0 {
				row[j] /= float64(counts[i])
			}
		}
	}
	return nil
}
