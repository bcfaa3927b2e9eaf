package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/shard"
)

// seed004RowsEnv sets the row count of TestSeed004 (make test-long runs it
// with the seed's 1,000,000).
const seed004RowsEnv = "SHIFTGATE_SEED004_ROWS"

// childEnv holds the JSON arguments of a shardctl run as a child process
// of the test binary (see TestMain).
const childEnv = "SHIFTGATE_SHARDCTL_CHILD"

// runChild runs shardctl with the JSON arguments args and returns its
// exit status.
func runChild(args string) int {
	var a []string
	if err := json.Unmarshal([]byte(args), &a); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitUsage
	}
	return run(a, os.Stdin, os.Stdout, os.Stderr)
}

// TestSeed004 is the seed's story end to end through shardctl: a
// test(id, name, addTime) table of $SHIFTGATE_SEED004_ROWS rows (20,000
// when unset) is split by md5(name) % 32 + 1 into 32 tables on one server,
// and into 4 databases x 8 tables on two servers. Each split is killed
// with SIGKILL part-way, run again (it resumes and ends exact) and
// verified clean; then one row is corrupted, one moved to a wrong shard
// and one deleted, and verify names exactly those three.
func TestSeed004(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a child process mid-copy")
	}
	rows := 20_000
	if v := os.Getenv(seed004RowsEnv); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, seed004RowsEnv)
		require.GreaterOrEqual(t, n, 1000, seed004RowsEnv)
		rows = n
	}
	a, b := servers[0], servers[1]
	// One account, one password on both servers: shardctl reads one
	// password for all shard servers from the environment.
	user, password := "seed004_"+randomHex(t, 4), randomHex(t, 16)
	for _, s := range servers {
		root := sandboxtest.Open(t, s, "")
		sandboxtest.Exec(t, root, "CREATE USER '"+user+"'@'%' IDENTIFIED BY '"+password+"'", "GRANT ALL PRIVILEGES ON *.* TO '"+user+"'@'%'")
		t.Cleanup(func() {
			if db, err := s.Open(""); err == nil {
				_, _ = db.Exec("DROP USER IF EXISTS '" + user + "'@'%'")
				db.Close()
			}
		})
	}
	t.Setenv("SHIFTGATE_SOURCE_PASSWORD", password)
	t.Setenv(passwordEnv, password)
	dsn := func(s *sandbox.Server) string {
		cfg := s.Config("")
		cfg.User, cfg.Passwd = user, ""
		return cfg.FormatDSN()
	}

	source := sandboxtest.NewDatabase(t, a, "seed")
	begin := time.Now()
	sandboxtest.Exec(t, sandboxtest.Open(t, a, source),
		"CREATE TABLE test (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL, addTime DATETIME NOT NULL)",
		fmt.Sprintf("INSERT INTO test (name, addTime) SELECT CONCAT('user', seq, IF(seq %% 7 = 0, '-é', '')), '2020-01-01' + INTERVAL seq MINUTE FROM seq_1_to_%d", rows),
		"ANALYZE TABLE test")
	t.Logf("%d source rows in %s", rows, time.Since(begin).Round(time.Millisecond))

	for _, c := range []struct {
		name, layout string
		dsns         []string
	}{
		{"32 tables on one server", "method: md5\nshards: 32\ndatabase: %s\ntable: test_{n}\n", []string{dsn(b)}},
		{"4 databases x 8 tables on two servers",
			"method: md5\nshards: 32\ntables_per_database: 8\ndatabase: %s_{m}\ntable: test_{n}\ninstances:\n  - {name: a, databases: '1-2'}\n  - {name: b, databases: '3-4'}\n",
			[]string{"a=" + dsn(a), "b=" + dsn(b)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := sandboxtest.NewDatabase(t, b, "shards")
			checkpoint := base + "_cp"
			layoutFile := writeFile(t, "layout.yaml", fmt.Sprintf(c.layout, base))
			layout, err := shard.LoadLayout(layoutFile)
			require.NoError(t, err)
			router, err := layout.Router()
			require.NoError(t, err)
			serverOf := map[string]*sandbox.Server{"": b, "a": a, "b": b}
			t.Cleanup(func() {
				for _, s := range servers {
					if db, err := s.Open(""); err == nil {
						for _, name := range []string{base + "_1", base + "_2", base + "_3", base + "_4", checkpoint} {
							_, _ = db.Exec("DROP DATABASE IF EXISTS `" + name + "`")
						}
						db.Close()
					}
				}
			})
			shardFlags := []string{"-layout", layoutFile}
			for _, d := range c.dsns {
				shardFlags = append(shardFlags, "-dsn", d)
			}
			split := append([]string{"split", "-source", dsn(a), "-database", source, "-table", "test", "-key", "name", "-checkpoint-db", checkpoint}, shardFlags...)

			// Kill the split once a quarter of the rows are in.
			limit := split
			if rows < 200_000 {
				// Small tables copy in well under a second: slow the
				// first run down so that the kill lands mid-copy.
				limit = append(slices.Clone(split), "-rate", strconv.Itoa(rows/2))
			}
			copied := func() int64 {
				var n int64
				for _, s := range []*sandbox.Server{a, b} {
					var k int64
					// No table yet is no row yet.
					_ = sandboxtest.Open(t, s, "").QueryRow("SELECT COALESCE(SUM(rows_copied), 0) FROM `" + checkpoint + "`.copy_segments").Scan(&k)
					n += k
				}
				return n
			}
			begin := time.Now()
			killChildWhen(t, limit, func() bool { return copied() >= int64(rows/4) })
			at := copied()
			t.Logf("killed after %s with %d of %d rows checkpointed", time.Since(begin).Round(time.Millisecond), at, rows)
			require.Less(t, at, int64(rows), "the split had finished before the kill")

			begin = time.Now()
			code, out, errOut := shardctl(t, "", append(split, "-json")...)
			require.Equal(t, 0, code, errOut)
			t.Logf("the rerun finished in %s", time.Since(begin).Round(time.Millisecond))
			var report struct {
				Rows    int64 `json:"rows"`
				Resumed bool  `json:"resumed"`
			}
			require.NoError(t, json.Unmarshal([]byte(out), &report), out)
			assert.True(t, report.Resumed, "the rerun resumes the killed split")
			assert.Equal(t, int64(rows), report.Rows)

			verifyArgs := append(append([]string{"verify"}, shardFlags...), "-key", "name", "-source", dsn(a), "-database", source, "-table", "test", "-json")
			begin = time.Now()
			code, out, errOut = shardctl(t, "", verifyArgs...)
			require.Equal(t, 0, code, errOut+out)
			t.Logf("verify (clean) took %s", time.Since(begin).Round(time.Millisecond))
			var clean verifyReport
			require.NoError(t, json.Unmarshal([]byte(out), &clean), out)
			assert.Equal(t, int64(rows), clean.Rows)
			assert.Equal(t, int64(rows), clean.ShardRows)
			assert.Empty(t, clean.Diffs)

			// Damage three rows, each in its own shard's database.
			shardOf := func(id int) (shard.Location, *sandbox.Server) {
				var name string
				require.NoError(t, sandboxtest.Open(t, a, source).QueryRow("SELECT name FROM test WHERE id = ?", id).Scan(&name))
				loc, err := router.Route(shard.String(name))
				require.NoError(t, err)
				return loc, serverOf[loc.Instance]
			}
			changed, moved, deleted := rows/3, rows/2, rows*2/3
			loc, s := shardOf(changed)
			sandboxtest.Exec(t, sandboxtest.Open(t, s, loc.Database), fmt.Sprintf("UPDATE `%s` SET addTime = addTime + INTERVAL 1 SECOND WHERE id = %d", loc.Table, changed))
			changedShard := loc.Shard
			loc, s = shardOf(moved)
			wrong := neighbourIn(router.Locations(), loc)
			sandboxtest.Exec(t, sandboxtest.Open(t, s, loc.Database),
				fmt.Sprintf("INSERT INTO `%s` SELECT * FROM `%s` WHERE id = %d", wrong.Table, loc.Table, moved),
				fmt.Sprintf("DELETE FROM `%s` WHERE id = %d", loc.Table, moved))
			movedShard := loc.Shard
			loc, s = shardOf(deleted)
			sandboxtest.Exec(t, sandboxtest.Open(t, s, loc.Database), fmt.Sprintf("DELETE FROM `%s` WHERE id = %d", loc.Table, deleted))
			deletedShard := loc.Shard

			code, out, errOut = shardctl(t, "", verifyArgs...)
			require.Equal(t, 1, code, errOut+out)
			var damaged verifyReport
			require.NoError(t, json.Unmarshal([]byte(out), &damaged), out)
			assert.Equal(t, [5]int64{1, 0, 1, 1, 0}, [5]int64{damaged.Missing, damaged.Extra, damaged.Changed, damaged.Misplaced, damaged.Duplicated},
				"missing, extra, changed, misplaced, duplicated")
			var got []string
			for _, d := range damaged.Diffs {
				var found []string
				for _, f := range d.Found {
					found = append(found, strconv.Itoa(f.Shard))
				}
				got = append(got, fmt.Sprintf("%s %s shard %d found in [%s]", d.Kind, strings.Join(d.Key, ","), d.Shard, strings.Join(found, ",")))
			}
			slices.Sort(got)
			assert.Equal(t, []string{
				fmt.Sprintf("changed %d shard %d found in [%d]", changed, changedShard, changedShard),
				fmt.Sprintf("misplaced %d shard %d found in [%d]", moved, movedShard, wrong.Shard),
				fmt.Sprintf("missing %d shard %d found in []", deleted, deletedShard),
			}, got)
			assert.NotContains(t, out+errOut, password)
		})
	}
}

// verifyReport is the part of shardctl verify's JSON report TestSeed004
// checks.
type verifyReport struct {
	Rows       int64 `json:"rows"`
	ShardRows  int64 `json:"shard_rows"`
	Missing    int64 `json:"missing"`
	Extra      int64 `json:"extra"`
	Changed    int64 `json:"changed"`
	Misplaced  int64 `json:"misplaced"`
	Duplicated int64 `json:"duplicated"`
	Diffs      []struct {
		Kind  string   `json:"kind"`
		Key   []string `json:"key"`
		Shard int      `json:"shard"`
		Found []struct {
			Shard int `json:"shard"`
		} `json:"found"`
	} `json:"diffs"`
}

// neighbourIn returns the next location after loc (in shard order, round)
// in the same database of the same instance.
func neighbourIn(locs []shard.Location, loc shard.Location) shard.Location {
	i := slices.IndexFunc(locs, func(l shard.Location) bool { return l.Shard == loc.Shard })
	for j := 1; j < len(locs); j++ {
		if l := locs[(i+j)%len(locs)]; l.Instance == loc.Instance && l.Database == loc.Database {
			return l
		}
	}
	panic("no other shard in " + loc.String())
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// killChildWhen runs shardctl with args as a child process of the test
// binary and kills it with SIGKILL as soon as cond (polled) holds. The
// child must still be running then.
func killChildWhen(t *testing.T, args []string, cond func() bool) {
	t.Helper()
	spec, err := json.Marshal(args)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			require.NoError(t, err, "the split failed before it was killed: %s", out.String())
			t.Fatalf("the split finished before it was killed: %s", out.String())
		case <-tick.C:
			if !cond() {
				continue
			}
			require.NoError(t, cmd.Process.Kill()) // SIGKILL
			<-exited
			return
		}
	}
}

// lockedBuffer is a bytes.Buffer a child process's stdout and stderr
// write to at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
