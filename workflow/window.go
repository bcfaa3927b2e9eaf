package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/shiftgate/shiftgate/migrate"
)

// windower is the capability of the executors of live moves with a
// rollback window (Migration.Reverse): windowedMove.
type windower interface {
	// inWindow reports whether the run follows the target back into the
	// source: the move cut over.
	inWindow() bool
	// cutBack makes the reverse sync's cut-back (migrate.ReverseSync.CutBack).
	cutBack(ctx context.Context) (*migrate.CutoverReport, error)
	// endWindow asks the run to stop the reverse sync and close the window
	// (migrate.ReverseSync.End).
	endWindow()
	// closing is the comment of a run that closed its window ("" when it
	// did not) and the report of its cut-back (nil without one).
	closing() (string, *migrate.CutoverReport)
}

// errWindowStopped is wrapped by the error of a windowedMove whose
// rollback window stopped with the source fenced: the ticket goes to
// source_fenced.
var errWindowStopped = errors.New("rollback window stopped")

// windowedMove is a live move with a rollback window: the move's Sync,
// then, once it cut over (or when a resumed run finds it did, the Sync
// returning migrate.ErrCutOver), its reverse sync until a cut-back or
// endWindow. Made with carriedEnd (the ticket's Carried end of the
// window), it closes the window at once instead.
type windowedMove struct {
	*migrate.Sync
	reverse    *migrate.ReverseSync
	carriedEnd bool

	mu     sync.Mutex
	open   bool               // the reverse sync runs, or is about to
	ending bool               // endWindow was called
	stop   context.CancelFunc // stops the reverse sync's run; nil before it
	closed string             // how the window closed, "" while open
	back   *migrate.CutoverReport
}

// Run moves, then follows the target back into the source until the
// cut-back (its Report is the reverse sync's, with the cut-back in
// Cutover) or endWindow (its Report is the move's, nil after a resumed
// run); closing then says how the window closed. A reverse sync that
// stops otherwise, or a failed closing, is an error wrapping
// errWindowStopped that says the source stays fenced.
func (w *windowedMove) Run(ctx context.Context, progress migrate.ProgressFunc) (*migrate.Report, error) {
	rep, err := w.Sync.Run(ctx, progress)
	resumed := errors.Is(err, migrate.ErrCutOver)
	if err != nil && !resumed {
		return rep, err
	}
	if w.carriedEnd {
		// The reverse sync is not started again: it may be what stopped
		// the window (DDL on the target).
		if err := w.reverse.End(ctx); err != nil {
			return rep, fmt.Errorf("workflow: %w: closing it (carried over) failed, the source stays fenced: %w", errWindowStopped, err)
		}
		w.close(nil, "the end of the rollback window approved before this run is carried over: "+windowEnded)
		return rep, nil
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	w.mu.Lock()
	w.open, w.stop = true, stop
	if w.ending {
		stop()
	}
	w.mu.Unlock()
	back, err := w.reverse.Run(rctx, progress)
	w.mu.Lock()
	ending := w.ending
	w.mu.Unlock()
	switch {
	case err == nil:
		w.close(back.Cutover, "cut back: "+cutoverText(back.Cutover, "target", "source")+fmt.Sprintf("; %d row change(s) applied back from the target's binary log; the application writes the source again, the target's writes restored", back.AppliedRows))
		return back, nil
	case resumed && errors.Is(err, migrate.ErrNoReverse):
		w.close(nil, "the rollback window was already closed when this run resumed")
		return nil, nil
	case ending && ctx.Err() == nil:
		if err := w.reverse.End(ctx); err != nil {
			return rep, fmt.Errorf("workflow: %w: closing it failed, the source stays fenced: %w", errWindowStopped, err)
		}
		w.close(nil, windowEnded)
		return rep, nil
	}
	return back, fmt.Errorf("workflow: %w: the reverse sync stopped, the source stays fenced until the window is closed (EndWindow) or the reverse sync retried (Retry): %w", errWindowStopped, err)
}

// windowEnded is the comment of a window closed without a cut-back.
const windowEnded = "rollback window closed without a cut-back: the reverse sync stopped, the source's writes are restored, the application stays on the target"

func (w *windowedMove) close(back *migrate.CutoverReport, how string) {
	w.mu.Lock()
	w.closed, w.back = how, back
	w.mu.Unlock()
}

func (w *windowedMove) inWindow() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.open
}

func (w *windowedMove) cutBack(ctx context.Context) (*migrate.CutoverReport, error) {
	return w.reverse.CutBack(ctx)
}

func (w *windowedMove) endWindow() {
	w.mu.Lock()
	w.ending = true
	stop := w.stop
	w.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func (w *windowedMove) closing() (string, *migrate.CutoverReport) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed, w.back
}

// watchWindow is watchCutover's part for a move with a rollback window,
// at a poll that read t: it opens the window once the move cut over
// (cutOver, or a resumed run found it did), makes the cut-back a person
// approved (or one carried over from an earlier run, once the reverse
// sync is in sync), and hands the closing of the window to the run. It reports
// whether it acted on t, and whether the watch is over.
func (r *ticketRun) watchWindow(ctx, cutCtx context.Context, t *Ticket, win windower, cutOver *migrate.CutoverReport, unrecorded *error) (acted, over bool) {
	switch {
	case (t.State == StateRunning || t.State == StateCuttingOver) && (cutOver != nil || win.inWindow()):
		r.windowOpened(ctx, cutOver)
	case t.State == StateCuttingBack && *unrecorded != nil:
		*unrecorded = r.cutBackFailed(ctx, *unrecorded)
	case t.State == StateCuttingBack:
		// The run's report is the cut-back's: the one CutBack returns is
		// still written by the run (the pause ends once the source takes
		// writes).
		_, err := win.cutBack(cutCtx)
		switch {
		case err == nil:
			r.log.Info("cut back")
			return true, true
		case cutCtx.Err() != nil:
			return true, true // canceled, or the run ended: its ending is recorded
		}
		r.log.Warn("cut-back failed; the reverse sync goes on", "err", err)
		*unrecorded = r.cutBackFailed(ctx, err)
	case t.State == StateEndingWindow:
		win.endWindow()
		return true, true
	case t.State == StateRollbackWindow && t.Carried == ActionCutBack && win.inWindow() && inSync(r.latest()):
		r.carryOver(ctx, ActionCutBack, StateCuttingBack, EventCutBackApproved, "cut-back")
	default:
		return t.State == StateRollbackWindow, false
	}
	return true, false
}

// windowOpened moves the ticket, cut over (by rep, nil when a resumed run
// found the move cut over), to rollback_window with the cutover's report,
// and tells the cutover's approvers, the submitter and the CC list.
func (r *ticketRun) windowOpened(ctx context.Context, rep *migrate.CutoverReport) {
	c, cc := storeContext(ctx)
	defer cc()
	comment := "rollback window open: the application writes the target, the source stays fenced and the target's writes are applied back to it until a cut-back or the window's end"
	if rep != nil {
		comment = "cut over: " + cutoverText(rep, "source", "target") + "; " + comment
	}
	next, err := r.transition(c, Change{Action: ActionOpenWindow, To: StateRollbackWindow, Comment: comment,
		Update: func(t *Ticket) error {
			t.setError("", nil)
			if t.Carried == ActionCutover {
				t.Carried = "" // made: a resumed run found the move cut over
			}
			if rep != nil {
				t.Report = &migrate.Report{Cutover: rep}
			}
			return nil
		}})
	if err != nil {
		r.log.Warn("recording the rollback window failed", "err", err)
		return
	}
	who, err := r.e.cutoverApprovers(c, next)
	if err != nil {
		r.log.Warn("listing the cut-back's approvers failed", "err", err)
	}
	r.e.notifyTo(next, EventWindowOpen, SystemActor, comment, r.e.describe(next), append(who, append([]string{next.Submitter}, next.CC...)...))
}

// carryOver makes the request (action, to state to) carried over from an
// earlier run (Ticket.Carried) as if a person had just approved it, and
// says so in the audit trail and to the ticket's people (event ev).
func (r *ticketRun) carryOver(ctx context.Context, action Action, to State, ev EventKind, what string) {
	c, cc := storeContext(ctx)
	defer cc()
	comment := "the " + what + " approved before the ticket's last run stopped is carried over: made without a new approval"
	next, err := r.transition(c, Change{Action: action, To: to, Comment: comment,
		Update: func(t *Ticket) error { t.Carried = ""; t.setError("", nil); return nil }})
	if err != nil {
		r.log.Warn("carrying over an approved request failed", "request", action, "err", err)
		return
	}
	r.log.Info("approved request carried over", "request", action)
	r.e.notify(c, next, ev, SystemActor, comment, "worker "+r.worker+": "+r.e.describe(next))
}

// cutBackFailed records a cut-back that failed with cutErr, in the audit
// trail and as the ticket's error, and returns nil, or cutErr when it
// could not be recorded.
func (r *ticketRun) cutBackFailed(ctx context.Context, cutErr error) error {
	c, cc := storeContext(ctx)
	defer cc()
	msg := "cut-back refused, the reverse sync goes on and awaits another cut-back: " + cutErr.Error()
	next, err := r.transition(c, Change{Action: ActionCutBackFailed, To: StateRollbackWindow, Comment: msg,
		Update: func(t *Ticket) error { t.setError(msg, cutErr); return nil }})
	if err != nil {
		r.log.Warn("recording a failed cut-back failed", "err", err)
		return cutErr
	}
	r.e.notify(c, next, EventCutBackFailed, SystemActor, msg, syncText(r.latest()))
	return nil
}

// CutBack approves the cut-back of live move id, in its rollback window
// (Migration.Reverse), as actor, who must be allowed to approve its
// cutover (MayCutOver). The ticket goes to cutting_back, recorded with
// actor and comment, and the worker holding it cuts back: it stops writes
// on the target, waits until the source holds everything, verifies and
// switches back (LiveMoveOptions.SwitchBack; see
// migrate.ReverseSync.CutBack). Success ends the ticket succeeded with the
// cut-back's report in CutBack (Report.Cutover stays the cutover's); a refusal or failure is recorded
// as cutback_failed and the ticket goes back to its window, the reverse
// sync going on. Other states give a *TransitionError.
func (e *Engine) CutBack(ctx context.Context, id int64, actor, comment string) (*Ticket, error) {
	return e.closeWindow(ctx, id, actor, comment, ActionCutBack, StateCuttingBack, EventCutBackApproved, "cuts back")
}

// EndWindow closes the rollback window of live move id (Migration.Reverse)
// without a cut-back, as actor, who must be allowed to approve its cutover
// (MayCutOver). The ticket goes to ending_window, recorded with actor and
// comment, and the worker holding it stops the reverse sync and restores
// the source's writes (migrate.ReverseSync.End); the application stays on
// the target, and the ticket ends succeeded. A ticket whose window stopped
// (source_fenced) goes to the queue instead, the end carried over
// (Ticket.Carried): the next run closes the window without starting the
// reverse sync again, and the ticket ends succeeded, or source_fenced
// again when that fails. Other states give a *TransitionError.
func (e *Engine) EndWindow(ctx context.Context, id int64, actor, comment string) (*Ticket, error) {
	return e.closeWindow(ctx, id, actor, comment, ActionEndWindow, StateEndingWindow, EventEndWindow, "closes the rollback window")
}

// closeWindow records actor's action on live move id in its rollback
// window, or in a stopped one (source_fenced: queued, see reopenWindow),
// and tells the submitter and the CC list.
func (e *Engine) closeWindow(ctx context.Context, id int64, actor, comment string, action Action, to State, ev EventKind, what string) (*Ticket, error) {
	if strings.TrimSpace(actor) == "" {
		return nil, fmt.Errorf("%w: ticket #%d: no actor", ErrInvalidRequest, id)
	}
	d, err := e.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	t := d.Ticket
	if err := e.MayCutOver(ctx, t, actor); err != nil {
		return nil, err
	}
	if t.State == StateSourceFenced {
		return e.reopenWindow(ctx, t, actor, comment, action, ev)
	}
	next, err := e.transition(ctx, Change{Ticket: t.ID, Version: t.Version, Action: action, To: to, Actor: actor, Comment: comment,
		Update: func(t *Ticket) error { t.setError("", nil); return nil }}) // the last cut-back's failure is history
	if err != nil {
		return nil, err
	}
	e.notify(ctx, next, ev, actor, comment, "worker "+next.Worker+" "+what+": "+e.describe(next))
	return next, nil
}

// reopenWindow queues live move t, whose rollback window stopped
// (source_fenced), again as actor (who may approve its cutover) asked
// with action: ActionEndWindow, carried over to the next run, which closes
// the window, or ActionRetry, whose next run goes back to the window. It
// tells the submitter and the CC list (event ev).
func (e *Engine) reopenWindow(ctx context.Context, t *Ticket, actor, comment string, action Action, ev EventKind) (*Ticket, error) {
	what := "the next worker runs the reverse sync again"
	if action == ActionEndWindow {
		what = "the next worker closes the rollback window"
	}
	next, err := e.transition(ctx, Change{Ticket: t.ID, Version: t.Version, Action: action, To: StateQueued, Actor: actor, Comment: comment,
		Update: func(t *Ticket) error {
			// The error stays until the next run ends: the source is
			// fenced until then.
			t.Carried = ""
			if action == ActionEndWindow {
				t.Carried = ActionEndWindow
			}
			return nil
		}})
	if err != nil {
		return nil, err
	}
	e.notify(ctx, next, ev, actor, comment, "queued, "+what+": "+e.describe(next))
	return next, nil
}

// cutoverText describes a cutover from one side to the other.
func cutoverText(c *migrate.CutoverReport, from, to string) string {
	s := fmt.Sprintf("writes to the %s stopped for %s (fence %s; the %s caught up in %s, %d table(s) and %d row(s) verified equal in %s), %s position %s",
		from, c.Pause.Round(time.Millisecond), c.Method, to, c.CatchUp.Round(time.Millisecond), c.VerifiedTables, c.VerifiedRows, c.Verify.Round(time.Millisecond), from, c.SourcePosition)
	if c.KilledSessions > 0 {
		s += fmt.Sprintf("; %d %s session(s) whose writes waited for the lock killed", c.KilledSessions, from)
	}
	if c.DrainKilled > 0 {
		s += fmt.Sprintf("; %d %s session(s) of %s still active when the drain's wait ended killed", c.DrainKilled, from, strings.Join(c.DrainKilledAccounts, ", "))
	}
	if c.UnappliedChanges > 0 {
		s += fmt.Sprintf("; NOT on the %s: %d row change(s) the %s took after the crashed cutover's lock ended, up to %s: reconcile them by hand", to, c.UnappliedChanges, from, c.UnappliedUntil)
	}
	return s
}
