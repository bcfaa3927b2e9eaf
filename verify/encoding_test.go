package verify

import (
	"bytes"
	"math/big"
	"strings"
	"testing"
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
		if !isDecimalText(a) || !isDecimalText(b) {
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

// isDecimalText reports a number as the server writes a DECIMAL: an
// optional minus, digits and an optional fraction.
func isDecimalText(s string) bool {
	ip, fp, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	return ip != "" && strings.Trim(ip, "0123456789") == "" && strings.Trim(fp, "0123456789") == ""
}

func isIntText(s string) bool {
	s = strings.TrimPrefix(s, "-")
	return s != "" && strings.Trim(s, "0123456789") == ""
}
