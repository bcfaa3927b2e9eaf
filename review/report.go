package review

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/shiftgate/shiftgate/internal/termtext"
)

// WriteText writes a readable report of r to w: one block per statement
// with findings, then the summary. Statements without findings are listed
// on one line each. Text from the script, the policy or the server (SQL,
// names, messages) is escaped with termtext.Line, so control characters
// in a script cannot act on the reader's terminal; Result's JSON keeps
// them as they are.
func (r *Result) WriteText(w io.Writer) error {
	b := bufio.NewWriter(w)
	for i := range r.Statements {
		st := &r.Statements[i]
		fmt.Fprintf(b, "#%d line %d col %d  %s  %s  risk %s", st.Index+1, st.Position.Line, st.Position.Column, st.Kind, termtext.Line(st.Type), st.Risk)
		if st.Algorithm != "" {
			fmt.Fprintf(b, "  algorithm %s", st.Algorithm)
		}
		if st.AffectedRows != nil {
			fmt.Fprintf(b, "  ~%d rows", *st.AffectedRows)
		}
		b.WriteByte('\n')
		if len(st.Findings) == 0 {
			continue
		}
		fmt.Fprintf(b, "    %s\n", termtext.Line(firstLine(st.Text, 100)))
		for _, f := range st.Findings {
			fmt.Fprintf(b, "    %-7s %s:%d:%d %s: %s\n", strings.ToUpper(f.Level.String()), "line", f.Position.Line, f.Position.Column, termtext.Line(f.Rule), termtext.Line(f.Message))
		}
	}
	s := r.Summary
	verdict := "PASS"
	if !s.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(b, "%s under policy %s: %d statements, %d errors, %d warnings, %d notices, highest level %s, risk %s\n",
		verdict, termtext.Line(s.Policy), s.Statements, s.Errors, s.Warnings, s.Notices, s.Level, s.Risk)
	for _, n := range s.Notes {
		fmt.Fprintf(b, "note: %s\n", termtext.Line(n))
	}
	return b.Flush()
}

// firstLine returns the first line of s, cut to n characters.
func firstLine(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " ..."
	}
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "..."
	}
	return s
}
