package migrate_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/migrate"
)

// edgeTables are the tables copies get wrong, each with rows that show it.
var edgeTables = []string{
	// Every byte value, NULL vs '' vs 'NULL' vs '\N', in text and binary.
	`CREATE TABLE bytes_t (id INT NOT NULL PRIMARY KEY, txt VARCHAR(50) NULL, bin VARBINARY(300) NULL, blb LONGBLOB NULL,
		lat VARCHAR(20) CHARACTER SET latin1 NULL, fixed CHAR(5) NULL, bits BIT(10) NULL, f FLOAT NULL, d DOUBLE NULL, dec_ DECIMAL(30,10) NULL)`,
	`INSERT INTO bytes_t (id, txt, bin, blb) SELECT seq, CHAR(seq USING latin1), UNHEX(HEX(seq)), UNHEX(REPEAT(LPAD(HEX(seq), 2, '0'), seq)) FROM seq_0_to_255`,
	`INSERT INTO bytes_t VALUES (1000, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
		(1001, '', '', '', '', '', b'0', 0, 0, 0),
		(1002, 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', b'1111111111', -1.5e-30, 1.7976931348623157e308, '-12345678901234567890.0123456789'),
		(1003, '\\N', '\\N', '\\N', 'Ärger', 'a  ', b'1010', 3.4028e38, 0.1, '0.0000000001'),
		(1004, 'tab\there\nnew\\back''q', x'00ff0a090d5c27', x'00', 'çé', ' ', NULL, NULL, NULL, NULL),
		(1005, 'emoji 😀 and 王', x'f09f9880', x'ff', 'ÿ', 'x', b'1', 1, 2, 3)`,
	// A string key in a case-insensitive collation.
	`CREATE TABLE ci_key (code VARCHAR(20) COLLATE utf8mb4_general_ci NOT NULL PRIMARY KEY, n INT NOT NULL)`,
	`INSERT INTO ci_key VALUES ('apple', 1), ('Banana', 2), ('cherry', 3), ('Äpfel', 4), ('Zebra', 5), ('zoo', 6), ('b', 7), ('A', 8), ('ß', 9), ('éclair', 10), ('Eclairs', 11), ('_x', 12)`,
	// Composite key over a string and an integer.
	`CREATE TABLE comp (a VARCHAR(5) COLLATE utf8mb4_unicode_ci NOT NULL, b BIGINT UNSIGNED NOT NULL, v TEXT, PRIMARY KEY (a, b))`,
	`INSERT INTO comp SELECT ELT(1 + seq % 4, 'x', 'Y', 'z', 'Ö'), 18446744073709551615 - seq, REPEAT('v', seq) FROM seq_1_to_200`,
	// Only a unique key over NOT NULL columns.
	`CREATE TABLE uniq_only (x INT NULL, code CHAR(6) CHARACTER SET ascii NOT NULL, UNIQUE KEY uk_code (code), KEY idx_x (x))`,
	`INSERT INTO uniq_only SELECT IF(seq % 3 = 0, NULL, seq), LPAD(seq * 7, 6, '0') FROM seq_1_to_150`,
	// AUTO_INCREMENT with a row at 0, generated columns, zero dates, time zones.
	`CREATE TABLE auto_gen (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, price DECIMAL(10,2) NOT NULL,
		cents INT AS (price * 100) VIRTUAL, euros INT AS (FLOOR(price)) PERSISTENT,
		ts TIMESTAMP(6) NULL, dt DATETIME NULL, d DATE NULL, t TIME(3) NULL, y YEAR NULL, j JSON NULL,
		e ENUM('a','b','') NULL, s SET('x','y') NULL, KEY idx_euros (euros))`,
	`SET STATEMENT sql_mode = 'NO_AUTO_VALUE_ON_ZERO', time_zone = '+05:30' FOR INSERT INTO auto_gen (id, price, ts, dt, d, t, y, j, e, s) VALUES
		(0, 1.23, '2024-03-31 02:30:00.123456', '0000-00-00 00:00:00', '0000-00-00', '-838:59:59.000', 0, '{"a": [1, "x"]}', '', ''),
		(7, 0, '1970-01-01 05:30:01', '9999-12-31 23:59:59', '2024-02-29', '12:00:00.5', 2155, NULL, 'b', 'x,y'),
		(8, 99999999.99, '2038-01-19 08:44:07', NULL, NULL, NULL, NULL, 'null', NULL, NULL)`,
	// Foreign keys whose children come before their parents in name order.
	`CREATE TABLE zparent (id INT NOT NULL PRIMARY KEY, name VARCHAR(10) NOT NULL, UNIQUE KEY uk_name (name))`,
	`CREATE TABLE achild (id INT NOT NULL PRIMARY KEY, parent_id INT NOT NULL, parent_name VARCHAR(10) NULL, note VARCHAR(20),
		KEY idx_note (note),
		CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES zparent (id) ON DELETE CASCADE,
		CONSTRAINT fk_parent_name FOREIGN KEY (parent_name) REFERENCES zparent (name))`,
	`INSERT INTO zparent SELECT seq, CONCAT('p', seq) FROM seq_1_to_50`,
	`INSERT INTO achild SELECT seq, 1 + seq % 50, IF(seq % 2, CONCAT('p', 1 + seq % 50), NULL), CONCAT('n', seq % 7) FROM seq_1_to_300`,
}

// newEdgeDB creates the edge tables in a new source database.
func newEdgeDB(t *testing.T, extra ...string) (string, *sql.DB) {
	t.Helper()
	name := sandboxtest.NewDatabase(t, servers[0], "edge")
	db := sandboxtest.Open(t, servers[0], name)
	sandboxtest.Exec(t, db, edgeTables...)
	sandboxtest.Exec(t, db, extra...)
	return name, db
}

// rowsOf returns every row of table as text, hex for bytes, in key order.
func rowsOf(t *testing.T, s *sandbox.Server, database, table string) []string {
	t.Helper()
	db := sandboxtest.Open(t, s, database)
	def, err := schema.LoadTable(context.Background(), db, database, table)
	require.NoError(t, err)
	var exprs []string
	for _, c := range def.Columns {
		q := schema.QuoteIdent(c.Name)
		switch c.DataType {
		case "timestamp":
			exprs = append(exprs, fmt.Sprintf("IFNULL(CONCAT('u', UNIX_TIMESTAMP(%s)), 'null')", q))
		default:
			exprs = append(exprs, fmt.Sprintf("IFNULL(CONCAT('h', HEX(%s)), 'null')", q))
		}
	}
	order := "1"
	if ix, err := def.RowKey(); err == nil {
		order = strings.Join(ix.ColumnNames(), ", ")
	}
	rows, err := db.Query(fmt.Sprintf("SELECT CONCAT_WS('|', %s) FROM %s ORDER BY %s", strings.Join(exprs, ", "), schema.QuoteIdent(table), order))
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

func sortedLines(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, ",\n", "\n"), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func showCreate(t *testing.T, s *sandbox.Server, database, table string) string {
	var name, create string
	require.NoError(t, sandboxtest.Open(t, s, database).QueryRow("SHOW CREATE TABLE "+schema.QuoteIdent(table)).Scan(&name, &create))
	return create
}

func TestCopierEdgeCases(t *testing.T) {
	ctx := context.Background()
	src, _ := newEdgeDB(t)
	tables := []string{"achild", "auto_gen", "bytes_t", "ci_key", "comp", "uniq_only", "zparent"}
	for _, tc := range []struct {
		name     string
		deferred bool
		opts     []migrate.CopierOption
	}{
		{"load-data", true, []migrate.CopierOption{migrate.WithChunkRows(7), migrate.WithSegmentRows(40), migrate.WithThreads(4)}},
		{"insert, whole tables", false, []migrate.CopierOption{migrate.WithWriteMethod(migrate.WriteInsert), migrate.WithDeferredIndexes(false), migrate.WithChunkRows(5), migrate.WithThreads(2)}},
		{"lock-free deferred indexes", true, []migrate.CopierOption{migrate.WithSnapshot(migrate.SnapshotNone), migrate.WithDeferredIndexes(true), migrate.WithChunkRows(3), migrate.WithSegmentRows(25)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := targetName(t, servers[1])
			report, err := newCopier(t, src, servers[1], dst, tc.opts...).Run(ctx, nil)
			require.NoError(t, err)
			assertCopied(t, src, servers[1], dst)
			for _, table := range tables {
				assert.Equal(t, rowsOf(t, servers[0], src, table), rowsOf(t, servers[1], dst, table), "rows of %s", table)
				want, got := showCreate(t, servers[0], src, table), showCreate(t, servers[1], dst, table)
				if tc.deferred {
					// Indexes added later come last: the same lines in another order.
					want, got = sortedLines(want), sortedLines(got)
				}
				assert.Equal(t, want, got, "definition of %s", table)
			}
			var auto int64
			require.NoError(t, sandboxtest.Open(t, servers[1], dst).QueryRow("SELECT COUNT(*) FROM auto_gen WHERE id = 0").Scan(&auto))
			assert.Equal(t, int64(1), auto, "the row with AUTO_INCREMENT id 0 keeps its id")
			var n int64
			for _, tr := range report.Tables {
				n += tr.Chunks
			}
			assert.Greater(t, n, int64(len(tables)), "the small chunk size makes many chunks")
		})
	}
}

func TestCopierRenamesAndSubsets(t *testing.T) {
	ctx := context.Background()
	src, _ := newEdgeDB(t)
	dst := targetName(t, servers[1])
	c := newCopier(t, src, servers[1], dst, migrate.WithTables("zparent", "achild"),
		migrate.WithTableNames(map[string]string{"zparent": "parents", "achild": "children"}), migrate.WithChunkRows(16))
	plan, err := c.Plan(ctx)
	require.NoError(t, err)
	require.Len(t, plan.Tables, 2)
	assert.Equal(t, "parents", plan.Tables[0].TargetName)
	assert.Equal(t, []string{"fk_parent", "fk_parent_name"}, plan.Tables[1].DeferredForeignKeys)
	assert.Contains(t, plan.Tables[1].AfterRows, "REFERENCES `parents` (`id`)")
	_, err = c.Run(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, rowsOf(t, servers[0], src, "achild"), rowsOf(t, servers[1], dst, "children"))
	assert.Equal(t, rowsOf(t, servers[0], src, "zparent"), rowsOf(t, servers[1], dst, "parents"))
	// The foreign key holds on the target: deleting a parent cascades.
	tdb := sandboxtest.Open(t, servers[1], dst)
	sandboxtest.Exec(t, tdb, "DELETE FROM parents WHERE id = 2")
	var n int
	require.NoError(t, tdb.QueryRow("SELECT COUNT(*) FROM children WHERE parent_id = 2").Scan(&n))
	assert.Zero(t, n)
}

func TestCopierKeylessTables(t *testing.T) {
	ctx := context.Background()
	src, _ := newEdgeDB(t, "CREATE TABLE heap (a INT NULL, b TEXT NULL, UNIQUE KEY (a))",
		"INSERT INTO heap VALUES (1, 'x'), (NULL, NULL), (NULL, ''), (2, 'NULL')")
	dst := targetName(t, servers[1])
	_, err := newCopier(t, src, servers[1], dst).Plan(ctx)
	require.ErrorIs(t, err, migrate.ErrNoKey)
	assert.Contains(t, err.Error(), "table `"+src+"`.`heap`")
	_, err = newCopier(t, src, servers[1], dst).Run(ctx, nil)
	require.ErrorIs(t, err, migrate.ErrNoKey)
	assert.Equal(t, "no database", state(t, servers[1], dst))

	_, err = newCopier(t, src, servers[1], dst, migrate.WithKeylessTables(3)).Run(ctx, nil)
	require.ErrorIs(t, err, migrate.ErrNoKey, "4 rows are more than 3")
	assert.Contains(t, err.Error(), "larger than the 3 rows")

	_, err = newCopier(t, src, servers[1], dst, migrate.WithKeylessTables(10), migrate.WithReplace()).Run(ctx, nil)
	require.NoError(t, err)
	// verify needs a key; the keyless table is compared by CHECKSUM TABLE.
	assert.Equal(t, state(t, servers[0], src), state(t, servers[1], dst))
}

func TestCopierBadInput(t *testing.T) {
	ctx := context.Background()
	src, srcDB := newSample(t)
	dst := targetName(t, servers[1])

	t.Run("wrong password", func(t *testing.T) {
		const secret = "Wr0ng-Secret-4712"
		cfg := servers[1].Config("")
		cfg.Passwd = secret
		var logs bytes.Buffer
		c, err := migrate.NewCopier(servers[0].DSN(""), cfg.FormatDSN(), src, migrate.WithTargetDatabase(dst),
			migrate.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		require.NoError(t, err)
		_, err = c.Run(ctx, nil)
		require.ErrorIs(t, err, migrate.ErrConnect)
		assert.Contains(t, err.Error(), "target "+servers[1].Addr())
		assert.NotContains(t, err.Error()+logs.String(), secret)
		assert.Equal(t, "no database", state(t, servers[1], dst))
	})
	t.Run("unknown database and tables", func(t *testing.T) {
		_, err := newCopier(t, "no_such_db", servers[1], dst).Plan(ctx)
		require.ErrorIs(t, err, migrate.ErrNotFound)
		assert.Contains(t, err.Error(), "`no_such_db`")
		_, err = newCopier(t, src, servers[1], dst, migrate.WithTables("orders", "nope")).Run(ctx, nil)
		require.ErrorIs(t, err, migrate.ErrNotFound)
		assert.Contains(t, err.Error(), "`nope`")
		_, err = newCopier(t, src, servers[1], dst, migrate.WithTableNames(map[string]string{"nada": "x"})).Run(ctx, nil)
		require.ErrorIs(t, err, migrate.ErrNotFound)
		assert.Contains(t, err.Error(), "`nada`")
		assert.Equal(t, "no database", state(t, servers[1], dst))
	})
	t.Run("view without its tables", func(t *testing.T) {
		for _, exec := range []migrate.Executor{
			newCopier(t, src, servers[1], dst, migrate.WithTables("order_totals")),
			newPipe(t, src, servers[1], dst, migrate.WithTables("order_totals", "orders")),
		} {
			_, err := exec.Plan(ctx)
			require.ErrorIs(t, err, migrate.ErrViewDependency)
			assert.Contains(t, err.Error(), "order_items")
			_, err = exec.Run(ctx, nil)
			require.ErrorIs(t, err, migrate.ErrViewDependency)
			assert.Equal(t, "no database", state(t, servers[1], dst), "refused in the dry run, before the target database is created")
		}
		_, err := newCopier(t, src, servers[1], dst, migrate.WithTables("order_totals", "orders", "order_items")).Plan(ctx)
		require.NoError(t, err)
	})
	t.Run("non-empty target", func(t *testing.T) {
		busy := sandboxtest.NewDatabase(t, servers[1], "busy")
		sandboxtest.Exec(t, sandboxtest.Open(t, servers[1], busy), "CREATE TABLE orders (id INT PRIMARY KEY, keep_me VARCHAR(10))",
			"INSERT INTO orders VALUES (1, 'precious')", "CREATE TABLE products (id INT PRIMARY KEY)")
		before := state(t, servers[1], busy)
		c := newCopier(t, src, servers[1], busy)
		_, err := c.Plan(ctx)
		require.ErrorIs(t, err, migrate.ErrNotEmpty)
		assert.Contains(t, err.Error(), "orders hold rows")
		assert.NotContains(t, err.Error(), "products")
		_, err = c.Run(ctx, nil)
		require.ErrorIs(t, err, migrate.ErrNotEmpty)
		assert.Equal(t, before, state(t, servers[1], busy))
		_, err = newCopier(t, src, servers[1], busy, migrate.WithReplace()).Run(ctx, nil)
		require.NoError(t, err)
		assert.Equal(t, state(t, servers[0], src), state(t, servers[1], busy))
		// A finished copy is not resumed: a second one needs WithReplace.
		_, err = newCopier(t, src, servers[1], busy).Run(ctx, nil)
		require.ErrorIs(t, err, migrate.ErrNotEmpty)
	})
	t.Run("missing privileges", func(t *testing.T) {
		user := "ro_c_" + strings.TrimPrefix(src, "shop_")
		sandboxtest.Exec(t, srcDB, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'Ro-pass-1'", user),
			fmt.Sprintf("GRANT SELECT ON `%s`.* TO '%s'@'%%'", src, user))
		t.Cleanup(func() { _, _ = srcDB.Exec(fmt.Sprintf("DROP USER '%s'@'%%'", user)) })
		cfg := servers[0].Config("")
		cfg.User, cfg.Passwd = user, "Ro-pass-1"
		c, err := migrate.NewCopier(cfg.FormatDSN(), servers[1].DSN(""), src, migrate.WithTargetDatabase(dst))
		require.NoError(t, err)
		_, err = c.Run(ctx, nil)
		require.ErrorIs(t, err, migrate.ErrPrivilege)
		for _, want := range []string{user, "RELOAD", "BINLOG MONITOR", "SHOW VIEW"} {
			assert.Contains(t, err.Error(), want)
		}
		assert.Equal(t, "no database", state(t, servers[1], dst))
	})
	t.Run("invalid options", func(t *testing.T) {
		for name, opt := range map[string]migrate.CopierOption{
			"WithThreads: 0":   migrate.WithThreads(0),
			"WithMemoryBudget": migrate.WithMemoryBudget(1 << 20),
			"WithRateLimit":    migrate.WithRateLimit(0, 0),
			"nil throttler":    migrate.WithThrottler(nil),
			"both renamed to":  migrate.WithTableNames(map[string]string{"a": "same", "b": "Same"}),
			"nil option":       nil,
		} {
			_, err := migrate.NewCopier(servers[0].DSN(""), servers[1].DSN(""), src, opt)
			require.Error(t, err, name)
			assert.Contains(t, err.Error(), name)
		}
		_, err := migrate.NewCopier(servers[0].DSN(""), servers[1].DSN(""), src, migrate.WithThreads(65))
		var oe *migrate.OptionError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "WithThreads", oe.Option)
		_, err = migrate.NewCopier(servers[0].DSN(""), servers[0].DSN(""), src)
		require.ErrorIs(t, err, migrate.ErrSameDatabase)
	})
}

// TestCopierThrottleAndProgress checks that the throttler is consulted
// before every chunk with the copy's context, that its error stops the
// copy and is returned, and that progress covers every table.
func TestCopierThrottleAndProgress(t *testing.T) {
	ctx := context.Background()
	src, _ := newSample(t)
	dst := targetName(t, servers[1])
	var calls atomic.Int64
	throttle := migrate.ThrottlerFunc(func(ctx context.Context, table string) error {
		calls.Add(1)
		return ctx.Err()
	})
	var last migrate.Progress
	report, err := newCopier(t, src, servers[1], dst, migrate.WithThrottler(throttle), migrate.WithChunkRows(100),
		migrate.WithRateLimit(0, 50<<20)).Run(ctx, func(p migrate.Progress) { last = p })
	require.NoError(t, err)
	var chunks int64
	for _, tr := range report.Tables {
		chunks += tr.Chunks
	}
	assert.Equal(t, chunks, calls.Load(), "one throttle call per chunk")
	require.Len(t, last.Tables, 5)
	for _, tp := range last.Tables {
		assert.True(t, tp.Done, tp.Name)
		assert.Equal(t, tp.Rows, tp.RowsEstimate, tp.Name)
	}
	assert.Equal(t, report.Rows, last.Rows)
	assert.Positive(t, last.RowsPerSecond)

	stop := errors.New("replica lag too high")
	dst2 := targetName(t, servers[1])
	_, err = newCopier(t, src, servers[1], dst2, migrate.WithThrottler(migrate.ThrottlerFunc(func(context.Context, string) error { return stop }))).Run(ctx, nil)
	require.ErrorIs(t, err, stop)
	var inc *migrate.IncompleteError
	require.ErrorAs(t, err, &inc)
	assert.Contains(t, err.Error(), "run the same copy again")
}

// TestCopierWithoutTargetBinlog checks that nothing the copy writes reaches
// the target's binary log.
func TestCopierWithoutTargetBinlog(t *testing.T) {
	src, _ := newSample(t)
	dst := targetName(t, servers[1])
	tdb := sandboxtest.Open(t, servers[1], "")
	c := newCopier(t, src, servers[1], dst, migrate.WithoutTargetBinlog(), migrate.WithChunkRows(100))
	var before, after string
	require.NoError(t, tdb.QueryRow("SELECT @@gtid_binlog_pos").Scan(&before))
	_, err := c.Run(context.Background(), nil)
	require.NoError(t, err)
	require.NoError(t, tdb.QueryRow("SELECT @@gtid_binlog_pos").Scan(&after))
	assert.Equal(t, before, after, "the copy wrote to the target's binlog")
	assertCopied(t, src, servers[1], dst)
}
