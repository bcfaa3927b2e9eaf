package review

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/opcode"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"
	"github.com/pingcap/tidb/pkg/parser/types"

	"github.com/shiftgate/shiftgate/internal/schema"
)

// The schema model the catalogs describe tables with.
type (
	// TableDef is a base table's definition with size estimates.
	TableDef = schema.TableDef
	// Column is one column of a TableDef.
	Column = schema.Column
	// Index is one index of a TableDef; the primary key is named "PRIMARY".
	Index = schema.Index
	// IndexColumn is one column of an Index.
	IndexColumn = schema.IndexColumn
	// ForeignKey is a foreign key of a TableDef.
	ForeignKey = schema.ForeignKey
)

// ErrNotFound is wrapped by a Catalog's error when a table does not exist.
// It is the same value as migrate.ErrNotFound and verify.ErrNotFound.
var ErrNotFound = schema.ErrNotFound

// ErrUnknown is wrapped by a Catalog's error when it cannot tell whether a
// table exists, for example a ScriptCatalog asked about a database no
// script described.
var ErrUnknown = errors.New("not known to the catalog")

// Catalog tells the reviewer what tables exist and how they are defined.
//
// Table returns the definition of database.table. When the table does not
// exist it returns an error wrapping ErrNotFound; any other error means the
// catalog cannot tell, and the checks that need the table are skipped. The
// reviewer never modifies a returned TableDef. Implementations must be safe
// for concurrent use.
type Catalog interface {
	Table(ctx context.Context, database, table string) (*TableDef, error)
}

// ErrExplainRefused is wrapped by a RowEstimator's error when the server
// refused to EXPLAIN the statement (an unknown column, a missing
// privilege...), as opposed to failing to answer; rule dml.dry-run
// reports such errors.
var ErrExplainRefused = errors.New("the server refuses the statement")

// RowEstimator is an optional capability of a Catalog: estimating the rows
// a data-changing statement touches, for example from EXPLAIN. The
// estimate is the optimizer's guess, not a count.
type RowEstimator interface {
	EstimateRows(ctx context.Context, database, statement string) (int64, error)
}

// tableKey names a table in a catalog; names compare exactly, as on a
// server with lower_case_table_names=0.
type tableKey struct{ db, name string }

func (k tableKey) String() string {
	if k.db == "" {
		return "`" + k.name + "`"
	}
	return schema.QualifiedName(k.db, k.name)
}

// tableState is what a catalog knows about a table.
type tableState int

const (
	tableUnknown tableState = iota
	tableFound
	tableMissing
)

// ScriptCatalog is a Catalog built from DDL: it applies CREATE, ALTER,
// DROP, RENAME and TRUNCATE statements in order over a base catalog, so
// that a later lookup sees what the earlier statements made. A host can
// fill one from a schema file to review scripts without a server.
//
// Tables of a database that Apply described, or that a CREATE DATABASE
// created, are complete: any other table of it does not exist. Tables of
// other databases are looked up in the base (a nil base knows nothing). A
// ScriptCatalog is safe for concurrent use.
type ScriptCatalog struct {
	base Catalog

	mu        sync.RWMutex
	tables    map[string]map[string]*TableDef // database, table; nil value: known not to exist
	unknown   map[tableKey]bool               // the base could not tell
	described map[string]bool
	local     map[tableKey]bool // created by applied DDL
}

var _ Catalog = (*ScriptCatalog)(nil)

// NewScriptCatalog returns an empty ScriptCatalog over base, which may be nil.
func NewScriptCatalog(base Catalog) *ScriptCatalog {
	return &ScriptCatalog{base: base, tables: map[string]map[string]*TableDef{}, unknown: map[tableKey]bool{}, described: map[string]bool{}, local: map[tableKey]bool{}}
}

// Table implements Catalog.
func (s *ScriptCatalog) Table(ctx context.Context, database, table string) (*TableDef, error) {
	def, state, err := s.lookup(ctx, tableKey{database, table})
	switch state {
	case tableFound:
		return def, nil
	case tableMissing:
		return nil, fmt.Errorf("table %s %w", tableKey{database, table}, ErrNotFound)
	}
	if err == nil {
		err = fmt.Errorf("table %s: %w", tableKey{database, table}, ErrUnknown)
	}
	return nil, err
}

// lookup returns the table's state and, when found, its definition. Base
// answers are cached, so one script sees one version of a table.
func (s *ScriptCatalog) lookup(ctx context.Context, k tableKey) (*TableDef, tableState, error) {
	s.mu.RLock()
	def, ok := s.tables[k.db][k.name]
	unknown := s.unknown[k]
	described := s.described[k.db]
	s.mu.RUnlock()
	switch {
	case ok && def != nil:
		return def, tableFound, nil
	case ok || described:
		return nil, tableMissing, nil
	case unknown || s.base == nil || k.name == "":
		return nil, tableUnknown, nil
	}
	def, err := s.base.Table(ctx, k.db, k.name)
	state := tableFound
	switch {
	case errors.Is(err, ErrNotFound):
		def, state, err = nil, tableMissing, nil
	case err != nil:
		state = tableUnknown
	case def == nil:
		state = tableUnknown
	}
	if ctx.Err() != nil {
		return nil, tableUnknown, err // do not cache a cancelled lookup
	}
	s.mu.Lock()
	if state == tableUnknown {
		s.unknown[k] = true
	} else {
		s.store(k, def)
	}
	s.mu.Unlock()
	return def, state, err
}

// Put adds def to the catalog, replacing any table of the same name.
// The catalog keeps def; the caller must not change it afterwards.
func (s *ScriptCatalog) Put(def *TableDef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store(tableKey{def.Database, def.Name}, def)
}

// Apply parses script (as Review does, DELIMITER and comments included,
// every executable comment counted as run) and applies its DDL in order,
// with database as the default database, which afterwards counts as
// completely described. Statements other than DDL, stored programs
// (triggers, functions...) included, are ignored. It returns an error
// naming the first statement that cannot be parsed, after applying the
// others.
func (s *ScriptCatalog) Apply(ctx context.Context, database, script string) error {
	p := parserPool.Get().(*parserBox)
	defer parserPool.Put(p)
	s.mu.Lock()
	s.described[database] = true
	s.mu.Unlock()
	var first error
	sp := newSplitter(script)
	db := database
	for {
		pc, ok := sp.next()
		if !ok {
			break
		}
		text, _ := serverText(pc.text, pc.execs, target{})
		text, invisible := columnVisibility(text)
		nodes, _, err := p.p.ParseSQL(text)
		if err != nil && unsupportedByParser(text) && recognizeRoutine(text) != nil {
			continue // a stored program changes no table
		}
		if err != nil {
			if first == nil {
				first = fmt.Errorf("review: statement at line %d column %d: %w", pc.pos.Line, pc.pos.Column, err)
			}
			continue
		}
		for i, n := range nodes {
			if u, ok := n.(*ast.UseStmt); ok {
				db = u.DBName
				continue
			}
			s.apply(ctx, db, n, invisible, i)
		}
	}
	return first
}

// createdHere reports whether applied DDL created the table k.
func (s *ScriptCatalog) createdHere(k tableKey) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.local[k]
}

// peek returns the table's current definition without copying it, or nil.
func (s *ScriptCatalog) peek(ctx context.Context, k tableKey) *TableDef {
	def, state, _ := s.lookup(ctx, k)
	if state != tableFound {
		return nil
	}
	return def
}

// get returns a table for changing: a copy the catalog now holds.
func (s *ScriptCatalog) get(ctx context.Context, k tableKey) *TableDef {
	def, state, _ := s.lookup(ctx, k)
	if state != tableFound {
		return nil
	}
	c := cloneTable(def)
	s.mu.Lock()
	s.store(k, c)
	s.mu.Unlock()
	return c
}

// store records def (nil: known not to exist) as table k; s.mu must be
// held for writing.
func (s *ScriptCatalog) store(k tableKey, def *TableDef) {
	db := s.tables[k.db]
	if db == nil {
		db = map[string]*TableDef{}
		s.tables[k.db] = db
	}
	db[k.name] = def
}

func (s *ScriptCatalog) set(k tableKey, def *TableDef) {
	s.mu.Lock()
	s.store(k, def)
	delete(s.unknown, k)
	if def != nil {
		s.local[k] = true
	}
	s.mu.Unlock()
}

func qualified(db string, tn *ast.TableName) tableKey {
	if tn.Schema.O != "" {
		db = tn.Schema.O
	}
	return tableKey{db, tn.Name.O}
}

// apply changes the catalog as the DDL statement n would, with db the
// default database; n is statement stmt of those whose INVISIBLE columns
// are invisible (see columnVisibility). Other statements are ignored.
func (s *ScriptCatalog) apply(ctx context.Context, db string, n ast.StmtNode, invisible []invisibleColumn, stmt int) {
	switch n := n.(type) {
	case *ast.CreateDatabaseStmt:
		s.mu.Lock()
		if !n.IfNotExists || !s.described[n.Name.O] {
			s.described[n.Name.O] = true
		}
		s.mu.Unlock()
	case *ast.DropDatabaseStmt:
		s.mu.Lock()
		// Described: a table of it that the catalog does not hold is missing.
		s.described[n.Name.O] = true
		delete(s.tables, n.Name.O)
		s.mu.Unlock()
	case *ast.CreateTableStmt:
		k := qualified(db, n.Table)
		if n.IfNotExists {
			if _, state, _ := s.lookup(ctx, k); state == tableFound {
				return
			}
		}
		if n.ReferTable != nil {
			src, state, _ := s.lookup(ctx, qualified(db, n.ReferTable))
			if state != tableFound {
				s.set(k, &TableDef{Database: k.db, Name: k.name}) // exists, shape unknown
				return
			}
			c := cloneTable(src)
			c.Database, c.Name, c.Rows, c.DataLength, c.IndexLength = k.db, k.name, 0, 0, 0
			s.set(k, c)
			return
		}
		t := tableFromCreate(k, n)
		markInvisible(t, invisible, stmt)
		s.set(k, t)
	case *ast.DropTableStmt:
		if n.IsView {
			return
		}
		for _, tn := range n.Tables {
			s.set(qualified(db, tn), nil)
		}
	case *ast.TruncateTableStmt:
		if t := s.get(ctx, qualified(db, n.Table)); t != nil {
			t.Rows, t.DataLength, t.IndexLength = 0, 0, 0
		}
	case *ast.RenameTableStmt:
		for _, tt := range n.TableToTables {
			s.rename(ctx, qualified(db, tt.OldTable), qualified(db, tt.NewTable))
		}
	case *ast.CreateIndexStmt:
		if t := s.get(ctx, qualified(db, n.Table)); t != nil {
			addIndex(t, indexFromParts(n.IndexName, n.KeyType == ast.IndexKeyTypeUnique, indexTypeOf(n.KeyType), n.IndexPartSpecifications))
		}
	case *ast.DropIndexStmt:
		if t := s.get(ctx, qualified(db, n.Table)); t != nil {
			dropIndex(t, n.IndexName)
		}
	case *ast.AlterTableStmt:
		k := qualified(db, n.Table)
		t := s.get(ctx, k)
		if t == nil {
			return
		}
		for _, spec := range n.Specs {
			if spec.Tp == ast.AlterTableRenameTable && spec.NewTable != nil {
				// The renamed table is a copy; the clauses after
				// RENAME TO change that copy.
				nk := qualified(db, spec.NewTable)
				s.rename(ctx, k, nk)
				k = nk
				if t = s.peek(ctx, k); t == nil {
					return
				}
				continue
			}
			alterTable(t, spec)
		}
		markInvisible(t, invisible, stmt)
	}
}

func (s *ScriptCatalog) rename(ctx context.Context, from, to tableKey) {
	t := s.get(ctx, from)
	s.set(from, nil)
	if t == nil {
		s.mu.Lock()
		s.unknown[to] = true
		delete(s.tables[to.db], to.name)
		s.mu.Unlock()
		return
	}
	t.Database, t.Name = to.db, to.name
	s.set(to, t)
}

// cloneTable returns a deep copy of t.
func cloneTable(t *TableDef) *TableDef {
	c := *t
	c.Columns = slices.Clone(t.Columns)
	c.Indexes = slices.Clone(t.Indexes)
	n := 0
	for _, ix := range t.Indexes {
		n += len(ix.Columns)
	}
	parts := make([]IndexColumn, 0, n) // one array for every index's columns
	for i := range c.Indexes {
		start := len(parts)
		parts = append(parts, c.Indexes[i].Columns...)
		c.Indexes[i].Columns = parts[start:len(parts):len(parts)]
	}
	c.ForeignKeys = slices.Clone(t.ForeignKeys)
	return &c
}

// tableFromCreate builds the definition CREATE TABLE n makes.
func tableFromCreate(k tableKey, n *ast.CreateTableStmt) *TableDef {
	t := &TableDef{Database: k.db, Name: k.name, Engine: "InnoDB", Partitioned: n.Partition != nil}
	setTableOptions(t, n.Options)
	t.Columns = make([]Column, 0, len(n.Cols))
	cs := optionsCharset(n.Options)
	for _, cd := range n.Cols {
		col, ix := columnFromDef(cd)
		if col.Charset == "" && typeFamily(col.DataType) == "string" {
			// information_schema gives every string column its character set
			col.Charset = cs
			if col.Collation != "" {
				col.Charset = charsetOfCollation(col.Collation)
			}
		}
		t.Columns = append(t.Columns, col)
		for _, x := range ix {
			addIndex(t, x)
		}
	}
	for _, c := range n.Constraints {
		addConstraint(t, c)
	}
	return t
}

func rowFormatName(v uint64) string {
	switch v {
	case ast.RowFormatDynamic:
		return "Dynamic"
	case ast.RowFormatFixed:
		return "Fixed"
	case ast.RowFormatCompressed:
		return "Compressed"
	case ast.RowFormatRedundant:
		return "Redundant"
	case ast.RowFormatCompact:
		return "Compact"
	}
	return ""
}

// columnFromDef converts a column definition; it also returns the indexes
// that column options (PRIMARY KEY, UNIQUE) declare.
func columnFromDef(cd *ast.ColumnDef) (Column, []Index) {
	ft := cd.Tp
	c := Column{Name: cd.Name.Name.O, Nullable: true}
	var ix []Index
	if ft != nil {
		c.DataType = dataType(ft)
		c.ColumnType = columnType(ft)
		c.Charset = ft.GetCharset()
		c.Collation = ft.GetCollate()
		c.Unsigned = mysql.HasUnsignedFlag(ft.GetFlag())
		switch {
		case isStringType(ft.GetType()):
			if ft.GetFlen() > 0 {
				c.MaxLength = int64(ft.GetFlen())
			}
		case ft.GetType() == mysql.TypeNewDecimal:
			c.Precision, c.Scale = int64(max(ft.GetFlen(), 0)), int64(max(ft.GetDecimal(), 0))
		}
	}
	for _, o := range cd.Options {
		switch o.Tp {
		case ast.ColumnOptionNotNull:
			c.Nullable = false
		case ast.ColumnOptionNull:
			c.Nullable = true
		case ast.ColumnOptionPrimaryKey:
			c.Nullable = false
			ix = append(ix, Index{Name: "PRIMARY", Primary: true, Unique: true, Type: "BTREE", Columns: []IndexColumn{{Name: c.Name}}})
		case ast.ColumnOptionUniqKey:
			ix = append(ix, Index{Name: c.Name, Unique: true, Type: "BTREE", Columns: []IndexColumn{{Name: c.Name}}})
		case ast.ColumnOptionAutoIncrement:
			c.AutoIncrement = true
		case ast.ColumnOptionDefaultValue:
			d := exprString(o.Expr)
			c.Default = &d
		case ast.ColumnOptionComment:
			c.Comment = exprString(o.Expr)
		case ast.ColumnOptionGenerated:
			c.Generated = true
		case ast.ColumnOptionCollate:
			c.Collation = o.StrValue
		}
	}
	return c, ix
}

// columnType returns information_schema's COLUMN_TYPE for ft, with its
// UNSIGNED and ZEROFILL attributes: "int(10) unsigned zerofill".
func columnType(ft *types.FieldType) string {
	s := ft.InfoSchemaStr()
	if mysql.HasZerofillFlag(ft.GetFlag()) && !strings.HasSuffix(s, " zerofill") {
		s += " zerofill"
	}
	return s
}

// exprString returns a literal's value, or a short rendering of another
// expression (its function name), which is all the rules need.
func exprString(e ast.ExprNode) string {
	switch e := e.(type) {
	case *driver.ValueExpr:
		switch e.Kind() {
		case driver.KindNull:
			return "NULL"
		case driver.KindString, driver.KindBytes:
			return e.GetString()
		case driver.KindInt64:
			return strconv.FormatInt(e.GetInt64(), 10) // TRUE is 1, as the server shows it
		case driver.KindUint64:
			return strconv.FormatUint(e.GetUint64(), 10)
		}
		var b strings.Builder
		e.Format(&b)
		return b.String()
	case ast.ValueExpr:
		if e.GetValue() == nil {
			return "NULL"
		}
		return e.GetString()
	case *ast.UnaryOperationExpr:
		if v, ok := e.V.(*driver.ValueExpr); ok && e.Op == opcode.Minus {
			return "-" + exprString(v)
		}
	case *ast.FuncCallExpr:
		return strings.ToUpper(e.FnName.L) + "()"
	case nil:
		return ""
	}
	return "(expression)"
}

// dataType returns information_schema's DATA_TYPE for ft: "int", "varchar".
func dataType(ft *types.FieldType) string {
	return types.TypeToStr(ft.GetType(), ft.GetCharset())
}

func isStringType(tp byte) bool {
	switch tp {
	case mysql.TypeVarchar, mysql.TypeString, mysql.TypeVarString, mysql.TypeBlob, mysql.TypeTinyBlob,
		mysql.TypeMediumBlob, mysql.TypeLongBlob:
		return true
	}
	return false
}

func indexTypeOf(k ast.IndexKeyType) string {
	switch k {
	case ast.IndexKeyTypeFulltext:
		return "FULLTEXT"
	case ast.IndexKeyTypeSpatial:
		return "SPATIAL"
	}
	return "BTREE"
}

// indexFromParts builds an index; an unnamed one is named after its first
// column, as the server does.
func indexFromParts(name string, unique bool, typ string, parts []*ast.IndexPartSpecification) Index {
	ix := Index{Name: name, Unique: unique, Type: typ}
	for _, p := range parts {
		if p.Column == nil {
			ix.Columns = append(ix.Columns, IndexColumn{Name: "(expression)"})
			continue
		}
		ix.Columns = append(ix.Columns, IndexColumn{Name: p.Column.Name.O, SubPart: int64(max(p.Length, 0))})
	}
	return ix
}

// addConstraint adds what a table constraint declares.
func addConstraint(t *TableDef, c *ast.Constraint) {
	switch c.Tp {
	case ast.ConstraintPrimaryKey:
		ix := indexFromParts("PRIMARY", true, "BTREE", c.Keys)
		ix.Primary = true
		for _, k := range ix.Columns {
			if col := t.Column(k.Name); col != nil {
				col.Nullable = false
			}
		}
		addIndex(t, ix)
	case ast.ConstraintKey, ast.ConstraintIndex:
		addIndex(t, indexFromParts(c.Name, false, "BTREE", c.Keys))
	case ast.ConstraintUniq, ast.ConstraintUniqKey, ast.ConstraintUniqIndex:
		addIndex(t, indexFromParts(c.Name, true, "BTREE", c.Keys))
	case ast.ConstraintFulltext:
		addIndex(t, indexFromParts(c.Name, false, "FULLTEXT", c.Keys))
	case ast.ConstraintForeignKey:
		fk := ForeignKey{Name: c.Name}
		for _, k := range c.Keys {
			if k.Column != nil {
				fk.Columns = append(fk.Columns, k.Column.Name.O)
			}
		}
		if c.Refer != nil && c.Refer.Table != nil {
			fk.RefDatabase, fk.RefTable = c.Refer.Table.Schema.O, c.Refer.Table.Name.O
			for _, k := range c.Refer.IndexPartSpecifications {
				if k.Column != nil {
					fk.RefColumns = append(fk.RefColumns, k.Column.Name.O)
				}
			}
		}
		t.ForeignKeys = append(t.ForeignKeys, fk)
	}
}

// addIndex adds ix to t, naming it like the server when it has no name,
// the primary key first.
func addIndex(t *TableDef, ix Index) {
	if ix.Name == "" && len(ix.Columns) > 0 {
		base := ix.Columns[0].Name
		ix.Name = base
		for i := 2; t.Index(ix.Name) != nil; i++ {
			ix.Name = fmt.Sprintf("%s_%d", base, i)
		}
	}
	if ix.Primary {
		t.Indexes = slices.Insert(t.Indexes, 0, ix)
		return
	}
	t.Indexes = append(t.Indexes, ix)
}

func dropIndex(t *TableDef, name string) {
	t.Indexes = slices.DeleteFunc(t.Indexes, func(ix Index) bool { return strings.EqualFold(ix.Name, name) })
}

// alterTable applies one ALTER TABLE clause to t (renames of the table
// itself are handled by the caller).
func alterTable(t *TableDef, spec *ast.AlterTableSpec) {
	switch spec.Tp {
	case ast.AlterTableOption:
		setTableOptions(t, spec.Options)
	case ast.AlterTableAddColumns:
		addColumns(t, spec)
	case ast.AlterTableAddConstraint:
		if spec.Constraint != nil {
			addConstraint(t, spec.Constraint)
		}
	case ast.AlterTableDropColumn:
		if spec.OldColumnName != nil {
			dropColumn(t, spec.OldColumnName.Name.O)
		}
	case ast.AlterTableDropPrimaryKey:
		dropIndex(t, "PRIMARY")
	case ast.AlterTableDropIndex:
		dropIndex(t, spec.Name)
	case ast.AlterTableDropForeignKey:
		t.ForeignKeys = slices.DeleteFunc(t.ForeignKeys, func(fk ForeignKey) bool { return strings.EqualFold(fk.Name, spec.Name) })
	case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
		replaceColumn(t, spec)
	case ast.AlterTableRenameColumn:
		if spec.OldColumnName == nil || spec.NewColumnName == nil {
			return
		}
		if c := t.Column(spec.OldColumnName.Name.O); c != nil {
			c.Name = spec.NewColumnName.Name.O
			renameIndexColumn(t, spec.OldColumnName.Name.O, c.Name)
		}
	case ast.AlterTableAlterColumn:
		if len(spec.NewColumns) > 0 {
			alterDefault(t, spec.NewColumns[0])
		}
	case ast.AlterTableRenameIndex:
		if ix := t.Index(spec.FromKey.O); ix != nil {
			ix.Name = spec.ToKey.O
		}
	case ast.AlterTablePartition:
		t.Partitioned = true
	case ast.AlterTableRemovePartitioning:
		t.Partitioned = false
	}
}

// setTableOptions applies the table options the catalog keeps (engine,
// comment, collation, row format) to t and ignores the others. A
// character set without a collation sets its default collation.
func setTableOptions(t *TableDef, opts []*ast.TableOption) {
	for _, o := range opts {
		switch o.Tp {
		case ast.TableOptionEngine:
			t.Engine = o.StrValue
		case ast.TableOptionComment:
			t.Comment = o.StrValue
		case ast.TableOptionCollate:
			t.Collation = o.StrValue
		case ast.TableOptionCharset:
			if tableOption(opts, ast.TableOptionCollate) == nil && o.StrValue != "" {
				t.Collation = defaultCollation(o.StrValue)
			}
		case ast.TableOptionRowFormat:
			t.RowFormat = rowFormatName(o.UintValue)
		}
	}
}

// addColumns applies an ADD COLUMN clause to t: the new columns at the
// clause's position, with the indexes their definitions declare, then
// the clause's constraints. A column t already has is left as it is.
func addColumns(t *TableDef, spec *ast.AlterTableSpec) {
	for _, cd := range spec.NewColumns {
		if t.Column(cd.Name.Name.O) != nil {
			continue
		}
		col, ix := columnFromDef(cd)
		t.Columns = insertColumn(t.Columns, col, spec.Position)
		for _, x := range ix {
			addIndex(t, x)
		}
	}
	for _, c := range spec.NewConstraints {
		addConstraint(t, c)
	}
}

// dropColumn removes column name from t and from its indexes; an index
// left without columns is removed too.
func dropColumn(t *TableDef, name string) {
	t.Columns = slices.DeleteFunc(t.Columns, func(c Column) bool { return strings.EqualFold(c.Name, name) })
	for i := range t.Indexes {
		t.Indexes[i].Columns = slices.DeleteFunc(t.Indexes[i].Columns, func(c IndexColumn) bool { return strings.EqualFold(c.Name, name) })
	}
	t.Indexes = slices.DeleteFunc(t.Indexes, func(ix Index) bool { return len(ix.Columns) == 0 })
}

// replaceColumn applies a MODIFY or CHANGE COLUMN clause to t: the new
// definition replaces the old column in place, or at the clause's
// position when it names one; indexes follow a rename and gain those the
// definition declares. A column t does not have is ignored.
func replaceColumn(t *TableDef, spec *ast.AlterTableSpec) {
	if len(spec.NewColumns) == 0 {
		return
	}
	old := spec.NewColumns[0].Name.Name.O
	if spec.Tp == ast.AlterTableChangeColumn && spec.OldColumnName != nil {
		old = spec.OldColumnName.Name.O
	}
	col, ix := columnFromDef(spec.NewColumns[0])
	i := slices.IndexFunc(t.Columns, func(c Column) bool { return strings.EqualFold(c.Name, old) })
	if i < 0 {
		return
	}
	t.Columns = slices.Delete(t.Columns, i, i+1)
	if spec.Position == nil || spec.Position.Tp == ast.ColumnPositionNone {
		t.Columns = slices.Insert(t.Columns, i, col)
	} else {
		t.Columns = insertColumn(t.Columns, col, spec.Position)
	}
	renameIndexColumn(t, old, col.Name)
	for _, x := range ix {
		addIndex(t, x)
	}
}

// alterDefault applies ALTER COLUMN ... SET DEFAULT (cd with the default
// as its first option) or DROP DEFAULT (cd without options) to t's
// column cd names, if t has it.
func alterDefault(t *TableDef, cd *ast.ColumnDef) {
	c := t.Column(cd.Name.Name.O)
	if c == nil {
		return
	}
	if len(cd.Options) == 0 {
		c.Default = nil
	} else {
		d := exprString(cd.Options[0].Expr)
		c.Default = &d
	}
}

func renameIndexColumn(t *TableDef, from, to string) {
	for i := range t.Indexes {
		for j := range t.Indexes[i].Columns {
			if strings.EqualFold(t.Indexes[i].Columns[j].Name, from) {
				t.Indexes[i].Columns[j].Name = to
			}
		}
	}
}

func insertColumn(cols []Column, c Column, pos *ast.ColumnPosition) []Column {
	if pos != nil {
		switch pos.Tp {
		case ast.ColumnPositionFirst:
			return slices.Insert(cols, 0, c)
		case ast.ColumnPositionAfter:
			if pos.RelativeColumn != nil {
				name := pos.RelativeColumn.Name.O
				if i := slices.IndexFunc(cols, func(x Column) bool { return strings.EqualFold(x.Name, name) }); i >= 0 {
					return slices.Insert(cols, i+1, c)
				}
			}
		}
	}
	return append(cols, c)
}

// defaultCollation returns the name MariaDB gives the default collation of
// character set cs (MySQL 8.0 names utf8mb4's utf8mb4_0900_ai_ci; the
// rules read only the character set from it).
func defaultCollation(cs string) string {
	switch cs = strings.ToLower(cs); cs {
	case "binary":
		return "binary"
	case "latin1":
		return "latin1_swedish_ci"
	}
	return cs + "_general_ci"
}
