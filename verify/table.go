package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// TablePair names a table on the source and the table on the target that
// should hold the same rows, with what to compare.
type TablePair struct {
	SourceDatabase, SourceTable string
	// TargetDatabase and TargetTable default to the source names.
	TargetDatabase, TargetTable string
	// Columns, if not empty, compares only these columns (the row key's
	// columns are always compared). Generated columns are never compared:
	// they follow from the others.
	Columns []string
	// Ignore leaves these columns out of the comparison, on either side.
	Ignore []string
	// Where, if not empty, is an SQL predicate that restricts the rows
	// compared on both sides, such as "created_at < '2025-01-01'". It is
	// trusted SQL: do not build it from untrusted input.
	Where string
}

// Pair is the pair of database.table on both sides.
func Pair(database, table string) TablePair {
	return TablePair{SourceDatabase: database, SourceTable: table}
}

// DatabasePairs pairs every base table of sourceDatabase on source with the
// table of the same name in targetDatabase, by name in binary order.
func DatabasePairs(ctx context.Context, source *sql.DB, sourceDatabase, targetDatabase string) ([]TablePair, error) {
	tables, err := schema.Tables(ctx, source, sourceDatabase)
	if err != nil {
		return nil, fmt.Errorf("verify: source: %w", err)
	}
	var out []TablePair
	for _, t := range tables {
		if !t.View {
			out = append(out, TablePair{SourceDatabase: sourceDatabase, SourceTable: t.Name, TargetDatabase: targetDatabase, TargetTable: t.Name})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("verify: source database %s: no tables: %w", sourceDatabase, ErrNotFound)
	}
	return out, nil
}

// TargetOnlyTables returns the base tables of targetDatabase on target
// that no pair has as its target table, by name in binary order.
func TargetOnlyTables(ctx context.Context, target *sql.DB, targetDatabase string, pairs []TablePair) ([]TableName, error) {
	tables, err := schema.Tables(ctx, target, targetDatabase)
	if err != nil {
		return nil, fmt.Errorf("verify: target: %w", err)
	}
	paired := map[string]bool{}
	for _, p := range pairs {
		if p = p.withDefaults(); p.TargetDatabase == targetDatabase {
			paired[p.TargetTable] = true
		}
	}
	var out []TableName
	for _, t := range tables {
		if !t.View && !paired[t.Name] {
			out = append(out, TableName{Database: targetDatabase, Table: t.Name})
		}
	}
	return out, nil
}

// column is one compared column.
type column struct {
	name string
	kind rowcodec.Kind
	// src and dst are the expressions selected on each side when rows are
	// compared: their text is the value compared and written in repairs.
	src, dst string
	// hashSrc and hashDst are the same values as they enter the row
	// encoding; for floats compared with a tolerance they are rounded so
	// that values within the tolerance usually hash alike (a chunk whose
	// hashes differ is settled row by row).
	hashSrc, hashDst string
	field            field
	float            bool
}

// keyCol is one column of the row key with its ordering expression.
type keyCol struct {
	name  string
	order string // expression whose value orders rows as the server does
	cmp   func(a, b []byte) int
}

// table is a pair ready to compare.
type table struct {
	pair    TablePair
	key     keyset.Key
	keyCols []keyCol
	cols    []column
	// keyIdx[i] is the index in cols of key column i.
	keyIdx []int
	// intLead: the first key column is an integer, so the table can be
	// chunked by ranges of its values without reading it.
	intLead bool
	// estimate is the source's row count by its statistics.
	estimate  int64
	where     string
	srcName   string // quoted database.table
	dstName   string
	tolerance float64
	// colDiffs are the compared columns defined differently on the two
	// sides; triggers the target table's triggers.
	colDiffs []ColumnDiff
	triggers []Trigger
	// hash is the row hash function every server of the comparison
	// computes (see hashProbe).
	hash hashFunc
}

// defCache holds table definitions of one side. A database that several
// pairs use is read whole, with four queries whatever its size.
type defCache struct {
	q     schema.Querier
	uses  map[string]int
	whole map[string]map[string]*schema.TableDef
}

func newDefCache(q schema.Querier) *defCache {
	return &defCache{q: q, uses: map[string]int{}, whole: map[string]map[string]*schema.TableDef{}}
}

// preload reads the databases used more than once.
func (c *defCache) preload(ctx context.Context) error {
	for db, n := range c.uses {
		if n < 2 {
			continue
		}
		defs, err := schema.LoadTables(ctx, c.q, db)
		if err != nil {
			return err
		}
		m := map[string]*schema.TableDef{}
		for _, d := range defs {
			m[d.Name] = d
		}
		c.whole[db] = m
	}
	return nil
}

// get returns the definition of database.table, or an error wrapping
// schema.ErrNotFound.
func (c *defCache) get(ctx context.Context, database, table string) (*schema.TableDef, error) {
	if m, ok := c.whole[database]; ok {
		if d := m[table]; d != nil {
			return d, nil
		}
		return nil, fmt.Errorf("table %s %w", schema.QualifiedName(database, table), schema.ErrNotFound)
	}
	return schema.LoadTable(ctx, c.q, database, table)
}

// withDefaults fills in the target names.
func (p TablePair) withDefaults() TablePair {
	if p.TargetDatabase == "" {
		p.TargetDatabase = p.SourceDatabase
	}
	if p.TargetTable == "" {
		p.TargetTable = p.SourceTable
	}
	return p
}

// prepareAll reads the definitions of both sides (in parallel) and builds
// the comparison of every pair that can be compared; the others are
// returned as unverified, with the reason.
func prepareAll(ctx context.Context, src, dst schema.Querier, pairs []TablePair, tolerance float64) ([]*table, []*Unverified, error) {
	sc, dc := newDefCache(src), newDefCache(dst)
	for _, p := range pairs {
		p = p.withDefaults()
		sc.uses[p.SourceDatabase]++
		dc.uses[p.TargetDatabase]++
	}
	var wg sync.WaitGroup
	var derr error
	wg.Go(func() { derr = dc.preload(ctx) })
	serr := sc.preload(ctx)
	wg.Wait()
	if serr != nil {
		return nil, nil, fmt.Errorf("verify: source: %w", serr)
	}
	if derr != nil {
		return nil, nil, fmt.Errorf("verify: target: %w", derr)
	}
	var out []*table
	var skipped []*Unverified
	for _, p := range pairs {
		t, err := prepare(ctx, sc, dc, p, tolerance)
		var te *TableError
		if errors.As(err, &te) && uncomparable(err) {
			p = p.withDefaults()
			skipped = append(skipped, &Unverified{SourceDatabase: p.SourceDatabase, SourceTable: p.SourceTable,
				TargetDatabase: p.TargetDatabase, TargetTable: p.TargetTable, Side: te.Side, Reason: te.Err.Error(), Err: err})
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		out = append(out, t)
	}
	return out, skipped, nil
}

// uncomparable reports whether err says that a pair cannot be compared as
// the tables are (rather than that reading them failed).
func uncomparable(err error) bool {
	for _, e := range []error{ErrNotFound, ErrNoKey, ErrMismatch, ErrUnsupported} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// missing is the error for a table not found on one side: ErrUnsupported
// for a view, else ErrNotFound.
func (c *defCache) missing(ctx context.Context, database, table string) error {
	var typ string
	err := c.q.QueryRowContext(ctx, "SELECT TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
		database, table).Scan(&typ)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return err
	case typ == "VIEW":
		return fmt.Errorf("is a view, not a base table (compare the tables it reads): %w", ErrUnsupported)
	}
	return fmt.Errorf("is a %s, not a base table: %w", strings.ToLower(typ), ErrUnsupported)
}

// prepare builds the comparison of one pair: it checks the names, reads
// both definitions and the source's row key, then chooses the compared
// columns (see columnChoice) and the key (see table.setKey). A pair that
// cannot be compared as defined is a *TableError wrapping ErrNotFound,
// ErrNoKey, ErrMismatch or ErrUnsupported (see uncomparable); other
// errors are reading failures.
func prepare(ctx context.Context, src, dst *defCache, p TablePair, tolerance float64) (*table, error) {
	p = p.withDefaults()
	for _, n := range []struct{ kind, name string }{{"source database", p.SourceDatabase}, {"source table", p.SourceTable},
		{"target database", p.TargetDatabase}, {"target table", p.TargetTable}} {
		if err := schema.ValidateName(n.kind, n.name); err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
	}
	sdef, err := src.get(ctx, p.SourceDatabase, p.SourceTable)
	if errors.Is(err, schema.ErrNotFound) {
		return nil, p.sourceErr(src.missing(ctx, p.SourceDatabase, p.SourceTable))
	} else if err != nil {
		return nil, p.sourceErr(err)
	}
	ddef, err := dst.get(ctx, p.TargetDatabase, p.TargetTable)
	if errors.Is(err, schema.ErrNotFound) {
		return nil, p.targetErr(dst.missing(ctx, p.TargetDatabase, p.TargetTable))
	} else if err != nil {
		return nil, p.targetErr(err)
	}
	ix, err := sdef.RowKey()
	if errors.Is(err, schema.ErrNoKey) {
		return nil, p.sourceErr(ErrNoKey)
	} else if err != nil {
		return nil, p.sourceErr(err)
	}
	choice, err := chooseColumns(p, sdef, ix)
	if err != nil {
		return nil, err
	}

	t := &table{pair: p, where: p.Where, tolerance: tolerance, estimate: sdef.Rows,
		srcName: schema.QualifiedName(p.SourceDatabase, p.SourceTable),
		dstName: schema.QualifiedName(p.TargetDatabase, p.TargetTable)}
	if err := t.addColumns(sdef, ddef, choice); err != nil {
		return nil, err
	}
	if err := choice.checkTargetOnly(sdef, ddef); err != nil {
		return nil, err
	}
	if err := t.setKey(sdef, ddef, ix); err != nil {
		return nil, err
	}
	return t, nil
}

// sourceErr is err about the pair's source table.
func (p TablePair) sourceErr(err error) error {
	return &TableError{Side: "source", Database: p.SourceDatabase, Table: p.SourceTable, Err: err}
}

// targetErr is err about the pair's target table.
func (p TablePair) targetErr(err error) error {
	return &TableError{Side: "target", Database: p.TargetDatabase, Table: p.TargetTable, Err: err}
}

// columnChoice says which source columns of a pair are compared: every
// column that is neither generated nor ignored or, when the pair names
// its columns, those and the row key's.
type columnChoice struct {
	pair   TablePair
	key    *schema.Index
	wanted map[string]bool // lower-case names of pair.Columns; empty for all
}

// chooseColumns checks the pair's column lists against the source
// definition sdef and its row key ix: an ignored key column is
// ErrMismatch, a named column the source lacks ErrNotFound (both about
// the source table).
func chooseColumns(p TablePair, sdef *schema.TableDef, ix *schema.Index) (columnChoice, error) {
	choice := columnChoice{pair: p, key: ix, wanted: map[string]bool{}}
	for _, name := range p.Ignore {
		if choice.isKey(name) {
			return columnChoice{}, p.sourceErr(fmt.Errorf("column %s is part of the row key %s and cannot be ignored: %w", name, ix.Name, ErrMismatch))
		}
	}
	for _, name := range p.Columns {
		c := sdef.Column(name)
		if c == nil {
			return columnChoice{}, p.sourceErr(fmt.Errorf("column %s %w", name, ErrNotFound))
		}
		choice.wanted[strings.ToLower(c.Name)] = true
	}
	return choice, nil
}

// ignored reports whether the pair ignores the column name.
func (c columnChoice) ignored(name string) bool {
	for _, i := range c.pair.Ignore {
		if strings.EqualFold(i, name) {
			return true
		}
	}
	return false
}

// isKey reports whether the column name is part of the row key.
func (c columnChoice) isKey(name string) bool {
	for _, k := range c.key.Columns {
		if strings.EqualFold(k.Name, name) {
			return true
		}
	}
	return false
}

// compared reports whether the source column sc is compared.
func (c columnChoice) compared(sc schema.Column) bool {
	return !sc.Generated && !c.ignored(sc.Name) && (len(c.wanted) == 0 || c.wanted[strings.ToLower(sc.Name)] || c.isKey(sc.Name))
}

// checkTargetOnly fails with ErrMismatch, about the target table, when
// the target has a column the source lacks that is neither generated nor
// ignored: it would go unverified. When the pair names its columns, the
// others are not compared anyway and nothing is checked.
func (c columnChoice) checkTargetOnly(sdef, ddef *schema.TableDef) error {
	if len(c.wanted) > 0 {
		return nil
	}
	for _, dc := range ddef.Columns {
		if !dc.Generated && !c.ignored(dc.Name) && sdef.Column(dc.Name) == nil {
			return c.pair.targetErr(fmt.Errorf("column %s is not on the source (ignore it to compare the other columns): %w", dc.Name, ErrMismatch))
		}
	}
	return nil
}

// addColumns appends to t.cols the source columns choice compares, in
// the source's order, with their value and hash expressions on each side
// (rounded for floats when t has a tolerance), and lists in t.colDiffs
// those defined differently on the two sides. A compared column missing
// or generated on the target, or of a kind that does not compare with
// the source's (see family), is ErrMismatch about the target table.
func (t *table) addColumns(sdef, ddef *schema.TableDef, choice columnChoice) error {
	for _, sc := range sdef.Columns {
		if !choice.compared(sc) {
			continue
		}
		dc := ddef.Column(sc.Name)
		if dc == nil || dc.Generated {
			return t.pair.targetErr(fmt.Errorf("column %s (on the source) is missing or generated: %w", sc.Name, ErrMismatch))
		}
		k := rowcodec.KindOf(sc.DataType)
		if dk := rowcodec.KindOf(dc.DataType); family(dk) != family(k) {
			return t.pair.targetErr(fmt.Errorf("column %s is %s, on the source %s: %w", sc.Name, dc.ColumnType, sc.ColumnType, ErrMismatch))
		}
		if sd, dd := definition(sc), definition(*dc); sd != dd {
			t.colDiffs = append(t.colDiffs, ColumnDiff{Column: sc.Name, Source: sd, Target: dd})
		}
		col := column{name: sc.Name, kind: k, float: k == rowcodec.Float,
			field: field{lengthPrefixed: family(k) == rowcodec.Text || k == rowcodec.Binary, nullable: sc.Nullable || dc.Nullable}}
		col.src, col.dst = valueExpr(sc), valueExpr(*dc)
		col.hashSrc, col.hashDst = hashExpr(sc, textCast(sdef)), hashExpr(*dc, textCast(ddef))
		if col.float && t.tolerance > 0 {
			col.hashSrc, col.hashDst = roundedExpr(sc, t.tolerance), roundedExpr(*dc, t.tolerance)
		}
		t.cols = append(t.cols, col)
	}
	return nil
}

// setKey sets t's row key to the source's key ix, once t.cols are set.
// Each key column must be on the target with the same data type,
// collation and signedness, so that both sides order keys alike (else
// ErrNotFound or ErrMismatch about the target table), of a type rows
// can be ordered by in Go, and among the compared columns (a generated
// key column is ErrUnsupported about the source table).
func (t *table) setKey(sdef, ddef *schema.TableDef, ix *schema.Index) error {
	names := ix.ColumnNames()
	t.key = keyset.NewKey(names...)
	first := sdef.Column(names[0])
	t.intLead = rowcodec.KindOf(first.DataType) == rowcodec.Int
	for _, name := range names {
		sc, dc := sdef.Column(name), ddef.Column(name)
		if dc == nil {
			return t.pair.targetErr(fmt.Errorf("key column %s %w", name, ErrNotFound))
		}
		if !strings.EqualFold(sc.DataType, dc.DataType) || sc.Collation != dc.Collation || sc.Unsigned != dc.Unsigned {
			return t.pair.targetErr(fmt.Errorf("key column %s is %s %s, on the source %s %s; both sides must order keys alike: %w",
				name, dc.ColumnType, dc.Collation, sc.ColumnType, sc.Collation, ErrMismatch))
		}
		kc, err := keyOrder(*sc)
		if err != nil {
			return t.pair.sourceErr(err)
		}
		t.keyCols = append(t.keyCols, kc)
		for i, c := range t.cols {
			if strings.EqualFold(c.name, name) {
				t.keyIdx = append(t.keyIdx, i)
			}
		}
	}
	if len(t.keyIdx) != len(t.keyCols) {
		return t.pair.sourceErr(fmt.Errorf("row key %s has a generated column: %w", ix.Name, ErrUnsupported))
	}
	return nil
}

// family groups the kinds whose values can be compared with each other:
// integers with BIT and YEAR (all read as numbers), character strings with
// types read in their text form.
func family(k rowcodec.Kind) rowcodec.Kind {
	switch k {
	case rowcodec.Bit, rowcodec.Year:
		return rowcodec.Int
	case rowcodec.Other:
		return rowcodec.Text
	}
	return k
}

// intWidth is the display width of an integer type, which says nothing
// about the values (and which MySQL 8.0.19+ no longer reports).
var intWidth = regexp.MustCompile(`^((?:tiny|small|medium|big)?int)\(\d+\)`)

// definition is c's type, collation and nullability as ColumnDiff shows
// them.
func definition(c schema.Column) string {
	d := intWidth.ReplaceAllString(strings.ToLower(c.ColumnType), "$1")
	if c.Collation != "" {
		d += " COLLATE " + c.Collation
	}
	if c.Nullable {
		return d + " NULL"
	}
	return d + " NOT NULL"
}

// valueExpr is the SQL expression selected for a column's value: strings
// in utf8mb4 (or their bytes for binary types), other values as
// rowcodec.ReadExpr reads them (numbers and times as the server writes
// them, pinned to time zone +00:00; BIT and YEAR as numbers; FLOAT through
// DOUBLE so that no digit is lost). Its text is what hashExpr hashes.
func valueExpr(c schema.Column) string {
	q := schema.QuoteIdent(c.Name)
	switch rowcodec.KindOf(c.DataType) {
	case rowcodec.Text:
		if cs := strings.ToLower(c.Charset); cs != "" && cs != "utf8mb4" && cs != "binary" {
			return "CAST(CONVERT(" + q + " USING utf8mb4) AS BINARY)"
		}
		return "CAST(" + q + " AS BINARY)"
	case rowcodec.Binary:
		return q
	default:
		return "CONCAT(" + rowcodec.ReadExpr(&c) + ")"
	}
}

// hashExpr is the expression for a column inside the row encoding's
// CONCAT_WS: the same text as valueExpr, without conversions CONCAT_WS
// does itself. castText casts strings to bytes (needed when the table's
// string columns have different collations, which CONCAT_WS cannot mix).
func hashExpr(c schema.Column, castText bool) string {
	q := schema.QuoteIdent(c.Name)
	switch rowcodec.KindOf(c.DataType) {
	case rowcodec.Text:
		if cs := strings.ToLower(c.Charset); cs != "" && cs != "utf8mb4" && cs != "binary" {
			return "CAST(CONVERT(" + q + " USING utf8mb4) AS BINARY)"
		}
		if castText {
			return "CAST(" + q + " AS BINARY)"
		}
		return q
	case rowcodec.Binary:
		return q
	}
	if e := rowcodec.ReadExpr(&c); e != q {
		return "(" + e + ")"
	}
	return q
}

// textCast reports whether t's string columns must be cast to bytes in the
// row encoding: when they are not all utf8mb4 of one collation.
func textCast(t *schema.TableDef) bool {
	coll := ""
	for _, c := range t.Columns {
		if rowcodec.KindOf(c.DataType) != rowcodec.Text {
			continue
		}
		if !strings.EqualFold(c.Charset, "utf8mb4") {
			return true
		}
		if coll == "" {
			coll = c.Collation
		} else if coll != c.Collation {
			return true
		}
	}
	return false
}

// roundedExpr rounds a float column to a grid finer than tol: values more
// than tol apart then never round alike.
func roundedExpr(c schema.Column, tol float64) string {
	digits := int(math.Ceil(-math.Log10(tol))) + 1
	return "ROUND(CAST(" + schema.QuoteIdent(c.Name) + " AS DOUBLE), " + strconv.Itoa(digits) + ")"
}

// keyOrder returns how to order by key column c in Go exactly as the server
// orders it: strings by their collation weights (padded for PAD SPACE
// collations, where 'a' = 'a '), numbers and times numerically.
func keyOrder(c schema.Column) (keyCol, error) {
	q := schema.QuoteIdent(c.Name)
	kc := keyCol{name: c.Name}
	dt := strings.ToLower(c.DataType)
	switch k := rowcodec.KindOf(dt); {
	case k == rowcodec.Int:
		kc.order, kc.cmp = "CONCAT("+q+")", compareInt
	case k == rowcodec.Float:
		kc.order, kc.cmp = "CONCAT(CAST("+q+" AS DOUBLE))", compareFloat
	case k == rowcodec.Decimal || k == rowcodec.Temporal || k == rowcodec.Year || k == rowcodec.Bit || dt == "enum" || dt == "set":
		// ENUM and SET order by their index, times by their numeric form.
		kc.order, kc.cmp = "CONCAT("+q+" + 0)", compareDecimal
	case dt == "binary" || dt == "varbinary":
		kc.order, kc.cmp = q, compareBytes
	case dt == "char" || dt == "varchar":
		if strings.Contains(strings.ToLower(c.Collation), "nopad") || c.MaxLength <= 0 {
			kc.order = "WEIGHT_STRING(" + q + ")"
		} else {
			kc.order = fmt.Sprintf("WEIGHT_STRING(%s AS CHAR(%d))", q, c.MaxLength)
		}
		kc.cmp = compareBytes
	default:
		return kc, fmt.Errorf("key column %s of type %s: %w", c.Name, c.ColumnType, ErrUnsupported)
	}
	return kc, nil
}

func compareBytes(a, b []byte) int { return strings.Compare(string(a), string(b)) }

// encodingSQL is the expression of a row's encoding on one side.
func (t *table) encodingSQL(target bool) string {
	var parts, mask []string
	for _, c := range t.cols {
		e := c.hashSrc
		if target {
			e = c.hashDst
		}
		if c.field.lengthPrefixed {
			parts = append(parts, "LENGTH("+e+")")
		}
		parts = append(parts, e)
		if c.field.nullable {
			mask = append(mask, "ISNULL("+e+")")
		}
	}
	if len(mask) > 0 {
		parts = append(parts, "CONCAT("+strings.Join(mask, ", ")+")")
	}
	return "CONCAT_WS('#', " + strings.Join(parts, ", ") + ")"
}

// hashSQL is the SELECT list of a chunk checksum on one side: the row
// count and the XOR of the row hashes (see rowHashSQL).
func (t *table) hashSQL(target bool) string {
	return "COUNT(*), COALESCE(BIT_XOR(" + t.rowHashSQL(target) + "), 0)"
}

// rowHashSQL is the row hash on one side, with the table's hash function.
func (t *table) rowHashSQL(target bool) string {
	return t.hash.sql(t.encodingSQL(target))
}

// rowsSQL selects the key ordering values and the column values of the rows
// of one side in a range, in key order.
func (t *table) rowsSQL(target bool, where string) string {
	name := t.srcName
	if target {
		name = t.dstName
	}
	return fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s", strings.Join(t.rowList(target), ", "), name, where, t.key.OrderBy())
}

// rowList is the SELECT list of rowsSQL: the key ordering values, then
// the column values of one side.
func (t *table) rowList(target bool) []string {
	list := make([]string, 0, len(t.keyCols)+len(t.cols))
	for _, k := range t.keyCols {
		list = append(list, k.order)
	}
	for _, c := range t.cols {
		if target {
			list = append(list, c.dst)
		} else {
			list = append(list, c.src)
		}
	}
	return list
}

// span is a part of a table: a key range, within base (a predicate on the
// first key column with its arguments, or "") when the table is chunked by
// ranges of its first key column.
type span struct {
	base     string
	baseArgs []any
	r        keyset.Range
}

// rangeWhere is the predicate of a span with the pair's filter.
func (t *table) rangeWhere(sp span) (string, []any) {
	where, args := t.key.Where(sp.r)
	if sp.base != "" {
		where = sp.base + " AND " + where
		args = append(append([]any(nil), sp.baseArgs...), args...)
	}
	if t.where != "" {
		where = "(" + t.where + ") AND " + where
	}
	return where, args
}

// extra is the predicate that restricts chunk boundaries inside sp: the
// pair's filter and sp's base.
func (t *table) extra(sp span) (string, []any) {
	var parts []string
	if t.where != "" {
		parts = append(parts, "("+t.where+")")
	}
	if sp.base != "" {
		parts = append(parts, sp.base)
	}
	return strings.Join(parts, " AND "), sp.baseArgs
}

// compareKeys orders two rows by their key ordering values.
func (t *table) compareKeys(a, b [][]byte) int {
	for i, k := range t.keyCols {
		if c := k.cmp(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

// equalValue compares the values of column i on both sides.
func (t *table) equalValue(i int, a, b []byte) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if t.cols[i].float && t.tolerance > 0 {
		fa, erra := strconv.ParseFloat(string(a), 64)
		fb, errb := strconv.ParseFloat(string(b), 64)
		if erra == nil && errb == nil {
			return math.Abs(fa-fb) <= t.tolerance
		}
	}
	return string(a) == string(b)
}
