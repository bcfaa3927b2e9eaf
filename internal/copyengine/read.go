package copyengine

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/shiftgate/shiftgate/internal/keyset"
)

// chunkQuery is the query that reads the chunk of seg after from, at most
// limit rows (0: a keyless table, read whole), and the limit it applies.
func chunkQuery(cfg *Config, seg *Segment, from keyset.Values) (query string, args []any, limit int) {
	t := seg.Table
	if t.Keyless {
		return fmt.Sprintf("SELECT %s FROM %s", t.SelectList, t.QualifiedName()), nil, 0
	}
	limit = t.limit(cfg.ChunkRows, cfg.ChunkBytes)
	if cfg.MaxChunkRows > 0 {
		limit = min(limit, cfg.MaxChunkRows)
	}
	query, args = t.Key.ChunkQuery(t.Database, t.Name, t.SelectList, keyset.Range{Lower: from, Upper: seg.Upper}, limit)
	return query, args, limit
}

// read reads one chunk of seg after from into b.
func read(ctx context.Context, cfg *Config, conn *sql.Conn, seg *Segment, from keyset.Values, b Batch) (*Chunk, error) {
	t := seg.Table
	object := "table " + t.QualifiedName()
	// readErr is the error of a failed read: the source table's.
	readErr := func(err error) error { return cfg.SourceError(object, fmt.Errorf("read chunk: %w", err)) }
	if cfg.Pace != nil {
		if err := cfg.Pace(ctx, t); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	query, args, limit := chunkQuery(cfg, seg, from)
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, readErr(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, readErr(err)
	}
	raw := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	b.Reset(t)
	ch := &Chunk{Segment: seg, Batch: b, From: from}
	lastKey := make([][]byte, len(t.KeyPos))
	cut := false
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, readErr(err)
		}
		if err := b.Add(raw); err != nil {
			return nil, cfg.SourceError(object, err)
		}
		ch.Rows++
		for i, p := range t.KeyPos {
			lastKey[i] = append(lastKey[i][:0], raw[p]...)
		}
		if t.Keyless {
			if int64(ch.Rows) > cfg.KeylessMaxRows || int64(b.Len()) > cfg.ChunkBytes {
				return nil, cfg.SourceError(object, cfg.KeylessTooLarge)
			}
		} else if int64(b.Len()) >= cfg.ChunkBytes {
			cut = true
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, readErr(err)
	}
	if err := rows.Close(); err != nil {
		return nil, readErr(err)
	}
	t.readRows.Add(int64(ch.Rows))
	t.readBytes.Add(int64(b.Len()))
	ch.Final = t.Keyless || !cut && ch.Rows < limit
	if ch.Rows > 0 && !t.Keyless {
		ch.Last = make(keyset.Values, len(lastKey))
		for i, v := range lastKey {
			if ch.Last[i], err = t.Key.Value(i, v); err != nil {
				return nil, readErr(err)
			}
		}
	} else {
		ch.Last = from
	}
	ch.took = time.Since(start)
	return ch, nil
}
