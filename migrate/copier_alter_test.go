package migrate_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
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
)

// TestCopierResumesAfterSIGKILLDuringIndexBuild kills the copier, running
// as a child process, with SIGKILL while its deferred ALTER TABLE ... ADD
// KEY runs on the target. The server goes on with that statement; one
// rerun must wait for it, add nothing twice and finish the copy.
//
// The ALTER TABLE is held at a known point: a transaction of the test
// reads the target table before the ALTER starts, so the ALTER waits for
// the table's metadata lock until the test ends that transaction.
func TestCopierResumesAfterSIGKILLDuringIndexBuild(t *testing.T) {
	ctx := context.Background()
	src := sandboxtest.NewDatabase(t, servers[0], "alter")
	srcDB := sandboxtest.Open(t, servers[0], src)
	sandboxtest.Exec(t, srcDB,
		"CREATE TABLE items (id INT NOT NULL PRIMARY KEY, a INT NOT NULL, b VARCHAR(40) NOT NULL, KEY idx_a (a), UNIQUE KEY uk_b (b))",
		"INSERT INTO items SELECT seq, seq % 97, CONCAT('b', seq) FROM seq_1_to_3000")
	dst := targetName(t, servers[1])
	spec := childSpec{Source: servers[0].DSN(""), Target: servers[1].DSN(""), Database: src, TargetDatabase: dst, CheckpointDB: dst + "_cp", RowsPerSecond: 3000}
	dstDB := sandboxtest.Open(t, servers[1], "")
	t.Cleanup(func() { _, _ = dstDB.Exec("DROP DATABASE IF EXISTS `" + spec.CheckpointDB + "`") })
	specJSON, err := json.Marshal(spec)
	require.NoError(t, err)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), copierChildEnv+"="+string(specJSON))
	out := &limitedWriter{max: 4096}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	})

	// Hold the table's metadata lock as soon as the copy has created it.
	holder, err := dstDB.Conn(ctx)
	require.NoError(t, err)
	defer holder.Close()
	waitFor(t, "the target table", func() bool {
		var n int
		require.NoError(t, dstDB.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'items'", dst).Scan(&n))
		return n == 1
	})
	// Bounded: a lock the test cannot get within a minute is a failure
	// that shows what the server's sessions were doing, not a hang.
	for _, stmt := range []string{"SET SESSION lock_wait_timeout = 60", "START TRANSACTION", "SELECT COUNT(*) FROM `" + dst + "`.items"} {
		if _, err := holder.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v\nsessions of the target:\n%s", stmt, err, sessions(t, dstDB))
		}
	}
	released := false
	release := func() {
		if !released {
			released = true
			_, err := holder.ExecContext(ctx, "COMMIT")
			require.NoError(t, err)
		}
	}
	defer release()

	alters := func() int {
		var n int
		require.NoError(t, dstDB.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE ?",
			"ALTER TABLE `"+dst+"`.`items` ADD %").Scan(&n))
		return n
	}
	waitFor(t, "the deferred ALTER TABLE", func() bool {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the copy ended before its ALTER TABLE (%v): %s", err, out)
		default:
		}
		return alters() == 1
	})
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	<-exited
	exited <- nil
	require.Equal(t, 1, alters(), "the server goes on with the killed copy's ALTER TABLE")

	// The rerun: the test lets the old ALTER TABLE go on once the rerun
	// either waits for it (logged) or has sent an ALTER TABLE of its own.
	logs := &syncBuffer{}
	c, err := migrate.NewCopier(spec.Source, spec.Target, src, append(childOptions(spec), migrate.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))...)
	require.NoError(t, err)
	type result struct {
		report *migrate.Report
		err    error
	}
	done := make(chan result, 1)
	go func() {
		report, err := c.Run(ctx, nil)
		done <- result{report, err}
	}()
	var res result
	waitFor(t, "the rerun to reach the table's indexes", func() bool {
		select {
		case res = <-done:
			return true
		default:
		}
		if strings.Contains(logs.String(), "waits for an ALTER TABLE") || alters() > 1 {
			release()
			res = <-done
			return true
		}
		return false
	})
	require.NoError(t, res.err, "one rerun after a kill during the index build must finish the copy")
	assert.True(t, res.report.Resumed)
	assertCopied(t, src, servers[1], dst)
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sessions lists what db's server's sessions are doing, for a failure
// message.
func sessions(t *testing.T, db *sql.DB) string {
	rows, err := db.Query("SELECT ID, COMMAND, TIME, IFNULL(STATE, ''), IFNULL(LEFT(INFO, 200), '') FROM information_schema.PROCESSLIST ORDER BY ID")
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, secs int64
		var command, state, info string
		if err := rows.Scan(&id, &command, &secs, &state, &info); err != nil {
			return err.Error()
		}
		fmt.Fprintf(&b, "  %d %s %ds %q %q\n", id, command, secs, state, info)
	}
	return b.String()
}
