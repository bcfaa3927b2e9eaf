package rollback

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// Errors of DDL inverses, each wrapped by an error that names the clause.
var (
	// ErrDataDropped: the statement dropped rows or values (DROP TABLE,
	// TRUNCATE, DROP DATABASE, ALTER TABLE ... DROP COLUMN, DROP or
	// TRUNCATE PARTITION): no statement brings them back.
	ErrDataDropped = errors.New("no rollback: data dropped")
	// ErrNoInverse: no inverse is generated for the statement or one of
	// its clauses.
	ErrNoInverse = errors.New("no rollback generated")
)

// DDL is a schema change whose inverse Inverse writes from the
// definitions of its tables before and after it ran:
//
//   - ALTER TABLE: ADD COLUMN becomes DROP COLUMN; MODIFY, CHANGE and
//     ALTER COLUMN become CHANGE COLUMN back to the column's definition
//     before, at its place before (FIRST or AFTER the column before it);
//     RENAME COLUMN and RENAME INDEX rename back; ADD INDEX, KEY, UNIQUE,
//     FULLTEXT, SPATIAL and PRIMARY KEY become DROP INDEX or DROP PRIMARY
//     KEY (an unnamed index by the name the server gave it), ADD FOREIGN
//     KEY and ADD CONSTRAINT ... CHECK become their DROP (with the index
//     the server added for the foreign key); DROP INDEX, DROP PRIMARY
//     KEY, DROP FOREIGN KEY and DROP CHECK become ADD of the definition
//     before; RENAME TO renames back; ALGORITHM and LOCK need nothing.
//     The inverse clauses come in one ALTER TABLE of the table's new
//     name, last clause first.
//   - RENAME TABLE renames back, last pair first; CREATE TABLE becomes
//     DROP TABLE (the rows written to it since are dropped with it);
//     CREATE INDEX becomes DROP INDEX; DROP INDEX becomes ADD of the
//     definition before.
//   - DROP TABLE, DROP DATABASE, TRUNCATE, and ALTER TABLE with DROP
//     COLUMN, DROP PARTITION or TRUNCATE PARTITION: ErrDataDropped.
//   - Everything else (table options, partitioning, views, routines...):
//     ErrNoInverse.
//
// The statements are on one line each, ending with ";\n", and name every
// table with its database.
type DDL struct {
	text     string
	database string // the session's default database
	stmt     ast.StmtNode
	tables   []rowchange.Table
}

// ParseDDL parses text, a DDL statement run with database as the
// session's default database. It returns ErrDataDropped or ErrNoInverse
// (wrapped, naming the clause) for a statement that has no inverse here.
func ParseDDL(text, database string) (*DDL, error) {
	stmt, err := parser.New().ParseOneStmt(text, "", "")
	if err != nil {
		return nil, fmt.Errorf("%w: the statement does not parse: %w", ErrNoInverse, err)
	}
	d := &DDL{text: text, database: database, stmt: stmt}
	switch s := stmt.(type) {
	case *ast.AlterTableStmt:
		d.tables = []rowchange.Table{d.table(s.Table)}
		for _, sp := range s.Specs {
			if err := checkSpec(sp); err != nil {
				return nil, err
			}
			if sp.Tp == ast.AlterTableRenameTable {
				d.tables = append(d.tables, d.table(sp.NewTable))
			}
		}
	case *ast.RenameTableStmt:
	case *ast.CreateTableStmt:
		if s.TemporaryKeyword != ast.TemporaryNone {
			return nil, fmt.Errorf("%w: CREATE TEMPORARY TABLE", ErrNoInverse)
		}
		d.tables = []rowchange.Table{d.table(s.Table)}
	case *ast.CreateIndexStmt:
		d.tables = []rowchange.Table{d.table(s.Table)}
	case *ast.DropIndexStmt:
		d.tables = []rowchange.Table{d.table(s.Table)}
	case *ast.DropTableStmt:
		if s.IsView {
			return nil, fmt.Errorf("%w: DROP VIEW", ErrNoInverse)
		}
		return nil, fmt.Errorf("%w (DROP TABLE)", ErrDataDropped)
	case *ast.TruncateTableStmt:
		return nil, fmt.Errorf("%w (TRUNCATE)", ErrDataDropped)
	case *ast.DropDatabaseStmt:
		return nil, fmt.Errorf("%w (DROP DATABASE)", ErrDataDropped)
	default:
		return nil, fmt.Errorf("%w: not a statement with an inverse here", ErrNoInverse)
	}
	return d, nil
}

// checkSpec refuses an ALTER TABLE clause without an inverse.
func checkSpec(sp *ast.AlterTableSpec) error {
	switch sp.Tp {
	case ast.AlterTableDropColumn:
		return fmt.Errorf("%w (DROP COLUMN %s)", ErrDataDropped, schema.QuoteIdent(sp.OldColumnName.Name.O))
	case ast.AlterTableDropPartition, ast.AlterTableTruncatePartition, ast.AlterTableDropFirstPartition:
		return fmt.Errorf("%w (DROP or TRUNCATE PARTITION)", ErrDataDropped)
	case ast.AlterTableAddColumns, ast.AlterTableModifyColumn, ast.AlterTableChangeColumn, ast.AlterTableAlterColumn,
		ast.AlterTableRenameColumn, ast.AlterTableRenameIndex, ast.AlterTableRenameTable, ast.AlterTableDropIndex,
		ast.AlterTableDropPrimaryKey, ast.AlterTableDropForeignKey, ast.AlterTableDropCheck, ast.AlterTableAlgorithm, ast.AlterTableLock:
		return nil
	case ast.AlterTableAddConstraint:
		switch sp.Constraint.Tp {
		case ast.ConstraintPrimaryKey, ast.ConstraintKey, ast.ConstraintIndex, ast.ConstraintUniq, ast.ConstraintUniqKey,
			ast.ConstraintUniqIndex, ast.ConstraintFulltext, ast.ConstraintForeignKey:
			return nil
		case ast.ConstraintCheck:
			if sp.Constraint.Name != "" {
				return nil
			}
			return fmt.Errorf("%w: ADD CHECK without a constraint name", ErrNoInverse)
		}
		return fmt.Errorf("%w: ADD of this kind of constraint", ErrNoInverse)
	case ast.AlterTableOption:
		return fmt.Errorf("%w: table options (ENGINE, COMMENT, CHARSET...)", ErrNoInverse)
	}
	return fmt.Errorf("%w: an ALTER TABLE clause of this kind (partitioning, ORDER BY, FORCE...)", ErrNoInverse)
}

// table is n with the default database filled in.
func (d *DDL) table(n *ast.TableName) rowchange.Table {
	db := n.Schema.O
	if db == "" {
		db = d.database
	}
	return rowchange.Table{Schema: db, Name: n.Name.O}
}

// Tables are the tables whose SHOW CREATE TABLE Inverse needs, before the
// statement ran and after.
func (d *DDL) Tables() []rowchange.Table { return slices.Clone(d.tables) }

// Inverse returns the statements that undo the statement, given the SHOW
// CREATE TABLE text of each of Tables before it ran and after ("" or
// missing: the table did not exist). It returns ErrNoInverse (wrapped)
// when a definition it needs is missing or does not read.
func (d *DDL) Inverse(before, after map[rowchange.Table]string) (string, error) {
	q := func(t rowchange.Table) string { return schema.QualifiedName(t.Schema, t.Name) }
	switch s := d.stmt.(type) {
	case *ast.RenameTableStmt:
		var pairs []string
		for _, tt := range slices.Backward(s.TableToTables) {
			pairs = append(pairs, q(d.table(tt.NewTable))+" TO "+q(d.table(tt.OldTable)))
		}
		return "RENAME TABLE " + strings.Join(pairs, ", ") + ";\n", nil
	case *ast.CreateTableStmt:
		t := d.table(s.Table)
		if before[t] != "" {
			return "", fmt.Errorf("%w: table %s existed before (CREATE TABLE IF NOT EXISTS did nothing)", ErrNoInverse, q(t))
		}
		return "DROP TABLE " + q(t) + ";\n", nil
	case *ast.CreateIndexStmt:
		t := d.table(s.Table)
		if _, ok := readDef(before[t]).indexes[strings.ToLower(s.IndexName)]; ok {
			return "", fmt.Errorf("%w: index %s existed before (IF NOT EXISTS did nothing)", ErrNoInverse, schema.QuoteIdent(s.IndexName))
		}
		return "DROP INDEX " + schema.QuoteIdent(s.IndexName) + " ON " + q(t) + ";\n", nil
	case *ast.DropIndexStmt:
		t := d.table(s.Table)
		line, ok := readDef(before[t]).indexes[strings.ToLower(s.IndexName)]
		if !ok {
			return "", fmt.Errorf("%w: the definition of index %s of %s before the change is unknown", ErrNoInverse, schema.QuoteIdent(s.IndexName), q(t))
		}
		return "ALTER TABLE " + q(t) + " ADD " + line + ";\n", nil
	case *ast.AlterTableStmt:
		return d.alterInverse(s, before, after)
	}
	return "", fmt.Errorf("%w: not a statement with an inverse here", ErrNoInverse)
}

// alterInverse is the inverse of an ALTER TABLE.
func (d *DDL) alterInverse(s *ast.AlterTableStmt, before, after map[rowchange.Table]string) (string, error) {
	t := d.table(s.Table)
	newName := t
	for _, sp := range s.Specs {
		if sp.Tp == ast.AlterTableRenameTable {
			newName = d.table(sp.NewTable)
		}
	}
	if before[t] == "" {
		return "", fmt.Errorf("%w: the definition of %s before the change is unknown", ErrNoInverse, schema.QualifiedName(t.Schema, t.Name))
	}
	old, now := readDef(before[t]), readDef(after[newName])
	unknown := func(kind, name string) error {
		return fmt.Errorf("%w: the definition of %s %s before the change is unknown", ErrNoInverse, kind, schema.QuoteIdent(name))
	}
	named := map[string]bool{} // indexes the clauses name, lower case
	var inv []string           // in the order of the clauses; reversed at the end
	for _, sp := range s.Specs {
		switch sp.Tp {
		case ast.AlterTableAddColumns:
			var drops []string
			for _, c := range sp.NewColumns {
				drops = append(drops, "DROP COLUMN "+schema.QuoteIdent(c.Name.Name.O))
			}
			inv = append(inv, strings.Join(drops, ", "))
		case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn, ast.AlterTableAlterColumn:
			oldName := sp.NewColumns[0].Name.Name.O
			if sp.OldColumnName != nil {
				oldName = sp.OldColumnName.Name.O
			}
			line, pos, ok := old.column(oldName)
			if !ok {
				return "", unknown("column", oldName)
			}
			inv = append(inv, "CHANGE COLUMN "+schema.QuoteIdent(sp.NewColumns[0].Name.Name.O)+" "+line+" "+pos)
		case ast.AlterTableRenameColumn:
			inv = append(inv, "RENAME COLUMN "+schema.QuoteIdent(sp.NewColumnName.Name.O)+" TO "+schema.QuoteIdent(sp.OldColumnName.Name.O))
		case ast.AlterTableRenameIndex:
			named[sp.FromKey.L], named[sp.ToKey.L] = true, true
			inv = append(inv, "RENAME INDEX "+schema.QuoteIdent(sp.ToKey.O)+" TO "+schema.QuoteIdent(sp.FromKey.O))
		case ast.AlterTableRenameTable:
			inv = append(inv, "RENAME TO "+schema.QualifiedName(t.Schema, t.Name))
		case ast.AlterTableDropIndex, ast.AlterTableDropPrimaryKey:
			name := sp.Name
			if sp.Tp == ast.AlterTableDropPrimaryKey {
				name = "PRIMARY"
			}
			named[strings.ToLower(name)] = true
			line, ok := old.indexes[strings.ToLower(name)]
			if !ok {
				return "", unknown("index", name)
			}
			inv = append(inv, "ADD "+line)
		case ast.AlterTableDropForeignKey, ast.AlterTableDropCheck:
			name := sp.Name
			if sp.Tp == ast.AlterTableDropCheck {
				name = sp.Constraint.Name
			}
			line, ok := old.constraints[strings.ToLower(name)]
			if !ok {
				return "", unknown("constraint", name)
			}
			inv = append(inv, "ADD "+line)
		case ast.AlterTableAddConstraint:
			c := sp.Constraint
			switch c.Tp {
			case ast.ConstraintPrimaryKey:
				named["primary"] = true
				inv = append(inv, "DROP PRIMARY KEY")
			case ast.ConstraintForeignKey:
				if c.Name == "" {
					return "", fmt.Errorf("%w: ADD FOREIGN KEY without a constraint name", ErrNoInverse)
				}
				inv = append(inv, "DROP FOREIGN KEY "+schema.QuoteIdent(c.Name))
			case ast.ConstraintCheck:
				inv = append(inv, "DROP CONSTRAINT "+schema.QuoteIdent(c.Name))
			default:
				if c.Name != "" { // unnamed: by the name the server gave it, below
					named[strings.ToLower(c.Name)] = true
					inv = append(inv, "DROP INDEX "+schema.QuoteIdent(c.Name))
				}
			}
		}
	}
	// Indexes the server added without a name in the statement (an
	// unnamed ADD INDEX, a foreign key's index) are dropped last, after
	// the foreign key that may need them.
	var added []string
	for _, name := range now.indexOrder {
		if _, had := old.indexes[name]; !had && !named[name] {
			added = append(added, "DROP INDEX "+schema.QuoteIdent(now.indexNames[name]))
		}
	}
	slices.Reverse(inv)
	inv = append(inv, added...)
	if len(inv) == 0 {
		return "", fmt.Errorf("%w: the statement changes nothing an inverse restores", ErrNoInverse)
	}
	return "ALTER TABLE " + schema.QualifiedName(newName.Schema, newName.Name) + " " + strings.Join(inv, ", ") + ";\n", nil
}

// tableDef is what Inverse reads of a SHOW CREATE TABLE text: each line
// of the column list as the server wrote it, which it reads back as the
// same definition.
type tableDef struct {
	columns     []string          // names in order
	columnLines map[string]string // lower-case name: its line
	indexes     map[string]string // lower-case name ("primary" for the primary key): its line
	indexNames  map[string]string // lower-case name: as spelt
	indexOrder  []string          // lower-case names in order
	constraints map[string]string // lower-case name: its CONSTRAINT line
}

// readDef reads a SHOW CREATE TABLE text ("" reads as a table without
// anything).
func readDef(create string) *tableDef {
	d := &tableDef{columnLines: map[string]string{}, indexes: map[string]string{}, indexNames: map[string]string{}, constraints: map[string]string{}}
	lines := strings.Split(create, "\n")
	for _, line := range lines[min(1, len(lines)):] {
		if !strings.HasPrefix(line, "  ") {
			break // the line that closes the column list
		}
		line = strings.TrimSuffix(strings.TrimPrefix(line, "  "), ",")
		switch {
		case strings.HasPrefix(line, "`"):
			name := backquoted(line)
			d.columns = append(d.columns, name)
			d.columnLines[strings.ToLower(name)] = line
		case strings.HasPrefix(line, "PRIMARY KEY "):
			d.indexes["primary"], d.indexNames["primary"] = line, "PRIMARY"
			d.indexOrder = append(d.indexOrder, "primary")
		case strings.HasPrefix(line, "CONSTRAINT "):
			name := backquoted(strings.TrimPrefix(line, "CONSTRAINT "))
			d.constraints[strings.ToLower(name)] = line
		default:
			// KEY, UNIQUE KEY, FULLTEXT KEY, SPATIAL KEY, VECTOR KEY ...
			if i := strings.Index(line, "KEY `"); i >= 0 {
				name := backquoted(line[i+len("KEY "):])
				d.indexes[strings.ToLower(name)], d.indexNames[strings.ToLower(name)] = line, name
				d.indexOrder = append(d.indexOrder, strings.ToLower(name))
			}
		}
	}
	return d
}

// column returns the line of column name and its place: FIRST, or AFTER
// the column before it.
func (d *tableDef) column(name string) (line, pos string, ok bool) {
	line, ok = d.columnLines[strings.ToLower(name)]
	if !ok {
		return "", "", false
	}
	i := slices.IndexFunc(d.columns, func(c string) bool { return strings.EqualFold(c, name) })
	if i == 0 {
		return line, "FIRST", true
	}
	return line, "AFTER " + schema.QuoteIdent(d.columns[i-1]), true
}

// backquoted reads the backquoted name s starts with (doubled backquotes
// inside).
func backquoted(s string) string {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] == '`' {
			if i+1 < len(s) && s[i+1] == '`' {
				b.WriteByte('`')
				i++
				continue
			}
			return b.String()
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
