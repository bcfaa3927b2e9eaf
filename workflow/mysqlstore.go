package workflow

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/dbmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MySQLStore is a Store in MySQL 8 or MariaDB 10.6+ tables (shiftgate_tickets,
// shiftgate_audit), shared safely by several processes: transitions lock
// the ticket's row, claims use SELECT ... FOR UPDATE SKIP LOCKED.
type MySQLStore struct {
	db *sql.DB
}

var _ Store = (*MySQLStore)(nil)

// NewMySQLStore returns a store in db's default database, creating or
// upgrading its tables first (Migrate). Times are stored in UTC: db's DSN
// must keep the driver's default loc (UTC). Times keep microseconds.
func NewMySQLStore(ctx context.Context, db *sql.DB) (*MySQLStore, error) {
	if db == nil {
		return nil, errors.New("workflow: NewMySQLStore: nil db")
	}
	s := &MySQLStore{db: db}
	if err := s.Migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// SchemaVersion is the schema version this library's migrations reach.
func SchemaVersion() int { return storeSchema.Latest() }

// storeSchema is the store's tables and their migrations.
var storeSchema = func() *dbmigrate.Schema {
	list, err := dbmigrate.Load(migrations, "migrations")
	if err != nil {
		panic(err) // unreachable: the files are embedded
	}
	return &dbmigrate.Schema{What: "store", Table: "shiftgate_schema_version", Lock: "shiftgate_workflow_schema", Migrations: list, Err: ErrStoreVersion}
}()

// Migrate creates or upgrades the store's tables to SchemaVersion, one
// versioned migration at a time, recorded in shiftgate_schema_version. It
// holds a named lock so that processes starting together migrate once, and
// refuses a schema newer than the library.
func (s *MySQLStore) Migrate(ctx context.Context) error {
	if err := storeSchema.Migrate(ctx, s.db); err != nil {
		return fmt.Errorf("workflow: %w", err)
	}
	return nil
}

const ticketColumns = "client_key, kind, title, submitter, instance, source_instance, database_name, sql_text, state, version, not_before, not_after, worker, error_code, lease_until, created_at, updated_at, body"

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// row returns the column values of t, in ticketColumns' order.
func row(t *Ticket) ([]any, error) {
	body, err := json.Marshal(t)
	if err != nil {
		return nil, wrapf(err, "store: encoding ticket #%d", t.ID)
	}
	var key any
	if t.ClientKey != "" {
		key = t.ClientKey
	}
	var nb, na any
	if t.Window != nil {
		nb, na = nullTime(t.Window.NotBefore), nullTime(t.Window.NotAfter)
	}
	return []any{key, string(t.Kind), t.Title, t.Submitter, t.Instance, t.SourceInstance(), t.Database, t.SQL,
		t.State.String(), t.Version, nb, na, t.Worker, string(t.ErrorCode), nullTime(t.LeaseUntil), t.CreatedAt.UTC(), t.UpdatedAt.UTC(), string(body)}, nil
}

func decode(body string) (*Ticket, error) {
	var t Ticket
	if err := json.Unmarshal([]byte(body), &t); err != nil {
		return nil, wrapf(err, "store: decoding a ticket")
	}
	return &t, nil
}

func isMySQLError(err error, numbers ...uint16) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && slices.Contains(numbers, me.Number)
}

// inTx runs f in a transaction, retrying deadlocks.
func (s *MySQLStore) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return wrapf(err, "store")
		}
		err = f(tx)
		if err == nil {
			err = tx.Commit()
		} else {
			_ = tx.Rollback()
		}
		if isMySQLError(err, 1213) && attempt < 5 {
			continue
		}
		return err
	}
}

func insertAudit(ctx context.Context, tx *sql.Tx, a AuditEntry) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO shiftgate_audit (ticket_id, actor, action, from_state, to_state, comment, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		a.Ticket, a.Actor, string(a.Action), a.From.String(), a.To.String(), a.Comment, a.At.UTC())
	return err
}

// write stores t (which exists) and its audit entry.
func write(ctx context.Context, tx *sql.Tx, t *Ticket, a AuditEntry) error {
	vals, err := row(t)
	if err != nil {
		return err
	}
	cols := strings.Split(ticketColumns, ", ")
	set := make([]string, len(cols))
	for i, c := range cols {
		set[i] = c + " = ?"
	}
	if _, err := tx.ExecContext(ctx, "UPDATE shiftgate_tickets SET "+strings.Join(set, ", ")+" WHERE id = ?", append(vals, t.ID)...); err != nil {
		return wrapf(err, "store: ticket #%d", t.ID)
	}
	if a.Action != "" {
		if err := insertAudit(ctx, tx, a); err != nil {
			return wrapf(err, "store: audit of ticket #%d", t.ID)
		}
	}
	return nil
}

func lockTicket(ctx context.Context, tx *sql.Tx, id int64) (*Ticket, error) {
	var body string
	err := tx.QueryRowContext(ctx, "SELECT body FROM shiftgate_tickets WHERE id = ? FOR UPDATE", id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, wrapf(ErrNotFound, "ticket #%d", id)
	}
	if err != nil {
		return nil, wrapf(err, "store: ticket #%d", id)
	}
	return decode(body)
}

// Create implements Store. A repeat of a known client key is answered by
// a lookup, before any insert, so that it consumes no ticket id; an
// insert that loses a race for the key finds the winner's ticket.
func (s *MySQLStore) Create(ctx context.Context, t *Ticket, at time.Time) (*Ticket, bool, error) {
	if t.ClientKey != "" {
		first, err := s.byClientKey(ctx, t.ClientKey)
		if first != nil || err != nil {
			return first, false, err
		}
	}
	c := t.Clone()
	c.ID, c.Version, c.State, c.CreatedAt, c.UpdatedAt = 0, 1, StateSubmitted, at, at
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		vals, err := row(c)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO shiftgate_tickets ("+ticketColumns+") VALUES (?"+strings.Repeat(", ?", len(vals)-1)+")", vals...)
		if err != nil {
			return err
		}
		if c.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		return write(ctx, tx, c, AuditEntry{Ticket: c.ID, Actor: c.Submitter, Action: ActionSubmit, From: StateNone, To: StateSubmitted, At: at})
	})
	if err != nil && c.ClientKey != "" && isMySQLError(err, 1062) {
		first, err := s.byClientKey(ctx, c.ClientKey)
		if first == nil && err == nil {
			err = fmt.Errorf("workflow: store: ticket with client key %q: duplicate key, but no such ticket", c.ClientKey)
		}
		return first, false, err
	}
	if err != nil {
		return nil, false, wrapf(err, "store: creating a ticket")
	}
	return c, true, nil
}

// byClientKey returns the ticket with client key key, or nil.
func (s *MySQLStore) byClientKey(ctx context.Context, key string) (*Ticket, error) {
	var body string
	err := s.db.QueryRowContext(ctx, "SELECT body FROM shiftgate_tickets WHERE client_key = ?", key).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapf(err, "store: ticket with client key %q", key)
	}
	return decode(body)
}

// Transition implements Store.
func (s *MySQLStore) Transition(ctx context.Context, c Change) (*Ticket, error) {
	var next *Ticket
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := lockTicket(ctx, tx, c.Ticket)
		if err != nil {
			return err
		}
		n, entry, err := applyChange(cur, c)
		if err != nil {
			return err
		}
		next = n
		return write(ctx, tx, n, entry)
	})
	if err != nil {
		return nil, err
	}
	return next, nil
}

// Claim implements Store.
func (s *MySQLStore) Claim(ctx context.Context, worker string, now time.Time, lease time.Duration) (*Ticket, error) {
	var next *Ticket
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		next = nil
		var body string
		err := tx.QueryRowContext(ctx, `SELECT body FROM shiftgate_tickets
			WHERE state = ? AND (not_before IS NULL OR not_before <= ?) AND (not_after IS NULL OR not_after >= ?)
			ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`, StateQueued.String(), now.UTC(), now.UTC()).Scan(&body)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return wrapf(err, "store: claim")
		}
		cur, err := decode(body)
		if err != nil {
			return err
		}
		n, entry, err := applyChange(cur, Change{Ticket: cur.ID, Version: cur.Version, Action: ActionStart, To: StateRunning,
			Actor: SystemActor, At: now, Update: claimed(worker, now, lease)})
		if err != nil {
			return err
		}
		entry.Comment = claimComment(worker, n.Attempts)
		next = n
		return write(ctx, tx, n, entry)
	})
	if err != nil {
		return nil, err
	}
	return next, nil
}

// Heartbeat implements Store.
func (s *MySQLStore) Heartbeat(ctx context.Context, b Beat) (State, error) {
	var st State
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		t, err := lockTicket(ctx, tx, b.Ticket)
		if err != nil {
			return err
		}
		st = t.State
		if t.Worker == "" || t.Worker != b.Worker {
			return wrapf(ErrLeaseLost, "ticket #%d, worker %s", b.Ticket, b.Worker)
		}
		applyBeat(t, b)
		return write(ctx, tx, t, AuditEntry{})
	})
	return st, err
}

// Get implements Store.
func (s *MySQLStore) Get(ctx context.Context, id int64) (*Detail, error) {
	var body string
	err := s.db.QueryRowContext(ctx, "SELECT body FROM shiftgate_tickets WHERE id = ?", id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, wrapf(ErrNotFound, "ticket #%d", id)
	}
	if err != nil {
		return nil, wrapf(err, "store: ticket #%d", id)
	}
	t, err := decode(body)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, "SELECT actor, action, from_state, to_state, comment, DATE_FORMAT(at, '%Y-%m-%d %H:%i:%s.%f') FROM shiftgate_audit WHERE ticket_id = ? ORDER BY id", id)
	if err != nil {
		return nil, wrapf(err, "store: audit of ticket #%d", id)
	}
	defer rows.Close()
	d := &Detail{Ticket: t}
	for rows.Next() {
		a := AuditEntry{Ticket: id}
		var action, from, to string
		var at string
		if err := rows.Scan(&a.Actor, &action, &from, &to, &a.Comment, &at); err != nil {
			return nil, wrapf(err, "store: audit of ticket #%d", id)
		}
		a.Action = Action(action)
		if a.From, err = ParseState(from); err != nil {
			return nil, err
		}
		if a.To, err = ParseState(to); err != nil {
			return nil, err
		}
		if a.At, err = time.ParseInLocation("2006-01-02 15:04:05.000000", at, time.UTC); err != nil {
			return nil, wrapf(err, "store: audit of ticket #%d: time %q", id, at)
		}
		d.Audit = append(d.Audit, a)
	}
	return d, rows.Err()
}

// likeEscaper escapes a LIKE pattern for ESCAPE '!': a backslash would
// need a literal that NO_BACKSLASH_ESCAPES reads differently.
var likeEscaper = strings.NewReplacer(`!`, `!!`, `%`, `!%`, `_`, `!_`)

// List implements Store.
func (s *MySQLStore) List(ctx context.Context, f Filter) ([]*Ticket, error) {
	f, err := f.normalize()
	if err != nil {
		return nil, err
	}
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if f.Submitter != "" {
		add("submitter = ?", f.Submitter)
	}
	if len(f.States) > 0 {
		marks := make([]string, len(f.States))
		for i, st := range f.States {
			marks[i] = "?"
			args = append(args, st.String())
		}
		where = append(where, "state IN ("+strings.Join(marks, ", ")+")")
	}
	if f.Instance != "" {
		add("(instance = ? OR source_instance = ?)", f.Instance, f.Instance)
	}
	if f.Kind != "" {
		add("kind = ?", string(f.Kind))
	}
	if f.ErrorCode != "" {
		add("error_code = ?", string(f.ErrorCode))
	}
	if !f.CreatedFrom.IsZero() {
		add("created_at >= ?", f.CreatedFrom.UTC())
	}
	if !f.CreatedTo.IsZero() {
		add("created_at < ?", f.CreatedTo.UTC())
	}
	if f.Keyword != "" {
		kw := "%" + likeEscaper.Replace(f.Keyword) + "%"
		add(`(sql_text LIKE ? ESCAPE '!' OR title LIKE ? ESCAPE '!')`, kw, kw)
	}
	if f.BeforeID > 0 {
		add("id < ?", f.BeforeID)
	}
	q := "SELECT body FROM shiftgate_tickets"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT " + strconv.Itoa(f.Limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrapf(err, "store: list")
	}
	defer rows.Close()
	var out []*Ticket
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, wrapf(err, "store: list")
		}
		t, err := decode(body)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
