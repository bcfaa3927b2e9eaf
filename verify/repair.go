package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/shiftgate/shiftgate/internal/schema"
)

// repairSession is what a repair session sets before its statements: the
// time zone the values were read in, no foreign key checks (the rows end up
// as the source's, which satisfy them; and cascades must not touch other
// rows), and NO_AUTO_VALUE_ON_ZERO so that an AUTO_INCREMENT key of 0 is
// written as 0.
var repairSession = []string{
	"SET NAMES utf8mb4",
	"SET SESSION time_zone = '+00:00'",
	"SET SESSION foreign_key_checks = 0",
	"SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'",
}

// batch is the statements of one repair transaction.
type batch struct {
	table            *TableReport
	stmts            []string
	deleted, written int
}

// batches returns the repair of every table: first the DELETEs of extra
// rows, then INSERT ... ON DUPLICATE KEY UPDATE of missing and changed
// rows, by primary (row) key, at most size rows per batch.
func (r *Report) batches(size int) []batch {
	if size < 1 {
		size = defaultConfig().batchRows
	}
	var out []batch
	for _, t := range r.Tables {
		name := schema.QualifiedName(t.TargetDatabase, t.TargetTable)
		var extra, upsert []RowDiff
		for _, d := range t.Diffs {
			if d.Kind == Extra {
				extra = append(extra, d)
			} else {
				upsert = append(upsert, d)
			}
		}
		keyList := quoteList(t.Key)
		for len(extra) > 0 {
			n := min(size, len(extra))
			keys := make([]string, n)
			for i, d := range extra[:n] {
				keys[i] = strings.Join(d.Key, ", ")
				if len(t.Key) > 1 {
					keys[i] = "(" + keys[i] + ")"
				}
			}
			lhs := keyList
			if len(t.Key) > 1 {
				lhs = "(" + keyList + ")"
			}
			out = append(out, batch{table: t, deleted: n,
				stmts: []string{fmt.Sprintf("DELETE FROM %s WHERE %s IN (%s)", name, lhs, strings.Join(keys, ", "))}})
			extra = extra[n:]
		}
		var updates []string
		for _, c := range t.Columns {
			q := schema.QuoteIdent(c)
			updates = append(updates, q+" = VALUES("+q+")")
		}
		for len(upsert) > 0 {
			n := min(size, len(upsert))
			rows := make([]string, n)
			for i, d := range upsert[:n] {
				rows[i] = "(" + strings.Join(d.Source, ", ") + ")"
			}
			out = append(out, batch{table: t, written: n,
				stmts: []string{fmt.Sprintf("INSERT INTO %s (%s) VALUES %s ON DUPLICATE KEY UPDATE %s",
					name, quoteList(t.Columns), strings.Join(rows, ", "), strings.Join(updates, ", "))}})
			upsert = upsert[n:]
		}
	}
	return out
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = schema.QuoteIdent(n)
	}
	return strings.Join(q, ", ")
}

// WriteRepairSQL writes the SQL that makes the target's rows equal to the
// source's for the rows listed in the report: a session preamble, then one
// transaction per batch. Run it on the target with the mariadb or mysql
// client. With a truncated report (see WithSampleLimit) it repairs only the
// rows listed; verify and repair again for the rest. With a column subset
// or ignore list only the compared columns are written: missing rows get
// the other columns' defaults.
func (r *Report) WriteRepairSQL(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "-- shiftgate verify repair for target %s (source %s): %d rows\n", r.Target, r.Source, r.Differences())
	for _, t := range r.Tables {
		if t.Differences() > 0 {
			fmt.Fprintf(&b, "-- %s.%s: %d missing, %d extra, %d changed", t.TargetDatabase, t.TargetTable, t.Missing, t.Extra, t.Changed)
			if t.Truncated {
				fmt.Fprintf(&b, " (only %d listed: run verify again after this)", len(t.Diffs))
			}
			b.WriteByte('\n')
		}
	}
	for _, s := range repairSession {
		b.WriteString(s + ";\n")
	}
	for _, bt := range r.batches(r.batchRows) {
		b.WriteString("START TRANSACTION;\n")
		for _, s := range bt.stmts {
			b.WriteString(s + ";\n")
		}
		b.WriteString("COMMIT;\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// RepairResult says what Repair changed.
type RepairResult struct {
	// Deleted and Written count the rows sent to DELETE and to INSERT ...
	// ON DUPLICATE KEY UPDATE.
	Deleted, Written int64
	// Batches is the number of transactions committed.
	Batches int
	// Complete is false when the report listed only a sample of the
	// differences: verify and repair again.
	Complete bool
}

// Repair applies the report's repair (see WriteRepairSQL) to the target,
// one transaction per batch. On error the batches before it stay
// committed; verifying again shows what is left.
func (v *Verifier) Repair(ctx context.Context, r *Report) (*RepairResult, error) {
	if r == nil {
		return nil, errors.New("verify: repair: nil report")
	}
	res := &RepairResult{Complete: true}
	for _, t := range r.Tables {
		if t.Truncated {
			res.Complete = false
		}
	}
	batches := r.batches(v.cfg.batchRows)
	if len(batches) == 0 {
		return res, nil
	}
	conn, err := v.dst.Conn(ctx)
	if err != nil {
		return res, fmt.Errorf("verify: repair: target: %w", err)
	}
	defer discard(conn) // its session settings must not reach the pool
	for _, s := range repairSession {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return res, fmt.Errorf("verify: repair: target: %s: %w", s, err)
		}
	}
	for _, bt := range batches {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return res, fmt.Errorf("verify: repair: target: %w", err)
		}
		for _, s := range bt.stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				_ = tx.Rollback()
				return res, &TableError{Side: "target", Database: bt.table.TargetDatabase, Table: bt.table.TargetTable, Err: fmt.Errorf("repair: %w", err)}
			}
		}
		if err := tx.Commit(); err != nil {
			return res, &TableError{Side: "target", Database: bt.table.TargetDatabase, Table: bt.table.TargetTable, Err: fmt.Errorf("repair: commit: %w", err)}
		}
		res.Batches++
		res.Deleted += int64(bt.deleted)
		res.Written += int64(bt.written)
		v.cfg.logger.Info("verify: repair batch committed", "table", bt.table.TargetDatabase+"."+bt.table.TargetTable,
			"deleted", bt.deleted, "written", bt.written)
	}
	return res, nil
}
