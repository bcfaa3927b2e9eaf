package migrate_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/migrate/migratetest"
)

// sampleScale keeps the sample database small: 300 orders, 1,000 products,
// 900 order items.
const sampleScale = 300

// newSample creates a filled sample database on the source server.
func newSample(t testing.TB) (name string, db *sql.DB) {
	t.Helper()
	name = sandboxtest.NewDatabase(t, servers[0], "shop")
	db = sandboxtest.Open(t, servers[0], "")
	require.NoError(t, sampledata.Create(context.Background(), db, name, sampleScale))
	return name, db
}

// targetName reserves a database name on server s that does not exist yet
// and is dropped when the test ends.
func targetName(t testing.TB, s *sandbox.Server) string {
	t.Helper()
	name := sandboxtest.NewDatabase(t, s, "copy")
	sandboxtest.Exec(t, sandboxtest.Open(t, s, ""), "DROP DATABASE `"+name+"`")
	return name
}

func newPipe(t testing.TB, source string, target *sandbox.Server, targetDB string, opts ...migrate.PipeOption) *migrate.Pipe {
	t.Helper()
	opts = append([]migrate.PipeOption{migrate.WithTargetDatabase(targetDB), migrate.WithTempDir(t.TempDir())}, opts...)
	p, err := migrate.NewPipe(servers[0].DSN(""), target.DSN(""), source, opts...)
	require.NoError(t, err)
	return p
}

func state(t testing.TB, s *sandbox.Server, database string) string {
	return migratetest.DatabaseState(t, sandboxtest.Open(t, s, ""), database)
}

func TestPipeConformance(t *testing.T) {
	migratetest.Run(t, migratetest.Features{Tables: true}, func(t testing.TB) migratetest.Subject {
		src, _ := newSample(t)
		dst := targetName(t, servers[1])
		return migratetest.Subject{
			Executor: newPipe(t, src, servers[1], dst, migrate.WithProgressInterval(time.Millisecond)),
			State:    func(t testing.TB) string { return state(t, servers[1], dst) },
		}
	})
}

func TestPipeCopiesWholeDatabase(t *testing.T) {
	ctx := context.Background()
	src, srcDB := newSample(t)
	dst := targetName(t, servers[1])
	var wantGTID string
	require.NoError(t, srcDB.QueryRow("SELECT @@gtid_binlog_pos").Scan(&wantGTID))

	report, err := newPipe(t, src, servers[1], dst).Run(ctx, nil)
	require.NoError(t, err)

	assertCopied(t, src, servers[1], dst)
	want := state(t, servers[0], src)
	for _, kind := range []string{"view order_totals", "procedure cancel_order", "function order_count", "trigger orders_audit on orders", "event purge_audit_log"} {
		assert.Contains(t, want, kind+"\n", "the sample lacks %s, so the test proves nothing about it", kind)
	}

	customers, products, orders, items := sampledata.Size(sampleScale)
	wantRows := map[string]int64{"customers": int64(customers), "products": int64(products), "orders": int64(orders), "order_items": int64(items), "audit_log": 0}
	for _, tr := range report.Tables {
		assert.Equal(t, wantRows[tr.Name], tr.Rows, "rows of %s", tr.Name)
		assert.True(t, tr.Done, "table %s not done", tr.Name)
	}
	assert.Len(t, report.Tables, len(wantRows))
	assert.Equal(t, int64(customers+products+orders+items), report.Rows)
	assert.Len(t, report.Objects, 5)

	// The position is the source's at the time of the dump: nothing wrote since.
	assert.Equal(t, wantGTID, report.Position.GTID)
	var file string
	var pos uint64
	require.NoError(t, srcDB.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, new(any), new(any)))
	assert.Equal(t, file, report.Position.File)
	assert.Equal(t, pos, report.Position.Pos)

	// The copy keeps exact bytes and characters, not just checksums.
	srcRow, dstRow := sampleRow(t, servers[0], src), sampleRow(t, servers[1], dst)
	assert.Equal(t, srcRow, dstRow)
	assert.Contains(t, srcRow, "\x00\xff\n\t")
	assert.Contains(t, srcRow, "😀")
}

// sampleRow returns a product row with binary bytes and 4-byte characters.
func sampleRow(t *testing.T, s *sandbox.Server, database string) string {
	var title, image, attrs, created string
	db := sandboxtest.Open(t, s, database)
	require.NoError(t, db.QueryRow("SELECT p.title, p.image, p.attrs, c.created_at FROM products p, customers c WHERE p.id = 143 AND c.id = 7").
		Scan(&title, &image, &attrs, &created))
	return strings.Join([]string{title, image, attrs, created}, "|")
}

func TestPipeCopiesTableSubsetToSameServer(t *testing.T) {
	src, _ := newSample(t)
	dst := targetName(t, servers[0])
	p, err := migrate.NewPipe(servers[0].DSN(""), servers[0].DSN(""), src,
		migrate.WithTables("orders", "customers"), migrate.WithTargetDatabase(dst))
	require.NoError(t, err)

	plan, err := p.Plan(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"orders", "customers"}, []string{plan.Tables[0].Name, plan.Tables[1].Name})
	assert.Equal(t, []migrate.Object{{Kind: migrate.KindTrigger, Name: "orders_audit"}}, plan.Objects)

	report, err := p.Run(context.Background(), nil)
	require.NoError(t, err)
	assert.Len(t, report.Tables, 2)
	got := state(t, servers[0], dst)
	assert.Equal(t, "base table customers"+tableSums(t, src, "customers")+"\n"+
		"base table orders"+tableSums(t, src, "orders")+"\n"+
		"trigger orders_audit on orders\n", got)
}

func tableSums(t *testing.T, database, table string) string {
	st := state(t, servers[0], database)
	for _, line := range strings.Split(st, "\n") {
		if rest, ok := strings.CutPrefix(line, "base table "+table+" "); ok {
			return " " + rest
		}
	}
	t.Fatalf("table %s not in %s", table, st)
	return ""
}

func TestPipeRefusesNonEmptyTarget(t *testing.T) {
	ctx := context.Background()
	src, _ := newSample(t)
	dst := sandboxtest.NewDatabase(t, servers[1], "busy")
	dstDB := sandboxtest.Open(t, servers[1], dst)
	sandboxtest.Exec(t, dstDB, "CREATE TABLE orders (id INT PRIMARY KEY, keep_me VARCHAR(10))", "INSERT INTO orders VALUES (1, 'precious')",
		"CREATE TABLE products (id INT PRIMARY KEY)")
	before := state(t, servers[1], dst)

	p := newPipe(t, src, servers[1], dst)
	plan, err := p.Plan(ctx)
	require.ErrorIs(t, err, migrate.ErrNotEmpty)
	assert.Contains(t, err.Error(), "orders hold rows")
	assert.NotContains(t, err.Error(), "products", "an empty target table is not a problem")
	require.NotNil(t, plan)

	_, err = p.Run(ctx, nil)
	require.ErrorIs(t, err, migrate.ErrNotEmpty)
	assert.Equal(t, before, state(t, servers[1], dst), "a refused run changed the target")

	_, err = newPipe(t, src, servers[1], dst, migrate.WithReplace()).Run(ctx, nil)
	require.NoError(t, err)
	assertCopied(t, src, servers[1], dst)
}

func TestPipeBadInput(t *testing.T) {
	ctx := context.Background()
	src, _ := newSample(t)
	dst := targetName(t, servers[1])

	t.Run("wrong password", func(t *testing.T) {
		const secret = "Wr0ng-Secret-4711"
		cfg := servers[0].Config("")
		cfg.Passwd = secret
		var logs bytes.Buffer
		p, err := migrate.NewPipe(cfg.FormatDSN(), servers[1].DSN(""), src, migrate.WithTargetDatabase(dst),
			migrate.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		require.NoError(t, err)
		_, err = p.Run(ctx, nil)
		require.ErrorIs(t, err, migrate.ErrConnect)
		assert.Contains(t, err.Error(), "source "+servers[0].Addr())
		assert.Contains(t, err.Error(), "Access denied")
		assert.NotContains(t, err.Error(), secret)
		assert.NotContains(t, logs.String(), secret)
		assert.Equal(t, "no database", state(t, servers[1], dst))
	})
	t.Run("unknown database", func(t *testing.T) {
		_, err := newPipe(t, "no_such_db", servers[1], dst).Plan(ctx)
		require.ErrorIs(t, err, migrate.ErrNotFound)
		assert.Contains(t, err.Error(), "`no_such_db`")
	})
	t.Run("unknown tables", func(t *testing.T) {
		_, err := newPipe(t, src, servers[1], dst, migrate.WithTables("orders", "nope", "nada")).Run(ctx, nil)
		require.ErrorIs(t, err, migrate.ErrNotFound)
		assert.Contains(t, err.Error(), "`nope`")
		assert.Contains(t, err.Error(), "`nada`")
		assert.Equal(t, "no database", state(t, servers[1], dst))
	})
	t.Run("missing client program", func(t *testing.T) {
		_, err := newPipe(t, src, servers[1], dst, migrate.WithClientPrograms("/nonexistent/mariadb-dump", "")).Run(ctx, nil)
		require.ErrorIs(t, err, migrate.ErrNoClient)
		assert.Contains(t, err.Error(), "/nonexistent/mariadb-dump")
		assert.Equal(t, "no database", state(t, servers[1], dst))
	})
	t.Run("invalid options", func(t *testing.T) {
		for name, opt := range map[string]migrate.PipeOption{
			"WithTables: no table":          migrate.WithTables(),
			"WithTables: table \"a\" named": migrate.WithTables("a", "a"),
			"WithTargetDatabase":            migrate.WithTargetDatabase(""),
			"unknown object kind \"index\"": migrate.WithoutObjects("index"),
			"WithCharset":                   migrate.WithCharset("utf8mb4; DROP"),
			"nil logger":                    migrate.WithLogger(nil),
			"nil option":                    nil,
		} {
			_, err := migrate.NewPipe(servers[0].DSN(""), servers[1].DSN(""), src, opt)
			require.Error(t, err, name)
			assert.Contains(t, err.Error(), name)
		}
		_, err := migrate.NewPipe("root:pw@tcp(127.0.0.1:1", servers[1].DSN(""), src)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "source DSN")
		assert.NotContains(t, err.Error(), "pw")
		_, err = migrate.NewPipe(servers[0].DSN(""), servers[0].DSN(""), src)
		require.ErrorContains(t, err, "same database")
	})
}

func TestPipeChecksPrivileges(t *testing.T) {
	ctx := context.Background()
	src, srcDB := newSample(t)
	dst := targetName(t, servers[1])
	user := "ro_" + strings.TrimPrefix(src, "shop_")
	sandboxtest.Exec(t, srcDB, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'Ro-pass-1'", user),
		fmt.Sprintf("GRANT SELECT ON `%s`.* TO '%s'@'%%'", src, user))
	t.Cleanup(func() { _, _ = srcDB.Exec(fmt.Sprintf("DROP USER '%s'@'%%'", user)) })
	cfg := servers[0].Config("")
	cfg.User, cfg.Passwd = user, "Ro-pass-1"

	p, err := migrate.NewPipe(cfg.FormatDSN(), servers[1].DSN(""), src, migrate.WithTargetDatabase(dst))
	require.NoError(t, err)
	_, err = p.Plan(ctx)
	require.ErrorIs(t, err, migrate.ErrPrivilege)
	assert.Contains(t, err.Error(), user)
	assert.Contains(t, err.Error(), "SHOW VIEW")
	assert.Contains(t, err.Error(), "TRIGGER")
	assert.Contains(t, err.Error(), "BINLOG MONITOR")
}

func TestPipeTargetFailureNamesTableAndLine(t *testing.T) {
	ctx := context.Background()
	src, srcDB := newSample(t)
	dst := targetName(t, servers[1])
	// A row bigger than the target's max_allowed_packet (16 MiB) fails on
	// the target only.
	sandboxtest.Exec(t, srcDB, "SET GLOBAL max_allowed_packet = 64 * 1024 * 1024")
	db := sandboxtest.Open(t, servers[0], src)
	sandboxtest.Exec(t, db, "CREATE TABLE zz_big (id INT PRIMARY KEY, b LONGBLOB)",
		"INSERT INTO zz_big VALUES (1, REPEAT('x', 17 * 1024 * 1024))")

	report, err := newPipe(t, src, servers[1], dst).Run(ctx, nil)
	var pe *migrate.ProcessError
	require.ErrorAs(t, err, &pe, "got %v", err)
	assert.Equal(t, migrate.Target, pe.Side)
	assert.Equal(t, servers[1].Addr(), pe.Endpoint)
	assert.Equal(t, "zz_big", pe.Table)
	assert.Positive(t, pe.Line)
	assert.Contains(t, pe.Stderr, "ERROR")
	var ie *migrate.IncompleteError
	require.ErrorAs(t, err, &ie)
	requirePrefixOnce(t, err)
	assert.Equal(t, "zz_big", ie.Partial)
	assert.Contains(t, ie.Done, "orders")
	require.NotNil(t, report)
}

func TestPipeSourceFailureNamesTable(t *testing.T) {
	ctx := context.Background()
	src, srcDB := newSample(t)
	dst := targetName(t, servers[1])
	// Big enough (40 MB) that the dump blocks on the pipe while its SELECT
	// runs: at 4 MB, loopback socket buffers took the whole result and the
	// query was gone before the test could kill it.
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], src),
		"CREATE TABLE zz_wide (id INT PRIMARY KEY, pad CHAR(200) NOT NULL)",
		"INSERT INTO zz_wide SELECT seq, REPEAT('p', 200) FROM seq_1_to_200000")
	killed := false
	_, err := newPipe(t, src, servers[1], dst).Run(ctx, func(p migrate.Progress) {
		if killed || p.Table != "zz_wide" {
			return
		}
		// Kill the dump's connection on the source while it reads the rows.
		// No require here: failing the test from inside Run would leave the
		// clients running.
		deadline := time.Now().Add(10 * time.Second)
		var id int64
		for srcDB.QueryRow(`SELECT ID FROM information_schema.PROCESSLIST
			WHERE DB = ? AND ID <> CONNECTION_ID() AND INFO LIKE '%SQL_NO_CACHE%zz_wide%'`, src).Scan(&id) != nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := srcDB.Exec(fmt.Sprintf("KILL %d", id)); err != nil {
			t.Errorf("kill the dump's connection %d: %v", id, err)
		}
		killed = true
	})
	require.True(t, killed)
	var pe *migrate.ProcessError
	require.ErrorAs(t, err, &pe, "got %v", err)
	assert.Equal(t, migrate.Source, pe.Side)
	assert.Equal(t, servers[0].Addr(), pe.Endpoint)
	assert.Equal(t, "zz_wide", pe.Table)
	assert.Contains(t, pe.Stderr, "Lost connection", "error: %v", err)
	var ie *migrate.IncompleteError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, "zz_wide", ie.Partial)
	assert.Len(t, ie.Done, 5, "the five sample tables come before zz_wide")
}

func TestPipeCancelLeavesNoProcessOrCredentials(t *testing.T) {
	src, _ := newSample(t)
	dst := targetName(t, servers[1])
	tmp := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := migrate.NewPipe(servers[0].DSN(""), servers[1].DSN(""), src, migrate.WithTargetDatabase(dst), migrate.WithTempDir(tmp))
	require.NoError(t, err)
	var clients []string
	_, err = p.Run(ctx, func(migrate.Progress) {
		if clients == nil {
			clients = append(processesMentioning(t, "-- "+src), processesMentioning(t, "--database="+dst)...)
			cancel()
		}
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "did not finish")
	assert.Contains(t, err.Error(), "target state")
	assert.Len(t, clients, 2, "want the dump and the load running while the copy runs")
	assert.Empty(t, append(processesMentioning(t, "-- "+src), processesMentioning(t, "--database="+dst)...), "client processes outlived the canceled run")
	entries, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, entries, "option files with credentials were left behind")
}

// processesMentioning lists the command lines of processes whose arguments
// mention arg, and checks that none of them shows a password.
func processesMentioning(t *testing.T, arg string) []string {
	paths, err := filepath.Glob("/proc/[0-9]*/cmdline")
	require.NoError(t, err)
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		line := string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		if err != nil || !strings.Contains(line, arg) {
			continue
		}
		assert.NotContains(t, line, servers[0].Password())
		assert.NotContains(t, line, servers[1].Password())
		out = append(out, line)
	}
	return out
}

func TestPipeReportsErrorsAsValues(t *testing.T) {
	err := &migrate.IncompleteError{Op: "pipe a to h:1/b", Done: []string{"x"}, Partial: "y", Err: errors.New("boom")}
	assert.Equal(t, "migrate: pipe a to h:1/b did not finish: boom; target state: 1 table(s) sent completely (x), table y partially written", err.Error())
}

// dropOnStart is a slog handler that drops a source table when the pipe
// logs that it starts streaming: a table that vanishes between the dry
// run and the dump.
type dropOnStart struct {
	slog.Handler
	db    *sql.DB
	table string
}

func (dropOnStart) Enabled(context.Context, slog.Level) bool { return true }

func (h dropOnStart) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "pipe started" {
		if _, err := h.db.ExecContext(ctx, "DROP TABLE "+h.table); err != nil {
			return err
		}
	}
	return nil
}

// TestPipeMissingTableIsNotSuccess drops a source table after the dry run
// and before the dump: the copy of it never happens, and Run must say so
// instead of succeeding.
func TestPipeMissingTableIsNotSuccess(t *testing.T) {
	src, srcDB := newSample(t)
	dst := targetName(t, servers[1])
	logger := slog.New(dropOnStart{Handler: slog.DiscardHandler, db: srcDB, table: "`" + src + "`.audit_log"})
	report, err := newPipe(t, src, servers[1], dst, migrate.WithLogger(logger)).Run(context.Background(), nil)
	var inc *migrate.IncompleteError
	require.ErrorAs(t, err, &inc)
	assert.Contains(t, err.Error(), "audit_log")
	require.NotNil(t, report)
	for _, tr := range report.Tables {
		assert.Equal(t, tr.Name != "audit_log", tr.Done, tr.Name)
	}
}
