package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shiftgate/shiftgate/migrate"
)

// resultser is the optional capability of executors that record
// per-statement results (migrate.Statements).
type resultser interface {
	Results() []migrate.StatementResult
}

// Run executes tickets until ctx ends: WithWorkers workers claim queued
// tickets whose window is open (several processes may run Run on one
// MySQLStore), keep their lease with heartbeats and store progress and
// per-statement results as they go. One more goroutine reaps tickets
// whose worker died (lease expired; see Reap), queues scheduled tickets
// when their window opens, cancels tickets whose window closed before
// they could start, and, every half lease, takes over tickets that a dead
// process left between two of the engine's own steps (see Recover), so
// that a long-running replica heals what a dead peer left.
//
// When ctx ends, running executors are canceled: their tickets fail (or
// are requeued if resumable), and Run returns once every worker is done.
func (e *Engine) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range e.workers {
		worker := fmt.Sprintf("%s/%d", e.workerID, i+1)
		wg.Go(func() { e.work(ctx, worker) })
	}
	wg.Go(func() {
		var recovered time.Time
		for {
			e.maintain(ctx)
			if time.Since(recovered) >= e.lease/2 {
				recovered = time.Now()
				if err := e.Recover(ctx); err != nil && ctx.Err() == nil {
					e.logger.Error("recovering stalled tickets failed", "err", err)
				}
			}
			if !sleep(ctx, e.poll) {
				return
			}
		}
	})
	wg.Wait()
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (e *Engine) work(ctx context.Context, worker string) {
	for ctx.Err() == nil {
		t, err := e.store.Claim(ctx, worker, e.now(), e.lease)
		if err != nil && ctx.Err() == nil {
			e.logger.Error("claim failed", "worker", worker, "err", err)
		}
		if t == nil {
			sleep(ctx, e.poll)
			continue
		}
		e.execute(ctx, t, worker)
	}
}

// RunOnce claims and executes one ticket in the calling goroutine, and
// reports whether there was one. It is Run for tests and for hosts that
// bring their own scheduling.
func (e *Engine) RunOnce(ctx context.Context) (bool, error) {
	worker := e.workerID + "/once"
	t, err := e.store.Claim(ctx, worker, e.now(), e.lease)
	if err != nil || t == nil {
		return false, err
	}
	e.execute(ctx, t, worker)
	return true, nil
}

// execute runs a claimed ticket to its end.
func (e *Engine) execute(ctx context.Context, t *Ticket, worker string) {
	log := e.logger.With("ticket", t.ID, "worker", worker)
	detail := e.describe(t)
	if t.Attempts > 1 {
		detail = fmt.Sprintf("attempt %d, resuming: %s", t.Attempts, detail)
	}
	e.notify(ctx, t, EventStarted, SystemActor, "worker "+worker, detail)

	// Store writes outlive ctx: a shutdown still records how the run ended.
	store := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.mu.Lock()
	e.running[t.ID] = cancel
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.running, t.ID)
		e.mu.Unlock()
	}()

	var (
		ex       migrate.Executor
		report   *migrate.Report
		runErr   error
		mu       sync.Mutex
		progress *migrate.Progress
	)
	ep, err := e.endpoints(runCtx, t)
	if spec, ok := e.kinds[t.Kind]; err == nil && !ok {
		err = fmt.Errorf("workflow: ticket #%d: kind %s is not registered with this engine", t.ID, t.Kind)
	} else if err == nil {
		ex, err = spec.Executor(runCtx, t, ep)
	}
	results := func() []migrate.StatementResult {
		if r, ok := ex.(resultser); ok {
			return r.Results()
		}
		return nil
	}
	var unrecorded error // a statement's record that failed: the run stopped before it
	beat := func(c context.Context) error {
		mu.Lock()
		p := progress
		mu.Unlock()
		st, err := e.store.Heartbeat(c, Beat{Ticket: t.ID, Worker: worker, LeaseUntil: e.now().Add(e.lease), Progress: p, Results: results()})
		switch {
		case errors.Is(err, ErrLeaseLost):
			log.Warn("lease lost; stopping", "err", err)
			cancel()
		case err != nil:
			log.Warn("heartbeat failed", "err", err)
		case st != StateRunning:
			log.Info("ticket left running; stopping", "state", st.String())
			cancel()
		}
		return err
	}
	if err != nil {
		runErr = err
	} else {
		_, statements := ex.(resultser)
		beatDone := make(chan struct{})
		stopBeat := make(chan struct{})
		go func() {
			defer close(beatDone)
			tick := time.NewTicker(e.lease / 3)
			defer tick.Stop()
			var sent time.Time
			var sentLine string
			for {
				select {
				case <-stopBeat:
					return
				case <-tick.C:
					c, cc := store()
					_ = beat(c) // logged; the next beat tries again
					cc()
					mu.Lock()
					p := progress
					mu.Unlock()
					if line := progressText(p, statements); e.progressEvery > 0 && p != nil && time.Since(sent) >= e.progressEvery && line != sentLine {
						sent, sentLine = time.Now(), line
						e.notify(ctx, t, EventProgress, SystemActor, "", sentLine)
					}
				}
			}
		}()
		report, runErr = ex.Run(runCtx, func(p migrate.Progress) {
			mu.Lock()
			progress = &p
			mu.Unlock()
			if statements {
				// Record each statement before it runs, so that a dead
				// worker's ticket shows what was running; a statement
				// that cannot be recorded is not run.
				c, cc := store()
				if err := beat(c); err != nil {
					mu.Lock()
					unrecorded = err
					mu.Unlock()
					cancel()
				}
				cc()
			}
		})
		close(stopBeat)
		<-beatDone
	}

	c, cc := store()
	defer cc()
	mu.Lock()
	p := progress
	mu.Unlock()
	res := results()
	at := e.now()
	finish := func(t *Ticket) error {
		t.Worker, t.LeaseUntil, t.FinishedAt = "", time.Time{}, at
		t.Report, t.Progress = report, p
		if res != nil {
			t.Results = res
		}
		return nil
	}
	var change Change
	switch {
	case runErr == nil:
		change = Change{Action: ActionSucceed, To: StateSucceeded, Comment: summary(report, res)}
	case ctx.Err() != nil && runCtx.Err() != nil && e.resumable(t):
		change = Change{Action: ActionRequeue, To: StateQueued, Comment: "worker " + worker + " shut down; resumes from its checkpoint",
			Update: func(t *Ticket) error {
				t.Worker, t.LeaseUntil, t.Progress = "", time.Time{}, p
				return nil
			}}
	default:
		msg := runErr.Error()
		mu.Lock()
		if unrecorded != nil {
			msg = fmt.Sprintf("stopped, since its progress could not be recorded (%v): %s", unrecorded, msg)
		}
		mu.Unlock()
		if ctx.Err() != nil {
			msg = "interrupted by worker shutdown: " + msg
		}
		change = Change{Action: ActionFail, To: StateFailed, Comment: msg,
			Update: func(t *Ticket) error { t.Error = msg; return finish(t) }}
	}
	if change.Update == nil {
		change.Update = finish
	}
	change.Ticket, change.Version, change.Actor = t.ID, t.Version, SystemActor
	next, err := e.transition(c, change)
	if err != nil {
		// Canceled (or reaped) meanwhile: keep what ran, if we still may.
		log.Info("run ended after the ticket left running", "err", err)
		if _, herr := e.store.Heartbeat(c, Beat{Ticket: t.ID, Worker: worker, Progress: p, Results: res}); herr != nil && !errors.Is(herr, ErrLeaseLost) {
			log.Warn("storing the final results failed", "err", herr)
		}
		return
	}
	switch next.State {
	case StateSucceeded:
		e.notify(c, next, EventFinished, SystemActor, change.Comment, "")
	case StateFailed:
		e.notify(c, next, EventFailed, SystemActor, change.Comment, "")
	}
}

// progressText is the progress line of an event.
func progressText(p *migrate.Progress, statements bool) string {
	switch {
	case p == nil:
		return ""
	case statements && p.Table != "":
		return fmt.Sprintf("%d of %d statements done, %d row(s) so far; running %s", p.TablesDone, p.TablesTotal, p.Rows, p.Table)
	case statements:
		return fmt.Sprintf("%d of %d statements done, %d row(s)", p.TablesDone, p.TablesTotal, p.Rows)
	}
	return p.String()
}

func (e *Engine) resumable(t *Ticket) bool {
	r := e.kinds[t.Kind].Resumable
	return r != nil && r(t)
}

func summary(r *migrate.Report, res []migrate.StatementResult) string {
	if r == nil {
		return "done"
	}
	if res != nil {
		return fmt.Sprintf("%d statement(s), %d row(s) affected in %s", len(res), r.Rows, r.Duration.Round(time.Millisecond))
	}
	return fmt.Sprintf("%d table(s), %d row(s), %d byte(s) in %s", len(r.Tables), r.Rows, r.Bytes, r.Duration.Round(time.Millisecond))
}

// maintain reaps expired leases and applies execution windows.
func (e *Engine) maintain(ctx context.Context) {
	if err := e.Reap(ctx); err != nil && ctx.Err() == nil {
		e.logger.Error("reaping failed", "err", err)
	}
	if err := e.applyWindows(ctx); err != nil && ctx.Err() == nil {
		e.logger.Error("scheduling failed", "err", err)
	}
}

// Recover takes over tickets that a process died with between two of the
// engine's own steps, once they have not changed for a lease: submitted
// (not reviewed), pending approval at a step whose automatic decision was
// never recorded (not Awaiting), and approved (not queued). It first
// claims each one with a resume transition, under the version check, so
// that of several engines exactly one acts and the others wait another
// lease; then it reviews, decides or releases it as Submit would have.
// Tickets of a kind this engine does not run are left to one that does.
// Run calls it every half lease; it is exported for hosts that drive the
// engine by hand (with RunOnce and Reap).
func (e *Engine) Recover(ctx context.Context) error {
	now := e.now()
	var errs []error
	err := e.each(ctx, Filter{States: []State{StateSubmitted, StatePendingApproval, StateApproved}}, func(t *Ticket) error {
		_, known := e.kinds[t.Kind]
		steps := len(e.chains[t.Kind])
		if now.Sub(t.UpdatedAt) < e.lease || !known || steps == 0 || (t.State == StatePendingApproval && (t.Awaiting || t.Step >= steps)) {
			return nil
		}
		claimed, err := e.transition(ctx, Change{Ticket: t.ID, Version: t.Version, Action: ActionResume, To: t.State, Actor: SystemActor,
			Comment: fmt.Sprintf("engine %s takes it over: unchanged since %s, the process moving it on stopped", e.workerID, t.UpdatedAt.Format(time.RFC3339))})
		if errors.Is(err, ErrConflict) {
			return nil // it moved, or another engine claimed it
		}
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		e.logger.Warn("taking over a stalled ticket", "ticket", t.ID, "state", t.State.String())
		if _, err := e.moveOn(ctx, claimed); err != nil && !errors.Is(err, ErrConflict) {
			errs = append(errs, wrapf(err, "ticket #%d", t.ID))
		}
		return nil
	})
	return errors.Join(append(errs, err)...)
}

// Reap handles running tickets whose lease expired (their worker died or
// hung). A resumable migration goes back to the queue. Any other run is
// never re-run; it ends by what its worker last recorded: succeeded when
// every statement was done (with a note in the audit trail), outcome_unknown
// when a statement was running, and failed, as "abandoned by worker", with
// the statements done so far otherwise. Run calls it at every poll; it is
// exported for hosts and tests that drive the engine by hand.
func (e *Engine) Reap(ctx context.Context) error {
	now := e.now()
	return e.each(ctx, Filter{States: []State{StateRunning}}, func(t *Ticket) error {
		if !t.LeaseUntil.Before(now) {
			return nil
		}
		var change Change
		if e.resumable(t) {
			change = Change{Action: ActionRequeue, To: StateQueued,
				Comment: fmt.Sprintf("worker %s died (lease expired %s); resumes from its checkpoint", t.Worker, t.LeaseUntil.Format(time.RFC3339)),
				Update: func(cur *Ticket) error {
					if !cur.LeaseUntil.Before(now) {
						return errLeaseLive
					}
					cur.Worker, cur.LeaseUntil = "", time.Time{}
					return nil
				}}
		} else {
			change = deadRun(t, now)
		}
		change.Ticket, change.Version, change.Actor = t.ID, t.Version, SystemActor
		next, err := e.transition(ctx, change)
		switch {
		case errors.Is(err, errLeaseLive), errors.Is(err, ErrConflict):
			return nil // its worker is alive after all, or someone else acted
		case err != nil:
			return err
		}
		e.logger.Warn("reaped a ticket whose worker died", "ticket", t.ID, "worker", t.Worker, "to", next.State.String())
		switch next.State {
		case StateSucceeded:
			e.notify(ctx, next, EventFinished, SystemActor, change.Comment, "")
		case StateFailed, StateOutcomeUnknown:
			e.notify(ctx, next, EventFailed, SystemActor, change.Comment, "")
		}
		return nil
	})
}

// deadRun is the change that ends a run, not resumable, whose worker died:
// its end follows from the statements' record, which must not have
// changed since t was read.
func deadRun(t *Ticket, now time.Time) Change {
	to, action, msg := StateFailed, ActionAbandon, abandoned(t)
	switch {
	case len(t.Results) > 0 && !slices.ContainsFunc(t.Results, func(r migrate.StatementResult) bool { return r.Status != migrate.StatementSucceeded }):
		to, action = StateSucceeded, ActionSucceed
		msg = fmt.Sprintf("worker %s died (lease expired %s) after its last heartbeat recorded all %d statement(s) as done: succeeded, finished by the reaper",
			t.Worker, t.LeaseUntil.Format(time.RFC3339), len(t.Results))
	case slices.ContainsFunc(t.Results, func(r migrate.StatementResult) bool { return r.Status == migrate.StatementRunning }):
		to = StateOutcomeUnknown
	}
	return Change{Action: action, To: to, Comment: msg, Update: func(cur *Ticket) error {
		if !cur.LeaseUntil.Before(now) || deadRun(cur, now).To != to {
			return errLeaseLive
		}
		for i := range cur.Results {
			if cur.Results[i].Status == migrate.StatementRunning {
				cur.Results[i].Status = migrate.StatementFailed
				cur.Results[i].Error = "unknown outcome: the worker died while it ran"
			}
		}
		if to != StateSucceeded {
			cur.Error = msg
		}
		cur.Worker, cur.LeaseUntil, cur.FinishedAt = "", time.Time{}, now
		return nil
	}}
}

var errLeaseLive = errors.New("workflow: lease renewed meanwhile")

// abandoned says what a dead worker left behind.
func abandoned(t *Ticket) string {
	var done, unknown []string
	for _, r := range t.Results {
		switch r.Status {
		case migrate.StatementSucceeded:
			done = append(done, fmt.Sprint(r.Index+1))
		case migrate.StatementRunning:
			unknown = append(unknown, fmt.Sprint(r.Index+1))
		}
	}
	msg := fmt.Sprintf("abandoned by worker %s (lease expired %s); not re-run", t.Worker, t.LeaseUntil.Format(time.RFC3339))
	if t.Results != nil {
		msg += fmt.Sprintf("; statements done: [%s], outcome unknown: [%s], of %d", strings.Join(done, " "), strings.Join(unknown, " "), len(t.Results))
	}
	return msg
}

// applyWindows queues scheduled tickets whose window opened and cancels
// those whose window closed before they started.
func (e *Engine) applyWindows(ctx context.Context) error {
	now := e.now()
	return e.each(ctx, Filter{States: []State{StateScheduled, StateQueued}}, func(t *Ticket) error {
		var next *Ticket
		var err error
		switch {
		case t.Window.Closed(now):
			next, err = e.transition(ctx, Change{Ticket: t.ID, Version: t.Version, Action: ActionCancel, To: StateCanceled, Actor: SystemActor,
				Comment: "the execution window closed before it could start",
				Update:  func(t *Ticket) error { t.FinishedAt = now; return nil }})
			if err == nil {
				e.notify(ctx, next, EventCanceled, SystemActor, "the execution window closed before it could start", "")
			}
		case t.State == StateScheduled && t.Window.Open(now):
			_, err = e.transition(ctx, Change{Ticket: t.ID, Version: t.Version, Action: ActionEnqueue, To: StateQueued, Actor: SystemActor,
				Comment: "the execution window opened"})
		}
		if err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
		return nil
	})
}
