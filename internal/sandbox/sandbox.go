// Package sandbox runs throwaway MariaDB servers for tests, demo and
// benchmark programs, or wraps an existing server behind the same API.
//
// A throwaway server lives in a private temporary directory (data directory,
// binary logs, socket, error log) that Close removes. It listens on
// 127.0.0.1 on a free port, writes a row-based binary log with full row
// images and metadata, runs with gtid_strict_mode=ON and has a unique
// server_id, so it can act as a replication source or replica. Callers use
// the TCP account returned by User and Password, which has all privileges
// WITH GRANT OPTION and a random password containing punctuation that needs
// escaping.
//
// The package does not import "testing"; the helpers for tests live in the
// sandboxtest subpackage.
package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/termtext"
)

// ErrNoServerBinary is wrapped by the error Start and StartN return when the
// mariadbd or mariadb-install-db binary cannot be found. Its message tells
// the user how to fix that.
var ErrNoServerBinary = errors.New(`sandbox: mariadbd not found (install mariadb-server: run "make test", which installs it, or set SHIFTGATE_TEST_DSN to existing servers)`)

const (
	// dirPrefix begins the name of every sandbox temporary directory.
	dirPrefix = "shiftgate-mariadb-"
	// userName is the TCP account created on every throwaway server.
	userName = "shiftgate"

	ownerPIDFile  = "owner.pid"
	serverPIDFile = "mariadbd.pid"
	errorLogFile  = "error.log"
	installLog    = "install.log"
	serverOutFile = "mariadbd.out"
	socketFile    = "mysqld.sock"

	maxSocketPath  = 100 // sun_path is 108 bytes; stay well below
	readyTimeout   = 60 * time.Second
	stopTimeout    = 30 * time.Second
	portRetries    = 3
	logTailLines   = 40
	staleNoOwnerAt = time.Hour
)

// searchDirs are searched, after $PATH, for the server binaries. A variable
// so that tests can simulate a machine without MariaDB.
var searchDirs = []string{"/usr/sbin", "/usr/bin", "/usr/libexec", "/usr/local/mysql/bin"}

// serverIDCounter makes automatically chosen server ids unique within the
// process; the pid makes them unique across processes.
var serverIDCounter atomic.Uint32

// Options configure a throwaway server. The zero value is valid.
type Options struct {
	// ServerID is the server_id of the server. 0 picks one derived from the
	// process id and a per-process counter, unique among the servers this
	// process and other concurrently running processes start. Explicit ids
	// must be unique across servers that replicate with each other.
	ServerID uint32
	// Logger receives start, ready and stop events. nil discards them.
	// Passwords are never logged.
	Logger *slog.Logger
	// BaseDir is the parent of the server's temporary directory. "" means
	// os.TempDir(). It is created if missing. It must not contain whitespace
	// or shell metacharacters (mariadb-install-db cannot quote them), and the
	// socket path inside it must stay below 100 bytes, so keep it short.
	BaseDir string
	// BufferPool is innodb_buffer_pool_size, such as "256M". "" means "128M".
	BufferPool string
	// ExtraArgs are appended to mariadbd's command line after the
	// sandbox's own options, which they override (such as
	// "--skip-log-bin" or "--binlog-format=STATEMENT").
	ExtraArgs []string
}

// Server is a MariaDB server: either a throwaway one started by Start or
// StartN, or an existing one wrapped by Connect. Its methods are safe for
// concurrent use.
type Server struct {
	cfg  *mysql.Config // TCP account, DBName ""; never modified after construction
	host string
	port int

	// The rest is only set for throwaway servers.
	dir        string
	serverID   uint32
	logger     *slog.Logger
	binary     string   // mariadbd, for Restart
	bufferPool string   // innodb_buffer_pool_size, for Restart
	extraArgs  []string // Options.ExtraArgs, for Restart

	// life serialises Stop, Restart and Close, which replace or end cmd.
	life    sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd.Wait returned
	waitErr error         // cmd.Wait's result; read only after exited is closed
	stopped bool          // Stop ended cmd on purpose

	closeOnce sync.Once
	closeErr  error
}

// binaries are the absolute paths of the programs Start runs.
type binaries struct {
	server  string
	install string
}

// Start installs a fresh data directory with mariadb-install-db in a new
// private temporary directory (named shiftgate-mariadb-* under
// opts.BaseDir), starts mariadbd on 127.0.0.1 on a free port, waits until it
// accepts connections and creates the TCP account returned by User and
// Password with all privileges WITH GRANT OPTION. The only other accounts are
// mariadb.sys and root@localhost without a password, reachable only through
// the unix socket in Dir (the installer's other root accounts are dropped).
// At return the binary log holds no transaction (the accounts are changed
// with sql_log_bin=0).
//
// Before that, Start removes sandbox directories under the same base
// directory whose owning process is gone (left by a crashed test binary). It
// never signals a process it did not start.
//
// ctx bounds the installation and the wait for readiness (which also has its
// own 60 s limit); the running server is not tied to ctx: call Close. If a
// binary is missing the error wraps ErrNoServerBinary; if the server fails to
// start the error includes the tail of its error log. On error nothing is
// left behind.
func Start(ctx context.Context, opts Options) (*Server, error) {
	begin := time.Now()
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	bins, err := findBinaries()
	if err != nil {
		return nil, err
	}
	base := opts.BaseDir
	if base == "" {
		base = os.TempDir()
	}
	if base, err = filepath.Abs(base); err != nil {
		return nil, fmt.Errorf("sandbox: base directory: %w", err)
	}
	if strings.ContainsAny(base, " \t\r\n'\"\\$`;&|*?<>()") {
		// mariadb-install-db passes options to mariadbd through an unquoted
		// shell expansion.
		return nil, fmt.Errorf("sandbox: base directory %q contains whitespace or shell metacharacters, which mariadb-install-db cannot handle", base)
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox: base directory: %w", err)
	}
	removeStale(base, logger)

	dir, err := os.MkdirTemp(base, dirPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("sandbox: creating temporary directory: %w", err)
	}
	s := &Server{
		host:      "127.0.0.1",
		dir:       dir,
		serverID:  opts.ServerID,
		logger:    logger,
		binary:    bins.server,
		extraArgs: opts.ExtraArgs,
	}
	if s.serverID == 0 {
		s.serverID = autoServerID()
	}
	ok := false
	defer func() {
		if !ok {
			s.kill()
			_ = os.RemoveAll(dir)
		}
	}()

	if err := os.WriteFile(filepath.Join(dir, ownerPIDFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if sock := s.socket(); len(sock) >= maxSocketPath {
		return nil, fmt.Errorf("sandbox: socket path %q is %d bytes, must be below %d: use a shorter BaseDir", sock, len(sock), maxSocketPath)
	}
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}

	logger.Info("sandbox: installing mariadb data directory", "dir", dir, "server_id", s.serverID)
	if err := install(ctx, bins, dir); err != nil {
		return nil, err
	}

	s.bufferPool = opts.BufferPool
	if s.bufferPool == "" {
		s.bufferPool = "128M"
	}
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		err = s.launch(ctx, port)
		if err == nil {
			break
		}
		if errors.Is(err, errPortInUse) && attempt < portRetries {
			logger.Warn("sandbox: port taken, retrying with another", "port", port)
			continue
		}
		return nil, err
	}

	password, err := newPassword()
	if err != nil {
		return nil, err
	}
	if err := s.bootstrap(ctx, password); err != nil {
		return nil, err
	}
	cfg := mysql.NewConfig()
	cfg.User = userName
	cfg.Passwd = password
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(s.host, strconv.Itoa(s.port))
	s.cfg = cfg
	if err := ping(ctx, cfg); err != nil {
		return nil, fmt.Errorf("sandbox: connecting to %s as %s over TCP: %w", cfg.Addr, userName, err)
	}

	ok = true
	logger.Info("sandbox: mariadbd ready", "addr", s.Addr(), "server_id", s.serverID, "dir", dir, "duration", time.Since(begin).Round(time.Millisecond))
	return s, nil
}

// StartN starts n throwaway servers in parallel, each as Start does, and
// returns them in a slice of length n. If opts.ServerID is 0 every server
// gets its own automatic id; otherwise server i gets opts.ServerID+i. If any
// server fails, StartN stops the ones already started and returns the first
// error. n == 0 returns an empty slice.
func StartN(ctx context.Context, n int, opts Options) ([]*Server, error) {
	if n < 0 {
		return nil, fmt.Errorf("sandbox: StartN: negative count %d", n)
	}
	if n > 0 && opts.ServerID != 0 && uint64(opts.ServerID)+uint64(n-1) > math.MaxUint32 {
		return nil, fmt.Errorf("sandbox: StartN: server ids %d+%d overflow uint32", opts.ServerID, n-1)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	servers := make([]*Server, n)
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for i := range n {
		o := opts
		if o.ServerID != 0 {
			o.ServerID += uint32(i)
		}
		wg.Go(func() {
			s, err := Start(ctx, o)
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
					cancel() // stop the others early
				}
				mu.Unlock()
				return
			}
			servers[i] = s
		})
	}
	wg.Wait()
	if first != nil {
		for _, s := range servers {
			if s != nil {
				_ = s.Close()
			}
		}
		return nil, first
	}
	return servers, nil
}

// Connect wraps an existing server given as a go-sql-driver DSN of the form
// user:password@tcp(host:port)/ and checks that it accepts the credentials.
// The database name in the DSN is ignored (DSN, Config and Open take one);
// other DSN parameters are kept. The returned Server has Dir() == "" and its
// Close does nothing to the server. Errors never contain the password.
func Connect(ctx context.Context, dsn string) (*Server, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("sandbox: invalid DSN (want user:password@tcp(host:port)/): %w", err)
	}
	if cfg.Net != "tcp" {
		return nil, fmt.Errorf("sandbox: invalid DSN: network is %q, want user:password@tcp(host:port)/", cfg.Net)
	}
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("sandbox: invalid DSN address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("sandbox: invalid DSN address %q: bad port", cfg.Addr)
	}
	cfg.DBName = ""
	if err := ping(ctx, cfg); err != nil {
		return nil, fmt.Errorf("sandbox: connecting to %s as %s: %w", cfg.Addr, cfg.User, err)
	}
	return &Server{cfg: cfg, host: host, port: port}, nil
}

// Addr returns the server's TCP address as host:port, e.g. "127.0.0.1:3306".
func (s *Server) Addr() string { return s.cfg.Addr }

// Host returns the host part of Addr.
func (s *Server) Host() string { return s.host }

// Port returns the TCP port of Addr.
func (s *Server) Port() int { return s.port }

// User returns the account name callers connect with.
func (s *Server) User() string { return s.cfg.User }

// Password returns the password of User. Do not log it.
func (s *Server) Password() string { return s.cfg.Passwd }

// DSN returns a go-sql-driver DSN for User on Addr with the given default
// database, e.g. "shiftgate:pw@tcp(127.0.0.1:3306)/db". database may be "".
// The DSN contains the password: do not log it.
func (s *Server) DSN(database string) string { return s.Config(database).FormatDSN() }

// Config returns a new go-sql-driver configuration equal to DSN(database).
// The caller may modify it.
func (s *Server) Config(database string) *mysql.Config {
	c := s.cfg.Clone()
	c.DBName = database
	return c
}

// Open returns a connection pool for User on the given database (may be "").
// Like sql.Open it does not connect; the caller closes the pool.
func (s *Server) Open(database string) (*sql.DB, error) {
	connector, err := mysql.NewConnector(s.Config(database))
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return sql.OpenDB(connector), nil
}

// CreateDatabase creates database (a plain name, not quoted) and returns
// a connection pool for User on it; the caller closes the pool.
func (s *Server) CreateDatabase(ctx context.Context, database string) (*sql.DB, error) {
	admin, err := s.Open("")
	if err != nil {
		return nil, err
	}
	_, err = admin.ExecContext(ctx, "CREATE DATABASE `"+database+"`")
	admin.Close()
	if err != nil {
		return nil, fmt.Errorf("sandbox: CREATE DATABASE %s on %s: %w", database, s.Addr(), err)
	}
	return s.Open(database)
}

// Dir returns the throwaway server's temporary directory, which holds the
// data directory, binary logs, socket and error.log, or "" for a server
// wrapped by Connect. Close removes it.
func (s *Server) Dir() string { return s.dir }

// Close stops a throwaway server gracefully (SIGTERM, then SIGKILL if it has
// not exited within 30 s) and removes its temporary directory. It returns an
// error, with the tail of the error log, if the server had died before Close
// was called, or if the directory could not be removed. For a server wrapped
// by Connect it does nothing. Close is idempotent: later calls return the
// first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.shutdown() })
	return s.closeErr
}

func (s *Server) shutdown() error {
	if s.dir == "" {
		return nil // external server
	}
	s.life.Lock()
	defer s.life.Unlock()
	begin := time.Now()
	var errs []error
	if err := s.terminate("Close"); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, fmt.Errorf("sandbox: removing %s: %w", s.dir, err))
	}
	s.logger.Info("sandbox: mariadbd stopped", "addr", s.Addr(), "server_id", s.serverID, "duration", time.Since(begin).Round(time.Millisecond))
	return errors.Join(errs...)
}

// Stop stops a throwaway server gracefully (SIGTERM, then SIGKILL if it
// has not exited within 30 s), keeping its directory, data and port, so
// that Restart can start it again: a test's way to take a server away
// from its clients. Stopping a stopped server does nothing. It returns an
// error, with the tail of the error log, if the server had died before,
// and for a server wrapped by Connect, which it leaves alone. Close
// after Stop removes the directory.
func (s *Server) Stop() error {
	if s.dir == "" {
		return fmt.Errorf("sandbox: Stop: %s is not a throwaway server", s.Addr())
	}
	s.life.Lock()
	defer s.life.Unlock()
	if s.stopped {
		return nil
	}
	err := s.terminate("Stop")
	s.stopped = true
	s.logger.Info("sandbox: mariadbd stopped for a restart", "addr", s.Addr(), "server_id", s.serverID)
	return err
}

// Restart starts a throwaway server again on its data directory and port,
// stopping it first (as Stop does) if it runs, and waits until it accepts
// connections: the same address, accounts and data, a new process. ctx
// bounds the wait (which also has its own 60 s limit). It fails if the
// port was taken meanwhile or the server does not start, with the tail of
// the error log; the server is then stopped, and Restart may be called
// again. For a server wrapped by Connect it returns an error.
func (s *Server) Restart(ctx context.Context) error {
	if s.dir == "" {
		return fmt.Errorf("sandbox: Restart: %s is not a throwaway server", s.Addr())
	}
	s.life.Lock()
	defer s.life.Unlock()
	if !s.stopped {
		if err := s.terminate("Restart"); err != nil {
			return err
		}
		s.stopped = true
	}
	begin := time.Now()
	var err error
	for attempt := 0; ; attempt++ {
		// The old process's listening socket may linger for a moment.
		if err = s.launch(ctx, s.port); err == nil || !errors.Is(err, errPortInUse) || attempt >= portRetries {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sandbox: restarting %s: %w", s.Addr(), context.Cause(ctx))
		case <-time.After(time.Second):
		}
	}
	if err != nil {
		return fmt.Errorf("sandbox: restarting %s: %w", s.Addr(), err)
	}
	s.stopped = false
	s.logger.Info("sandbox: mariadbd restarted", "addr", s.Addr(), "server_id", s.serverID, "duration", time.Since(begin).Round(time.Millisecond))
	return nil
}

// terminate ends the server process gracefully (SIGTERM, SIGKILL after
// stopTimeout) unless it is stopped; s.life held. It returns an error if
// the process had died by itself; op names the caller in it.
func (s *Server) terminate(op string) error {
	if s.cmd == nil || s.stopped {
		return nil
	}
	select {
	case <-s.exited:
		return fmt.Errorf("sandbox: mariadbd on %s had exited before %s (%v)%s", s.Addr(), op, s.waitErr, s.logTail(0))
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.logger.Warn("sandbox: mariadbd did not stop after SIGTERM, killing it", "addr", s.Addr(), "timeout", stopTimeout)
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	return nil
}

// kill SIGKILLs the server if it is running and waits for it.
func (s *Server) kill() {
	if s.cmd == nil {
		return
	}
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *Server) socket() string { return filepath.Join(s.dir, socketFile) }

// errPortInUse marks a launch that failed because the port was taken between
// freePort and mariadbd's bind.
var errPortInUse = errors.New("port already in use")

// launch starts mariadbd on port and waits until it answers on its socket.
// On error the process is gone.
func (s *Server) launch(ctx context.Context, port int) error {
	server, bufferPool, extra := s.binary, s.bufferPool, s.extraArgs
	logPath := filepath.Join(s.dir, errorLogFile)
	var logOffset int64
	if fi, err := os.Stat(logPath); err == nil {
		logOffset = fi.Size()
	}
	args := []string{
		"--no-defaults",
		"--datadir=" + filepath.Join(s.dir, "data"),
		"--socket=" + s.socket(),
		"--port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1",
		"--log-bin=" + filepath.Join(s.dir, "binlog"),
		"--binlog-format=ROW",
		"--binlog-row-image=FULL",
		"--binlog-row-metadata=FULL",
		"--server-id=" + strconv.FormatUint(uint64(s.serverID), 10),
		"--log-slave-updates",
		"--gtid-strict-mode=ON",
		"--local-infile=1",
		"--skip-name-resolve",
		"--max-connections=300",
		"--innodb-buffer-pool-size=" + bufferPool,
		"--innodb-log-file-size=256M",
		"--innodb-flush-log-at-trx-commit=2",
		"--sync-binlog=0",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
		"--log-error=" + logPath,
		"--pid-file=" + filepath.Join(s.dir, serverPIDFile),
		"--tmpdir=" + filepath.Join(s.dir, "tmp"),
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	args = append(args, extra...)
	out, err := os.OpenFile(filepath.Join(s.dir, serverOutFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(server, args...)
	cmd.Dir = s.dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = procAttr()
	s.logger.Info("sandbox: starting mariadbd", "addr", net.JoinHostPort(s.host, strconv.Itoa(port)), "server_id", s.serverID, "dir", s.dir)
	s.logger.Debug("sandbox: mariadbd command", "path", server, "args", args)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("sandbox: starting %s: %w", server, err)
	}
	exited := make(chan struct{})
	s.cmd, s.exited, s.port = cmd, exited, port
	go func() {
		s.waitErr = cmd.Wait()
		close(exited)
	}()

	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	db := sql.OpenDB(s.rootConnector())
	defer db.Close()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		lastErr = db.PingContext(pctx)
		pcancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-exited:
			tail := s.logTail(logOffset)
			if strings.Contains(tail, "Address already in use") || strings.Contains(tail, "Bind on TCP/IP port") {
				return fmt.Errorf("sandbox: mariadbd on port %d: %w", port, errPortInUse)
			}
			return fmt.Errorf("sandbox: mariadbd exited during startup (%v)%s", s.waitErr, tail)
		case <-ctx.Done():
			s.kill()
			return fmt.Errorf("sandbox: mariadbd not ready (%w; last error: %v)%s", context.Cause(ctx), lastErr, s.logTail(logOffset))
		case <-tick.C:
		}
	}
}

// rootConnector connects as root over the unix socket (root@localhost has no
// password and is only reachable through the socket).
func (s *Server) rootConnector() driver.Connector {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "unix"
	cfg.Addr = s.socket()
	cfg.Timeout = 2 * time.Second
	cfg.Logger = nopLogger{}
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		panic(err) // unreachable: the configuration is static
	}
	return c
}

// bootstrap removes every account except root@localhost and mariadb.sys and
// creates the TCP account, without writing to the binary log.
func (s *Server) bootstrap(ctx context.Context, password string) error {
	db := sql.OpenDB(s.rootConnector())
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sandbox: connecting as root over %s: %w", s.socket(), err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET SESSION sql_log_bin = 0"); err != nil {
		return fmt.Errorf("sandbox: bootstrap: %w", err)
	}
	rows, err := conn.QueryContext(ctx, "SELECT User, Host FROM mysql.user WHERE (User = 'root' AND Host <> 'localhost') OR User = ''")
	if err != nil {
		return fmt.Errorf("sandbox: bootstrap: listing accounts: %w", err)
	}
	var drop []string
	for rows.Next() {
		var user, host string
		if err := rows.Scan(&user, &host); err != nil {
			rows.Close()
			return fmt.Errorf("sandbox: bootstrap: listing accounts: %w", err)
		}
		u, uok := rowcodec.PlainString(user)
		h, hok := rowcodec.PlainString(host)
		if !uok || !hok {
			rows.Close()
			return fmt.Errorf("sandbox: bootstrap: account %s@%s has characters no quoted name can hold under every sql_mode", termtext.Line(user), termtext.Line(host))
		}
		drop = append(drop, u+"@"+h)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("sandbox: bootstrap: listing accounts: %w", err)
	}
	if len(drop) > 0 {
		if _, err := conn.ExecContext(ctx, "DROP USER "+strings.Join(drop, ", ")); err != nil {
			return fmt.Errorf("sandbox: bootstrap: dropping default accounts: %w", err)
		}
	}
	account := "'" + userName + "'@'%'" // userName is plain text
	if _, err := conn.ExecContext(ctx, "CREATE USER "+account+" IDENTIFIED BY PASSWORD '"+nativePasswordHash(password)+"'"); err != nil {
		// The server's message may quote the statement, which holds the password.
		var me *mysql.MySQLError
		if errors.As(err, &me) {
			return fmt.Errorf("sandbox: bootstrap: CREATE USER %s failed with error %d", account, me.Number)
		}
		return fmt.Errorf("sandbox: bootstrap: CREATE USER %s failed", account)
	}
	if _, err := conn.ExecContext(ctx, "GRANT ALL PRIVILEGES ON *.* TO "+account+" WITH GRANT OPTION"); err != nil {
		return fmt.Errorf("sandbox: bootstrap: GRANT: %w", err)
	}
	return nil
}

// logTail returns the last lines of error.log after offset, formatted to be
// appended to an error message, or "" if there are none.
func (s *Server) logTail(offset int64) string {
	return tail(filepath.Join(s.dir, errorLogFile), offset, "error.log")
}

// tail returns the last logTailLines lines of path from offset on as
// "\n--- name (last lines) ---\n...".
func tail(path string, offset int64, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const maxBytes = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size()-offset > maxBytes {
		offset = fi.Size() - maxBytes
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	text := strings.Join(lines, "\n")
	if strings.TrimSpace(text) == "" {
		return ""
	}
	return fmt.Sprintf("\n--- %s (last %d lines) ---\n%s", name, len(lines), text)
}

// install runs mariadb-install-db into dir/data, logging to dir/install.log.
func install(ctx context.Context, bins binaries, dir string) error {
	logPath := filepath.Join(dir, installLog)
	out, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	defer out.Close()
	args := []string{
		"--no-defaults",
		"--auth-root-authentication-method=normal",
		"--skip-test-db",
		"--skip-name-resolve",
		"--datadir=" + filepath.Join(dir, "data"),
		// Private tmpdir: the bootstrap's temporary tables in a shared /tmp
		// were seen to vanish under concurrent installs.
		"--tmpdir=" + filepath.Join(dir, "tmp"),
		"--innodb-log-file-size=256M", // as the server uses, so it need not resize the log
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	cmd := exec.CommandContext(ctx, bins.install, args...)
	cmd.Dir = dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = procAttr() // own process group, led by the script
	// The script runs a bootstrap mariadbd as its child. On cancellation
	// kill the whole group, or that child would go on writing into the
	// directory we are about to remove. The script is not reaped yet when
	// Cancel runs, so the group id still names our group only.
	cmd.Cancel = func() error { return killGroup(cmd.Process) }
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("sandbox: %s: %w", filepath.Base(bins.install), context.Cause(ctx))
		}
		return fmt.Errorf("sandbox: %s failed: %w%s", filepath.Base(bins.install), err, tail(logPath, 0, installLog))
	}
	return nil
}

// findBinaries locates mariadbd and mariadb-install-db.
func findBinaries() (binaries, error) {
	server, err := findBinary("mariadbd")
	if err != nil {
		return binaries{}, err
	}
	inst, err := findBinary("mariadb-install-db")
	if err != nil {
		return binaries{}, err
	}
	return binaries{server: server, install: inst}, nil
}

// findBinary looks for name in $PATH, then in searchDirs.
func findBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil && filepath.IsAbs(p) {
		return p, nil
	}
	for _, d := range searchDirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	where := append([]string{"$PATH"}, searchDirs...)
	return "", fmt.Errorf("%w: %s is not in %s", ErrNoServerBinary, name, strings.Join(where, ", "))
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("sandbox: finding a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("sandbox: finding a free port: %w", err)
	}
	return port, nil
}

// autoServerID returns a non-zero server id from the pid (up to 22 bits, the
// Linux maximum) and a per-process counter (10 bits).
func autoServerID() uint32 {
	id := uint32(os.Getpid()&0x3fffff)<<10 | serverIDCounter.Add(1)&0x3ff
	if id == 0 {
		id = 1
	}
	return id
}

// passwordChars are the characters of generated passwords: no @ / ( ) ? &
// which could confuse DSN parsers, but quotes, backslash, # and ; which need
// escaping in SQL and shells.
const (
	passwordLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	passwordPunct   = `#;"\'!%^*-_=+.,~`
	passwordMust    = `#;"\'`
	passwordLen     = 24
)

// newPassword returns a random password of passwordLen characters that
// contains every character of passwordMust.
func newPassword() (string, error) {
	alphabet := passwordLetters + passwordPunct
	buf := make([]byte, passwordLen)
	rnd := make([]byte, 2*passwordLen)
	if _, err := rand.Read(rnd); err != nil {
		return "", fmt.Errorf("sandbox: random password: %w", err)
	}
	for i := range buf {
		buf[i] = alphabet[int(rnd[i])%len(alphabet)]
	}
	// Put each required character at a distinct random position.
	perm := make([]int, passwordLen)
	for i := range perm {
		perm[i] = i
	}
	for i := passwordLen - 1; i > 0; i-- {
		j := int(rnd[passwordLen+i]) % (i + 1)
		perm[i], perm[j] = perm[j], perm[i]
	}
	for i := range len(passwordMust) {
		buf[perm[i]] = passwordMust[i]
	}
	return string(buf), nil
}

// nativePasswordHash is password's mysql_native_password hash, as
// PASSWORD() computes it: "*" and the upper-case hex of SHA1(SHA1(password)).
// CREATE USER ... IDENTIFIED BY PASSWORD takes it in a quoted string that
// reads the same under every sql_mode, which the password (it holds a
// backslash and quotes) would not.
func nativePasswordHash(password string) string {
	h := sha1.Sum([]byte(password))
	h = sha1.Sum(h[:])
	return "*" + strings.ToUpper(hex.EncodeToString(h[:]))
}

// ping opens a pool for cfg, pings it within 15 s (or ctx) and closes it.
func ping(ctx context.Context, cfg *mysql.Config) error {
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// nopLogger silences go-sql-driver's own logging while polling a starting
// server.
type nopLogger struct{}

func (nopLogger) Print(...any) {}
