package workflow_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/workflowtest"
)

// newMySQLStore returns a store in a fresh database on servers[0].
func newMySQLStore(t testing.TB) (*workflow.MySQLStore, string) {
	t.Helper()
	name := sandboxtest.NewDatabase(t, servers[0], "wfstore")
	db := sandboxtest.Open(t, servers[0], name)
	s, err := workflow.NewMySQLStore(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s, name
}

func TestMySQLStore(t *testing.T) {
	workflowtest.TestStore(t, func(t *testing.T) workflow.Store {
		s, _ := newMySQLStore(t)
		return s
	})
}

// TestMySQLStoreUnderSQLModes runs the store suite on a server whose
// global sql_mode turns off backslash escapes and reads double quotes as
// identifiers.
func TestMySQLStoreUnderSQLModes(t *testing.T) {
	sandboxtest.SetGlobalSQLMode(t, "NO_BACKSLASH_ESCAPES,ANSI_QUOTES", servers[0])
	workflowtest.TestStore(t, func(t *testing.T) workflow.Store {
		s, _ := newMySQLStore(t)
		return s
	})
}

func TestMySQLStoreMigrations(t *testing.T) {
	_, name := newMySQLStore(t)
	db := sandboxtest.Open(t, servers[0], name)
	// Migrating again changes nothing.
	if _, err := workflow.NewMySQLStore(t.Context(), db); err != nil {
		t.Fatalf("second migration: %v", err)
	}
	var n, max int
	if err := db.QueryRow("SELECT COUNT(*), MAX(version) FROM shiftgate_schema_version").Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != workflow.SchemaVersion() || max != workflow.SchemaVersion() {
		t.Fatalf("schema_version holds %d rows up to %d, want %d", n, max, workflow.SchemaVersion())
	}
	// An older schema is upgraded: undo the last two migrations (an
	// index, the error code's column).
	sandboxtest.Exec(t, db, "ALTER TABLE shiftgate_tickets DROP KEY source_instance_id, DROP KEY error_code_id, DROP COLUMN error_code",
		"DELETE FROM shiftgate_schema_version WHERE version >= 3")
	if _, err := workflow.NewMySQLStore(context.Background(), db); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND INDEX_NAME = 'source_instance_id'", name).Scan(&n); err != nil || n == 0 {
		t.Fatalf("index after upgrade: %d, %v", n, err)
	}
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'shiftgate_tickets' AND COLUMN_NAME = 'error_code'", name).Scan(&n); err != nil || n != 1 {
		t.Fatalf("error_code column after upgrade: %d, %v", n, err)
	}
	// A schema from a newer library is refused.
	sandboxtest.Exec(t, db, "INSERT INTO shiftgate_schema_version VALUES (99, '0099_future.sql', NOW())")
	if _, err := workflow.NewMySQLStore(t.Context(), db); !errors.Is(err, workflow.ErrStoreVersion) || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("newer schema: %v", err)
	}
}

// TestRepeatedCreateTakesNoID: repeats of a client key store nothing, not
// even an id: after them the next new ticket gets the next id.
func TestRepeatedCreateTakesNoID(t *testing.T) {
	mysqlStore, _ := newMySQLStore(t)
	for name, s := range map[string]workflow.Store{"mysql": mysqlStore, "memory": workflow.NewMemoryStore()} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			ticket := func(key string) *workflow.Ticket {
				return &workflow.Ticket{ClientKey: key, Kind: workflow.KindSQLChange, Title: "t", Submitter: "alice",
					Instance: "prod", Database: "shop", SQL: "DO 1"}
			}
			first, created, err := s.Create(ctx, ticket("repeated"), time.Now())
			if err != nil || !created {
				t.Fatalf("Create: %v, %v", created, err)
			}
			for range 10 {
				again, created, err := s.Create(ctx, ticket("repeated"), time.Now())
				if err != nil || created || again.ID != first.ID {
					t.Fatalf("repeat: %+v, created %v, %v", again, created, err)
				}
			}
			next, created, err := s.Create(ctx, ticket("new"), time.Now())
			if err != nil || !created || next.ID != first.ID+1 {
				t.Fatalf("new ticket after 10 repeats: #%d (first #%d), created %v, %v", next.ID, first.ID, created, err)
			}
		})
	}
}
