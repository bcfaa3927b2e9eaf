// Package sandboxtest provides test helpers around package sandbox: a TestMain
// that starts throwaway MariaDB servers (or uses existing ones), and helpers
// that give each test its own database.
//
// Typical use:
//
//	var servers []*sandbox.Server
//
//	func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m, 2, &servers)) }
//
//	func TestX(t *testing.T) {
//		db := sandboxtest.Open(t, servers[0], sandboxtest.NewDatabase(t, servers[0], "x"))
//		sandboxtest.Exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY)")
//	}
package sandboxtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/sandbox"
)

// EnvDSN names the environment variable that points tests at existing
// servers instead of throwaway ones: one or more go-sql-driver DSNs
// (user:password@tcp(host:port)/) separated by whitespace. If a package needs
// more servers than given, the last one is reused (tests isolate themselves
// by database name, see NewDatabase).
const EnvDSN = "SHIFTGATE_TEST_DSN"

// startTimeout bounds starting (or connecting to) all servers in Main.
const startTimeout = 3 * time.Minute

// Main is meant to be called from TestMain as
// os.Exit(sandboxtest.Main(m, n, &servers)). It starts n throwaway servers in
// parallel, or connects to the ones listed in $SHIFTGATE_TEST_DSN, stores
// them in *servers, runs m.Run(), stops the servers and returns m.Run's exit
// code.
//
// If the servers cannot be had it prints why to stderr and returns 1 without
// running any test; in particular, with no server binary and no
// $SHIFTGATE_TEST_DSN it prints sandbox.ErrNoServerBinary's message. It never
// skips silently. With -v it logs server start and stop to stderr and prints
// how long starting took. Errors from stopping servers are printed but do not
// change the exit code.
//
// m is usually the *testing.M of TestMain; Examples wraps it for a package
// whose examples need servers.
func Main(m Runner, n int, servers *[]*sandbox.Server) int {
	if servers == nil {
		panic("sandboxtest.Main: servers must not be nil")
	}
	if !flag.Parsed() {
		flag.Parse() // for testing.Verbose; m.Run accepts already parsed flags
	}
	var logger *slog.Logger
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	begin := time.Now()
	list, source, err := obtain(ctx, n, logger)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if testing.Verbose() && n > 0 {
		fmt.Fprintf(os.Stderr, "sandboxtest: %d %s server(s) ready in %s\n", n, source, time.Since(begin).Round(time.Millisecond))
	}
	*servers = list

	code := m.Run()

	for _, s := range list {
		if err := s.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "sandboxtest: stopping server %s: %v\n", s.Addr(), err)
		}
	}
	return code
}

// Runner runs a package's tests: a *testing.M, or the wrapper Examples
// returns.
type Runner interface{ Run() int }

// The environment variables the examples of shiftgate read their servers
// from: go-sql-driver DSNs (user:password@tcp(host:port)/) of a source
// and a target server. Examples take them from the environment so that
// their code works as it is in a host module.
const (
	EnvExampleSource = "SHIFTGATE_EXAMPLE_SOURCE_DSN"
	EnvExampleTarget = "SHIFTGATE_EXAMPLE_TARGET_DSN"
)

// Examples returns a Runner for Main that, once the servers are up, points
// EnvExampleSource at the first server and EnvExampleTarget at the last,
// calls prepare to create the data the examples work on, runs m, then
// calls the cleanup prepare returned and unsets the variables. If prepare
// fails it prints why and runs nothing.
func Examples(m *testing.M, servers *[]*sandbox.Server, prepare func(ctx context.Context, source, target *sandbox.Server) (cleanup func(), err error)) Runner {
	return examples{m: m, servers: servers, prepare: prepare}
}

type examples struct {
	m       *testing.M
	servers *[]*sandbox.Server
	prepare func(ctx context.Context, source, target *sandbox.Server) (func(), error)
}

func (e examples) Run() int {
	list := *e.servers
	if len(list) == 0 {
		fmt.Fprintln(os.Stderr, "sandboxtest: the examples need a server")
		return 1
	}
	source, target := list[0], list[len(list)-1]
	os.Setenv(EnvExampleSource, source.DSN(""))
	os.Setenv(EnvExampleTarget, target.DSN(""))
	defer os.Unsetenv(EnvExampleSource)
	defer os.Unsetenv(EnvExampleTarget)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	cleanup, err := e.prepare(ctx, source, target)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandboxtest: preparing the examples:", err)
		return 1
	}
	defer cleanup()
	return e.m.Run()
}

// obtain returns n servers from $SHIFTGATE_TEST_DSN or newly started ones,
// and says which.
func obtain(ctx context.Context, n int, logger *slog.Logger) ([]*sandbox.Server, string, error) {
	if n <= 0 {
		return nil, "no", nil
	}
	dsns := strings.Fields(os.Getenv(EnvDSN))
	if len(dsns) == 0 {
		list, err := sandbox.StartN(ctx, n, sandbox.Options{Logger: logger})
		if err != nil && !errors.Is(err, sandbox.ErrNoServerBinary) {
			err = fmt.Errorf("sandboxtest: starting %d throwaway server(s): %w", n, err)
		}
		return list, "throwaway", err
	}
	list := make([]*sandbox.Server, 0, n)
	for i := range n {
		j := min(i, len(dsns)-1)
		s, err := sandbox.Connect(ctx, dsns[j])
		if err != nil {
			// The DSN holds a password: name it by position only.
			return nil, "", fmt.Errorf("sandboxtest: %s entry %d: %w", EnvDSN, j+1, err)
		}
		list = append(list, s)
	}
	return list, "existing", nil
}

// maxNameLen is MariaDB's limit on database names.
const maxNameLen = 64

// NewDatabase creates a database on s whose name is prefix, sanitised to
// lower-case letters, digits and underscores, followed by "_" and a random
// suffix, at most 64 characters in all. It registers a t.Cleanup that drops
// the database, and returns the name. It fails the test on error. The name
// is unique, so tests, even in different processes sharing one server, do
// not collide.
func NewDatabase(t testing.TB, s *sandbox.Server, prefix string) string {
	t.Helper()
	name := databaseName(prefix)
	db, err := s.Open("")
	if err != nil {
		t.Fatalf("sandboxtest: opening %s: %v", s.Addr(), err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), "CREATE DATABASE `"+name+"`"); err != nil {
		t.Fatalf("sandboxtest: CREATE DATABASE %s on %s: %v", name, s.Addr(), err)
	}
	cleanupExec(t, s, "DROP DATABASE IF EXISTS `"+name+"`")
	return name
}

// cleanupExec registers a t.Cleanup that runs stmt with args on s.
func cleanupExec(t testing.TB, s *sandbox.Server, stmt string, args ...any) {
	t.Cleanup(func() {
		// t.Context() is already canceled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := s.Open("")
		if err != nil {
			t.Errorf("sandboxtest: opening %s: %v", s.Addr(), err)
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, stmt, args...); err != nil {
			t.Errorf("sandboxtest: %s on %s: %v", stmt, s.Addr(), err)
		}
	})
}

// databaseName returns sanitised prefix + "_" + 12 random hex digits.
func databaseName(prefix string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(prefix) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	p := b.String()
	if p == "" {
		p = "db"
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:]) // never fails
	suffix := "_" + hex.EncodeToString(rnd[:])
	if len(p) > maxNameLen-len(suffix) {
		p = p[:maxNameLen-len(suffix)]
	}
	return p + suffix
}

// Open opens a connection pool as s's user on database ("" for none), checks
// that it connects, and registers a t.Cleanup that closes it. It fails the
// test on error.
func Open(t testing.TB, s *sandbox.Server, database string) *sql.DB {
	t.Helper()
	db, err := s.Open(database)
	if err != nil {
		t.Fatalf("sandboxtest: opening %s database %q: %v", s.Addr(), database, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("sandboxtest: connecting to %s database %q: %v", s.Addr(), database, err)
	}
	return db
}

// Exec runs each statement on db in order, and fails the test, quoting the
// statement, at the first one that fails. Each element is one statement
// (multi-statement strings are not enabled). Statements may run on different
// connections of the pool, so session state (USE, SET) does not carry over.
func Exec(t testing.TB, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, stmt := range stmts {
		if _, err := db.ExecContext(t.Context(), stmt); err != nil {
			t.Fatalf("sandboxtest: exec %q: %v", stmt, err)
		}
	}
}

// SetGlobalSQLMode sets the global sql_mode of servers, which sessions
// opened afterwards take, and registers a t.Cleanup that restores the old
// one. It fails the test on error. Parallel tests (t.Parallel) do not run
// while a test that does not call t.Parallel runs, so call it only from
// such a test.
func SetGlobalSQLMode(t testing.TB, mode string, servers ...*sandbox.Server) {
	t.Helper()
	for _, s := range servers {
		db := Open(t, s, "")
		var old string
		if err := db.QueryRowContext(t.Context(), "SELECT @@GLOBAL.sql_mode").Scan(&old); err != nil {
			t.Fatalf("sandboxtest: reading sql_mode of %s: %v", s.Addr(), err)
		}
		if _, err := db.ExecContext(t.Context(), "SET GLOBAL sql_mode = ?", mode); err != nil {
			t.Fatalf("sandboxtest: setting sql_mode of %s: %v", s.Addr(), err)
		}
		cleanupExec(t, s, "SET GLOBAL sql_mode = ?", old)
	}
}

// SilentHost listens on a loopback port that accepts TCP connections and
// never sends a byte, like a host whose server process hangs, and returns
// its host:port. The listener and every connection it accepted are closed
// when the test ends.
func SilentHost(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sandboxtest: silent host: %v", err)
	}
	var (
		mu   sync.Mutex
		held []net.Conn
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// replicaReady bounds the wait for a replica's threads to run.
const replicaReady = 30 * time.Second

// StartReplica starts a throwaway server that replicates from source with
// GTIDs (MASTER_USE_GTID = slave_pos), from source's current position on,
// the tables of database only (replicate_wild_do_table): database, which
// must exist on source, is created on the replica (outside its binary
// log), and whatever else source logs is skipped. It waits until both
// replication threads run, and registers a cleanup that stops the replica
// and drops the account it replicates with on source (a random name and
// a hexadecimal password, never logged). It fails the test on error; it
// skips it when the servers are existing ones ($SHIFTGATE_TEST_DSN) and
// no server binary is installed to start a replica with.
func StartReplica(t testing.TB, source *sandbox.Server, database string) *sandbox.Server {
	t.Helper()
	ctx := t.Context()
	host, ok := rowcodec.PlainString(source.Host())
	if !ok {
		t.Fatalf("sandboxtest: replica of %s: the host name needs escaping", source.Addr())
	}
	replica, err := sandbox.Start(ctx, sandbox.Options{BufferPool: "64M"})
	if errors.Is(err, sandbox.ErrNoServerBinary) && os.Getenv(EnvDSN) != "" {
		t.Skipf("sandboxtest: a replica of %s needs a throwaway server: %v", source.Addr(), err)
	}
	if err != nil {
		t.Fatalf("sandboxtest: starting a replica of %s: %v", source.Addr(), err)
	}
	t.Cleanup(func() {
		if err := replica.Close(); err != nil {
			t.Errorf("sandboxtest: stopping the replica %s: %v", replica.Addr(), err)
		}
	})
	var secret [16]byte
	_, _ = rand.Read(secret[:]) // never fails
	user, password := "repl_"+hex.EncodeToString(secret[:4]), hex.EncodeToString(secret[4:])
	src := Open(t, source, "")
	if _, err := src.ExecContext(ctx, "CREATE USER "+user+"@'%' IDENTIFIED BY '"+password+"'"); err != nil {
		t.Fatalf("sandboxtest: creating the replication account on %s failed", source.Addr()) // the error may quote the password
	}
	cleanupExec(t, source, "DROP USER IF EXISTS "+user+"@'%'")
	var pos string
	for _, q := range []struct {
		stmt string
		dst  *string
	}{{"GRANT REPLICATION SLAVE ON *.* TO " + user + "@'%'", nil}, {"SELECT @@GLOBAL.gtid_binlog_pos", &pos}} {
		var err error
		if q.dst == nil {
			_, err = src.ExecContext(ctx, q.stmt)
		} else {
			err = src.QueryRowContext(ctx, q.stmt).Scan(q.dst)
		}
		if err != nil {
			t.Fatalf("sandboxtest: %s on %s: %v", q.stmt, source.Addr(), err)
		}
	}
	rdb := Open(t, replica, "")
	c, err := rdb.Conn(ctx)
	if err != nil {
		t.Fatalf("sandboxtest: connecting to the replica %s: %v", replica.Addr(), err)
	}
	defer c.Close()
	for _, stmt := range []string{
		"RESET MASTER", // the replica's own GTIDs would be out of order with the source's
		"SET SESSION sql_log_bin = 0",
		"CREATE DATABASE `" + strings.ReplaceAll(database, "`", "``") + "`",
		"SET GLOBAL gtid_slave_pos = '" + pos + "'",
		"SET GLOBAL replicate_wild_do_table = '" + strings.ReplaceAll(database, "'", "''") + ".%'",
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %d, MASTER_USER = '%s', MASTER_PASSWORD = '%s', MASTER_CONNECT_RETRY = 1, MASTER_USE_GTID = slave_pos",
			host, source.Port(), user, password),
		"START SLAVE",
	} {
		if _, err := c.ExecContext(ctx, stmt); err != nil {
			if strings.Contains(stmt, password) {
				t.Fatalf("sandboxtest: CHANGE MASTER on the replica %s failed", replica.Addr()) // the error may quote the password
			}
			t.Fatalf("sandboxtest: %s on the replica %s: %v", stmt, replica.Addr(), err)
		}
	}
	cleanupExec(t, replica, "STOP SLAVE")
	deadline := time.Now().Add(replicaReady)
	for {
		var io, sqlThread, ioErr, sqlErr string
		err := scanNamed(ctx, c, "SHOW SLAVE STATUS", map[string]*string{"Slave_IO_Running": &io, "Slave_SQL_Running": &sqlThread, "Last_IO_Error": &ioErr, "Last_SQL_Error": &sqlErr})
		switch {
		case err != nil:
			t.Fatalf("sandboxtest: SHOW SLAVE STATUS on the replica %s: %v", replica.Addr(), err)
		case io == "Yes" && sqlThread == "Yes":
			return replica
		case time.Now().After(deadline):
			t.Fatalf("sandboxtest: the replica %s does not replicate from %s after %s: IO thread %s (%s), SQL thread %s (%s)",
				replica.Addr(), source.Addr(), replicaReady, io, ioErr, sqlThread, sqlErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// scanNamed reads the columns named in dst of query's one row.
func scanNamed(ctx context.Context, c *sql.Conn, query string, dst map[string]*string) error {
	rows, err := c.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return errors.New("no row")
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return err
	}
	for i, name := range cols {
		if p := dst[name]; p != nil {
			*p = vals[i].String
		}
	}
	return rows.Err()
}
