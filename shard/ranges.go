package shard

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Interval is one shard's keys in a range layout: the half-open interval
// [From, To). A bound that is the zero Key is open on that side (the first
// shard from minus infinity, the last to plus infinity). Bounds are integer
// keys (Int, or Uint up to MaxInt64) or time keys (Time), one kind for the
// whole layout.
type Interval struct {
	Shard    int
	From, To Key
}

// Ranges is the Scheme of a range layout: integer or time intervals, one
// per shard, without gaps or overlaps. Build it with NewRanges.
type Ranges struct {
	kind   KeyKind    // KindInt, KindTime, or KindNone for one unbounded range
	ranges []Interval // sorted by From, contiguous
}

var _ Scheme = (*Ranges)(nil)

// NewRanges checks rs and returns their Scheme. Every shard 1..len(rs) has
// exactly one range; the ranges, in key order, meet end to start. Errors
// name the shard at fault: a gap or an overlap names both neighbours.
func NewRanges(rs []Interval) (*Ranges, error) {
	if len(rs) == 0 {
		return nil, errors.New("shard: range layout: no ranges")
	}
	out := &Ranges{kind: KindNone, ranges: make([]Interval, len(rs))}
	seen := make(map[int]bool, len(rs))
	for i, r := range rs {
		if r.Shard < 1 || r.Shard > len(rs) {
			return nil, fmt.Errorf("shard: range of shard %d: shard numbers run from 1 to %d (one range each)", r.Shard, len(rs))
		}
		if seen[r.Shard] {
			return nil, fmt.Errorf("shard: range of shard %d: shard %d has two ranges", r.Shard, r.Shard)
		}
		seen[r.Shard] = true
		for _, b := range []*Key{&r.From, &r.To} {
			if b.kind == KindUint {
				if b.u > math.MaxInt64 {
					return nil, fmt.Errorf("shard: range of shard %d: bound %d is above the largest integer key %d", r.Shard, b.u, int64(math.MaxInt64))
				}
				*b = Int(int64(b.u))
			}
			switch b.kind {
			case KindNone:
				continue
			case KindInt, KindTime:
			default:
				return nil, fmt.Errorf("shard: range of shard %d: bound %s: bounds are integers or times", r.Shard, b)
			}
			if out.kind != KindNone && out.kind != b.kind {
				return nil, fmt.Errorf("shard: range of shard %d: bound %s is a %s, others are %ss", r.Shard, b, b.kind, out.kind)
			}
			out.kind = b.kind
		}
		if r.From.kind != KindNone && r.To.kind != KindNone && compareBound(r.From, r.To) >= 0 {
			return nil, fmt.Errorf("shard: range of shard %d: from %s is not below to %s", r.Shard, r.From, r.To)
		}
		out.ranges[i] = r
	}
	slices.SortFunc(out.ranges, func(a, b Interval) int { return compareLow(a.From, b.From) })
	for i := 1; i < len(out.ranges); i++ {
		p, r := out.ranges[i-1], out.ranges[i]
		switch {
		case r.From.kind == KindNone:
			return nil, fmt.Errorf("shard: ranges of shards %d and %d overlap: both start at minus infinity", p.Shard, r.Shard)
		case p.To.kind == KindNone:
			return nil, fmt.Errorf("shard: ranges of shards %d and %d overlap: shard %d runs to plus infinity, shard %d starts at %s", p.Shard, r.Shard, p.Shard, r.Shard, r.From)
		case compareBound(p.To, r.From) < 0:
			return nil, fmt.Errorf("shard: ranges of shards %d and %d leave a gap: keys from %s to %s have no shard", p.Shard, r.Shard, p.To, r.From)
		case compareBound(p.To, r.From) > 0:
			return nil, fmt.Errorf("shard: ranges of shards %d and %d overlap: shard %d runs to %s, shard %d starts at %s", p.Shard, r.Shard, p.Shard, p.To, r.Shard, r.From)
		}
	}
	return out, nil
}

// compareBound compares two bounded keys of one kind (KindInt or KindTime).
func compareBound(a, b Key) int {
	if a.kind == KindTime {
		return a.t.Compare(b.t)
	}
	switch {
	case a.i < b.i:
		return -1
	case a.i > b.i:
		return 1
	}
	return 0
}

// compareLow orders lower bounds, minus infinity first.
func compareLow(a, b Key) int {
	switch {
	case a.kind == KindNone && b.kind == KindNone:
		return 0
	case a.kind == KindNone:
		return -1
	case b.kind == KindNone:
		return 1
	}
	return compareBound(a, b)
}

// Shards is the number of ranges.
func (r *Ranges) Shards() int { return len(r.ranges) }

// Method is Range.
func (r *Ranges) Method() Method { return Range }

// KeyKind is the kind of the bounds: KindInt or KindTime (KindNone for a
// single range open on both sides).
func (r *Ranges) KeyKind() KeyKind { return r.kind }

// Intervals returns the intervals in key order; callers must not modify it.
func (r *Ranges) Intervals() []Interval { return r.ranges }

// Shard finds the range that holds k: an integer key (Int, Uint) in an
// integer layout, a time key in a time layout. A key below the first
// bound or at or above the last is an error wrapping ErrNoShard.
func (r *Ranges) Shard(k Key) (int, error) {
	big := false // a Uint key above MaxInt64, above every integer bound
	switch {
	case k.kind == KindUint && r.kind != KindTime:
		if k.u > math.MaxInt64 {
			big = true
		} else {
			k = Int(int64(k.u))
		}
	case k.kind == KindInt && r.kind != KindTime, k.kind == KindTime && r.kind != KindInt:
	default:
		return 0, kindError(Range, k.kind)
	}
	// The last range whose From is at or below k.
	lo, hi := 0, len(r.ranges)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		f := r.ranges[m].From
		if f.kind == KindNone || big || compareBound(f, k) <= 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return 0, fmt.Errorf("shard: key %s is below the first range: %w", k, ErrNoShard)
	}
	got := r.ranges[lo-1]
	if got.To.kind != KindNone && (big || compareBound(k, got.To) >= 0) {
		return 0, fmt.Errorf("shard: key %s is at or above the last range's end %s: %w", k, got.To, ErrNoShard)
	}
	return got.Shard, nil
}
