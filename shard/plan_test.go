package shard

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

func seedLayout(m Method, n int) *Layout {
	return &Layout{Method: m, Shards: n, Database: "db01", Table: "test_{n}"}
}

func TestPlanRelocationMovesWholeTables(t *testing.T) {
	from := seedLayout(MD5, 32)
	to, err := ParseLayout([]byte(twoServersYAML), "yaml")
	require.NoError(t, err)
	to.Directory = nil
	p, err := NewPlan(from, to)
	require.NoError(t, err)
	assert.True(t, p.Exact)
	assert.Contains(t, p.Basis, "same method (md5) and shard count (32)")
	for _, s := range p.Sources {
		require.Len(t, s.Targets, 1)
		assert.Equal(t, MoveTable, s.Action, "shard %d", s.Shard)
		assert.Equal(t, s.Shard, s.Targets[0].Shard)
	}
	assert.Equal(t, "b/db3.test_17", p.Sources[16].Targets[0].Location.String())
	assert.InDelta(t, 1, p.MovedFraction, 1e-12)

	p, err = NewPlan(from, from)
	require.NoError(t, err)
	for _, s := range p.Sources {
		assert.Equal(t, Keep, s.Action)
	}
	assert.Zero(t, p.MovedFraction)
}

func TestPlanDoubleAndHalve(t *testing.T) {
	p, err := NewPlan(seedLayout(MD5, 16), seedLayout(MD5, 32))
	require.NoError(t, err)
	assert.True(t, p.Exact)
	s := p.Sources[2]
	assert.Equal(t, MoveRows, s.Action)
	require.Len(t, s.Targets, 2)
	assert.Equal(t, Flow{Shard: 3, Location: Location{Shard: 3, Database: "db01", Table: "test_3"}, Fraction: 0.5, Stays: true}, s.Targets[0])
	assert.Equal(t, 19, s.Targets[1].Shard)
	assert.False(t, s.Targets[1].Stays)
	assert.InDelta(t, 0.5, p.MovedFraction, 1e-12)

	p, err = NewPlan(seedLayout(MD5, 32), seedLayout(MD5, 16))
	require.NoError(t, err)
	assert.Equal(t, Keep, p.Sources[0].Action)
	assert.Equal(t, MoveTable, p.Sources[16].Action)
	assert.Equal(t, 1, p.Sources[16].Targets[0].Shard)
	assert.InDelta(t, 0.5, p.MovedFraction, 1e-12)
}

// TestPlanExactMatchesRouting checks every exact formula against routing
// keys with both layouts: each fraction within six standard deviations of
// the observed share (binomial, per source shard).
func TestPlanExactMatchesRouting(t *testing.T) {
	ranges := func(bounds ...int64) *Layout {
		l := &Layout{Method: Range, Database: "d", Table: "t{n}"}
		for i := 0; i <= len(bounds); i++ {
			r := RangeSpec{Shard: i + 1}
			if i > 0 {
				r.From = Bound{Int(bounds[i-1])}
			}
			if i < len(bounds) {
				r.To = Bound{Int(bounds[i])}
			}
			l.Ranges = append(l.Ranges, r)
		}
		return l
	}
	for _, tc := range []struct {
		name     string
		from, to *Layout
		key      func(*rand.Rand) Key
	}{
		{"md5 16 to 32", seedLayout(MD5, 16), seedLayout(MD5, 32), nil},
		{"md5 32 to 24", seedLayout(MD5, 32), seedLayout(MD5, 24), nil},
		{"crc32 10 to 15", seedLayout(CRC32, 10), seedLayout(CRC32, 15), nil},
		{"mod 12 to 18", seedLayout(Mod, 12), seedLayout(Mod, 18), nil},
		{"jump 10 to 16", seedLayout(Jump, 10), seedLayout(Jump, 16), nil},
		{"jump 16 to 7", seedLayout(Jump, 16), seedLayout(Jump, 7), nil},
		{"ranges", ranges(0, 100, 400, 1000), ranges(0, 250, 500, 750, 1000),
			func(r *rand.Rand) Key { return Int(r.Int64N(1000)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPlan(tc.from, tc.to)
			require.NoError(t, err)
			require.True(t, p.Exact, p.Basis)
			ra, _ := tc.from.Router()
			rb, _ := tc.to.Router()
			rng := rand.New(rand.NewPCG(7, 7))
			const keys = 300_000
			got := map[[2]int]int{}
			per := map[int]int{}
			for i := range keys {
				k := Key(String(fmt.Sprint("k", i)))
				if tc.from.Method == Mod || tc.from.Method == Jump {
					k = Int(int64(rng.Uint64()))
				}
				if tc.key != nil {
					k = tc.key(rng)
				}
				a, err := ra.Scheme().Shard(k)
				require.NoError(t, err)
				b, err := rb.Scheme().Shard(k)
				require.NoError(t, err)
				got[[2]int{a, b}]++
				per[a]++
			}
			for _, s := range p.Sources {
				want := map[int]float64{}
				for _, f := range s.Targets {
					want[f.Shard] = f.Fraction
				}
				n := float64(per[s.Shard])
				if n == 0 {
					continue // an open tail the keys do not reach
				}
				for b := 1; b <= len(rb.Locations()); b++ {
					obs := float64(got[[2]int{s.Shard, b}]) / n
					f := want[b]
					sd := math.Sqrt(max(f*(1-f), 1/n) / n)
					assert.InDelta(t, f, obs, 6*sd, "source %d target %d", s.Shard, b)
				}
			}
		})
	}
}

func TestPlanSampledAndPinned(t *testing.T) {
	from := seedLayout(MD5, 8)
	from.Directory = []DirectorySpec{{Key: DirKey{String("hot")}, Shard: 1}}
	to := seedLayout(Jump, 4)
	p, err := NewPlan(from, to, WithSampleKeys(50_000))
	require.NoError(t, err)
	assert.False(t, p.Exact)
	assert.Equal(t, 50_000, p.SampleKeys)
	assert.Contains(t, p.Basis, "sampled: 50000 integer keys")
	for _, s := range p.Sources {
		require.Len(t, s.Targets, 4)
		for _, f := range s.Targets {
			assert.InDelta(t, 0.25, f.Fraction, 0.04)
		}
	}
	hot, err := to.Router()
	require.NoError(t, err)
	loc, _ := hot.Route(String("hot"))
	if loc.Shard != 1 {
		require.Len(t, p.Pinned, 1)
		assert.Equal(t, PinnedChange{Key: `"hot"`, From: Location{Shard: 1, Database: "db01", Table: "test_1"}, To: loc}, p.Pinned[0])
	}

	_, err = NewPlan(from, to, WithSampleKeys(10))
	assert.EqualError(t, err, "shard: plan: 10 sample keys: need at least 1000")
	_, err = NewPlan(from, to, WithRows(map[int]int64{3: -1}))
	assert.EqualError(t, err, "shard: plan: rows of shard 3: -1 is negative")

	// Time ranges to a hash cannot be sampled: the hash cannot route times.
	tr := &Layout{Method: Range, Database: "d", Table: "t{n}", Ranges: []RangeSpec{
		{Shard: 1, To: Bound{Time(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))}},
		{Shard: 2, From: Bound{Time(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))}}}}
	_, err = NewPlan(tr, to)
	assert.ErrorIs(t, err, ErrKeyKind)
}

// TestEstimateRowsAndPlan reads row estimates from a real server and plans
// with them.
func TestEstimateRowsAndPlan(t *testing.T) {
	ctx := context.Background()
	s := servers[0]
	dbName := sandboxtest.NewDatabase(t, s, "shards")
	db := sandboxtest.Open(t, s, dbName)
	l := &Layout{Method: Mod, Shards: 4, Database: dbName, Table: "test_{n}"}
	for n := 1; n <= 4; n++ {
		sandboxtest.Exec(t, db, fmt.Sprintf("CREATE TABLE test_%d (id BIGINT PRIMARY KEY, name VARCHAR(40)) ENGINE=InnoDB", n))
		for i := range 25 * n {
			sandboxtest.Exec(t, db, fmt.Sprintf("INSERT INTO test_%d VALUES (%d, 'x')", n, i*4+n-1))
		}
		sandboxtest.Exec(t, db, fmt.Sprintf("ANALYZE TABLE test_%d", n))
	}
	rows, err := EstimateRows(ctx, l, map[string]*sql.DB{"": db})
	require.NoError(t, err)
	assert.Equal(t, map[int]int64{1: 25, 2: 50, 3: 75, 4: 100}, rows)

	p, err := NewPlan(l, &Layout{Method: Mod, Shards: 8, Database: dbName, Table: "test_{n}"}, WithRows(rows))
	require.NoError(t, err)
	require.NotNil(t, p.MovedRows)
	assert.Equal(t, int64(125), *p.MovedRows)
	assert.Equal(t, int64(50), *p.Sources[3].Targets[1].Rows)
	assert.InDelta(t, 0.5, p.MovedFraction, 1e-12)

	_, err = EstimateRows(ctx, &Layout{Method: Mod, Shards: 5, Database: dbName, Table: "test_{n}"}, map[string]*sql.DB{"": db})
	assert.ErrorIs(t, err, ErrMissingTable)
	assert.ErrorContains(t, err, "shard 5: table "+dbName+".test_5")
	_, err = EstimateRows(ctx, l, map[string]*sql.DB{"a": db})
	assert.EqualError(t, err, `shard: row estimates: no connection for instance ""`)
}
