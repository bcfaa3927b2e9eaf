// Package migratetest is the conformance suite for migrate.Executor
// implementations: ours and the ones host applications write. Call Run from
// a test with a constructor of fresh subjects.
package migratetest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/migrate"
)

// Subject is one executor under test, over its own fresh source and target.
type Subject struct {
	// Executor is ready to run: its source holds at least two tables with
	// rows, and nothing prevents the run.
	Executor migrate.Executor
	// State fingerprints everything the executor may change (for example
	// DatabaseState of the target database). Plan must leave it unchanged;
	// Run must change it.
	State func(t testing.TB) string
}

// Run checks the migrate.Executor contract. newSubject is called once per
// subtest and must return an independent subject each time.
func Run(t *testing.T, newSubject func(t *testing.T) Subject) {
	t.Run("PlanChangesNothing", func(t *testing.T) {
		s := newSubject(t)
		before := s.State(t)
		plan, err := s.Executor.Plan(context.Background())
		if err != nil {
			t.Fatalf("Plan: %v", err)
		}
		if plan == nil {
			t.Fatal("Plan returned a nil plan and no error")
		}
		if len(plan.Tables) < 2 {
			t.Fatalf("Plan lists %d tables; the subject must have at least 2", len(plan.Tables))
		}
		if _, err := s.Executor.Plan(context.Background()); err != nil {
			t.Fatalf("second Plan: %v", err)
		}
		if after := s.State(t); after != before {
			t.Fatalf("Plan changed the state:\nbefore %s\nafter  %s", before, after)
		}
	})

	t.Run("RunReportsProgressAndResult", func(t *testing.T) {
		s := newSubject(t)
		before := s.State(t)
		var (
			calls    int
			inside   atomic.Bool
			last     migrate.Progress
			overlaps atomic.Int32
		)
		report, err := s.Executor.Run(context.Background(), func(p migrate.Progress) {
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
		if calls < 2 {
			t.Errorf("progress was called %d times; want at least one per table boundary and one at the end", calls)
		}
		if last.TablesDone != last.TablesTotal || last.TablesTotal < 2 {
			t.Errorf("final progress: %d of %d tables done", last.TablesDone, last.TablesTotal)
		}
		for _, tr := range report.Tables {
			if !tr.Done {
				t.Errorf("Run succeeded but table %s is not done", tr.Name)
			}
		}
		if report.Rows == 0 || report.Rows != last.Rows {
			t.Errorf("report rows %d, final progress rows %d", report.Rows, last.Rows)
		}
		if report.Duration <= 0 || report.Started.IsZero() {
			t.Errorf("report has no timing: started %v, duration %v", report.Started, report.Duration)
		}
		if s.State(t) == before {
			t.Error("Run succeeded but the state did not change")
		}
	})

	t.Run("RunWhileRunningIsRefused", func(t *testing.T) {
		s := newSubject(t)
		var second error
		asked := false
		_, err := s.Executor.Run(context.Background(), func(migrate.Progress) {
			if !asked {
				asked = true
				_, second = s.Executor.Run(context.Background(), nil)
			}
		})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if !errors.Is(second, migrate.ErrRunning) {
			t.Fatalf("Run during Run returned %v, want migrate.ErrRunning", second)
		}
	})

	t.Run("CanceledBeforeRunChangesNothing", func(t *testing.T) {
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
	})

	t.Run("CancelDuringRunStopsPromptly", func(t *testing.T) {
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
	})
}
