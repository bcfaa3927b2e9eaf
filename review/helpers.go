package review

import (
	"slices"
	"strconv"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/opcode"
	"github.com/pingcap/tidb/pkg/parser/types"
)

// newColumn is a column definition a statement makes, with the table it
// belongs to.
type newColumn struct {
	def   *ast.ColumnDef
	table *ast.TableName
	// added is true for ADD COLUMN and CREATE TABLE, false for MODIFY and
	// CHANGE, which redefine an existing column.
	added bool
	spec  *ast.AlterTableSpec // nil for CREATE TABLE
}

// oldName returns the name of the existing column a MODIFY or CHANGE
// COLUMN redefines (the new column's name for ADD and MODIFY).
func (nc newColumn) oldName() string {
	if nc.spec != nil && nc.spec.Tp == ast.AlterTableChangeColumn && nc.spec.OldColumnName != nil {
		return nc.spec.OldColumnName.Name.O
	}
	return colName(nc.def)
}

// newColumns returns the column definitions of CREATE TABLE, or of ADD,
// MODIFY and CHANGE COLUMN clauses.
func newColumns(n ast.StmtNode) []newColumn {
	var out []newColumn
	switch n := n.(type) {
	case *ast.CreateTableStmt:
		for _, cd := range n.Cols {
			out = append(out, newColumn{def: cd, table: n.Table, added: true})
		}
	case *ast.AlterTableStmt:
		for _, s := range n.Specs {
			switch s.Tp {
			case ast.AlterTableAddColumns:
				for _, cd := range s.NewColumns {
					out = append(out, newColumn{def: cd, table: n.Table, added: true, spec: s})
				}
			case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
				for _, cd := range s.NewColumns {
					out = append(out, newColumn{def: cd, table: n.Table, spec: s})
				}
			}
		}
	}
	return out
}

// nodes returns every node of the statement in the order ast.Node.Accept
// visits them, collected once for the statement's rules into a buffer the run
// reuses: the slice must not be changed or kept past the rule's Check.
func (c *Check) nodes() []ast.Node {
	if c.st.derived.once(derivedNodes) {
		c.rv.nodes = c.rv.nodes[:0]
		if n := c.Stmt(); n != nil {
			n.Accept(nodeCollector{&c.rv.nodes})
		}
	}
	return c.rv.nodes
}

// nodeCollector appends every node it visits to out.
type nodeCollector struct{ out *[]ast.Node }

func (v nodeCollector) Enter(n ast.Node) (ast.Node, bool) {
	*v.out = append(*v.out, n)
	return n, false
}

func (v nodeCollector) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// columnDefs returns newColumns of the statement, computed once for the
// statement's rules. The slice must not be changed.
func (c *Check) columnDefs() []newColumn {
	d := &c.st.derived
	if d.once(derivedCols) {
		d.cols = slices.Clip(newColumns(c.Stmt()))
	}
	return d.cols
}

// indexDecls returns declaredIndexes of the statement, computed once for
// the statement's rules. The slice must not be changed.
func (c *Check) indexDecls() (*ast.TableName, []declIndex) {
	d := &c.st.derived
	if d.once(derivedDecl) {
		tn, decl := declaredIndexes(c.Stmt())
		d.declTable, d.decl = tn, slices.Clip(decl)
	}
	return d.declTable, d.decl
}

// hasOption reports whether the column definition has an option of type tp.
func hasOption(cd *ast.ColumnDef, tp ast.ColumnOptionType) bool {
	return option(cd, tp) != nil
}

func option(cd *ast.ColumnDef, tp ast.ColumnOptionType) *ast.ColumnOption {
	for _, o := range cd.Options {
		if o.Tp == tp {
			return o
		}
	}
	return nil
}

func colName(cd *ast.ColumnDef) string { return cd.Name.Name.O }

func colType(cd *ast.ColumnDef) byte {
	if cd.Tp == nil {
		return mysql.TypeUnspecified
	}
	return cd.Tp.GetType()
}

// isBlobType reports TEXT and BLOB types of every size.
func isBlobType(tp byte) bool {
	switch tp {
	case mysql.TypeBlob, mysql.TypeTinyBlob, mysql.TypeMediumBlob, mysql.TypeLongBlob:
		return true
	}
	return false
}

// isBlobLike reports types that cannot or need not have a plain default:
// TEXT, BLOB, JSON and geometry.
func isBlobLike(tp byte) bool {
	return isBlobType(tp) || tp == mysql.TypeJSON || tp == mysql.TypeGeometry
}

// typeName renders a column's type for messages: "varchar(255)".
func typeName(ft *types.FieldType) string {
	if ft == nil {
		return "unknown"
	}
	return ft.CompactStr()
}

// declIndex is an index a statement declares.
type declIndex struct {
	name    string
	primary bool
	unique  bool
	typ     string // BTREE, FULLTEXT, SPATIAL
	using   string // the USING clause: BTREE, HASH, RTREE; "" for none
	parts   []*ast.IndexPartSpecification
}

func (d *declIndex) label() string {
	switch {
	case d.primary:
		return "primary key"
	case d.name == "":
		return "unnamed index on (" + strings.Join(d.columns(), ", ") + ")"
	}
	return "index " + d.name
}

func (d *declIndex) columns() []string {
	out := make([]string, 0, len(d.parts))
	for _, p := range d.parts {
		if p.Column != nil {
			out = append(out, p.Column.Name.O)
		} else {
			out = append(out, "(expression)")
		}
	}
	return out
}

// declaredIndexes returns the indexes a CREATE TABLE, ALTER TABLE or
// CREATE INDEX declares, and the table they are on.
func declaredIndexes(n ast.StmtNode) (*ast.TableName, []declIndex) {
	var out []declIndex
	fromConstraint := func(c *ast.Constraint) {
		d := declIndex{name: c.Name, parts: c.Keys, typ: "BTREE", using: indexUsing(c.Option)}
		switch c.Tp {
		case ast.ConstraintPrimaryKey:
			d.primary, d.unique, d.name = true, true, "PRIMARY"
		case ast.ConstraintKey, ast.ConstraintIndex:
		case ast.ConstraintUniq, ast.ConstraintUniqKey, ast.ConstraintUniqIndex:
			d.unique = true
		case ast.ConstraintFulltext:
			d.typ = "FULLTEXT"
		default:
			return
		}
		out = append(out, d)
	}
	fromColumns := func(cols []*ast.ColumnDef) {
		for _, cd := range cols {
			var part []*ast.IndexPartSpecification // made for key columns only
			for _, o := range cd.Options {
				if o.Tp != ast.ColumnOptionPrimaryKey && o.Tp != ast.ColumnOptionUniqKey {
					continue
				}
				if part == nil {
					part = []*ast.IndexPartSpecification{{Column: cd.Name}}
				}
				if o.Tp == ast.ColumnOptionPrimaryKey {
					out = append(out, declIndex{name: "PRIMARY", primary: true, unique: true, typ: "BTREE", parts: part})
				} else {
					out = append(out, declIndex{name: colName(cd), unique: true, typ: "BTREE", parts: part})
				}
			}
		}
	}
	switch n := n.(type) {
	case *ast.CreateTableStmt:
		fromColumns(n.Cols)
		for _, c := range n.Constraints {
			fromConstraint(c)
		}
		return n.Table, out
	case *ast.AlterTableStmt:
		for _, s := range n.Specs {
			switch s.Tp {
			case ast.AlterTableAddConstraint:
				if s.Constraint != nil {
					fromConstraint(s.Constraint)
				}
			case ast.AlterTableAddColumns:
				fromColumns(s.NewColumns)
				for _, c := range s.NewConstraints {
					fromConstraint(c)
				}
			}
		}
		return n.Table, out
	case *ast.CreateIndexStmt:
		out = append(out, declIndex{name: n.IndexName, unique: n.KeyType == ast.IndexKeyTypeUnique, typ: indexTypeOf(n.KeyType), using: indexUsing(n.IndexOption), parts: n.IndexPartSpecifications})
		return n.Table, out
	}
	return nil, nil
}

// indexUsing returns the index type an index option's USING clause
// names (BTREE, HASH, RTREE), or "".
func indexUsing(o *ast.IndexOption) string {
	if o == nil || o.Tp == ast.IndexTypeInvalid {
		return ""
	}
	return strings.ToUpper(o.Tp.String())
}

// droppedIndexes returns the names of indexes an ALTER TABLE or DROP INDEX
// drops ("PRIMARY" for the primary key).
func droppedIndexes(n ast.StmtNode) []string {
	var out []string
	switch n := n.(type) {
	case *ast.AlterTableStmt:
		for _, s := range n.Specs {
			switch s.Tp {
			case ast.AlterTableDropIndex:
				out = append(out, indexName(s.Name))
			case ast.AlterTableDropPrimaryKey:
				out = append(out, "PRIMARY")
			}
		}
	case *ast.DropIndexStmt:
		out = append(out, indexName(n.IndexName))
	}
	return out
}

// isPrimaryName reports whether an index name names the primary key
// (DROP INDEX `PRIMARY`), whatever its case.
func isPrimaryName(name string) bool { return strings.EqualFold(name, "PRIMARY") }

// indexName returns name, spelled "PRIMARY" when it names the primary key.
func indexName(name string) string {
	if isPrimaryName(name) {
		return "PRIMARY"
	}
	return name
}

// tableOption returns the last option of type tp in opts.
func tableOption(opts []*ast.TableOption, tp ast.TableOptionType) *ast.TableOption {
	var found *ast.TableOption
	for _, o := range opts {
		if o.Tp == tp {
			found = o
		}
	}
	return found
}

// where returns the WHERE clause of UPDATE, DELETE, SELECT and of the
// SELECT of INSERT ... SELECT.
func where(n ast.Node) ast.ExprNode {
	if ins, ok := n.(*ast.InsertStmt); ok {
		return blockWhere(ins.Select)
	}
	return blockWhere(n)
}

// blockWhere returns the WHERE of the query block n (a SELECT, UPDATE or
// DELETE), or nil.
func blockWhere(n ast.Node) ast.ExprNode {
	switch n := n.(type) {
	case *ast.UpdateStmt:
		return n.Where
	case *ast.DeleteStmt:
		return n.Where
	case *ast.SelectStmt:
		return n.Where
	}
	return nil
}

// valueOf returns a literal's Go value and whether e is a literal.
func valueOf(e ast.ExprNode) (any, bool) {
	if v, ok := e.(ast.ValueExpr); ok {
		return v.GetValue(), true
	}
	return nil, false
}

func unparen(e ast.ExprNode) ast.ExprNode {
	for {
		p, ok := e.(*ast.ParenthesesExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}

// alwaysTrue reports conditions that hold for every row: non-zero
// literals, comparisons of literals that hold (numbers by value, other
// literals only when equal), of a column with itself, and OR with such a
// condition.
func alwaysTrue(e ast.ExprNode) bool {
	e = unparen(e)
	switch e := e.(type) {
	case ast.ValueExpr:
		return truthy(e.GetValue())
	case *ast.BinaryOperationExpr:
		switch e.Op {
		case opcode.LogicOr:
			return alwaysTrue(e.L) || alwaysTrue(e.R)
		case opcode.LogicAnd:
			return alwaysTrue(e.L) && alwaysTrue(e.R)
		case opcode.EQ, opcode.GE, opcode.LE, opcode.NullEQ, opcode.NE, opcode.LT, opcode.GT:
			l, r := unparen(e.L), unparen(e.R)
			if lv, ok := l.(ast.ValueExpr); ok {
				if rv, ok := r.(ast.ValueExpr); ok {
					return literalsCompare(e.Op, lv.GetValue(), rv.GetValue())
				}
			}
			if lc, ok := l.(*ast.ColumnNameExpr); ok && e.Op != opcode.NE && e.Op != opcode.LT && e.Op != opcode.GT {
				if rc, ok := r.(*ast.ColumnNameExpr); ok {
					return lc.Name.Name.L == rc.Name.Name.L && lc.Name.Table.L == rc.Name.Table.L
				}
			}
		}
	case *ast.IsNullExpr:
		if v, ok := valueOf(unparen(e.Expr)); ok {
			return (v == nil) != e.Not
		}
	}
	return false
}

// literalsCompare reports whether the comparison op of the literals a and
// b holds: numbers compare by value; other literals only count as equal
// when they are the same (a collation may make different strings equal,
// so no other comparison of them is known to hold).
func literalsCompare(op opcode.Op, a, b any) bool {
	x, ok1 := literalNumber(a)
	y, ok2 := literalNumber(b)
	if !ok1 || !ok2 {
		return (op == opcode.EQ || op == opcode.GE || op == opcode.LE || op == opcode.NullEQ) && sameLiteral(a, b)
	}
	switch op {
	case opcode.EQ, opcode.NullEQ:
		return x == y
	case opcode.NE:
		return x != y
	case opcode.LT:
		return x < y
	case opcode.LE:
		return x <= y
	case opcode.GT:
		return x > y
	case opcode.GE:
		return x >= y
	}
	return false
}

// literalNumber returns the value of a numeric literal.
func literalNumber(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case uint64:
		return float64(v), true
	case float64:
		return v, true
	case string, nil, []byte:
		return 0, false
	}
	if d, ok := v.(interface{ String() string }); ok { // MyDecimal
		f, err := strconv.ParseFloat(d.String(), 64)
		return f, err == nil
	}
	return 0, false
}

// sameLiteral reports whether two literal values are equal and not NULL.
func sameLiteral(a, b any) bool {
	switch a := a.(type) {
	case int64, uint64, float64, string:
		return a == b
	case nil:
		return false
	}
	sa, ok1 := a.(interface{ String() string })
	sb, ok2 := b.(interface{ String() string })
	return ok1 && ok2 && sa.String() == sb.String()
}

func truthy(v any) bool {
	switch v := v.(type) {
	case int64:
		return v != 0
	case uint64:
		return v != 0
	case float64:
		return v != 0
	case string:
		s := strings.TrimSpace(v)
		return s != "" && s != "0" && (s[0] >= '1' && s[0] <= '9')
	case nil:
		return false
	}
	// decimals and others: compare their text
	if s, ok := v.(interface{ String() string }); ok {
		t := strings.Trim(s.String(), "0.-")
		return t != ""
	}
	return false
}

// isNumber reports whether v (a literal's value) is a number.
func isNumber(v any) bool {
	switch v.(type) {
	case int64, uint64, float64:
		return true
	case string, nil, []byte:
		return false
	}
	_, ok := v.(interface{ String() string }) // MyDecimal
	return ok
}

// tableRefs returns the table references of an UPDATE, DELETE, SELECT or
// INSERT (its target), nil for other statements.
func tableRefs(n ast.Node) *ast.TableRefsClause {
	switch n := n.(type) {
	case *ast.UpdateStmt:
		return n.TableRefs
	case *ast.DeleteStmt:
		return n.TableRefs
	case *ast.SelectStmt:
		return n.From
	case *ast.InsertStmt:
		return n.Table
	}
	return nil
}

// leadsIndex returns the name of an index whose first column is column,
// or "".
func leadsIndex(t *TableDef, column string) string {
	for _, ix := range t.Indexes {
		if len(ix.Columns) > 0 && strings.EqualFold(ix.Columns[0].Name, column) {
			return ix.Name
		}
	}
	return ""
}

// isComparison reports comparison operators.
func isComparison(op opcode.Op) bool {
	switch op {
	case opcode.EQ, opcode.NE, opcode.LT, opcode.LE, opcode.GT, opcode.GE, opcode.NullEQ:
		return true
	}
	return false
}

// tableLabel names a table for messages.
func tableLabel(tn *ast.TableName) string {
	if tn == nil {
		return "table"
	}
	if tn.Schema.O != "" {
		return "table " + tn.Schema.O + "." + tn.Name.O
	}
	return "table " + tn.Name.O
}
