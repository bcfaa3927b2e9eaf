package verify

import (
	"bytes"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"

	"github.com/shiftgate/shiftgate/internal/termtext"
)

func TestEncodingIsUnambiguous(t *testing.T) {
	text := field{lengthPrefixed: true, nullable: true}
	num := field{nullable: true}
	fields := []field{text, text}
	rows := [][][]byte{
		{[]byte("a"), []byte("0c")},
		{[]byte("a0"), []byte("c")},
		{nil, []byte("")},
		{[]byte(""), nil},
		{[]byte("NULL"), nil},
		{nil, nil},
		{[]byte(""), []byte("")},
		{[]byte("1#a"), nil},
		{[]byte("1"), []byte("a")},
	}
	seen := map[string]int{}
	for i, r := range rows {
		enc := string(encodeRow(nil, fields, r))
		if j, ok := seen[enc]; ok {
			t.Errorf("rows %d and %d both encode as %q", j, i, enc)
		}
		seen[enc] = i
	}
	if a, b := encodeRow(nil, []field{num, num}, [][]byte{[]byte("1"), nil}), encodeRow(nil, []field{num, num}, [][]byte{nil, []byte("1")}); bytes.Equal(a, b) {
		t.Errorf("(1, NULL) and (NULL, 1) both encode as %q", a)
	}
	if got := string(encodeRow(nil, fields, rows[0])); got != "1#a#2#0c#00" {
		t.Errorf("encoding %q", got)
	}
}

func TestLiteral(t *testing.T) {
	for _, tc := range []struct {
		k    kind
		v    []byte
		want string
	}{
		{kindInt, []byte("-12"), "-12"},
		{kindDecimal, []byte("12.50"), "12.50"},
		{kindFloat, []byte("3.4028234663852886e38"), "3.4028234663852886e38"},
		{kindFloat, []byte("1; DROP"), "'1; DROP'"},
		{kindText, []byte("it's"), "'it''s'"},
		{kindText, []byte(`back\slash`), "_utf8mb4 X'6261636B5C736C617368'"},
		{kindText, []byte("tab\t"), "_utf8mb4 X'74616209'"},
		{kindText, []byte("\x1b[2Jclear"), "_utf8mb4 X'1B5B324A636C656172'"},
		{kindText, []byte("csi\u009b"), "_utf8mb4 X'637369C29B'"},
		{kindText, []byte("rlo\u202e"), "_utf8mb4 X'726C6FE280AE'"},
		{kindText, []byte("café 订单"), "'café 订单'"},
		{kindText, []byte(""), "''"},
		{kindText, nil, "NULL"},
		{kindText, []byte("NULL"), "'NULL'"},
		{kindBinary, []byte{0, 0xff}, "X'00FF'"},
		{kindBinary, []byte{}, "''"},
		{kindTemporal, []byte("2024-01-01 00:00:00.000001"), "'2024-01-01 00:00:00.000001'"},
	} {
		if got := literal(tc.k, tc.v); got != tc.want {
			t.Errorf("literal(%d, %q) = %s, want %s", tc.k, tc.v, got, tc.want)
		}
	}
}

func TestCompareDecimal(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1", "2", -1}, {"10", "9", 1}, {"-10", "-9", -1}, {"0.10", "0.1", 0}, {"-0.0", "0", 0},
		{"20240101100000.500000", "20240101100000.5", 0}, {"1000000", "999999.999", 1}, {"-1", "0", -1},
		{"1e3", "999", 1},
	} {
		if got := compareDecimal([]byte(tc.a), []byte(tc.b)); got != tc.want {
			t.Errorf("compareDecimal(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func FuzzRowEncoding(f *testing.F) {
	f.Add([]byte("a"), []byte("0c"), false, []byte("a0"), []byte("c"), false, uint8(3))
	f.Add([]byte(""), []byte("NULL"), true, []byte("N"), []byte(""), false, uint8(0))
	f.Add([]byte("12"), []byte("#"), true, []byte("1#2"), []byte(""), true, uint8(2))
	f.Fuzz(func(t *testing.T, a1, a2 []byte, null1 bool, b1, b2 []byte, null2 bool, shape uint8) {
		// shape picks the fields: bit 0 column 0 is a string, bit 1
		// column 1 is a string, bit 2 column 0 is NOT NULL.
		fields := []field{{lengthPrefixed: shape&1 != 0, nullable: shape&4 == 0}, {lengthPrefixed: shape&2 != 0, nullable: true}}
		valid := func(r [][]byte) bool {
			for i, v := range r {
				if v == nil && !fields[i].nullable {
					return false
				}
				if v != nil && !fields[i].lengthPrefixed && (len(v) == 0 || bytes.IndexByte(v, '#') >= 0) {
					return false // numbers and times are never empty and hold no '#'
				}
			}
			return true
		}
		mk := func(x, y []byte, null bool) [][]byte {
			r := [][]byte{append([]byte{}, x...), append([]byte{}, y...)}
			if null {
				r[1] = nil
			}
			return r
		}
		ra, rb := mk(a1, a2, null1), mk(b1, b2, null2)
		if !valid(ra) || !valid(rb) {
			return
		}
		ea, eb := encodeRow(nil, fields, ra), encodeRow(nil, fields, rb)
		back, ok := decodeRow(ea, fields)
		if !ok || len(back) != 2 {
			t.Fatalf("decode(%q) = %q, %v", ea, back, ok)
		}
		for i := range back {
			if (back[i] == nil) != (ra[i] == nil) || !bytes.Equal(back[i], ra[i]) {
				t.Fatalf("column %d: %q, want %q", i, back[i], ra[i])
			}
		}
		same := (ra[1] == nil) == (rb[1] == nil) && bytes.Equal(ra[0], rb[0]) && bytes.Equal(ra[1], rb[1])
		if same != bytes.Equal(ea, eb) {
			t.Fatalf("rows %q and %q: equal %v, encodings %q and %q", ra, rb, same, ea, eb)
		}
	})
}

func FuzzCompareDecimal(f *testing.F) {
	f.Add("1.5", "-2.25")
	f.Add("0.000", "-0")
	f.Add("20240101100000.500000", "20240101100000.5")
	f.Fuzz(func(t *testing.T, a, b string) {
		if !isNumber([]byte(a)) || !isNumber([]byte(b)) || strings.ContainsAny(a+b, "eE") {
			return
		}
		ra, _ := new(big.Rat).SetString(a)
		rb, _ := new(big.Rat).SetString(b)
		if got, want := compareDecimal([]byte(a), []byte(b)), ra.Cmp(rb); got != want {
			t.Fatalf("compareDecimal(%s, %s) = %d, want %d", a, b, got, want)
		}
		if isIntText(a) && isIntText(b) {
			if got, want := compareInt([]byte(a), []byte(b)), ra.Cmp(rb); got != want {
				t.Fatalf("compareInt(%s, %s) = %d, want %d", a, b, got, want)
			}
		}
	})
}

func isIntText(s string) bool {
	s = strings.TrimPrefix(s, "-")
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// FuzzLiteral reads every literal back with a small reader of the forms
// literal writes and checks that it gives the value back.
func FuzzLiteral(f *testing.F) {
	f.Add(int(kindText), []byte("it's \\ a\ttest"))
	f.Add(int(kindBinary), []byte{0, 1, 2})
	f.Add(int(kindDecimal), []byte("-1.50"))
	f.Add(int(kindText), []byte("\x1b]0;title\x07\u202e"))
	f.Fuzz(func(t *testing.T, k int, v []byte) {
		kd := kind(((k % 6) + 6) % 6)
		lit := literal(kd, v)
		got, ok := readLiteral(lit)
		if !ok || !bytes.Equal(got, v) {
			t.Fatalf("literal(%d, %q) = %s reads back as %q (%v)", kd, v, lit, got, ok)
		}
		if termtext.Line(lit) != lit {
			t.Fatalf("literal(%d, %q) = %q is not safe on a terminal", kd, v, lit)
		}
	})
}

func readLiteral(s string) ([]byte, bool) {
	switch {
	case strings.HasPrefix(s, "_utf8mb4 X'") && strings.HasSuffix(s, "'"):
		b, err := hex.DecodeString(s[len("_utf8mb4 X'") : len(s)-1])
		return b, err == nil
	case strings.HasPrefix(s, "X'") && strings.HasSuffix(s, "'"):
		b, err := hex.DecodeString(s[2 : len(s)-1])
		return b, err == nil
	case len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'':
		body := s[1 : len(s)-1]
		if strings.Contains(strings.ReplaceAll(body, "''", ""), "'") || strings.Contains(body, `\`) {
			return nil, false
		}
		return []byte(strings.ReplaceAll(body, "''", "'")), true
	case isNumber([]byte(s)):
		return []byte(s), true
	}
	return nil, false
}
