package migrate_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/shard"
)

// seedShard is the seed's get_hash_val for n shards, computed apart from
// package shard: the independent check of the router's answers.
func seedShard(key string, n int) int {
	sum := md5.Sum([]byte(key))
	v, _ := new(big.Int).SetString(hex.EncodeToString(sum[:]), 16)
	return int(new(big.Int).Mod(v, big.NewInt(int64(n))).Int64()) + 1
}

// splitLayout is a test's layout, on the seed's recipe (shard.MD5):
//   - "one": test_1 .. test_32 in one database of the target server;
//   - "two": 2 databases x 4 tables, database 1 on the source server
//     (instance "a") and database 2 on the target ("b");
//   - "four": the seed's second layout, 4 databases x 8 tables
//     (db{m}.test_{n}), databases 1-2 on a and 3-4 on b.
type splitLayout struct {
	Layout       shard.Layout
	Source       string // source database
	Targets      map[string]string
	CheckpointDB string
	// RowsPerSecond slows the split down (0: no limit).
	RowsPerSecond float64
}

func (l splitLayout) router() *shard.Map {
	r, err := l.Layout.Router()
	if err != nil {
		panic(err)
	}
	return r
}

// server is the sandbox server of a layout instance.
func (l splitLayout) server(instance string) *sandbox.Server {
	if instance == "a" {
		return servers[0]
	}
	return servers[1]
}

func (l splitLayout) split(t testing.TB, opts ...migrate.SplitOption) *migrate.Split {
	opts = append([]migrate.SplitOption{migrate.WithCheckpointDatabase(l.CheckpointDB), migrate.WithChunkRows(500),
		migrate.WithSegmentRows(8000), migrate.WithThreads(3)}, opts...)
	if l.RowsPerSecond > 0 {
		opts = append(opts, migrate.WithRateLimit(l.RowsPerSecond, 0))
	}
	s, err := migrate.NewSplit(servers[0].DSN(""), l.Source, "test", "name", l.router(), l.Targets, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newSplitLayout creates the seed's table test(id, name, addTime) with
// rows rows in a new database on the source, and reserves the shard and
// checkpoint databases of a layout.
func newSplitLayout(t testing.TB, kind string, rows int) splitLayout {
	src := sandboxtest.NewDatabase(t, servers[0], "seed")
	db := sandboxtest.Open(t, servers[0], src)
	sandboxtest.Exec(t, db,
		"CREATE TABLE test (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL, addTime DATETIME NOT NULL, KEY (addTime))",
		fmt.Sprintf("INSERT INTO test (name, addTime) SELECT CONCAT('user', seq, IF(seq %% 7 = 0, '-é', '')), '2020-01-01' + INTERVAL seq MINUTE FROM seq_1_to_%d", rows),
		"ANALYZE TABLE test")
	base := targetName(t, servers[1])
	l := splitLayout{Source: src, Targets: map[string]string{}, CheckpointDB: base + "_cp"}
	switch kind {
	case "one":
		l.Layout = shard.Layout{Method: shard.MD5, Shards: 32, Database: base, Table: "test_{n}"}
		l.Targets[""] = servers[1].DSN("")
	case "two":
		l.Layout = shard.Layout{Method: shard.MD5, Shards: 8, TablesPerDatabase: 4, Database: base + "_{m}", Table: "test_{k}",
			Instances: []shard.Instance{{Name: "a", Databases: "1"}, {Name: "b", Databases: "2"}}}
	case "four":
		l.Layout = shard.Layout{Method: shard.MD5, Shards: 32, TablesPerDatabase: 8, Database: base + "_{m}", Table: "test_{n}",
			Instances: []shard.Instance{{Name: "a", Databases: "1-2"}, {Name: "b", Databases: "3-4"}}}
	case "rb-from":
		// A Rebalance's from layout: 4 tables in database 1 on b.
		l.Layout = shard.Layout{Method: shard.MD5, Shards: 4, TablesPerDatabase: 4, Database: base + "_{m}", Table: "test_{n}",
			Instances: []shard.Instance{{Name: "b", Databases: "1"}}}
	default:
		t.Fatalf("unknown layout %q", kind)
	}
	if kind != "one" {
		l.Targets["a"], l.Targets["b"] = servers[0].DSN(""), servers[1].DSN("")
	}
	dbs := map[string]bool{l.CheckpointDB: true}
	for _, loc := range l.router().Locations() {
		dbs[loc.Database] = true
	}
	t.Cleanup(func() {
		for _, s := range servers {
			if db, err := s.Open(""); err == nil {
				for name := range dbs {
					_, _ = db.Exec("DROP DATABASE IF EXISTS `" + name + "`")
				}
				db.Close()
			}
		}
	})
	return l
}

// assertSplit checks that every source row is in exactly one shard, the
// one its name routes to, with the same values.
func assertSplit(t *testing.T, l splitLayout) {
	t.Helper()
	type row struct{ name, added string }
	want := map[int64]row{}
	rows, err := sandboxtest.Open(t, servers[0], l.Source).Query("SELECT id, name, addTime FROM test")
	require.NoError(t, err)
	for rows.Next() {
		var id int64
		var r row
		require.NoError(t, rows.Scan(&id, &r.name, &r.added))
		want[id] = r
	}
	require.NoError(t, rows.Err())
	r := l.router()
	got := 0
	for _, loc := range r.Locations() {
		db := sandboxtest.Open(t, l.server(loc.Instance), loc.Database)
		var count int64
		require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM `"+loc.Table+"`").Scan(&count))
		rows, err := db.Query("SELECT id, name, addTime FROM `" + loc.Table + "`")
		require.NoError(t, err)
		n := int64(0)
		for rows.Next() {
			var id int64
			var x row
			require.NoError(t, rows.Scan(&id, &x.name, &x.added))
			w, ok := want[id]
			if !assert.True(t, ok, "row %d in %s is not in the source, or in two shards", id, loc) {
				continue
			}
			assert.Equal(t, w, x, "row %d in %s", id, loc)
			assert.Equal(t, loc.Shard, seedShard(x.name, len(r.Locations())), "row %d (%q) is in the wrong shard %s", id, x.name, loc)
			delete(want, id)
			n++
		}
		require.NoError(t, rows.Err())
		assert.Equal(t, count, n, "COUNT(*) of %s", loc)
		got += int(n)
	}
	assert.Empty(t, want, "source rows missing from every shard")
}

func TestSplitIntoShards(t *testing.T) {
	ctx := context.Background()
	for kind, rows := range map[string]int{"one": 50_000, "two": 50_000, "four": 20_000} {
		t.Run(kind, func(t *testing.T) {
			l := newSplitLayout(t, kind, rows)
			s := l.split(t)
			plan, err := s.Plan(ctx)
			require.NoError(t, err)
			require.Len(t, plan.Tables, len(l.router().Locations()))
			var expected int64
			for _, tp := range plan.Tables {
				assert.False(t, tp.TargetExists)
				assert.Contains(t, tp.CreateTable, "CREATE TABLE `")
				expected += tp.Rows
			}
			assert.InDelta(t, rows, expected, float64(rows)/25, "the sample spreads the estimate over the shards")
			assert.Equal(t, []string{"addTime"}, plan.Tables[0].DeferredIndexes)
			assert.NotContains(t, plan.Tables[0].CreateTable, "KEY `addTime`")
			var last migrate.Progress
			report, err := s.Run(ctx, func(p migrate.Progress) { last = p })
			require.NoError(t, err)
			assert.Equal(t, int64(rows), report.Rows)
			assert.False(t, report.Position.IsZero(), "the source's binlog position at the snapshot")
			assert.True(t, report.Consistent)
			for _, loc := range l.router().Locations() {
				assertIndex(t, l.server(loc.Instance), loc.Database, loc.Table, "addTime")
			}
			assert.Equal(t, 1, last.TablesDone)
			assertSplit(t, l)

			// Run again: the shards hold rows of a finished split, and a
			// split does not replace them.
			_, err = l.split(t).Plan(ctx)
			require.ErrorIs(t, err, migrate.ErrNotEmpty)
			// WithReplace drops them and splits again.
			sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], l.Source), "UPDATE test SET name = CONCAT(name, 'x') WHERE id % 5 = 0")
			_, err = l.split(t, migrate.WithReplace()).Run(ctx, nil)
			require.NoError(t, err)
			assertSplit(t, l)
		})
	}
}

// TestSplitKeyExpression routes on an expression: LOWER(name) of rows
// whose names differ in case goes to the shard of the lower-case name.
func TestSplitKeyExpression(t *testing.T) {
	ctx := context.Background()
	l := newSplitLayout(t, "one", 2_000)
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], l.Source), "UPDATE test SET name = UPPER(name) WHERE id % 2 = 0")
	_, err := l.split(t, migrate.WithKeyExpression("LOWER(name)")).Run(ctx, nil)
	require.NoError(t, err)
	for _, loc := range l.router().Locations() {
		rows, err := sandboxtest.Open(t, l.server(loc.Instance), loc.Database).Query("SELECT LOWER(name) FROM `" + loc.Table + "`")
		require.NoError(t, err)
		for rows.Next() {
			var name string
			require.NoError(t, rows.Scan(&name))
			require.Equal(t, loc.Shard, seedShard(name, 32), name)
		}
		require.NoError(t, rows.Err())
	}
}

// splitChildEnv holds the JSON splitLayout of a split run as a child
// process of the test binary (see TestMain).
const splitChildEnv = "SHIFTGATE_SPLIT_CHILD"

// splitChild runs the split the layout describes and returns the exit
// code.
func splitChild(spec string) int {
	var l splitLayout
	if err := json.Unmarshal([]byte(spec), &l); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	targets := maps.Clone(l.Targets)
	delete(targets, "src")
	s, err := migrate.NewSplit(l.Targets["src"], l.Source, "test", "name", l.router(), targets,
		migrate.WithCheckpointDatabase(l.CheckpointDB), migrate.WithChunkRows(500), migrate.WithSegmentRows(8000), migrate.WithThreads(3),
		migrate.WithRateLimit(l.RowsPerSecond, 0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if _, err := s.Run(context.Background(), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestSplitResumesAfterSIGKILL kills a split into two servers, running as
// a child process, with SIGKILL at random points, then lets it finish, and
// checks that every row is in exactly its shard.
func TestSplitResumesAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes for several seconds")
	}
	ctx := context.Background()
	const total = 50_000
	l := newSplitLayout(t, "two", total)
	l.RowsPerSecond = 5_000
	child := l
	child.Targets = maps.Clone(l.Targets)
	child.Targets["src"] = servers[0].DSN("")
	spec, err := json.Marshal(child)
	require.NoError(t, err)
	checkpointRows := func() (int64, int64) {
		var a, b int64
		for i, n := range []*int64{&a, &b} {
			_ = sandboxtest.Open(t, servers[i], "").QueryRow("SELECT COALESCE(SUM(rows_copied), 0) FROM `" + l.CheckpointDB + "`.copy_segments").Scan(n)
		}
		return a, b
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 16))
	partial := 0
	delay := time.Second // grows while kills come before the first chunk (a slow start under -race)
	for attempt := 0; attempt < 12 && partial < 3; attempt++ {
		sigkillChild(t, "split", splitChildEnv, spec, delay/2+time.Duration(rng.Int64N(int64(delay))))
		a, b := checkpointRows()
		t.Logf("attempt %d: checkpoints count %d rows on a, %d on b", attempt+1, a, b)
		switch {
		case a+b == 0:
			delay += delay / 2
		case a+b < total:
			partial++
		}
	}
	require.GreaterOrEqual(t, partial, 2, "too few kills hit the split part-way")

	s := l.split(t)
	plan, err := s.Plan(ctx)
	require.NoError(t, err, "a rerun after a kill resumes")
	assert.True(t, plan.Tables[0].Resume)
	report, err := s.Run(ctx, nil)
	require.NoError(t, err)
	assert.True(t, report.Resumed)
	assert.Equal(t, int64(total), report.Rows)
	assert.False(t, report.Position.IsZero(), "the first run's position")
	assert.Contains(t, report.PositionNote(), "NOT consistent")
	assertSplit(t, l)
}

// TestSplitRewindsAServerThatIsAhead interrupts a split into two servers,
// then sets server a back to the start of segment 0 as if its chunks
// there had never committed while server b's had: the rerun must take b
// back to the same point (or b's LOAD DATA meets its own rows again) and
// end exact.
func TestSplitRewindsAServerThatIsAhead(t *testing.T) {
	ctx := context.Background()
	l := newSplitLayout(t, "two", 20_000)
	l.RowsPerSecond = 5_000
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := l.split(t, migrate.WithThreads(1)).Run(cctx, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	a := sandboxtest.Open(t, servers[0], "")
	var last string
	var chunks int
	require.NoError(t, a.QueryRow("SELECT last_key, chunks FROM `"+l.CheckpointDB+"`.copy_segments WHERE segment = 0").Scan(&last, &chunks))
	require.GreaterOrEqual(t, chunks, 2, "the split was interrupted before two chunks")
	var key []struct{ I int64 }
	require.NoError(t, json.Unmarshal([]byte(last), &key))
	for _, loc := range l.router().Locations() {
		if loc.Instance == "a" {
			sandboxtest.Exec(t, a, fmt.Sprintf("DELETE FROM `%s`.`%s` WHERE id <= %d", loc.Database, loc.Table, key[0].I))
		}
	}
	sandboxtest.Exec(t, a, "UPDATE `"+l.CheckpointDB+"`.copy_segments SET last_key = '', chunks = 0, rows_copied = 0, done = 0 WHERE segment = 0")

	l.RowsPerSecond = 0
	report, err := l.split(t).Run(ctx, nil)
	require.NoError(t, err)
	assert.True(t, report.Resumed)
	assertSplit(t, l)
}

// TestSplitResumesBetweenFinishes: a split killed while it marked its
// servers done one by one (one done, the other still copying) finishes
// when run again instead of refusing its own rows.
func TestSplitResumesBetweenFinishes(t *testing.T) {
	ctx := context.Background()
	l := newSplitLayout(t, "two", 3_000)
	_, err := l.split(t).Run(ctx, nil)
	require.NoError(t, err)
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[1], ""), "UPDATE `"+l.CheckpointDB+"`.copy_runs SET state = 'copying'")
	report, err := l.split(t).Run(ctx, nil)
	require.NoError(t, err, "the rerun resumes")
	assert.True(t, report.Resumed)
	assertSplit(t, l)
}

// assertIndex checks that database.table on s has the index.
func assertIndex(t *testing.T, s *sandbox.Server, database, table, index string) {
	t.Helper()
	var n int
	require.NoError(t, sandboxtest.Open(t, s, "").QueryRow("SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = ?",
		database, table, index).Scan(&n))
	assert.NotZero(t, n, "index %s of %s.%s", index, database, table)
}

// sigkillChild runs the test binary again as a child process with env set
// to spec (see TestMain) and kills it with SIGKILL after delay; the child
// must still be running then.
func sigkillChild(t *testing.T, what, env string, spec []byte, delay time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"="+string(spec))
	out := &limitedWriter{max: 4096}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		require.NoError(t, err, "the %s failed before it was killed: %s", what, out)
		t.Fatalf("the %s finished before it was killed: slow it down", what)
	case <-time.After(delay):
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		<-exited
	}
}
