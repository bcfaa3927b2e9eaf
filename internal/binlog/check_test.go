package binlog_test

import (
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// setGlobal sets a global variable of srv for the test and restores it.
func setGlobal(t *testing.T, srv *sandbox.Server, name string, value any) {
	t.Helper()
	db := sandboxtest.Open(t, srv, "")
	var old string
	if err := db.QueryRowContext(t.Context(), "SELECT @@GLOBAL."+name).Scan(&old); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), "SET GLOBAL "+name+" = ?", value); err != nil {
		t.Fatalf("SET GLOBAL %s: %v", name, err)
	}
	var restore any = old
	if n, err := strconv.ParseInt(old, 10, 64); err == nil {
		restore = n // numeric variables refuse a string
	}
	t.Cleanup(func() {
		db, err := srv.Open("")
		if err != nil {
			t.Error(err)
			return
		}
		defer db.Close()
		if _, err := db.Exec("SET GLOBAL "+name+" = ?", restore); err != nil {
			t.Errorf("restoring %s: %v", name, err)
		}
	})
}

// TestCheckRefuses: each setting the stream needs, when wrong, is refused
// with an error naming the server and the setting. Not parallel: it
// changes servers[1]'s globals.
func TestCheckRefuses(t *testing.T) {
	srv := servers[1]
	db := sandboxtest.Open(t, srv, "")
	src, err := binlog.Check(t.Context(), db, srv.Addr(), current(t, db))
	if err != nil {
		t.Fatalf("Check of a good source: %v", err)
	}
	if src.Flavor != binlog.MariaDB || src.FirstBinlog == "" || src.ServerID == 0 || src.Retention != 0 {
		t.Errorf("source %+v", src)
	}
	for _, c := range []struct {
		setting, value string
		want           error
	}{
		{"binlog_format", "STATEMENT", binlog.ErrBinlogFormat},
		{"binlog_format", "MIXED", binlog.ErrBinlogFormat},
		{"binlog_row_image", "MINIMAL", binlog.ErrRowImage},
		{"binlog_row_metadata", "MINIMAL", binlog.ErrRowMetadata},
	} {
		t.Run(c.setting+"="+c.value, func(t *testing.T) {
			setGlobal(t, srv, c.setting, c.value)
			_, err := binlog.Check(t.Context(), db, srv.Addr(), current(t, db))
			var se *binlog.SettingError
			if !errors.Is(err, c.want) || !errors.As(err, &se) {
				t.Fatalf("Check: %v, want %v", err, c.want)
			}
			if se.Setting != c.setting || !strings.Contains(err.Error(), srv.Addr()) || !strings.Contains(err.Error(), c.setting) {
				t.Errorf("error %q does not name server %s and setting %s", err, srv.Addr(), c.setting)
			}
			// Run refuses before streaming.
			s, err := binlog.New(binlog.Config{DSN: srv.DSN(""), ServerID: newServerID(), Start: current(t, db),
				Tables: []rowchange.Table{{Schema: "x", Name: "y"}}})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Run(t.Context(), &recorder{}); !errors.Is(err, c.want) {
				t.Errorf("Run: %v, want %v", err, c.want)
			}
		})
	}
	t.Run("retention", func(t *testing.T) {
		setGlobal(t, srv, "binlog_expire_logs_seconds", 7200)
		src, err := binlog.Check(t.Context(), db, srv.Addr(), current(t, db))
		if err != nil || src.Retention != 2*time.Hour {
			t.Errorf("Check: retention %s, %v; want 2h", src.Retention, err)
		}
	})
	t.Run("ahead", func(t *testing.T) {
		_, err := binlog.Check(t.Context(), db, srv.Addr(), "0-1-99999999")
		if !errors.Is(err, binlog.ErrPositionAhead) {
			t.Errorf("Check: %v, want ErrPositionAhead", err)
		}
	})
}

// TestCheckBinlogOff: a server without a binary log is refused.
func TestCheckBinlogOff(t *testing.T) {
	t.Parallel()
	srv, err := sandbox.Start(t.Context(), sandbox.Options{ExtraArgs: []string{"--skip-log-bin"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	db := sandboxtest.Open(t, srv, "")
	_, err = binlog.Check(t.Context(), db, srv.Addr(), "")
	if !errors.Is(err, binlog.ErrBinlogOff) || !strings.Contains(err.Error(), srv.Addr()) || !strings.Contains(err.Error(), "log_bin") {
		t.Errorf("Check: %v, want ErrBinlogOff naming %s and log_bin", err, srv.Addr())
	}
}

// TestPurged: a start position whose binary log is purged is refused with
// ErrPurged, by Check and by Run, which never starts from elsewhere. Not
// parallel: it purges servers[1]'s binary logs.
func TestPurged(t *testing.T) {
	srv := servers[1]
	name := sandboxtest.NewDatabase(t, srv, "purged")
	db := sandboxtest.Open(t, srv, name)
	sandboxtest.Exec(t, db, "CREATE TABLE p (id INT PRIMARY KEY)")
	old := current(t, db)
	sandboxtest.Exec(t, db, "INSERT INTO p VALUES (1)", "FLUSH BINARY LOGS", "INSERT INTO p VALUES (2)")
	purgeAll(t, db)

	_, err := binlog.Check(t.Context(), db, srv.Addr(), old)
	if !errors.Is(err, binlog.ErrPurged) || !strings.Contains(err.Error(), srv.Addr()) {
		t.Fatalf("Check from a purged position: %v, want ErrPurged naming %s", err, srv.Addr())
	}
	if _, err := binlog.Check(t.Context(), db, srv.Addr(), ""); !errors.Is(err, binlog.ErrPurged) {
		t.Errorf("Check from the start of a purged binary log: %v, want ErrPurged", err)
	}
	if _, err := binlog.Check(t.Context(), db, srv.Addr(), current(t, db)); err != nil {
		t.Errorf("Check from the current position: %v", err)
	}
	sink := &recorder{}
	r := start(t, srv, binlog.Config{Start: old, Tables: []rowchange.Table{{Schema: name, Name: "p"}}}, sink)
	if err := r.waitEnd(t); !errors.Is(err, binlog.ErrPurged) {
		t.Errorf("Run from a purged position: %v, want ErrPurged", err)
	}
	if len(sink.all()) != 0 {
		t.Errorf("%d transactions delivered from a purged position", len(sink.all()))
	}
}

// purgeAll rotates the binary log of db's server and purges every file
// before the new one.
func purgeAll(t *testing.T, db *sql.DB) {
	t.Helper()
	sandboxtest.Exec(t, db, "FLUSH BINARY LOGS")
	var file string
	rows, err := db.QueryContext(t.Context(), "SHOW MASTER STATUS")
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	dest := make([]any, len(cols))
	dest[0] = &file
	for i := 1; i < len(dest); i++ {
		dest[i] = new(any)
	}
	if !rows.Next() {
		t.Fatal("SHOW MASTER STATUS: no row")
	}
	if err := rows.Scan(dest...); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	// The server keeps a binary log until its binlog checkpoint has
	// passed it, whatever PURGE asks: retry until the file is gone.
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(50 * time.Millisecond) {
		sandboxtest.Exec(t, db, "PURGE BINARY LOGS TO '"+file+"'")
		var first string
		if err := db.QueryRowContext(t.Context(), "SHOW BINARY LOGS").Scan(&first, new(any)); err != nil {
			t.Fatal(err)
		}
		if first == file {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("binary logs before %s not purged", file)
		}
	}
}
