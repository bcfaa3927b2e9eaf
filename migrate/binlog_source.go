package migrate

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// serverFlavor is the binlog flavor of the server db reaches.
func serverFlavor(ctx context.Context, db *sql.DB) (string, error) {
	return binlog.ServerFlavor(ctx, db)
}

// checkBinlogSource checks that the binary log of the server at cfg (db
// its pool) serves a stream from start ("": from now on) and that its
// account may read it and its positions; it returns the source's facts
// and the problems, each an *EndpointError.
func checkBinlogSource(ctx context.Context, db *sql.DB, cfg *mysql.Config, database, flavor, start string) (binlog.Source, []error) {
	return checkBinlogServer(ctx, db, cfg, Source, database, flavor, start)
}

// checkBinlogServer is checkBinlogSource of a server on either side: a
// reverse sync reads the target's binary log.
func checkBinlogServer(ctx context.Context, db *sql.DB, cfg *mysql.Config, side Side, database, flavor, start string) (binlog.Source, []error) {
	fault := func(err error) error {
		return &EndpointError{Side: side, Endpoint: conn.Endpoint(cfg), Object: serverFault, Err: err}
	}
	if start == "" {
		pos, err := binlog.CurrentPosition(ctx, db, flavor)
		if err != nil {
			return binlog.Source{}, []error{fault(err)}
		}
		start = pos
	}
	var problems []error
	source, err := binlog.Check(ctx, db, conn.Endpoint(cfg), start)
	if err != nil {
		problems = append(problems, fault(fmt.Errorf("%w: %w", ErrBinlogSettings, err)))
	}
	privs, err := schema.LoadPrivileges(ctx, db, database)
	if err != nil {
		return source, append(problems, fault(err))
	}
	if !privs.HasAny("REPLICATION SLAVE", "SUPER") {
		problems = append(problems, fault(fmt.Errorf("%w: user %s lacks REPLICATION SLAVE, needed to read the binary log", ErrPrivilege, privs.User)))
	}
	if !privs.HasAny("BINLOG MONITOR", "REPLICATION CLIENT", "SUPER") {
		problems = append(problems, fault(fmt.Errorf("%w: user %s lacks BINLOG MONITOR (or REPLICATION CLIENT), needed to read binary log positions", ErrPrivilege, privs.User)))
	}
	return source, problems
}
