package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate/migratetest"
)

var servers []*sandbox.Server

func TestMain(m *testing.M) {
	os.Exit(sandboxtest.Main(m, 2, &servers))
}

// passwordless returns s's DSN without its password.
func passwordless(s *sandbox.Server) string {
	cfg := s.Config("")
	cfg.Passwd = ""
	return cfg.FormatDSN()
}

func TestCopydbDryRunThenCopy(t *testing.T) {
	src := sandboxtest.NewDatabase(t, servers[0], "shop")
	require.NoError(t, sampledata.Create(context.Background(), sandboxtest.Open(t, servers[0], ""), src, 50))
	dst := sandboxtest.NewDatabase(t, servers[1], "copy")
	t.Setenv("SHIFTGATE_SOURCE_PASSWORD", servers[0].Password())
	t.Setenv("SHIFTGATE_TARGET_PASSWORD", servers[1].Password())
	args := []string{"-source", passwordless(servers[0]), "-target", passwordless(servers[1]),
		"-database", src, "-target-database", dst}

	var out, errOut bytes.Buffer
	code := run(context.Background(), append(args, "-dry-run"), &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	assert.Contains(t, out.String(), "order_items")
	assert.Contains(t, out.String(), "step 1:")
	assert.Equal(t, "no tables", tablesState(t, dst), "the dry run changed the target")

	out.Reset()
	errOut.Reset()
	code = run(context.Background(), args, &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	assert.Contains(t, out.String(), "total: 1210 rows")
	assert.Contains(t, errOut.String(), "5/5 tables")
	assert.NotContains(t, out.String()+errOut.String(), "password on the command line")
	assert.Equal(t, migratetest.DatabaseState(t, sandboxtest.Open(t, servers[0], ""), src),
		migratetest.DatabaseState(t, sandboxtest.Open(t, servers[1], ""), dst))

	// A second copy is refused: the target holds rows now.
	errOut.Reset()
	code = run(context.Background(), args, &out, &errOut)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut.String(), "hold rows")
	for _, s := range servers {
		assert.NotContains(t, errOut.String(), s.Password())
	}
}

func tablesState(t *testing.T, database string) string {
	var n int
	require.NoError(t, sandboxtest.Open(t, servers[1], "").QueryRow(
		"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", database).Scan(&n))
	if n == 0 {
		return "no tables"
	}
	return "tables"
}

func TestCopydbBadUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-source", "u@tcp(h:1)/", "-target", "u@tcp(h:2)/"}, "-database is required"},
		{[]string{"-database", "x", "-target", "u@tcp(h:2)/"}, "-source is required"},
		{[]string{"-database", "x", "-source", "u@tcp(h:1", "-target", "u@tcp(h:2)/"}, "-source: invalid DSN"},
		{[]string{"-database", "x", "-source", "u@tcp(h:1)/", "-target", "u@tcp(h:2)/", "-mode", "teleport"}, `-mode "teleport"`},
		{[]string{"-database", "x", "-source", "u@tcp(h:1)/", "-target", "u@tcp(h:2)/", "-threads", "4"}, "-threads: only with -mode copy"},
		{[]string{"-database", "x", "-source", "u@tcp(h:1)/", "-target", "u@tcp(h:2)/", "-mode", "copy", "-threads", "0x"}, "invalid value"},
		{[]string{"-database", "x", "-source", "u@tcp(h:1)/", "-target", "u@tcp(h:2)/", "-mode", "copy", "-write", "fax"}, `-write "fax"`},
		{[]string{"-database", "x", "-source", "u@tcp(h:1)/", "-target", "u@tcp(h:2)/", "-skip-objects", "index"}, `unknown object kind "index"`},
		{[]string{"-database", "x", "-source", "u@tcp(h:1)/", "-target", "u@tcp(h:2)/", "-lock-free", "-keyless-max-rows", "5"}, "-keyless-max-rows, -lock-free: only with -mode copy"},
		{[]string{"-database", "x", "-source", "u@tcp(h:1)/", "-target", "u@tcp(h:2)/", "-mode", "copy", "-keyless-max-rows", "-1"}, "-keyless-max-rows: -1 rows is not positive"},
		{[]string{"-database", "x", "-source", "u@tcp(h:1)/", "-target", "u@tcp(h:2)/", "-mode", "copy", "-threads", "65"}, "-threads: 65 is not between 1 and 64"},
	} {
		t.Setenv("SHIFTGATE_SOURCE_DSN", "")
		t.Setenv("SHIFTGATE_TARGET_DSN", "")
		var out, errOut bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errOut)
		assert.Equal(t, 2, code, strings.Join(tc.args, " "))
		assert.Contains(t, errOut.String(), tc.want)
	}
}

func TestCopydbWarnsOfPasswordOnCommandLine(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-source", "u:secret@tcp(127.0.0.1:1)/", "-target", "u@tcp(127.0.0.1:2)/", "-database", "x", "-dry-run"}, &out, &errOut)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut.String(), "the -source DSN holds a password")
	assert.NotContains(t, errOut.String(), "secret")
}

// TestCopydbCopyResumesOnRerun interrupts a rate-limited copy and runs the
// same command again: it resumes, and the target ends equal to the source.
func TestCopydbCopyResumesOnRerun(t *testing.T) {
	src := sandboxtest.NewDatabase(t, servers[0], "shop")
	require.NoError(t, sampledata.Create(context.Background(), sandboxtest.Open(t, servers[0], ""), src, 500))
	dst := sandboxtest.NewDatabase(t, servers[1], "copy")
	copyModeTarget(t, dst)
	args := []string{"-source", passwordless(servers[0]), "-target", passwordless(servers[1]),
		"-database", src, "-target-database", dst, "-mode", "copy", "-threads", "2", "-progress", "50ms"}

	var out, errOut bytes.Buffer
	code := run(context.Background(), append(args, "-dry-run"), &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	assert.Contains(t, out.String(), "key (order_id, line)")
	assert.Contains(t, out.String(), "BACKUP STAGE BLOCK_COMMIT")

	// 3,100 rows at 1,500 rows/s: interrupted (as by Ctrl-C) once the first
	// rows are in, part-way.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out.Reset()
	errOut.Reset()
	code = run(ctx, append(args, "-rows-per-second", "1500"), &out, &cancelOnRows{w: &errOut, cancel: cancel})
	require.Equal(t, 1, code, "stderr: %s", errOut.String())
	assert.Contains(t, errOut.String(), "run the same copydb command again")

	out.Reset()
	errOut.Reset()
	code = run(context.Background(), append(args, "-dry-run"), &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	assert.Contains(t, out.String(), "resume after")

	out.Reset()
	errOut.Reset()
	code = run(context.Background(), append(args, "-threads", "3"), &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	assert.Contains(t, out.String(), "total: 3100 rows")
	assert.Contains(t, out.String(), "resumed an interrupted copy")
	assert.Equal(t, migratetest.DatabaseState(t, sandboxtest.Open(t, servers[0], ""), src),
		migratetest.DatabaseState(t, sandboxtest.Open(t, servers[1], ""), dst))
	for _, s := range servers {
		assert.NotContains(t, out.String()+errOut.String(), s.Password())
	}
}

// copyModeTarget removes the checkpoint of a -mode copy into dst on
// servers[1] when the test ends, and gives copydb the passwords.
func copyModeTarget(t *testing.T, dst string) {
	t.Cleanup(func() {
		if db, err := servers[1].Open(""); err == nil {
			_, _ = db.Exec("DELETE FROM _shiftgate.copy_segments WHERE target_db = ?", dst)
			_, _ = db.Exec("DELETE FROM _shiftgate.copy_runs WHERE target_db = ?", dst)
			db.Close()
		}
	})
	t.Setenv("SHIFTGATE_SOURCE_PASSWORD", servers[0].Password())
	t.Setenv("SHIFTGATE_TARGET_PASSWORD", servers[1].Password())
}

// cancelOnRows passes writes on and cancels once a progress line counts
// some rows.
type cancelOnRows struct {
	w      io.Writer
	cancel context.CancelFunc
}

var progressRows = regexp.MustCompile(` ([1-9][0-9]*) rows`)

func (c *cancelOnRows) Write(p []byte) (int, error) {
	if progressRows.Match(p) {
		c.cancel()
	}
	return c.w.Write(p)
}

// sameServerArgs are the arguments of a copy of database from servers[0]
// onto itself, the target naming the server as localhost instead of
// 127.0.0.1.
func sameServerArgs(t *testing.T, database string) []string {
	t.Helper()
	cfg := servers[0].Config("")
	cfg.Passwd = ""
	source := cfg.FormatDSN()
	host, port, err := net.SplitHostPort(cfg.Addr)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", host)
	if addrs, err := net.DefaultResolver.LookupHost(context.Background(), "localhost"); err != nil || !slices.Contains(addrs, "127.0.0.1") {
		t.Skipf("localhost does not resolve to 127.0.0.1 (%v, %v)", addrs, err)
	}
	cfg.Addr = net.JoinHostPort("localhost", port)
	t.Setenv("SHIFTGATE_SOURCE_PASSWORD", servers[0].Password())
	t.Setenv("SHIFTGATE_TARGET_PASSWORD", servers[0].Password())
	return []string{"-source", source, "-target", cfg.FormatDSN(), "-database", database, "-replace"}
}

// TestCopydbRefusesCopyOntoItself runs a copy of a database onto itself
// through a second spelling of the server's host in both modes: copydb
// exits 1, says why, and the source is left as it was.
func TestCopydbRefusesCopyOntoItself(t *testing.T) {
	srcDB := sandboxtest.Open(t, servers[0], "")
	src := sandboxtest.NewDatabase(t, servers[0], "self")
	require.NoError(t, sampledata.Create(context.Background(), srcDB, src, 20))
	before := migratetest.DatabaseState(t, srcDB, src)
	for _, mode := range []string{"pipe", "copy"} {
		for _, dry := range []bool{true, false} {
			args := append(sameServerArgs(t, src), "-mode", mode)
			if dry {
				args = append(args, "-dry-run")
			}
			var out, errOut bytes.Buffer
			code := run(context.Background(), args, &out, &errOut)
			assert.Equal(t, 1, code, "%s dry-run=%v: stderr: %s", mode, dry, errOut.String())
			assert.Contains(t, errOut.String(), "same database", mode)
			assert.Contains(t, errOut.String(), "localhost:", mode)
			assert.NotContains(t, errOut.String(), "run the same", mode)
			assert.Equal(t, before, migratetest.DatabaseState(t, srcDB, src), "%s dry-run=%v changed the source", mode, dry)
		}
	}
}

// TestCopydbHintsNameFlags checks that refusals name copydb's flags, not
// the library's options, and that a keyless table copies with
// -keyless-max-rows.
func TestCopydbHintsNameFlags(t *testing.T) {
	src := sandboxtest.NewDatabase(t, servers[0], "hints")
	srcDB := sandboxtest.Open(t, servers[0], src)
	sandboxtest.Exec(t, srcDB, "CREATE TABLE nokey (a INT, b VARCHAR(10))", "INSERT INTO nokey VALUES (1, 'x'), (1, 'x'), (2, NULL)",
		"CREATE TABLE base (id INT PRIMARY KEY)", "CREATE VIEW v AS SELECT id FROM base")
	dst := sandboxtest.NewDatabase(t, servers[1], "hints_copy")
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[1], ""), "DROP DATABASE `"+dst+"`")
	copyModeTarget(t, dst)
	args := []string{"-source", passwordless(servers[0]), "-target", passwordless(servers[1]), "-database", src, "-target-database", dst, "-mode", "copy"}
	apiNames := regexp.MustCompile(`With[A-Z][A-Za-z]+|SnapshotNone|TablePair`)

	var out, errOut bytes.Buffer
	code := run(context.Background(), append(args, "-dry-run"), &out, &errOut)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut.String(), "-keyless-max-rows N")
	assert.NotRegexp(t, apiNames, errOut.String())

	errOut.Reset()
	code = run(context.Background(), append(args, "-dry-run", "-tables", "v"), &out, &errOut)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut.String(), "reads base")
	assert.Contains(t, errOut.String(), "-tables")
	assert.NotRegexp(t, apiNames, errOut.String())
	assert.Equal(t, "no tables", tablesState(t, dst))

	out.Reset()
	errOut.Reset()
	code = run(context.Background(), append(args, "-keyless-max-rows", "10", "-lock-free"), &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	assert.Contains(t, out.String(), "NOT consistent with this position")
	assert.Equal(t, migratetest.DatabaseState(t, sandboxtest.Open(t, servers[0], ""), src),
		migratetest.DatabaseState(t, sandboxtest.Open(t, servers[1], ""), dst))

	out.Reset()
	errOut.Reset()
	code = run(context.Background(), append(args, "-keyless-max-rows", "10"), &out, &errOut)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut.String(), "-replace")
	assert.NotRegexp(t, apiNames, errOut.String())

	out.Reset()
	errOut.Reset()
	code = run(context.Background(), append(args, "-keyless-max-rows", "10", "-lock-free", "-replace", "-json"), &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	assert.Contains(t, out.String(), `"position_note": "the copy is NOT consistent with this position`)
}

// TestCopydbEscapesNames copies a table whose name holds a terminal
// escape sequence: the text output shows it escaped, the JSON output as it
// is.
func TestCopydbEscapesNames(t *testing.T) {
	src := sandboxtest.NewDatabase(t, servers[0], "esc")
	const name = "t\x1b[2Jred"
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], src), "CREATE TABLE `"+name+"` (id INT PRIMARY KEY)", "INSERT INTO `"+name+"` VALUES (1)")
	dst := sandboxtest.NewDatabase(t, servers[1], "esc_copy")
	t.Setenv("SHIFTGATE_SOURCE_PASSWORD", servers[0].Password())
	t.Setenv("SHIFTGATE_TARGET_PASSWORD", servers[1].Password())
	args := []string{"-source", passwordless(servers[0]), "-target", passwordless(servers[1]), "-database", src, "-target-database", dst}
	var out, errOut bytes.Buffer
	code := run(context.Background(), append(args, "-dry-run"), &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	assert.NotContains(t, out.String(), "\x1b")
	assert.Contains(t, out.String(), `t\x1b[2Jred`)
	out.Reset()
	code = run(context.Background(), args, &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	assert.NotContains(t, out.String()+errOut.String(), "\x1b")
	out.Reset()
	code = run(context.Background(), append(args, "-dry-run", "-json", "-replace"), &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	assert.Contains(t, out.String(), `t\u001b[2Jred`)
}
