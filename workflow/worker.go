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

// resultser is the optional capability of executors that record
// per-statement results (migrate.Statements).
type resultser interface {
	Results() []migrate.StatementResult
}

// Run executes tickets until ctx ends: WithWorkers workers claim queued
// tickets whose window is open (several processes may run Run on one
// MySQLStore), keep their lease with heartbeats and store progress and
// per-statement results as they go. One more goroutine reaps tickets
// whose worker died (lease expired): a SQL change fails as abandoned with
// what ran so far and is never re-run; a resumable migration is queued
// again and continues from its executor's checkpoint. It also queues
// scheduled tickets when their window opens, cancels tickets whose
// window closed before they could start, and moves on tickets a dead
// process left in submitted or approved.
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
		for {
			e.maintain(ctx)
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
	beat := func(c context.Context) {
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
					beat(c)
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
				// worker's ticket shows what was running.
				c, cc := store()
				beat(c)
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
	if err := e.resume(ctx); err != nil && ctx.Err() == nil {
		e.logger.Error("resuming stalled tickets failed", "err", err)
	}
}

// resume moves on tickets left in a state only the engine leaves
// (submitted, approved) for longer than a lease: the process that was
// moving them on died between two transitions.
func (e *Engine) resume(ctx context.Context) error {
	stalled, err := e.store.List(ctx, Filter{States: []State{StateSubmitted, StateApproved}, Limit: 1000})
	if err != nil {
		return err
	}
	now := e.now()
	for _, t := range stalled {
		if now.Sub(t.UpdatedAt) < e.lease {
			continue
		}
		e.logger.Warn("resuming a stalled ticket", "ticket", t.ID, "state", t.State.String())
		if t.State == StateSubmitted {
			if t, err = e.review(ctx, t); err == nil {
				_, err = e.advance(ctx, t)
			}
		} else {
			_, err = e.release(ctx, t)
		}
		if err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return nil
}

// Reap handles running tickets whose lease expired (their worker died or
// hung): a resumable migration goes back to the queue, anything else fails
// as "abandoned by worker" with the statements that ran so far, and is
// never re-run. Run calls it at every poll; it is exported for hosts and
// tests that drive the engine by hand.
func (e *Engine) Reap(ctx context.Context) error {
	running, err := e.store.List(ctx, Filter{States: []State{StateRunning}, Limit: 1000})
	if err != nil {
		return err
	}
	now := e.now()
	for _, t := range running {
		if !t.LeaseUntil.Before(now) {
			continue
		}
		expired := func(cur *Ticket) error {
			if !cur.LeaseUntil.Before(now) {
				return errLeaseLive
			}
			return nil
		}
		var change Change
		if e.resumable(t) {
			change = Change{Action: ActionRequeue, To: StateQueued,
				Comment: fmt.Sprintf("worker %s died (lease expired %s); resumes from its checkpoint", t.Worker, t.LeaseUntil.Format(time.RFC3339)),
				Update: func(cur *Ticket) error {
					if err := expired(cur); err != nil {
						return err
					}
					cur.Worker, cur.LeaseUntil = "", time.Time{}
					return nil
				}}
		} else {
			msg := abandoned(t)
			change = Change{Action: ActionAbandon, To: StateFailed, Comment: msg,
				Update: func(cur *Ticket) error {
					if err := expired(cur); err != nil {
						return err
					}
					for i := range cur.Results {
						if cur.Results[i].Status == migrate.StatementRunning {
							cur.Results[i].Status = migrate.StatementFailed
							cur.Results[i].Error = "unknown outcome: the worker died while it ran"
						}
					}
					cur.Error, cur.Worker, cur.LeaseUntil, cur.FinishedAt = msg, "", time.Time{}, now
					return nil
				}}
		}
		change.Ticket, change.Version, change.Actor = t.ID, t.Version, SystemActor
		next, err := e.transition(ctx, change)
		switch {
		case errors.Is(err, errLeaseLive), errors.Is(err, ErrConflict):
			continue // its worker is alive after all, or someone else acted
		case err != nil:
			return err
		}
		e.logger.Warn("reaped a ticket whose worker died", "ticket", t.ID, "worker", t.Worker, "to", next.State.String())
		if next.State == StateFailed {
			e.notify(ctx, next, EventFailed, SystemActor, change.Comment, "")
		}
	}
	return nil
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
	waiting, err := e.store.List(ctx, Filter{States: []State{StateScheduled, StateQueued}, Limit: 1000})
	if err != nil {
		return err
	}
	now := e.now()
	for _, t := range waiting {
		var next *Ticket
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
	}
	return nil
}
