package apply

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/checkpoint"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// servers[0] is the target of every test; tests isolate themselves by
// database name.
var servers []*sandbox.Server

func TestMain(m *testing.M) {
	// The crash test runs this binary again as the applier it kills.
	if spec := os.Getenv(crashChildEnv); spec != "" {
		os.Exit(crashChild(spec))
	}
	os.Exit(sandboxtest.Main(m, 1, &servers))
}

// batchList is a Batches over batches built in the test; fail, if set, is
// returned instead of the batch at index failAt.
type batchList struct {
	list   [][]rowchange.Change
	i      int
	fail   error
	failAt int
}

func (s *batchList) Next(context.Context) ([]rowchange.Change, error) {
	if s.fail != nil && s.i == s.failAt {
		return nil, s.fail
	}
	if s.i >= len(s.list) {
		return nil, io.EOF
	}
	s.i++
	return s.list[s.i-1], nil
}

// txn is a transaction at position pos (also its id) of changes, in one
// batch.
func txn(pos string, changes ...rowchange.Change) rowchange.Txn {
	return rowchange.Txn{ID: pos, Position: pos, Changes: &batchList{list: [][]rowchange.Change{changes}}}
}

// env is a target database and a checkpoint database on servers[0].
type env struct {
	db     *sql.DB
	target string
	store  *checkpoint.Store
}

func newEnv(t testing.TB, tables ...string) env {
	e := env{
		db:     sandboxtest.Open(t, servers[0], ""),
		target: sandboxtest.NewDatabase(t, servers[0], "apply"),
		store:  checkpoint.New(sandboxtest.NewDatabase(t, servers[0], "apply_cp")),
	}
	for _, ddl := range tables {
		sandboxtest.Exec(t, e.db, "CREATE TABLE "+schema.QuoteIdent(e.target)+"."+ddl)
	}
	return e
}

// applier returns an Applier of stream "s" into e.target, closed when the
// test ends. It commits each transaction alone unless opts choose
// WithGroupCommit.
func (e env) applier(t testing.TB, opts ...Option) *Applier {
	a, err := New(e.db, e.store, "s", e.target, append([]Option{WithGroupCommit(1, 0)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// rows returns the rows of e.target.table in key order, each as its
// columns' text joined by "|" (NULL as "∅").
func (e env) rows(t testing.TB, table string) []string {
	return dump(t, e.db, e.target, table)
}

func dump(t testing.TB, db *sql.DB, database, table string) []string {
	rows, err := db.QueryContext(context.Background(), "SELECT * FROM "+schema.QualifiedName(database, table)+" ORDER BY 1")
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		parts := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				parts[i] = "∅"
			} else {
				parts[i] = string(v)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	require.NoError(t, rows.Err())
	return out
}

// image is a table's rows as a change source gives them: by their first
// column's text, each value typed as rowchange.Change says.
type image struct {
	shape *rowchange.Shape
	rows  map[string][]any
	order []string
}

// readImage reads database.table through a reader session (UTC) and types
// each value by its column's kind, as a binlog decoder would.
func readImage(t testing.TB, database, table string) image {
	ctx := context.Background()
	db, err := conn.Open(ctx, servers[0].Config(""), conn.Options{Params: conn.ReaderSession().Params(), MaxConns: 1})
	require.NoError(t, err)
	defer db.Close()
	def, err := schema.LoadTable(ctx, db, database, table)
	require.NoError(t, err)
	shape := &rowchange.Shape{Table: rowchange.Table{Schema: "src", Name: table}}
	exprs := make([]string, len(def.Columns))
	for i := range def.Columns {
		c := &def.Columns[i]
		shape.Columns = append(shape.Columns, c.Name)
		shape.Types = append(shape.Types, c.DataType)
		shape.Unsigned = append(shape.Unsigned, c.Unsigned)
		exprs[i] = rowcodec.ReadExpr(c)
	}
	rows, err := db.QueryContext(ctx, "SELECT "+strings.Join(exprs, ",")+" FROM "+schema.QualifiedName(database, table)+" ORDER BY 1")
	require.NoError(t, err)
	defer rows.Close()
	img := image{shape: shape, rows: map[string][]any{}}
	for rows.Next() {
		raw := make([]sql.RawBytes, len(exprs))
		ptrs := make([]any, len(raw))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		row := make([]any, len(raw))
		for i, v := range raw {
			row[i] = typed(t, &def.Columns[i], v)
		}
		key := string(raw[0])
		img.rows[key] = row
		img.order = append(img.order, key)
	}
	require.NoError(t, rows.Err())
	return img
}

// typed converts the text value v of column c to rowchange's types.
func typed(t testing.TB, c *schema.Column, v sql.RawBytes) any {
	if v == nil {
		return nil
	}
	s := string(v)
	var err error
	var out any
	switch rowcodec.KindOf(c.DataType) {
	case rowcodec.Int, rowcodec.Year:
		if c.Unsigned {
			out, err = strconv.ParseUint(s, 10, 64)
		} else {
			out, err = strconv.ParseInt(s, 10, 64)
		}
	case rowcodec.Bit:
		out, err = strconv.ParseUint(s, 10, 64)
	case rowcodec.Float:
		if c.DataType == "float" {
			var f float64
			f, err = strconv.ParseFloat(s, 32)
			out = float32(f)
		} else {
			out, err = strconv.ParseFloat(s, 64)
		}
	case rowcodec.Binary:
		out = []byte(s)
	default:
		out = s
	}
	require.NoError(t, err, "column %s value %q", c.Name, s)
	return out
}

// changes returns the changes that take a table from image from to image
// to: updates and deletes in from's order, then inserts in to's.
func changes(from, to image) []rowchange.Change {
	var out []rowchange.Change
	for _, k := range from.order {
		before := from.rows[k]
		after, ok := to.rows[k]
		switch {
		case !ok:
			out = append(out, rowchange.Change{Shape: from.shape, Op: rowchange.Delete, Before: before})
		case fmt.Sprint(before) != fmt.Sprint(after):
			out = append(out, rowchange.Change{Shape: from.shape, Op: rowchange.Update, Before: before, After: after})
		}
	}
	for _, k := range to.order {
		if _, ok := from.rows[k]; !ok {
			out = append(out, rowchange.Change{Shape: to.shape, Op: rowchange.Insert, After: to.rows[k]})
		}
	}
	return out
}
