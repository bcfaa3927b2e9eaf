package migratetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/migrate"
)

// waitLimit bounds each wait of the streaming checks: for Run to follow
// the source, for a change to reach the target, for a cutover to be
// accepted. It is a failure bound, not a timing assertion.
var waitLimit = 3 * time.Minute

// running is a Run in its own goroutine.
type running struct {
	cancel context.CancelFunc
	// inSync is closed at the first progress with Phase
	// migrate.PhaseInSync; done when Run returned report and err.
	inSync, done chan struct{}
	report       *migrate.Report
	err          error
}

// start runs e in a goroutine under a context of its own, derived from
// ctx, passing progress the reports.
func start(ctx context.Context, e migrate.Executor, progress migrate.ProgressFunc) *running {
	ctx, cancel := context.WithCancel(ctx)
	r := &running{cancel: cancel, inSync: make(chan struct{}), done: make(chan struct{})}
	var once sync.Once
	go func() {
		defer close(r.done)
		r.report, r.err = e.Run(ctx, func(p migrate.Progress) {
			if progress != nil {
				progress(p)
			}
			if p.Phase == migrate.PhaseInSync {
				once.Do(func() { close(r.inSync) })
			}
		})
	}()
	return r
}

// stop cancels the run and waits for it to return.
func (r *running) stop() {
	r.cancel()
	<-r.done
}

// awaitInSync waits until the run follows the source; what names the run
// in the failure.
func (r *running) awaitInSync(t testing.TB, what string) {
	t.Helper()
	select {
	case <-r.inSync:
	case <-r.done:
		t.Fatalf("%s returned (report %v, error %v) before it followed the source (Progress.Phase %q)", what, r.report != nil, r.err, migrate.PhaseInSync)
	case <-time.After(waitLimit):
		r.stop()
		t.Fatalf("%s did not follow the source (Progress.Phase %q) within %s", what, migrate.PhaseInSync, waitLimit)
	}
}

// runToEnd runs e until it ends and returns what Run returned. A
// Streaming executor's Run is ended once it follows the source: by a
// cutover with Cutover, else by canceling its context, which then counts
// as success (the error is dropped).
func runToEnd(t testing.TB, f Features, e migrate.Executor, progress migrate.ProgressFunc) (*migrate.Report, error) {
	t.Helper()
	if !f.Streaming {
		return e.Run(context.Background(), progress)
	}
	r := start(context.Background(), e, progress)
	defer r.stop()
	select {
	case <-r.done:
		return r.report, r.err
	case <-r.inSync:
	case <-time.After(waitLimit):
		r.stop()
		t.Fatalf("Run did not follow the source (Progress.Phase %q) within %s", migrate.PhaseInSync, waitLimit)
	}
	if f.Cutover {
		cutover(t, e, r)
		<-r.done
		return r.report, r.err
	}
	r.stop()
	if errors.Is(r.err, context.Canceled) {
		return r.report, nil
	}
	return r.report, r.err
}

// cutover cuts e over while r runs it, retrying while it is not in sync.
func cutover(t testing.TB, e migrate.Executor, r *running) *migrate.CutoverReport {
	t.Helper()
	c, ok := e.(Cutoverer)
	if !ok {
		r.stop()
		t.Fatalf("the executor %T of a Cutover subject is no migratetest.Cutoverer", e)
	}
	deadline := time.Now().Add(waitLimit)
	for {
		rep, err := c.Cutover(context.Background())
		if err == nil {
			if rep == nil {
				t.Error("Cutover returned a nil report and no error")
			}
			return rep
		}
		if !errors.Is(err, migrate.ErrNotInSync) || time.Now().After(deadline) {
			r.stop()
			t.Fatalf("Cutover: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// awaitEqual waits until s's target holds what its source does.
func awaitEqual(t testing.TB, s Subject, r *running, what string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		src, dst := s.Source(t), s.State(t)
		if src == dst {
			return
		}
		select {
		case <-r.done:
			t.Fatalf("%s: Run returned (error %v) with the target behind the source:\nsource %s\ntarget %s", what, r.err, src, dst)
		default:
		}
		if time.Now().After(deadline) {
			r.stop()
			t.Fatalf("%s: the target did not catch up with the source within %s:\nsource %s\ntarget %s", what, waitLimit, src, dst)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// again returns the executor that continues s's: Reopen's when set.
func again(t testing.TB, s Subject) migrate.Executor {
	if s.Reopen != nil {
		return s.Reopen(t)
	}
	return s.Executor
}

func needStreaming(t testing.TB, s Subject) {
	t.Helper()
	if s.Source == nil || s.Write == nil {
		t.Fatal("the subject of a streaming executor has no Source or no Write")
	}
}

// streamFollowsTheSource writes to the source while Run follows it, then
// cancels Run, writes while none runs, and checks that a new Run brings
// both changes.
func streamFollowsTheSource(t testing.TB, _ Features, newSubject NewSubject) {
	s := newSubject(t)
	needStreaming(t, s)
	r := start(context.Background(), s.Executor, nil)
	defer r.stop()
	r.awaitInSync(t, "Run")
	s.Write(t)
	awaitEqual(t, s, r, "a change written to the source after the copy")
	r.stop()
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Run canceled while following the source returned %v, want an error wrapping context.Canceled", r.err)
	}
	if r.report == nil {
		t.Error("Run canceled while following the source returned a nil report")
	}

	s.Write(t)
	next := start(context.Background(), again(t, s), nil)
	defer next.stop()
	next.awaitInSync(t, "the Run after a canceled one")
	awaitEqual(t, s, next, "a change written while no Run followed the source")
	s.Write(t)
	awaitEqual(t, s, next, "a change written after the Run resumed")
}

// cutoverEndsRun cuts over right after a write to the source and checks
// that Run ends with the target equal and refuses to run again.
func cutoverEndsRun(t testing.TB, _ Features, newSubject NewSubject) {
	s := newSubject(t)
	needStreaming(t, s)
	r := start(context.Background(), s.Executor, nil)
	defer r.stop()
	r.awaitInSync(t, "Run")
	s.Write(t)
	rep := cutover(t, s.Executor, r)
	select {
	case <-r.done:
	case <-time.After(waitLimit):
		r.stop()
		t.Fatalf("Run did not return within %s of its cutover", waitLimit)
	}
	if r.err != nil {
		t.Fatalf("Run ended by a cutover returned %v", r.err)
	}
	switch {
	case r.report == nil:
		t.Error("Run ended by a cutover returned a nil report")
	case r.report.Cutover == nil:
		t.Error("Run ended by a cutover returned a report without Cutover")
	case rep != nil && r.report.Cutover.Pause != rep.Pause:
		t.Errorf("Run's report has another cutover (pause %s) than Cutover's (pause %s)", r.report.Cutover.Pause, rep.Pause)
	}
	if src, dst := s.Source(t), s.State(t); src != dst {
		t.Errorf("after the cutover the target differs from the source:\nsource %s\ntarget %s", src, dst)
	}

	// A Run after the cutover is refused; one that follows the source
	// anyway is stopped.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	next := start(ctx, again(t, s), func(p migrate.Progress) {
		if p.Phase == migrate.PhaseInSync {
			cancel()
		}
	})
	select {
	case <-next.done:
	case <-time.After(waitLimit):
		next.stop()
	}
	if !errors.Is(next.err, migrate.ErrCutOver) {
		t.Errorf("Run after the cutover returned %v, want migrate.ErrCutOver", next.err)
	}
}
