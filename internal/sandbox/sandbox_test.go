package sandbox_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

var servers []*sandbox.Server

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m, 2, &servers)) }

// throwaway reports whether the servers were started by Main rather than
// taken from $SHIFTGATE_TEST_DSN.
func throwaway() bool { return servers[0].Dir() != "" }

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func equal[T comparable](t *testing.T, got, want T, what string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func dirExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

func globalVars(t *testing.T, db *sql.DB, names ...string) map[string]string {
	t.Helper()
	q := "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('" + strings.Join(names, "','") + "')"
	rows, err := db.QueryContext(t.Context(), q)
	must(t, err, q)
	defer rows.Close()
	vars := map[string]string{}
	for rows.Next() {
		var k, v string
		must(t, rows.Scan(&k, &v), "scan")
		vars[k] = v
	}
	must(t, rows.Err(), q)
	return vars
}

func TestServerSettings(t *testing.T) {
	if len(servers) != 2 {
		t.Fatalf("Main gave %d servers, want 2", len(servers))
	}
	ids := map[string]int{}
	for i, s := range servers {
		db := sandboxtest.Open(t, s, "")
		v := globalVars(t, db, "log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata",
			"server_id", "gtid_strict_mode", "log_slave_updates", "version", "local_infile", "character_set_server")
		name := func(v string) string { return fmt.Sprintf("server %d %s", i, v) }
		equal(t, v["log_bin"], "ON", name("log_bin"))
		equal(t, v["binlog_format"], "ROW", name("binlog_format"))
		equal(t, v["binlog_row_image"], "FULL", name("binlog_row_image"))
		equal(t, v["binlog_row_metadata"], "FULL", name("binlog_row_metadata"))
		equal(t, v["gtid_strict_mode"], "ON", name("gtid_strict_mode"))
		if v["server_id"] == "0" || v["server_id"] == "" {
			t.Errorf("%s = %q", name("server_id"), v["server_id"])
		}
		if !throwaway() {
			continue
		}
		if !strings.HasPrefix(v["version"], "10.11") {
			t.Errorf("%s = %q, want 10.11.*", name("version"), v["version"])
		}
		equal(t, v["log_slave_updates"], "ON", name("log_slave_updates"))
		equal(t, v["local_infile"], "ON", name("local_infile"))
		equal(t, v["character_set_server"], "utf8mb4", name("character_set_server"))
		if prev, dup := ids[v["server_id"]]; dup {
			t.Errorf("servers %d and %d share server_id %s", prev, i, v["server_id"])
		}
		ids[v["server_id"]] = i

		// The bootstrap (CREATE USER) is not in the binary log, so the
		// servers can replicate from each other from a clean start.
		var pos string
		must(t, db.QueryRowContext(t.Context(), "SELECT @@gtid_binlog_pos").Scan(&pos), "gtid_binlog_pos")
		equal(t, pos, "", name("gtid_binlog_pos"))

		equal(t, s.Host(), "127.0.0.1", name("Host()"))
		equal(t, s.Addr(), "127.0.0.1:"+strconv.Itoa(s.Port()), name("Addr()"))
		if !dirExists(s.Dir()) {
			t.Errorf("%s: %q is not a directory", name("Dir()"), s.Dir())
		}
	}
}

func TestPasswordAndDSN(t *testing.T) {
	s := servers[0]
	if throwaway() {
		equal(t, s.User(), "shiftgate", "User()")
		equal(t, len(s.Password()), 24, "len(Password())")
		for _, c := range `#;"\'` {
			if !strings.ContainsRune(s.Password(), c) {
				t.Errorf("password lacks %q, needed to exercise escaping", c)
			}
		}
		equal(t, s.DSN("x"), "shiftgate:"+s.Password()+"@tcp("+s.Addr()+")/x", "DSN(x)")
	}

	// The DSN string round-trips through the driver's parser.
	cfg, err := mysql.ParseDSN(s.DSN("some_db"))
	must(t, err, "ParseDSN(DSN)")
	equal(t, cfg.User, s.User(), "parsed user")
	equal(t, cfg.Passwd == s.Password(), true, "parsed password matches")
	equal(t, cfg.Addr, s.Addr(), "parsed addr")
	equal(t, cfg.DBName, "some_db", "parsed database")
	equal(t, s.Config("some_db").DBName, "some_db", "Config(some_db).DBName")
	equal(t, s.Config("").DBName, "", `Config("").DBName`)

	// Connecting through the DSN string and the registered driver works.
	db, err := sql.Open("mysql", s.DSN(""))
	must(t, err, "sql.Open")
	defer db.Close()
	var user string
	must(t, db.QueryRowContext(t.Context(), "SELECT CURRENT_USER()").Scan(&user), "CURRENT_USER()")
	if !strings.HasPrefix(user, s.User()+"@") {
		t.Errorf("CURRENT_USER() = %q, want %s@...", user, s.User())
	}

	// A wrong password is refused.
	bad := s.Config("")
	bad.Passwd += "x"
	var me *mysql.MySQLError
	if err := ping(t, bad); !errors.As(err, &me) || me.Number != 1045 {
		t.Errorf("wrong password: got %v, want error 1045", err)
	}

	if throwaway() {
		// Password-less root is only reachable through the socket.
		root := mysql.NewConfig()
		root.User, root.Net, root.Addr = "root", "tcp", s.Addr()
		if ping(t, root) == nil {
			t.Error("root without password accepted over TCP")
		}
	}
}

func ping(t *testing.T, cfg *mysql.Config) error {
	t.Helper()
	c, err := mysql.NewConnector(cfg)
	must(t, err, "NewConnector")
	db := sql.OpenDB(c)
	defer db.Close()
	return db.PingContext(t.Context())
}

func schemaExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	must(t, db.QueryRowContext(t.Context(),
		"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&n), "SCHEMATA")
	return n == 1
}

func TestNewDatabaseIsolation(t *testing.T) {
	s := servers[0]
	admin := sandboxtest.Open(t, s, "")
	var a, b, long string
	t.Run("isolated", func(t *testing.T) {
		a = sandboxtest.NewDatabase(t, s, "iso")
		b = sandboxtest.NewDatabase(t, s, "iso")
		long = sandboxtest.NewDatabase(t, s, "Weird-Prefix! with `backticks` and "+strings.Repeat("x", 80))
		if a == b {
			t.Errorf("two NewDatabase calls returned %q", a)
		}
		if !strings.HasPrefix(a, "iso_") {
			t.Errorf("name %q lacks prefix iso_", a)
		}
		if len(long) > 64 || !strings.HasPrefix(long, "weird_prefix__with__backticks__and_x") {
			t.Errorf("long prefix gave %q (%d chars)", long, len(long))
		}
		for _, n := range []string{a, b, long} {
			if !schemaExists(t, admin, n) {
				t.Errorf("database %s not created", n)
			}
		}

		dbA := sandboxtest.Open(t, s, a)
		sandboxtest.Exec(t, dbA,
			"CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))",
			"INSERT INTO t VALUES (1, 'a')")
		dbB := sandboxtest.Open(t, s, b)
		sandboxtest.Exec(t, dbB, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")

		var n int
		must(t, dbA.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM t").Scan(&n), "count a")
		equal(t, n, 1, "rows in a.t")
		must(t, dbB.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM t").Scan(&n), "count b")
		equal(t, n, 0, "rows in b.t")

		if servers[1].Addr() != s.Addr() {
			other := sandboxtest.Open(t, servers[1], "")
			if schemaExists(t, other, a) {
				t.Errorf("database %s visible on the other server", a)
			}
		}
	})
	// The subtest's cleanups dropped the databases.
	for _, name := range []string{a, b, long} {
		if schemaExists(t, admin, name) {
			t.Errorf("database %s not dropped by cleanup", name)
		}
	}
}

func TestExecFailureNamesStatement(t *testing.T) {
	db := sandboxtest.Open(t, servers[0], "")
	ft := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() { // Fatalf ends this goroutine via runtime.Goexit
		defer close(done)
		sandboxtest.Exec(ft, db, "SELECT 1", "SELEKT nonsense", "SELECT 2")
	}()
	<-done
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if !ft.failed || !strings.Contains(ft.msg, "SELEKT nonsense") {
		t.Errorf("Exec failure: failed=%v msg=%q, want the statement quoted", ft.failed, ft.msg)
	}
}

// fakeTB records a fatal failure instead of failing the real test.
type fakeTB struct {
	testing.TB
	mu     sync.Mutex
	failed bool
	msg    string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func TestStartClose(t *testing.T) {
	base := t.TempDir()

	// A sandbox left by a dead process is removed; one owned by a live
	// process and unrelated directories are kept.
	dead := exec.Command("true")
	must(t, dead.Run(), "running true")
	stale := filepath.Join(base, "shiftgate-mariadb-stale")
	live := filepath.Join(base, "shiftgate-mariadb-live")
	other := filepath.Join(base, "unrelated")
	for dir, owner := range map[string]int{stale: dead.Process.Pid, live: os.Getpid(), other: dead.Process.Pid} {
		must(t, os.MkdirAll(filepath.Join(dir, "data"), 0o755), "mkdir")
		must(t, os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(owner)), 0o644), "owner.pid")
	}

	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	begin := time.Now()
	s, err := sandbox.Start(ctx, sandbox.Options{BaseDir: base, ServerID: 4242, BufferPool: "64M", Logger: logger})
	if errors.Is(err, sandbox.ErrNoServerBinary) && !throwaway() {
		t.Skipf("servers come from %s and this machine has no MariaDB: %v", sandboxtest.EnvDSN, err)
	}
	must(t, err, "Start")
	defer s.Close()
	t.Logf("Start took %s", time.Since(begin).Round(time.Millisecond))

	if dirExists(stale) {
		t.Error("stale sandbox not removed")
	}
	if !dirExists(live) || !dirExists(other) {
		t.Error("live sandbox or unrelated directory removed")
	}
	equal(t, filepath.Dir(s.Dir()), base, "parent of Dir()")
	if !strings.HasPrefix(filepath.Base(s.Dir()), "shiftgate-mariadb-") {
		t.Errorf("Dir() = %q, want prefix shiftgate-mariadb-", s.Dir())
	}
	owner, err := os.ReadFile(filepath.Join(s.Dir(), "owner.pid"))
	must(t, err, "owner.pid")
	equal(t, strings.TrimSpace(string(owner)), strconv.Itoa(os.Getpid()), "owner.pid")

	db := sandboxtest.Open(t, s, "")
	v := globalVars(t, db, "server_id", "innodb_buffer_pool_size", "port")
	equal(t, v["server_id"], "4242", "server_id")
	equal(t, v["innodb_buffer_pool_size"], strconv.Itoa(64<<20), "innodb_buffer_pool_size")
	equal(t, v["port"], strconv.Itoa(s.Port()), "port")
	must(t, db.Close(), "closing pool")

	pidText, err := os.ReadFile(filepath.Join(s.Dir(), "mariadbd.pid"))
	must(t, err, "mariadbd.pid")
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	must(t, err, "mariadbd.pid")
	must(t, syscall.Kill(pid, 0), "mariadbd not running")
	if cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil {
		if bytes.Contains(cmdline, []byte(s.Password())) {
			t.Error("password on mariadbd's command line")
		}
		if !bytes.Contains(cmdline, []byte("--server-id=4242")) {
			t.Errorf("unexpected mariadbd command line %q", cmdline)
		}
	}

	dir := s.Dir()
	must(t, s.Close(), "Close")
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Dir() after Close: %v, want it gone", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("mariadbd pid %d after Close: kill(0) = %v, want ESRCH", pid, err)
	}
	if ping(t, s.Config("")) == nil {
		t.Error("server still answers after Close")
	}
	must(t, s.Close(), "second Close")

	out := logs.String()
	for _, want := range []string{"starting mariadbd", "mariadbd ready", "mariadbd stopped", "removed stale sandbox"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, s.Password()) {
		t.Error("password in the log")
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestStartNCount(t *testing.T) {
	list, err := sandbox.StartN(t.Context(), 0, sandbox.Options{})
	if err != nil || len(list) != 0 {
		t.Errorf("StartN(0) = %v, %v; want empty, nil", list, err)
	}
	if _, err := sandbox.StartN(t.Context(), -1, sandbox.Options{}); err == nil {
		t.Error("StartN(-1) succeeded")
	}
}

func TestConnect(t *testing.T) {
	ctx := t.Context()
	const secret = "s3cr3t-pw"
	for _, tc := range []struct{ dsn, want string }{
		{"not a dsn", "invalid DSN"},
		{"u:" + secret + "@unix(/tmp/none.sock)/", "want user:password@tcp(host:port)/"},
		{"u:" + secret + "@tcp(127.0.0.1:http)/", "invalid DSN address"},
		{"u:" + secret + "@tcp(127.0.0.1:1)/", "connecting to 127.0.0.1:1 as u"},
	} {
		s, err := sandbox.Connect(ctx, tc.dsn)
		if err == nil || s != nil {
			t.Errorf("Connect(%q) = %v, %v; want an error", tc.dsn, s, err)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "sandbox: ") || !strings.Contains(msg, tc.want) || strings.Contains(msg, secret) {
			t.Errorf("Connect(%q) error %q: want prefix \"sandbox: \", containing %q, no password", tc.dsn, msg, tc.want)
		}
		t.Logf("Connect(%q): %v", tc.dsn, err)
	}

	// Wrong password: access denied, password not echoed.
	bad := servers[0].Config("")
	bad.Passwd = secret
	if _, err := sandbox.Connect(ctx, bad.FormatDSN()); err == nil ||
		!strings.Contains(err.Error(), "Access denied") || strings.Contains(err.Error(), secret) {
		t.Errorf("Connect with a wrong password: %v", err)
	}

	// A valid DSN wraps the server; Close leaves it running.
	s, err := sandbox.Connect(ctx, servers[0].DSN("ignored"))
	must(t, err, "Connect(valid)")
	equal(t, s.Addr(), servers[0].Addr(), "Addr()")
	equal(t, s.Host(), servers[0].Host(), "Host()")
	equal(t, s.Port(), servers[0].Port(), "Port()")
	equal(t, s.User(), servers[0].User(), "User()")
	equal(t, s.Password() == servers[0].Password(), true, "same password")
	equal(t, s.Dir(), "", "Dir()")
	equal(t, s.Config("").DBName, "", "database from DSN ignored")
	must(t, s.Close(), "Close")
	must(t, s.Close(), "second Close")
	must(t, ping(t, servers[0].Config("")), "server after Close of a Connect'ed Server")
}

// processesUsing returns the command lines of live processes that mention s.
func processesUsing(s string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(s)) {
			found = append(found, e.Name()+": "+string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		}
	}
	return found
}

// TestStartCanceled cancels Start during installation and during startup:
// it must leave no directory and no process behind.
func TestStartCanceled(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("needs /proc")
	}
	canceled := 0
	for _, after := range []time.Duration{time.Millisecond, 50 * time.Millisecond, 300 * time.Millisecond, 700 * time.Millisecond} {
		base := t.TempDir()
		ctx, cancel := context.WithTimeout(t.Context(), after)
		s, err := sandbox.Start(ctx, sandbox.Options{BaseDir: base})
		cancel()
		if errors.Is(err, sandbox.ErrNoServerBinary) && !throwaway() {
			t.Skipf("no MariaDB on this machine: %v", err)
		}
		if err == nil {
			t.Logf("Start finished within %s", after)
			must(t, s.Close(), "Close")
			continue
		}
		t.Logf("canceled after %s: %v", after, err)
		canceled++
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("canceled Start: %v, want context.DeadlineExceeded", err)
		}
		entries, _ := os.ReadDir(base)
		for _, e := range entries {
			t.Errorf("left behind: %s", e.Name())
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			procs := processesUsing(base)
			if len(procs) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("processes left behind: %q", procs)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if canceled == 0 {
		t.Fatal("Start beat every deadline, even 1ms: nothing about cancellation was checked")
	}
}
