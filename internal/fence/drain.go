package fence

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/termtext"
)

// stopAccounts records and revokes the accounts' write privileges, then
// drains their sessions.
func (fe *Fence) stopAccounts(ctx context.Context) (time.Time, error) {
	f := fe.f
	if err := fe.record(ctx); err != nil {
		return time.Time{}, fmt.Errorf("fence: journal: %w", err)
	}
	for _, u := range fe.undo.Accounts {
		if err := applyAccount(ctx, f.db, u); err != nil {
			return time.Time{}, fmt.Errorf("fence: on %s: %w", fe.source, err)
		}
	}
	stopped := time.Now()
	users := map[string]bool{}
	databaseLevel := false
	for _, u := range fe.undo.Accounts {
		users[u.User] = true
		databaseLevel = databaseLevel || u.databaseLevel()
	}
	// Sessions connected now may predate the revoke: after a database-level
	// one they keep writing until they end.
	var older map[int64]bool
	if databaseLevel {
		list, err := sessions(ctx, fe, users, nil, true)
		if err != nil {
			return time.Time{}, err
		}
		older = map[int64]bool{}
		for _, s := range list {
			older[s.ID] = true
		}
	}
	if err := fe.drain(ctx, users, older); err != nil {
		return time.Time{}, err
	}
	return stopped, nil
}

// Session is a session of a fenced account that kept the drain waiting.
type Session struct {
	ID      int64
	User    string
	Host    string // client host:port
	DB      string
	Command string
	Time    int64 // seconds in its current state
	State   string
	Info    string // the statement running, if any
	// InTransaction: it holds an open InnoDB transaction.
	InTransaction bool
	// Older: it was connected before a database-level revoke, whose
	// privileges it keeps.
	Older bool
}

// String describes the session on one line, safe for a terminal.
func (s Session) String() string {
	var why []string
	if s.Command != "Sleep" {
		why = append(why, "running")
	}
	if s.InTransaction {
		why = append(why, "in a transaction")
	}
	if s.Older {
		why = append(why, "connected before the revoke")
	}
	return fmt.Sprintf("session %d %s from %s (%s) %s %ds %s: %s", s.ID, termtext.Line(s.User), termtext.Line(s.Host),
		strings.Join(why, ", "), termtext.Line(s.Command), s.Time, termtext.Line(s.State), termtext.Line(s.Info))
}

// DrainError lists the sessions that were still active when the drain's
// wait ended. It wraps ErrDrain.
type DrainError struct {
	Server   string
	Waited   time.Duration
	Killed   bool // the sessions were killed and did not go
	Sessions []Session
}

func (e *DrainError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fence: on %s after %s", e.Server, e.Waited.Round(time.Millisecond))
	if e.Killed {
		b.WriteString(" and KILL")
	}
	fmt.Fprintf(&b, ", %d session(s) of the accounts still active:", len(e.Sessions))
	for _, s := range e.Sessions {
		b.WriteString("\n  " + s.String())
	}
	return b.String()
}

func (e *DrainError) Unwrap() error { return ErrDrain }

// drain waits until no session of users runs a statement, holds a
// transaction or is in older; then, when the wait ends, kills them
// (WithKill) and waits once more, or refuses.
func (fe *Fence) drain(ctx context.Context, users map[string]bool, older map[int64]bool) error {
	f := fe.f
	begin := time.Now()
	deadline := begin.Add(f.drainTimeout)
	killed := false
	for {
		busy, err := sessions(ctx, fe, users, older, false)
		if err != nil {
			return err
		}
		if len(busy) == 0 {
			f.log.Info("fence: drained", "fence", fe.pause.ID, "waited", time.Since(begin))
			return nil
		}
		if time.Now().After(deadline) {
			if !f.kill || killed {
				return &DrainError{Server: fe.source, Waited: time.Since(begin), Killed: killed, Sessions: busy}
			}
			for _, s := range busy {
				f.log.Warn("fence: killing session", "fence", fe.pause.ID, "session", s.String())
				_, err := f.db.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", s.ID))
				var me *mysql.MySQLError
				if err != nil && !(errors.As(err, &me) && me.Number == 1094) { // 1094: gone already
					return fmt.Errorf("fence: on %s: kill session %d: %w", fe.source, s.ID, err)
				}
				if err == nil {
					fe.mu.Lock()
					fe.killed = append(fe.killed, s)
					fe.mu.Unlock()
				}
			}
			killed = true
			deadline = time.Now().Add(f.drainTimeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fence: on %s: drain: %w", fe.source, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// sessions returns the sessions of users (but the fencer's) that run a
// statement, hold an open transaction or are in older; all of them with
// all.
func sessions(ctx context.Context, fe *Fence, users map[string]bool, older map[int64]bool, all bool) ([]Session, error) {
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	slices.Sort(names)
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	rows, err := fe.f.db.QueryContext(ctx, `SELECT p.ID, p.USER, p.HOST, COALESCE(p.DB, ''), p.COMMAND, p.TIME, COALESCE(p.STATE, ''), COALESCE(p.INFO, ''),
		EXISTS (SELECT 1 FROM information_schema.INNODB_TRX t WHERE t.trx_mysql_thread_id = p.ID)
		FROM information_schema.PROCESSLIST p WHERE p.ID <> CONNECTION_ID() AND p.USER IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ")+`) ORDER BY p.ID`, args...)
	if err != nil {
		return nil, fmt.Errorf("fence: on %s: read sessions: %w", fe.source, err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		var s Session
		if err := rows.Scan(&s.ID, &s.User, &s.Host, &s.DB, &s.Command, &s.Time, &s.State, &s.Info, &s.InTransaction); err != nil {
			return nil, fmt.Errorf("fence: on %s: read sessions: %w", fe.source, err)
		}
		s.Older = older[s.ID]
		if all || s.Older || s.Command != "Sleep" || s.InTransaction {
			out = append(out, s)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fence: on %s: read sessions: %w", fe.source, err)
	}
	return out, nil
}

// KillBlocked kills the sessions whose statements wait for the fence's
// lock (LockTables, FlushTables) and returns them. A lock queues writes
// instead of refusing them: once the application has been switched to
// another server, a write still queued here would run on this one when the
// lock goes, and be lost to the other. Killing its session makes it fail,
// so the application retries it where it now writes. Sessions waiting for
// a lock are matched by their state (a metadata, table or flush lock wait)
// and by a statement that names one of the fenced tables (namesTable:
// qualified by its database, or unqualified in a session whose default
// database is the table's); the fence's own session and the caller's are
// never killed. The other methods refuse
// writes already and have nothing queued: it returns nil for them.
func (fe *Fence) KillBlocked(ctx context.Context) ([]Session, error) {
	if fe.f.method != LockTables && fe.f.method != FlushTables {
		return nil, nil
	}
	rows, err := fe.f.db.QueryContext(ctx, `SELECT ID, USER, HOST, COALESCE(DB, ''), COMMAND, TIME, COALESCE(STATE, ''), COALESCE(INFO, '')
		FROM information_schema.PROCESSLIST
		WHERE ID NOT IN (CONNECTION_ID(), ?) AND INFO IS NOT NULL
		AND (STATE LIKE 'Waiting for table%' OR STATE LIKE 'Waiting for %metadata lock%')`, fe.undo.Session)
	if err != nil {
		return nil, fmt.Errorf("fence: on %s: read sessions: %w", fe.source, err)
	}
	var waiting []Session
	for rows.Next() {
		var s Session
		if err := rows.Scan(&s.ID, &s.User, &s.Host, &s.DB, &s.Command, &s.Time, &s.State, &s.Info); err != nil {
			rows.Close()
			return nil, fmt.Errorf("fence: on %s: read sessions: %w", fe.source, err)
		}
		if namesTable(s.Info, s.DB, fe.f.tables) {
			waiting = append(waiting, s)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fence: on %s: read sessions: %w", fe.source, err)
	}
	for _, s := range waiting {
		fe.f.log.Warn("fence: killing a session waiting for the lock", "fence", fe.pause.ID, "session", s.String())
		_, err := fe.f.db.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", s.ID))
		var me *mysql.MySQLError
		if err != nil && !(errors.As(err, &me) && me.Number == 1094) { // 1094: gone already
			return waiting, fmt.Errorf("fence: on %s: kill session %d: %w", fe.source, s.ID, err)
		}
	}
	return waiting, nil
}

// namesTable reports whether statement, run in a session whose default
// database is db, names one of tables: as database.table, or as a bare
// table in db (identifiers compared case-insensitively, quoted or bare;
// string literals and comments skipped). A statement that reaches a
// table only through a view or a routine is not recognised, and an alias
// or column spelled like the table in db counts: the match errs towards
// the fenced database's own sessions, never another database's.
func namesTable(statement, db string, tables []Table) bool {
	for _, ref := range tableRefs(statement) {
		for _, t := range tables {
			if !strings.EqualFold(ref.name, t.Name) {
				continue
			}
			if ref.db == "" && strings.EqualFold(db, t.Database) || ref.db != "" && strings.EqualFold(ref.db, t.Database) {
				return true
			}
		}
	}
	return false
}

// tableRef is an identifier of a statement, with the one before it when
// the two are joined by a dot (db.name).
type tableRef struct{ db, name string }

// tableRefs lists statement's identifiers (bare words, backquoted and
// double-quoted names; each part of a.b.c paired with the part before
// it), skipping string literals and comments.
func tableRefs(statement string) []tableRef {
	var refs []tableRef
	prev, dotted := "", false
	for i := 0; i < len(statement); {
		c := statement[i]
		switch {
		case c == '\'':
			i = skipQuoted(statement, i, c)
			prev, dotted = "", false
		case c == '#' || c == '-' && strings.HasPrefix(statement[i:], "-- "):
			for i < len(statement) && statement[i] != '\n' {
				i++
			}
		case c == '/' && strings.HasPrefix(statement[i:], "/*"):
			end := strings.Index(statement[i+2:], "*/")
			if end < 0 {
				return refs
			}
			i += end + 4
		case c == '.':
			dotted = prev != ""
			i++
		case c == '`' || c == '"' || isIdentByte(c):
			var name string
			if c == '`' || c == '"' {
				name, i = quotedName(statement, i)
			} else {
				j := i
				for j < len(statement) && isIdentByte(statement[j]) {
					j++
				}
				name, i = statement[i:j], j
			}
			ref := tableRef{name: name}
			if dotted {
				ref.db = prev
			}
			refs = append(refs, ref)
			prev, dotted = name, false
		default:
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				prev, dotted = "", false
			}
			i++
		}
	}
	return refs
}

// isIdentByte reports whether c may be part of a bare identifier (bytes of
// multi-byte UTF-8 characters included).
func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// quotedName reads the name quoted by s[i] (a backquote, or a double
// quote: an identifier under ANSI_QUOTES, taken as one always; two quotes
// inside stand for one) and returns it and the index after it.
func quotedName(s string, i int) (string, int) {
	q := s[i]
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		if s[j] != q {
			b.WriteByte(s[j])
			continue
		}
		if j+1 < len(s) && s[j+1] == q {
			b.WriteByte(q)
			j++
			continue
		}
		return b.String(), j + 1
	}
	return b.String(), len(s)
}

// skipQuoted returns the index after the string literal quoted by q
// starting at s[i] (a doubled quote or a backslash escape inside it).
func skipQuoted(s string, i int, q byte) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}
