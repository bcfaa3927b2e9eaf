// Package migratetest is the conformance suite for migrate.Executor
// implementations: ours and the ones host applications write. Call Run from
// a test with the features the executor has and a constructor of fresh
// subjects.
//
// The checks every executor passes are in Run's doc; Features adds the
// checks of four optional parts of the contract, as watermill's
// tests.Features does: Tables (work table by table), Resumable (a canceled
// Run continues), Streaming (Run follows the source's changes after the
// copy until its context ends) and Cutover (the executor is a Cutoverer
// whose cutover ends Run with the target equal to the source).
package migratetest

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/migrate"
)

// Features says which parts of the contract beyond the common one an
// executor is held to; Run skips the checks of the features it lacks. The
// common checks (Plan changes nothing, Run reports progress and a result,
// one Run at a time, cancellation) apply to every executor.
//
// The common checks end the Run of a Streaming executor themselves, once
// it reports Progress.Phase migrate.PhaseInSync: by its cutover with
// Cutover, else by canceling the context, which then counts as success.
type Features struct {
	// Tables: the executor works table by table. Plan lists the tables
	// (the subject's work covers at least two, with rows), the report has
	// one entry per planned table, and progress counts tables: it is
	// called at every table boundary, TablesDone taking each value from 1
	// to TablesTotal.
	Tables bool
	// Resumable: a Run canceled part-way is continued by a new executor
	// built with the same configuration (Subject.Reopen), which reports
	// Resumed and leaves the same state as an uninterrupted run.
	Resumable bool
	// Streaming: after the copy Run keeps following the source, reporting
	// Progress.Phase migrate.PhaseInSync, until its context ends or (with
	// Cutover) a cutover. A change written to the source then
	// (Subject.Write) reaches the target (Subject.State equals
	// Subject.Source); canceling the context ends Run with an error
	// wrapping the context's and loses nothing: a new Run (of
	// Subject.Reopen's executor when set, else the same one) resumes and
	// brings changes written while none ran.
	Streaming bool
	// Cutover: the executor is a Cutoverer (it needs Streaming). Cutover,
	// called while Run follows the source, ends Run without error and with
	// Report.Cutover set, the target equal to the source including a
	// change written just before; a later Run returns migrate.ErrCutOver.
	Cutover bool
}

// Cutoverer is an executor whose Run ends by a cutover, as *migrate.Sync.
// The suite calls Cutover while Run is in sync and retries it while it
// returns migrate.ErrNotInSync.
type Cutoverer interface {
	Cutover(ctx context.Context) (*migrate.CutoverReport, error)
}

// Subject is one executor under test, over its own fresh source and target.
type Subject struct {
	// Executor is ready to run: nothing prevents the run, and the run
	// changes State.
	Executor migrate.Executor
	// State fingerprints everything the executor may change (for example
	// DatabaseState of the target database). Plan must leave it unchanged;
	// Run must change it. States of different subjects are compared, so
	// the fingerprint must not contain names that differ between subjects.
	State func(t testing.TB) string
	// Reopen returns a new executor with Executor's configuration, over the
	// same source and target, as a host builds it after a crash. Required
	// with Features.Resumable.
	Reopen func(t testing.TB) migrate.Executor
	// Source fingerprints the source the way State fingerprints the
	// target, so that the two are equal when the target holds everything
	// the source does. Required with Features.Streaming.
	Source func(t testing.TB) string
	// Write makes one change to the source that changes Source, as the
	// application would while the executor runs; each call a new one.
	// Required with Features.Streaming.
	Write func(t testing.TB)
}

// NewSubject returns a fresh, independent subject for one check.
type NewSubject func(t testing.TB) Subject

// Run checks the migrate.Executor contract, one subtest per check that
// applies to features. newSubject is called at least once per subtest and
// must return an independent subject each time.
//
// Every executor is held to these: Plan changes nothing and can be
// repeated; Run reports progress from one goroutine at a time, never
// going backwards, and a report whose tables are all done, with timing,
// and changes the state; a Run during a Run returns migrate.ErrRunning; a
// Run whose context is canceled before it starts changes nothing, and one
// canceled from progress returns promptly an error wrapping
// context.Canceled and a report.
func Run(t *testing.T, features Features, newSubject NewSubject) {
	if features.Cutover && !features.Streaming {
		t.Fatal("migratetest: Features.Cutover needs Features.Streaming")
	}
	for _, c := range checks {
		if c.needs != nil && !c.needs(features) {
			continue
		}
		t.Run(c.name, func(t *testing.T) { c.run(t, features, newSubject) })
	}
}

// check is one part of the contract.
type check struct {
	name string
	// needs is nil for a check every executor passes.
	needs func(Features) bool
	run   func(t testing.TB, f Features, newSubject NewSubject)
}

var checks = []check{
	{name: "PlanChangesNothing", run: planChangesNothing},
	{name: "RunReportsProgressAndResult", run: runReportsProgressAndResult},
	{name: "RunWhileRunningIsRefused", run: runWhileRunningIsRefused},
	{name: "CanceledBeforeRunChangesNothing", run: canceledBeforeRunChangesNothing},
	{name: "CancelDuringRunStopsPromptly", run: cancelDuringRunStopsPromptly},
	{name: "InterruptedRunResumes", needs: func(f Features) bool { return f.Resumable }, run: interruptedRunResumes},
	{name: "StreamFollowsTheSource", needs: func(f Features) bool { return f.Streaming }, run: streamFollowsTheSource},
	{name: "CutoverEndsRun", needs: func(f Features) bool { return f.Cutover }, run: cutoverEndsRun},
}

func planChangesNothing(t testing.TB, f Features, newSubject NewSubject) {
	s := newSubject(t)
	before := s.State(t)
	plan, err := s.Executor.Plan(context.Background())
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	if plan == nil {
		t.Fatal("Plan returned a nil plan and no error")
	}
	if f.Tables && len(plan.Tables) < 2 {
		t.Fatalf("Plan lists %d tables; the subject must have at least 2", len(plan.Tables))
	}
	if _, err := s.Executor.Plan(context.Background()); err != nil {
		t.Fatalf("second Plan: %v", err)
	}
	if after := s.State(t); after != before {
		t.Fatalf("Plan changed the state:\nbefore %s\nafter  %s", before, after)
	}
}

func runReportsProgressAndResult(t testing.TB, f Features, newSubject NewSubject) {
	s := newSubject(t)
	var planned []string
	if f.Tables {
		plan, err := s.Executor.Plan(context.Background())
		if err != nil {
			t.Fatalf("Plan: %v", err)
		}
		for _, tp := range plan.Tables {
			planned = append(planned, tp.Name)
		}
	}
	before := s.State(t)
	var (
		calls    int
		inside   atomic.Bool
		last     migrate.Progress
		overlaps atomic.Int32
		done     = map[int]bool{}
	)
	report, err := runToEnd(t, f, s.Executor, func(p migrate.Progress) {
		if !inside.CompareAndSwap(false, true) {
			overlaps.Add(1)
		}
		defer inside.Store(false)
		if p.Rows < last.Rows || p.Bytes < last.Bytes || p.TablesDone < last.TablesDone {
			t.Errorf("progress went backwards: %+v after %+v", p, last)
		}
		if p.TablesDone > p.TablesTotal {
			t.Errorf("progress: %d of %d tables done", p.TablesDone, p.TablesTotal)
		}
		done[p.TablesDone] = true
		calls++
		last = p
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if report == nil {
		t.Fatal("Run returned a nil report and no error")
	}
	if overlaps.Load() > 0 {
		t.Errorf("progress was called concurrently %d times", overlaps.Load())
	}
	if calls == 0 {
		t.Error("progress was never called; want at least one call at the end")
	}
	if last.TablesDone != last.TablesTotal {
		t.Errorf("final progress: %d of %d tables done", last.TablesDone, last.TablesTotal)
	}
	for _, tr := range report.Tables {
		if !tr.Done {
			t.Errorf("Run succeeded but table %s is not done", tr.Name)
		}
	}
	if report.Rows != last.Rows {
		t.Errorf("report rows %d, final progress rows %d", report.Rows, last.Rows)
	}
	if f.Tables {
		checkTables(t, planned, report, last, done)
	}
	if report.Duration <= 0 || report.Started.IsZero() {
		t.Errorf("report has no timing: started %v, duration %v", report.Started, report.Duration)
	}
	if s.State(t) == before {
		t.Error("Run succeeded but the state did not change")
	}
}

// checkTables holds a successful run of a table-by-table executor to its
// plan: the report lists the planned tables, rows were copied, and
// progress was reported at every table boundary (done holds the
// TablesDone values seen).
func checkTables(t testing.TB, planned []string, report *migrate.Report, last migrate.Progress, done map[int]bool) {
	var reported []string
	for _, tr := range report.Tables {
		reported = append(reported, tr.Name)
	}
	slices.Sort(planned)
	slices.Sort(reported)
	if !slices.Equal(planned, reported) {
		t.Errorf("the report lists tables %q, the plan %q", reported, planned)
	}
	if report.Rows == 0 {
		t.Error("Run succeeded but reports no rows; the subject's tables must hold rows")
	}
	if last.TablesTotal != len(planned) {
		t.Errorf("final progress counts %d tables, the plan %d", last.TablesTotal, len(planned))
	}
	for n := 1; n <= last.TablesTotal; n++ {
		if !done[n] {
			t.Errorf("progress never reported %d of %d tables done: it must be called at every table boundary", n, last.TablesTotal)
		}
	}
}

func runWhileRunningIsRefused(t testing.TB, f Features, newSubject NewSubject) {
	s := newSubject(t)
	var second error
	asked := false
	_, err := runToEnd(t, f, s.Executor, func(migrate.Progress) {
		if !asked {
			asked = true
			_, second = s.Executor.Run(context.Background(), nil)
		}
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !asked {
		t.Fatal("progress was never called, so a second Run could not be tried during the first")
	}
	if !errors.Is(second, migrate.ErrRunning) {
		t.Fatalf("Run during Run returned %v, want migrate.ErrRunning", second)
	}
}

func canceledBeforeRunChangesNothing(t testing.TB, _ Features, newSubject NewSubject) {
	s := newSubject(t)
	before := s.State(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Executor.Run(ctx, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a canceled context returned %v, want an error wrapping context.Canceled", err)
	}
	if after := s.State(t); after != before {
		t.Fatalf("a canceled Run changed the state:\nbefore %s\nafter  %s", before, after)
	}
}

func cancelDuringRunStopsPromptly(t testing.TB, _ Features, newSubject NewSubject) {
	s := newSubject(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var canceledAt time.Time
	report, err := s.Executor.Run(ctx, func(migrate.Progress) {
		if canceledAt.IsZero() {
			canceledAt = time.Now()
			cancel()
		}
	})
	if canceledAt.IsZero() {
		t.Fatal("progress was never called, so the run could not be canceled")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run canceled from progress returned %v, want an error wrapping context.Canceled", err)
	}
	if report == nil {
		t.Error("Run canceled part-way returned a nil report")
	}
	if d := time.Since(canceledAt); d > 30*time.Second {
		t.Errorf("Run took %v to return after cancel", d)
	}
}

// interruptedRunResumes cancels a run once rows were copied and before
// every table is done, continues it with a reopened executor, and compares
// the result with an uninterrupted run of another subject.
func interruptedRunResumes(t testing.TB, f Features, newSubject NewSubject) {
	s := newSubject(t)
	if s.Reopen == nil {
		t.Fatal("the subject of a resumable executor has no Reopen")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	interrupted := false
	report, err := s.Executor.Run(ctx, func(p migrate.Progress) {
		if !interrupted && p.Rows > 0 && p.TablesDone < p.TablesTotal {
			interrupted = true
			cancel()
		}
	})
	if !interrupted {
		t.Fatalf("progress never showed copied rows with tables left (Run returned %v); give the subject more rows, or report progress more often", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run canceled part-way returned %v, want an error wrapping context.Canceled", err)
	}
	if report == nil {
		t.Fatal("Run canceled part-way returned a nil report")
	}

	again := s.Reopen(t)
	if _, err := again.Plan(context.Background()); err != nil {
		t.Fatalf("Plan of the interrupted run: %v", err)
	}
	resumed, err := runToEnd(t, f, again, nil)
	if err != nil {
		t.Fatalf("Run of the interrupted run: %v", err)
	}
	if !resumed.Resumed {
		t.Error("the run that continued an interrupted one does not report Resumed")
	}
	for _, tr := range resumed.Tables {
		if !tr.Done {
			t.Errorf("the resumed Run succeeded but table %s is not done", tr.Name)
		}
	}
	got := s.State(t)

	whole := newSubject(t)
	if _, err := runToEnd(t, f, whole.Executor, nil); err != nil {
		t.Fatalf("uninterrupted Run: %v", err)
	}
	if want := whole.State(t); got != want {
		t.Errorf("the resumed run left another state than an uninterrupted one:\nresumed       %s\nuninterrupted %s", got, want)
	}
}
