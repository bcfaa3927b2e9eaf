package review

import (
	"flag"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite review/RULES.md")

// TestRuleReference checks that RULES.md is RuleReference(Rules()), that
// there are at least 130 rules, and that every peer equivalent names a
// rule that exists.
func TestRuleReference(t *testing.T) {
	rules := Rules()
	require.GreaterOrEqual(t, len(rules), 130)
	want := RuleReference(rules)
	if *update {
		require.NoError(t, os.WriteFile("RULES.md", []byte(want), 0o644))
	}
	got, err := os.ReadFile("RULES.md")
	require.NoError(t, err)
	assert.Equal(t, want, string(got), "RULES.md is stale: go test ./review -run TestRuleReference -update")
	known := map[string]bool{}
	for _, r := range rules {
		known[r.ID] = true
	}
	for id := range peerEquivalents {
		assert.True(t, known[id], "peerEquivalents names no rule %s", id)
	}
}
