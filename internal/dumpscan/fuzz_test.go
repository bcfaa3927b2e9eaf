package dumpscan

import (
	"bytes"
	"testing"
)

// FuzzScanner checks that no input makes the scanner panic, that how
// the stream is cut into writes never changes what it tells, and that
// its counts agree with each other.
func FuzzScanner(f *testing.F) {
	for _, c := range scannerCases() {
		if len(c.in) <= 4096 {
			f.Add([]byte(c.in), uint64(len(c.in)/2))
		}
	}
	for _, name := range []string{"testdata/mariadb-10.11.sql", "testdata/mariadb-10.11-skip-extended.sql"} {
		f.Add(readFile(f, name), uint64(12345678))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint64) {
		whole, want := scanChunks([][]byte{data})
		n := uint64(len(data)) + 1
		a, b := int(cut%n), int(cut/n%n)
		if a > b {
			a, b = b, a
		}
		_, got := scanChunks([][]byte{data[:a], data[a:b], data[b:]})
		equal(t, want, got, "writes cut at %d and %d", a, b)
		if len(data) <= 512 {
			var bytewise [][]byte
			for i := range data {
				bytewise = append(bytewise, data[i:i+1])
			}
			_, got := scanChunks(bytewise)
			equal(t, want, got, "bytewise")
		}

		lines := int64(bytes.Count(data, []byte("\n")))
		if len(data) > 0 && data[len(data)-1] != '\n' {
			lines++
		}
		equal(t, lines, want.Lines, "lines")
		equal(t, int64(len(data)), want.Bytes, "bytes")
		var rows int64
		for i, sec := range want.Sections {
			rows += sec.Rows
			check(t, sec.Rows == 0 || sec.Kind == SectionTableData, "rows in %v", sec)
			check(t, sec.StartLine >= 1 && sec.StartLine <= lines, "start of %v", sec)
			check(t, i == 0 || sec.StartLine > want.Sections[i-1].StartLine, "order of %v", sec)
			if got, ok := whole.SectionAt(sec.StartLine); !ok || got != sec {
				t.Errorf("SectionAt(%d) = %v, %v; want %v", sec.StartLine, got, ok, sec)
			}
		}
		equal(t, rows, want.Rows, "rows")
		check(t, cap(whole.buf) <= 2*maxLine, "buffer of %d bytes", cap(whole.buf))
	})
}
