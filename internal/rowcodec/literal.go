package rowcodec

import (
	"unicode/utf8"

	"github.com/shiftgate/shiftgate/internal/termtext"
)

// AppendLiteral appends v, a value of kind k as the server returned it for
// ReadExpr (nil for NULL), as an SQL literal that the server reads back as
// the same value under every sql_mode, and that is safe to print on a
// terminal as it is:
//
//   - NULL for nil;
//   - numbers bare (a value of a number kind that is not a plain number is
//     written as text);
//   - binary values as X'..' (an empty one as a pair of quotes);
//   - text as '..' with quotes doubled when it is plain (valid UTF-8
//     without backslashes and without characters termtext escapes), else
//     as _utf8mb4 X'..'.
//
// No literal uses backslash escapes (which NO_BACKSLASH_ESCAPES turns off)
// or double quotes (which ANSI_QUOTES turns into identifiers).
func AppendLiteral(buf []byte, k Kind, v []byte) []byte {
	switch {
	case v == nil:
		return append(buf, "NULL"...)
	case k == Binary:
		if len(v) == 0 {
			return append(buf, "''"...)
		}
		return appendHex(append(buf, "X'"...), v)
	case k.Number() && isNumber(v):
		return append(buf, v...)
	case plain(v):
		buf = append(buf, '\'')
		start := 0
		for i, b := range v {
			if b == '\'' {
				buf = append(buf, v[start:i+1]...)
				buf = append(buf, '\'')
				start = i + 1
			}
		}
		buf = append(buf, v[start:]...)
		return append(buf, '\'')
	default:
		return appendHex(append(buf, "_utf8mb4 X'"...), v)
	}
}

// Literal is AppendLiteral as a string.
func Literal(k Kind, v []byte) string { return string(AppendLiteral(nil, k, v)) }

// String is s as a text literal (see AppendLiteral), for SQL built from
// strings such as a sql_mode or a time zone read from the server.
func String(s string) string { return string(AppendLiteral(nil, Text, []byte(s))) }

// PlainString returns s as a quoted string with quotes doubled and true
// when s is plain (see AppendLiteral); else "" and false. It is for the
// places of the grammar that take a quoted string but no expression (a
// file name, an account name), where the hex form cannot be used: a value
// with a backslash has no spelling there that reads the same under every
// sql_mode.
func PlainString(s string) (string, bool) {
	if !plain([]byte(s)) {
		return "", false
	}
	return String(s), true
}

const hexDigits = "0123456789ABCDEF"

// appendHex appends v in hex and the closing quote.
func appendHex(buf, v []byte) []byte {
	for _, b := range v {
		buf = append(buf, hexDigits[b>>4], hexDigits[b&15])
	}
	return append(buf, '\'')
}

// plain reports whether v is valid UTF-8 without backslashes, without
// U+FFFD and without characters termtext would escape (control,
// formatting, bidirectional).
func plain(v []byte) bool {
	for i, b := range v {
		if b >= utf8.RuneSelf {
			s := string(v[i:])
			for _, r := range s {
				if r == '\\' || r == utf8.RuneError {
					return false
				}
			}
			return termtext.Line(s) == s
		}
		if b < 0x20 || b == 0x7f || b == '\\' {
			return false
		}
	}
	return true
}

// isNumber reports whether v is a number the SQL grammar reads as one: an
// optional minus, digits with an optional fraction and exponent.
func isNumber(v []byte) bool {
	if len(v) > 0 && v[0] == '-' {
		v = v[1:]
	}
	digits := func() int {
		n := 0
		for n < len(v) && v[n] >= '0' && v[n] <= '9' {
			n++
		}
		v = v[n:]
		return n
	}
	if digits() == 0 {
		return false
	}
	if len(v) > 0 && v[0] == '.' {
		v = v[1:]
		digits()
	}
	if len(v) > 0 && (v[0] == 'e' || v[0] == 'E') {
		v = v[1:]
		if len(v) > 0 && (v[0] == '+' || v[0] == '-') {
			v = v[1:]
		}
		if digits() == 0 {
			return false
		}
	}
	return len(v) == 0
}
