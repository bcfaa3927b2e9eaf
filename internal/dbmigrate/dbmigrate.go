// Package dbmigrate creates and upgrades a set of tables with versioned SQL
// migrations embedded in the program, each recorded in a version table, and
// refuses tables that a newer or unknown version of the program wrote.
package dbmigrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/internal/conn"
)

// Migration is one step: the SQL of the file NNNN_name.sql. A released
// migration is never edited or renamed: its version and name are recorded
// where it ran.
type Migration struct {
	Version int
	Name    string // the file name
	SQL     string // one statement
}

// Load reads the migrations in dir of fsys, files named NNNN_name.sql, in
// version order. Versions start at 1 and have no gaps.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations %s: %w", dir, err)
	}
	var out []Migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration file %s has no version number", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d (versions start at 1, without gaps or repeats)", m.Name, i+1)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("migrations %s: none", dir)
	}
	return out, nil
}

// Schema is a set of tables and the migrations that build them.
type Schema struct {
	What     string // what the tables are, for messages ("workflow store")
	Database string // where the tables live; "" for the pool's default database
	Table    string // the version table, in Database
	Lock     string // the named lock Migrate holds (conn.Lock)
	// Err, if not nil, is the sentinel a *VersionError of these tables
	// wraps beside ErrIncompatible, so that callers tell whose tables
	// refused (a public package exports it).
	Err error
	// Migrations, from Load.
	Migrations []Migration
}

// ErrIncompatible is wrapped by a *VersionError.
var ErrIncompatible = errors.New("incompatible schema version")

// VersionError is tables recorded by a version of the program that this
// one does not know: newer, or a migration it does not have.
type VersionError struct {
	What     string
	Database string
	Recorded []string // the recorded migrations, "version (name)"
	Latest   int      // the latest version this program knows
	Newer    bool     // a recorded version is above Latest
	Err      error    // Schema.Err; nil for none
}

func (e *VersionError) Error() string {
	if e.Newer {
		return fmt.Sprintf("database %s: %s schema version %s is newer than this library's %d: %v",
			quote(e.Database), e.What, e.Recorded[len(e.Recorded)-1], e.Latest, ErrIncompatible)
	}
	return fmt.Sprintf("database %s: %s schema records migrations %s, which are not this library's (versions 1 to %d): %v",
		quote(e.Database), e.What, strings.Join(e.Recorded, ", "), e.Latest, ErrIncompatible)
}

// Unwrap returns ErrIncompatible and Err.
func (e *VersionError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrIncompatible}
	}
	return []error{ErrIncompatible, e.Err}
}

func quote(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

// Latest is the version the migrations reach.
func (s *Schema) Latest() int { return s.Migrations[len(s.Migrations)-1].Version }

func (s *Schema) table() string {
	if s.Database == "" {
		return quote(s.Table)
	}
	return quote(s.Database) + "." + quote(s.Table)
}

// Querier is what Version reads through.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Version reads the version the tables have, without changing anything:
// 0 when there is no version table. Tables recorded by a newer or an
// unknown version of the program are a *VersionError naming the database
// and the versions.
func (s *Schema) Version(ctx context.Context, q Querier) (int, error) {
	db := s.Database
	if db == "" {
		if err := q.QueryRowContext(ctx, "SELECT COALESCE(DATABASE(), '')").Scan(&db); err != nil {
			return 0, fmt.Errorf("%s schema version: %w", s.What, err)
		}
	}
	var n int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", db, s.Table).Scan(&n); err != nil {
		return 0, fmt.Errorf("database %s: %s schema version: %w", quote(db), s.What, err)
	}
	if n == 0 {
		return 0, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT version, name FROM "+s.table()+" ORDER BY version")
	if err != nil {
		return 0, fmt.Errorf("database %s: %s schema version: %w", quote(db), s.What, err)
	}
	defer rows.Close()
	var recorded []Migration
	for rows.Next() {
		var m Migration
		if err := rows.Scan(&m.Version, &m.Name); err != nil {
			return 0, fmt.Errorf("database %s: %s schema version: %w", quote(db), s.What, err)
		}
		recorded = append(recorded, m)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("database %s: %s schema version: %w", quote(db), s.What, err)
	}
	known := true
	for i, m := range recorded {
		known = known && i < len(s.Migrations) && s.Migrations[i].Version == m.Version && s.Migrations[i].Name == m.Name
	}
	if known {
		return len(recorded), nil
	}
	e := &VersionError{What: s.What, Database: db, Latest: s.Latest(), Newer: recorded[len(recorded)-1].Version > s.Latest(), Err: s.Err}
	for _, m := range recorded {
		e.Recorded = append(e.Recorded, fmt.Sprintf("%d (%s)", m.Version, m.Name))
	}
	return 0, e
}

// lockWait bounds how long Migrate waits for another process migrating
// the same tables.
const lockWait = 60 * time.Second

// Migrate creates or upgrades the tables to Latest, one migration at a
// time, each recorded in the version table, under the named lock (so that
// processes starting together migrate once). It refuses tables of a newer
// or unknown version (*VersionError) and changes nothing then.
func (s *Schema) Migrate(ctx context.Context, db *sql.DB) error {
	c, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", s.What, err)
	}
	// The lock and the migrations share one connection: a pool of one
	// connection migrates too. Discarded at the end: its default database
	// (USE below) must not reach the pool.
	defer conn.Discard(c)
	release, err := conn.LockOn(ctx, c, s.Lock, lockWait)
	if err != nil {
		return fmt.Errorf("%s: cannot take the migration lock: %w", s.What, err)
	}
	defer func() { _ = release() }() // on an error, closing c releases it
	if s.Database != "" {
		// The migrations name their tables without a database.
		if _, err := c.ExecContext(ctx, "USE "+quote(s.Database)); err != nil {
			return fmt.Errorf("database %s: %s: %w", quote(s.Database), s.What, err)
		}
	}
	current, err := s.Version(ctx, c)
	if err != nil {
		return err
	}
	if _, err := c.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+s.table()+` (
		version INT NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL, applied_at DATETIME(6) NOT NULL) ENGINE=InnoDB`); err != nil {
		return fmt.Errorf("%s: version table: %w", s.What, err)
	}
	for _, m := range s.Migrations[current:] {
		if _, err := c.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("%s: migration %s: %w", s.What, m.Name, err)
		}
		if _, err := c.ExecContext(ctx, "INSERT INTO "+s.table()+" VALUES (?, ?, ?)", m.Version, m.Name, time.Now().UTC()); err != nil {
			return fmt.Errorf("%s: recording migration %s: %w", s.What, m.Name, err)
		}
	}
	return nil
}
