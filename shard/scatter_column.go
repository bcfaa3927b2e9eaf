package shard

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ColumnKind is how a result column's values are held and compared.
type ColumnKind uint8

// The kinds of result column, from the server's column type.
const (
	// ColOther: ENUM, SET, TIME, BIT, JSON, GEOMETRY and other types.
	// Values are strings; such a column cannot be ordered, grouped or
	// aggregated across shards (ENUM orders by its list, TIME is not
	// fixed-width), only counted or carried along.
	ColOther ColumnKind = iota
	// ColInt: TINYINT .. BIGINT and YEAR, as int64.
	ColInt
	// ColUint: the UNSIGNED integers, as uint64.
	ColUint
	// ColDecimal: DECIMAL (and SUM of integers or decimals), as Decimal:
	// compared and added exactly.
	ColDecimal
	// ColFloat: FLOAT and DOUBLE, as float64.
	ColFloat
	// ColText: CHAR, VARCHAR and the TEXT types, as string. Ordering or
	// grouping one needs the column's collation (see Collation).
	ColText
	// ColBinary: BINARY, VARBINARY and the BLOB types, as string (the
	// bytes); they compare bytewise.
	ColBinary
	// ColTemporal: DATE, DATETIME and TIMESTAMP, as the string the server
	// sends (fixed-width, so it orders as the server orders), or as
	// time.Time when the DSN has parseTime=true. All hosts of one query
	// must use the same setting.
	ColTemporal
)

func (k ColumnKind) String() string {
	switch k {
	case ColInt:
		return "integer"
	case ColUint:
		return "unsigned integer"
	case ColDecimal:
		return "decimal"
	case ColFloat:
		return "float"
	case ColText:
		return "text"
	case ColBinary:
		return "binary"
	case ColTemporal:
		return "temporal"
	}
	return "other"
}

// Column is a result column.
type Column struct {
	Name string
	// Type is the server's type name as the driver reports it, e.g.
	// "VARCHAR" or "UNSIGNED BIGINT".
	Type string
	Kind ColumnKind
}

func columnsOf(types []*sql.ColumnType) []Column {
	cols := make([]Column, len(types))
	for i, t := range types {
		name := t.DatabaseTypeName()
		cols[i] = Column{Name: t.Name(), Type: name, Kind: kindOf(name)}
	}
	return cols
}

func kindOf(typeName string) ColumnKind {
	if strings.HasPrefix(typeName, "UNSIGNED ") {
		return ColUint
	}
	switch typeName {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "YEAR":
		return ColInt
	case "DECIMAL":
		return ColDecimal
	case "FLOAT", "DOUBLE":
		return ColFloat
	case "CHAR", "VARCHAR", "TINYTEXT", "TEXT", "MEDIUMTEXT", "LONGTEXT":
		return ColText
	case "BINARY", "VARBINARY", "TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB":
		return ColBinary
	case "DATE", "DATETIME", "TIMESTAMP":
		return ColTemporal
	}
	return ColOther
}

// sameColumns checks that two shards returned the same columns.
func sameColumns(a, b []Column) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d columns instead of %d", len(b), len(a))
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Kind != b[i].Kind {
			return fmt.Errorf("column %d is %s (%s) instead of %s (%s)", i+1, b[i].Name, b[i].Kind, a[i].Name, a[i].Kind)
		}
	}
	return nil
}

// normalize converts a value as the driver scanned it into *any to the
// Go type of its column's kind.
func normalize(c Column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	var err error
	switch c.Kind {
	case ColInt:
		switch x := v.(type) {
		case int64:
			return x, nil
		case []byte:
			v, err = strconv.ParseInt(string(x), 10, 64)
		default:
			err = fmt.Errorf("unexpected %T", v)
		}
	case ColUint:
		switch x := v.(type) {
		case uint64:
			return x, nil
		case int64:
			if x >= 0 {
				return uint64(x), nil
			}
			err = fmt.Errorf("negative value %d", x)
		case []byte:
			v, err = strconv.ParseUint(string(x), 10, 64)
		default:
			err = fmt.Errorf("unexpected %T", v)
		}
	case ColDecimal:
		if b, ok := v.([]byte); ok {
			v, err = ParseDecimal(string(b))
		} else {
			err = fmt.Errorf("unexpected %T", v)
		}
	case ColFloat:
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		case []byte:
			v, err = strconv.ParseFloat(string(x), 64)
		default:
			err = fmt.Errorf("unexpected %T", v)
		}
	default:
		switch x := v.(type) {
		case []byte:
			return string(x), nil
		case time.Time:
			if c.Kind == ColTemporal {
				return x, nil
			}
		case int64: // a driver that parses numbers it was not asked to
			return strconv.FormatInt(x, 10), nil
		}
		err = fmt.Errorf("unexpected %T", v)
	}
	if err != nil {
		return nil, fmt.Errorf("column %s (%s): %w", c.Name, c.Type, err)
	}
	return v, nil
}
