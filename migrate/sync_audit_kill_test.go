package migrate_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// TestSyncAuditSIGKILLInALargeTransaction kills the sync, a child process,
// while its applier has written a large source transaction (60,000 rows,
// well past the size the applier reads whole: it writes as it reads) into
// its open target transaction, three times, one new large transaction
// each time: twice once every row is written and the applier waits for a
// row lock the test holds, once as soon as rows show (it may have
// committed by then). After each kill the target holds each large
// transaction whole or not at all; the next child applies it again; the
// last run cuts over: the target equals the source, and the counter every
// large transaction increments shows each applied once.
func TestSyncAuditSIGKILLInALargeTransaction(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes in large transactions")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()
	src, dst := servers[0], servers[1]
	name := sandboxtest.NewDatabase(t, src, "auditbigkill")
	target := sandboxtest.NewDatabase(t, dst, "auditbigkill")
	sandboxtest.Exec(t, sandboxtest.Open(t, dst, ""), "DROP DATABASE `"+target+"`")
	db := sandboxtest.Open(t, src, name)
	seedSyncTables(t, db)
	user, _ := appAccount(t, name)
	dstDB := sandboxtest.Open(t, dst, "")
	spec, err := json.Marshal(syncSpec{Source: src.DSN(""), Target: dst.DSN(""), Database: name, TargetDatabase: target, Account: user + "@%"})
	require.NoError(t, err)

	// scan runs a query of the target into dest, failing with the target's
	// process list when it waits for a minute (a lock).
	scan := func(q string, dest ...any) error {
		t.Helper()
		qctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		err := dstDB.QueryRowContext(qctx, q).Scan(dest...)
		if qctx.Err() != nil {
			t.Fatalf("%s waited a minute; the target's sessions:\n%s", q, sessions(t, sandboxtest.Open(t, dst, "")))
		}
		return err
	}
	const rows = 60_000
	// bulk counts the rows of large transaction i on the target.
	bulk := func(i int) int {
		var n int
		require.NoError(t, scan(fmt.Sprintf("SELECT COUNT(*) FROM `%s`.items WHERE id > %d AND id <= %d", target, 10_000_000*i, 10_000_000*i+rows), &n))
		return n
	}
	midTransaction := 0
	for i := 1; i <= 3; i++ {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), syncChildEnv+"="+string(spec))
		out := &limitedWriter{max: 4096}
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// The child follows the binary log once its stream's position is
		// saved and it applied every large transaction before this one.
		deadline := time.Now().Add(3 * time.Minute)
		for {
			var n int64
			err := scan("SELECT c.n FROM `"+target+"`.counter c JOIN _shiftgate.stream_positions p ON p.stream = 'sync."+target+"' WHERE c.id = 1", &n)
			if err == nil && n == int64(i-1) {
				break
			}
			select {
			case err := <-exited:
				t.Fatalf("the sync ended before it was killed: %v: %s", err, out)
			default:
			}
			require.True(t, time.Now().Before(deadline), "child %d never followed the binary log: %s", i, out)
			time.Sleep(50 * time.Millisecond)
		}
		// Children 1 and 3 are killed while their applier, every row of
		// the large transaction written, waits for the counter's row, which
		// the test holds locked; child 2 as soon as the target's open
		// transaction shows rows (it may have committed by then).
		locked := i != 2
		var lock *sql.Tx
		if locked {
			lock, err = dstDB.BeginTx(ctx, nil)
			require.NoError(t, err)
			_, err = lock.ExecContext(ctx, "SELECT n FROM `"+target+"`.counter WHERE id = 1 FOR UPDATE")
			require.NoError(t, err)
		}
		sandboxtest.Exec(t, db, "BEGIN",
			fmt.Sprintf("INSERT INTO items SELECT %d + seq, CONCAT('bulk ', seq), REPEAT('b', 100), NOW(6), seq FROM seq_1_to_%d", 10_000_000*i, rows),
			"UPDATE counter SET n = n + 1 WHERE id = 1", "COMMIT")
		seen := int64(0)
		for {
			q := "SELECT IFNULL(MAX(trx_rows_modified), 0) FROM information_schema.INNODB_TRX"
			if locked {
				q += " WHERE trx_state = 'LOCK WAIT'"
			}
			require.NoError(t, scan(q, &seen))
			if locked && seen >= rows || !locked && (seen >= 1000 || bulk(i) == rows) {
				break
			}
			select {
			case err := <-exited:
				t.Fatalf("the sync ended before it was killed: %v: %s", err, out)
			default:
			}
			require.True(t, time.Now().Before(deadline), "child %d never applied the large transaction: %s", i, out)
			// information_schema.INNODB_TRX is refreshed only when it was
			// not read for 100 ms.
			time.Sleep(150 * time.Millisecond)
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		<-exited
		if locked {
			require.NoError(t, lock.Rollback())
		}
		// The server rolls back the dead connection's transaction.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(150 * time.Millisecond) { // see above: INNODB_TRX
			var open int
			require.NoError(t, scan("SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_rows_modified > 0", &open))
			if open == 0 {
				break
			}
			require.True(t, time.Now().Before(deadline), "the killed child's transaction is still open on the target")
		}
		n := bulk(i)
		assert.True(t, n == 0 || n == rows, "large transaction %d half applied after the kill: %d of %d rows", i, n, rows)
		how := "after it committed"
		if locked {
			assert.Zero(t, n, "large transaction %d committed while its applier waited for a lock", i)
		}
		if n == 0 {
			midTransaction++
			how = fmt.Sprintf("in it (%d rows of the target's transaction seen written)", seen)
		}
		t.Logf("child %d killed %s, %s; large transaction %d holds %d rows on the target", i, syncState(t, target), how, i, n)
	}
	assert.GreaterOrEqual(t, midTransaction, 2, "children killed in the middle of a large transaction")

	s, err := migrate.NewSync(src.DSN(""), dst.DSN(""), name, syncOptions(syncSpec{TargetDatabase: target, Account: user + "@%"})...)
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() { _, err := s.Run(ctx, nil); errc <- err }()
	auditCutover(t, ctx, s, name, target, errc)
	var n int64
	require.NoError(t, dstDB.QueryRow("SELECT n FROM `"+target+"`.counter WHERE id = 1").Scan(&n))
	assert.EqualValues(t, 3, n, "counter on the target: a large transaction applied twice or lost")
	for i := 1; i <= 3; i++ {
		assert.Equal(t, rows, bulk(i), "rows of large transaction %d on the target", i)
	}
}
