package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/rollback"
	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// DefaultRollbackMaxBytes is WithRollbackSQL's default cap on one
// statement's rollback text.
const DefaultRollbackMaxBytes = 1 << 20

// WithRollbackSQL makes Statements generate, after each INSERT, REPLACE,
// UPDATE or DELETE it runs (each in its own transaction: the session is in
// autocommit mode), the SQL that undoes it, from the row images its
// transaction wrote to the target's binary log, and record it in the
// statement's StatementResult (GTID, Rollback). serverID is the replica id
// the binary log is read with: it must differ from every server's and
// replica's id. maxBytes caps one statement's rollback text (0:
// DefaultRollbackMaxBytes); a longer one is not stored, and RollbackNote
// says so.
//
// The target must be MariaDB with the binary log on in ROW format, FULL
// row image and binlog_row_metadata=FULL, and the account needs
// REPLICATION SLAVE and BINLOG MONITOR: Plan and Run refuse, before any
// statement runs, a target that lacks any of these (an *EndpointError per
// problem, wrapping ErrBinlogSettings or ErrPrivilege) rather than run
// statements whose rollback was asked for and cannot be had.
//
// A schema change gets its inverse (rollback.DDL says which), built from
// the definitions of its tables read with SHOW CREATE TABLE on the
// session just before and just after it: ADD COLUMN becomes DROP COLUMN,
// ADD INDEX DROP INDEX, a rename renames back, MODIFY and CHANGE go back
// to the column's definition before. DROP TABLE, DROP COLUMN, TRUNCATE
// and DROP DATABASE get the note "no rollback: data dropped (...)".
//
// A statement still gets no rollback, with RollbackNote saying why, when
// it is none of those (a schema change without an inverse, and others:
// "no rollback: ..."), when it changed no row, when it ran inside a transaction the script opened,
// when it exceeds the cap, or when the rollback could not be generated
// (a table without a primary key or unique NOT NULL key, say). These do
// not stop the run: the statement has already committed; each is logged
// as a warning. Rows changed by foreign key cascades are not in the
// binary log and are not undone.
func WithRollbackSQL(serverID uint32, maxBytes int) StatementsOption {
	return statementsOption(func(s *Statements) error {
		if serverID == 0 {
			return optionError("WithRollbackSQL", "server id 0 cannot read the binary log")
		}
		if maxBytes < 0 {
			return optionError("WithRollbackSQL", "negative cap %d", maxBytes)
		}
		if maxBytes == 0 {
			maxBytes = DefaultRollbackMaxBytes
		}
		s.rollback = &rollbackSQL{serverID: serverID, maxBytes: maxBytes}
		return nil
	})
}

// rollbackSQL generates the rollback of each statement.
type rollbackSQL struct {
	serverID uint32
	maxBytes int
}

// check refuses a target whose binary log cannot give rollback SQL.
func (r *rollbackSQL) check(ctx context.Context, db *sql.DB, target *mysql.Config, database string) error {
	flavor, err := serverFlavor(ctx, db)
	if err != nil {
		return &EndpointError{Side: Target, Endpoint: target.Addr, Object: serverFault, Err: err}
	}
	if flavor != binlog.MariaDB {
		return &EndpointError{Side: Target, Endpoint: target.Addr, Object: serverFault,
			Err: fmt.Errorf("%w: rollback SQL needs MariaDB (its @@last_gtid names a statement's transaction)", ErrBinlogSettings)}
	}
	_, problems := checkBinlogSource(ctx, db, target, database, flavor, "")
	for _, p := range problems {
		var ee *EndpointError
		if errors.As(p, &ee) {
			ee.Side = Target
		}
	}
	return errors.Join(problems...)
}

// rollbackMark is where the binary log stood before a DML statement, or
// the definitions of a schema change's tables before it.
type rollbackMark struct {
	start    string // @@gtid_binlog_pos
	lastGTID string // the session's @@last_gtid
	ddl      *rollback.DDL
	before   map[rowchange.Table]string
}

// before reads the position before a statement. A statement that gets no
// rollback returns a nil mark and the note that says why.
func (r *rollbackSQL) before(ctx context.Context, session *sql.Conn, text string) (*rollbackMark, string, error) {
	m := &rollbackMark{}
	switch strings.ToUpper(binlog.FirstWord(text)) {
	case "INSERT", "REPLACE", "UPDATE", "DELETE":
	case "ALTER", "CREATE", "DROP", "RENAME", "TRUNCATE":
		var database sql.NullString
		if err := session.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&database); err != nil {
			return nil, "", fmt.Errorf("reading the default database for its rollback: %w", err)
		}
		d, err := rollback.ParseDDL(text, database.String)
		if err != nil {
			return nil, ddlNote(err), nil
		}
		if m.before, err = showCreates(ctx, session, d.Tables()); err != nil {
			return nil, "", fmt.Errorf("reading the definitions for its rollback: %w", err)
		}
		m.ddl = d
	default:
		return nil, "no rollback: not an INSERT, REPLACE, UPDATE or DELETE statement nor a schema change", nil
	}
	if err := session.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos, @@SESSION.last_gtid").Scan(&m.start, &m.lastGTID); err != nil {
		return nil, "", fmt.Errorf("reading the binary log position for its rollback: %w", err)
	}
	return m, "", nil
}

// ddlNote is the RollbackNote of a schema change without an inverse.
func ddlNote(err error) string {
	if errors.Is(err, rollback.ErrDataDropped) {
		return err.Error()
	}
	return "no rollback: " + err.Error()
}

// showCreates reads SHOW CREATE TABLE of each table on the session; ""
// for a table that does not exist.
func showCreates(ctx context.Context, session *sql.Conn, tables []rowchange.Table) (map[rowchange.Table]string, error) {
	out := map[rowchange.Table]string{}
	for _, t := range tables {
		var name, create string
		err := session.QueryRowContext(ctx, "SHOW CREATE TABLE "+schema.QualifiedName(t.Schema, t.Name)).Scan(&name, &create)
		var me *mysql.MySQLError
		switch {
		case errors.As(err, &me) && (me.Number == 1146 || me.Number == 1049): // no such table, no such database
		case err != nil:
			return nil, fmt.Errorf("table %s: %w", schema.QualifiedName(t.Schema, t.Name), err)
		}
		out[t] = create
	}
	return out, nil
}

// after generates the rollback of the statement that committed after m:
// its transaction's GTID and the rollback text, or the note why none.
func (r *rollbackSQL) after(ctx context.Context, session *sql.Conn, target *mysql.Config, m *rollbackMark, affected int64) (gtid, text, note string) {
	var inTx int
	if err := session.QueryRowContext(ctx, "SELECT @@SESSION.last_gtid, @@SESSION.in_transaction").Scan(&gtid, &inTx); err != nil {
		return "", "", fmt.Sprintf("no rollback: reading the statement's GTID: %v", err)
	}
	if m.ddl != nil { // not a row change: neither its transaction nor the binary log matter
		if gtid == m.lastGTID {
			gtid = ""
		}
		text, note = ddlRollback(ctx, session, m)
		return gtid, text, note
	}
	switch {
	case inTx != 0:
		return "", "", "no rollback: the statement ran inside a transaction the script opened"
	case (gtid == m.lastGTID || gtid == "") && affected > 0:
		return "", "", "no rollback: the statement's changes are not in the binary log (sql_log_bin off, or a binlog filter)"
	case gtid == m.lastGTID || gtid == "":
		return "", "", "no rollback: the statement changed no row (it logged no transaction)"
	}
	w := &cappedBuilder{max: r.maxBytes}
	_, err := rollback.Generate(ctx, rollback.Config{DSN: target.FormatDSN(), ServerID: r.serverID,
		Start: m.start, GTID: gtid, MaxRows: int64(max(r.maxBytes/16, 1))}, w)
	switch {
	case errors.Is(err, errRollbackCap), errors.Is(err, rollback.ErrTooManyRows):
		return gtid, "", fmt.Sprintf("no rollback stored: it is longer than the cap of %d bytes", r.maxBytes)
	case errors.Is(err, rollback.ErrNotLogged):
		return gtid, "", "no rollback: the statement's transaction logged no row change"
	case err != nil:
		return gtid, "", fmt.Sprintf("no rollback: %v", err)
	}
	return gtid, w.b.String(), ""
}

// ddlRollback is the inverse of the schema change m marks, which ran on
// the session, or the note why none.
func ddlRollback(ctx context.Context, session *sql.Conn, m *rollbackMark) (text, note string) {
	after, err := showCreates(ctx, session, m.ddl.Tables())
	if err != nil {
		return "", fmt.Sprintf("no rollback: reading the definitions after the statement: %v", err)
	}
	text, err = m.ddl.Inverse(m.before, after)
	if err != nil {
		return "", ddlNote(err)
	}
	return text, ""
}

// errRollbackCap: a rollback text grew past its cap.
var errRollbackCap = errors.New("rollback text over its cap")

// cappedBuilder collects at most max bytes.
type cappedBuilder struct {
	b   strings.Builder
	max int
}

func (w *cappedBuilder) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.max {
		return 0, errRollbackCap
	}
	return w.b.Write(p)
}
