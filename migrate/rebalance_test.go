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
	"github.com/shiftgate/shiftgate/shard"
)

// TestRebalanceDoublesShards moves md5 over 4 tables on server b to md5
// over 8 tables, the new four in a database on server a: half of each
// source shard's rows move. After the run every row is in its new shard;
// the moved rows are still in their sources until the host deletes them,
// and then the new layout holds every row exactly once. A second run
// changes nothing.
func TestRebalanceDoublesShards(t *testing.T) {
	ctx := context.Background()
	l := newSplitLayout(t, "rb-from", 8_000)
	_, err := l.split(t).Run(ctx, nil)
	require.NoError(t, err)
	from := l.Layout
	to := from
	to.Shards = 8
	to.Instances = []shard.Instance{{Name: "b", Databases: "1"}, {Name: "a", Databases: "2"}}
	dropRebalanceDatabases(t, l)
	plan, err := shard.NewPlan(&from, &to)
	require.NoError(t, err)
	require.Equal(t, shard.MoveRows, plan.Sources[0].Action)

	rebalance := func() *migrate.Rebalance {
		rb, err := migrate.NewRebalance(&from, &to, plan, "name", l.Targets, migrate.WithCheckpointDatabase(l.CheckpointDB),
			migrate.WithChunkRows(500), migrate.WithThreads(2))
		require.NoError(t, err)
		return rb
	}
	p, err := rebalance().Plan(ctx)
	require.NoError(t, err)
	assert.Len(t, p.Tables, 4*7, "each source's staging tables but its own")
	report, err := rebalance().Run(ctx, nil)
	require.NoError(t, err)
	require.Len(t, report.Tables, 4)
	assert.True(t, report.Tables[0].Done)
	for _, s := range servers {
		var n int
		require.NoError(t, sandboxtest.Open(t, s, "").QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?", l.CheckpointDB+"\\_rb%").Scan(&n))
		assert.Zero(t, n, "staging databases dropped on %s", s.Addr())
	}

	// The host's step: delete from each source the rows that moved.
	moved := deleteMoved(t, l, to)
	assert.InDelta(t, 4_000, moved, 400, "half the rows moved")
	l.Layout = to
	assertSplit(t, l)

	// Run again: nothing to do, nothing written twice.
	_, err = rebalance().Run(ctx, nil)
	require.NoError(t, err)
	assertSplit(t, l)
}

// deleteMoved deletes from the source tables of l the rows whose key
// routes elsewhere under layout to, and returns how many.
func deleteMoved(t *testing.T, l splitLayout, to shard.Layout) int {
	r, err := to.Router()
	require.NoError(t, err)
	total := 0
	for _, loc := range l.router().Locations() {
		db := sandboxtest.Open(t, l.server(loc.Instance), loc.Database)
		rows, err := db.Query("SELECT id, name FROM `" + loc.Table + "`")
		require.NoError(t, err)
		var gone []int64
		for rows.Next() {
			var id int64
			var name string
			require.NoError(t, rows.Scan(&id, &name))
			if dst, err := r.Route(shard.String(name)); assert.NoError(t, err) && (dst.Instance != loc.Instance || dst.Database != loc.Database || dst.Table != loc.Table) {
				gone = append(gone, id)
			}
		}
		require.NoError(t, rows.Err())
		for _, id := range gone {
			sandboxtest.Exec(t, db, fmt.Sprintf("DELETE FROM `%s` WHERE id = %d", loc.Table, id))
		}
		total += len(gone)
	}
	return total
}

// TestRebalanceIntoLiveTables moves md5 over 4 tables to md5 over 6 in the
// same database: tables 1-4 are in both layouts, so the rows they receive
// wait in staging until Publish (at cutover), and the old layout's tables
// keep exactly their rows until then.
func TestRebalanceIntoLiveTables(t *testing.T) {
	ctx := context.Background()
	l := newSplitLayout(t, "rb-from", 6_000)
	_, err := l.split(t).Run(ctx, nil)
	require.NoError(t, err)
	from := l.Layout
	to := from
	to.Shards, to.TablesPerDatabase = 6, 6
	dropRebalanceDatabases(t, l)
	plan, err := shard.NewPlan(&from, &to)
	require.NoError(t, err)
	rb, err := migrate.NewRebalance(&from, &to, plan, "name", l.Targets, migrate.WithCheckpointDatabase(l.CheckpointDB), migrate.WithChunkRows(500))
	require.NoError(t, err)
	report, err := rb.Run(ctx, nil)
	require.NoError(t, err)
	assert.Contains(t, report.Tables[0].TargetName, "wait for Publish")

	db := sandboxtest.Open(t, servers[1], l.router().Locations()[0].Database)
	var old int
	require.NoError(t, db.QueryRow("SELECT (SELECT COUNT(*) FROM test_1) + (SELECT COUNT(*) FROM test_2) + (SELECT COUNT(*) FROM test_3) + (SELECT COUNT(*) FROM test_4)").Scan(&old))
	assert.Equal(t, 6_000, old, "the old layout's tables hold their rows and no others before Publish")

	require.NoError(t, rb.Publish(ctx))
	require.NoError(t, rb.Publish(ctx), "publishing again is harmless")
	deleteMoved(t, l, to)
	l.Layout = to
	assertSplit(t, l)
}

// rebalanceSpec is a rebalance of a split layout to layout To; as JSON it
// is the spec of a rebalance run as a child process of the test binary
// (see TestMain).
type rebalanceSpec struct {
	From splitLayout
	To   shard.Layout
}

func (r rebalanceSpec) newRebalance() (*migrate.Rebalance, error) {
	plan, err := shard.NewPlan(&r.From.Layout, &r.To)
	if err != nil {
		return nil, err
	}
	opts := []migrate.SplitOption{migrate.WithCheckpointDatabase(r.From.CheckpointDB), migrate.WithChunkRows(300), migrate.WithThreads(2)}
	if r.From.RowsPerSecond > 0 {
		opts = append(opts, migrate.WithRateLimit(r.From.RowsPerSecond, 0))
	}
	return migrate.NewRebalance(&r.From.Layout, &r.To, plan, "name", r.From.Targets, opts...)
}

// rebalanceChildEnv holds the JSON rebalanceSpec of a rebalance run as a
// child process of the test binary (see TestMain).
const rebalanceChildEnv = "SHIFTGATE_REBALANCE_CHILD"

// rebalanceChild runs the rebalance the spec describes and returns the
// exit code.
func rebalanceChild(spec string) int {
	var r rebalanceSpec
	if err := json.Unmarshal([]byte(spec), &r); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	rb, err := r.newRebalance()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if _, err := rb.Run(context.Background(), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestRebalanceResumesAfterSIGKILL kills a rebalance (4 md5 tables on b
// to 8, the new ones on a), running as a child process, with SIGKILL at
// random points, then lets it finish: after the host's delete the new
// layout holds every row exactly once.
func TestRebalanceResumesAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes for several seconds")
	}
	ctx := context.Background()
	l := newSplitLayout(t, "rb-from", 16_000)
	_, err := l.split(t).Run(ctx, nil)
	require.NoError(t, err)
	to := l.Layout
	to.Shards = 8
	to.Instances = []shard.Instance{{Name: "b", Databases: "1"}, {Name: "a", Databases: "2"}}
	dropRebalanceDatabases(t, l)
	spec := rebalanceSpec{From: l, To: to}
	spec.From.RowsPerSecond = 1_000 // three kills of at most 2 s each cannot see the 8,000 moving rows through
	data, err := json.Marshal(spec)
	require.NoError(t, err)
	// copied sums the rows the checkpoints count on both servers: the
	// split's, then the rebalance's steps'.
	copied := func() int64 {
		var total int64
		for _, s := range servers[:2] {
			var n int64
			_ = sandboxtest.Open(t, s, "").QueryRow("SELECT COALESCE(SUM(rows_copied), 0) FROM `" + l.CheckpointDB + "`.copy_segments").Scan(&n)
			total += n
		}
		return total
	}
	before := copied()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 18))
	partial := 0
	delay := time.Second // grows while kills come before the first chunk (a slow start on a loaded machine)
	for attempt := 0; attempt < 12 && partial < 3; attempt++ {
		sigkillChild(t, "rebalance", rebalanceChildEnv, data, delay/2+time.Duration(rng.Int64N(int64(delay))))
		n := copied() - before
		t.Logf("attempt %d killed: the checkpoints count %d rows of the rebalance", attempt+1, n)
		if n == 0 {
			delay += delay / 2
			continue
		}
		partial++
	}
	require.Positive(t, partial, "no kill came after the first chunk")

	report, err := spec.rebalanceNoLimit(t).Run(ctx, nil)
	require.NoError(t, err)
	assert.True(t, report.Resumed, "a step resumed from its checkpoint")
	deleteMoved(t, l, to)
	l.Layout = to
	assertSplit(t, l)
}

// rebalanceNoLimit is the rebalance of r without its rate limit.
func (r rebalanceSpec) rebalanceNoLimit(t testing.TB) *migrate.Rebalance {
	r.From.RowsPerSecond = 0
	rb, err := r.newRebalance()
	require.NoError(t, err)
	return rb
}

// dropRebalanceDatabases drops, when the test ends, the databases a
// rebalance from layout l ("rb-from") may create on either server: the
// new layout's database 2 and the staging databases.
func dropRebalanceDatabases(t testing.TB, l splitLayout) {
	first := l.router().Locations()[0].Database
	names := []string{first[:len(first)-1] + "2"}
	for n := 1; n <= 4; n++ {
		names = append(names, fmt.Sprintf("%s_rb%d", l.CheckpointDB, n))
	}
	t.Cleanup(func() {
		for _, s := range servers {
			if db, err := s.Open(""); err == nil {
				for _, name := range names {
					_, _ = db.Exec("DROP DATABASE IF EXISTS `" + name + "`")
				}
				db.Close()
			}
		}
	})
}
