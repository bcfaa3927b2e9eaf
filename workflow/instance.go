package workflow

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-sql-driver/mysql"
	"github.com/shiftgate/shiftgate/internal/conn"
)

// ErrUnknownInstance: no instance of that name is registered.
var ErrUnknownInstance = errors.New("workflow: unknown instance")

// Instance is a named database server that tickets target: the seed's
// maintained list of databases.
type Instance struct {
	Name string `json:"name"`
	// Address is host:port.
	Address string `json:"address"`
	// Tags classify it, such as env=prod; approvers read them.
	Tags map[string]string `json:"tags,omitempty"`
	// Credentials is a reference the SecretResolver turns into a user and
	// password (a vault path, an environment variable name); never the
	// password itself.
	Credentials string `json:"credentials"`
}

// Credentials are a user and password. Every fmt verb, slog and
// encoding/json see the password redacted.
type Credentials struct {
	User     string
	Password string
}

func (c Credentials) String() string { return c.User + ":<redacted>" }

// Format hides the password from every fmt verb, including those a string
// has no meaning for (%d would otherwise print the fields).
func (c Credentials) Format(f fmt.State, verb rune) { formatRedacted(f, verb, c) }

// MarshalJSON hides the password from encoding/json.
func (c Credentials) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// GoString hides the password from %#v.
func (c Credentials) GoString() string {
	return "workflow.Credentials{User:" + fmt.Sprintf("%q", c.User) + ", Password:<redacted>}"
}

// LogValue hides the password from slog.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// SecretResolver turns a credentials reference into credentials.
//
// Contract: Resolve returns the credentials ref names, or an error that
// names ref but never contains a secret. It honours ctx and is safe for
// concurrent use. The engine calls it each time it connects, so rotated
// secrets take effect without a restart, and never stores or logs what it
// returns.
type SecretResolver interface {
	Resolve(ctx context.Context, ref string) (Credentials, error)
}

// StaticSecrets is a SecretResolver over a fixed map, for tests and
// demos.
type StaticSecrets map[string]Credentials

var _ SecretResolver = StaticSecrets(nil)

// Resolve implements SecretResolver.
func (s StaticSecrets) Resolve(_ context.Context, ref string) (Credentials, error) {
	c, ok := s[ref]
	if !ok {
		return Credentials{}, fmt.Errorf("workflow: no secret %q", ref)
	}
	return c, nil
}

// Registry is the list of instances tickets may target. It is safe for
// concurrent use.
type Registry struct {
	mu        sync.RWMutex
	instances map[string]Instance
}

// NewRegistry returns a registry holding instances.
func NewRegistry(instances ...Instance) (*Registry, error) {
	r := &Registry{instances: map[string]Instance{}}
	for _, in := range instances {
		if err := r.Add(in); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Add registers in, or replaces the instance of the same name.
func (r *Registry) Add(in Instance) error {
	switch {
	case in.Name == "" || strings.ContainsAny(in.Name, " \t\n"):
		return fmt.Errorf("workflow: instance name %q is empty or holds spaces", in.Name)
	case in.Address == "" || !strings.Contains(in.Address, ":"):
		return fmt.Errorf("workflow: instance %s: address %q is not host:port", in.Name, in.Address)
	case in.Credentials == "":
		return fmt.Errorf("workflow: instance %s: no credentials reference", in.Name)
	}
	in.Tags = maps.Clone(in.Tags)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.instances[in.Name] = in
	return nil
}

// Get returns the instance called name, or an error wrapping
// ErrUnknownInstance.
func (r *Registry) Get(name string) (Instance, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	in, ok := r.instances[name]
	if !ok {
		return Instance{}, fmt.Errorf("%w %q", ErrUnknownInstance, name)
	}
	in.Tags = maps.Clone(in.Tags)
	return in, nil
}

// List returns every instance, by name.
func (r *Registry) List() []Instance {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := slices.Collect(maps.Values(r.instances))
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Open connects to the instance called name, on database (empty: none),
// with the credentials secrets resolves for it and shiftgate's connection
// timeouts, and pings it: what verify.New and host code take. The caller
// closes the pool. An unknown name gives an error wrapping
// ErrUnknownInstance; every error names the instance, never the password.
func (r *Registry) Open(ctx context.Context, secrets SecretResolver, name, database string) (*sql.DB, error) {
	in, err := r.Get(name)
	if err != nil {
		return nil, err
	}
	d, err := dsn(ctx, secrets, in)
	if err != nil {
		return nil, err
	}
	cfg, err := conn.ParseDSN(string(d))
	if err != nil {
		return nil, wrapf(err, "instance %s", name)
	}
	cfg.DBName = database
	db, err := conn.Open(ctx, cfg, conn.Options{})
	if err != nil {
		return nil, wrapf(err, "instance %s", name)
	}
	return db, nil
}

// DSN is a go-sql-driver DSN. It holds a password: String hides it, so
// printing or logging a DSN is safe; convert it with string() only to
// connect.
type DSN string

func (d DSN) String() string {
	cfg, err := conn.ParseDSN(string(d))
	if err != nil {
		return "<unparseable DSN>"
	}
	return cfg.User + "@" + conn.Endpoint(cfg)
}

// Format hides the password from every fmt verb, including those a string
// has no meaning for (%d would otherwise print the raw DSN).
func (d DSN) Format(f fmt.State, verb rune) { formatRedacted(f, verb, d) }

// formatRedacted prints v for every fmt verb as its String (quoted for %q,
// GoString for %#v), so that no verb reaches the fields behind it.
func formatRedacted(f fmt.State, verb rune, v interface {
	fmt.Stringer
	fmt.GoStringer
}) {
	switch {
	case verb == 'q':
		fmt.Fprint(f, strconv.Quote(v.String()))
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, v.GoString())
	default:
		fmt.Fprint(f, v.String())
	}
}

// GoString hides the password from %#v.
func (d DSN) GoString() string { return d.String() }

// LogValue hides the password from slog.
func (d DSN) LogValue() slog.Value { return slog.StringValue(d.String()) }

// MarshalJSON hides the password from encoding/json, and so from slog's
// JSONHandler when it logs a value that holds a DSN, such as Endpoints.
func (d DSN) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// dsn resolves the credentials of in.
func dsn(ctx context.Context, secrets SecretResolver, in Instance) (DSN, error) {
	cred, err := secrets.Resolve(ctx, in.Credentials)
	if err != nil {
		return "", wrapf(err, "instance %s: credentials %q", in.Name, in.Credentials)
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = cred.User, cred.Password, "tcp", in.Address
	return DSN(cfg.FormatDSN()), nil
}
