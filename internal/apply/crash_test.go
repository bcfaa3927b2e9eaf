package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/rowchange"
)

// crashChildEnv holds the JSON crashSpec of an applier run as a child
// process of the test binary (see TestMain).
const crashChildEnv = "SHIFTGATE_APPLY_CHILD"

type crashSpec struct {
	DSN, Target, Checkpoint string
	Txns                    int
	// Group: commit in groups of crashGroup transactions, else each alone.
	Group bool
}

// crashGroup is the group size of the grouped crash test: a kill lands
// mid-group more often than not.
const crashGroup = 7

// Each crash transaction i (from 1) inserts crashRows rows of ids
// (i-1)*crashRows+1.., deletes the first half of transaction i-1's rows,
// moves a counter row from i-1 to i, and inserts row i of the log table.
const crashRows = 400

func crashTxn(i int) rowchange.Txn {
	var out []rowchange.Change
	base := int64((i - 1) * crashRows)
	for j := range int64(crashRows) {
		out = append(out, ins(shapeU, base+j+1, base+j+1, fmt.Sprint("txn ", i)))
	}
	if i > 1 {
		for j := range int64(crashRows / 2) {
			id := base - crashRows + j + 1
			out = append(out, del(shapeU, id, id, fmt.Sprint("txn ", i-1)))
		}
	}
	prev := row(int64(0), nil, fmt.Sprint(i-1))
	if i == 1 {
		out = append(out, ins(shapeU, prev...))
	}
	out = append(out, upd(shapeU, prev, row(int64(0), nil, fmt.Sprint(i))), ins(shapeL, int64(i)))
	pos := strconv.Itoa(i)
	// Half a transaction per batch: a kill may land between them.
	return rowchange.Txn{ID: pos, Position: pos, Time: time.Now(), Changes: &batchList{list: [][]rowchange.Change{out[:len(out)/2], out[len(out)/2:]}}}
}

// runCrashTxns applies the crash transactions after the stored one, the
// stored one first again (a redelivery, to be skipped).
func runCrashTxns(ctx context.Context, s crashSpec) error {
	cfg, err := conn.ParseDSN(s.DSN)
	if err != nil {
		return err
	}
	db, err := conn.Open(ctx, cfg, conn.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	group := WithGroupCommit(1, 0)
	if s.Group {
		group = WithGroupCommit(crashGroup, time.Hour)
	}
	a, err := New(db, checkpoint.New(s.Checkpoint), "crash", s.Target, group)
	if err != nil {
		return err
	}
	defer a.Close()
	st, err := a.Start(ctx)
	if err != nil {
		return err
	}
	from := 1
	if st != nil {
		if from, err = strconv.Atoi(st.Position); err != nil {
			return err
		}
	}
	for i := from; i <= s.Txns; i++ {
		if err := a.Apply(ctx, crashTxn(i)); err != nil {
			return err
		}
	}
	return a.Flush(ctx)
}

func crashChild(spec string) int {
	var s crashSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := runCrashTxns(context.Background(), s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestCrashResumesExactlyOnce kills the applier, running as a child
// process, with SIGKILL at random points several times, then reruns it
// from the checkpoint to the end: the target equals the expected state,
// and a trigger counting the log table's inserts shows that every
// transaction was committed exactly once. It runs with each transaction
// committed alone (the checkpoint's version then counts the saves too)
// and in groups, killed mid-group.
func TestCrashResumesExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes for several seconds")
	}
	for _, grouped := range []bool{false, true} {
		t.Run(fmt.Sprint("grouped=", grouped), func(t *testing.T) { testCrash(t, grouped) })
	}
}

func testCrash(t *testing.T, grouped bool) {
	ctx := context.Background()
	e := newEnv(t, tableU)
	counted := e.logged(t)
	spec := crashSpec{DSN: servers[0].DSN(""), Target: e.target, Checkpoint: e.store.Database(), Txns: 400, Group: grouped}
	specJSON, err := json.Marshal(spec)
	require.NoError(t, err)
	stored := func() int {
		st, err := e.store.LoadStream(ctx, e.db, "crash")
		require.NoError(t, err)
		if st == nil {
			return 0
		}
		n, err := strconv.Atoi(st.Position)
		require.NoError(t, err)
		if grouped {
			require.LessOrEqual(t, st.Version, int64(n))
			require.GreaterOrEqual(t, st.Version, int64(n/crashGroup), "groups saved")
		} else {
			require.Equal(t, int64(n), st.Version, "transactions saved more or less than once")
		}
		require.Equal(t, int64(n), counted(), "transactions committed more or less than once")
		return n
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	kills, last := 0, 0
	for attempt := 0; attempt < 12 && kills < 4; attempt++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+string(specJSON))
		out := &limited{max: 4096}
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			require.NoError(t, err, "the applier failed before it was killed: %s", out.buf)
			t.Logf("attempt %d: finished before the kill", attempt+1)
		case <-time.After(200*time.Millisecond + time.Duration(rng.Int64N(int64(700*time.Millisecond)))):
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			<-exited
		}
		n := stored()
		t.Logf("attempt %d: checkpoint at transaction %d", attempt+1, n)
		if n > last && n < spec.Txns {
			kills++
		}
		last = n
	}
	require.GreaterOrEqual(t, kills, 2, "too few kills hit the applier part-way: the test proves nothing")
	require.NoError(t, runCrashTxns(ctx, spec))
	assert.Equal(t, spec.Txns, stored())

	var n, minID, counter int64
	require.NoError(t, e.db.QueryRow("SELECT COUNT(*), MIN(id) FROM `"+e.target+"`.u WHERE id > 0").Scan(&n, &minID))
	require.NoError(t, e.db.QueryRow("SELECT v FROM `"+e.target+"`.u WHERE id = 0").Scan(&counter))
	assert.Equal(t, int64(spec.Txns), counter)
	// Every transaction's second half survives, the last one whole.
	assert.Equal(t, int64(spec.Txns*crashRows/2+crashRows/2), n)
	assert.Equal(t, int64(crashRows/2+1), minID)
	var bad int64
	require.NoError(t, e.db.QueryRow("SELECT COUNT(*) FROM `"+e.target+"`.u WHERE id > 0 AND (u <> id OR v <> CONCAT('txn ', (id - 1) DIV ?  + 1))", crashRows).Scan(&bad))
	assert.Zero(t, bad)
}

// limited keeps the first max bytes written to it.
type limited struct {
	buf []byte
	max int
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.max - len(l.buf); room > 0 {
		l.buf = append(l.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
