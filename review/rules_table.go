package review

import (
	"slices"
	"strconv"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// primaryKeyColumns returns the column definitions of CREATE TABLE's
// primary key, and whether it has one.
func primaryKeyColumns(n *ast.CreateTableStmt) ([]*ast.ColumnDef, bool) {
	find := func(name string) *ast.ColumnDef {
		for _, cd := range n.Cols {
			if strings.EqualFold(colName(cd), name) {
				return cd
			}
		}
		return nil
	}
	for _, cd := range n.Cols {
		if hasOption(cd, ast.ColumnOptionPrimaryKey) {
			return []*ast.ColumnDef{cd}, true
		}
	}
	for _, c := range n.Constraints {
		if c.Tp == ast.ConstraintPrimaryKey {
			var out []*ast.ColumnDef
			for _, k := range c.Keys {
				if k.Column == nil {
					return nil, true
				}
				if cd := find(k.Column.Name.O); cd != nil {
					out = append(out, cd)
				}
			}
			return out, true
		}
	}
	return nil, false
}

// plainCreate returns n as a CREATE TABLE with its own column list (not
// LIKE or AS SELECT without columns), or nil.
func plainCreate(n ast.StmtNode) *ast.CreateTableStmt {
	ct, ok := n.(*ast.CreateTableStmt)
	if !ok || ct.ReferTable != nil || len(ct.Cols) == 0 {
		return nil
	}
	return ct
}

// inList reports whether s is in list, ignoring case.
func inList(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}

var tableRules = []Rule{
	{
		ID: "table.require-pk", Category: CategoryTable, Level: LevelError,
		Summary: "Every table the script creates has a primary key at the end of the script.",
		Fires:   "CREATE TABLE t (a INT NOT NULL, b INT)",
		Passes:  "CREATE TABLE t (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, a INT)",
		Check:   func(*Check) {}, // judged on the table at the end of the script
		final: func(c *Check, sh *shape) {
			switch {
			case sh.def.PrimaryKey() != nil:
			case sh.like:
				c.reportOn(sh.create, "%s, a copy made by this CREATE TABLE ... LIKE, has no primary key at the end of the script", sh.label)
			default:
				c.reportOn(sh.create, "%s has no primary key, and none is added later in the script; declare one in this CREATE TABLE", sh.label)
			}
		},
	},
	{
		ID: "table.pk-integer", Category: CategoryTable, Level: LevelWarning,
		Summary: "The primary key of a table the script creates is a single integer column, at the end of the script.",
		Fires:   "CREATE TABLE t (code VARCHAR(32) NOT NULL PRIMARY KEY)",
		Passes:  "CREATE TABLE t (id BIGINT UNSIGNED NOT NULL PRIMARY KEY)",
		Check:   func(*Check) {}, // judged on the table at the end of the script
		final: func(c *Check, sh *shape) {
			pk := sh.def.PrimaryKey()
			switch col := sh.singleKey(); {
			case pk == nil:
			case len(pk.Columns) != 1:
				c.reportOn(sh.pkAt(), "primary key of %s has %d columns; use one integer column", sh.label, len(pk.Columns))
			case col != nil && intRank[col.DataType] == 0:
				c.reportOn(sh.pkAt(), "primary key column %s of %s is %s, not an integer", col.Name, sh.label, col.ColumnType)
			}
		},
	},
	{
		ID: "table.pk-unsigned", Category: CategoryTable, Level: LevelNotice,
		Summary: "An integer primary key of a table the script creates is UNSIGNED, at the end of the script.",
		Fires:   "CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY)",
		Passes:  "CREATE TABLE t (id BIGINT UNSIGNED NOT NULL PRIMARY KEY)",
		Check:   func(*Check) {}, // judged on the table at the end of the script
		final: func(c *Check, sh *shape) {
			if col := sh.singleKey(); col != nil && intRank[col.DataType] > 0 && !col.Unsigned {
				c.reportOn(sh.pkAt(), "primary key column %s of %s is not UNSIGNED", col.Name, sh.label)
			}
		},
	},
	{
		ID: "table.pk-auto-increment", Category: CategoryTable, Level: LevelNotice,
		Summary: "A single-column integer primary key of a table the script creates is AUTO_INCREMENT, at the end of the script.",
		Fires:   "CREATE TABLE t (id BIGINT UNSIGNED NOT NULL PRIMARY KEY)",
		Passes:  "CREATE TABLE t (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY)",
		Check:   func(*Check) {}, // judged on the table at the end of the script
		final: func(c *Check, sh *shape) {
			if col := sh.singleKey(); col != nil && intRank[col.DataType] > 0 && !col.AutoIncrement {
				c.reportOn(sh.pkAt(), "primary key column %s of %s is not AUTO_INCREMENT", col.Name, sh.label)
			}
		},
	},
	{
		ID: "table.engine", Category: CategoryTable, Level: LevelError,
		Summary: "Tables use an allowed storage engine (InnoDB).",
		Params:  []Param{{Name: "engines", Default: []string{"InnoDB"}, Summary: "allowed engines"}},
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY) ENGINE=MyISAM",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY) ENGINE=InnoDB",
		Check: func(c *Check) {
			var opts []*ast.TableOption
			var tn *ast.TableName
			switch n := c.Stmt().(type) {
			case *ast.CreateTableStmt:
				opts, tn = n.Options, n.Table
			case *ast.AlterTableStmt:
				tn = n.Table
				for _, s := range n.Specs {
					if s.Tp == ast.AlterTableOption {
						opts = append(opts, s.Options...)
					}
				}
			}
			if o := tableOption(opts, ast.TableOptionEngine); o != nil && !inList(c.Strings("engines"), o.StrValue) {
				c.Report("%s uses engine %s; allowed: %s", tableLabel(tn), o.StrValue, strings.Join(c.Strings("engines"), ", "))
			}
		},
	},
	{
		ID: "table.charset", Category: CategoryTable, Level: LevelError,
		Summary: "Tables and columns use an allowed character set (utf8mb4).",
		Params:  []Param{{Name: "charsets", Default: []string{"utf8mb4"}, Summary: "allowed character sets"}},
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY) DEFAULT CHARSET=latin1",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY) DEFAULT CHARSET=utf8mb4",
		Check: func(c *Check) {
			allowed := c.Strings("charsets")
			tn, opts := tableOptions(c.Stmt())
			for _, o := range opts {
				if o.Tp == ast.TableOptionCharset && o.StrValue != "" && !inList(allowed, o.StrValue) {
					c.Report("%s uses character set %s; allowed: %s", tableLabel(tn), o.StrValue, strings.Join(allowed, ", "))
				}
			}
			for _, nc := range c.columnDefs() {
				if cs := nc.def.Tp.GetCharset(); cs != "" && cs != "binary" && !inList(allowed, cs) {
					c.Report("column %s of %s uses character set %s; allowed: %s", colName(nc.def), tableLabel(nc.table), cs, strings.Join(allowed, ", "))
				}
			}
		},
	},
	{
		ID: "table.collation", Category: CategoryTable, Level: LevelWarning,
		Summary: "Tables and columns use an allowed collation.",
		Params: []Param{{Name: "collations", Default: []string{"utf8mb4_general_ci", "utf8mb4_unicode_ci", "utf8mb4_unicode_520_ci",
			"utf8mb4_0900_ai_ci", "utf8mb4_bin", "utf8mb4_uca1400_ai_ci"}, Summary: "allowed collations"}},
		Fires:  "CREATE TABLE t (id BIGINT PRIMARY KEY) COLLATE=utf8mb4_swedish_ci",
		Passes: "CREATE TABLE t (id BIGINT PRIMARY KEY) COLLATE=utf8mb4_general_ci",
		Check: func(c *Check) {
			allowed := c.Strings("collations")
			tn, opts := tableOptions(c.Stmt())
			for _, o := range opts {
				if o.Tp == ast.TableOptionCollate && o.StrValue != "" && !inList(allowed, o.StrValue) {
					c.Report("%s uses collation %s, which is not allowed", tableLabel(tn), o.StrValue)
				}
			}
			for _, nc := range c.columnDefs() {
				if o := option(nc.def, ast.ColumnOptionCollate); o != nil && !inList(allowed, o.StrValue) {
					c.Report("column %s of %s uses collation %s, which is not allowed", colName(nc.def), tableLabel(nc.table), o.StrValue)
				}
			}
		},
	},
	{
		ID: "table.require-comment", Category: CategoryTable, Level: LevelWarning,
		Summary: "Every table the script creates has a comment saying what it holds, at the end of the script.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY) COMMENT 'orders of the shop'",
		Check:   func(*Check) {}, // judged on the table at the end of the script
		final: func(c *Check, sh *shape) {
			if strings.TrimSpace(sh.def.Comment) == "" {
				c.reportOn(sh.create, "%s has no comment, and none is set later in the script", sh.label)
			}
		},
	},
	{
		ID: "table.max-columns", Category: CategoryTable, Level: LevelWarning,
		Summary: "Tables have at most a given number of columns.",
		Params:  []Param{{Name: "max", Default: 50, Summary: "most columns allowed"}},
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY" + manyColumns(50) + ")",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT, b INT)",
		Check: func(c *Check) {
			maxCols := c.Int("max")
			switch n := c.Stmt().(type) {
			case *ast.CreateTableStmt:
				if len(n.Cols) > maxCols {
					c.Report("%s has %d columns; the limit is %d", tableLabel(n.Table), len(n.Cols), maxCols)
				}
			case *ast.AlterTableStmt:
				t := c.Table(n.Table)
				if t == nil {
					return
				}
				count := len(t.Columns)
				for _, s := range n.Specs {
					switch s.Tp {
					case ast.AlterTableAddColumns:
						count += len(s.NewColumns)
					case ast.AlterTableDropColumn:
						count--
					}
				}
				if count > maxCols && count > len(t.Columns) {
					c.Report("%s would have %d columns; the limit is %d", tableLabel(n.Table), count, maxCols)
				}
			}
		},
	},
	{
		ID: "table.required-columns", Category: CategoryTable, Level: LevelWarning,
		Summary: "Tables the script creates have the required columns (created and updated times) at the end of the script, and an ALTER TABLE does not drop or rename a required column of a table that has it.",
		Params:  []Param{{Name: "columns", Default: []string{"created_at", "updated_at"}, Summary: "columns every table must have"}},
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, created_at DATETIME NOT NULL)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL)",
		Check:   checkRequiredColumnsKept, // CREATE TABLE is judged at the end of the script
		final: func(c *Check, sh *shape) {
			for _, want := range c.Strings("columns") {
				if sh.def.Column(want) == nil {
					c.reportOn(sh.create, "%s lacks required column %s, also at the end of the script", sh.label, want)
				}
			}
		},
	},
	{
		ID: "table.no-foreign-keys", Category: CategoryTable, Level: LevelWarning,
		Summary: "No foreign keys: they lock parent rows and block online schema changes.",
		Fires:   "CREATE TABLE c (id BIGINT PRIMARY KEY, p BIGINT, CONSTRAINT fk_p FOREIGN KEY (p) REFERENCES parent (id))",
		Passes:  "CREATE TABLE c (id BIGINT PRIMARY KEY, p BIGINT, KEY idx_p (p))",
		Check: func(c *Check) {
			for _, fk := range foreignKeys(c.Stmt()) {
				name := fk.Name
				if name == "" {
					name = "(unnamed)"
				}
				ref := ""
				if fk.Refer != nil && fk.Refer.Table != nil {
					ref = " referencing " + tableLabel(fk.Refer.Table)
				}
				c.Report("foreign key %s%s is not allowed", name, ref)
			}
			for _, nc := range c.columnDefs() {
				if hasOption(nc.def, ast.ColumnOptionReference) {
					c.Report("column %s of %s has a REFERENCES clause; foreign keys are not allowed", colName(nc.def), tableLabel(nc.table))
				}
			}
		},
	},
	{
		ID: "table.no-partitions", Category: CategoryTable, Level: LevelWarning,
		Summary: "No partitioned tables.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY) PARTITION BY HASH (id) PARTITIONS 4",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY)",
		Check: func(c *Check) {
			switch n := c.Stmt().(type) {
			case *ast.CreateTableStmt:
				if n.Partition != nil {
					c.Report("%s is partitioned", tableLabel(n.Table))
				}
			case *ast.AlterTableStmt:
				for _, s := range n.Specs {
					if s.Tp == ast.AlterTablePartition && s.Partition != nil {
						c.Report("ALTER TABLE partitions %s", tableLabel(n.Table))
					}
				}
			}
		},
	},
	{
		ID: "table.no-create-select", Category: CategoryTable, Level: LevelError,
		Summary: "No CREATE TABLE ... SELECT: it is unsafe with GTID replication and locks the source.",
		Fires:   "CREATE TABLE t2 SELECT * FROM t1",
		Passes:  "CREATE TABLE t2 LIKE t1",
		Check: func(c *Check) {
			if n, ok := c.Stmt().(*ast.CreateTableStmt); ok && n.Select != nil {
				c.Report("%s is created from a SELECT", tableLabel(n.Table))
			}
		},
	},
	{
		ID: "table.auto-increment-init", Category: CategoryTable, Level: LevelNotice,
		Summary: "A new table's AUTO_INCREMENT starts at the allowed value (1).",
		Params:  []Param{{Name: "start", Default: 1, Summary: "the one AUTO_INCREMENT start value a CREATE TABLE may set"}},
		Fires:   "CREATE TABLE t (id BIGINT AUTO_INCREMENT PRIMARY KEY) AUTO_INCREMENT=1000",
		Passes:  "CREATE TABLE t (id BIGINT AUTO_INCREMENT PRIMARY KEY)",
		Check: func(c *Check) {
			if ct := plainCreate(c.Stmt()); ct != nil {
				if o := tableOption(ct.Options, ast.TableOptionAutoIncrement); o != nil && o.UintValue != uint64(max(c.Int("start"), 0)) {
					c.Report("%s starts AUTO_INCREMENT at %d; the allowed start is %d", tableLabel(ct.Table), o.UintValue, c.Int("start"))
				}
			}
		},
	},
	{
		ID: "table.text-blob-limit", Category: CategoryTable, Level: LevelWarning,
		Summary: "A table has at most a given number of TEXT and BLOB columns.",
		Params:  []Param{{Name: "max", Default: 2, Summary: "most TEXT/BLOB columns per table"}},
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, a TEXT, b TEXT, c BLOB)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, a TEXT, b VARCHAR(200))",
		Check: func(c *Check) {
			maxBlobs := c.Int("max")
			switch n := c.Stmt().(type) {
			case *ast.CreateTableStmt:
				count := 0
				for _, cd := range n.Cols {
					if isBlobType(colType(cd)) {
						count++
					}
				}
				if count > maxBlobs {
					c.Report("%s has %d TEXT/BLOB columns; the limit is %d", tableLabel(n.Table), count, maxBlobs)
				}
			case *ast.AlterTableStmt:
				t := c.Table(n.Table)
				if t == nil {
					return
				}
				count, added := 0, 0
				for _, col := range t.Columns {
					if strings.HasSuffix(col.DataType, "text") || strings.HasSuffix(col.DataType, "blob") {
						count++
					}
				}
				for _, nc := range c.columnDefs() {
					if nc.added && isBlobType(colType(nc.def)) {
						added++
					}
				}
				if added > 0 && count+added > maxBlobs {
					c.Report("%s would have %d TEXT/BLOB columns; the limit is %d", tableLabel(n.Table), count+added, maxBlobs)
				}
			}
		},
	},
	{
		ID: "table.timestamp-count", Category: CategoryTable, Level: LevelWarning,
		Summary: "A table has at most a given number of TIMESTAMP columns, counting the columns it already has.",
		Params:  []Param{{Name: "max", Default: 1, Summary: "most TIMESTAMP columns per table"}},
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, a TIMESTAMP NULL, b TIMESTAMP NULL)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, a TIMESTAMP NULL, b DATETIME NULL)",
		Check:   func(c *Check) { typeCount(c, "timestamp") },
	},
	{
		ID: "table.datetime-count", Category: CategoryTable, Level: LevelWarning,
		Summary: "A table has at most a given number of DATETIME columns, counting the columns it already has.",
		Params:  []Param{{Name: "max", Default: 4, Summary: "most DATETIME columns per table"}},
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, a DATETIME, b DATETIME, c DATETIME, d DATETIME, e DATETIME)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, a DATETIME, b DATETIME)",
		Check:   func(c *Check) { typeCount(c, "datetime") },
	},
	{
		ID: "table.pk-type-allowlist", Category: CategoryTable, Level: LevelOff,
		Summary: "Primary-key columns have an allowed type, checked on CREATE TABLE and on every ALTER that declares the key or redefines a key column (off unless a policy turns it on).",
		Params:  []Param{{Name: "types", Default: []string{"int", "bigint"}, Summary: "allowed data types of primary-key columns"}},
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT);\nALTER TABLE t MODIFY id VARCHAR(36) NOT NULL",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT);\nALTER TABLE t MODIFY id BIGINT UNSIGNED NOT NULL",
		Check: func(c *Check) {
			after, _, touched := tableAfter(c)
			if after == nil {
				return
			}
			pk := after.PrimaryKey()
			if pk == nil || !slices.ContainsFunc(touched, func(s string) bool { return strings.EqualFold(s, "PRIMARY") || indexHolds(pk, s) }) {
				return
			}
			for _, ic := range pk.Columns {
				if col := after.Column(ic.Name); col != nil && !inList(c.Strings("types"), col.DataType) {
					c.Report("primary key column %s of table %s is %s; allowed: %s", col.Name, after.Name, col.ColumnType, strings.Join(c.Strings("types"), ", "))
				}
			}
		},
	},
	{
		ID: "table.disallow-ddl", Category: CategoryTable, Level: LevelError,
		Summary:       "No DDL on the listed tables (none unless a policy lists them).",
		Params:        []Param{{Name: "tables", Default: []string{}, Summary: "tables, as name or database.name, whose schema must not change"}},
		ExampleParams: map[string]any{"tables": []string{"orders"}},
		Fires:         "ALTER TABLE orders ADD COLUMN note VARCHAR(200) NOT NULL DEFAULT ''",
		Passes:        "ALTER TABLE users ADD COLUMN note VARCHAR(200) NOT NULL DEFAULT ''",
		Routines:      true,
		Check: func(c *Check) {
			if c.Kind() == KindDDL {
				listedTables(c, "DDL")
			}
		},
	},
	{
		ID: "table.disallow-dml", Category: CategoryTable, Level: LevelError,
		Summary:       "No DML on the listed tables (none unless a policy lists them).",
		Params:        []Param{{Name: "tables", Default: []string{}, Summary: "tables, as name or database.name, whose rows must not change"}},
		ExampleParams: map[string]any{"tables": []string{"orders"}},
		Fires:         "UPDATE orders SET status = 1 WHERE id = 1",
		Passes:        "UPDATE users SET status = 1 WHERE id = 1",
		Check: func(c *Check) {
			if c.Kind() == KindDML {
				listedTables(c, "DML")
			}
		},
	},
	{
		ID: "table.require-charset", Category: CategoryTable, Level: LevelNotice,
		Summary: "CREATE TABLE declares its character set, rather than inheriting the database's or the server's.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY) DEFAULT CHARSET=utf8mb4",
		Check: func(c *Check) {
			if ct := plainCreate(c.Stmt()); ct != nil && optionsCharset(ct.Options) == "" {
				c.Report("%s declares no character set; it inherits the database's", tableLabel(ct.Table))
			}
		},
	},
	{
		ID: "table.require-collation", Category: CategoryTable, Level: LevelOff,
		Summary: "CREATE TABLE declares its collation (off unless a policy turns it on).",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY) DEFAULT CHARSET=utf8mb4",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
		Check: func(c *Check) {
			if ct := plainCreate(c.Stmt()); ct != nil && tableOption(ct.Options, ast.TableOptionCollate) == nil {
				c.Report("%s declares no collation; it gets its character set's default", tableLabel(ct.Table))
			}
		},
	},
	{
		ID: "table.comment-max-length", Category: CategoryTable, Level: LevelWarning,
		Summary: "Table comments are at most a given number of characters long.",
		Params:  []Param{{Name: "max", Default: 128, Summary: "longest table comment, in characters"}},
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY) COMMENT '" + strings.Repeat("x", 129) + "'",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY) COMMENT 'orders of the shop'",
		Check: func(c *Check) {
			tn, opts := tableOptions(c.Stmt())
			if o := tableOption(opts, ast.TableOptionComment); o != nil {
				if n := countRunes(o.StrValue); n > c.Int("max") {
					c.Report("comment of %s is %d characters long; the limit is %d", tableLabel(tn), n, c.Int("max"))
				}
			}
		},
	},
}

// tableOptions returns the table options a CREATE or ALTER TABLE sets.
func tableOptions(n ast.StmtNode) (*ast.TableName, []*ast.TableOption) {
	switch n := n.(type) {
	case *ast.CreateTableStmt:
		return n.Table, n.Options
	case *ast.AlterTableStmt:
		var opts []*ast.TableOption
		for _, s := range n.Specs {
			if s.Tp == ast.AlterTableOption {
				opts = append(opts, s.Options...)
			}
		}
		return n.Table, opts
	}
	return nil, nil
}

// manyColumns returns n column definitions, for examples.
func manyColumns(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(", c" + strconv.Itoa(i) + " INT")
	}
	return b.String()
}

// typeCount implements the rules that limit a table's columns of data
// type dt (parameter max): counted on the table as the statement leaves
// it, when the statement defines such a column.
func typeCount(c *Check, dt string) {
	if !slices.ContainsFunc(c.columnDefs(), func(nc newColumn) bool { return dataType(nc.def.Tp) == dt }) {
		return
	}
	after, _, _ := tableAfter(c)
	if after == nil {
		return
	}
	var names []string
	for _, col := range after.Columns {
		if col.DataType == dt {
			names = append(names, col.Name)
		}
	}
	if maxCols := c.Int("max"); len(names) > maxCols {
		c.Report("table %s would have %d %s columns (%s); the limit is %d", after.Name, len(names), strings.ToUpper(dt), strings.Join(names, ", "), maxCols)
	}
}

// listedTables reports each table the statement changes that the rule's
// "tables" parameter lists (by name or database.name), saying it is
// closed to what (DDL or DML). The tables changed are those of
// Statement.Tables for DDL; for DML, the target of INSERT and REPLACE and
// of single-table UPDATE and DELETE, the tables a multi-table DELETE
// names and those whose columns a multi-table UPDATE sets. Tables only
// read are not reported.
func listedTables(c *Check, what string) {
	list := c.Strings("tables")
	if len(list) == 0 {
		return
	}
	var changed []string
	if what == "DDL" {
		changed = c.st.res.Tables
	} else {
		var names []*ast.TableName
		switch n := c.Stmt().(type) {
		case *ast.InsertStmt:
			names = tableNames(n.Table, nil)
		case *ast.DeleteStmt:
			names = deleteTargets(n)
		case *ast.UpdateStmt:
			names = tableNames(n.TableRefs, nil)
			if len(names) > 1 {
				for _, a := range n.List {
					if t := c.columnDef(a.Column); t != nil {
						changed = append(changed, t.Database+"."+t.Name)
					}
				}
				names = nil
			}
		}
		for _, tn := range names {
			k := c.qualify(tn)
			changed = append(changed, k.db+"."+k.name)
		}
	}
	seen := map[string]bool{}
	for _, t := range changed {
		name := t
		if i := strings.LastIndexByte(t, '.'); i >= 0 {
			name = t[i+1:]
		}
		if !seen[t] && (inList(list, t) || inList(list, name)) {
			seen[t] = true
			c.Report("%s on table %s is not allowed", what, strings.TrimPrefix(t, "."))
		}
	}
}

// checkRequiredColumnsKept implements table.required-columns on ALTER
// TABLE of a table the script did not create: a required column the table
// has that the statement drops or renames, unless it adds it back.
func checkRequiredColumnsKept(c *Check) {
	n, ok := c.Stmt().(*ast.AlterTableStmt)
	if !ok || c.rv.cat.createdHere(c.qualify(n.Table)) {
		return // a table the script creates is judged at the end of the script
	}
	before := c.Table(n.Table)
	after, _, _ := tableAfter(c)
	if before == nil || after == nil {
		return
	}
	for _, want := range c.Strings("columns") {
		if before.Column(want) != nil && after.Column(want) == nil {
			c.Report("%s loses required column %s", tableLabel(n.Table), want)
		}
	}
}
