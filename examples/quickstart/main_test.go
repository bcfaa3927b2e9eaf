package main

import (
	"os"
	"strings"
	"testing"

	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/workflow"
)

// TestQuickstart runs the whole quickstart on a small sample database, so
// that "make demo" cannot rot unnoticed.
func TestQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers")
	}
	if err := run(t.Context(), 2000); err != nil {
		t.Fatal(err)
	}
}

// TestPrintedTextEscaped: control characters in user, script and server
// text are printed as escapes.
func TestPrintedTextEscaped(t *testing.T) {
	var b strings.Builder
	stdout = &b
	t.Cleanup(func() { stdout = os.Stdout })
	printDetail(&workflow.Detail{
		Ticket: &workflow.Ticket{ID: 1, Kind: workflow.KindSQLChange, Title: "fix\x1b[2J", Submitter: "alice\u202e", Error: "ERROR\x1b[31m",
			Results: []migrate.StatementResult{{Text: "UPDATE t SET a = '\x1b]0;x\x07'", Status: migrate.StatementFailed, Error: "near '\x1b[8m'",
				Warnings: []string{"Data truncated\x1b[K"}}}},
		Audit: []workflow.AuditEntry{{Actor: "bob\x07", Action: workflow.ActionApprove, Comment: "ok\r\x1b[1A"}},
	})
	got := b.String()
	if i := strings.IndexAny(got, "\x1b\x07\r\u202e"); i >= 0 {
		t.Fatalf("raw control character %q printed:\n%s", got[i:i+1], got)
	}
	for _, shown := range []string{`fix\x1b[2J`, `alice\u{202E}`, `ERROR\x1b[31m`, `\x1b]0;x\x07`, `near '\x1b[8m'`, `truncated\x1b[K`, `bob\x07`, `ok\r\x1b[1A`} {
		if !strings.Contains(got, shown) {
			t.Errorf("%s not shown in:\n%s", shown, got)
		}
	}
}
