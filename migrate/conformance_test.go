package migrate_test

import (
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/migrate/migratetest"
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

// Split and Merge pass the conformance suite, resumable from their
// checkpoints: Split one table into 32 shard tables of one database,
// Merge the 8 shard tables of a split, on two servers, into one table.
func TestShardConformance(t *testing.T) {
	// Each returns how to build the executor of a fresh subject and the
	// target database it writes.
	for name, newSubject := range map[string]func(t testing.TB) (func(testing.TB) migrate.Executor, string){
		"Split": func(t testing.TB) (func(testing.TB) migrate.Executor, string) {
			l := newSplitLayout(t, "one", 2000)
			return func(t testing.TB) migrate.Executor {
				return l.split(t, migrate.WithChunkRows(100), migrate.WithSegmentRows(1000), migrate.WithProgressInterval(time.Millisecond))
			}, l.Layout.Database
		},
		"Merge": func(t testing.TB) (func(testing.TB) migrate.Executor, string) {
			m := newMerge(t, "two", 2000)
			return func(t testing.TB) migrate.Executor {
				return m.merge(t, migrate.WithChunkRows(100), migrate.WithSegmentRows(1000), migrate.WithProgressInterval(time.Millisecond))
			}, m.Database
		},
	} {
		t.Run(name, func(t *testing.T) {
			migratetest.Run(t, migratetest.Features{Resumable: true}, func(t testing.TB) migratetest.Subject {
				build, database := newSubject(t)
				return migratetest.Subject{
					Executor: build(t),
					State:    func(t testing.TB) string { return state(t, servers[1], database) },
					Reopen:   build,
				}
			})
		})
	}
}
