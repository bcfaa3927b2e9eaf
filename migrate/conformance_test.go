package migrate_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/migrate/migratetest"
	"github.com/shiftgate/shiftgate/shard"
)

// OnlineAlter passes the conformance suite: one table, changed in place.
// It is not Resumable in the suite's sense: a canceled Run removes its
// shadow table and leaves the table untouched; a killed one resumes
// (TestOnlineAlterResumesAfterSIGKILL).
func TestOnlineAlterConformance(t *testing.T) {
	migratetest.Run(t, migratetest.Features{}, func(t testing.TB) migratetest.Subject {
		database := sandboxtest.NewDatabase(t, servers[0], "osc")
		sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], database),
			"CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL)",
			"INSERT INTO t SELECT seq, seq % 7 FROM seq_1_to_5000")
		alter := func(t testing.TB) migrate.Executor {
			a, err := migrate.NewOnlineAlter(servers[0].DSN(""), database, "t", "ADD COLUMN extra INT NOT NULL DEFAULT 42",
				migrate.WithChunkRows(200))
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		return migratetest.Subject{
			Executor: alter(t),
			State:    func(t testing.TB) string { return state(t, servers[0], database) },
			Reopen:   alter,
		}
	})
}

// Split, Merge and Rebalance pass the conformance suite, resumable from
// their checkpoints: Split one table into 32 shard tables of one
// database; Merge the 8 shard tables of a split, on two servers, into one
// table; Rebalance 4 shard tables on one server into 8 on two.
func TestShardConformance(t *testing.T) {
	// Each makes a fresh subject: how to build its executor, and the
	// state of what the executor writes.
	type subject struct {
		build func(testing.TB) migrate.Executor
		state func(testing.TB) string
	}
	for name, newSubject := range map[string]func(t testing.TB) subject{
		"Split": func(t testing.TB) subject {
			l := newSplitLayout(t, "one", 2000)
			return subject{
				build: func(t testing.TB) migrate.Executor {
					return l.split(t, migrate.WithChunkRows(100), migrate.WithSegmentRows(1000), migrate.WithProgressInterval(time.Millisecond))
				},
				state: func(t testing.TB) string { return state(t, servers[1], l.Layout.Database) },
			}
		},
		"Merge": func(t testing.TB) subject {
			m := newMerge(t, "two", 2000)
			return subject{
				build: func(t testing.TB) migrate.Executor {
					return m.merge(t, migrate.WithChunkRows(100), migrate.WithSegmentRows(1000), migrate.WithProgressInterval(time.Millisecond))
				},
				state: func(t testing.TB) string { return state(t, servers[1], m.Database) },
			}
		},
		"Rebalance": func(t testing.TB) subject {
			l := newSplitLayout(t, "rb-from", 2000)
			if _, err := l.split(t).Run(t.Context(), nil); err != nil {
				t.Fatal(err)
			}
			from, to := l.Layout, l.Layout
			to.Shards = 8
			to.Instances = []shard.Instance{{Name: "b", Databases: "1"}, {Name: "a", Databases: "2"}}
			dropRebalanceDatabases(t, l)
			plan, err := shard.NewPlan(&from, &to)
			if err != nil {
				t.Fatal(err)
			}
			first := l.router().Locations()[0].Database // database 1, on b
			second := first[:len(first)-1] + "2"        // database 2, on a
			return subject{
				build: func(t testing.TB) migrate.Executor {
					rb, err := migrate.NewRebalance(&from, &to, plan, "name", l.Targets, migrate.WithCheckpointDatabase(l.CheckpointDB),
						migrate.WithChunkRows(100), migrate.WithThreads(2), migrate.WithProgressInterval(time.Millisecond))
					if err != nil {
						t.Fatal(err)
					}
					return rb
				},
				state: func(t testing.TB) string { return state(t, servers[1], first) + "\n" + state(t, servers[0], second) },
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			migratetest.Run(t, migratetest.Features{Resumable: true}, func(t testing.TB) migratetest.Subject {
				s := newSubject(t)
				return migratetest.Subject{Executor: s.build(t), State: s.state, Reopen: s.build}
			})
		})
	}
}

// Sync passes the conformance suite with every feature: it copies two
// tables (resumable from the copy's checkpoint), follows the source's
// binary log after the copy until its context ends or its cutover, which
// ends Run with the target equal; it refuses to run after the cutover.
func TestSyncConformance(t *testing.T) {
	features := migratetest.Features{Tables: true, Resumable: true, Streaming: true, Cutover: true}
	migratetest.Run(t, features, func(t testing.TB) migratetest.Subject {
		name := sandboxtest.NewDatabase(t, servers[0], "syncsuite")
		target := sandboxtest.NewDatabase(t, servers[1], "syncsuite")
		sandboxtest.Exec(t, sandboxtest.Open(t, servers[1], ""), "DROP DATABASE `"+target+"`")
		db := sandboxtest.Open(t, servers[0], name)
		sandboxtest.Exec(t, db,
			"CREATE TABLE a (id INT PRIMARY KEY, n INT NOT NULL)",
			"CREATE TABLE b (id INT PRIMARY KEY, s VARCHAR(20) NOT NULL)",
			"INSERT INTO a SELECT seq, seq % 7 FROM seq_1_to_2000",
			"INSERT INTO b SELECT seq, CONCAT('row ', seq) FROM seq_1_to_2000")
		build := func(t testing.TB) migrate.Executor {
			s, err := migrate.NewSync(servers[0].DSN(""), servers[1].DSN(""), name, migrate.WithTargetDatabase(target),
				migrate.WithChunkRows(100), migrate.WithProgressInterval(time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		var writes atomic.Int64
		return migratetest.Subject{
			Executor: build(t),
			State:    func(t testing.TB) string { return state(t, servers[1], target) },
			Reopen:   build,
			Source:   func(t testing.TB) string { return state(t, servers[0], name) },
			Write: func(t testing.TB) {
				n := writes.Add(1)
				sandboxtest.Exec(t, db, fmt.Sprintf("INSERT INTO b VALUES (%d, 'written %d')", 1_000_000+n, n), fmt.Sprintf("UPDATE a SET n = n + 1 WHERE id = %d", n))
			},
		}
	})
}
