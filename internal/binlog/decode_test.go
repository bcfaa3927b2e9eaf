package binlog_test

import (
	"database/sql"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/rowchange"
)

// kindCols are the columns of the kinds table: name, definition, the
// expression that reads the value back for comparison, and how to turn
// that text into the value the stream must produce.
var kindCols = []struct {
	name, def, read string
	want            func(string) any
}{
	{"id", "INT NOT NULL PRIMARY KEY", "id", i64},
	{"ti", "TINYINT", "ti", i64},
	{"tu", "TINYINT UNSIGNED", "tu", u64},
	{"si", "SMALLINT", "si", i64},
	{"su", "SMALLINT UNSIGNED", "su", u64},
	{"mi", "MEDIUMINT", "mi", i64},
	{"mu", "MEDIUMINT UNSIGNED", "mu", u64},
	{"i", "INT", "i", i64},
	{"iu", "INT UNSIGNED", "iu", u64},
	{"bi", "BIGINT", "bi", i64},
	{"bu", "BIGINT UNSIGNED", "bu", u64},
	{"d", "DECIMAL(20,6)", "d", str},
	{"dn", "DECIMAL(5,2)", "dn", str},
	{"fl", "FLOAT", "CAST(fl AS DOUBLE)", f32},
	{"db", "DOUBLE", "db", f64},
	{"b", "BIT(64)", "b+0", u64},
	{"b1", "BIT(1)", "b1+0", u64},
	{"y", "YEAR", "y+0", i64},
	{"dt", "DATE", "dt", str},
	{"tm", "TIME(3)", "tm", str},
	{"dtm", "DATETIME(6)", "dtm", str},
	{"ts", "TIMESTAMP(6) NULL", "ts", str},
	{"ts0", "TIMESTAMP NULL", "ts0", str},
	{"c", "CHAR(5)", "c", str},
	{"vc", "VARCHAR(50) CHARACTER SET utf8mb4", "vc", str},
	{"l1", "VARCHAR(20) CHARACTER SET latin1", "l1", str},
	{"bn", "BINARY(4)", "bn", bin},
	{"vb", "VARBINARY(10)", "vb", bin},
	{"tx", "TEXT", "tx", str},
	{"lt", "LONGTEXT", "lt", str},
	{"bl", "BLOB", "bl", bin},
	{"js", "JSON", "js", str},
	{"e", `ENUM('a','it''s','b\\s')`, "e", str},
	{"st", `SET('x','y''z','w')`, "st", str},
	{"g", "GEOMETRY", "g", bin},
}

func i64(s string) any { v, _ := strconv.ParseInt(s, 10, 64); return v }
func u64(s string) any { v, _ := strconv.ParseUint(s, 10, 64); return v }
func f64(s string) any { v, _ := strconv.ParseFloat(s, 64); return v }
func f32(s string) any { v, _ := strconv.ParseFloat(s, 64); return float32(v) }
func str(s string) any { return s }
func bin(s string) any { return []byte(s) }

// kindRows are inserted with the session time zone +03:00, so that the
// TIMESTAMP values come out of the binary log converted to UTC.
var kindRows = []string{
	`(1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615,
		-12345678901234.000001, 0.50, 0.1234567, 1.7976931348623157e308, 18446744073709551615, 1, 0,
		'1000-01-01', '-838:59:59.000', '9999-12-31 23:59:59.999999', '2024-05-06 10:00:00.123456', '1970-01-01 03:00:01',
		'ab', 'emoji 😀 ünï', 'caf\xe9', x'0100', x'00ff00', 'text\nline', REPEAT('l', 70000), x'00010203ff',
		'{"a": [1, "b\\\\c"]}', 'b\\s', 'x,y''z', ST_GeomFromText('POINT(1 2)'))`,
	`(2, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0,
		99999999999999.999999, -999.99, -3.4028234e38, -2.2250738585072014e-308, 0, 0, 2155,
		'9999-12-31', '12:34:56.789', '1000-01-01 00:00:00.000000', '2038-01-19 06:14:07.999999', '2001-02-03 04:05:06',
		'', '', '', x'', x'', '', '', x'', '[]', 'it''s', '', NULL)`,
	`(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
}

// selectRows reads the kinds table's rows, by id, as the stream must give
// them.
func selectRows(t *testing.T, db *sql.DB) map[int64][]any {
	t.Helper()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "SET time_zone = '+00:00'"); err != nil {
		t.Fatal(err)
	}
	exprs := make([]string, len(kindCols))
	for i, c := range kindCols {
		exprs[i] = c.read
	}
	rows, err := conn.QueryContext(t.Context(), "SELECT "+strings.Join(exprs, ", ")+" FROM kinds ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64][]any{}
	for rows.Next() {
		raw := make([]sql.RawBytes, len(kindCols))
		dest := make([]any, len(raw))
		for i := range raw {
			dest[i] = &raw[i]
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		row := make([]any, len(raw))
		for i, v := range raw {
			if v != nil {
				row[i] = kindCols[i].want(string(v))
			}
		}
		out[row[0].(int64)] = row
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func compareRow(t *testing.T, what string, got, want []any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			g, w := fmt.Sprintf("%T %v", got[i], got[i]), fmt.Sprintf("%T %v", want[i], want[i])
			if len(g) > 200 {
				g, w = g[:200]+"...", w[:min(len(w), 200)]+"..."
			}
			t.Errorf("%s column %s: got %s, want %s", what, kindCols[i].name, g, w)
		}
	}
}

// TestKinds checks that inserts, updates and deletes of every column kind
// decode to the documented values: those a SELECT of the same rows gives.
func TestKinds(t *testing.T) {
	t.Parallel()
	defs := make([]string, len(kindCols))
	for i, c := range kindCols {
		defs[i] = c.name + " " + c.def
	}
	db, name := newDB(t, "kinds", "CREATE TABLE kinds ("+strings.Join(defs, ", ")+")")
	pos := current(t, db)
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, stmt := range []string{"SET time_zone = '+03:00'", "INSERT INTO kinds VALUES " + strings.Join(kindRows, ", ")} {
		if _, err := conn.ExecContext(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	inserted := selectRows(t, db)
	if _, err := conn.ExecContext(t.Context(), "UPDATE kinds SET id = id + 10, vc = CONCAT(vc, '+'), e = 'a', st = 'w,x', ts = '2030-01-01 00:00:00' WHERE id IN (1, 2)"); err != nil {
		t.Fatal(err)
	}
	updated := selectRows(t, db)
	if _, err := conn.ExecContext(t.Context(), "DELETE FROM kinds"); err != nil {
		t.Fatal(err)
	}

	sink := &recorder{}
	r := start(t, servers[0], binlog.Config{Start: pos, Tables: []rowchange.Table{{Schema: name, Name: "kinds"}}}, sink)
	r.waitPosition(t, current(t, db))
	txns := sink.withChanges()
	if len(txns) != 3 {
		t.Fatalf("got %d transactions with changes, want 3 (insert, update, delete)", len(txns))
	}
	shape := txns[0].changes[0].Shape
	for i, c := range kindCols {
		if shape.Columns[i] != c.name {
			t.Errorf("column %d is %q, want %q", i, shape.Columns[i], c.name)
		}
	}
	if !reflect.DeepEqual(shape.Key, []int{0}) {
		t.Errorf("key %v, want [0]", shape.Key)
	}
	if shape.Types[2] != "tinyint" || !shape.Unsigned[2] || shape.Unsigned[1] {
		t.Errorf("tu: type %q unsigned %v; ti unsigned %v", shape.Types[2], shape.Unsigned[2], shape.Unsigned[1])
	}

	ins := txns[0].changes
	if len(ins) != len(kindRows) {
		t.Fatalf("insert: %d changes, want %d", len(ins), len(kindRows))
	}
	for _, c := range ins {
		if c.Op != rowchange.Insert || c.Before != nil {
			t.Fatalf("insert: op %s before %v", c.Op, c.Before)
		}
		compareRow(t, fmt.Sprintf("insert of id %v", c.After[0]), c.After, inserted[c.After[0].(int64)])
	}
	upd := txns[1].changes
	if len(upd) != 2 {
		t.Fatalf("update: %d changes, want 2", len(upd))
	}
	for _, c := range upd {
		if c.Op != rowchange.Update || c.Shape != shape {
			t.Fatalf("update: op %s, same shape %v", c.Op, c.Shape == shape)
		}
		id := c.Before[0].(int64)
		compareRow(t, fmt.Sprintf("update before of id %d", id), c.Before, inserted[id])
		compareRow(t, fmt.Sprintf("update after of id %d", id), c.After, updated[id+10])
	}
	del := txns[2].changes
	if len(del) != len(kindRows) {
		t.Fatalf("delete: %d changes, want %d", len(del), len(kindRows))
	}
	for _, c := range del {
		if c.Op != rowchange.Delete || c.After != nil {
			t.Fatalf("delete: op %s after %v", c.Op, c.After)
		}
		compareRow(t, fmt.Sprintf("delete of id %v", c.Before[0]), c.Before, updated[c.Before[0].(int64)])
	}
}
