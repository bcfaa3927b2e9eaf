package shard

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const twoServersYAML = `
method: md5
shards: 32
tables_per_database: 8
database: db{m}
table: test_{n}
column: name
instances:
  - {name: a, databases: "1-2"}
  - {name: b, databases: 3-4}
directory:
  - {key: hot-user, shard: 5}
  - {key: 42, shard: 1}
`

func TestLayoutYAMLTwoServers(t *testing.T) {
	l, err := ParseLayout([]byte(twoServersYAML), "yaml")
	require.NoError(t, err)
	r, err := l.Router()
	require.NoError(t, err)
	locs := r.Locations()
	require.Len(t, locs, 32)
	assert.Equal(t, Location{Shard: 1, Instance: "a", Database: "db1", Table: "test_1"}, locs[0])
	assert.Equal(t, Location{Shard: 9, Instance: "a", Database: "db2", Table: "test_9"}, locs[8])
	assert.Equal(t, Location{Shard: 17, Instance: "b", Database: "db3", Table: "test_17"}, locs[16])
	assert.Equal(t, "b/db4.test_32", locs[31].String())

	loc, err := r.Route(String("hot-user"))
	require.NoError(t, err)
	assert.Equal(t, 5, loc.Shard)
	loc, err = r.Route(Uint(42))
	require.NoError(t, err)
	assert.Equal(t, 1, loc.Shard, "Uint(42) is the directory's integer 42")
	loc, err = r.Route(String("42"))
	require.NoError(t, err)
	assert.Equal(t, 7, loc.Shard, "String(\"42\") is not the integer 42: md5(\"42\") % 32 + 1")
}

func TestLayoutJSONSeedAndPadding(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seed.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"method": "md5", "shards": 32, "database": "db01", "table": "test_{n:2}"}`), 0o600))
	l, err := LoadLayout(path)
	require.NoError(t, err)
	r, err := l.Router()
	require.NoError(t, err)
	assert.Equal(t, "db01.test_01", r.Locations()[0].String())
	loc, err := r.Route(String(""))
	require.NoError(t, err)
	assert.Equal(t, "db01.test_31", loc.String())

	// {k} numbers tables within their database.
	l = &Layout{Method: Jump, Shards: 6, TablesPerDatabase: 3, Database: "s{m}", Table: "t{k}"}
	r, err = l.Router()
	require.NoError(t, err)
	assert.Equal(t, "s2.t1", r.Locations()[3].String())
}

func TestLayoutRanges(t *testing.T) {
	l, err := ParseLayout([]byte(`{"method": "range", "database": "logs", "table": "log_{n}",
		"ranges": [{"shard": 2, "from": "2024-01-01", "to": "2025-01-01"}, {"shard": 1, "to": "2024-01-01"}, {"shard": 3, "from": "2025-01-01"}]}`), "json")
	require.NoError(t, err)
	r, err := l.Router()
	require.NoError(t, err)
	for when, want := range map[string]int{"1999-05-01": 1, "2024-01-01": 2, "2024-12-31": 2, "2025-01-01": 3, "2999-01-01": 3} {
		at, _ := time.Parse("2006-01-02", when)
		loc, err := r.Route(Time(at))
		require.NoError(t, err)
		assert.Equal(t, want, loc.Shard, when)
	}
	_, err = r.Route(Int(5))
	assert.ErrorIs(t, err, ErrKeyKind)

	l, err = ParseLayout([]byte("method: range\ndatabase: d\ntable: t{n}\nranges:\n- {shard: 1, from: 0, to: 100}\n- {shard: 2, from: 100, to: 1000}\n"), "yaml")
	require.NoError(t, err)
	r, err = l.Router()
	require.NoError(t, err)
	for k, want := range map[int64]int{0: 1, 99: 1, 100: 2, 999: 2} {
		loc, err := r.Route(Int(k))
		require.NoError(t, err)
		assert.Equal(t, want, loc.Shard, k)
	}
	for _, k := range []Key{Int(-1), Int(1000), Uint(math.MaxUint64)} {
		_, err = r.Route(k)
		assert.ErrorIs(t, err, ErrNoShard, "%s", k)
	}
}

// TestLayoutErrors: every error names the entry at fault.
func TestLayoutErrors(t *testing.T) {
	for name, tc := range map[string]struct{ doc, want string }{
		"no shards":      {`{"method": "md5", "shards": 0, "database": "d", "table": "t{n}"}`, "method md5: 0 shards: need at least 1"},
		"unknown method": {`{"method": "sha", "shards": 2, "database": "d", "table": "t{n}"}`, `unknown method "sha"`},
		"unknown field":  {`{"method": "md5", "shards": 2, "database": "d", "table": "t{n}", "tables": 3}`, `unknown field "tables"`},
		"placeholder":    {`{"method": "md5", "shards": 2, "database": "d", "table": "t{x}"}`, `table: template "t{x}": unknown placeholder {x}`},
		"open brace":     {`{"method": "md5", "shards": 2, "database": "d{m", "table": "t{n}"}`, `database: template "d{m": '{' without '}'`},
		"close brace":    {`{"method": "md5", "shards": 2, "database": "d", "table": "t}"}`, `table: template "t}": '}' without '{'`},
		"width":          {`{"method": "md5", "shards": 2, "database": "d", "table": "t{n:0}"}`, "width must be a number from 1 to 20"},
		"empty":          {`{"method": "md5", "shards": 2, "database": "", "table": "t{n}"}`, "database: empty template"},
		"duplicate":      {`{"method": "md5", "shards": 4, "database": "d", "table": "t"}`, "shards 1 and 2 are both at d.t"},
		"dup across dbs": {`{"method": "md5", "shards": 4, "tables_per_database": 2, "database": "db{m}", "table": "t{k}", "instances": [{"name": "a", "databases": "1-2"}], "directory": []}`, ""},
		"k not divisor":  {`{"method": "md5", "shards": 32, "tables_per_database": 6, "database": "db{m}", "table": "t{n}"}`, "32 shards is not a multiple of tables_per_database 6"},
		"instance gap":   {`{"method": "md5", "shards": 4, "tables_per_database": 1, "database": "db{m}", "table": "t", "instances": [{"name": "a", "databases": "1"}, {"name": "b", "databases": "3-4"}]}`, "no instance holds database 2"},
		"instance overlap": {`{"method": "md5", "shards": 4, "tables_per_database": 1, "database": "db{m}", "table": "t", "instances": [{"name": "a", "databases": "1-2"}, {"name": "b", "databases": "2-4"}]}`,
			`instances "a" and "b" overlap: both hold database 2`},
		"instance twice":  {`{"method": "md5", "shards": 2, "tables_per_database": 1, "database": "db{m}", "table": "t", "instances": [{"name": "a", "databases": "1"}, {"name": "a", "databases": "2"}]}`, `instance "a" listed twice`},
		"instance beyond": {`{"method": "md5", "shards": 2, "tables_per_database": 1, "database": "db{m}", "table": "t", "instances": [{"name": "a", "databases": "1-3"}]}`, `instance "a": database 3: the layout has 2 databases`},
		"bad span":        {`{"method": "md5", "shards": 2, "tables_per_database": 1, "database": "db{m}", "table": "t", "instances": [{"name": "a", "databases": "2-1"}]}`, `instance "a": databases: "2-1"`},
		"range gap": {`{"method": "range", "database": "d", "table": "t{n}", "ranges": [{"shard": 1, "from": 0, "to": 10}, {"shard": 2, "from": 20, "to": 30}]}`,
			"ranges of shards 1 and 2 leave a gap: keys from 10 to 20 have no shard"},
		"range overlap": {`{"method": "range", "database": "d", "table": "t{n}", "ranges": [{"shard": 1, "from": 0, "to": 15}, {"shard": 2, "from": 10, "to": 30}]}`,
			"ranges of shards 1 and 2 overlap: shard 1 runs to 15, shard 2 starts at 10"},
		"range twice":    {`{"method": "range", "database": "d", "table": "t{n}", "ranges": [{"shard": 1, "to": 10}, {"shard": 1, "from": 10}]}`, "range of shard 1: shard 1 has two ranges"},
		"range number":   {`{"method": "range", "database": "d", "table": "t{n}", "ranges": [{"shard": 1, "to": 10}, {"shard": 3, "from": 10}]}`, "range of shard 3: shard numbers run from 1 to 2"},
		"range empty":    {`{"method": "range", "database": "d", "table": "t{n}", "ranges": [{"shard": 1, "from": 10, "to": 10}]}`, "range of shard 1: from 10 is not below to 10"},
		"range kinds":    {`{"method": "range", "database": "d", "table": "t{n}", "ranges": [{"shard": 1, "to": 10}, {"shard": 2, "from": "2024-01-01"}]}`, "is a time, others are ints"},
		"range bound":    {`{"method": "range", "database": "d", "table": "t{n}", "ranges": [{"shard": 1, "to": "soon"}]}`, `range bound "soon"`},
		"range count":    {`{"method": "range", "shards": 3, "database": "d", "table": "t{n}", "ranges": [{"shard": 1}]}`, "3 shards but 1 ranges"},
		"ranges on hash": {`{"method": "md5", "shards": 1, "database": "d", "table": "t{n}", "ranges": [{"shard": 1}]}`, "method md5: ranges are for method range"},
		"dir shard":      {`{"method": "md5", "shards": 4, "database": "d", "table": "t{n}", "directory": [{"key": "x", "shard": 5}]}`, `directory entry "x": shard 5 is not between 1 and 4`},
		"dir twice":      {`{"method": "md5", "shards": 4, "database": "d", "table": "t{n}", "directory": [{"key": 7, "shard": 1}, {"key": 7, "shard": 2}]}`, "directory entry 7: key listed twice"},
		"long name":      {`{"method": "md5", "shards": 2, "database": "d", "table": "tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt{n}"}`, "shard 1: table name"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseLayout([]byte(tc.doc), "json")
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestNewMapChecks(t *testing.T) {
	s, _ := NewHash(Mod, 2)
	_, err := NewMap(s, []Location{{Shard: 1, Database: "d", Table: "t"}})
	assert.EqualError(t, err, "shard: 1 locations for 2 shards")
	_, err = NewMap(s, []Location{{Shard: 1, Database: "d", Table: "t"}, {Shard: 2, Database: "d", Table: "t"}})
	assert.EqualError(t, err, "shard: shards 1 and 2 are both at d.t")
	_, err = NewMap(s, []Location{{Shard: 2, Database: "d", Table: "a"}, {Shard: 1, Database: "d", Table: "b"}})
	assert.EqualError(t, err, "shard: location d.a: numbered 2, in place 1")
}

// TestMapRouteMatchesScheme: Map.Route (which calls the md5 scheme by
// pointer, bypassing Shard) gives every method's Shard answer, its error
// for a kind the method cannot route, and allocates nothing.
func TestMapRouteMatchesScheme(t *testing.T) {
	keys := []Key{Int(0), Int(-1), Int(math.MinInt64), Int(math.MaxInt64), Uint(math.MaxUint64),
		String(""), String("user-2718281828"), String("a string key longer than fifty-five bytes, hashed by crypto/md5")}
	for _, meth := range []Method{MD5, Jump, CRC32, Mod} {
		for _, n := range []int{32, 37} {
			m, err := (&Layout{Method: meth, Shards: n, Database: "db", Table: "t_{n}"}).Router()
			require.NoError(t, err)
			for _, k := range keys {
				want, werr := m.Scheme().Shard(k)
				loc, err := m.Route(k)
				if werr != nil {
					assert.Equal(t, werr, err, "%s %d %s", meth, n, k)
					continue
				}
				require.NoError(t, err)
				assert.Equal(t, m.Locations()[want-1], loc, "%s %d %s", meth, n, k)
				assert.Zero(t, testing.AllocsPerRun(10, func() { _, _ = m.Route(k) }), "%s %d %s", meth, n, k)
			}
			_, err = m.Route(Time(time.Now()))
			assert.ErrorIs(t, err, ErrKeyKind, meth)
		}
	}
}

func TestModNegative(t *testing.T) {
	s, _ := NewHash(Mod, 4)
	for k, want := range map[int64]int{-1: 4, -4: 1, -5: 4, 0: 1, 5: 2, math.MinInt64: 1} {
		got, err := s.Shard(Int(k))
		require.NoError(t, err)
		assert.Equal(t, want, got, k)
	}
}

// FuzzParseLayout: any input either fails with an error or gives a layout
// whose router routes and whose locations are distinct.
func FuzzParseLayout(f *testing.F) {
	f.Add([]byte(twoServersYAML), true)
	f.Add([]byte(`{"method": "mod", "shards": 3, "database": "d", "table": "t{n}"}`), false)
	f.Add([]byte(`{"method": "range", "database": "d", "table": "t{n}", "ranges": [{"shard": 1, "to": 10}, {"shard": 2, "from": 10}]}`), false)
	f.Fuzz(func(t *testing.T, doc []byte, yaml bool) {
		format := "json"
		if yaml {
			format = "yaml"
		}
		l, err := ParseLayout(doc, format)
		if err != nil {
			return
		}
		r, err := l.Router()
		require.NoError(t, err)
		seen := map[Location]bool{}
		for _, loc := range r.Locations() {
			loc.Shard = 0
			require.False(t, seen[loc])
			seen[loc] = true
		}
		for _, k := range []Key{Int(0), Int(-3), String("x"), Time(time.Unix(0, 0))} {
			if loc, err := r.Route(k); err == nil {
				require.Equal(t, r.Locations()[loc.Shard-1], loc)
			}
		}
	})
}

// FuzzRanges checks the binary search of Ranges against a scan of the
// intervals, on bounds built from the input.
func FuzzRanges(f *testing.F) {
	f.Add([]byte{3, 10, 20}, int64(15), true, false)
	f.Add([]byte{1}, int64(-5), false, true)
	f.Fuzz(func(t *testing.T, steps []byte, key int64, openLow, openHigh bool) {
		if len(steps) == 0 || len(steps) > 64 {
			return
		}
		var ivs []Interval
		b := int64(-100)
		for i, s := range steps {
			next := b + int64(s) + 1
			iv := Interval{Shard: len(steps) - i, From: Int(b), To: Int(next)}
			if i == 0 && openLow {
				iv.From = Key{}
			}
			if i == len(steps)-1 && openHigh {
				iv.To = Key{}
			}
			ivs = append(ivs, iv)
			b = next
		}
		r, err := NewRanges(ivs)
		require.NoError(t, err)
		want := 0
		for _, iv := range ivs {
			if (iv.From.kind == KindNone || iv.From.i <= key) && (iv.To.kind == KindNone || key < iv.To.i) {
				want = iv.Shard
			}
		}
		got, err := r.Shard(Int(key))
		if want == 0 {
			require.ErrorIs(t, err, ErrNoShard)
			return
		}
		require.NoError(t, err)
		require.Equal(t, want, got)
	})
}
