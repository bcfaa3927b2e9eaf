package review

import (
	"context"
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// The ALTER TABLE algorithms, from cheapest to dearest.
const (
	algoInstant = "INSTANT" // metadata only
	algoInplace = "INPLACE" // no table copy; may rebuild in place, concurrent DML allowed
	algoCopy    = "COPY"    // the table is copied row by row; writes blocked
)

func algoRank(a string) int {
	switch a {
	case algoInstant:
		return 0
	case algoInplace:
		return 1
	case algoCopy:
		return 2
	}
	return -1
}

// predictAlgorithm predicts how the server runs a table change, with the
// reason for the dearest part, and the algorithm the statement requests.
//
// The prediction follows the online-DDL tables of MariaDB 10.11 (InnoDB:
// instant ADD, DROP and reorder of columns, instant VARCHAR extension within
// the same length-byte class, instant NULL-able change) and MySQL 8.0.29 or
// later (instant ADD and DROP COLUMN, defaults, renames, ENUM/SET members;
// in-place VARCHAR extension, index changes and rebuilds). Changing a column
// whose current definition the catalog does not know is predicted as COPY.
func (rv *run) predictAlgorithm(ctx context.Context, st *stmtState) (algo, why, requested string) {
	mariadb := rv.r.server != MySQL80
	switch n := st.node.(type) {
	case *ast.CreateIndexStmt:
		if n.LockAlg != nil && n.LockAlg.AlgorithmTp != ast.AlgorithmTypeDefault {
			requested = n.LockAlg.AlgorithmTp.String()
		}
		return algoInplace, "adding an index builds it in place", requested
	case *ast.DropIndexStmt:
		if n.LockAlg != nil && n.LockAlg.AlgorithmTp != ast.AlgorithmTypeDefault {
			requested = n.LockAlg.AlgorithmTp.String()
		}
		if isPrimaryName(n.IndexName) {
			return algoCopy, "dropping the primary key without adding one copies the table", requested
		}
		return algoInplace, "dropping an index changes metadata in place", requested
	case *ast.AlterTableStmt:
		t := rv.cat.peek(ctx, qualified(st.database, n.Table))
		algo, why = algoInstant, "only metadata changes"
		addsPK := false
		for _, s := range n.Specs {
			if s.Tp == ast.AlterTableAddConstraint && s.Constraint != nil && s.Constraint.Tp == ast.ConstraintPrimaryKey {
				addsPK = true
			}
		}
		for _, s := range n.Specs {
			if s.Tp == ast.AlterTableAlgorithm {
				if s.Algorithm != ast.AlgorithmTypeDefault {
					requested = s.Algorithm.String()
				}
				continue
			}
			a, w := specAlgorithm(t, s, mariadb, addsPK)
			if algoRank(a) > algoRank(algo) {
				algo, why = a, w
			}
		}
		return algo, why, requested
	}
	return "", "", ""
}

// specAlgorithm predicts one ALTER TABLE clause on table t (nil if unknown).
func specAlgorithm(t *TableDef, s *ast.AlterTableSpec, mariadb, addsPK bool) (string, string) {
	switch s.Tp {
	case ast.AlterTableLock, ast.AlterTableRenameTable, ast.AlterTableRenameIndex, ast.AlterTableAlterColumn,
		ast.AlterTableRenameColumn, ast.AlterTableIndexInvisible, ast.AlterTableDropCheck:
		return algoInstant, "only metadata changes"
	case ast.AlterTableOption:
		return optionsAlgorithm(t, s.Options, mariadb)
	case ast.AlterTableAddColumns:
		return addColumnsAlgorithm(t, s.NewColumns, mariadb)
	case ast.AlterTableDropColumn:
		return dropColumnAlgorithm(t, s)
	case ast.AlterTableDropPrimaryKey:
		return dropPKAlgorithm(addsPK)
	case ast.AlterTableDropIndex, ast.AlterTableDropForeignKey:
		if s.Tp == ast.AlterTableDropIndex && isPrimaryName(s.Name) {
			return dropPKAlgorithm(addsPK)
		}
		return algoInplace, "dropping an index or foreign key changes metadata in place"
	case ast.AlterTableAddConstraint:
		return constraintAlgorithm(s.Constraint)
	case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
		return modifyAlgorithm(t, s, mariadb)
	case ast.AlterTableForce:
		return algoInplace, "FORCE rebuilds the table in place"
	}
	return algoCopy, "this change copies the table"
}

// dropPKAlgorithm predicts dropping the primary key, replaced in the same
// statement or not.
func dropPKAlgorithm(addsPK bool) (string, string) {
	if addsPK {
		return algoInplace, "replacing the primary key rebuilds the table"
	}
	return algoCopy, "dropping the primary key without adding one copies the table"
}

// optionsAlgorithm predicts a clause of table options on table t (nil if
// unknown): the heaviest option decides, CONVERT TO CHARACTER SET and a
// change of engine copy the table at once.
func optionsAlgorithm(t *TableDef, opts []*ast.TableOption, mariadb bool) (string, string) {
	a, w := algoInstant, "only metadata changes"
	for _, o := range opts {
		switch o.Tp {
		case ast.TableOptionComment:
		case ast.TableOptionCharset, ast.TableOptionCollate:
			if o.UintValue == ast.TableOptionCharsetWithConvertTo {
				return algoCopy, "CONVERT TO CHARACTER SET rewrites every row"
			}
			if !mariadb {
				a, w = algoInplace, "changing the default character set"
			}
		case ast.TableOptionEngine:
			if t == nil || !strings.EqualFold(t.Engine, o.StrValue) {
				return algoCopy, fmt.Sprintf("changing the engine to %s copies the table", o.StrValue)
			}
			a, w = algoInplace, "ENGINE= on the same engine rebuilds the table"
		case ast.TableOptionAutoIncrement:
			if algoRank(a) < 1 {
				a, w = algoInplace, "AUTO_INCREMENT= changes a counter in place"
			}
		default:
			a, w = algoInplace, "changing table options rebuilds the table in place"
		}
	}
	return a, w
}

// addColumnsAlgorithm predicts ADD COLUMN of cols on table t (nil if
// unknown): instant, unless a column is stored generated, AUTO_INCREMENT
// or keyed, or t has a FULLTEXT index or (on MySQL) compressed rows.
func addColumnsAlgorithm(t *TableDef, cols []*ast.ColumnDef, mariadb bool) (string, string) {
	for _, cd := range cols {
		for _, o := range cd.Options {
			switch o.Tp {
			case ast.ColumnOptionGenerated:
				if o.Stored {
					return algoCopy, fmt.Sprintf("adding stored generated column %s copies the table", cd.Name.Name.O)
				}
			case ast.ColumnOptionAutoIncrement:
				return algoInplace, fmt.Sprintf("adding AUTO_INCREMENT column %s rebuilds the table", cd.Name.Name.O)
			case ast.ColumnOptionPrimaryKey, ast.ColumnOptionUniqKey:
				return algoInplace, fmt.Sprintf("adding column %s with a key builds an index", cd.Name.Name.O)
			}
		}
	}
	if t != nil && hasFulltext(t) {
		return algoInplace, fmt.Sprintf("table %s has a FULLTEXT index, so columns cannot be added instantly", t.Name)
	}
	if t != nil && strings.EqualFold(t.RowFormat, "Compressed") && !mariadb {
		return algoInplace, "ROW_FORMAT=COMPRESSED tables cannot add columns instantly"
	}
	return algoInstant, "columns are added instantly"
}

// dropColumnAlgorithm predicts DROP COLUMN s on table t (nil if unknown):
// instant, unless the column is part of an index of t, which is rebuilt.
func dropColumnAlgorithm(t *TableDef, s *ast.AlterTableSpec) (string, string) {
	if t != nil && s.OldColumnName != nil {
		name := s.OldColumnName.Name.O
		for _, ix := range t.Indexes {
			for _, c := range ix.Columns {
				if strings.EqualFold(c.Name, name) {
					return algoInplace, fmt.Sprintf("column %s is part of index %s, which is rebuilt", name, ix.Name)
				}
			}
		}
	}
	return algoInstant, "columns are dropped instantly"
}

// constraintAlgorithm predicts ADD CONSTRAINT c (nil if unparsed).
func constraintAlgorithm(c *ast.Constraint) (string, string) {
	if c == nil {
		return algoCopy, "unknown constraint"
	}
	switch c.Tp {
	case ast.ConstraintPrimaryKey:
		return algoInplace, "adding a primary key rebuilds the table"
	case ast.ConstraintForeignKey:
		return algoCopy, "ADD FOREIGN KEY copies the table unless foreign_key_checks=0"
	case ast.ConstraintCheck:
		return algoCopy, "ADD CHECK validates every row by copying the table"
	case ast.ConstraintFulltext:
		return algoInplace, "adding a FULLTEXT index builds it in place (the first one rebuilds the table)"
	}
	return algoInplace, "adding an index builds it in place"
}

// modifyAlgorithm predicts MODIFY or CHANGE COLUMN.
func modifyAlgorithm(t *TableDef, s *ast.AlterTableSpec, mariadb bool) (string, string) {
	if len(s.NewColumns) == 0 {
		return algoCopy, "unknown column change"
	}
	cd := s.NewColumns[0]
	oldName := cd.Name.Name.O
	if s.Tp == ast.AlterTableChangeColumn && s.OldColumnName != nil {
		oldName = s.OldColumnName.Name.O
	}
	var old *Column
	if t != nil {
		old = t.Column(oldName)
	}
	if old == nil {
		return algoCopy, fmt.Sprintf("the current definition of column %s is not known, and a type change copies the table", oldName)
	}
	nc, _ := columnFromDef(cd)
	a, w := algoInstant, fmt.Sprintf("column %s keeps its type", oldName)
	moved := s.Position != nil && s.Position.Tp != ast.ColumnPositionNone
	if moved && !mariadb {
		a, w = algoInplace, fmt.Sprintf("moving column %s rebuilds the table", oldName)
	}
	switch {
	case strings.EqualFold(old.ColumnType, nc.ColumnType) && sameCharset(old, &nc):
	case old.DataType == nc.DataType && (old.DataType == "varchar" || old.DataType == "varbinary") && nc.MaxLength >= old.MaxLength:
		if lengthBytes(old) != lengthBytes(&nc) {
			return algoCopy, fmt.Sprintf("extending column %s from %d to %d characters crosses the 255-byte length boundary", oldName, old.MaxLength, nc.MaxLength)
		}
		if !mariadb {
			a, w = algoInplace, fmt.Sprintf("extending VARCHAR column %s is done in place", oldName)
		}
	case (old.DataType == "enum" || old.DataType == "set") && old.DataType == nc.DataType && membersAppended(old.ColumnType, nc.ColumnType):
	default:
		return algoCopy, fmt.Sprintf("changing column %s from %s to %s copies the table", oldName, old.ColumnType, nc.ColumnType)
	}
	switch {
	case old.Nullable && !nc.Nullable:
		if algoRank(a) < 1 {
			a, w = algoInplace, fmt.Sprintf("making column %s NOT NULL rebuilds the table", oldName)
		}
	case !old.Nullable && nc.Nullable && !mariadb:
		if algoRank(a) < 1 {
			a, w = algoInplace, fmt.Sprintf("making column %s NULL-able rebuilds the table", oldName)
		}
	}
	return a, w
}

func hasFulltext(t *TableDef) bool {
	for _, ix := range t.Indexes {
		if ix.Type == "FULLTEXT" {
			return true
		}
	}
	return false
}

func sameCharset(a, b *Column) bool {
	return b.Charset == "" || strings.EqualFold(a.Charset, b.Charset)
}

// lengthBytes returns how many bytes hold a VARCHAR's length: 1 up to 255
// bytes of data, else 2. Unknown character sets count 4 bytes a character.
func lengthBytes(c *Column) int {
	per := int64(4)
	switch strings.ToLower(c.Charset) {
	case "latin1", "ascii", "binary":
		per = 1
	case "utf8", "utf8mb3":
		per = 3
	case "utf16", "ucs2":
		per = 2
	}
	if c.DataType == "varbinary" {
		per = 1
	}
	if c.MaxLength*per > 255 {
		return 2
	}
	return 1
}

// membersAppended reports whether the ENUM or SET type b is a with members
// added at the end (column types as "enum('a','b')").
func membersAppended(a, b string) bool {
	a, b = strings.ToLower(a), strings.ToLower(b)
	a = strings.TrimSuffix(a, ")")
	return strings.HasPrefix(b, a) && len(b) > len(a) && b[len(a)] == ','
}
