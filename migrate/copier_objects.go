package migrate

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// copyObjects creates the views, routines, triggers and events of the plan
// on the target after the rows, from SHOW CREATE on the source, each with
// the sql_mode (and for events the time zone) it was created with. It
// replaces objects of the same name, so a resumed run may do it again.
func (r *copierRun) copyObjects(ctx context.Context) error {
	if len(r.plan.Objects) == 0 {
		return nil
	}
	src, err := r.src.Conn(ctx)
	if err != nil {
		return r.sourceErr(r.sourceDatabase(), err)
	}
	defer src.Close()
	// Views read with the source database current come out with their
	// tables unqualified, so they point at the target's tables.
	if _, err := src.ExecContext(ctx, "USE "+schema.QuoteIdent(r.c.database)); err != nil {
		return r.sourceErr(r.sourceDatabase(), err)
	}
	defer func() { _, _ = src.ExecContext(context.Background(), "USE information_schema") }()
	dst, err := r.dst.Conn(ctx)
	if err != nil {
		return r.targetErr(r.targetDatabase(), err)
	}
	// The session's database and modes change: do not return it to the pool.
	defer func() { _ = dst.Raw(func(any) error { return driver.ErrBadConn }); dst.Close() }()
	if _, err := dst.ExecContext(ctx, "USE "+schema.QuoteIdent(r.c.cfg.targetDatabase)); err != nil {
		return r.targetErr(r.targetDatabase(), err)
	}
	triggerTable := map[string]string{}
	for _, rt := range r.facts.routines {
		if rt.Kind == "trigger" {
			triggerTable[rt.Name] = rt.Table
		}
	}

	var views []string
	for _, o := range r.plan.Objects {
		if o.Kind == KindView {
			views = append(views, o.Name)
		}
	}
	// A view can use another: create in passes until none is left or a
	// pass makes no progress.
	for len(views) > 0 {
		var failed []string
		var lastErr error
		for _, v := range views {
			row, err := showCreate(ctx, src, "SHOW CREATE VIEW "+schema.QualifiedName(r.c.database, v))
			if err != nil {
				return r.sourceErr("view "+schema.QuoteIdent(v), err)
			}
			stmt := strings.Replace(row["Create View"], "CREATE ", "CREATE OR REPLACE ", 1)
			if _, err := dst.ExecContext(ctx, stmt); err != nil {
				failed, lastErr = append(failed, v), r.targetErr("view "+schema.QualifiedName(r.c.cfg.targetDatabase, v), err)
			}
		}
		if len(failed) == len(views) {
			return lastErr
		}
		views = failed
	}
	for _, o := range r.plan.Objects {
		var show, create, drop string
		switch o.Kind {
		case KindProcedure:
			show, create, drop = "SHOW CREATE PROCEDURE", "Create Procedure", "DROP PROCEDURE IF EXISTS "
		case KindFunction:
			show, create, drop = "SHOW CREATE FUNCTION", "Create Function", "DROP FUNCTION IF EXISTS "
		case KindTrigger:
			show, create, drop = "SHOW CREATE TRIGGER", "SQL Original Statement", "DROP TRIGGER IF EXISTS "
		case KindEvent:
			show, create, drop = "SHOW CREATE EVENT", "Create Event", "DROP EVENT IF EXISTS "
		default:
			continue
		}
		object := string(o.Kind) + " " + schema.QuoteIdent(o.Name)
		row, err := showCreate(ctx, src, show+" "+schema.QualifiedName(r.c.database, o.Name))
		if err != nil {
			return r.sourceErr(object, err)
		}
		stmt := row[create]
		if stmt == "" {
			return r.sourceErr(object, fmt.Errorf("%w: %s shows no definition", ErrPrivilege, show))
		}
		if o.Kind == KindTrigger {
			if t := triggerTable[o.Name]; t != "" && r.c.targetName(t) != t {
				stmt = renameTriggerTable(stmt, t, r.c.targetName(t))
			}
		}
		stmts := []string{"SET SESSION sql_mode = " + rowcodec.String(row["sql_mode"])}
		if tz := row["time_zone"]; tz != "" && tz != "SYSTEM" {
			stmts = append(stmts, "SET SESSION time_zone = "+rowcodec.String(tz))
		}
		stmts = append(stmts, drop+schema.QuoteIdent(o.Name), stmt,
			r.writer.Set())
		for _, s := range stmts {
			if _, err := dst.ExecContext(ctx, s); err != nil {
				return r.targetErr(string(o.Kind)+" "+schema.QualifiedName(r.c.cfg.targetDatabase, o.Name), err)
			}
		}
	}
	return nil
}

// showCreate runs a SHOW CREATE statement and returns its row by column.
func showCreate(ctx context.Context, conn *sql.Conn, stmt string) (map[string]string, error) {
	rows, err := conn.QueryContext(ctx, stmt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stmt, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		return nil, fmt.Errorf("%s: no row: %w", stmt, errors.Join(rows.Err(), ErrNotFound))
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for i, c := range cols {
		out[c] = vals[i].String
	}
	return out, rows.Err()
}

// renameTriggerTable points a trigger's CREATE statement at a renamed table.
func renameTriggerTable(stmt, from, to string) string {
	re := regexp.MustCompile("(?i)(\\s+ON\\s+)(`" + regexp.QuoteMeta(strings.ReplaceAll(from, "`", "``")) + "`|" + regexp.QuoteMeta(from) + ")(\\s+FOR\\s+EACH\\s+ROW)")
	return re.ReplaceAllString(stmt, "${1}"+strings.ReplaceAll(schema.QuoteIdent(to), "$", "$$")+"${3}")
}
