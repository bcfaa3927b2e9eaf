package binlog_test

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/apply"
	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// e2eTables are the tables of the end-to-end tests: counters, rows
// inserted and deleted, and a log of one row per transaction whose
// inserts a trigger of the target counts.
var e2eTables = []string{
	"CREATE TABLE a (id INT PRIMARY KEY, n INT NOT NULL)",
	"CREATE TABLE b (id INT PRIMARY KEY, u INT NULL, v VARCHAR(20) NOT NULL, UNIQUE KEY (u))",
	"CREATE TABLE lg (id INT PRIMARY KEY)",
}

// startSync creates a source database and a target database on
// servers[0], an Applier into the target with opts, and a stream of cfg
// into it from the source's current position; applied returns the log
// rows the target inserted by committed statements.
func startSync(t *testing.T, cfg binlog.Config, opts ...apply.Option) (src, dst string, a *apply.Applier, store *checkpoint.Store, r *running, applied func() int64) {
	t.Helper()
	db, src := newDB(t, "e2e", append(e2eTables, "INSERT INTO a SELECT seq, 0 FROM seq_1_to_10")...)
	dst = sandboxtest.NewDatabase(t, servers[0], "e2e_dst")
	dstDB := sandboxtest.Open(t, servers[0], dst)
	sandboxtest.Exec(t, dstDB, append(e2eTables, "INSERT INTO a SELECT seq, 0 FROM seq_1_to_10",
		"CREATE TABLE tally (n BIGINT NOT NULL)", "INSERT INTO tally VALUES (0)",
		"CREATE TRIGGER count_inserts BEFORE INSERT ON lg FOR EACH ROW UPDATE tally SET n = n + 1")...)
	store = checkpoint.New(sandboxtest.NewDatabase(t, servers[0], "e2e_cp"))
	covered := apply.WithCovered(func(stored, pos string) (bool, error) { return binlog.PositionContains(binlog.MariaDB, stored, pos) })
	a, err := apply.New(sandboxtest.Open(t, servers[0], ""), store, "e2e", dst, append([]apply.Option{covered, apply.WithoutBinlog()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	cfg.Start = current(t, db)
	for _, name := range []string{"a", "b", "lg"} {
		cfg.Tables = append(cfg.Tables, rowchange.Table{Schema: src, Name: name})
	}
	r = start(t, servers[0], cfg, a)
	return src, dst, a, store, r, func() int64 {
		var n int64
		if err := dstDB.QueryRow("SELECT n FROM tally").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// burst runs n small transactions on the source db, numbered from
// first: a counter increment, an insert into b (and a delete of an older
// row of b, its unique value moved to another row), and a log row.
func burst(db *sql.DB, first, n int) error {
	for i := first; i < first+n; i++ {
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		stmts := []string{
			fmt.Sprintf("UPDATE a SET n = n + 1 WHERE id = %d", i%10+1),
			fmt.Sprintf("INSERT INTO b VALUES (%d, %d, 'row %d')", i, i, i),
			fmt.Sprintf("INSERT INTO lg VALUES (%d)", i),
		}
		if i%3 == 0 {
			stmts = append(stmts, fmt.Sprintf("DELETE FROM b WHERE id = %d", i-2), fmt.Sprintf("UPDATE b SET u = %d WHERE id = %d", i-2, i-1))
		}
		for _, s := range stmts {
			if _, err := tx.Exec(s); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("transaction %d: %s: %w", i, s, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// waitApplied waits until the Applier's committed position holds pos.
func waitApplied(t testing.TB, a *apply.Applier, r *running, pos string) {
	t.Helper()
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(20 * time.Millisecond) {
		if contains(t, a.Stats().Position, pos) {
			return
		}
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("stream ended before the target reached %s: %v", pos, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("target at %q did not reach %q", a.Stats().Position, pos)
		}
	}
}

// sameTables checks that the source's tables and the target's hold the
// same rows.
func sameTables(t *testing.T, src, dst string) {
	t.Helper()
	db := sandboxtest.Open(t, servers[0], "")
	for _, table := range []string{"a", "b", "lg"} {
		wn, ws, err := schema.Checksum(t.Context(), db, src, table)
		if err != nil {
			t.Fatal(err)
		}
		gn, gs, err := schema.Checksum(t.Context(), db, dst, table)
		if err != nil {
			t.Fatal(err)
		}
		if wn != gn || ws != gs {
			t.Errorf("table %s: target %d rows, checksum %d; source %d rows, checksum %d", table, gn, gs, wn, ws)
		}
	}
}

// TestApplierBurst streams bursts of small transactions into a grouping
// Applier: a backlog read before the stream starts, then a burst during
// which every dump thread is killed (the stream reconnects and resumes
// after the last transaction the Applier accepted, its open group
// intact). The target ends equal to the source, each transaction
// committed once (the log's insert count), and the stream's Position is
// what the Applier committed. Not parallel: it kills every dump thread of
// servers[0].
func TestApplierBurst(t *testing.T) {
	const first, second = 400, 400
	src, dst, a, store, r, applied := startSync(t, binlog.Config{BackoffMin: 10 * time.Millisecond})
	db := sandboxtest.Open(t, servers[0], src)
	if err := burst(db, 1, first); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- burst(db, first+1, second) }()
	for deadline := time.Now().Add(waitLimit); a.Stats().Txns < first/2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("applier stats %+v: the backlog is not applied", a.Stats())
		}
	}
	killed := killDumpThreads(t, db)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	end := current(t, db)
	waitApplied(t, a, r, end)
	r.waitPosition(t, end)

	sameTables(t, src, dst)
	if n := applied(); n != first+second {
		t.Errorf("log rows inserted %d times, want %d", n, first+second)
	}
	st := a.Stats()
	if st.Txns != first+second {
		t.Errorf("applier stats %+v: want %d transactions", st, first+second)
	}
	saved := loadStream(t, store, "e2e")
	if !contains(t, saved.Position, end) {
		t.Errorf("checkpoint at %q, want %q", saved.Position, end)
	}
	if saved.Version >= first+second {
		t.Errorf("checkpoint version %d: no group of several transactions", saved.Version)
	}
	ss := r.s.Stats()
	if killed == 0 || ss.Reconnects == 0 {
		t.Errorf("%d dump threads killed, stream stats %+v: no reconnect", killed, ss)
	}
	t.Logf("%d transactions in %d commits, %d reconnects", st.Txns, saved.Version, ss.Reconnects)
}

// TestApplierIdleFlush: with groups that neither fill nor age, only the
// stream's Flush, when it has delivered all it read, commits: the last
// transactions of a burst become durable without more traffic, and the
// stream's Position (what the sink made durable) reaches them.
func TestApplierIdleFlush(t *testing.T) {
	t.Parallel()
	src, dst, a, store, r, applied := startSync(t, binlog.Config{}, apply.WithGroupCommit(1_000_000, time.Hour))
	db := sandboxtest.Open(t, servers[0], src)
	if err := burst(db, 1, 3); err != nil {
		t.Fatal(err)
	}
	end := current(t, db)
	waitApplied(t, a, r, end)
	r.waitPosition(t, end)
	sameTables(t, src, dst)
	if n := applied(); n != 3 {
		t.Errorf("log rows inserted %d times, want 3", n)
	}
	if saved := loadStream(t, store, "e2e"); !contains(t, saved.Position, end) {
		t.Errorf("checkpoint at %q, want %q", saved.Position, end)
	}
}

func contains(t testing.TB, have, want string) bool {
	t.Helper()
	ok, err := binlog.PositionContains(binlog.MariaDB, have, want)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// loadStream returns the checkpoint of stream name.
func loadStream(t testing.TB, store *checkpoint.Store, name string) *checkpoint.Stream {
	t.Helper()
	st, err := store.LoadStream(t.Context(), sandboxtest.Open(t, servers[0], ""), name)
	if err != nil {
		t.Fatal(err)
	}
	if st == nil {
		t.Fatal("no checkpoint")
	}
	return st
}

// BenchmarkCatchUp measures the catch-up rate (txns/s) of a stream into an
// Applier: a backlog of b.N transactions shaped as sysbench
// oltp_write_only's (an index update, a non-index update, a delete and an
// insert of one id, each on one of 4 tables of 10,000 rows) is written on
// the source first, then streamed from before it until the target holds
// it. It compares each transaction committed alone with smaller groups
// and the default ones; txns/commit is the mean group size.
func BenchmarkCatchUp(b *testing.B) {
	const tables, rows = 4, 10_000
	for _, g := range []struct {
		n     int
		delay time.Duration
	}{{1, 0}, {100, 20 * time.Millisecond}, {apply.DefaultGroupTxns, apply.DefaultGroupDelay}} {
		b.Run(fmt.Sprintf("group=%d,delay=%s", g.n, g.delay), func(b *testing.B) {
			var ddl []string
			for i := 1; i <= tables; i++ {
				ddl = append(ddl, fmt.Sprintf("CREATE TABLE sbtest%d (id INT NOT NULL PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL, KEY (k))", i),
					fmt.Sprintf("INSERT INTO sbtest%d SELECT seq, seq %% 1000, REPEAT('c', 119), REPEAT('p', 59) FROM seq_1_to_%d", i, rows))
			}
			db, src := newDB(b, "catchup", ddl...)
			dst := sandboxtest.NewDatabase(b, servers[0], "catchup_dst")
			sandboxtest.Exec(b, sandboxtest.Open(b, servers[0], dst), ddl...)
			store := checkpoint.New(sandboxtest.NewDatabase(b, servers[0], "catchup_cp"))
			a, err := apply.New(sandboxtest.Open(b, servers[0], ""), store, "catchup", dst, apply.WithoutBinlog(), apply.WithGroupCommit(g.n, g.delay),
				apply.WithCovered(func(stored, pos string) (bool, error) { return binlog.PositionContains(binlog.MariaDB, stored, pos) }))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = a.Close() })
			cfg := binlog.Config{Start: current(b, db)}
			for i := 1; i <= tables; i++ {
				cfg.Tables = append(cfg.Tables, rowchange.Table{Schema: src, Name: fmt.Sprint("sbtest", i)})
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for range b.N {
				tx, err := db.Begin()
				if err != nil {
					b.Fatal(err)
				}
				id := 1 + rng.IntN(rows)
				for _, s := range []string{
					fmt.Sprintf("UPDATE sbtest%d SET k = k + 1 WHERE id = %d", 1+rng.IntN(tables), 1+rng.IntN(rows)),
					fmt.Sprintf("UPDATE sbtest%d SET c = '%0119d' WHERE id = %d", 1+rng.IntN(tables), rng.Int64N(1e18), 1+rng.IntN(rows)),
					fmt.Sprintf("DELETE FROM sbtest%d WHERE id = %d", 1+id%tables, id),
					fmt.Sprintf("INSERT INTO sbtest%d VALUES (%d, %d, '%0119d', '%059d')", 1+id%tables, id, id%1000, rng.Int64N(1e18), rng.Int64N(1e18)),
				} {
					if _, err := tx.Exec(s); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			end := current(b, db)
			b.ResetTimer()
			r := start(b, servers[0], cfg, a)
			waitApplied(b, a, r, end)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "txns/s")
			b.ReportMetric(float64(b.N)/float64(loadStream(b, store, "catchup").Version), "txns/commit")
		})
	}
}
