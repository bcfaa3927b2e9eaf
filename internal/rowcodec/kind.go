package rowcodec

import (
	"strconv"
	"strings"

	"github.com/shiftgate/shiftgate/internal/schema"
)

// Kind says how a column's values are read, written and compared. Every
// package that reads or writes row values classifies columns with KindOf,
// so that a copy, its verification and a repair agree.
//
// The choices, and why:
//   - BIT is a number: it is read as `col + 0` (its text-protocol value is
//     raw bytes that LOAD DATA would store as character codes) and written
//     as the unsigned integer.
//   - YEAR is a number too, read as `col + 0`: LOAD DATA stores the text
//     "0000" as 2000, the number 0 as 0000.
//   - FLOAT is read through DOUBLE: the server writes a FLOAT's text with 6
//     significant digits, which does not give the stored value back; the
//     DOUBLE's text does, and converts back to the same FLOAT.
//   - JSON, ENUM and SET are text: the server reads their text form back
//     as the same value.
//   - Spatial types are binary: their value is the server's internal
//     geometry bytes, which it reads back from a binary string.
//   - Types this package does not know (INET4, INET6, UUID, those of later
//     servers) are Other: read and written in the text form the server
//     gives them, which it reads back. Their bytes (CAST AS BINARY) are not
//     that form and cannot be written as a hex literal.
//   - Generated columns have the kind of their type, but are never written:
//     the server computes them again (callers leave them out).
type Kind uint8

const (
	Int      Kind = iota // TINYINT to BIGINT
	Decimal              // DECIMAL
	Float                // FLOAT, DOUBLE
	Bit                  // BIT, read as an unsigned integer
	Year                 // YEAR, read as an integer
	Temporal             // DATE, TIME, DATETIME, TIMESTAMP
	Text                 // character strings, ENUM, SET, JSON
	Binary               // BINARY, VARBINARY, BLOBs, spatial types
	Other                // types not known here, in their text form
)

var kindNames = [...]string{"int", "decimal", "float", "bit", "year", "temporal", "text", "binary", "other"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Number reports a kind whose values are numbers, written bare.
func (k Kind) Number() bool { return k <= Year }

// KindOf classifies an information_schema DATA_TYPE (schema.Column's
// DataType), in any case.
func KindOf(dataType string) Kind {
	switch strings.ToLower(dataType) {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		return Int
	case "decimal", "numeric":
		return Decimal
	case "float", "double", "real", "double precision":
		return Float
	case "bit":
		return Bit
	case "year":
		return Year
	case "date", "time", "datetime", "timestamp":
		return Temporal
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "json":
		return Text
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob",
		"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
		"multipolygon", "geometrycollection", "geomcollection":
		return Binary
	}
	return Other
}

// ReadExpr is the expression to select for column c: its text-protocol
// value is what AppendLiteral and AppendLoadField encode. BIT and YEAR are
// read as numbers (`col + 0`), FLOAT through DOUBLE, everything else as
// it is.
func ReadExpr(c *schema.Column) string {
	q := schema.QuoteIdent(c.Name)
	switch k := KindOf(c.DataType); {
	case k == Bit || k == Year:
		return q + " + 0"
	case strings.EqualFold(c.DataType, "float"):
		return "CAST(" + q + " AS DOUBLE)"
	}
	return q
}
