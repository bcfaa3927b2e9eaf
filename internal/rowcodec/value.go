package rowcodec

import (
	"fmt"
	"strconv"
)

// AppendValue appends v, a row image value (see rowchange.Change: nil,
// int64, uint64, float32, float64, string or []byte), as a literal for a
// column of kind k (AppendLiteral). scratch is a buffer for number text,
// returned for reuse.
func AppendValue(buf, scratch []byte, k Kind, v any) ([]byte, []byte, error) {
	switch v := v.(type) {
	case nil:
		return AppendLiteral(buf, k, nil), scratch, nil
	case int64:
		scratch = strconv.AppendInt(scratch[:0], v, 10)
	case uint64:
		scratch = strconv.AppendUint(scratch[:0], v, 10)
	case float32:
		// As the double it is, not its shortest float32 text: the server
		// parses a double and narrows it, and the shortest text of the
		// largest FLOAT (3.4028235e+38) is above it as a double.
		scratch = strconv.AppendFloat(scratch[:0], float64(v), 'g', -1, 64)
	case float64:
		scratch = strconv.AppendFloat(scratch[:0], v, 'g', -1, 64)
	case string:
		if v == "" {
			return AppendLiteral(buf, k, []byte{}), scratch, nil
		}
		return AppendLiteral(buf, k, []byte(v)), scratch, nil
	case []byte:
		if v == nil {
			v = []byte{} // an empty value, not NULL
		}
		return AppendLiteral(buf, k, v), scratch, nil
	default:
		return buf, scratch, fmt.Errorf("value of unsupported type %T", v)
	}
	return AppendLiteral(buf, k, scratch), scratch, nil
}
