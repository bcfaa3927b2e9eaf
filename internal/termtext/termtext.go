// Package termtext makes text from users, servers and scripts safe to print
// on a terminal: control characters, invalid UTF-8 and the Unicode
// formatting characters that reorder or hide text are shown as escapes
// instead of acting on the terminal.
package termtext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Line returns s with every character that is not safe on one terminal line
// escaped: C0 and C1 control characters (newline and tab included), DEL,
// bidirectional overrides and isolates, zero-width characters, the BOM, and
// bytes that are not UTF-8. Common controls are written as \n, \r, \t; the
// rest as \xHH (bytes) or \u{HHHH} (characters). A backslash is left as it
// is, so text that is already safe comes back unchanged.
func Line(s string) string { return escape(s, false) }

// Block is Line for text of several lines: newlines and tabs are kept,
// every other unsafe character is escaped.
func Block(s string) string { return escape(s, true) }

func escape(s string, keepLines bool) string {
	if safe(s, keepLines) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case keepLines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u{%04X}`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// safe reports whether s needs no escaping, without allocating.
func safe(s string, keepLines bool) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if (c < 0x20 || c == 0x7f) && !(keepLines && (c == '\n' || c == '\t')) {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size <= 1) || unsafeRune(r) {
			return false
		}
		i += size
	}
	return true
}

// unsafeRune reports the non-ASCII characters a terminal acts on or that
// change how the text around them reads: C1 controls, zero-width and
// joiner characters, bidirectional marks, embeddings, overrides and
// isolates, line and paragraph separators, and the byte order mark.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1 controls, CSI (0x9b) among them
		return true
	case r >= 0x200b && r <= 0x200f: // zero-width space/joiners, LRM, RLM
		return true
	case r >= 0x2028 && r <= 0x202e: // line/paragraph separators, embeddings, overrides
		return true
	case r >= 0x2060 && r <= 0x2069: // word joiner, invisible operators, isolates
		return true
	case r == 0x061c || r == 0xfeff: // Arabic letter mark, BOM
		return true
	}
	return false
}
