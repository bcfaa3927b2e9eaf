package migrate_test

import (
	"context"
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
// while its applier has written part of a large source transaction (60,000
// rows, well past the size the applier reads whole: it writes as it
// reads) into its open target transaction, three times, one new large
// transaction each time. After each kill the target holds each large
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

	const rows = 60_000
	// bulk counts the rows of large transaction i on the target.
	bulk := func(i int) int {
		var n int
		require.NoError(t, dstDB.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM `%s`.items WHERE id > %d AND id <= %d", target, 10_000_000*i, 10_000_000*i+rows)).Scan(&n))
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
			err := dstDB.QueryRow("SELECT c.n FROM `"+target+"`.counter c JOIN _shiftgate.stream_positions p ON p.stream = ? WHERE c.id = 1", "sync."+target).Scan(&n)
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
		sandboxtest.Exec(t, db, "BEGIN",
			fmt.Sprintf("INSERT INTO items SELECT %d + seq, CONCAT('bulk ', seq), REPEAT('b', 100), NOW(6), seq FROM seq_1_to_%d", 10_000_000*i, rows),
			"UPDATE counter SET n = n + 1 WHERE id = 1", "COMMIT")
		// Killed once the target's open transaction holds part of it.
		how := "after it was applied"
		for {
			var modified int64
			require.NoError(t, dstDB.QueryRow("SELECT IFNULL(MAX(trx_rows_modified), 0) FROM information_schema.INNODB_TRX").Scan(&modified))
			if modified >= 1000 && modified < rows {
				midTransaction++
				how = fmt.Sprintf("with %d rows of it written", modified)
				break
			}
			if bulk(i) == rows {
				break // applied before the test saw it
			}
			select {
			case err := <-exited:
				t.Fatalf("the sync ended before it was killed: %v: %s", err, out)
			default:
			}
			require.True(t, time.Now().Before(deadline), "child %d never applied the large transaction: %s", i, out)
			time.Sleep(5 * time.Millisecond)
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		<-exited
		// The server rolls back the dead connection's transaction.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			var open int
			require.NoError(t, dstDB.QueryRow("SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_rows_modified > 0").Scan(&open))
			if open == 0 {
				break
			}
			require.True(t, time.Now().Before(deadline), "the killed child's transaction is still open on the target")
		}
		n := bulk(i)
		assert.True(t, n == 0 || n == rows, "large transaction %d half applied after the kill: %d of %d rows", i, n, rows)
		t.Logf("child %d killed %s, %s; large transaction %d holds %d rows on the target", i, syncState(t, target), how, i, n)
	}
	assert.Positive(t, midTransaction, "no child was killed in the middle of a large transaction")

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
