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

// memTarget is what the fake executor changes: rows copied per table, and
// the checkpoint an interrupted run leaves (tables done, rows of the next).
type memTarget struct {
	mu         sync.Mutex
	rows       map[string]int
	checkpoint *[2]int
}

func (m *memTarget) state(testing.TB) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	for _, tb := range memTables {
		fmt.Fprintf(&b, "%s=%d ", tb.name, m.rows[tb.name])
	}
	return b.String()
}

// memExecutor copies memTables into its target row by row; bug names a
// contract violation it commits ("" for none).
type memExecutor struct {
	target  *memTarget
	bug     string
	running atomic.Bool
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
	e.target.mu.Unlock()
	report.Rows = p.Rows
	report.Duration = time.Since(report.Started)
	progress(p)
	return report, nil
}

func memSubject(bug string) NewSubject {
	return func(testing.TB) Subject {
		target := &memTarget{rows: map[string]int{}}
		return Subject{
			Executor: &memExecutor{target: target, bug: bug},
			State:    target.state,
			Reopen:   func(testing.TB) migrate.Executor { return &memExecutor{target: target, bug: bug} },
		}
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
	for _, f := range []Features{{}, {Tables: true}, {Tables: true, Resumable: true}} {
		if failures := runSuite(t, f, memSubject("")); len(failures) > 0 {
			t.Errorf("features %+v: the correct executor failed: %q", f, failures)
		}
	}
	// Run itself, on the real T.
	Run(t, Features{Tables: true, Resumable: true}, memSubject(""))
}

func TestSuiteFailsABrokenExecutor(t *testing.T) {
	all := Features{Tables: true, Resumable: true}
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
	} {
		t.Run(tc.bug+"/"+tc.check, func(t *testing.T) {
			failures := runSuite(t, tc.features, memSubject(tc.bug))
			if len(failures[tc.check]) == 0 {
				t.Errorf("check %s passed an executor that %s (failures: %q)", tc.check, tc.bug, failures)
			}
			t.Logf("%s: %q", tc.check, failures[tc.check])
		})
	}
}
