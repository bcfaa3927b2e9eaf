package fence

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// TestUnderLoad: while writers of the application account insert without
// pause, no row lands between Stop's return and Release, whatever the
// method; writes go on after Release.
func TestUnderLoad(t *testing.T) {
	for _, c := range []struct {
		name   string
		method Method
		grant  string // the account's write grant, %s the database
		kill   bool
	}{
		{name: "accounts-table", method: Accounts, grant: "GRANT SELECT, INSERT ON `%s`.t TO ACCT"},
		{name: "accounts-database-kill", method: Accounts, grant: "GRANT SELECT, INSERT ON `%s`.* TO ACCT", kill: true},
		{name: "lock-tables", method: LockTables, grant: "GRANT SELECT, INSERT ON `%s`.t TO ACCT"},
		{name: "flush-tables", method: FlushTables, grant: "GRANT SELECT, INSERT ON `%s`.t TO ACCT"},
		{name: "read-only", method: ReadOnly, grant: "GRANT SELECT, INSERT ON `%s`.t TO ACCT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			if c.method == ReadOnly {
				restoreReadOnlyAtEnd(t)
			}
			d := sandboxtest.NewDatabase(t, servers[0], "fence")
			root := sandboxtest.Open(t, servers[0], d)
			sandboxtest.Exec(t, root, "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, w INT)")
			a := newAccount(t, strings.ReplaceAll(c.grant, "%s", d))
			app := connect(t, a, d)
			app.SetMaxOpenConns(4)

			wctx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			var attempts atomic.Int64
			for w := range 4 {
				wg.Go(func() {
					for wctx.Err() == nil {
						attempts.Add(1)
						_, _ = app.ExecContext(wctx, "INSERT INTO t (w) VALUES (?)", w)
					}
				})
			}
			defer func() {
				stop()
				wg.Wait()
			}()
			count := func(q interface {
				QueryRowContext(context.Context, string, ...any) *sql.Row
			}) int {
				t.Helper()
				var n int
				if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+Table{d, "t"}.String()).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			eventually := func(what string, cond func() bool) {
				t.Helper()
				for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("%s: not within a minute", what)
					}
				}
			}
			eventually("writes before the fence", func() bool { return count(root) > 10 })

			opts := []Option{WithJournal(newJournal(t)), WithDrainTimeout(2 * time.Second)}
			var tables []Table
			if c.method != ReadOnly {
				tables = []Table{{d, "t"}}
			}
			if c.method == Accounts || c.method == ReadOnly {
				opts = append(opts, WithAccounts(a))
			}
			if c.kill {
				opts = append(opts, WithKill())
			}
			f, err := New(sandboxtest.Open(t, servers[0], ""), c.method, tables, opts...)
			if err != nil {
				t.Fatal(err)
			}
			fe, err := f.Stop(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var reader interface {
				QueryRowContext(context.Context, string, ...any) *sql.Row
			} = root
			if c.method == LockTables {
				reader = fe.Conn()
			}
			fenced := count(reader)
			if c.method != LockTables && c.method != FlushTables {
				// Writers keep trying (and failing) while fenced.
				n := attempts.Load()
				eventually("attempts while fenced", func() bool { return attempts.Load() > n+20 })
			} else {
				time.Sleep(200 * time.Millisecond) // writers queue behind the lock
			}
			if n := count(reader); n != fenced {
				t.Fatalf("%d rows written while fenced", n-fenced)
			}
			if err := fe.Release(ctx); err != nil {
				t.Fatal(err)
			}
			eventually("writes after Release", func() bool { return count(root) > fenced+10 })
		})
	}
}
