package review

import (
	"context"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// shape is a table the script creates, judged in its state at the end of
// the script by the rules that look at a table's shape.
type shape struct {
	def    *TableDef // the table at the end of the script
	label  string    // the table as the CREATE TABLE names it, for messages
	create int       // index of the CREATE TABLE statement
	pk     int       // index of the statement that declared the primary key; -1 for none
	like   bool      // created by CREATE TABLE ... LIKE
}

// created is a table the script creates, while the script is reviewed.
type created struct {
	label  string
	create int
	pk     int
	// like marks a copy made by CREATE TABLE ... LIKE, whose shape is its
	// source's; it is judged only when the script changes it (altered),
	// as the source is judged on its own.
	like, altered bool
}

// track follows the tables the script creates through the statement st
// (which has been reviewed but not yet applied to the catalog): CREATE
// TABLE registers one, ALTERs that declare or drop the primary key, and
// renames and drops, update it.
func (rv *run) track(ctx context.Context, st *stmtState) {
	idx := st.res.Index
	key := func(tn *ast.TableName) tableKey { return qualified(st.database, tn) }
	switch n := st.node.(type) {
	case *ast.CreateTableStmt:
		ct := plainCreate(n)
		if ct == nil && n.ReferTable == nil {
			return
		}
		k := key(n.Table)
		if _, state := rv.lookup(ctx, k); n.IfNotExists && state == tableFound {
			return
		}
		c := &created{label: tableLabel(n.Table), create: idx, pk: -1, like: ct == nil}
		if ct != nil {
			if _, ok := primaryKeyColumns(ct); ok {
				c.pk = idx
			}
		}
		if rv.created == nil {
			rv.created = map[tableKey]*created{}
		}
		rv.created[k] = c
	case *ast.AlterTableStmt:
		k := key(n.Table)
		c := rv.created[k]
		if c == nil {
			return
		}
		c.altered = true
		if slices.Contains(droppedIndexes(n), "PRIMARY") {
			c.pk = -1
		}
		if _, decl := declaredIndexes(n); slices.ContainsFunc(decl, func(d declIndex) bool { return d.primary }) {
			c.pk = idx
		}
		for _, s := range n.Specs {
			if s.Tp == ast.AlterTableRenameTable && s.NewTable != nil {
				delete(rv.created, k)
				k = key(s.NewTable)
				rv.created[k] = c
			}
		}
	case *ast.CreateIndexStmt:
		if c := rv.created[key(n.Table)]; c != nil {
			c.altered = true
		}
	case *ast.DropIndexStmt:
		c := rv.created[key(n.Table)]
		if c == nil {
			return
		}
		c.altered = true
		if strings.EqualFold(n.IndexName, "PRIMARY") {
			c.pk = -1
		}
	case *ast.RenameTableStmt:
		for _, tt := range n.TableToTables {
			if c := rv.created[key(tt.OldTable)]; c != nil {
				delete(rv.created, key(tt.OldTable))
				rv.created[key(tt.NewTable)] = c
			}
		}
	case *ast.DropTableStmt:
		for _, tn := range n.Tables {
			delete(rv.created, key(tn))
		}
	}
}

// judgeShapes runs the final checks of the rules on each table the
// script created and kept, in its state at the end of the script; their
// findings go to the statement the rule names (the CREATE TABLE, or the
// statement that declared the primary key).
func (rv *run) judgeShapes(ctx context.Context) {
	if len(rv.created) == 0 {
		return
	}
	keys := make([]tableKey, 0, len(rv.created))
	for k := range rv.created {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b tableKey) int { return rv.created[a].create - rv.created[b].create })
	touched := map[int]bool{}
	for _, k := range keys {
		cr := rv.created[k]
		def := rv.cat.peek(ctx, k)
		if def == nil || cr.like && !cr.altered {
			continue
		}
		sh := &shape{def: def, label: cr.label, create: cr.create, pk: cr.pk, like: cr.like}
		st := &stmtState{res: &rv.res.Statements[cr.create]}
		c := &rv.chk
		*c = Check{ctx: ctx, rv: rv, st: st, index: cr.create}
		for i := range rv.r.policy.active {
			cr := &rv.r.policy.active[i]
			if cr.rule.final == nil {
				continue
			}
			c.rule = cr
			rv.runFinal(ctx, c, sh)
		}
		touched[sh.create], touched[max(sh.pk, 0)] = true, true
	}
	for i := range touched {
		st := &rv.res.Statements[i]
		slices.SortStableFunc(st.Findings, func(a, b Finding) int { return strings.Compare(a.Rule, b.Rule) })
		st.Level = maxLevel(st.Findings)
	}
}

// runFinal runs one rule's final check, turning a panic into a finding.
func (rv *run) runFinal(ctx context.Context, c *Check, sh *shape) {
	defer func() {
		if p := recover(); p != nil {
			rv.r.logger.ErrorContext(ctx, "review: rule panicked", "rule", c.rule.rule.ID, "panic", p)
			c.reportOn(sh.create, "rule %s failed on this table: %v", c.rule.rule.ID, p)
		}
	}()
	c.rule.rule.final(c, sh)
}

// singleKey returns the column of a single-column primary key, or nil.
func (sh *shape) singleKey() *Column {
	pk := sh.def.PrimaryKey()
	if pk == nil || len(pk.Columns) != 1 {
		return nil
	}
	return sh.def.Column(pk.Columns[0].Name)
}

// pkAt is the statement to change about the primary key: the one that
// declared it.
func (sh *shape) pkAt() int {
	if sh.pk >= 0 {
		return sh.pk
	}
	return sh.create
}
