package migrate

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/conn"
)

// parseDSN parses a go-sql-driver DSN without repeating it (it holds a
// password) in the error, and drops its database part.
func parseDSN(side Side, dsn string) (*mysql.Config, error) {
	cfg, err := conn.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("migrate: %s DSN: %w", side, err)
	}
	cfg.DBName = ""
	return cfg, nil
}

// openSide opens a pool to one side through conn.Open: bounded connect,
// handshake and writes, the driver's log lines to the executor's logger.
// A failure is an *EndpointError wrapping ErrConnect and the *conn.Error
// that names the stage (and ErrTimeout when it timed out).
func openSide(ctx context.Context, side Side, cfg *mysql.Config, opts conn.Options) (*sql.DB, error) {
	db, err := conn.Open(ctx, cfg, opts)
	if err != nil {
		return nil, &EndpointError{Side: side, Endpoint: conn.Endpoint(cfg), Object: serverFault, Err: fmt.Errorf("%w: %w", ErrConnect, err)}
	}
	return db, nil
}

// open opens a pool of conns connections to one side of a copy, with
// session variables params (nil: none). Pools that run statements the
// server may work on for long before it answers (ALTER TABLE, a chunk's
// commit) pass long: the read timeout does not apply to them.
func (c *config) open(ctx context.Context, side Side, cfg *mysql.Config, conns int, params map[string]string, long bool) (*sql.DB, error) {
	t := c.timeouts
	if long {
		t.Read = -1
	}
	return openSide(ctx, side, cfg, conn.Options{Timeouts: t, MaxConns: conns, Params: params, Logger: c.logger})
}
