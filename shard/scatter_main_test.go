package shard_test

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/shard"
)

// server is the throwaway server the tests share (started by the TestMain
// of package shard); tests isolate themselves by database name.
func server() *sandbox.Server { return (*shard.SandboxServers)[0] }

// modRouter is the tests' router: integer key k goes to shard k % mod + 1
// of locs, so shards above mod stay empty.
type modRouter struct {
	locs []shard.Location
	mod  int64
}

func (r modRouter) Route(k shard.Key) (shard.Location, error) {
	if k.Kind() != shard.KindInt {
		return shard.Location{}, fmt.Errorf("modRouter: %s key", k.Kind())
	}
	return r.locs[(k.Int()%r.mod+r.mod)%r.mod], nil
}

func (r modRouter) Locations() []shard.Location { return r.locs }

// fixture is an unsharded table and the same rows split into shards.
type fixture struct {
	db        *sql.DB // the server, no default database
	unsharded shard.Location
	router    modRouter // shards 1..8; rows go to id % 6 + 1, so 7 and 8 are empty
	hosts     shard.Hosts
	gatherer  *shard.Gatherer
}

const (
	fixtureRows   = 400
	fixtureShards = 8
	usedShards    = 6
)

// fixtureColumns is the test table. Text columns use utf8mb4_bin so that
// merges compare them with shard.PadSpaceBin; name_ci is
// utf8mb4_general_ci, merged through WEIGHT_STRING.
const fixtureColumns = `(
	id INT NOT NULL PRIMARY KEY,
	grp VARCHAR(10) COLLATE utf8mb4_bin NULL,
	name VARCHAR(20) COLLATE utf8mb4_bin NULL,
	name_ci VARCHAR(20) COLLATE utf8mb4_general_ci NULL,
	amount DECIMAL(10,2) NULL,
	score INT NULL,
	u BIGINT UNSIGNED NULL,
	f DOUBLE NULL,
	created DATETIME NULL,
	bin VARBINARY(10) NULL
)`

// newFixture builds the unsharded table t in one database, and shards 1..4
// in database A (instance "a") and 5..8 in database B (instance "b"),
// rows split by id % 6 + 1, with NULLs in every nullable column, ties in
// every column and names that differ only by trailing spaces or case.
func newFixture(t *testing.T, opts ...shard.GatherOption) *fixture {
	t.Helper()
	s := server()
	db := sandboxtest.Open(t, s, "")
	u := sandboxtest.NewDatabase(t, s, "shardq_u")
	a := sandboxtest.NewDatabase(t, s, "shardq_a")
	b := sandboxtest.NewDatabase(t, s, "shardq_b")
	sandboxtest.Exec(t, db, "CREATE TABLE `"+u+"`.t "+fixtureColumns)
	insertFixtureRows(t, db, "`"+u+"`.t")

	f := &fixture{db: db, router: modRouter{mod: usedShards}, unsharded: shard.Location{Shard: 1, Instance: "u", Database: u, Table: "t"}}
	for n := 1; n <= fixtureShards; n++ {
		loc := shard.Location{Shard: n, Instance: "a", Database: a, Table: fmt.Sprintf("s_%d", n)}
		if n > fixtureShards/2 {
			loc.Instance, loc.Database = "b", b
		}
		f.router.locs = append(f.router.locs, loc)
		q := fmt.Sprintf("`%s`.`%s`", loc.Database, loc.Table)
		sandboxtest.Exec(t, db,
			"CREATE TABLE "+q+" "+fixtureColumns,
			fmt.Sprintf("INSERT INTO %s SELECT * FROM `%s`.t WHERE id %% %d + 1 = %d", q, u, usedShards, n))
	}
	f.hosts = shard.Hosts{"a": db, "b": db, "u": db}
	var err error
	f.gatherer, err = shard.NewGatherer(f.hosts, opts...)
	require.NoError(t, err)
	return f
}

func insertFixtureRows(t *testing.T, db *sql.DB, table string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(16, 4))
	names := []string{"a", "a ", "A", "a\t", "b", "é", "€uro", "z", "", "😀", "Zed", "ab"}
	groups := []string{"x", "y", "z", "X"}
	maybe := func(v any) any {
		if rng.IntN(7) == 0 {
			return nil
		}
		return v
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var marks []string
	var args []any
	for id := 1; id <= fixtureRows; id++ {
		marks = append(marks, "(?,?,?,?,?,?,?,?,?,?)")
		args = append(args, id,
			maybe(groups[rng.IntN(len(groups))]),
			maybe(names[rng.IntN(len(names))]),
			maybe(names[rng.IntN(len(names))]),
			maybe(fmt.Sprintf("%d.%02d", rng.IntN(200)-50, rng.IntN(100))),
			maybe(rng.IntN(10)),
			maybe(uint64(1)<<63+uint64(rng.IntN(5))),
			maybe(float64(rng.IntN(40))/4),
			maybe(base.Add(time.Duration(rng.IntN(6))*90*24*time.Hour).Format(time.DateTime)),
			maybe([]byte{byte(rng.IntN(3)), 0xff}),
		)
	}
	_, err := db.ExecContext(t.Context(), "INSERT INTO "+table+" VALUES "+strings.Join(marks, ","), args...)
	require.NoError(t, err)
}

// unshardedRows runs query on the unsharded table and returns its rows,
// read the way the Gatherer reads shards.
func (f *fixture) unshardedRows(t *testing.T, query string, args ...any) *shard.Gathered {
	t.Helper()
	g, err := f.gatherer.Gather(t.Context(), []shard.Location{f.unsharded}, shard.Query{SQL: query, Args: args})
	require.NoError(t, err)
	return g
}

// render prints rows for comparison: each value with its Go type, so that
// 1.50 and 1.5, or int64 and uint64, differ.
func render(rows []shard.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		var b strings.Builder
		for j, v := range r {
			if j > 0 {
				b.WriteString(" | ")
			}
			if v == nil {
				b.WriteString("NULL")
			} else {
				fmt.Fprintf(&b, "%T(%q)", v, fmt.Sprint(v))
			}
		}
		out[i] = b.String()
	}
	return out
}
