// Package conn opens connections to MySQL and MariaDB servers: DSNs parsed
// without repeating their passwords, bounded connect, read and write times,
// the driver's own log lines through slog, the session profiles of readers
// and writers, the server's named locks, and the identity of the server
// behind a connection.
package conn

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Default timeouts. A pool that runs statements the server may work on for
// a long time before its first reply (ALTER TABLE, whole-table checksums,
// bulk loads) keeps Read at 0 and is bounded by its context instead.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultWriteTimeout   = 60 * time.Second
)

// keepAlive is the TCP keep-alive period of every connection, so that a
// peer that vanished is noticed even while a statement runs.
const keepAlive = 15 * time.Second

// Timeouts bound every connection the project opens. A zero field takes its
// default; a negative one disables that bound.
type Timeouts struct {
	// Connect bounds the TCP dial plus the protocol handshake
	// (greeting, authentication, session set-up). Default 10s.
	Connect time.Duration
	// Read bounds each packet read from the server. Default: none.
	Read time.Duration
	// Write bounds each packet written to the server. Default 60s.
	Write time.Duration
}

// DefaultTimeouts returns the timeouts Open uses for zero fields.
func DefaultTimeouts() Timeouts {
	return Timeouts{Connect: DefaultConnectTimeout, Write: DefaultWriteTimeout}
}

// withDefaults fills zero fields with the defaults and turns negative ones
// into 0 (no bound), the driver's spelling.
func (t Timeouts) withDefaults() Timeouts {
	d := DefaultTimeouts()
	pick := func(v, def time.Duration) time.Duration {
		switch {
		case v < 0:
			return 0
		case v == 0:
			return def
		}
		return v
	}
	return Timeouts{Connect: pick(t.Connect, d.Connect), Read: pick(t.Read, d.Read), Write: pick(t.Write, d.Write)}
}

// ErrTimeout is wrapped by errors of a connection stage that did not finish
// in time.
var ErrTimeout = errors.New("timed out")

// Connection stages named by Error.
const (
	StageDial      = "dial"      // TCP or socket connect
	StageHandshake = "handshake" // greeting, authentication, session variables
	StagePing      = "ping"      // the first round trip on an open connection
)

// Error is a failure to connect: it names the endpoint and the stage.
type Error struct {
	Endpoint string // host:port or socket path
	Stage    string // StageDial, StageHandshake or StagePing
	Err      error
}

func (e *Error) Error() string {
	return fmt.Sprintf("connect to %s: %s: %v", e.Endpoint, e.Stage, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ParseDSN parses a go-sql-driver DSN. Its error never repeats the DSN,
// which may hold a password.
func ParseDSN(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("invalid DSN (want user@tcp(host:port)/database): %w", err)
	}
	return cfg, nil
}

// Endpoint is the host:port (or socket path) of cfg, for messages; it never
// holds the password.
func Endpoint(cfg *mysql.Config) string { return cfg.Addr }

// Options of Open.
type Options struct {
	Timeouts Timeouts          // zero fields take the defaults
	MaxConns int               // open and idle connections; 0: database/sql's defaults
	Params   map[string]string // session variables set on every connection (turns interpolateParams on)
	Logger   *slog.Logger      // receives go-sql-driver's own log lines; nil discards them
}

// Open opens a pool to cfg's server (cfg.DBName is kept; cfg itself is not
// changed) and pings it: dial and handshake within Timeouts.Connect, the
// ping's round trip within as long again. Every connection of the
// pool, including those opened later, is bounded by the timeouts and keeps
// TCP keep-alives on. A failure is an *Error naming the endpoint and the
// stage; errors.Is(err, ErrTimeout) tells a timeout.
//
// The session isolation level is spelled tx_isolation on MariaDB before
// 11.1 and transaction_isolation on MySQL 8.0: when the server does not
// know the spelling opts.Params uses, Open tries the other once.
func Open(ctx context.Context, cfg *mysql.Config, opts Options) (*sql.DB, error) {
	db, err := open(ctx, cfg, opts)
	var me *mysql.MySQLError
	if err == nil || !errors.As(err, &me) || me.Number != errUnknownSystemVariable {
		return db, err
	}
	for _, pair := range [][2]string{{"tx_isolation", "transaction_isolation"}, {"transaction_isolation", "tx_isolation"}} {
		if v, ok := opts.Params[pair[0]]; ok && strings.Contains(me.Message, pair[0]) {
			opts.Params = maps.Clone(opts.Params)
			delete(opts.Params, pair[0])
			opts.Params[pair[1]] = v
			return open(ctx, cfg, opts)
		}
	}
	return nil, err
}

// errUnknownSystemVariable is ER_UNKNOWN_SYSTEM_VARIABLE.
const errUnknownSystemVariable = 1193

func open(ctx context.Context, cfg *mysql.Config, opts Options) (*sql.DB, error) {
	t := opts.Timeouts.withDefaults()
	c, err := newConnector(cfg, t, opts)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	if opts.MaxConns > 0 {
		db.SetMaxOpenConns(opts.MaxConns)
		db.SetMaxIdleConns(opts.MaxConns)
	}
	// The connector bounds dial and handshake by t.Connect; the ping's own
	// bound is twice that, so that a slow handshake is reported as such.
	pctx := ctx
	if t.Connect > 0 {
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(ctx, 2*t.Connect)
		defer cancel()
	}
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		var ce *Error
		if errors.As(err, &ce) {
			return nil, ce
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w after %s", ErrTimeout, 2*t.Connect)
		}
		return nil, &Error{Endpoint: Endpoint(cfg), Stage: StagePing, Err: err}
	}
	return db, nil
}

// connector wraps the driver's connector so that each new connection's
// dial and handshake together finish within the connect timeout, and a
// failure says which of them failed.
type connector struct {
	inner    driver.Connector
	endpoint string
	connect  time.Duration
}

// dialedKey marks, in a Connect call's context, where the dial records
// that it succeeded.
type dialedKey struct{}

func newConnector(cfg *mysql.Config, t Timeouts, opts Options) (*connector, error) {
	cl := cfg.Clone()
	cl.Timeout, cl.ReadTimeout, cl.WriteTimeout = t.Connect, t.Read, t.Write
	if opts.Params != nil {
		cl.InterpolateParams = true
		cl.Params = maps.Clone(cl.Params)
		if cl.Params == nil {
			cl.Params = map[string]string{}
		}
		maps.Copy(cl.Params, opts.Params)
	}
	cl.Logger = driverLogger{opts.Logger}
	dialer := &net.Dialer{KeepAlive: keepAlive}
	cl.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err == nil {
			if dialed, ok := ctx.Value(dialedKey{}).(*bool); ok {
				*dialed = true
			}
		}
		return c, err
	}
	inner, err := mysql.NewConnector(cl)
	if err != nil {
		return nil, &Error{Endpoint: Endpoint(cfg), Stage: StageDial, Err: err}
	}
	return &connector{inner: inner, endpoint: Endpoint(cfg), connect: t.Connect}, nil
}

func (c *connector) Driver() driver.Driver { return c.inner.Driver() }

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	var dialed bool
	cctx := context.WithValue(ctx, dialedKey{}, &dialed)
	if c.connect > 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(cctx, c.connect)
		defer cancel()
	}
	dc, err := c.inner.Connect(cctx)
	if err == nil {
		return dc, nil
	}
	stage := StageDial
	if dialed {
		stage = StageHandshake
	}
	if ctx.Err() == nil && (cctx.Err() != nil || isTimeout(err)) {
		err = fmt.Errorf("%w after %s", ErrTimeout, c.connect)
	}
	return nil, &Error{Endpoint: c.endpoint, Stage: stage, Err: err}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// driverLogger passes go-sql-driver's log lines (such as "packets.go:58
// unexpected EOF") to slog instead of the driver's default, stderr.
type driverLogger struct{ l *slog.Logger }

func (d driverLogger) Print(v ...any) {
	if d.l != nil {
		d.l.Warn("mysql driver", "message", fmt.Sprint(v...))
	}
}
