package migrate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// The checkpoint of a Copier lives on the target in two tables of the
// checkpoint database: copy_runs has one row per target database (which
// copy, from where, its state and snapshot position), copy_segments one row
// per segment of a table's key range (its bounds, the last key copied and
// the rows and bytes so far). A chunk's rows and its segment's update
// commit in one transaction.

const (
	runCopying = "copying"
	runDone    = "done"
)

// runRecord is a row of copy_runs with the totals of its segments.
type runRecord struct {
	Source   string
	SourceDB string
	Tables   []string // "source=target" pairs, in copy order
	State    string
	Position Position
	rows     map[string]int64 // target table -> rows copied
}

func (r *runRecord) matches(source, sourceDB string, tables []string) bool {
	return r.Source == source && r.SourceDB == sourceDB && slices.Equal(r.Tables, tables)
}

func (r *runRecord) tableList() string { return strings.Join(r.Tables, ", ") }

func (r *runRecord) totalRows() int64 {
	var n int64
	for _, v := range r.rows {
		n += v
	}
	return n
}

func checkpointDDL(db string) []string {
	q := schema.QuoteIdent(db)
	return []string{
		"CREATE DATABASE IF NOT EXISTS " + q + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
		"CREATE TABLE IF NOT EXISTS " + q + `.copy_runs (
			target_db VARCHAR(64) NOT NULL PRIMARY KEY,
			source VARCHAR(255) NOT NULL,
			source_db VARCHAR(64) NOT NULL,
			tables_json MEDIUMTEXT NOT NULL,
			state VARCHAR(16) NOT NULL,
			gtid TEXT NOT NULL,
			binlog_file VARCHAR(255) NOT NULL,
			binlog_pos BIGINT UNSIGNED NOT NULL,
			started_at DATETIME(6) NOT NULL,
			updated_at DATETIME(6) NOT NULL
		) ENGINE=InnoDB COMMENT 'shiftgate migrate.Copier: one copy per target database'`,
		"CREATE TABLE IF NOT EXISTS " + q + `.copy_segments (
			target_db VARCHAR(64) NOT NULL,
			target_table VARCHAR(64) NOT NULL,
			segment INT NOT NULL,
			lower_key MEDIUMTEXT NOT NULL,
			upper_key MEDIUMTEXT NOT NULL,
			last_key MEDIUMTEXT NOT NULL,
			rows_copied BIGINT NOT NULL DEFAULT 0,
			bytes_copied BIGINT NOT NULL DEFAULT 0,
			chunks BIGINT NOT NULL DEFAULT 0,
			done TINYINT NOT NULL DEFAULT 0,
			PRIMARY KEY (target_db, target_table, segment)
		) ENGINE=InnoDB COMMENT 'shiftgate migrate.Copier: progress of each segment, written with its rows'`,
	}
}

// loadRun reads the run record of targetDB, nil if there is none (or no
// checkpoint database yet).
func loadRun(ctx context.Context, q schema.Querier, checkpointDB, targetDB string) (*runRecord, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN ('copy_runs', 'copy_segments')`,
		checkpointDB).Scan(&n); err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	if n < 2 {
		return nil, nil
	}
	cp := schema.QuoteIdent(checkpointDB)
	r := &runRecord{rows: map[string]int64{}}
	var tables string
	err := q.QueryRowContext(ctx, "SELECT source, source_db, tables_json, state, gtid, binlog_file, binlog_pos FROM "+cp+".copy_runs WHERE target_db = ?", targetDB).
		Scan(&r.Source, &r.SourceDB, &tables, &r.State, &r.Position.GTID, &r.Position.File, &r.Position.Pos)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	if err := json.Unmarshal([]byte(tables), &r.Tables); err != nil {
		return nil, fmt.Errorf("read checkpoint: tables of the copy: %w", err)
	}
	rows, err := q.QueryContext(ctx, "SELECT target_table, SUM(rows_copied) FROM "+cp+".copy_segments WHERE target_db = ? GROUP BY target_table", targetDB)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t string
		var v int64
		if err := rows.Scan(&t, &v); err != nil {
			return nil, fmt.Errorf("read checkpoint: %w", err)
		}
		r.rows[t] = v
	}
	return r, rows.Err()
}

// segment is one part of a table's key range and its progress.
type segment struct {
	table *tableRun
	index int
	// lower is exclusive (nil: the start of the table), upper inclusive
	// (nil: the end).
	lower, upper keyset.Values
	// last is the key of the last row copied (nil: none yet).
	last   keyset.Values
	rows   int64
	bytes  int64
	chunks int64
	done   bool
}

// from is where the next chunk starts.
func (s *segment) from() keyset.Values {
	if s.last != nil {
		return s.last
	}
	return s.lower
}

// loadSegments reads the segments of targetDB's tables.
func loadSegments(ctx context.Context, q schema.Querier, checkpointDB, targetDB string, key func(table string) (keyset.Key, bool)) (map[string][]*segment, error) {
	rows, err := q.QueryContext(ctx, "SELECT target_table, segment, lower_key, upper_key, last_key, rows_copied, bytes_copied, chunks, done FROM "+
		schema.QuoteIdent(checkpointDB)+".copy_segments WHERE target_db = ? ORDER BY target_table, segment", targetDB)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	defer rows.Close()
	out := map[string][]*segment{}
	for rows.Next() {
		var table, lower, upper, last string
		s := &segment{}
		if err := rows.Scan(&table, &s.index, &lower, &upper, &last, &s.rows, &s.bytes, &s.chunks, &s.done); err != nil {
			return nil, fmt.Errorf("read checkpoint: %w", err)
		}
		k, ok := key(table)
		if !ok {
			continue
		}
		for _, p := range []struct {
			s   string
			dst *keyset.Values
		}{{lower, &s.lower}, {upper, &s.upper}, {last, &s.last}} {
			v, err := keyset.DecodeValues(p.s)
			if err != nil {
				return nil, fmt.Errorf("read checkpoint of table %s: %w", schema.QuoteIdent(table), err)
			}
			if *p.dst, err = k.Normalize(v); err != nil {
				return nil, fmt.Errorf("read checkpoint of table %s: %w", schema.QuoteIdent(table), err)
			}
		}
		out[table] = append(out[table], s)
	}
	return out, rows.Err()
}

// encodeKey encodes v for a checkpoint column.
func encodeKey(v keyset.Values) string {
	s, err := keyset.EncodeValues(v)
	if err != nil {
		panic(err) // unreachable: keys are normalized to encodable types
	}
	return s
}
