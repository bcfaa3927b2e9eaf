package rowcodec_test

import (
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/internal/schema"
)

var servers []*sandbox.Server

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m, 1, &servers)) }

// sqlModes are the session sql_modes every encoding must read the same
// under: the server's default, and the two that change how strings are
// quoted.
var sqlModes = []string{"DEFAULT", "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES", "NO_BACKSLASH_ESCAPES,ANSI_QUOTES"}

// trickyTable is a table of hard values, written through placeholders (the
// binary protocol, which no sql_mode changes) and spatial functions.
const trickyTable = `CREATE TABLE src (
	id INT PRIMARY KEY,
	vc VARCHAR(64) COLLATE utf8mb4_bin, vb VARBINARY(64), tx TEXT, bl BLOB,
	la VARCHAR(20) CHARACTER SET latin1,
	b1 BIT(1), b64 BIT(64), y YEAR, dt DATETIME(6), tm TIME(6), de DECIMAL(65,30),
	fl FLOAT, do DOUBLE, js JSON,
	en ENUM('a', 'it''s', 'back\\slash'), st SET('x', 'y''z'),
	g GEOMETRY, i6 INET6, u UUID
) DEFAULT CHARSET utf8mb4`

var trickyRows = [][]any{
	{1, `back\slash`, []byte("\xff\xfe\x00\\'\""), "line1\nline2\r\n\ttab", []byte{0, 0x1a, '\\', '\''},
		"café", 1, uint64(1<<64 - 1), 0, "0000-00-00 00:00:00.000000", "-838:59:59.000000",
		"99999999999999999999999999999999999.999999999999999999999999999999",
		0.1234567, 1.7976931348623157e308, `{"a": "b\\\"c", "d": [1, 2.5, null]}`,
		`back\slash`, "x,y'z", "POINT(1 2)", "::1", "123e4567-e89b-12d3-a456-426655440000"},
	{2, "it's \"quoted\" `tick`", []byte{}, "NULL", []byte{},
		`\'`, 0, 0, 2155, "9999-12-31 23:59:59.999999", "838:59:59.000000",
		"-99999999999999999999999999999999999.999999999999999999999999999999",
		-3.4028234663852886e38, 4.9406564584124654e-324, "[]",
		"it's", "", "LINESTRING(0 0, 1 1)", "ffff::ffff", "00000000-0000-0000-0000-000000000000"},
	{3, "nul\x00 ctrl-z\x1a", []byte("\\0\\n"), "emoji 😀 rlo \u202e esc \x1b[2J", nil,
		"", nil, uint64(1 << 63), 1901, "2024-02-29 12:34:56.000001", "00:00:00.000001",
		"0.000000000000000000000000000001",
		1.1754943508222875e-38, 0.1, `"\u00e9"`,
		"a", "x", nil, nil, nil},
	{4, "", nil, "", nil, "NULL", nil, nil, 2024, nil, nil, "0", float32(math.Copysign(0, -1)), math.Copysign(0, -1), "null", nil, "y'z", nil, nil, nil},
	{5, "NULL", nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
	{6, "''", nil, `'\`, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
	{7, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
}

// TestRoundTrip writes the tricky values read from one table into another
// as SQL literals (INSERT) and as LOAD DATA fields, on sessions with each
// sql_mode, and checks that the server stores the same values.
func TestRoundTrip(t *testing.T) {
	ctx := t.Context()
	name := sandboxtest.NewDatabase(t, servers[0], "rowcodec")
	db := sandboxtest.Open(t, servers[0], name)
	sandboxtest.Exec(t, db, trickyTable)
	cols := readColumns(t, db, name)
	var ph []string
	for _, c := range cols {
		if c.DataType == "geometry" {
			ph = append(ph, "ST_GeomFromText(?)")
		} else {
			ph = append(ph, "?")
		}
	}
	for _, row := range trickyRows {
		if _, err := db.ExecContext(ctx, "INSERT INTO src VALUES ("+strings.Join(ph, ", ")+")", row...); err != nil {
			t.Fatalf("insert row %v: %v", row[0], err)
		}
	}
	want := readRows(t, db, "src", cols)

	for i, mode := range sqlModes {
		t.Run(mode, func(t *testing.T) {
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			set := "SET SESSION sql_mode = DEFAULT"
			if mode != "DEFAULT" {
				set = "SET SESSION sql_mode = " + rowcodec.String(mode)
			}
			for _, s := range []string{set, fmt.Sprintf("CREATE TABLE ins%d LIKE src", i), fmt.Sprintf("CREATE TABLE load%d LIKE src", i)} {
				if _, err := conn.ExecContext(ctx, s); err != nil {
					t.Fatalf("%s: %v", s, err)
				}
			}

			kinds := make([]rowcodec.Kind, len(cols))
			for j, c := range cols {
				kinds[j] = rowcodec.KindOf(c.DataType)
			}
			var data []byte
			for _, r := range want {
				var lits []string
				for j, v := range r {
					lits = append(lits, rowcodec.Literal(kinds[j], v))
					if j > 0 {
						data = append(data, '\t')
					}
					data = rowcodec.AppendLoadField(data, v)
				}
				data = append(data, '\n')
				stmt := fmt.Sprintf("INSERT INTO ins%d VALUES (%s)", i, strings.Join(lits, ", "))
				if _, err := conn.ExecContext(ctx, stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			handler := fmt.Sprintf("rowcodec-test-%d", i)
			mysql.RegisterReaderHandler(handler, func() io.Reader { return bytes.NewReader(data) })
			defer mysql.DeregisterReaderHandler(handler)
			load, err := rowcodec.NewLoad(schema.QualifiedName(name, fmt.Sprintf("load%d", i)), cols).SQL("Reader::" + handler)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(ctx, load); err != nil {
				t.Fatalf("%s: %v", load, err)
			}
			for _, table := range []string{fmt.Sprintf("ins%d", i), fmt.Sprintf("load%d", i)} {
				got := readRows(t, db, table, cols)
				if len(got) != len(want) {
					t.Fatalf("%s: %d rows, want %d", table, len(got), len(want))
				}
				for r := range want {
					for j := range cols {
						if g, w := got[r][j], want[r][j]; (g == nil) != (w == nil) || !bytes.Equal(g, w) {
							t.Errorf("%s row %s column %s: %q, want %q (literal %s)", table, want[r][0], cols[j].Name, g, w, rowcodec.Literal(kinds[j], w))
						}
					}
				}
			}
		})
	}
}

func readColumns(t *testing.T, db *sql.DB, database string) []schema.Column {
	t.Helper()
	def, err := schema.LoadTable(t.Context(), db, database, "src")
	if err != nil {
		t.Fatal(err)
	}
	return def.Columns
}

// readRows reads table's rows by id with rowcodec.ReadExpr, nil for NULL.
func readRows(t *testing.T, db *sql.DB, table string, cols []schema.Column) [][][]byte {
	t.Helper()
	var sel []string
	for _, c := range cols {
		sel = append(sel, rowcodec.ReadExpr(&c))
	}
	rows, err := db.QueryContext(t.Context(), "SELECT "+strings.Join(sel, ", ")+" FROM "+schema.QuoteIdent(table)+" ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][][]byte
	for rows.Next() {
		raw := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		r := make([][]byte, len(cols))
		for i, v := range raw {
			if v != nil {
				r[i] = append([]byte{}, v...)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
