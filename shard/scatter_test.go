package shard_test

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/shard"
)

func TestGatherReturnsEveryShardsRowsInLocationOrder(t *testing.T) {
	f := newFixture(t, shard.WithGatherConcurrency(3))
	g, err := f.gatherer.Gather(t.Context(), f.router.Locations(), shard.Query{SQL: "SELECT id FROM {table} WHERE id <= ? ORDER BY id", Args: []any{20}})
	require.NoError(t, err)
	require.Len(t, g.Shards, fixtureShards)
	for i, s := range g.Shards {
		assert.Equal(t, f.router.Locations()[i], s.Location)
		for _, r := range s.Rows {
			assert.Equal(t, int64(i+1), r[0].(int64)%usedShards+1, "row %v on shard %d", r, i+1)
		}
	}
	assert.Empty(t, g.Shards[6].Rows, "shard 7 is empty")
	assert.Equal(t, []shard.Column{{Name: "id", Type: "INT", Kind: shard.ColInt}}, g.Columns)
}

func TestGatherQuotesTheTableName(t *testing.T) {
	f := newFixture(t)
	odd := shard.Location{Shard: 1, Instance: "a", Database: f.router.locs[0].Database, Table: "we`ird {table}"}
	sandboxtest.Exec(t, f.db, "CREATE TABLE `"+odd.Database+"`.`we``ird {table}` (id INT)", "INSERT INTO `"+odd.Database+"`.`we``ird {table}` VALUES (42)")
	g, err := f.gatherer.Gather(t.Context(), []shard.Location{odd}, shard.Query{SQL: "SELECT id FROM {table}"})
	require.NoError(t, err)
	assert.Equal(t, []string{`int64("42")`}, render(g.Shards[0].Rows))
}

func TestGatherErrorNamesTheShard(t *testing.T) {
	f := newFixture(t)
	sandboxtest.Exec(t, f.db, "DROP TABLE `"+f.router.locs[4].Database+"`.s_5")
	_, err := f.gatherer.Gather(t.Context(), f.router.Locations(), shard.Query{SQL: "SELECT COUNT(*) FROM {table}"})
	var se *shard.ShardError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, f.router.locs[4], se.Location)
	assert.ErrorContains(t, err, "shard 5 (b/"+f.router.locs[4].Database+".s_5)")
	var me *mysql.MySQLError
	require.ErrorAs(t, err, &me)
	assert.EqualValues(t, 1146, me.Number, "table does not exist")
}

func TestGatherSlowShardTimesOutNamingTheShard(t *testing.T) {
	f := newFixture(t, shard.WithShardTimeout(300*time.Millisecond))
	slow := f.router.locs[2]
	q := "`" + slow.Database + "`.`" + slow.Table + "`"
	sandboxtest.Exec(t, f.db,
		"RENAME TABLE "+q+" TO `"+slow.Database+"`.s_3_data",
		"CREATE VIEW "+q+" AS SELECT d.* FROM `"+slow.Database+"`.s_3_data d JOIN (SELECT SLEEP(2) AS z) z")
	_, err := f.gatherer.Gather(t.Context(), f.router.Locations(), shard.Query{SQL: "SELECT COUNT(*) FROM {table}"})
	require.ErrorIs(t, err, shard.ErrShardTimeout)
	var se *shard.ShardError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, slow, se.Location)
	assert.ErrorContains(t, err, "shard 3 (")
}

func TestGatherSilentHostTimesOutNamingTheShard(t *testing.T) {
	f := newFixture(t)
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User = "tcp", sandboxtest.SilentHost(t), "nobody"
	cfg.Timeout, cfg.ReadTimeout = 30*time.Second, 30*time.Second // a backstop; the shard timeout must win
	connector, err := mysql.NewConnector(cfg)
	require.NoError(t, err)
	silentDB := sql.OpenDB(connector)
	t.Cleanup(func() { _ = silentDB.Close() })

	g, err := shard.NewGatherer(shard.Hosts{"a": f.db, "silent": silentDB}, shard.WithShardTimeout(300*time.Millisecond))
	require.NoError(t, err)
	locs := []shard.Location{f.router.locs[0], {Shard: 2, Instance: "silent", Database: "d", Table: "t"}}
	_, err = g.Gather(t.Context(), locs, shard.Query{SQL: "SELECT COUNT(*) FROM {table}"})
	require.ErrorIs(t, err, shard.ErrShardTimeout)
	assert.ErrorContains(t, err, "shard 2 (silent/d.t)")
}

func TestGatherRefusesBadInputBeforeRunning(t *testing.T) {
	f := newFixture(t)
	_, err := f.gatherer.Gather(t.Context(), f.router.Locations(), shard.Query{SQL: "SELECT 1"})
	assert.ErrorContains(t, err, "{table}")
	_, err = f.gatherer.Gather(t.Context(), nil, shard.Query{SQL: "SELECT 1 FROM {table}"})
	assert.ErrorContains(t, err, "no locations")
	_, err = f.gatherer.Gather(t.Context(), []shard.Location{{Shard: 9, Instance: "nowhere", Database: "d", Table: "t"}}, shard.Query{SQL: "SELECT 1 FROM {table}"})
	assert.ErrorContains(t, err, `shard 9 (nowhere/d.t): no host for instance "nowhere"`)

	for _, opt := range []shard.GatherOption{shard.WithGatherConcurrency(0), shard.WithShardTimeout(0), shard.WithMaxShardRows(0), shard.WithLookupBatch(0), nil} {
		_, err := shard.NewGatherer(f.hosts, opt)
		assert.Error(t, err)
	}
	_, err = shard.NewGatherer(nil)
	assert.Error(t, err)
	_, err = shard.NewGatherer(shard.Hosts{"a": nil})
	assert.ErrorContains(t, err, `host "a" is nil`)
}

func TestGatherBoundsRowsPerShard(t *testing.T) {
	f := newFixture(t, shard.WithMaxShardRows(10))
	_, err := f.gatherer.Gather(t.Context(), f.router.Locations(), shard.Query{SQL: "SELECT id FROM {table}"})
	require.ErrorIs(t, err, shard.ErrTooManyRows)
	var se *shard.ShardError
	assert.ErrorAs(t, err, &se)
}

func TestGatherRefusesShardsWithDifferentColumns(t *testing.T) {
	f := newFixture(t)
	sandboxtest.Exec(t, f.db, "ALTER TABLE `"+f.router.locs[1].Database+"`.s_2 MODIFY score VARCHAR(5)")
	_, err := f.gatherer.Gather(t.Context(), f.router.Locations(), shard.Query{SQL: "SELECT score FROM {table}"})
	assert.ErrorContains(t, err, "shard 2 (")
	assert.ErrorContains(t, err, "columns differ from shard 1's")
}

func TestMergeRefusesWhatItCannotMergeExactly(t *testing.T) {
	f := newFixture(t)
	locs := f.router.Locations()
	// The shards order by score; the merge is told id.
	_, err := f.gatherer.Ordered(t.Context(), locs, shard.Query{SQL: "SELECT id, score FROM {table} ORDER BY score, id LIMIT {limit}"}, []shard.Order{{Column: "id"}}, 0, 10)
	require.ErrorIs(t, err, shard.ErrShardNotOrdered)
	assert.ErrorContains(t, err, "shard 1 (")
	// Ordered in a case-insensitive collation, merged by a binary one.
	_, err = f.gatherer.Ordered(t.Context(), locs, shard.Query{SQL: "SELECT id, name_ci FROM {table} ORDER BY name_ci, id LIMIT {limit}"}, []shard.Order{{Column: "name_ci", Collation: shard.PadSpaceBin}, {Column: "id"}}, 0, 100)
	require.ErrorIs(t, err, shard.ErrShardNotOrdered)

	_, err = f.gatherer.Ordered(t.Context(), locs, shard.Query{SQL: "SELECT name FROM {table} ORDER BY name LIMIT {limit}"}, []shard.Order{{Column: "name"}}, 0, 10)
	require.ErrorIs(t, err, shard.ErrCollationNeeded)
	assert.ErrorContains(t, err, "column name (VARCHAR)")
	_, err = f.gatherer.Ordered(t.Context(), locs, shard.Query{SQL: "SELECT id FROM {table} ORDER BY id"}, []shard.Order{{Column: "id"}}, 0, 10)
	assert.ErrorContains(t, err, "{limit}")
	_, err = f.gatherer.Ordered(t.Context(), locs, shard.Query{SQL: "SELECT id FROM {table} ORDER BY id LIMIT {limit}"}, []shard.Order{{Column: "nope"}}, 0, 10)
	assert.ErrorContains(t, err, `no column "nope"`)

	g, err := f.gatherer.Gather(t.Context(), locs, shard.Query{SQL: "SELECT grp, CAST(created AS TIME) AS tm, SUM(amount) AS s FROM {table} GROUP BY grp, tm"})
	require.NoError(t, err)
	_, err = shard.MergeAggregate(g, []shard.Order{{Column: "tm"}}, nil)
	require.ErrorIs(t, err, shard.ErrUnsupportedColumn)
	_, err = shard.MergeAggregate(g, []shard.Order{{Column: "grp", Collation: shard.PadSpaceBin}}, []shard.Aggregate{{Func: shard.AggSum, Column: "grp"}})
	require.ErrorIs(t, err, shard.ErrUnsupportedColumn)
	_, err = shard.MergeAggregate(g, nil, []shard.Aggregate{{Func: shard.AggAvg, Column: "s"}})
	assert.ErrorContains(t, err, "CountColumn")
	_, err = shard.MergeDistinct(g, []shard.Order{{Column: "grp", Collation: shard.PadSpaceBin}})
	assert.ErrorContains(t, err, `column "tm" not named`)
}

// dateRouter is a range layout by date: shard 1 before April 2024, 2 until
// October 2024, 3 until 2025, 4 from 2025.
type dateRouter struct {
	locs   []shard.Location
	bounds []time.Time // bounds[i] is the first day of shard i+2
}

func (r dateRouter) Route(k shard.Key) (shard.Location, error) {
	if k.Kind() != shard.KindTime {
		return shard.Location{}, fmt.Errorf("dateRouter: %s key", k.Kind())
	}
	i, _ := slices.BinarySearchFunc(r.bounds, k.Time(), func(b, t time.Time) int {
		if b.After(t) {
			return 1
		}
		return -1
	})
	return r.locs[i], nil
}

func (r dateRouter) Locations() []shard.Location { return r.locs }

func (r dateRouter) ShardsFor(lo, hi shard.Key) ([]shard.Location, error) {
	first, last := 0, len(r.locs)-1
	if lo.Kind() != shard.KindNone {
		l, err := r.Route(lo)
		if err != nil {
			return nil, err
		}
		first = l.Shard - 1
	}
	if hi.Kind() != shard.KindNone {
		l, err := r.Route(hi)
		if err != nil {
			return nil, err
		}
		last = l.Shard - 1
	}
	if first > last {
		return nil, nil
	}
	return r.locs[first : last+1], nil
}

var _ shard.RangeLister = dateRouter{}

func TestTimeRangeQueryTouchesOnlyShardsThatCanHoldTheRange(t *testing.T) {
	f := newFixture(t)
	db := f.router.locs[0].Database
	r := dateRouter{bounds: []time.Time{
		time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
	}}
	for n := 1; n <= 4; n++ {
		loc := shard.Location{Shard: n, Instance: "a", Database: db, Table: fmt.Sprintf("r_%d", n)}
		r.locs = append(r.locs, loc)
		where := "created IS NOT NULL"
		if n > 1 {
			where += fmt.Sprintf(" AND created >= '%s'", r.bounds[n-2].Format(time.DateOnly))
		}
		if n < 4 {
			where += fmt.Sprintf(" AND created < '%s'", r.bounds[n-1].Format(time.DateOnly))
		}
		sandboxtest.Exec(t, f.db,
			fmt.Sprintf("CREATE TABLE `%s`.r_%d %s", db, n, fixtureColumns),
			fmt.Sprintf("INSERT INTO `%s`.r_%d SELECT * FROM `%s`.t WHERE %s", db, n, f.unsharded.Database, where))
	}

	lo, hi := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC)
	locs, err := shard.ShardsOf(r, shard.Time(lo), shard.Time(hi))
	require.NoError(t, err)
	assert.Equal(t, r.locs[1:3], locs, "shards 2 and 3 hold May to December 2024")

	q := shard.Query{SQL: "SELECT COUNT(*) AS n FROM {table} WHERE created BETWEEN ? AND ?", Args: []any{lo.Format(time.DateTime), hi.Format(time.DateTime)}}
	g, err := f.gatherer.Gather(t.Context(), locs, q)
	require.NoError(t, err)
	got, err := shard.MergeAggregate(g, nil, []shard.Aggregate{{Func: shard.AggCount, Column: "n"}})
	require.NoError(t, err)
	want := f.unshardedRows(t, q.SQL, q.Args...)
	assert.Equal(t, render(want.Shards[0].Rows), render(got.Rows))
	assert.NotEqual(t, []string{`int64("0")`}, render(got.Rows), "the range holds rows")

	open, err := shard.ShardsOf(r, shard.Key{}, shard.Time(lo))
	require.NoError(t, err)
	assert.Equal(t, r.locs[:2], open, "an open lower end")
	all, err := shard.ShardsOf(f.router, shard.Int(1), shard.Int(2))
	require.NoError(t, err)
	assert.Equal(t, f.router.Locations(), all, "a hashed layout cannot skip shards")
	_, err = shard.ShardsOf(r, shard.Int(1), shard.Int(2))
	assert.ErrorContains(t, err, "int key")
}

func TestShardErrorUnwraps(t *testing.T) {
	inner := errors.New("boom")
	err := fmt.Errorf("wrapped: %w", &shard.ShardError{Location: shard.Location{Shard: 4, Database: "d", Table: "t_4"}, Err: inner})
	assert.ErrorIs(t, err, inner)
	assert.EqualError(t, err, "wrapped: shard 4 (d.t_4): boom")
}
