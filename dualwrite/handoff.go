package dualwrite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/shiftgate/shiftgate/internal/binlog"
)

// ErrHandoff is wrapped by the error of a handoff from a binlog sync
// called in the wrong state: BeginHandoff outside PhaseOff,
// CompleteHandoff before BeginHandoff.
var ErrHandoff = errors.New("handoff from the binlog sync not possible")

// SyncControl is the binlog sync a handoff takes over from: a
// migrate.Sync streaming the primary's binary log into the secondary, or
// any sync that applies the primary's transactions to the secondary in
// binary log order and knows the GTID position it holds.
type SyncControl struct {
	// Applied returns the primary's GTID position whose transactions the
	// sync has committed on the secondary. For a migrate.Sync: the
	// StreamPosition of its latest Progress (its WithProgressInterval
	// bounds how stale that is, and so adds to the handoff's write pause).
	Applied func(ctx context.Context) (string, error)
	// Stop stops the sync and returns once it applies nothing more. For a
	// migrate.Sync: cancel the context of its Run and wait for Run to
	// return.
	Stop func(ctx context.Context) error
}

// HandoffOption configures CompleteHandoff.
type HandoffOption func(*handoffConfig) error

type handoffConfig struct {
	timeout    time.Duration
	routeDelay time.Duration
}

// WithHandoffTimeout bounds the handoff's write pause: how long
// CompleteHandoff waits for the sync to apply the primary's position and
// to stop while the application's commits wait (default 10s). Keep it
// below the primary's innodb_lock_wait_timeout, the longest a commit
// waits before it fails.
func WithHandoffTimeout(d time.Duration) HandoffOption {
	return func(c *handoffConfig) error {
		if d <= 0 {
			return fmt.Errorf("dualwrite: WithHandoffTimeout: %s (want more than 0)", d)
		}
		c.timeout = d
		return nil
	}
}

// WithRouteDelay is the longest the application acts on a route it read
// before its transaction (Outbox.Route, its cache included) plus its
// longest write transaction: CompleteHandoff starts no sooner than that
// after BeginHandoff switched to dual writes, so that no write of a
// writer still in PhaseOff commits after the sync stopped (default 5s).
// 0 when every writer takes its route with Tx.Route, which the switch
// waits for.
func WithRouteDelay(d time.Duration) HandoffOption {
	return func(c *handoffConfig) error {
		if d < 0 {
			return fmt.Errorf("dualwrite: WithRouteDelay: negative %s", d)
		}
		c.routeDelay = d
		return nil
	}
}

// HandoffReport is what CompleteHandoff did.
type HandoffReport struct {
	// Position is the primary's GTID position at the fence: the sync
	// applied every transaction up to it, the relay delivers every one
	// after it.
	Position string
	// Covered counts the outbox entries captured before the fence: the
	// sync applied them, so they were marked delivered, not relayed.
	Covered int64
	// Pause is how long the application's commits on the primary waited.
	Pause time.Duration
}

// BeginHandoff is the first step of the handoff from a running binlog
// sync to dual writes: it pauses the relays (Pause: none delivers after
// it returns) and switches to PhaseDualWrite, so that the application
// captures its writes in the outbox while the sync goes on applying
// them. It is refused (ErrHandoff) outside PhaseOff, and does nothing if
// the handoff began already (PhaseDualWrite, paused).
func (o *Outbox) BeginHandoff(ctx context.Context) error {
	if o.cfg.reverse {
		return fmt.Errorf("dualwrite: handoff on the reverse outbox of database %s: %w", o.database, ErrHandoff)
	}
	s, err := o.State(ctx)
	if err != nil {
		return err
	}
	switch {
	case s.Phase == PhaseDualWrite && s.Paused:
		return nil
	case s.Phase != PhaseOff:
		return fmt.Errorf("dualwrite: handoff in phase %s (paused %t): %w: it begins in phase %s", s.Phase, s.Paused, ErrHandoff, PhaseOff)
	}
	if err := o.Pause(ctx); err != nil {
		return err
	}
	if err := o.Switch(ctx, PhaseDualWrite); err != nil {
		return err
	}
	o.cfg.logger.Info("dualwrite: handoff begun: capturing, relays paused", "database", o.cfg.outboxDB)
	return nil
}

// CompleteHandoff ends the handoff that BeginHandoff began: the sync
// stops and the relays deliver, with no write lost, applied twice or
// applied out of order on the secondary. Every table the sync moves must
// be declared to Open, and the outbox tables must not be among them
// (WithOutboxDatabase, or the sync's table list).
//
// It holds the outbox's state row, which the commits of the
// application's capturing transactions wait for (Tx.Commit), reads the
// primary's GTID position, marks the outbox entries committed so far
// delivered (they are in the binary log before that position), waits
// for the sync to hold the position, stops the sync, resumes the relays
// and commits. Transactions committed before the fence reach the
// secondary through the sync, those after it through the relay; no
// transaction of a moved table commits in between, so neither applies a
// change the other applies too. The application's writes pause for the
// sync's lag plus its stop, at most WithHandoffTimeout.
//
// The fence marks every entry captured since BeginHandoff while the
// writes wait: call CompleteHandoff soon after BeginHandoff (seconds, not
// hours).
//
// If the sync does not get there in time, or Stop fails, the fence is
// rolled back: the application's writes resume, still captured and
// still synced, and CompleteHandoff can be called again (after running
// the sync again if it stopped).
func (o *Outbox) CompleteHandoff(ctx context.Context, sc SyncControl, opts ...HandoffOption) (*HandoffReport, error) {
	cfg := handoffConfig{timeout: 10 * time.Second, routeDelay: 5 * time.Second}
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("dualwrite: nil handoff option")
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if sc.Applied == nil || sc.Stop == nil {
		return nil, errors.New("dualwrite: handoff: the sync's Applied and Stop are both needed")
	}
	flavor, err := binlog.ServerFlavor(ctx, o.db)
	if err != nil {
		return nil, fmt.Errorf("dualwrite: handoff: primary of database %s: %w", o.database, err)
	}
	s, err := o.State(ctx)
	if err != nil {
		return nil, err
	}
	if err := handoffBegun(s); err != nil {
		return nil, err
	}
	if wait := time.Until(s.Since.Add(cfg.routeDelay)); wait > 0 {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("dualwrite: handoff: waiting %s for the writers' routes: %w", wait, ctx.Err())
		case <-time.After(wait):
		}
	}

	// READ COMMITTED: the entries read are those committed at the fence.
	tx, err := o.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, fmt.Errorf("dualwrite: handoff: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// The fence: from here the capturing transactions' commits wait, and
	// those that held the row (Tx.Route, Tx.Commit) have committed.
	begin := time.Now()
	if s, err = o.state(ctx, tx, " FOR UPDATE"); err != nil {
		return nil, err
	}
	if err := handoffBegun(s); err != nil {
		return nil, err
	}
	rep := &HandoffReport{}
	if rep.Position, err = binlog.CurrentPosition(ctx, o.db, flavor); err != nil {
		return nil, fmt.Errorf("dualwrite: handoff: primary of database %s: %w", o.database, err)
	}
	if rep.Position == "" {
		return nil, fmt.Errorf("dualwrite: handoff: the primary of database %s logs no GTID position: a binlog sync cannot have followed it", o.database)
	}
	if rep.Covered, err = o.markCovered(ctx, tx); err != nil {
		return nil, err
	}

	wctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	held := ""
	for {
		if held, err = sc.Applied(wctx); err != nil {
			return nil, fmt.Errorf("dualwrite: handoff: the sync's position (writes resumed, call CompleteHandoff again): %w", err)
		}
		if held != "" {
			ok, err := binlog.PositionContains(flavor, held, rep.Position)
			if err != nil {
				return nil, fmt.Errorf("dualwrite: handoff: %w", err)
			}
			if ok {
				break
			}
		}
		select {
		case <-wctx.Done():
			return nil, fmt.Errorf("dualwrite: handoff: the sync holds %q, not yet the primary's position %q (writes resumed, call CompleteHandoff again): %w",
				held, rep.Position, wctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := sc.Stop(wctx); err != nil {
		return nil, fmt.Errorf("dualwrite: handoff: stopping the sync (writes resumed; run the sync again, then CompleteHandoff): %w", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE "+o.outbox("dualwrite_state")+" SET paused = 0, updated_at = UTC_TIMESTAMP(6) WHERE id = 1"); err != nil {
		return nil, fmt.Errorf("dualwrite: handoff: resuming the relays (the sync stopped: run it again, then CompleteHandoff): %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("dualwrite: handoff: commit (the sync stopped: run it again, then CompleteHandoff): %w", err)
	}
	rep.Pause = time.Since(begin)
	o.cfg.logger.Info("dualwrite: handoff complete: sync stopped, relays resumed", "database", o.cfg.outboxDB,
		"position", rep.Position, "covered", rep.Covered, "pause", rep.Pause)
	return rep, nil
}

// handoffBegun checks that s is the state BeginHandoff leaves.
func handoffBegun(s State) error {
	if s.Phase != PhaseDualWrite || !s.Paused {
		return fmt.Errorf("dualwrite: handoff in phase %s (paused %t): %w: call BeginHandoff first", s.Phase, s.Paused, ErrHandoff)
	}
	return nil
}

// markCovered marks delivered, in tx, the outbox entries committed and
// not delivered, by id: the entries of transactions still open are
// neither read nor locked.
func (o *Outbox) markCovered(ctx context.Context, tx *sql.Tx) (int64, error) {
	rows, err := tx.QueryContext(ctx, "SELECT id FROM "+o.outbox("dualwrite_outbox")+" WHERE delivered_at IS NULL ORDER BY id")
	if err != nil {
		return 0, fmt.Errorf("dualwrite: handoff: pending entries: %w", err)
	}
	var ids []uint64
	for rows.Next() {
		var id uint64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("dualwrite: handoff: pending entries: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("dualwrite: handoff: pending entries: %w", err)
	}
	// Applied too: the handoff commits only once the sync holds them.
	if err := o.markDelivered(ctx, tx, ids, true); err != nil {
		return 0, fmt.Errorf("dualwrite: handoff: marking the entries the sync applied: %w", err)
	}
	return int64(len(ids)), nil
}
