package review

import (
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// referencedTables returns the base tables a statement reads or changes,
// leaving out names it creates, CTE names, and DROP ... IF EXISTS targets.
func referencedTables(n ast.StmtNode) []*ast.TableName {
	var out []*ast.TableName
	ctes := map[string]bool{}
	walk(n, func(x ast.Node) bool {
		if w, ok := x.(*ast.WithClause); ok {
			for _, cte := range w.CTEs {
				ctes[cte.Name.L] = true
			}
		}
		return true
	})
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
			return nil
		}
		return n.Tables
	case *ast.AlterTableStmt:
		return []*ast.TableName{n.Table}
	case *ast.TruncateTableStmt:
		return []*ast.TableName{n.Table}
	case *ast.CreateIndexStmt:
		return []*ast.TableName{n.Table}
	case *ast.DropIndexStmt:
		if n.IfExists {
			return nil
		}
		return []*ast.TableName{n.Table}
	case *ast.RenameTableStmt:
		for _, t := range n.TableToTables {
			out = append(out, t.OldTable)
		}
		return out
	case *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt, *ast.SelectStmt, *ast.SetOprStmt:
		walk(n, func(x ast.Node) bool {
			if ts, ok := x.(*ast.TableSource); ok {
				if tn, ok := ts.Source.(*ast.TableName); ok && !(tn.Schema.L == "" && ctes[tn.Name.L]) {
					out = append(out, tn)
				}
			}
			return true
		})
	}
	return out
}

// unknownColumns reports column references of a single-level DML statement
// that none of its known tables has.
func unknownColumns(c *Check) {
	n := c.Stmt()
	aliases := tableAliases(n)
	if len(aliases) == 0 {
		return
	}
	r := columnResolver{c: c, defs: map[string]*TableDef{}, seen: map[string]bool{}}
	for alias, tn := range aliases {
		def := c.Table(tn)
		if def == nil || len(def.Columns) == 0 {
			return // cannot tell
		}
		r.defs[alias] = def
	}
	var complex bool
	r.selectAliases, complex = selectAliases(n)
	if complex {
		return
	}
	walk(n, func(x ast.Node) bool {
		switch x := x.(type) {
		case *ast.ColumnNameExpr:
			r.check(x.Name, x.OriginTextPosition())
		case *ast.Assignment:
			r.check(x.Column, 0)
		}
		return true
	})
	if ins, ok := n.(*ast.InsertStmt); ok {
		for _, cn := range ins.Columns {
			r.check(cn, 0)
		}
	}
}

// selectAliases is the lower-case aliases n gives its select fields.
// complex is true, and the aliases incomplete, when n has subqueries or
// derived tables: they refer to names the simple resolution of
// unknownColumns does not see.
func selectAliases(n ast.Node) (aliases map[string]bool, complex bool) {
	aliases = map[string]bool{}
	walk(n, func(x ast.Node) bool {
		switch x := x.(type) {
		case *ast.SubqueryExpr:
			complex = true
		case *ast.TableSource:
			if _, ok := x.Source.(*ast.TableName); !ok {
				complex = true
			}
		case *ast.SelectField:
			if x.AsName.L != "" {
				aliases[x.AsName.L] = true
			}
		}
		return !complex
	})
	return aliases, complex
}

// columnResolver resolves the column references of one statement against
// its tables for script.unknown-column, reporting each unresolved reference
// once.
type columnResolver struct {
	c             *Check
	defs          map[string]*TableDef // by the alias (or name) the statement gives the table, lower-case
	selectAliases map[string]bool      // lower-case aliases of select fields
	seen          map[string]bool      // references already checked, "table.column" lower-case
}

// check reports cn, at pos in the statement (0 when unknown), when no
// table of the statement has it: a qualified reference must name a table
// of the statement that has the column; an unqualified one must be a
// select alias or a column of any of the tables.
func (r *columnResolver) check(cn *ast.ColumnName, pos int) {
	key := cn.Table.L + "." + cn.Name.L
	if r.seen[key] {
		return
	}
	r.seen[key] = true
	if cn.Table.L != "" {
		def := r.defs[cn.Table.L]
		if def == nil {
			r.c.ReportAt(pos, "column %s.%s refers to no table of the statement", cn.Table.O, cn.Name.O)
			return
		}
		if def.Column(cn.Name.O) == nil {
			r.c.ReportAt(pos, "column %s does not exist in table %s", cn.Name.O, def.Name)
		}
		return
	}
	if r.selectAliases[cn.Name.L] {
		return
	}
	for _, def := range r.defs {
		if def.Column(cn.Name.O) != nil {
			return
		}
	}
	names := make([]string, 0, len(r.defs))
	for _, def := range r.defs {
		names = append(names, def.Name)
	}
	slices.Sort(names)
	r.c.ReportAt(pos, "column %s does not exist in table %s", cn.Name.O, strings.Join(slices.Compact(names), ", "))
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
		Summary: "Statements the TiDB parser cannot read (triggers, functions, events) are not checked.",
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
		Fires:  "GRANT ALL ON *.* TO 'app'@'%'",
		Passes: "SELECT 1",
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
		Summary: "Statements refer to tables that exist (on the server or created earlier in the script).",
		Fires:   "UPDATE no_such_table SET a = 1 WHERE id = 1",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT);\nUPDATE t SET a = 1 WHERE id = 1",
		Check: func(c *Check) {
			seen := map[string]bool{}
			for _, tn := range referencedTables(c.Stmt()) {
				k := c.qualify(tn).String()
				if !seen[k] && c.Missing(tn) {
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
			case *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt, *ast.SelectStmt:
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
