package migrate_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// alterChildEnv holds the JSON alterSpec of an online alter run as a child
// process of the test binary (see TestMain).
const alterChildEnv = "SHIFTGATE_ALTER_CHILD"

type alterSpec struct {
	DSN, Database, Clause string
	// HoldAt holds the run at this point of migrate.SetOnlineAlterHook,
	// after printing heldMarker, until it is killed.
	HoldAt string
	// SegmentRows, if set, is the run's WithSegmentRows.
	SegmentRows int
}

// heldMarker is what an alter child prints when it holds at its point.
const heldMarker = "held at "

// alterOptions are the options of the killed runs and of the one that
// finishes: small chunks and a slow copy (many commit points).
func alterOptions() []migrate.OnlineAlterOption {
	return []migrate.OnlineAlterOption{migrate.WithChunkRows(200), migrate.WithRateLimit(5000, 0)}
}

// alterChild runs the online alter the spec describes.
func alterChild(spec string) int {
	var s alterSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	opts := alterOptions()
	if s.SegmentRows > 0 {
		opts = append(opts, migrate.WithSegmentRows(s.SegmentRows))
	}
	a, err := migrate.NewOnlineAlter(s.DSN, s.Database, "t", s.Clause, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	migrate.SetOnlineAlterHook(a, func(point string) {
		if point == s.HoldAt {
			fmt.Fprintln(os.Stderr, heldMarker+point)
			select {}
		}
	})
	if _, err := a.Run(context.Background(), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestOnlineAlterResumesAfterSIGKILL kills the online alter, running as a
// child process, with SIGKILL twice at random points of its copy, twice
// while its stream catches up, and once in the middle of its cut-over (its
// lock held, the RENAME waiting), while the application writes the table
// and a mirror in the same transactions and reads the table; then a run
// finishes. The table equals the mirror, the application saw no error and
// never the table missing, and only `_t_old` is left.
func TestOnlineAlterResumesAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes for several seconds")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	c := alterCase{name: "kill", create: "CREATE TABLE %s (id INT PRIMARY KEY, n INT NOT NULL, v VARCHAR(20))",
		fill:   "INSERT INTO %s SELECT seq, seq %% 7, CONCAT('v', seq) FROM seq_1_to_20000",
		clause: "ADD COLUMN extra INT NOT NULL DEFAULT 42, ADD INDEX n_v (n, v)",
		insert: func(rng *rand.Rand, id int) string {
			return fmt.Sprintf("(%d, %d, 'v%d')", id, rng.IntN(100), id)
		},
		oldCols: 3, newCols: 4}
	dbName, db := createAlterCase(t, c)
	w := &alterWorkload{db: db, insert: c.insert, oldCols: c.oldCols, newCols: c.newCols}
	wctx, stopWriting := context.WithCancel(ctx)
	defer stopWriting()
	w.start(wctx, 20000)

	spec := alterSpec{DSN: servers[0].DSN(""), Database: dbName, Clause: c.clause}
	resume := func() string {
		a, err := migrate.NewOnlineAlter(spec.DSN, dbName, "t", c.clause, alterOptions()...)
		require.NoError(t, err)
		plan, err := a.Plan(ctx)
		require.NoError(t, err, "Plan after a kill")
		return plan.Alter.Resume
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	for attempt, hold := range []string{"", "", "catching-up", "catching-up", "rename-waiting"} {
		spec.HoldAt = hold
		cmd, out, exited := startAlterChild(t, ctx, spec)
		var wait time.Duration
		if hold == "" {
			wait = 700*time.Millisecond + time.Duration(rng.Int64N(int64(1500*time.Millisecond)))
		} else {
			waitHeld(t, out, exited)
			wait = time.Duration(rng.Int64N(int64(400 * time.Millisecond)))
		}
		select {
		case err := <-exited:
			t.Fatalf("attempt %d: the alter ended before it was killed: %v: %s", attempt+1, err, out)
		case <-time.After(wait):
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		<-exited
		state := resume()
		t.Logf("attempt %d: killed %s +%s: resume %q, %d commits so far", attempt+1, map[bool]string{true: "at " + hold, false: "after"}[hold != ""], wait, state, w.commits.Load())
		switch hold {
		case "":
			assert.Contains(t, []string{"copy", "stream"}, state)
		default:
			assert.Equal(t, "stream", state, "killed at %s", hold)
		}
		var cols int
		require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 't'", dbName).Scan(&cols))
		require.Equal(t, c.oldCols, cols, "the table was changed by a killed run")
	}

	a, err := migrate.NewOnlineAlter(spec.DSN, dbName, "t", c.clause, alterOptions()...)
	require.NoError(t, err)
	rep, err := a.Run(ctx, nil)
	require.NoError(t, err, "the run after the kills")
	assert.True(t, rep.Resumed)
	time.Sleep(200 * time.Millisecond) // writes after the swap
	stopWriting()
	w.wg.Wait()
	t.Logf("%d commits, cut-over stall %s", w.commits.Load(), rep.Cutover.Pause)
	checkAlterResult(t, ctx, w, dbName, db)
	assert.Zero(t, alterRunsLeft(t, dbName), "the checkpoint of the change is left")
}

// startAlterChild starts the online alter spec describes as a child
// process; exited receives its end.
func startAlterChild(t *testing.T, ctx context.Context, spec alterSpec) (cmd *exec.Cmd, out *syncBuffer, exited <-chan error) {
	t.Helper()
	specJSON, err := json.Marshal(spec)
	require.NoError(t, err)
	cmd = exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), alterChildEnv+"="+string(specJSON))
	out = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd, out, done
}

// TestOnlineAlterChunkCommitsWithCheckpoint kills the online alter,
// running as a child process, with SIGKILL twice in the middle of its
// copy, which copies each chunk inside the server (INSERT ... SELECT) in
// the transaction of its checkpoint, while nobody writes the table. After
// each kill the shadow holds exactly the rows of the checkpointed ranges:
// for each segment, the rows_copied rows from its start to its last key
// and none after. The run after the kills resumes there and finishes,
// its table equal to the original's rows.
func TestOnlineAlterChunkCommitsWithCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes for several seconds")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	c := alterCase{create: "CREATE TABLE %s (id INT PRIMARY KEY, n INT NOT NULL, v VARCHAR(20))",
		fill:   "INSERT INTO %s SELECT seq, seq %% 7, CONCAT('v', seq) FROM seq_1_to_20000",
		clause: "MODIFY n BIGINT NOT NULL, ADD INDEX n_v (n, v)"}
	dbName, db := createAlterCase(t, c)
	spec := alterSpec{DSN: servers[0].DSN(""), Database: dbName, Clause: c.clause, SegmentRows: 5000}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 12))
	var copied int64
	for kill := 1; kill <= 2; kill++ {
		cmd, out, exited := startAlterChild(t, ctx, spec)
		// Once the copy committed a chunk of this run, a random moment.
		before := copied
		for copied == before {
			select {
			case err := <-exited:
				t.Fatalf("kill %d: the alter ended before it was killed: %v: %s", kill, err, out)
			case <-time.After(10 * time.Millisecond):
			}
			// The checkpoint's tables do not exist before the first run
			// made them.
			_ = db.QueryRow(copiedQuery, dbName).Scan(&copied)
		}
		wait := time.Duration(rng.Int64N(int64(time.Second)))
		select {
		case err := <-exited:
			t.Fatalf("kill %d: the alter ended before it was killed: %v: %s", kill, err, out)
		case <-time.After(wait):
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		<-exited
		copied = checkCheckpointedShadow(t, db, dbName)
		t.Logf("kill %d %s after its first chunk: %d rows copied", kill, wait, copied)
		require.Less(t, copied, int64(20000), "kill %d: the copy was done before the kill", kill)
	}

	a, err := migrate.NewOnlineAlter(spec.DSN, dbName, "t", c.clause, append(alterOptions(), migrate.WithSegmentRows(spec.SegmentRows))...)
	require.NoError(t, err)
	rep, err := a.Run(ctx, nil)
	require.NoError(t, err, "the run after the kills")
	assert.True(t, rep.Resumed)
	assert.Equal(t, "insert-select", rep.WriteMethod)
	var differ int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM mirror m LEFT JOIN t ON t.id = m.id AND t.n = m.n AND t.v = m.v WHERE t.id IS NULL").Scan(&differ))
	var rows int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM t").Scan(&rows))
	assert.Zero(t, differ, "rows of the original missing or changed")
	assert.Equal(t, 20000, rows)
	assertNativeDefinition(t, db, c.clause) // the index the copy deferred is there
}

// copiedQuery counts the rows the checkpoint of the change in a database
// says were copied.
const copiedQuery = `SELECT COALESCE(SUM(s.rows_copied), 0) FROM _shiftgate.copy_segments s
	JOIN _shiftgate.copy_runs r ON r.target_db = s.target_db WHERE r.source_db = ? AND s.target_table = '_t_new'`

// checkCheckpointedShadow checks that the shadow `_t_new` of the change in
// database holds exactly the rows its checkpoint counts, each segment's
// from its lower bound to its last key, and returns their number.
func checkCheckpointedShadow(t *testing.T, db *sql.DB, database string) int64 {
	t.Helper()
	rows, err := db.Query(`SELECT s.segment, s.lower_key, s.upper_key, s.last_key, s.rows_copied, s.done FROM _shiftgate.copy_segments s
		JOIN _shiftgate.copy_runs r ON r.target_db = s.target_db WHERE r.source_db = ? AND s.target_table = '_t_new' ORDER BY s.segment`, database)
	require.NoError(t, err)
	defer rows.Close()
	var total, segments int64
	for rows.Next() {
		var seg int
		var lower, upper, last string
		var copied int64
		var done bool
		require.NoError(t, rows.Scan(&seg, &lower, &upper, &last, &copied, &done))
		bound := func(s string) any {
			v, err := keyset.DecodeValues(s)
			require.NoError(t, err)
			if v == nil {
				return nil
			}
			return v[0]
		}
		from, to, end := bound(lower), bound(last), bound(upper)
		var upTo, after int64 // the shadow's rows of the segment up to its last key, and after it
		if to == nil {        // no chunk committed
			require.Zero(t, copied, "segment %d: rows counted without a last key", seg)
			to = from
		}
		require.NoError(t, db.QueryRow(`SELECT COUNT(IF(? IS NOT NULL AND id <= ?, 1, NULL)), COUNT(IF(? IS NULL OR id > ?, 1, NULL)) FROM _t_new
			WHERE (? IS NULL OR id > ?) AND (? IS NULL OR id <= ?)`, to, to, to, to, from, from, end, end).Scan(&upTo, &after))
		assert.Equal(t, copied, upTo, "segment %d: the shadow's rows up to its last key %s", seg, last)
		if !done {
			assert.Zero(t, after, "segment %d: rows after its last key %q, which no checkpoint counts", seg, last)
		}
		total += copied
		segments++
	}
	require.NoError(t, rows.Err())
	require.Positive(t, segments, "no checkpoint of the copy")
	var shadowRows int64
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM _t_new").Scan(&shadowRows))
	assert.Equal(t, total, shadowRows, "the shadow's rows and the checkpoint's count")
	return total
}

// alterRunsLeft counts the checkpoint's runs of changes of database's
// tables.
func alterRunsLeft(t *testing.T, database string) int {
	t.Helper()
	var n int
	require.NoError(t, sandboxtest.Open(t, servers[0], "").QueryRow("SELECT COUNT(*) FROM _shiftgate.copy_runs WHERE source_db = ?", database).Scan(&n))
	return n
}

// waitHeld waits until the child printed heldMarker.
func waitHeld(t *testing.T, out fmt.Stringer, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("the alter ended before it held: %v: %s", err, out)
		default:
		}
		if strings.Contains(out.String(), heldMarker) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the alter never held: %s", out)
}
