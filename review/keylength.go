package review

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// bytesPerChar returns the most bytes one character of character set cs
// takes, or 0 for a character set it does not know.
func bytesPerChar(cs string) int64 {
	switch strings.ToLower(cs) {
	case "latin1", "latin2", "latin5", "latin7", "ascii", "binary", "cp1250", "cp1251", "cp1256", "cp1257",
		"cp850", "cp852", "cp866", "dec8", "greek", "hebrew", "hp8", "keybcs2", "koi8r", "koi8u", "swe7",
		"tis620", "armscii8", "geostd8", "macce", "macroman":
		return 1
	case "ucs2", "gbk", "big5", "sjis", "cp932", "euckr", "gb2312":
		return 2
	case "utf8", "utf8mb3", "ujis", "eucjpms":
		return 3
	case "utf8mb4", "utf16", "utf16le", "utf32", "gb18030":
		return 4
	}
	return 0
}

// charsetOfCollation returns the character set a collation belongs to:
// the part of its name before the first underscore ("binary" for binary).
func charsetOfCollation(coll string) string {
	cs, _, _ := strings.Cut(coll, "_")
	return cs
}

// optionsCharset returns the default character set table options declare
// (CHARACTER SET, else the collation's), or "".
func optionsCharset(opts []*ast.TableOption) string {
	if o := tableOption(opts, ast.TableOptionCharset); o != nil && o.StrValue != "" {
		return o.StrValue
	}
	if o := tableOption(opts, ast.TableOptionCollate); o != nil && o.StrValue != "" {
		return charsetOfCollation(o.StrValue)
	}
	return ""
}

// serverCharset is the character set a table gets when neither it nor its
// columns declare one and the database's is not known: utf8mb4 on MySQL
// 8.0, latin1 on MariaDB (the safe guess, which never overstates a key).
func serverCharset(s Server) string {
	if s == MySQL80 {
		return "utf8mb4"
	}
	return "latin1"
}

// keyPartBytes returns how many bytes column col takes in an index key
// (its prefix of sub characters when sub > 0), with tableCS the table's
// default character set, and how the size was found for messages. It
// returns 0 for columns whose size is not known.
func keyPartBytes(col *Column, sub int64, tableCS string) (int64, string) {
	switch col.DataType {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		cs := col.Charset
		if cs == "" && col.Collation != "" {
			cs = charsetOfCollation(col.Collation)
		}
		if cs == "" {
			cs = tableCS
		}
		per := bytesPerChar(cs)
		chars := col.MaxLength
		if sub > 0 {
			chars = sub
		}
		if per == 0 || chars <= 0 {
			return 0, ""
		}
		return chars * per, fmt.Sprintf("%s %d characters of %s at %d bytes each", col.Name, chars, cs, per)
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		n := col.MaxLength
		if sub > 0 {
			n = sub
		}
		return n, fmt.Sprintf("%s %d bytes", col.Name, n)
	}
	return 0, ""
}

// keyLength reports the indexes of the table the statement leaves whose
// key is longer than InnoDB allows: the whole key longer than maxBytes,
// or one column longer than 767 bytes in a COMPACT or REDUNDANT table.
// It looks at the indexes the statement declares and those holding a
// column it redefines.
func keyLength(c *Check, maxBytes int64) {
	after, tableCS, touched := tableAfter(c)
	if after == nil {
		return
	}
	perColumn := maxBytes
	if rf := strings.ToLower(after.RowFormat); rf == "compact" || rf == "redundant" {
		perColumn = 767
	}
	for _, ix := range after.Indexes {
		if ix.Type == "FULLTEXT" || ix.Type == "SPATIAL" || !slices.ContainsFunc(touched, func(s string) bool { return strings.EqualFold(s, ix.Name) || indexHolds(&ix, s) }) {
			continue
		}
		var total int64
		var parts []string
		for _, ic := range ix.Columns {
			col := after.Column(ic.Name)
			if col == nil {
				continue
			}
			n, how := keyPartBytes(col, ic.SubPart, tableCS)
			if n == 0 {
				continue
			}
			if n > perColumn && perColumn < maxBytes {
				c.Report("%s of %s: column %s takes %d bytes (%s); InnoDB allows %d bytes a key column in a %s table, so the server refuses it", indexLabel(ix.Name), "table "+after.Name, col.Name, n, how, perColumn, strings.ToUpper(after.RowFormat))
				total = -1
				break
			}
			total += n
			parts = append(parts, how)
		}
		if total > maxBytes {
			c.Report("%s of %s is %d bytes long (%s); InnoDB allows %d bytes, so the server refuses it (or, outside strict mode, shortens a non-unique index to a prefix)", indexLabel(ix.Name), "table "+after.Name, total, strings.Join(parts, ", "), maxBytes)
		}
	}
}

// indexHolds reports whether ix has column "column:NAME" (the form
// tableAfter gives redefined columns in touched).
func indexHolds(ix *Index, s string) bool {
	name, ok := strings.CutPrefix(s, "column:")
	return ok && slices.ContainsFunc(ix.Columns, func(ic IndexColumn) bool { return strings.EqualFold(ic.Name, name) })
}

// tableAfter returns, computed once a statement, the table as the CREATE TABLE, ALTER TABLE or CREATE
// INDEX statement leaves it (nil for other statements and unknown
// tables), the table's default character set, and what the statement
// touches: the names of the indexes it declares and "column:NAME" for each
// column it redefines.
func tableAfter(c *Check) (*TableDef, string, []string) {
	d := &c.st.derived
	if d.once(derivedAfter) {
		a := &d.after
		a.t, a.charset, a.touched = buildTableAfter(c)
	}
	return d.after.t, d.after.charset, d.after.touched
}

// afterState is what tableAfter returns, kept for the statement's other
// rules; its table must not be changed.
type afterState struct {
	t       *TableDef
	charset string
	touched []string
}

// buildTableAfter does tableAfter's work.
func buildTableAfter(c *Check) (*TableDef, string, []string) {
	var t *TableDef
	var opts []*ast.TableOption
	var touched []string
	switch n := c.Stmt().(type) {
	case *ast.CreateTableStmt:
		if plainCreate(n) == nil {
			return nil, "", nil
		}
		t = tableFromCreate(c.qualify(n.Table), n)
		markInvisible(t, c.st.invisible, 0)
		opts = n.Options
		for _, ix := range t.Indexes {
			touched = append(touched, ix.Name)
		}
	case *ast.AlterTableStmt:
		old := c.Table(n.Table)
		if old == nil {
			return nil, "", nil
		}
		t = cloneTable(old)
		before := map[string]bool{}
		for _, ix := range t.Indexes {
			before[strings.ToLower(ix.Name)] = true
		}
		for _, s := range n.Specs {
			if s.Tp == ast.AlterTableOption {
				opts = append(opts, s.Options...)
			}
			alterTable(t, s)
		}
		markInvisible(t, c.st.invisible, 0)
		for _, ix := range t.Indexes {
			if !before[strings.ToLower(ix.Name)] {
				touched = append(touched, ix.Name)
			}
		}
		for _, nc := range c.columnDefs() {
			if !nc.added {
				touched = append(touched, "column:"+colName(nc.def))
			}
		}
	case *ast.CreateIndexStmt:
		old := c.Table(n.Table)
		if old == nil {
			return nil, "", nil
		}
		t = cloneTable(old)
		addIndex(t, indexFromParts(n.IndexName, n.KeyType == ast.IndexKeyTypeUnique, indexTypeOf(n.KeyType), n.IndexPartSpecifications))
		touched = []string{t.Indexes[len(t.Indexes)-1].Name}
	default:
		return nil, "", nil
	}
	cs := optionsCharset(opts)
	if cs == "" && t.Collation != "" {
		cs = charsetOfCollation(t.Collation)
	}
	if cs == "" {
		cs = serverCharset(c.Server())
	}
	return t, cs, touched
}
