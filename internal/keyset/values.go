package keyset

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/shiftgate/shiftgate/internal/schema"
)

// Kind says how a key column's values are passed back to the server as
// arguments of the next chunk's predicate, so that they compare exactly as
// the column does: integers as integers (a string would compare as a
// double and lose precision above 2^53), binary strings as bytes, and
// everything else (character strings in the column's collation, decimals,
// dates) as a character string.
type Kind uint8

// The kinds of key column.
const (
	KindString Kind = iota
	KindSigned
	KindUnsigned
	KindBytes
)

// ColumnKind returns the Kind of c.
func ColumnKind(c *schema.Column) Kind {
	switch c.DataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year":
		if c.Unsigned {
			return KindUnsigned
		}
		return KindSigned
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit":
		return KindBytes
	}
	return KindString
}

// Kinds returns the kinds of k's columns; nil for a key made by NewKey.
func (k Key) Kinds() []Kind { return k.kinds }

// Value converts the text-protocol bytes of key column i (as read from a
// result row; nil for NULL) to the value to pass as an argument.
func (k Key) Value(i int, raw []byte) (any, error) {
	if raw == nil {
		return nil, fmt.Errorf("keyset: key column %s is NULL", k.quoted[i])
	}
	kind := KindBytes
	if k.kinds != nil {
		kind = k.kinds[i]
	}
	switch kind {
	case KindSigned:
		v, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("keyset: key column %s: %w", k.quoted[i], err)
		}
		return v, nil
	case KindUnsigned:
		v, err := strconv.ParseUint(string(raw), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("keyset: key column %s: %w", k.quoted[i], err)
		}
		return v, nil
	case KindString:
		return string(raw), nil
	}
	return append([]byte(nil), raw...), nil
}

// Normalize converts values as scanned by database/sql (int64, []byte,
// string...) to the argument types Value gives, so that values from any
// source compare the same way. A key made by NewKey keeps v as is.
func (k Key) Normalize(v Values) (Values, error) {
	if v == nil || k.kinds == nil {
		return v, nil
	}
	out := make(Values, len(v))
	for i, x := range v {
		var raw []byte
		switch x := x.(type) {
		case []byte:
			raw = x
		case string:
			raw = []byte(x)
		case int64:
			raw = strconv.AppendInt(nil, x, 10)
		case uint64:
			raw = strconv.AppendUint(nil, x, 10)
		case int:
			raw = strconv.AppendInt(nil, int64(x), 10)
		case nil:
			raw = nil
		default:
			raw = fmt.Append(nil, x)
		}
		var err error
		if out[i], err = k.Value(i, raw); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// encoded is one value in the JSON form of Values.
type encoded struct {
	I *int64  `json:"i,omitempty"`
	U *uint64 `json:"u,omitempty"`
	S *string `json:"s,omitempty"`
	B []byte  `json:"b,omitempty"` // base64 in JSON
	// E marks an empty byte string, which omitempty would lose.
	E bool `json:"e,omitempty"`
}

// EncodeValues returns v as JSON that DecodeValues reads back to the same
// types and bytes: for storing a key in a checkpoint. nil encodes as "".
func EncodeValues(v Values) (string, error) {
	if v == nil {
		return "", nil
	}
	out := make([]encoded, len(v))
	for i, x := range v {
		switch x := x.(type) {
		case int64:
			out[i].I = &x
		case uint64:
			out[i].U = &x
		case string:
			out[i].S = &x
		case []byte:
			out[i].B, out[i].E = x, len(x) == 0
		default:
			return "", fmt.Errorf("keyset: cannot encode key value of type %T", x)
		}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// DecodeValues reads what EncodeValues wrote; "" gives nil.
func DecodeValues(s string) (Values, error) {
	if s == "" {
		return nil, nil
	}
	var in []encoded
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("keyset: decode key %q: %w", s, err)
	}
	out := make(Values, len(in))
	for i, e := range in {
		switch {
		case e.I != nil:
			out[i] = *e.I
		case e.U != nil:
			out[i] = *e.U
		case e.S != nil:
			out[i] = *e.S
		case e.B != nil || e.E:
			out[i] = append([]byte{}, e.B...)
		default:
			return nil, fmt.Errorf("keyset: decode key %q: value %d has no type", s, i)
		}
	}
	return out, nil
}

// ChunkQuery returns the keyset read of the next chunk: up to limit rows
// of database.table in r, in key order, with the given select list. It
// reads only the rows it returns: the chunk after it starts from the last
// row's key (Range.Lower), never from an OFFSET. The index is forced, so
// every chunk costs the same whatever the optimizer's statistics say.
func (k Key) ChunkQuery(database, table, selectList string, r Range, limit int) (string, []any) {
	where, args := k.Where(r)
	force := ""
	if k.Index != "" {
		force = " FORCE INDEX (" + schema.QuoteIdent(k.Index) + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s FROM %s%s WHERE %s ORDER BY %s", selectList, schema.QualifiedName(database, table), force, where, k.OrderBy())
	if limit > 0 {
		fmt.Fprintf(&b, " LIMIT %d", limit)
	}
	return b.String(), args
}
