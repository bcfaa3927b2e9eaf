package conn

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Session is a session profile: the session variables a connection runs
// with and its transaction isolation level. Pools get it at connect time
// (Options.Params = s.Params()); a connection that is already open gets it
// with Apply.
type Session struct {
	vars      map[string]string // name -> SQL literal
	isolation string            // "REPEATABLE READ", "READ COMMITTED"
}

// UTC is the time zone every profile pins, so TIMESTAMP values pass as UTC
// text unchanged whatever the servers' own time zones.
const UTC = "'+00:00'"

// WriterSQLMode is the writer session's sql_mode: AUTO_INCREMENT columns
// keep 0 (NO_AUTO_VALUE_ON_ZERO), zero dates the source holds are accepted
// (no NO_ZERO_DATE), and, like mysqldump, it is not strict: generated
// columns are computed again on the target, and a value the source
// computed with a warning must not fail there.
const WriterSQLMode = "NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION"

// WriterStrictSQLMode is WriterSQLMode with STRICT_ALL_TABLES (in the
// order the server shows it), for WriterOptions.Strict.
const WriterStrictSQLMode = "NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION"

// ReaderSession is the profile of connections that read rows to copy or
// compare: UTC, an empty sql_mode (no PAD_CHAR_TO_FULL_LENGTH: CHAR values
// as stored; no ANSI_QUOTES or PIPES_AS_CONCAT changing what the readers'
// SQL means) and REPEATABLE READ, which a consistent snapshot needs.
func ReaderSession() Session {
	return Session{vars: map[string]string{"time_zone": UTC, "sql_mode": "''"}, isolation: "REPEATABLE READ"}
}

// WriterOptions choose the parts of a writer session that depend on the
// copy.
type WriterOptions struct {
	// NoUniqueChecks turns unique_checks off: only for rows that are
	// unique already (read from one consistent snapshot of a source with
	// the same unique keys).
	NoUniqueChecks bool
	// NoBinlog turns sql_log_bin off: the target's replicas do not receive
	// the rows. It needs BINLOG ADMIN (or SUPER).
	NoBinlog bool
	// Strict sets WriterStrictSQLMode instead of WriterSQLMode: a value
	// the target column cannot hold is an error, not a warning. For
	// writers that leave generated columns out and whose values the
	// source stored (row images of a change stream).
	Strict bool
}

// WriterSession is the profile of connections that write copied rows: UTC,
// WriterSQLMode (strict if o asks), no foreign key checks (rows arrive in key order, not in
// dependency order) and READ COMMITTED, plus what o asks for.
func WriterSession(o WriterOptions) Session {
	s := Session{vars: map[string]string{"time_zone": UTC, "sql_mode": "'" + WriterSQLMode + "'", "foreign_key_checks": "0"}, isolation: "READ COMMITTED"}
	if o.NoUniqueChecks {
		s.vars["unique_checks"] = "0"
	}
	if o.NoBinlog {
		s.vars["sql_log_bin"] = "0"
	}
	if o.Strict {
		s.vars["sql_mode"] = "'" + WriterStrictSQLMode + "'"
	}
	return s
}

// Params returns s as go-sql-driver session parameters for Options.Params:
// the variables, and the isolation level as tx_isolation (MariaDB's
// spelling; Open switches to MySQL 8.0's transaction_isolation when the
// server asks for it).
func (s Session) Params() map[string]string {
	p := maps.Clone(s.vars)
	if s.isolation != "" {
		p["tx_isolation"] = "'" + strings.ReplaceAll(s.isolation, " ", "-") + "'"
	}
	return p
}

// Set returns the statement that sets the profile's session variables
// (not its isolation level): what restores them after a statement ran
// under other settings.
func (s Session) Set() string {
	names := slices.Sorted(maps.Keys(s.vars))
	sets := make([]string, len(names))
	for i, n := range names {
		sets[i] = n + " = " + s.vars[n]
	}
	return "SET SESSION " + strings.Join(sets, ", ")
}

// Statements returns the statements that give a connection this profile,
// in a form every MySQL and MariaDB version reads.
func (s Session) Statements() []string {
	out := []string{s.Set()}
	if s.isolation != "" {
		out = append(out, "SET SESSION TRANSACTION ISOLATION LEVEL "+s.isolation)
	}
	return out
}

// Execer is what Apply runs statements on: a *sql.Conn (a pool would set
// the profile on one of its connections only).
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Apply gives the open connection c this profile. A connection that goes
// back to a pool afterwards carries it to its next user: Discard it.
func (s Session) Apply(ctx context.Context, c Execer) error {
	for _, stmt := range s.Statements() {
		if _, err := c.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("set session: %w", err)
		}
	}
	return nil
}

// Discard closes c's underlying connection instead of returning it to its
// pool, so that no session setting, open snapshot or lock reaches another
// user of the pool.
func Discard(c *sql.Conn) {
	_ = c.Raw(func(any) error { return driver.ErrBadConn })
	_ = c.Close()
}
