package dualwrite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/verify"
)

// Phase is where a dual-write migration stands. The phase is persisted in
// the outbox database of the old primary (the database Open was given),
// which stays the control plane in every phase.
type Phase string

// The phases, in order.
const (
	// PhaseOff: the application reads and writes the old database only.
	PhaseOff Phase = "off"
	// PhaseDualWrite: writes go to the old database and are captured and
	// relayed to the new one.
	PhaseDualWrite Phase = "dual_write"
	// PhaseVerified: as PhaseDualWrite, and a verification found the new
	// database equal to the old.
	PhaseVerified Phase = "verified"
	// PhaseReadNew: reads go to the new database; writes still go to the
	// old one and are relayed.
	PhaseReadNew Phase = "read_new"
	// PhaseWriteNew: reads and writes go to the new database, whose
	// changes the host captures in an outbox of its own on the new
	// database and relays back to the old one, so that going back stays
	// possible.
	PhaseWriteNew Phase = "write_new"
	// PhaseDone: the old database is out of the path.
	PhaseDone Phase = "done"
)

var phaseOrder = []Phase{PhaseOff, PhaseDualWrite, PhaseVerified, PhaseReadNew, PhaseWriteNew, PhaseDone}

// String is the phase's name.
func (p Phase) String() string { return string(p) }

// Side names a database of the migration.
type Side string

// The sides.
const (
	Old Side = "old"
	New Side = "new"
)

// Route says which database the application uses in a phase.
type Route struct {
	Phase Phase
	// Read is where to read, Write where to write.
	Read, Write Side
	// Capture: the writes are to be recorded in the outbox of the Write
	// side (Tx.Changed), for relaying to the other side.
	Capture bool
}

// routes is the route of each phase.
var routes = map[Phase]Route{
	PhaseOff:       {PhaseOff, Old, Old, false},
	PhaseDualWrite: {PhaseDualWrite, Old, Old, true},
	PhaseVerified:  {PhaseVerified, Old, Old, true},
	PhaseReadNew:   {PhaseReadNew, New, Old, true},
	PhaseWriteNew:  {PhaseWriteNew, New, New, true},
	PhaseDone:      {PhaseDone, New, New, false},
}

// RouteOf is the route of phase p.
func RouteOf(p Phase) (Route, error) {
	r, ok := routes[p]
	if !ok {
		return Route{}, fmt.Errorf("dualwrite: unknown phase %q", string(p))
	}
	return r, nil
}

// Sentinel errors of phase switches.
var (
	// ErrTransition is wrapped by the error of a switch that is neither
	// the next phase nor the previous one.
	ErrTransition = errors.New("phase switch not allowed")
	// ErrPrecondition is wrapped by a *PreconditionError.
	ErrPrecondition = errors.New("phase switch precondition not met")
	// ErrWriteMoved is wrapped by the error of a commit on the old
	// database once the phase writes to the new one: write there.
	ErrWriteMoved = errors.New("writes have moved to the new database")
)

// fence checks, under a shared lock of the state row held to commit,
// that the phase still writes to the old database.
func (o *Outbox) fence(ctx context.Context, tx *sql.Tx) error {
	var p Phase
	if err := tx.QueryRowContext(ctx, "SELECT phase FROM "+o.outbox("dualwrite_state")+" WHERE id = 1 LOCK IN SHARE MODE").Scan(&p); err != nil {
		return fmt.Errorf("dualwrite: phase in database %s: %w", o.cfg.outboxDB, err)
	}
	if r, err := RouteOf(p); err != nil || r.Write != Old {
		return fmt.Errorf("dualwrite: commit on database %s in phase %s: %w", o.database, p, ErrWriteMoved)
	}
	return nil
}

// PreconditionError is a switch refused because its precondition does
// not hold; Reason says which.
type PreconditionError struct {
	From, To Phase
	Reason   string
}

func (e *PreconditionError) Error() string {
	return fmt.Sprintf("dualwrite: switch from %s to %s refused: %s", e.From, e.To, e.Reason)
}

// Unwrap returns ErrPrecondition.
func (e *PreconditionError) Unwrap() error { return ErrPrecondition }

// State is the persisted switch state.
type State struct {
	Phase Phase
	Since time.Time
	// VerifiedAt is when the latest verification (Outbox.Verify) ended,
	// zero for none; VerifiedClean whether it found no difference, and
	// VerifySummary its counts.
	VerifiedAt    time.Time
	VerifiedClean bool
	VerifySummary string
	Paused        bool
}

// SwitchOption configures Switch.
type SwitchOption func(*switchConfig) error

type switchConfig struct {
	maxPending int64
	maxAge     time.Duration
	drainWait  time.Duration
}

// WithDrainWait bounds how long the switch to PhaseWriteNew waits for the
// secondary to apply every entry of the outbox (the relays to deliver
// them, a broker's consumers to apply them) while it holds the old
// database's writes (default 10s; keep it below innodb_lock_wait_timeout).
func WithDrainWait(d time.Duration) SwitchOption {
	return func(c *switchConfig) error {
		if d <= 0 {
			return fmt.Errorf("dualwrite: WithDrainWait: %s (want more than 0)", d)
		}
		c.drainWait = d
		return nil
	}
}

// WithMaxPending lets the switches to PhaseVerified and PhaseReadNew pass
// with up to n entries the secondary has not applied (default 0). The
// switch to PhaseWriteNew ignores it: it needs every entry applied.
func WithMaxPending(n int64) SwitchOption {
	return func(c *switchConfig) error {
		if n < 0 {
			return fmt.Errorf("dualwrite: WithMaxPending: negative %d", n)
		}
		c.maxPending = n
		return nil
	}
}

// WithVerificationAge refuses a verification older than d as the
// precondition of PhaseVerified (default 1h).
func WithVerificationAge(d time.Duration) SwitchOption {
	return func(c *switchConfig) error {
		if d <= 0 {
			return fmt.Errorf("dualwrite: WithVerificationAge: %s (want more than 0)", d)
		}
		c.maxAge = d
		return nil
	}
}

// State reads the persisted switch state.
func (o *Outbox) State(ctx context.Context) (State, error) {
	return o.state(ctx, o.db, "")
}

func (o *Outbox) state(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, lock string) (State, error) {
	var s State
	var since int64
	var verified sql.NullInt64
	var summary sql.NullString
	err := q.QueryRowContext(ctx, "SELECT phase, TIMESTAMPDIFF(MICROSECOND, '1970-01-01', phase_since),"+
		" TIMESTAMPDIFF(MICROSECOND, '1970-01-01', verified_at), verified_clean, verify_summary, paused FROM "+
		o.outbox("dualwrite_state")+" WHERE id = 1"+lock).Scan(&s.Phase, &since, &verified, &s.VerifiedClean, &summary, &s.Paused)
	if err != nil {
		return s, fmt.Errorf("dualwrite: switch state in database %s: %w", o.cfg.outboxDB, err)
	}
	s.Since = time.UnixMicro(since).UTC()
	if verified.Valid {
		s.VerifiedAt = time.UnixMicro(verified.Int64).UTC()
	}
	s.VerifySummary = summary.String
	return s, nil
}

// Route reads the current phase and returns its route: the application
// asks it (caching the answer for a few seconds at most) instead of being
// redeployed at each switch.
func (o *Outbox) Route(ctx context.Context) (Route, error) {
	s, err := o.State(ctx)
	if err != nil {
		return Route{}, err
	}
	return RouteOf(s.Phase)
}

// Switch moves to phase to: the next phase, after checking its
// precondition, or the previous one (going back needs none). The check
// and the change happen in one transaction holding the state row.
//
// Preconditions:
//   - PhaseVerified: a verification (Outbox.Verify) ended after dual
//     writes began, at most WithVerificationAge ago, found no difference;
//     no dead letter; at most WithMaxPending entries not applied.
//   - PhaseReadNew: no dead letter; at most WithMaxPending entries not
//     applied.
//   - PhaseWriteNew: no dead letter; every entry applied, waiting for the
//     relays and the consumers (at most WithDrainWait) while commits on
//     the old database wait, so that no write on the old database commits
//     after the switch (they fail with ErrWriteMoved), the new one has
//     every write before it, and nothing of the old database reaches the
//     new one after it, where it could overwrite a newer write.
//     WithMaxPending does not apply.
//   - PhaseDualWrite, PhaseDone: none.
//
// An entry not applied is one the secondary has not applied yet, whatever
// the transport: not delivered by a relay (pending), or delivered and not
// applied (in transit: published to a broker, not applied by its
// consumer). Direct applies as it delivers (ApplyingTransport); a
// Consumer marks the entries of each message applied once the message's
// transaction committed on the secondary (Outbox.MarkApplied). The host
// has nothing to do for either. A transport of its own must implement
// ApplyingTransport if it applies as it delivers (a wrapper of Direct
// does not inherit it), or have its consumer call MarkApplied: otherwise
// these switches are refused. A refusal names the buckets in transit,
// with how many entries and how long ago the oldest was delivered.
//
// A refused switch is a *PreconditionError (ErrPrecondition); a switch
// that skips or repeats a phase wraps ErrTransition.
func (o *Outbox) Switch(ctx context.Context, to Phase, opts ...SwitchOption) error {
	cfg := switchConfig{maxAge: time.Hour, drainWait: 10 * time.Second}
	for _, opt := range opts {
		if opt == nil {
			return errors.New("dualwrite: nil switch option")
		}
		if err := opt(&cfg); err != nil {
			return err
		}
	}
	ti := slices.Index(phaseOrder, to)
	if ti < 0 {
		return fmt.Errorf("dualwrite: unknown phase %q", string(to))
	}
	// READ COMMITTED: the drain wait sees the relays' progress.
	tx, err := o.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fmt.Errorf("dualwrite: switch to %s: %w", to, err)
	}
	defer func() { _ = tx.Rollback() }()
	s, err := o.state(ctx, tx, " FOR UPDATE")
	if err != nil {
		return err
	}
	fi := slices.Index(phaseOrder, s.Phase)
	if ti != fi+1 && ti != fi-1 {
		return fmt.Errorf("dualwrite: switch from %s to %s: %w (only to %s)", s.Phase, to, ErrTransition, neighbours(fi))
	}
	if ti == fi+1 {
		if reason, err := o.precondition(ctx, tx, s, to, cfg); err != nil {
			return err
		} else if reason != "" {
			return &PreconditionError{From: s.Phase, To: to, Reason: reason}
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE "+o.outbox("dualwrite_state")+
		" SET phase = ?, phase_since = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6) WHERE id = 1", string(to)); err != nil {
		return fmt.Errorf("dualwrite: switch to %s: %w", to, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("dualwrite: switch to %s: %w", to, err)
	}
	o.cfg.logger.Info("dualwrite: phase switched", "database", o.cfg.outboxDB, "from", s.Phase, "to", to)
	return nil
}

func neighbours(i int) string {
	var out []string
	if i > 0 {
		out = append(out, string(phaseOrder[i-1]))
	}
	if i+1 < len(phaseOrder) {
		out = append(out, string(phaseOrder[i+1]))
	}
	return strings.Join(out, " or ")
}

// precondition returns why the switch to to may not happen, "" if it may.
func (o *Outbox) precondition(ctx context.Context, tx *sql.Tx, s State, to Phase, cfg switchConfig) (string, error) {
	switch to {
	case PhaseVerified, PhaseReadNew, PhaseWriteNew:
	default:
		return "", nil
	}
	allowed := cfg.maxPending
	if to == PhaseWriteNew {
		allowed = 0
	}
	// The switch to PhaseWriteNew holds the state row, so commits on the
	// old database wait (see Tx.Commit): the entries not applied can only
	// decrease, and it waits for the relays and consumers to apply them.
	deadline := time.Now().Add(cfg.drainWait)
	for {
		l, err := o.lag(ctx, tx)
		if err != nil {
			return "", fmt.Errorf("dualwrite: switch to %s: %w", to, err)
		}
		if l.dead > 0 {
			return fmt.Sprintf("%d change(s) in the dead-letter table: repair them on the secondary and delete them first", l.dead), nil
		}
		if l.pending+l.inTransit <= allowed {
			break
		}
		if to != PhaseWriteNew || time.Now().After(deadline) {
			return l.reason(allowed), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("dualwrite: switch to %s: %w", to, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if to != PhaseVerified {
		return "", nil
	}
	switch {
	case s.VerifiedAt.IsZero():
		return "no verification recorded: run Outbox.Verify", nil
	case s.VerifiedAt.Before(s.Since):
		return fmt.Sprintf("the latest verification (%s) is older than dual writes (since %s)", s.VerifiedAt.Format(time.RFC3339), s.Since.Format(time.RFC3339)), nil
	case time.Since(s.VerifiedAt) > cfg.maxAge:
		return fmt.Sprintf("the latest verification (%s) is older than %s", s.VerifiedAt.Format(time.RFC3339), cfg.maxAge), nil
	case !s.VerifiedClean:
		return "the latest verification found differences: " + s.VerifySummary, nil
	}
	return "", nil
}

// lag is how far the secondary is behind the outbox.
type lag struct {
	pending   int64 // entries not delivered
	inTransit int64 // entries delivered and not applied
	buckets   []bucketLag
	dead      int64 // dead letters
}

// bucketLag is a bucket's entries in transit.
type bucketLag struct {
	bucket  int
	entries int64
	oldest  time.Duration // since the oldest of them was delivered
}

// lag reads the lag through q, the buckets in transit most entries first.
func (o *Outbox) lag(ctx context.Context, q interface {
	querier
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (lag, error) {
	var l lag
	err := q.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM "+o.outbox("dualwrite_outbox")+" WHERE delivered_at IS NULL),"+
		" (SELECT COUNT(*) FROM "+o.outbox("dualwrite_dead_letters")+")").Scan(&l.pending, &l.dead)
	if err != nil {
		return l, fmt.Errorf("outbox entries not delivered: %w", err)
	}
	rows, err := q.QueryContext(ctx, "SELECT bucket, COUNT(*), TIMESTAMPDIFF(MICROSECOND, MIN(delivered_at), UTC_TIMESTAMP(6)) FROM "+
		o.outbox("dualwrite_outbox")+" WHERE applied_at IS NULL AND delivered_at IS NOT NULL GROUP BY bucket ORDER BY 2 DESC, 1")
	if err != nil {
		return l, fmt.Errorf("outbox entries not applied: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b bucketLag
		var us int64
		if err := rows.Scan(&b.bucket, &b.entries, &us); err != nil {
			return l, fmt.Errorf("outbox entries not applied: %w", err)
		}
		b.oldest = time.Duration(max(us, 0)) * time.Microsecond
		l.buckets = append(l.buckets, b)
		l.inTransit += b.entries
	}
	if err := rows.Err(); err != nil {
		return l, fmt.Errorf("outbox entries not applied: %w", err)
	}
	return l, nil
}

// reason says how far behind the secondary is, allowed entries being
// allowed.
func (l lag) reason(allowed int64) string {
	var b strings.Builder
	if l.inTransit == 0 {
		fmt.Fprintf(&b, "%d outbox entries pending (at most %d allowed): let the relay drain the outbox", l.pending, allowed)
		return b.String()
	}
	fmt.Fprintf(&b, "%d outbox entries pending and %d delivered and not applied on the secondary (at most %d allowed in all):", l.pending, l.inTransit, allowed)
	for i, bl := range l.buckets {
		if i == 3 {
			fmt.Fprintf(&b, " and %d more bucket(s);", len(l.buckets)-i)
			break
		}
		fmt.Fprintf(&b, " bucket %d is %d entries behind, the oldest delivered %s ago;", bl.bucket, bl.entries, bl.oldest.Round(time.Millisecond))
	}
	b.WriteString(" let the relay drain the outbox and the consumer apply what it delivered")
	return b.String()
}

// ApplyingTransport is a Transport whose Deliver returns only once the
// entries are applied on the secondary (Direct): a relay marks the entries
// it delivers through one applied as it marks them delivered. The entries
// delivered through any other transport (NATS) are not applied until the
// side that applies them says so (Outbox.MarkApplied; Consumer does).
type ApplyingTransport interface {
	Transport
	// AppliesOnDelivery marks the implementation; it does nothing.
	AppliesOnDelivery()
}

// AppliesOnDelivery makes Direct an ApplyingTransport.
func (*Direct) AppliesOnDelivery() {}

// Verification is the outcome of Outbox.Verify.
type Verification struct {
	Report *verify.Report
	// InFlight counts the differing rows whose key the application changed
	// while the verification ran (an outbox entry of the key was captured
	// after it began): the relay is delivering them, they are not
	// differences of the copy.
	InFlight int64
	// Clean: every table compared, and every differing row in flight.
	Clean bool
}

// Verify compares every declared table on the primary with its target on
// the secondary with package verify while writes continue (opts add to
// verify.WithRecheck(2s, 3), which lets in-flight changes settle), and
// records the outcome as the latest verification. A differing row whose
// key has an outbox entry captured since the verification began is in
// flight, not a difference; a table whose differences were truncated by
// the sample limit is not clean. A table with a Map is compared on the
// columns both sides name alike. The report lists the differences;
// verify.Verifier.Repair repairs them from the primary. Column definitions
// that differ do not make the verification unclean.
func (o *Outbox) Verify(ctx context.Context, secondary *sql.DB, secondaryDatabase string, opts ...verify.Option) (*Verification, error) {
	v, err := verify.New(o.db, secondary, append([]verify.Option{verify.WithRecheck(2*time.Second, 3)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("dualwrite: %w", err)
	}
	var pairs []verify.TablePair
	for _, name := range o.Tables() {
		tb := o.tables[name]
		p := verify.TablePair{SourceDatabase: o.database, SourceTable: name, TargetDatabase: secondaryDatabase, TargetTable: tb.target}
		if tb.Map != nil {
			def, err := schema.LoadTable(ctx, secondary, secondaryDatabase, tb.target)
			if err != nil {
				return nil, fmt.Errorf("dualwrite: target table %s: %w", schema.QualifiedName(secondaryDatabase, tb.target), err)
			}
			for _, c := range tb.def.Columns {
				if def.Column(c.Name) != nil {
					p.Columns = append(p.Columns, c.Name)
				}
			}
		}
		pairs = append(pairs, p)
	}
	var since uint64
	if err := o.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM "+o.outbox("dualwrite_outbox")).Scan(&since); err != nil {
		return nil, fmt.Errorf("dualwrite: verification start: %w", err)
	}
	rep, err := v.Verify(ctx, pairs...)
	if err != nil {
		return nil, fmt.Errorf("dualwrite: %w", err)
	}
	res := &Verification{Report: rep, Clean: rep.Complete()}
	for _, t := range rep.Tables {
		if t.Truncated {
			res.Clean = false
		}
		for _, d := range t.Diffs {
			moved, err := o.changedSince(ctx, t.SourceTable, d.Key, since)
			if err != nil {
				return nil, err
			}
			if moved {
				res.InFlight++
			}
		}
	}
	if rep.Differences() > res.InFlight {
		res.Clean = false
	}
	summary := fmt.Sprintf("%d differing row(s), %d of them in flight, %d table(s) not compared", rep.Differences(), res.InFlight, len(rep.Unverified))
	if _, err := o.db.ExecContext(ctx, "UPDATE "+o.outbox("dualwrite_state")+
		" SET verified_at = UTC_TIMESTAMP(6), verified_clean = ?, verify_summary = ?, updated_at = UTC_TIMESTAMP(6) WHERE id = 1", res.Clean, summary); err != nil {
		return res, fmt.Errorf("dualwrite: recording the verification: %w", err)
	}
	return res, nil
}

// changedSince reports whether the key of table (its values' text, as
// verify lists them) has an outbox entry after id since.
func (o *Outbox) changedSince(ctx context.Context, table string, key []string, since uint64) (bool, error) {
	tb := o.tables[table]
	if tb == nil || len(key) != len(tb.key) {
		return false, nil
	}
	values := make([]any, len(key))
	for i, k := range key {
		values[i] = k
	}
	text, _, err := tb.keyText(values)
	if err != nil {
		return false, nil
	}
	h := keyHash(table, text)
	var n int
	err = o.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+o.outbox("dualwrite_outbox")+" WHERE bucket = ? AND key_hash = ? AND id > ?", h%Buckets, h, since).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("dualwrite: outbox entries of a differing row: %w", err)
	}
	return n > 0, nil
}
