package shard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// KeysPlaceholder is replaced, in the SQL of a Lookup query, by one ? per
// key of the batch: "WHERE id IN ({keys})".
const KeysPlaceholder = "{keys}"

// DefaultLookupBatch is how many keys one IN list holds by default.
const DefaultLookupBatch = 1000

// WithLookupBatch sets how many keys one Lookup query's IN list holds at
// most (default DefaultLookupBatch); n must be at least 1.
func WithLookupBatch(n int) GatherOption {
	return func(g *Gatherer) error {
		if n < 1 {
			return fmt.Errorf("shard: lookup batch %d: must be at least 1", n)
		}
		g.batch = n
		return nil
	}
}

// Lookup is the second step of the seed's two-step join, for tables
// sharded on different keys: first gather the related ids from one
// sharded table (Gather, then Gathered.Keys), then Lookup finds their
// rows where they live.
//
// Lookup routes each distinct key with r and runs q on each location
// that holds one and on no other, with {table} replaced by the location's
// table and {keys} by one placeholder per key, at most the Gatherer's
// lookup batch keys per query. Queries run like
// Gather's: in parallel with its concurrency, each within the per-shard
// timeout, errors naming the shard.
//
// q.Args come first, then the batch's keys, so {keys} must follow every
// other ? in q.SQL (a ? after it is an error). Keys are passed as int64,
// uint64, string or time.Time by kind. The result holds one ShardRows
// per location asked, in the order of r.Locations(); with no keys it is
// empty and has no columns.
func (g *Gatherer) Lookup(ctx context.Context, r Router, keys []Key, q Query) (*Gathered, error) {
	if !strings.Contains(q.SQL, TablePlaceholder) {
		return nil, fmt.Errorf("shard: lookup: query does not name the shard's table as %s", TablePlaceholder)
	}
	i := strings.Index(q.SQL, KeysPlaceholder)
	if i < 0 {
		return nil, fmt.Errorf("shard: lookup: query has no %s for the keys", KeysPlaceholder)
	}
	if strings.Count(q.SQL, KeysPlaceholder) > 1 || strings.Contains(q.SQL[i:], "?") {
		return nil, fmt.Errorf("shard: lookup: %s must appear once, after every other ? of the query", KeysPlaceholder)
	}
	perLoc, order, err := routeKeys(r, keys)
	if err != nil {
		return nil, err
	}
	if len(order) == 0 {
		return &Gathered{}, nil
	}
	var tasks []task
	for _, loc := range order {
		ks := perLoc[loc]
		for start := 0; start < len(ks); start += g.batch {
			batch := ks[start:min(start+g.batch, len(ks))]
			args := make([]any, 0, len(q.Args)+len(batch))
			args = append(append(args, q.Args...), batch...)
			marks := strings.Repeat(",?", len(batch))[1:]
			t, err := g.task(loc, Query{SQL: strings.Replace(q.SQL, KeysPlaceholder, marks, 1), Args: args})
			if err != nil {
				return nil, err
			}
			tasks = append(tasks, t)
		}
	}
	res, err := g.run(ctx, tasks)
	if err != nil {
		return nil, err
	}
	// One ShardRows per location: join its batches.
	var shards []ShardRows
	for _, s := range res.Shards {
		if n := len(shards); n > 0 && shards[n-1].Location == s.Location {
			shards[n-1].Rows = append(shards[n-1].Rows, s.Rows...)
			continue
		}
		shards = append(shards, s)
	}
	res.Shards = shards
	return res, nil
}

// routeKeys groups the distinct keys by location, as query arguments,
// and lists the locations in the router's order.
func routeKeys(r Router, keys []Key) (map[Location][]any, []Location, error) {
	perLoc := map[Location][]any{}
	seen := make(map[Key]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		arg, err := keyArg(k)
		if err != nil {
			return nil, nil, err
		}
		loc, err := r.Route(k)
		if err != nil {
			return nil, nil, fmt.Errorf("shard: lookup: routing key %s: %w", k, err)
		}
		perLoc[loc] = append(perLoc[loc], arg)
	}
	var order []Location
	for _, loc := range r.Locations() {
		if _, ok := perLoc[loc]; ok {
			order = append(order, loc)
		}
	}
	if len(order) != len(perLoc) {
		return nil, nil, errors.New("shard: lookup: the router routed a key to a location not in its Locations")
	}
	return perLoc, order, nil
}

func keyArg(k Key) (any, error) {
	switch k.Kind() {
	case KindInt:
		return k.Int(), nil
	case KindUint:
		return k.Uint(), nil
	case KindString:
		return k.Str(), nil
	case KindTime:
		return k.Time(), nil
	}
	return nil, fmt.Errorf("shard: lookup: key of kind %s", k.Kind())
}

// Keys returns the distinct non-NULL values of column as sharding keys,
// in the order the shards returned them: integers as Int or Uint, text
// and binary strings as String, dates and times as Time (which needs
// parseTime=true in the DSN). Other kinds are an error.
func (g *Gathered) Keys(column string) ([]Key, error) {
	idx, err := columnIndex(g.Columns, column)
	if err != nil {
		return nil, err
	}
	var keys []Key
	seen := map[Key]bool{}
	for _, s := range g.Shards {
		for _, r := range s.Rows {
			var k Key
			switch v := r[idx].(type) {
			case nil:
				continue
			case int64:
				k = Int(v)
			case uint64:
				k = Uint(v)
			case time.Time:
				k = Time(v)
			case string:
				if c := g.Columns[idx]; c.Kind != ColText && c.Kind != ColBinary {
					return nil, fmt.Errorf("shard: keys of column %s (%s): not a key type (dates need parseTime=true)", c.Name, c.Type)
				}
				k = String(v)
			default:
				c := g.Columns[idx]
				return nil, fmt.Errorf("shard: keys of column %s (%s): not a key type", c.Name, c.Type)
			}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}
