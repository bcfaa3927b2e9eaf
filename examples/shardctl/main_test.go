package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/shard"
)

var servers []*sandbox.Server

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(childEnv); ok {
		os.Exit(runChild(args))
	}
	os.Exit(sandboxtest.Main(m, 2, &servers))
}

// shardctl runs the program with args and stdin, returning its status,
// stdout and stderr.
func shardctl(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
	return p
}

func TestRouteSeedRecipe(t *testing.T) {
	// The answers are Python's: int(md5(key.encode()).hexdigest(), 16) % 32 + 1.
	code, out, errOut := shardctl(t, "\n张三\n42\r\nalice", "route", "-shards", "32", "-database-template", "db01")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "\t31\tdb01.test_31\n张三\t20\tdb01.test_20\n42\t7\tdb01.test_7\nalice\t"+routeOf(t, "alice")+"\n", out)

	// Control characters in keys are escaped on the terminal.
	code, out, _ = shardctl(t, "a\x1b[2Jb\n", "route", "-shards", "4")
	require.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(out, `a\x1b[2Jb`+"\t"), out)
}

func routeOf(t *testing.T, key string) string {
	r, err := (&shard.Layout{Method: shard.MD5, Shards: 32, Database: "db01", Table: "test_{n}"}).Router()
	require.NoError(t, err)
	loc, err := r.Route(shard.String(key))
	require.NoError(t, err)
	return fmt.Sprintf("%d\t%s", loc.Shard, loc)
}

func TestRouteMethodsAndErrors(t *testing.T) {
	code, out, errOut := shardctl(t, "0\n-1\n7\n", "route", "-method", "mod", "-shards", "4", "-table-template", "t{n}", "-database-template", "d")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "0\t1\td.t1\n-1\t4\td.t4\n7\t4\td.t4\n", out)

	code, out, errOut = shardctl(t, "1\nx\n2\n", "route", "-method", "jump", "-int", "-shards", "10")
	assert.Equal(t, 1, code)
	assert.Equal(t, 2, strings.Count(out, "\n"), "the good keys are still routed")
	assert.Contains(t, errOut, `shardctl route: line 2: key "x" is not a 64-bit integer`)

	code, _, errOut = shardctl(t, "", "route", "-method", "sha1", "-shards", "3")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown method "sha1"`)
	code, _, errOut = shardctl(t, "", "route")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "-shards N or -layout FILE is required")

	layout := writeFile(t, "l.yaml", "method: md5\nshards: 8\ntables_per_database: 4\ndatabase: db{m}\ntable: test_{k}\ninstances:\n  - {name: a, databases: '1'}\n  - {name: b, databases: '2'}\n")
	code, _, errOut = shardctl(t, "", "route", "-layout", layout, "-shards", "3")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "-layout and -shards")
	code, out, errOut = shardctl(t, "张三\n", "route", "-layout", layout)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "张三\t4\ta/db1.test_4\n", out) // 20 % 8 = 4: md5 % 32 and % 8 agree

	ranges := writeFile(t, "r.json", `{"method": "range", "database": "logs", "table": "log_{n}", "ranges": [{"shard": 1, "to": "2025-01-01"}, {"shard": 2, "from": "2025-01-01"}]}`)
	code, out, errOut = shardctl(t, "2024-12-31\n2025-01-01T00:00:00Z\nsoon\n", "route", "-layout", ranges)
	assert.Equal(t, 1, code)
	assert.Equal(t, "2024-12-31\t1\tlogs.log_1\n2025-01-01T00:00:00Z\t2\tlogs.log_2\n", out)
	assert.Contains(t, errOut, `line 3: key "soon" is not a date`)
}

func TestHelpAndUnknown(t *testing.T) {
	code, _, errOut := shardctl(t, "", "help")
	assert.Equal(t, 0, code)
	for _, c := range []string{"route", "plan", "vschema", "split", "query"} {
		assert.Contains(t, errOut, "  "+c)
	}
	code, _, errOut = shardctl(t, "", "bogus")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown subcommand "bogus"`)
}

func TestPlan(t *testing.T) {
	from := writeFile(t, "from.json", `{"method": "md5", "shards": 16, "database": "db01", "table": "test_{n}"}`)
	to := writeFile(t, "to.json", `{"method": "md5", "shards": 32, "database": "db01", "table": "test_{n}"}`)
	code, out, errOut := shardctl(t, "", "plan", "-from", from, "-to", to)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "basis: exact: md5 keys spread evenly over the residues modulo lcm(16, 32) = 32")
	assert.Contains(t, out, "moved: 50.00% of the keys")
	assert.Contains(t, out, "source shards: 0 keep, 0 move whole, 16 split by rows")
	assert.Contains(t, out, "shard 3 db01.test_3: move-rows\n  -> shard 3 db01.test_3 0.5000 stays\n  -> shard 19 db01.test_19 0.5000\n")

	code, out, errOut = shardctl(t, "", "plan", "-from", to, "-to", from, "-json")
	require.Equal(t, 0, code, errOut)
	var p shard.Plan
	require.NoError(t, json.Unmarshal([]byte(out), &p))
	assert.Equal(t, shard.MoveTable, p.Sources[31].Action)
	assert.Equal(t, 16, p.Sources[31].Targets[0].Shard)

	code, _, errOut = shardctl(t, "", "plan", "-from", from)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "usage: shardctl plan")
}

// TestPlanRowsFromServer reads row estimates from a real server, the
// password from the environment.
func TestPlanRowsFromServer(t *testing.T) {
	s := servers[0]
	dbName := sandboxtest.NewDatabase(t, s, "shardctl")
	db := sandboxtest.Open(t, s, dbName)
	for n := 1; n <= 2; n++ {
		sandboxtest.Exec(t, db, fmt.Sprintf("CREATE TABLE test_%d (id BIGINT PRIMARY KEY) ENGINE=MyISAM", n))
		for i := range 10 * n {
			sandboxtest.Exec(t, db, fmt.Sprintf("INSERT INTO test_%d VALUES (%d)", n, i))
		}
	}
	from := writeFile(t, "from.json", `{"method": "mod", "shards": 2, "database": "`+dbName+`", "table": "test_{n}"}`)
	to := writeFile(t, "to.json", `{"method": "mod", "shards": 4, "database": "`+dbName+`", "table": "test_{n}"}`)
	cfg := s.Config("")
	cfg.Passwd = ""
	t.Setenv("SHIFTGATE_SHARD_PASSWORD", s.Password())
	code, out, errOut := shardctl(t, "", "plan", "-from", from, "-to", to, "-dsn", cfg.FormatDSN())
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "moved: 50.00% of the keys, about 15 rows")
	assert.Contains(t, out, "shard 2 "+dbName+".test_2, about 20 rows: move-rows")
	assert.NotContains(t, out+errOut, s.Password())

	code, _, errOut = shardctl(t, "", "plan", "-from", from, "-to", to, "-dsn", "other="+cfg.FormatDSN())
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `no connection for instance ""`)
}

func TestVSchema(t *testing.T) {
	direct := writeFile(t, "v.yaml", "method: range\ndatabase: shard{n}\ntable: orders\ncolumn: id\nranges:\n  - {shard: 1, to: 1000}\n  - {shard: 2, from: 1000}\n")
	code, out, errOut := shardctl(t, "", "vschema", "-layout", direct)
	require.Equal(t, 0, code, errOut)
	assert.JSONEq(t, `{"sharded": true, "vindexes": {"numeric": {"type": "numeric"}}, "tables": {"orders": {"column_vindexes": [{"column": "id", "name": "numeric"}]}}}`, out)
	assert.Contains(t, errOut, "vitess shard -00000000000003e8 serves shard 1 shard1.orders")
	assert.Contains(t, errOut, "vitess shard 00000000000003e8- serves shard 2 shard2.orders")

	seed := writeFile(t, "seed.json", `{"method": "md5", "shards": 32, "database": "db01", "table": "test_{n}", "column": "name"}`)
	code, out, errOut = shardctl(t, "", "vschema", "-layout", seed)
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "method md5 picks a shard by a remainder")
	assert.Contains(t, errOut, "shard/VITESS.md")
}

// splitFixture is a seed table on the test server and a layout of two
// instances (both the test server, under two names) to split it into.
type splitFixture struct {
	source, base, layout, checkpoint string
	dsn                              string // without password
}

func newSplitFixture(t *testing.T, rows int) splitFixture {
	s := servers[0]
	f := splitFixture{source: sandboxtest.NewDatabase(t, s, "seed"), base: sandboxtest.NewDatabase(t, s, "shards")}
	f.checkpoint = f.base + "_cp"
	sandboxtest.Exec(t, sandboxtest.Open(t, s, f.source),
		"CREATE TABLE test (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL, addTime DATETIME NOT NULL, grp INT NULL, amount DECIMAL(10,2) NULL)",
		fmt.Sprintf("INSERT INTO test (name, addTime, grp, amount) SELECT CONCAT('user', seq), '2020-01-01' + INTERVAL (seq %% 997) MINUTE, NULLIF(seq %% 5, 4), IF(seq %% 7 = 0, NULL, seq / 8) FROM seq_1_to_%d", rows),
		"ANALYZE TABLE test")
	t.Cleanup(func() {
		if db, err := s.Open(""); err == nil {
			for _, name := range []string{f.base + "_1", f.base + "_2", f.checkpoint} {
				_, _ = db.Exec("DROP DATABASE IF EXISTS `" + name + "`")
			}
			db.Close()
		}
	})
	f.layout = writeFile(t, "layout.yaml", fmt.Sprintf("method: md5\nshards: 8\ntables_per_database: 4\ndatabase: %s_{m}\ntable: test_{n}\ninstances:\n  - {name: a, databases: '1'}\n  - {name: b, databases: '2'}\n", f.base))
	cfg := s.Config("")
	cfg.Passwd = ""
	f.dsn = cfg.FormatDSN()
	t.Setenv("SHIFTGATE_SOURCE_PASSWORD", s.Password())
	t.Setenv("SHIFTGATE_SHARD_PASSWORD", s.Password())
	return f
}

func (f splitFixture) shardFlags() []string {
	return []string{"-layout", f.layout, "-dsn", "a=" + f.dsn, "-dsn", "b=" + f.dsn}
}

// query runs q on the unsharded source table and formats the rows as
// shardctl query prints them.
func (f splitFixture) query(t *testing.T, q string) string {
	rows, err := sandboxtest.Open(t, servers[0], f.source).Query(q)
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var b strings.Builder
	b.WriteString(strings.Join(cols, "\t") + "\n")
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		fields := make([]string, len(cols))
		for i, v := range vals {
			fields[i] = "NULL"
			if v.Valid {
				fields[i] = v.String
			}
		}
		b.WriteString(strings.Join(fields, "\t") + "\n")
	}
	require.NoError(t, rows.Err())
	return b.String()
}

func TestSplitCommand(t *testing.T) {
	f := newSplitFixture(t, 3000)
	args := append([]string{"split", "-source", f.dsn, "-database", f.source, "-table", "test", "-key", "name", "-checkpoint-db", f.checkpoint}, f.shardFlags()...)

	code, out, errOut := shardctl(t, "", append(args, "-dry-run")...)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, 8, strings.Count(out, "to create"), out)
	assert.Contains(t, out, "step: ")

	code, out, errOut = shardctl(t, "", append(args, "-json", "-progress", "1ms", "-threads", "2")...)
	require.Equal(t, 0, code, errOut)
	var report struct {
		Executor string `json:"executor"`
		Rows     int64  `json:"rows"`
		Position struct {
			File string `json:"file"`
		} `json:"position"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &report), out)
	assert.Equal(t, "split", report.Executor)
	assert.Equal(t, int64(3000), report.Rows)
	assert.Contains(t, errOut, "shardctl split: 1/1 tables, 3000 rows", "the last progress line")
	assert.NotContains(t, out+errOut, servers[0].Password())

	code, _, errOut = shardctl(t, "", args...)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "not empty")

	code, _, errOut = shardctl(t, "", "split", "-source", f.dsn, "-database", f.source, "-table", "test", "-key", "name", "-layout", f.layout, "-dsn", "a="+f.dsn)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `no DSN for instance "b"`)

	code, _, errOut = shardctl(t, "", append(args, "-rate", "-1")...)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "usage: shardctl split")
}

func TestQueryCommand(t *testing.T) {
	f := newSplitFixture(t, 3000)
	code, _, errOut := shardctl(t, "", append([]string{"split", "-source", f.dsn, "-database", f.source, "-table", "test", "-key", "name", "-checkpoint-db", f.checkpoint}, f.shardFlags()...)...)
	require.Equal(t, 0, code, errOut)
	q := func(args ...string) string {
		t.Helper()
		code, out, errOut := shardctl(t, "", append(append([]string{"query"}, f.shardFlags()...), args...)...)
		require.Equal(t, 0, code, errOut)
		return out
	}
	assert.Equal(t, "count\n3000\n", q("-count"))
	assert.Equal(t, f.query(t, "SELECT id, name, addTime FROM test ORDER BY addTime DESC, id LIMIT 7, 5"),
		q("-select", "id,name,addTime", "-order", "addTime desc, id", "-offset", "7", "-limit", "5"))
	assert.Equal(t, f.query(t, "SELECT grp, COUNT(*) AS `count`, SUM(amount), MIN(id), MAX(addTime), AVG(amount) FROM test WHERE id > 100 GROUP BY grp ORDER BY grp"),
		strings.Replace(q("-group", "grp", "-count", "-sum", "amount", "-min", "id", "-max", "addTime", "-avg", "amount", "-where", "id > 100"),
			"sum(amount)\tmin(id)\tmax(addTime)\tavg(amount)", "SUM(amount)\tMIN(id)\tMAX(addTime)\tAVG(amount)", 1))
	assert.Equal(t, f.query(t, "SELECT DISTINCT grp FROM test ORDER BY grp"), q("-distinct", "-select", "grp"))
	assert.Equal(t, "id\tname\n", q("-select", "id,name", "-where", "id < 0", "-order", "id"), "no rows from any shard")

	out := q("-sum", "amount", "-json")
	var res struct {
		Columns []string `json:"columns"`
		Rows    [][]any  `json:"rows"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	assert.Equal(t, []string{"sum(amount)"}, res.Columns)
	assert.Equal(t, strings.Split(strings.TrimSpace(f.query(t, "SELECT SUM(amount) FROM test")), "\n")[1], res.Rows[0][0])

	code, _, errOut = shardctl(t, "", append(append([]string{"query"}, f.shardFlags()...), "-count", "-order", "id")...)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "aggregates")
	// Column names are quoted identifiers, never SQL.
	code, _, errOut = shardctl(t, "", append(append([]string{"query"}, f.shardFlags()...), "-select", "id`; DROP TABLE x")...)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "Unknown column 'id`; DROP TABLE x'")
	code, _, errOut = shardctl(t, "", append(append([]string{"query"}, f.shardFlags()...), "-select", ",")...)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "-select: no column")
}
