// Package snapshot opens reader connections that all see one point in
// time (aligned consistent snapshots), on one server or several, and the
// binary log position of that point.
package snapshot

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/internal/conn"
)

// Position is a point in a server's binary log.
type Position struct {
	File string `json:"file,omitempty"`
	Pos  uint64 `json:"pos,omitempty"`
	// GTID is the GTID set (MariaDB: domain-server-seq list) at that point.
	GTID string `json:"gtid,omitempty"`
}

// IsZero reports whether p holds no position.
func (p Position) IsZero() bool { return p.File == "" && p.GTID == "" }

// String formats p as "file:pos gtid".
func (p Position) String() string {
	if p.IsZero() {
		return "none"
	}
	s := fmt.Sprintf("%s:%d", p.File, p.Pos)
	if p.GTID != "" {
		s += " gtid " + p.GTID
	}
	return s
}

// Method is how the readers' snapshots are aligned.
type Method int

const (
	// None starts no transaction: each reader reads when it reads. With
	// Options.Position the position is read before the readers are
	// returned; the rows they read later are newer than it.
	None Method = iota
	// Quiesced starts the snapshots without a lock: the caller guarantees
	// that no server changes while Open runs (writes are stopped).
	Quiesced
	// BackupStage blocks only commits (MariaDB's BACKUP STAGE
	// BLOCK_COMMIT, 10.4+, needs RELOAD) while the snapshots start, and
	// checks that every reader's snapshot is at the position read while
	// blocked. Running statements go on; the block typically lasts
	// milliseconds. The Copier uses it on its source.
	BackupStage
	// FlushTables blocks all writes (FLUSH TABLES WITH READ LOCK, MySQL and
	// MariaDB, needs RELOAD), after waiting for running statements, while
	// the snapshots start. It is what aligns several servers at once when
	// they have no common binary log (verify's SnapshotLocked: source and
	// target).
	FlushTables
)

// LockWait bounds the wait of BackupStage and FlushTables for the
// statements that hold what they need (lock_wait_timeout).
const LockWait = 10 * time.Second

// Group is the readers of one server.
type Group struct {
	DB *sql.DB // readers and the lock connection come from it
	N  int     // number of readers
	// Session, when set, is applied to each reader before its snapshot
	// starts (for a pool whose connections do not have it already).
	Session *conn.Session
}

// Options of Open.
type Options struct {
	Method Method
	// ReadOnly starts the snapshots READ ONLY.
	ReadOnly bool
	// Position reads the binary log position of the first group's server
	// at the snapshots' point (needs a binary log and BINLOG MONITOR or
	// REPLICATION CLIENT).
	Position bool
	// Quiet, when set, is called once the readers are open and their
	// sessions set, right before the locks are taken and the snapshots
	// start: with Quiesced, the caller makes its quiet point there, so
	// that only the snapshots' start runs in it. Its error ends Open.
	Quiet func(context.Context) error
}

// Snapshot is the readers Open returns.
type Snapshot struct {
	// Readers holds the readers of each group, in the groups' order; with
	// a Method other than None each is inside its snapshot transaction.
	Readers [][]*sql.Conn
	// Position is the first group's binary log position at the snapshots'
	// point (zero unless Options.Position).
	Position Position
	// Blocked is how long commits (BackupStage) or writes (FlushTables)
	// were blocked.
	Blocked time.Duration
}

// Close discards the readers: their sessions and snapshots never go back
// to a pool.
func (s *Snapshot) Close() {
	if s == nil {
		return
	}
	for _, g := range s.Readers {
		for _, c := range g {
			conn.Discard(c)
		}
	}
	s.Readers = nil
}

// GroupError is an error of Open on one group's server.
type GroupError struct {
	Group int // index into Open's groups
	Err   error
}

func (e *GroupError) Error() string { return fmt.Sprintf("server %d: %v", e.Group+1, e.Err) }

func (e *GroupError) Unwrap() error { return e.Err }

// Open opens the readers of each group and aligns their snapshots by
// o.Method: with BackupStage and FlushTables it locks every group's server
// in order, starts all snapshots, reads the position and unlocks them all;
// the lock of each lives on a connection of its own that is closed
// afterwards. An error is a *GroupError naming the group; the readers
// already opened are discarded.
func Open(ctx context.Context, o Options, groups ...Group) (_ *Snapshot, err error) {
	s := &Snapshot{Readers: make([][]*sql.Conn, len(groups))}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	fail := func(g int, err error) error { return &GroupError{Group: g, Err: err} }
	for i, g := range groups {
		for range g.N {
			c, err := g.DB.Conn(ctx)
			if err != nil {
				return nil, fail(i, err)
			}
			s.Readers[i] = append(s.Readers[i], c)
			if g.Session != nil {
				if err := g.Session.Apply(ctx, c); err != nil {
					return nil, fail(i, err)
				}
			}
		}
	}
	// held is the lock connections (the first also reads the position):
	// discarded at the end, so that no lock or session setting outlives
	// Open. Closing a session ends its lock: on an error that is the unlock.
	var held []*sql.Conn
	defer func() {
		for _, c := range held {
			conn.Discard(c)
		}
	}()
	locking := o.Method == BackupStage || o.Method == FlushTables
	if locking || o.Position && len(groups) > 0 {
		for i, g := range groups {
			if i > 0 && !locking {
				break
			}
			c, err := g.DB.Conn(ctx)
			if err != nil {
				return nil, fail(i, err)
			}
			held = append(held, c)
		}
	}
	if o.Quiet != nil {
		if err := o.Quiet(ctx); err != nil {
			return nil, err
		}
	}
	var blocked time.Time
	if locking {
		for i := range groups {
			if err := o.Method.lock(ctx, held[i]); err != nil {
				return nil, fail(i, err)
			}
		}
		blocked = time.Now()
	}
	if o.Method != None {
		start := "START TRANSACTION WITH CONSISTENT SNAPSHOT"
		if o.ReadOnly {
			start += ", READ ONLY"
		}
		for i, readers := range s.Readers {
			for _, c := range readers {
				if _, err := c.ExecContext(ctx, start); err != nil {
					return nil, fail(i, fmt.Errorf("start snapshot: %w", err))
				}
			}
		}
	}
	if o.Position && len(held) > 0 {
		if s.Position, err = ReadPosition(ctx, held[0]); err != nil {
			return nil, fail(0, err)
		}
	}
	if locking {
		var errs []error
		for i := range groups {
			if err := o.Method.unlock(held[i]); err != nil {
				errs = append(errs, fail(i, err))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		s.Blocked = time.Since(blocked)
	}
	if o.Method == BackupStage && o.Position && s.Position.File != "" {
		for i, c := range s.Readers[0] {
			file, pos, err := snapshotPosition(ctx, c)
			if err != nil {
				return nil, fail(0, err)
			}
			if file != s.Position.File || pos != s.Position.Pos {
				return nil, fail(0, fmt.Errorf("reader %d's snapshot is at %s:%d, not at %s: the snapshots are not aligned", i+1, file, pos, s.Position))
			}
		}
	}
	return s, nil
}

// lock takes m's lock on l.
func (m Method) lock(ctx context.Context, l *sql.Conn) error {
	if _, err := l.ExecContext(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", int(LockWait.Seconds()))); err != nil {
		return err
	}
	stmts := []string{"FLUSH TABLES WITH READ LOCK"}
	if m == BackupStage {
		stmts = []string{"BACKUP STAGE START", "BACKUP STAGE BLOCK_COMMIT"}
	}
	for _, q := range stmts {
		if _, err := l.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// unlock releases m's lock on l, even when the caller's context is done.
func (m Method) unlock(l *sql.Conn) error {
	q := "UNLOCK TABLES"
	if m == BackupStage {
		q = "BACKUP STAGE END"
	}
	if _, err := l.ExecContext(context.Background(), q); err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	return nil
}

// ReadPosition reads the server's binary log position and GTID now.
func ReadPosition(ctx context.Context, c *sql.Conn) (Position, error) {
	var pos Position
	if err := c.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&pos.GTID); err != nil {
		return pos, fmt.Errorf("gtid_binlog_pos: %w", err)
	}
	rows, err := c.QueryContext(ctx, "SHOW MASTER STATUS")
	if err != nil {
		return pos, fmt.Errorf("SHOW MASTER STATUS: %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if rows.Next() {
		dest := make([]any, len(cols))
		dest[0], dest[1] = &pos.File, &pos.Pos
		for i := 2; i < len(dest); i++ {
			dest[i] = new(sql.RawBytes)
		}
		if err := rows.Scan(dest...); err != nil {
			return pos, fmt.Errorf("SHOW MASTER STATUS: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return pos, fmt.Errorf("SHOW MASTER STATUS: %w", err)
	}
	return pos, nil
}

// snapshotPosition is the binlog position a reader's consistent snapshot
// corresponds to (MariaDB's binlog_snapshot_file and _position).
func snapshotPosition(ctx context.Context, c *sql.Conn) (file string, pos uint64, err error) {
	rows, err := c.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return "", 0, fmt.Errorf("binlog_snapshot status: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return "", 0, err
		}
		switch strings.ToLower(name) {
		case "binlog_snapshot_file":
			file = value
		case "binlog_snapshot_position":
			_, err = fmt.Sscan(value, &pos)
		}
	}
	return file, pos, errors.Join(err, rows.Err())
}
