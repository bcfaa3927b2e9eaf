package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/verify"
)

var servers []*sandbox.Server

// childEnv makes the test binary run movedb's main (a movedb that real
// signals reach); hookArg makes it the switch command of a test.
const (
	childEnv = "MOVEDB_TEST_MAIN"
	hookArg  = "-movedb-test-hook"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == hookArg {
		os.Exit(testHook(os.Args[2], os.Args[3:]))
	}
	if os.Getenv(childEnv) == "1" {
		main()
	}
	os.Exit(sandboxtest.Main(m, 2, &servers))
}

// hookCall is what the test switch command saw.
type hookCall struct {
	Args []string
	Env  []string
}

// testHook is the switch command of TestMovedbRunCutoverOnStdin: it
// records its arguments and environment in dir/calls; it fails once when
// dir/fail exists (writing an escape sequence); else it creates
// dir/switching and waits for dir/ack, created once the test's
// application has moved.
func testHook(dir string, args []string) int {
	rec, _ := json.Marshal(hookCall{Args: args, Env: os.Environ()})
	f, err := os.OpenFile(filepath.Join(dir, "calls"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(f, "%s\n", rec)
	f.Close()
	if os.Remove(filepath.Join(dir, "fail")) == nil {
		fmt.Println("not ready \x1b[31mred")
		return 1
	}
	if err := os.WriteFile(filepath.Join(dir, "switching"), nil, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "ack")); err == nil {
			return 0
		}
	}
	return 1
}

func passwordless(s *sandbox.Server) string {
	cfg := s.Config("")
	cfg.Passwd = ""
	return cfg.FormatDSN()
}

// moveFixture is a source database with rows and an application writing
// to it, and the name of its target database (absent).
type moveFixture struct {
	name, target string
	src          *sql.DB
}

func newFixture(t *testing.T, prefix string) moveFixture {
	t.Helper()
	name := sandboxtest.NewDatabase(t, servers[0], prefix)
	target := sandboxtest.NewDatabase(t, servers[1], prefix+"_t")
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[1], ""), "DROP DATABASE `"+target+"`")
	t.Cleanup(func() {
		if db, err := servers[1].Open(""); err == nil {
			_, _ = db.Exec("DELETE FROM _shiftgate.copy_segments WHERE target_db = ?", target)
			_, _ = db.Exec("DELETE FROM _shiftgate.copy_runs WHERE target_db = ?", target)
			_, _ = db.Exec("DELETE FROM _shiftgate.stream_positions WHERE stream = ?", "sync."+target)
			db.Close()
		}
	})
	src := sandboxtest.Open(t, servers[0], name)
	sandboxtest.Exec(t, src,
		"CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(40) NOT NULL, u INT NULL UNIQUE, n INT NOT NULL)",
		"CREATE TABLE counter (id INT PRIMARY KEY, n BIGINT NOT NULL)",
		"INSERT INTO counter VALUES (1, 0)")
	var rows []string
	for i := 1; i <= 2000; i++ {
		rows = append(rows, fmt.Sprintf("(%d, 'item %d', %d, 0)", i, i, i))
	}
	sandboxtest.Exec(t, src, "INSERT INTO items VALUES "+strings.Join(rows, ","))
	t.Setenv("SHIFTGATE_SOURCE_PASSWORD", servers[0].Password())
	t.Setenv("SHIFTGATE_TARGET_PASSWORD", servers[1].Password())
	return moveFixture{name: name, target: target, src: src}
}

func (f moveFixture) args(command string, more ...string) []string {
	return append([]string{command, "-source", passwordless(servers[0]), "-target", passwordless(servers[1]),
		"-database", f.name, "-target-database", f.target, "-progress", "100ms"}, more...)
}

// assertMoved checks that the target holds what the source holds, and
// that the counter counts every commit of the application once.
func (f moveFixture) assertMoved(t *testing.T, commits int64) {
	t.Helper()
	v, err := verify.New(sandboxtest.Open(t, servers[0], ""), sandboxtest.Open(t, servers[1], ""))
	require.NoError(t, err)
	vr, err := v.VerifyDatabase(t.Context(), f.name, f.target)
	require.NoError(t, err)
	assert.True(t, vr.Clean(), "differences after the move: %d", vr.Differences())
	var n int64
	require.NoError(t, sandboxtest.Open(t, servers[1], f.target).QueryRow("SELECT n FROM counter WHERE id = 1").Scan(&n))
	assert.Equal(t, commits, n, "counter on the target: a transaction applied twice or lost")
}

// appAccount creates an application account with table-level write
// grants on the fixture's tables and returns its name and a pool.
func (f moveFixture) appAccount(t *testing.T) (string, *sql.DB) {
	t.Helper()
	user := "app_" + f.name[strings.LastIndex(f.name, "_")+1:]
	return user, account(t, servers[0], f.name, user)
}

// account creates user on s with write grants on the fixture's tables in
// database, and returns a pool of it.
func account(t *testing.T, s *sandbox.Server, database, user string) *sql.DB {
	t.Helper()
	root := sandboxtest.Open(t, s, "")
	sandboxtest.Exec(t, root, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'app-pw'", user))
	t.Cleanup(func() { _, _ = root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", user)) })
	for _, table := range []string{"items", "counter"} {
		sandboxtest.Exec(t, root, fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON `%s`.`%s` TO '%s'@'%%'", database, table, user))
	}
	cfg := s.Config(database)
	cfg.User, cfg.Passwd = user, "app-pw"
	db, err := sql.Open("mysql", cfg.FormatDSN())
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// writer is the application: it inserts, updates and deletes items and
// increments the counter, one autocommitted statement at a time, until
// it is switched or stopped.
type writer struct {
	db       *sql.DB
	mu       sync.RWMutex // held by a statement, taken by the switch
	switched bool
	commits  atomic.Int64 // of the counter
	wg       sync.WaitGroup
	cancel   context.CancelFunc
}

func startWriter(db *sql.DB) *writer {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{db: db, cancel: cancel}
	w.wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			w.mu.RLock()
			if w.switched {
				w.mu.RUnlock()
				return
			}
			err := w.step(ctx, i)
			w.mu.RUnlock()
			if err != nil {
				time.Sleep(5 * time.Millisecond)
			}
		}
	})
	return w
}

func (w *writer) step(ctx context.Context, i int) error {
	var err error
	switch i % 4 {
	case 0:
		_, err = w.db.ExecContext(ctx, "INSERT INTO items VALUES (?, 'new', NULL, 0)", 100000+i)
	case 1:
		_, err = w.db.ExecContext(ctx, "UPDATE items SET n = n + 1, name = CONCAT('upd ', id) WHERE id % 50 = ?", i%50)
	case 2:
		_, err = w.db.ExecContext(ctx, "DELETE FROM items WHERE id = ?", 1+i%2000)
	default:
		if _, err = w.db.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 1"); err == nil {
			w.commits.Add(1)
		}
	}
	return err
}

// switchApp stops the application for good: once it returns, no
// statement of it runs.
func (w *writer) switchApp() {
	w.mu.Lock()
	w.switched = true
	w.mu.Unlock()
}

// stop ends the writer after its statement in flight: cancelling one
// could leave it committed on the server and not counted.
func (w *writer) stop() {
	w.switchApp()
	w.wg.Wait()
	w.cancel()
}

// watcher records what is written to it and hands out its lines.
type watcher struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	part  []byte
	lines chan string
}

func newWatcher() *watcher { return &watcher{lines: make(chan string, 100_000)} }

func (w *watcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		select {
		case w.lines <- string(w.part[:i]):
		default:
		}
		w.part = w.part[i+1:]
	}
	return len(p), nil
}

func (w *watcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// next waits for the next line holding one of subs and returns it.
func (w *watcher) next(t *testing.T, exited <-chan int, subs ...string) string {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case l := <-w.lines:
			for _, s := range subs {
				if strings.Contains(l, s) {
					return l
				}
			}
		case code := <-exited:
			t.Fatalf("movedb exited (%d) while waiting for %q:\n%s", code, subs, w)
		case <-timeout:
			t.Fatalf("no line with %q:\n%s", subs, w)
		}
	}
}

// TestMovedbRunCutoverOnStdin moves tables while the application writes
// to them through its own account: the first cutover fails (the switch
// command exits 1: writes come back, the sync goes on), the second goes
// through; movedb exits 0, the target equals the source, every commit
// of the application is there once, and the switch command got its
// arguments and no credentials.
func TestMovedbRunCutoverOnStdin(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	f := newFixture(t, "movestdin")
	user, appDB := f.appAccount(t)
	w := startWriter(appDB)
	defer w.stop()

	hookDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(hookDir, "fail"), nil, 0o600))
	hook := fmt.Sprintf("'%s' %s '%s' \"two words\" x", os.Args[0], hookArg, hookDir)
	args := f.args("run", "-fence", "accounts", "-account", user+"@%", "-drain-wait", "5s", "-switch-command", hook, "-json")

	stdinR, stdinW := io.Pipe()
	defer stdinW.Close()
	var stdout bytes.Buffer
	stderr := newWatcher()
	exited := make(chan int, 1)
	go func() { exited <- run(ctx, args, stdinR, &stdout, stderr, nil) }()

	// The application moves when the switch command asks it to.
	go func() {
		for ctx.Err() == nil {
			if _, err := os.Stat(filepath.Join(hookDir, "switching")); err == nil {
				w.switchApp()
				_ = os.WriteFile(filepath.Join(hookDir, "ack"), nil, 0o600)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	stderr.next(t, exited, "in sync:")
	fmt.Fprintln(stdinW, "status")
	fmt.Fprintln(stdinW, "cutover")
	stderr.next(t, exited, "cutover failed")
	var cutOver bool
	for attempt := 0; attempt < 20 && !cutOver; attempt++ {
		stderr.next(t, exited, "in sync:")
		fmt.Fprintln(stdinW, "cutover")
		cutOver = strings.Contains(stderr.next(t, exited, "cutover failed", "cut over:"), "cut over:")
	}
	require.True(t, cutOver, "stderr:\n%s", stderr)
	code := <-exited
	require.Equal(t, exitDone, code, "stderr:\n%s", stderr)
	w.stop()
	f.assertMoved(t, w.commits.Load())
	t.Logf("application commits %d", w.commits.Load())

	// The failed switch is reported, its output escaped; the grants came
	// back after each cutover.
	errText := stderr.String()
	assert.Contains(t, errText, "switch command")
	assert.Contains(t, errText, "exit status 1")
	assert.Contains(t, errText, `switch: not ready \x1b[31mred`)
	assert.NotContains(t, errText, "\x1b")
	_, err := appDB.Exec("UPDATE counter SET n = n WHERE id = 1")
	assert.NoError(t, err, "the application's grants after the cutover")

	// -json: status lines, the failed and the successful cutover.
	events := map[string]int{}
	var done struct {
		Report struct {
			Cutover struct {
				Method         string `json:"method"`
				VerifiedTables int    `json:"verified_tables"`
			} `json:"cutover"`
		} `json:"report"`
	}
	phases := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(stdout.Bytes()))
	for sc.Scan() {
		var e struct{ Event, Phase string }
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e), "stdout line %q", sc.Text())
		events[e.Event]++
		phases[e.Phase] = true
		if e.Event == "done" {
			require.NoError(t, json.Unmarshal(sc.Bytes(), &done))
		}
	}
	assert.Positive(t, events["progress"])
	assert.Equal(t, 1, events["done"])
	assert.GreaterOrEqual(t, events["cutover_failed"], 1)
	assert.Equal(t, events["cutover_started"], events["cutover_failed"]+1)
	assert.True(t, phases["copying"] && phases["in sync"], "phases %v", phases)
	assert.Equal(t, "accounts", done.Report.Cutover.Method)
	assert.Equal(t, 2, done.Report.Cutover.VerifiedTables)

	// The switch command: its arguments split, no credentials, what the
	// move is about.
	calls, err := os.ReadFile(filepath.Join(hookDir, "calls"))
	require.NoError(t, err)
	var first hookCall
	require.NoError(t, json.Unmarshal(calls[:bytes.IndexByte(calls, '\n')], &first))
	assert.Equal(t, []string{"two words", "x"}, first.Args)
	assert.Contains(t, first.Env, "MOVEDB_TARGET="+servers[1].Addr())
	assert.Contains(t, first.Env, "MOVEDB_TARGET_DATABASE="+f.target)
	for _, kv := range first.Env {
		assert.NotContains(t, kv, "SHIFTGATE_SOURCE_PASSWORD")
		assert.NotContains(t, kv, "SHIFTGATE_TARGET_PASSWORD")
	}
	for _, s := range servers {
		assert.NotContains(t, stdout.String()+errText+string(calls), s.Password())
	}
}

// TestMovedbResumesAfterSIGINT runs movedb as a process: SIGINT while in
// sync stops it (exit 3, resumable), the application writes on while it
// is stopped, the rerun resumes from the saved position, SIGUSR1 cuts
// over, the switch is confirmed on stdin, and the target ends equal.
func TestMovedbResumesAfterSIGINT(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	f := newFixture(t, "movesig")
	w := startWriter(f.src)
	defer w.stop()

	start := func() (*exec.Cmd, io.WriteCloser, *watcher, *bytes.Buffer, <-chan int) {
		cmd := exec.CommandContext(ctx, os.Args[0], f.args("run")...)
		cmd.Env = append(os.Environ(), childEnv+"=1")
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		stderr, stdout := newWatcher(), &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = stdout, stderr
		require.NoError(t, cmd.Start())
		exited := make(chan int, 1)
		go func() {
			err := cmd.Wait()
			var ee *exec.ExitError
			switch {
			case err == nil:
				exited <- 0
			case errors.As(err, &ee):
				exited <- ee.ExitCode()
			default:
				exited <- -1
			}
		}()
		return cmd, stdin, stderr, stdout, exited
	}

	cmd, stdin, stderr, _, exited := start()
	stderr.next(t, exited, "in sync:")
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	code := <-exited
	stdin.Close()
	require.Equal(t, exitStopped, code, "stderr:\n%s", stderr)
	assert.Contains(t, stderr.String(), "stopped (interrupt")
	assert.Contains(t, stderr.String(), "run the same command again to resume")

	// The application goes on writing while the move is stopped; the plan
	// says the sync resumes.
	for n := w.commits.Load(); w.commits.Load() < n+50; {
		time.Sleep(10 * time.Millisecond)
	}
	var planOut, planErr bytes.Buffer
	require.Equal(t, exitDone, run(ctx, f.args("plan"), strings.NewReader(""), &planOut, &planErr, nil), "stderr:\n%s", planErr.String())
	assert.Contains(t, planOut.String(), "resume the sync from the position saved on the target")

	cmd, stdin, stderr, stdout, exited := start()
	defer stdin.Close()
	stderr.next(t, exited, "in sync:")
	w.stop() // flush-tables: writes queued behind the lock would land on the source after it
	var cutOver bool
	for attempt := 0; attempt < 20 && !cutOver; attempt++ {
		require.NoError(t, cmd.Process.Signal(syscall.SIGUSR1))
		l := stderr.next(t, exited, "cutover failed", "point the application at the target now")
		if strings.Contains(l, "point the application") {
			fmt.Fprintln(stdin, "switched")
			cutOver = strings.Contains(stderr.next(t, exited, "cutover failed", "cut over:"), "cut over:")
		}
		if !cutOver {
			stderr.next(t, exited, "in sync:")
		}
	}
	require.True(t, cutOver, "stderr:\n%s", stderr)
	require.Equal(t, exitDone, <-exited, "stderr:\n%s", stderr)
	assert.Contains(t, stderr.String(), "cutover triggered by SIGUSR1")
	assert.Contains(t, stdout.String(), "write pause on the source")
	assert.NotContains(t, stdout.String(), "copied by this run", "the rerun copied again")
	f.assertMoved(t, w.commits.Load())
	for _, s := range servers {
		assert.NotContains(t, stdout.String()+stderr.String(), s.Password())
	}
}

// TestMovedbCutoverWhenInSync cuts over by itself once in sync, the
// switch confirmed on stdin: the first confirmation is an "abort" (the
// cutover is abandoned and tried again), the second "switched".
func TestMovedbCutoverWhenInSync(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	f := newFixture(t, "moveauto")
	stdinR, stdinW := io.Pipe()
	defer stdinW.Close()
	var stdout bytes.Buffer
	stderr := newWatcher()
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, f.args("run", "-cutover-when-in-sync", "-cutover-attempts", "2", "-tables", "items"), stdinR, &stdout, stderr, nil)
	}()
	stderr.next(t, exited, "point the application at the target now")
	fmt.Fprintln(stdinW, "abort")
	stderr.next(t, exited, "cutover failed")
	stderr.next(t, exited, "point the application at the target now")
	fmt.Fprintln(stdinW, "switched")
	require.Equal(t, exitDone, <-exited, "stderr:\n%s", stderr)
	assert.Contains(t, stderr.String(), `switch abandoned by an "abort" line`)
	assert.Contains(t, stdout.String(), "verified equal: 1 tables")

	var n int
	require.NoError(t, sandboxtest.Open(t, servers[1], "").QueryRow(
		"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", f.target).Scan(&n))
	assert.Equal(t, 1, n, "-tables items moved one table")
}

// TestMovedbPlan prints the dry run, text and JSON, changing nothing.
func TestMovedbPlan(t *testing.T) {
	f := newFixture(t, "moveplan")
	var out, errOut bytes.Buffer
	code := run(t.Context(), f.args("plan", "-fence", "read-only", "-switch-command", "true"), nil, &out, &errOut, nil)
	require.Equal(t, exitDone, code, "stderr: %s", errOut.String())
	text := out.String()
	assert.Contains(t, text, "plan (sync)")
	assert.Regexp(t, `items +\d+ +\d+ +\(id\)`, text)
	assert.Contains(t, text, "lock: source, at cutover: read_only on the whole server")
	assert.Contains(t, text, "step 1:")
	assert.Contains(t, text, "follow the source's binary log")
	assert.Contains(t, text, `cutover: on a line "cutover" on stdin, or SIGUSR1`)
	assert.Contains(t, text, `switch: run ["true"] without a shell`)

	out.Reset()
	code = run(t.Context(), f.args("plan", "-json", "-cutover-when-in-sync"), nil, &out, &errOut, nil)
	require.Equal(t, exitDone, code, "stderr: %s", errOut.String())
	var plan struct {
		Executor string
		Tables   []struct{ Name string }
		Locks    []string
		Triggers []string `json:"cutover_triggers"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &plan), out.String())
	assert.Equal(t, "sync", plan.Executor)
	assert.Len(t, plan.Tables, 2)
	assert.Contains(t, plan.Locks[len(plan.Locks)-1], "FLUSH TABLES ... WITH READ LOCK on the moved tables")
	assert.Len(t, plan.Triggers, 3)

	var n int
	require.NoError(t, sandboxtest.Open(t, servers[1], "").QueryRow(
		"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", f.target).Scan(&n))
	assert.Zero(t, n, "the plan created the target database")
	for _, s := range servers {
		assert.NotContains(t, out.String()+errOut.String(), s.Password())
	}

	// A table without a key cannot be moved: exit 1, the table and a hint.
	sandboxtest.Exec(t, f.src, "CREATE TABLE nokey (a INT)")
	out.Reset()
	errOut.Reset()
	code = run(t.Context(), f.args("plan"), nil, &out, &errOut, nil)
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut.String(), "nokey")
	assert.Contains(t, errOut.String(), "hint: a sync matches rows by key")
}

func TestMovedbBadUsage(t *testing.T) {
	base := []string{"-database", "x", "-source", "u@tcp(h:1)/", "-target", "u@tcp(h:2)/"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage: movedb plan|run"},
		{[]string{"move"}, `unknown command "move"`},
		{[]string{"run", "-source", "u@tcp(h:1)/", "-target", "u@tcp(h:2)/"}, "-database is required"},
		{[]string{"run", "-database", "x", "-target", "u@tcp(h:2)/"}, "-source is required"},
		{[]string{"plan", "-database", "x", "-source", "u@tcp(h:1", "-target", "u@tcp(h:2)/"}, "-source: invalid DSN"},
		{append([]string{"run", "extra"}, base...), `unexpected arguments ["extra"`},
		{append([]string{"run"}, append(base, "-fence", "teleport")...), `-fence "teleport": unknown method`},
		{append([]string{"run"}, append(base, "-fence", "accounts")...), "-fence, -account: method accounts needs the application's account(s)"},
		{append([]string{"run"}, append(base, "-account", "app@%")...), "-fence, -account: method flush-tables takes no accounts"},
		{append([]string{"run"}, append(base, "-kill")...), "-kill: only with -fence accounts"},
		{append([]string{"run"}, append(base, "-ddl", "ignore")...), `-ddl "ignore": unknown policy`},
		{append([]string{"run"}, append(base, "-pending-switch", "maybe")...), `-pending-switch "maybe": unknown decision`},
		{append([]string{"run"}, append(base, "-source-wait", "0s")...), "-source-wait: 0s is not positive"},
		{append([]string{"run"}, append(base, "-target-wait", "-1s")...), "-target-wait: -1s is not positive"},
		{append([]string{"run"}, append(base, "-max-lag", "0s")...), "-max-lag: 0s is not positive"},
		{append([]string{"run"}, append(base, "-drain-wait", "-1s")...), "-drain-wait: -1s is not positive"},
		{append([]string{"run"}, append(base, "-cutover-timeout", "0s")...), "-cutover-timeout: 0s is not positive"},
		{append([]string{"run"}, append(base, "-server-id", "0")...), "-server-id: 0 cannot register"},
		{append([]string{"run"}, append(base, "-server-id", "4294967296")...), "-server-id: 4294967296 is above"},
		{append([]string{"run"}, append(base, "-threads", "65")...), "-threads: 65 is not between 1 and 64"},
		{append([]string{"run"}, append(base, "-write", "fax")...), `-write "fax"`},
		{append([]string{"run"}, append(base, "-switch-command", "notify 'unterminated")...), "-switch-command: unterminated ' quote"},
		{append([]string{"run"}, append(base, "-switch-command", "/no/such/program")...), "-switch-command: exec: \"/no/such/program\""},
		{append([]string{"run"}, append(base, "-switch-timeout", "5s")...), "-switch-timeout: only with -switch-command"},
		{append([]string{"run"}, append(base, "-cutover-attempts", "5")...), "-cutover-attempts: only with -cutover-when-in-sync"},
		{append([]string{"run"}, append(base, "-threads", "x")...), "invalid value \"x\" for flag -threads"},
	} {
		t.Setenv("SHIFTGATE_SOURCE_DSN", "")
		t.Setenv("SHIFTGATE_TARGET_DSN", "")
		var out, errOut bytes.Buffer
		code := run(t.Context(), tc.args, strings.NewReader(""), &out, &errOut, nil)
		assert.Equal(t, exitUsage, code, strings.Join(tc.args, " "))
		assert.Contains(t, errOut.String(), tc.want, strings.Join(tc.args, " "))
	}
}

// A password in a DSN on the command line works but draws a warning, and
// never shows.
func TestMovedbWarnsOfPasswordOnCommandLine(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"plan", "-source", "u:secret@tcp(127.0.0.1:1)/", "-target", "u@tcp(127.0.0.1:2)/", "-database", "x"},
		nil, &out, &errOut, nil)
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut.String(), "the -source DSN holds a password")
	assert.NotContains(t, out.String()+errOut.String(), "secret")
}

func TestSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"switch-app --to new", []string{"switch-app", "--to", "new"}},
		{`  /opt/my\ tools/flip  'a b'  "c \"d\" \\ e" f'g'h  `, []string{"/opt/my tools/flip", "a b", `c "d" \ e`, "fgh"}},
		{`'' x`, []string{"", "x"}},
		{`echo $HOME; rm -rf /`, []string{"echo", "$HOME;", "rm", "-rf", "/"}},
	} {
		got, err := splitCommand(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
	for _, bad := range []string{"", "   ", `a "b`, "a 'b", `a\`} {
		_, err := splitCommand(bad)
		assert.Error(t, err, bad)
	}
}

func TestSwitchEnvDropsCredentials(t *testing.T) {
	env := switchEnv([]string{"PATH=/bin", "SHIFTGATE_SOURCE_PASSWORD=s", "SHIFTGATE_TARGET_DSN=u:p@tcp(h:1)/", "MYSQL_PWD=p",
		"SHIFTGATE_EXTRA_PASSWORD=p", "MOVEDB_TARGET=spoofed", "HOME=/home/app"}, "h1:1", "h2:2", "shop", "shop2")
	assert.Equal(t, []string{"PATH=/bin", "HOME=/home/app", "MOVEDB_SOURCE=h1:1", "MOVEDB_TARGET=h2:2", "MOVEDB_DATABASE=shop", "MOVEDB_TARGET_DATABASE=shop2"}, env)
}

// TestMovedbStopWhileCopying refuses a cutover while copying at once, and
// stops on a "stop" line, resumable: the rerun finishes the copy.
func TestMovedbStopWhileCopying(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	f := newFixture(t, "movestop")
	stdinR, stdinW := io.Pipe()
	defer stdinW.Close()
	var stdout bytes.Buffer
	stderr := newWatcher()
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, f.args("run", "-rows-per-second", "1000", "-threads", "1", "-json"), stdinR, &stdout, stderr, nil)
	}()
	stderr.next(t, exited, "copying:")
	fmt.Fprintln(stdinW, "cutover")
	assert.Contains(t, stderr.next(t, exited, "cutover"), "cutover triggered")
	stderr.next(t, exited, "cutover refused")
	stderr.next(t, exited, "sync is not in sync: copying")
	fmt.Fprintln(stdinW, "stop")
	require.Equal(t, exitStopped, <-exited, "stderr:\n%s", stderr)
	assert.Contains(t, stderr.String(), `stopped (stopped by a "stop" line on stdin) while copying`)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var last struct {
		Event     string
		Resumable bool
	}
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &last))
	assert.Equal(t, "stopped", last.Event)
	assert.True(t, last.Resumable)

	stdinR, stdinW = io.Pipe()
	defer stdinW.Close()
	stdout.Reset()
	stderr = newWatcher()
	go func() { exited <- run(ctx, f.args("run", "-cutover-when-in-sync"), stdinR, &stdout, stderr, nil) }()
	stderr.next(t, exited, "point the application at the target now")
	fmt.Fprintln(stdinW, "switched")
	require.Equal(t, exitDone, <-exited, "stderr:\n%s", stderr)
	assert.Contains(t, stdout.String(), "resumed an interrupted copy")
	f.assertMoved(t, 0)
}

// TestPrintDoneCountsKilledSessions: the summary of a cutover says how
// many sessions the drain killed and of which accounts, escaped.
func TestPrintDoneCountsKilledSessions(t *testing.T) {
	var b strings.Builder
	printDone(&b, &migrate.Report{Cutover: &migrate.CutoverReport{Method: "accounts", DrainKilled: 3, DrainKilledAccounts: []string{"app", "batch\x1b[2J"}}})
	assert.Contains(t, b.String(), "killed 3 session(s) of app, batch")
	assert.NotContains(t, b.String(), "\x1b")
}

// TestDescribeCatchUpTimeout: a cutover whose target did not catch up in
// time gets the flag that gives it longer.
func TestDescribeCatchUpTimeout(t *testing.T) {
	got := describeCutover(fmt.Errorf("cutover: %w: it did not apply the source's position", migrate.ErrCatchUpTimeout))
	assert.Contains(t, got, "-cutover-timeout")
}
