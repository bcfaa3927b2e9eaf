package binlog_test

import (
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/rowchange"
)

// TestHurry: while only unfollowed transactions flow and the source sends
// no heartbeat, the stream hands their positions over at most once a
// second; under Hurry it hands each one over as it reads it, so a caller
// waiting for the source's current position gets it at once. Without
// Hurry the second of two back-to-back unfollowed transactions waits for
// a heartbeat an hour away and the wait below fails.
func TestHurry(t *testing.T) {
	t.Parallel()
	db, name := newDB(t, "hurry",
		"CREATE TABLE a (id INT PRIMARY KEY)",
		"CREATE TABLE b (id INT PRIMARY KEY)")
	r := start(t, servers[0], binlog.Config{Start: current(t, db), Heartbeat: time.Hour, ReadTimeout: 2 * time.Hour,
		Tables: []rowchange.Table{{Schema: name, Name: "a"}}}, &recorder{})
	// A followed transaction: handed over at once, hurry or not.
	if _, err := db.ExecContext(t.Context(), "INSERT INTO a VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	r.waitPosition(t, current(t, db))

	done := r.s.Hurry()
	defer done()
	for i := range 2 {
		if _, err := db.ExecContext(t.Context(), "INSERT INTO b VALUES (?)", i); err != nil {
			t.Fatal(err)
		}
	}
	pos := current(t, db)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := binlog.PositionContains(binlog.MariaDB, r.s.Position(), pos)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("under Hurry the stream holds %q 10 s after the source logged %q", r.s.Position(), pos)
		}
		time.Sleep(10 * time.Millisecond)
	}
	done()
	done() // a second call does nothing
}
