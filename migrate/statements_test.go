package migrate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/migrate/migratetest"
)

func newStatementsDB(t testing.TB) (string, func() string) {
	t.Helper()
	s := servers[1]
	name := sandboxtest.NewDatabase(t, s, "stmts")
	db := sandboxtest.Open(t, s, name)
	sandboxtest.Exec(t, db,
		"CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10) NOT NULL)",
		"INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c')")
	return name, func() string { return migratetest.DatabaseState(t, db, name) }
}

// Statements works statement by statement, not table by table, and never
// re-runs one: it has none of the suite's optional features.
func TestStatementsConformance(t *testing.T) {
	migratetest.Run(t, migratetest.Features{}, func(t testing.TB) migratetest.Subject {
		name, state := newStatementsDB(t)
		ex, err := migrate.NewStatements(servers[1].DSN(""), name, []string{
			"UPDATE t SET v = 'x' WHERE id >= 2",
			"INSERT INTO t VALUES (4, 'd')",
			"CREATE TABLE u (id INT PRIMARY KEY)",
		})
		if err != nil {
			t.Fatal(err)
		}
		return migratetest.Subject{Executor: ex, State: func(testing.TB) string { return state() }}
	})
}

func TestStatementsRun(t *testing.T) {
	name, state := newStatementsDB(t)
	stmts := []string{
		"UPDATE t SET v = 'x' WHERE id >= 2",
		"INSERT IGNORE INTO t VALUES (1, 'dup'), (4, 'd')",
		"CREATE TABLE u (id INT PRIMARY KEY)",
	}
	ex, err := migrate.NewStatements(servers[1].DSN(""), name, stmts)
	if err != nil {
		t.Fatal(err)
	}
	before := state()
	plan, err := ex.Plan(t.Context())
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	if len(plan.Steps) != 3 || !strings.Contains(plan.Steps[1], "INSERT IGNORE") || plan.Scope.Executor != "statements" {
		t.Fatalf("plan: %+v", plan)
	}
	if state() != before {
		t.Fatal("Plan changed the target")
	}
	var seen []migrate.Progress
	report, err := ex.Run(t.Context(), func(p migrate.Progress) { seen = append(seen, p) })
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if report.Rows != 3 || report.Duration <= 0 || len(report.Tables) != 3 {
		t.Fatalf("report: rows %d, duration %v, %d statements", report.Rows, report.Duration, len(report.Tables))
	}
	last := seen[len(seen)-1]
	if last.TablesDone != 3 || last.TablesTotal != 3 || last.Rows != 3 || len(seen) != 4 {
		t.Fatalf("%d progress calls, last %+v", len(seen), last)
	}
	res := ex.Results()
	want := []int64{2, 1, 0}
	for i, r := range res {
		if r.Status != migrate.StatementSucceeded || r.AffectedRows != want[i] || r.Duration <= 0 {
			t.Errorf("result %d: %+v", i, r)
		}
	}
	if len(res[1].Warnings) != 1 || !strings.Contains(res[1].Warnings[0], "Duplicate entry") {
		t.Errorf("warnings of the INSERT IGNORE: %q", res[1].Warnings)
	}
	if state() == before {
		t.Error("Run changed nothing")
	}
	if _, err := ex.Run(t.Context(), nil); err == nil || !strings.Contains(err.Error(), "never re-run") {
		t.Errorf("second Run: %v", err)
	}
}

func TestStatementsStopAtFirstError(t *testing.T) {
	name, _ := newStatementsDB(t)
	ex, err := migrate.NewStatements(servers[1].DSN(""), name, []string{
		"DELETE FROM t WHERE id = 1",
		"INSERT INTO t VALUES (2, 'again')",
		"DELETE FROM t",
	})
	if err != nil {
		t.Fatal(err)
	}
	report, err := ex.Run(t.Context(), nil)
	var se *migrate.StatementError
	if !errors.As(err, &se) || se.Index != 1 || !strings.Contains(err.Error(), "Duplicate entry") {
		t.Fatalf("Run: %v", err)
	}
	if report == nil || report.Rows != 1 {
		t.Fatalf("report: %+v", report)
	}
	got := ex.Results()
	statuses := []migrate.StatementStatus{got[0].Status, got[1].Status, got[2].Status}
	if !slices.Equal(statuses, []migrate.StatementStatus{migrate.StatementSucceeded, migrate.StatementFailed, migrate.StatementPending}) {
		t.Fatalf("statuses %v", statuses)
	}
	var n int
	db := sandboxtest.Open(t, servers[1], name)
	if err := db.QueryRow("SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows left: %d, %v (the third statement must not run)", n, err)
	}
}

func TestStatementsCancelKillsTheStatement(t *testing.T) {
	name, _ := newStatementsDB(t)
	ex, err := migrate.NewStatements(servers[1].DSN(""), name, []string{"DO SLEEP(30)", "DELETE FROM t"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	begin := time.Now()
	var second error
	_, err = ex.Run(ctx, func(p migrate.Progress) {
		if p.TablesDone == 0 && p.Table != "" {
			_, second = ex.Run(t.Context(), nil)
			time.AfterFunc(200*time.Millisecond, cancel)
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want context.Canceled", err)
	}
	if !errors.Is(second, migrate.ErrRunning) {
		t.Errorf("Run during Run: %v", second)
	}
	if d := time.Since(begin); d > 20*time.Second {
		t.Errorf("cancel took %v: the statement was not killed", d)
	}
	if r := ex.Results(); r[0].Status != migrate.StatementFailed || r[1].Status != migrate.StatementPending {
		t.Errorf("results %+v", r)
	}
}

func TestStatementsBadInput(t *testing.T) {
	dsn := servers[1].DSN("")
	for _, tc := range []struct {
		name  string
		db    string
		stmts []string
		want  string
	}{
		{"no statements", "x", nil, "no statement"},
		{"empty statement", "x", []string{"SELECT 1", "  "}, "statement 2 is empty"},
		{"bad database name", "", []string{"SELECT 1"}, "database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := migrate.NewStatements(dsn, tc.db, tc.stmts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	ex, err := migrate.NewStatements(dsn, "no_such_db_here", []string{"SELECT 1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ex.Plan(t.Context()); !errors.Is(err, migrate.ErrNotFound) || !strings.Contains(err.Error(), "no_such_db_here") {
		t.Fatalf("Plan: %v", err)
	}
	if _, err := ex.Run(t.Context(), nil); !errors.Is(err, migrate.ErrNotFound) {
		t.Fatalf("Run: %v", err)
	}
	if r := ex.Results(); r[0].Status != migrate.StatementPending {
		t.Fatalf("nothing ran, but %+v", r)
	}
}

func TestStatementTimeout(t *testing.T) {
	name, _ := newStatementsDB(t)
	ex, err := migrate.NewStatements(servers[1].DSN(""), name, []string{"DO SLEEP(60)", "DELETE FROM t"},
		migrate.WithStatementTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ex.Run(t.Context(), nil)
	var se *migrate.StatementError
	if !errors.As(err, &se) || se.Index != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run: %v, want the first statement stopped by its timeout", err)
	}
	if r := ex.Results(); r[0].Status != migrate.StatementFailed || r[1].Status != migrate.StatementPending {
		t.Errorf("results %+v", r)
	}
	db := sandboxtest.Open(t, servers[1], name)
	var running, rows int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'DO SLEEP(60)'").Scan(&running); err != nil || running != 0 {
		t.Errorf("%d statements still sleep on the server (%v): the timeout did not kill it", running, err)
	}
	if err := db.QueryRow("SELECT COUNT(*) FROM t").Scan(&rows); err != nil || rows != 3 {
		t.Errorf("rows left: %d, %v (the statement after the timeout must not run)", rows, err)
	}
	if _, err := migrate.NewStatements(servers[1].DSN(""), name, []string{"SELECT 1"}, migrate.WithStatementTimeout(0)); err == nil || !strings.Contains(err.Error(), "WithStatementTimeout") {
		t.Errorf("WithStatementTimeout(0): %v", err)
	}
}

func TestStatementsLogger(t *testing.T) {
	name, _ := newStatementsDB(t)
	var buf bytes.Buffer
	ex, err := migrate.NewStatements(servers[1].DSN(""), name, []string{"UPDATE t SET v = 'y' WHERE id = 1", "INSERT INTO t VALUES (1, 'dup')"},
		migrate.WithLogger(slog.New(slog.NewJSONHandler(&buf, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ex.Run(t.Context(), nil); err == nil {
		t.Fatal("Run succeeded; the second statement must fail")
	}
	type record struct {
		Msg       string
		Index     int
		Statement string
		Rows      int64
		Err       string
	}
	var got []record
	for line := range strings.Lines(buf.String()) {
		var r record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if strings.HasPrefix(r.Msg, "statement") {
			got = append(got, r)
		}
	}
	if len(got) != 2 ||
		got[0].Msg != "statement done" || got[0].Index != 1 || got[0].Rows != 1 || !strings.HasPrefix(got[0].Statement, "#1 UPDATE t") ||
		got[1].Msg != "statement failed" || got[1].Index != 2 || !strings.Contains(got[1].Err, "Duplicate entry") {
		t.Errorf("statement records %+v in log:\n%s", got, buf.String())
	}
	if strings.Contains(buf.String(), servers[1].Password()) {
		t.Error("the log holds the password")
	}
	if _, err := migrate.NewStatements(servers[1].DSN(""), name, []string{"SELECT 1"}, migrate.WithLogger(nil)); err == nil || !strings.Contains(err.Error(), "WithLogger") {
		t.Errorf("WithLogger(nil): %v", err)
	}
}
