// Package checkpoint keeps the progress of copies on the target, in
// versioned tables of a checkpoint database, written in the same
// transaction as the rows they count.
//
// The tables are created and upgraded by internal/dbmigrate from the
// migrations embedded here, recorded in the database's schema_version
// table. A checkpoint database written by a newer or unknown version is
// refused with a *dbmigrate.VersionError naming it and the versions, never
// restarted over.
//
// Layout: one row per copy in copy_runs (keyed by target database), one
// row per segment of a table's key range in copy_segments. State of other
// kinds lives beside it in tables of its own, added by later migrations
// and keyed by what they follow; a change stream (binlog sync, outbox
// relay), for one, gets stream_positions (stream.go) with SaveStream,
// written in the transaction of the changes it applies, and LoadStream.
package checkpoint

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/shiftgate/shiftgate/internal/dbmigrate"
	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/internal/snapshot"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

var migrations = func() []dbmigrate.Migration {
	list, err := dbmigrate.Load(migrationFiles, "migrations")
	if err != nil {
		panic(err) // unreachable: the files are embedded
	}
	return list
}()

// ErrVersion is wrapped by the *dbmigrate.VersionError of a checkpoint
// database a newer or unknown version wrote (migrate.ErrCheckpointVersion).
var ErrVersion = errors.New("checkpoint of an incompatible version")

// Store is the checkpoint database on a target server.
type Store struct {
	database string
	schema   *dbmigrate.Schema
}

// New returns the checkpoint store in database.
func New(database string) *Store {
	return &Store{database: database, schema: &dbmigrate.Schema{
		What: "checkpoint", Database: database, Table: "schema_version",
		Lock: "shiftgate.checkpoint." + database, Migrations: migrations, Err: ErrVersion,
	}}
}

// Database is the checkpoint database's name.
func (s *Store) Database() string { return s.database }

// Check reads the checkpoint database's version without changing
// anything: no error when it is absent or this library can use it (as it
// is or after Prepare), a *dbmigrate.VersionError when a newer or unknown
// version wrote it.
func (s *Store) Check(ctx context.Context, q dbmigrate.Querier) error {
	_, err := s.schema.Version(ctx, q)
	return err
}

// Prepare creates the checkpoint database and its tables, or upgrades
// them; it refuses, changing nothing, tables of a newer or unknown version.
func (s *Store) Prepare(ctx context.Context, db *sql.DB) error {
	if err := s.Check(ctx, db); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+schema.QuoteIdent(s.database)+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		return fmt.Errorf("create checkpoint database %s: %w", schema.QuoteIdent(s.database), err)
	}
	return s.schema.Migrate(ctx, db)
}

func (s *Store) table(name string) string { return schema.QualifiedName(s.database, name) }

// Run states.
const (
	Copying = "copying"
	Done    = "done"
)

// Run is the copy into one target database.
type Run struct {
	Target   string // target database
	Source   string // source endpoint
	SourceDB string
	Tables   []string // "source=target" pairs, in copy order
	State    string   // Copying or Done
	Position snapshot.Position
	// Rows is the rows copied by target table (LoadRun).
	Rows map[string]int64
}

// Matches reports whether r is the copy of tables ("source=target" pairs)
// of sourceDB from source.
func (r *Run) Matches(source, sourceDB string, tables []string) bool {
	return r.Source == source && r.SourceDB == sourceDB && slices.Equal(r.Tables, tables)
}

// TotalRows is the rows copied into all of r's tables.
func (r *Run) TotalRows() int64 {
	var n int64
	for _, v := range r.Rows {
		n += v
	}
	return n
}

// Segment is one part of a table's key range and its progress.
type Segment struct {
	Table string // target table
	Index int
	// Lower is exclusive (nil: the start of the table), Upper inclusive
	// (nil: the end).
	Lower, Upper keyset.Values
	// Last is the key of the last row copied (nil: none yet).
	Last                keyset.Values
	Rows, Bytes, Chunks int64
	Done                bool
}

// Execer is what the writes run on: a *sql.Tx that also writes the rows
// a checkpoint counts, or a *sql.DB.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// LoadRun reads the run into target with the rows of its tables, nil if
// there is none (or no checkpoint database yet).
func (s *Store) LoadRun(ctx context.Context, q schema.Querier, target string) (*Run, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN ('copy_runs', 'copy_segments')`,
		s.database).Scan(&n); err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	if n < 2 {
		return nil, nil
	}
	r := &Run{Target: target, Rows: map[string]int64{}}
	var tables string
	err := q.QueryRowContext(ctx, "SELECT source, source_db, tables_json, state, gtid, binlog_file, binlog_pos FROM "+s.table("copy_runs")+" WHERE target_db = ?", target).
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
	rows, err := q.QueryContext(ctx, "SELECT target_table, SUM(rows_copied) FROM "+s.table("copy_segments")+" WHERE target_db = ? GROUP BY target_table", target)
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
		r.Rows[t] = v
	}
	return r, rows.Err()
}

// LoadSegments reads the segments of target's tables by table, in order,
// with their keys normalized by key; tables key does not know are skipped.
func (s *Store) LoadSegments(ctx context.Context, q schema.Querier, target string, key func(table string) (keyset.Key, bool)) (map[string][]Segment, error) {
	rows, err := q.QueryContext(ctx, "SELECT target_table, segment, lower_key, upper_key, last_key, rows_copied, bytes_copied, chunks, done FROM "+
		s.table("copy_segments")+" WHERE target_db = ? ORDER BY target_table, segment", target)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	defer rows.Close()
	out := map[string][]Segment{}
	for rows.Next() {
		var lower, upper, last string
		var sg Segment
		if err := rows.Scan(&sg.Table, &sg.Index, &lower, &upper, &last, &sg.Rows, &sg.Bytes, &sg.Chunks, &sg.Done); err != nil {
			return nil, fmt.Errorf("read checkpoint: %w", err)
		}
		k, ok := key(sg.Table)
		if !ok {
			continue
		}
		for _, p := range []struct {
			s   string
			dst *keyset.Values
		}{{lower, &sg.Lower}, {upper, &sg.Upper}, {last, &sg.Last}} {
			v, err := keyset.DecodeValues(p.s)
			if err != nil {
				return nil, fmt.Errorf("read checkpoint of table %s: %w", schema.QuoteIdent(sg.Table), err)
			}
			if *p.dst, err = k.Normalize(v); err != nil {
				return nil, fmt.Errorf("read checkpoint of table %s: %w", schema.QuoteIdent(sg.Table), err)
			}
		}
		out[sg.Table] = append(out[sg.Table], sg)
	}
	return out, rows.Err()
}

// Start records a new run and its segments (nothing copied yet), replacing
// any earlier run into the same target database. Run it in a transaction.
func (s *Store) Start(ctx context.Context, tx Execer, r Run, segments []Segment) error {
	tables, err := json.Marshal(r.Tables)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+s.table("copy_segments")+" WHERE target_db = ?", r.Target); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "REPLACE INTO "+s.table("copy_runs")+" VALUES (?, ?, ?, ?, ?, '', '', 0, NOW(6), NOW(6))",
		r.Target, r.Source, r.SourceDB, string(tables), Copying); err != nil {
		return err
	}
	for _, sg := range segments {
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+s.table("copy_segments")+" (target_db, target_table, segment, lower_key, upper_key, last_key) VALUES (?, ?, ?, ?, ?, '')",
			r.Target, sg.Table, sg.Index, encodeKey(sg.Lower), encodeKey(sg.Upper)); err != nil {
			return err
		}
	}
	return nil
}

// SaveChunk records a chunk of segment: its rows and bytes, the key of its
// last row and whether the segment is done. Run it in the transaction that
// writes the chunk's rows.
func (s *Store) SaveChunk(ctx context.Context, tx Execer, target, table string, segment int, last keyset.Values, rows, bytes int64, final bool) error {
	_, err := tx.ExecContext(ctx, "UPDATE "+s.table("copy_segments")+
		" SET last_key = ?, rows_copied = rows_copied + ?, bytes_copied = bytes_copied + ?, chunks = chunks + 1, done = ? WHERE target_db = ? AND target_table = ? AND segment = ?",
		encodeKey(last), rows, bytes, final, target, table, segment)
	return err
}

// SavePosition records the source position of target's run unless one is
// recorded already (a resumed run keeps the first run's).
func (s *Store) SavePosition(ctx context.Context, db Execer, target string, p snapshot.Position) error {
	_, err := db.ExecContext(ctx, "UPDATE "+s.table("copy_runs")+" SET gtid = ?, binlog_file = ?, binlog_pos = ?, updated_at = NOW(6) WHERE target_db = ? AND binlog_file = '' AND gtid = ''",
		p.GTID, p.File, p.Pos, target)
	return err
}

// Finish marks target's run done.
func (s *Store) Finish(ctx context.Context, db Execer, target string) error {
	_, err := db.ExecContext(ctx, "UPDATE "+s.table("copy_runs")+" SET state = ?, updated_at = NOW(6) WHERE target_db = ?", Done, target)
	return err
}

// encodeKey encodes v for a checkpoint column.
func encodeKey(v keyset.Values) string {
	s, err := keyset.EncodeValues(v)
	if err != nil {
		panic(err) // unreachable: keys are normalized to encodable types
	}
	return s
}

// Rewind sets segment of target's table back to an earlier chunk
// boundary: its last key to last, its chunks to chunks and done to done,
// and takes removed rows off its count. Run it in the transaction that
// deletes those rows.
func (s *Store) Rewind(ctx context.Context, tx Execer, target, table string, segment int, last keyset.Values, chunks, removed int64, done bool) error {
	_, err := tx.ExecContext(ctx, "UPDATE "+s.table("copy_segments")+
		" SET last_key = ?, rows_copied = rows_copied - ?, chunks = ?, done = ? WHERE target_db = ? AND target_table = ? AND segment = ?",
		encodeKey(last), removed, chunks, done, target, table, segment)
	return err
}
