package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/internal/termtext"
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

// readTriggers reads the triggers of the tables of database, by lower-case
// table name (names are compared as the server may, case-insensitively).
func readTriggers(ctx context.Context, q schema.Querier, database string) (map[string][]Trigger, error) {
	rows, err := q.QueryContext(ctx, `SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION
		FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER`, database)
	if err != nil {
		return nil, fmt.Errorf("read triggers of %s: %w", schema.QuoteIdent(database), err)
	}
	defer rows.Close()
	out := map[string][]Trigger{}
	for rows.Next() {
		var table string
		var t Trigger
		if err := rows.Scan(&table, &t.Name, &t.Timing, &t.Event); err != nil {
			return nil, fmt.Errorf("read triggers of %s: %w", schema.QuoteIdent(database), err)
		}
		out[strings.ToLower(table)] = append(out[strings.ToLower(table)], t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read triggers of %s: %w", schema.QuoteIdent(database), err)
	}
	return out, nil
}

// firing returns the triggers that fire on the repair of diffs: DELETE
// triggers for extra rows; INSERT and UPDATE triggers for the INSERT ... ON
// DUPLICATE KEY UPDATE of missing and changed rows (BEFORE INSERT fires
// for every row, the UPDATE triggers for rows that exist).
func firing(triggers []Trigger, diffs []RowDiff) []Trigger {
	var del, upsert bool
	for _, d := range diffs {
		if d.Kind == Extra {
			del = true
		} else {
			upsert = true
		}
	}
	var out []Trigger
	for _, t := range triggers {
		switch strings.ToUpper(t.Event) {
		case "DELETE":
			if del {
				out = append(out, t)
			}
		default:
			if upsert {
				out = append(out, t)
			}
		}
	}
	return out
}

// triggerList names triggers for messages.
func triggerList(triggers []Trigger) string {
	names := make([]string, len(triggers))
	for i, t := range triggers {
		names[i] = t.String()
	}
	return strings.Join(names, ", ")
}

// checkTriggers returns an error naming every trigger of the target that
// would fire on the repair of r, one *TableError wrapping ErrTriggers per
// table. MariaDB and MySQL have no switch that turns triggers off for one
// session (only a replica applying row events skips them), and a trigger
// can write other values than the source's (BEFORE) or change other tables
// (AFTER): such a table is refused, before anything is changed.
func (v *Verifier) checkTriggers(ctx context.Context, r *Report) error {
	byDB := map[string]map[string][]Trigger{}
	var errs []error
	for _, t := range r.Tables {
		if len(t.Diffs) == 0 {
			continue
		}
		trs, ok := byDB[t.TargetDatabase]
		if !ok {
			var err error
			if trs, err = readTriggers(ctx, v.dst, t.TargetDatabase); err != nil {
				return fmt.Errorf("verify: repair: target: %w", err)
			}
			byDB[t.TargetDatabase] = trs
		}
		if f := firing(trs[strings.ToLower(t.TargetTable)], t.Diffs); len(f) > 0 {
			errs = append(errs, &TableError{Side: "target", Database: t.TargetDatabase, Table: t.TargetTable,
				Err: fmt.Errorf("repair refused, nothing changed: trigger %s would fire on the repair and could write other values than the source's "+
					"(MariaDB and MySQL cannot turn triggers off for one session); drop it while repairing, or repair the table by hand: %w",
					triggerList(f), ErrTriggers)})
		}
	}
	return errors.Join(errs...)
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
	line := termtext.Line // comments end at a newline: names must not hold one
	fmt.Fprintf(&b, "-- shiftgate verify repair for target %s (source %s): %d rows\n", line(r.Target), line(r.Source), r.Differences())
	for _, t := range r.Tables {
		if t.Differences() > 0 {
			fmt.Fprintf(&b, "-- %s.%s: %d missing, %d extra, %d changed", line(t.TargetDatabase), line(t.TargetTable), t.Missing, t.Extra, t.Changed)
			if t.Truncated {
				fmt.Fprintf(&b, " (only %d listed: run verify again after this)", len(t.Diffs))
			}
			b.WriteByte('\n')
		}
		if f := firing(t.TargetTriggers, t.Diffs); len(f) > 0 {
			fmt.Fprintf(&b, "-- WARNING: %s.%s: trigger %s fires on these statements and can write other values than the source's: drop it while repairing\n",
				line(t.TargetDatabase), line(t.TargetTable), line(triggerList(f)))
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
//
// Before anything is changed it refuses a table that is its own source
// (ErrSameTable, as Verify does) and reads the target's triggers: a table
// whose triggers fire on its repair's statements is refused with a
// *TableError wrapping ErrTriggers that names them (with their timing and
// event), and nothing is repaired. MariaDB and MySQL cannot turn triggers
// off for one session, and a trigger can write other values than the
// source's or change other tables.
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
	if err := v.repairCheck(ctx, r); err != nil {
		return res, err
	}
	return res, v.repairApply(ctx, batches, res)
}

// repairCheck refuses, before anything is changed, a repair of r that
// would write to a source table (ErrSameTable) or fire a target trigger
// (ErrTriggers).
func (v *Verifier) repairCheck(ctx context.Context, r *Report) error {
	srcID, dstID, err := v.identify(ctx)
	if err != nil {
		return err
	}
	for _, t := range r.Tables {
		p := TablePair{SourceDatabase: t.SourceDatabase, SourceTable: t.SourceTable, TargetDatabase: t.TargetDatabase, TargetTable: t.TargetTable}
		if err := sameTable(srcID, dstID, p); err != nil {
			return err
		}
	}
	return v.checkTriggers(ctx, r)
}

// repairApply runs batches on one target connection with the repair
// session, one transaction each, and counts them in res.
func (v *Verifier) repairApply(ctx context.Context, batches []batch, res *RepairResult) error {
	tc, err := v.dst.Conn(ctx)
	if err != nil {
		return fmt.Errorf("verify: repair: target: %w", err)
	}
	defer conn.Discard(tc) // its session settings must not reach the pool
	for _, s := range repairSession {
		if _, err := tc.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("verify: repair: target: %s: %w", s, err)
		}
	}
	for _, bt := range batches {
		tx, err := tc.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("verify: repair: target: %w", err)
		}
		for _, s := range bt.stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				_ = tx.Rollback()
				return &TableError{Side: "target", Database: bt.table.TargetDatabase, Table: bt.table.TargetTable, Err: fmt.Errorf("repair: %w", err)}
			}
		}
		if err := tx.Commit(); err != nil {
			return &TableError{Side: "target", Database: bt.table.TargetDatabase, Table: bt.table.TargetTable, Err: fmt.Errorf("repair: commit: %w", err)}
		}
		res.Batches++
		res.Deleted += int64(bt.deleted)
		res.Written += int64(bt.written)
		v.cfg.logger.Info("verify: repair batch committed", "table", bt.table.TargetDatabase+"."+bt.table.TargetTable,
			"deleted", bt.deleted, "written", bt.written)
	}
	return nil
}
