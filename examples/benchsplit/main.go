//go:build linux

// Command benchsplit measures migrate.Split against the two other ways of
// splitting the seed's table test(id, name, addTime) into test_1 ..
// test_32 by int(md5(name), 16) % 32 + 1 on one server:
//
//   - the seed's Python script (cursor pages with LIMIT ... OFFSET,
//     executemany batches of 5000), as written, with only its connection
//     changed; it needs /usr/bin/python3 with pymysql (Debian's
//     python3-pymysql) and is skipped without them;
//   - the server-side limit: INSERT INTO test_k SELECT * FROM test WHERE
//     <the same routing in SQL> = k, for k = 1 .. 32, and one INSERT ...
//     SELECT of all rows into one table.
//
// The seed's script as written never commits its last executemany per
// table (pymysql does not autocommit), so it leaves up to 4,999 rows per
// shard unwritten, and all of them below 160,000 rows: the check line
// after its run says so; its time is still its time.
//
// It starts a throwaway MariaDB server, creates -rows rows, runs each way
// -runs times into fresh shard databases, checks every result (the rows
// per shard equal the server-side split's), and prints seconds, rows/s and
// the ratios, with the goals: shiftgate at least 10x faster than
// the script, within 3x of the server-side limit. A missed goal is MISS,
// not an error. Progress goes to stderr, results to stdout.
//
//	go run ./examples/benchsplit [-rows 1000000] [-runs 1] [-threads 4]
//	go run ./examples/benchsplit -rows 20000   # a quick trial
package main

import (
	"bytes"
	"context"
	"database/sql"
	_ "embed"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/shard"
)

//go:embed seed.py.tmpl
var seedScript string

// shards is the seed's shard count: its script has 32 written in.
const shards = 32

func main() {
	rows := flag.Int("rows", 1_000_000, "rows of the source table")
	runs := flag.Int("runs", 1, "runs of each way")
	threads := flag.Int("threads", 4, "shiftgate threads")
	bufferPool := flag.String("buffer-pool", "1G", "innodb_buffer_pool_size of the throwaway server")
	flag.Parse()
	if err := run(*rows, *runs, *threads, *bufferPool); err != nil {
		fmt.Fprintln(os.Stderr, "benchsplit:", err)
		os.Exit(1)
	}
}

func run(rows, runs, threads int, bufferPool string) error {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := sandbox.Start(ctx, sandbox.Options{Logger: logger, BufferPool: bufferPool})
	if err != nil {
		return err
	}
	defer srv.Close()
	db, err := srv.Open("")
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(os.Stderr, "creating %d rows\n", rows)
	if err := exec1(ctx, db,
		"CREATE DATABASE seed",
		"CREATE TABLE seed.test (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL, addTime DATETIME NOT NULL)",
		fmt.Sprintf("INSERT INTO seed.test (name, addTime) SELECT CONCAT('user', seq), '2020-01-01' + INTERVAL seq SECOND FROM seed.seq_1_to_%d", rows),
		"ANALYZE TABLE seed.test"); err != nil {
		return err
	}

	ways := []struct {
		name string
		run  func(ctx context.Context, dst string) error
	}{
		{"shiftgate Split", func(ctx context.Context, dst string) error { return splitShiftgate(ctx, srv, dst, threads) }},
		{"server-side INSERT ... SELECT", func(ctx context.Context, dst string) error { return splitServer(ctx, db, dst) }},
		{"server-side, all rows into one table", func(ctx context.Context, dst string) error {
			return exec1(ctx, db, "INSERT INTO "+dst+".test_1 SELECT * FROM seed.test")
		}},
		{"seed Python script", func(ctx context.Context, dst string) error { return splitPython(ctx, srv, dst) }},
	}
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil || exec.Command("/usr/bin/python3", "-c", "import pymysql").Run() != nil {
		fmt.Fprintln(os.Stderr, "no /usr/bin/python3 with pymysql (apt-get install python3-pymysql): the seed script is skipped")
		ways = ways[:3]
	}
	times := make([][]time.Duration, len(ways))
	var reference []int64 // rows per shard of the server-side split
	for r := range runs {
		for i, w := range ways {
			dst := fmt.Sprintf("shards_%d_%d", i, r)
			if err := createShards(ctx, db, dst, i != 0); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "run %d: %s\n", r+1, w.name)
			start := time.Now()
			if err := w.run(ctx, dst); err != nil {
				return fmt.Errorf("%s: %w", w.name, err)
			}
			took := time.Since(start)
			counts, err := shardCounts(ctx, db, dst)
			if err != nil {
				return err
			}
			if i == 1 && reference == nil {
				reference = counts
			}
			if i == 2 {
				counts = nil // one table, not a split: only its time counts
			}
			if err := check(w.name, counts, reference, rows); counts != nil && err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
			times[i] = append(times[i], took)
			if err := exec1(ctx, db, "DROP DATABASE "+dst); err != nil {
				return err
			}
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "split %d rows into %d tables on one server (%d run(s), medians)\n", rows, shards, runs)
	fmt.Fprintln(tw, "way\tseconds\trows/s\tx shiftgate")
	med := make([]time.Duration, len(ways))
	for i, w := range ways {
		med[i] = median(times[i])
		fmt.Fprintf(tw, "%s\t%.2f\t%.0f\t%.2f\n", w.name, med[i].Seconds(), float64(rows)/med[i].Seconds(), med[i].Seconds()/med[0].Seconds())
	}
	tw.Flush()
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISS"
	}
	server := med[0].Seconds() / med[1].Seconds()
	fmt.Printf("shiftgate / server-side = %.2f (goal: at most 3): %s\n", server, verdict(server <= 3))
	fmt.Printf("shiftgate / all rows into one table = %.2f\n", med[0].Seconds()/med[2].Seconds())
	if len(ways) > 3 {
		py := med[3].Seconds() / med[0].Seconds()
		fmt.Printf("seed script / shiftgate = %.2f (goal: at least 10): %s\n", py, verdict(py >= 10))
	}
	return nil
}

// createShards creates database dst with test_1 .. test_32 like the
// source table; with tables false only the database (the Split creates its
// tables).
func createShards(ctx context.Context, db *sql.DB, dst string, tables bool) error {
	stmts := []string{"CREATE DATABASE " + dst}
	for k := 1; k <= shards && tables; k++ {
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE %s.test_%d LIKE seed.test", dst, k))
	}
	return exec1(ctx, db, stmts...)
}

func splitShiftgate(ctx context.Context, srv *sandbox.Server, dst string, threads int) error {
	layout := shard.Layout{Method: shard.MD5, Shards: shards, Database: dst, Table: "test_{n}"}
	r, err := layout.Router()
	if err != nil {
		return err
	}
	s, err := migrate.NewSplit(srv.DSN(""), "seed", "test", "name", r, map[string]string{"": srv.DSN("")},
		migrate.WithThreads(threads), migrate.WithCheckpointDatabase("_shiftgate_"+dst))
	if err != nil {
		return err
	}
	_, err = s.Run(ctx, nil)
	return err
}

// routeSQL is the seed's int(md5(name), 16) % n + 1 in SQL for n below
// 2^31: the 128-bit digest reduced modulo n 32 bits at a time.
func routeSQL(n int) string {
	word := func(i int) string {
		return fmt.Sprintf("CAST(CONV(SUBSTRING(MD5(name), %d, 8), 16, 10) AS UNSIGNED)", 1+8*i)
	}
	e := fmt.Sprintf("MOD(%s, %d)", word(0), n)
	for i := 1; i < 4; i++ {
		e = fmt.Sprintf("MOD(%s * 4294967296 + %s, %d)", e, word(i), n)
	}
	return e + " + 1"
}

func splitServer(ctx context.Context, db *sql.DB, dst string) error {
	for k := 1; k <= shards; k++ {
		if _, err := db.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s.test_%d SELECT * FROM seed.test WHERE %s = %d", dst, k, routeSQL(shards), k)); err != nil {
			return err
		}
	}
	return nil
}

// splitPython runs the seed's script with its connection pointed at dst
// (read from seed.test through a view: the script reads "test" and writes
// "test_k" of one database). The script file holds the password; it is
// written 0600 into a temporary directory and removed.
func splitPython(ctx context.Context, srv *sandbox.Server, dst string) error {
	db, err := srv.Open("")
	if err != nil {
		return err
	}
	defer db.Close()
	if err := exec1(ctx, db, fmt.Sprintf("CREATE VIEW %s.test AS SELECT * FROM seed.test", dst)); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "benchsplit")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var script bytes.Buffer
	connect := fmt.Sprintf("host=%q, port=%d, db=%q, user=%q, password=%q", srv.Host(), srv.Port(), dst, srv.User(), srv.Password())
	if err := template.Must(template.New("seed").Parse(seedScript)).Execute(&script, struct{ Connect string }{connect}); err != nil {
		return err
	}
	path := filepath.Join(dir, "seed.py")
	if err := os.WriteFile(path, script.Bytes(), 0o600); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(out))
	}
	return exec1(ctx, db, fmt.Sprintf("DROP VIEW %s.test", dst))
}

// shardCounts returns the rows of dst.test_1 .. test_32.
func shardCounts(ctx context.Context, db *sql.DB, dst string) ([]int64, error) {
	out := make([]int64, shards)
	for k := range out {
		if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM %s.test_%d", dst, k+1)).Scan(&out[k]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// check compares a way's rows per shard with the server-side split's.
func check(way string, counts, reference []int64, rows int) error {
	var total int64
	for _, n := range counts {
		total += n
	}
	if total != int64(rows) {
		return fmt.Errorf("%s: the shards hold %d rows, not %d", way, total, rows)
	}
	if reference != nil && !slices.Equal(counts, reference) {
		return fmt.Errorf("%s: rows per shard differ from the server-side split's", way)
	}
	return nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func exec1(ctx context.Context, db *sql.DB, stmts ...string) error {
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", strings.SplitN(s, " ", 4)[:3], err)
		}
	}
	return nil
}
