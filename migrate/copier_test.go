package migrate_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/migrate/migratetest"
)

func newCopier(t testing.TB, source string, target *sandbox.Server, targetDB string, opts ...migrate.CopierOption) *migrate.Copier {
	t.Helper()
	opts = append([]migrate.CopierOption{migrate.WithTargetDatabase(targetDB), migrate.WithCheckpointDatabase(targetDB + "_cp")}, opts...)
	c, err := migrate.NewCopier(servers[0].DSN(""), target.DSN(""), source, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		db, err := target.Open("")
		if err == nil {
			_, _ = db.Exec("DROP DATABASE IF EXISTS `" + targetDB + "_cp`")
			db.Close()
		}
	})
	return c
}

func TestCopierConformance(t *testing.T) {
	migratetest.Run(t, migratetest.Features{Tables: true, Resumable: true}, func(t testing.TB) migratetest.Subject {
		src, _ := newSample(t)
		dst := targetName(t, servers[1])
		copier := func(t testing.TB) migrate.Executor {
			return newCopier(t, src, servers[1], dst, migrate.WithProgressInterval(time.Millisecond), migrate.WithChunkRows(50))
		}
		return migratetest.Subject{
			Executor: copier(t),
			State:    func(t testing.TB) string { return state(t, servers[1], dst) },
			Reopen:   copier,
		}
	})
}

func TestCopierCopiesWholeDatabase(t *testing.T) {
	ctx := context.Background()
	for _, method := range []migrate.WriteMethod{migrate.WriteLoadData, migrate.WriteInsert} {
		t.Run(method.String(), func(t *testing.T) {
			src, srcDB := newSample(t)
			dst := targetName(t, servers[1])
			var wantGTID string
			require.NoError(t, srcDB.QueryRow("SELECT @@gtid_binlog_pos").Scan(&wantGTID))

			c := newCopier(t, src, servers[1], dst, migrate.WithWriteMethod(method), migrate.WithChunkRows(64), migrate.WithSegmentRows(200), migrate.WithThreads(3))
			plan, err := c.Plan(ctx)
			require.NoError(t, err)
			require.Len(t, plan.Tables, 5)
			assert.Contains(t, plan.Tables[2].CreateTable, "CREATE TABLE `order_items`")
			assert.Equal(t, []string{"order_id", "line"}, plan.Tables[2].Key)
			assert.Greater(t, plan.Tables[2].Segments, 1, "order_items is copied in parallel segments")
			assert.NotEmpty(t, plan.Locks)

			report, err := c.Run(ctx, nil)
			require.NoError(t, err)
			assertCopied(t, src, servers[1], dst)
			customers, products, orders, items := sampledata.Size(sampleScale)
			assert.Equal(t, int64(customers+products+orders+items), report.Rows)
			for _, tr := range report.Tables {
				assert.True(t, tr.Done, tr.Name)
			}
			assert.Equal(t, wantGTID, report.Position.GTID)
			assert.True(t, report.Consistent)
			assert.Equal(t, method.String(), report.WriteMethod)
			assert.Equal(t, sampleRow(t, servers[0], src), sampleRow(t, servers[1], dst))
		})
	}
}

// TestCopierSnapshotIgnoresLaterWrites writes to the source after the
// readers' snapshot is taken (from the throttler, before the first chunk):
// a consistent copy holds the source as it was at the reported position,
// a lock-free copy sees the new rows.
func TestCopierSnapshotIgnoresLaterWrites(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []migrate.SnapshotMode{migrate.SnapshotConsistent, migrate.SnapshotNone} {
		t.Run(mode.String(), func(t *testing.T) {
			src, srcDB := newSample(t)
			dst := targetName(t, servers[1])
			want := state(t, servers[0], src)
			var gtid string
			require.NoError(t, srcDB.QueryRow("SELECT @@gtid_binlog_pos").Scan(&gtid))
			var once sync.Once
			write := migrate.ThrottlerFunc(func(ctx context.Context, _ string) error {
				var err error
				once.Do(func() {
					_, err = srcDB.ExecContext(ctx, "INSERT INTO `"+src+"`.products (id, sku, title, price) SELECT 100000 + seq, CONCAT('NEW-', seq), 'late', 1 FROM seq_1_to_10")
				})
				return err
			})
			report, err := newCopier(t, src, servers[1], dst, migrate.WithSnapshot(mode), migrate.WithThrottler(write),
				migrate.WithChunkRows(100)).Run(ctx, nil)
			require.NoError(t, err)
			var late int
			require.NoError(t, sandboxtest.Open(t, servers[1], dst).QueryRow("SELECT COUNT(*) FROM products WHERE title = 'late'").Scan(&late))
			if mode == migrate.SnapshotConsistent {
				assert.True(t, report.Consistent)
				assert.Equal(t, gtid, report.Position.GTID, "the position is the snapshot's, before the late write")
				assert.Zero(t, late, "rows committed after the snapshot are not in a consistent copy")
				assert.Equal(t, want, state(t, servers[1], dst))
			} else {
				assert.False(t, report.Consistent)
				assert.Equal(t, 10, late, "a lock-free copy reads each chunk when it gets to it")
				assertCopied(t, src, servers[1], dst)
			}
		})
	}
}

// TestCopierLockFreePositionIsMarkedInconsistent checks that wherever a
// lock-free copy shows its binlog position, it says the copy is not
// consistent with it: the plan, the report and its JSON form.
func TestCopierLockFreePositionIsMarkedInconsistent(t *testing.T) {
	ctx := context.Background()
	src, _ := newSample(t)
	dst := targetName(t, servers[1])
	c := newCopier(t, src, servers[1], dst, migrate.WithSnapshot(migrate.SnapshotNone))
	plan, err := c.Plan(ctx)
	require.NoError(t, err)
	assert.Contains(t, strings.Join(plan.Steps, "\n"), "not consistent with it (lock-free)")
	report, err := c.Run(ctx, nil)
	require.NoError(t, err)
	require.False(t, report.Position.IsZero())
	assert.False(t, report.Consistent)
	assert.Contains(t, report.PositionNote(), "NOT consistent")
	js, err := json.Marshal(report)
	require.NoError(t, err)
	assert.Contains(t, string(js), `"position_note":"the copy is NOT consistent with this position`)
	assert.Contains(t, string(js), `"executor":"copier"`, "the embedded scope is still flattened")

	// A consistent copy says so.
	dst2 := targetName(t, servers[1])
	report, err = newCopier(t, src, servers[1], dst2).Run(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, "the copy is a consistent snapshot at this position", report.PositionNote())
}

// TestCopierChunkTime checks what WithChunkTime decides without a clock:
// under a rate limit, a chunk holds at most the rows the limit allows in
// one chunk time.
func TestCopierChunkTime(t *testing.T) {
	src := sandboxtest.NewDatabase(t, servers[0], "chunktime")
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], src),
		"CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)",
		"INSERT INTO t SELECT seq, CONCAT('row ', seq) FROM seq_1_to_200")
	chunks := func(d time.Duration) int64 {
		dst := targetName(t, servers[1])
		report, err := newCopier(t, src, servers[1], dst, migrate.WithRateLimit(1000, 0), migrate.WithChunkTime(d)).Run(t.Context(), nil)
		require.NoError(t, err)
		assertCopied(t, src, servers[1], dst)
		require.Len(t, report.Tables, 1)
		return report.Tables[0].Chunks
	}
	// 1,000 rows/s: at most 10 rows a chunk at 10ms, 1,000 at 1s.
	assert.GreaterOrEqual(t, chunks(10*time.Millisecond), int64(20))
	assert.LessOrEqual(t, chunks(time.Second), int64(2))

	_, err := migrate.NewCopier(servers[0].DSN(""), servers[1].DSN(""), src, migrate.WithChunkTime(time.Microsecond))
	assert.ErrorContains(t, err, "WithChunkTime")
}
