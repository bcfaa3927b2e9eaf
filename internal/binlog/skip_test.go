package binlog_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// TestSkipUnfollowed: while a table nobody follows takes big writes, in
// transactions of its own and inside transactions that also change the
// followed table, the stream delivers exactly the followed table's
// changes, whole transaction by whole transaction, reaches the position
// after the last unfollowed write, and leaves the other table's rows
// undecoded (Stats.Skipped).
func TestSkipUnfollowed(t *testing.T) {
	t.Parallel()
	db, name := newDB(t, "skip",
		"CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(10))",
		"CREATE TABLE b (id INT PRIMARY KEY, v VARCHAR(200))")
	sink := &recorder{}
	r := start(t, servers[0], binlog.Config{Start: current(t, db), Tables: []rowchange.Table{{Schema: name, Name: "a"}}}, sink)

	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const half = 30_000
	var gtids []string
	for _, tx := range [][]string{
		{"BEGIN", "INSERT INTO a VALUES (1, 'a1')", fmt.Sprintf("INSERT INTO b SELECT seq, REPEAT('b', 150) FROM seq_1_to_%d", half),
			"UPDATE a SET v = 'a1x' WHERE id = 1", "COMMIT"},
		{fmt.Sprintf("INSERT INTO b SELECT seq, REPEAT('c', 150) FROM seq_%d_to_%d", half+1, 2*half)},
		{"INSERT INTO a VALUES (2, 'a2')"},
		{"UPDATE b SET v = REPEAT('d', 150)"},
		{"BEGIN", "DELETE FROM b WHERE id <= 1000", "DELETE FROM a WHERE id = 1", "COMMIT"},
		{"DELETE FROM b"},
	} {
		for _, stmt := range tx {
			if _, err := conn.ExecContext(t.Context(), stmt); err != nil {
				t.Fatal(err)
			}
		}
		var g string
		if err := conn.QueryRowContext(t.Context(), "SELECT @@last_gtid").Scan(&g); err != nil {
			t.Fatal(err)
		}
		gtids = append(gtids, g)
	}
	r.waitPosition(t, current(t, db))

	var seen []string
	for _, g := range sink.withChanges() {
		var cs []string
		for _, c := range g.changes {
			if c.Shape.Table.Name != "a" {
				t.Fatalf("change of %s delivered", c.Shape.Table)
			}
			img := c.After
			if img == nil {
				img = c.Before
			}
			cs = append(cs, fmt.Sprintf("%s %v", c.Op, img[1]))
		}
		seen = append(seen, g.tx.ID+": "+strings.Join(cs, ", "))
	}
	want := []string{gtids[0] + ": INSERT a1, UPDATE a1x", gtids[2] + ": INSERT a2", gtids[4] + ": DELETE a1x"}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("transactions with changes:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
	st := r.s.Stats()
	if st.Changes != 4 {
		t.Errorf("%d changes delivered, want 4", st.Changes)
	}
	if st.Skipped == 0 {
		t.Error("no row event of the unfollowed table was skipped undecoded")
	}
}

// BenchmarkDecodeUnfollowed measures the reading goroutine's decoding of
// a binary log holding an INSERT ... SELECT of 100,000 rows into a table
// the stream does not follow (an online ALTER's chunk copy into its
// shadow table): go-mysql's full decoding ("decode") against the stream's
// decoder, which skips the rows of tables not followed ("skip"). It
// parses the events of the server's binlog file, read into memory first,
// so that only decoding is timed.
func BenchmarkDecodeUnfollowed(b *testing.B) {
	const rows = 100_000
	db, name := newDB(b, "skipbench",
		"CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(10))",
		"CREATE TABLE shadow (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL)")
	var dir, file string
	sandboxtest.Exec(b, db, "FLUSH BINARY LOGS")
	if err := db.QueryRow("SELECT @@log_bin_basename").Scan(&dir); err != nil {
		b.Fatal(err)
	}
	var skip any
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&file, &skip, &skip, &skip); err != nil {
		b.Fatal(err)
	}
	sandboxtest.Exec(b, db,
		fmt.Sprintf("INSERT INTO shadow SELECT seq, seq %% 1000, REPEAT('c', 119), REPEAT('p', 59) FROM seq_1_to_%d", rows),
		"FLUSH BINARY LOGS")
	path := filepath.Join(filepath.Dir(dir), file)
	s, err := binlog.New(binlog.Config{DSN: servers[0].DSN(""), ServerID: newServerID(), Tables: []rowchange.Table{{Schema: name, Name: "a"}}})
	if err != nil {
		b.Fatal(err)
	}
	// The file's events, read once, so that only their parsing is timed.
	var raws [][]byte
	rp := replication.NewBinlogParser()
	rp.SetRawMode(true)
	if err := rp.ParseFile(path, 4, func(e *replication.BinlogEvent) error {
		raws = append(raws, e.RawData)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		decode func(*replication.RowsEvent, []byte) error
	}{{"decode", nil}, {"skip", s.DecodeRows}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				p := replication.NewBinlogParser()
				p.SetRowsEventDecodeFunc(c.decode)
				decoded := 0
				for _, raw := range raws {
					e, err := p.Parse(raw)
					if err != nil {
						b.Fatal(err)
					}
					if ev, ok := e.Event.(*replication.RowsEvent); ok {
						decoded += len(ev.Rows)
					}
				}
				if want := map[string]int{"decode": rows, "skip": 0}[c.name]; decoded != want {
					b.Fatalf("%d rows decoded, want %d", decoded, want)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/rows, "ns/row")
		})
	}
}
