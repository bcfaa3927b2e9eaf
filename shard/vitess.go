package shard

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotVitessDirect: the layout does not map onto a Vitess keyspace as it
// stands; moving to Vitess takes a MoveTables and a Reshard (see
// shard/VITESS.md).
var ErrNotVitessDirect = errors.New("layout does not map directly onto Vitess")

// VitessKeyspace is what a layout becomes in Vitess: the keyspace's
// VSchema and one Vitess shard per layout shard.
type VitessKeyspace struct {
	VSchema VSchema       `json:"vschema"`
	Shards  []VitessShard `json:"shards"`
	// Notes are the differences that remain (keys Vitess routes that the
	// layout refuses).
	Notes []string `json:"notes,omitempty"`
}

// VSchema is a Vitess keyspace VSchema, as vtctldclient ApplyVSchema
// reads it.
type VSchema struct {
	Sharded  bool                    `json:"sharded"`
	Vindexes map[string]VitessVindex `json:"vindexes,omitempty"`
	Tables   map[string]VitessTable  `json:"tables"`
}

// VitessVindex is a vindex declaration.
type VitessVindex struct {
	Type string `json:"type"`
}

// VitessTable is a table of a VSchema.
type VitessTable struct {
	ColumnVindexes []VitessColumnVindex `json:"column_vindexes,omitempty"`
}

// VitessColumnVindex binds a column to a vindex.
type VitessColumnVindex struct {
	Column string `json:"column"`
	Name   string `json:"name"`
}

// VitessShard names the Vitess shard (its key range, "" for an unsharded
// keyspace) that serves a layout shard.
type VitessShard struct {
	Name     string   `json:"name"`
	Location Location `json:"location"`
}

// Vitess returns the Vitess keyspace that serves the layout's keys from
// the same shards, when there is one:
//
//   - a layout of one shard: an unsharded keyspace;
//   - a range layout on non-negative integer keys, one shard per database,
//     the same table name in every shard, no directory: a sharded keyspace
//     with a numeric vindex on Column (the key itself, big-endian, is the
//     keyspace id) and one shard per range, named by its key range.
//
// Every other layout is an error wrapping ErrNotVitessDirect that lists
// why: hashed and modulo methods pick a shard by a remainder, which no
// keyspace-id range reproduces; time ranges have no order-preserving
// vindex; directories need a lookup vindex; several shard tables in one
// database, or shard tables named apart, are not how Vitess shards.
func (l *Layout) Vitess() (*VitessKeyspace, error) {
	r, err := l.Router()
	if err != nil {
		return nil, err
	}
	locs := r.Locations()
	tT, _ := parseTemplate(l.Table) // checked by Router
	if len(locs) == 1 {
		return &VitessKeyspace{
			VSchema: VSchema{Tables: map[string]VitessTable{locs[0].Table: {}}},
			Shards:  []VitessShard{{Name: "0", Location: locs[0]}},
		}, nil
	}
	var why []string
	ranges, isRange := r.Scheme().(*Ranges)
	switch {
	case r.Scheme().Method() != Range:
		why = append(why, fmt.Sprintf("method %s picks a shard by a remainder; Vitess shards own ranges of the keyspace id", r.Scheme().Method()))
	case !isRange:
		why = append(why, "a directory pins keys to shards: Vitess needs a lookup vindex for that")
	case ranges.KeyKind() != KindInt:
		why = append(why, "time ranges: no Vitess vindex keeps the order of times in the keyspace id")
	default:
		for _, iv := range ranges.Intervals() {
			for _, b := range []Key{iv.From, iv.To} {
				if b.kind == KindInt && b.i < 0 {
					why = append(why, fmt.Sprintf("shard %d: bound %d: the numeric vindex maps only non-negative keys", iv.Shard, b.i))
				}
			}
		}
	}
	dbs := map[[2]string]bool{}
	for _, loc := range locs {
		dbs[[2]string{loc.Instance, loc.Database}] = true
	}
	if len(dbs) < len(locs) {
		why = append(why, "several shard tables in one database: a Vitess shard is one database")
	}
	if tT.has('n') || tT.has('m') || tT.has('k') {
		why = append(why, fmt.Sprintf("table template %q names each shard's table apart: a Vitess table has one name in every shard", l.Table))
	}
	if l.Column == "" {
		why = append(why, "the layout names no column (set column) for the vindex")
	}
	if len(why) > 0 {
		return nil, fmt.Errorf("shard: %w: %s", ErrNotVitessDirect, strings.Join(why, "; "))
	}
	ks := &VitessKeyspace{VSchema: VSchema{
		Sharded:  true,
		Vindexes: map[string]VitessVindex{"numeric": {Type: "numeric"}},
		Tables:   map[string]VitessTable{locs[0].Table: {ColumnVindexes: []VitessColumnVindex{{Column: l.Column, Name: "numeric"}}}},
	}}
	ivs := ranges.Intervals()
	for i, iv := range ivs {
		// Vitess shards cover every keyspace id: the first starts at the
		// beginning, the last runs to the end.
		from, to := keyRangeHex(iv.From), keyRangeHex(iv.To)
		if i == 0 {
			if iv.From.kind != KindNone && iv.From.i > 0 {
				ks.Notes = append(ks.Notes, fmt.Sprintf("keys below %d, which the layout refuses, go to the first shard in Vitess", iv.From.i))
			}
			from = ""
		}
		if i == len(ivs)-1 {
			if iv.To.kind != KindNone {
				ks.Notes = append(ks.Notes, fmt.Sprintf("keys from %d on, which the layout refuses, go to the last shard in Vitess", iv.To.i))
			}
			to = ""
		}
		ks.Shards = append(ks.Shards, VitessShard{Name: from + "-" + to, Location: locs[iv.Shard-1]})
	}
	return ks, nil
}

// keyRangeHex is the keyspace id of a numeric-vindex bound in a shard
// name: 16 hex digits, "" for an open end.
func keyRangeHex(b Key) string {
	if b.kind == KindNone {
		return ""
	}
	return fmt.Sprintf("%016x", uint64(b.i))
}
