package dualwrite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// entryColumns are the columns scanEntry reads.
const entryColumns = "id, bucket, version, tbl, key_json, row_json, " + createdMicros + ", attempts"

type scanner interface{ Scan(dest ...any) error }

func scanEntry(s scanner, extra ...any) (Entry, error) {
	var e Entry
	var row []byte
	var created int64
	err := s.Scan(append([]any{&e.ID, &e.Bucket, &e.Version, &e.Table, &e.Key, &row, &created, &e.Attempts}, extra...)...)
	if row != nil {
		e.Row = row
	}
	e.Created = time.UnixMicro(created).UTC()
	return e, err
}

// pendingOf reads the undelivered entries of the leased buckets into
// their leases, in id order, up to limit each (one for a bucket that
// delivers one entry at a time), in one statement; none while the outbox
// is paused (read in the same statement, after the caller leased the
// buckets: see Pause).
func (o *Outbox) pendingOf(ctx context.Context, tx *sql.Tx, leases []*lease, limit int) error {
	var q []byte
	byBucket := map[int]*lease{}
	for i, l := range leases {
		byBucket[l.bucket] = l
		if i > 0 {
			q = append(q, " UNION ALL "...)
		}
		n := limit
		if l.single {
			n = 1
		}
		q = append(q, "(SELECT "+entryColumns+" FROM "+o.outbox("dualwrite_outbox")+" WHERE bucket = "...)
		q = strconv.AppendInt(q, int64(l.bucket), 10)
		q = append(q, " AND delivered_at IS NULL AND (SELECT paused FROM "+o.outbox("dualwrite_state")+" WHERE id = 1) = 0 ORDER BY id LIMIT "...)
		q = strconv.AppendInt(q, int64(n), 10)
		q = append(q, ')')
	}
	rows, err := tx.QueryContext(ctx, string(q))
	if err != nil {
		return fmt.Errorf("dualwrite: outbox buckets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return fmt.Errorf("dualwrite: outbox buckets: %w", err)
		}
		if l := byBucket[e.Bucket]; l != nil {
			l.entries = append(l.entries, e)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("dualwrite: outbox buckets: %w", err)
	}
	// A union's rows come in no set order.
	for _, l := range leases {
		slices.SortFunc(l.entries, func(a, b Entry) int { return cmp.Compare(a.ID, b.ID) })
	}
	return nil
}

// markDelivered marks the entries ids delivered, in tx, and applied too
// if applied (the transport applied them as it delivered them, see
// ApplyingTransport).
func (o *Outbox) markDelivered(ctx context.Context, tx *sql.Tx, ids []uint64, applied bool) error {
	set := "delivered_at = UTC_TIMESTAMP(6)"
	if applied {
		set += ", applied_at = UTC_TIMESTAMP(6)"
	}
	return o.markEntries(ctx, tx, set, ids)
}

// MarkApplied records that the secondary applied the outbox entries ids,
// or holds a later version of their keys, or that they are dead letters:
// the side that applies the entries of a transport that does not
// (ApplyingTransport) calls it after its commit on the secondary, and
// Consumer does. Until then the entries count as not applied, and the
// switches that need the secondary up to date wait for them (see
// Outbox.Switch). Marking an entry again, or one not delivered yet, is
// harmless.
func (o *Outbox) MarkApplied(ctx context.Context, ids []uint64) error {
	if err := o.markEntries(ctx, o.db, "applied_at = UTC_TIMESTAMP(6)", ids); err != nil {
		return fmt.Errorf("dualwrite: marking %d outbox entries of database %s applied: %w", len(ids), o.cfg.outboxDB, err)
	}
	return nil
}

// markEntries sets set on the outbox entries ids, 1000 per statement.
// Literals, not placeholders: no prepared statement per batch.
func (o *Outbox) markEntries(ctx context.Context, ex interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}, set string, ids []uint64) error {
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		q := []byte("UPDATE " + o.outbox("dualwrite_outbox") + " SET " + set + " WHERE id IN (")
		for i, id := range ids[:n] {
			if i > 0 {
				q = append(q, ',')
			}
			q = strconv.AppendUint(q, id, 10)
		}
		if _, err := ex.ExecContext(ctx, string(append(q, ')'))); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// bury moves d's entry from the outbox to the dead-letter table.
func (o *Outbox) bury(ctx context.Context, tx *sql.Tx, d DeadLetter) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO "+o.outbox("dualwrite_dead_letters")+
		" (id, bucket, key_hash, version, tbl, key_json, row_json, created_at, failed_at, attempts, error)"+
		" SELECT id, bucket, key_hash, version, tbl, key_json, row_json, created_at, ?, ?, ? FROM "+o.outbox("dualwrite_outbox")+" WHERE id = ?",
		d.FailedAt, d.Attempts, d.Error, d.ID)
	if err != nil {
		return fmt.Errorf("dualwrite: dead letter of entry %d: %w", d.ID, err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+o.outbox("dualwrite_outbox")+" WHERE id = ?", d.ID); err != nil {
		return fmt.Errorf("dualwrite: dead letter of entry %d: %w", d.ID, err)
	}
	return nil
}

// recordDeadLetter records d, an entry already delivered to a broker, as
// a dead letter (once: a repeat is ignored).
func (o *Outbox) recordDeadLetter(ctx context.Context, d DeadLetter) error {
	var row any
	if d.Row != nil {
		row = []byte(d.Row)
	}
	_, err := o.db.ExecContext(ctx, "INSERT IGNORE INTO "+o.outbox("dualwrite_dead_letters")+
		" (id, bucket, key_hash, version, tbl, key_json, row_json, created_at, failed_at, attempts, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		d.ID, d.Bucket, keyHash(d.Table, d.Key), d.Version, d.Table, d.Key, row, d.Created, d.FailedAt, d.Attempts, d.Error)
	if err != nil {
		return fmt.Errorf("dualwrite: dead letter of entry %d: %w", d.ID, err)
	}
	return nil
}

// DeadLetters lists the dead letters in id order.
func (o *Outbox) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	return o.deadLetters(ctx, o.db, " ORDER BY id")
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (o *Outbox) deadLetters(ctx context.Context, q querier, tail string) ([]DeadLetter, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+entryColumns+", error, TIMESTAMPDIFF(MICROSECOND, '1970-01-01', failed_at) FROM "+
		o.outbox("dualwrite_dead_letters")+tail)
	if err != nil {
		return nil, fmt.Errorf("dualwrite: dead letters: %w", err)
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		var d DeadLetter
		var failed int64
		if d.Entry, err = scanEntry(rows, &d.Error, &failed); err != nil {
			return nil, fmt.Errorf("dualwrite: dead letters: %w", err)
		}
		d.FailedAt = time.UnixMicro(failed).UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dualwrite: dead letters: %w", err)
	}
	return out, nil
}

// Metrics is the state of an outbox, for a host to scrape or log; a
// relay's own counters are its RelayStats.
type Metrics struct {
	Pending int64 // entries not delivered yet
	// OldestPending is the age of the oldest of them; 0 when none.
	OldestPending time.Duration
	// InTransit counts the entries delivered and not applied on the
	// secondary yet (see Outbox.MarkApplied): a broker transport's backlog,
	// 0 with Direct.
	InTransit   int64
	DeadLetters int64
	Paused      bool
}

// Metrics reads the outbox's metrics.
func (o *Outbox) Metrics(ctx context.Context) (Metrics, error) {
	var m Metrics
	var oldest sql.NullInt64
	err := o.db.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM "+o.outbox("dualwrite_outbox")+" WHERE delivered_at IS NULL),"+
		" (SELECT TIMESTAMPDIFF(MICROSECOND, created_at, UTC_TIMESTAMP(6)) FROM "+o.outbox("dualwrite_outbox")+" WHERE delivered_at IS NULL ORDER BY id LIMIT 1),"+
		" (SELECT COUNT(*) FROM "+o.outbox("dualwrite_outbox")+" WHERE applied_at IS NULL AND delivered_at IS NOT NULL),"+
		" (SELECT COUNT(*) FROM "+o.outbox("dualwrite_dead_letters")+"),"+
		" (SELECT paused FROM "+o.outbox("dualwrite_state")+" WHERE id = 1)").Scan(&m.Pending, &oldest, &m.InTransit, &m.DeadLetters, &m.Paused)
	if err != nil {
		return m, fmt.Errorf("dualwrite: outbox metrics of database %s: %w", o.cfg.outboxDB, err)
	}
	if oldest.Valid && oldest.Int64 > 0 {
		m.OldestPending = time.Duration(oldest.Int64) * time.Microsecond
	}
	return m, nil
}

// Pause stops every relay of the outbox; capture goes on. It returns once
// the batches being delivered are marked (it waits for the relays' leases
// of the buckets): no relay delivers an entry after Pause returned, which
// the handoff from a binlog sync relies on (BeginHandoff).
func (o *Outbox) Pause(ctx context.Context) error {
	if err := o.setPaused(ctx, true); err != nil {
		return err
	}
	// A relay that leased a bucket before the pause delivers its batch; one
	// that leases it after reads no entry (pending). Taking every lease
	// waits for the former.
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("dualwrite: pausing relays of database %s: %w", o.cfg.outboxDB, err)
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, "SELECT bucket FROM "+o.outbox("dualwrite_buckets")+" FOR UPDATE")
	if err != nil {
		return fmt.Errorf("dualwrite: pausing relays of database %s: waiting for their batches: %w", o.cfg.outboxDB, err)
	}
	defer rows.Close()
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("dualwrite: pausing relays of database %s: waiting for their batches: %w", o.cfg.outboxDB, err)
	}
	return nil
}

// Resume lets the relays deliver again.
func (o *Outbox) Resume(ctx context.Context) error { return o.setPaused(ctx, false) }

func (o *Outbox) setPaused(ctx context.Context, paused bool) error {
	if _, err := o.db.ExecContext(ctx, "UPDATE "+o.outbox("dualwrite_state")+" SET paused = ?, updated_at = UTC_TIMESTAMP(6) WHERE id = 1", paused); err != nil {
		return fmt.Errorf("dualwrite: setting the relays' pause in database %s: %w", o.cfg.outboxDB, err)
	}
	return nil
}
