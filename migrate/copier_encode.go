package migrate

import (
	"strings"

	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// tableStatements builds the select list of a table's chunks and the
// statements that write them on the target, in the encoding of package
// rowcodec: columns are read with rowcodec.ReadExpr and written as LOAD
// DATA fields or SQL literals of their rowcodec.Kind.
//
// A table that LOAD DATA cannot write exactly (see rowcodec.Load.Exact)
// must be written with INSERT (loadOK false).
func tableStatements(ct *copyTable, targetDB string) (selectList string, load rowcodec.Load, insertHead string, kinds []rowcodec.Kind, keyPos []int, loadOK bool) {
	var sel, ins []string
	kinds = make([]rowcodec.Kind, 0, len(ct.columns))
	for _, c := range ct.columns {
		kinds = append(kinds, rowcodec.KindOf(c.DataType))
		ins = append(ins, schema.QuoteIdent(c.Name))
		sel = append(sel, rowcodec.ReadExpr(&c))
	}
	// Key columns are read as they are, after the copied columns when they
	// are not among them (a generated column in the key) or are read as
	// numbers (BIT, YEAR).
	for _, k := range ct.key.Columns {
		i := -1
		for j, c := range ct.columns {
			if strings.EqualFold(c.Name, k) && kinds[j] != rowcodec.Bit && kinds[j] != rowcodec.Year {
				i = j
			}
		}
		if i < 0 {
			i = len(sel)
			sel = append(sel, schema.QuoteIdent(k))
		}
		keyPos = append(keyPos, i)
	}
	name := schema.QualifiedName(targetDB, ct.target)
	load = rowcodec.NewLoad(name, ct.columns)
	insertHead = "INSERT INTO " + name + " (" + strings.Join(ins, ", ") + ") VALUES "
	return strings.Join(sel, ", "), load, insertHead, kinds, keyPos, load.Exact()
}
