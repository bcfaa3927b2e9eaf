package conn

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"
)

// sessionOf reads the variables a profile sets, on one connection.
func sessionOf(t *testing.T, c *sql.Conn) (tz, mode, isolation string, fk, unique, logBin int) {
	t.Helper()
	if err := c.QueryRowContext(context.Background(), "SELECT @@session.time_zone, @@session.sql_mode, @@session.tx_isolation, @@session.foreign_key_checks, @@session.unique_checks, @@session.sql_log_bin").
		Scan(&tz, &mode, &isolation, &fk, &unique, &logBin); err != nil {
		t.Fatal(err)
	}
	return
}

// TestSessionProfiles: Params (at connect) and Apply (on an open
// connection) give a connection the same profile.
func TestSessionProfiles(t *testing.T) {
	ctx := context.Background()
	type want struct {
		mode, isolation    string
		fk, unique, logBin int
	}
	for name, tc := range map[string]struct {
		s Session
		w want
	}{
		"reader":           {ReaderSession(), want{"", "REPEATABLE-READ", 1, 1, 1}},
		"writer":           {WriterSession(WriterOptions{}), want{WriterSQLMode, "READ-COMMITTED", 0, 1, 1}},
		"writer-no-checks": {WriterSession(WriterOptions{NoUniqueChecks: true}), want{WriterSQLMode, "READ-COMMITTED", 0, 0, 1}},
		"writer-no-binlog": {WriterSession(WriterOptions{NoBinlog: true}), want{WriterSQLMode, "READ-COMMITTED", 0, 1, 0}},
		"writer-strict":    {WriterSession(WriterOptions{Strict: true}), want{WriterStrictSQLMode, "READ-COMMITTED", 0, 1, 1}},
	} {
		t.Run(name, func(t *testing.T) {
			pool, err := Open(ctx, servers[0].Config(""), Options{MaxConns: 1, Params: tc.s.Params()})
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			plain, err := Open(ctx, servers[0].Config(""), Options{MaxConns: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			applied, err := plain.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer Discard(applied)
			if _, err := applied.ExecContext(ctx, "SET SESSION sql_mode = 'ANSI_QUOTES', time_zone = '+05:00', tx_isolation = 'SERIALIZABLE', foreign_key_checks = 1"); err != nil {
				t.Fatal(err)
			}
			if err := tc.s.Apply(ctx, applied); err != nil {
				t.Fatal(err)
			}
			atConnect, err := pool.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer atConnect.Close()
			for how, c := range map[string]*sql.Conn{"Params": atConnect, "Apply": applied} {
				tz, mode, iso, fk, unique, logBin := sessionOf(t, c)
				if got := (want{mode, iso, fk, unique, logBin}); tz != "+00:00" || got != tc.w {
					t.Errorf("%s: time_zone %s, %+v; want +00:00, %+v", how, tz, got, tc.w)
				}
			}
		})
	}
}

func TestDiscardDropsTheSession(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, servers[0].Config(""), Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriterSession(WriterOptions{}).Apply(ctx, c); err != nil {
		t.Fatal(err)
	}
	Discard(c)
	var fk int
	if err := db.QueryRowContext(ctx, "SELECT @@session.foreign_key_checks").Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("the pool's next connection has foreign_key_checks %d, %v; want 1", fk, err)
	}
}

func TestLockName(t *testing.T) {
	short := "shiftgate.copy.shop"
	if got := LockName(short); got != short {
		t.Errorf("LockName(%q) = %q", short, got)
	}
	long := "shiftgate.copy." + strings.Repeat("x", 64)
	other := long[:len(long)-1] + "y"
	a, b := LockName(long), LockName(other)
	if len(a) != 64 || len(b) != 64 || a == b || !strings.HasPrefix(a, "shiftgate.copy.") {
		t.Errorf("LockName of two long names: %q, %q; want distinct 64-character names keeping the prefix", a, b)
	}
}

// TestLock: a second taker is refused with ErrLocked (also for a name over
// MariaDB's 64 characters), and takes it once it is released.
func TestLock(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, servers[0].Config(""), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, name := range []string{"shiftgate.test.lock", "shiftgate.test." + strings.Repeat("long", 20)} {
		release, err := Lock(ctx, db, name, 0)
		if err != nil {
			t.Fatalf("Lock(%q): %v", name, err)
		}
		if _, err := Lock(ctx, db, name, 0); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), LockName(name)) {
			t.Fatalf("second Lock(%q): %v, want ErrLocked naming the lock", name, err)
		}
		// A waiting taker gets it when the holder lets go.
		time.AfterFunc(100*time.Millisecond, release)
		again, err := Lock(ctx, db, name, 10*time.Second)
		if err != nil {
			t.Fatalf("Lock(%q) after release: %v", name, err)
		}
		again()
		again()
		release()
	}
}
