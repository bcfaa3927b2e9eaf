package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/verify"
)

// resultser is the optional capability of executors that record
// per-statement results (migrate.Statements).
type resultser interface {
	Results() []migrate.StatementResult
}

// cutoverer is the capability of the executors of kinds with a cutover
// (KindSpec.Cutover): migrate.Sync.
type cutoverer interface {
	Cutover(ctx context.Context) (*migrate.CutoverReport, error)
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

// execute runs a claimed ticket to its end: it announces the start, runs
// the ticket's executor while heartbeats keep the lease and store
// progress, then records how the run ended (see ticketRun.record). ctx
// is the worker's: when it ends, the executor is canceled.
func (e *Engine) execute(ctx context.Context, t *Ticket, worker string) {
	detail := e.describe(t)
	if t.Attempts > 1 {
		detail = fmt.Sprintf("attempt %d, resuming: %s", t.Attempts, detail)
	}
	e.notify(ctx, t, EventStarted, SystemActor, "worker "+worker, detail)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.track(t.ID, cancel)
	defer e.untrack(t.ID)

	r := &ticketRun{e: e, t: t, worker: worker, cancel: cancel,
		log: e.logger.With("ticket", t.ID, "worker", worker)}
	var (
		report *migrate.Report
		err    error
	)
	r.ex, err = e.executor(runCtx, t)
	if err == nil {
		report, err = r.run(ctx, runCtx)
	}
	r.record(ctx, runCtx, report, err)
}

// track registers cancel as the way to stop ticket id, which this
// process now runs (see Engine.running); untrack removes it.
func (e *Engine) track(id int64, cancel context.CancelFunc) {
	e.mu.Lock()
	e.running[id] = cancel
	e.mu.Unlock()
}

// untrack forgets ticket id once this process no longer runs it.
func (e *Engine) untrack(id int64) {
	e.mu.Lock()
	delete(e.running, id)
	e.mu.Unlock()
}

// executor builds the executor of t's kind on t's endpoints. It fails
// when the endpoints cannot be resolved or t's kind is not registered
// with this engine; whatever the kind's constructor returns is returned
// as is.
func (e *Engine) executor(ctx context.Context, t *Ticket) (migrate.Executor, error) {
	ep, err := e.endpoints(ctx, t)
	if err != nil {
		return nil, err
	}
	spec, ok := e.kinds[t.Kind]
	if !ok {
		return nil, fmt.Errorf("workflow: ticket #%d: kind %s is not registered with this engine", t.ID, t.Kind)
	}
	return spec.Executor(ctx, t, ep)
}

// storeContext is the context of a store write made for a run under
// ctx: it outlives ctx, so that a shutdown still records how the run
// ended, and gives up after 30 seconds.
func storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// ticketRun is one execution of a claimed ticket by a worker: what its
// heartbeats, its executor's progress callback and its final record
// share. progress and unrecorded are guarded by mu.
type ticketRun struct {
	e      *Engine
	t      *Ticket
	worker string
	log    *slog.Logger
	cancel context.CancelFunc // stops the executor's run
	ex     migrate.Executor   // nil when none could be built

	mu         sync.Mutex
	progress   *migrate.Progress // the executor's last report, nil before the first
	unrecorded error             // a statement's record that failed: the run stopped before it
	version    int64             // the ticket's latest version known, 0 for t's
}

// know records v as the ticket's latest version known.
func (r *ticketRun) know(v int64) {
	r.mu.Lock()
	r.version = max(r.version, v)
	r.mu.Unlock()
}

// latest is the executor's last reported progress, nil before the first.
func (r *ticketRun) latest() *migrate.Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.progress
}

// results is the executor's per-statement results so far, or nil when
// it records none (see resultser).
func (r *ticketRun) results() []migrate.StatementResult {
	if rs, ok := r.ex.(resultser); ok {
		return rs.Results()
	}
	return nil
}

// beat extends the ticket's lease and stores the latest progress and
// results. It cancels the run when the lease is lost or the ticket left
// the running state (canceled, reaped meanwhile); every error is logged
// and returned.
func (r *ticketRun) beat(ctx context.Context) error {
	st, err := r.e.store.Heartbeat(ctx, Beat{Ticket: r.t.ID, Worker: r.worker, LeaseUntil: r.e.now().Add(r.e.lease), Progress: r.latest(), Results: r.results()})
	switch {
	case errors.Is(err, ErrLeaseLost):
		r.log.Warn("lease lost; stopping", "err", err)
		r.cancel()
	case err != nil:
		r.log.Warn("heartbeat failed", "err", err)
	case !st.Leased():
		r.log.Info("ticket left running; stopping", "state", st.String())
		r.cancel()
	}
	return err
}

// run runs the executor under runCtx while a heartbeat goroutine keeps
// the lease, and returns the executor's report and error once both are
// done. ctx is the worker's, under which store writes and notifications
// are made.
func (r *ticketRun) run(ctx, runCtx context.Context) (*migrate.Report, error) {
	_, statements := r.ex.(resultser)
	var cut cutoverer
	if r.e.kinds[r.t.Kind].Cutover {
		var ok bool
		if cut, ok = r.ex.(cutoverer); !ok {
			return nil, fmt.Errorf("workflow: ticket #%d: kind %s has a cutover, but its executor %T has no Cutover method", r.t.ID, r.t.Kind, r.ex)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { r.heartbeats(ctx, stop, statements) })
	// A cutover under way when the executor returns is abandoned, so that
	// the watcher stops.
	watchCtx, stopWatch := context.WithCancel(runCtx)
	if cut != nil {
		wg.Go(func() { r.watchCutover(ctx, watchCtx, stop, cut) })
	}
	report, err := r.ex.Run(runCtx, func(p migrate.Progress) { r.progressed(ctx, p, statements) })
	stopWatch()
	close(stop)
	wg.Wait()
	return report, err
}

// progressWrite is how often, at most, a run's new progress is stored
// between heartbeats, so that readers of the store (the console's live
// progress) see it promptly at a bounded write rate.
const progressWrite = time.Second

// heartbeats beats every third of the lease until stop is closed, and
// sooner (every progressWrite) when the progress changed; a failed beat
// is logged and the next one tries again. With progress events on
// (WithProgressEvery), it also notifies the progress line when it
// changed, at most once per period.
func (r *ticketRun) heartbeats(ctx context.Context, stop <-chan struct{}, statements bool) {
	tick := time.NewTicker(r.e.lease / 3)
	defer tick.Stop()
	prompt := time.NewTicker(min(progressWrite, r.e.lease/3))
	defer prompt.Stop()
	var stored *migrate.Progress
	var sent time.Time
	var sentLine string
	for {
		select {
		case <-stop:
			return
		case <-prompt.C:
			if p := r.latest(); p != stored {
				stored = p
				c, cc := storeContext(ctx)
				_ = r.beat(c) // logged; the next beat tries again
				cc()
			}
		case <-tick.C:
			stored = r.latest()
			c, cc := storeContext(ctx)
			_ = r.beat(c) // logged; the next beat tries again
			cc()
			p := r.latest()
			if line := progressText(p, statements); r.e.progressEvery > 0 && p != nil && time.Since(sent) >= r.e.progressEvery && line != sentLine {
				sent, sentLine = time.Now(), line
				r.e.notify(ctx, r.t, EventProgress, SystemActor, "", sentLine)
			}
		}
	}
}

// progressed is the executor's progress callback: it keeps p for the
// next heartbeat. For executors that record statements it beats at once,
// so that a dead worker's ticket shows what was running; a statement
// that cannot be recorded is not run: the run is canceled and the failed
// record kept for the ticket's error.
func (r *ticketRun) progressed(ctx context.Context, p migrate.Progress, statements bool) {
	r.mu.Lock()
	r.progress = &p
	r.mu.Unlock()
	if !statements {
		return
	}
	c, cc := storeContext(ctx)
	defer cc()
	if err := r.beat(c); err != nil {
		r.mu.Lock()
		r.unrecorded = err
		r.mu.Unlock()
		r.cancel()
	}
}

// record stores how the run ended (see ticketRun.ending) and notifies a
// success or failure. When the ticket left running meanwhile (canceled
// or reaped), it only stores the final progress and results, if the
// lease still allows.
func (r *ticketRun) record(ctx, runCtx context.Context, report *migrate.Report, runErr error) {
	c, cc := storeContext(ctx)
	defer cc()
	end := runEnd{progress: r.latest(), results: r.results(), report: report, at: r.e.now()}
	if v, ok := r.ex.(verificationer); ok {
		end.verification = v.Verification()
	}
	end.tables = recordTables(r.t, end, runErr)
	change := r.ending(ctx, runCtx, end, runErr)
	next, err := r.transition(c, change)
	if err != nil {
		// Canceled (or reaped) meanwhile: keep what ran, if we still may.
		r.log.Info("run ended after the ticket left running", "err", err)
		if _, herr := r.e.store.Heartbeat(c, Beat{Ticket: r.t.ID, Worker: r.worker, Progress: end.progress, Results: end.results}); herr != nil && !errors.Is(herr, ErrLeaseLost) {
			r.log.Warn("storing the final results failed", "err", herr)
		}
		return
	}
	switch next.State {
	case StateSucceeded:
		r.e.notify(c, next, EventFinished, SystemActor, change.Comment, "")
	case StateFailed:
		r.e.notify(c, next, EventFailed, SystemActor, change.Comment, "")
	}
}

// transition applies change (its ticket, version and actor set here) to
// the run's ticket, under the version the ticket has now as long as this
// run still holds it: a live move's ticket changes under its running
// worker (in sync, a person's cutover). A ticket that left the leased
// states, or went to another run, gives the conflict.
func (r *ticketRun) transition(ctx context.Context, change Change) (*Ticket, error) {
	r.mu.Lock()
	change.Ticket, change.Version, change.Actor = r.t.ID, max(r.t.Version, r.version), SystemActor
	r.mu.Unlock()
	for attempt := 1; ; attempt++ {
		next, err := r.e.transition(ctx, change)
		if err == nil {
			r.know(next.Version)
			return next, nil
		}
		var ce *ConflictError
		if !errors.As(err, &ce) || attempt == 5 || !r.holds(ce.Current) {
			return nil, err
		}
		change.Version = ce.Current.Version
	}
}

// holds reports whether t is still leased to this run.
func (r *ticketRun) holds(t *Ticket) bool {
	return t.State.Leased() && t.Worker == r.worker && t.Attempts == r.t.Attempts
}

// ending is the change that ends the run (without ticket, version and
// actor): succeeded when runErr is nil; requeued to resume from its
// checkpoint when the worker shut down (ctx ended) during the run of a
// resumable ticket; failed otherwise.
func (r *ticketRun) ending(ctx, runCtx context.Context, end runEnd, runErr error) Change {
	switch {
	case runErr == nil && len(unfinished(end.tables)) > 0:
		msg := fmt.Sprintf("table(s) %s failed in an earlier run: retry them", strings.Join(unfinished(end.tables), ", "))
		return Change{Action: ActionFail, To: StateFailed, Comment: msg,
			Update: func(t *Ticket) error { t.Error = msg; return end.finish(t) }}
	case runErr == nil:
		if w, ok := r.ex.(windower); ok {
			if how, back := w.closing(); how != "" {
				return Change{Action: ActionSucceed, To: StateSucceeded, Comment: how + attempts(r.t, end.at),
					Update: func(t *Ticket) error {
						forward := t.Report // the cutover's, recorded when the window opened
						t.setError("", nil)
						_ = end.finish(t)
						t.Report, t.CutBack = forward, back
						return nil
					}}
			}
		}
		return Change{Action: ActionSucceed, To: StateSucceeded, Comment: summary(end.report, end.results) + attempts(r.t, end.at),
			Update: func(t *Ticket) error { t.setError("", nil); return end.finish(t) }}
	case ctx.Err() != nil && runCtx.Err() != nil && r.e.resumable(r.t):
		return Change{Action: ActionRequeue, To: StateQueued, Comment: "worker " + r.worker + " shut down; resumes from its checkpoint", Update: end.requeue}
	case errors.Is(runErr, errWindowStopped):
		msg := r.failure(ctx, runErr)
		return Change{Action: ActionFail, To: StateSourceFenced, Comment: msg,
			Update: func(t *Ticket) error {
				// Report stays the cutover's: the window is not over.
				t.setError(msg, runErr)
				t.Worker, t.LeaseUntil, t.Progress, t.Carried = "", time.Time{}, end.progress, ""
				return nil
			}}
	}
	msg := r.failure(ctx, runErr)
	return Change{Action: ActionFail, To: StateFailed, Comment: msg,
		Update: func(t *Ticket) error { t.setError(msg, runErr); return end.finish(t) }}
}

// failure is a failed run's error text: runErr's, prefixed with why the
// run stopped when a statement could not be recorded or the worker
// (ctx) shut down.
func (r *ticketRun) failure(ctx context.Context, runErr error) string {
	msg := runErr.Error()
	r.mu.Lock()
	if r.unrecorded != nil {
		msg = fmt.Sprintf("stopped, since its progress could not be recorded (%v): %s", r.unrecorded, msg)
	}
	r.mu.Unlock()
	if ctx.Err() != nil {
		msg = "interrupted by worker shutdown: " + msg
	}
	return msg
}

// runEnd is what a finished run leaves on its ticket.
type runEnd struct {
	report   *migrate.Report
	progress *migrate.Progress
	results  []migrate.StatementResult // nil when the executor records none
	// verification ends a verified copy's run (nil for other executors,
	// or when the copy failed first).
	verification *verify.Report
	// tables are a migration's sub-tasks as the run leaves them.
	tables []TableTask
	at     time.Time
}

// finish records a finished run on t: it releases the lease, stamps the
// end and keeps the report, the progress and, when the executor records
// them, the results. It never fails.
func (end runEnd) finish(t *Ticket) error {
	t.Worker, t.LeaseUntil, t.FinishedAt, t.Carried = "", time.Time{}, end.at, ""
	t.Report, t.Progress, t.Verification = end.report, end.progress, end.verification
	if end.tables != nil {
		t.Tables = end.tables
	}
	if end.results != nil {
		t.Results = end.results
	}
	return nil
}

// requeue records an interrupted run on t, queued again: it releases
// the lease, keeps the progress, from which the next run resumes, and
// carries an approved request over (carry). It never fails.
func (end runEnd) requeue(t *Ticket) error {
	t.Worker, t.LeaseUntil, t.Progress = "", time.Time{}, end.progress
	carry(t)
	return nil
}

// carry keeps the request a person approved and t's run had not made
// (its state, read before t is requeued) for the next run: see
// Ticket.Carried. A request carried earlier and not made yet stays.
func carry(t *Ticket) {
	switch t.State {
	case StateCuttingOver:
		t.Carried = ActionCutover
	case StateCuttingBack:
		t.Carried = ActionCutBack
	case StateEndingWindow:
		t.Carried = ActionEndWindow
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
	case p.Phase != "":
		return syncText(p)
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
	if r.Cutover != nil {
		return cutoverSummary(r)
	}
	if res != nil {
		return fmt.Sprintf("%d statement(s), %d row(s) affected in %s", len(res), r.Rows, r.Duration.Round(time.Millisecond))
	}
	return fmt.Sprintf("%d table(s), %d row(s), %d byte(s) in %s", len(r.Tables), r.Rows, r.Bytes, r.Duration.Round(time.Millisecond))
}

// attempts tells, for a ticket run more than once, how long it took
// since its first start, which its last run's report does not.
func attempts(t *Ticket, at time.Time) string {
	if t.Attempts < 2 || t.StartedAt.IsZero() {
		return ""
	}
	return fmt.Sprintf("; %d attempts, %s since the first started", t.Attempts, at.Sub(t.StartedAt).Round(time.Millisecond))
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

// Reap handles leased tickets (State.Leased: running, or a live move
// awaiting or making its cutover, or in its rollback window) whose lease
// expired (their worker died or hung). A resumable migration or live move goes back to the queue (a
// cutover, cut-back or end of window approved but not made is carried over to the next run:
// Ticket.Carried). Any other run is
// never re-run; it ends by what its worker last recorded: succeeded when
// every statement was done (with a note in the audit trail), outcome_unknown
// when a statement was running, and failed, as "abandoned by worker", with
// the statements done so far otherwise. Run calls it at every poll; it is
// exported for hosts and tests that drive the engine by hand.
func (e *Engine) Reap(ctx context.Context) error {
	now := e.now()
	return e.each(ctx, Filter{States: slices.Clone(leasedStates)}, func(t *Ticket) error {
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
					carry(cur)
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
			cur.setError(msg, ErrAbandoned)
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
