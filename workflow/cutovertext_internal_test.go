package workflow

import (
	"strings"
	"testing"

	"github.com/shiftgate/shiftgate/migrate"
)

// TestCutoverTextSaysWhatWasKilledAndLost: the cutover's text in the
// ticket names the sessions the drain killed and the source's changes
// that are not on the target.
func TestCutoverTextSaysWhatWasKilledAndLost(t *testing.T) {
	got := cutoverText(&migrate.CutoverReport{Method: "accounts", DrainKilled: 2, DrainKilledAccounts: []string{"app", "batch"},
		UnappliedChanges: 3, UnappliedUntil: "0-1-42"}, "source", "target")
	for _, part := range []string{"2 source session(s) of app, batch still active when the drain's wait ended killed",
		"NOT on the target: 3 row change(s)", "up to 0-1-42"} {
		if !strings.Contains(got, part) {
			t.Errorf("cutover text %q lacks %q", got, part)
		}
	}
}
