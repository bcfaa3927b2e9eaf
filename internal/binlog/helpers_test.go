package binlog_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// servers[0] streams; servers[1] has its settings changed and its binary
// logs purged by the tests of Check, which do not run in parallel.
var servers []*sandbox.Server

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m, 2, &servers)) }

// waitLimit bounds every wait of these tests; it is a hang guard, not a
// timing assertion.
const waitLimit = 2 * time.Minute

// serverIDs hands out replica server ids unique within the test binary.
var serverIDs = struct {
	sync.Mutex
	next uint32
}{next: 900000}

func newServerID() uint32 {
	serverIDs.Lock()
	defer serverIDs.Unlock()
	serverIDs.next++
	return serverIDs.next
}

// got is one transaction as the recording sink committed it.
type got struct {
	tx      rowchange.Txn
	changes []rowchange.Change
	batches int
}

// recorder is a sink that records the transactions it commits. hook, if
// set, runs after each batch read (n counts the batches of this Apply)
// and may return an error to stop reading.
type recorder struct {
	mu    sync.Mutex
	txns  []got
	hook  func(tx rowchange.Txn, n int, batch []rowchange.Change) error
	fails []error // errors Apply returned
}

func (r *recorder) Apply(ctx context.Context, tx rowchange.Txn) error {
	g := got{tx: tx}
	if tx.Changes != nil {
		for {
			b, err := tx.Changes.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				r.mu.Lock()
				r.fails = append(r.fails, err)
				r.mu.Unlock()
				return err
			}
			g.batches++
			for _, c := range b {
				c.Before, c.After = slices.Clone(c.Before), slices.Clone(c.After)
				g.changes = append(g.changes, c)
			}
			if r.hook != nil {
				if err := r.hook(tx, g.batches, b); err != nil {
					return err
				}
			}
		}
	}
	r.mu.Lock()
	r.txns = append(r.txns, g)
	r.mu.Unlock()
	return nil
}

func (r *recorder) all() []got {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.txns)
}

// withChanges are the recorded transactions that carry changes.
func (r *recorder) withChanges() []got {
	var out []got
	for _, g := range r.all() {
		if g.tx.Changes != nil {
			out = append(out, g)
		}
	}
	return out
}

// insertedIDs are the first column of the rows inserted by the recorded
// transactions, in order.
func (r *recorder) insertedIDs() []int64 {
	var ids []int64
	for _, g := range r.all() {
		for _, c := range g.changes {
			if c.Op == rowchange.Insert {
				ids = append(ids, c.After[0].(int64))
			}
		}
	}
	return ids
}

// running is a stream running in the background.
type running struct {
	s    *binlog.Stream
	done chan error
	stop context.CancelFunc
}

// start runs a stream of cfg (DSN and ServerID filled in) into sink.
func start(t testing.TB, srv *sandbox.Server, cfg binlog.Config, sink rowchange.Sink) *running {
	t.Helper()
	if cfg.DSN == "" {
		cfg.DSN = srv.DSN("")
	}
	if cfg.ServerID == 0 {
		cfg.ServerID = newServerID()
	}
	if cfg.Logger == nil && testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s, err := binlog.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{s: s, done: make(chan error, 1), stop: cancel}
	go func() { r.done <- s.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// current is the server's GTID position now.
func current(t testing.TB, db *sql.DB) string {
	t.Helper()
	pos, err := binlog.CurrentPosition(t.Context(), db, binlog.MariaDB)
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

// waitPosition waits until the stream has applied everything up to pos.
func (r *running) waitPosition(t *testing.T, pos string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		ok, err := binlog.PositionContains(binlog.MariaDB, r.s.Position(), pos)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
		select {
		case err := <-r.done:
			r.done <- err // for the cleanup
			t.Fatalf("stream ended before reaching %s: %v", pos, err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream at %q did not reach %q", r.s.Position(), pos)
		}
	}
}

// waitEnd waits for Run to return.
func (r *running) waitEnd(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(waitLimit):
		t.Fatal("Run did not return")
		return nil
	}
}

// newDB creates a database on servers[0] and returns a pool on it.
func newDB(t testing.TB, prefix string, stmts ...string) (*sql.DB, string) {
	t.Helper()
	name := sandboxtest.NewDatabase(t, servers[0], prefix)
	db := sandboxtest.Open(t, servers[0], name)
	sandboxtest.Exec(t, db, stmts...)
	return db, name
}
