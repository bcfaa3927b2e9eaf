package review

import (
	"slices"
	"strconv"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
)

// indexView is an index as the index rules compare them.
type indexView struct {
	name     string
	decl     *declIndex // the declaration, for declared indexes
	unique   bool
	primary  bool
	fulltext bool
	cols     []string // lower case, "col" or "col(len)"
	declared bool     // declared by this statement
}

// indexesAfter returns the table's indexes after the statement: the ones
// the catalog knows, minus dropped ones, plus declared ones (which come
// last, in order). known is false when an ALTER's table is not known. It
// is computed once for the statement's rules; the slice must not be
// changed.
func indexesAfter(c *Check) (*ast.TableName, []indexView, bool) {
	d := &c.st.derived
	if d.once(derivedIndexes) {
		tn, all, known := buildIndexesAfter(c)
		d.idxTable, d.indexes, d.idxKnown = tn, slices.Clip(all), known
	}
	return d.idxTable, d.indexes, d.idxKnown
}

// buildIndexesAfter does indexesAfter's work. The views' column lists
// share one backing array.
func buildIndexesAfter(c *Check) (tn *ast.TableName, all []indexView, known bool) {
	tn, decl := c.indexDecls()
	if tn == nil {
		return nil, nil, false
	}
	known = true
	var existing []Index
	if _, ok := c.Stmt().(*ast.CreateTableStmt); !ok {
		t := c.Table(tn)
		if t == nil {
			known = false
		} else {
			existing = t.Indexes
		}
	}
	n, parts := len(decl), 0
	for _, ix := range existing {
		n, parts = n+1, parts+len(ix.Columns)
	}
	for _, d := range decl {
		parts += len(d.parts)
	}
	all = make([]indexView, 0, n)
	cols := make([]string, 0, parts)
	dropped := droppedIndexes(c.Stmt())
	for _, ix := range existing {
		if inList(dropped, ix.Name) {
			continue
		}
		start := len(cols)
		for _, col := range ix.Columns {
			cols = append(cols, partKey(col.Name, int(col.SubPart)))
		}
		all = append(all, indexView{name: ix.Name, unique: ix.Unique, primary: ix.Primary, fulltext: ix.Type == "FULLTEXT", cols: cols[start:len(cols):len(cols)]})
	}
	for i := range decl {
		d := &decl[i]
		start := len(cols)
		for _, p := range d.parts {
			if p.Column == nil {
				cols = append(cols, "(expression)")
				continue
			}
			cols = append(cols, partKey(p.Column.Name.O, p.Length))
		}
		all = append(all, indexView{name: d.name, decl: d, unique: d.unique, primary: d.primary, fulltext: d.typ != "BTREE", declared: true, cols: cols[start:len(cols):len(cols)]})
	}
	return tn, all, known
}

// label names the index in messages.
func (v *indexView) label() string {
	switch {
	case v.decl != nil:
		return v.decl.label()
	case v.primary:
		return "the existing primary key"
	}
	return "existing index " + v.name
}

func partKey(col string, length int) string {
	col = strings.ToLower(col)
	if length > 0 {
		return col + "(" + strconv.Itoa(length) + ")"
	}
	return col
}

// isPrefix reports whether a is a proper left prefix of b.
func isPrefix(a, b []string) bool {
	return len(a) < len(b) && slices.Equal(a, b[:len(a)])
}

// columnTypeIn returns the parser type of column name as the statement or
// the catalog defines it, and whether it is known.
func blobColumn(c *Check, tn *ast.TableName, name string) bool {
	for _, nc := range c.columnDefs() {
		if strings.EqualFold(colName(nc.def), name) {
			return isBlobType(colType(nc.def))
		}
	}
	if _, ok := c.Stmt().(*ast.CreateTableStmt); ok {
		return false
	}
	if t := c.Table(tn); t != nil {
		if col := t.Column(name); col != nil {
			return strings.HasSuffix(col.DataType, "text") || strings.HasSuffix(col.DataType, "blob")
		}
	}
	return false
}

// retypedIndexedColumns reports, for index.blob-prefix, MODIFY and CHANGE
// COLUMN clauses that turn a column a B-tree index holds whole into TEXT,
// BLOB or JSON, which no index can hold without a prefix length.
func retypedIndexedColumns(c *Check) {
	n, ok := c.Stmt().(*ast.AlterTableStmt)
	if !ok {
		return
	}
	t := c.Table(n.Table)
	if t == nil {
		return
	}
	dropped := droppedIndexes(n)
	for _, nc := range c.columnDefs() {
		if tp := colType(nc.def); nc.added || !isBlobType(tp) && tp != mysql.TypeJSON {
			continue
		}
		old := nc.oldName()
		for _, ix := range t.Indexes {
			if ix.Type == "FULLTEXT" || inList(dropped, ix.Name) {
				continue
			}
			if slices.ContainsFunc(ix.Columns, func(ic IndexColumn) bool { return strings.EqualFold(ic.Name, old) && ic.SubPart == 0 }) {
				c.Report("changing column %s of %s to %s leaves %s without a prefix length; the server refuses it", old, tableLabel(n.Table), typeName(nc.def.Tp), indexLabel(ix.Name))
			}
		}
	}
}

// indexLabel names an index of a table for messages.
func indexLabel(name string) string {
	if name == "PRIMARY" {
		return "the primary key"
	}
	return "index " + name
}

var indexRules = []Rule{
	{
		ID: "index.max-per-table", Category: CategoryIndex, Level: LevelWarning,
		Summary: "A table has at most a given number of indexes, existing ones included.",
		Params:  []Param{{Name: "max", Default: 8, Summary: "most indexes per table, the primary key included"}},
		Fires: "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT, b INT, c INT, d INT, e INT, f INT, g INT, h INT,\n" +
			"KEY idx_a (a), KEY idx_b (b), KEY idx_c (c), KEY idx_d (d), KEY idx_e (e), KEY idx_f (f), KEY idx_g (g), KEY idx_h (h))",
		Passes: "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT, KEY idx_a (a))",
		Check: func(c *Check) {
			tn, all, known := indexesAfter(c)
			if !known || !slices.ContainsFunc(all, func(v indexView) bool { return v.declared }) {
				return
			}
			if maxIdx := c.Int("max"); len(all) > maxIdx {
				c.Report("%s would have %d indexes; the limit is %d", tableLabel(tn), len(all), maxIdx)
			}
		},
	},
	{
		ID: "index.max-columns", Category: CategoryIndex, Level: LevelWarning,
		Summary: "An index has at most a given number of columns.",
		Params:  []Param{{Name: "max", Default: 5, Summary: "most columns per index"}},
		Fires:   "CREATE INDEX idx_wide ON t (a, b, c, d, e, f)",
		Passes:  "CREATE INDEX idx_ab ON t (a, b)",
		Check: func(c *Check) {
			tn, decl := c.indexDecls()
			for _, d := range decl {
				if maxCols := c.Int("max"); len(d.parts) > maxCols {
					c.Report("%s of %s has %d columns; the limit is %d", d.label(), tableLabel(tn), len(d.parts), maxCols)
				}
			}
		},
	},
	{
		ID: "index.duplicate", Category: CategoryIndex, Level: LevelError,
		Summary: "No two indexes of a table have the same columns, existing indexes included.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT, KEY idx_a (a));\nALTER TABLE t ADD INDEX idx_a2 (a)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT, KEY idx_a (a));\nALTER TABLE t ADD INDEX idx_a_id (a, id)",
		Check: func(c *Check) {
			tn, all, _ := indexesAfter(c)
			for i, v := range all {
				if !v.declared || v.fulltext {
					continue
				}
				for _, w := range all[:i] {
					if !w.fulltext && slices.Equal(v.cols, w.cols) {
						c.Report("%s of %s has the same columns (%s) as %s", v.label(), tableLabel(tn), strings.Join(v.cols, ", "), w.label())
						break
					}
				}
			}
		},
	},
	{
		ID: "index.redundant", Category: CategoryIndex, Level: LevelWarning,
		Summary: "No index is a left prefix of another, existing indexes included.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT, b INT, KEY idx_ab (a, b));\nCREATE INDEX idx_a ON t (a)",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT, b INT, KEY idx_ab (a, b));\nCREATE INDEX idx_b ON t (b)",
		Check: func(c *Check) {
			tn, all, _ := indexesAfter(c)
			for _, v := range all {
				if v.fulltext {
					continue
				}
				for _, w := range all {
					if w.fulltext || !(v.declared || w.declared) {
						continue
					}
					if isPrefix(v.cols, w.cols) && !v.unique {
						c.Report("%s of %s on (%s) is a left prefix of %s on (%s), which makes it redundant",
							v.label(), tableLabel(tn), strings.Join(v.cols, ", "), w.label(), strings.Join(w.cols, ", "))
						break
					}
				}
			}
		},
	},
	{
		ID: "index.blob-prefix", Category: CategoryIndex, Level: LevelError,
		Summary: "An index on a TEXT or BLOB column gives a prefix length, also when MODIFY or CHANGE turns an indexed column into TEXT, BLOB or JSON: the server refuses both.",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, note TEXT, KEY idx_note (note))",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, note TEXT, KEY idx_note (note(32)))",
		Check: func(c *Check) {
			retypedIndexedColumns(c)
			tn, decl := c.indexDecls()
			for _, d := range decl {
				if d.typ != "BTREE" {
					continue
				}
				for _, p := range d.parts {
					if p.Column != nil && p.Length <= 0 && blobColumn(c, tn, p.Column.Name.O) {
						c.Report("%s of %s indexes TEXT/BLOB column %s without a prefix length", d.label(), tableLabel(tn), p.Column.Name.O)
					}
				}
			}
		},
	},
	{
		ID: "index.require-name", Category: CategoryIndex, Level: LevelNotice,
		Summary: "Indexes are named explicitly.",
		Fires:   "ALTER TABLE t ADD INDEX (user_id)",
		Passes:  "ALTER TABLE t ADD INDEX idx_user_id (user_id)",
		Check: func(c *Check) {
			tn, decl := c.indexDecls()
			for _, d := range decl {
				if !d.primary && d.name == "" {
					c.Report("%s of %s has no name", d.label(), tableLabel(tn))
				}
			}
		},
	},
	{
		ID: "index.duplicate-column", Category: CategoryIndex, Level: LevelError,
		Summary: "No column appears twice in one index: the server refuses it.",
		Fires:   "CREATE INDEX idx_a_a ON big (a, b, a)",
		Passes:  "CREATE INDEX idx_a_b ON big (a, b)",
		Check: func(c *Check) {
			tn, decl := c.indexDecls()
			for _, d := range decl {
				seen := map[string]bool{}
				for _, p := range d.parts {
					if p.Column == nil {
						continue
					}
					if seen[p.Column.Name.L] {
						c.Report("%s of %s names column %s twice; the server refuses it", d.label(), tableLabel(tn), p.Column.Name.O)
						break
					}
					seen[p.Column.Name.L] = true
				}
			}
		},
	},
	{
		ID: "index.type-allowlist", Category: CategoryIndex, Level: LevelWarning,
		Summary: "Indexes are of an allowed type; InnoDB ignores USING HASH and builds a B-tree.",
		Params:  []Param{{Name: "types", Default: []string{"BTREE", "FULLTEXT", "SPATIAL"}, Summary: "allowed index types: BTREE, HASH, FULLTEXT, SPATIAL"}},
		Fires:   "CREATE INDEX idx_a ON big (a) USING HASH",
		Passes:  "CREATE INDEX idx_a ON big (a) USING BTREE",
		Check: func(c *Check) {
			tn, decl := c.indexDecls()
			for _, d := range decl {
				typ := d.typ
				if d.using != "" {
					typ = d.using
				}
				if !inList(c.Strings("types"), typ) {
					c.Report("%s of %s is of type %s; allowed: %s", d.label(), tableLabel(tn), typ, strings.Join(c.Strings("types"), ", "))
				}
			}
		},
	},
	{
		ID: "index.no-blob", Category: CategoryIndex, Level: LevelOff,
		Summary: "No TEXT or BLOB column in an index, even with a prefix length (off unless a policy turns it on).",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, note TEXT, KEY idx_note (note(32)))",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, note VARCHAR(200), KEY idx_note (note))",
		Check: func(c *Check) {
			tn, decl := c.indexDecls()
			for _, d := range decl {
				if d.typ == "FULLTEXT" {
					continue
				}
				for _, p := range d.parts {
					if p.Column != nil && blobColumn(c, tn, p.Column.Name.O) {
						c.Report("%s of %s indexes TEXT/BLOB column %s", d.label(), tableLabel(tn), p.Column.Name.O)
					}
				}
			}
		},
	},
	{
		ID: "index.key-length", Category: CategoryIndex, Level: LevelError,
		Summary: "An index key fits InnoDB's limit (3072 bytes; 767 bytes a column in COMPACT and REDUNDANT tables), counting each character at the most bytes of the column's character set; a table without a declared character set counts as latin1 on MariaDB and utf8mb4 on MySQL 8.0.",
		Params:  []Param{{Name: "max_bytes", Default: 3072, Summary: "longest index key, in bytes"}},
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, url VARCHAR(1000) NOT NULL, KEY idx_url (url)) DEFAULT CHARSET=utf8mb4",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, url VARCHAR(1000) NOT NULL, KEY idx_url (url(191))) DEFAULT CHARSET=utf8mb4",
		Check:   func(c *Check) { keyLength(c, int64(c.Int("max_bytes"))) },
	},
	{
		ID: "index.cover-every-column", Category: CategoryIndex, Level: LevelOff,
		Summary: "Every column of a new table, and every column added to a table, is held by some index (off unless a policy turns it on).",
		Fires:   "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT, KEY idx_id_a (id))",
		Passes:  "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT, KEY idx_a (a))",
		Check: func(c *Check) {
			after, _, _ := tableAfter(c)
			if after == nil {
				return
			}
			for _, nc := range c.columnDefs() {
				if !nc.added {
					continue
				}
				name := colName(nc.def)
				if !slices.ContainsFunc(after.Indexes, func(ix Index) bool {
					return slices.ContainsFunc(ix.Columns, func(ic IndexColumn) bool { return strings.EqualFold(ic.Name, name) })
				}) {
					c.Report("column %s of table %s is in no index", name, after.Name)
				}
			}
		},
	},
}
