package schema

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Column describes one column of a table, as information_schema shows it.
type Column struct {
	Name string
	// DataType is the lower-case type name: "int", "varchar", "decimal".
	DataType string
	// ColumnType is the full type: "int(10) unsigned", "enum('a','b')".
	ColumnType string
	Nullable   bool
	// Default is COLUMN_DEFAULT as the server reports it (MariaDB quotes
	// string literals and reports an explicit NULL default as "NULL"); nil
	// when the column has no default.
	Default   *string
	Charset   string
	Collation string
	// MaxLength is CHARACTER_MAXIMUM_LENGTH (characters; bytes for binary
	// types), 0 for non-string types.
	MaxLength int64
	// Precision and Scale are NUMERIC_PRECISION and NUMERIC_SCALE.
	Precision, Scale int64
	Unsigned         bool
	AutoIncrement    bool
	// Generated reports a VIRTUAL or STORED (PERSISTENT) generated column,
	// whose value cannot be inserted.
	Generated bool
	// Invisible reports an INVISIBLE column (MariaDB 10.3+, MySQL 8.0.23+),
	// which SELECT * leaves out and an INSERT without a column list does
	// not take a value for.
	Invisible bool
	Comment   string
}

// Index describes one index; the primary key is named "PRIMARY".
type Index struct {
	Name    string
	Primary bool
	Unique  bool
	// Type is BTREE, HASH, FULLTEXT or SPATIAL.
	Type    string
	Columns []IndexColumn
	Comment string
}

// IndexColumn is one column of an index.
type IndexColumn struct {
	Name string
	// SubPart is the prefix length of a prefix index, 0 for the whole column.
	SubPart int64
}

// ColumnNames returns the names of the index's columns in order.
func (ix *Index) ColumnNames() []string {
	out := make([]string, len(ix.Columns))
	for i, c := range ix.Columns {
		out[i] = c.Name
	}
	return out
}

// ForeignKey describes a foreign key constraint.
type ForeignKey struct {
	Name               string
	Columns            []string
	RefDatabase        string
	RefTable           string
	RefColumns         []string
	OnUpdate, OnDelete string
}

// TableDef is the definition of a base table with information_schema's
// size estimates.
type TableDef struct {
	Database    string
	Name        string
	Engine      string
	Collation   string
	RowFormat   string
	Comment     string
	Partitioned bool
	// Rows, DataLength and IndexLength are estimates.
	Rows, DataLength, IndexLength int64
	Columns                       []Column
	// Indexes are in the server's order, the primary key first.
	Indexes     []Index
	ForeignKeys []ForeignKey
}

// Column returns the column called name (compared case-insensitively, as
// the server does), or nil.
func (t *TableDef) Column(name string) *Column {
	for i := range t.Columns {
		if strings.EqualFold(t.Columns[i].Name, name) {
			return &t.Columns[i]
		}
	}
	return nil
}

// Index returns the index called name (case-insensitively), or nil.
func (t *TableDef) Index(name string) *Index {
	for i := range t.Indexes {
		if strings.EqualFold(t.Indexes[i].Name, name) {
			return &t.Indexes[i]
		}
	}
	return nil
}

// PrimaryKey returns the primary key, or nil.
func (t *TableDef) PrimaryKey() *Index { return t.Index("PRIMARY") }

// ErrNoKey reports a table without a primary key or a unique index over NOT
// NULL columns, which keyset chunking and row comparison need. It is
// exported as migrate.ErrNoKey and verify.ErrNoKey, one value.
var ErrNoKey = errors.New("no primary key or unique NOT NULL key")

// RowKey returns the index that identifies a row: the primary key, or else
// the first unique index whose columns are all NOT NULL and not prefixes.
// Without one it returns an error wrapping ErrNoKey that names the table.
func (t *TableDef) RowKey() (*Index, error) {
	if pk := t.PrimaryKey(); pk != nil {
		return pk, nil
	}
	for i := range t.Indexes {
		ix := &t.Indexes[i]
		if !ix.Unique || ix.Type != "BTREE" && ix.Type != "HASH" {
			continue
		}
		usable := true
		for _, c := range ix.Columns {
			col := t.Column(c.Name)
			if col == nil || col.Nullable || c.SubPart > 0 {
				usable = false
				break
			}
		}
		if usable {
			return ix, nil
		}
	}
	return nil, fmt.Errorf("table %s: %w", QualifiedName(t.Database, t.Name), ErrNoKey)
}

// InsertableColumns returns the columns that take values on INSERT: all
// but generated ones.
func (t *TableDef) InsertableColumns() []Column {
	out := make([]Column, 0, len(t.Columns))
	for _, c := range t.Columns {
		if !c.Generated {
			out = append(out, c)
		}
	}
	return out
}

// LoadTable reads the definition of database.table. A missing table (or a
// view) gives an error wrapping ErrNotFound.
func LoadTable(ctx context.Context, q Querier, database, table string) (*TableDef, error) {
	defs, err := loadTables(ctx, q, database, table)
	if err != nil {
		return nil, err
	}
	if len(defs) == 0 {
		return nil, fmt.Errorf("table %s %w", QualifiedName(database, table), ErrNotFound)
	}
	return defs[0], nil
}

// LoadTables reads the definitions of every base table of database, by
// name in binary order, with four queries whatever the number of tables.
func LoadTables(ctx context.Context, q Querier, database string) ([]*TableDef, error) {
	return loadTables(ctx, q, database, "")
}

// loadTables reads one table (table != "") or all of database.
func loadTables(ctx context.Context, q Querier, database, table string) ([]*TableDef, error) {
	filter, args := "TABLE_SCHEMA = ?", []any{database}
	if table != "" {
		filter, args = "TABLE_SCHEMA = ? AND TABLE_NAME = ?", []any{database, table}
	}
	fail := func(what string, err error) error {
		return fmt.Errorf("read %s of %s: %w", what, QuoteIdent(database), err)
	}
	var defs []*TableDef
	byName := map[string]*TableDef{}
	err := scanRows(ctx, q, `SELECT TABLE_NAME, COALESCE(ENGINE, ''), COALESCE(TABLE_COLLATION, ''), COALESCE(ROW_FORMAT, ''),
		TABLE_COMMENT, CREATE_OPTIONS LIKE '%partitioned%', COALESCE(TABLE_ROWS, 0), COALESCE(DATA_LENGTH, 0), COALESCE(INDEX_LENGTH, 0)
		FROM information_schema.TABLES WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') AND `+filter+` ORDER BY BINARY TABLE_NAME`,
		args, func(scan func(...any) error) error {
			t := &TableDef{Database: database}
			if err := scan(&t.Name, &t.Engine, &t.Collation, &t.RowFormat, &t.Comment, &t.Partitioned, &t.Rows, &t.DataLength, &t.IndexLength); err != nil {
				return err
			}
			defs = append(defs, t)
			byName[t.Name] = t
			return nil
		})
	if err != nil {
		return nil, fail("tables", err)
	}
	if len(defs) == 0 {
		return nil, nil
	}
	err = scanRows(ctx, q, `SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE = 'YES', COLUMN_DEFAULT,
		COALESCE(CHARACTER_SET_NAME, ''), COALESCE(COLLATION_NAME, ''), COALESCE(CHARACTER_MAXIMUM_LENGTH, 0),
		COALESCE(NUMERIC_PRECISION, 0), COALESCE(NUMERIC_SCALE, 0), EXTRA, IS_GENERATED = 'ALWAYS', COLUMN_COMMENT
		FROM information_schema.COLUMNS WHERE `+filter+` ORDER BY TABLE_NAME, ORDINAL_POSITION`,
		args, func(scan func(...any) error) error {
			var tn, extra string
			var c Column
			if err := scan(&tn, &c.Name, &c.DataType, &c.ColumnType, &c.Nullable, &c.Default, &c.Charset, &c.Collation,
				&c.MaxLength, &c.Precision, &c.Scale, &extra, &c.Generated, &c.Comment); err != nil {
				return err
			}
			c.DataType = strings.ToLower(c.DataType)
			c.Unsigned = strings.Contains(strings.ToLower(c.ColumnType), "unsigned")
			extra = strings.ToLower(extra)
			c.AutoIncrement = strings.Contains(extra, "auto_increment")
			c.Invisible = strings.Contains(extra, "invisible")
			if t := byName[tn]; t != nil {
				t.Columns = append(t.Columns, c)
			}
			return nil
		})
	if err != nil {
		return nil, fail("columns", err)
	}
	err = scanRows(ctx, q, `SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE = 0, INDEX_TYPE, COLUMN_NAME, COALESCE(SUB_PART, 0), INDEX_COMMENT
		FROM information_schema.STATISTICS WHERE `+filter+` ORDER BY TABLE_NAME, INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX`,
		args, func(scan func(...any) error) error {
			var tn, name, typ, col, comment string
			var unique bool
			var sub int64
			if err := scan(&tn, &name, &unique, &typ, &col, &sub, &comment); err != nil {
				return err
			}
			t := byName[tn]
			if t == nil {
				return nil
			}
			if n := len(t.Indexes); n == 0 || t.Indexes[n-1].Name != name {
				t.Indexes = append(t.Indexes, Index{Name: name, Primary: name == "PRIMARY", Unique: unique, Type: typ, Comment: comment})
			}
			ix := &t.Indexes[len(t.Indexes)-1]
			ix.Columns = append(ix.Columns, IndexColumn{Name: col, SubPart: sub})
			return nil
		})
	if err != nil {
		return nil, fail("indexes", err)
	}
	fkFilter := strings.ReplaceAll(strings.ReplaceAll(filter, "TABLE_SCHEMA", "k.TABLE_SCHEMA"), "TABLE_NAME", "k.TABLE_NAME")
	err = scanRows(ctx, q, `SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME,
		k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE
		FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r
		ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME
		WHERE k.REFERENCED_TABLE_NAME IS NOT NULL AND `+fkFilter+` ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION`,
		args, func(scan func(...any) error) error {
			var tn, name, col, refDB, refTable, refCol, onUpdate, onDelete string
			if err := scan(&tn, &name, &col, &refDB, &refTable, &refCol, &onUpdate, &onDelete); err != nil {
				return err
			}
			t := byName[tn]
			if t == nil {
				return nil
			}
			if n := len(t.ForeignKeys); n == 0 || t.ForeignKeys[n-1].Name != name {
				t.ForeignKeys = append(t.ForeignKeys, ForeignKey{Name: name, RefDatabase: refDB, RefTable: refTable, OnUpdate: onUpdate, OnDelete: onDelete})
			}
			fk := &t.ForeignKeys[len(t.ForeignKeys)-1]
			fk.Columns = append(fk.Columns, col)
			fk.RefColumns = append(fk.RefColumns, refCol)
			return nil
		})
	if err != nil {
		return nil, fail("foreign keys", err)
	}
	return defs, nil
}

// scanRows runs query and calls row for each result row with its Scan.
func scanRows(ctx context.Context, q Querier, query string, args []any, row func(scan func(...any) error) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}
