package console

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// Role is what a user may do in the console.
type Role string

// The roles, with the seeds' meaning.
const (
	// RoleEngineer submits tickets, and cancels and retries their own.
	RoleEngineer Role = "engineer"
	// RoleReviewer also decides the approval steps whose approvers they
	// are, never on their own tickets.
	RoleReviewer Role = "reviewer"
	// RoleAdmin also cancels and retries any ticket.
	RoleAdmin Role = "admin"
)

// User is the person behind a request.
type User struct {
	// Name is the name tickets record (submitter, actor) and approval
	// steps list.
	Name  string
	Roles []Role
}

// Has reports whether u holds role.
func (u User) Has(role Role) bool { return slices.Contains(u.Roles, role) }

// ErrUnauthenticated is returned by an Identifier for a request that
// carries no identity; the console answers 401.
var ErrUnauthenticated = errors.New("console: not signed in")

// Identifier turns a request into its user: the host's SSO, LDAP or
// authenticating proxy.
//
// Contract: Identify returns the user of r, or an error wrapping
// ErrUnauthenticated when r carries none (any other error is a failure of
// the lookup, answered with 500). It is safe for concurrent use.
type Identifier interface {
	Identify(r *http.Request) (User, error)
}

// IdentifierFunc is an Identifier as a function.
type IdentifierFunc func(r *http.Request) (User, error)

// Identify implements Identifier.
func (f IdentifierFunc) Identify(r *http.Request) (User, error) { return f(r) }

// RoleMap maps the host's group names to console roles.
type RoleMap map[string][]Role

// Roles returns the roles of a member of groups, each once, in the order
// engineer, reviewer, admin.
func (m RoleMap) Roles(groups []string) []Role {
	var out []Role
	for _, g := range groups {
		out = append(out, m[g]...)
	}
	order := map[Role]int{RoleEngineer: 1, RoleReviewer: 2, RoleAdmin: 3}
	slices.SortFunc(out, func(a, b Role) int { return order[a] - order[b] })
	return slices.Compact(out)
}

// ProxyHeaders is the Identifier behind an authenticating reverse proxy
// that sets the user's name and comma-separated groups in request
// headers. Only use it when the proxy strips those headers from what
// clients send.
type ProxyHeaders struct {
	User   string // header of the user name, such as "X-Forwarded-User"
	Groups string // header of the groups, such as "X-Forwarded-Groups"
	Roles  RoleMap
}

// Identify implements Identifier.
func (p ProxyHeaders) Identify(r *http.Request) (User, error) {
	name := strings.TrimSpace(r.Header.Get(p.User))
	if name == "" {
		return User{}, fmt.Errorf("%w: no %s header", ErrUnauthenticated, p.User)
	}
	var groups []string
	for g := range strings.SplitSeq(r.Header.Get(p.Groups), ",") {
		if g = strings.TrimSpace(g); g != "" {
			groups = append(groups, g)
		}
	}
	return User{Name: name, Roles: p.Roles.Roles(groups)}, nil
}

// DemoCookie is the cookie DemoUsers reads.
const DemoCookie = "shiftgate_demo_user"

// DemoUsers is an Identifier for demonstrations only: the user is
// whoever the DemoCookie cookie names, chosen on the console's sign-in
// page without a password.
type DemoUsers map[string][]Role

// Identify implements Identifier.
func (d DemoUsers) Identify(r *http.Request) (User, error) {
	c, err := r.Cookie(DemoCookie)
	if err != nil {
		return User{}, fmt.Errorf("%w: choose a demo user", ErrUnauthenticated)
	}
	roles, ok := d[c.Value]
	if !ok {
		return User{}, fmt.Errorf("%w: no demo user %q", ErrUnauthenticated, c.Value)
	}
	return User{Name: c.Value, Roles: slices.Clone(roles)}, nil
}

// names returns the demo users' names, sorted.
func (d DemoUsers) names() []string { return slices.Sorted(maps.Keys(d)) }
