package review

import (
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
)

// eachColumn calls f for every column definition of the statement.
func eachColumn(c *Check, f func(nc newColumn)) {
	for _, nc := range newColumns(c.Stmt()) {
		f(nc)
	}
}

func isPrimaryKeyColumn(c *Check, nc newColumn) bool {
	if hasOption(nc.def, ast.ColumnOptionPrimaryKey) {
		return true
	}
	_, idx := declaredIndexes(c.Stmt())
	for _, d := range idx {
		if d.primary && slices.ContainsFunc(d.columns(), func(s string) bool { return strings.EqualFold(s, colName(nc.def)) }) {
			return true
		}
	}
	if nc.spec != nil {
		if t := c.Table(nc.table); t != nil {
			if pk := t.PrimaryKey(); pk != nil && slices.ContainsFunc(pk.Columns, func(ic IndexColumn) bool { return strings.EqualFold(ic.Name, colName(nc.def)) }) {
				return true
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
				if isBlobLike(colType(nc.def)) || hasOption(nc.def, ast.ColumnOptionNotNull) || hasOption(nc.def, ast.ColumnOptionGenerated) || isPrimaryKeyColumn(c, nc) {
					return
				}
				c.Report("column %s of %s can be NULL", colName(nc.def), tableLabel(nc.table))
			})
		},
	},
	{
		ID: "column.require-default", Category: CategoryColumn, Level: LevelNotice,
		Summary: "NOT NULL columns have a DEFAULT (keys, AUTO_INCREMENT, TEXT, BLOB, JSON and generated columns excepted).",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, status TINYINT NOT NULL)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, status TINYINT NOT NULL DEFAULT 0)",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				cd := nc.def
				if !hasOption(cd, ast.ColumnOptionNotNull) || hasOption(cd, ast.ColumnOptionDefaultValue) || hasOption(cd, ast.ColumnOptionAutoIncrement) ||
					hasOption(cd, ast.ColumnOptionGenerated) || isBlobLike(colType(cd)) || isPrimaryKeyColumn(c, nc) {
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
}
