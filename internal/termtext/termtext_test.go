package termtext

import "testing"

func TestLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"", ""},
		{`C:\path`, `C:\path`},
		{"a\nb\tc\rd", `a\nb\tc\rd`},
		{"\x1b[2J\x1b[1;1Hhidden", `\x1b[2J\x1b[1;1Hhidden`},
		{"bell\x07", `bell\x07`},
		{"del\x7f", `del\x7f`},
		{"csi\u009b31m", `csi\u{009B}31m`},
		{"bad\xffutf8", `bad\xffutf8`},
		{"rlo\u202Etxt.exe", `rlo\u{202E}txt.exe`},
		{"zw\u200bsp", `zw\u{200B}sp`},
		{"iso\u2066x\u2069", `iso\u{2066}x\u{2069}`},
		{"bom\ufeff", `bom\u{FEFF}`},
		{"订单 orders ✓", "订单 orders ✓"},
	} {
		if got := Line(tc.in); got != tc.want {
			t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestBlock(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"line 1\n\tline 2\n", "line 1\n\tline 2\n"},
		{"a\r\nb", `a\r` + "\nb"},
		{"x\x1b]0;title\x07y\n", `x\x1b]0;title\x07y` + "\n"},
	} {
		if got := Block(tc.in); got != tc.want {
			t.Errorf("Block(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzLine(f *testing.F) {
	f.Add("\x1b[31mred")
	f.Add("ok")
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{Line(s), Block(s)} {
			if !safe(out, true) {
				t.Fatalf("escaped %q is still unsafe: %q", s, out)
			}
		}
		if Line(Line(s)) != Line(s) {
			t.Fatalf("Line is not idempotent on %q", s)
		}
	})
}
