package rowcodec

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/shiftgate/shiftgate/internal/schema"
)

// loadSpecial marks the bytes LOAD DATA's FIELDS ESCAPED BY '\' needs
// escaped, with what follows the backslash.
var loadSpecial = [256]byte{'\\': '\\', '\t': 't', '\n': 'n', 0: '0'}

// AppendLoadField appends v, a value as the server returned it for
// ReadExpr (nil for NULL), as one field of the format Load reads: \N for
// NULL, the escape character before backslash, tab, newline and NUL. An
// empty value stays empty, and the text "NULL" stays text (there is no
// enclosure character that would make it NULL). Fields are separated by a
// tab and rows end with a newline.
func AppendLoadField(buf, v []byte) []byte {
	if v == nil {
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

// Load is the LOAD DATA LOCAL INFILE statement of one table for rows
// written with AppendLoadField. Its terminators are hex literals, so it
// reads the same under every sql_mode.
type Load struct {
	head, tail string
	set        bool
	autoInc    bool
}

// NewLoad returns the LOAD DATA statement that writes columns cols (in the
// order of the fields) into table, a qualified and quoted name. BIT and
// YEAR columns are loaded through a user variable converted to a number:
// LOAD DATA stores text into a BIT column as the characters' codes, and
// the text "0000" into a YEAR column as 2000. The file's character set is
// utf8mb4: values of text columns are read in a utf8mb4 session.
func NewLoad(table string, cols []schema.Column) Load {
	var load, set []string
	l := Load{}
	for i, c := range cols {
		q := schema.QuoteIdent(c.Name)
		l.autoInc = l.autoInc || c.AutoIncrement
		if k := KindOf(c.DataType); k == Bit || k == Year {
			v := "@shiftgate_v" + strconv.Itoa(i)
			load = append(load, v)
			set = append(set, q+" = CAST("+v+" AS UNSIGNED)")
			continue
		}
		load = append(load, q)
	}
	l.head = "LOAD DATA LOCAL INFILE "
	l.tail = " INTO TABLE " + table +
		" CHARACTER SET utf8mb4 FIELDS TERMINATED BY X'09' ESCAPED BY X'5C' LINES TERMINATED BY X'0A' (" + strings.Join(load, ", ") + ")"
	if len(set) > 0 {
		l.set = true
		l.tail += " SET " + strings.Join(set, ", ")
	}
	return l
}

// Exact reports whether the statement writes every row as it is. It does
// not when it needs a SET clause and the table has an AUTO_INCREMENT
// column: MariaDB's LOAD DATA with a SET clause ignores
// NO_AUTO_VALUE_ON_ZERO, so a row whose id is 0 would get a new id. Write
// such a table with INSERT and AppendLiteral.
func (l Load) Exact() bool { return !l.set || !l.autoInc }

// SQL returns the statement reading file, a name the driver resolves (for
// go-sql-driver "Reader::" and a registered handler's name). The name must
// be plain (see PlainString).
func (l Load) SQL(file string) (string, error) {
	q, ok := PlainString(file)
	if !ok {
		return "", fmt.Errorf("rowcodec: LOAD DATA file name %q is not plain text without backslashes", file)
	}
	return l.head + q + l.tail, nil
}
