package console

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/workflow"
)

// Handler is the console: the JSON API, its OpenAPI document, live
// events and the web pages, under one prefix.
type Handler struct {
	engine *workflow.Engine
	ids    Identifier
	config
	mux  *http.ServeMux
	root http.Handler
}

var _ http.Handler = (*Handler)(nil)

// Option configures a Handler.
type Option func(*config) error

type config struct {
	prefix      string
	logger      *slog.Logger
	restricted  []restriction
	eventsEvery time.Duration
}

// restriction keeps submitting to instances tagged tags to roles.
type restriction struct {
	tags  map[string]string
	roles []Role
}

// WithPrefix serves the console under prefix, such as "/console": the
// host mounts the Handler at prefix+"/" (default: the root).
func WithPrefix(prefix string) Option {
	return func(c *config) error {
		if prefix != "" && (!strings.HasPrefix(prefix, "/") || strings.HasSuffix(prefix, "/")) {
			return fmt.Errorf("WithPrefix(%q): a prefix starts with a slash and does not end with one", prefix)
		}
		c.prefix = prefix
		return nil
	}
}

// WithLogger logs failures through l (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("WithLogger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithSubmitRoles lets only users holding one of roles submit tickets
// that target or read from an instance with all of tags, such as
// {"env": "prod"} for RoleAdmin: only DBAs submit to production. Several
// restrictions all apply.
func WithSubmitRoles(tags map[string]string, roles ...Role) Option {
	return func(c *config) error {
		if len(tags) == 0 || len(roles) == 0 {
			return errors.New("WithSubmitRoles: no tags or no roles")
		}
		c.restricted = append(c.restricted, restriction{tags: maps.Clone(tags), roles: roles})
		return nil
	}
}

// WithEventInterval sets how often a live event stream reads its ticket
// (default 1s).
func WithEventInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("WithEventInterval: %v is not positive", d)
		}
		c.eventsEvery = d
		return nil
	}
}

// New returns the console of engine, whose users ids identifies.
func New(engine *workflow.Engine, ids Identifier, opts ...Option) (*Handler, error) {
	if engine == nil || ids == nil {
		return nil, errors.New("console: New: nil engine or identifier")
	}
	cfg := config{logger: slog.New(slog.DiscardHandler), eventsEvery: time.Second}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("console: New: nil option")
		}
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("console: New: %w", err)
		}
	}
	h := &Handler{engine: engine, ids: ids, config: cfg, mux: http.NewServeMux()}
	for _, rt := range h.routes() {
		h.mux.Handle(rt.method+" "+h.prefix+rt.path, h.wrap(rt))
	}
	h.mux.Handle("GET "+h.prefix+"/static/", http.StripPrefix(h.prefix, staticFiles()))
	h.mux.Handle(h.prefix+"/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, ErrorResponse{Error: ErrorBody{Code: "not_found",
			Message: fmt.Sprintf("console: no API route %s %s", r.Method, strings.TrimPrefix(r.URL.Path, h.prefix))}})
	}))
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusForbidden, ErrorResponse{Error: ErrorBody{Code: "cross_origin",
			Message: "console: a state-changing request from another origin is refused"}})
	}))
	h.root = secure(csrf.Handler(h.mux))
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.root.ServeHTTP(w, r) }

// secure sets the security headers of every response.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// route is one endpoint: the mux serves it and the OpenAPI document
// describes it.
type route struct {
	method, path string
	summary      string
	// page routes render HTML; the others are the API.
	page bool
	// anonymous routes need no identity (the demo sign-in).
	anonymous bool
	// query lists the query parameters; body and resp are values of the
	// request and response types (nil for none).
	query  []param
	body   any
	resp   any
	status int // of success, default 200
	serve  func(w http.ResponseWriter, r *http.Request, u User) error
}

type param struct{ name, desc string }

// wrap identifies the caller and maps rt's errors to responses.
func (h *Handler) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var u User
		var err error
		if !rt.anonymous {
			u, err = h.ids.Identify(r)
		}
		if err == nil && !rt.anonymous && u.Name == "" {
			err = fmt.Errorf("%w: the identifier returned no name", ErrUnauthenticated)
		}
		if err == nil && !rt.anonymous && len(u.Roles) == 0 {
			err = fmt.Errorf("%w: user %s has no console role", ErrForbidden, u.Name)
		}
		if err == nil {
			err = rt.serve(w, r, u)
		}
		if err == nil {
			return
		}
		body, status := errorOf(err)
		if status == http.StatusInternalServerError {
			h.logger.Error("console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		if rt.page {
			h.errorPage(w, r, u, status, body)
			return
		}
		writeJSON(w, status, ErrorResponse{Error: body})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// readJSON decodes r's body into v, refusing unknown fields.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %v", ErrBadRequest, err)
	}
	return nil
}

// base is the path of the console's root, for links.
func (h *Handler) base() string { return cmp.Or(h.prefix, "") }
