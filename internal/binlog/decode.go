package binlog

import (
	"fmt"
	"strconv"
	"strings"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/termtext"
)

// binaryCollation is the collation id of the binary character set.
const binaryCollation = 63

// column says how one column's decoded values are normalised.
type column struct {
	typ      byte     // real binlog type (ENUM and SET told apart from STRING)
	binary   bool     // a string type with the binary character set
	padTo    int      // BINARY(n): the server strips trailing zero bytes from the image
	timeDec  int      // TIME(n): go-mysql leaves out a zero fraction
	text     bool     // TEXT and JSON: bytes that are characters
	members  []string // ENUM and SET member names, from the FULL metadata
	unsigned bool
}

// table is the decoder of one table map: the Shape it yields and how its
// columns are normalised.
type table struct {
	shape *rowchange.Shape
	cols  []column
	sig   string // identifies the table map's layout, to reuse the Shape
}

// name is a table's name for messages, safe for terminals.
func name(t rowchange.Table) string { return termtext.Line(t.String()) }

// realType is a column's type with ENUM and SET (logged as STRING) told
// apart, and the length of a STRING column in bytes.
func realType(typ byte, meta uint16) (byte, int) {
	if typ != gomysql.MYSQL_TYPE_STRING {
		return typ, 0
	}
	if meta < 256 {
		return typ, int(meta)
	}
	b0, b1 := byte(meta>>8), byte(meta&0xff)
	if b0&0x30 != 0x30 {
		return b0 | 0x30, int(uint16(b1) | uint16((b0&0x30)^0x30)<<4)
	}
	return b0, int(b1)
}

// newTable builds the decoder of a table map. It refuses a map without
// column names: the source does not log binlog_row_metadata=FULL.
func newTable(tm *replication.TableMapEvent) (*table, error) {
	t := rowchange.Table{Schema: string(tm.Schema), Name: string(tm.Table)}
	n := int(tm.ColumnCount)
	names := tm.ColumnNameString()
	if len(names) != n {
		return nil, fmt.Errorf("binlog: table %s: the table map has no column names: %w", t, ErrRowMetadata)
	}
	unsigned := tm.UnsignedMap()
	collations := tm.CollationMap()
	enums := tm.EnumStrValueMap()
	sets := tm.SetStrValueMap()
	shape := &rowchange.Shape{Table: t, Columns: names, Types: make([]string, n), Unsigned: make([]bool, n)}
	cols := make([]column, n)
	for i := range n {
		typ, length := realType(tm.ColumnType[i], tm.ColumnMeta[i])
		coll, isChar := collations[i]
		c := column{typ: typ, unsigned: unsigned[i], binary: isChar && coll == binaryCollation}
		c.text = typ == gomysql.MYSQL_TYPE_JSON || typ == gomysql.MYSQL_TYPE_BLOB && isChar && !c.binary
		switch typ {
		case gomysql.MYSQL_TYPE_ENUM:
			c.members = enums[i]
			if c.members == nil {
				return nil, fmt.Errorf("binlog: table %s column %s: the table map has no ENUM values: %w", name(t), termtext.Line(names[i]), ErrRowMetadata)
			}
		case gomysql.MYSQL_TYPE_SET:
			c.members = sets[i]
			if c.members == nil {
				return nil, fmt.Errorf("binlog: table %s column %s: the table map has no SET values: %w", name(t), termtext.Line(names[i]), ErrRowMetadata)
			}
		case gomysql.MYSQL_TYPE_STRING:
			if c.binary {
				c.padTo = length
			}
		case gomysql.MYSQL_TYPE_TIME2:
			c.timeDec = int(tm.ColumnMeta[i])
		}
		cols[i] = c
		shape.Unsigned[i] = c.unsigned
		shape.Types[i] = typeName(typ, tm.ColumnMeta[i], c.binary, isChar)
	}
	for _, k := range tm.PrimaryKey {
		shape.Key = append(shape.Key, int(k))
	}
	return &table{shape: shape, cols: cols, sig: signature(tm)}, nil
}

// signature identifies everything of a table map that newTable reads.
func signature(tm *replication.TableMapEvent) string {
	var b strings.Builder
	b.Write(tm.Schema)
	b.WriteByte(0)
	b.Write(tm.Table)
	b.WriteByte(0)
	b.Write(tm.ColumnType)
	for _, m := range tm.ColumnMeta {
		b.WriteString(strconv.Itoa(int(m)))
		b.WriteByte(',')
	}
	b.Write(tm.SignednessBitmap)
	for _, part := range [][]uint64{tm.DefaultCharset, tm.ColumnCharset, tm.PrimaryKey} {
		b.WriteByte(0)
		for _, v := range part {
			b.WriteString(strconv.FormatUint(v, 10))
			b.WriteByte(',')
		}
	}
	for _, v := range tm.ColumnName {
		b.WriteByte(0)
		b.Write(v)
	}
	for _, lists := range [][][][]byte{tm.EnumStrValue, tm.SetStrValue} {
		b.WriteByte(1)
		for _, list := range lists {
			b.WriteByte(2)
			for _, v := range list {
				b.WriteByte(0)
				b.Write(v)
			}
		}
	}
	return b.String()
}

// typeName spells a binlog column type as information_schema's DATA_TYPE
// does, as far as the binlog tells it (MariaDB's JSON is "longtext",
// INET6 and UUID are "binary").
func typeName(typ byte, meta uint16, binary, isChar bool) string {
	switch typ {
	case gomysql.MYSQL_TYPE_TINY:
		return "tinyint"
	case gomysql.MYSQL_TYPE_SHORT:
		return "smallint"
	case gomysql.MYSQL_TYPE_INT24:
		return "mediumint"
	case gomysql.MYSQL_TYPE_LONG:
		return "int"
	case gomysql.MYSQL_TYPE_LONGLONG:
		return "bigint"
	case gomysql.MYSQL_TYPE_DECIMAL, gomysql.MYSQL_TYPE_NEWDECIMAL:
		return "decimal"
	case gomysql.MYSQL_TYPE_FLOAT:
		return "float"
	case gomysql.MYSQL_TYPE_DOUBLE:
		return "double"
	case gomysql.MYSQL_TYPE_BIT:
		return "bit"
	case gomysql.MYSQL_TYPE_YEAR:
		return "year"
	case gomysql.MYSQL_TYPE_DATE, gomysql.MYSQL_TYPE_NEWDATE:
		return "date"
	case gomysql.MYSQL_TYPE_TIME, gomysql.MYSQL_TYPE_TIME2:
		return "time"
	case gomysql.MYSQL_TYPE_DATETIME, gomysql.MYSQL_TYPE_DATETIME2:
		return "datetime"
	case gomysql.MYSQL_TYPE_TIMESTAMP, gomysql.MYSQL_TYPE_TIMESTAMP2:
		return "timestamp"
	case gomysql.MYSQL_TYPE_ENUM:
		return "enum"
	case gomysql.MYSQL_TYPE_SET:
		return "set"
	case gomysql.MYSQL_TYPE_VARCHAR, gomysql.MYSQL_TYPE_VAR_STRING:
		if binary {
			return "varbinary"
		}
		return "varchar"
	case gomysql.MYSQL_TYPE_STRING:
		if binary {
			return "binary"
		}
		return "char"
	case gomysql.MYSQL_TYPE_BLOB:
		sizes := [...]string{"tinyblob", "blob", "mediumblob", "longblob"}
		texts := [...]string{"tinytext", "text", "mediumtext", "longtext"}
		i := min(max(int(meta), 1), 4) - 1
		if isChar && !binary {
			return texts[i]
		}
		return sizes[i]
	case gomysql.MYSQL_TYPE_JSON:
		return "json"
	case gomysql.MYSQL_TYPE_GEOMETRY:
		return "geometry"
	case gomysql.MYSQL_TYPE_VECTOR:
		return "vector"
	}
	return ""
}

// normalise turns the values go-mysql decoded for one row image into
// rowchange's documented forms, in place.
func (t *table) normalise(row []any) error {
	if len(row) != len(t.cols) {
		return fmt.Errorf("binlog: table %s: row image has %d columns, table map %d", name(t.shape.Table), len(row), len(t.cols))
	}
	for i, v := range row {
		if v == nil {
			continue
		}
		nv, err := t.cols[i].value(v)
		if err != nil {
			return fmt.Errorf("binlog: table %s column %s: %w", name(t.shape.Table), termtext.Line(t.shape.Columns[i]), err)
		}
		row[i] = nv
	}
	return nil
}

// value normalises one non-NULL value.
func (c *column) value(v any) (any, error) {
	switch c.typ {
	case gomysql.MYSQL_TYPE_ENUM:
		idx, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("ENUM value of type %T", v)
		}
		if idx == 0 {
			return "", nil // the empty string a non-strict session stores for an invalid value
		}
		if idx < 0 || int(idx) > len(c.members) {
			return nil, fmt.Errorf("ENUM index %d out of %d members", idx, len(c.members))
		}
		return c.members[idx-1], nil
	case gomysql.MYSQL_TYPE_SET:
		bits, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("SET value of type %T", v)
		}
		var parts []string
		for j, m := range c.members {
			if uint64(bits)&(1<<uint(j)) != 0 {
				parts = append(parts, m)
			}
		}
		return strings.Join(parts, ","), nil
	case gomysql.MYSQL_TYPE_BIT:
		b, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("BIT value of type %T", v)
		}
		return uint64(b), nil
	}
	switch x := v.(type) {
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case uint8:
		return uint64(x), nil
	case uint16:
		return uint64(x), nil
	case uint32:
		return uint64(x), nil
	case uint64:
		return x, nil
	case float32, float64:
		return x, nil
	case string:
		if c.timeDec > 0 && !strings.Contains(x, ".") {
			return x + "." + strings.Repeat("0", c.timeDec), nil
		}
		if c.binary {
			b := []byte(x)
			if len(b) < c.padTo {
				b = append(b, make([]byte, c.padTo-len(b))...)
			}
			return b, nil
		}
		return x, nil
	case []byte:
		if c.text {
			return string(x), nil
		}
		return x, nil
	}
	return nil, fmt.Errorf("unexpected decoded value of type %T", v)
}
