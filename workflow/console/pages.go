package console

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/workflow"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFS embed.FS

func staticFiles() http.Handler {
	sub, _ := fs.Sub(staticFS, ".")
	return http.FileServerFS(sub)
}

var funcs = template.FuncMap{
	"time": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		case *time.Time:
			if v == nil {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		return ""
	},
	"join": strings.Join,
	"has":  slices.Contains[[]string],
}

// pages are the templates, each with the layout.
var pages = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range []string{"list", "detail", "submit", "check", "error", "login"} {
		out[name] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html"))
	}
	return out
}()

// pageData is what every page gets.
type pageData struct {
	Base  string
	Title string
	User  User
	Demo  bool
	Data  any
}

// render writes page name with data.
func (h *Handler) render(w http.ResponseWriter, status int, name string, u User, title string, data any) error {
	var b bytes.Buffer
	_, demo := h.ids.(DemoUsers)
	if err := pages[name].Execute(&b, pageData{Base: h.base(), Title: title, User: u, Demo: demo, Data: data}); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(b.Bytes())
	return err
}

func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, u User, status int, body ErrorBody) {
	if _, demo := h.ids.(DemoUsers); demo && status == http.StatusUnauthorized {
		http.Redirect(w, r, h.base()+"/login", http.StatusSeeOther)
		return
	}
	if err := h.render(w, status, "error", u, "Error", body); err != nil {
		h.logger.Error("console: rendering the error page failed", "err", err)
	}
}

// pageRoutes are the web console's pages.
func (h *Handler) pageRoutes() []route {
	rs := []route{
		{method: "GET", path: "/{$}", page: true, serve: h.listPage},
		{method: "GET", path: "/tickets/{id}", page: true, serve: h.detailPage},
		{method: "GET", path: "/submit", page: true, serve: h.submitPage},
		{method: "GET", path: "/check", page: true, serve: h.checkPage},
	}
	if _, demo := h.ids.(DemoUsers); demo {
		rs = append(rs, route{method: "GET", path: "/login", page: true, anonymous: true, serve: h.loginPage},
			route{method: "POST", path: "/login", page: true, anonymous: true, serve: h.login})
	}
	return rs
}

// routes are all the handler's routes.
func (h *Handler) routes() []route { return append(h.apiRoutes(), h.pageRoutes()...) }

type listData struct {
	List      TicketList
	Query     map[string]string
	States    []string
	Instances []Instance
	NextURL   string
}

func (h *Handler) listPage(w http.ResponseWriter, r *http.Request, u User) error {
	f, err := filterOf(r)
	if err != nil {
		return err
	}
	l, err := h.page(r, f)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	d := listData{List: l, Query: map[string]string{}, Instances: h.instanceList(u)}
	for _, k := range []string{"q", "state", "instance", "submitter", "kind"} {
		d.Query[k] = q.Get(k)
	}
	for _, tr := range workflow.Transitions() {
		if !slices.Contains(d.States, tr.To.String()) {
			d.States = append(d.States, tr.To.String())
		}
	}
	if l.HasMore {
		q.Set("cursor", l.NextCursor)
		d.NextURL = h.base() + "/?" + q.Encode()
	}
	return h.render(w, http.StatusOK, "list", u, "Tickets", d)
}

func (h *Handler) detailPage(w http.ResponseWriter, r *http.Request, u User) error {
	id, err := ticketID(r)
	if err != nil {
		return err
	}
	d, err := h.detail(r, id, u)
	if err != nil {
		return err
	}
	return h.render(w, http.StatusOK, "detail", u, d.Title, d)
}

type submitData struct {
	Instances []Instance
	// Kinds are the kinds the engine accepts.
	Kinds []string
	// Prefill fills the form: the rollback of a ticket (rollback_of).
	Prefill prefill
}

type prefill struct{ Title, Instance, Database, SQL string }

// submitPage is the submit form; with rollback_of=ID, filled with the
// rollback SQL of ticket ID, as a new SQL change on its target.
func (h *Handler) submitPage(w http.ResponseWriter, r *http.Request, u User) error {
	d := submitData{Instances: h.instanceList(u)}
	// SQL changes first: the form opens on one.
	for _, k := range h.engine.Kinds() {
		if k == workflow.KindSQLChange {
			d.Kinds = slices.Insert(d.Kinds, 0, string(k))
		} else {
			d.Kinds = append(d.Kinds, string(k))
		}
	}
	if of := r.URL.Query().Get("rollback_of"); of != "" {
		id, err := strconv.ParseInt(of, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: rollback_of %q is not a ticket id", ErrBadRequest, of)
		}
		t, err := h.ticket(r, id)
		if err != nil {
			return err
		}
		wr, err := h.rollbackRequest(u, t)
		if err != nil {
			return err
		}
		d.Prefill = prefill{Title: wr.Title, Instance: wr.Instance, Database: wr.Database, SQL: wr.SQL}
	}
	return h.render(w, http.StatusOK, "submit", u, "Submit a ticket", d)
}

func (h *Handler) checkPage(w http.ResponseWriter, _ *http.Request, u User) error {
	return h.render(w, http.StatusOK, "check", u, "SQL check", submitData{Instances: h.instanceList(u)})
}

func (h *Handler) loginPage(w http.ResponseWriter, _ *http.Request, u User) error {
	return h.render(w, http.StatusOK, "login", u, "Sign in", h.ids.(DemoUsers).names())
}

// login signs in as a demo user (DemoUsers only).
func (h *Handler) login(w http.ResponseWriter, r *http.Request, _ User) error {
	name := r.PostFormValue("user")
	if _, ok := h.ids.(DemoUsers)[name]; !ok {
		return errors.Join(ErrBadRequest, errors.New("console: no such demo user"))
	}
	http.SetCookie(w, &http.Cookie{Name: DemoCookie, Value: name, Path: cmpPath(h.base()), HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, h.base()+"/", http.StatusSeeOther)
	return nil
}

func cmpPath(base string) string {
	if base == "" {
		return "/"
	}
	return base
}
