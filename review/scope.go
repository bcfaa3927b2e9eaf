package review

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// A scope is one query block of a statement: a SELECT (the statement
// itself, a subquery, a derived table, a common table expression's body,
// a UNION branch) or the target of an UPDATE, DELETE, INSERT or REPLACE.
// It holds the tables its FROM names and the scope it is nested in, whose
// tables its columns may also name (a correlated subquery).
type scope struct {
	parent  *scope
	sources []source
	// ctes holds a common table expression a WITH clause defines, by
	// lower-case name; a scope holding one has no sources.
	ctes map[string]*source
	// aliases are the lower-case aliases of the block's select fields,
	// which ORDER BY, GROUP BY and HAVING may name; inAliasClause is set
	// while the resolver is in one of those clauses, WHERE and ON
	// cannot name them.
	aliases       map[string]bool
	inAliasClause bool
	// opaque marks a UNION's own scope: its ORDER BY names result
	// columns, which are not resolved.
	opaque bool
}

// source is one table of a scope: a base table, or a derived table or
// common table expression.
type source struct {
	name string         // lower case: the alias, or else the table's name
	tn   *ast.TableName // the base table; nil for a derived table
	def  *TableDef      // the base table's definition; nil when not known
	// cols are a derived table's lower-case column names; partial means
	// it has others that cannot be named (SELECT *, unnamed expressions).
	cols    map[string]bool
	partial bool
}

// refState is what a column reference resolves to.
type refState int

const (
	refUnknown refState = iota // cannot tell: a table not known, an ambiguous name
	refBase                    // a column of a base table
	refDerived                 // a column of a derived table or CTE, or a select alias
	refMissing                 // no table in reach has the column
	refNoTable                 // the qualifier names no table in reach
)

// colRef is a resolved column reference.
type colRef struct {
	state refState
	src   *source // the table it resolved to (refBase, refDerived, refMissing of a qualified name)
	// reach names the tables in reach, for messages of refMissing.
	reach []string
}

// def returns the base table the reference resolved to, or nil.
func (r colRef) def() *TableDef {
	if r.state == refBase {
		return r.src.def
	}
	return nil
}

// colUse is one column reference of a statement and what it resolved to.
type colUse struct {
	name *ast.ColumnName
	pos  int // byte offset in the statement, 0 when not known
	ref  colRef
}

// resolution is the column references of a statement, resolved.
type resolution struct {
	uses  []colUse
	index map[*ast.ColumnName]int
}

// column returns what the column reference cn of the statement resolves
// to: the table of its own query block, or of an enclosing one.
func (c *Check) column(cn *ast.ColumnName) colRef {
	res := c.resolution()
	if i, ok := res.index[cn]; ok {
		return res.uses[i].ref
	}
	return colRef{}
}

// columnDef returns the base table column reference cn belongs to, or nil
// when it is not a base table's column or that cannot be told.
func (c *Check) columnDef(cn *ast.ColumnName) *TableDef { return c.column(cn).def() }

// resolution resolves the statement's column references once. The
// result lives in the run's buffers, which the next statement reuses.
func (c *Check) resolution() *resolution {
	if c.st.cols == nil {
		rv := c.rv
		out := &rv.cols
		if out.index == nil {
			out.index = map[*ast.ColumnName]int{}
		}
		clear(out.index)
		clear(out.uses) // drop the previous statement's nodes
		out.uses = out.uses[:0]
		r := resolver{c: c, out: out, stack: rv.scopes[:0], owners: rv.owners[:0]}
		if c.st.node != nil {
			c.st.node.Accept(&r)
		}
		clear(r.stack[:cap(r.stack)])
		clear(r.owners[:cap(r.owners)])
		rv.scopes, rv.owners = r.stack[:0], r.owners[:0]
		c.st.cols = out
	}
	return c.st.cols
}

// resolver walks a statement, keeping a stack of scopes, and resolves
// each column reference in the scope it appears in.
type resolver struct {
	c      *Check
	stack  []*scope
	owners []ast.Node // the node that opened each scope of stack
	// parentOf is the scope a derived table's or CTE's query hangs from,
	// when not the scope it appears in.
	parentOf map[ast.Node]*scope
	out      *resolution
}

func (r *resolver) top() *scope {
	if len(r.stack) == 0 {
		return nil
	}
	return r.stack[len(r.stack)-1]
}

// hang records that query block n hangs from scope s.
func (r *resolver) hang(n ast.Node, s *scope) {
	if r.parentOf == nil {
		r.parentOf = map[ast.Node]*scope{}
	}
	r.parentOf[n] = s
}

// parentFor returns the scope a query block n hangs from.
func (r *resolver) parentFor(n ast.Node) *scope {
	if p, ok := r.parentOf[n]; ok {
		return p
	}
	return r.top()
}

func (r *resolver) push(n ast.Node, s *scope) {
	r.stack = append(r.stack, s)
	r.owners = append(r.owners, n)
}

// withScope returns the scope of a WITH clause's CTEs, hanging from
// parent (parent itself when there is no WITH), and registers the CTE
// bodies to hang from it. Each CTE is a scope of its own, chained in
// order: a CTE's body sees the CTEs defined before it (and itself, under
// WITH RECURSIVE), so a CTE named like a base table reads that table in
// its own body unless the WITH is RECURSIVE.
func (r *resolver) withScope(parent *scope, w *ast.WithClause) *scope {
	if w == nil || len(w.CTEs) == 0 {
		return parent
	}
	ws := parent
	for _, cte := range w.CTEs {
		src := &source{name: cte.Name.L}
		if cte.Query != nil {
			src.cols, src.partial = outputColumns(cte.Query.Query)
		}
		if len(cte.ColNameList) > 0 {
			src.cols, src.partial = map[string]bool{}, false
			for _, n := range cte.ColNameList {
				src.cols[n.L] = true
			}
		}
		next := &scope{parent: ws, ctes: map[string]*source{cte.Name.L: src}}
		if cte.Query != nil {
			if w.IsRecursive {
				r.hang(cte.Query.Query, next)
			} else {
				r.hang(cte.Query.Query, ws)
			}
		}
		ws = next
	}
	return ws
}

// Enter implements ast.Visitor.
func (r *resolver) Enter(n ast.Node) (ast.Node, bool) {
	switch n := n.(type) {
	case *ast.SelectStmt:
		s := &scope{parent: r.withScope(r.parentFor(n), n.With)}
		if n.From != nil {
			r.addSources(s, n.From.TableRefs)
		}
		if n.Fields != nil {
			for _, f := range n.Fields.Fields {
				if f.AsName.L != "" {
					if s.aliases == nil {
						s.aliases = map[string]bool{}
					}
					s.aliases[f.AsName.L] = true
				}
			}
		}
		r.push(n, s)
	case *ast.SetOprStmt:
		s := &scope{parent: r.withScope(r.parentFor(n), n.With), opaque: true}
		if n.SelectList != nil {
			r.branchesFrom(n.SelectList, s.parent)
		}
		r.push(n, s)
	case *ast.UpdateStmt:
		s := &scope{parent: r.withScope(r.parentFor(n), n.With)}
		if n.TableRefs != nil {
			r.addSources(s, n.TableRefs.TableRefs)
		}
		r.push(n, s)
	case *ast.DeleteStmt:
		s := &scope{parent: r.withScope(r.parentFor(n), n.With)}
		if n.TableRefs != nil {
			r.addSources(s, n.TableRefs.TableRefs)
		}
		r.push(n, s)
	case *ast.InsertStmt:
		s := &scope{parent: r.parentFor(n)}
		if n.Table != nil {
			r.addSources(s, n.Table.TableRefs)
		}
		if n.Select != nil {
			// The SELECT of INSERT ... SELECT reads its own tables only.
			r.hang(n.Select, s.parent)
		}
		r.push(n, s)
		for _, cn := range n.Columns {
			r.record(cn, 0)
		}
	case *ast.GroupByClause, *ast.HavingClause, *ast.OrderByClause:
		if s := r.aliasClauseOf(n); s != nil {
			s.inAliasClause = true
		}
	case *ast.ColumnNameExpr:
		r.record(n.Name, n.OriginTextPosition())
	case *ast.Assignment:
		r.record(n.Column, 0)
	}
	return n, false
}

// Leave implements ast.Visitor.
func (r *resolver) Leave(n ast.Node) (ast.Node, bool) {
	switch n.(type) {
	case *ast.GroupByClause, *ast.HavingClause, *ast.OrderByClause:
		if s := r.aliasClauseOf(n); s != nil {
			s.inAliasClause = false
		}
	}
	if k := len(r.owners) - 1; k >= 0 && r.owners[k] == n {
		r.stack, r.owners = r.stack[:k], r.owners[:k]
	}
	return n, true
}

// aliasClauseOf returns the scope of the SELECT whose GROUP BY, HAVING
// or ORDER BY clause n is, or nil when n is none of those.
func (r *resolver) aliasClauseOf(n ast.Node) *scope {
	k := len(r.owners) - 1
	if k < 0 {
		return nil
	}
	sel, ok := r.owners[k].(*ast.SelectStmt)
	if !ok {
		return nil
	}
	if sel.GroupBy != nil && n == ast.Node(sel.GroupBy) || sel.Having != nil && n == ast.Node(sel.Having) || sel.OrderBy != nil && n == ast.Node(sel.OrderBy) {
		return r.stack[k]
	}
	return nil
}

// branchesFrom makes the branches of a UNION (INTERSECT, EXCEPT) hang
// from parent.
func (r *resolver) branchesFrom(l *ast.SetOprSelectList, parent *scope) {
	r.hang(l, parent)
	for _, b := range l.Selects {
		if sub, ok := b.(*ast.SetOprSelectList); ok {
			r.branchesFrom(sub, parent)
			continue
		}
		r.hang(b, parent)
	}
}

// record resolves cn in the current scope; references outside any query
// block (column defaults, generated columns) are not resolved.
func (r *resolver) record(cn *ast.ColumnName, pos int) {
	s := r.top()
	if s == nil || cn == nil {
		return
	}
	if _, dup := r.out.index[cn]; dup {
		return
	}
	r.out.index[cn] = len(r.out.uses)
	r.out.uses = append(r.out.uses, colUse{name: cn, pos: pos, ref: resolve(s, cn)})
}

// addSources adds the tables of a FROM clause to s. A derived table's
// query hangs from s's parent (from s itself when LATERAL): it cannot see
// the other tables of the same FROM.
func (r *resolver) addSources(s *scope, n ast.ResultSetNode) {
	switch n := n.(type) {
	case *ast.Join:
		if n == nil {
			return
		}
		r.addSources(s, n.Left)
		if n.Right != nil {
			r.addSources(s, n.Right)
		}
	case *ast.TableSource:
		switch src := n.Source.(type) {
		case *ast.TableName:
			r.addTable(s, src, n.AsName.L)
		case *ast.SelectStmt, *ast.SetOprStmt:
			d := source{name: n.AsName.L}
			d.cols, d.partial = outputColumns(src)
			if len(n.ColumnNames) > 0 {
				d.cols, d.partial = map[string]bool{}, false
				for _, c := range n.ColumnNames {
					d.cols[c.L] = true
				}
			}
			if n.Lateral {
				r.hang(src, s)
			} else {
				r.hang(src, s.parent)
			}
			s.sources = append(s.sources, d)
		case *ast.Join:
			r.addSources(s, src)
		}
	case *ast.TableName:
		r.addTable(s, n, "")
	}
}

// addTable adds a table named in a FROM clause: a CTE in reach when the
// name is one, else a base table.
func (r *resolver) addTable(s *scope, tn *ast.TableName, alias string) {
	name := alias
	if name == "" {
		name = tn.Name.L
	}
	if tn.Schema.L == "" {
		for sc := s.parent; sc != nil; sc = sc.parent {
			if cte := sc.ctes[tn.Name.L]; cte != nil {
				d := *cte
				d.name = name
				s.sources = append(s.sources, d)
				return
			}
		}
	}
	s.sources = append(s.sources, source{name: name, tn: tn, def: r.c.Table(tn)})
}

// outputColumns returns the lower-case names of the columns a query
// returns (those of its first branch for a UNION), and whether it returns
// others that cannot be named.
func outputColumns(n ast.Node) (map[string]bool, bool) {
	switch n := n.(type) {
	case *ast.SetOprStmt:
		if n.SelectList != nil && len(n.SelectList.Selects) > 0 {
			return outputColumns(n.SelectList.Selects[0])
		}
	case *ast.SetOprSelectList:
		if len(n.Selects) > 0 {
			return outputColumns(n.Selects[0])
		}
	case *ast.SelectStmt:
		cols := map[string]bool{}
		partial := false
		if n.Fields == nil {
			return cols, true
		}
		for _, f := range n.Fields.Fields {
			switch {
			case f.AsName.L != "":
				cols[f.AsName.L] = true
			case f.WildCard != nil:
				partial = true
			default:
				if cn, ok := f.Expr.(*ast.ColumnNameExpr); ok {
					cols[cn.Name.Name.L] = true
				} else {
					partial = true
				}
			}
		}
		return cols, partial
	}
	return nil, true
}

// has reports whether the source has column name (lower case): yes,
// no, or maybe when it cannot tell.
func (s *source) has(name string) (yes, maybe bool) {
	if s.tn != nil {
		if s.def == nil || len(s.def.Columns) == 0 {
			return false, true
		}
		return s.def.Column(name) != nil, false
	}
	if s.cols[name] {
		return true, false
	}
	return false, s.partial
}

func (s *source) resolved() refState {
	if s.tn != nil {
		return refBase
	}
	return refDerived
}

// resolve resolves cn in scope s: in s's own tables first, then in the
// enclosing scopes'.
func resolve(s *scope, cn *ast.ColumnName) colRef {
	if cn.Table.L != "" {
		return resolveQualified(s, cn)
	}
	tables := false
	for sc := s; sc != nil; sc = sc.parent {
		if sc.opaque {
			return colRef{}
		}
		var found *source
		n, unsure := 0, false
		for i := range sc.sources {
			src := &sc.sources[i]
			yes, maybe := src.has(cn.Name.L)
			switch {
			case yes:
				n++
				found = src
			case maybe:
				unsure = true
			}
			tables = true
		}
		switch {
		case n == 1:
			return colRef{state: found.resolved(), src: found}
		case n > 1, unsure:
			return colRef{}
		case sc.inAliasClause && sc.aliases[cn.Name.L]:
			return colRef{state: refDerived}
		}
	}
	if !tables {
		return colRef{} // no table at all: not this resolver's business
	}
	var reach []string
	for sc := s; sc != nil; sc = sc.parent {
		for i := range sc.sources {
			reach = append(reach, sourceLabel(&sc.sources[i]))
		}
	}
	return colRef{state: refMissing, reach: reach}
}

// resolveQualified resolves a column named with its table (and maybe
// database): the nearest scope with a table of that name decides.
func resolveQualified(s *scope, cn *ast.ColumnName) colRef {
	for sc := s; sc != nil; sc = sc.parent {
		if sc.opaque {
			return colRef{}
		}
		for i := range sc.sources {
			src := &sc.sources[i]
			if src.name != cn.Table.L || cn.Schema.L != "" && (src.tn == nil || !sameSchema(src, cn.Schema.L)) {
				continue
			}
			yes, maybe := src.has(cn.Name.L)
			switch {
			case yes:
				return colRef{state: src.resolved(), src: src}
			case maybe:
				return colRef{}
			}
			return colRef{state: refMissing, src: src}
		}
	}
	return colRef{state: refNoTable}
}

// sameSchema reports whether a base source is in database db (lower case).
func sameSchema(src *source, db string) bool {
	if src.tn.Schema.L != "" {
		return src.tn.Schema.L == db
	}
	return src.def != nil && strings.EqualFold(src.def.Database, db)
}

// sourceLabel names a source for messages: the base table's name, or the
// derived table's alias.
func sourceLabel(s *source) string {
	if s.def != nil {
		return s.def.Name
	}
	if s.tn != nil {
		return s.tn.Name.O
	}
	return s.name
}
