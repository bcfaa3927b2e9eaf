package apply

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// table is a source table's translation to its target table, for the
// Shape its columns were mapped from.
type table struct {
	source rowchange.Table
	target rowchange.Table
	qname  string // quoted target database.table
	shape  *rowchange.Shape
	// cols and kinds are the written columns: their index in
	// shape.Columns and their kind in the target.
	cols  []int
	kinds []rowcodec.Kind
	// key, keyKinds and keyNames are the target row key's columns: index
	// in shape.Columns, kind and quoted name.
	key      []int
	keyKinds []rowcodec.Kind
	keyNames []string
	// upsert: the row key is the target's only unique key (or rows are
	// written with REPLACE, WithReplaceRows), so rows are put
	// with ON DUPLICATE KEY UPDATE; else with delete-by-key and INSERT.
	upsert bool
	// whole: upsert, and the written columns are every column the target
	// takes on INSERT, so a put sets the whole row and a pending delete of
	// its key is not needed (delete and insert again, as sysbench and
	// many applications do, costs no DELETE).
	whole      bool
	insertHead string // INSERT INTO t (cols) VALUES
	insertTail string // the ON DUPLICATE KEY UPDATE clause, or ""
}

// targetName is where src's rows go.
func (a *Applier) targetName(src rowchange.Table) rowchange.Table {
	if t, ok := a.cfg.tables[src]; ok {
		return t
	}
	return rowchange.Table{Schema: a.database, Name: src.Name}
}

// def returns the definition of target table t, from information_schema
// the first time (or again when reload).
func (a *Applier) def(ctx context.Context, q schema.Querier, t rowchange.Table, reload bool) (*schema.TableDef, error) {
	if d, ok := a.defs[t]; ok && !reload {
		return d, nil
	}
	d, err := schema.LoadTable(ctx, q, t.Schema, t.Name)
	if err != nil {
		return nil, err
	}
	a.defs[t] = d
	return d, nil
}

// plan maps shape to its target table: the columns by name, the row key
// and the statements' heads. A source column the target lacks is an error
// wrapping schema.ErrNotFound unless WithDroppedColumns; so is a target
// key column the source lacks.
func (a *Applier) plan(ctx context.Context, q schema.Querier, shape *rowchange.Shape) (*table, error) {
	dst := a.targetName(shape.Table)
	t := &table{source: shape.Table, target: dst, qname: schema.QualifiedName(dst.Schema, dst.Name), shape: shape}
	var def *schema.TableDef
	for attempt := 0; ; attempt++ {
		var err error
		if def, err = a.def(ctx, q, dst, attempt > 0); err != nil {
			return nil, fmt.Errorf("source table %s: %w", schema.QualifiedName(shape.Table.Schema, shape.Table.Name), err)
		}
		err = t.mapColumns(def, a.cfg.dropColumns)
		if err == nil {
			break
		}
		if attempt > 0 {
			return nil, err // read again in case the target changed: still missing
		}
	}
	rk, err := def.RowKey()
	if err != nil {
		return nil, fmt.Errorf("target of source table %s: %w", schema.QualifiedName(shape.Table.Schema, shape.Table.Name), err)
	}
	for _, kc := range rk.Columns {
		i := slices.IndexFunc(shape.Columns, func(n string) bool { return strings.EqualFold(n, kc.Name) })
		if i < 0 {
			return nil, fmt.Errorf("source table %s: column %s of key %s of target table %s %w in the source",
				schema.QualifiedName(shape.Table.Schema, shape.Table.Name), schema.QuoteIdent(kc.Name), schema.QuoteIdent(rk.Name), t.qname, schema.ErrNotFound)
		}
		t.key = append(t.key, i)
		t.keyKinds = append(t.keyKinds, rowcodec.KindOf(def.Column(kc.Name).DataType))
		t.keyNames = append(t.keyNames, schema.QuoteIdent(def.Column(kc.Name).Name))
	}
	t.upsert = true
	for _, ix := range def.Indexes {
		if ix.Unique && ix.Name != rk.Name && !a.cfg.replaceRows {
			t.upsert = false
		}
	}
	t.whole = t.upsert && len(t.cols) == len(def.InsertableColumns())
	var head strings.Builder
	if a.cfg.replaceRows {
		head.WriteString("REPLACE INTO " + t.qname + " (")
	} else {
		head.WriteString("INSERT INTO " + t.qname + " (")
	}
	var updates []string
	for n, i := range t.cols {
		name := schema.QuoteIdent(def.Column(shape.Columns[i]).Name)
		if n > 0 {
			head.WriteByte(',')
		}
		head.WriteString(name)
		if !slices.Contains(t.key, i) {
			updates = append(updates, name+"=VALUES("+name+")")
		}
	}
	head.WriteString(") VALUES ")
	t.insertHead = head.String()
	if t.upsert && !a.cfg.replaceRows {
		if len(updates) == 0 { // every written column is in the key
			updates = []string{t.keyNames[0] + "=" + t.keyNames[0]}
		}
		t.insertTail = " ON DUPLICATE KEY UPDATE " + strings.Join(updates, ",")
	}
	return t, nil
}

// mapColumns fills t.cols and t.kinds from def.
func (t *table) mapColumns(def *schema.TableDef, drop bool) error {
	t.cols, t.kinds = t.cols[:0], t.kinds[:0]
	for i, name := range t.shape.Columns {
		c := def.Column(name)
		if c == nil {
			if drop {
				continue
			}
			return fmt.Errorf("source table %s: column %s %w in target table %s (WithDroppedColumns leaves it out)",
				schema.QualifiedName(t.source.Schema, t.source.Name), schema.QuoteIdent(name), schema.ErrNotFound, t.qname)
		}
		if c.Generated {
			continue // the target computes it
		}
		t.cols = append(t.cols, i)
		t.kinds = append(t.kinds, rowcodec.KindOf(c.DataType))
	}
	if len(t.cols) == 0 {
		return fmt.Errorf("source table %s: none of its columns %w in target table %s",
			schema.QualifiedName(t.source.Schema, t.source.Name), schema.ErrNotFound, t.qname)
	}
	return nil
}

// appendRow appends row's written columns as a tuple "(v1,v2,...)".
func (t *table) appendRow(buf, scratch []byte, row []any) ([]byte, []byte, error) {
	if len(row) != len(t.shape.Columns) {
		return buf, scratch, fmt.Errorf("source table %s: row image of %d values for %d columns",
			schema.QualifiedName(t.source.Schema, t.source.Name), len(row), len(t.shape.Columns))
	}
	buf = append(buf, '(')
	var err error
	for n, i := range t.cols {
		if n > 0 {
			buf = append(buf, ',')
		}
		if buf, scratch, err = rowcodec.AppendValue(buf, scratch, t.kinds[n], row[i]); err != nil {
			return buf, scratch, t.valueErr(i, err)
		}
	}
	return append(buf, ')'), scratch, nil
}

// appendKey appends row's key as its columns' literals separated by NUL
// bytes (which no literal holds).
func (t *table) appendKey(buf, scratch []byte, row []any) ([]byte, []byte, error) {
	if len(row) != len(t.shape.Columns) {
		return buf, scratch, fmt.Errorf("source table %s: row image of %d values for %d columns",
			schema.QualifiedName(t.source.Schema, t.source.Name), len(row), len(t.shape.Columns))
	}
	var err error
	for n, i := range t.key {
		if n > 0 {
			buf = append(buf, 0)
		}
		if row[i] == nil {
			return buf, scratch, t.valueErr(i, fmt.Errorf("NULL in the row key"))
		}
		if buf, scratch, err = rowcodec.AppendValue(buf, scratch, t.keyKinds[n], row[i]); err != nil {
			return buf, scratch, t.valueErr(i, err)
		}
	}
	return buf, scratch, nil
}

func (t *table) valueErr(i int, err error) error {
	return fmt.Errorf("source table %s: column %s: %w", schema.QualifiedName(t.source.Schema, t.source.Name), schema.QuoteIdent(t.shape.Columns[i]), err)
}
