package schema

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrPrivilege is wrapped by the error of an account that lacks a
// privilege the work needs; the error names the privilege and the object.
// It is the one such sentinel of the module: migrate.ErrPrivilege and the
// fence's are this value.
var ErrPrivilege = errors.New("missing privilege")

// Privileges is the set of privileges the current user holds on one
// database, global ones included, from its own grants and its enabled roles.
type Privileges struct {
	// User is the current user as the server sees it, user@host.
	User  string
	privs map[string]bool
	// tables maps a table name to privileges granted on that table only.
	tables map[string]map[string]bool
}

// LoadPrivileges reads the current user's privileges that apply to database.
func LoadPrivileges(ctx context.Context, q Querier, database string) (*Privileges, error) {
	p := &Privileges{privs: map[string]bool{}, tables: map[string]map[string]bool{}}
	if err := q.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&p.User); err != nil {
		return nil, fmt.Errorf("current user: %w", err)
	}
	// GRANTEE is written 'user'@'host' for users and 'role' for roles.
	const grantees = `GRANTEE IN (
		CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), ''''),
		(SELECT CONCAT('''', ROLE_NAME, '''') FROM information_schema.ENABLED_ROLES))`
	rows, err := q.QueryContext(ctx, `
		SELECT '', PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE `+grantees+`
		UNION SELECT '', PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE ? LIKE TABLE_SCHEMA AND `+grantees+`
		UNION SELECT TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES WHERE TABLE_SCHEMA = ? AND `+grantees,
		database, database)
	if err != nil {
		return nil, fmt.Errorf("privileges of %s: %w", p.User, err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, priv string
		if err := rows.Scan(&table, &priv); err != nil {
			return nil, fmt.Errorf("privileges of %s: %w", p.User, err)
		}
		priv = strings.ToUpper(priv)
		if table == "" {
			p.privs[priv] = true
			continue
		}
		if p.tables[table] == nil {
			p.tables[table] = map[string]bool{}
		}
		p.tables[table][priv] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("privileges of %s: %w", p.User, err)
	}
	return p, nil
}

// Has reports whether the user holds priv on the database, or on table when
// table is not empty.
func (p *Privileges) Has(priv, table string) bool {
	priv = strings.ToUpper(priv)
	if p.privs[priv] || p.privs["ALL PRIVILEGES"] {
		return true
	}
	return table != "" && p.tables[table][priv]
}

// Missing returns those of privs the user lacks on the database (or on
// table, when not empty), keeping their order.
func (p *Privileges) Missing(table string, privs ...string) []string {
	var out []string
	for _, priv := range privs {
		if !p.Has(priv, table) {
			out = append(out, priv)
		}
	}
	return out
}

// HasAny reports whether the user holds at least one of privs globally or on
// the database.
func (p *Privileges) HasAny(privs ...string) bool {
	for _, priv := range privs {
		if p.Has(priv, "") {
			return true
		}
	}
	return false
}
