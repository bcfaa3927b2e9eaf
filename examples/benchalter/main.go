//go:build linux

// Command benchalter measures migrate.OnlineAlter, shiftgate's online
// schema change, against pt-online-schema-change (Debian percona-toolkit)
// and a native ALTER TABLE ... ALGORITHM=COPY: the same ALTER of the same
// rows while sysbench oltp_write_only writes the altered table and others.
//
// It starts a throwaway MariaDB server and loads sysbench's tables (its
// definition, its sizes of c and pad, k random in 1..rows): the altered
// one, sbtest.sbtest1, of -rows rows (2,000,000), and -other-tables
// tables sbother.sbtest1... of -other-rows rows each. For each method in
// turn it loads sbtest.sbtest1 anew (the same rows each time), starts two
// sysbench oltp_write_only instances at -rate transactions/s each (a
// fixed rate, so that the methods meet the same load), one on
// sbtest.sbtest1, one on the other tables; lets them run for -settle;
// runs the ALTER and times it; lets them run -settle more and stops them.
// Then it checks the table: the row count it was loaded with (each of
// sysbench's transactions deletes and inserts the same id), no other
// table or trigger left in sbtest, and a definition that differs from the
// one before and is the same after every method.
//
// sysbench reports every second (--report-interval=1 --percentile=100:
// the slowest transaction of that second). Per method it prints the total
// time, the server's CPU time meanwhile (less disturbed than the total by
// other processes on the machine), and per sysbench instance: its
// transactions/s over the seconds inside the ALTER, its longest stall (the
// slowest transaction, or the longest run of seconds without any if
// longer, from the ALTER's start to 2 s after its end) and the errors it
// ignored (deadlocks, lock wait timeouts, lost connections: it runs with
// --mysql-ignore-errors=all to keep writing). At a fixed rate sysbench
// counts the time a transaction waited in its queue in its latency, as an
// application's users would: an instance that falls below its rate builds
// a backlog whose wait is part of its stall, which the output says. It
// also prints when each instance's slowest transaction ended and, for
// OnlineAlter, when each phase (from its progress) began, to tell which
// step held the writes. The native COPY's blocking
// time is the stall it caused on sbtest1. Then the verdicts against the
// issue's goals: shiftgate faster than pt-online-schema-change, its
// longest stall on the altered table under 1 s, and far below (under a
// tenth of) the native COPY's; a missed goal is reported as MISS, not an
// error. Progress goes to stderr, results to stdout.
//
// sysbench connects as sbtest, an account without password that only
// loopback can reach and that may only use sbtest and sbother, so no
// password is on its command line. pt-online-schema-change gets the
// server's credentials in an option file it inherits as a descriptor
// (internal/mysqlcli), never on its command line; it runs with
// --no-version-check (no network call) and --recursion-method=none (the
// server has no replicas).
//
//	go run ./examples/benchalter [-rows 2000000] [-other-tables 3] [-other-rows 100000] [-rate 100] [-threads 16] [-settle 3s] [-alter "MODIFY k BIGINT NOT NULL DEFAULT 0"] [-shiftgate-only] [-cpuprofile file]
package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/shiftgate/shiftgate/internal/mysqlcli"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/termtext"
	"github.com/shiftgate/shiftgate/migrate"
)

const (
	database      = "sbtest"  // holds the altered table only
	table         = "sbtest1" // the altered table
	otherDatabase = "sbother" // the other tables sysbench writes
	sysbenchUser  = "sbtest"

	// stallTail is how long after the ALTER's end a sysbench report still
	// counts for the stall: a transaction the ALTER held up is reported in
	// the second it ends.
	stallTail = 2 * time.Second

	// The goals.
	maxStall = time.Second
	// maxStallShare is "far below the native COPY's blocking time".
	maxStallShare = 0.1

	// backlogShare: a sysbench instance that ran below this share of its
	// rate during an ALTER built a backlog, which its latencies include.
	backlogShare = 0.95
)

type config struct {
	rows, otherTables, otherRows, threads int
	rate                                  float64
	settle                                time.Duration
	alter                                 string
	// shiftgateOnly skips pt-online-schema-change and the native ALTER
	// (quick measurements).
	shiftgateOnly bool
	cpuProfile    string
}

func main() {
	var cfg config
	flag.IntVar(&cfg.rows, "rows", 2_000_000, "rows of the altered table, sbtest.sbtest1")
	flag.IntVar(&cfg.otherTables, "other-tables", 3, "other sysbench tables (sbother.sbtest1...) written meanwhile")
	flag.IntVar(&cfg.otherRows, "other-rows", 100_000, "rows of each other table")
	flag.Float64Var(&cfg.rate, "rate", 100, "transactions per second of each sysbench instance (oltp_write_only: 4 writes each; keep it well below what the machine sustains: sysbench counts a transaction's wait in its queue in its latency)")
	flag.IntVar(&cfg.threads, "threads", 16, "threads of each sysbench instance (enough that slower transactions do not hold it below -rate)")
	flag.DurationVar(&cfg.settle, "settle", 3*time.Second, "how long sysbench runs before and after each ALTER")
	flag.StringVar(&cfg.alter, "alter", "MODIFY k BIGINT NOT NULL DEFAULT 0",
		"the ALTER TABLE clause (the default needs a table copy on MariaDB: k changes type)")
	flag.BoolVar(&cfg.shiftgateOnly, "shiftgate-only", false, "run only shiftgate's OnlineAlter (no ratios)")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (shiftgate's side) to this file")
	flag.Parse()
	if cfg.rows < 1 || cfg.otherTables < 1 || cfg.otherRows < 1 || cfg.threads < 1 || cfg.rate <= 0 || cfg.settle < 0 {
		fmt.Fprintln(os.Stderr, "benchalter: -rows, -other-tables, -other-rows, -threads and -rate must be positive, -settle not negative")
		os.Exit(2)
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchalter: -cpuprofile:", err)
			os.Exit(2)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "benchalter:", termtext.Block(err.Error()))
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// result is one method's run.
type result struct {
	method string
	total  time.Duration
	// serverCPU is the CPU time the server spent while the method ran
	// (sysbench's statements included): a figure that other processes on
	// the machine disturb less than the total time.
	serverCPU time.Duration
	// altered is what the sysbench instance on the altered table saw,
	// others what the one on the other tables saw.
	altered, others loadStats
	detail          string
	definition      string // the table's definition after the ALTER
	checkErr        error  // the table is not what the ALTER should leave
}

func run(ctx context.Context, cfg config) error {
	if _, err := mysqlcli.Find("", "sysbench"); err != nil {
		return fmt.Errorf("%w (./.ci/install-packages sysbench installs it)", err)
	}
	ptosc, err := mysqlcli.Find("", "pt-online-schema-change")
	if err != nil && !cfg.shiftgateOnly {
		return fmt.Errorf("%w (./.ci/install-packages percona-toolkit installs it)", err)
	}
	loadBefore := loadAverage()
	logf("starting a throwaway MariaDB server")
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := sandbox.Start(ctx, sandbox.Options{Logger: logger, BufferPool: "1G"})
	if err != nil {
		return err
	}
	defer srv.Close()
	db, err := srv.Open("")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(8)
	server, err := serverProcess(ctx, db)
	if err != nil {
		return err
	}
	opts, err := mysqlcli.NewOptions(srv.Config(""), 0)
	if err != nil {
		return err
	}
	if err := prepareOthers(ctx, db, cfg); err != nil {
		return err
	}

	methods := []struct {
		name string
		run  func(ctx context.Context) (string, error)
	}{
		{"shiftgate OnlineAlter", func(ctx context.Context) (string, error) {
			a, err := migrate.NewOnlineAlter(srv.DSN(""), database, table, cfg.alter, migrate.WithDropOld(), migrate.WithLogger(logger))
			if err != nil {
				return "", err
			}
			ph := &phases{}
			rep, err := a.Run(ctx, ph.progress)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("its cut-over stall %.3f s; phases: %s, verify %.2f s", rep.Cutover.Pause.Seconds(), ph, rep.Cutover.Verify.Seconds()), nil
		}},
		{"pt-online-schema-change", func(ctx context.Context) (string, error) {
			cmd, err := opts.Command(ctx, ptosc, "--alter", cfg.alter, "--execute", "--no-version-check", "--recursion-method=none",
				"--progress=time,10", fmt.Sprintf("D=%s,t=%s", database, table))
			if err != nil {
				return "", err
			}
			out := &mysqlcli.LimitedBuffer{Max: 16 << 10}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Run(); err != nil {
				return "", fmt.Errorf("pt-online-schema-change: %w: %s", err, out)
			}
			return "", nil
		}},
		{"native ALGORITHM=COPY", func(ctx context.Context) (string, error) {
			_, err := db.ExecContext(ctx, "ALTER TABLE "+database+"."+table+" "+cfg.alter+", ALGORITHM=COPY")
			return "", err
		}},
	}
	if cfg.shiftgateOnly {
		methods = methods[:1]
	}
	var (
		results   []result
		before    string // the table's definition before the ALTER
		refusal   string // why MariaDB cannot run the ALTER in place
		inplaceOK bool
	)
	for i, m := range methods {
		if before, err = prepareAltered(ctx, db, cfg.rows); err != nil {
			return err
		}
		if i == 0 {
			if refusal, inplaceOK, err = inplaceRefusal(ctx, db, cfg.alter); err != nil {
				return err
			}
		}
		logf("%s: ALTER TABLE %s.%s %s under sysbench at %g transactions/s on it and %g on the other tables", m.name, database, table, termtext.Line(cfg.alter), cfg.rate, cfg.rate)
		r, err := measure(ctx, srv, server, cfg, m.name, m.run)
		if err != nil {
			return err
		}
		r.definition, r.checkErr = check(ctx, db, cfg.rows, before)
		logf("%s took %.2f s", m.name, r.total.Seconds())
		results = append(results, r)
	}
	report(cfg, refusal, inplaceOK, results)
	fmt.Printf("\nthe machine's load average (1, 5, 15 min) at the start: %s, at the end: %s (other processes disturb the figures)\n", loadBefore, loadAverage())
	return nil
}

// measure runs one method's ALTER while two sysbench instances write, one
// on the altered table and one on the others, and returns what they saw.
func measure(ctx context.Context, srv *sandbox.Server, server process, cfg config, method string, alter func(context.Context) (string, error)) (result, error) {
	sbAltered, err := startSysbench(ctx, srv, database, 1, cfg.rows, cfg)
	if err != nil {
		return result{}, err
	}
	defer sbAltered.stop()
	sbOthers, err := startSysbench(ctx, srv, otherDatabase, cfg.otherTables, cfg.otherRows, cfg)
	if err != nil {
		return result{}, err
	}
	defer sbOthers.stop()
	if err := pause(ctx, cfg.settle, sbAltered, sbOthers); err != nil { // the load runs before the change
		return result{}, err
	}
	begin, cpuBegin := time.Now(), server.cpu()
	detail, err := alter(ctx)
	end, serverCPU := time.Now(), server.cpu()-cpuBegin
	if err != nil {
		return result{}, fmt.Errorf("%s: %w", method, err)
	}
	if err := pause(ctx, max(cfg.settle, stallTail), sbAltered, sbOthers); err != nil { // and after it
		return result{}, err
	}
	sbAltered.stop()
	sbOthers.stop()
	return result{method: method, total: end.Sub(begin), serverCPU: serverCPU, detail: detail,
		altered: sbAltered.stats(begin, end), others: sbOthers.stats(begin, end)}, nil
}

// pause waits for d, and fails if a sysbench instance ended meanwhile.
func pause(ctx context.Context, d time.Duration, runs ...*sysbench) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
	}
	for _, s := range runs {
		if err := s.failed(); err != nil {
			return err
		}
	}
	return nil
}

// sbtestTable is sysbench's definition of table sbtest<n>, without its
// secondary index k_<n> (added after the load, as sysbench prepare does).
func sbtestTable(db string, n int) string {
	return fmt.Sprintf("CREATE TABLE %s.sbtest%d (id INT NOT NULL AUTO_INCREMENT, k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', PRIMARY KEY (id)) ENGINE=InnoDB", db, n)
}

// loadTable creates db.sbtest<n> with rows rows, as sysbench prepare
// would (k random in 1..rows, c and pad filled), but inside the server.
// The rows are the same at every call.
func loadTable(ctx context.Context, db *sql.DB, database string, n, rows int) error {
	if _, err := db.ExecContext(ctx, sbtestTable(database, n)); err != nil {
		return fmt.Errorf("%s.sbtest%d: %w", database, n, err)
	}
	const batch = 100_000
	for lo := 1; lo <= rows; lo += batch {
		hi := min(lo+batch-1, rows)
		_, err := db.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s.sbtest%d SELECT seq, 1 + FLOOR(RAND(seq) * %d), LPAD(SHA2(seq, 256), 120, '0'), LPAD(MD5(seq), 60, '0') FROM %s.seq_%d_to_%d",
			database, n, rows, database, lo, hi))
		if err != nil {
			return fmt.Errorf("loading %s.sbtest%d: %w", database, n, err)
		}
	}
	for _, stmt := range []string{
		fmt.Sprintf("CREATE INDEX k_%d ON %s.sbtest%d (k)", n, database, n),
		fmt.Sprintf("ANALYZE TABLE %s.sbtest%d", database, n),
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s.sbtest%d: %w", database, n, err)
		}
	}
	return nil
}

// prepareOthers creates sysbench's account and the other tables, once:
// sysbench's transactions keep their row counts.
func prepareOthers(ctx context.Context, db *sql.DB, cfg config) error {
	logf("creating %s.sbtest1..%d with %d rows each", otherDatabase, cfg.otherTables, cfg.otherRows)
	for _, stmt := range []string{
		"CREATE DATABASE " + otherDatabase,
		// sysbench's account: no password, loopback only, these databases only.
		"CREATE USER " + sysbenchUser + "@'127.0.0.1'",
		"GRANT ALL ON " + database + ".* TO " + sysbenchUser + "@'127.0.0.1'",
		"GRANT ALL ON " + otherDatabase + ".* TO " + sysbenchUser + "@'127.0.0.1'",
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	for n := 1; n <= cfg.otherTables; n++ {
		if err := loadTable(ctx, db, otherDatabase, n, cfg.otherRows); err != nil {
			return err
		}
	}
	return nil
}

// prepareAltered creates the altered table anew with rows rows and
// returns its definition.
func prepareAltered(ctx context.Context, db *sql.DB, rows int) (string, error) {
	logf("creating %s.%s with %d rows", database, table, rows)
	for _, stmt := range []string{"DROP DATABASE IF EXISTS " + database, "CREATE DATABASE " + database} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return "", err
		}
	}
	if err := loadTable(ctx, db, database, 1, rows); err != nil {
		return "", err
	}
	return definition(ctx, db)
}

// inplaceRefusal tries the ALTER with ALGORITHM=INPLACE on an empty table
// of the altered table's definition: MariaDB's refusal says it needs a
// table copy, which is what the benchmark compares. ok is true if MariaDB
// accepts it in place.
func inplaceRefusal(ctx context.Context, db *sql.DB, alter string) (refusal string, ok bool, err error) {
	const probe = otherDatabase + "._inplace_probe"
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+probe+" LIKE "+database+"."+table); err != nil {
		return "", false, err
	}
	_, alterErr := db.ExecContext(ctx, "ALTER TABLE "+probe+" "+alter+", ALGORITHM=INPLACE")
	if _, err := db.ExecContext(ctx, "DROP TABLE "+probe); err != nil {
		return "", false, err
	}
	var me *mysql.MySQLError
	switch {
	case alterErr == nil:
		return "", true, nil
	case errors.As(alterErr, &me):
		return me.Message, false, nil
	default:
		return "", false, fmt.Errorf("ALTER TABLE ... ALGORITHM=INPLACE on an empty copy of %s.%s: %w", database, table, alterErr)
	}
}

var autoIncrement = regexp.MustCompile(` AUTO_INCREMENT=\d+`)

// definition is the altered table's CREATE TABLE, without its
// AUTO_INCREMENT counter.
func definition(ctx context.Context, db *sql.DB) (string, error) {
	var name, def string
	if err := db.QueryRowContext(ctx, "SHOW CREATE TABLE "+database+"."+table).Scan(&name, &def); err != nil {
		return "", fmt.Errorf("%s.%s: %w", database, table, err)
	}
	return autoIncrement.ReplaceAllString(def, ""), nil
}

// check verifies the table after a method: the rows it was loaded with,
// no other table or trigger left in its database, a new definition. It
// returns that definition.
func check(ctx context.Context, db *sql.DB, rows int, before string) (string, error) {
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+database+"."+table).Scan(&n); err != nil {
		return "", err
	}
	if n != rows {
		return "", fmt.Errorf("%d rows, loaded with %d (sysbench's transactions keep the count)", n, rows)
	}
	var tables, triggers int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", database).Scan(&tables); err != nil {
		return "", err
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?", database).Scan(&triggers); err != nil {
		return "", err
	}
	if tables != 1 || triggers != 0 {
		return "", fmt.Errorf("%d tables and %d triggers left in %s, want 1 and 0", tables, triggers, database)
	}
	def, err := definition(ctx, db)
	if err == nil && def == before {
		err = errors.New("its definition did not change")
	}
	return def, err
}

// sysbench is one running sysbench oltp_write_only instance and the
// reports it printed so far.
type sysbench struct {
	db     string
	cmd    *mysqlcli.Cmd
	cancel context.CancelFunc
	done   chan struct{} // closed when its output ended

	mu      sync.Mutex
	reports []sysbenchReport
	other   []string // its last lines that are not reports
	waitErr error    // how it ended, once done is closed
}

// sysbenchReport is one of sysbench's per-second reports.
type sysbenchReport struct {
	at           time.Time // when it arrived: the end of its second
	tps          float64
	slowest      time.Duration // its slowest transaction
	errs, reconn float64       // per second
}

var reportLine = regexp.MustCompile(`^\[ *\d+s \] thds: \d+ tps: ([\d.]+) .* lat \(ms,100%\): ([\d.]+) err/s: ([\d.]+) reconn/s: ([\d.]+)`)

// startSysbench starts sysbench oltp_write_only on tables sbtest1..tables
// of db (rows rows each) at cfg's rate, until stopped.
func startSysbench(ctx context.Context, srv *sandbox.Server, db string, tables, rows int, cfg config) (*sysbench, error) {
	sctx, cancel := context.WithCancel(ctx)
	cmd := mysqlcli.Command(sctx, "sysbench", "oltp_write_only",
		"--mysql-host="+srv.Host(), "--mysql-port="+strconv.Itoa(srv.Port()), "--mysql-user="+sysbenchUser, "--mysql-db="+db,
		"--tables="+strconv.Itoa(tables), "--table-size="+strconv.Itoa(rows), "--threads="+strconv.Itoa(cfg.threads),
		"--rate="+strconv.FormatFloat(cfg.rate, 'f', -1, 64), "--time=0", "--report-interval=1", "--percentile=100",
		"--rand-type=uniform", "--db-ps-mode=disable", "--mysql-ignore-errors=all", "run")
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("sysbench on %s: %w", db, err)
	}
	s := &sysbench{db: db, cmd: cmd, cancel: cancel, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.line(time.Now(), sc.Text())
		}
		err := cmd.Wait()
		s.mu.Lock()
		s.waitErr = err
		s.mu.Unlock()
		close(s.done)
	}()
	return s, nil
}

func (s *sysbench) line(at time.Time, line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := reportLine.FindStringSubmatch(line)
	if m == nil {
		s.other = append(s.other[max(0, len(s.other)-9):], line)
		return
	}
	r := sysbenchReport{at: at}
	r.tps, _ = strconv.ParseFloat(m[1], 64)
	ms, _ := strconv.ParseFloat(m[2], 64)
	r.slowest = time.Duration(ms * float64(time.Millisecond))
	r.errs, _ = strconv.ParseFloat(m[3], 64)
	r.reconn, _ = strconv.ParseFloat(m[4], 64)
	s.reports = append(s.reports, r)
}

// failed returns an error if sysbench ended before it was stopped.
func (s *sysbench) failed() error {
	select {
	case <-s.done:
	default:
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Errorf("sysbench on %s ended: %v: %s", s.db, s.waitErr, strings.Join(s.other, "\n"))
}

// stop ends sysbench (the SIGKILL of its context: nothing of its final
// summary is used) and waits for its output to end.
func (s *sysbench) stop() {
	s.cancel()
	<-s.done
}

// loadStats is what a sysbench instance saw during an ALTER.
type loadStats struct {
	tps float64 // transactions/s over the seconds inside the ALTER
	// slowest is its slowest transaction and idle its longest run of
	// seconds without a transaction, from the ALTER's start to stallTail
	// after its end.
	slowest, idle time.Duration
	// slowestAt is when the slowest transaction ended, from the ALTER's
	// start (to the second: when its report arrived).
	slowestAt          time.Duration
	errors, reconnects int64
}

// stall is the longest time the instance could not write.
func (l loadStats) stall() time.Duration { return max(l.slowest, l.idle) }

// stats sums up the reports of the ALTER that ran from begin to end: a
// second is inside it if its middle is.
func (s *sysbench) stats(begin, end time.Time) loadStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		st       loadStats
		inside   int
		sum      float64
		idle     time.Duration
		fallback = -1 // the first report after begin, for an ALTER shorter than a second
	)
	for i, r := range s.reports {
		if mid := r.at.Add(-time.Second / 2); !mid.Before(begin) && !mid.After(end) {
			inside++
			sum += r.tps
		}
		if !r.at.After(begin) || r.at.After(end.Add(stallTail)) {
			continue
		}
		if fallback < 0 {
			fallback = i
		}
		if r.slowest > st.slowest {
			st.slowest, st.slowestAt = r.slowest, r.at.Sub(begin)
		}
		st.errors += int64(r.errs + 0.5)
		st.reconnects += int64(r.reconn + 0.5)
		if r.tps == 0 {
			idle += time.Second
			st.idle = max(st.idle, idle)
		} else {
			idle = 0
		}
	}
	switch {
	case inside > 0:
		st.tps = sum / float64(inside)
	case fallback >= 0:
		st.tps = s.reports[fallback].tps
	}
	return st
}

func report(cfg config, refusal string, inplaceOK bool, results []result) {
	fmt.Printf("\nbenchalter: ALTER TABLE %s.%s %s\n", database, table, termtext.Line(cfg.alter))
	if inplaceOK {
		fmt.Println("MariaDB accepts ALGORITHM=INPLACE for it: not the table copy the issue asks for (the native method still forces one)")
	} else {
		fmt.Printf("MariaDB refuses ALGORITHM=INPLACE for it (it needs a table copy): %s\n", termtext.Line(refusal))
	}
	fmt.Printf("table of %d rows; sysbench oltp_write_only at %g transactions/s (%d threads) on it and at %g on %d other tables of %d rows\n\n",
		cfg.rows, cfg.rate, cfg.threads, cfg.rate, cfg.otherTables, cfg.otherRows)
	fmt.Printf("%-24s %8s %8s | %-36s | %-36s | %s\n", "", "", "server", "sysbench on "+database+"."+table, "sysbench on the other tables", "")
	fmt.Printf("%-24s %8s %8s | %8s %8s %8s %9s | %8s %8s %8s %9s | %s\n", "method", "total s", "cpu s",
		"tps", "stall s", "idle s", "err/reco", "tps", "stall s", "idle s", "err/reco", "table")
	for _, r := range results {
		state := "ok"
		switch {
		case r.checkErr != nil:
			state = "WRONG: " + termtext.Line(r.checkErr.Error())
		case r.definition != results[0].definition:
			state = "WRONG: its definition differs from " + results[0].method + "'s"
		}
		fmt.Printf("%-24s %8.2f %8.2f | %8.1f %8.3f %8.0f %4d/%-4d | %8.1f %8.3f %8.0f %4d/%-4d | %s\n", r.method, r.total.Seconds(), r.serverCPU.Seconds(),
			r.altered.tps, r.altered.stall().Seconds(), r.altered.idle.Seconds(), r.altered.errors, r.altered.reconnects,
			r.others.tps, r.others.stall().Seconds(), r.others.idle.Seconds(), r.others.errors, r.others.reconnects, state)
		fmt.Printf("%24s the slowest transaction ended %.0f s into the ALTER on %s.%s, %.0f s into it on the other tables\n", "",
			r.altered.slowestAt.Seconds(), database, table, r.others.slowestAt.Seconds())
		if r.detail != "" {
			fmt.Printf("%24s %s\n", "", r.detail)
		}
		if r.altered.tps < backlogShare*cfg.rate {
			fmt.Printf("%24s sysbench on %s.%s ran at %.1f of its %g transactions/s: its latencies include the wait of the backlog that built\n", "", database, table, r.altered.tps, cfg.rate)
		}
	}
	fmt.Println("(tps: transactions/s over the seconds inside the ALTER; stall: the slowest transaction, or the longest run of seconds")
	fmt.Printf("without any if longer, from the ALTER's start to %s after its end; idle: that run; err/reco: errors sysbench ignored / reconnects)\n", stallTail)
	sg := results[0]
	fmt.Println()
	fmt.Printf("longest stall on %s.%s: shiftgate %.3f s  goal < %s  %s  (the other tables' meanwhile: %.3f s)\n", database, table,
		sg.altered.stall().Seconds(), maxStall, verdict(sg.altered.stall() < maxStall), sg.others.stall().Seconds())
	fmt.Printf("sysbench errors on %s.%s during shiftgate's change: %d  goal 0  %s\n", database, table, sg.altered.errors, verdict(sg.altered.errors == 0 && sg.checkErr == nil))
	if len(results) < 3 {
		return
	}
	pt, native := results[1], results[2]
	fmt.Printf("time: shiftgate %.2f s / pt-online-schema-change %.2f s = %.2fx  goal < 1  %s\n",
		sg.total.Seconds(), pt.total.Seconds(), sg.total.Seconds()/pt.total.Seconds(), verdict(sg.total < pt.total))
	fmt.Printf("stall: shiftgate %.3f s / the native COPY's blocking %.3f s = %.3fx  goal < %.1fx (far below)  %s\n",
		sg.altered.stall().Seconds(), native.altered.stall().Seconds(), sg.altered.stall().Seconds()/native.altered.stall().Seconds(),
		maxStallShare, verdict(sg.altered.stall().Seconds() < maxStallShare*native.altered.stall().Seconds()))
	fmt.Printf("(pt-online-schema-change's stall %.3f s, %.2fx shiftgate's; the native COPY took %.2f s)\n",
		pt.altered.stall().Seconds(), pt.altered.stall().Seconds()/sg.altered.stall().Seconds(), native.total.Seconds())
}

// loadAverage is the machine's load average over 1, 5 and 15 minutes,
// "?" if unreadable.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// process is the server's process, whose CPU time /proc/<pid>/stat tells.
type process struct{ stat string }

// serverProcess finds the process of the server db is connected to (a
// local one: the sandbox's) from its pid file.
func serverProcess(ctx context.Context, db *sql.DB) (process, error) {
	var file string
	if err := db.QueryRowContext(ctx, "SELECT @@pid_file").Scan(&file); err != nil {
		return process{}, fmt.Errorf("the server's pid file: %w", err)
	}
	pid, err := os.ReadFile(file)
	if err != nil {
		return process{}, fmt.Errorf("the server's pid: %w", err)
	}
	return process{stat: "/proc/" + strings.TrimSpace(string(pid)) + "/stat"}, nil
}

// cpu is the process's user and system CPU time so far, 0 if unreadable.
func (p process) cpu() time.Duration {
	data, err := os.ReadFile(p.stat)
	if err != nil {
		return 0
	}
	// The fields after the command name, in parentheses: utime and stime
	// are the 12th and 13th, in clock ticks (100 per second on Linux).
	_, after, _ := strings.Cut(string(data), ") ")
	f := strings.Fields(after)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// phases records when a Run's progress first reported each phase.
type phases struct {
	order []migrate.Phase
	at    []time.Duration
}

func (p *phases) progress(pr migrate.Progress) {
	if n := len(p.order); n == 0 || p.order[n-1] != pr.Phase {
		p.order, p.at = append(p.order, pr.Phase), append(p.at, pr.Elapsed)
	}
}

// String lists each phase with its duration up to the next one's start
// and that start.
func (p *phases) String() string {
	var parts []string
	if len(p.at) > 0 {
		parts = append(parts, fmt.Sprintf("start %.2f s", p.at[0].Seconds()))
	}
	for i, ph := range p.order {
		if i+1 < len(p.at) {
			parts = append(parts, fmt.Sprintf("%s %.2f s from %.1f s", ph, (p.at[i+1]-p.at[i]).Seconds(), p.at[i].Seconds()))
		}
	}
	return strings.Join(parts, ", ")
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISS"
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchalter: "+format+"\n", args...)
}
