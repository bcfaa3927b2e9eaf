package checkpoint

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// Stream is where a change stream (a binlog sync, an outbox relay) stands
// on its target: the table stream_positions, one row per stream name.
type Stream struct {
	// Source names the stream's source as its owner identifies it (for
	// example conn.Identity.String), so that a stream is not resumed
	// against another server.
	Source string
	// Position is where the stream resumes, opaque here (a GTID set for
	// the binlog).
	Position string
	// TxnID is the source's id of the last transaction applied; "" when
	// the source has none.
	TxnID string
	// SourceTime is when the source committed that transaction; zero when
	// unknown.
	SourceTime time.Time
	// Version counts the saves of the stream: 1 after the first.
	Version int64
	// Updated is when it was saved (LoadStream), in UTC.
	Updated time.Time
}

// ErrStreamMoved is wrapped by SaveStream's error when the stored stream
// is not at the version the writer expects: another writer saved it in
// between (or the writer's copy is stale). Nothing is written.
var ErrStreamMoved = errors.New("stream position saved by another writer")

// streamTimeLayout is how stream times pass to and from DATETIME(6), in UTC
// whatever the session's time zone.
const streamTimeLayout = "2006-01-02 15:04:05.000000"

// LoadStream reads the stream called name, nil if there is none (or no
// checkpoint database yet).
func (s *Store) LoadStream(ctx context.Context, q schema.Querier, name string) (*Stream, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'stream_positions'`,
		s.database).Scan(&n); err != nil {
		return nil, fmt.Errorf("read position of stream %q: %w", name, err)
	}
	if n == 0 {
		return nil, nil
	}
	var st Stream
	var srcTime sql.NullString
	var updated string
	err := q.QueryRowContext(ctx, "SELECT source, position, txn_id, source_time, version, updated_at FROM "+s.table("stream_positions")+" WHERE stream = ?", name).
		Scan(&st.Source, &st.Position, &st.TxnID, &srcTime, &st.Version, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read position of stream %q: %w", name, err)
	}
	for _, p := range []struct {
		s   string
		dst *time.Time
	}{{srcTime.String, &st.SourceTime}, {updated, &st.Updated}} {
		if p.s == "" {
			continue
		}
		if *p.dst, err = time.Parse(streamTimeLayout, p.s); err != nil {
			return nil, fmt.Errorf("read position of stream %q: %w", name, err)
		}
	}
	return &st, nil
}

// SaveStream stores st as the position of the stream called name. Run it
// in the transaction that applies the changes st follows. st.Version must
// be one more than the stored version (1 for a stream not stored yet);
// otherwise nothing is written and the error wraps ErrStreamMoved.
func (s *Store) SaveStream(ctx context.Context, tx Execer, name string, st Stream) error {
	// Literals, not placeholders: on a pool without interpolateParams a
	// placeholder costs a prepared statement, three round trips instead of
	// one, in every transaction of the stream.
	srcTime := "NULL"
	if !st.SourceTime.IsZero() {
		srcTime = rowcodec.String(st.SourceTime.UTC().Format(streamTimeLayout))
	}
	moved := fmt.Errorf("save position of stream %q: version %d: %w", name, st.Version, ErrStreamMoved)
	if st.Version <= 1 {
		_, err := tx.ExecContext(ctx, "INSERT INTO "+s.table("stream_positions")+
			" (stream, source, position, txn_id, source_time, version, updated_at) VALUES ("+
			rowcodec.String(name)+", "+rowcodec.String(st.Source)+", "+rowcodec.String(st.Position)+", "+rowcodec.String(st.TxnID)+", "+srcTime+", 1, UTC_TIMESTAMP(6))")
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == errDupEntry {
			return moved
		}
		if err != nil {
			return fmt.Errorf("save position of stream %q: %w", name, err)
		}
		return nil
	}
	res, err := tx.ExecContext(ctx, "UPDATE "+s.table("stream_positions")+
		" SET source = "+rowcodec.String(st.Source)+", position = "+rowcodec.String(st.Position)+", txn_id = "+rowcodec.String(st.TxnID)+
		", source_time = "+srcTime+", version = "+strconv.FormatInt(st.Version, 10)+", updated_at = UTC_TIMESTAMP(6)"+
		" WHERE stream = "+rowcodec.String(name)+" AND version = "+strconv.FormatInt(st.Version-1, 10))
	if err != nil {
		return fmt.Errorf("save position of stream %q: %w", name, err)
	}
	// The version changes, so a matched row is a changed row.
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return moved
	}
	return nil
}

// errDupEntry is ER_DUP_ENTRY.
const errDupEntry = 1062
