package migrate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// mergeSpec is a merge of a split layout's shards into Database.test on
// the target server; as JSON it is the spec of a merge run as a child
// process of the test binary (see TestMain).
type mergeSpec struct {
	Split    splitLayout
	Target   string // DSN
	Database string
}

func (m mergeSpec) merge(t testing.TB, opts ...migrate.MergeOption) *migrate.Merge {
	opts = append([]migrate.MergeOption{migrate.WithCheckpointDatabase(m.Split.CheckpointDB), migrate.WithChunkRows(500),
		migrate.WithSegmentRows(4000), migrate.WithThreads(2)}, opts...)
	if m.Split.RowsPerSecond > 0 {
		opts = append(opts, migrate.WithRateLimit(m.Split.RowsPerSecond, 0))
	}
	mg, err := migrate.NewMerge(m.Split.Targets, m.Split.router(), m.Target, m.Database, "test", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return mg
}

// newMerge splits a new seed table of rows rows into layout kind and
// returns the merge of its shards into a new database on the target.
func newMerge(t testing.TB, kind string, rows int) mergeSpec {
	l := newSplitLayout(t, kind, rows)
	_, err := l.split(t).Run(context.Background(), nil)
	require.NoError(t, err)
	return mergeSpec{Split: l, Target: servers[1].DSN(""), Database: targetName(t, servers[1])}
}

// assertMerged checks that the merged table holds exactly the source
// table's rows.
func assertMerged(t *testing.T, m mergeSpec) {
	t.Helper()
	const sum = "SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', id, name, addTime))), 0), COUNT(DISTINCT id) FROM test"
	var want, got [3]int64
	require.NoError(t, sandboxtest.Open(t, servers[0], m.Split.Source).QueryRow(sum).Scan(&want[0], &want[1], &want[2]))
	require.NoError(t, sandboxtest.Open(t, servers[1], m.Database).QueryRow(sum).Scan(&got[0], &got[1], &got[2]))
	assert.Equal(t, want, got, "rows, checksum and distinct ids of the source and the merged table")
}

func TestMergeShards(t *testing.T) {
	ctx := context.Background()
	m := newMerge(t, "four", 20_000)
	mg := m.merge(t)
	plan, err := mg.Plan(ctx)
	require.NoError(t, err)
	require.Len(t, plan.Tables, 32)
	assert.Equal(t, "a/"+m.Split.router().Locations()[0].Database+".test_1", plan.Tables[0].Name)
	assert.False(t, plan.Tables[0].TargetExists)
	assert.Contains(t, plan.Tables[0].CreateTable, "CREATE TABLE `"+m.Database+"`.`test` (")

	var last migrate.Progress
	report, err := mg.Run(ctx, func(p migrate.Progress) { last = p })
	require.NoError(t, err)
	assert.Equal(t, int64(20_000), report.Rows)
	assert.Equal(t, 32, last.TablesDone)
	assert.True(t, report.Consistent)
	assertMerged(t, m)
	assertIndex(t, servers[1], m.Database, "test", "addTime")
	assert.Equal(t, []string{"addTime"}, plan.Tables[0].DeferredIndexes)

	// Again: the target holds rows of a finished merge, which a merge does
	// not replace unless told to.
	_, err = m.merge(t).Plan(ctx)
	require.ErrorIs(t, err, migrate.ErrNotEmpty)
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[1], m.Database), "DELETE FROM test WHERE id % 3 = 0")
	_, err = m.merge(t, migrate.WithReplace()).Run(ctx, nil)
	require.NoError(t, err)
	assertMerged(t, m)
}

// TestMergeRefusesOverlapsAndShapes: a key held by two shards fails the
// merge naming the shard; a shard with other columns fails the plan.
func TestMergeRefusesOverlapsAndShapes(t *testing.T) {
	ctx := context.Background()
	m := newMerge(t, "one", 2_000)
	locs := m.Split.router().Locations()
	db := sandboxtest.Open(t, servers[1], locs[0].Database)
	sandboxtest.Exec(t, db, "INSERT INTO test_2 SELECT * FROM test_1 ORDER BY id LIMIT 1")
	_, err := m.merge(t).Run(ctx, nil)
	require.Error(t, err)
	assert.Regexp(t, "shard [12] table `[^`]+`.`test_[12]`", err.Error())
	assert.Contains(t, err.Error(), "a duplicate key")

	sandboxtest.Exec(t, db, "DELETE FROM test_2 WHERE id = (SELECT MIN(id) FROM test_1)", "ALTER TABLE test_7 ADD COLUMN extra INT")
	_, err = m.merge(t, migrate.WithReplace()).Plan(ctx)
	require.ErrorIs(t, err, migrate.ErrShardsDiffer)
	assert.Contains(t, err.Error(), "shard 7 table")
}

// mergeChildEnv holds the JSON mergeSpec of a merge run as a child
// process of the test binary (see TestMain).
const mergeChildEnv = "SHIFTGATE_MERGE_CHILD"

// mergeChild runs the merge the spec describes and returns the exit code.
func mergeChild(spec string) int {
	var m mergeSpec
	if err := json.Unmarshal([]byte(spec), &m); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	r, err := m.Split.Layout.Router()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	mg, err := migrate.NewMerge(m.Split.Targets, r, m.Target, m.Database, "test", migrate.WithCheckpointDatabase(m.Split.CheckpointDB),
		migrate.WithChunkRows(500), migrate.WithSegmentRows(4000), migrate.WithThreads(2), migrate.WithRateLimit(m.Split.RowsPerSecond, 0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if _, err := mg.Run(context.Background(), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestMergeResumesAfterSIGKILL kills a merge of shards on two servers,
// running as a child process, with SIGKILL at random points, then lets it
// finish, and checks that the merged table is the source table.
func TestMergeResumesAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes for several seconds")
	}
	ctx := context.Background()
	const total = 40_000
	m := newMerge(t, "two", total)
	m.Split.RowsPerSecond = 3_000
	spec, err := json.Marshal(m)
	require.NoError(t, err)
	copied := func() int64 {
		var n int64
		_ = sandboxtest.Open(t, servers[1], "").QueryRow("SELECT COALESCE(SUM(rows_copied), 0) FROM `"+m.Split.CheckpointDB+"`.copy_segments WHERE target_db = ?", m.Database).Scan(&n)
		return n
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 17))
	partial := 0
	delay := time.Second
	for attempt := 0; attempt < 12 && partial < 3; attempt++ {
		sigkillChild(t, "merge", mergeChildEnv, spec, delay/2+time.Duration(rng.Int64N(int64(delay))))
		n := copied()
		t.Logf("attempt %d: the checkpoint counts %d rows", attempt+1, n)
		if n == total {
			t.Fatal("the merge finished before it was killed: slow it down")
		}
		if n == 0 {
			delay += delay / 2
		} else {
			partial++
		}
	}
	require.GreaterOrEqual(t, partial, 2, "too few kills hit the merge part-way")

	m.Split.RowsPerSecond = 0
	mg := m.merge(t)
	plan, err := mg.Plan(ctx)
	require.NoError(t, err, "a rerun after a kill resumes")
	assert.True(t, plan.Tables[0].Resume)
	report, err := mg.Run(ctx, nil)
	require.NoError(t, err)
	assert.True(t, report.Resumed)
	assert.Equal(t, int64(total), report.Rows)
	assertMerged(t, m)
}
