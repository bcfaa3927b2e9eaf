// Package shardroute routes rows read from a server to the locations of a
// shard.Router: the one place that turns a sharding key, as the server
// sends it in the text protocol, into a shard.Key and a location.
package shardroute

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"github.com/shiftgate/shiftgate/shard"
)

// Routing finds the location of a row's sharding key. It is safe for
// concurrent use if its router is.
type Routing struct {
	router  shard.Router
	kind    shard.KeyKind
	byShard map[int]int // Location.Shard to its index in the locations
}

// New routes keys of kind through router to indexes into locs (the
// router's locations).
func New(router shard.Router, locs []shard.Location, kind shard.KeyKind) *Routing {
	r := &Routing{router: router, kind: kind, byShard: make(map[int]int, len(locs))}
	for i, l := range locs {
		r.byShard[l.Shard] = i
	}
	return r
}

// Route returns the index in the locations of the key whose text-protocol
// value is v. A NULL key (v nil), a value that is not of the routing's
// kind, a key the router refuses or a shard the locations do not list is
// an error naming the key.
func (r *Routing) Route(v []byte) (int, error) {
	if v == nil {
		return 0, fmt.Errorf("a row has a NULL sharding key")
	}
	var k shard.Key
	switch r.kind {
	case shard.KindInt:
		n, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(v), len(v)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("sharding key %q: %w", v, err)
		}
		k = shard.Int(n)
	case shard.KindUint:
		n, err := strconv.ParseUint(unsafe.String(unsafe.SliceData(v), len(v)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("sharding key %q: %w", v, err)
		}
		k = shard.Uint(n)
	default:
		k = shard.String(string(v))
	}
	loc, err := r.router.Route(k)
	if err != nil {
		return 0, fmt.Errorf("route sharding key %s: %w", k, err)
	}
	i, ok := r.byShard[loc.Shard]
	if !ok {
		return 0, fmt.Errorf("sharding key %s routes to shard %d, which the router's locations do not list", k, loc.Shard)
	}
	return i, nil
}

// Querier is what KindOf reads through: a *sql.DB, *sql.Conn or *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// KindOf returns how the values of the SQL expression expr over the table
// from (quoted database.table) route: an integer type as an integer key
// (KindUint when unsigned), any other as a string key (its text). It asks
// the server for the expression's type without reading a row.
func KindOf(ctx context.Context, q Querier, from, expr string) (shard.KeyKind, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+expr+" FROM "+from+" LIMIT 0")
	if err != nil {
		return 0, fmt.Errorf("sharding key: %w", err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return 0, fmt.Errorf("sharding key: %w", err)
	}
	kind := shard.KindString
	if t := types[0].DatabaseTypeName(); strings.HasSuffix(t, "INT") {
		kind = shard.KindInt
		if strings.HasPrefix(t, "UNSIGNED") {
			kind = shard.KindUint
		}
	}
	return kind, rows.Close()
}
