package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/review"
)

var servers []*sandbox.Server

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m, 1, &servers)) }

func sqlcheck(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestExitStatusByLevel(t *testing.T) {
	code, out, _ := sqlcheck(t, "SELECT id FROM t WHERE id = 1")
	assert.Equal(t, exitClean, code, out)
	code, _, _ = sqlcheck(t, "SELECT * FROM t WHERE id = 1") // notice only
	assert.Equal(t, exitClean, code)
	code, _, _ = sqlcheck(t, "INSERT INTO t VALUES (1)")
	assert.Equal(t, exitWarning, code)
	code, out, _ = sqlcheck(t, "DELETE FROM t")
	assert.Equal(t, exitError, code)
	assert.Contains(t, out, "dml.require-where")
	assert.Contains(t, out, "FAIL under policy default")
	code, _, errOut := sqlcheck(t, "", "-format", "xml")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "-format")
}

func TestFileJSONAndPolicy(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "change.sql")
	require.NoError(t, os.WriteFile(script, []byte("DELETE FROM t;\nSELECT 1"), 0o600))
	policy := filepath.Join(dir, "policy.yaml")
	require.NoError(t, os.WriteFile(policy, []byte("name: lax\nrules:\n  dml.require-where: {level: notice}\n"), 0o600))
	code, out, errOut := sqlcheck(t, "", "-format", "json", "-policy", policy, script)
	require.Equal(t, exitClean, code, errOut)
	var res review.Result
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, "lax", res.Summary.Policy)
	assert.Len(t, res.Statements, 2)
	assert.Equal(t, review.LevelNotice, res.Statements[0].Findings[0].Level)

	code, _, errOut = sqlcheck(t, "", "-policy", filepath.Join(dir, "missing.yaml"))
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "missing.yaml")
}

func TestListRules(t *testing.T) {
	code, out, _ := sqlcheck(t, "", "-list-rules", "-policy", "prod")
	require.Equal(t, exitClean, code)
	assert.Contains(t, out, "table.require-pk")
	assert.Regexp(t, `dml.require-limit\s+warning`, out, "levels are the policy's")
	assert.GreaterOrEqual(t, strings.Count(out, "\n"), 61)
}

func TestListRulesJSON(t *testing.T) {
	code, out, _ := sqlcheck(t, "", "-list-rules", "-format", "json", "-policy", "prod")
	require.Equal(t, exitClean, code)
	var rules []struct {
		ID     string   `json:"id"`
		Level  string   `json:"level"`
		Fires  string   `json:"fires"`
		Passes string   `json:"passes"`
		Peers  []string `json:"peers"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rules))
	require.GreaterOrEqual(t, len(rules), 130)
	byID := map[string]int{}
	for i, r := range rules {
		byID[r.ID] = i
		assert.NotEmpty(t, r.Fires, r.ID)
		assert.NotEmpty(t, r.Passes, r.ID)
	}
	require.Contains(t, byID, "dml.require-limit")
	assert.Equal(t, "warning", rules[byID["dml.require-limit"]].Level, "levels are the policy's")
	assert.Contains(t, rules[byID["table.require-pk"]].Peers, "Bytebase table.require-pk")
}

func TestDSNPasswordFromEnvironment(t *testing.T) {
	s := servers[0]
	dbName := sandboxtest.NewDatabase(t, s, "sqlcheck")
	db := sandboxtest.Open(t, s, dbName)
	sandboxtest.Exec(t, db, "CREATE TABLE orders (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, status TINYINT NOT NULL)")
	cfg := s.Config(dbName)
	password := cfg.Passwd
	cfg.Passwd = ""
	t.Setenv(passwordEnv, password)
	code, out, errOut := sqlcheck(t, "UPDATE orders SET nope = 1 WHERE id = 1;\nUPDATE missing SET a = 1 WHERE id = 1", "-dsn", cfg.FormatDSN())
	assert.Equal(t, exitError, code, errOut)
	assert.Contains(t, out, "script.unknown-column")
	assert.Contains(t, out, "table missing does not exist")
	assert.NotContains(t, errOut, "warning")

	// A password on the command line works, draws a warning, and is never printed.
	if password != "" {
		cfg.Passwd = password
		t.Setenv(passwordEnv, "")
		_, out, errOut = sqlcheck(t, "SELECT 1", "-dsn", cfg.FormatDSN())
		assert.Contains(t, errOut, "warning")
		assert.NotContains(t, out+errOut, password)
	}
	cfg.Passwd = "wrong-password-xyz"
	code, out, errOut = sqlcheck(t, "SELECT 1", "-dsn", cfg.FormatDSN())
	assert.Equal(t, exitFailed, code)
	assert.NotContains(t, out+errOut, "wrong-password-xyz")
}

// TestSilentServer checks that a -dsn host that accepts the connection and
// never answers is an error naming it, not a hang.
func TestSilentServer(t *testing.T) {
	addr := sandboxtest.SilentHost(t)
	code, _, errOut := sqlcheck(t, "SELECT 1", "-connect-timeout", "300ms", "-dsn", "app@tcp("+addr+")/shop")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "connect to "+addr+": handshake: timed out")
}

// TestTextEscapesScript checks that control characters of the script do
// not reach the terminal in the text report (a script must not hide its
// own findings), and that JSON keeps them as they are.
func TestTextEscapesScript(t *testing.T) {
	script := "SELECT '\x1b[1A\x1b[2K\r' FROM t WHERE id = 1;\nDELETE FROM `t\x1b[2K\r\u009b1A`"
	code, out, _ := sqlcheck(t, script)
	assert.Equal(t, exitError, code)
	assert.Contains(t, out, "dml.require-where")
	assert.NotContains(t, out, "\x1b")
	assert.NotContains(t, out, "\r")
	assert.NotContains(t, out, "\u009b")
	assert.Contains(t, out, `SELECT '\x1b[1A\x1b[2K\r' FROM t WHERE id = 1`)
	assert.Contains(t, out, `t\x1b[2K\r\u{009B}1A`)

	code, out, _ = sqlcheck(t, script, "-format", "json")
	assert.Equal(t, exitError, code)
	var res review.Result
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, "SELECT '\x1b[1A\x1b[2K\r' FROM t WHERE id = 1", res.Statements[0].Text)
}

// TestHelpExitsTwo checks that -h prints the usage and exits 2, as the
// other programs do.
func TestHelpExitsTwo(t *testing.T) {
	code, _, errOut := sqlcheck(t, "", "-h")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "-policy")
	code, _, _ = sqlcheck(t, "", "-no-such-flag")
	assert.Equal(t, exitFailed, code)
}

// TestExecutableCommentsByServer checks that -server decides which
// executable comments count as run, all of them without it.
func TestExecutableCommentsByServer(t *testing.T) {
	const script = "/*M!100000 DELETE FROM orders */"
	for _, tc := range []struct {
		args []string
		code int
	}{
		{nil, exitError},
		{[]string{"-server", "mariadb-10.11"}, exitError},
		{[]string{"-server", "mysql-8.0"}, exitClean},
	} {
		code, out, errOut := sqlcheck(t, script, append(tc.args, "-policy", "prod")...)
		assert.Equal(t, tc.code, code, "%v: %s%s", tc.args, out, errOut)
		if tc.code == exitError {
			assert.Contains(t, out, "dml.require-where")
			assert.Contains(t, out, "script.executable-comment")
		}
	}
}
