package console

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/workflow"
)

// maxPage bounds a list page.
const maxPage = 200

// apiRoutes are the JSON API's routes.
func (h *Handler) apiRoutes() []route {
	action := func(name, summary string, do func(h *Handler) func(r *http.Request, id int64, u User, comment string) (*workflow.Ticket, error)) route {
		return route{method: "POST", path: "/api/tickets/{id}/" + name, summary: summary, body: ActionRequest{}, resp: TicketDetail{},
			serve: func(w http.ResponseWriter, r *http.Request, u User) error { return h.act(w, r, u, do(h)) }}
	}
	return []route{
		{method: "GET", path: "/api/me", summary: "The caller and their roles", resp: Me{}, serve: h.me},
		{method: "GET", path: "/api/instances", summary: "The instances tickets may target, with their tags (never credentials)",
			resp: []Instance{}, serve: h.instances},
		{method: "GET", path: "/api/tickets", summary: "Tickets, newest first, a page at a time", resp: TicketList{}, serve: h.list,
			query: []param{
				{"submitter", "only tickets filed by this user"},
				{"state", "only tickets in these states (comma-separated)"},
				{"instance", "only tickets that target or read from this instance"},
				{"kind", "only tickets of this kind"},
				{"from", "only tickets created at or after this time (RFC 3339)"},
				{"to", "only tickets created before this time (RFC 3339)"},
				{"q", "only tickets whose SQL or title contains this text"},
				{"limit", "page size, 1 to 200 (default 50)"},
				{"cursor", "the next_cursor of the previous page"},
			}},
		{method: "POST", path: "/api/tickets", summary: "Submit a ticket as the caller (201; 200 when the idempotency key was seen)",
			body: SubmitRequest{}, resp: TicketDetail{}, status: http.StatusCreated, serve: h.submit},
		{method: "GET", path: "/api/tickets/{id}", summary: "A ticket with its review, plan, results, progress, report and audit trail",
			resp: TicketDetail{}, serve: h.get},
		action("approve", "Approve the current step (reviewers who are its approvers; never the submitter)",
			func(h *Handler) func(*http.Request, int64, User, string) (*workflow.Ticket, error) { return h.approve }),
		action("reject", "Reject the ticket at its current step (as approve)",
			func(h *Handler) func(*http.Request, int64, User, string) (*workflow.Ticket, error) { return h.reject }),
		action("cancel", "Cancel the ticket (its submitter or an admin)",
			func(h *Handler) func(*http.Request, int64, User, string) (*workflow.Ticket, error) { return h.cancel }),
		action("retry", "Review a ticket again after its review failed (its submitter or an admin)",
			func(h *Handler) func(*http.Request, int64, User, string) (*workflow.Ticket, error) { return h.retry }),
		action("cutover", "Approve the cutover of a live move in sync (reviewers who approve the last step of its chain; never the submitter); a move not in sync yet refuses it (409 not_in_sync, recorded)",
			func(h *Handler) func(*http.Request, int64, User, string) (*workflow.Ticket, error) { return h.cutover }),
		action("cutback", "Approve the cut-back of a live move in its rollback window (as cutover): writes to the target stop until the source has caught up and is verified, then the application is switched back",
			func(h *Handler) func(*http.Request, int64, User, string) (*workflow.Ticket, error) { return h.cutBack }),
		action("endwindow", "Close the rollback window of a live move without a cut-back (as cutover): the reverse sync stops and the source's writes are restored, the application staying on the target",
			func(h *Handler) func(*http.Request, int64, User, string) (*workflow.Ticket, error) {
				return h.endWindow
			}),
		{method: "POST", path: "/api/tickets/{id}/rollback", summary: "Submit, as the caller, a SQL change that runs the rollback SQL of a finished SQL change on its target, reviewed and approved as any other (201; 200 when the idempotency key was seen, by default one rollback ticket per caller and ticket)",
			body: RollbackRequest{}, resp: TicketDetail{}, status: http.StatusCreated, serve: h.rollback},
		{method: "POST", path: "/api/tickets/{id}/tables/{table}/retry", summary: "Copy a failed table of a failed migration again, alone (its submitter or an admin; tickets that name their tables)",
			body: ActionRequest{}, resp: TicketDetail{}, serve: func(w http.ResponseWriter, r *http.Request, u User) error { return h.act(w, r, u, h.retryTable) }},
		{method: "GET", path: "/api/tickets/{id}/events", summary: "Server-sent events: a 'ticket' event with the summary whenever the state or progress changes, until the ticket is final",
			resp: TicketSummary{}, serve: h.events},
		{method: "POST", path: "/api/check", summary: "Review a script against an instance without submitting it", body: CheckRequest{}, resp: CheckResponse{}, serve: h.check},
		{method: "GET", path: "/api/openapi.json", summary: "This API's OpenAPI 3 document", serve: h.openapi},
	}
}

func (h *Handler) me(w http.ResponseWriter, _ *http.Request, u User) error {
	m := Me{Name: u.Name, Roles: []string{}}
	for _, r := range u.Roles {
		m.Roles = append(m.Roles, string(r))
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

// instanceList returns the registry's instances as u sees them.
func (h *Handler) instanceList(u User) []Instance {
	out := []Instance{}
	for _, in := range h.engine.Registry().List() {
		tags := in.Tags
		if tags == nil {
			tags = map[string]string{}
		}
		out = append(out, Instance{Name: in.Name, Address: in.Address, Tags: tags, Submit: h.mayTarget(u, in) == nil})
	}
	return out
}

func (h *Handler) instances(w http.ResponseWriter, _ *http.Request, u User) error {
	writeJSON(w, http.StatusOK, h.instanceList(u))
	return nil
}

// filterOf reads the list's query parameters.
func filterOf(r *http.Request) (workflow.Filter, error) {
	q := r.URL.Query()
	bad := func(name string, err error) error {
		return fmt.Errorf("%w: parameter %s: %v", ErrBadRequest, name, err)
	}
	f := workflow.Filter{Submitter: q.Get("submitter"), Instance: q.Get("instance"), Kind: workflow.Kind(q.Get("kind")), Keyword: q.Get("q"), Limit: 50}
	for name := range strings.SplitSeq(q.Get("state"), ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		st, err := workflow.ParseState(name)
		if err != nil {
			return f, bad("state", err)
		}
		f.States = append(f.States, st)
	}
	for name, t := range map[string]*time.Time{"from": &f.CreatedFrom, "to": &f.CreatedTo} {
		if v := q.Get(name); v != "" {
			var err error
			if *t, err = time.Parse(time.RFC3339, v); err != nil {
				return f, bad(name, err)
			}
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			return f, bad("limit", fmt.Errorf("%q is not between 1 and %d", v, maxPage))
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return f, bad("cursor", fmt.Errorf("%q is not a cursor of this API", v))
		}
		f.BeforeID = n
	}
	return f, nil
}

// page returns the tickets f selects, one more than its limit asked to
// know whether another page follows.
func (h *Handler) page(r *http.Request, f workflow.Filter) (TicketList, error) {
	limit := f.Limit
	f.Limit++
	tickets, err := h.engine.List(r.Context(), f)
	if err != nil {
		return TicketList{}, err
	}
	out := TicketList{Tickets: []TicketSummary{}}
	if len(tickets) > limit {
		tickets = tickets[:limit]
		out.HasMore = true
		out.NextCursor = strconv.FormatInt(tickets[limit-1].ID, 10)
	}
	for _, t := range tickets {
		out.Tickets = append(out.Tickets, summaryOf(t))
	}
	return out, nil
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request, _ User) error {
	f, err := filterOf(r)
	if err != nil {
		return err
	}
	l, err := h.page(r, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

func ticketID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, fmt.Errorf("%w: ticket id %q is not a positive number", ErrBadRequest, r.PathValue("id"))
	}
	return id, nil
}

// detail returns ticket id as u sees it.
func (h *Handler) detail(r *http.Request, id int64, u User) (TicketDetail, error) {
	d, err := h.engine.Get(r.Context(), id)
	if err != nil {
		return TicketDetail{}, err
	}
	out := detailOf(d)
	if d.Ticket.State == workflow.StatePendingApproval && d.Ticket.Awaiting {
		if out.Approvers, err = h.engine.Approvers(r.Context(), d.Ticket); err != nil {
			return out, err
		}
	}
	for _, a := range []string{"approve", "reject", "cancel", "retry"} {
		fenced := a == "retry" && d.Ticket.State == workflow.StateSourceFenced
		if h.may(u, a, d.Ticket, out.Approvers) == nil && (!fenced || h.engine.MayCutOver(r.Context(), d.Ticket, u.Name) == nil) {
			out.Actions = append(out.Actions, a)
		}
	}
	for _, a := range []string{"cutover", "cutback", "endwindow"} {
		if h.may(u, a, d.Ticket, nil) == nil && (d.Ticket.State != workflow.StateRunning || a != "cutover") &&
			h.engine.MayCutOver(r.Context(), d.Ticket, u.Name) == nil {
			out.Actions = append(out.Actions, a)
		}
	}
	if _, err := h.rollbackRequest(u, d.Ticket); err == nil {
		out.Actions = append(out.Actions, "rollback")
	}
	if h.may(u, "retry_table", d.Ticket, nil) == nil {
		for i, tk := range out.Tables {
			out.Tables[i].Retry = h.engine.MayRetryTable(d.Ticket, tk.Name) == nil
		}
	}
	return out, nil
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request, u User) error {
	id, err := ticketID(r)
	if err != nil {
		return err
	}
	d, err := h.detail(r, id, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// maxKey bounds an idempotency key.
const maxKey = 128

// clientKey is the workflow.Request.ClientKey of u's idempotency key:
// keys are the caller's own, another user's key never returns their
// ticket.
func clientKey(u User, key string) string {
	return "console:" + strconv.Itoa(len(u.Name)) + ":" + u.Name + ":" + key
}

// rollbackRequest returns the request that files, as u, the rollback of
// t: the rollback SQL of its succeeded statements as a new SQL change on
// its target. A ticket that is not a finished SQL change with rollback
// SQL gives ErrNoRollback, a target u may not submit to ErrForbidden.
func (h *Handler) rollbackRequest(u User, t *workflow.Ticket) (workflow.Request, error) {
	sql := ""
	if t.Kind == workflow.KindSQLChange && t.State.Final() {
		sql = rollbackOf(t.Results)
	}
	if sql == "" {
		return workflow.Request{}, fmt.Errorf("%w: ticket #%d (%s, %s)", ErrNoRollback, t.ID, t.Kind, t.State)
	}
	wr := workflow.Request{Kind: workflow.KindSQLChange, Title: fmt.Sprintf("rollback of #%d %s", t.ID, t.Title), Submitter: u.Name,
		Instance: t.Instance, Database: t.Database, SQL: sql}
	if t.Submitter != u.Name {
		wr.CC = []string{t.Submitter}
	}
	return wr, h.maySubmit(u, wr)
}

func (h *Handler) rollback(w http.ResponseWriter, r *http.Request, u User) error {
	id, err := ticketID(r)
	if err != nil {
		return err
	}
	var req RollbackRequest
	if r.ContentLength != 0 {
		if err := readJSON(r, &req); err != nil {
			return err
		}
	}
	if len(req.IdempotencyKey) > maxKey {
		return fmt.Errorf("%w: idempotency_key is longer than %d characters", ErrBadRequest, maxKey)
	}
	t, err := h.ticket(r, id)
	if err != nil {
		return err
	}
	wr, err := h.rollbackRequest(u, t)
	if err != nil {
		return err
	}
	wr.ClientKey = clientKey(u, cmp.Or(req.IdempotencyKey, "rollback-of-"+strconv.FormatInt(id, 10)))
	return h.file(w, r, u, wr)
}

func (h *Handler) submit(w http.ResponseWriter, r *http.Request, u User) error {
	var req SubmitRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if len(req.IdempotencyKey) > maxKey {
		return fmt.Errorf("%w: idempotency_key is longer than %d characters", ErrBadRequest, maxKey)
	}
	wr := workflow.Request{Kind: workflow.Kind(req.Kind), Title: req.Title, Submitter: u.Name, CC: req.CC, Instance: req.Instance,
		Database: req.Database, SQL: req.SQL, ConfirmOutcomeUnknown: req.ConfirmOutcomeUnknown}
	if req.IdempotencyKey != "" {
		wr.ClientKey = clientKey(u, req.IdempotencyKey)
	}
	if m := req.Migration; m != nil {
		wr.Migration = &workflow.Migration{SourceInstance: m.SourceInstance, SourceDatabase: m.SourceDatabase, Tables: m.Tables, Method: m.Method, Replace: m.Replace,
			Fence: m.Fence, Accounts: m.Accounts, Reverse: m.Reverse, PendingSwitch: m.PendingSwitch}
	}
	if win := req.Window; win != nil {
		wr.Window = &workflow.Window{}
		if win.NotBefore != nil {
			wr.Window.NotBefore = *win.NotBefore
		}
		if win.NotAfter != nil {
			wr.Window.NotAfter = *win.NotAfter
		}
	}
	return h.file(w, r, u, wr)
}

// file submits wr, whose Submitter is u, after the submit restrictions;
// it answers with the ticket, 201 when wr filed it and 200 when an
// earlier request with its ClientKey did.
func (h *Handler) file(w http.ResponseWriter, r *http.Request, u User, wr workflow.Request) error {
	if err := h.maySubmit(u, wr); err != nil {
		return err
	}
	start := time.Now()
	t, err := h.engine.Submit(r.Context(), wr)
	if err != nil {
		return err
	}
	d, err := h.detail(r, t.ID, u)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if wr.ClientKey != "" && t.CreatedAt.Before(start) {
		status = http.StatusOK // filed by an earlier request with the key
	}
	writeJSON(w, status, d)
	return nil
}

func (h *Handler) act(w http.ResponseWriter, r *http.Request, u User, do func(r *http.Request, id int64, u User, comment string) (*workflow.Ticket, error)) error {
	id, err := ticketID(r)
	if err != nil {
		return err
	}
	var req ActionRequest
	if r.ContentLength != 0 {
		if err := readJSON(r, &req); err != nil {
			return err
		}
	}
	if _, err := do(r, id, u, req.Comment); err != nil {
		return err
	}
	d, err := h.detail(r, id, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// ticket returns ticket id.
func (h *Handler) ticket(r *http.Request, id int64) (*workflow.Ticket, error) {
	d, err := h.engine.Get(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return d.Ticket, nil
}

func (h *Handler) decide(r *http.Request, id int64, u User, comment string, approve bool) (*workflow.Ticket, error) {
	t, err := h.ticket(r, id)
	if err != nil {
		return nil, err
	}
	action := map[bool]string{true: "approve", false: "reject"}[approve]
	if err := h.may(u, action, t, nil); err != nil {
		return nil, err
	}
	if approve {
		return h.engine.Approve(r.Context(), id, u.Name, comment)
	}
	return h.engine.Reject(r.Context(), id, u.Name, comment)
}

func (h *Handler) approve(r *http.Request, id int64, u User, comment string) (*workflow.Ticket, error) {
	return h.decide(r, id, u, comment, true)
}

func (h *Handler) reject(r *http.Request, id int64, u User, comment string) (*workflow.Ticket, error) {
	return h.decide(r, id, u, comment, false)
}

// allowed returns nil when u may take action on ticket id now (see may).
func (h *Handler) allowed(r *http.Request, id int64, u User, action string) error {
	t, err := h.ticket(r, id)
	if err != nil {
		return err
	}
	return h.may(u, action, t, nil)
}

func (h *Handler) cancel(r *http.Request, id int64, u User, comment string) (*workflow.Ticket, error) {
	if err := h.allowed(r, id, u, "cancel"); err != nil {
		return nil, err
	}
	return h.engine.Cancel(r.Context(), id, u.Name, comment)
}

func (h *Handler) retry(r *http.Request, id int64, u User, comment string) (*workflow.Ticket, error) {
	if err := h.allowed(r, id, u, "retry"); err != nil {
		return nil, err
	}
	return h.engine.Retry(r.Context(), id, u.Name, comment)
}

func (h *Handler) cutover(r *http.Request, id int64, u User, comment string) (*workflow.Ticket, error) {
	if err := h.allowed(r, id, u, "cutover"); err != nil {
		return nil, err
	}
	return h.engine.Cutover(r.Context(), id, u.Name, comment)
}

func (h *Handler) cutBack(r *http.Request, id int64, u User, comment string) (*workflow.Ticket, error) {
	if err := h.allowed(r, id, u, "cutback"); err != nil {
		return nil, err
	}
	return h.engine.CutBack(r.Context(), id, u.Name, comment)
}

func (h *Handler) endWindow(r *http.Request, id int64, u User, comment string) (*workflow.Ticket, error) {
	if err := h.allowed(r, id, u, "endwindow"); err != nil {
		return nil, err
	}
	return h.engine.EndWindow(r.Context(), id, u.Name, comment)
}

func (h *Handler) retryTable(r *http.Request, id int64, u User, comment string) (*workflow.Ticket, error) {
	if err := h.allowed(r, id, u, "retry_table"); err != nil {
		return nil, err
	}
	return h.engine.RetryTable(r.Context(), id, r.PathValue("table"), u.Name, comment)
}

func (h *Handler) check(w http.ResponseWriter, r *http.Request, _ User) error {
	var req CheckRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	res, err := h.engine.Check(r.Context(), req.Instance, req.Database, req.SQL)
	if _, status := errorOf(err); err != nil && status == http.StatusInternalServerError && r.Context().Err() == nil {
		// The engine's other errors are those of reaching the instance,
		// which name it and never hold a secret.
		h.logger.Warn("console: SQL check failed", "instance", req.Instance, "err", err)
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, CheckResponse{Review: res})
	return nil
}

// may returns nil when u may take action on t now, or an error wrapping
// ErrForbidden (or a workflow sentinel) that says why not. approvers are
// the current step's, when known.
func (h *Handler) may(u User, action string, t *workflow.Ticket, approvers []string) error {
	own := t.Submitter == u.Name
	deny := func(why string) error {
		return fmt.Errorf("%w: ticket #%d: %s may not %s it: %s", ErrForbidden, t.ID, u.Name, action, why)
	}
	switch action {
	case "approve", "reject":
		switch {
		case own:
			return fmt.Errorf("console: ticket #%d, %s: %w", t.ID, u.Name, workflow.ErrSelfApproval)
		case !u.Has(RoleReviewer):
			return deny("only reviewers decide approval steps")
		case t.State != workflow.StatePendingApproval:
			return workflow.CheckTransition(t.ID, t.State, workflow.Action(action), workflow.StateRejected)
		case !t.Awaiting:
			return deny("the step's automatic decision is not made yet")
		case approvers != nil && !slices.Contains(approvers, u.Name):
			return fmt.Errorf("console: ticket #%d, step %d, %s: %w", t.ID, t.Step+1, u.Name, workflow.ErrNotApprover)
		}
	case "cutover", "cutback", "endwindow":
		switch {
		case own:
			return fmt.Errorf("console: ticket #%d, %s, %s: %w", t.ID, action, u.Name, workflow.ErrSelfApproval)
		case !u.Has(RoleReviewer):
			return deny("only reviewers approve a cutover, a cut-back or the end of a rollback window")
		case action == "cutover" && t.State != workflow.StateAwaitingCutover && t.State != workflow.StateRunning:
			return workflow.CheckTransition(t.ID, t.State, workflow.ActionCutover, workflow.StateCuttingOver)
		case action == "cutback":
			return workflow.CheckTransition(t.ID, t.State, workflow.ActionCutBack, workflow.StateCuttingBack)
		case action == "endwindow" && t.State != workflow.StateSourceFenced:
			return workflow.CheckTransition(t.ID, t.State, workflow.ActionEndWindow, workflow.StateEndingWindow)
		}
	case "cancel", "retry", "retry_table":
		switch {
		case action == "retry" && t.State == workflow.StateSourceFenced:
			// Running a stopped rollback window's reverse sync again is
			// decided as its end is.
			return h.may(u, "endwindow", t, approvers)
		case !own && !u.Has(RoleAdmin):
			return deny("only its submitter or an admin may")
		case action == "retry_table" && t.State != workflow.StateFailed:
			return workflow.CheckTransition(t.ID, t.State, workflow.ActionRetryTable, workflow.StateQueued)
		case action == "cancel":
			// Not from a final state, nor from a rollback window.
			return workflow.CheckTransition(t.ID, t.State, workflow.ActionCancel, workflow.StateCanceled)
		case action == "retry" && t.State != workflow.StateReviewFailed:
			return workflow.CheckTransition(t.ID, t.State, workflow.ActionRetry, workflow.StateSubmitted)
		}
	default:
		return deny("unknown action")
	}
	return nil
}

// maySubmit checks the instances of r against the submit restrictions.
func (h *Handler) maySubmit(u User, r workflow.Request) error {
	for _, name := range []string{r.Instance, sourceOf(r)} {
		if name == "" {
			continue
		}
		in, err := h.engine.Registry().Get(name)
		if err != nil {
			return err
		}
		if err := h.mayTarget(u, in); err != nil {
			return err
		}
	}
	return nil
}

func sourceOf(r workflow.Request) string {
	if r.Migration != nil {
		return r.Migration.SourceInstance
	}
	return ""
}

// mayTarget returns nil when u may submit tickets touching in.
func (h *Handler) mayTarget(u User, in workflow.Instance) error {
	for _, rs := range h.restricted {
		matches := true
		for k, v := range rs.tags {
			matches = matches && in.Tags[k] == v
		}
		if matches && !slices.ContainsFunc(rs.roles, u.Has) {
			return fmt.Errorf("%w: instance %s (%s): only %s may submit to it", ErrForbidden, in.Name, tagText(rs.tags), roleText(rs.roles))
		}
	}
	return nil
}

func tagText(tags map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		parts = append(parts, k+"="+tags[k])
	}
	return strings.Join(parts, ",")
}

func roleText(roles []Role) string {
	var parts []string
	for _, r := range roles {
		parts = append(parts, string(r)+"s")
	}
	return strings.Join(parts, " or ")
}
