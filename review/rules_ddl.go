package review

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// alteredTables returns the tables a statement changes the definition of.
func alteredTable(n ast.StmtNode) *ast.TableName {
	switch n := n.(type) {
	case *ast.AlterTableStmt:
		return n.Table
	case *ast.CreateIndexStmt:
		return n.Table
	case *ast.DropIndexStmt:
		return n.Table
	}
	return nil
}

// intRank orders the integer types by size.
var intRank = map[string]int{"tinyint": 1, "smallint": 2, "mediumint": 3, "int": 4, "bigint": 5}

// textRank orders the TEXT and BLOB types by size.
var textRank = map[string]int{"tinytext": 1, "text": 2, "mediumtext": 3, "longtext": 4, "tinyblob": 1, "blob": 2, "mediumblob": 3, "longblob": 4}

func typeFamily(dt string) string {
	switch {
	case intRank[dt] > 0:
		return "int"
	case dt == "decimal":
		return "decimal"
	case dt == "float" || dt == "double":
		return "float"
	case dt == "char" || dt == "varchar" || strings.HasSuffix(dt, "text"):
		return "string"
	case dt == "binary" || dt == "varbinary" || strings.HasSuffix(dt, "blob"):
		return "binary"
	case dt == "date" || dt == "datetime" || dt == "timestamp" || dt == "time" || dt == "year":
		return "time"
	}
	return dt
}

// charsetHolds reports whether character set to holds every character
// of character set from: the same set, utf8mb4 (which holds any), ascii
// into any but binary, utf8mb3 into utf8mb4. It is true when either is not
// known (empty: the table's default).
func charsetHolds(to, from string) bool {
	to, from = strings.ToLower(to), strings.ToLower(from)
	switch {
	case to == "" || from == "" || to == from, to == "utf8mb4":
		return true
	case from == "ascii":
		return to != "binary"
	case from == "utf8" || from == "utf8mb3":
		return to == "utf8" || to == "utf8mb3"
	}
	return false
}

// lossyChange returns why changing a column from old to nc can lose or
// reject data, or "".
func lossyChange(old, nc *Column) string {
	o, n := old.DataType, nc.DataType
	of, nf := typeFamily(o), typeFamily(n)
	if of == "string" && nf == "string" && !charsetHolds(nc.Charset, old.Charset) {
		return fmt.Sprintf("character set %s cannot hold every character of %s", nc.Charset, old.Charset)
	}
	switch {
	case strings.EqualFold(old.ColumnType, nc.ColumnType):
		return ""
	case of == "int" && nf == "int":
		if intRank[n] < intRank[o] {
			return fmt.Sprintf("%s is narrower than %s", n, o)
		}
		if old.Unsigned != nc.Unsigned {
			return "signedness changes"
		}
		return ""
	case of == "int" && nf == "decimal":
		if nc.Precision-nc.Scale < 20 {
			return fmt.Sprintf("decimal(%d,%d) holds fewer digits than %s", nc.Precision, nc.Scale, o)
		}
		return ""
	case of == "decimal" && nf == "decimal":
		if nc.Scale < old.Scale || nc.Precision-nc.Scale < old.Precision-old.Scale {
			return fmt.Sprintf("decimal(%d,%d) holds fewer digits than decimal(%d,%d)", nc.Precision, nc.Scale, old.Precision, old.Scale)
		}
		return ""
	case (of == "string" || of == "binary") && of == nf:
		if textRank[o] > 0 || textRank[n] > 0 {
			if textRank[n] > 0 && textRank[n] >= textRank[o] {
				return ""
			}
			if textRank[n] > 0 && textRank[o] == 0 && nc.MaxLength == 0 {
				return ""
			}
			if textRank[o] > 0 && textRank[n] == 0 {
				return fmt.Sprintf("%s is shorter than %s", nc.ColumnType, o)
			}
			return fmt.Sprintf("%s is shorter than %s", n, o)
		}
		if nc.MaxLength > 0 && nc.MaxLength < old.MaxLength {
			return fmt.Sprintf("length %d is shorter than %d", nc.MaxLength, old.MaxLength)
		}
		return ""
	case of == "float" && nf == "float":
		if o == "double" && n == "float" {
			return "float has less precision than double"
		}
		return ""
	case of == "time" && nf == "time":
		if o == "datetime" && n == "date" || o == "timestamp" && n == "date" {
			return "the time of day is dropped"
		}
		if o == "datetime" && n == "timestamp" {
			return "TIMESTAMP cannot hold dates outside 1970-2038"
		}
		if o != n && !(o == "date" && n == "datetime") && !(o == "timestamp" && n == "datetime") {
			return fmt.Sprintf("%s cannot hold every %s", n, o)
		}
		return ""
	case (o == "enum" || o == "set") && n == o:
		if membersAppended(old.ColumnType, nc.ColumnType) {
			return ""
		}
		return "members are removed or reordered"
	case of == "string" && (nf == "int" || nf == "decimal" || nf == "float" || nf == "time"):
		return fmt.Sprintf("strings that are not valid %s values are lost", n)
	case of == nf:
		return ""
	}
	return fmt.Sprintf("%s cannot hold every %s value", nc.ColumnType, old.ColumnType)
}

var ddlRules = []Rule{
	{
		ID: "ddl.drop-database", Category: CategoryDDL, Level: LevelError,
		Summary: "DROP DATABASE destroys every table of a database.",
		Fires:   "DROP DATABASE shop",
		Passes:  "CREATE DATABASE shop",
		Check: func(c *Check) {
			if n, ok := c.Stmt().(*ast.DropDatabaseStmt); ok {
				c.Report("DROP DATABASE %s destroys all its tables", n.Name.O)
			}
		},
	},
	{
		ID: "ddl.drop-table", Category: CategoryDDL, Level: LevelError,
		Summary: "DROP TABLE destroys data; rename and drop later instead.",
		Fires:   "DROP TABLE orders",
		Passes:  "RENAME TABLE orders TO orders_deleted_20250101",
		Check: func(c *Check) {
			if n, ok := c.Stmt().(*ast.DropTableStmt); ok && !n.IsView && n.TemporaryKeyword == ast.TemporaryNone {
				for _, tn := range n.Tables {
					c.Report("DROP TABLE destroys %s", tableLabel(tn))
				}
			}
		},
	},
	{
		ID: "ddl.truncate", Category: CategoryDDL, Level: LevelError,
		Summary: "TRUNCATE TABLE deletes every row and cannot be rolled back.",
		Fires:   "TRUNCATE TABLE orders",
		Passes:  "DELETE FROM orders WHERE id = 1",
		Check: func(c *Check) {
			if n, ok := c.Stmt().(*ast.TruncateTableStmt); ok {
				c.Report("TRUNCATE deletes every row of %s", tableLabel(n.Table))
			}
		},
	},
	{
		ID: "ddl.drop-column", Category: CategoryDDL, Level: LevelWarning,
		Summary: "DROP COLUMN destroys data and breaks code still reading the column.",
		Fires:   "ALTER TABLE orders DROP COLUMN note",
		Passes:  "ALTER TABLE orders ADD COLUMN note VARCHAR(200) NOT NULL DEFAULT ''",
		Check: func(c *Check) {
			if n, ok := c.Stmt().(*ast.AlterTableStmt); ok {
				for _, s := range n.Specs {
					if s.Tp == ast.AlterTableDropColumn && s.OldColumnName != nil {
						c.Report("column %s of %s is dropped", s.OldColumnName.Name.O, tableLabel(n.Table))
					}
				}
			}
		},
	},
	{
		ID: "ddl.drop-primary-key", Category: CategoryDDL, Level: LevelError,
		Summary: "The primary key is not dropped without a replacement, in any spelling (DROP PRIMARY KEY, DROP INDEX `PRIMARY`, dropping every key column): that copies the table and leaves rows unidentifiable.",
		Fires:   "ALTER TABLE orders DROP PRIMARY KEY",
		Passes:  "ALTER TABLE orders DROP PRIMARY KEY, ADD PRIMARY KEY (id, user_id)",
		Check: func(c *Check) {
			if how := dropsPrimaryKey(c); how != "" {
				c.Report("the primary key of %s is dropped (%s) and not replaced", tableLabel(alteredTable(c.Stmt())), how)
			}
		},
	},
	{
		ID: "ddl.drop-index", Category: CategoryDDL, Level: LevelNotice,
		Summary: "Dropping an index can make queries that use it slow.",
		Fires:   "DROP INDEX idx_user ON orders",
		Passes:  "CREATE INDEX idx_user ON orders (user_id)",
		Check: func(c *Check) {
			for _, name := range droppedIndexes(c.Stmt()) {
				if !isPrimaryName(name) {
					c.Report("index %s of %s is dropped; check no query needs it", name, tableLabel(alteredTable(c.Stmt())))
				}
			}
		},
	},
	{
		ID: "ddl.rename-table", Category: CategoryDDL, Level: LevelWarning,
		Summary: "Renaming a table breaks code that uses the old name.",
		Fires:   "RENAME TABLE orders TO orders_v2",
		Passes:  "CREATE TABLE orders_v2 LIKE orders",
		Check: func(c *Check) {
			switch n := c.Stmt().(type) {
			case *ast.RenameTableStmt:
				for _, t := range n.TableToTables {
					c.Report("%s is renamed to %s", tableLabel(t.OldTable), t.NewTable.Name.O)
				}
			case *ast.AlterTableStmt:
				for _, s := range n.Specs {
					if s.Tp == ast.AlterTableRenameTable && s.NewTable != nil {
						c.Report("%s is renamed to %s", tableLabel(n.Table), s.NewTable.Name.O)
					}
				}
			}
		},
	},
	{
		ID: "ddl.rename-column", Category: CategoryDDL, Level: LevelWarning,
		Summary: "Renaming a column breaks code that uses the old name.",
		Fires:   "ALTER TABLE orders CHANGE COLUMN note remark VARCHAR(200) NOT NULL DEFAULT ''",
		Passes:  "ALTER TABLE orders CHANGE COLUMN note note VARCHAR(300) NOT NULL DEFAULT ''",
		Check: func(c *Check) {
			n, ok := c.Stmt().(*ast.AlterTableStmt)
			if !ok {
				return
			}
			for _, s := range n.Specs {
				switch {
				case s.Tp == ast.AlterTableRenameColumn && s.OldColumnName != nil && s.NewColumnName != nil:
					c.Report("column %s of %s is renamed to %s", s.OldColumnName.Name.O, tableLabel(n.Table), s.NewColumnName.Name.O)
				case s.Tp == ast.AlterTableChangeColumn && s.OldColumnName != nil && len(s.NewColumns) > 0 &&
					!strings.EqualFold(s.OldColumnName.Name.O, colName(s.NewColumns[0])):
					c.Report("column %s of %s is renamed to %s", s.OldColumnName.Name.O, tableLabel(n.Table), colName(s.NewColumns[0]))
				}
			}
		},
	},
	{
		ID: "ddl.merge-alters", Category: CategoryDDL, Level: LevelWarning,
		Summary: "Several changes to one table are merged into one ALTER TABLE, which rebuilds it once, or into the CREATE TABLE of a table the script creates.",
		Fires:   "ALTER TABLE orders ADD COLUMN a INT NOT NULL DEFAULT 0;\nALTER TABLE orders ADD INDEX idx_a (a)",
		Passes:  "ALTER TABLE orders ADD COLUMN a INT NOT NULL DEFAULT 0, ADD INDEX idx_a (a)",
		Check: func(c *Check) {
			tn := alteredTable(c.Stmt())
			if tn == nil {
				return
			}
			key := c.qualify(tn)
			want := key.name
			if key.db != "" {
				want = key.db + "." + key.name
			}
			if i, ok := c.rv.sum.altered[want]; ok {
				p := &c.rv.res.Statements[i]
				if p.Type == "CREATE TABLE" {
					c.Report("%s is created by statement %d at line %d; declare this change in its CREATE TABLE", tableLabel(tn), p.Index+1, p.Position.Line)
					return
				}
				c.Report("%s was already changed by statement %d at line %d; merge the changes into one ALTER TABLE", tableLabel(tn), p.Index+1, p.Position.Line)
			}
		},
	},
	{
		ID: "ddl.not-null-without-default", Category: CategoryDDL, Level: LevelError,
		Summary: "A NOT NULL column added to an existing table has a DEFAULT.",
		Fires:   "ALTER TABLE orders ADD COLUMN status TINYINT NOT NULL",
		Passes:  "ALTER TABLE orders ADD COLUMN status TINYINT NOT NULL DEFAULT 0",
		Check: func(c *Check) {
			n, ok := c.Stmt().(*ast.AlterTableStmt)
			if !ok {
				return
			}
			for _, nc := range c.columnDefs() {
				cd := nc.def
				if nc.added && hasOption(cd, ast.ColumnOptionNotNull) && !hasOption(cd, ast.ColumnOptionDefaultValue) &&
					!hasOption(cd, ast.ColumnOptionAutoIncrement) && !hasOption(cd, ast.ColumnOptionGenerated) {
					c.Report("NOT NULL column %s is added to %s without a DEFAULT; existing rows get an implicit value", colName(cd), tableLabel(n.Table))
				}
			}
		},
	},
	{
		ID: "ddl.lossy-type-change", Category: CategoryDDL, Level: LevelError,
		Summary: "MODIFY or CHANGE COLUMN does not narrow a column's type or character set (also the table's, taken when none is given), which can truncate or reject data.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL);\nALTER TABLE t MODIFY name VARCHAR(20) NOT NULL",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL);\nALTER TABLE t MODIFY name VARCHAR(200) NOT NULL",
		Check: func(c *Check) {
			n, ok := c.Stmt().(*ast.AlterTableStmt)
			if !ok {
				return
			}
			t := c.Table(n.Table)
			if t == nil {
				return
			}
			for _, nc := range c.columnDefs() {
				if nc.added {
					continue
				}
				old := nc.oldName()
				oc := t.Column(old)
				if oc == nil {
					continue
				}
				col, _ := columnFromDef(nc.def)
				if col.Charset == "" && col.Collation == "" && typeFamily(col.DataType) == "string" && t.Collation != "" {
					// A string column redefined without a character set
					// takes the table's.
					col.Charset = charsetOfCollation(t.Collation)
				}
				if why := lossyChange(oc, &col); why != "" {
					c.Report("changing column %s of %s from %s to %s can lose data: %s", old, tableLabel(n.Table), oc.ColumnType, col.ColumnType, why)
				}
			}
		},
	},
	{
		ID: "ddl.alter-copy", Category: CategoryDDL, Level: LevelWarning,
		Summary: "The ALTER is predicted to copy the table (ALGORITHM=COPY), blocking writes while it runs.",
		Fires:   "ALTER TABLE orders CONVERT TO CHARACTER SET utf8mb4",
		Passes:  "ALTER TABLE orders ADD COLUMN note VARCHAR(200) NOT NULL DEFAULT ''",
		Check: func(c *Check) {
			if c.Algorithm() == algoCopy {
				c.Report("%s will copy the table (%s): %s", tableLabel(alteredTable(c.Stmt())), c.Server(), c.st.algoWhy)
			}
		},
	},
	{
		ID: "ddl.algorithm-mismatch", Category: CategoryDDL, Level: LevelError,
		Summary: "An ALGORITHM= clause asks for less than the change needs, so the server will refuse it.",
		Fires:   "ALTER TABLE orders ADD INDEX idx_user (user_id), ALGORITHM=INSTANT",
		Passes:  "ALTER TABLE orders ADD INDEX idx_user (user_id), ALGORITHM=INPLACE",
		Check: func(c *Check) {
			req := c.st.requested
			if req == "" || req == "DEFAULT" || c.Algorithm() == "" {
				return
			}
			if algoRank(req) >= 0 && algoRank(req) < algoRank(c.Algorithm()) {
				c.Report("%s asks for ALGORITHM=%s but needs %s: %s", tableLabel(alteredTable(c.Stmt())), req, c.Algorithm(), c.st.algoWhy)
			}
		},
	},
	{
		ID: "ddl.big-table-alter", Category: CategoryDDL, Level: LevelWarning,
		Summary: "Changing a big table takes long; use an online schema change tool or a maintenance window.",
		Params:  []Param{{Name: "rows", Default: 1_000_000, Summary: "row count from which a table is big"}},
		Fires:   "ALTER TABLE big ADD INDEX idx_a (a)",
		Passes:  "CREATE TABLE small (id BIGINT PRIMARY KEY, a INT);\nALTER TABLE small ADD INDEX idx_a (a)",
		Check: func(c *Check) {
			tn := alteredTable(c.Stmt())
			if tn == nil || c.Algorithm() == algoInstant {
				return
			}
			if rows, ok := c.TableRows(); ok && rows >= int64(c.Int("rows")) {
				c.Report("%s has about %d rows; this %s change runs %s", tableLabel(tn), rows, c.Algorithm(), c.st.algoWhy)
			}
		},
	},
	{
		ID: "ddl.convert-charset", Category: CategoryDDL, Level: LevelWarning,
		Summary: "CONVERT TO CHARACTER SET rewrites every row and can change comparisons and index lengths.",
		Fires:   "ALTER TABLE orders CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
		Passes:  "ALTER TABLE orders DEFAULT CHARACTER SET utf8mb4",
		Check: func(c *Check) {
			n, ok := c.Stmt().(*ast.AlterTableStmt)
			if !ok {
				return
			}
			for _, s := range n.Specs {
				if s.Tp != ast.AlterTableOption {
					continue
				}
				for _, o := range s.Options {
					if o.Tp == ast.TableOptionCharset && o.UintValue == ast.TableOptionCharsetWithConvertTo {
						c.Report("%s is converted to character set %s", tableLabel(n.Table), o.StrValue)
					}
				}
			}
		},
	},
	{
		ID: "ddl.add-unique", Category: CategoryDDL, Level: LevelNotice,
		Summary: "Adding a unique index to an existing table fails on duplicate rows; check for them first.",
		Fires:   "ALTER TABLE users ADD UNIQUE KEY uk_email (email)",
		Passes:  "ALTER TABLE users ADD KEY idx_email (email)",
		Check: func(c *Check) {
			switch c.Stmt().(type) {
			case *ast.AlterTableStmt, *ast.CreateIndexStmt:
			default:
				return
			}
			tn, decl := c.indexDecls()
			for _, d := range decl {
				if d.unique && !d.primary {
					c.Report("unique %s on %s fails if existing rows have duplicate (%s)", d.label(), tableLabel(tn), strings.Join(d.columns(), ", "))
				}
			}
		},
	},
	{
		ID: "ddl.column-position", Category: CategoryDDL, Level: LevelNotice,
		Summary: "Columns are added at the end: FIRST or AFTER a column other than the last can force a table rebuild.",
		Fires:   "ALTER TABLE orders ADD COLUMN note VARCHAR(200) NOT NULL DEFAULT '' AFTER id",
		Passes:  "ALTER TABLE orders ADD COLUMN note VARCHAR(200) NOT NULL DEFAULT ''",
		Check:   checkColumnPosition,
	},
	{
		ID: "ddl.stored-program", Category: CategoryDDL, Level: LevelOff,
		Summary:  "No stored programs of the listed kinds are created or changed: their logic hides from application code review (off unless a policy turns it on).",
		Params:   []Param{{Name: "kinds", Default: []string{"PROCEDURE", "FUNCTION", "TRIGGER", "EVENT"}, Summary: "stored program kinds not allowed"}},
		Fires:    "CREATE TRIGGER t_ai AFTER INSERT ON big FOR EACH ROW BEGIN SET @n = @n + 1; SET @m = 1; END",
		Passes:   "DROP TRIGGER IF EXISTS t_ai",
		Routines: true,
		Check: func(c *Check) {
			if r := c.Routine(); r != nil && r.Action != "DROP" && inList(c.Strings("kinds"), r.Kind) {
				on := ""
				if r.Table != "" {
					on = " on table " + r.Table
				}
				c.Report("%s %s %s%s is not allowed", strings.ToLower(r.Action), strings.ToLower(r.Kind), r.Name, on)
			}
		},
	},
	{
		ID: "ddl.existence", Category: CategoryDDL, Level: LevelError,
		Summary: "DDL does not create what exists (tables, columns, indexes) or change columns and indexes that do not exist; a missing table is script.unknown-table.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT);\nALTER TABLE t ADD COLUMN a INT, DROP INDEX idx_missing",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT);\nALTER TABLE t ADD COLUMN b INT, ADD INDEX idx_a (a)",
		Check:   checkExistence,
	},
	{
		ID: "ddl.change-column", Category: CategoryDDL, Level: LevelOff,
		Summary: "No CHANGE COLUMN: MODIFY changes a definition and RENAME COLUMN a name, each saying what it means (off unless a policy turns it on).",
		Fires:   "ALTER TABLE orders CHANGE COLUMN note note VARCHAR(300) NOT NULL DEFAULT ''",
		Passes:  "ALTER TABLE orders MODIFY COLUMN note VARCHAR(300) NOT NULL DEFAULT ''",
		Check: func(c *Check) {
			if n, ok := c.Stmt().(*ast.AlterTableStmt); ok {
				for _, s := range n.Specs {
					if s.Tp == ast.AlterTableChangeColumn && s.OldColumnName != nil {
						c.Report("CHANGE COLUMN %s of %s; use MODIFY COLUMN or RENAME COLUMN", s.OldColumnName.Name.O, tableLabel(n.Table))
					}
				}
			}
		},
	},
	{
		ID: "ddl.change-primary-key", Category: CategoryDDL, Level: LevelWarning,
		Summary: "MODIFY or CHANGE COLUMN does not redefine a primary-key column's type or name: the table is copied and every reference to the key (other tables, caches, applications) must change with it.",
		Fires:   "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, a INT);\nALTER TABLE t MODIFY id BIGINT NOT NULL",
		Passes:  "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, a INT);\nALTER TABLE t MODIFY a BIGINT",
		Check:   checkChangePrimaryKey,
	},
	{
		ID: "ddl.require-algorithm", Category: CategoryDDL, Level: LevelOff,
		Summary: "ALTER TABLE, CREATE INDEX and DROP INDEX state ALGORITHM=, so the server refuses rather than silently copies (off unless a policy turns it on).",
		Fires:   "ALTER TABLE orders ADD INDEX idx_user (user_id)",
		Passes:  "ALTER TABLE orders ADD INDEX idx_user (user_id), ALGORITHM=INPLACE, LOCK=NONE",
		Check:   func(c *Check) { requireAlterOption(c, "ALGORITHM") },
	},
	{
		ID: "ddl.require-lock", Category: CategoryDDL, Level: LevelOff,
		Summary: "ALTER TABLE, CREATE INDEX and DROP INDEX state LOCK=, so the server refuses rather than blocks writes (off unless a policy turns it on).",
		Fires:   "ALTER TABLE orders ADD INDEX idx_user (user_id), ALGORITHM=INPLACE",
		Passes:  "ALTER TABLE orders ADD INDEX idx_user (user_id), ALGORITHM=INPLACE, LOCK=NONE",
		Check:   func(c *Check) { requireAlterOption(c, "LOCK") },
	},
	{
		ID: "ddl.column-order", Category: CategoryDDL, Level: LevelWarning,
		Summary: "MODIFY and CHANGE COLUMN do not move a column (FIRST, AFTER): reordering rebuilds the table.",
		Fires:   "ALTER TABLE orders MODIFY COLUMN note VARCHAR(200) NOT NULL DEFAULT '' AFTER id",
		Passes:  "ALTER TABLE orders MODIFY COLUMN note VARCHAR(200) NOT NULL DEFAULT ''",
		Check: func(c *Check) {
			if n, ok := c.Stmt().(*ast.AlterTableStmt); ok {
				for _, s := range n.Specs {
					if (s.Tp == ast.AlterTableModifyColumn || s.Tp == ast.AlterTableChangeColumn) && s.Position != nil && s.Position.Tp != ast.ColumnPositionNone && len(s.NewColumns) > 0 {
						c.Report("column %s of %s is moved; reordering columns rebuilds the table", colName(s.NewColumns[0]), tableLabel(n.Table))
					}
				}
			}
		},
	},
	{
		ID: "ddl.type-change", Category: CategoryDDL, Level: LevelNotice,
		Summary: "MODIFY or CHANGE COLUMN keeps the column's type: a new type rebuilds the table and can break code reading it (lossy changes are ddl.lossy-type-change).",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT NOT NULL);\nALTER TABLE t MODIFY a BIGINT NOT NULL",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT NOT NULL);\nALTER TABLE t MODIFY a INT NOT NULL COMMENT 'count'",
		Check: func(c *Check) {
			n, ok := c.Stmt().(*ast.AlterTableStmt)
			if !ok {
				return
			}
			t := c.Table(n.Table)
			if t == nil {
				return
			}
			for _, nc := range c.columnDefs() {
				if nc.added {
					continue
				}
				oc := t.Column(nc.oldName())
				if oc == nil {
					continue
				}
				if col, _ := columnFromDef(nc.def); !sameColumnType(oc.ColumnType, col.ColumnType) {
					c.Report("column %s of %s changes type from %s to %s", oc.Name, tableLabel(n.Table), oc.ColumnType, col.ColumnType)
				}
			}
		},
	},
	{
		ID: "ddl.drop-indexed-column", Category: CategoryDDL, Level: LevelWarning,
		Summary: "DROP COLUMN does not drop a column an index holds: the index shrinks or disappears with it.",
		Fires:   "ALTER TABLE big DROP COLUMN id",
		Passes:  "ALTER TABLE big DROP COLUMN b",
		Check: func(c *Check) {
			n, ok := c.Stmt().(*ast.AlterTableStmt)
			if !ok {
				return
			}
			t := c.Table(n.Table)
			if t == nil {
				return
			}
			for _, s := range n.Specs {
				if s.Tp != ast.AlterTableDropColumn || s.OldColumnName == nil {
					continue
				}
				for _, ix := range t.Indexes {
					if slices.ContainsFunc(ix.Columns, func(ic IndexColumn) bool { return strings.EqualFold(ic.Name, s.OldColumnName.Name.O) }) {
						c.Report("column %s of %s is dropped while %s holds it", s.OldColumnName.Name.O, tableLabel(n.Table), indexLabel(ix.Name))
					}
				}
			}
		},
	},
}

// dropsPrimaryKey returns how the statement drops the table's primary
// key without declaring a new one ("" when it does not): DROP PRIMARY
// KEY, DROP INDEX `PRIMARY` (in ALTER TABLE or on its own), or dropping
// every column of the key.
func dropsPrimaryKey(c *Check) string {
	switch n := c.Stmt().(type) {
	case *ast.DropIndexStmt:
		if isPrimaryName(n.IndexName) {
			return "DROP INDEX `PRIMARY`"
		}
	case *ast.AlterTableStmt:
		if _, decl := c.indexDecls(); slices.ContainsFunc(decl, func(d declIndex) bool { return d.primary }) {
			return ""
		}
		var dropped []string
		for _, s := range n.Specs {
			switch {
			case s.Tp == ast.AlterTableDropPrimaryKey:
				return "DROP PRIMARY KEY"
			case s.Tp == ast.AlterTableDropIndex && isPrimaryName(s.Name):
				return "DROP INDEX `" + s.Name + "`"
			case s.Tp == ast.AlterTableDropColumn && s.OldColumnName != nil:
				dropped = append(dropped, s.OldColumnName.Name.O)
			}
		}
		if len(dropped) == 0 {
			return ""
		}
		t := c.Table(n.Table)
		if t == nil || t.PrimaryKey() == nil {
			return ""
		}
		var cols []string
		for _, ic := range t.PrimaryKey().Columns {
			if !inList(dropped, ic.Name) {
				return ""
			}
			cols = append(cols, ic.Name)
		}
		return "every key column dropped: " + strings.Join(cols, ", ")
	}
	return ""
}

// checkExistence implements ddl.existence.
func checkExistence(c *Check) {
	switch n := c.Stmt().(type) {
	case *ast.CreateTableStmt:
		if !n.IfNotExists && c.Table(n.Table) != nil {
			c.Report("%s already exists", tableLabel(n.Table))
		}
	case *ast.RenameTableStmt:
		for _, t := range n.TableToTables {
			if c.Table(t.NewTable) != nil {
				c.Report("cannot rename %s to %s: that table exists", tableLabel(t.OldTable), t.NewTable.Name.O)
			}
		}
	case *ast.CreateIndexStmt:
		if t := c.Table(n.Table); t != nil && !n.IfNotExists && t.Index(n.IndexName) != nil {
			c.Report("index %s already exists on %s", n.IndexName, tableLabel(n.Table))
		}
	case *ast.DropIndexStmt:
		if t := c.Table(n.Table); t != nil && !n.IfExists && t.Index(n.IndexName) == nil {
			c.Report("index %s does not exist on %s", n.IndexName, tableLabel(n.Table))
		}
	case *ast.AlterTableStmt:
		if t := c.Table(n.Table); t != nil {
			checkAlterExistence(c, t, n)
		}
	}
}

// checkColumnPosition implements ddl.column-position: it follows the
// ADD and DROP COLUMN specs of an ALTER TABLE in order, so that AFTER the
// column that is last at that point counts as the end. On a table the
// catalog does not know, every FIRST or AFTER is reported.
func checkColumnPosition(c *Check) {
	n, ok := c.Stmt().(*ast.AlterTableStmt)
	if !ok {
		return
	}
	var cols []string
	if t := c.Table(n.Table); t != nil {
		for _, col := range t.Columns {
			cols = append(cols, col.Name)
		}
	}
	same := func(name string) func(string) bool {
		return func(s string) bool { return strings.EqualFold(s, name) }
	}
	for _, s := range n.Specs {
		switch {
		case s.Tp == ast.AlterTableDropColumn && s.OldColumnName != nil:
			cols = slices.DeleteFunc(cols, same(s.OldColumnName.Name.O))
		case s.Tp == ast.AlterTableAddColumns:
			for _, cd := range s.NewColumns {
				name, at := colName(cd), len(cols)
				switch p := s.Position; {
				case p == nil || p.Tp == ast.ColumnPositionNone:
				case p.Tp == ast.ColumnPositionAfter && p.RelativeColumn != nil && len(cols) > 0 && strings.EqualFold(p.RelativeColumn.Name.O, cols[len(cols)-1]):
				default:
					c.Report("column %s is added to %s at a set position", name, tableLabel(n.Table))
					at = 0
					if p.Tp == ast.ColumnPositionAfter && p.RelativeColumn != nil {
						at = slices.IndexFunc(cols, same(p.RelativeColumn.Name.O)) + 1
					}
				}
				cols = slices.Insert(cols, at, name)
			}
		}
	}
}

// checkAlterExistence implements ddl.existence for an ALTER TABLE of the
// known table t: it follows the specs in order, so that a spec sees the
// columns and indexes the earlier ones added, renamed or dropped.
func checkAlterExistence(c *Check, t *TableDef, n *ast.AlterTableStmt) {
	a := alterNames{c: c, label: tableLabel(n.Table), cols: map[string]bool{}, idx: map[string]bool{}}
	for _, col := range t.Columns {
		a.cols[strings.ToLower(col.Name)] = true
	}
	for _, ix := range t.Indexes {
		a.idx[strings.ToLower(ix.Name)] = true
	}
	for _, s := range n.Specs {
		switch s.Tp {
		case ast.AlterTableAddColumns:
			a.addColumns(s)
		case ast.AlterTableDropColumn:
			if s.OldColumnName != nil {
				a.needColumn(s.OldColumnName.Name.O, s.IfExists)
				delete(a.cols, s.OldColumnName.Name.L)
			}
		case ast.AlterTableModifyColumn:
			if len(s.NewColumns) > 0 {
				a.needColumn(colName(s.NewColumns[0]), s.IfExists)
			}
		case ast.AlterTableChangeColumn, ast.AlterTableRenameColumn:
			a.renameColumn(s)
		case ast.AlterTableDropIndex:
			if !a.idx[strings.ToLower(s.Name)] && !s.IfExists {
				c.Report("index %s does not exist on %s", s.Name, a.label)
			}
			delete(a.idx, strings.ToLower(s.Name))
		case ast.AlterTableDropPrimaryKey:
			if !a.idx["primary"] {
				c.Report("%s has no primary key to drop", a.label)
			}
			delete(a.idx, "primary")
		case ast.AlterTableAddConstraint:
			a.addConstraint(s.Constraint)
		case ast.AlterTableRenameIndex:
			if !a.idx[s.FromKey.L] {
				c.Report("index %s does not exist on %s", s.FromKey.O, a.label)
			}
		}
	}
}

// alterNames is the column and index names of a table as an ALTER TABLE
// changes them, spec after spec, for ddl.existence; its methods report
// on c a spec that creates what exists or changes what does not.
type alterNames struct {
	c     *Check
	label string          // the table, as reports name it
	cols  map[string]bool // lower-case column names
	idx   map[string]bool // lower-case index names; "primary" for the primary key
}

// needColumn reports that column name does not exist, unless it does or
// the spec says IF EXISTS.
func (a *alterNames) needColumn(name string, ifExists bool) {
	if !a.cols[strings.ToLower(name)] && !ifExists {
		a.c.Report("column %s does not exist in %s", name, a.label)
	}
}

// addColumns checks and adds the columns of an ADD COLUMN spec: one that
// exists is reported unless the spec says IF NOT EXISTS.
func (a *alterNames) addColumns(s *ast.AlterTableSpec) {
	for _, cd := range s.NewColumns {
		k := strings.ToLower(colName(cd))
		if a.cols[k] && !s.IfNotExists {
			a.c.Report("column %s already exists in %s", colName(cd), a.label)
		}
		a.cols[k] = true
	}
}

// renameColumn checks a CHANGE or RENAME COLUMN spec: the old column must
// exist and a new name other than the old one must not; the rename is
// then applied.
func (a *alterNames) renameColumn(s *ast.AlterTableSpec) {
	if s.OldColumnName == nil {
		return
	}
	a.needColumn(s.OldColumnName.Name.O, s.IfExists)
	newName := ""
	if s.NewColumnName != nil {
		newName = s.NewColumnName.Name.O
	} else if len(s.NewColumns) > 0 {
		newName = colName(s.NewColumns[0])
	}
	if newName != "" && !strings.EqualFold(newName, s.OldColumnName.Name.O) {
		if a.cols[strings.ToLower(newName)] {
			a.c.Report("column %s already exists in %s", newName, a.label)
		}
		delete(a.cols, s.OldColumnName.Name.L)
		a.cols[strings.ToLower(newName)] = true
	}
}

// addConstraint checks and adds the index of an ADD CONSTRAINT spec (a
// primary key, a named unique or plain index): one that exists is
// reported unless the spec says IF NOT EXISTS. Foreign keys, checks and
// unnamed indexes are not checked.
func (a *alterNames) addConstraint(con *ast.Constraint) {
	if con == nil {
		return
	}
	name := strings.ToLower(con.Name)
	if con.Tp == ast.ConstraintPrimaryKey {
		name = "primary"
	}
	if con.Tp == ast.ConstraintForeignKey || con.Tp == ast.ConstraintCheck || name == "" {
		return
	}
	if a.idx[name] && !con.IfNotExists {
		if name == "primary" {
			a.c.Report("%s already has a primary key", a.label)
		} else {
			a.c.Report("index %s already exists on %s", con.Name, a.label)
		}
	}
	a.idx[name] = true
}

// sameColumnType compares two COLUMN_TYPEs, ignoring case and the display
// widths of integer types ("int(11)" is "int").
func sameColumnType(a, b string) bool {
	norm := func(s string) string {
		s = strings.ToLower(s)
		for name := range intRank {
			if strings.HasPrefix(s, name+"(") {
				if i := strings.IndexByte(s, ')'); i > 0 && !strings.Contains(s, "zerofill") {
					s = name + s[i+1:]
				}
				break
			}
		}
		return s
	}
	return norm(a) == norm(b)
}

// checkChangePrimaryKey implements ddl.change-primary-key: the MODIFY and
// CHANGE COLUMN clauses that give a column of the table's primary key
// another type or name, saying when every key column is changed.
func checkChangePrimaryKey(c *Check) {
	n, ok := c.Stmt().(*ast.AlterTableStmt)
	if !ok {
		return
	}
	if _, decl := c.indexDecls(); slices.ContainsFunc(decl, func(d declIndex) bool { return d.primary }) || dropsPrimaryKey(c) != "" {
		return // a new key, or a dropped one: ddl.drop-primary-key's business
	}
	t := c.Table(n.Table)
	if t == nil || t.PrimaryKey() == nil {
		return
	}
	pk := t.PrimaryKey()
	var changed []string
	for _, nc := range c.columnDefs() {
		if nc.added {
			continue
		}
		old := nc.oldName()
		oc := t.Column(old)
		if oc == nil || !slices.ContainsFunc(pk.Columns, func(ic IndexColumn) bool { return strings.EqualFold(ic.Name, old) }) {
			continue
		}
		col, _ := columnFromDef(nc.def)
		switch {
		case !sameColumnType(oc.ColumnType, col.ColumnType):
			changed = append(changed, fmt.Sprintf("%s from %s to %s", old, oc.ColumnType, col.ColumnType))
		case !strings.EqualFold(old, col.Name):
			changed = append(changed, fmt.Sprintf("%s renamed to %s", old, col.Name))
		}
	}
	if len(changed) == 0 {
		return
	}
	what := "a primary-key column"
	if len(changed) == len(pk.Columns) {
		what = "every primary-key column"
		if len(changed) == 1 {
			what = "the primary-key column"
		}
	}
	c.Report("%s of %s is redefined (%s): the table is copied and every reference to its key must change with it", what, tableLabel(n.Table), strings.Join(changed, "; "))
}

// requireAlterOption reports an ALTER TABLE, CREATE INDEX or DROP INDEX
// that does not state option (ALGORITHM or LOCK).
func requireAlterOption(c *Check, option string) {
	var tn *ast.TableName
	var lockAlg *ast.IndexLockAndAlgorithm
	switch n := c.Stmt().(type) {
	case *ast.AlterTableStmt:
		for _, s := range n.Specs {
			if option == "ALGORITHM" && s.Tp == ast.AlterTableAlgorithm || option == "LOCK" && s.Tp == ast.AlterTableLock {
				return
			}
			if s.Tp == ast.AlterTableRenameTable {
				return // a rename is metadata only
			}
		}
		tn = n.Table
	case *ast.CreateIndexStmt:
		tn, lockAlg = n.Table, n.LockAlg
	case *ast.DropIndexStmt:
		tn, lockAlg = n.Table, n.LockAlg
	default:
		return
	}
	if lockAlg != nil && (option == "ALGORITHM" && lockAlg.AlgorithmTp != ast.AlgorithmTypeDefault || option == "LOCK" && lockAlg.LockTp != ast.LockTypeDefault) {
		return
	}
	c.Report("this change of %s does not state %s=; the server picks one silently", tableLabel(tn), option)
}
