package dualwrite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

const itemsDDL = `CREATE TABLE items (
	id INT NOT NULL PRIMARY KEY,
	name VARCHAR(50) NOT NULL,
	qty INT UNSIGNED NULL,
	price DECIMAL(12,2) NOT NULL DEFAULT 0,
	data BLOB NULL,
	at TIMESTAMP(3) NULL,
	f DOUBLE NULL,
	v INT NOT NULL DEFAULT 1)`

// readEntries reads the outbox of database in id order.
func readEntries(t *testing.T, db *sql.DB, database string) []Entry {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "SELECT id, bucket, version, tbl, key_json, row_json, "+createdMicros+" FROM `"+database+"`.dualwrite_outbox ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var row []byte
		var created int64
		if err := rows.Scan(&e.ID, &e.Bucket, &e.Version, &e.Table, &e.Key, &row, &created); err != nil {
			t.Fatal(err)
		}
		e.Created = time.UnixMicro(created).UTC()
		if row != nil {
			e.Row = row
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCapture(t *testing.T) {
	ctx := t.Context()
	database := sandboxtest.NewDatabase(t, servers[0], "capture")
	db := sandboxtest.Open(t, servers[0], database)
	sandboxtest.Exec(t, db, itemsDDL, "CREATE TABLE other (id INT PRIMARY KEY)")
	o, err := Open(ctx, db, database, []Table{{Name: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	// The session time zone does not change the captured TIMESTAMP.
	err = o.Run(ctx, func(tx *Tx) error {
		for _, s := range []string{
			"SET time_zone = '+05:00'",
			"INSERT INTO items VALUES (1, 'one', 7, 12.50, x'00ff10', '2024-01-02 08:04:05.250', 1.5, 1)",
			"INSERT INTO items (id, name) VALUES (2, 'two')",
		} {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		for _, id := range []int{1, 2, 2} {
			if err := tx.Changed("items", id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A rolled-back transaction records nothing.
	tx, err := o.Begin(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM items WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Changed("items", 1); err != nil {
		t.Fatal(err)
	}
	if err := tx.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	err = o.Run(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM items WHERE id = 2"); err != nil {
			return err
		}
		return tx.Changed("items", int64(2))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Run(ctx, func(tx *Tx) error { return tx.Changed("other", 1) }); !errors.Is(err, ErrUnknownTable) {
		t.Errorf("change of an undeclared table: %v, want ErrUnknownTable", err)
	}
	if err := o.Run(ctx, func(tx *Tx) error { return tx.Changed("items", 1, 2) }); !errors.Is(err, ErrKey) {
		t.Errorf("key of two values for one column: %v, want ErrKey", err)
	}

	entries := readEntries(t, db, database)
	if len(entries) != 3 {
		t.Fatalf("%d outbox entries, want 3: %+v", len(entries), entries)
	}
	type want struct {
		version uint64
		op      rowchange.Op
		row     map[string]any
	}
	wants := []want{
		{1, rowchange.Insert, map[string]any{"id": int64(1), "name": "one", "qty": uint64(7), "price": "12.50", "data": []byte{0, 0xff, 0x10}, "at": "2024-01-02 03:04:05.250000", "f": 1.5, "v": int64(1)}},
		{1, rowchange.Insert, map[string]any{"id": int64(2), "name": "two", "qty": nil, "price": "0.00", "data": nil, "at": nil, "f": nil, "v": int64(1)}},
		{2, rowchange.Delete, map[string]any{"id": int64(2)}},
	}
	if entries[0].Key != `["1"]` {
		t.Errorf("key of entry 1: %s", entries[0].Key)
	}
	for i, w := range wants {
		e := entries[i]
		ch, err := o.Change(&e)
		if err != nil {
			t.Fatal(err)
		}
		if e.Version != w.version || ch.Op != w.op {
			t.Errorf("entry %d: version %d op %s, want %d %s", i, e.Version, ch.Op, w.version, w.op)
		}
		img := ch.After
		if ch.Op == rowchange.Delete {
			img = ch.Before
		}
		got := map[string]any{}
		for j, c := range ch.Shape.Columns {
			got[c] = img[j]
		}
		if !reflect.DeepEqual(got, w.row) {
			t.Errorf("entry %d: row\n%#v\nwant\n%#v", i, got, w.row)
		}
		if ch.Shape.Table != (rowchange.Table{Schema: database, Name: "items"}) {
			t.Errorf("entry %d: table %v", i, ch.Shape.Table)
		}
	}
}

// TestCaptureTypes: values of more types, and a binary primary key,
// decode to what the primary holds.
func TestCaptureTypes(t *testing.T) {
	ctx := t.Context()
	database := sandboxtest.NewDatabase(t, servers[0], "types")
	db := sandboxtest.Open(t, servers[0], database)
	sandboxtest.Exec(t, db, `CREATE TABLE kinds (
		k VARBINARY(8) PRIMARY KEY, j JSON, js JSON, b BIT(5), e ENUM('x','y'), dt DATETIME(6), d DATE,
		u BIGINT UNSIGNED, fl FLOAT, db DOUBLE, lt LONGTEXT, y YEAR)`)
	o, err := Open(ctx, db, database, []Table{{Name: "kinds"}})
	if err != nil {
		t.Fatal(err)
	}
	key := []byte{0, 0xfe, '"'}
	for _, q := range []string{
		`INSERT INTO kinds VALUES (?, '{"a": [1, 2]}', '"abc"', b'10101', 'y', '2024-02-03 04:05:06.123456', '2024-02-03',
			18446744073709551615, 1.1, 0.30000000000000004, 'long', 2024)`,
		"DELETE FROM kinds WHERE k = ?",
	} {
		err := o.Run(ctx, func(tx *Tx) error {
			if _, err := tx.ExecContext(ctx, q, key); err != nil {
				return err
			}
			return tx.Changed("kinds", key)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	entries := readEntries(t, db, database)
	if len(entries) != 2 {
		t.Fatalf("%d entries", len(entries))
	}
	want := map[string]any{"k": key, "j": `{"a": [1, 2]}`, "js": `"abc"`, "b": uint64(21), "e": "y", "dt": "2024-02-03 04:05:06.123456",
		"d": "2024-02-03", "u": uint64(18446744073709551615), "fl": float32(1.1), "db": 0.30000000000000004, "lt": "long", "y": int64(2024)}
	for i, w := range []map[string]any{want, {"k": key}} {
		ch, err := o.Change(&entries[i])
		if err != nil {
			t.Fatal(err)
		}
		img := ch.After
		if ch.Op == rowchange.Delete {
			img = ch.Before
		}
		got := map[string]any{}
		for j, c := range ch.Shape.Columns {
			got[c] = img[j]
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("entry %d: row\n%#v\nwant\n%#v", i, got, w)
		}
	}
	if entries[0].Bucket != entries[1].Bucket || entries[1].Version != 2 {
		t.Errorf("the binary key's entries: buckets %d and %d, versions %d and %d", entries[0].Bucket, entries[1].Bucket, entries[0].Version, entries[1].Version)
	}
}

// TestCaptureMapping: a table whose target renames a column, computes
// another and drops one, and has another name.
func TestCaptureMapping(t *testing.T) {
	ctx := t.Context()
	database := sandboxtest.NewDatabase(t, servers[0], "mapping")
	db := sandboxtest.Open(t, servers[0], database)
	sandboxtest.Exec(t, db, "CREATE TABLE users (uid INT PRIMARY KEY, first VARCHAR(20), last VARCHAR(20), legacy INT)")
	rename := func(r Row) (Row, error) {
		out := Row{"user_id": r["uid"]}
		if _, ok := r["first"]; ok {
			out["full_name"] = fmt.Sprint(r["first"], " ", r["last"])
		}
		return out, nil
	}
	o, err := Open(ctx, db, database, []Table{{Name: "users", Target: "people", Map: rename}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"INSERT INTO users VALUES (5, 'Ada', 'Lovelace', 9)", "DELETE FROM users WHERE uid = 5"} {
		err := o.Run(ctx, func(tx *Tx) error {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return err
			}
			return tx.Changed("users", 5)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	entries := readEntries(t, db, database)
	if len(entries) != 2 {
		t.Fatalf("%d entries", len(entries))
	}
	put, err := o.Change(&entries[0])
	if err != nil {
		t.Fatal(err)
	}
	if put.Shape.Table.Name != "people" || !reflect.DeepEqual(put.Shape.Columns, []string{"full_name", "user_id"}) ||
		!reflect.DeepEqual(put.After, []any{"Ada Lovelace", int64(5)}) {
		t.Errorf("mapped put: %v %v %v", put.Shape.Table, put.Shape.Columns, put.After)
	}
	del, err := o.Change(&entries[1])
	if err != nil {
		t.Fatal(err)
	}
	if del.Op != rowchange.Delete || !reflect.DeepEqual(del.Shape.Columns, []string{"user_id"}) || !reflect.DeepEqual(del.Before, []any{int64(5)}) {
		t.Errorf("mapped delete: %s %v %v", del.Op, del.Shape.Columns, del.Before)
	}
	failing := func(Row) (Row, error) { return nil, errors.New("no mapping") }
	o.tables["users"].Map = failing
	if _, err := o.Change(&entries[0]); err == nil || !strings.Contains(err.Error(), "no mapping") {
		t.Errorf("failing mapping: %v", err)
	}
}

// childEnv holds the JSON childSpec of a process the tests kill.
const childEnv = "SHIFTGATE_DUALWRITE_CHILD"

type childSpec struct {
	Role     string // "writer" or "relay"
	DSN      string
	Database string
	Seed     uint64
	// A relay's secondary, its database, the checkpoint database, the
	// file it appends alerts to and the one it logs deliveries to.
	Secondary, SecondaryDatabase, CheckpointDatabase, AlertFile, DeliveryLog string
}

func runChild(spec string) int {
	var s childSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var err error
	switch s.Role {
	case "writer":
		err = childWriter(s)
	case "relay":
		err = childRelay(s)
	default:
		err = fmt.Errorf("unknown role %q", s.Role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// childWriter writes random transactions of several rows until killed.
func childWriter(s childSpec) error {
	ctx := context.Background()
	db, err := sql.Open("mysql", s.DSN)
	if err != nil {
		return err
	}
	o, err := Open(ctx, db, s.Database, []Table{{Name: "items"}})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(s.Seed, 1))
	for {
		if err := writeRandom(ctx, o, rng, 40); err != nil && !retryable(err) {
			return err
		}
	}
}

// writeRandom runs one transaction of 1 to 5 random inserts, updates and
// deletes of keys 1..keys, each bumping the row's v.
func writeRandom(ctx context.Context, o *Outbox, rng *rand.Rand, keys int) error {
	return o.Run(ctx, func(tx *Tx) error {
		for range 1 + rng.IntN(5) {
			id := 1 + rng.IntN(keys)
			var q string
			switch rng.IntN(4) {
			case 0:
				q = "DELETE FROM items WHERE id = ?"
			default:
				q = "INSERT INTO items (id, name, v) VALUES (?, 'x', 1) ON DUPLICATE KEY UPDATE v = v + 1, name = CONCAT('n', v)"
			}
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
			if err := tx.Changed("items", id); err != nil {
				return err
			}
		}
		return nil
	})
}

// startChild runs this test binary as the child spec describes.
func startChild(t *testing.T, s childSpec) *exec.Cmd {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// killChild SIGKILLs the child and waits for it.
func killChild(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// waitFor polls cond until it holds, failing after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countRows(t *testing.T, db *sql.DB, query string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCaptureKilled: application processes SIGKILLed at random moments of
// their transactions; afterwards the outbox's last state of every key is
// the primary's row, and the versions of each key are 1, 2, 3... in id
// order.
func TestCaptureKilled(t *testing.T) {
	database := sandboxtest.NewDatabase(t, servers[0], "killed")
	db := sandboxtest.Open(t, servers[0], database)
	sandboxtest.Exec(t, db, itemsDDL)
	if _, err := Open(t.Context(), db, database, []Table{{Name: "items"}}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	for round := range 4 {
		before := countRows(t, db, "SELECT COUNT(*) FROM dualwrite_outbox")
		var cmds []*exec.Cmd
		for w := range 2 {
			cmds = append(cmds, startChild(t, childSpec{Role: "writer", DSN: servers[0].DSN(database), Database: database, Seed: uint64(round*10 + w)}))
		}
		waitFor(t, "writes", func() bool { return countRows(t, db, "SELECT COUNT(*) FROM dualwrite_outbox") > before+100 })
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		for _, c := range cmds {
			killChild(t, c)
		}
	}
	checkOutboxMatches(t, db, database)
}

// checkOutboxMatches checks that the latest outbox state of every key is
// the primary's row in items, and that each key's versions follow id
// order without gaps.
func checkOutboxMatches(t *testing.T, db *sql.DB, database string) {
	t.Helper()
	o, err := Open(t.Context(), db, database, []Table{{Name: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	latest := map[string]Entry{}
	for _, e := range readEntries(t, db, database) {
		if prev, ok := latest[e.Key]; ok && e.Version != prev.Version+1 || !ok && e.Version != 1 {
			t.Errorf("key %s: version %d (entry %d) after %d", e.Key, e.Version, e.ID, prev.Version)
		}
		latest[e.Key] = e
	}
	primary := map[string]string{}
	rows, err := db.QueryContext(t.Context(), "SELECT id, name, v FROM items")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, v int64
		var name string
		if err := rows.Scan(&id, &name, &v); err != nil {
			t.Fatal(err)
		}
		primary[fmt.Sprintf(`["%d"]`, id)] = fmt.Sprintf("%s/%d", name, v)
	}
	if len(latest) == 0 {
		t.Fatal("nothing captured")
	}
	for key, e := range latest {
		ch, err := o.Change(&e)
		if err != nil {
			t.Fatal(err)
		}
		want, present := primary[key]
		if ch.Op == rowchange.Delete {
			if present {
				t.Errorf("key %s: outbox says deleted, primary has %s", key, want)
			}
			continue
		}
		got := fmt.Sprintf("%s/%d", ch.After[slicesIndex(ch.Shape.Columns, "name")], ch.After[slicesIndex(ch.Shape.Columns, "v")])
		if got != want {
			t.Errorf("key %s: outbox %s, primary %q", key, got, want)
		}
	}
	for key := range primary {
		if _, ok := latest[key]; !ok {
			t.Errorf("key %s: on the primary, not in the outbox", key)
		}
	}
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
