package migrate_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/migrate"
)

// interruptCopy runs a copy of src into dst that stops with an error part
// of the way through orders, and returns its report.
func interruptCopy(t *testing.T, src, dst string) *migrate.Report {
	t.Helper()
	stop := errors.New("stop here")
	var chunks int
	report, err := newCopier(t, src, servers[1], dst, migrate.WithChunkRows(50), migrate.WithThreads(1),
		migrate.WithThrottler(migrate.ThrottlerFunc(func(_ context.Context, table string) error {
			if chunks++; table == "orders" && chunks > 30 {
				return stop
			}
			return nil
		}))).Run(context.Background(), nil)
	require.ErrorIs(t, err, stop)
	return report
}

// TestCopierResumedProgressNeverGoesBack interrupts a copy and resumes it
// with frequent progress reports: no report of the resumed run, in total or
// for any table, has fewer rows, bytes or done tables than one before it,
// and the first already counts the rows the interrupted run committed.
func TestCopierResumedProgressNeverGoesBack(t *testing.T) {
	ctx := context.Background()
	src, _ := newSample(t)
	dst := targetName(t, servers[1])
	first := interruptCopy(t, src, dst)
	require.Positive(t, first.Rows)

	var reports []migrate.Progress
	report, err := newCopier(t, src, servers[1], dst, migrate.WithChunkRows(50), migrate.WithThreads(3),
		migrate.WithProgressInterval(time.Millisecond)).Run(ctx, func(p migrate.Progress) { reports = append(reports, p) })
	require.NoError(t, err)
	require.True(t, report.Resumed)
	require.GreaterOrEqual(t, len(reports), 2)
	assert.GreaterOrEqual(t, reports[0].Rows, first.Rows, "the first report counts the rows of the interrupted run")
	for i := 1; i < len(reports); i++ {
		prev, p := reports[i-1], reports[i]
		if p.Rows < prev.Rows || p.Bytes < prev.Bytes || p.TablesDone < prev.TablesDone || p.Elapsed < prev.Elapsed {
			t.Fatalf("report %d went back: %+v after %+v", i, p, prev)
		}
		require.Len(t, p.Tables, len(prev.Tables))
		for j, tp := range p.Tables {
			was := prev.Tables[j]
			if tp.Rows < was.Rows || tp.Bytes < was.Bytes || was.Done && !tp.Done {
				t.Fatalf("report %d: table %s went back: %+v after %+v", i, tp.Name, tp, was)
			}
		}
	}
	last := reports[len(reports)-1]
	assert.Equal(t, report.Rows, last.Rows)
	assert.Equal(t, last.TablesTotal, last.TablesDone)
	assertCopied(t, src, servers[1], dst)
}
