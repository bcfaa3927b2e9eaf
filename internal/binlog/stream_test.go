package binlog_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// TestMultiTableAndFilter: a transaction over two followed tables and one
// other arrives whole with the followed changes only, in order; a flow of
// transactions on other tables only moves the position, by position-only
// Txns.
func TestMultiTableAndFilter(t *testing.T) {
	t.Parallel()
	db, name := newDB(t, "multi",
		"CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(10))",
		"CREATE TABLE b (id INT PRIMARY KEY, v VARCHAR(10))",
		"CREATE TABLE c (id INT PRIMARY KEY, v VARCHAR(10))")
	pos := current(t, db)
	sink := &recorder{}
	r := start(t, servers[0], binlog.Config{Start: pos, Tables: []rowchange.Table{{Schema: name, Name: "a"}, {Schema: name, Name: "b"}}}, sink)

	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, stmt := range []string{"BEGIN", "INSERT INTO a VALUES (1, 'a1')", "INSERT INTO c VALUES (1, 'c1')",
		"INSERT INTO b VALUES (1, 'b1'), (2, 'b2')", "UPDATE a SET v = 'a1x' WHERE id = 1", "COMMIT"} {
		if _, err := conn.ExecContext(t.Context(), stmt); err != nil {
			t.Fatal(err)
		}
	}
	var multi string
	if err := conn.QueryRowContext(t.Context(), "SELECT @@last_gtid").Scan(&multi); err != nil {
		t.Fatal(err)
	}
	r.waitPosition(t, multi)
	txns := sink.withChanges()
	if len(txns) != 1 {
		t.Fatalf("%d transactions with changes, want 1", len(txns))
	}
	var seen []string
	for _, c := range txns[0].changes {
		seen = append(seen, fmt.Sprintf("%s %s %v", c.Op, c.Shape.Table.Name, c.After[1]))
	}
	if want := "INSERT a a1|INSERT b b1|INSERT b b2|UPDATE a a1x"; strings.Join(seen, "|") != want {
		t.Errorf("changes %s, want %s", strings.Join(seen, "|"), want)
	}
	if txns[0].tx.Position != multi || txns[0].tx.ID != multi {
		t.Errorf("txn id %q position %q, want %q", txns[0].tx.ID, txns[0].tx.Position, multi)
	}

	// Other tables only: the position follows, without changes.
	for i := 2; i < 40; i++ {
		sandboxtest.Exec(t, db, fmt.Sprintf("INSERT INTO c VALUES (%d, 'c')", i))
	}
	r.waitPosition(t, current(t, db))
	if n := len(sink.withChanges()); n != 1 {
		t.Errorf("%d transactions with changes after unfollowed traffic, want 1", n)
	}
	positionOnly := 0
	for _, g := range sink.all() {
		if g.tx.Changes == nil {
			positionOnly++
		}
	}
	if positionOnly == 0 || positionOnly > 38 {
		t.Errorf("%d position-only transactions for 38 unfollowed ones", positionOnly)
	}
	st := r.s.Stats()
	if st.Changes != 4 || st.Applied != uint64(len(sink.all())) || st.Events == 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestBigDelete: a 200k-row DELETE arrives as one transaction, in many
// batches, and the stream's buffered bytes stay within the budget.
func TestBigDelete(t *testing.T) {
	t.Parallel()
	db, name := newDB(t, "bigdel",
		"CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(100))",
		"INSERT INTO big SELECT seq, REPEAT('x', 100) FROM seq_1_to_200000")
	pos := current(t, db)
	sandboxtest.Exec(t, db, "DELETE FROM big")
	const budget = 1 << 20
	sink := &recorder{}
	r := start(t, servers[0], binlog.Config{Start: pos, Budget: budget, Tables: []rowchange.Table{{Schema: name, Name: "big"}}}, sink)
	r.waitPosition(t, current(t, db))
	txns := sink.withChanges()
	if len(txns) != 1 || len(txns[0].changes) != 200000 {
		t.Fatalf("want one transaction of 200000 changes, got %d", len(txns))
	}
	if txns[0].batches < 10 {
		t.Errorf("%d batches for 200000 changes within a %d-byte budget", txns[0].batches, budget)
	}
	for i, c := range txns[0].changes {
		if c.Op != rowchange.Delete || c.Before[0] != int64(i+1) {
			t.Fatalf("change %d: %s of id %v", i, c.Op, c.Before[0])
		}
	}
	st := r.s.Stats()
	if st.PeakBuffered > budget || st.PeakBuffered == 0 {
		t.Errorf("peak buffered %d bytes, budget %d", st.PeakBuffered, budget)
	}
	t.Logf("peak buffered %d of %d bytes, %d batches", st.PeakBuffered, budget, txns[0].batches)
}

// TestRotation: FLUSH BINARY LOGS between transactions while streaming
// loses nothing.
func TestRotation(t *testing.T) {
	t.Parallel()
	db, name := newDB(t, "rotate", "CREATE TABLE r (id INT PRIMARY KEY)")
	sink := &recorder{}
	r := start(t, servers[0], binlog.Config{Start: current(t, db), Tables: []rowchange.Table{{Schema: name, Name: "r"}}}, sink)
	for i := range 6 {
		sandboxtest.Exec(t, db, fmt.Sprintf("INSERT INTO r VALUES (%d)", i))
		if i%2 == 1 {
			sandboxtest.Exec(t, db, "FLUSH BINARY LOGS")
		}
	}
	r.waitPosition(t, current(t, db))
	ids := map[int64]int{}
	for _, id := range sink.insertedIDs() {
		ids[id]++
	}
	for i := range int64(6) {
		if ids[i] != 1 {
			t.Errorf("id %d delivered %d times", i, ids[i])
		}
	}
}

// killDumpThreads kills every binlog dump thread of the server and waits
// until they are gone. Only the caller's stream may be connected.
func killDumpThreads(t *testing.T, db *sql.DB) int {
	t.Helper()
	ids := func() []int64 {
		rows, err := db.QueryContext(t.Context(), "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump'")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out = append(out, id)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	killed := ids()
	for _, id := range killed {
		if _, err := db.ExecContext(t.Context(), fmt.Sprintf("KILL %d", id)); err != nil {
			t.Logf("KILL %d: %v", id, err)
		}
	}
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(10 * time.Millisecond) {
		left := ids()
		gone := true
		for _, id := range killed {
			if slices.Contains(left, id) {
				gone = false
			}
		}
		if gone {
			return len(killed)
		}
		if time.Now().After(deadline) {
			t.Fatalf("dump threads %v still there", left)
		}
	}
}

// TestKillMidTransaction kills the replication connection from the server
// while a large transaction is being delivered: the sink sees an error
// wrapping ErrConnection, rolls back, and the stream reconnects and
// delivers it again whole; nothing is applied twice. Not parallel: it
// kills every dump thread of servers[0].
func TestKillMidTransaction(t *testing.T) {
	db, name := newDB(t, "kill",
		"CREATE TABLE k (id INT PRIMARY KEY, pad VARCHAR(200))",
		"CREATE TABLE m (id INT PRIMARY KEY)")
	pos := current(t, db)
	sandboxtest.Exec(t, db,
		"INSERT INTO m VALUES (1)",
		"INSERT INTO k SELECT seq, REPEAT('k', 200) FROM seq_1_to_100000",
		"INSERT INTO m VALUES (2)")
	var once sync.Once
	killed := 0
	sink := &recorder{}
	sink.hook = func(_ rowchange.Txn, n int, b []rowchange.Change) error {
		if n == 1 && b[0].Shape.Table.Name == "k" {
			once.Do(func() { killed = killDumpThreads(t, db) })
		}
		return nil
	}
	r := start(t, servers[0], binlog.Config{Start: pos, Budget: 64 << 10, BackoffMin: 10 * time.Millisecond,
		Tables: []rowchange.Table{{Schema: name, Name: "k"}, {Schema: name, Name: "m"}}}, sink)
	r.waitPosition(t, current(t, db))
	if killed == 0 {
		t.Fatal("no dump thread killed")
	}
	if len(sink.fails) == 0 || !errors.Is(sink.fails[0], binlog.ErrConnection) {
		t.Fatalf("sink saw errors %v, want one wrapping ErrConnection", sink.fails)
	}
	seen := map[string]int{}
	rows := 0
	for _, g := range sink.withChanges() {
		seen[g.tx.ID]++
		for _, c := range g.changes {
			if c.Shape.Table.Name == "k" {
				rows++
			}
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("transaction %s applied %d times", id, n)
		}
	}
	if len(seen) != 3 || rows != 100000 {
		t.Errorf("%d transactions, %d rows of k applied; want 3 and 100000", len(seen), rows)
	}
	if st := r.s.Stats(); st.Reconnects == 0 {
		t.Errorf("stats %+v: no reconnect", st)
	}
}

// TestRestartFromPosition: a stream started from a Txn.Position resumes
// right after that transaction.
func TestRestartFromPosition(t *testing.T) {
	t.Parallel()
	db, name := newDB(t, "restart", "CREATE TABLE r (id INT PRIMARY KEY)")
	tables := []rowchange.Table{{Schema: name, Name: "r"}}
	pos := current(t, db)
	for i := 1; i <= 3; i++ {
		sandboxtest.Exec(t, db, fmt.Sprintf("INSERT INTO r VALUES (%d)", i))
	}
	first := &recorder{}
	r1 := start(t, servers[0], binlog.Config{Start: pos, Tables: tables}, first)
	r1.waitPosition(t, current(t, db))
	r1.stop()
	if err := r1.waitEnd(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v", err)
	}
	saved := r1.s.Position()
	if all := first.all(); all[len(all)-1].tx.Position != saved {
		t.Fatalf("last Txn.Position %q, stream position %q", all[len(all)-1].tx.Position, saved)
	}
	for i := 4; i <= 5; i++ {
		sandboxtest.Exec(t, db, fmt.Sprintf("INSERT INTO r VALUES (%d)", i))
	}
	second := &recorder{}
	r2 := start(t, servers[0], binlog.Config{Start: saved, Tables: tables}, second)
	r2.waitPosition(t, current(t, db))
	ids := second.insertedIDs()
	if fmt.Sprint(ids) != "[4 5]" {
		t.Errorf("restarted stream delivered ids %v, want [4 5]", ids)
	}
}

// TestDDL: a schema change on a followed table stops the stream (naming
// statement and table), is skipped, or is passed on, by policy; schema
// changes on other tables are ignored.
func TestDDL(t *testing.T) {
	t.Parallel()
	for _, policy := range []binlog.DDLPolicy{binlog.DDLStop, binlog.DDLSkip, binlog.DDLApply} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			db, name := newDB(t, "ddl_"+policy.String(),
				"CREATE TABLE t (id INT PRIMARY KEY)", "CREATE TABLE other (id INT PRIMARY KEY)")
			pos := current(t, db)
			sandboxtest.Exec(t, db,
				"INSERT INTO t VALUES (1)",
				"ALTER TABLE other ADD COLUMN x INT",
				"CREATE TABLE more (id INT PRIMARY KEY)")
			beforeDDL := execGTID(t, db, "INSERT INTO t VALUES (2)")
			sandboxtest.Exec(t, db,
				"ALTER TABLE t ADD COLUMN v VARCHAR(10) DEFAULT 'x'",
				"INSERT INTO t VALUES (3, 'y')")
			sink := &recorder{}
			r := start(t, servers[0], binlog.Config{Start: pos, DDL: policy, Tables: []rowchange.Table{{Schema: name, Name: "t"}}}, sink)
			if policy == binlog.DDLStop {
				err := r.waitEnd(t)
				var de *binlog.DDLError
				if !errors.As(err, &de) || !errors.Is(err, binlog.ErrDDL) {
					t.Fatalf("Run: %v, want a *DDLError", err)
				}
				if !strings.Contains(err.Error(), "ALTER TABLE t ADD COLUMN") || !strings.Contains(err.Error(), name+".t") || len(de.Tables) != 1 {
					t.Errorf("error %q does not name the statement and the table", err)
				}
				// Other tests write to the server too: the stream stops
				// after the second insert, before the DDL.
				stopped := r.s.Position()
				after, _ := binlog.PositionContains(binlog.MariaDB, stopped, beforeDDL)
				past, _ := binlog.PositionContains(binlog.MariaDB, stopped, de.GTID)
				if !after || past || len(sink.withChanges()) != 2 {
					t.Errorf("stopped at %q with %d transactions, want after %q, before %q and 2", stopped, len(sink.withChanges()), beforeDDL, de.GTID)
				}
				return
			}
			r.waitPosition(t, current(t, db))
			var log []string
			for _, g := range sink.all() {
				switch {
				case g.tx.DDL != nil:
					log = append(log, fmt.Sprintf("DDL %s %v", g.tx.DDL.Statement, g.tx.DDL.Tables))
				case g.tx.Changes != nil:
					c := g.changes[0]
					log = append(log, fmt.Sprintf("%s %v %d", c.Op, c.After[0], len(c.Shape.Columns)))
				}
			}
			want := "INSERT 1 1|INSERT 2 1|INSERT 3 2"
			if policy == binlog.DDLApply {
				want = "INSERT 1 1|INSERT 2 1|DDL ALTER TABLE t ADD COLUMN v VARCHAR(10) DEFAULT 'x' [" + name + ".t]|INSERT 3 2"
			}
			if got := strings.Join(log, "|"); got != want {
				t.Errorf("delivered %s\nwant      %s", got, want)
			}
		})
	}
}

// TestSessionOverrides: a session that logs a followed table's changes as
// statements, or with partial row images, stops the stream with
// ErrBinlogFormat or ErrRowImage after the transactions before it; so
// does an XA transaction, which the stream cannot deliver whole.
func TestSessionOverrides(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, set, stmt string
		want            error
	}{
		{"statement", "SET SESSION binlog_format = 'STATEMENT'", "INSERT INTO t VALUES (2, 'b')", binlog.ErrBinlogFormat},
		{"minimal", "SET SESSION binlog_row_image = 'MINIMAL'", "DELETE FROM t WHERE id = 1", binlog.ErrRowImage},
		{"xa", "XA START 'x'", "INSERT INTO t VALUES (2, 'b')", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			db, name := newDB(t, "session_"+c.name, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
			pos := current(t, db)
			applied := execGTID(t, db, "INSERT INTO t VALUES (1, 'a')")
			conn, err := db.Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			stmts := []string{c.set, c.stmt}
			if c.want == nil {
				stmts = append(stmts, "XA END 'x'", "XA PREPARE 'x'", "XA COMMIT 'x'")
			}
			for _, stmt := range stmts {
				if _, err := conn.ExecContext(t.Context(), stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			sink := &recorder{}
			r := start(t, servers[0], binlog.Config{Start: pos, Tables: []rowchange.Table{{Schema: name, Name: "t"}}}, sink)
			err = r.waitEnd(t)
			switch {
			case c.want == nil:
				if err == nil || !strings.Contains(err.Error(), "XA transactions are not supported") {
					t.Fatalf("Run: %v, want XA refused", err)
				}
			case !errors.Is(err, c.want) || !strings.Contains(err.Error(), name+".t"):
				t.Fatalf("Run: %v, want %v naming %s.t", err, c.want, name)
			}
			// Other tests write to the server too: the stream has applied
			// the first insert and nothing of the second statement.
			if ok, _ := binlog.PositionContains(binlog.MariaDB, r.s.Position(), applied); !ok || len(sink.withChanges()) != 1 {
				t.Errorf("stopped at %q with %d transactions, want after %q with 1", r.s.Position(), len(sink.withChanges()), applied)
			}
		})
	}
}

// execGTID runs stmt and returns the GTID it was logged with.
func execGTID(t *testing.T, db *sql.DB, stmt string) string {
	t.Helper()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	var gtid string
	if err := conn.QueryRowContext(t.Context(), "SELECT @@last_gtid").Scan(&gtid); err != nil {
		t.Fatal(err)
	}
	return gtid
}

// freezer is a TCP proxy to a server whose connections can be frozen:
// they stay open and carry nothing more, like a peer that vanished.
type freezer struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	frozen []chan struct{}
	// shut: new connections are closed at once, as by a server that is
	// not there.
	shut atomic.Bool
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if f.shut.Load() {
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			stop := make(chan struct{})
			f.mu.Lock()
			f.conns = append(f.conns, c, s)
			f.frozen = append(f.frozen, stop)
			f.mu.Unlock()
			go pump(c, s, stop)
			go pump(s, c, stop)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range f.conns {
			c.Close()
		}
	})
	return f
}

// pump copies from src to dst until either fails; once stop is closed it
// forwards nothing more.
func pump(dst, src net.Conn, stop chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-stop:
			<-make(chan struct{}) // frozen: never forward again; the connection is closed at cleanup
		default:
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// freeze freezes every connection open now.
func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, stop := range f.frozen {
		select {
		case <-stop:
		default:
			close(stop)
		}
	}
}

// TestDeadConnection: a connection that goes silent is noticed by the
// read timeout and reopened; nothing is lost or applied twice.
func TestDeadConnection(t *testing.T) {
	t.Parallel()
	db, name := newDB(t, "dead", "CREATE TABLE d (id INT PRIMARY KEY)")
	proxy := newFreezer(t, servers[0].Addr())
	cfg := servers[0].Config("")
	cfg.Addr = proxy.ln.Addr().String()
	sink := &recorder{}
	r := start(t, servers[0], binlog.Config{DSN: cfg.FormatDSN(), Start: current(t, db), Heartbeat: 100 * time.Millisecond,
		ReadTimeout: time.Second, BackoffMin: 10 * time.Millisecond, Tables: []rowchange.Table{{Schema: name, Name: "d"}}}, sink)
	sandboxtest.Exec(t, db, "INSERT INTO d VALUES (1)")
	r.waitPosition(t, current(t, db))
	proxy.freeze()
	sandboxtest.Exec(t, db, "INSERT INTO d VALUES (2)")
	r.waitPosition(t, current(t, db))
	ids := sink.insertedIDs()
	if fmt.Sprint(ids) != "[1 2]" {
		t.Errorf("delivered ids %v, want [1 2]", ids)
	}
	if st := r.s.Stats(); st.Reconnects == 0 {
		t.Errorf("stats %+v: no reconnect", st)
	}
}
