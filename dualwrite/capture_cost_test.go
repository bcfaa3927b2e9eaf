package dualwrite

import (
	"errors"
	"testing"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// TestCaptureStatements: capturing a one-row transaction costs two
// statements, the commit's fence included in the second (it was a third
// statement of its own, a round trip per commit); a commit that records
// nothing still fences, with a statement of its own; the fence still
// refuses a commit once writes moved to the new database.
func TestCaptureStatements(t *testing.T) {
	ctx := t.Context()
	database := sandboxtest.NewDatabase(t, servers[0], "dw_cost")
	db := sandboxtest.Open(t, servers[0], database)
	db.SetMaxOpenConns(1) // one session: its statement count is the transactions'
	sandboxtest.Exec(t, db, "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, v BIGINT NOT NULL)")
	o, err := Open(ctx, db, database, []Table{{Name: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	const upsert = "INSERT INTO items VALUES (?, 'x', 1) ON DUPLICATE KEY UPDATE v = v + 1"
	// statements runs fn and returns the statements the session ran for it.
	statements := func(fn func() error) int64 {
		t.Helper()
		count := func() int64 {
			var name string
			var n int64
			if err := db.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Questions'").Scan(&name, &n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := count()
		if err := fn(); err != nil {
			t.Fatal(err)
		}
		return count() - before - 1 // the second count's own statement
	}
	plain := statements(func() error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		if _, err := tx.ExecContext(ctx, upsert, 1); err != nil {
			return err
		}
		return tx.Commit()
	})
	capture := func(id int, name bool) func() error {
		return func() error {
			return o.Run(ctx, func(tx *Tx) error {
				if _, err := tx.ExecContext(ctx, upsert, id); err != nil {
					return err
				}
				if !name {
					return nil
				}
				return tx.Changed("items", id)
			})
		}
	}
	if got := statements(capture(1, true)) - plain; got != 2 {
		t.Errorf("capture of a one-row transaction ran %d statements more than the plain transaction, want 2", got)
	}
	if got := statements(capture(2, false)) - plain; got != 1 {
		t.Errorf("a captured transaction that names no row ran %d statements more than the plain one, want 1 (the fence)", got)
	}
	m, err := o.Metrics(ctx)
	if err != nil || m.Pending != 1 {
		t.Fatalf("outbox metrics %+v (%v), want the one named row pending", m, err)
	}

	// Past the switch to the new database (set directly: the switch's own
	// preconditions are TestPhases'), a capture's commit is refused and
	// records nothing.
	sandboxtest.Exec(t, db, "UPDATE dualwrite_state SET phase = 'write_new' WHERE id = 1")
	err = capture(3, true)()
	if !errors.Is(err, ErrWriteMoved) {
		t.Fatalf("commit in phase write_new: %v, want ErrWriteMoved", err)
	}
	err = capture(4, false)()
	if !errors.Is(err, ErrWriteMoved) {
		t.Fatalf("commit naming no row in phase write_new: %v, want ErrWriteMoved", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM items WHERE id IN (3, 4)").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("refused commits left %d rows", n)
	}
	if m, err := o.Metrics(ctx); err != nil || m.Pending != 1 {
		t.Errorf("outbox metrics %+v (%v) after the refused commits, want still one pending", m, err)
	}
}
