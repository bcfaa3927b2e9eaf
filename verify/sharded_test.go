package verify_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/shard"
	"github.com/shiftgate/shiftgate/verify"
)

// md5Router is the seed's recipe, int(md5(key).hexdigest(), 16) % n + 1:
// a router of the tests' own, independent of package shard's.
type md5Router struct{ locs []shard.Location }

func (r *md5Router) Locations() []shard.Location { return r.locs }

func (r *md5Router) Route(k shard.Key) (shard.Location, error) {
	s := k.Str()
	if k.Kind() == shard.KindInt {
		s = strconv.FormatInt(k.Int(), 10)
	}
	return r.locs[seedShard(s, len(r.locs))-1], nil
}

// seedShard is the seed's get_hash_val for n shards.
func seedShard(key string, n int) int {
	sum := md5.Sum([]byte(key))
	v, _ := new(big.Int).SetString(hex.EncodeToString(sum[:]), 16)
	return int(new(big.Int).Mod(v, big.NewInt(int64(n))).Int64()) + 1
}

// shardLayout is a source table test(id, name, addTime) on servers[0]
// split by md5(name) into "one": test_1 .. test_32 in one database on
// servers[1] (instance "b"), or "two": 2 databases x 4 tables, the first
// on servers[0] (instance "a"), the second on servers[1] ("b").
type shardLayout struct {
	source string
	router *md5Router
	dbs    map[string]string // instance to its shard database
}

func (l shardLayout) server(instance string) *sandbox.Server {
	if instance == "a" {
		return servers[0]
	}
	return servers[1]
}

func (l shardLayout) hosts(t *testing.T) map[string]*sql.DB {
	out := map[string]*sql.DB{}
	for in := range l.dbs {
		out[in] = sandboxtest.Open(t, l.server(in), "")
	}
	return out
}

// shardDB opens the database of shard n.
func (l shardLayout) shardDB(t *testing.T, n int) (*sql.DB, shard.Location) {
	loc := l.router.locs[n-1]
	return sandboxtest.Open(t, l.server(loc.Instance), loc.Database), loc
}

// newShardLayout creates the source table with rows rows, runs stmts on
// it, and splits it into the layout kind with migrate.Split and opts.
func newShardLayout(t *testing.T, kind string, rows int, stmts []string, opts ...migrate.SplitOption) shardLayout {
	src := sandboxtest.NewDatabase(t, servers[0], "shsrc")
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], src),
		"CREATE TABLE test (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL, addTime DATETIME NOT NULL, KEY (addTime))",
		fmt.Sprintf("INSERT INTO test (name, addTime) SELECT CONCAT('user', seq, IF(seq %% 7 = 0, '-é', '')), '2020-01-01' + INTERVAL seq MINUTE FROM seq_1_to_%d", rows),
		"ANALYZE TABLE test")
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], src), stmts...)
	return splitLayout(t, src, kind, opts...)
}

// splitLayout splits the table test of database src on servers[0] into a
// new layout of kind (see shardLayout) with migrate.Split and opts.
func splitLayout(t *testing.T, src, kind string, opts ...migrate.SplitOption) shardLayout {
	ctx := context.Background()
	l := shardLayout{source: src, router: &md5Router{}, dbs: map[string]string{}}
	targets := map[string]string{"b": servers[1].DSN("")}
	if kind == "one" {
		l.dbs["b"] = sandboxtest.NewDatabase(t, servers[1], "shone")
		for n := 1; n <= 32; n++ {
			l.router.locs = append(l.router.locs, shard.Location{Shard: n, Instance: "b", Database: l.dbs["b"], Table: fmt.Sprintf("test_%d", n)})
		}
	} else {
		targets["a"] = servers[0].DSN("")
		l.dbs["a"] = sandboxtest.NewDatabase(t, servers[0], "shtwo")
		l.dbs["b"] = sandboxtest.NewDatabase(t, servers[1], "shtwo")
		for n := 1; n <= 8; n++ {
			in := string(rune('a' + (n-1)/4))
			l.router.locs = append(l.router.locs, shard.Location{Shard: n, Instance: in, Database: l.dbs[in], Table: fmt.Sprintf("test_%d", (n-1)%4+1)})
		}
	}
	// The checkpoint database has one name on every shard server: reserve
	// it on one, and drop it on both after.
	cp := sandboxtest.NewDatabase(t, servers[1], "shcp")
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[1], ""), "DROP DATABASE `"+cp+"`")
	t.Cleanup(func() {
		for _, s := range servers {
			if db, err := s.Open(""); err == nil {
				_, _ = db.Exec("DROP DATABASE IF EXISTS `" + cp + "`")
				db.Close()
			}
		}
	})
	s, err := migrate.NewSplit(servers[0].DSN(""), src, "test", "name", l.router, targets,
		append([]migrate.SplitOption{migrate.WithCheckpointDatabase(cp), migrate.WithThreads(2)}, opts...)...)
	require.NoError(t, err)
	_, err = s.Run(ctx, nil)
	require.NoError(t, err)
	return l
}

// idsByShard reads id -> (name, shard) of the source rows with the given ids.
func (l shardLayout) shardOf(t *testing.T, id int) int {
	var name string
	require.NoError(t, sandboxtest.Open(t, servers[0], l.source).QueryRow("SELECT name FROM test WHERE id = ?", id).Scan(&name))
	return seedShard(name, len(l.router.locs))
}

// neighbour is another shard in the same database as shard n.
func (l shardLayout) neighbour(n int) int {
	per := len(l.router.locs)
	if per == 8 {
		per = 4
	}
	first := (n-1)/per*per + 1
	return first + (n-first+1)%per
}

// diffLines renders a sharded report's differences as "kind id shard found columns".
func diffLines(r *verify.ShardedReport) []string {
	var out []string
	for _, d := range r.Diffs {
		var found []string
		for _, f := range d.Found {
			found = append(found, strconv.Itoa(f.Shard))
		}
		out = append(out, fmt.Sprintf("%s %s %d [%s] %s", d.Kind, strings.Join(d.Key, ","), d.Shard, strings.Join(found, ","), strings.Join(d.Columns, ",")))
	}
	return out
}

// TestShardedVerifyFindsExactlyTheDamage splits the seed's table into 32
// tables on one server and into 2 servers x 4 tables, verifies clean,
// then corrupts one row, moves one to a wrong shard, deletes one,
// duplicates one and adds one; verify names exactly those, the repair
// fixes them and a second verify is clean.
func TestShardedVerifyFindsExactlyTheDamage(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"one", "two"} {
		t.Run(kind, func(t *testing.T) {
			const rows = 30_000
			l := newShardLayout(t, kind, rows, nil)
			src := sandboxtest.Open(t, servers[0], l.source)
			v, err := verify.NewSharded(src, l.source, "test", "name", l.router, l.hosts(t), verify.WithParallelism(2))
			require.NoError(t, err)
			rep, err := v.Verify(ctx)
			require.NoError(t, err)
			require.Empty(t, rep.Unverified)
			assert.True(t, rep.Clean(), "%v", diffLines(rep))
			assert.Equal(t, int64(rows), rep.Rows)
			assert.Equal(t, int64(rows), rep.ShardRows)
			assert.Zero(t, rep.DifferingChunks)
			assert.Len(t, rep.Shards, len(l.router.locs))

			// A source without CRC32C() (as on MySQL): every server hashes
			// with CRC32(), and the same rows sum alike.
			var logs bytes.Buffer
			v32, err := verify.NewSharded(src, l.source, "test", "name", l.router, l.hosts(t), verify.WithParallelism(2),
				verify.WithoutCRC32C(src), verify.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			require.NoError(t, err)
			rep32, err := v32.Verify(ctx)
			require.NoError(t, err)
			assert.True(t, rep32.Clean(), "%v", diffLines(rep32))
			assert.Zero(t, rep32.DifferingChunks)
			assert.Contains(t, logs.String(), "the row hash uses CRC32()")

			const changed, moved, deleted, duplicated, scattered, extra = 1001, 2002, 3003, 4004, 5005, 99999
			cs, ms, ds, dups, sc := l.shardOf(t, changed), l.shardOf(t, moved), l.shardOf(t, deleted), l.shardOf(t, duplicated), l.shardOf(t, scattered)
			sc1, sc2 := l.neighbour(sc), l.neighbour(l.neighbour(sc))
			db, loc := l.shardDB(t, cs)
			sandboxtest.Exec(t, db, fmt.Sprintf("UPDATE `%s` SET addTime = addTime + INTERVAL 1 SECOND WHERE id = %d", loc.Table, changed))
			db, loc = l.shardDB(t, ms)
			_, wrong := l.shardDB(t, l.neighbour(ms))
			sandboxtest.Exec(t, db,
				fmt.Sprintf("INSERT INTO `%s` SELECT * FROM `%s` WHERE id = %d", wrong.Table, loc.Table, moved),
				fmt.Sprintf("DELETE FROM `%s` WHERE id = %d", loc.Table, moved))
			db, loc = l.shardDB(t, ds)
			sandboxtest.Exec(t, db, fmt.Sprintf("DELETE FROM `%s` WHERE id = %d", loc.Table, deleted))
			db, loc = l.shardDB(t, dups)
			_, other := l.shardDB(t, l.neighbour(dups))
			sandboxtest.Exec(t, db, fmt.Sprintf("INSERT INTO `%s` SELECT * FROM `%s` WHERE id = %d", other.Table, loc.Table, duplicated))
			// Copied to two wrong shards of one server (one query reads
			// both) and gone from its own.
			db, loc = l.shardDB(t, sc)
			_, w1 := l.shardDB(t, sc1)
			_, w2 := l.shardDB(t, sc2)
			sandboxtest.Exec(t, db,
				fmt.Sprintf("INSERT INTO `%s` SELECT * FROM `%s` WHERE id = %d", w1.Table, loc.Table, scattered),
				fmt.Sprintf("INSERT INTO `%s` SELECT * FROM `%s` WHERE id = %d", w2.Table, loc.Table, scattered),
				fmt.Sprintf("DELETE FROM `%s` WHERE id = %d", loc.Table, scattered))
			db, loc = l.shardDB(t, 3)
			sandboxtest.Exec(t, db, fmt.Sprintf("INSERT INTO `%s` VALUES (%d, 'ghost', '2021-01-01')", loc.Table, extra))

			rep, err = v.Verify(ctx)
			require.NoError(t, err)
			assert.False(t, rep.Clean())
			assert.Equal(t, []string{
				fmt.Sprintf("changed %d %d [%d] addTime", changed, cs, cs),
				fmt.Sprintf("misplaced %d %d [%d] ", moved, ms, l.neighbour(ms)),
				fmt.Sprintf("missing %d %d [] ", deleted, ds),
				fmt.Sprintf("duplicated %d %d [%s] ", duplicated, dups, sortedPair(dups, l.neighbour(dups))),
				fmt.Sprintf("duplicated %d %d [%s] ", scattered, sc, sortedPair(sc1, sc2)),
				fmt.Sprintf("extra %d 0 [3] ", extra),
			}, diffLines(rep))
			assert.Equal(t, [5]int64{1, 1, 1, 1, 2}, [5]int64{rep.Missing, rep.Extra, rep.Changed, rep.Misplaced, rep.Duplicated})
			assert.Equal(t, int64(rows), rep.Rows)
			assert.Equal(t, int64(rows+2), rep.ShardRows, "one deleted, one duplicated, one in two shards, one extra")

			// Per shard: what each must change.
			want := map[int][3]int64{} // shard: missing, extra, changed
			add := func(n, i int) { w := want[n]; w[i]++; want[n] = w }
			add(cs, 2)
			add(ms, 0)
			add(l.neighbour(ms), 1)
			add(ds, 0)
			add(l.neighbour(dups), 1)
			add(sc, 0)
			add(sc1, 1)
			add(sc2, 1)
			add(3, 1)
			for _, s := range rep.Shards {
				assert.Equal(t, want[s.Location.Shard], [3]int64{s.Missing, s.Extra, s.Changed}, "shard %d", s.Location.Shard)
			}
			var sqlText bytes.Buffer
			for _, in := range rep.Instances() {
				require.NoError(t, rep.WriteRepairSQL(&sqlText, in))
			}
			assert.Contains(t, sqlText.String(), fmt.Sprintf("DELETE FROM `%s`.`%s` WHERE `id` IN (%d)", wrong.Database, wrong.Table, moved))
			var text bytes.Buffer
			require.NoError(t, rep.WriteText(&text))
			assert.Contains(t, text.String(), fmt.Sprintf("misplaced  (id) = (%d), routes to shard %d, in shard %d", moved, ms, l.neighbour(ms)))

			res, err := v.Repair(ctx, rep)
			require.NoError(t, err)
			assert.True(t, res.Complete)
			assert.Equal(t, int64(5), res.Deleted, "the misplaced, duplicated and extra copies")
			assert.Equal(t, int64(4), res.Written, "the changed, misplaced, deleted and scattered rows")

			// Again, all servers read at one point (one server holds both
			// the source and shards in layout two: locked twice).
			v, err = verify.NewSharded(src, l.source, "test", "name", l.router, l.hosts(t), verify.WithParallelism(2),
				verify.WithSnapshot(verify.SnapshotLocked))
			require.NoError(t, err)
			rep, err = v.Verify(ctx)
			require.NoError(t, err)
			assert.True(t, rep.Clean(), "%v", diffLines(rep))
			assert.Equal(t, int64(rows), rep.ShardRows)
		})
	}
}

func sortedPair(a, b int) string {
	return fmt.Sprintf("%d,%d", min(a, b), max(a, b))
}

// TestShardedVerifyKeyExpression routes on LOWER(name), as the split did:
// clean; routed on name instead, the rows whose names are in upper case
// are reported misplaced.
func TestShardedVerifyKeyExpression(t *testing.T) {
	ctx := context.Background()
	l := newShardLayout(t, "one", 3_000, []string{"UPDATE test SET name = UPPER(name) WHERE id % 100 = 0"},
		migrate.WithKeyExpression("LOWER(name)"))
	src := sandboxtest.Open(t, servers[0], l.source)
	v, err := verify.NewSharded(src, l.source, "test", "name", l.router, l.hosts(t), verify.WithKeyExpression("LOWER(name)"))
	require.NoError(t, err)
	rep, err := v.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, rep.Clean(), "%v", diffLines(rep))

	v, err = verify.NewSharded(src, l.source, "test", "name", l.router, l.hosts(t), verify.WithSampleLimit(5))
	require.NoError(t, err)
	rep, err = v.Verify(ctx)
	require.NoError(t, err)
	// An upper-case name routes elsewhere, except where both spellings
	// happen to route to one shard.
	var want int64
	rows, err := src.Query("SELECT name FROM test WHERE id % 100 = 0")
	require.NoError(t, err)
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		if seedShard(name, 32) != seedShard(strings.ToLower(name), 32) {
			want++
		}
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, want, rep.Misplaced)
	assert.Equal(t, want, rep.Differences())
	assert.True(t, rep.Truncated)
	assert.Len(t, rep.Diffs, 5)
}

// TestShardedVerifyRefuses checks the constructor's checks, the refusal
// of a shard that is the source table, and a repair refused, with nothing
// changed, because of a trigger on a shard.
func TestShardedVerifyRefuses(t *testing.T) {
	ctx := context.Background()
	db := sandboxtest.NewDatabase(t, servers[0], "shref")
	src := sandboxtest.Open(t, servers[0], db)
	sandboxtest.Exec(t, src,
		"CREATE TABLE test (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL)",
		"CREATE TABLE s1 LIKE test", "CREATE TABLE s2 LIKE test",
		"INSERT INTO test VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')")
	router := func(tables ...string) *md5Router {
		r := &md5Router{}
		for i, tb := range tables {
			r.locs = append(r.locs, shard.Location{Shard: i + 1, Database: db, Table: tb})
		}
		return r
	}
	hosts := map[string]*sql.DB{"": sandboxtest.Open(t, servers[0], "")}
	for name, c := range map[string]struct {
		router shard.Router
		hosts  map[string]*sql.DB
		opts   []verify.ShardedOption
	}{
		"nil router":   {nil, hosts, nil},
		"no host":      {router("s1", "s2"), map[string]*sql.DB{"x": src}, nil},
		"recheck":      {router("s1", "s2"), hosts, []verify.ShardedOption{verify.WithRecheck(1, 1)}},
		"exact chunks": {router("s1", "s2"), hosts, []verify.ShardedOption{verify.WithExactChunks()}},
		"twice":        {router("s1", "s1"), hosts, nil},
		"nil option":   {router("s1", "s2"), hosts, []verify.ShardedOption{nil}},
	} {
		_, err := verify.NewSharded(src, db, "test", "name", c.router, c.hosts, c.opts...)
		assert.Error(t, err, name)
	}

	// Shard 2 is the source table, reached through another pool.
	v, err := verify.NewSharded(src, db, "test", "name", router("s1", "test"), hosts)
	require.NoError(t, err)
	_, err = v.Verify(ctx)
	require.ErrorIs(t, err, verify.ErrSameTable)

	v, err = verify.NewSharded(src, db, "test", "name", router("s1", "s2"), hosts)
	require.NoError(t, err)
	rep, err := v.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(4), rep.Missing)
	sandboxtest.Exec(t, src, "CREATE TRIGGER s2_ins BEFORE INSERT ON s2 FOR EACH ROW SET NEW.name = UPPER(NEW.name)")
	_, err = v.Repair(ctx, rep)
	require.ErrorIs(t, err, verify.ErrTriggers)
	assert.Contains(t, err.Error(), "s2_ins")
	var n int
	require.NoError(t, src.QueryRow("SELECT (SELECT COUNT(*) FROM s1) + (SELECT COUNT(*) FROM s2)").Scan(&n))
	assert.Zero(t, n, "nothing repaired on any shard")
}

// TestReshardedVerify splits the seed's table into 2 servers x 4 tables
// and into 32 tables, and verifies the second layout against the first:
// clean; then, in the 32 tables, a row deleted, a row changed and a row
// moved to a wrong shard are named exactly, and a key in two tables of the
// source layout is an error.
func TestReshardedVerify(t *testing.T) {
	ctx := context.Background()
	const rows = 20_000
	from := newShardLayout(t, "two", rows, nil)
	to := splitLayout(t, from.source, "one")
	newVerifier := func() *verify.ShardedVerifier {
		v, err := verify.NewResharded(from.router, from.hosts(t), "name", to.router, to.hosts(t), verify.WithParallelism(2))
		require.NoError(t, err)
		return v
	}
	rep, err := newVerifier().Verify(ctx)
	require.NoError(t, err)
	assert.True(t, rep.Clean(), "%v", diffLines(rep))
	assert.Equal(t, int64(rows), rep.Rows)
	assert.Equal(t, int64(rows), rep.ShardRows)
	require.Len(t, rep.SourceShards, 8)
	assert.Equal(t, from.router.locs[7], rep.SourceShards[7].Location)

	const changed, moved, deleted = 1234, 5678, 9012
	cs, ms, ds := to.shardOf(t, changed), to.shardOf(t, moved), to.shardOf(t, deleted)
	db, loc := to.shardDB(t, cs)
	sandboxtest.Exec(t, db, fmt.Sprintf("UPDATE `%s` SET addTime = addTime + INTERVAL 1 SECOND WHERE id = %d", loc.Table, changed))
	db, loc = to.shardDB(t, ms)
	_, wrong := to.shardDB(t, to.neighbour(ms))
	sandboxtest.Exec(t, db,
		fmt.Sprintf("INSERT INTO `%s` SELECT * FROM `%s` WHERE id = %d", wrong.Table, loc.Table, moved),
		fmt.Sprintf("DELETE FROM `%s` WHERE id = %d", loc.Table, moved))
	db, loc = to.shardDB(t, ds)
	sandboxtest.Exec(t, db, fmt.Sprintf("DELETE FROM `%s` WHERE id = %d", loc.Table, deleted))

	v := newVerifier()
	rep, err = v.Verify(ctx)
	require.NoError(t, err)
	assert.False(t, rep.Clean())
	assert.Equal(t, []string{
		fmt.Sprintf("changed %d %d [%d] addTime", changed, cs, cs),
		fmt.Sprintf("misplaced %d %d [%d] ", moved, ms, to.neighbour(ms)),
		fmt.Sprintf("missing %d %d [] ", deleted, ds),
	}, diffLines(rep))
	assert.Equal(t, int64(rows), rep.Rows)
	var text bytes.Buffer
	require.NoError(t, rep.WriteText(&text))
	assert.Contains(t, text.String(), "verify 8 source shards (first ")
	assert.Contains(t, text.String(), fmt.Sprintf("misplaced  (id) = (%d), routes to shard %d, in shard %d", moved, ms, to.neighbour(ms)))

	res, err := v.Repair(ctx, rep)
	require.NoError(t, err)
	assert.Equal(t, int64(1), res.Deleted)
	rep, err = newVerifier().Verify(ctx)
	require.NoError(t, err)
	assert.True(t, rep.Clean(), "%v", diffLines(rep))

	// A key in two source tables: the source has no one row of it.
	db, loc = from.shardDB(t, 1)
	_, other := from.shardDB(t, 2)
	sandboxtest.Exec(t, db, fmt.Sprintf("INSERT INTO `%s` SELECT id, name, addTime + INTERVAL 1 SECOND FROM `%s` WHERE id = (SELECT MIN(id) FROM `%s`)", other.Table, loc.Table, loc.Table))
	_, err = newVerifier().Verify(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "more than one source table")
}

// TestReshardedVerifyRefuses checks that a source table defined unlike
// the first and bad layouts are refused.
func TestReshardedVerifyRefuses(t *testing.T) {
	ctx := context.Background()
	db := sandboxtest.NewDatabase(t, servers[0], "rsref")
	pool := sandboxtest.Open(t, servers[0], db)
	sandboxtest.Exec(t, pool,
		"CREATE TABLE a1 (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL)", "CREATE TABLE a2 (id INT PRIMARY KEY, name VARCHAR(30) NOT NULL)",
		"CREATE TABLE b1 LIKE a1", "CREATE TABLE b2 LIKE a1")
	layout := func(tables ...string) *md5Router {
		r := &md5Router{}
		for i, tb := range tables {
			r.locs = append(r.locs, shard.Location{Shard: i + 1, Database: db, Table: tb})
		}
		return r
	}
	hosts := map[string]*sql.DB{"": sandboxtest.Open(t, servers[0], "")}
	v, err := verify.NewResharded(layout("a1", "a2"), hosts, "name", layout("b1", "b2"), hosts)
	require.NoError(t, err)
	_, err = v.Verify(ctx)
	require.ErrorIs(t, err, verify.ErrMismatch)
	assert.Contains(t, err.Error(), "`a2`")

	_, err = verify.NewResharded(layout("a1", "a1"), hosts, "name", layout("b1", "b2"), hosts)
	assert.Error(t, err)
	_, err = verify.NewResharded(layout("a1"), map[string]*sql.DB{"x": pool}, "name", layout("b1", "b2"), hosts)
	assert.Error(t, err)
}

// TestReshardedVerifyInPlace doubles md5 over 4 tables to 8 in place, as
// migrate.Rebalance does: tables 1-4 are in both layouts, the rows that
// move are copied to tables 5-8 and stay in their old table until the
// host deletes them. The new layout verifies clean against the old; a
// moved row missing from its new table, or changed there, is named, and a
// repair that would write to a shared table is refused.
func TestReshardedVerifyInPlace(t *testing.T) {
	ctx := context.Background()
	const rows = 8_000
	src := sandboxtest.NewDatabase(t, servers[0], "ipsrc")
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], src),
		"CREATE TABLE test (id INT NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL, addTime DATETIME NOT NULL)",
		fmt.Sprintf("INSERT INTO test SELECT seq, CONCAT('user', seq), '2020-01-01' + INTERVAL seq MINUTE FROM seq_1_to_%d", rows))
	dbName := sandboxtest.NewDatabase(t, servers[1], "ipshards")
	db := sandboxtest.Open(t, servers[1], dbName)
	layout := func(n int) *md5Router {
		r := &md5Router{}
		for i := 1; i <= n; i++ {
			r.locs = append(r.locs, shard.Location{Shard: i, Instance: "b", Database: dbName, Table: fmt.Sprintf("test_%d", i)})
		}
		return r
	}
	from, to := layout(4), layout(8)
	for i := 1; i <= 8; i++ {
		sandboxtest.Exec(t, db, fmt.Sprintf("CREATE TABLE test_%d (id INT NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL, addTime DATETIME NOT NULL)", i))
	}
	// The old layout, then the copy of the moving rows: md5 % 8 is the low
	// three bits, shard r+1 of 8 takes from shard r%4+1 of 4.
	srcRows, err := sandboxtest.Open(t, servers[0], src).Query("SELECT id, name, addTime FROM test")
	require.NoError(t, err)
	var inserts []string
	for srcRows.Next() {
		var id int
		var name, at string
		require.NoError(t, srcRows.Scan(&id, &name, &at))
		n8 := seedShard(name, 8)
		n4 := (n8-1)%4 + 1
		require.Equal(t, seedShard(name, 4), n4)
		inserts = append(inserts, fmt.Sprintf("INSERT INTO test_%d VALUES (%d, '%s', '%s')", n4, id, name, at))
		if n8 != n4 {
			inserts = append(inserts, fmt.Sprintf("INSERT INTO test_%d VALUES (%d, '%s', '%s')", n8, id, name, at))
		}
	}
	require.NoError(t, srcRows.Err())
	tx, err := db.Begin()
	require.NoError(t, err)
	for _, q := range inserts {
		_, err := tx.Exec(q)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())

	hosts := map[string]*sql.DB{"b": sandboxtest.Open(t, servers[1], "")}
	newVerifier := func() *verify.ShardedVerifier {
		v, err := verify.NewResharded(from, hosts, "name", to, hosts, verify.WithParallelism(2))
		require.NoError(t, err)
		return v
	}
	rep, err := newVerifier().Verify(ctx)
	require.NoError(t, err)
	assert.True(t, rep.Clean(), "%v", diffLines(rep))
	assert.Equal(t, int64(rows), rep.Rows)
	assert.Equal(t, int64(rows), rep.ShardRows, "the moved rows left in their old tables do not count")
	assert.Zero(t, rep.DifferingChunks, "the shared tables' sums count only their rows that stay")

	// A moved row missing from its new table, another changed there.
	var moved []int
	var names []string
	rowsOf, err := db.Query("SELECT id, name FROM test_5 UNION ALL SELECT id, name FROM test_6 ORDER BY id LIMIT 2")
	require.NoError(t, err)
	for rowsOf.Next() {
		var id int
		var name string
		require.NoError(t, rowsOf.Scan(&id, &name))
		moved, names = append(moved, id), append(names, name)
	}
	require.NoError(t, rowsOf.Err())
	require.Len(t, moved, 2)
	s0, s1 := seedShard(names[0], 8), seedShard(names[1], 8)
	sandboxtest.Exec(t, db,
		fmt.Sprintf("DELETE FROM test_%d WHERE id = %d", s0, moved[0]),
		fmt.Sprintf("UPDATE test_%d SET addTime = addTime + INTERVAL 1 SECOND WHERE id = %d", s1, moved[1]))
	v := newVerifier()
	rep, err = v.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{
		fmt.Sprintf("missing %d %d [] ", moved[0], s0),
		fmt.Sprintf("changed %d %d [%d] addTime", moved[1], s1, s1),
	}, diffLines(rep))
	// Both repairs write to new tables only.
	_, err = v.Repair(ctx, rep)
	require.NoError(t, err)
	rep, err = newVerifier().Verify(ctx)
	require.NoError(t, err)
	assert.True(t, rep.Clean(), "%v", diffLines(rep))

	// A row of old table 2 that routes to table 1, which both layouts
	// share: missing there, and its repair would write to the old layout.
	ghost := "ghost"
	for i := 0; seedShard(ghost, 8) != 1; i++ {
		ghost = fmt.Sprintf("ghost%d", i)
	}
	sandboxtest.Exec(t, db, fmt.Sprintf("INSERT INTO test_2 VALUES (%d, '%s', '2021-01-01')", rows+1, ghost))
	v = newVerifier()
	rep, err = v.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{fmt.Sprintf("missing %d 1 [] ", rows+1)}, diffLines(rep))
	_, err = v.Repair(ctx, rep)
	require.ErrorIs(t, err, verify.ErrSameTable)
}
