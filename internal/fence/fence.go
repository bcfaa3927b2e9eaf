package fence

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// Method is how a fence stops writes.
type Method int

// The methods; the package comment describes each.
const (
	Accounts    Method = iota + 1 // revoke the accounts' write privileges on the tables
	LockTables                    // LOCK TABLES ... WRITE on the fence's connection
	FlushTables                   // FLUSH TABLES ... WITH READ LOCK on the fence's connection
	ReadOnly                      // SET GLOBAL read_only = 1
)

var methodNames = map[Method]string{Accounts: "accounts", LockTables: "lock-tables", FlushTables: "flush-tables", ReadOnly: "read-only"}

// String is the method's name as the journal records it.
func (m Method) String() string {
	if s, ok := methodNames[m]; ok {
		return s
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

func parseMethod(s string) (Method, error) {
	for m, name := range methodNames {
		if name == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown fence method %q", s)
}

// Errors callers branch on.
var (
	// ErrNotFound: a named account or table does not exist. It is
	// schema.ErrNotFound (migrate.ErrNotFound to callers of a Sync).
	ErrNotFound = schema.ErrNotFound
	// ErrPrivilege: the fencer's account lacks a privilege the fence
	// needs. It is schema.ErrPrivilege (migrate.ErrPrivilege).
	ErrPrivilege = schema.ErrPrivilege
	// ErrBroadGrant: an account's write privilege on a table comes from a
	// grant the Accounts method cannot narrow to the fenced tables.
	ErrBroadGrant = errors.New("write privilege granted more broadly than the tables")
	// ErrBypass: a named account bypasses read_only.
	ErrBypass = errors.New("account bypasses read_only")
	// ErrOpenFence: the journal holds a fence on the server that was
	// never released (a crash): run Recover first.
	ErrOpenFence = errors.New("unreleased fence on the server")
	// ErrDrain: sessions still wrote, held transactions or (after a
	// database-level revoke) were older than the fence when the wait ended.
	ErrDrain = errors.New("sessions still active after the wait")
	// ErrLockLost: the fence's lock connection died before Release; writes
	// may have resumed since.
	ErrLockLost = errors.New("fence lock lost")
	// ErrNotRestored: an account's grants after the restore differ from
	// the ones recorded before the fence.
	ErrNotRestored = errors.New("grants not restored as they were")
)

// Account is a database account, as CREATE USER names it.
type Account struct{ User, Host string }

// String is the account as SQL writes it: `user`@`host`.
func (a Account) String() string { return schema.QuoteIdent(a.User) + "@" + schema.QuoteIdent(a.Host) }

// grantee is the account as information_schema's GRANTEE column writes it.
func (a Account) grantee() string { return "'" + a.User + "'@'" + a.Host + "'" }

// Table is a table of the source server.
type Table struct{ Database, Name string }

// String is the table's quoted, qualified name.
func (t Table) String() string { return schema.QualifiedName(t.Database, t.Name) }

// Journal is where a fence records, before changing anything, what it
// changes: a checkpoint store, prepared by the fence, on DB (a server
// other than the fenced one, usually the target, survives a failover of
// the source).
type Journal struct {
	Store *checkpoint.Store
	DB    *sql.DB
}

// Pause is the write pause of one fence.
type Pause struct {
	ID     string
	Method Method
	// Stopped is when the fence started refusing (or holding) writes, zero
	// if that is not known (a crash before it was recorded); Released when
	// writes were allowed again, zero while the fence holds.
	Stopped, Released time.Time
}

// Duration is the pause from Stopped to Released (0 while either is zero).
func (p Pause) Duration() time.Duration {
	if p.Stopped.IsZero() || p.Released.IsZero() {
		return 0
	}
	return p.Released.Sub(p.Stopped)
}

// DefaultDrainTimeout bounds the drain of a Fencer built without
// WithDrainTimeout.
const DefaultDrainTimeout = 10 * time.Second

// pollInterval is how often the drain reads the process list.
const pollInterval = 100 * time.Millisecond

// Option configures a Fencer.
type Option func(*Fencer) error

// WithAccounts names the application accounts whose writes the fence
// stops: required by Accounts; checked for read_only bypass by ReadOnly;
// refused by the lock methods, whose lock drains every session.
func WithAccounts(accounts ...Account) Option {
	return func(f *Fencer) error {
		for _, a := range accounts {
			if a.User == "" {
				return errors.New("fence: account with an empty user name")
			}
			if !slices.Contains(f.accounts, a) {
				f.accounts = append(f.accounts, a)
			}
		}
		return nil
	}
}

// WithJournal records each fence in j before it changes anything:
// required by Accounts and ReadOnly, whose changes outlive a crash; the
// lock methods record their pause there too.
func WithJournal(j Journal) Option {
	return func(f *Fencer) error {
		if j.Store == nil || j.DB == nil {
			return errors.New("fence: journal without store or database")
		}
		f.journal = &j
		return nil
	}
}

// WithDrainTimeout bounds the wait for the accounts' sessions to end their
// statements and transactions (Accounts), or for the lock or read_only to
// be had (the other methods; whole seconds, rounded up).
func WithDrainTimeout(d time.Duration) Option {
	return func(f *Fencer) error {
		if d <= 0 {
			return fmt.Errorf("fence: drain timeout %s is not positive", d)
		}
		f.drainTimeout = d
		return nil
	}
}

// WithKill (Accounts only) makes the drain kill (KILL CONNECTION) the
// sessions still active when the wait ends, and wait once more for them to
// go, instead of refusing.
func WithKill() Option {
	return func(f *Fencer) error {
		f.kill = true
		return nil
	}
}

// WithLogger logs what the fence does to l (default: nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(f *Fencer) error {
		if l == nil {
			return errors.New("fence: nil logger")
		}
		f.log = l
		return nil
	}
}

// Fencer stops writes to tables of the server behind its pool.
type Fencer struct {
	db           *sql.DB
	method       Method
	tables       []Table
	accounts     []Account
	journal      *Journal
	drainTimeout time.Duration
	kill         bool
	log          *slog.Logger
}

// New returns a Fencer that stops writes to tables on db's server by
// method. It checks the options against each other, not the server: Stop
// does that.
func New(db *sql.DB, method Method, tables []Table, opts ...Option) (*Fencer, error) {
	if db == nil {
		return nil, errors.New("fence: nil database")
	}
	if _, ok := methodNames[method]; !ok {
		return nil, fmt.Errorf("fence: unknown method %d", int(method))
	}
	f := &Fencer{db: db, method: method, drainTimeout: DefaultDrainTimeout, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if err := o(f); err != nil {
			return nil, err
		}
	}
	if len(tables) == 0 && method != ReadOnly {
		return nil, fmt.Errorf("fence: method %s needs tables", method)
	}
	seen := map[Table]bool{}
	for _, t := range tables {
		if err := schema.ValidateName("database", t.Database); err != nil {
			return nil, fmt.Errorf("fence: %w", err)
		}
		if err := schema.ValidateName("table", t.Name); err != nil {
			return nil, fmt.Errorf("fence: %w", err)
		}
		if !seen[t] {
			seen[t] = true
			f.tables = append(f.tables, t)
		}
	}
	switch method {
	case Accounts:
		if len(f.accounts) == 0 {
			return nil, errors.New("fence: method accounts needs WithAccounts")
		}
		if f.journal == nil {
			return nil, errors.New("fence: method accounts needs WithJournal: revoked grants must survive a crash")
		}
	case ReadOnly:
		if f.journal == nil {
			return nil, errors.New("fence: method read-only needs WithJournal: read_only must be restored after a crash")
		}
		if f.kill {
			return nil, errors.New("fence: method read-only does not kill sessions: their writes fail once it is set")
		}
	default:
		if len(f.accounts) > 0 {
			return nil, fmt.Errorf("fence: method %s takes no accounts: its lock waits for every session", method)
		}
		if f.kill {
			return nil, fmt.Errorf("fence: method %s does not kill sessions", method)
		}
	}
	return f, nil
}

// undo is what a fence changed and how to restore it, as the journal
// keeps it.
type undo struct {
	Accounts []accountUndo `json:"accounts,omitempty"`
	// ReadOnly is the server's read_only before the fence (ReadOnly).
	ReadOnly string `json:"read_only,omitempty"`
	// Session is the connection id holding the lock (lock methods).
	Session int64 `json:"session,omitempty"`
}

// Fence is a fence in place. Its methods are safe for concurrent use.
type Fence struct {
	f      *Fencer
	source string // the server's identity, for messages and the journal
	undo   undo
	lock   *sql.Conn

	mu    sync.Mutex
	pause Pause
	done  bool
	// killed are the sessions the drain killed (WithKill).
	killed []Session
}

// Stop checks everything it needs (accounts and tables exist, privileges,
// grants, no unreleased fence of the server in the journal), records the
// change in the journal, stops writes and drains. When it returns nil
// error, the fence holds: no write to the tables by the accounts (Accounts)
// or anyone (other methods) is in progress or can start until Release. On
// error nothing is left changed: what Stop changed is restored before it
// returns (a restore that fails is logged, left in the journal for
// Recover, and joined to the error).
func (f *Fencer) Stop(ctx context.Context) (*Fence, error) {
	source, err := serverName(ctx, f.db)
	if err != nil {
		return nil, err
	}
	fe := &Fence{f: f, source: source, pause: Pause{ID: newID(), Method: f.method}}
	if err := f.check(ctx, fe); err != nil {
		return nil, err
	}
	if f.journal != nil {
		if err := f.openJournal(ctx, fe.source); err != nil {
			return nil, err
		}
	}
	var stopped time.Time
	switch f.method {
	case Accounts:
		stopped, err = fe.stopAccounts(ctx)
	case LockTables, FlushTables:
		stopped, err = fe.stopLock(ctx)
	case ReadOnly:
		stopped, err = fe.stopReadOnly(ctx)
	}
	if err == nil && f.journal != nil {
		err = f.journal.Store.FenceStopped(ctx, f.journal.DB, fe.pause.ID, stopped)
	}
	if err != nil {
		// Restore even when ctx is what failed.
		if rerr := fe.Release(context.WithoutCancel(ctx)); rerr != nil {
			f.log.Error("fence: restoring after a failed stop", "fence", fe.pause.ID, "server", fe.source, "err", rerr)
			err = errors.Join(err, rerr)
		}
		return nil, err
	}
	fe.pause.Stopped = stopped
	f.log.Info("fence: writes stopped", "fence", fe.pause.ID, "method", f.method.String(), "server", fe.source, "tables", len(f.tables))
	return fe, nil
}

// check refuses, before anything changes, what Stop cannot do, and fills
// fe.undo with what it will change.
func (f *Fencer) check(ctx context.Context, fe *Fence) error {
	for _, t := range f.tables {
		var kind string
		err := f.db.QueryRowContext(ctx, "SELECT TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", t.Database, t.Name).Scan(&kind)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("fence: table %s on %s: %w", t, fe.source, ErrNotFound)
		}
		if err == nil && kind != "BASE TABLE" && kind != "SYSTEM VERSIONED" {
			return fmt.Errorf("fence: %s on %s is a %s, not a table: %w", t, fe.source, kind, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("fence: table %s on %s: %w", t, fe.source, err)
		}
	}
	g, err := loadGrants(ctx, f.db, f.accounts)
	if err != nil {
		return fmt.Errorf("fence: on %s: %w", fe.source, err)
	}
	switch f.method {
	case Accounts:
		if err := g.require("PROCESS", "", ""); err != nil {
			return fmt.Errorf("fence: on %s: reading the accounts' sessions: %w", fe.source, err)
		}
		if f.kill && g.require("CONNECTION ADMIN", "", "") != nil && g.require("SUPER", "", "") != nil {
			return fmt.Errorf("fence: on %s: killing the accounts' sessions: %s lacks CONNECTION ADMIN and SUPER: %w", fe.source, g.selfName, ErrPrivilege)
		}
		for _, a := range f.accounts {
			u, err := g.plan(ctx, f.db, a, f.tables)
			if err != nil {
				return fmt.Errorf("fence: on %s: %w", fe.source, err)
			}
			for _, gr := range append(append([]grantSet(nil), u.Revoked...), u.Added...) {
				for _, p := range gr.Privileges {
					if err := g.require(p, gr.Database, gr.Table); err != nil {
						return fmt.Errorf("fence: on %s: changing the grants of %s on %s: %w", fe.source, a, gr.on(), err)
					}
				}
			}
			fe.undo.Accounts = append(fe.undo.Accounts, u)
		}
	case LockTables:
		for _, t := range f.tables {
			for _, p := range []string{"LOCK TABLES", "SELECT"} {
				if err := g.require(p, t.Database, t.Name); err != nil {
					return fmt.Errorf("fence: on %s: locking %s: %w", fe.source, t, err)
				}
			}
		}
	case FlushTables:
		if err := g.require("RELOAD", "", ""); err != nil {
			return fmt.Errorf("fence: on %s: flushing tables: %w", fe.source, err)
		}
		for _, t := range f.tables {
			if err := g.require("LOCK TABLES", t.Database, t.Name); err != nil {
				return fmt.Errorf("fence: on %s: locking %s: %w", fe.source, t, err)
			}
		}
	case ReadOnly:
		if g.require("READ_ONLY ADMIN", "", "") != nil && g.require("SUPER", "", "") != nil {
			return fmt.Errorf("fence: on %s: setting read_only: %s lacks READ_ONLY ADMIN and SUPER: %w", fe.source, g.selfName, ErrPrivilege)
		}
		bypass, err := ReadOnlyBypass(ctx, f.db)
		if err != nil {
			return fmt.Errorf("fence: on %s: %w", fe.source, err)
		}
		for _, a := range f.accounts {
			for _, p := range bypass {
				if _, held := g.accounts[a].global[p]; held {
					return fmt.Errorf("fence: on %s: account %s holds %s: %w", fe.source, a, p, ErrBypass)
				}
			}
		}
		if err := f.db.QueryRowContext(ctx, "SELECT @@GLOBAL.read_only").Scan(&fe.undo.ReadOnly); err != nil {
			return fmt.Errorf("fence: on %s: read read_only: %w", fe.source, err)
		}
	}
	return nil
}

// openJournal prepares the journal, refuses when it holds an unreleased
// fence of source, and records fe's change.
func (f *Fencer) openJournal(ctx context.Context, source string) error {
	j := f.journal
	if err := j.Store.Prepare(ctx, j.DB); err != nil {
		return fmt.Errorf("fence: journal: %w", err)
	}
	open, err := j.Store.OpenFences(ctx, j.DB, source)
	if err != nil {
		return fmt.Errorf("fence: journal: %w", err)
	}
	if len(open) > 0 {
		ids := make([]string, len(open))
		for i, o := range open {
			ids[i] = o.ID + " (" + o.Method + ")"
		}
		return fmt.Errorf("fence: %s: fence %s: %w", source, strings.Join(ids, ", "), ErrOpenFence)
	}
	return nil
}

// record writes fe's change to the journal, before it is made.
func (fe *Fence) record(ctx context.Context) error {
	j := fe.f.journal
	if j == nil {
		return nil
	}
	b, err := json.Marshal(fe.undo)
	if err != nil {
		return err
	}
	return j.Store.SaveFence(ctx, j.DB, checkpoint.Fence{ID: fe.pause.ID, Source: fe.source, Method: fe.pause.Method.String(), Undo: string(b), Created: time.Now()})
}

// stopLock takes the lock on a connection of the fence's own.
func (fe *Fence) stopLock(ctx context.Context) (time.Time, error) {
	f := fe.f
	c, err := f.db.Conn(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("fence: %s: %w", fe.source, err)
	}
	fe.lock = c
	if err := c.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&fe.undo.Session); err != nil {
		return time.Time{}, fmt.Errorf("fence: %s: %w", fe.source, err)
	}
	if err := fe.record(ctx); err != nil {
		return time.Time{}, fmt.Errorf("fence: journal: %w", err)
	}
	if _, err := c.ExecContext(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", seconds(f.drainTimeout))); err != nil {
		return time.Time{}, fmt.Errorf("fence: %s: %w", fe.source, err)
	}
	names := make([]string, len(f.tables))
	for i, t := range f.tables {
		names[i] = t.String()
	}
	stmt := "LOCK TABLES " + strings.Join(names, " WRITE, ") + " WRITE"
	if f.method == FlushTables {
		stmt = "FLUSH NO_WRITE_TO_BINLOG TABLES " + strings.Join(names, ", ") + " WITH READ LOCK"
	}
	if _, err := c.ExecContext(ctx, stmt); err != nil {
		if isLockWait(err) {
			err = fmt.Errorf("%w: %w", ErrDrain, err)
		}
		return time.Time{}, fmt.Errorf("fence: %s on %s: %w", strings.Join(names, ", "), fe.source, err)
	}
	return time.Now(), nil
}

// stopReadOnly sets read_only.
func (fe *Fence) stopReadOnly(ctx context.Context) (time.Time, error) {
	f := fe.f
	if err := fe.record(ctx); err != nil {
		return time.Time{}, fmt.Errorf("fence: journal: %w", err)
	}
	c, err := f.db.Conn(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("fence: %s: %w", fe.source, err)
	}
	defer conn.Discard(c) // it carries a lock_wait_timeout of its own
	if _, err := c.ExecContext(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", seconds(f.drainTimeout))); err != nil {
		return time.Time{}, fmt.Errorf("fence: %s: %w", fe.source, err)
	}
	if _, err := c.ExecContext(ctx, "SET GLOBAL read_only = 1"); err != nil {
		if isLockWait(err) {
			err = fmt.Errorf("%w: %w", ErrDrain, err)
		}
		return time.Time{}, fmt.Errorf("fence: set read_only on %s: %w", fe.source, err)
	}
	return time.Now(), nil
}

// Pause returns the fence's pause: Released is zero until Release.
func (fe *Fence) Pause() Pause {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	return fe.pause
}

// Killed returns the sessions of the accounts that the drain killed
// (WithKill) because they were still active when its wait ended; nil when
// it killed none.
func (fe *Fence) Killed() []Session {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	return slices.Clone(fe.killed)
}

// Conn is the session holding a LockTables or FlushTables lock (nil for
// the other methods): with LockTables, the only session that can read the
// tables until Release. Do not close it, and run no statement on it that
// ends the lock (UNLOCK TABLES, LOCK TABLES, START TRANSACTION, a DDL).
func (fe *Fence) Conn() *sql.Conn { return fe.lock }

// Check reports whether the fence still holds: the lock's session is the
// one that took it (else ErrLockLost), read_only is still 1, the accounts
// still lack the write privileges revoked (someone may have granted them
// again: ErrBroadGrant or an error naming the grant). Call it just before
// acting on the fence (switching the application).
func (fe *Fence) Check(ctx context.Context) error {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	if fe.done {
		return fmt.Errorf("fence %s on %s: released", fe.pause.ID, fe.source)
	}
	f := fe.f
	switch f.method {
	case LockTables, FlushTables:
		var id int64
		if err := fe.lock.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil || id != fe.undo.Session {
			return fmt.Errorf("fence %s on %s: session %d: %w", fe.pause.ID, fe.source, fe.undo.Session, errors.Join(ErrLockLost, err))
		}
	case ReadOnly:
		var v string
		if err := f.db.QueryRowContext(ctx, "SELECT @@GLOBAL.read_only").Scan(&v); err != nil {
			return fmt.Errorf("fence %s on %s: read read_only: %w", fe.pause.ID, fe.source, err)
		}
		if v != "1" && v != "ON" {
			return fmt.Errorf("fence %s on %s: read_only is %s again", fe.pause.ID, fe.source, v)
		}
	case Accounts:
		g, err := loadGrants(ctx, f.db, f.accounts)
		if err != nil {
			return fmt.Errorf("fence %s on %s: %w", fe.pause.ID, fe.source, err)
		}
		for _, a := range f.accounts {
			u, err := g.plan(ctx, f.db, a, f.tables)
			if err != nil {
				return fmt.Errorf("fence %s on %s: %w", fe.pause.ID, fe.source, err)
			}
			if len(u.Revoked) > 0 {
				return fmt.Errorf("fence %s on %s: account %s holds %s on %s again", fe.pause.ID, fe.source, a, strings.Join(u.Revoked[0].Privileges, ", "), u.Revoked[0].on())
			}
		}
	}
	return nil
}

// Release restores what Stop changed (grants as they were, the lock
// released, read_only as it was) and closes the fence in the journal. A
// second call does nothing. When a restore fails, the fence stays open,
// for Release again or Recover. Two errors come after the fence is closed,
// as nothing is left to undo: ErrLockLost, the lock's session died before
// Release (writes may have resumed while the caller counted on the fence);
// ErrNotRestored, an account's grants differ from the ones recorded before
// the fence (someone changed them meanwhile; the log has both).
func (fe *Fence) Release(ctx context.Context) error {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	if fe.done {
		return nil
	}
	f := fe.f
	var report, err error
	switch f.method {
	case Accounts:
		report, err = restoreAccounts(ctx, f.db, fe.undo.Accounts, f.log)
	case ReadOnly:
		err = restoreReadOnly(ctx, f.db, fe.undo.ReadOnly)
	case LockTables, FlushTables:
		if fe.lock != nil {
			if _, uerr := fe.lock.ExecContext(ctx, "UNLOCK TABLES"); uerr != nil && !fe.pause.Stopped.IsZero() {
				report = fmt.Errorf("session %d: %w: %w", fe.undo.Session, ErrLockLost, uerr)
			}
			conn.Discard(fe.lock) // closing the session ends the lock in any case
		}
	}
	if err != nil {
		return fmt.Errorf("fence %s: release on %s: %w", fe.pause.ID, fe.source, err)
	}
	fe.done = true
	fe.pause.Released = time.Now()
	if j := f.journal; j != nil {
		if jerr := j.Store.ReleaseFence(ctx, j.DB, fe.pause.ID, fe.pause.Released); jerr != nil {
			// Everything is restored; Recover would restore it again, harmlessly.
			f.log.Warn("fence: released but not recorded", "fence", fe.pause.ID, "err", jerr)
		}
	}
	f.log.Info("fence: writes released", "fence", fe.pause.ID, "server", fe.source, "pause", fe.pause.Duration())
	if report != nil {
		return fmt.Errorf("fence %s: released on %s: %w", fe.pause.ID, fe.source, report)
	}
	return nil
}

// restoreReadOnly sets read_only back to old.
func restoreReadOnly(ctx context.Context, db *sql.DB, old string) error {
	v := "0"
	if old == "1" || old == "ON" {
		v = "1"
	}
	if _, err := db.ExecContext(ctx, "SET GLOBAL read_only = "+v); err != nil {
		return fmt.Errorf("restore read_only = %s: %w", v, err)
	}
	return nil
}

// Recover restores the fences the journal holds for db's server that were
// never released (their process died), oldest first, and closes them; it
// returns the pauses of those it closed (Released: now) and the errors of
// the others, joined (an account whose grants differ from the recorded
// ones, ErrNotRestored, is closed and reported). Call it only when no
// process works on those fences any more: it cannot tell a dead fencer
// from a slow one, except for a lock, whose session it finds still
// connected (then it refuses). A lock died with its session: nothing to
// restore.
func Recover(ctx context.Context, db *sql.DB, j Journal, logger *slog.Logger) ([]Pause, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	source, err := serverName(ctx, db)
	if err != nil {
		return nil, err
	}
	if err := j.Store.Prepare(ctx, j.DB); err != nil {
		return nil, fmt.Errorf("fence: recover on %s: journal: %w", source, err)
	}
	open, err := j.Store.OpenFences(ctx, j.DB, source)
	if err != nil {
		return nil, fmt.Errorf("fence: recover on %s: journal: %w", source, err)
	}
	var out []Pause
	var errs []error
	for _, rec := range open {
		p, report, err := recoverOne(ctx, db, j, rec, logger)
		if err != nil {
			errs = append(errs, fmt.Errorf("fence %s: recover on %s: %w", rec.ID, source, err))
			continue
		}
		out = append(out, p)
		if report != nil {
			errs = append(errs, fmt.Errorf("fence %s: recovered on %s: %w", rec.ID, source, report))
		}
	}
	return out, errors.Join(errs...)
}

// recoverOne restores and closes rec; report is what Release reports
// after closing.
func recoverOne(ctx context.Context, db *sql.DB, j Journal, rec checkpoint.Fence, logger *slog.Logger) (p Pause, report, err error) {
	m, err := parseMethod(rec.Method)
	if err != nil {
		return Pause{}, nil, err
	}
	var u undo
	if err := json.Unmarshal([]byte(rec.Undo), &u); err != nil {
		return Pause{}, nil, fmt.Errorf("journal record: %w", err)
	}
	switch m {
	case Accounts:
		report, err = restoreAccounts(ctx, db, u.Accounts, logger)
	case ReadOnly:
		err = restoreReadOnly(ctx, db, u.ReadOnly)
	case LockTables, FlushTables:
		var n int
		if err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", u.Session).Scan(&n); err == nil && n > 0 {
			err = fmt.Errorf("lock session %d is still connected", u.Session)
		}
	}
	if err != nil {
		return Pause{}, nil, err
	}
	p = Pause{ID: rec.ID, Method: m, Stopped: rec.Stopped, Released: time.Now()}
	if err := j.Store.ReleaseFence(ctx, j.DB, rec.ID, p.Released); err != nil {
		return Pause{}, nil, err
	}
	logger.Info("fence: recovered", "fence", rec.ID, "method", rec.Method, "stopped", rec.Stopped)
	return p, report, nil
}

// ReadOnlyBypass returns the global privileges that let a session of db's
// server write while read_only is set (any one of them does): READ_ONLY
// ADMIN on MariaDB, where SUPER no longer includes it from 10.11 on; SUPER
// before; SUPER and CONNECTION_ADMIN on MySQL.
func ReadOnlyBypass(ctx context.Context, db *sql.DB) ([]string, error) {
	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return nil, fmt.Errorf("read version: %w", err)
	}
	if !strings.Contains(version, "MariaDB") {
		return []string{"SUPER", "CONNECTION_ADMIN"}, nil
	}
	var major, minor int
	if _, err := fmt.Sscanf(version, "%d.%d", &major, &minor); err != nil {
		return nil, fmt.Errorf("read version %q: %w", version, err)
	}
	if major > 10 || (major == 10 && minor >= 11) {
		return []string{"READ_ONLY ADMIN"}, nil
	}
	return []string{"READ_ONLY ADMIN", "SUPER"}, nil
}

// serverName is the identity of db's server, as the journal records it.
func serverName(ctx context.Context, db *sql.DB) (string, error) {
	id, err := conn.Identify(ctx, db)
	if err != nil {
		return "", fmt.Errorf("fence: %w", err)
	}
	return id.String(), nil
}

// isLockWait reports a lock wait timeout (1205).
func isLockWait(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1205
}

// seconds is d in whole seconds, rounded up, at least 1.
func seconds(d time.Duration) int64 { return max(1, int64((d+time.Second-1)/time.Second)) }

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}
