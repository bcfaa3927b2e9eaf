package migrate_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/verify"
)

// syncChildEnv holds the JSON syncSpec of a sync run as a child process of
// the test binary (see TestMain).
const syncChildEnv = "SHIFTGATE_SYNC_CHILD"

type syncSpec struct {
	Source, Target, Database, TargetDatabase, Account string
	// HangInSwitch makes the child cut over once in sync, its switch
	// never returning: it is killed in the middle of the cutover.
	HangInSwitch bool
}

func syncOptions(s syncSpec) []migrate.SyncOption {
	return []migrate.SyncOption{
		migrate.WithTargetDatabase(s.TargetDatabase), migrate.WithFence(migrate.FenceAccounts, s.Account),
		migrate.WithDrainWait(5*time.Second, false), migrate.WithChunkRows(200), migrate.WithThreads(2),
		migrate.WithRateLimit(20_000, 0),
	}
}

// syncChild runs the sync the spec describes until it is killed.
func syncChild(spec string) int {
	var s syncSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	opts := syncOptions(s)
	if s.HangInSwitch {
		opts = append(opts, migrate.WithSwitch(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }))
	}
	sy, err := migrate.NewSync(s.Source, s.Target, s.Database, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	done := make(chan error, 1)
	go func() { _, err := sy.Run(context.Background(), nil); done <- err }()
	if s.HangInSwitch {
		for sy.Phase() != migrate.PhaseInSync {
			time.Sleep(20 * time.Millisecond)
		}
		_, err := sy.Cutover(context.Background())
		fmt.Fprintln(os.Stderr, "cutover returned:", err)
		return 1
	}
	fmt.Fprintln(os.Stderr, <-done)
	return 1
}

// TestSyncResumesAfterSIGKILL kills the sync, running as a child process,
// with SIGKILL at random points (copying, catching up, in sync, and once in
// the middle of a cutover, grants revoked) while the application writes,
// then runs it to a cutover: the target ends equal to the source, no
// transaction applied twice (the counter), the application's grants back.
func TestSyncResumesAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes for several seconds")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	src, dst := servers[0], servers[1]
	name := sandboxtest.NewDatabase(t, src, "synckill")
	target := sandboxtest.NewDatabase(t, dst, "synckill")
	sandboxtest.Exec(t, sandboxtest.Open(t, dst, ""), "DROP DATABASE `"+target+"`")
	db := sandboxtest.Open(t, src, name)
	seedSyncTables(t, db)
	sandboxtest.Exec(t, db, "INSERT INTO items SELECT id + 10000, name, data, ts, price FROM items",
		"INSERT INTO items SELECT id + 20000, name, data, ts, price FROM items")
	user, appDB := appAccount(t, name)
	grantsBefore := showGrants(t, user)

	w := &syncWorkload{db: appDB}
	wctx, stopWriting := context.WithCancel(ctx)
	defer stopWriting()
	var writers sync.WaitGroup
	writers.Go(func() { w.run(wctx) })

	spec := syncSpec{Source: src.DSN(""), Target: dst.DSN(""), Database: name, TargetDatabase: target, Account: user + "@%"}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	for attempt := range 6 {
		spec.HangInSwitch = attempt == 5
		specJSON, err := json.Marshal(spec)
		require.NoError(t, err)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), syncChildEnv+"="+string(specJSON))
		out := &limitedWriter{max: 4096}
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if spec.HangInSwitch {
			waitOpenFence(t, target, exited, out)
		} else {
			select {
			case err := <-exited:
				t.Fatalf("the sync ended before it was killed: %v: %s", err, out)
			case <-time.After(time.Duration(rng.Int64N(int64(1500*time.Millisecond))) + time.Duration(attempt)*100*time.Millisecond):
			}
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		<-exited
		t.Logf("attempt %d killed %s", attempt+1, syncState(t, target))
	}

	// The last child died with the application's grants revoked.
	_, err := appDB.Exec("UPDATE counter SET n = n WHERE id = 1")
	require.Error(t, err, "the application can write while the crashed cutover's fence holds")

	s, err := migrate.NewSync(spec.Source, spec.Target, name, append(syncOptions(spec),
		migrate.WithSwitch(func(context.Context) error {
			w.mu.Lock()
			w.switched = true
			w.mu.Unlock()
			return nil
		}))...)
	require.NoError(t, err)
	done := make(chan struct{})
	var rep *migrate.Report
	var runErr error
	go func() { defer close(done); rep, runErr = s.Run(ctx, nil) }()
	// Killed past its switch, the last child left a cutover this Run
	// finishes, returning without syncing; else it syncs and cuts over.
	inSync := func() bool {
		for s.Phase() != migrate.PhaseInSync {
			select {
			case <-done:
				return false
			case <-time.After(20 * time.Millisecond):
			}
		}
		return true
	}
	var cutErr error
	for range 50 {
		if !inSync() {
			break
		}
		if _, cutErr = s.Cutover(ctx); cutErr == nil {
			break
		}
		t.Logf("cutover: %v", cutErr)
	}
	require.NoError(t, cutErr)
	<-done
	require.NoError(t, runErr)
	require.NotNil(t, rep.Cutover)
	stopWriting()
	writers.Wait()
	t.Logf("commits %d, this run applied %d rows in %d txns, pause %s", w.commits.Load(), rep.AppliedRows, rep.AppliedTxns, rep.Cutover.Pause)

	v, err := verify.New(sandboxtest.Open(t, src, ""), sandboxtest.Open(t, dst, ""))
	require.NoError(t, err)
	vr, err := v.VerifyDatabase(ctx, name, target)
	require.NoError(t, err)
	assert.True(t, vr.Clean(), "differences after cutover: %d", vr.Differences())
	var n int64
	require.NoError(t, sandboxtest.Open(t, dst, target).QueryRow("SELECT n FROM counter WHERE id = 1").Scan(&n))
	assert.Equal(t, w.commits.Load(), n, "counter on the target: a transaction applied twice or lost")
	assert.ElementsMatch(t, grantsBefore, showGrants(t, user), "the application's grants after the crashed cutover")
}

// appAccount creates an application account with table-level write
// grants on database's tables and returns its name and a pool.
func appAccount(t *testing.T, database string) (string, *sql.DB) {
	t.Helper()
	src := servers[0]
	user := appUser(database)
	root := sandboxtest.Open(t, src, "")
	sandboxtest.Exec(t, root, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'app-pw'", user))
	t.Cleanup(func() { _, _ = root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", user)) })
	for _, table := range []string{"acct", "items", "counter"} {
		sandboxtest.Exec(t, root, fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON `%s`.`%s` TO '%s'@'%%'", database, table, user))
	}
	cfg := src.Config(database)
	cfg.User, cfg.Passwd = user, "app-pw"
	db, err := sql.Open("mysql", cfg.FormatDSN())
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return user, db
}

func showGrants(t *testing.T, user string) []string {
	t.Helper()
	rows, err := sandboxtest.Open(t, servers[0], "").Query(fmt.Sprintf("SHOW GRANTS FOR '%s'@'%%'", user))
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var g string
		require.NoError(t, rows.Scan(&g))
		out = append(out, g)
	}
	return out
}

// waitOpenFence waits until the sync's cutover recorded its fence on the
// target (grants revoked) and the drain is over.
func waitOpenFence(t *testing.T, target string, exited <-chan error, out fmt.Stringer) {
	t.Helper()
	db := sandboxtest.Open(t, servers[1], "")
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("the sync ended before it was killed in its cutover: %v: %s", err, out)
		default:
		}
		var n int
		if db.QueryRow("SELECT COUNT(*) FROM _shiftgate.fences WHERE released_at IS NULL AND stopped_at IS NOT NULL").Scan(&n) == nil && n > 0 {
			time.Sleep(200 * time.Millisecond) // into the switch
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the cutover never fenced")
}

// syncState says where a killed sync stood: copying (rows in the copy's
// checkpoint) or syncing (its stream's saved position).
func syncState(t *testing.T, target string) string {
	t.Helper()
	db := sandboxtest.Open(t, servers[1], "")
	var position string
	if db.QueryRow("SELECT position FROM _shiftgate.stream_positions WHERE stream = ?", "sync."+target).Scan(&position) == nil {
		return "while syncing, at " + position
	}
	var rows int64
	_ = db.QueryRow("SELECT COALESCE(SUM(rows_copied), 0) FROM _shiftgate.copy_segments WHERE target_db = ?", target).Scan(&rows)
	return fmt.Sprintf("while copying, %d rows copied", rows)
}

// appUser is the application account appAccount creates for database.
func appUser(database string) string { return "app_" + database[strings.LastIndex(database, "_")+1:] }
