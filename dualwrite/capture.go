package dualwrite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// flushKeys bounds the keys a Tx holds before it records them, and the
// keys of one capture statement.
const flushKeys = 500

// Tx is the host's write transaction on the primary, with the changes it
// declares recorded in the outbox in the same transaction. Use it as the
// *sql.Tx it embeds; after writing rows of a declared table, name them
// with Changed. Commit records the state of every named row, then
// commits: the outbox holds a change if and only if the primary commits
// it. A Tx is used by one goroutine, as a *sql.Tx is.
type Tx struct {
	*sql.Tx
	o       *Outbox
	ctx     context.Context
	pending map[*table]map[string][]string // by table, key text -> key values' text
	n       int
	// recorded: a Flush recorded changes, so the commit wakes the relays.
	recorded bool
}

// Begin starts a transaction on the primary whose changes Changed records.
func (o *Outbox) Begin(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	tx, err := o.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("dualwrite: begin on database %s: %w", o.database, err)
	}
	return o.Wrap(ctx, tx), nil
}

// Wrap records the changes of tx, a transaction the host began on the
// primary server of o (the server Open read the tables from), running
// statements under ctx.
func (o *Outbox) Wrap(ctx context.Context, tx *sql.Tx) *Tx {
	return &Tx{Tx: tx, o: o, ctx: ctx, pending: map[*table]map[string][]string{}}
}

// Run runs fn in a transaction that records its changes and commits it;
// it rolls back if fn returns an error (returned as is) or panics.
func (o *Outbox) Run(ctx context.Context, fn func(tx *Tx) error) (err error) {
	tx, err := o.Begin(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// Route reads the phase's route inside the transaction, under a shared
// lock of the outbox's state row held to commit: a phase switch waits for
// the transaction, so the route it returns holds until Commit. A writer
// that takes its route here (and names its rows with Changed when
// Route.Capture says so) needs no wait for the switch to dual writes to
// reach it (see BeginHandoff); one that reads Outbox.Route before its
// transaction acts on an answer the switch can outdate. The route of a
// reverse outbox's transaction is refused: the phase lives on the old
// database.
func (t *Tx) Route() (Route, error) {
	if t.o.cfg.reverse {
		return Route{}, fmt.Errorf("dualwrite: route in a transaction of the reverse outbox of database %s: ask the old database's Outbox.Route", t.o.database)
	}
	s, err := t.o.state(t.ctx, t.Tx, " LOCK IN SHARE MODE")
	if err != nil {
		return Route{}, err
	}
	return RouteOf(s.Phase)
}

// Changed declares that the transaction wrote (inserted, updated or
// deleted) the row of table whose primary key is key, its values in key
// column order: integers, strings or []byte, spelled as the table stores
// them (a string key compared case-insensitively by its collation must be
// given as stored, since the key's text orders its changes). The row's
// state at Commit (or at Flush) is what is recorded, so naming a row
// several times records it once.
func (t *Tx) Changed(tableName string, key ...any) error {
	tb, ok := t.o.tables[tableName]
	if !ok {
		return fmt.Errorf("dualwrite: table %q: %w", tableName, ErrUnknownTable)
	}
	if len(key) != len(tb.key) {
		return fmt.Errorf("dualwrite: table %s: %d key values for the %d primary key columns: %w", tb.qname, len(key), len(tb.key), ErrKey)
	}
	text, values, err := tb.keyText(key)
	if err != nil {
		return fmt.Errorf("dualwrite: table %s: %w", tb.qname, err)
	}
	m := t.pending[tb]
	if m == nil {
		m = map[string][]string{}
		t.pending[tb] = m
	}
	if _, ok := m[text]; !ok {
		m[text] = values
		t.n++
	}
	if t.n >= flushKeys {
		return t.Flush()
	}
	return nil
}

// Flush records now the state of the rows named since the last Flush.
// A row changed again afterwards must be named again.
func (t *Tx) Flush() error {
	_, err := t.flush(false)
	return err
}

// flush records the rows named since the last flush; with fence, its last
// statement also takes the commit's fence (see Commit) and fenced says so
// (false when there was nothing to record).
func (t *Tx) flush(fence bool) (fenced bool, err error) {
	left := len(t.pending)
	for tb, keys := range t.pending {
		left--
		last := fence && left == 0
		if err := t.o.capture(t.ctx, t.Tx, tb, keys, last); err != nil {
			return false, err
		}
		fenced = fenced || last
		t.recorded = true
		delete(t.pending, tb)
	}
	t.n = 0
	return fenced, nil
}

// Commit records the named rows and commits. If recording fails the
// transaction is rolled back and the error returned.
//
// An outbox of the old database (the default side, see WithReverse)
// fences its commits: a transaction commits only while the phase writes
// to the old database (not PhaseWriteNew or PhaseDone), checked under a
// shared lock of the state row that Switch to PhaseWriteNew waits for;
// else Commit rolls back and returns an error wrapping ErrWriteMoved. The
// check is part of the last statement that records the rows (no round
// trip of its own), or a statement of its own when there is nothing to
// record.
//
// A commit that recorded changes wakes the relays of the Outbox that
// wait in this process (Relay.Run), which deliver them at once.
func (t *Tx) Commit() error {
	fence := !t.o.cfg.reverse
	fenced, err := t.flush(fence)
	if err == nil && fence && !fenced {
		err = t.o.fence(t.ctx, t.Tx)
	}
	if err != nil {
		_ = t.Tx.Rollback()
		return err
	}
	if err := t.Tx.Commit(); err != nil {
		return fmt.Errorf("dualwrite: commit on database %s: %w", t.o.database, err)
	}
	if t.recorded {
		t.o.commits.notify()
	}
	return nil
}

// capKey is one key to capture.
type capKey struct {
	hash   uint64
	text   string   // JSON array of the key values' text
	values []string // the values' text
}

// capture records the state of the rows of tb at keys in the outbox, in
// two statements per flushKeys keys: the keys' versions are taken (and
// locked until commit), then the rows are read and recorded. With fence
// the last statement takes the commit's fence (see fenceClause).
func (o *Outbox) capture(ctx context.Context, tx *sql.Tx, tb *table, keys map[string][]string, fence bool) error {
	list := make([]capKey, 0, len(keys))
	for text, values := range keys {
		list = append(list, capKey{hash: keyHash(tb.Name, text), text: text, values: values})
	}
	// Versions are locked in hash order: two transactions capturing the
	// same keys wait for each other instead of deadlocking.
	slices.SortFunc(list, func(a, b capKey) int {
		if a.hash != b.hash {
			return cmp.Compare(a.hash, b.hash)
		}
		return strings.Compare(a.text, b.text)
	})
	for len(list) > 0 {
		n := min(len(list), flushKeys)
		if err := o.captureChunk(ctx, tx, tb, list[:n], fence && n == len(list)); err != nil {
			return err
		}
		list = list[n:]
	}
	return nil
}

// captureChunk runs the two statements for list, the second with the
// commit's fence if fence. They are built with literals, not placeholders:
// on a pool without interpolateParams a placeholder costs a prepared
// statement, three round trips instead of one.
func (o *Outbox) captureChunk(ctx context.Context, tx *sql.Tx, tb *table, list []capKey, fence bool) error {
	b := make([]byte, 0, 256+len(list)*(64+16*len(tb.key)))
	b = append(b, "INSERT INTO "+o.outbox("dualwrite_key_versions")+" (key_hash) VALUES "...)
	for i, k := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '(')
		b = strconv.AppendUint(b, k.hash, 10)
		b = append(b, ')')
	}
	b = append(b, " ON DUPLICATE KEY UPDATE version = version + 1"...)
	if _, err := tx.ExecContext(ctx, string(b)); err != nil {
		return fmt.Errorf("dualwrite: table %s: taking key versions: %w", tb.qname, err)
	}

	b = append(b[:0], "INSERT INTO "+o.outbox("dualwrite_outbox")+
		" (bucket, key_hash, version, tbl, key_json, row_json, created_at) SELECT k.b, k.h, v.version, "+rowcodec.String(tb.Name)+", k.kj, IF(t."...)
	b = append(b, schema.QuoteIdent(tb.key[0])+" IS NULL, NULL, "+tb.rowExpr+"), UTC_TIMESTAMP(6) FROM ("...)
	for i, k := range list {
		if i > 0 {
			b = append(b, " UNION ALL "...)
		}
		b = append(b, "SELECT "...)
		b = strconv.AppendUint(b, k.hash%Buckets, 10)
		b = append(b, " AS b, "...)
		b = strconv.AppendUint(b, k.hash, 10)
		b = append(b, " AS h, "...)
		b = rowcodec.AppendLiteral(b, rowcodec.Text, []byte(k.text))
		b = append(b, " AS kj"...)
		for j, v := range k.values {
			b = append(b, ", "...)
			b = rowcodec.AppendLiteral(b, tb.keyKinds[j], []byte(v))
			b = append(b, " AS k"+strconv.Itoa(j)...)
		}
	}
	b = append(b, ") k JOIN "+o.outbox("dualwrite_key_versions")+" v ON v.key_hash = k.h LEFT JOIN "+tb.qname+" t ON "...)
	for j, c := range tb.key {
		if j > 0 {
			b = append(b, " AND "...)
		}
		b = append(b, "t."+schema.QuoteIdent(c)+" = k.k"+strconv.Itoa(j)...)
	}
	if fence {
		b = append(b, o.fenceClause()...)
	}
	res, err := tx.ExecContext(ctx, string(b))
	if err != nil {
		return fmt.Errorf("dualwrite: table %s: recording changes: %w", tb.qname, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("dualwrite: table %s: recording changes: %w", tb.qname, err)
	}
	if n == int64(len(list)) {
		return nil
	}
	if fence && n == 0 {
		// The phase does not write the old database: the fence's error,
		// read under the lock the statement took.
		if err := o.fence(ctx, tx); err != nil {
			return err
		}
	}
	return fmt.Errorf("dualwrite: table %s: recorded %d changes of %d keys", tb.qname, n, len(list))
}

// fenceClause is the WHERE clause that makes the statement recording
// changes the commit's fence: it reads the phase under a shared lock of
// the state row, held to commit, and records nothing unless the phase
// writes to the old database.
func (o *Outbox) fenceClause() string {
	return " WHERE (SELECT phase FROM " + o.outbox("dualwrite_state") + " WHERE id = 1 LOCK IN SHARE MODE) IN (" + oldWritePhases + ")"
}

// oldWritePhases lists, as SQL literals, the phases that write the old
// database.
var oldWritePhases = func() string {
	var list []string
	for _, p := range phaseOrder {
		if r, err := RouteOf(p); err == nil && r.Write == Old {
			list = append(list, rowcodec.String(string(p)))
		}
	}
	return strings.Join(list, ", ")
}()

// keyText is the key values' text, and as a JSON array of their text
// (binary columns in base64) the key's identity in the outbox.
func (tb *table) keyText(key []any) (string, []string, error) {
	values := make([]string, len(key))
	texts := make([]string, len(key))
	for i, v := range key {
		switch v := v.(type) {
		case int:
			values[i] = strconv.FormatInt(int64(v), 10)
		case int8:
			values[i] = strconv.FormatInt(int64(v), 10)
		case int16:
			values[i] = strconv.FormatInt(int64(v), 10)
		case int32:
			values[i] = strconv.FormatInt(int64(v), 10)
		case int64:
			values[i] = strconv.FormatInt(v, 10)
		case uint:
			values[i] = strconv.FormatUint(uint64(v), 10)
		case uint8:
			values[i] = strconv.FormatUint(uint64(v), 10)
		case uint16:
			values[i] = strconv.FormatUint(uint64(v), 10)
		case uint32:
			values[i] = strconv.FormatUint(uint64(v), 10)
		case uint64:
			values[i] = strconv.FormatUint(v, 10)
		case string:
			values[i] = v
		case []byte:
			values[i] = string(v)
		default:
			return "", nil, fmt.Errorf("key value %d of type %T (want an integer, string or []byte): %w", i+1, v, ErrKey)
		}
		texts[i] = values[i]
		if tb.keyKinds[i] == rowcodec.Binary {
			texts[i] = base64.StdEncoding.EncodeToString([]byte(values[i]))
		}
	}
	b, err := json.Marshal(texts)
	if err != nil {
		return "", nil, fmt.Errorf("key: %w", err)
	}
	return string(b), values, nil
}

// keyHash is the hash of a table's key: its version row and its bucket.
func keyHash(tableName, text string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(tableName))
	h.Write([]byte{0})
	h.Write([]byte(text))
	return h.Sum64()
}
