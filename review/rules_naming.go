package review

import (
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
)

// name is an identifier a statement introduces.
type name struct {
	kind   string // "database", "table", "column", "index", "foreign key"
	name   string
	unique bool
}

// introducedNames returns the names the statement creates or renames
// to, a stored program's included. It is computed once for the
// statement's rules; the slice must not be changed.
func introducedNames(c *Check) []name {
	d := &c.st.derived
	if d.once(derivedNames) {
		d.names = slices.Clip(buildIntroducedNames(c))
	}
	return d.names
}

// buildIntroducedNames does introducedNames's work.
func buildIntroducedNames(c *Check) []name {
	var out []name
	if r := c.Routine(); r != nil && r.Action == "CREATE" {
		out = append(out, name{kind: strings.ToLower(r.Kind), name: r.Name})
	}
	switch n := c.Stmt().(type) {
	case *ast.CreateDatabaseStmt:
		out = append(out, name{kind: "database", name: n.Name.O})
	case *ast.CreateTableStmt:
		out = append(out, name{kind: "table", name: n.Table.Name.O})
	case *ast.RenameTableStmt:
		for _, t := range n.TableToTables {
			out = append(out, name{kind: "table", name: t.NewTable.Name.O})
		}
	case *ast.AlterTableStmt:
		for _, s := range n.Specs {
			switch s.Tp {
			case ast.AlterTableRenameTable:
				if s.NewTable != nil {
					out = append(out, name{kind: "table", name: s.NewTable.Name.O})
				}
			case ast.AlterTableRenameColumn:
				if s.NewColumnName != nil {
					out = append(out, name{kind: "column", name: s.NewColumnName.Name.O})
				}
			case ast.AlterTableRenameIndex:
				out = append(out, name{kind: "index", name: s.ToKey.O})
			}
		}
	}
	n := c.Stmt()
	for _, nc := range c.columnDefs() {
		if nc.added || nc.spec.Tp == ast.AlterTableChangeColumn {
			out = append(out, name{kind: "column", name: colName(nc.def)})
		}
	}
	_, idx := c.indexDecls()
	for _, d := range idx {
		if !d.primary && d.name != "" {
			out = append(out, name{kind: "index", name: d.name, unique: d.unique})
		}
	}
	for _, fk := range foreignKeys(n) {
		if fk.Name != "" {
			out = append(out, name{kind: "foreign key", name: fk.Name})
		}
	}
	return out
}

// foreignKeys returns the FOREIGN KEY constraints a statement declares.
func foreignKeys(n ast.StmtNode) []*ast.Constraint {
	var out []*ast.Constraint
	switch n := n.(type) {
	case *ast.CreateTableStmt:
		for _, c := range n.Constraints {
			if c.Tp == ast.ConstraintForeignKey {
				out = append(out, c)
			}
		}
	case *ast.AlterTableStmt:
		for _, s := range n.Specs {
			if s.Tp == ast.AlterTableAddConstraint && s.Constraint != nil && s.Constraint.Tp == ast.ConstraintForeignKey {
				out = append(out, s.Constraint)
			}
		}
	}
	return out
}

var reserved = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, k := range parser.Keywords {
		if k.Reserved {
			m[strings.ToLower(k.Word)] = true
		}
	}
	return m
})

// keywords is every keyword of the parser, reserved or not.
var keywords = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, k := range parser.Keywords {
		m[strings.ToLower(k.Word)] = true
	}
	return m
})

// patterns caches compiled parameter regular expressions.
var patterns sync.Map // string -> *regexp.Regexp or error

func compiled(expr string) (*regexp.Regexp, error) {
	if v, ok := patterns.Load(expr); ok {
		if re, ok := v.(*regexp.Regexp); ok {
			return re, nil
		}
		return nil, v.(error)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		patterns.Store(expr, err)
		return nil, err
	}
	patterns.Store(expr, re)
	return re, nil
}

// matchParam checks s against the rule's regexp parameter (New checked
// that parameters called "pattern" compile; a custom rule's bad pattern
// matches nothing).
func matchParam(c *Check, param, s string) bool {
	re, err := compiled(c.String(param))
	return err == nil && re.MatchString(s)
}

var namingRules = []Rule{
	{
		ID: "naming.lowercase", Category: CategoryNaming, Level: LevelWarning,
		Summary:  "Database, table, column and index names are lower case (or upper case, with case: upper).",
		Params:   []Param{{Name: "case", Default: "lower", Summary: "the case names are written in: lower or upper"}},
		Fires:    "CREATE TABLE Orders (id BIGINT UNSIGNED PRIMARY KEY)",
		Passes:   "CREATE TABLE orders (id BIGINT UNSIGNED PRIMARY KEY)",
		Routines: true,
		Check: func(c *Check) {
			want, conv := "lower", strings.ToLower
			if strings.EqualFold(c.String("case"), "upper") {
				want, conv = "upper", strings.ToUpper
			}
			for _, n := range introducedNames(c) {
				if n.name != conv(n.name) {
					c.Report("%s name %s is not %s case", n.kind, n.name, want)
				}
			}
		},
	},
	{
		ID: "naming.max-length", Category: CategoryNaming, Level: LevelWarning,
		Summary:  "Names are at most a given number of characters long.",
		Params:   []Param{{Name: "max", Default: 32, Summary: "longest allowed name, in characters"}},
		Fires:    "CREATE TABLE order_items_with_a_very_long_descriptive_name (id BIGINT PRIMARY KEY)",
		Passes:   "CREATE TABLE order_items (id BIGINT PRIMARY KEY)",
		Routines: true,
		Check: func(c *Check) {
			maxLen := c.Int("max")
			for _, n := range introducedNames(c) {
				if l := countRunes(n.name); l > maxLen {
					c.Report("%s name %s is %d characters long; the limit is %d", n.kind, n.name, l, maxLen)
				}
			}
		},
	},
	{
		ID: "naming.reserved-word", Category: CategoryNaming, Level: LevelError,
		Summary:  "Names are not reserved words, which need quoting everywhere (with non_reserved, not keywords at all, which may become reserved).",
		Params:   []Param{{Name: "non_reserved", Default: false, Summary: "also refuse non-reserved keywords (status, comment, date...)"}},
		Fires:    "CREATE TABLE t (id BIGINT PRIMARY KEY, `order` INT NOT NULL)",
		Passes:   "CREATE TABLE t (id BIGINT PRIMARY KEY, sort_order INT NOT NULL)",
		Routines: true,
		Check: func(c *Check) {
			words, all := reserved(), c.Bool("non_reserved")
			for _, n := range introducedNames(c) {
				switch k := strings.ToLower(n.name); {
				case words[k]:
					c.Report("%s name %s is a reserved word", n.kind, n.name)
				case all && keywords()[k]:
					c.Report("%s name %s is a keyword (not reserved)", n.kind, n.name)
				}
			}
		},
	},
	{
		ID: "naming.index-prefix", Category: CategoryNaming, Level: LevelWarning,
		Summary: "Names of non-unique indexes start with a prefix (idx_).",
		Params:  []Param{{Name: "prefix", Default: "idx_", Summary: "required prefix"}},
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, user_id BIGINT, KEY user_id (user_id))",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, user_id BIGINT, KEY idx_user_id (user_id))",
		Check: func(c *Check) {
			p := c.String("prefix")
			_, idx := c.indexDecls()
			for _, d := range idx {
				if !d.primary && !d.unique && d.name != "" && !strings.HasPrefix(strings.ToLower(d.name), p) {
					c.Report("index %s does not start with %s", d.name, p)
				}
			}
		},
	},
	{
		ID: "naming.unique-prefix", Category: CategoryNaming, Level: LevelWarning,
		Summary: "Names of unique indexes start with a prefix (uk_).",
		Params:  []Param{{Name: "prefix", Default: "uk_", Summary: "required prefix"}},
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, email VARCHAR(100), UNIQUE KEY email (email))",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, email VARCHAR(100), UNIQUE KEY uk_email (email))",
		Check: func(c *Check) {
			p := c.String("prefix")
			_, idx := c.indexDecls()
			for _, d := range idx {
				if d.unique && !d.primary && d.name != "" && !strings.HasPrefix(strings.ToLower(d.name), p) {
					c.Report("unique index %s does not start with %s", d.name, p)
				}
			}
		},
	},
	{
		ID: "naming.fk-prefix", Category: CategoryNaming, Level: LevelNotice,
		Summary: "Names of foreign keys start with a prefix (fk_).",
		Params:  []Param{{Name: "prefix", Default: "fk_", Summary: "required prefix"}},
		Fires:   "CREATE TABLE c (id BIGINT PRIMARY KEY, p BIGINT, CONSTRAINT parent FOREIGN KEY (p) REFERENCES p (id))",
		Passes:  "CREATE TABLE c (id BIGINT PRIMARY KEY, p BIGINT, CONSTRAINT fk_parent FOREIGN KEY (p) REFERENCES p (id))",
		Check: func(c *Check) {
			p := c.String("prefix")
			for _, fk := range foreignKeys(c.Stmt()) {
				if fk.Name != "" && !strings.HasPrefix(strings.ToLower(fk.Name), p) {
					c.Report("foreign key %s does not start with %s", fk.Name, p)
				}
			}
		},
	},
	{
		ID: "naming.table-pattern", Category: CategoryNaming, Level: LevelWarning,
		Summary: "Table names match a regular expression (letters, digits, underscores).",
		Params:  []Param{{Name: "pattern", Default: `^[a-z][a-z0-9_]*$`, Summary: "regular expression a table name must match"}},
		Fires:   "CREATE TABLE `order-items` (id BIGINT PRIMARY KEY)",
		Passes:  "CREATE TABLE order_items (id BIGINT PRIMARY KEY)",
		Check: func(c *Check) {
			for _, n := range introducedNames(c) {
				if n.kind == "table" && !matchParam(c, "pattern", n.name) {
					c.Report("table name %s does not match %s", n.name, c.String("pattern"))
				}
			}
		},
	},
	{
		ID: "naming.column-pattern", Category: CategoryNaming, Level: LevelWarning,
		Summary: "Column names match a regular expression (letters, digits, underscores).",
		Params:  []Param{{Name: "pattern", Default: `^[a-z][a-z0-9_]*$`, Summary: "regular expression a column name must match"}},
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, `user name` VARCHAR(20))",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, user_name VARCHAR(20))",
		Check: func(c *Check) {
			for _, n := range introducedNames(c) {
				if n.kind == "column" && !matchParam(c, "pattern", n.name) {
					c.Report("column name %s does not match %s", n.name, c.String("pattern"))
				}
			}
		},
	},
	{
		ID: "naming.no-backup-names", Category: CategoryNaming, Level: LevelNotice,
		Summary: "Tables are not named like backups or scratch copies (tmp, bak, test).",
		Params:  []Param{{Name: "pattern", Default: `(^|_)(tmp|temp|bak|backup|test|old|copy)(_|$|[0-9])`, Summary: "regular expression that marks a scratch table name"}},
		Fires:   "CREATE TABLE orders_bak (id BIGINT PRIMARY KEY)",
		Passes:  "CREATE TABLE orders_archive (id BIGINT PRIMARY KEY)",
		Check: func(c *Check) {
			for _, n := range introducedNames(c) {
				if n.kind == "table" && matchParam(c, "pattern", strings.ToLower(n.name)) {
					c.Report("table name %s looks like a backup or scratch table", n.name)
				}
			}
		},
	},
	{
		ID: "naming.index-template", Category: CategoryNaming, Level: LevelOff,
		Summary: "Names of non-unique indexes follow a template: {table} is the table's name, {columns} its columns joined by _ (off unless a policy turns it on).",
		Params:  []Param{{Name: "template", Default: "idx_{table}_{columns}", Summary: "the name, with {table} and {columns}"}},
		Fires:   "CREATE INDEX idx_user ON orders (user_id)",
		Passes:  "CREATE INDEX idx_orders_user_id ON orders (user_id)",
		Check: func(c *Check) {
			tn, decl := c.indexDecls()
			for _, d := range decl {
				if !d.primary && !d.unique && d.name != "" {
					indexTemplate(c, "index", d.name, tn, d.columns(), nil)
				}
			}
		},
	},
	{
		ID: "naming.unique-template", Category: CategoryNaming, Level: LevelOff,
		Summary: "Names of unique indexes follow a template: {table} is the table's name, {columns} its columns joined by _ (off unless a policy turns it on).",
		Params:  []Param{{Name: "template", Default: "uk_{table}_{columns}", Summary: "the name, with {table} and {columns}"}},
		Fires:   "CREATE UNIQUE INDEX uk_email ON users (email)",
		Passes:  "CREATE UNIQUE INDEX uk_users_email ON users (email)",
		Check: func(c *Check) {
			tn, decl := c.indexDecls()
			for _, d := range decl {
				if !d.primary && d.unique && d.name != "" {
					indexTemplate(c, "unique index", d.name, tn, d.columns(), nil)
				}
			}
		},
	},
	{
		ID: "naming.fk-template", Category: CategoryNaming, Level: LevelOff,
		Summary: "Names of foreign keys follow a template: {table} and {columns} name the referencing table and columns, {ref_table} and {ref_columns} the referenced ones (off unless a policy turns it on).",
		Params:  []Param{{Name: "template", Default: "fk_{table}_{columns}_{ref_table}", Summary: "the name, with {table}, {columns}, {ref_table} and {ref_columns}"}},
		Fires:   "CREATE TABLE c (id BIGINT PRIMARY KEY, p_id BIGINT, CONSTRAINT fk_parent FOREIGN KEY (p_id) REFERENCES p (id))",
		Passes:  "CREATE TABLE c (id BIGINT PRIMARY KEY, p_id BIGINT, CONSTRAINT fk_c_p_id_p FOREIGN KEY (p_id) REFERENCES p (id))",
		Check: func(c *Check) {
			var tn *ast.TableName
			switch n := c.Stmt().(type) {
			case *ast.CreateTableStmt:
				tn = n.Table
			case *ast.AlterTableStmt:
				tn = n.Table
			}
			for _, fk := range foreignKeys(c.Stmt()) {
				if fk.Name == "" || fk.Refer == nil || fk.Refer.Table == nil {
					continue
				}
				var cols, refCols []string
				for _, k := range fk.Keys {
					if k.Column != nil {
						cols = append(cols, k.Column.Name.O)
					}
				}
				for _, k := range fk.Refer.IndexPartSpecifications {
					if k.Column != nil {
						refCols = append(refCols, k.Column.Name.O)
					}
				}
				indexTemplate(c, "foreign key", fk.Name, tn, cols, map[string]string{"{ref_table}": fk.Refer.Table.Name.O, "{ref_columns}": strings.Join(refCols, "_")})
			}
		},
	},
	{
		ID: "naming.auto-increment-column", Category: CategoryNaming, Level: LevelNotice,
		Summary: "AUTO_INCREMENT columns have a name matching a regular expression (id).",
		Params:  []Param{{Name: "pattern", Default: `^id$`, Summary: "regular expression the name of an AUTO_INCREMENT column must match"}},
		Fires:   "CREATE TABLE t (order_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY)",
		Passes:  "CREATE TABLE t (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY)",
		Check: func(c *Check) {
			eachColumn(c, func(nc newColumn) {
				if hasOption(nc.def, ast.ColumnOptionAutoIncrement) && !matchParam(c, "pattern", colName(nc.def)) {
					c.Report("AUTO_INCREMENT column %s of %s does not match %s", colName(nc.def), tableLabel(nc.table), c.String("pattern"))
				}
			})
		},
	},
}

// indexTemplate reports that the kind's name does not follow the rule's
// "template" parameter, filled with table tn, its columns cols and extra
// placeholders; names compare ignoring case.
func indexTemplate(c *Check, kind, name string, tn *ast.TableName, cols []string, extra map[string]string) {
	want := c.String("template")
	table := ""
	if tn != nil {
		table = tn.Name.O
	}
	pairs := []string{"{table}", table, "{columns}", strings.Join(cols, "_")}
	for k, v := range extra {
		pairs = append(pairs, k, v)
	}
	want = strings.NewReplacer(pairs...).Replace(want)
	if !strings.EqualFold(name, want) {
		c.Report("%s %s does not follow the template %s: want %s", kind, name, c.String("template"), want)
	}
}
