package snapshot

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"testing"

	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

var servers []*sandbox.Server

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m, 2, &servers)) }

// table creates a table t(id) holding n rows in a new database on s and
// returns the pool and the qualified table name.
func table(t *testing.T, s *sandbox.Server, n int) (*sql.DB, string) {
	t.Helper()
	name := sandboxtest.NewDatabase(t, s, "snap")
	db := sandboxtest.Open(t, s, "")
	q := "`" + name + "`.t"
	sandboxtest.Exec(t, db, "CREATE TABLE "+q+" (id INT PRIMARY KEY) ENGINE=InnoDB")
	for i := range n {
		if _, err := db.Exec("INSERT INTO "+q+" VALUES (?)", i+1); err != nil {
			t.Fatal(err)
		}
	}
	return db, q
}

// write runs stmt on db, failing rather than waiting long when the server
// is left locked.
func write(db *sql.DB, stmt string) error {
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Discard(c)
	if _, err := c.ExecContext(ctx, "SET SESSION lock_wait_timeout = 5"); err != nil {
		return err
	}
	_, err = c.ExecContext(ctx, stmt)
	return err
}

func count(t *testing.T, c *sql.Conn, q string) int {
	t.Helper()
	var n int
	if err := c.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAlignedMethods: with every aligning method, readers do not see rows
// committed after Open, on each server, and the servers are not left
// locked; without one (None) they do.
func TestAlignedMethods(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		method Method
		groups int
	}{
		{"backup-stage", BackupStage, 1},
		{"backup-stage-two-servers", BackupStage, 2},
		{"flush-tables-two-servers", FlushTables, 2},
		{"quiesced", Quiesced, 2},
		{"none", None, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var groups []Group
			var tables []string
			var dbs []*sql.DB
			for i := range tc.groups {
				db, q := table(t, servers[i], 5)
				session := conn.ReaderSession()
				groups = append(groups, Group{DB: db, N: 3, Session: &session})
				tables, dbs = append(tables, q), append(dbs, db)
			}
			var gtid string
			if err := dbs[0].QueryRow("SELECT @@gtid_binlog_pos").Scan(&gtid); err != nil {
				t.Fatal(err)
			}
			s, err := Open(ctx, Options{Method: tc.method, Position: true, ReadOnly: true}, groups...)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Position.GTID != gtid || s.Position.File == "" {
				t.Errorf("position %s, want gtid %s and a file", s.Position, gtid)
			}
			// The servers take writes again: nothing is left locked.
			for i, db := range dbs {
				if err := write(db, "INSERT INTO "+tables[i]+" VALUES (100)"); err != nil {
					t.Fatalf("write after Open on server %d: %v", i+1, err)
				}
			}
			want := 5
			if tc.method == None {
				want = 6
			}
			for i, readers := range s.Readers {
				if len(readers) != 3 {
					t.Fatalf("group %d has %d readers, want 3", i, len(readers))
				}
				for _, c := range readers {
					if got := count(t, c, tables[i]); got != want {
						t.Errorf("server %d: a reader sees %d rows, want %d", i+1, got, want)
					}
					var tz string
					if err := c.QueryRowContext(ctx, "SELECT @@session.time_zone").Scan(&tz); err != nil || tz != "+00:00" {
						t.Errorf("reader session time_zone %q, %v", tz, err)
					}
				}
			}
		})
	}
}

// TestOpenFailureNamesTheGroup: a lock refused on the second server is a
// GroupError for it, and the first server, locked already, is unlocked.
func TestOpenFailureNamesTheGroup(t *testing.T) {
	ctx := context.Background()
	db, q := table(t, servers[0], 1)
	// A user without RELOAD cannot take FLUSH TABLES WITH READ LOCK.
	admin := sandboxtest.Open(t, servers[1], "")
	sandboxtest.Exec(t, admin, "CREATE USER IF NOT EXISTS 'snapnoreload'@'%' IDENTIFIED BY 'pw'", "GRANT SELECT ON *.* TO 'snapnoreload'@'%'")
	t.Cleanup(func() { _, _ = admin.Exec("DROP USER IF EXISTS 'snapnoreload'@'%'") })
	cfg := servers[1].Config("")
	cfg.User, cfg.Passwd = "snapnoreload", "pw"
	weak, err := conn.Open(ctx, cfg, conn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer weak.Close()
	_, err = Open(ctx, Options{Method: FlushTables}, Group{DB: db, N: 1}, Group{DB: weak, N: 1})
	var ge *GroupError
	if !errors.As(err, &ge) || ge.Group != 1 {
		t.Fatalf("Open: %v, want a GroupError for group 1", err)
	}
	if err := write(db, "INSERT INTO "+q+" VALUES (2)"); err != nil {
		t.Fatalf("write after a failed Open: %v", err)
	}
}
