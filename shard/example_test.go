package shard_test

import (
	"fmt"
	"log"
	"time"

	"github.com/shiftgate/shiftgate/shard"
)

// The seed's layout: 32 tables in one database, the shard of a name given
// by int(md5(name).hexdigest(), 16) % 32 + 1.
func Example() {
	l := shard.Layout{Method: shard.MD5, Shards: 32, Database: "db01", Table: "test_{n}"}
	r, err := l.Router()
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range []string{"", "张三", "42"} {
		loc, err := r.Route(shard.String(name))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%q -> shard %d, %s\n", name, loc.Shard, loc)
	}
	fmt.Println(len(r.Locations()), "locations, the last", r.Locations()[31])
	// Output:
	// "" -> shard 31, db01.test_31
	// "张三" -> shard 20, db01.test_20
	// "42" -> shard 7, db01.test_7
	// 32 locations, the last db01.test_32
}

// Four databases of eight tables on two servers, declared in YAML, with a
// hot key pinned to a shard of its own choosing.
func ExampleParseLayout() {
	l, err := shard.ParseLayout([]byte(`
method: jump
shards: 32
tables_per_database: 8
database: db{m}
table: test_{k}
instances:
  - {name: east, databases: "1-2"}
  - {name: west, databases: "3-4"}
directory:
  - {key: 1000001, shard: 32}
`), "yaml")
	if err != nil {
		log.Fatal(err)
	}
	r, err := l.Router()
	if err != nil {
		log.Fatal(err)
	}
	for _, id := range []int64{7, 1000001} {
		loc, err := r.Route(shard.Int(id))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d -> shard %d on %s: %s.%s\n", id, loc.Shard, loc.Instance, loc.Database, loc.Table)
	}
	// Output:
	// 7 -> shard 27 on west: db4.test_3
	// 1000001 -> shard 32 on west: db4.test_8
}

// A time-sharded table: one table per year.
func ExampleNewRanges() {
	year := func(y int) shard.Key { return shard.Time(time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)) }
	s, err := shard.NewRanges([]shard.Interval{
		{Shard: 1, To: year(2024)},
		{Shard: 2, From: year(2024), To: year(2025)},
		{Shard: 3, From: year(2025)},
	})
	if err != nil {
		log.Fatal(err)
	}
	n, err := s.Shard(shard.Time(time.Date(2024, 6, 30, 12, 0, 0, 0, time.UTC)))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("2024-06-30 is in shard", n)
	// Output:
	// 2024-06-30 is in shard 2
}

// Doubling a power-of-two md5 layout: half of each table's rows stay, half
// move to the new table of the same residue.
func ExampleNewPlan() {
	from := &shard.Layout{Method: shard.MD5, Shards: 16, Database: "db01", Table: "test_{n}"}
	to := &shard.Layout{Method: shard.MD5, Shards: 32, Database: "db01", Table: "test_{n}"}
	p, err := shard.NewPlan(from, to)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("exact: %v, moved: %.0f%%\n", p.Exact, 100*p.MovedFraction)
	for _, f := range p.Sources[2].Targets {
		fmt.Printf("%s -> %s: %.2f (stays: %v)\n", p.Sources[2].Location, f.Location, f.Fraction, f.Stays)
	}
	// Output:
	// exact: true, moved: 50%
	// db01.test_3 -> db01.test_3: 0.50 (stays: true)
	// db01.test_3 -> db01.test_19: 0.50 (stays: false)
}
