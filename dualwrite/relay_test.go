package dualwrite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/verify"
	"github.com/shiftgate/shiftgate/workflow"
)

// relayFixture is a primary database with items and key_seq, and a
// secondary database whose items logs every row it receives in
// applied_log and whose name column takes 10 characters only (a longer
// name is a poison change).
type relayFixture struct {
	pdb, sdb, cpdb string
	primary        *sql.DB
	secondary      *sql.DB
}

func newRelayFixture(t *testing.T) *relayFixture {
	f := &relayFixture{
		pdb:  sandboxtest.NewDatabase(t, servers[0], "dw_primary"),
		sdb:  sandboxtest.NewDatabase(t, servers[1], "dw_secondary"),
		cpdb: sandboxtest.NewDatabase(t, servers[1], "dw_cp"),
	}
	f.primary = sandboxtest.Open(t, servers[0], f.pdb)
	f.secondary = sandboxtest.Open(t, servers[1], f.sdb)
	sandboxtest.Exec(t, f.primary,
		"CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, v BIGINT NOT NULL)",
		"CREATE TABLE key_seq (id INT PRIMARY KEY, n BIGINT NOT NULL)")
	sandboxtest.Exec(t, f.secondary,
		"CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(10) NOT NULL, v BIGINT NOT NULL)",
		appliedLogTable,
		"CREATE TRIGGER items_ai AFTER INSERT ON items FOR EACH ROW INSERT INTO applied_log (id, v, op, conn, relay) VALUES (NEW.id, NEW.v, 'put', CONNECTION_ID(), CAST(@@session.wait_timeout AS SIGNED) - 1000000)",
		"CREATE TRIGGER items_au AFTER UPDATE ON items FOR EACH ROW INSERT INTO applied_log (id, v, op, conn, relay) VALUES (NEW.id, NEW.v, 'put', CONNECTION_ID(), CAST(@@session.wait_timeout AS SIGNED) - 1000000)",
		"CREATE TRIGGER items_ad AFTER DELETE ON items FOR EACH ROW INSERT INTO applied_log (id, v, op, conn, relay) VALUES (OLD.id, OLD.v, 'delete', CONNECTION_ID(), CAST(@@session.wait_timeout AS SIGNED) - 1000000)")
	return f
}

// appliedLogTable is the secondary's log of the rows applied to items: for
// each, the key, its v (for a deletion the v of the row deleted), the
// operation, the connection, the relay process (its pid, which a relay
// of TestRelayChaos passes in its session's wait_timeout, see
// childRelay) and when.
const appliedLogTable = "CREATE TABLE applied_log (seq BIGINT AUTO_INCREMENT PRIMARY KEY, id INT NOT NULL, v BIGINT NOT NULL," +
	" op VARCHAR(6) NOT NULL DEFAULT '', conn BIGINT NOT NULL DEFAULT 0, relay BIGINT NOT NULL DEFAULT 0, at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))"

// write runs one transaction changing 1 to 3 of keys 1..keys: each key's
// next version from key_seq, then a put of the row at that version or
// its deletion.
func write(ctx context.Context, o *Outbox, rng *rand.Rand, keys int) error {
	return o.Run(ctx, func(tx *Tx) error { return writeKeys(ctx, tx, rng, keys, true) })
}

// writeKeys is write's transaction, which names its rows (Changed) if
// capture is set.
func writeKeys(ctx context.Context, tx *Tx, rng *rand.Rand, keys int, capture bool) error {
	for range 1 + rng.IntN(3) {
		id := 1 + rng.IntN(keys)
		if _, err := tx.ExecContext(ctx, "INSERT INTO key_seq VALUES (?, 1) ON DUPLICATE KEY UPDATE n = n + 1", id); err != nil {
			return err
		}
		var v int64
		if err := tx.QueryRowContext(ctx, "SELECT n FROM key_seq WHERE id = ?", id).Scan(&v); err != nil {
			return err
		}
		q, args := "INSERT INTO items VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE name = VALUES(name), v = VALUES(v)", []any{id, fmt.Sprint("n", v), v}
		if rng.IntN(4) == 0 {
			q, args = "DELETE FROM items WHERE id = ?", []any{id}
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		if !capture {
			continue
		}
		if err := tx.Changed("items", id); err != nil {
			return err
		}
		if tx.o.tables["key_seq"] != nil {
			if err := tx.Changed("key_seq", id); err != nil {
				return err
			}
		}
	}
	return nil
}

// writePoison writes a row the secondary rejects (its name is too long).
func writePoison(ctx context.Context, o *Outbox, id int) error {
	return o.Run(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO items VALUES (?, 'a name far too long for the secondary', 1)", id); err != nil {
			return err
		}
		return tx.Changed("items", id)
	})
}

// check verifies the end state: the relay drained the outbox; the
// secondary equals the primary apart from the dead letters' keys (poison);
// every key's versions reached the secondary in order.
func (f *relayFixture) check(t *testing.T, o *Outbox, poison []int, deliveryLogs ...string) {
	t.Helper()
	ctx := t.Context()
	m, err := o.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Pending != 0 || m.DeadLetters != int64(len(poison)) {
		t.Errorf("metrics %+v, want nothing pending and %d dead letters", m, len(poison))
	}
	dead, err := o.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadKeys := map[string]bool{}
	for _, d := range dead {
		deadKeys[d.Key] = true
		if !strings.Contains(d.Error, "Data too long") || d.Table != "items" {
			t.Errorf("dead letter %+v: want a rejection of items for its name", d)
		}
	}
	for _, id := range poison {
		if !deadKeys[fmt.Sprintf(`["%d"]`, id)] {
			t.Errorf("poison key %d not in the dead letters %v", id, deadKeys)
		}
	}
	v, err := verify.New(f.primary, f.secondary)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := v.Verify(ctx, verify.TablePair{SourceDatabase: f.pdb, SourceTable: "items", TargetDatabase: f.sdb})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Differences() != int64(len(poison)) {
		t.Errorf("verify: %d differences, want %d (the dead letters): %+v", rep.Differences(), len(poison), rep.Tables)
	}
	for _, tr := range rep.Tables {
		for _, d := range tr.Diffs {
			if !deadKeys[`["`+strings.Join(d.Key, `","`)+`"]`] {
				t.Errorf("verify: difference %+v is not a dead letter", d)
			}
		}
	}
	checkOrder(t, f.secondary, deliveryLogs...)
}

// checkOrder checks that the secondary's applied_log holds every key's
// versions in order, and something. For a key applied out of order it
// shows the key's applied_log and the deliveries of the key found in the
// delivery logs (see loggingTransport).
func checkOrder(t *testing.T, secondary *sql.DB, deliveryLogs ...string) {
	t.Helper()
	ctx := t.Context()
	rows, err := secondary.QueryContext(ctx, "SELECT id, v FROM applied_log ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	last := map[int]int64{}
	var bad []int
	n := 0
	for rows.Next() {
		var id int
		var v int64
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		if v < last[id] {
			t.Errorf("key %d: version %d applied after %d", id, v, last[id])
			bad = append(bad, id)
		}
		last[id] = v
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("nothing applied")
	}
	for _, id := range bad[:min(len(bad), 3)] {
		t.Logf("key %d applied (seq, v, op, connection, relay process, at):\n%s", id, strings.Join(queryLines(t, secondary, "SELECT * FROM applied_log WHERE id = ? ORDER BY seq", id), "\n"))
		var found []string
		for _, path := range deliveryLogs {
			b, err := os.ReadFile(path)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			attempts := map[string]bool{}
			for line := range strings.Lines(string(b)) {
				attempt, _, _ := strings.Cut(line, " bucket=")
				if strings.Contains(line, fmt.Sprintf(`:["%d"]@`, id)) {
					attempts[attempt] = true
				}
				if attempts[attempt] || strings.Contains(line, " started at ") {
					found = append(found, strings.TrimSuffix(line, "\n"))
				}
			}
		}
		if len(deliveryLogs) > 0 {
			t.Logf("deliveries of key %d (relay process, attempt, bucket, id:key@version, the bucket's stored position before, outcome):\n%s", id, strings.Join(found, "\n"))
		}
	}
}

// queryLines runs q and returns its rows, one line each.
func queryLines(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, v := range vals {
			parts = append(parts, v.String)
		}
		out = append(out, strings.Join(parts, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRelay delivers concurrent writes with one relay in the process: a
// poison change goes to the dead-letter table with an alert, pause stops
// delivery, the secondary ends equal to the primary, and delivered entries
// past the retention are cleaned up.
func TestRelay(t *testing.T) {
	ctx := t.Context()
	f := newRelayFixture(t)
	o, err := Open(ctx, f.primary, f.pdb, []Table{{Name: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewDirectTo(o, f.secondary, f.sdb, f.cpdb, "relay")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	notifier := &recordingNotifier{}
	alert := NotifierAlerter(notifier, f.pdb, []string{"dba"})
	r, err := o.NewRelay(tr, WithBatch(50), WithMaxAttempts(3), WithBackoff(time.Millisecond, 10*time.Millisecond), WithAlert(alert), WithRetention(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			for range 100 {
				if err := write(ctx, o, rng, 50); err != nil && !retryable(err) {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := writePoison(ctx, o, 1000); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Step(ctx); err != nil || n != 0 {
		t.Fatalf("paused relay delivered %d (%v)", n, err)
	}
	m, err := o.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Paused || m.Pending < 300 || m.OldestPending <= 0 {
		t.Errorf("paused metrics %+v", m)
	}
	if err := o.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the outbox to drain", func() bool {
		if _, err := r.Step(ctx); err != nil {
			t.Fatal(err)
		}
		m, err := o.Metrics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return m.Pending == 0
	})
	f.check(t, o, []int{1000})
	dead, err := o.DeadLetters(ctx)
	if err != nil || len(dead) != 1 || dead[0].Attempts != 3 {
		t.Fatalf("dead letters %+v (%v), want one after 3 attempts", dead, err)
	}
	notifier.mu.Lock()
	if ev := notifier.events; len(ev) != 1 || ev[0].Kind != workflow.EventFailed || ev[0].TicketID != int64(dead[0].ID) ||
		!strings.Contains(ev[0].Title, `["1000"]`) || !strings.Contains(ev[0].Detail, "Data too long") || ev[0].Recipients[0] != "dba" {
		t.Errorf("alerts %+v, want one for key 1000", ev)
	}
	notifier.mu.Unlock()
	if err := r.Alert(ctx); err != nil || len(notifier.events) != 1 {
		t.Errorf("Alert again: %v, %d events; want the dead letter alerted once", err, len(notifier.events))
	}
	st := r.Stats()
	if st.Delivered < 300 || st.Retries < 3 || st.DeadLetters != 1 {
		t.Errorf("relay stats %+v", st)
	}
	n, err := r.Cleanup(ctx)
	if err != nil || n != st.Delivered {
		t.Errorf("cleanup deleted %d (%v), want the %d delivered", n, err, st.Delivered)
	}
}

// recordingNotifier is a workflow.Notifier that records its events.
type recordingNotifier struct {
	mu     sync.Mutex
	events []workflow.Event
}

func (n *recordingNotifier) Notify(_ context.Context, e workflow.Event) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, e)
	return nil
}

// proxy forwards TCP connections to a server and can go down (refusing
// connections and cutting those it carries) and come back on its port.
type proxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	p.up("127.0.0.1:0")
	t.Cleanup(p.down)
	return p
}

func (p *proxy) up(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
}

// down closes the listener and every connection.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// childRelay runs a relay until killed.
func childRelay(s childSpec) error {
	ctx := context.Background()
	primary, err := sql.Open("mysql", s.DSN)
	if err != nil {
		return err
	}
	// The relay's pid goes into its sessions on the secondary, for
	// applied_log.
	cfg, err := mysql.ParseDSN(s.Secondary)
	if err != nil {
		return err
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["wait_timeout"] = strconv.Itoa(1000000 + os.Getpid())
	secondary, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	o, err := Open(ctx, primary, s.Database, []Table{{Name: "items"}})
	if err != nil {
		return err
	}
	direct, err := NewDirectTo(o, secondary, s.SecondaryDatabase, s.CheckpointDatabase, "chaos")
	if err != nil {
		return err
	}
	log, err := os.OpenFile(s.DeliveryLog, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	tr := &loggingTransport{Transport: direct, log: log, secondary: secondary,
		positions: schema.QualifiedName(s.CheckpointDatabase, "stream_positions"), stream: "chaos"}
	fmt.Fprintf(log, "relay=%d started at %s\n", os.Getpid(), time.Now().UTC().Format("15:04:05.000000"))
	alert := AlertFunc(func(_ context.Context, d DeadLetter) error {
		b, err := json.Marshal(d)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(s.AlertFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.Write(append(b, '\n'))
		return err
	})
	r, err := o.NewRelay(tr, WithBatch(20), WithMaxAttempts(3), WithBackoff(10*time.Millisecond, 500*time.Millisecond),
		WithPoll(10*time.Millisecond), WithAlert(alert), WithDeliveryTimeout(5*time.Second))
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// loggingTransport logs every delivery to a file, one line as it begins
// (the process, the attempt, the bucket, its entries and the bucket's
// position stored on the secondary) and one as it ends, for the failure
// messages of checkOrder.
type loggingTransport struct {
	Transport
	log       *os.File
	secondary *sql.DB
	positions string // the checkpoint's stream_positions table
	stream    string // the Direct transport's name
	attempts  atomic.Int64
}

func (l *loggingTransport) Deliver(ctx context.Context, bucket int, entries []Entry) error {
	attempt := fmt.Sprintf("relay=%d attempt=%d", os.Getpid(), l.attempts.Add(1))
	stored := "none"
	var pos, version string
	err := l.secondary.QueryRowContext(ctx, "SELECT position, version FROM "+l.positions+" WHERE stream = ?", BucketStream(l.stream, bucket)).Scan(&pos, &version)
	switch {
	case err == nil:
		stored = pos + "/v" + version
	case !errors.Is(err, sql.ErrNoRows):
		stored = "unknown"
	}
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, " %d:%s@%d", e.ID, e.Key, e.Version)
	}
	fmt.Fprintf(l.log, "%s bucket=%d at %s stored=%s entries=%s\n", attempt, bucket, time.Now().UTC().Format("15:04:05.000000"), stored, b.String())
	err = l.Transport.Deliver(ctx, bucket, entries)
	fmt.Fprintf(l.log, "%s bucket=%d at %s -> %v\n", attempt, bucket, time.Now().UTC().Format("15:04:05.000000"), err)
	return err
}

// TestRelayChaos: writers on the primary while two relay processes are
// SIGKILLed and restarted at random, the secondary is unreachable for a
// while and a poison change is rejected; at the end the secondary equals
// the primary apart from the dead letter, which was alerted, and no key
// was applied out of order.
func TestRelayChaos(t *testing.T) {
	ctx := t.Context()
	f := newRelayFixture(t)
	o, err := Open(ctx, f.primary, f.pdb, []Table{{Name: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, servers[1].Addr())
	cfg := servers[1].Config(f.sdb)
	cfg.Addr = px.addr
	dir := t.TempDir()
	alertFile, deliveryLog := filepath.Join(dir, "alerts"), filepath.Join(dir, "deliveries")
	spec := childSpec{Role: "relay", DSN: servers[0].DSN(f.pdb), Database: f.pdb, Secondary: cfg.FormatDSN(),
		SecondaryDatabase: f.sdb, CheckpointDatabase: f.cpdb, AlertFile: alertFile, DeliveryLog: deliveryLog}
	relays := []*exec.Cmd{startChild(t, spec), startChild(t, spec)}

	wctx, stop := context.WithCancel(ctx)
	var writes sync.WaitGroup
	for w := range 3 {
		writes.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 4))
			for wctx.Err() == nil {
				if err := write(wctx, o, rng, 100); err != nil && wctx.Err() == nil && !retryable(err) {
					t.Error(err)
					return
				}
			}
		})
	}
	if err := writePoison(ctx, o, 1000); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	for round := range 8 {
		time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
		i := rng.IntN(len(relays))
		killChild(t, relays[i])
		relays[i] = startChild(t, spec)
		if round == 4 {
			px.down() // the secondary is unreachable for 10 s
			time.Sleep(10 * time.Second)
			px.up(px.addr)
		}
	}
	stop()
	writes.Wait()
	drained := func() bool {
		m, err := o.Metrics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return m.Pending == 0
	}
	for deadline := time.Now().Add(time.Minute); !drained(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the outbox did not drain; pending by bucket (bucket, entries, failures, retry at, last error):\n%s",
				strings.Join(queryLines(t, f.primary, "SELECT b.bucket, COUNT(*), b.failures, b.retry_at, b.last_error FROM dualwrite_buckets b"+
					" JOIN dualwrite_outbox o ON o.bucket = b.bucket AND o.delivered_at IS NULL GROUP BY b.bucket"), "\n"))
		}
	}
	// At least once: a relay killed between recording the dead letter and
	// alerting it, or between alerting and marking it alerted, leaves it to
	// the next relay's Alert (at its start, then every minute).
	for _, c := range relays {
		killChild(t, c)
	}
	last := startChild(t, spec)
	var b []byte
	waitFor(t, "the dead letter's alert", func() bool {
		b, err = os.ReadFile(alertFile)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return len(b) > 0
	})
	killChild(t, last)
	f.check(t, o, []int{1000}, deliveryLog)
	first, _, _ := strings.Cut(string(b), "\n")
	var d DeadLetter
	if err := json.Unmarshal([]byte(first), &d); err != nil || d.Key != `["1000"]` {
		t.Errorf("alert %s (%v), want the dead letter of key 1000", b, err)
	}
}

// blockingTransport records deliveries, and blocks each until released
// when block is set.
type blockingTransport struct {
	block   chan struct{}
	started chan int
	mu      sync.Mutex
	got     []Entry
}

func (b *blockingTransport) Deliver(_ context.Context, bucket int, entries []Entry) error {
	if b.block != nil {
		b.started <- bucket
		<-b.block
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, entries...)
	return nil
}

// TestRelayLease: while a relay delivers a bucket, another relay does not
// take it.
func TestRelayLease(t *testing.T) {
	ctx := t.Context()
	f := newRelayFixture(t)
	o, err := Open(ctx, f.primary, f.pdb, []Table{{Name: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Run(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO items VALUES (1, 'a', 1)"); err != nil {
			return err
		}
		return tx.Changed("items", 1)
	}); err != nil {
		t.Fatal(err)
	}
	slow := &blockingTransport{block: make(chan struct{}), started: make(chan int, 1)}
	fast := &blockingTransport{}
	r1, err := o.NewRelay(slow)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := o.NewRelay(fast)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := r1.Step(ctx)
		done <- err
	}()
	<-slow.started
	if n, err := r2.Step(ctx); err != nil || n != 0 {
		t.Errorf("second relay delivered %d (%v) while the first held the bucket", n, err)
	}
	close(slow.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(slow.got) != 1 || len(fast.got) != 0 {
		t.Errorf("deliveries: first relay %d, second %d; want 1 and 0", len(slow.got), len(fast.got))
	}
	if n, err := r2.Step(ctx); err != nil || n != 0 {
		t.Errorf("after delivery the second relay delivered %d (%v)", n, err)
	}
}

// TestRelayMapping delivers a table whose target has another name, a
// renamed key column and a computed column.
func TestRelayMapping(t *testing.T) {
	ctx := t.Context()
	pdb := sandboxtest.NewDatabase(t, servers[0], "map_old")
	sdb := sandboxtest.NewDatabase(t, servers[1], "map_new")
	cpdb := sandboxtest.NewDatabase(t, servers[1], "map_cp")
	primary := sandboxtest.Open(t, servers[0], pdb)
	secondary := sandboxtest.Open(t, servers[1], sdb)
	sandboxtest.Exec(t, primary, "CREATE TABLE users (uid INT PRIMARY KEY, first VARCHAR(20) NOT NULL, last VARCHAR(20) NOT NULL, legacy INT)")
	sandboxtest.Exec(t, secondary, "CREATE TABLE people (user_id INT PRIMARY KEY, full_name VARCHAR(50) NOT NULL)")
	toPeople := func(r Row) (Row, error) {
		out := Row{"user_id": r["uid"]}
		if first, ok := r["first"]; ok {
			out["full_name"] = fmt.Sprint(first, " ", r["last"])
		}
		return out, nil
	}
	o, err := Open(ctx, primary, pdb, []Table{{Name: "users", Target: "people", Map: toPeople}})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewDirectTo(o, secondary, sdb, cpdb, "mapping")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	r, err := o.NewRelay(tr)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		q  string
		id int
	}{
		{"INSERT INTO users VALUES (1, 'Ada', 'Lovelace', 7)", 1},
		{"INSERT INTO users VALUES (2, 'Alan', 'Turing', 8)", 2},
		{"UPDATE users SET last = 'King' WHERE uid = 1", 1},
		{"DELETE FROM users WHERE uid = 2", 2},
	} {
		err := o.Run(ctx, func(tx *Tx) error {
			if _, err := tx.ExecContext(ctx, step.q); err != nil {
				return err
			}
			return tx.Changed("users", step.id)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n, err := r.Step(ctx); err != nil || n != 4 {
		t.Fatalf("relay delivered %d (%v), want 4", n, err)
	}
	var got []string
	rows, err := secondary.QueryContext(ctx, "SELECT CONCAT(user_id, ':', full_name) FROM people ORDER BY user_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if strings.Join(got, ",") != "1:Ada King" {
		t.Errorf("secondary people: %v, want [1:Ada King]", got)
	}
}

// TestBackfill captures the rows that existed before dual writes while
// writers change them: the secondary ends equal to the primary, each key
// in order.
func TestBackfill(t *testing.T) {
	ctx := t.Context()
	f := newRelayFixture(t)
	sandboxtest.Exec(t, f.primary, "INSERT INTO items SELECT seq, 'seed', 0 FROM seq_1_to_300")
	o, err := Open(ctx, f.primary, f.pdb, []Table{{Name: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Backfill(ctx, "nope", 10); !errors.Is(err, ErrUnknownTable) {
		t.Errorf("backfill of an undeclared table: %v", err)
	}
	tr, err := NewDirectTo(o, f.secondary, f.sdb, f.cpdb, "backfill")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	r, err := o.NewRelay(tr, WithPoll(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	rctx, stopRelay := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Go(func() { _ = r.Run(rctx) })
	defer func() { stopRelay(); bg.Wait() }()
	wctx, stop := context.WithCancel(ctx)
	var writes sync.WaitGroup
	for w := range 2 {
		writes.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 8))
			for wctx.Err() == nil {
				if err := write(wctx, o, rng, 300); err != nil && wctx.Err() == nil && !retryable(err) {
					t.Error(err)
					return
				}
			}
		})
	}
	if err := o.Backfill(ctx, "items", 37); err != nil {
		t.Fatal(err)
	}
	stop()
	writes.Wait()
	waitFor(t, "the outbox to drain", func() bool {
		m, err := o.Metrics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return m.Pending == 0
	})
	f.check(t, o, nil)
}

// TestClassify: a server error that retrying can fix is transient, one
// about the change itself rejects it.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		code      uint16
		rejected  bool
		retryable bool
	}{
		{1406, true, false},  // data too long
		{1062, true, false},  // duplicate key on a secondary unique key
		{1213, false, true},  // deadlock
		{1205, false, true},  // lock wait timeout
		{1467, false, true},  // AUTO-INC lock wait ended in a deadlock or timeout
		{1927, false, false}, // connection killed
	} {
		err := fmt.Errorf("apply: %w", &mysql.MySQLError{Number: c.code, Message: "test"})
		if got := errors.Is(classify(err), ErrRejected); got != c.rejected {
			t.Errorf("error %d: rejected %t, want %t", c.code, got, c.rejected)
		}
		if got := retryable(err); got != c.retryable {
			t.Errorf("error %d: retryable %t, want %t", c.code, got, c.retryable)
		}
	}
}

// TestRelayLateCommit: outbox ids are taken when a transaction captures,
// not when it commits, so a bucket's entry can commit after the relay
// delivered a higher id of that bucket (another key's). The relay still
// delivers it.
func TestRelayLateCommit(t *testing.T) {
	ctx := t.Context()
	f := newRelayFixture(t)
	o, err := Open(ctx, f.primary, f.pdb, []Table{{Name: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	// Two keys of one bucket.
	late, early := 1, 2
	for bucketOf(early) != bucketOf(late) {
		early++
	}
	tr, err := NewDirectTo(o, f.secondary, f.sdb, f.cpdb, "late")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	r, err := o.NewRelay(tr)
	if err != nil {
		t.Fatal(err)
	}
	put := func(tx *Tx, id int) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO items VALUES (?, 'x', 1)", id); err != nil {
			return err
		}
		return tx.Changed("items", id)
	}
	tx, err := o.Begin(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := put(tx, late); err != nil {
		t.Fatal(err)
	}
	if err := tx.Flush(); err != nil { // its entry takes its id now
		t.Fatal(err)
	}
	if err := o.Run(ctx, func(tx *Tx) error { return put(tx, early) }); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Step(ctx); err != nil || n != 1 {
		t.Fatalf("relay delivered %d (%v), want the early commit", n, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Step(ctx); err != nil || n != 1 {
		t.Fatalf("relay delivered %d (%v), want the late commit", n, err)
	}
	var got int
	if err := f.secondary.QueryRowContext(ctx, "SELECT COUNT(*) FROM items WHERE id IN (?, ?)", late, early).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != 2 {
		t.Errorf("secondary holds %d of keys %d and %d, want both", got, late, early)
	}
}

// bucketOf is the bucket of key id of items.
func bucketOf(id int) int {
	return int(keyHash("items", fmt.Sprintf(`["%d"]`, id)) % Buckets)
}

// TestDirectKeyVersions: a delivery that comes late (a batch read before
// another relay delivered a later version of its key) does not take the
// key back, and the rest of its batch applies.
func TestDirectKeyVersions(t *testing.T) {
	ctx := t.Context()
	f := newRelayFixture(t)
	o, err := Open(ctx, f.primary, f.pdb, []Table{{Name: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	other := 2
	for bucketOf(other) != bucketOf(1) {
		other++
	}
	for _, q := range []struct {
		sql string
		id  int
	}{
		{"INSERT INTO items VALUES (1, 'a', 1)", 1},
		{"UPDATE items SET v = 2 WHERE id = 1", 1},
		{"INSERT INTO items VALUES (?, 'b', 1)", other},
	} {
		if err := o.Run(ctx, func(tx *Tx) error {
			args := []any{}
			if strings.Contains(q.sql, "?") {
				args = append(args, q.id)
			}
			if _, err := tx.ExecContext(ctx, q.sql, args...); err != nil {
				return err
			}
			return tx.Changed("items", q.id)
		}); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := f.primary.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := &lease{bucket: bucketOf(1)}
	err = o.pendingOf(ctx, tx, []*lease{l}, 10)
	_ = tx.Rollback()
	entries := l.entries
	if err != nil || len(entries) != 3 {
		t.Fatalf("pending %+v (%v), want 3 entries", entries, err)
	}
	tr, err := NewDirectTo(o, f.secondary, f.sdb, f.cpdb, "versions")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	// Version 2 of key 1 first, then the batch of version 1 and the other
	// key.
	if err := tr.Deliver(ctx, bucketOf(1), entries[1:2]); err != nil {
		t.Fatal(err)
	}
	if err := tr.Deliver(ctx, bucketOf(1), []Entry{entries[0], entries[2]}); err != nil {
		t.Fatal(err)
	}
	got := queryLines(t, f.secondary, "SELECT id, v FROM items ORDER BY id")
	if want := []string{"1 2", fmt.Sprint(other, " 1")}; !slices.Equal(got, want) {
		t.Errorf("secondary items %q, want %q", got, want)
	}
	checkOrder(t, f.secondary)
}
