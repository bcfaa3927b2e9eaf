package shard

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// ErrMissingTable: a shard's table is not on its server.
var ErrMissingTable = errors.New("shard table not found")

// EstimateRows asks each server of l for its estimate of the rows in each
// shard table (information_schema.TABLES.TABLE_ROWS: exact for MyISAM,
// an estimate for InnoDB, refreshed by ANALYZE TABLE), one query per
// server. dbs maps the layout's instance names to connections ("" for a
// layout without instances). The result maps shard numbers to rows; a
// shard table that does not exist is an error naming it and wrapping
// ErrMissingTable.
func EstimateRows(ctx context.Context, l *Layout, dbs map[string]*sql.DB) (map[int]int64, error) {
	r, err := l.Router()
	if err != nil {
		return nil, err
	}
	byInstance := map[string][]Location{}
	for _, loc := range r.Locations() {
		byInstance[loc.Instance] = append(byInstance[loc.Instance], loc)
	}
	out := make(map[int]int64, len(r.Locations()))
	for inst, locs := range byInstance {
		db := dbs[inst]
		if db == nil {
			return nil, fmt.Errorf("shard: row estimates: no connection for instance %q", inst)
		}
		schemas := map[string]bool{}
		var args []any
		for _, loc := range locs {
			if !schemas[loc.Database] {
				schemas[loc.Database] = true
				args = append(args, loc.Database)
			}
		}
		q := "SELECT TABLE_SCHEMA, TABLE_NAME, COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (?" +
			strings.Repeat(", ?", len(args)-1) + ")"
		rows, err := db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("shard: row estimates on instance %q: %w", inst, err)
		}
		found := map[[2]string]int64{}
		for rows.Next() {
			var schema, table string
			var n int64
			if err := rows.Scan(&schema, &table, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("shard: row estimates on instance %q: %w", inst, err)
			}
			found[[2]string{schema, table}] = n
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("shard: row estimates on instance %q: %w", inst, err)
		}
		for _, loc := range locs {
			n, ok := found[[2]string{loc.Database, loc.Table}]
			if !ok {
				return nil, fmt.Errorf("shard: row estimates: shard %d: table %s: %w", loc.Shard, loc, ErrMissingTable)
			}
			out[loc.Shard] = n
		}
	}
	return out, nil
}
