package fence

import (
	"errors"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// TestBadInput: what Stop cannot do is refused before anything changes:
// the account's grants are as they were and the journal holds nothing.
func TestBadInput(t *testing.T) {
	ctx := t.Context()
	d := sandboxtest.NewDatabase(t, servers[0], "fence")
	root := sandboxtest.Open(t, servers[0], d)
	sandboxtest.Exec(t, root, "CREATE TABLE t (id INT PRIMARY KEY, c INT)", "CREATE VIEW v AS SELECT id FROM t")
	other := d + "x" // matched by the pattern d%
	sandboxtest.Exec(t, root, "CREATE DATABASE `"+other+"`")
	t.Cleanup(func() { execAtEnd("DROP DATABASE `" + other + "`") })
	role := "role_" + d
	sandboxtest.Exec(t, root, "CREATE ROLE `"+role+"`", "GRANT DELETE ON `"+d+"`.t TO `"+role+"`")
	t.Cleanup(func() { execAtEnd("DROP ROLE `" + role + "`") })

	app := newAccount(t, "GRANT SELECT, INSERT ON `"+d+"`.t TO ACCT")
	// Fencers lacking something: the grant option, and the right to read
	// other accounts' grants.
	noGrant := newAccount(t, "GRANT SELECT, PROCESS ON *.* TO ACCT", "GRANT INSERT ON `"+d+"`.* TO ACCT")
	blind := newAccount(t, "GRANT PROCESS ON *.* TO ACCT", "GRANT SELECT, INSERT ON `"+d+"`.* TO ACCT WITH GRANT OPTION")
	admin := sandboxtest.Open(t, servers[0], "")
	tbl := []Table{{d, "t"}}
	for _, c := range []struct {
		name    string
		fencer  Account // zero: the server's admin account
		account Account
		grants  []string // to the account, before
		tables  []Table
		want    error
	}{
		{name: "unknown account", account: Account{User: "nobody_" + d, Host: "%"}, tables: tbl, want: ErrNotFound},
		{name: "unknown table", account: app, tables: []Table{{d, "nosuch"}}, want: ErrNotFound},
		{name: "view", account: app, tables: []Table{{d, "v"}}, want: ErrNotFound},
		{name: "unknown database", account: app, tables: []Table{{d + "_nosuch", "t"}}, want: ErrNotFound},
		{name: "no grant option", fencer: noGrant, account: app, tables: tbl, want: ErrPrivilege},
		{name: "grants not visible", fencer: blind, account: app, tables: tbl, want: ErrPrivilege},
		{name: "global", account: app, grants: []string{"GRANT UPDATE ON *.* TO ACCT"}, tables: tbl, want: ErrBroadGrant},
		{name: "pattern", account: app, grants: []string{"GRANT UPDATE ON `" + d + "%`.* TO ACCT"}, tables: tbl, want: ErrBroadGrant},
		{name: "role", account: app, grants: []string{"GRANT `" + role + "` TO ACCT"}, tables: tbl, want: ErrBroadGrant},
		{name: "column", account: app, grants: []string{"GRANT UPDATE (c) ON `" + d + "`.t TO ACCT"}, tables: tbl, want: ErrBroadGrant},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := c.account
			if a == app {
				a = newAccount(t, append([]string{"GRANT SELECT, INSERT ON `" + d + "`.t TO ACCT"}, c.grants...)...)
			}
			db := admin
			if c.fencer.User != "" {
				db = connect(t, c.fencer, "")
			}
			j := newJournal(t)
			f, err := New(db, Accounts, c.tables, WithAccounts(a), WithJournal(j), WithDrainTimeout(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			var before []string
			if c.want != ErrNotFound || c.name != "unknown account" {
				before = grantsOf(t, a)
			}
			_, err = f.Stop(ctx)
			if !errors.Is(err, c.want) {
				t.Fatalf("Stop: %v, want %v", err, c.want)
			}
			if before != nil {
				sameGrants(t, a, before)
			}
			if open := openFences(t, j); len(open) != 0 {
				t.Fatalf("journal: %+v", open)
			}
		})
	}
}

// TestNew: options that contradict the method are refused.
func TestNew(t *testing.T) {
	db := sandboxtest.Open(t, servers[0], "")
	j := Journal{Store: newJournal(t).Store, DB: db}
	tbl := []Table{{"d", "t"}}
	a := Account{User: "app", Host: "%"}
	for name, c := range map[string]struct {
		m    Method
		t    []Table
		opts []Option
	}{
		"accounts without accounts":  {Accounts, tbl, []Option{WithJournal(j)}},
		"accounts without journal":   {Accounts, tbl, []Option{WithAccounts(a)}},
		"read-only without journal":  {ReadOnly, nil, nil},
		"lock with accounts":         {LockTables, tbl, []Option{WithAccounts(a)}},
		"lock with kill":             {FlushTables, tbl, []Option{WithKill()}},
		"read-only with kill":        {ReadOnly, nil, []Option{WithJournal(j), WithKill()}},
		"no tables":                  {LockTables, nil, nil},
		"empty table name":           {LockTables, []Table{{"d", ""}}, nil},
		"unknown method":             {Method(9), tbl, nil},
		"negative drain":             {LockTables, tbl, []Option{WithDrainTimeout(-time.Second)}},
		"nil logger":                 {LockTables, tbl, []Option{WithLogger(nil)}},
		"account without a user":     {Accounts, tbl, []Option{WithJournal(j), WithAccounts(Account{Host: "%"})}},
		"journal without a database": {LockTables, tbl, []Option{WithJournal(Journal{Store: j.Store})}},
	} {
		if _, err := New(db, c.m, c.t, c.opts...); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := New(db, ReadOnly, nil, WithJournal(j)); err != nil {
		t.Errorf("read-only: %v", err)
	}
}

func TestLikeMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"shop", "shop", true},
		{"shop", "shops", false},
		{"shop%", "shops", true},
		{"shop%", "sho", false},
		{"sh_p", "ship", true},
		{`sh\_p`, "ship", false},
		{`sh\_p`, "sh_p", true},
		{"%", "", true},
		{"a%b%", "axxbyy", true},
		{"a%b", "axxbyy", false},
	} {
		if got := likeMatch(c.pattern, c.name); got != c.want {
			t.Errorf("likeMatch(%q, %q) = %v", c.pattern, c.name, got)
		}
	}
}
