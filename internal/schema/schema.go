package schema

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Querier is what the functions here need of a *sql.DB, *sql.Conn or *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// QuoteIdent quotes name as a MySQL identifier: `name`, with backticks doubled.
func QuoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// QualifiedName quotes database.table.
func QualifiedName(database, table string) string {
	return QuoteIdent(database) + "." + QuoteIdent(table)
}

// ValidateName checks that name can be a database or table name: 1 to 64
// characters, no NUL byte, no trailing space.
func ValidateName(kind, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s name is empty", kind)
	case len([]rune(name)) > 64:
		return fmt.Errorf("%s name %q is longer than 64 characters", kind, name)
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("%s name %q contains a NUL byte", kind, name)
	case strings.HasSuffix(name, " "):
		return fmt.Errorf("%s name %q ends with a space", kind, name)
	}
	return nil
}

// Database describes a database (schema).
type Database struct {
	Name      string
	Charset   string
	Collation string
}

// ErrNotFound reports that a database, table or column does not exist.
//
// It is the one "not found" of objects on a server: migrate.ErrNotFound,
// verify.ErrNotFound and review.ErrNotFound are this value, so errors.Is
// with any of them matches whichever package reported the object. The
// error that wraps it names the object ("table `shop`.`orders` does not
// exist"); the sentinel itself carries no package prefix. Records that are
// not server objects have their own sentinel: workflow.ErrNotFound is a
// ticket, so a "no such ticket" handler never fires for a table missing
// inside a ticket's work.
var ErrNotFound = errors.New("does not exist")

// LookupDatabase returns the database called name, or an error wrapping
// ErrNotFound.
func LookupDatabase(ctx context.Context, q Querier, name string) (Database, error) {
	d := Database{Name: name}
	err := q.QueryRowContext(ctx,
		`SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?`,
		name).Scan(&d.Charset, &d.Collation)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("database %s %w", QuoteIdent(name), ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("database %s: %w", QuoteIdent(name), err)
	}
	return d, nil
}

// Table describes a base table or view with information_schema's estimates.
type Table struct {
	Name        string
	View        bool
	Engine      string
	Rows        int64
	DataLength  int64
	IndexLength int64
}

// Tables lists the base tables and views of database, by name in binary
// order (the order mysqldump and mariadb-dump use).
func Tables(ctx context.Context, q Querier, database string) ([]Table, error) {
	var out []Table
	err := scanRows(ctx, q, `SELECT TABLE_NAME, TABLE_TYPE = 'VIEW', COALESCE(ENGINE, ''),
		COALESCE(TABLE_ROWS, 0), COALESCE(DATA_LENGTH, 0), COALESCE(INDEX_LENGTH, 0)
		FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY BINARY TABLE_NAME`, []any{database},
		func(scan func(...any) error) error {
			var t Table
			if err := scan(&t.Name, &t.View, &t.Engine, &t.Rows, &t.DataLength, &t.IndexLength); err != nil {
				return err
			}
			out = append(out, t)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("list tables of %s: %w", QuoteIdent(database), err)
	}
	return out, nil
}

// HasRows reports whether database.table holds at least one row.
func HasRows(ctx context.Context, q Querier, database, table string) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, "SELECT 1 FROM "+QualifiedName(database, table)+" LIMIT 1").Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("table %s: %w", QualifiedName(database, table), err)
	}
	return true, nil
}

// Routine is a stored procedure or function, trigger or event.
type Routine struct {
	// Kind is "procedure", "function", "trigger" or "event".
	Kind string
	Name string
	// Table is the table a trigger belongs to.
	Table string
}

// Routines lists the procedures, functions, triggers and events of database.
func Routines(ctx context.Context, q Querier, database string) ([]Routine, error) {
	var out []Routine
	err := scanRows(ctx, q, `
		SELECT LOWER(ROUTINE_TYPE), ROUTINE_NAME, '' FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?
		UNION ALL SELECT 'trigger', TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?
		UNION ALL SELECT 'event', EVENT_NAME, '' FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?
		ORDER BY 1, 2`, []any{database, database, database},
		func(scan func(...any) error) error {
			var r Routine
			if err := scan(&r.Kind, &r.Name, &r.Table); err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("list routines of %s: %w", QuoteIdent(database), err)
	}
	return out, nil
}

// Variable returns the value of a global server variable, "" if the server
// has no such variable.
func Variable(ctx context.Context, q Querier, name string) (string, error) {
	var v string
	err := q.QueryRowContext(ctx,
		"SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME = ?", strings.ToUpper(name)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("variable %s: %w", name, err)
	}
	return v, nil
}

// Checksum returns the row count and CHECKSUM TABLE value of database.table.
// Equal definitions with equal rows have equal checksums on servers of the
// same version; it reads the whole table.
func Checksum(ctx context.Context, q Querier, database, table string) (rows, sum int64, err error) {
	name := QualifiedName(database, table)
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+name).Scan(&rows); err != nil {
		return 0, 0, fmt.Errorf("count %s: %w", name, err)
	}
	var got string
	var s sql.NullInt64
	if err := q.QueryRowContext(ctx, "CHECKSUM TABLE "+name).Scan(&got, &s); err != nil {
		return 0, 0, fmt.Errorf("checksum %s: %w", name, err)
	}
	return rows, s.Int64, nil
}
