package migrate

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shiftgate/shiftgate/internal/schema"
)

// How a column's text-protocol value is written.
type valueKind uint8

const (
	valueText   valueKind = iota // quoted character string
	valueNumber                  // unquoted: integers, decimals, floats, BIT (read as a number)
	valueBinary                  // _binary'...'
)

func columnValueKind(c *schema.Column) valueKind {
	switch c.DataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "float", "double", "year", "bit":
		return valueNumber
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		return valueBinary
	}
	return valueText
}

// loadSpecial marks the bytes LOAD DATA's FIELDS ESCAPED BY '\\' needs
// escaped, with what follows the backslash.
var loadSpecial = [256]byte{'\\': '\\', '\t': 't', '\n': 'n', 0: '0'}

// appendLoadField appends v in LOAD DATA's default format: \N for NULL,
// the escape character before backslash, tab, newline and NUL. An empty
// string stays empty, and the text "NULL" stays text (there is no
// enclosure character that would make it NULL).
func appendLoadField(buf, v []byte, null bool) []byte {
	if null {
		return append(buf, '\\', 'N')
	}
	start := 0
	for i, b := range v {
		if e := loadSpecial[b]; e != 0 || b == 0 {
			buf = append(buf, v[start:i]...)
			if b == 0 {
				e = '0'
			}
			buf = append(buf, '\\', e)
			start = i + 1
		}
	}
	return append(buf, v[start:]...)
}

// sqlSpecial marks the bytes a quoted SQL string literal needs escaped.
var sqlSpecial = [256]byte{0: '0', '\'': '\'', '\\': '\\', '\n': 'n', '\r': 'r', 0x1a: 'Z'}

// appendSQLValue appends v as an SQL literal of kind k.
func appendSQLValue(buf, v []byte, null bool, k valueKind) []byte {
	if null {
		return append(buf, "NULL"...)
	}
	switch k {
	case valueNumber:
		return append(buf, v...)
	case valueBinary:
		buf = append(buf, "_binary'"...)
	default:
		buf = append(buf, '\'')
	}
	start := 0
	for i, b := range v {
		if e := sqlSpecial[b]; e != 0 || b == 0 {
			buf = append(buf, v[start:i]...)
			if b == 0 {
				e = '0'
			}
			buf = append(buf, '\\', e)
			start = i + 1
		}
	}
	buf = append(buf, v[start:]...)
	return append(buf, '\'')
}

// tableStatements builds the select list of a table's chunks and the
// statements that write them on the target.
//
// BIT and YEAR columns are read as numbers (col + 0) and loaded through a
// user variable converted to a number: LOAD DATA stores text into a BIT
// column as the characters' codes, and the text "0000" into a YEAR column
// as 2000.
//
// MariaDB's LOAD DATA with a SET clause ignores NO_AUTO_VALUE_ON_ZERO, so
// a table that needs one and has an AUTO_INCREMENT column must be written
// with INSERT (loadOK false) to keep rows whose id is 0.
func tableStatements(ct *copyTable, targetDB string) (selectList, loadSQL, insertHead string, kinds []valueKind, keyPos []int, loadOK bool) {
	var sel, load, set, ins []string
	kinds = make([]valueKind, 0, len(ct.columns))
	for i, c := range ct.columns {
		q := schema.QuoteIdent(c.Name)
		kinds = append(kinds, columnValueKind(&c))
		ins = append(ins, q)
		if numericOnly(&c) {
			sel = append(sel, q+" + 0")
			v := fmt.Sprintf("@shiftgate_v%d", i)
			load = append(load, v)
			set = append(set, fmt.Sprintf("%s = CAST(%s AS UNSIGNED)", q, v))
			continue
		}
		sel = append(sel, q)
		load = append(load, q)
	}
	// Key columns are read as they are, after the copied columns when they
	// are not among them (a generated column in the key).
	for _, k := range ct.key.Columns {
		i := -1
		for j, c := range ct.columns {
			if strings.EqualFold(c.Name, k) && !numericOnly(&c) {
				i = j
			}
		}
		if i < 0 {
			i = len(sel)
			sel = append(sel, schema.QuoteIdent(k))
		}
		keyPos = append(keyPos, i)
	}
	name := schema.QualifiedName(targetDB, ct.target)
	loadSQL = "LOAD DATA LOCAL INFILE 'Reader::%s' INTO TABLE " + name +
		" CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (" + strings.Join(load, ", ") + ")"
	if len(set) > 0 {
		loadSQL += " SET " + strings.Join(set, ", ")
	}
	insertHead = "INSERT INTO " + name + " (" + strings.Join(ins, ", ") + ") VALUES "
	loadOK = len(set) == 0 || !slices.ContainsFunc(ct.columns, func(c schema.Column) bool { return c.AutoIncrement })
	return strings.Join(sel, ", "), loadSQL, insertHead, kinds, keyPos, loadOK
}

// numericOnly reports a column whose text form does not load back exactly.
func numericOnly(c *schema.Column) bool { return c.DataType == "bit" || c.DataType == "year" }
