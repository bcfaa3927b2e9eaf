package review

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// verdict is one case of the verdict corpus (testdata/verdicts.txt).
type verdict struct {
	line  int
	rule  string
	fires bool
	// live cases need a server that can EXPLAIN: TestLiveVerdictCorpus
	// reviews them with a LiveCatalog, TestVerdictCorpus skips them.
	live   bool
	server Server
	params map[string]any
	script string
}

// readVerdicts parses the verdict corpus; its format is described at the
// top of the file.
func readVerdicts(t testing.TB) []verdict {
	t.Helper()
	data, err := os.ReadFile("testdata/verdicts.txt")
	require.NoError(t, err)
	var out []verdict
	var body []string
	flush := func() {
		if len(out) > 0 {
			out[len(out)-1].script = strings.TrimSpace(strings.Join(body, "\n"))
		}
		body = nil
	}
	for i, line := range strings.Split(string(data), "\n") {
		head, ok := strings.CutPrefix(line, "== ")
		if !ok {
			if !strings.HasPrefix(line, "#") {
				body = append(body, line)
			}
			continue
		}
		flush()
		v := verdict{line: i + 1}
		fields := strings.SplitN(head, " ", 3)
		require.GreaterOrEqual(t, len(fields), 2, "line %d", i+1)
		v.rule = fields[0]
		switch fields[1] {
		case "fires":
			v.fires = true
		case "passes":
		default:
			t.Fatalf("testdata/verdicts.txt:%d: want fires or passes, got %q", i+1, fields[1])
		}
		rest := ""
		if len(fields) == 3 {
			rest = strings.TrimSpace(fields[2])
		}
		if r, ok := strings.CutPrefix(rest, "live"); ok && (r == "" || r[0] == ' ') {
			v.live, rest = true, strings.TrimSpace(r)
		}
		if s, ok := strings.CutPrefix(rest, "@"); ok {
			name, tail, _ := strings.Cut(s, " ")
			v.server, rest = Server(name), strings.TrimSpace(tail)
		}
		if rest != "" {
			require.NoError(t, json.Unmarshal([]byte(rest), &v.params), "line %d", i+1)
		}
		out = append(out, v)
	}
	flush()
	return out
}

// corpusScore is the outcome of the corpus: true and false positives and
// negatives, counting a case's expected verdict against whether its rule
// reported anything.
type corpusScore struct {
	tp, fp, fn, tn int
	wrong          []string
}

func (s corpusScore) precision() float64 { return float64(s.tp) / float64(max(s.tp+s.fp, 1)) }
func (s corpusScore) recall() float64    { return float64(s.tp) / float64(max(s.tp+s.fn, 1)) }

// scoreCorpus reviews every case of the corpus that is live or not, each
// with a catalog from catalog and database db as the default.
func scoreCorpus(t testing.TB, cases []verdict, live bool, catalog func() Catalog, db string) corpusScore {
	t.Helper()
	var s corpusScore
	for _, v := range cases {
		if v.live != live {
			continue
		}
		opts := []Option{WithPolicy(onlyRule(v.rule, v.params)), WithCatalog(catalog()), WithDefaultDatabase(db)}
		if v.server != "" {
			opts = append(opts, WithServer(v.server))
		}
		r, err := New(opts...)
		require.NoError(t, err, "testdata/verdicts.txt:%d", v.line)
		res, err := r.Review(context.Background(), v.script)
		require.NoError(t, err)
		fired := false
		for _, f := range res.Findings() {
			fired = fired || f.Rule == v.rule
		}
		switch {
		case fired && v.fires:
			s.tp++
		case fired:
			s.fp++
			s.wrong = append(s.wrong, fmt.Sprintf("testdata/verdicts.txt:%d: %s fired on a passing case: %v", v.line, v.rule, res.Findings()))
		case v.fires:
			s.fn++
			s.wrong = append(s.wrong, fmt.Sprintf("testdata/verdicts.txt:%d: %s missed", v.line, v.rule))
		default:
			s.tn++
		}
	}
	return s
}

// TestVerdictCorpus reviews the verdict corpus but its live cases and
// reports precision and recall over it; every case must get its expected
// verdict and every rule it names must exist.
func TestVerdictCorpus(t *testing.T) {
	cases := readVerdicts(t)
	known := map[string]bool{}
	for _, r := range Rules() {
		known[r.ID] = true
	}
	rules := map[string]bool{}
	for _, v := range cases {
		require.True(t, known[v.rule], "testdata/verdicts.txt:%d: no rule %s", v.line, v.rule)
		rules[v.rule] = true
	}
	s := scoreCorpus(t, cases, false, func() Catalog { return exampleCatalog(t) }, "shop")
	for _, w := range s.wrong {
		t.Error(w)
	}
	t.Logf("verdict corpus: %d cases on %d rules (live cases apart); precision %.1f%% (%d of %d findings right), recall %.1f%% (%d of %d expected findings)",
		s.tp+s.fp+s.fn+s.tn, len(rules), 100*s.precision(), s.tp, s.tp+s.fp, 100*s.recall(), s.tp, s.tp+s.fn)
}

// TestVerdictCorpusCoversEveryRule fails when a built-in rule lacks a
// case of the corpus that must fire or one that must pass, so coverage
// cannot drop silently when a rule is added or a case removed.
func TestVerdictCorpusCoversEveryRule(t *testing.T) {
	kinds := map[string][2]int{}
	for _, v := range readVerdicts(t) {
		k := kinds[v.rule]
		if v.fires {
			k[0]++
		} else {
			k[1]++
		}
		kinds[v.rule] = k
	}
	for _, r := range Rules() {
		if k := kinds[r.ID]; k[0] == 0 || k[1] == 0 {
			t.Errorf("rule %s has %d firing and %d passing cases in testdata/verdicts.txt; want both", r.ID, k[0], k[1])
		}
	}
}

// LiveVerdictCorpus reviews the live cases of the verdict corpus with cat
// as the catalog and db, which holds table big, as the default database;
// live_test.go calls it with a sandbox server's LiveCatalog.
func LiveVerdictCorpus(t *testing.T, cat Catalog, db string) {
	cases := readVerdicts(t)
	s := scoreCorpus(t, cases, true, func() Catalog { return cat }, db)
	for _, w := range s.wrong {
		t.Error(w)
	}
	require.NotZero(t, s.tp+s.fp+s.fn+s.tn, "no live cases")
}
