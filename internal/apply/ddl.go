package apply

import (
	"context"
	"fmt"
	"strings"

	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// applyDDL runs tx's schema change on the target with the target database
// as the default one, then saves tx's position.
func (a *Applier) applyDDL(ctx context.Context, tx rowchange.Txn) error {
	d := tx.DDL
	if err := a.checkDDL(d); err != nil {
		return err
	}
	if _, err := a.conn.ExecContext(ctx, "USE "+schema.QuoteIdent(a.database)); err != nil {
		return fmt.Errorf("apply: stream %q: database %s: %w", a.stream, schema.QuoteIdent(a.database), err)
	}
	if _, err := a.conn.ExecContext(ctx, d.Statement); err != nil {
		return fmt.Errorf("apply: stream %q: transaction %s: DDL %q in database %s: %w", a.stream, txnName(tx), d.Statement, schema.QuoteIdent(a.database), err)
	}
	a.cfg.logger.Info("apply: schema change applied", "stream", a.stream, "database", a.database, "statement", d.Statement)
	// Target tables may have changed: read them again.
	clear(a.tables)
	clear(a.defs)
	next := a.next(tx)
	if err := a.store.SaveStream(ctx, a.conn, a.stream, next); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if err := a.commit(ctx); err != nil {
		return fmt.Errorf("apply: stream %q: transaction %s: %w", a.stream, txnName(tx), err)
	}
	a.saved(next)
	a.count(1, 0)
	return nil
}

// checkDDL refuses, with ErrDDL, a statement whose table names would need
// rewriting: a table that maps to another name, or to the target database
// while the statement may name it with the source database. A table that
// maps to itself needs nothing.
func (a *Applier) checkDDL(d *rowchange.DDL) error {
	named := d.Schema != "" && d.Schema != a.database && containsIdent(d.Statement, d.Schema)
	if len(d.Tables) == 0 && named {
		return fmt.Errorf("apply: DDL %q names database %s, which maps to %s: %w (table names inside statements are not rewritten)",
			d.Statement, schema.QuoteIdent(d.Schema), schema.QuoteIdent(a.database), ErrDDL)
	}
	for _, t := range d.Tables {
		m := a.targetName(t)
		if m == t || t.Schema == d.Schema && m == (rowchange.Table{Schema: a.database, Name: t.Name}) && !named {
			continue
		}
		return fmt.Errorf("apply: DDL %q on table %s, which maps to %s: %w (table names inside statements are not rewritten)",
			d.Statement, schema.QualifiedName(t.Schema, t.Name), schema.QualifiedName(m.Schema, m.Name), ErrDDL)
	}
	return nil
}

// containsIdent reports whether name occurs in stmt as a whole identifier
// (case-insensitively; not inside a longer one), quoted or not. It may
// find it in a string or a comment: it errs on the side of refusing.
func containsIdent(stmt, name string) bool {
	s, n := strings.ToLower(stmt), strings.ToLower(name)
	for i := 0; ; {
		j := strings.Index(s[i:], n)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(n)
		if (start == 0 || !identByte(s[start-1])) && (end == len(s) || !identByte(s[end])) {
			return true
		}
		i = start + 1
	}
}

// identByte reports a byte that can continue an unquoted identifier.
func identByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 0x80
}
