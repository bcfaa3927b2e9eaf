package fence

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// childEnv, set, makes the test binary a fencing child (child) instead of
// running tests.
const childEnv = "SHIFTGATE_FENCE_CHILD"

// childConfig is what the parent sends the child on its stdin (the DSN
// holds a password: never on a command line or in the environment).
type childConfig struct {
	DSN      string
	Method   Method
	Tables   []Table
	Accounts []Account
	Journal  string // checkpoint database, on the same server
	Drain    time.Duration
}

// child runs Stop as childConfig says, prints "stopped" and waits to be
// killed.
func child() int {
	var cfg childConfig
	if err := json.NewDecoder(os.Stdin).Decode(&cfg); err != nil {
		fmt.Println("error:", err)
		return 2
	}
	db, err := sql.Open("mysql", cfg.DSN)
	if err != nil {
		fmt.Println("error:", err)
		return 2
	}
	opts := []Option{WithDrainTimeout(cfg.Drain), WithJournal(Journal{Store: checkpoint.New(cfg.Journal), DB: db})}
	if len(cfg.Accounts) > 0 {
		opts = append(opts, WithAccounts(cfg.Accounts...))
	}
	f, err := New(db, cfg.Method, cfg.Tables, opts...)
	if err != nil {
		fmt.Println("error:", err)
		return 2
	}
	if _, err := f.Stop(context.Background()); err != nil {
		fmt.Println("error:", err)
		return 2
	}
	fmt.Println("stopped")
	select {}
}

// startChild starts the fencing child; it is SIGKILLed at the end of the
// test if still running. lines receives its output lines.
func startChild(t *testing.T, cfg childConfig) (*exec.Cmd, <-chan string) {
	t.Helper()
	cfg.DSN = servers[0].DSN("")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if err := json.NewEncoder(stdin).Encode(cfg); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	lines := make(chan string, 10)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	return cmd, lines
}

// waitLine waits for the child's next line and fails unless it is want.
func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	select {
	case l := <-lines:
		if l != want {
			t.Fatalf("child: %s", l)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("child: no answer")
	}
}

// kill9 SIGKILLs the child and reaps it.
func kill9(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// TestCrashAccounts kills the fencing process after it revoked, while it
// waits for a session in a transaction: the grants stay revoked, a new
// Stop is refused, Recover restores them byte for byte.
func TestCrashAccounts(t *testing.T) {
	ctx := t.Context()
	d := sandboxtest.NewDatabase(t, servers[0], "fence")
	root := sandboxtest.Open(t, servers[0], d)
	sandboxtest.Exec(t, root, "CREATE TABLE t (id INT PRIMARY KEY)", "CREATE TABLE o (id INT PRIMARY KEY)")
	a := newAccount(t, "GRANT SELECT, INSERT, UPDATE, DELETE ON `"+d+"`.* TO ACCT", "GRANT SELECT, INSERT ON `"+d+"`.t TO ACCT")
	before := grantsOf(t, a)
	j := newJournal(t)
	// A session in a transaction keeps the child's drain waiting.
	session(t, connect(t, a, d), "BEGIN", "INSERT INTO o VALUES (1)")

	cmd, _ := startChild(t, childConfig{Method: Accounts, Tables: []Table{{d, "t"}}, Accounts: []Account{a}, Journal: j.Store.Database(), Drain: time.Hour})
	for deadline := time.Now().Add(2 * time.Minute); slices.Equal(grantsOf(t, a), before); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the child did not revoke")
		}
	}
	// The drain is waiting (the session is still there): crash now.
	kill9(t, cmd)
	mustFail(t, connect(t, a, d), "INSERT INTO t VALUES (1)", errDenied)

	f, err := New(sandboxtest.Open(t, servers[0], ""), Accounts, []Table{{d, "t"}}, WithAccounts(a), WithJournal(j))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stop(ctx); !errors.Is(err, ErrOpenFence) {
		t.Fatalf("Stop over an unreleased fence: %v", err)
	}
	pauses, err := Recover(ctx, sandboxtest.Open(t, servers[0], ""), j, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(pauses) != 1 || pauses[0].Method != Accounts || pauses[0].Released.IsZero() {
		t.Fatalf("Recover: %+v", pauses)
	}
	sameGrants(t, a, before)
	mustWrite(t, connect(t, a, d), "INSERT INTO t VALUES (1)")
	if pauses, err := Recover(ctx, sandboxtest.Open(t, servers[0], ""), j, nil); err != nil || len(pauses) != 0 {
		t.Fatalf("second Recover: %+v, %v", pauses, err)
	}
}

// TestCrashLock kills the process holding LOCK TABLES ... WRITE or FLUSH
// TABLES ... WITH READ LOCK: the lock dies with its connection, Recover
// closes the journal's record.
func TestCrashLock(t *testing.T) {
	for _, m := range []Method{LockTables, FlushTables} {
		t.Run(m.String(), func(t *testing.T) {
			ctx := t.Context()
			d := sandboxtest.NewDatabase(t, servers[0], "fence")
			root := sandboxtest.Open(t, servers[0], d)
			sandboxtest.Exec(t, root, "CREATE TABLE t (id INT PRIMARY KEY)")
			j := newJournal(t)
			cmd, lines := startChild(t, childConfig{Method: m, Tables: []Table{{d, "t"}}, Journal: j.Store.Database(), Drain: 30 * time.Second})
			waitLine(t, lines, "stopped")
			w := session(t, root, "SET SESSION lock_wait_timeout = 1")
			mustFail(t, w, "INSERT INTO t VALUES (1)", errLockWait)
			kill9(t, cmd)
			mustWrite(t, w, "SET SESSION lock_wait_timeout = 30")
			mustWrite(t, w, "INSERT INTO t VALUES (1)")
			pauses, err := Recover(ctx, root, j, nil)
			if err != nil || len(pauses) != 1 || pauses[0].Method != m || pauses[0].Stopped.IsZero() {
				t.Fatalf("Recover: %+v, %v", pauses, err)
			}
		})
	}
}

// TestCrashReadOnly kills the process that set read_only: Recover sets it
// back.
func TestCrashReadOnly(t *testing.T) {
	ctx := t.Context()
	d := sandboxtest.NewDatabase(t, servers[0], "fence")
	root := sandboxtest.Open(t, servers[0], d)
	sandboxtest.Exec(t, root, "CREATE TABLE t (id INT PRIMARY KEY)")
	restoreReadOnlyAtEnd(t)
	a := newAccount(t, "GRANT INSERT ON `"+d+"`.* TO ACCT")
	j := newJournal(t)
	cmd, lines := startChild(t, childConfig{Method: ReadOnly, Accounts: []Account{a}, Journal: j.Store.Database(), Drain: 30 * time.Second})
	waitLine(t, lines, "stopped")
	kill9(t, cmd)
	app := connect(t, a, d)
	mustFail(t, app, "INSERT INTO t VALUES (1)", errReadOnly)
	pauses, err := Recover(ctx, root, j, nil)
	if err != nil || len(pauses) != 1 || pauses[0].Method != ReadOnly {
		t.Fatalf("Recover: %+v, %v", pauses, err)
	}
	mustWrite(t, app, "INSERT INTO t VALUES (1)")
}

// restoreReadOnlyAtEnd sets read_only to 0 when the test ends, whatever
// happened.
func restoreReadOnlyAtEnd(t *testing.T) {
	t.Cleanup(func() { execAtEnd("SET GLOBAL read_only = 0") })
}

// TestRecoverPartial: a crash after the record was written, before the
// change (or half of it: the table-level additions but not the revokes),
// is recovered to the grants as they were.
func TestRecoverPartial(t *testing.T) {
	ctx := t.Context()
	d := sandboxtest.NewDatabase(t, servers[0], "fence")
	root := sandboxtest.Open(t, servers[0], d)
	sandboxtest.Exec(t, root, "CREATE TABLE t (id INT PRIMARY KEY)", "CREATE TABLE o (id INT PRIMARY KEY)")
	a := newAccount(t, "GRANT SELECT, INSERT, DELETE ON `"+d+"`.* TO ACCT", "GRANT SELECT ON `"+d+"`.o TO ACCT")
	before := grantsOf(t, a)
	admin := sandboxtest.Open(t, servers[0], "")
	for _, half := range []bool{false, true} {
		j := newJournal(t)
		f, err := New(admin, Accounts, []Table{{d, "t"}}, WithAccounts(a), WithJournal(j))
		if err != nil {
			t.Fatal(err)
		}
		source, err := serverName(ctx, admin)
		if err != nil {
			t.Fatal(err)
		}
		fe := &Fence{f: f, source: source, pause: Pause{ID: newID(), Method: Accounts}}
		if err := f.check(ctx, fe); err != nil {
			t.Fatal(err)
		}
		if err := f.openJournal(ctx, source); err != nil {
			t.Fatal(err)
		}
		if err := fe.record(ctx); err != nil {
			t.Fatal(err)
		}
		if half {
			u := fe.undo.Accounts[0]
			if len(u.Added) == 0 {
				t.Fatal("nothing to add")
			}
			u.Revoked = nil
			if err := applyAccount(ctx, admin, u); err != nil {
				t.Fatal(err)
			}
		}
		pauses, err := Recover(ctx, admin, j, nil)
		if err != nil || len(pauses) != 1 || !pauses[0].Stopped.IsZero() {
			t.Fatalf("Recover: %+v, %v", pauses, err)
		}
		sameGrants(t, a, before)
	}
}
