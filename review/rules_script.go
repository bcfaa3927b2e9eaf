package review

import (
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// referencedTables appends to out the base tables the statement reads or
// changes, leaving out names it creates, CTE names, and DROP ... IF
// EXISTS targets; a trigger's table counts.
func referencedTables(c *Check, out []*ast.TableName) []*ast.TableName {
	if r := c.Routine(); r != nil && r.Table != "" {
		out = append(out, &ast.TableName{Schema: ast.NewCIStr(r.TableDatabase), Name: ast.NewCIStr(r.Table)})
	}
	n := c.Stmt()
	var ctes map[string]bool
	for _, x := range c.nodes() {
		if w, ok := x.(*ast.WithClause); ok {
			if ctes == nil {
				ctes = map[string]bool{}
			}
			for _, cte := range w.CTEs {
				ctes[cte.Name.L] = true
			}
		}
	}
	switch n := n.(type) {
	case *ast.CreateTableStmt:
		if n.ReferTable != nil {
			out = append(out, n.ReferTable)
		}
		if n.Select != nil {
			out = tableNames(n.Select, out)
		}
		return out
	case *ast.DropTableStmt:
		if n.IfExists || n.IsView {
			return out
		}
		return append(out, n.Tables...)
	case *ast.AlterTableStmt:
		return append(out, n.Table)
	case *ast.TruncateTableStmt:
		return append(out, n.Table)
	case *ast.CreateIndexStmt:
		return append(out, n.Table)
	case *ast.DropIndexStmt:
		if n.IfExists {
			return out
		}
		return append(out, n.Table)
	case *ast.RenameTableStmt:
		for _, t := range n.TableToTables {
			out = append(out, t.OldTable)
		}
		return out
	case *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt, *ast.SelectStmt, *ast.SetOprStmt:
		for _, x := range c.nodes() {
			if ts, ok := x.(*ast.TableSource); ok {
				if tn, ok := ts.Source.(*ast.TableName); ok && !(tn.Schema.L == "" && ctes[tn.Name.L]) {
					out = append(out, tn)
				}
			}
		}
	}
	return out
}

// unknownColumns reports the column references of a statement that no
// table in their reach has: the tables of their own query block and of
// the blocks it is nested in. References that cannot be told (a table the
// catalog does not know, SELECT * of a derived table) are not reported;
// each reference is reported once.
func unknownColumns(c *Check) {
	var seen map[string]bool
	for _, u := range c.resolution().uses {
		if u.ref.state != refNoTable && u.ref.state != refMissing {
			continue
		}
		cn := u.name
		key := cn.Table.L + "." + cn.Name.L
		if seen[key] {
			continue
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		seen[key] = true
		switch u.ref.state {
		case refNoTable:
			c.ReportAt(u.pos, "column %s.%s refers to no table of the statement", cn.Table.O, cn.Name.O)
		case refMissing:
			if u.ref.src != nil {
				c.ReportAt(u.pos, "column %s does not exist in table %s", cn.Name.O, sourceLabel(u.ref.src))
				continue
			}
			names := slices.Clone(u.ref.reach)
			slices.Sort(names)
			c.ReportAt(u.pos, "column %s does not exist in table %s", cn.Name.O, strings.Join(slices.Compact(names), ", "))
		}
	}
}

var scriptRules = []Rule{
	{
		ID: "parse.error", Category: CategoryScript, Level: LevelError,
		Summary: "Every statement can be parsed (reported by the engine with the parser's message).",
		Fires:   "SELEC id FROM orders",
		Passes:  "SELECT id FROM orders",
		Check:   func(*Check) {},
	},
	{
		ID: "parse.unsupported", Category: CategoryScript, Level: LevelNotice,
		Summary: "Statements the TiDB parser cannot read (triggers, functions, events) are checked only by kind, name and table, not their body.",
		Fires:   "DELIMITER ;;\nCREATE TRIGGER t_ai AFTER INSERT ON t FOR EACH ROW BEGIN SET @n = @n + 1; END;;\nDELIMITER ;",
		Passes:  "DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; END //\nDELIMITER ;",
		Check:   func(*Check) {},
	},
	{
		ID: "script.mixed-ddl-dml", Category: CategoryScript, Level: LevelWarning,
		Summary: "A script changes schema or data, not both: they are reviewed and rolled back differently.",
		Fires:   "ALTER TABLE orders ADD COLUMN note VARCHAR(200) NOT NULL DEFAULT '';\nUPDATE orders SET note = 'x' WHERE id = 1",
		Passes:  "UPDATE orders SET status = 1 WHERE id = 1;\nUPDATE orders SET status = 2 WHERE id = 2",
		Check: func(c *Check) {
			k := c.Kind()
			if k != KindDDL && k != KindDML {
				return
			}
			ddl, dml := c.rv.sum.ddl, c.rv.sum.dml
			if k == KindDDL && dml && !ddl || k == KindDML && ddl && !dml {
				c.Report("the script mixes DDL and DML: this %s follows %s statements", c.st.res.Type, map[bool]string{true: "DDL", false: "DML"}[ddl])
			}
		},
	},
	{
		ID: "script.banned-statement", Category: CategoryScript, Level: LevelError,
		Summary: "The script does not use banned statement types (grants, users, global settings, server control).",
		Params: []Param{{Name: "types", Default: []string{"GRANT", "REVOKE", "CREATE USER", "DROP USER", "ALTER USER", "SET PASSWORD",
			"SET GLOBAL", "FLUSH", "KILL", "SHUTDOWN", "LOCK TABLES", "LOAD DATA"}, Summary: "statement types not allowed, as Statement.Type names them"}},
		Fires:    "GRANT ALL ON *.* TO 'app'@'%'",
		Passes:   "SELECT 1",
		Routines: true,
		Check: func(c *Check) {
			if inList(c.Strings("types"), c.st.res.Type) {
				c.Report("%s statements are not allowed", c.st.res.Type)
			}
		},
	},
	{
		ID: "script.max-statements", Category: CategoryScript, Level: LevelWarning,
		Summary: "A script has at most a given number of statements.",
		Params:  []Param{{Name: "max", Default: 1000, Summary: "most statements per script"}},
		Fires:   strings.Repeat("SELECT 1;\n", 1001),
		Passes:  "SELECT 1;\nSELECT 2",
		Check: func(c *Check) {
			if maxStmts := c.Int("max"); c.index == maxStmts {
				c.Report("the script has more than %d statements; this is statement %d", maxStmts, maxStmts+1)
			}
		},
	},
	{
		ID: "script.use-statement", Category: CategoryScript, Level: LevelWarning,
		Summary: "No USE in scripts: the target database is chosen when the script is submitted.",
		Fires:   "USE shop",
		Passes:  "SELECT 1",
		Check: func(c *Check) {
			if n, ok := c.Stmt().(*ast.UseStmt); ok {
				c.Report("USE %s switches database inside the script", n.DBName)
			}
		},
	},
	{
		ID: "script.unknown-table", Category: CategoryScript, Level: LevelError,
		Summary:  "Statements refer to tables that exist (on the server or created earlier in the script).",
		Fires:    "UPDATE no_such_table SET a = 1 WHERE id = 1",
		Passes:   "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT);\nUPDATE t SET a = 1 WHERE id = 1",
		Routines: true,
		Check: func(c *Check) {
			var seen map[tableKey]bool
			tables := referencedTables(c, c.rv.tables[:0])
			defer func() { clear(tables); c.rv.tables = tables[:0] }()
			for _, tn := range tables {
				k := c.qualify(tn)
				if !seen[k] && c.Missing(tn) {
					if seen == nil {
						seen = map[tableKey]bool{}
					}
					seen[k] = true
					c.Report("%s does not exist", tableLabel(tn))
				}
			}
		},
	},
	{
		ID: "script.unknown-column", Category: CategoryScript, Level: LevelError,
		Summary: "INSERT, UPDATE, DELETE and SELECT refer to columns their tables have.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT);\nUPDATE t SET b = 1 WHERE id = 1",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT);\nUPDATE t SET a = 1 WHERE id = 1",
		Check: func(c *Check) {
			switch c.Stmt().(type) {
			case *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt, *ast.SelectStmt, *ast.SetOprStmt:
				unknownColumns(c)
			}
		},
	},
	{
		ID: "script.transaction-control", Category: CategoryScript, Level: LevelNotice,
		Summary: "No BEGIN, COMMIT or ROLLBACK: the executor decides transactions.",
		Fires:   "BEGIN;\nUPDATE t SET a = 1 WHERE id = 1;\nCOMMIT",
		Passes:  "UPDATE t SET a = 1 WHERE id = 1",
		Check: func(c *Check) {
			switch c.st.res.Type {
			case "BEGIN", "COMMIT", "ROLLBACK":
				c.Report("%s controls the transaction inside the script", c.st.res.Type)
			}
		},
	},
	{
		ID: "script.query-in-change", Category: CategoryScript, Level: LevelNotice,
		Summary: "A change script does not hold queries, which change nothing.",
		Fires:   "UPDATE t SET a = 1 WHERE id = 1;\nSELECT a FROM t WHERE id = 1",
		Passes:  "UPDATE t SET a = 1 WHERE id = 1",
		Check: func(c *Check) {
			change := c.rv.sum.ddl || c.rv.sum.dml
			switch c.Kind() {
			case KindQuery:
				if change {
					c.Report("%s in a change script has no effect", c.st.res.Type)
				}
			case KindDDL, KindDML: // the queries before the first change
				for _, i := range c.rv.sum.queries {
					c.reportOn(i, "%s in a change script has no effect", c.rv.res.Statements[i].Type)
				}
			}
		},
	},
	{
		ID: "script.executable-comment", Category: CategoryScript, Level: LevelError,
		Summary: "No statement, and no clause of a change to existing data or schema, hides in an executable comment (/*! */, /*M! */) the server runs.",
		Fires:   "/*!50000 DROP TABLE orders */",
		Passes:  "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\nCREATE TABLE t (id BIGINT PRIMARY KEY) /*!50100 PARTITION BY HASH (id) PARTITIONS 4 */",
		Check: func(c *Check) {
			if what := hiddenCode(c.st); what != "" {
				c.Report("%s, which %s runs while a reader takes it for a comment; write it as plain SQL", what, c.rv.r.target)
			}
		},
	},
}
