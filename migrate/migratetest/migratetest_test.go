package migratetest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/migrate"
)

// The suite is tested on an in-memory executor: the correct one passes
// every check, and each deliberate bug makes at least one check fail.

// memTables are the fake source's tables and their rows.
var memTables = []struct {
	name string
	rows int
}{{"customers", 3}, {"orders", 5}, {"products", 4}}

// memLag is how long a change written to the fake source waits before the
// fake stream applies it: long enough that a cutover right after a write
// finds it pending.
const memLag = 300 * time.Millisecond

// memTarget is what the fake executor changes: rows copied per table, and
// the checkpoint an interrupted run leaves (tables done, rows of the next);
// for a streaming executor also whether the copy finished, the source's
// changes it holds, the stream's position (changes applied or skipped) and
// whether it cut over. It holds the source's changes after the copy too:
// when each was written.
type memTarget struct {
	mu         sync.Mutex
	rows       map[string]int
	checkpoint *[2]int
	copied     bool
	changes    int
	applied    int
	cutOver    bool
	written    []time.Time
}

func (m *memTarget) state(testing.TB) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	for _, tb := range memTables {
		fmt.Fprintf(&b, "%s=%d ", tb.name, m.rows[tb.name])
	}
	fmt.Fprintf(&b, "changes=%d", m.changes)
	return b.String()
}

// source fingerprints the fake source as state does the target.
func (m *memTarget) source(testing.TB) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	for _, tb := range memTables {
		fmt.Fprintf(&b, "%s=%d ", tb.name, tb.rows)
	}
	fmt.Fprintf(&b, "changes=%d", len(m.written))
	return b.String()
}

func (m *memTarget) write(testing.TB) {
	m.mu.Lock()
	m.written = append(m.written, time.Now())
	m.mu.Unlock()
}

// apply applies the source's changes written before until.
func (m *memTarget) apply(until time.Time) {
	m.mu.Lock()
	for m.applied < len(m.written) && m.written[m.applied].Before(until) {
		m.applied++
		m.changes++
	}
	m.mu.Unlock()
}

// memExecutor copies memTables into its target row by row, then, when
// stream is set, applies the source's changes until ctx ends or Cutover;
// bug names a contract violation it commits ("" for none).
type memExecutor struct {
	target  *memTarget
	bug     string
	stream  bool
	running atomic.Bool
	// cutovers carries Cutover's requests to the stream.
	cutovers chan chan *migrate.CutoverReport
}

func (e *memExecutor) Plan(context.Context) (*migrate.Plan, error) {
	plan := &migrate.Plan{Scope: migrate.Scope{Executor: "mem"}}
	for _, tb := range memTables {
		plan.Tables = append(plan.Tables, migrate.TablePlan{Name: tb.name, Rows: int64(tb.rows)})
	}
	if e.bug == "plan writes" {
		e.target.mu.Lock()
		e.target.rows["customers"] = -1
		e.target.mu.Unlock()
	}
	return plan, nil
}

func (e *memExecutor) Run(ctx context.Context, progress migrate.ProgressFunc) (*migrate.Report, error) {
	if e.bug != "runs twice at once" && !e.running.CompareAndSwap(false, true) {
		return nil, migrate.ErrRunning
	}
	defer e.running.Store(false)
	if err := ctx.Err(); err != nil && e.bug != "ignores cancel" {
		return nil, err
	}
	if progress == nil {
		progress = func(migrate.Progress) {}
	}
	report := &migrate.Report{Scope: migrate.Scope{Executor: "mem"}, Started: time.Now()}
	p := migrate.Progress{TablesTotal: len(memTables)}
	first, skip, pending := 0, 0, 0
	e.target.mu.Lock()
	if e.target.cutOver && e.bug != "runs after cutover" {
		e.target.mu.Unlock()
		return nil, migrate.ErrCutOver
	}
	if e.stream && e.target.copied {
		// The copy is done: follow the source from the changes applied.
		if e.bug == "loses changes on resume" {
			e.target.applied = len(e.target.written)
		}
		first = len(memTables)
		p.Rows = int64(e.target.rows["customers"] + e.target.rows["orders"] + e.target.rows["products"])
	}
	if cp := e.target.checkpoint; cp != nil && e.bug != "restarts" {
		first, skip = cp[0], cp[1]
		report.Resumed = e.bug != "hides resume"
	}
	e.target.mu.Unlock()
	for i, tb := range memTables {
		tr := migrate.TableReport{Name: tb.name, TargetName: tb.name}
		if i < first {
			tr.Rows, tr.Done = int64(tb.rows), true
			report.Tables = append(report.Tables, tr)
			p.TablesDone++
			continue
		}
		for r := 0; r < tb.rows; r++ {
			if i == first && r < skip {
				continue
			}
			if err := ctx.Err(); err != nil && e.bug != "ignores cancel" {
				e.target.mu.Lock()
				e.target.checkpoint = &[2]int{i, r}
				e.target.mu.Unlock()
				report.Tables = append(report.Tables, tr)
				report.Duration = time.Since(report.Started)
				if e.bug == "no report on cancel" {
					report = nil
				}
				return report, fmt.Errorf("mem: stopped at table %s: %w", tb.name, err)
			}
			e.target.mu.Lock()
			e.target.rows[tb.name]++
			e.target.mu.Unlock()
			tr.Rows++
			p.Rows++
			if e.bug == "progress goes back" && r == 1 {
				p.Rows -= 2
			}
			p.Table = tb.name
			progress(p)
		}
		tr.Done = e.bug != "succeeds undone" || i < len(memTables)-1
		report.Tables = append(report.Tables, tr)
		// The buggy executor counts the first table done only with the
		// second, so progress never says 1 of 3.
		if e.bug == "skips a boundary" && i == 0 {
			pending++
		} else {
			p.TablesDone += 1 + pending
			pending = 0
		}
		p.Table = ""
		progress(p)
	}
	e.target.mu.Lock()
	e.target.checkpoint = nil
	e.target.copied = true
	e.target.mu.Unlock()
	report.Rows = p.Rows
	if e.stream {
		return e.follow(ctx, progress, p, report)
	}
	report.Duration = time.Since(report.Started)
	progress(p)
	return report, nil
}

// follow applies the source's changes once they are memLag old, until ctx
// ends or a cutover.
func (e *memExecutor) follow(ctx context.Context, progress migrate.ProgressFunc, p migrate.Progress, report *migrate.Report) (*migrate.Report, error) {
	p.Phase = migrate.PhaseInSync
	progress(p)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			report.Duration = time.Since(report.Started)
			if e.bug == "ends quietly on cancel" {
				return report, nil
			}
			return report, fmt.Errorf("mem: following the source: %w", ctx.Err())
		case reply := <-e.cutovers:
			if e.bug != "cutover skips the catch-up" {
				e.target.apply(time.Now().Add(time.Hour))
			}
			e.target.mu.Lock()
			e.target.cutOver = true
			e.target.mu.Unlock()
			cut := &migrate.CutoverReport{Pause: time.Millisecond}
			if e.bug != "no cutover report" {
				report.Cutover = cut
			}
			reply <- cut
			report.Duration = time.Since(report.Started)
			return report, nil
		case now := <-tick.C:
			if e.bug != "drops changes after the copy" {
				e.target.apply(now.Add(-memLag))
			}
		}
	}
}

// Cutover asks the stream of the running Run to cut over.
func (e *memExecutor) Cutover(ctx context.Context) (*migrate.CutoverReport, error) {
	reply := make(chan *migrate.CutoverReport, 1)
	select {
	case e.cutovers <- reply:
		return <-reply, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(100 * time.Millisecond):
		return nil, fmt.Errorf("mem: %w", migrate.ErrNotInSync)
	}
}

// memSubject makes subjects of the fake executor with bug, following the
// source after the copy when stream is set.
func memSubject(bug string, stream bool) NewSubject {
	return func(testing.TB) Subject {
		target := &memTarget{rows: map[string]int{}}
		open := func(testing.TB) migrate.Executor {
			return &memExecutor{target: target, bug: bug, stream: stream, cutovers: make(chan chan *migrate.CutoverReport)}
		}
		return Subject{Executor: open(nil), State: target.state, Reopen: open, Source: target.source, Write: target.write}
	}
}

// fakeT records the failures of one check without failing the test that
// runs it; the rest of testing.TB is the real test's.
type fakeT struct {
	testing.TB
	mu       sync.Mutex
	failures []string
}

func (f *fakeT) record(s string) {
	f.mu.Lock()
	f.failures = append(f.failures, s)
	f.mu.Unlock()
}

func (f *fakeT) Fail()                          { f.record("Fail") }
func (f *fakeT) Failed() bool                   { f.mu.Lock(); defer f.mu.Unlock(); return len(f.failures) > 0 }
func (f *fakeT) Error(args ...any)              { f.record(fmt.Sprint(args...)) }
func (f *fakeT) Errorf(format string, a ...any) { f.record(fmt.Sprintf(format, a...)) }
func (f *fakeT) FailNow()                       { f.record("FailNow"); runtime.Goexit() }
func (f *fakeT) Fatal(args ...any)              { f.record(fmt.Sprint(args...)); runtime.Goexit() }
func (f *fakeT) Fatalf(format string, a ...any) {
	f.record(fmt.Sprintf(format, a...))
	runtime.Goexit()
}

// runSuite runs every check of features on newSubject under fake Ts and
// returns the failures by check name.
func runSuite(t *testing.T, features Features, newSubject NewSubject) map[string][]string {
	out := map[string][]string{}
	for _, c := range checks {
		if c.needs != nil && !c.needs(features) {
			continue
		}
		ft := &fakeT{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.run(ft, features, newSubject)
		}()
		<-done
		if len(ft.failures) > 0 {
			out[c.name] = ft.failures
		}
	}
	return out
}

func TestSuitePassesACorrectExecutor(t *testing.T) {
	for _, f := range []Features{{}, {Tables: true}, {Tables: true, Resumable: true},
		{Streaming: true}, {Tables: true, Resumable: true, Streaming: true}, {Streaming: true, Cutover: true}} {
		if failures := runSuite(t, f, memSubject("", f.Streaming)); len(failures) > 0 {
			t.Errorf("features %+v: the correct executor failed: %q", f, failures)
		}
	}
	// Run itself, on the real T.
	Run(t, Features{Tables: true, Resumable: true}, memSubject("", false))
	Run(t, Features{Tables: true, Resumable: true, Streaming: true, Cutover: true}, memSubject("", true))
}

func TestSuiteFailsABrokenExecutor(t *testing.T) {
	// A broken stream never catches up: give up sooner.
	defer func(d time.Duration) { waitLimit = d }(waitLimit)
	waitLimit = 3 * time.Second
	all := Features{Tables: true, Resumable: true}
	streaming := Features{Tables: true, Resumable: true, Streaming: true, Cutover: true}
	for _, tc := range []struct {
		bug      string
		features Features
		// check is the check that must fail.
		check string
	}{
		{"plan writes", Features{}, "PlanChangesNothing"},
		{"runs twice at once", Features{}, "RunWhileRunningIsRefused"},
		{"ignores cancel", Features{}, "CanceledBeforeRunChangesNothing"},
		{"ignores cancel", Features{}, "CancelDuringRunStopsPromptly"},
		{"no report on cancel", Features{}, "CancelDuringRunStopsPromptly"},
		{"progress goes back", Features{}, "RunReportsProgressAndResult"},
		{"succeeds undone", Features{}, "RunReportsProgressAndResult"},
		{"skips a boundary", all, "RunReportsProgressAndResult"},
		{"restarts", all, "InterruptedRunResumes"},
		{"hides resume", all, "InterruptedRunResumes"},
		{"drops changes after the copy", streaming, "StreamFollowsTheSource"},
		{"ends quietly on cancel", streaming, "StreamFollowsTheSource"},
		{"loses changes on resume", streaming, "StreamFollowsTheSource"},
		{"cutover skips the catch-up", streaming, "CutoverEndsRun"},
		{"no cutover report", streaming, "CutoverEndsRun"},
		{"runs after cutover", streaming, "CutoverEndsRun"},
	} {
		t.Run(tc.bug+"/"+tc.check, func(t *testing.T) {
			failures := runSuite(t, tc.features, memSubject(tc.bug, tc.features.Streaming))
			if len(failures[tc.check]) == 0 {
				t.Errorf("check %s passed an executor that %s (failures: %q)", tc.check, tc.bug, failures)
			}
			t.Logf("%s: %q", tc.check, failures[tc.check])
		})
	}
}
