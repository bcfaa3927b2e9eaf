//go:build linux

package mysqlcli

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

var servers []*sandbox.Server

// childEnv holds the JSON childSpec of a client run by this test binary
// started again as a child process (see TestMain).
const childEnv = "SHIFTGATE_MYSQLCLI_CHILD"

type childSpec struct{ DSN, Query string }

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(sandboxtest.Main(m, 1, &servers))
}

// runChild starts a mariadb client that runs the spec's query, prints the
// client's pid and waits for it.
func runChild(spec string) int {
	var s childSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg, err := mysql.ParseDSN(s.DSN)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cmd, err := mustOptions(cfg).Command(context.Background(), client(), "-e", s.Query)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(cmd.Process.Pid)
	if err := cmd.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func client() string {
	p, err := Find("", "mariadb", "mysql")
	if err != nil {
		panic(fmt.Sprintf("%v: run make test, which installs mariadb-client", err))
	}
	return p
}

func mustOptions(cfg *mysql.Config) *Options {
	o, err := NewOptions(cfg, 0)
	if err != nil {
		panic(err)
	}
	return o
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

const oddPassword = `p#a;s"s\w'o rd` + "\t="

func TestOptionsReachTheClientsThroughADescriptor(t *testing.T) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = "app", oddPassword, "tcp", closedAddr(t)
	_, port, _ := net.SplitHostPort(cfg.Addr)
	o, err := NewOptions(cfg, 2500*time.Millisecond)
	require.NoError(t, err)
	dump, err := Find("", "mariadb-dump", "mysqldump")
	require.NoError(t, err)

	for _, program := range []string{client(), dump} {
		cmd, err := o.Command(context.Background(), program, "--print-defaults")
		require.NoError(t, err)
		assert.Equal(t, "--defaults-file=/dev/fd/3", cmd.Args[1])
		out := &LimitedBuffer{Max: 4096}
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Run(), "%s: %s", program, out)
		for _, want := range []string{"--user=app", "--password=" + oddPassword, "--host=127.0.0.1", "--port=" + port, "--protocol=tcp"} {
			assert.Contains(t, out.String(), want, program)
		}
		// Only the mysql/mariadb client has (and reads) a connect timeout,
		// rounded up to whole seconds.
		assert.Equal(t, program == client(), strings.Contains(out.String(), "--connect-timeout=3"), "%s: %s", program, out)
	}
}

func TestOptionsDescriptorIsPrivateAndRereadable(t *testing.T) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = "app", oddPassword, "tcp", closedAddr(t)
	o := mustOptions(cfg)
	// mydumper and myloader read their options once per connection.
	cmd := Command(context.Background(), "/bin/sh", "-c", "stat -L -c %a /dev/fd/3 && cat /dev/fd/3 /dev/fd/3")
	arg, err := o.Attach(cmd)
	require.NoError(t, err)
	assert.Equal(t, "--defaults-file=/dev/fd/3", arg)
	out, errOut := &LimitedBuffer{Max: 8192}, &LimitedBuffer{Max: 4096}
	cmd.Stdout, cmd.Stderr = out, errOut
	require.NoError(t, cmd.Run(), errOut.String())
	mode, text, _ := strings.Cut(out.String(), "\n")
	assert.Equal(t, "400", mode)
	assert.Equal(t, 2, strings.Count(text, "[client]\n"), text)
	assert.Nil(t, cmd.files, "Start released this process's copy")
}

// TestPipeFileIsReadByTheClients checks the descriptor used outside Linux:
// a pipe that the clients read their options from once.
func TestPipeFileIsReadByTheClients(t *testing.T) {
	s := servers[0]
	o := mustOptions(s.Config(""))
	for _, program := range []string{client(), "mariadb-dump"} {
		f, err := pipeFile(o.text)
		require.NoError(t, err)
		args := []string{"--defaults-file=/dev/fd/3", "-e", "SELECT CONCAT('logged in as ', CURRENT_USER())"}
		if program == "mariadb-dump" {
			args = []string{"--defaults-file=/dev/fd/3", "--no-data", "mysql", "db"}
		}
		cmd := exec.Command(program, args...)
		cmd.ExtraFiles = []*os.File{f}
		out, err := cmd.CombinedOutput()
		require.NoError(t, f.Close())
		require.NoError(t, err, "%s: %s", program, out)
		if program == "mariadb-dump" {
			assert.Contains(t, string(out), "CREATE TABLE `db`")
		} else {
			assert.Contains(t, string(out), "logged in as "+s.User())
		}
	}
}

func TestOptionsLogInForReal(t *testing.T) {
	s := servers[0]
	o := mustOptions(s.Config(""))
	out := &LimitedBuffer{Max: 4096}
	cmd, err := o.Command(context.Background(), client(), "-N", "-e", "SELECT CONCAT('logged in as ', CURRENT_USER())")
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Run(), out.String())
	assert.Contains(t, out.String(), "logged in as "+s.User())

	out = &LimitedBuffer{Max: 1 << 20}
	cmd, err = o.Command(context.Background(), "mariadb-dump", "--no-data", "mysql", "db")
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Run(), out.String())
	assert.Contains(t, out.String(), "CREATE TABLE `db`")
}

func TestOptionsRefuseWhatTheyCannotExpress(t *testing.T) {
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr = "tcp", "127.0.0.1:3306"
	cfg.TLSConfig = "custom-ca"
	_, err := NewOptions(cfg, 0)
	assert.ErrorContains(t, err, "tls=custom-ca")
	cfg.TLSConfig, cfg.Net = "", "pipe"
	_, err = NewOptions(cfg, 0)
	assert.ErrorContains(t, err, `network "pipe"`)
	cfg.Net = "tcp"
	_, err = NewOptions(cfg, -time.Second)
	assert.ErrorContains(t, err, "negative connect timeout")
	cfg.Passwd = strings.Repeat("x", maxOptionsText)
	_, err = NewOptions(cfg, 0)
	assert.ErrorContains(t, err, "127.0.0.1:3306")
	assert.NotContains(t, err.Error(), cfg.Passwd)
}

func TestConnectTimeoutOfASilentHost(t *testing.T) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = "app", "secret-of-the-silent-host", "tcp", sandboxtest.SilentHost(t)
	o, err := NewOptions(cfg, time.Second)
	require.NoError(t, err)
	// Without a bound the clients would wait for this context (the test's
	// own failure, not a timing assertion).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, c := range []struct {
		program string
		args    []string
	}{{client(), []string{"-e", "SELECT 1"}}, {"mariadb-dump", []string{"mysql"}}} {
		cmd, err := o.Command(ctx, c.program, c.args...)
		require.NoError(t, err)
		err = cmd.Run()
		require.ErrorIs(t, err, ErrConnectTimeout, c.program)
		require.ErrorIs(t, err, conn.ErrTimeout, c.program)
		assert.ErrorContains(t, err, cfg.Addr)
		assert.ErrorContains(t, err, "connection timed out")
		assert.NotContains(t, err.Error(), cfg.Passwd)
		assert.Nil(t, cmd.Process, "no client was started")
		assert.NoError(t, ctx.Err())
	}
}

func TestProbeLeavesRefusalsToTheClient(t *testing.T) {
	cfg := servers[0].Config("")
	cfg.Passwd = "wrong-password"
	cmd, err := mustOptions(cfg).Command(context.Background(), client(), "-e", "SELECT 1")
	require.NoError(t, err)
	out := &LimitedBuffer{Max: 4096}
	cmd.Stderr = out
	require.Error(t, cmd.Run())
	assert.Contains(t, out.String(), "Access denied", "the client says why, in its own words")
}

// secrets sets variables of the kinds that hold secrets in the caller's
// environment and returns their values.
func secrets(t *testing.T) []string {
	vars := map[string]string{
		"SHIFTGATE_SOURCE_PASSWORD": "secret-source-password",
		"SHIFTGATE_TARGET_PASSWORD": "secret-target-password",
		"SHIFTGATE_SOURCE_DSN":      "app:secret-in-a-dsn@tcp(db:3306)/",
		"SHIFTGATE_DSN_PASSWORD":    "secret-dsn-password",
		"MYSQL_PWD":                 "secret-mysql-pwd",
		"MARIADB_PWD":               "secret-mariadb-pwd",
		"DATABASE_URL":              "mysql://app:secret-in-a-url@db/shop",
		"CLOUD_API_TOKEN":           "secret-token",
	}
	var values []string
	for k, v := range vars {
		t.Setenv(k, v)
		values = append(values, v)
	}
	return values
}

// runningClient waits until the server shows query marker running and
// returns its connection id; it fails the test after a minute.
func runningClient(t *testing.T, db *sql.DB, marker string) int64 {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var id int64
		err := db.QueryRow("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE ? AND ID <> CONNECTION_ID()", "%"+marker+"%").Scan(&id)
		if err == nil {
			return id
		}
		require.True(t, time.Now().Before(deadline), "the client never ran its query: %v", err)
		time.Sleep(20 * time.Millisecond)
	}
}

// assertNoSecretIn checks what any process of the user can read about
// process pid: its environment and command line.
func assertNoSecretIn(t *testing.T, pid int, secrets ...string) {
	t.Helper()
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	require.NoError(t, err)
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	require.NoError(t, err)
	for _, s := range secrets {
		assert.NotContains(t, string(environ), s, "environment of the client")
		assert.NotContains(t, string(cmdline), s, "command line of the client")
	}
	assert.Contains(t, string(environ), "PATH=", "what the client needs stays")
	assert.NotContains(t, string(environ), "SHIFTGATE_")
}

func TestClientEnvironmentHoldsNoSecret(t *testing.T) {
	values := secrets(t)
	t.Setenv("LC_ALL", "C.UTF-8")
	s := servers[0]
	db := sandboxtest.Open(t, s, "")
	marker := "environ_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	cmd, err := mustOptions(s.Config("")).Command(context.Background(), client(), "-e", "SELECT SLEEP(600) AS "+marker)
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() {
		_ = KillGroup(cmd)
		_ = cmd.Wait()
	}()
	id := runningClient(t, db, marker)
	defer db.Exec(fmt.Sprintf("KILL %d", id))

	assertNoSecretIn(t, cmd.Process.Pid, append(values, s.Password())...)
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", cmd.Process.Pid))
	require.NoError(t, err)
	assert.Contains(t, string(environ), "LC_ALL=C.UTF-8")
}

// TestNoCredentialsSurviveSIGKILL runs a client from a child process (this
// binary again), kills the child with SIGKILL while the client runs, and
// checks that no file anywhere under the child's temp directory holds the
// password, and that the client, while it ran, showed no secret in its
// environment or command line.
func TestNoCredentialsSurviveSIGKILL(t *testing.T) {
	values := secrets(t)
	s := servers[0]
	db := sandboxtest.Open(t, s, "")
	tmp := t.TempDir()
	marker := "sigkill_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	spec, err := json.Marshal(childSpec{DSN: s.DSN(""), Query: "SELECT SLEEP(600) AS " + marker})
	require.NoError(t, err)

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childEnv+"="+string(spec), "TMPDIR="+tmp)
	stdout, err := child.StdoutPipe()
	require.NoError(t, err)
	errOut := &LimitedBuffer{Max: 4096}
	child.Stderr = errOut
	require.NoError(t, child.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "child: %s", errOut)
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	require.NoError(t, err)
	id := runningClient(t, db, marker)
	defer db.Exec(fmt.Sprintf("KILL %d", id))
	assertNoSecretIn(t, pid, append(values, s.Password())...)

	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	_ = child.Wait()
	// The kernel kills the client too (Pdeathsig).
	for deadline := time.Now().Add(time.Minute); syscall.Kill(pid, 0) == nil; time.Sleep(20 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the client %d outlived its killed caller", pid)
	}

	// The password as it is, and as an option file spells it.
	var escaped strings.Builder
	writeOption(&escaped, "password", s.Password())
	forms := []string{s.Password(), escaped.String()}
	err = filepath.WalkDir(tmp, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, f := range forms {
			assert.False(t, bytes.Contains(b, []byte(f)), "%s holds the password after SIGKILL", path)
		}
		return nil
	})
	require.NoError(t, err)
}

func TestRemoveStale(t *testing.T) {
	tmp := t.TempDir()
	old := time.Now().Add(-2 * time.Hour)
	mk := func(name string, files []string, mtime time.Time) string {
		dir := filepath.Join(tmp, name)
		require.NoError(t, os.Mkdir(dir, 0o700))
		for _, f := range files {
			require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("[client]\npassword=\"x\"\n"), 0o600))
		}
		require.NoError(t, os.Chtimes(dir, mtime, mtime))
		return dir
	}
	stale := mk("shiftgate-client-123", []string{"client.cnf"}, old)
	empty := mk("shiftgate-client-456", nil, old)
	young := mk("shiftgate-client-789", []string{"client.cnf"}, time.Now())
	foreign := mk("shiftgate-client-000", []string{"client.cnf", "other"}, old)
	unrelated := mk("other-123", []string{"client.cnf"}, old)

	var logs bytes.Buffer
	RemoveStale(tmp, slog.New(slog.NewTextHandler(&logs, nil)))
	assert.NoDirExists(t, stale)
	assert.NoDirExists(t, empty)
	assert.FileExists(t, filepath.Join(young, "client.cnf"), "may belong to a run in progress")
	assert.FileExists(t, filepath.Join(foreign, "other"), "not what the old versions wrote")
	assert.FileExists(t, filepath.Join(unrelated, "client.cnf"))
	assert.Contains(t, logs.String(), "shiftgate-client-123")
}

func TestFind(t *testing.T) {
	_, err := Find("/nonexistent/mariadb-dump")
	assert.ErrorIs(t, err, ErrNoClient)
	assert.ErrorContains(t, err, "/nonexistent/mariadb-dump")
	_, err = Find("", "no-such-client-a", "no-such-client-b")
	assert.ErrorIs(t, err, ErrNoClient)
	assert.ErrorContains(t, err, "no-such-client-a")
}

func TestSupports(t *testing.T) {
	assert.True(t, Supports(context.Background(), client(), "print-query-on-error"))
	assert.False(t, Supports(context.Background(), client(), "no-such-option-at-all"))
}

func TestLimitedBuffer(t *testing.T) {
	b := &LimitedBuffer{Max: 5}
	n, err := b.Write([]byte("abc"))
	assert.Equal(t, 3, n)
	assert.NoError(t, err)
	n, _ = b.Write([]byte("defgh"))
	assert.Equal(t, 5, n)
	assert.Equal(t, "abcde... [3 more bytes]", b.String())
}
