package fence

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/schema"
)

// writePrivileges are the privileges that let an account change a table's
// rows or definition (see the package comment for why CREATE is not one).
var writePrivileges = []string{"INSERT", "UPDATE", "DELETE", "DELETE HISTORY", "DROP", "ALTER", "INDEX", "TRIGGER"}

// privs is one grantee's privileges by level: privilege -> grantable.
type privs struct {
	global  map[string]bool
	schemas map[string]map[string]bool // by database pattern, as granted
	tables  map[Table]map[string]bool
	columns map[Table]map[string]bool // privileges on some columns
}

func newPrivs() *privs {
	return &privs{global: map[string]bool{}, schemas: map[string]map[string]bool{}, tables: map[Table]map[string]bool{}, columns: map[Table]map[string]bool{}}
}

// grants is what Stop reads of the privileges: the fencer's own, and the
// accounts' with the roles and PUBLIC they get privileges through.
type grants struct {
	selfName string
	self     *privs
	accounts map[Account]*privs
	// lines are the accounts' SHOW GRANTS lines but the global one (which
	// carries the password hash and which no fence changes).
	lines map[Account][]string
	// via are the grantees other than the account itself whose privileges
	// it gets: its roles (transitively) and PUBLIC.
	via map[Account][]string
	all map[string]*privs // by GRANTEE
}

// loadGrants reads the fencer's privileges and the accounts'.
func loadGrants(ctx context.Context, db *sql.DB, accounts []Account) (*grants, error) {
	g := &grants{accounts: map[Account]*privs{}, lines: map[Account][]string{}, via: map[Account][]string{}, all: map[string]*privs{}}
	var user, host string
	if err := db.QueryRowContext(ctx, "SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1), SUBSTRING_INDEX(CURRENT_USER(), '@', -1)").Scan(&user, &host); err != nil {
		return nil, fmt.Errorf("current user: %w", err)
	}
	self := Account{User: user, Host: host}
	g.selfName = self.String()
	grantees := []string{self.grantee(), "'PUBLIC'@''"}
	for _, a := range accounts {
		lines, err := showGrants(ctx, db, a)
		if err != nil {
			return nil, err
		}
		g.lines[a] = lines
		roles, err := roleClosure(ctx, db, a)
		if err != nil {
			return nil, err
		}
		g.via[a] = append(roles, "'PUBLIC'@''")
		grantees = append(grantees, a.grantee())
		grantees = append(grantees, roles...)
	}
	slices.Sort(grantees)
	grantees = slices.Compact(grantees)
	in := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(grantees)), ", ") + ")"
	args := make([]any, 0, 4*len(grantees))
	for range 4 {
		for _, x := range grantees {
			args = append(args, x)
		}
	}
	rows, err := db.QueryContext(ctx, `
		SELECT GRANTEE, 'g', '', '', PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE IN `+in+`
		UNION ALL SELECT GRANTEE, 's', TABLE_SCHEMA, '', PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE IN `+in+`
		UNION ALL SELECT GRANTEE, 't', TABLE_SCHEMA, TABLE_NAME, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE IN `+in+`
		UNION ALL SELECT GRANTEE, 'c', TABLE_SCHEMA, TABLE_NAME, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.COLUMN_PRIVILEGES WHERE GRANTEE IN `+in, args...)
	if err != nil {
		return nil, fmt.Errorf("read privileges: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var grantee, level, database, table, priv, grantable string
		if err := rows.Scan(&grantee, &level, &database, &table, &priv, &grantable); err != nil {
			return nil, fmt.Errorf("read privileges: %w", err)
		}
		p := g.all[grantee]
		if p == nil {
			p = newPrivs()
			g.all[grantee] = p
		}
		priv = strings.ToUpper(priv)
		yes := grantable == "YES"
		switch level {
		case "g":
			p.global[priv] = yes
		case "s":
			set(p.schemas, database, priv, yes)
		case "t":
			set(p.tables, Table{database, table}, priv, yes)
		case "c":
			set(p.columns, Table{database, table}, priv, yes)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read privileges: %w", err)
	}
	g.self = g.all[self.grantee()]
	if g.self == nil {
		g.self = newPrivs()
	}
	for _, a := range accounts {
		p := g.all[a.grantee()]
		if p == nil {
			// Every account has a global row (USAGE at least): this one
			// is hidden from the fencer.
			return nil, fmt.Errorf("account %s: its privileges are not visible to %s (SELECT on mysql): %w", a, g.selfName, ErrPrivilege)
		}
		g.accounts[a] = p
	}
	return g, nil
}

func set[K comparable](m map[K]map[string]bool, k K, priv string, grantable bool) {
	if m[k] == nil {
		m[k] = map[string]bool{}
	}
	m[k][priv] = grantable
}

// showGrants returns a's SHOW GRANTS lines but the global one, sorted.
func showGrants(ctx context.Context, db *sql.DB, a Account) ([]string, error) {
	lines, err := queryStrings(ctx, db, "SHOW GRANTS FOR "+a.String())
	var me *mysql.MySQLError
	switch {
	case errors.As(err, &me) && me.Number == 1141:
		return nil, fmt.Errorf("account %s: %w", a, ErrNotFound)
	case errors.As(err, &me) && (me.Number == 1044 || me.Number == 1142):
		return nil, fmt.Errorf("account %s: SHOW GRANTS: %w: %w", a, ErrPrivilege, err)
	case err != nil:
		return nil, fmt.Errorf("account %s: SHOW GRANTS: %w", a, err)
	}
	lines = slices.DeleteFunc(lines, func(l string) bool { return strings.Contains(l, " ON *.* TO ") })
	slices.Sort(lines)
	return lines, nil
}

// queryStrings returns the first column of query's rows.
func queryStrings(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// roleClosure returns the GRANTEE spellings of the roles a holds, directly
// or through other roles.
func roleClosure(ctx context.Context, db *sql.DB, a Account) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	next := []Account{a}
	for len(next) > 0 {
		cur := next[0]
		next = next[1:]
		roles, err := queryStrings(ctx, db, "SELECT Role FROM mysql.roles_mapping WHERE User = ? AND Host = ?", cur.User, cur.Host)
		if err != nil {
			return nil, fmt.Errorf("account %s: roles: %w", a, err)
		}
		for _, role := range roles {
			r := Account{User: role}
			if !seen[r.grantee()] {
				seen[r.grantee()] = true
				out = append(out, r.grantee())
				next = append(next, r)
			}
		}
	}
	return out, nil
}

// grantSet is privileges on one database (Table "": database level, where
// Database is the pattern as granted) or table.
type grantSet struct {
	Database   string   `json:"database"`
	Table      string   `json:"table,omitempty"`
	Privileges []string `json:"privileges"`
}

// on is the GRANT statement's ON clause.
func (s grantSet) on() string {
	if s.Table == "" {
		return schema.QuoteIdent(s.Database) + ".*"
	}
	return schema.QualifiedName(s.Database, s.Table)
}

// statement is the GRANT (grant) or REVOKE of s for a.
func (s grantSet) statement(grant bool, a Account) string {
	if grant {
		return "GRANT " + strings.Join(s.Privileges, ", ") + " ON " + s.on() + " TO " + a.String()
	}
	return "REVOKE " + strings.Join(s.Privileges, ", ") + " ON " + s.on() + " FROM " + a.String()
}

// accountUndo is what the Accounts method changes of one account.
type accountUndo struct {
	User string `json:"user"`
	Host string `json:"host"`
	// Grants are the account's SHOW GRANTS lines but the global one,
	// sorted, as they were before the fence.
	Grants []string `json:"grants"`
	// Revoked are the write privileges the fence takes away.
	Revoked []grantSet `json:"revoked"`
	// Added are the table-level privileges granted so that the tables of
	// a database whose database-level grant is revoked stay writable.
	Added []grantSet `json:"added,omitempty"`
}

func (u accountUndo) account() Account { return Account{User: u.User, Host: u.Host} }

// databaseLevel reports whether a database-level privilege is revoked:
// sessions that predate the revoke keep it.
func (u accountUndo) databaseLevel() bool {
	return slices.ContainsFunc(u.Revoked, func(s grantSet) bool { return s.Table == "" })
}

// plan works out what to revoke from a so that it cannot write tables,
// refusing with ErrBroadGrant what cannot be narrowed to them.
func (g *grants) plan(ctx context.Context, db *sql.DB, a Account, tables []Table) (accountUndo, error) {
	u := accountUndo{User: a.User, Host: a.Host, Grants: g.lines[a]}
	fenced := map[Table]bool{}
	databases := map[string]bool{}
	for _, t := range tables {
		fenced[t] = true
		databases[t.Database] = true
	}
	// Privileges through roles and PUBLIC.
	for _, via := range g.via[a] {
		p := g.all[via]
		if p == nil {
			continue
		}
		if w := writes(p.global); len(w) > 0 {
			return u, fmt.Errorf("account %s gets %s on *.* through %s: %w", a, strings.Join(w, ", "), via, ErrBroadGrant)
		}
		for pattern, ps := range p.schemas {
			if w := writes(ps); len(w) > 0 {
				matched, err := matchDatabases(ctx, db, pattern)
				if err != nil {
					return u, err
				}
				if slices.ContainsFunc(matched, func(d string) bool { return databases[d] }) {
					return u, fmt.Errorf("account %s gets %s on %s.* through %s: %w", a, strings.Join(w, ", "), schema.QuoteIdent(pattern), via, ErrBroadGrant)
				}
			}
		}
		for _, t := range tables {
			if w := writes(p.tables[t]); len(w) > 0 {
				return u, fmt.Errorf("account %s gets %s on %s through %s: %w", a, strings.Join(w, ", "), t, via, ErrBroadGrant)
			}
			if w := writes(p.columns[t]); len(w) > 0 {
				return u, fmt.Errorf("account %s gets %s on columns of %s through %s: %w", a, strings.Join(w, ", "), t, via, ErrBroadGrant)
			}
		}
	}
	p := g.accounts[a]
	if w := writes(p.global); len(w) > 0 {
		return u, fmt.Errorf("account %s holds %s on *.*, which would be narrowed on every database: %w", a, strings.Join(w, ", "), ErrBroadGrant)
	}
	for _, t := range tables {
		if w := writes(p.columns[t]); len(w) > 0 {
			return u, fmt.Errorf("account %s holds %s on columns of %s: %w", a, strings.Join(w, ", "), t, ErrBroadGrant)
		}
	}
	patterns := make([]string, 0, len(p.schemas))
	for pattern := range p.schemas {
		patterns = append(patterns, pattern)
	}
	slices.Sort(patterns)
	for _, pattern := range patterns {
		w := writes(p.schemas[pattern])
		if len(w) == 0 {
			continue
		}
		matched, err := matchDatabases(ctx, db, pattern)
		if err != nil {
			return u, err
		}
		if !slices.ContainsFunc(matched, func(d string) bool { return databases[d] }) {
			continue
		}
		if other := slices.DeleteFunc(slices.Clone(matched), func(d string) bool { return databases[d] }); len(other) > 0 {
			return u, fmt.Errorf("account %s holds %s on %s.*, which also matches database %s: %w", a, strings.Join(w, ", "), schema.QuoteIdent(pattern), schema.QuoteIdent(other[0]), ErrBroadGrant)
		}
		u.Revoked = append(u.Revoked, grantSet{Database: pattern, Privileges: w})
		// Every other table of the matched databases keeps them.
		for _, d := range matched {
			others, err := schema.Tables(ctx, db, d)
			if err != nil {
				return u, fmt.Errorf("tables of %s: %w", schema.QuoteIdent(d), err)
			}
			for _, ot := range others {
				t := Table{d, ot.Name}
				if fenced[t] {
					continue
				}
				var add []string
				for _, priv := range w {
					if _, ok := p.tables[t][priv]; !ok {
						add = append(add, priv)
					}
				}
				if len(add) > 0 {
					u.Added = append(u.Added, grantSet{Database: d, Table: t.Name, Privileges: add})
				}
			}
		}
	}
	for _, t := range tables {
		if w := writes(p.tables[t]); len(w) > 0 {
			u.Revoked = append(u.Revoked, grantSet{Database: t.Database, Table: t.Name, Privileges: w})
		}
	}
	return u, nil
}

// writes returns the write privileges in ps, in writePrivileges order.
func writes(ps map[string]bool) []string {
	var out []string
	for _, w := range writePrivileges {
		if _, ok := ps[w]; ok {
			out = append(out, w)
		}
	}
	return out
}

// matchDatabases returns the databases a database-level grant's pattern
// matches (LIKE, as the server matches it).
func matchDatabases(ctx context.Context, db *sql.DB, pattern string) ([]string, error) {
	out, err := queryStrings(ctx, db, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ? ORDER BY SCHEMA_NAME", pattern)
	if err != nil {
		return nil, fmt.Errorf("databases matching %s: %w", schema.QuoteIdent(pattern), err)
	}
	return out, nil
}

// require checks that the fencer holds priv on database.table (database
// level when table is "", global when both are): with grant option when
// priv is one it grants or revokes, a write privilege.
func (g *grants) require(priv, database, table string) error {
	grant := slices.Contains(writePrivileges, priv)
	ok := func(ps map[string]bool) bool {
		grantable, held := ps[priv]
		return held && (grantable || !grant)
	}
	if ok(g.self.global) {
		return nil
	}
	if database != "" {
		for pattern, ps := range g.self.schemas {
			if ok(ps) && likeMatch(pattern, database) {
				return nil
			}
		}
	}
	if table != "" && ok(g.self.tables[Table{database, table}]) {
		return nil
	}
	what := priv
	if grant {
		what += " WITH GRANT OPTION"
	}
	return fmt.Errorf("%s lacks %s: %w", g.selfName, what, ErrPrivilege)
}

// likeMatch reports whether name matches the database pattern of a grant
// (% and _ wildcards, \ escapes).
func likeMatch(pattern, name string) bool {
	if pattern == "" {
		return name == ""
	}
	switch c := pattern[0]; {
	case c == '%':
		for i := 0; i <= len(name); i++ {
			if likeMatch(pattern[1:], name[i:]) {
				return true
			}
		}
		return false
	case c == '_':
		return name != "" && likeMatch(pattern[1:], name[1:])
	case c == '\\' && len(pattern) > 1:
		return name != "" && name[0] == pattern[1] && likeMatch(pattern[2:], name[1:])
	default:
		return name != "" && name[0] == c && likeMatch(pattern[1:], name[1:])
	}
}

// applyAccount revokes u's privileges: first the additions that keep other
// tables writable, then the revokes, so that no other table is ever
// without them.
func applyAccount(ctx context.Context, db *sql.DB, u accountUndo) error {
	a := u.account()
	for _, s := range u.Added {
		if _, err := db.ExecContext(ctx, s.statement(true, a)); err != nil {
			return fmt.Errorf("account %s: grant %s on %s: %w", a, strings.Join(s.Privileges, ", "), s.on(), err)
		}
	}
	for _, s := range u.Revoked {
		if _, err := db.ExecContext(ctx, s.statement(false, a)); err != nil {
			return fmt.Errorf("account %s: revoke %s on %s: %w", a, strings.Join(s.Privileges, ", "), s.on(), err)
		}
	}
	return nil
}

// restoreAccounts gives back what applyAccount took, in the reverse order,
// whatever part of it was done (a crash may have stopped it anywhere). err
// is a restore that failed; differ, when everything was restored, names
// the accounts whose grants are not the recorded ones (someone changed
// them meanwhile), wrapping ErrNotRestored.
func restoreAccounts(ctx context.Context, db *sql.DB, accounts []accountUndo, log *slog.Logger) (differ, err error) {
	var errs, diffs []error
	for _, u := range accounts {
		if err := restoreAccount(ctx, db, u); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, u := range accounts {
		a := u.account()
		lines, err := showGrants(ctx, db, a)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(lines, u.Grants) {
			log.Error("fence: grants not restored", "account", a.String(), "want", u.Grants, "got", lines)
			diffs = append(diffs, fmt.Errorf("account %s: %w", a, ErrNotRestored))
		}
	}
	return errors.Join(diffs...), nil
}

func restoreAccount(ctx context.Context, db *sql.DB, u accountUndo) error {
	a := u.account()
	for _, s := range u.Revoked {
		if _, err := db.ExecContext(ctx, s.statement(true, a)); err != nil {
			return fmt.Errorf("account %s: grant %s on %s back: %w", a, strings.Join(s.Privileges, ", "), s.on(), err)
		}
	}
	for _, s := range u.Added {
		_, err := db.ExecContext(ctx, s.statement(false, a))
		var me *mysql.MySQLError
		if err != nil && !(errors.As(err, &me) && me.Number == 1147) { // 1147: never added (a crash before)
			return fmt.Errorf("account %s: revoke %s on %s: %w", a, strings.Join(s.Privileges, ", "), s.on(), err)
		}
	}
	return nil
}
