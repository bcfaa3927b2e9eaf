package rowcodec

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/internal/termtext"
)

func TestKindOf(t *testing.T) {
	for dt, want := range map[string]Kind{
		"int": Int, "BIGINT": Int, "decimal": Decimal, "float": Float, "double": Float,
		"bit": Bit, "year": Year, "datetime": Temporal, "time": Temporal,
		"varchar": Text, "enum": Text, "set": Text, "json": Text, "longtext": Text,
		"varbinary": Binary, "longblob": Binary, "geometry": Binary, "point": Binary, "geomcollection": Binary,
		"inet6": Other, "uuid": Other, "vector": Other,
	} {
		if got := KindOf(dt); got != want {
			t.Errorf("KindOf(%s) = %s, want %s", dt, got, want)
		}
	}
}

func TestReadExpr(t *testing.T) {
	for _, tc := range []struct{ dataType, want string }{
		{"bit", "`c` + 0"}, {"year", "`c` + 0"}, {"float", "CAST(`c` AS DOUBLE)"},
		{"double", "`c`"}, {"varchar", "`c`"}, {"inet6", "`c`"},
	} {
		if got := ReadExpr(&schema.Column{Name: "c", DataType: tc.dataType}); got != tc.want {
			t.Errorf("ReadExpr(%s) = %s, want %s", tc.dataType, got, tc.want)
		}
	}
}

func TestLiteral(t *testing.T) {
	for _, tc := range []struct {
		k    Kind
		v    []byte
		want string
	}{
		{Int, []byte("-12"), "-12"},
		{Decimal, []byte("12.50"), "12.50"},
		{Float, []byte("3.4028234663852886e38"), "3.4028234663852886e38"},
		{Float, []byte("1; DROP"), "'1; DROP'"},
		{Float, []byte("1e+-5"), "'1e+-5'"},
		{Bit, []byte("18446744073709551615"), "18446744073709551615"},
		{Year, []byte("0"), "0"},
		{Text, []byte("it's"), "'it''s'"},
		{Text, []byte(`back\slash`), "_utf8mb4 X'6261636B5C736C617368'"},
		{Text, []byte("tab\t"), "_utf8mb4 X'74616209'"},
		{Text, []byte("\x1b[2Jclear"), "_utf8mb4 X'1B5B324A636C656172'"},
		{Text, []byte("csi\u009b"), "_utf8mb4 X'637369C29B'"},
		{Text, []byte("rlo\u202e"), "_utf8mb4 X'726C6FE280AE'"},
		{Text, []byte("bad\xff"), "_utf8mb4 X'626164FF'"},
		{Text, []byte("café 订单 😀"), "'café 订单 😀'"},
		{Text, []byte(`say "hi"`), `'say "hi"'`},
		{Text, []byte(""), "''"},
		{Text, nil, "NULL"},
		{Text, []byte("NULL"), "'NULL'"},
		{Other, []byte("::1"), "'::1'"},
		{Binary, []byte{0, 0xff}, "X'00FF'"},
		{Binary, []byte{}, "''"},
		{Temporal, []byte("2024-01-01 00:00:00.000001"), "'2024-01-01 00:00:00.000001'"},
	} {
		if got := Literal(tc.k, tc.v); got != tc.want {
			t.Errorf("Literal(%s, %q) = %s, want %s", tc.k, tc.v, got, tc.want)
		}
	}
	if got := String(`a\b`); got != "_utf8mb4 X'615C62'" {
		t.Errorf("String = %s", got)
	}
	if got, ok := PlainString("it's"); !ok || got != "'it''s'" {
		t.Errorf("PlainString(it's) = %s, %v", got, ok)
	}
	if got, ok := PlainString(`a\b`); ok {
		t.Errorf("PlainString(a\\b) = %s, %v", got, ok)
	}
}

func TestAppendLoadField(t *testing.T) {
	var buf []byte
	for _, v := range [][]byte{nil, {}, []byte("NULL"), []byte("a\\b\tc\nd\x00e\r")} {
		buf = append(AppendLoadField(buf, v), '|')
	}
	if got, want := string(buf), "\\N||NULL|a\\\\b\\tc\\nd\\0e\r|"; got != want {
		t.Errorf("fields %q, want %q", got, want)
	}
}

func TestLoad(t *testing.T) {
	cols := []schema.Column{{Name: "id", DataType: "int", AutoIncrement: true}, {Name: "b", DataType: "bit"}, {Name: "s", DataType: "varchar"}}
	l := NewLoad("`db`.`t`", cols)
	got, err := l.SQL("Reader::x-1")
	if err != nil {
		t.Fatal(err)
	}
	want := "LOAD DATA LOCAL INFILE 'Reader::x-1' INTO TABLE `db`.`t` CHARACTER SET utf8mb4 FIELDS TERMINATED BY X'09' ESCAPED BY X'5C' LINES TERMINATED BY X'0A' (`id`, @shiftgate_v1, `s`) SET `b` = CAST(@shiftgate_v1 AS UNSIGNED)"
	if got != want {
		t.Errorf("SQL =\n%s\nwant\n%s", got, want)
	}
	if l.Exact() {
		t.Error("Exact with a SET clause and AUTO_INCREMENT")
	}
	if !NewLoad("t", cols[1:]).Exact() || !NewLoad("t", []schema.Column{cols[0], cols[2]}).Exact() {
		t.Error("not Exact without AUTO_INCREMENT or without SET")
	}
	if _, err := l.SQL(`Reader::a\b`); err == nil {
		t.Error("a file name with a backslash is accepted")
	}
}

// FuzzLiteral reads every literal back with a small reader of the forms
// AppendLiteral writes and checks that it gives the value back, with no
// backslash escape and nothing unsafe on a terminal.
func FuzzLiteral(f *testing.F) {
	f.Add(uint8(Text), []byte("it's \\ a\ttest"))
	f.Add(uint8(Binary), []byte{0, 1, 2})
	f.Add(uint8(Decimal), []byte("-1.50"))
	f.Add(uint8(Float), []byte("1e-5"))
	f.Add(uint8(Text), []byte("\x1b]0;title\x07\u202e"))
	f.Add(uint8(Other), []byte("'\"`\x00\x1a\xff"))
	f.Fuzz(func(t *testing.T, k uint8, v []byte) {
		kd := Kind(k % uint8(len(kindNames)))
		lit := Literal(kd, v)
		got, ok := readLiteral(lit)
		if !ok || !bytes.Equal(got, v) {
			t.Fatalf("Literal(%s, %q) = %s reads back as %q (%v)", kd, v, lit, got, ok)
		}
		if termtext.Line(lit) != lit {
			t.Fatalf("Literal(%s, %q) = %q is not safe on a terminal", kd, v, lit)
		}
		if strings.Contains(lit, `\`) || strings.Contains(lit, `"`) && !strings.HasPrefix(lit, "'") {
			t.Fatalf("Literal(%s, %q) = %s has a backslash or a double-quoted string", kd, v, lit)
		}
		if p, ok := PlainString(string(v)); ok && p != lit && kd == Text {
			t.Fatalf("PlainString(%q) = %s, Literal %s", v, p, lit)
		}
	})
}

// readLiteral reads the forms of AppendLiteral back: "" and false for
// anything else. Only a quoted string, as the server reads it without
// backslash escapes, may hold a double quote.
func readLiteral(s string) ([]byte, bool) {
	switch {
	case s == "NULL":
		return nil, true
	case strings.HasPrefix(s, "_utf8mb4 X'") && strings.HasSuffix(s, "'"):
		b, err := hex.DecodeString(s[len("_utf8mb4 X'") : len(s)-1])
		return b, err == nil && len(b) > 0
	case strings.HasPrefix(s, "X'") && strings.HasSuffix(s, "'"):
		b, err := hex.DecodeString(s[2 : len(s)-1])
		return b, err == nil && len(b) > 0
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
