package migrate

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"slices"
	"strings"
	"unsafe"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/copyengine"

	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// tableStatements builds the select list of a table's chunks and the
// statements that write them on the target, in the encoding of package
// rowcodec: columns are read with rowcodec.ReadExpr and written as LOAD
// DATA fields or SQL literals of their rowcodec.Kind.
//
// A table that LOAD DATA cannot write exactly (see rowcodec.Load.Exact)
// must be written with INSERT (loadOK false).
func tableStatements(ct *copyTable, targetDB string) (selectList string, load rowcodec.Load, insertHead string, kinds []rowcodec.Kind, keyPos []int, loadOK bool) {
	var sel, ins []string
	kinds = make([]rowcodec.Kind, 0, len(ct.columns))
	for _, c := range ct.columns {
		kinds = append(kinds, rowcodec.KindOf(c.DataType))
		ins = append(ins, schema.QuoteIdent(c.Name))
		sel = append(sel, rowcodec.ReadExpr(&c))
	}
	// Key columns are read as they are, after the copied columns when they
	// are not among them (a generated column in the key) or are read as
	// numbers (BIT, YEAR).
	for _, k := range ct.key.Columns {
		i := -1
		for j, c := range ct.columns {
			if strings.EqualFold(c.Name, k) && kinds[j] != rowcodec.Bit && kinds[j] != rowcodec.Year {
				i = j
			}
		}
		if i < 0 {
			i = len(sel)
			sel = append(sel, schema.QuoteIdent(k))
		}
		keyPos = append(keyPos, i)
	}
	name := schema.QualifiedName(targetDB, ct.target)
	load = rowcodec.NewLoad(name, ct.columns)
	insertHead = "INSERT INTO " + name + " (" + strings.Join(ins, ", ") + ") VALUES "
	return strings.Join(sel, ", "), load, insertHead, kinds, keyPos, load.Exact()
}

// insertStatementBytes is where a chunk's INSERT is split into another
// statement: below the 256 KiB up to which the driver reuses its write
// buffer instead of allocating one per statement.
const insertStatementBytes = 240 << 10

// copierWriter writes each chunk into its target table with LOAD DATA
// LOCAL INFILE (or multi-row INSERT), the segment's checkpoint in the
// same transaction.
type copierWriter struct{ r *copierRun }

func (w *copierWriter) NewBatch() copyengine.Batch {
	return &copierBatch{runs: w.r.runs, data: make([]byte, 0, w.r.capBytes+w.r.capBytes/8)}
}

func (w *copierWriter) Open(ctx context.Context, thread int) (copyengine.ThreadWriter, error) {
	r := w.r
	conn, err := r.dst.Conn(ctx)
	if err != nil {
		return nil, r.targetErr(r.targetDatabase(), err)
	}
	return &copierThread{r: r, conn: conn, handler: fmt.Sprintf("shiftgate-copier-%d-%d", r.runID, thread)}, nil
}

// copierBatch is a chunk encoded for its target table: LOAD DATA fields,
// or INSERT statements ending at the offsets in stmts.
type copierBatch struct {
	runs      map[*copyengine.Table]*tableRun
	t         *tableRun
	data      []byte
	stmts     []int
	stmtStart int
}

func (b *copierBatch) Len() int { return len(b.data) }
func (b *copierBatch) Cap() int { return cap(b.data) }

func (b *copierBatch) Reset(t *copyengine.Table) {
	b.t = b.runs[t]
	b.data, b.stmts, b.stmtStart = b.data[:0], b.stmts[:0], 0
}

func (b *copierBatch) Add(row []sql.RawBytes) error {
	t := b.t
	buf := b.data
	// Grow once to what the row can take at most (every byte escaped),
	// not by doubling through garbage when a row is wide.
	need := 16 + len(t.insertHead)
	for i := range t.kinds {
		need += 2*len(row[i]) + 12
	}
	buf = slices.Grow(buf, need)
	if t.method == WriteInsert {
		if len(buf) == b.stmtStart {
			buf = append(buf, t.insertHead...)
		} else {
			buf = append(buf, ',')
		}
		buf = append(buf, '(')
		for i, k := range t.kinds {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = rowcodec.AppendLiteral(buf, k, row[i])
		}
		buf = append(buf, ')')
		if len(buf)-b.stmtStart >= insertStatementBytes {
			b.stmtStart = len(buf)
			b.stmts = append(b.stmts, b.stmtStart)
		}
	} else {
		for i := range t.kinds {
			if i > 0 {
				buf = append(buf, '\t')
			}
			buf = rowcodec.AppendLoadField(buf, row[i])
		}
		buf = append(buf, '\n')
	}
	b.data = buf
	return nil
}

// statements are the INSERT statements of the batch, as offsets in data
// where each ends.
func (b *copierBatch) statements() []int {
	if len(b.data) > b.stmtStart {
		b.stmts = append(b.stmts, len(b.data))
		b.stmtStart = len(b.data)
	}
	return b.stmts
}

// copierThread writes the chunks of one thread on a target connection of
// its own; handler names the LOAD DATA reader it registers.
type copierThread struct {
	r       *copierRun
	conn    *sql.Conn
	handler string
}

func (w *copierThread) Close() {
	mysql.DeregisterReaderHandler(w.handler)
	w.conn.Close()
}

// Write writes a chunk and its checkpoint in one transaction.
func (w *copierThread) Write(ctx context.Context, ch *copyengine.Chunk) error {
	r, b := w.r, ch.Batch.(*copierBatch)
	t := b.t
	object := "table " + schema.QualifiedName(r.c.cfg.targetDatabase, t.ct.target)
	tx, err := w.conn.BeginTx(ctx, nil)
	if err != nil {
		return r.targetErr(object, err)
	}
	defer func() { _ = tx.Rollback() }()
	if ch.Rows > 0 {
		written, err := b.write(ctx, tx, w.handler)
		if err != nil {
			return r.targetErr(object, err)
		}
		if written != int64(ch.Rows) {
			return r.targetErr(object, fmt.Errorf("%d of %d rows of a chunk were written: the target skipped rows (a duplicate key?)", written, ch.Rows))
		}
	}
	if err := r.c.checkpoint.SaveChunk(ctx, tx, r.c.cfg.targetDatabase, t.ct.target, ch.Segment.Index, ch.Last, int64(ch.Rows), int64(len(b.data)), ch.Final); err != nil {
		return r.targetErr("checkpoint", err)
	}
	if err := tx.Commit(); err != nil {
		return r.targetErr(object, fmt.Errorf("commit: %w", err))
	}
	return nil
}

// write writes the batch's rows in tx, with LOAD DATA through the reader
// handler called handler or with its INSERT statements, and returns the
// rows the server wrote.
func (b *copierBatch) write(ctx context.Context, tx *sql.Tx, handler string) (int64, error) {
	t := b.t
	if t.method == WriteLoadData {
		mysql.RegisterReaderHandler(handler, func() io.Reader { return bytes.NewReader(b.data) })
		stmt, err := t.load.SQL("Reader::" + handler)
		if err != nil {
			return 0, err
		}
		res, err := tx.ExecContext(ctx, stmt)
		if err != nil {
			return 0, fmt.Errorf("LOAD DATA: %w", err)
		}
		n, _ := res.RowsAffected()
		return n, nil
	}
	var written int64
	begin := 0
	for _, end := range b.statements() {
		// The buffer is not touched until the statement returns.
		res, err := tx.ExecContext(ctx, unsafe.String(&b.data[begin], end-begin))
		if err != nil {
			return written, fmt.Errorf("INSERT: %w", err)
		}
		n, _ := res.RowsAffected()
		written += n
		begin = end
	}
	return written, nil
}

// Finish finalizes a table whose segments are all done (finalize).
func (w *copierThread) Finish(ctx context.Context, t *copyengine.Table) error {
	return w.r.finalize(ctx, w.conn, w.r.runs[t])
}
