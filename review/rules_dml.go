package review

import (
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

// walkWhere calls f on every node of the statement's conditions: the
// WHERE of each query block (subqueries, derived tables, CTEs and UNION
// branches included) and the ON of each join, each node once.
func walkWhere(n ast.StmtNode, f func(ast.Node) bool) {
	inner := func(x ast.Node) bool {
		if _, ok := x.(*ast.SubqueryExpr); ok {
			return false // its own block, reached by the outer walk
		}
		return f(x)
	}
	walk(n, func(x ast.Node) bool {
		switch x := x.(type) {
		case *ast.SelectStmt:
			walk(x.Where, inner)
		case *ast.UpdateStmt:
			walk(x.Where, inner)
		case *ast.DeleteStmt:
			walk(x.Where, inner)
		case *ast.OnCondition:
			walk(x.Expr, inner)
		}
		return true
	})
}

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
			walk(c.Stmt(), func(x ast.Node) bool {
				if ob, ok := x.(*ast.OrderByClause); ok {
					for _, it := range ob.Items {
						if f, ok := it.Expr.(*ast.FuncCallExpr); ok && f.FnName.L == "rand" {
							c.ReportAt(f.OriginTextPosition(), "ORDER BY RAND() sorts every row it reads")
						}
					}
				}
				return true
			})
		},
	},
	{
		ID: "dml.select-star", Category: CategoryDML, Level: LevelNotice,
		Summary: "Queries name their columns instead of SELECT *.",
		Fires:   "SELECT * FROM orders WHERE id = 1",
		Passes:  "SELECT id, status FROM orders WHERE id = 1",
		Check: func(c *Check) {
			var s *ast.SelectStmt
			switch n := c.Stmt().(type) {
			case *ast.SelectStmt:
				s = n
			case *ast.InsertStmt:
				s, _ = n.Select.(*ast.SelectStmt)
			}
			if s == nil || s.Fields == nil {
				return
			}
			for _, f := range s.Fields.Fields {
				if f.WildCard != nil {
					c.ReportAt(f.Offset, "SELECT * from %s reads every column", strings.Join(c.st.res.Tables, ", "))
					return
				}
			}
		},
	},
	{
		ID: "dml.leading-wildcard-like", Category: CategoryDML, Level: LevelWarning,
		Summary: "LIKE patterns do not start with a wildcard, which cannot use an index.",
		Fires:   "SELECT id FROM users WHERE name LIKE '%son'",
		Passes:  "SELECT id FROM users WHERE name LIKE 'john%'",
		Check: func(c *Check) {
			walkWhere(c.Stmt(), func(x ast.Node) bool {
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
				return true
			})
		},
	},
	{
		ID: "dml.function-on-indexed-column", Category: CategoryDML, Level: LevelWarning,
		Summary: "WHERE does not wrap an indexed column in a function or arithmetic, which stops the index being used.",
		Fires:   "CREATE TABLE o (id BIGINT PRIMARY KEY, created_at DATETIME NOT NULL, KEY idx_created (created_at));\nSELECT id FROM o WHERE DATE(created_at) = '2024-01-01'",
		Passes:  "CREATE TABLE o (id BIGINT PRIMARY KEY, created_at DATETIME NOT NULL, KEY idx_created (created_at));\nSELECT id FROM o WHERE created_at >= '2024-01-01' AND created_at < '2024-01-02'",
		Check: func(c *Check) {
			walkWhere(c.Stmt(), func(x ast.Node) bool {
				b, ok := x.(*ast.BinaryOperationExpr)
				if !ok || !isComparison(b.Op) {
					return true
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
				return true
			})
		},
	},
	{
		ID: "dml.implicit-conversion", Category: CategoryDML, Level: LevelWarning,
		Summary: "A string column is compared with a string, not a number, which converts every row and cannot use an index.",
		Fires:   "CREATE TABLE u (id BIGINT PRIMARY KEY, phone VARCHAR(20) NOT NULL, KEY idx_phone (phone));\nSELECT id FROM u WHERE phone = 13800138000",
		Passes:  "CREATE TABLE u (id BIGINT PRIMARY KEY, phone VARCHAR(20) NOT NULL, KEY idx_phone (phone));\nSELECT id FROM u WHERE phone = '13800138000'",
		Check: func(c *Check) {
			check := func(pos int, colExpr ast.ExprNode, vals ...ast.ExprNode) {
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
			walkWhere(c.Stmt(), func(x ast.Node) bool {
				switch e := x.(type) {
				case *ast.BinaryOperationExpr:
					if isComparison(e.Op) {
						check(e.OriginTextPosition(), e.L, e.R)
						check(e.OriginTextPosition(), e.R, e.L)
					}
				case *ast.PatternInExpr:
					check(e.OriginTextPosition(), e.Expr, e.List...)
				}
				return true
			})
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
			walk(c.Stmt(), func(x ast.Node) bool {
				if in, ok := x.(*ast.PatternInExpr); ok && len(in.List) > maxVals {
					c.ReportAt(in.OriginTextPosition(), "IN list has %d values; the limit is %d", len(in.List), maxVals)
				}
				return true
			})
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
			walk(c.Stmt(), func(x ast.Node) bool {
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
				return true
			})
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
