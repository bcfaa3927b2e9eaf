package review

import (
	"errors"
	"strconv"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/opcode"
)

// changeTarget names the table an UPDATE or DELETE changes, for messages.
func changeTarget(n ast.StmtNode) string {
	if names := tableNames(tableRefs(n), nil); len(names) > 0 {
		return tableLabel(names[0])
	}
	return "the table"
}

// checkConversion implements dml.implicit-conversion for one comparison
// at pos of colExpr with vals: a string column compared with a number.
func checkConversion(c *Check, pos int, colExpr ast.ExprNode, vals ...ast.ExprNode) {
	cn, ok := unparen(colExpr).(*ast.ColumnNameExpr)
	if !ok {
		return
	}
	t := c.columnDef(cn.Name)
	if t == nil {
		return
	}
	col := t.Column(cn.Name.Name.O)
	if col == nil || typeFamily(col.DataType) != "string" {
		return
	}
	for _, v := range vals {
		if lit, ok := valueOf(unparen(v)); ok && isNumber(lit) {
			c.ReportAt(pos, "%s column %s of table %s is compared with a number; quote the value", col.DataType, col.Name, t.Name)
			return
		}
	}
}

// starVisitor reports SELECT * for dml.select-star in every query block
// but those under EXISTS.
type starVisitor struct{ c *Check }

func (v starVisitor) Enter(n ast.Node) (ast.Node, bool) {
	switch n := n.(type) {
	case *ast.ExistsSubqueryExpr:
		return n, true
	case *ast.SelectStmt:
		if n.Fields == nil {
			break
		}
		for _, f := range n.Fields.Fields {
			if f.WildCard != nil {
				v.c.ReportAt(f.Offset, "SELECT * from %s reads every column", strings.Join(v.c.st.res.Tables, ", "))
				break
			}
		}
	}
	return n, false
}

func (v starVisitor) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// condNodes returns every node of the statement's conditions: the WHERE
// of each query block (subqueries, derived tables, CTEs and UNION branches
// included) and the ON of each join, each node once, in the order
// ast.Node.Accept visits them. It is collected once for the statement's
// rules into a buffer the run reuses: the slice must not be changed or
// kept past the rule's Check.
func (c *Check) condNodes() []ast.Node {
	if c.st.derived.once(derivedConds) {
		c.rv.conds = c.rv.conds[:0]
		for _, x := range c.nodes() {
			e := blockWhere(x)
			if on, ok := x.(*ast.OnCondition); ok {
				e = on.Expr
			}
			if e != nil {
				e.Accept(condCollector{&c.rv.conds})
			}
		}
	}
	return c.rv.conds
}

// condCollector appends the nodes of a condition to out, stopping at
// subqueries: each is its own query block, whose conditions condNodes
// reaches apart.
type condCollector struct{ out *[]ast.Node }

func (v condCollector) Enter(n ast.Node) (ast.Node, bool) {
	if _, ok := n.(*ast.SubqueryExpr); ok {
		return n, true
	}
	*v.out = append(*v.out, n)
	return n, false
}

func (v condCollector) Leave(n ast.Node) (ast.Node, bool) { return n, true }

func isDataChange(n ast.StmtNode) bool {
	switch n.(type) {
	case *ast.UpdateStmt, *ast.DeleteStmt:
		return true
	}
	return false
}

var dmlRules = []Rule{
	{
		ID: "dml.require-where", Category: CategoryDML, Level: LevelError,
		Summary: "UPDATE and DELETE have a WHERE clause.",
		Fires:   "DELETE FROM orders",
		Passes:  "DELETE FROM orders WHERE id = 42",
		Check: func(c *Check) {
			if isDataChange(c.Stmt()) && where(c.Stmt()) == nil {
				c.Report("%s without WHERE changes every row of %s", c.st.res.Type, changeTarget(c.Stmt()))
			}
		},
	},
	{
		ID: "dml.always-true-where", Category: CategoryDML, Level: LevelError,
		Summary: "The WHERE of UPDATE and DELETE is not always true (1=1, OR 1).",
		Fires:   "UPDATE orders SET status = 2 WHERE 1 = 1",
		Passes:  "UPDATE orders SET status = 2 WHERE id = 1",
		Check: func(c *Check) {
			if w := where(c.Stmt()); w != nil && isDataChange(c.Stmt()) && alwaysTrue(w) {
				c.ReportAt(w.OriginTextPosition(), "the WHERE of this %s is always true: it changes every row of %s", c.st.res.Type, changeTarget(c.Stmt()))
			}
		},
	},
	{
		ID: "dml.require-limit", Category: CategoryDML, Level: LevelOff,
		Summary: "UPDATE and DELETE have a LIMIT, so a mistake changes few rows (off unless a policy turns it on).",
		Fires:   "DELETE FROM orders WHERE created_at < '2020-01-01'",
		Passes:  "DELETE FROM orders WHERE created_at < '2020-01-01' ORDER BY id LIMIT 1000",
		Check: func(c *Check) {
			switch n := c.Stmt().(type) {
			case *ast.UpdateStmt:
				if n.Limit == nil && !n.MultipleTable {
					c.Report("UPDATE of %s has no LIMIT", changeTarget(n))
				}
			case *ast.DeleteStmt:
				if n.Limit == nil && !n.IsMultiTable {
					c.Report("DELETE from %s has no LIMIT", changeTarget(n))
				}
			}
		},
	},
	{
		ID: "dml.limit-without-order", Category: CategoryDML, Level: LevelWarning,
		Summary: "UPDATE or DELETE with LIMIT has ORDER BY, or the rows changed are arbitrary and unsafe to replicate.",
		Fires:   "DELETE FROM orders WHERE status = 0 LIMIT 100",
		Passes:  "DELETE FROM orders WHERE status = 0 ORDER BY id LIMIT 100",
		Check: func(c *Check) {
			switch n := c.Stmt().(type) {
			case *ast.UpdateStmt:
				if n.Limit != nil && n.Order == nil {
					c.Report("UPDATE of %s has LIMIT without ORDER BY", changeTarget(n))
				}
			case *ast.DeleteStmt:
				if n.Limit != nil && n.Order == nil {
					c.Report("DELETE from %s has LIMIT without ORDER BY", changeTarget(n))
				}
			}
		},
	},
	{
		ID: "dml.insert-column-list", Category: CategoryDML, Level: LevelWarning,
		Summary: "INSERT and REPLACE name their columns, so they survive column changes.",
		Fires:   "INSERT INTO orders VALUES (1, 'new')",
		Passes:  "INSERT INTO orders (id, status) VALUES (1, 'new')",
		Check: func(c *Check) {
			if n, ok := c.Stmt().(*ast.InsertStmt); ok && len(n.Columns) == 0 && !n.Setlist {
				c.Report("%s into %s names no columns", c.st.res.Type, changeTarget(n))
			}
		},
	},
	{
		ID: "dml.insert-select", Category: CategoryDML, Level: LevelWarning,
		Summary: "INSERT ... SELECT locks the rows it reads; copy in batches instead.",
		Fires:   "INSERT INTO orders_archive (id, status) SELECT id, status FROM orders WHERE created_at < '2020-01-01'",
		Passes:  "INSERT INTO orders_archive (id, status) VALUES (1, 'new')",
		Check: func(c *Check) {
			if n, ok := c.Stmt().(*ast.InsertStmt); ok && n.Select != nil {
				from := "another table"
				if names := tableNames(n.Select, nil); len(names) > 0 {
					from = tableLabel(names[0])
				}
				c.Report("INSERT into %s reads %s with a SELECT, locking the rows it reads", changeTarget(n), from)
			}
		},
	},
	{
		ID: "dml.multi-table", Category: CategoryDML, Level: LevelWarning,
		Summary: "UPDATE and DELETE change one table at a time.",
		Fires:   "UPDATE orders o JOIN users u ON u.id = o.user_id SET o.status = 3 WHERE u.banned = 1",
		Passes:  "UPDATE orders SET status = 3 WHERE user_id IN (7, 8)",
		Check: func(c *Check) {
			switch n := c.Stmt().(type) {
			case *ast.UpdateStmt:
				if n.MultipleTable || len(tableNames(n.TableRefs, nil)) > 1 {
					c.Report("UPDATE joins several tables (%s)", strings.Join(c.st.res.Tables, ", "))
				}
			case *ast.DeleteStmt:
				if n.IsMultiTable {
					c.Report("DELETE joins several tables (%s)", strings.Join(c.st.res.Tables, ", "))
				}
			}
		},
	},
	{
		ID: "dml.order-by-rand", Category: CategoryDML, Level: LevelWarning,
		Summary: "No ORDER BY RAND(): it sorts the whole result.",
		Fires:   "SELECT id FROM users ORDER BY RAND() LIMIT 1",
		Passes:  "SELECT id FROM users WHERE id >= 1000 ORDER BY id LIMIT 1",
		Check: func(c *Check) {
			for _, x := range c.nodes() {
				if ob, ok := x.(*ast.OrderByClause); ok {
					for _, it := range ob.Items {
						if f, ok := it.Expr.(*ast.FuncCallExpr); ok && f.FnName.L == "rand" {
							c.ReportAt(f.OriginTextPosition(), "ORDER BY RAND() sorts every row it reads")
						}
					}
				}
			}
		},
	},
	{
		ID: "dml.select-star", Category: CategoryDML, Level: LevelNotice,
		Summary: "Queries name their columns instead of SELECT *, in every query block (UNION branches, subqueries, derived tables, CTEs); EXISTS (SELECT * ...) is fine.",
		Fires:   "SELECT * FROM orders WHERE id = 1",
		Passes:  "SELECT id, status FROM orders WHERE id = 1",
		Check: func(c *Check) {
			// Every query block counts (UNION branches, subqueries, derived
			// tables, CTEs) but the select list of EXISTS, which the server
			// ignores.
			if n := c.Stmt(); n != nil {
				n.Accept(starVisitor{c})
			}
		},
	},
	{
		ID: "dml.leading-wildcard-like", Category: CategoryDML, Level: LevelWarning,
		Summary: "LIKE patterns do not start with a wildcard, which cannot use an index.",
		Fires:   "SELECT id FROM users WHERE name LIKE '%son'",
		Passes:  "SELECT id FROM users WHERE name LIKE 'john%'",
		Check: func(c *Check) {
			for _, x := range c.condNodes() {
				if l, ok := x.(*ast.PatternLikeOrIlikeExpr); ok {
					if v, ok := valueOf(l.Pattern); ok {
						if s, ok := v.(string); ok && (strings.HasPrefix(s, "%") || strings.HasPrefix(s, "_")) {
							col := "an expression"
							if cn, ok := l.Expr.(*ast.ColumnNameExpr); ok {
								col = "column " + cn.Name.Name.O
							}
							c.ReportAt(l.OriginTextPosition(), "LIKE '%s' on %s starts with a wildcard and cannot use an index", s, col)
						}
					}
				}
			}
		},
	},
	{
		ID: "dml.function-on-indexed-column", Category: CategoryDML, Level: LevelWarning,
		Summary: "WHERE does not wrap an indexed column in a function or arithmetic, which stops the index being used.",
		Fires:   "CREATE TABLE o (id BIGINT PRIMARY KEY, created_at DATETIME NOT NULL, KEY idx_created (created_at));\nSELECT id FROM o WHERE DATE(created_at) = '2024-01-01'",
		Passes:  "CREATE TABLE o (id BIGINT PRIMARY KEY, created_at DATETIME NOT NULL, KEY idx_created (created_at));\nSELECT id FROM o WHERE created_at >= '2024-01-01' AND created_at < '2024-01-02'",
		Check: func(c *Check) {
			for _, x := range c.condNodes() {
				b, ok := x.(*ast.BinaryOperationExpr)
				if !ok || !isComparison(b.Op) {
					continue
				}
				for _, side := range []ast.ExprNode{b.L, b.R} {
					var inner []ast.ExprNode
					what := ""
					switch e := unparen(side).(type) {
					case *ast.FuncCallExpr:
						inner, what = e.Args, "function "+strings.ToUpper(e.FnName.O)
					case *ast.BinaryOperationExpr:
						switch e.Op {
						case opcode.Plus, opcode.Minus, opcode.Mul, opcode.Div:
							inner, what = []ast.ExprNode{e.L, e.R}, "arithmetic"
						}
					}
					for _, a := range inner {
						cn, ok := unparen(a).(*ast.ColumnNameExpr)
						if !ok {
							continue
						}
						t := c.columnDef(cn.Name)
						if t == nil {
							continue
						}
						if ix := leadsIndex(t, cn.Name.Name.O); ix != "" {
							c.ReportAt(b.OriginTextPosition(), "column %s of table %s is wrapped in %s, so index %s cannot be used", cn.Name.Name.O, t.Name, what, ix)
						}
					}
				}
			}
		},
	},
	{
		ID: "dml.implicit-conversion", Category: CategoryDML, Level: LevelWarning,
		Summary: "A string column is compared with a string, not a number, which converts every row and cannot use an index.",
		Fires:   "CREATE TABLE u (id BIGINT PRIMARY KEY, phone VARCHAR(20) NOT NULL, KEY idx_phone (phone));\nSELECT id FROM u WHERE phone = 13800138000",
		Passes:  "CREATE TABLE u (id BIGINT PRIMARY KEY, phone VARCHAR(20) NOT NULL, KEY idx_phone (phone));\nSELECT id FROM u WHERE phone = '13800138000'",
		Check: func(c *Check) {
			for _, x := range c.condNodes() {
				switch e := x.(type) {
				case *ast.BinaryOperationExpr:
					if isComparison(e.Op) {
						checkConversion(c, e.OriginTextPosition(), e.L, e.R)
						checkConversion(c, e.OriginTextPosition(), e.R, e.L)
					}
				case *ast.PatternInExpr:
					checkConversion(c, e.OriginTextPosition(), e.Expr, e.List...)
				}
			}
		},
	},
	{
		ID: "dml.max-in-list", Category: CategoryDML, Level: LevelWarning,
		Summary: "IN lists have at most a given number of values.",
		Params:  []Param{{Name: "max", Default: 1000, Summary: "most values in one IN list"}},
		Fires:   "SELECT id FROM orders WHERE id IN (" + numberList(1001) + ")",
		Passes:  "SELECT id FROM orders WHERE id IN (1, 2, 3)",
		Check: func(c *Check) {
			maxVals := c.Int("max")
			for _, x := range c.nodes() {
				if in, ok := x.(*ast.PatternInExpr); ok && len(in.List) > maxVals {
					c.ReportAt(in.OriginTextPosition(), "IN list has %d values; the limit is %d", len(in.List), maxVals)
				}
			}
		},
	},
	{
		ID: "dml.max-affected-rows", Category: CategoryDML, Level: LevelWarning,
		Summary: "An UPDATE, DELETE or INSERT ... SELECT is estimated to change at most a given number of rows.",
		Params:  []Param{{Name: "max", Default: 10_000, Summary: "most rows one statement may change"}},
		Fires:   "DELETE FROM big",
		Passes:  "CREATE TABLE small (id BIGINT PRIMARY KEY);\nDELETE FROM small",
		Check: func(c *Check) {
			if rows, ok := c.AffectedRows(); ok && rows > int64(c.Int("max")) {
				c.Report("%s is estimated to change about %d rows of %s; the limit is %d", c.st.res.Type, rows, strings.Join(c.st.res.Tables, ", "), c.Int("max"))
			}
		},
	},
	{
		ID: "dml.update-primary-key", Category: CategoryDML, Level: LevelWarning,
		Summary: "UPDATE does not change primary key values.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT);\nUPDATE t SET id = id + 1000 WHERE a = 1",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT);\nUPDATE t SET a = 2 WHERE id = 1",
		Check: func(c *Check) {
			n, ok := c.Stmt().(*ast.UpdateStmt)
			if !ok {
				return
			}
			for _, a := range n.List {
				t := c.columnDef(a.Column)
				if t == nil {
					continue
				}
				if pk := t.PrimaryKey(); pk != nil {
					for _, ic := range pk.Columns {
						if strings.EqualFold(ic.Name, a.Column.Name.O) {
							c.Report("UPDATE changes primary key column %s of table %s", a.Column.Name.O, t.Name)
						}
					}
				}
			}
		},
	},
	{
		ID: "dml.insert-max-rows", Category: CategoryDML, Level: LevelNotice,
		Summary: "A multi-row INSERT has at most a given number of rows.",
		Params:  []Param{{Name: "max", Default: 1000, Summary: "most rows in one INSERT"}},
		Fires:   "INSERT INTO t (a) VALUES " + rowList(1001),
		Passes:  "INSERT INTO t (a) VALUES (1), (2), (3)",
		Check: func(c *Check) {
			if n, ok := c.Stmt().(*ast.InsertStmt); ok && len(n.Lists) > c.Int("max") {
				c.Report("INSERT into %s has %d rows; the limit is %d", changeTarget(n), len(n.Lists), c.Int("max"))
			}
		},
	},
	{
		ID: "dml.replace-into", Category: CategoryDML, Level: LevelNotice,
		Summary: "REPLACE deletes and reinserts conflicting rows, firing delete triggers and changing AUTO_INCREMENT ids.",
		Fires:   "REPLACE INTO t (id, a) VALUES (1, 2)",
		Passes:  "INSERT INTO t (id, a) VALUES (1, 2) ON DUPLICATE KEY UPDATE a = VALUES(a)",
		Check: func(c *Check) {
			if n, ok := c.Stmt().(*ast.InsertStmt); ok && n.IsReplace {
				c.Report("REPLACE into %s deletes conflicting rows before inserting", changeTarget(n))
			}
		},
	},
	{
		ID: "dml.large-offset", Category: CategoryDML, Level: LevelNotice,
		Summary: "LIMIT offsets are small; large offsets read and throw away rows. Page by key instead.",
		Params:  []Param{{Name: "max", Default: 10_000, Summary: "largest allowed offset"}},
		Fires:   "SELECT id FROM orders ORDER BY id LIMIT 500000, 20",
		Passes:  "SELECT id FROM orders WHERE id > 500000 ORDER BY id LIMIT 20",
		Check: func(c *Check) {
			for _, x := range c.nodes() {
				if l, ok := x.(*ast.Limit); ok && l.Offset != nil {
					if v, ok := valueOf(l.Offset); ok {
						var off uint64
						switch v := v.(type) {
						case uint64:
							off = v
						case int64:
							off = uint64(max(v, 0))
						}
						if off > uint64(c.Int("max")) {
							c.Report("LIMIT offset %d reads and discards that many rows", off)
						}
					}
				}
			}
		},
	},
	{
		ID: "dml.no-limit", Category: CategoryDML, Level: LevelOff,
		Summary: "UPDATE and DELETE have no LIMIT, which picks rows arbitrarily and is unsafe for statement-based replication (off unless a policy turns it on; the opposite of dml.require-limit).",
		Fires:   "DELETE FROM orders WHERE status = 0 ORDER BY id LIMIT 100",
		Passes:  "DELETE FROM orders WHERE status = 0",
		Check: func(c *Check) {
			switch n := c.Stmt().(type) {
			case *ast.UpdateStmt:
				if n.Limit != nil {
					c.Report("UPDATE of %s has a LIMIT", changeTarget(n))
				}
			case *ast.DeleteStmt:
				if n.Limit != nil {
					c.Report("DELETE from %s has a LIMIT", changeTarget(n))
				}
			}
		},
	},
	{
		ID: "dml.no-order-by", Category: CategoryDML, Level: LevelOff,
		Summary: "UPDATE and DELETE have no ORDER BY, which sorts the rows to change (off unless a policy turns it on).",
		Fires:   "UPDATE orders SET status = 1 WHERE user_id = 7 ORDER BY id",
		Passes:  "UPDATE orders SET status = 1 WHERE user_id = 7",
		Check: func(c *Check) {
			switch n := c.Stmt().(type) {
			case *ast.UpdateStmt:
				if n.Order != nil {
					c.Report("UPDATE of %s has an ORDER BY", changeTarget(n))
				}
			case *ast.DeleteStmt:
				if n.Order != nil {
					c.Report("DELETE from %s has an ORDER BY", changeTarget(n))
				}
			}
		},
	},
	{
		ID: "dml.dry-run", Category: CategoryDML, Level: LevelError,
		Summary: "With a live catalog, the server can EXPLAIN each INSERT, REPLACE, UPDATE and DELETE on tables it has: an error it raises (unknown column, bad value, missing privilege) is reported before the script runs. Without a live catalog the rule does nothing.",
		Fires:   "UPDATE big SET a = 1 WHERE id = no_such_function(1)",
		Passes:  "UPDATE big SET a = 1 WHERE id = 1",
		Live:    true,
		Check:   checkDryRun,
	},
	{
		ID: "dml.select-max-execution-time", Category: CategoryDML, Level: LevelOff,
		Summary: "SELECT statements carry a /*+ MAX_EXECUTION_TIME(ms) */ hint (a UNION on its first SELECT), so a slow query is cut off (MySQL; off unless a policy turns it on).",
		Fires:   "SELECT id FROM orders WHERE user_id = 7",
		Passes:  "SELECT /*+ MAX_EXECUTION_TIME(2000) */ id FROM orders WHERE user_id = 7",
		Check: func(c *Check) {
			s, ok := c.Stmt().(*ast.SelectStmt)
			if so, isSet := c.Stmt().(*ast.SetOprStmt); isSet && so.SelectList != nil && len(so.SelectList.Selects) > 0 {
				s, ok = so.SelectList.Selects[0].(*ast.SelectStmt) // a UNION takes the hint on its first SELECT
			}
			if !ok || s.From == nil {
				return
			}
			for _, h := range s.TableHints {
				if h.HintName.L == "max_execution_time" {
					return
				}
			}
			c.Report("SELECT from %s has no MAX_EXECUTION_TIME hint", strings.Join(c.st.res.Tables, ", "))
		},
	},
	{
		ID: "dml.null-comparison", Category: CategoryDML, Level: LevelError,
		Summary: "Nothing is compared with NULL by =, !=, <, >...: the result is always NULL, never true; use IS NULL, IS NOT NULL or <=>.",
		Fires:   "UPDATE orders SET status = 1 WHERE paid_at = NULL",
		Passes:  "UPDATE orders SET status = 1 WHERE paid_at IS NULL",
		Check: func(c *Check) {
			for _, x := range c.nodes() {
				b, ok := x.(*ast.BinaryOperationExpr)
				if !ok || !isComparison(b.Op) || b.Op == opcode.NullEQ {
					continue
				}
				for _, side := range []ast.ExprNode{b.L, b.R} {
					if v, ok := valueOf(unparen(side)); ok && v == nil {
						c.ReportAt(b.OriginTextPosition(), "comparison %s NULL is never true; use IS NULL, IS NOT NULL or <=>", b.Op)
						break
					}
				}
			}
		},
	},
	{
		ID: "dml.select-require-where", Category: CategoryDML, Level: LevelOff,
		Summary: "SELECT statements reading a table have a WHERE clause (off unless a policy turns it on).",
		Fires:   "SELECT id FROM orders",
		Passes:  "SELECT id FROM orders WHERE id = 1",
		Check: func(c *Check) {
			var blocks []*ast.SelectStmt
			switch n := c.Stmt().(type) {
			case *ast.SelectStmt:
				blocks = []*ast.SelectStmt{n}
			case *ast.SetOprStmt:
				if n.SelectList != nil {
					for _, s := range n.SelectList.Selects {
						if s, ok := s.(*ast.SelectStmt); ok {
							blocks = append(blocks, s)
						}
					}
				}
			}
			for _, s := range blocks {
				if s.From != nil && s.Where == nil {
					from := "a table"
					if names := tableNames(s.From, nil); len(names) > 0 {
						from = tableLabel(names[0])
					}
					c.ReportAt(s.OriginTextPosition(), "SELECT from %s has no WHERE", from)
				}
			}
		},
	},
	{
		ID: "dml.function-denylist", Category: CategoryDML, Level: LevelWarning,
		Summary: "Statements do not call denied functions (SLEEP, BENCHMARK, lock and file functions).",
		Params:  []Param{{Name: "functions", Default: []string{"sleep", "benchmark", "get_lock", "release_lock", "load_file"}, Summary: "denied function names"}},
		Fires:   "SELECT SLEEP(10)",
		Passes:  "SELECT NOW()",
		Check: func(c *Check) {
			for _, x := range c.nodes() {
				if f, ok := x.(*ast.FuncCallExpr); ok && inList(c.Strings("functions"), f.FnName.L) {
					c.ReportAt(f.OriginTextPosition(), "function %s is denied", strings.ToUpper(f.FnName.O))
				}
			}
		},
	},
	{
		ID: "dml.max-or-terms", Category: CategoryDML, Level: LevelWarning,
		Summary: "A WHERE has at most a given number of OR terms; long OR chains defeat indexes (use IN or UNION).",
		Params:  []Param{{Name: "max", Default: 10, Summary: "most terms joined by OR in one WHERE"}},
		Fires:   "SELECT id FROM orders WHERE a = 1 OR b = 2 OR c = 3 OR d = 4 OR e = 5 OR f = 6 OR g = 7 OR h = 8 OR i = 9 OR j = 10 OR k = 11",
		Passes:  "SELECT id FROM orders WHERE a = 1 OR b = 2",
		Check:   checkOrTerms,
	},
	{
		ID: "dml.backup-required", Category: CategoryDML, Level: LevelOff,
		Summary: "An UPDATE or DELETE on a big table (by estimated rows changed, else table rows) follows a copy of the rows into another table earlier in the script (INSERT ... SELECT or CREATE TABLE ... SELECT from it), so it can be undone (off unless a policy turns it on).",
		Params:  []Param{{Name: "rows", Default: 100_000, Summary: "rows from which a backup is required"}},
		Fires:   "DELETE FROM big WHERE a = 1",
		Passes:  "CREATE TABLE big_bak LIKE big;\nINSERT INTO big_bak SELECT * FROM big WHERE a = 1;\nDELETE FROM big WHERE a = 1",
		Check:   checkBackup,
	},
	{
		ID: "dml.max-join-tables", Category: CategoryDML, Level: LevelWarning,
		Summary: "A query block joins at most a given number of tables.",
		Params:  []Param{{Name: "max", Default: 5, Summary: "most tables in one FROM"}},
		Fires:   "SELECT a.id FROM a JOIN b ON b.id = a.id JOIN c ON c.id = a.id JOIN d ON d.id = a.id JOIN e ON e.id = a.id JOIN f ON f.id = a.id WHERE a.id = 1",
		Passes:  "SELECT a.id FROM a JOIN b ON b.id = a.id WHERE a.id = 1",
		Check: func(c *Check) {
			for _, x := range c.nodes() {
				var from *ast.TableRefsClause
				switch x := x.(type) {
				case *ast.SelectStmt:
					from = x.From
				case *ast.UpdateStmt:
					from = x.TableRefs
				case *ast.DeleteStmt:
					from = x.TableRefs
				}
				if from != nil {
					if n := countSources(from.TableRefs); n > c.Int("max") {
						c.ReportAt(from.TableRefs.OriginTextPosition(), "a FROM joins %d tables; the limit is %d", n, c.Int("max"))
					}
				}
			}
		},
	},
	{
		ID: "dml.join-without-condition", Category: CategoryDML, Level: LevelWarning,
		Summary: "Tables are not joined without any condition (no ON, USING or WHERE): that is a cross product of every row.",
		Fires:   "SELECT o.id FROM orders o, users u",
		Passes:  "SELECT o.id FROM orders o JOIN users u ON u.id = o.user_id",
		Check: func(c *Check) {
			for _, x := range c.nodes() {
				var from *ast.TableRefsClause
				var w ast.ExprNode
				switch x := x.(type) {
				case *ast.SelectStmt:
					from, w = x.From, x.Where
				case *ast.UpdateStmt:
					from, w = x.TableRefs, x.Where
				case *ast.DeleteStmt:
					from, w = x.TableRefs, x.Where
				}
				if from != nil && w == nil && crossJoined(from.TableRefs) {
					c.ReportAt(from.TableRefs.OriginTextPosition(), "tables %s are joined without ON, USING or WHERE: every row is paired with every row", joinedNames(from.TableRefs))
				}
			}
		},
	},
	{
		ID: "dml.update-set-and", Category: CategoryDML, Level: LevelError,
		Summary: "UPDATE ... SET a = 1 AND b = 2 sets a to a truth value; assignments are separated by commas.",
		Fires:   "UPDATE orders SET status = 1 AND note = 'x' WHERE id = 1",
		Passes:  "UPDATE orders SET status = 1, note = 'x' WHERE id = 1",
		Check: func(c *Check) {
			for _, x := range c.nodes() {
				a, ok := x.(*ast.Assignment)
				if !ok {
					continue
				}
				if b, ok := unparen(a.Expr).(*ast.BinaryOperationExpr); ok && (b.Op == opcode.LogicAnd || b.Op == opcode.LogicOr) && assignsLike(b.R) {
					c.ReportAt(b.OriginTextPosition(), "SET %s = ... %s ... sets %s to a truth value; separate assignments with commas", a.Column.Name.O, strings.ToUpper(b.Op.String()), a.Column.Name.O)
				}
			}
		},
	},
	{
		ID: "dml.insert-value-count", Category: CategoryDML, Level: LevelError,
		Summary: "Each row of INSERT and REPLACE, and the SELECT of INSERT ... SELECT, has as many values as columns (those named, else the table's visible ones): the server refuses a mismatch.",
		Fires:   "INSERT INTO big (a, b) VALUES (1, 'x'), (2)",
		Passes:  "INSERT INTO big (a, b) VALUES (1, 'x'), (2, 'y')",
		Check: func(c *Check) {
			n, ok := c.Stmt().(*ast.InsertStmt)
			if !ok || n.Setlist || len(n.Lists) == 0 && n.Select == nil {
				return
			}
			want, what := len(n.Columns), "columns named"
			if want == 0 {
				names := tableNames(n.Table, nil)
				if len(names) != 1 {
					return
				}
				t := c.Table(names[0])
				if t == nil || len(t.Columns) == 0 {
					return
				}
				want, what = visibleColumns(t), "columns of "+tableLabel(names[0])
				if want < len(t.Columns) {
					what = "visible " + what
				}
			}
			if got, ok := selectWidth(n.Select); ok && got != want {
				c.Report("the SELECT of %s into %s returns %d columns for %d %s", c.st.res.Type, changeTarget(n), got, want, what)
				return
			}
			for i, row := range n.Lists {
				if len(row) != want && len(row) > 0 {
					c.Report("row %d of %s into %s has %d values for %d %s", i+1, c.st.res.Type, changeTarget(n), len(row), want, what)
					return
				}
			}
		},
	},
	{
		ID: "dml.cross-database", Category: CategoryDML, Level: LevelOff,
		Summary: "Statements use tables of the default database only (off unless a policy turns it on).",
		Fires:   "UPDATE archive.orders SET status = 1 WHERE id = 1",
		Passes:  "UPDATE orders SET status = 1 WHERE id = 1",
		Check: func(c *Check) {
			switch c.Stmt().(type) {
			case *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt, *ast.SelectStmt, *ast.SetOprStmt:
			default:
				return
			}
			for _, t := range c.st.res.Tables {
				if db, _, ok := strings.Cut(t, "."); ok && db != c.Database() {
					c.Report("table %s is in another database than %s", t, c.Database())
				}
			}
		},
	},
}

func numberList(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(strconv.Itoa(i + 1))
	}
	return b.String()
}

func rowList(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("(" + strconv.Itoa(i) + ")")
	}
	return b.String()
}

// checkOrTerms implements dml.max-or-terms: the terms joined by OR in the
// WHERE of each query block (its subqueries counted in their own block).
func checkOrTerms(c *Check) {
	for _, x := range c.nodes() {
		w := blockWhere(x)
		if w == nil {
			continue
		}
		terms := 1
		w.Accept(orCounter{&terms})
		if terms > c.Int("max") {
			c.ReportAt(w.OriginTextPosition(), "WHERE has %d terms joined by OR; the limit is %d", terms, c.Int("max"))
		}
	}
}

// orCounter counts the OR operators of a condition into n, not those of
// its subqueries.
type orCounter struct{ n *int }

func (v orCounter) Enter(n ast.Node) (ast.Node, bool) {
	switch n := n.(type) {
	case *ast.SubqueryExpr:
		return n, true
	case *ast.BinaryOperationExpr:
		if n.Op == opcode.LogicOr {
			*v.n++
		}
	}
	return n, false
}

func (v orCounter) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// countSources counts the table sources of a FROM (tables, derived
// tables), not those nested in derived tables.
func countSources(n ast.ResultSetNode) int {
	switch n := n.(type) {
	case *ast.Join:
		if n == nil {
			return 0
		}
		return countSources(n.Left) + countSources(n.Right)
	case *ast.TableSource:
		return 1
	}
	return 0
}

// crossJoined reports a join in a FROM with no ON, USING or NATURAL.
func crossJoined(n ast.ResultSetNode) bool {
	j, ok := n.(*ast.Join)
	if !ok || j == nil {
		return false
	}
	if j.Right != nil && j.On == nil && len(j.Using) == 0 && !j.NaturalJoin {
		return true
	}
	return crossJoined(j.Left) || crossJoined(j.Right)
}

// joinedNames names the tables (or aliases) of a FROM for messages.
func joinedNames(n ast.ResultSetNode) string {
	var names []string
	var visit func(ast.ResultSetNode)
	visit = func(n ast.ResultSetNode) {
		switch n := n.(type) {
		case *ast.Join:
			if n != nil {
				visit(n.Left)
				visit(n.Right)
			}
		case *ast.TableSource:
			switch {
			case n.AsName.O != "":
				names = append(names, n.AsName.O)
			default:
				if tn, ok := n.Source.(*ast.TableName); ok {
					names = append(names, tn.Name.O)
				} else {
					names = append(names, "(derived table)")
				}
			}
		}
	}
	visit(n)
	return strings.Join(names, ", ")
}

// assignsLike reports an expression that reads like a second assignment
// written with AND: a comparison col = value.
func assignsLike(e ast.ExprNode) bool {
	b, ok := unparen(e).(*ast.BinaryOperationExpr)
	if !ok || b.Op != opcode.EQ {
		return false
	}
	_, ok = unparen(b.L).(*ast.ColumnNameExpr)
	return ok
}

// checkBackup implements dml.backup-required.
func checkBackup(c *Check) {
	var target *ast.TableName
	switch n := c.Stmt().(type) {
	case *ast.UpdateStmt:
		if names := tableNames(n.TableRefs, nil); len(names) == 1 {
			target = names[0]
		}
	case *ast.DeleteStmt:
		if names := tableNames(n.TableRefs, nil); len(names) == 1 && !n.IsMultiTable {
			target = names[0]
		}
	}
	if target == nil {
		return
	}
	rows, ok := c.AffectedRows()
	if !ok {
		rows, ok = c.TableRows()
	}
	if !ok || rows < int64(c.Int("rows")) {
		return
	}
	k := c.qualify(target)
	for _, p := range c.Prior() {
		if p.Type != "INSERT SELECT" && p.Type != "CREATE TABLE" || len(p.Tables) < 2 {
			continue
		}
		for _, t := range p.Tables[1:] {
			if t == k.name || t == k.db+"."+k.name {
				return
			}
		}
	}
	c.Report("%s of %s changes about %d rows and no earlier statement copies them to another table; back them up first (INSERT INTO backup SELECT ... with the same WHERE)", c.st.res.Type, tableLabel(target), rows)
}

// checkDryRun implements dml.dry-run: it EXPLAINs the statement on the
// catalog's server, unless the statement estimate already did, and
// reports the error the server raised.
func checkDryRun(c *Check) {
	switch c.Stmt().(type) {
	case *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt:
	default:
		return
	}
	if !c.st.explained {
		c.rv.explain(c.ctx, c.st)
	}
	if errors.Is(c.st.explainErr, ErrExplainRefused) {
		c.Report("dry run: the server refuses this %s: %s", c.st.res.Type, refusal(c.st.explainErr))
	}
}

// selectWidth returns how many columns query n returns (its first
// branch's for a UNION), and false when that cannot be told without the
// tables (SELECT *) or n is not a query.
func selectWidth(n ast.ResultSetNode) (int, bool) {
	switch n := n.(type) {
	case *ast.SetOprStmt:
		if n.SelectList != nil && len(n.SelectList.Selects) > 0 {
			if first, ok := n.SelectList.Selects[0].(ast.ResultSetNode); ok {
				return selectWidth(first)
			}
		}
	case *ast.SelectStmt:
		if n.Fields == nil || n.Kind != ast.SelectStmtKindSelect {
			return 0, false
		}
		for _, f := range n.Fields.Fields {
			if f.WildCard != nil {
				return 0, false
			}
		}
		return len(n.Fields.Fields), true
	}
	return 0, false
}
