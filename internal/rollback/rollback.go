// Package rollback generates the SQL that undoes one committed transaction,
// from the row images the transaction wrote to the source's binary log
// (read with internal/binlog, the project's one binlog reader):
//
//   - a row it inserted is deleted by its row key (the primary key, or else
//     a unique key of NOT NULL columns, schema.TableDef.RowKey);
//   - a row it deleted is inserted again, every column but the generated
//     ones, from the before image;
//   - a row it updated is updated back to the before image: SET the columns
//     that changed to their old values, WHERE the row key has the after
//     image's values AND every changed column still holds its new value
//     (compared with <=>, so NULLs too). A row changed again since then is
//     left alone: the rollback's affected rows count tells how many rows
//     it restored. (The comparison is the column's: a later change to a
//     value its collation finds equal, such as another letter case under
//     a _ci collation, is not seen.)
//
// The statements come in the reverse order of the changes, one per row,
// each on one line ending with ";\n" (no literal holds a line break, and
// a table or column name with one is refused), values as rowcodec
// literals (the same under every sql_mode). When a changed table has a
// TIMESTAMP column the script starts with SET time_zone = '+00:00': the
// binary log's TIMESTAMP values are in UTC. The statements are spooled to
// a temporary file while the binary log is read, then written out
// backwards: memory holds one offset per statement (Config.MaxRows bounds
// them), never the statements.
//
// Not undone: changes the binary log does not hold, such as the rows a
// foreign key's ON DELETE/UPDATE CASCADE changed (the server logs only the
// statement's own rows), and rows of tables not followed (Config.Tables).
//
// Schema changes are undone by DDL (ParseDDL), from the definitions of
// their tables before and after them rather than from the binary log;
// those that drop data get ErrDataDropped.
package rollback

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/internal/termtext"
)

// DefaultMaxRows is Config.MaxRows's default.
const DefaultMaxRows = 1_000_000

// Errors callers branch on.
var (
	// ErrNotLogged: the binary log holds no row change of the followed
	// tables for the transaction (it changed no row, or only tables not
	// followed, or it is not in the range read).
	ErrNotLogged = errors.New("the binary log holds no row change of the transaction")
	// ErrTooManyRows: the transaction changed more rows than Config.MaxRows.
	ErrTooManyRows = errors.New("the transaction changed more rows than the rollback cap")
)

// Config says which transaction to undo and where to read it.
type Config struct {
	// DSN is the source server (go-sql-driver DSN). Its account needs
	// REPLICATION SLAVE and BINLOG MONITOR (MariaDB; REPLICATION CLIENT on
	// MySQL), and SELECT on the changed tables' definitions.
	DSN string
	// ServerID is the replica id the reading registers with; it must
	// differ from every server's and replica's id.
	ServerID uint32
	// Start is a GTID position before the transaction (for example
	// @@gtid_binlog_pos read before it ran); the binary log is read from
	// there up to the transaction.
	Start string
	// GTID is the transaction's GTID ("0-1-42" on MariaDB, as @@last_gtid
	// spells it).
	GTID string
	// Tables are the tables whose changes are undone; nil: every base
	// table outside the system schemas, as the source lists them now.
	Tables []rowchange.Table
	// MaxRows caps the row changes undone (ErrTooManyRows beyond);
	// default DefaultMaxRows.
	MaxRows int64
	// Budget bounds the bytes of row changes read and not yet spooled
	// (binlog.Config.Budget); default binlog.DefaultBudget.
	Budget int64
	// TempDir is where the statements are spooled; "" is os.TempDir.
	TempDir string
	// Logger receives the binary log reader's messages; nil discards.
	Logger *slog.Logger
}

// Result describes the script Generate wrote.
type Result struct {
	// Rows counts the row changes undone: one statement each.
	Rows int64
	// Bytes is the script's size.
	Bytes int64
	// Tables are the tables the statements change, first changed first.
	Tables []rowchange.Table
}

// Generate reads the transaction cfg.GTID from the binary log of cfg.DSN,
// starting after cfg.Start, and writes its rollback script to w (see the
// package doc). It refuses, before writing anything, a source whose binary
// log lacks what it needs (*binlog.SettingError: ROW format, FULL row
// image and metadata, GTIDs), a transaction the source has not logged, a
// table without a row key (an error wrapping schema.ErrNoKey that names
// it), more than MaxRows row changes (ErrTooManyRows) and a transaction
// without row changes of the followed tables (ErrNotLogged).
func Generate(ctx context.Context, cfg Config, w io.Writer) (Result, error) {
	if cfg.GTID == "" {
		return Result{}, errors.New("rollback: no GTID")
	}
	if cfg.MaxRows <= 0 {
		cfg.MaxRows = DefaultMaxRows
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	dsn, err := conn.ParseDSN(cfg.DSN)
	if err != nil {
		return Result{}, fmt.Errorf("rollback: source: %w", err)
	}
	server := conn.Endpoint(dsn)
	db, err := conn.Open(ctx, dsn, conn.Options{MaxConns: 1, Logger: cfg.Logger})
	if err != nil {
		return Result{}, fmt.Errorf("rollback: %w", err)
	}
	defer db.Close()
	src, err := binlog.Check(ctx, db, server, cfg.Start)
	if err != nil {
		return Result{}, fmt.Errorf("rollback of transaction %s: %w", cfg.GTID, err)
	}
	logged, err := binlog.PositionContains(src.Flavor, src.Position, cfg.GTID)
	if err != nil {
		return Result{}, fmt.Errorf("rollback of transaction %s: %w", cfg.GTID, err)
	}
	if !logged {
		return Result{}, fmt.Errorf("rollback: server %s has not logged transaction %s (its position is %s): %w", server, cfg.GTID, src.Position, ErrNotLogged)
	}
	tables := cfg.Tables
	if tables == nil {
		if tables, err = baseTables(ctx, db); err != nil {
			return Result{}, fmt.Errorf("rollback: server %s: %w", server, err)
		}
	}
	if len(tables) == 0 {
		return Result{}, fmt.Errorf("rollback: server %s: no table to read changes of: %w", server, ErrNotLogged)
	}
	spool, err := os.CreateTemp(cfg.TempDir, "shiftgate-rollback-*.sql")
	if err != nil {
		return Result{}, fmt.Errorf("rollback: spool file: %w", err)
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	c := &collector{cfg: cfg, db: db, flavor: src.Flavor, spool: bufio.NewWriterSize(spool, 256<<10), plans: map[*rowchange.Shape]*plan{}}
	stream, err := binlog.New(binlog.Config{DSN: cfg.DSN, ServerID: cfg.ServerID, Tables: tables, Start: cfg.Start,
		DDL: binlog.DDLSkip, MaxAttempts: 3, Budget: cfg.Budget, Logger: cfg.Logger})
	if err != nil {
		return Result{}, fmt.Errorf("rollback: %w", err)
	}
	if err := stream.Run(ctx, c); !errors.Is(err, errFound) {
		return Result{}, fmt.Errorf("rollback of transaction %s: %w", cfg.GTID, err)
	}
	if err := c.spool.Flush(); err != nil {
		return Result{}, fmt.Errorf("rollback: spool file: %w", err)
	}
	res := Result{Rows: int64(len(c.offsets)), Tables: c.tables}
	res.Bytes, err = c.writeBackwards(spool, w)
	if err != nil {
		return res, fmt.Errorf("rollback of transaction %s: %w", cfg.GTID, err)
	}
	return res, nil
}

// errFound stops the stream once the transaction is read.
var errFound = errors.New("transaction read")

// baseTables lists the base tables outside the system schemas.
func baseTables(ctx context.Context, db *sql.DB) ([]rowchange.Table, error) {
	rows, err := db.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')`)
	if err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	defer rows.Close()
	var out []rowchange.Table
	for rows.Next() {
		var t rowchange.Table
		if err := rows.Scan(&t.Schema, &t.Name); err != nil {
			return nil, fmt.Errorf("listing tables: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	return out, nil
}

// collector is the sink: it spools the inverse of the transaction's
// changes and stops the stream after it.
type collector struct {
	cfg     Config
	db      *sql.DB
	flavor  string
	spool   *bufio.Writer
	written int64
	offsets []int64 // start of each statement in the spool
	plans   map[*rowchange.Shape]*plan
	tables  []rowchange.Table
	utc     bool // a changed table has a TIMESTAMP column
	buf     []byte
	scratch []byte
}

// Apply reads every transaction to its end; the one sought is spooled.
func (c *collector) Apply(ctx context.Context, tx rowchange.Txn) error {
	mine := tx.ID == c.cfg.GTID
	if err := rowchange.Each(ctx, tx.Changes, func(batch []rowchange.Change) error {
		if !mine {
			return nil
		}
		for i := range batch {
			if err := c.add(ctx, &batch[i]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if mine && len(c.offsets) > 0 {
		return errFound
	}
	if mine {
		return fmt.Errorf("transaction %s: %w", c.cfg.GTID, ErrNotLogged)
	}
	if tx.Position == "" {
		return nil
	}
	past, err := binlog.PositionContains(c.flavor, tx.Position, c.cfg.GTID)
	if err != nil {
		return err
	}
	if past {
		return fmt.Errorf("transaction %s (read up to %s): %w", c.cfg.GTID, tx.Position, ErrNotLogged)
	}
	return nil
}

// plan is how the statements of one table's rows are spelled.
type plan struct {
	qname string
	names []string        // quoted column names, in Shape order
	kinds []rowcodec.Kind // in Shape order
	gen   []bool          // generated columns, never written
	key   []int           // row key columns, indexes in Shape order
}

// planOf reads the definition of shape's table (once per Shape).
func (c *collector) planOf(ctx context.Context, shape *rowchange.Shape) (*plan, error) {
	if p := c.plans[shape]; p != nil {
		return p, nil
	}
	t := shape.Table
	qname := schema.QualifiedName(t.Schema, t.Name)
	def, err := schema.LoadTable(ctx, c.db, t.Schema, t.Name)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", termtext.Line(qname), err)
	}
	rk, err := def.RowKey()
	if err != nil {
		return nil, fmt.Errorf("%w: rollback SQL cannot address its rows", err)
	}
	if strings.ContainsAny(t.Schema+t.Name+strings.Join(shape.Columns, ""), "\r\n") {
		return nil, fmt.Errorf("table %s: a line break in its name or a column's: the rollback script has one statement a line", termtext.Line(qname))
	}
	p := &plan{qname: qname}
	for _, name := range shape.Columns {
		col := def.Column(name)
		if col == nil {
			return nil, fmt.Errorf("table %s: column %s of the binary log's row image is no longer in the table: %w",
				termtext.Line(qname), termtext.Line(schema.QuoteIdent(name)), schema.ErrNotFound)
		}
		p.names = append(p.names, schema.QuoteIdent(col.Name))
		p.kinds = append(p.kinds, rowcodec.KindOf(col.DataType))
		p.gen = append(p.gen, col.Generated)
		if strings.EqualFold(col.DataType, "timestamp") {
			c.utc = true
		}
	}
	for _, kc := range rk.Columns {
		i := slices.IndexFunc(shape.Columns, func(n string) bool { return strings.EqualFold(n, kc.Name) })
		if i < 0 {
			return nil, fmt.Errorf("table %s: key column %s is not in the binary log's row image: %w",
				termtext.Line(qname), termtext.Line(schema.QuoteIdent(kc.Name)), schema.ErrNotFound)
		}
		p.key = append(p.key, i)
	}
	c.plans[shape] = p
	if !slices.Contains(c.tables, t) {
		c.tables = append(c.tables, t)
	}
	return p, nil
}

// add spools the inverse statement of one change.
func (c *collector) add(ctx context.Context, ch *rowchange.Change) error {
	p, err := c.planOf(ctx, ch.Shape)
	if err != nil {
		return err
	}
	b := c.buf[:0]
	switch ch.Op {
	case rowchange.Insert:
		b = append(b, "DELETE FROM "...)
		b = append(b, p.qname...)
		b, err = c.appendKey(append(b, " WHERE "...), p, ch.After)
	case rowchange.Delete:
		b = append(b, "INSERT INTO "...)
		b = append(b, p.qname...)
		b = append(b, " ("...)
		sep := ""
		for i, n := range p.names {
			if !p.gen[i] {
				b = append(append(b, sep...), n...)
				sep = ","
			}
		}
		b = append(b, ") VALUES ("...)
		sep = ""
		for i, v := range ch.Before {
			if !p.gen[i] {
				b = append(b, sep...)
				if b, err = c.appendValue(b, p, i, v); err != nil {
					break
				}
				sep = ","
			}
		}
		b = append(b, ')')
	case rowchange.Update:
		var changed bool
		b, changed, err = c.appendUpdate(b, p, ch.Before, ch.After)
		if err == nil && !changed {
			return nil
		}
	default:
		err = fmt.Errorf("change of unknown operation %d", ch.Op)
	}
	if err != nil {
		return fmt.Errorf("table %s: %w", termtext.Line(p.qname), err)
	}
	if int64(len(c.offsets)) >= c.cfg.MaxRows {
		return fmt.Errorf("more than %d rows: %w", c.cfg.MaxRows, ErrTooManyRows)
	}
	b = append(b, ";\n"...)
	c.buf = b
	c.offsets = append(c.offsets, c.written)
	n, err := c.spool.Write(b)
	c.written += int64(n)
	if err != nil {
		return fmt.Errorf("spool file: %w", err)
	}
	return nil
}

// appendUpdate appends the UPDATE that puts before back where after is;
// changed is false when the images are the same in every written column.
func (c *collector) appendUpdate(b []byte, p *plan, before, after []any) ([]byte, bool, error) {
	var err error
	b = append(b, "UPDATE "...)
	b = append(b, p.qname...)
	b = append(b, " SET "...)
	n := 0
	for i := range before {
		if p.gen[i] || same(before[i], after[i]) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(append(b, p.names[i]...), '=')
		if b, err = c.appendValue(b, p, i, before[i]); err != nil {
			return b, false, err
		}
	}
	if n == 0 {
		return b, false, nil
	}
	if b, err = c.appendKey(append(b, " WHERE "...), p, after); err != nil {
		return b, false, err
	}
	for i := range before {
		if p.gen[i] || same(before[i], after[i]) || slices.Contains(p.key, i) {
			continue
		}
		b = append(append(append(b, " AND "...), p.names[i]...), " <=> "...)
		if b, err = c.appendValue(b, p, i, after[i]); err != nil {
			return b, false, err
		}
	}
	return b, true, nil
}

// appendKey appends "k1 = v1 AND k2 = v2" for row's key.
func (c *collector) appendKey(b []byte, p *plan, row []any) ([]byte, error) {
	var err error
	for n, i := range p.key {
		if n > 0 {
			b = append(b, " AND "...)
		}
		if row[i] == nil {
			return b, fmt.Errorf("column %s: NULL in the row key", termtext.Line(p.names[i]))
		}
		b = append(append(b, p.names[i]...), " = "...)
		if b, err = c.appendValue(b, p, i, row[i]); err != nil {
			return b, err
		}
	}
	return b, nil
}

// appendValue appends the literal of column i's value v. Bytes of a
// column of a type rowcodec does not know (INET6, UUID: the binary log
// holds their binary form) are written as a binary literal, which the
// server reads back as that form.
func (c *collector) appendValue(b []byte, p *plan, i int, v any) ([]byte, error) {
	k := p.kinds[i]
	if _, ok := v.([]byte); ok && k == rowcodec.Other {
		k = rowcodec.Binary
	}
	var err error
	b, c.scratch, err = rowcodec.AppendValue(b, c.scratch, k, v)
	if err != nil {
		return b, fmt.Errorf("column %s: %w", termtext.Line(p.names[i]), err)
	}
	return b, nil
}

// same reports two row image values equal.
func same(a, b any) bool {
	if x, ok := a.([]byte); ok {
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	}
	if _, ok := b.([]byte); ok {
		return false
	}
	return a == b
}

// timeZoneUTC opens a script whose TIMESTAMP literals are in UTC.
const timeZoneUTC = "SET time_zone = '+00:00';\n"

// writeBackwards copies the spooled statements to w, last first.
func (c *collector) writeBackwards(spool *os.File, w io.Writer) (int64, error) {
	out := bufio.NewWriterSize(w, 256<<10)
	var total int64
	if c.utc {
		n, _ := out.WriteString(timeZoneUTC)
		total += int64(n)
	}
	end := c.written
	var buf []byte
	for i := len(c.offsets) - 1; i >= 0; i-- {
		size := end - c.offsets[i]
		buf = slices.Grow(buf[:0], int(size))[:size]
		if _, err := spool.ReadAt(buf, c.offsets[i]); err != nil {
			return total, fmt.Errorf("spool file: %w", err)
		}
		n, err := out.Write(buf)
		total += int64(n)
		if err != nil {
			return total, err
		}
		end = c.offsets[i]
	}
	return total, out.Flush()
}
