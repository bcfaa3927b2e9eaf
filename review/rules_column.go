package review

import (
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
)

// eachColumn calls f for every column definition of the statement.
func eachColumn(c *Check, f func(nc newColumn)) {
	for _, nc := range c.columnDefs() {
		f(nc)
	}
}

// isKeyColumn reports whether the new column nc is part of the primary
// key of its table (declared on the column, in the statement, or already
// in the table) or, with unique, of a unique key.
func isKeyColumn(c *Check, nc newColumn, unique bool) bool {
	if hasOption(nc.def, ast.ColumnOptionPrimaryKey) || unique && hasOption(nc.def, ast.ColumnOptionUniqKey) {
		return true
	}
	holds := func(name string) bool { return strings.EqualFold(name, colName(nc.def)) }
	_, idx := c.indexDecls()
	for _, d := range idx {
		if (d.primary || unique && d.unique) && slices.ContainsFunc(d.columns(), holds) {
			return true
		}
	}
	if nc.spec != nil {
		if t := c.Table(nc.table); t != nil {
			for _, ix := range t.Indexes {
				if (ix.Primary || unique && ix.Unique) && slices.ContainsFunc(ix.Columns, func(ic IndexColumn) bool { return holds(ic.Name) }) {
					return true
				}
			}
		}
	}
	return false
}

var columnRules = []Rule{
	{
		ID: "column.require-not-null", Category: CategoryColumn, Level: LevelWarning,
		Summary: "Columns are NOT NULL (TEXT, BLOB and JSON excepted).",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR(50))",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR(50) NOT NULL DEFAULT '')",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				if isBlobLike(colType(nc.def)) || hasOption(nc.def, ast.ColumnOptionNotNull) || hasOption(nc.def, ast.ColumnOptionGenerated) || isKeyColumn(c, nc, false) {
					return
				}
				c.Report("column %s of %s can be NULL", colName(nc.def), tableLabel(nc.table))
			})
		},
	},
	{
		ID: "column.require-default", Category: CategoryColumn, Level: LevelNotice,
		Summary: "NOT NULL columns have a DEFAULT (primary and unique key, AUTO_INCREMENT, TEXT, BLOB, JSON and generated columns excepted: a default on a unique column collides on the second row that uses it).",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, status TINYINT NOT NULL)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, status TINYINT NOT NULL DEFAULT 0)",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				cd := nc.def
				if !hasOption(cd, ast.ColumnOptionNotNull) || hasOption(cd, ast.ColumnOptionDefaultValue) || hasOption(cd, ast.ColumnOptionAutoIncrement) ||
					hasOption(cd, ast.ColumnOptionGenerated) || isBlobLike(colType(cd)) || isKeyColumn(c, nc, true) {
					return
				}
				c.Report("NOT NULL column %s of %s has no DEFAULT", colName(cd), tableLabel(nc.table))
			})
		},
	},
	{
		ID: "column.require-comment", Category: CategoryColumn, Level: LevelWarning,
		Summary: "Every new or redefined column has a comment.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY COMMENT 'id', status TINYINT NOT NULL DEFAULT 0)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY COMMENT 'id', status TINYINT NOT NULL DEFAULT 0 COMMENT '0 new, 1 paid')",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				o := option(nc.def, ast.ColumnOptionComment)
				if o == nil || strings.TrimSpace(exprString(o.Expr)) == "" {
					c.Report("column %s of %s has no comment", colName(nc.def), tableLabel(nc.table))
				}
			})
		},
	},
	{
		ID: "column.no-float", Category: CategoryColumn, Level: LevelNotice,
		Summary: "FLOAT and DOUBLE are approximate; prefer DECIMAL.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, ratio FLOAT NOT NULL DEFAULT 0)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, ratio DECIMAL(8,4) NOT NULL DEFAULT 0)",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				if tp := colType(nc.def); tp == mysql.TypeFloat || tp == mysql.TypeDouble {
					c.Report("column %s of %s is %s, an approximate type", colName(nc.def), tableLabel(nc.table), typeName(nc.def.Tp))
				}
			})
		},
	},
	{
		ID: "column.float-money", Category: CategoryColumn, Level: LevelError,
		Summary: "Money columns are DECIMAL, never FLOAT or DOUBLE.",
		Params:  []Param{{Name: "pattern", Default: `(?i)(amount|price|money|cost|fee|balance|total|pay|salary)`, Summary: "regular expression that marks a money column name"}},
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, price DOUBLE NOT NULL DEFAULT 0)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, price DECIMAL(12,2) NOT NULL DEFAULT 0)",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				if tp := colType(nc.def); (tp == mysql.TypeFloat || tp == mysql.TypeDouble) && matchParam(c, "pattern", colName(nc.def)) {
					c.Report("money column %s of %s is %s; use DECIMAL", colName(nc.def), tableLabel(nc.table), typeName(nc.def.Tp))
				}
			})
		},
	},
	{
		ID: "column.no-enum", Category: CategoryColumn, Level: LevelWarning,
		Summary: "No ENUM or SET: changing members is a schema change; use a lookup table or TINYINT.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, state ENUM('new','paid') NOT NULL DEFAULT 'new')",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, state TINYINT UNSIGNED NOT NULL DEFAULT 0)",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				if tp := colType(nc.def); tp == mysql.TypeEnum || tp == mysql.TypeSet {
					c.Report("column %s of %s is %s", colName(nc.def), tableLabel(nc.table), strings.ToUpper(dataType(nc.def.Tp)))
				}
			})
		},
	},
	{
		ID: "column.char-max-length", Category: CategoryColumn, Level: LevelNotice,
		Summary: "CHAR columns are short; longer strings are VARCHAR.",
		Params:  []Param{{Name: "max", Default: 20, Summary: "longest CHAR allowed"}},
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, title CHAR(200) NOT NULL DEFAULT '')",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, code CHAR(8) NOT NULL DEFAULT '')",
		Check: func(c *Check) {
			maxLen := c.Int("max")
			eachColumn(c, func(nc newColumn) {
				if colType(nc.def) == mysql.TypeString && nc.def.Tp.GetFlen() > maxLen {
					c.Report("column %s of %s is CHAR(%d); use VARCHAR above %d", colName(nc.def), tableLabel(nc.table), nc.def.Tp.GetFlen(), maxLen)
				}
			})
		},
	},
	{
		ID: "column.varchar-max-length", Category: CategoryColumn, Level: LevelWarning,
		Summary: "VARCHAR columns are at most a given length.",
		Params:  []Param{{Name: "max", Default: 1024, Summary: "longest VARCHAR allowed, in characters"}},
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, body VARCHAR(8000) NOT NULL DEFAULT '')",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, title VARCHAR(255) NOT NULL DEFAULT '')",
		Check: func(c *Check) {
			maxLen := c.Int("max")
			eachColumn(c, func(nc newColumn) {
				if colType(nc.def) == mysql.TypeVarchar && nc.def.Tp.GetFlen() > maxLen {
					c.Report("column %s of %s is VARCHAR(%d); the limit is %d", colName(nc.def), tableLabel(nc.table), nc.def.Tp.GetFlen(), maxLen)
				}
			})
		},
	},
	{
		ID: "column.no-blob", Category: CategoryColumn, Level: LevelNotice,
		Summary: "TEXT and BLOB columns are stored off-page and slow; use them only when needed.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, note TEXT)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, note VARCHAR(500) NOT NULL DEFAULT '')",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				if isBlobType(colType(nc.def)) {
					c.Report("column %s of %s is %s", colName(nc.def), tableLabel(nc.table), strings.ToUpper(dataType(nc.def.Tp)))
				}
			})
		},
	},
	{
		ID: "column.auto-increment-unsigned", Category: CategoryColumn, Level: LevelWarning,
		Summary: "AUTO_INCREMENT columns are UNSIGNED.",
		Fires:   "CREATE TABLE t (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY)",
		Passes:  "CREATE TABLE t (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY)",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				if hasOption(nc.def, ast.ColumnOptionAutoIncrement) && !mysql.HasUnsignedFlag(nc.def.Tp.GetFlag()) {
					c.Report("AUTO_INCREMENT column %s of %s is not UNSIGNED", colName(nc.def), tableLabel(nc.table))
				}
			})
		},
	},
	{
		ID: "column.auto-increment-type", Category: CategoryColumn, Level: LevelNotice,
		Summary: "AUTO_INCREMENT columns are BIGINT, so they do not run out.",
		Params:  []Param{{Name: "types", Default: []string{"bigint"}, Summary: "allowed types of AUTO_INCREMENT columns"}},
		Fires:   "CREATE TABLE t (id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY)",
		Passes:  "CREATE TABLE t (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY)",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				if hasOption(nc.def, ast.ColumnOptionAutoIncrement) && !inList(c.Strings("types"), dataType(nc.def.Tp)) {
					c.Report("AUTO_INCREMENT column %s of %s is %s; allowed: %s", colName(nc.def), tableLabel(nc.table), dataType(nc.def.Tp), strings.Join(c.Strings("types"), ", "))
				}
			})
		},
	},
	{
		ID: "column.no-timestamp", Category: CategoryColumn, Level: LevelNotice,
		Summary: "TIMESTAMP ends in 2038 and follows the session time zone; prefer DATETIME.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, paid_at TIMESTAMP NULL)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, paid_at DATETIME NULL)",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				if colType(nc.def) == mysql.TypeTimestamp {
					c.Report("column %s of %s is TIMESTAMP, which ends on 2038-01-19", colName(nc.def), tableLabel(nc.table))
				}
			})
		},
	},
	{
		ID: "column.charset-override", Category: CategoryColumn, Level: LevelNotice,
		Summary: "Columns use the table's character set rather than their own.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, code VARCHAR(10) CHARACTER SET latin1 NOT NULL DEFAULT '')",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, code VARCHAR(10) NOT NULL DEFAULT '')",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				if cs := nc.def.Tp.GetCharset(); cs != "" && cs != "binary" {
					c.Report("column %s of %s sets its own character set %s", colName(nc.def), tableLabel(nc.table), cs)
				}
			})
		},
	},
	{
		ID: "column.no-zerofill", Category: CategoryColumn, Level: LevelNotice,
		Summary: "No ZEROFILL: it is deprecated; format numbers in the application.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, code INT(6) ZEROFILL NOT NULL DEFAULT 0)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, code INT UNSIGNED NOT NULL DEFAULT 0)",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				if nc.def.Tp != nil && mysql.HasZerofillFlag(nc.def.Tp.GetFlag()) {
					c.Report("column %s of %s is ZEROFILL", colName(nc.def), tableLabel(nc.table))
				}
			})
		},
	},
	{
		ID: "column.not-null-default-null", Category: CategoryColumn, Level: LevelError,
		Summary: "A NOT NULL column cannot have DEFAULT NULL.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT NOT NULL DEFAULT NULL)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT NULL DEFAULT NULL)",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				if !hasOption(nc.def, ast.ColumnOptionNotNull) {
					return
				}
				if o := option(nc.def, ast.ColumnOptionDefaultValue); o != nil {
					if v, ok := valueOf(o.Expr); ok && v == nil {
						c.Report("column %s of %s is NOT NULL with DEFAULT NULL", colName(nc.def), tableLabel(nc.table))
					}
				}
			})
		},
	},
	{
		ID: "column.timestamp-default", Category: CategoryColumn, Level: LevelNotice,
		Summary: "Columns named like update times default to and update on CURRENT_TIMESTAMP.",
		Params:  []Param{{Name: "columns", Default: []string{"updated_at", "update_time", "modified_at"}, Summary: "names of update-time columns"}},
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, updated_at DATETIME NOT NULL)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP)",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				if !inList(c.Strings("columns"), colName(nc.def)) {
					return
				}
				if tp := colType(nc.def); tp != mysql.TypeDatetime && tp != mysql.TypeTimestamp {
					return
				}
				if !hasOption(nc.def, ast.ColumnOptionOnUpdate) || !hasOption(nc.def, ast.ColumnOptionDefaultValue) {
					c.Report("column %s of %s lacks DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP", colName(nc.def), tableLabel(nc.table))
				}
			})
		},
	},
	{
		ID: "column.current-time-count", Category: CategoryColumn, Level: LevelWarning,
		Summary: "A table has at most a given number of columns that default to or update on the current time (CURRENT_TIMESTAMP, NOW()), counting the columns it already has.",
		Params:  []Param{{Name: "max", Default: 2, Summary: "most columns defaulting to or updating on the current time"}},
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, a DATETIME DEFAULT CURRENT_TIMESTAMP, b DATETIME DEFAULT NOW(), c DATETIME ON UPDATE CURRENT_TIMESTAMP)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, created_at DATETIME DEFAULT CURRENT_TIMESTAMP, updated_at DATETIME DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP)",
		Check:   checkCurrentTimeCount,
	},
	{
		ID: "column.type-denylist", Category: CategoryColumn, Level: LevelWarning,
		Summary:       "New and redefined columns do not use a denied type (the list is empty unless a policy sets it).",
		Params:        []Param{{Name: "types", Default: []string{}, Summary: "denied data types, as information_schema's DATA_TYPE names them (json, bit, set...)"}},
		ExampleParams: map[string]any{"types": []string{"json", "bit"}},
		Fires:         "CREATE TABLE t (id BIGINT PRIMARY KEY, doc JSON)",
		Passes:        "CREATE TABLE t (id BIGINT PRIMARY KEY, doc TEXT)",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				if dt := dataType(nc.def.Tp); inList(c.Strings("types"), dt) {
					c.Report("column %s of %s is %s, a denied type", colName(nc.def), tableLabel(nc.table), strings.ToUpper(dt))
				}
			})
		},
	},
	{
		ID: "column.zero-date", Category: CategoryColumn, Level: LevelWarning,
		Summary: "DATE, DATETIME and TIMESTAMP columns do not default to a zero date ('0000-00-00'), which strict SQL modes (NO_ZERO_DATE) refuse.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, paid_at DATETIME NOT NULL DEFAULT '0000-00-00 00:00:00')",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, paid_at DATETIME NULL DEFAULT NULL)",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				switch colType(nc.def) {
				case mysql.TypeDate, mysql.TypeDatetime, mysql.TypeTimestamp:
				default:
					return
				}
				o := option(nc.def, ast.ColumnOptionDefaultValue)
				if o == nil {
					return
				}
				if v, ok := valueOf(o.Expr); ok && isZeroDate(v) {
					c.Report("column %s of %s defaults to the zero date %v", colName(nc.def), tableLabel(nc.table), v)
				}
			})
		},
	},
	{
		ID: "column.no-json", Category: CategoryColumn, Level: LevelOff,
		Summary: "No JSON columns (off unless a policy turns it on).",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, doc JSON)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, doc_id BIGINT NOT NULL DEFAULT 0)",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				if colType(nc.def) == mysql.TypeJSON {
					c.Report("column %s of %s is JSON", colName(nc.def), tableLabel(nc.table))
				}
			})
		},
	},
	{
		ID: "column.blob-not-null", Category: CategoryColumn, Level: LevelNotice,
		Summary: "TEXT, BLOB and JSON columns that are NOT NULL have a DEFAULT, or every INSERT that leaves them out fails in strict mode.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, note TEXT NOT NULL)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, note TEXT NULL)",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				cd := nc.def
				if isBlobLike(colType(cd)) && colType(cd) != mysql.TypeGeometry && hasOption(cd, ast.ColumnOptionNotNull) &&
					!hasOption(cd, ast.ColumnOptionDefaultValue) && !hasOption(cd, ast.ColumnOptionGenerated) {
					c.Report("%s column %s of %s is NOT NULL without a DEFAULT: every INSERT must set it", strings.ToUpper(dataType(cd.Tp)), colName(cd), tableLabel(nc.table))
				}
			})
		},
	},
	{
		ID: "column.auto-increment-key", Category: CategoryColumn, Level: LevelError,
		Summary: "A table has at most one AUTO_INCREMENT column and it leads an index, or the server refuses the statement.",
		Fires:   "CREATE TABLE t (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, code INT NOT NULL, PRIMARY KEY (code, id))",
		Passes:  "CREATE TABLE t (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, code INT NOT NULL, PRIMARY KEY (id), KEY idx_code (code))",
		Check: func(c *Check) {
			after, _, _ := tableAfter(c)
			definesAuto := slices.ContainsFunc(c.columnDefs(), func(nc newColumn) bool { return hasOption(nc.def, ast.ColumnOptionAutoIncrement) })
			if after == nil || !definesAuto && len(droppedIndexes(c.Stmt())) == 0 {
				return
			}
			var auto []string
			for _, col := range after.Columns {
				if col.AutoIncrement {
					auto = append(auto, col.Name)
				}
			}
			switch {
			case len(auto) > 1:
				c.Report("%s would have %d AUTO_INCREMENT columns (%s); the server allows one", "table "+after.Name, len(auto), strings.Join(auto, ", "))
			case len(auto) == 1 && (after.Engine == "" || strings.EqualFold(after.Engine, "InnoDB")) && leadsIndex(after, auto[0]) == "":
				c.Report("AUTO_INCREMENT column %s of table %s leads no index; the server refuses it", auto[0], after.Name)
			}
		},
	},
	{
		ID: "column.comment-max-length", Category: CategoryColumn, Level: LevelWarning,
		Summary: "Column comments are at most a given number of characters long.",
		Params:  []Param{{Name: "max", Default: 128, Summary: "longest column comment, in characters"}},
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY COMMENT '" + strings.Repeat("x", 129) + "')",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY COMMENT 'order id')",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				if o := option(nc.def, ast.ColumnOptionComment); o != nil {
					if n := countRunes(exprString(o.Expr)); n > c.Int("max") {
						c.Report("comment of column %s of %s is %d characters long; the limit is %d", colName(nc.def), tableLabel(nc.table), n, c.Int("max"))
					}
				}
			})
		},
	},
}

// isCurrentTime reports whether e is the current time:
// CURRENT_TIMESTAMP, NOW(), LOCALTIME, LOCALTIMESTAMP.
func isCurrentTime(e ast.ExprNode) bool {
	f, ok := unparen(e).(*ast.FuncCallExpr)
	if !ok {
		return false
	}
	switch f.FnName.L {
	case "current_timestamp", "now", "localtime", "localtimestamp":
		return true
	}
	return false
}

// defaultsToNow reports whether a column definition defaults to or
// updates on the current time.
func defaultsToNow(cd *ast.ColumnDef) bool {
	for _, o := range cd.Options {
		if (o.Tp == ast.ColumnOptionDefaultValue || o.Tp == ast.ColumnOptionOnUpdate) && isCurrentTime(o.Expr) {
			return true
		}
	}
	return false
}

// checkCurrentTimeCount implements column.current-time-count: the
// statement's new columns that default to the current time, plus (for an
// ALTER) the table's existing ones, when the statement adds any.
func checkCurrentTimeCount(c *Check) {
	var tn *ast.TableName
	var names []string
	redefined := map[string]bool{}
	for _, nc := range c.columnDefs() {
		tn = nc.table
		redefined[strings.ToLower(nc.oldName())] = true
		if defaultsToNow(nc.def) {
			names = append(names, colName(nc.def))
		}
	}
	if len(names) == 0 {
		return
	}
	if _, ok := c.Stmt().(*ast.AlterTableStmt); ok {
		if t := c.Table(tn); t != nil {
			for _, col := range t.Columns {
				if !redefined[strings.ToLower(col.Name)] && col.Default != nil && isNowText(*col.Default) {
					names = append(names, col.Name)
				}
			}
		}
	}
	if maxCols := c.Int("max"); len(names) > maxCols {
		c.Report("%s would have %d columns defaulting to the current time (%s); the limit is %d", tableLabel(tn), len(names), strings.Join(names, ", "), maxCols)
	}
}

// isNowText reports a catalog default that is the current time
// ("CURRENT_TIMESTAMP", "current_timestamp()", "NOW()").
func isNowText(d string) bool {
	d = strings.ToLower(d)
	return strings.HasPrefix(d, "current_timestamp") || strings.HasPrefix(d, "now(") || strings.HasPrefix(d, "localtime")
}

// isZeroDate reports a literal that is a zero date: '0000-00-00...' or 0.
func isZeroDate(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.HasPrefix(strings.TrimSpace(v), "0000-00-00")
	case int64:
		return v == 0
	case uint64:
		return v == 0
	}
	return false
}
