package workflow

import (
	"context"
	"fmt"
	"time"

	"github.com/shiftgate/shiftgate/migrate"
)

// watchCutover runs beside the executor of a kind with a cutover until
// stop is closed; the store is its channel with the people. At every poll
// it reads the ticket: while it runs and the executor's last progress is in
// sync, it moves it to awaiting_cutover and tells the cutover's approvers;
// once a person approved the cutover (cutting_over), it calls cut.Cutover
// under cutCtx, which ends when the run does. A cutover that succeeded ends
// the executor's Run, whose ending records the success; one that failed is
// recorded as cutover_failed, the sync going on. A cutover carried over
// from an earlier run (Ticket.Carried) is made once the ticket awaits it
// again. A move with a rollback window (windower) goes on after its
// cutover: see watchWindow.
func (r *ticketRun) watchCutover(ctx, cutCtx context.Context, stop <-chan struct{}, cut cutoverer) {
	tick := time.NewTicker(r.e.poll)
	defer tick.Stop()
	var unrecorded error // a failed cutover or cut-back whose record failed: tried again at the next poll
	win, _ := cut.(windower)
	var cutOver *migrate.CutoverReport // the cutover made, with a window: never made again
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		c, cc := storeContext(ctx)
		d, err := r.e.store.Get(c, r.t.ID)
		cc()
		if err != nil {
			r.log.Warn("reading the ticket for its cutover failed", "err", err)
			continue
		}
		t := d.Ticket
		if !r.holds(t) {
			continue // canceled or reaped: the heartbeat stops the run
		}
		r.know(t.Version)
		if t.State != StateCuttingOver && t.State != StateCuttingBack {
			unrecorded = nil
		}
		if win != nil {
			acted, over := r.watchWindow(ctx, cutCtx, t, win, cutOver, &unrecorded)
			if over {
				return
			}
			if acted || cutOver != nil {
				continue
			}
		}
		switch {
		case t.State == StateRunning && inSync(r.latest()):
			r.synced(ctx)
		case t.State == StateAwaitingCutover && t.Carried == ActionCutover:
			r.carryOver(ctx, ActionCutover, StateCuttingOver, EventCutoverApproved, "cutover")
		case t.State == StateCuttingOver && unrecorded != nil:
			unrecorded = r.cutoverFailed(ctx, unrecorded)
		case t.State == StateCuttingOver:
			rep, err := cut.Cutover(cutCtx)
			if err == nil {
				r.log.Info("cut over", "pause", rep.Pause, "position", rep.SourcePosition)
				if win == nil {
					return
				}
				cutOver = rep
				r.windowOpened(ctx, rep)
				continue
			}
			if cutCtx.Err() != nil {
				return // canceled, or the run ended: its ending is recorded
			}
			r.log.Warn("cutover failed; the sync goes on", "err", err)
			unrecorded = r.cutoverFailed(ctx, err)
		}
	}
}

// synced moves the running ticket to awaiting_cutover with the progress
// that says so, and tells the cutover's approvers, the submitter and the
// CC list.
func (r *ticketRun) synced(ctx context.Context) {
	c, cc := storeContext(ctx)
	defer cc()
	p := *r.latest()
	comment := "in sync (" + syncText(&p) + "): awaiting a cutover"
	next, err := r.transition(c, Change{Action: ActionSynced, To: StateAwaitingCutover, Comment: comment,
		Update: func(t *Ticket) error { t.Progress = &p; return nil }})
	if err != nil {
		r.log.Warn("recording that the sync is in sync failed", "err", err)
		return
	}
	who, err := r.e.cutoverApprovers(c, next)
	if err != nil {
		r.log.Warn("listing the cutover's approvers failed", "err", err)
	}
	r.e.notifyTo(next, EventInSync, SystemActor, comment, r.e.describe(next), append(who, append([]string{next.Submitter}, next.CC...)...))
}

// cutoverFailed records a cutover that failed with cutErr, in the audit
// trail and as the ticket's error, and returns nil, or cutErr when it
// could not be recorded.
func (r *ticketRun) cutoverFailed(ctx context.Context, cutErr error) error {
	c, cc := storeContext(ctx)
	defer cc()
	msg := "cutover refused, the sync goes on and awaits another cutover: " + cutErr.Error()
	next, err := r.transition(c, Change{Action: ActionCutoverFailed, To: StateAwaitingCutover, Comment: msg,
		Update: func(t *Ticket) error { t.setError(msg, cutErr); return nil }})
	if err != nil {
		r.log.Warn("recording a failed cutover failed", "err", err)
		return cutErr
	}
	r.e.notify(c, next, EventCutoverFailed, SystemActor, msg, syncText(r.latest()))
	return nil
}

func inSync(p *migrate.Progress) bool { return p != nil && p.Phase == migrate.PhaseInSync }

// syncText is the progress line of a sync: its phase, then the copy's
// progress or the lag and the rate of the changes applied.
func syncText(p *migrate.Progress) string {
	switch {
	case p == nil:
		return ""
	case p.Phase == migrate.PhaseCopying:
		return fmt.Sprintf("%s: %s", p.Phase, p)
	}
	return fmt.Sprintf("%s, lag %s (%d transaction(s) behind), %d row change(s) in %d transaction(s) applied, %.0f rows/s", p.Phase, p.Lag.Round(time.Millisecond), p.LagTxns, p.AppliedRows, p.AppliedTxns, p.ApplyRowsPerSecond)
}

// cutoverSummary is the comment of a live move that cut over.
func cutoverSummary(r *migrate.Report) string {
	return "cut over: " + cutoverText(r.Cutover, "source", "target") + fmt.Sprintf("; %d row change(s) applied from the binary log", r.AppliedRows)
}
