package migrate_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/migrate/migratetest"
)

func newCopier(t *testing.T, source string, target *sandbox.Server, targetDB string, opts ...migrate.Option) *migrate.Copier {
	t.Helper()
	opts = append([]migrate.Option{migrate.WithTargetDatabase(targetDB), migrate.WithCheckpointDatabase(targetDB + "_cp")}, opts...)
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
	migratetest.Run(t, func(t *testing.T) migratetest.Subject {
		src, _ := newSample(t)
		dst := targetName(t, servers[1])
		return migratetest.Subject{
			Executor: newCopier(t, src, servers[1], dst, migrate.WithProgressInterval(time.Millisecond), migrate.WithChunkRows(50)),
			State:    func(t testing.TB) string { return state(t, servers[1], dst) },
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
			assert.Equal(t, state(t, servers[0], src), state(t, servers[1], dst), "target differs from source")
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
