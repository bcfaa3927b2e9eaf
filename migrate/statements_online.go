package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
)

// WithOnlineAlter makes Statements run each ALTER TABLE of one table
// through an OnlineAlter configured by opts (its logger is Statements'
// unless opts set one; add WithNativeMethod to run what review predicts
// INSTANT or INPLACE natively, with ALGORITHM= and LOCK= spelled out)
// instead of sending it to the server as it is. The statement's result
// records the method and why (StatementResult.Method, MethodWhy) and,
// as AffectedRows, the rows copied online; while it runs, progress
// carries the OnlineAlter's phase, rows, rate, ETA and lag. Canceling Run
// aborts it: the table is left untouched and the shadow table removed.
// An ALTER the OnlineAlter refuses (a table without a primary key, with
// triggers, referenced by foreign keys; see OnlineAlter's rules) fails
// the statement with the refusal, before anything changes; Plan runs
// each ALTER's OnlineAlter.Plan on the tables as they are (one the script
// creates is skipped), lists its method and why as a step, and returns
// its refusals, so that a ticket fails its dry run rather than its run. An ALTER
// TABLE that is not one table's clause list as "ALTER TABLE name
// clauses" (several tables, comments before the clauses) fails, not run.
func WithOnlineAlter(opts ...OnlineAlterOption) StatementsOption {
	return statementsOption(func(s *Statements) error {
		s.online = append([]OnlineAlterOption(nil), opts...)
		s.onlineSet = true
		return nil
	})
}

// errNotOnline: the ALTER TABLE's text cannot be split into the table and
// its clauses.
var errNotOnline = errors.New("cannot be run online")

// splitAlter returns the database (default when the name has none), the
// table and the clause list of "ALTER TABLE [db.]table clauses"; ok is
// false when text is no ALTER TABLE statement.
func splitAlter(text, defaultDB string) (database, table, clause string, ok bool, err error) {
	stmt, perr := parser.New().ParseOneStmt(text, "", "")
	if perr != nil {
		return "", "", "", false, nil // review judged it; the server will too
	}
	alter, isAlter := stmt.(*ast.AlterTableStmt)
	if !isAlter {
		return "", "", "", false, nil
	}
	rest := text
	for _, word := range []string{"ALTER", "TABLE"} {
		rest = strings.TrimLeft(rest, " \t\r\n")
		if len(rest) < len(word) || !strings.EqualFold(rest[:len(word)], word) {
			return "", "", "", true, fmt.Errorf("%w: expected %s at %.20q", errNotOnline, word, rest)
		}
		rest = rest[len(word):]
	}
	var parts []string
	for {
		rest = strings.TrimLeft(rest, " \t\r\n")
		var part string
		if part, rest, err = identifier(rest); err != nil {
			return "", "", "", true, err
		}
		parts = append(parts, part)
		if len(parts) == 2 || !strings.HasPrefix(rest, ".") {
			break
		}
		rest = rest[1:]
	}
	database, table = defaultDB, parts[len(parts)-1]
	if len(parts) == 2 {
		database = parts[0]
	}
	if !strings.EqualFold(table, alter.Table.Name.O) {
		return "", "", "", true, fmt.Errorf("%w: the table name %q is not the parser's %q", errNotOnline, table, alter.Table.Name.O)
	}
	clause = strings.TrimSpace(rest)
	if strings.HasPrefix(clause, "/*") || strings.HasPrefix(clause, "--") || strings.HasPrefix(clause, "#") {
		return "", "", "", true, fmt.Errorf("%w: a comment before its clauses", errNotOnline)
	}
	return database, table, clause, true, nil
}

// identifier reads one identifier, backquoted or bare, at the start of s.
func identifier(s string) (name, rest string, err error) {
	if strings.HasPrefix(s, "`") {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] != '`' {
				b.WriteByte(s[i])
				continue
			}
			if i+1 < len(s) && s[i+1] == '`' {
				b.WriteByte('`')
				i++
				continue
			}
			return b.String(), s[i+1:], nil
		}
		return "", "", fmt.Errorf("%w: an unterminated quoted name", errNotOnline)
	}
	end := strings.IndexFunc(s, func(r rune) bool {
		return !(r == '_' || r == '$' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r > 127)
	})
	if end <= 0 {
		return "", "", fmt.Errorf("%w: no table name at %.20q", errNotOnline, s)
	}
	return s[:end], s[end:], nil
}

// runOnline runs the ALTER TABLE of r through an OnlineAlter, forwarding
// its progress into p (emitted by emit). handled is false when the
// statement is not an ALTER TABLE, which then runs as it is.
func (s *Statements) runOnline(ctx context.Context, r *StatementResult, p *Progress, emit func()) (handled bool, err error) {
	database, table, clause, ok, err := splitAlter(r.Text, s.database)
	if !ok || err != nil {
		return ok, err
	}
	opts := append([]OnlineAlterOption{WithLogger(s.logger)}, s.online...)
	a, err := NewOnlineAlter(s.target.FormatDSN(), database, table, clause, opts...)
	if err != nil {
		return true, err
	}
	plan, err := a.Plan(ctx)
	if plan != nil && plan.Alter != nil {
		r.Method, r.MethodWhy = plan.Alter.Method, plan.Alter.Why
		if plan.Alter.Reason != "" {
			r.MethodWhy += "; review: " + plan.Alter.Reason
		}
		s.setResult(*r)
	}
	if err != nil {
		return true, err
	}
	base := *p
	rep, err := a.Run(ctx, func(ap Progress) {
		p.Phase, p.Rows, p.RowsEstimate, p.RowsPerSecond, p.ETA, p.Lag = ap.Phase, base.Rows+ap.Rows, ap.RowsEstimate, ap.RowsPerSecond, ap.ETA, ap.Lag
		emit()
	})
	p.Phase, p.Rows, p.RowsEstimate, p.RowsPerSecond, p.ETA, p.Lag = base.Phase, base.Rows, base.RowsEstimate, base.RowsPerSecond, base.ETA, base.Lag
	if rep != nil {
		r.AffectedRows = rep.Rows
	}
	return true, err
}

// planOnline adds each ALTER TABLE's method to plan and returns what
// OnlineAlter's Plan refuses. A table that does not exist yet (the script
// creates it) is left to Run.
func (s *Statements) planOnline(ctx context.Context, plan *Plan) error {
	var problems []error
	for i, text := range s.statements {
		database, table, clause, ok, err := splitAlter(text, s.database)
		if !ok {
			continue
		}
		if err == nil {
			var a *OnlineAlter
			if a, err = NewOnlineAlter(s.target.FormatDSN(), database, table, clause, append([]OnlineAlterOption{WithLogger(s.logger)}, s.online...)...); err == nil {
				var ap *Plan
				ap, err = a.Plan(ctx)
				if ap != nil && ap.Alter != nil && !errors.Is(err, ErrNotFound) {
					plan.Steps = append(plan.Steps, fmt.Sprintf("%d. runs %s: %s", i+1, ap.Alter.Method, ap.Alter.Why))
				}
			}
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			problems = append(problems, &StatementError{Index: i, Text: shorten(text), Err: err})
		}
	}
	return errors.Join(problems...)
}
