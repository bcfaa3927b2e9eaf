package workflow

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/review"
)

// Errors of the engine, branched on with errors.Is.
var (
	// ErrSelfApproval: the submitter tried to decide their own ticket.
	ErrSelfApproval = errors.New("workflow: the submitter cannot approve or reject their own ticket")
	// ErrNotApprover: the actor may not decide the ticket's current step.
	ErrNotApprover = errors.New("workflow: not an approver of the current step")
	// ErrEmptySQL: a SQL change without SQL.
	ErrEmptySQL = errors.New("workflow: empty SQL")
	// ErrInvalidRequest: a request that cannot become a ticket.
	ErrInvalidRequest = errors.New("workflow: invalid request")
	// ErrOutcomeUnknown: the request repeats the SQL of a ticket that
	// ended in outcome_unknown; Request.ConfirmOutcomeUnknown submits it
	// anyway.
	ErrOutcomeUnknown = errors.New("workflow: an earlier run of this SQL has an unknown outcome")
	// ErrNoCutover: Cutover was asked of a ticket whose kind has none
	// (KindSpec.Cutover).
	ErrNoCutover = errors.New("workflow: the ticket's kind has no cutover")
)

// Reviewer reviews a SQL script; *review.Reviewer satisfies it.
type Reviewer interface {
	Review(ctx context.Context, script string) (*review.Result, error)
}

// Endpoints are the resolved connections of a ticket's instances.
type Endpoints struct {
	Target, Source DSN
}

// KindSpec is how the engine runs one kind of ticket.
type KindSpec struct {
	// Executor builds a fresh executor for t. The engine calls it for the
	// dry run at review (t.Review is set by then) and for each run.
	Executor func(ctx context.Context, t *Ticket, ep Endpoints) (migrate.Executor, error)
	// Resumable reports whether a run of t whose worker died may be
	// started again, continuing from the executor's checkpoint. When it
	// is nil or false, such a ticket fails as abandoned and is never
	// re-run.
	Resumable func(t *Ticket) bool
	// Validate, if set, checks a request of this kind at Submit.
	Validate func(r *Request) error
	// Cutover reports that the kind's executors have a method
	// Cutover(ctx) (*migrate.CutoverReport, error), as migrate.Sync has:
	// once a run's progress reports migrate.PhaseInSync, its ticket
	// awaits a person's cutover (StateAwaitingCutover, Engine.Cutover),
	// which the worker holding it makes.
	Cutover bool
	// TableRetry reports that the kind's executors copy the tables of
	// the ticket's Migration and, when a failed run recorded them
	// (Ticket.Tables), only those pending again, replacing what they hold
	// in the target: a person may then retry a failed table alone
	// (Engine.RetryTable). DataMigrationKind's do.
	TableRetry bool
}

// TargetReviewer is a Reviewer that reviews each ticket against its
// target: the engine reviews a ticket's SQL with the Reviewer ForTarget
// returns for a connection to the ticket's target and its database.
type TargetReviewer interface {
	Reviewer
	ForTarget(ctx context.Context, db *sql.DB, database string) (Reviewer, error)
}

// LiveReview returns the TargetReviewer that reviews each SQL change with
// review.New(opts...) given the target's live catalog (table definitions,
// row estimates by EXPLAIN) and the ticket's database as default. Its
// Review, with no target, reviews without a catalog.
func LiveReview(opts ...review.Option) (TargetReviewer, error) {
	r, err := review.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("workflow: LiveReview: %w", err)
	}
	return &liveReviewer{Reviewer: r, opts: slices.Clone(opts)}, nil
}

type liveReviewer struct {
	*review.Reviewer
	opts []review.Option
}

func (l *liveReviewer) ForTarget(ctx context.Context, db *sql.DB, database string) (Reviewer, error) {
	cat, err := review.NewLiveCatalog(db)
	if err != nil {
		return nil, err
	}
	return review.New(append(slices.Clone(l.opts), review.WithCatalog(cat), review.WithDefaultDatabase(database))...)
}

// InstanceReviewer is a TargetReviewer whose review also depends on the
// target instance, such as its tags (LiveReviewByTags): the engine calls
// ForInstance instead of ForTarget.
type InstanceReviewer interface {
	TargetReviewer
	ForInstance(ctx context.Context, in Instance, db *sql.DB, database string) (Reviewer, error)
}

// TagReview adds review options for the instances that carry all of
// Tags.
type TagReview struct {
	Tags    map[string]string
	Options []review.Option
}

// LiveReviewByTags returns LiveReview(opts...) with per-environment
// policies: a ticket whose target carries all the tags of one of rules
// (the first that does) is reviewed with that rule's options after opts.
// "The prod policy on prod, the default elsewhere" is
//
//	workflow.LiveReviewByTags([]workflow.TagReview{{Tags: map[string]string{"env": "prod"},
//		Options: []review.Option{review.WithPolicy(review.ProdPolicy())}}})
//
// Its Review and ForTarget, which know no instance, use opts alone. Each
// rule's options are checked here.
func LiveReviewByTags(rules []TagReview, opts ...review.Option) (InstanceReviewer, error) {
	base, err := LiveReview(opts...)
	if err != nil {
		return nil, err
	}
	l := base.(*liveReviewer)
	for i, r := range rules {
		if len(r.Tags) == 0 {
			return nil, fmt.Errorf("workflow: LiveReviewByTags: rule %d has no tags", i+1)
		}
		if _, err := review.New(append(slices.Clone(opts), r.Options...)...); err != nil {
			return nil, fmt.Errorf("workflow: LiveReviewByTags: rule %d (%v): %w", i+1, r.Tags, err)
		}
	}
	return &tagReviewer{liveReviewer: l, rules: slices.Clone(rules)}, nil
}

type tagReviewer struct {
	*liveReviewer
	rules []TagReview
}

func (t *tagReviewer) ForInstance(ctx context.Context, in Instance, db *sql.DB, database string) (Reviewer, error) {
	for _, r := range t.rules {
		if hasTags(in, r.Tags) {
			l := &liveReviewer{Reviewer: t.Reviewer, opts: append(slices.Clone(t.opts), r.Options...)}
			return l.ForTarget(ctx, db, database)
		}
	}
	return t.ForTarget(ctx, db, database)
}

// hasTags reports whether in carries all of tags.
func hasTags(in Instance, tags map[string]string) bool {
	for k, v := range tags {
		if in.Tags[k] != v {
			return false
		}
	}
	return true
}

// Option configures an Engine. Options validate their arguments; New
// checks them against each other and returns the first error.
type Option func(*config) error

// config is what the options set; New checks it before it builds the
// Engine.
type config struct {
	chains      map[Kind][]Step
	kinds       map[Kind]KindSpec
	notifiers   map[string]Notifier
	dispatchCfg DispatcherConfig
	logger      *slog.Logger
	now         func() time.Time
	lease, poll time.Duration
	workers     int
	workerID    string

	progressEvery time.Duration
}

// WithChain sets the approval chain of a kind of ticket.
func WithChain(kind Kind, steps ...Step) Option {
	return func(e *config) error {
		if err := validateChain(kind, steps); err != nil {
			return err
		}
		e.chains[kind] = slices.Clone(steps)
		return nil
	}
}

// WithKind registers a kind of ticket, or replaces a built-in one.
func WithKind(kind Kind, spec KindSpec) Option {
	return func(e *config) error {
		if kind == "" || spec.Executor == nil {
			return fmt.Errorf("WithKind(%q): empty kind or no executor", kind)
		}
		e.kinds[kind] = spec
		return nil
	}
}

// WithNotifier adds a notifier under a name; events reach it through the
// engine's Dispatcher after each transition commits.
func WithNotifier(name string, n Notifier) Option {
	return func(e *config) error {
		if name == "" || n == nil {
			return fmt.Errorf("WithNotifier(%q): empty name or nil notifier", name)
		}
		if _, dup := e.notifiers[name]; dup {
			return fmt.Errorf("WithNotifier(%q): name used twice", name)
		}
		e.notifiers[name] = n
		return nil
	}
}

// WithDispatcherConfig tunes notification retries and queues.
func WithDispatcherConfig(c DispatcherConfig) Option {
	return func(e *config) error { e.dispatchCfg = c; return nil }
}

// WithLogger logs through l (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(e *config) error {
		if l == nil {
			return errors.New("WithLogger: nil logger")
		}
		e.logger = l
		return nil
	}
}

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option {
	return func(e *config) error {
		if now == nil {
			return errors.New("WithClock: nil clock")
		}
		e.now = now
		return nil
	}
}

// WithLease sets how long a claim lasts without a heartbeat (default 30s;
// heartbeats come every third of it). A ticket whose worker misses it is
// reaped.
func WithLease(d time.Duration) Option {
	return func(e *config) error {
		if d < 100*time.Millisecond {
			return fmt.Errorf("WithLease: %v is shorter than 100ms", d)
		}
		e.lease = d
		return nil
	}
}

// WithWorkers sets how many tickets Run executes at once (default 2).
func WithWorkers(n int) Option {
	return func(e *config) error {
		if n < 1 {
			return fmt.Errorf("WithWorkers: %d is not positive", n)
		}
		e.workers = n
		return nil
	}
}

// WithPollInterval sets how often idle workers look for tickets and the
// reaper for dead workers and opening windows (default 1s).
func WithPollInterval(d time.Duration) Option {
	return func(e *config) error {
		if d <= 0 {
			return fmt.Errorf("WithPollInterval: %v is not positive", d)
		}
		e.poll = d
		return nil
	}
}

// WithProgressEvents sends an EventProgress with the progress line of a
// running ticket at most every d (default: never, to keep mailboxes
// quiet; progress is always stored and readable through Get).
func WithProgressEvents(d time.Duration) Option {
	return func(e *config) error {
		if d <= 0 {
			return fmt.Errorf("WithProgressEvents: %v is not positive", d)
		}
		e.progressEvery = d
		return nil
	}
}

// WithWorkerID names this process's workers in leases and the audit trail
// (default hostname:pid).
func WithWorkerID(id string) Option {
	return func(e *config) error {
		if id == "" {
			return errors.New("WithWorkerID: empty id")
		}
		e.workerID = id
		return nil
	}
}

// Engine runs tickets: Submit reviews them and runs automatic approvers,
// Approve and Reject take people's decisions, Run executes approved
// tickets with a pool of workers. Every transition is one store
// transaction with an audit entry; notifications follow the commit.
type Engine struct {
	store      Store
	registry   *Registry
	secrets    SecretResolver
	reviewer   Reviewer
	dispatcher *Dispatcher
	config

	mu      sync.Mutex
	running map[int64]context.CancelFunc // tickets this process runs
}

// New returns an engine over store that runs tickets on the instances of
// registry, with credentials from secrets, and reviews every SQL change
// with reviewer; a TargetReviewer (LiveReview) reviews each against its
// target.
func New(store Store, registry *Registry, secrets SecretResolver, reviewer Reviewer, opts ...Option) (*Engine, error) {
	switch {
	case store == nil:
		return nil, errors.New("workflow: New: nil store")
	case registry == nil:
		return nil, errors.New("workflow: New: nil instance registry")
	case secrets == nil:
		return nil, errors.New("workflow: New: nil secret resolver")
	case reviewer == nil:
		return nil, errors.New("workflow: New: nil SQL reviewer")
	}
	host, _ := os.Hostname()
	cfg := config{
		chains: map[Kind][]Step{}, notifiers: map[string]Notifier{},
		kinds:  map[Kind]KindSpec{KindSQLChange: sqlChangeSpec, KindDataMigration: dataMigrationSpec, KindLiveMove: liveMoveSpec},
		logger: slog.New(slog.DiscardHandler), now: time.Now,
		lease: 30 * time.Second, poll: time.Second, workers: 2,
		workerID: fmt.Sprintf("%s:%d", cmp.Or(host, "host"), os.Getpid()),
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("workflow: New: nil option")
		}
		if err := o(&cfg); err != nil {
			return nil, wrapf(err, "New")
		}
	}
	e := &Engine{store: store, registry: registry, secrets: secrets, reviewer: reviewer, config: cfg,
		running: map[int64]context.CancelFunc{}}
	for kind := range e.chains {
		if _, ok := e.kinds[kind]; !ok {
			return nil, fmt.Errorf("workflow: New: WithChain(%s): unknown kind", kind)
		}
	}
	if len(e.notifiers) > 0 {
		if e.dispatchCfg.Logger == nil {
			e.dispatchCfg.Logger = e.logger
		}
		d, err := NewDispatcher(e.notifiers, e.dispatchCfg)
		if err != nil {
			return nil, err
		}
		e.dispatcher = d
	}
	return e, nil
}

// Close waits for queued notifications (until ctx ends). Call it after Run
// has returned.
func (e *Engine) Close(ctx context.Context) error {
	if e.dispatcher == nil {
		return nil
	}
	return e.dispatcher.Close(ctx)
}

// NotificationFailures returns the latest notifications that did not
// reach a notifier.
func (e *Engine) NotificationFailures() []Failure {
	if e.dispatcher == nil {
		return nil
	}
	return e.dispatcher.Failures()
}

// reviewerFor returns the reviewer of a ticket on database of instance,
// whose connection db is.
func (e *Engine) reviewerFor(ctx context.Context, instance string, db *sql.DB, database string) (Reviewer, error) {
	if ir, ok := e.reviewer.(InstanceReviewer); ok {
		in, err := e.registry.Get(instance)
		if err != nil {
			return nil, err
		}
		return ir.ForInstance(ctx, in, db, database)
	}
	if tr, ok := e.reviewer.(TargetReviewer); ok {
		return tr.ForTarget(ctx, db, database)
	}
	return e.reviewer, nil
}

// Kinds returns the kinds of tickets the engine accepts (those with an
// approval chain), sorted.
func (e *Engine) Kinds() []Kind {
	return slices.Sorted(maps.Keys(e.chains))
}

// Registry returns the engine's instances.
func (e *Engine) Registry() *Registry { return e.registry }

// Submit files a ticket, reviews it and runs the automatic steps of its
// approval chain. It returns the ticket as it stands after that: review
// failed, pending approval (of a person), or approved and queued or
// scheduled. A request whose ClientKey was seen before returns that
// ticket, after taking it through any step the engine still owes it (the
// first Submit stopped, or is still at it). Bad requests fail before
// anything is stored, and so does a SQL change whose same SQL on the same
// target ended in outcome_unknown, with ErrOutcomeUnknown, unless
// r.ConfirmOutcomeUnknown is set.
func (e *Engine) Submit(ctx context.Context, r Request) (*Ticket, error) {
	if err := e.validate(&r); err != nil {
		return nil, err
	}
	note, err := e.checkRerun(ctx, &r)
	if err != nil {
		return nil, err
	}
	t := &Ticket{
		ClientKey: r.ClientKey, Kind: r.Kind, Title: r.Title, Submitter: r.Submitter, CC: slices.Clone(r.CC),
		Instance: r.Instance, Database: r.Database, SQL: r.SQL, Migration: r.Migration, Window: r.Window,
	}
	t, created, err := e.store.Create(ctx, t, e.now())
	if err != nil {
		return nil, err
	}
	if created {
		e.notify(ctx, t, EventSubmitted, t.Submitter, note, e.describe(t))
	}
	// Whichever of two Submits (or a Submit and a recovering engine) is
	// second to move the ticket on meets a conflict and returns the
	// ticket as the other left it.
	next, err := e.moveOn(ctx, t)
	if errors.Is(err, ErrConflict) {
		return e.current(ctx, t.ID)
	}
	return next, err
}

// current returns ticket id as it stands now.
func (e *Engine) current(ctx context.Context, id int64) (*Ticket, error) {
	d, err := e.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return d.Ticket, nil
}

// moveOn takes t through the steps only the engine takes: the review of a
// submitted ticket, the automatic decisions of a pending one (not yet left
// to a person), the release of an approved one. Tickets in other states
// come back as they are.
func (e *Engine) moveOn(ctx context.Context, t *Ticket) (*Ticket, error) {
	switch {
	case t.State == StateSubmitted:
		next, err := e.review(ctx, t)
		if err != nil {
			return t, err
		}
		return e.advance(ctx, next)
	case t.State == StatePendingApproval && !t.Awaiting:
		return e.advance(ctx, t)
	case t.State == StateApproved:
		return e.release(ctx, t)
	}
	return t, nil
}

// checkRerun refuses a SQL change that repeats one whose outcome is
// unknown, unless r confirms it; a confirmed rerun returns the note that
// goes with its submission.
func (e *Engine) checkRerun(ctx context.Context, r *Request) (string, error) {
	if r.SQL == "" {
		return "", nil
	}
	var prior *Ticket
	err := e.each(ctx, Filter{States: []State{StateOutcomeUnknown}, Instance: r.Instance}, func(t *Ticket) error {
		if prior == nil && t.Instance == r.Instance && t.Database == r.Database && sameSQL(t.SQL, r.SQL) &&
			(r.ClientKey == "" || t.ClientKey != r.ClientKey) {
			prior = t
		}
		return nil
	})
	if err != nil || prior == nil {
		return "", err
	}
	if !r.ConfirmOutcomeUnknown {
		return "", fmt.Errorf("workflow: ticket #%d ran the same SQL on %s/%s and its worker died during a statement (%s): "+
			"check what the target holds, then submit with ConfirmOutcomeUnknown: %w", prior.ID, r.Instance, r.Database, prior.State, ErrOutcomeUnknown)
	}
	e.logger.Warn("resubmitting a SQL change whose earlier run has an unknown outcome, as confirmed", "earlier", prior.ID, "submitter", r.Submitter)
	return fmt.Sprintf("confirmed rerun of the SQL of ticket #%d, whose outcome is unknown", prior.ID), nil
}

// sameSQL reports whether two scripts differ at most in whitespace.
func sameSQL(a, b string) bool {
	return slices.Equal(strings.Fields(a), strings.Fields(b))
}

// each calls f with every ticket filter selects, page by page.
func (e *Engine) each(ctx context.Context, filter Filter, f func(*Ticket) error) error {
	filter.Limit = 1000
	for {
		page, err := e.store.List(ctx, filter)
		if err != nil {
			return err
		}
		for _, t := range page {
			if err := f(t); err != nil {
				return err
			}
		}
		if len(page) < filter.Limit {
			return nil
		}
		filter.BeforeID = page[len(page)-1].ID
	}
}

func (e *Engine) validate(r *Request) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
	}
	spec, ok := e.kinds[r.Kind]
	switch {
	case !ok:
		return bad("unknown kind %q", r.Kind)
	case len(e.chains[r.Kind]) == 0:
		return bad("kind %s has no approval chain", r.Kind)
	case strings.TrimSpace(r.Submitter) == "":
		return bad("no submitter")
	}
	if _, err := e.registry.Get(r.Instance); err != nil {
		return wrapf(err, "target")
	}
	if err := schema.ValidateName("database", r.Database); err != nil {
		return bad("target %v", err)
	}
	if r.Window != nil && !r.Window.NotAfter.IsZero() {
		if !r.Window.NotAfter.After(r.Window.NotBefore) || !r.Window.NotAfter.After(e.now()) {
			return bad("window ends %v, before it starts or in the past", r.Window.NotAfter)
		}
	}
	switch r.Kind {
	case KindSQLChange:
		if strings.TrimSpace(r.SQL) == "" {
			return fmt.Errorf("%w: ticket %q", ErrEmptySQL, r.Title)
		}
		if r.Migration != nil {
			return bad("a SQL change has no migration")
		}
	case KindDataMigration, KindLiveMove:
		m := r.Migration
		if m == nil {
			return bad("a %s needs Migration", r.Kind)
		}
		if r.SQL != "" {
			return bad("a %s has no SQL", r.Kind)
		}
		if _, err := e.registry.Get(m.SourceInstance); err != nil {
			return wrapf(err, "source")
		}
		if err := schema.ValidateName("database", m.SourceDatabase); err != nil {
			return bad("source %v", err)
		}
		method, ok := defaultMethod[r.Kind], false
		switch r.Kind {
		case KindDataMigration:
			ok = m.Method == "" || m.Method == MethodPipe || m.Method == MethodCopier
			if m.Fence != "" || len(m.Accounts) > 0 || m.Reverse || m.PendingSwitch != "" {
				return bad("a data migration has no fence, reverse sync nor pending switch: its source is never stopped")
			}
		case KindLiveMove:
			ok = m.Method == "" || m.Method == MethodSync
			fence, err := ParseFence(m.Fence)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
			}
			if m.Reverse && fence == migrate.FenceFlushTables {
				return bad("a live move with a reverse sync needs the fence accounts or read-only: the flush-tables fence ends with the cutover")
			}
			if _, err := ParsePendingSwitch(m.PendingSwitch); err != nil {
				return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
			}
			if m.PendingSwitch != "" && fence != migrate.FenceFlushTables {
				return bad("pending_switch %q applies to the fence flush-tables only (fence %s)", m.PendingSwitch, m.Fence)
			}
		}
		if !ok {
			return bad("method %q cannot run a %s", m.Method, r.Kind)
		}
		if m.Method == "" {
			c := *m
			c.Method = method
			r.Migration = &c
		}
	}
	if spec.Validate != nil {
		if err := spec.Validate(r); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
	}
	if r.Title == "" {
		r.Title = fmt.Sprintf("%s on %s/%s", r.Kind, r.Instance, r.Database)
	}
	return nil
}

// defaultMethod is the Migration.Method of a request that names none.
var defaultMethod = map[Kind]string{KindDataMigration: MethodCopier, KindLiveMove: MethodSync}

func (e *Engine) describe(t *Ticket) string {
	if m := t.Migration; m != nil {
		what := "database " + m.SourceDatabase
		if len(m.Tables) > 0 {
			what = "tables " + strings.Join(m.Tables, ", ") + " of " + m.SourceDatabase
		}
		if m.Method == MethodSync {
			fence := cmp.Or(m.Fence, migrate.FenceFlushTables.String())
			if len(m.Accounts) > 0 {
				fence += " " + strings.Join(m.Accounts, ", ")
			}
			if m.Reverse {
				fence += "; rollback window"
			}
			if m.PendingSwitch != "" {
				fence += "; pending switch: " + m.PendingSwitch
			}
			return fmt.Sprintf("live move of %s from %s to %s/%s (cutover fence: %s)", what, m.SourceInstance, t.Instance, t.Database, fence)
		}
		return fmt.Sprintf("copy %s from %s to %s/%s (%s)", what, m.SourceInstance, t.Instance, t.Database, m.Method)
	}
	return fmt.Sprintf("SQL change on %s/%s: %s", t.Instance, t.Database, shortSQL(t.SQL))
}

func shortSQL(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 120 {
		return string(r[:117]) + "..."
	}
	return s
}

// endpoints resolves the DSNs of t's instances.
func (e *Engine) endpoints(ctx context.Context, t *Ticket) (Endpoints, error) {
	var ep Endpoints
	in, err := e.registry.Get(t.Instance)
	if err != nil {
		return ep, err
	}
	if ep.Target, err = dsn(ctx, e.secrets, in); err != nil {
		return ep, err
	}
	if src := t.SourceInstance(); src != "" {
		in, err := e.registry.Get(src)
		if err != nil {
			return ep, err
		}
		if ep.Source, err = dsn(ctx, e.secrets, in); err != nil {
			return ep, err
		}
	}
	return ep, nil
}

// review runs the automatic review: the SQL reviewer, then the executor's
// dry run. Either failing ends the ticket in review_failed.
func (e *Engine) review(ctx context.Context, t *Ticket) (*Ticket, error) {
	res, plan, fault := e.check(ctx, t)
	to, comment := StatePendingApproval, "review passed"
	if res != nil {
		s := res.Summary
		comment = fmt.Sprintf("review passed: %d statement(s), %d error(s), %d warning(s), risk %s", s.Statements, s.Errors, s.Warnings, s.Risk)
	} else if plan != nil {
		var rows int64
		for _, tp := range plan.Tables {
			rows += tp.Rows
		}
		comment = fmt.Sprintf("dry run passed: %d table(s), about %d rows, %d other object(s)", len(plan.Tables), rows, len(plan.Objects))
	}
	if fault != nil {
		to, comment = StateReviewFailed, "review failed: "+fault.Error()
	}
	t, err := e.transition(ctx, Change{Ticket: t.ID, Version: t.Version, Action: ActionReview, To: to, Actor: SystemActor, Comment: comment,
		Update: func(t *Ticket) error {
			t.Review, t.Plan, t.Step = res, plan, 0
			if fault != nil {
				t.setError(comment, fault)
			}
			return nil
		}})
	if err != nil {
		return t, err
	}
	e.notify(ctx, t, EventReviewed, SystemActor, comment, reviewDetail(res))
	return t, nil
}

// check reviews t and returns the problem that fails it, if any: an
// error whose text is for the ticket's people and that keeps its cause's
// identity (ErrReviewRefused for a refused script).
func (e *Engine) check(ctx context.Context, t *Ticket) (*review.Result, *migrate.Plan, error) {
	ep, err := e.endpoints(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	var res *review.Result
	if t.SQL != "" {
		if res, err = e.reviewOn(ctx, t.Instance, ep.Target, t.Database, t.SQL); err != nil {
			return nil, nil, err
		}
		if !res.Summary.Pass {
			return res, nil, &problem{msg: failedFindings(res), err: ErrReviewRefused}
		}
		if len(res.Statements) == 0 {
			return res, nil, &problem{msg: "the script holds no statement", err: ErrReviewRefused}
		}
	}
	c := t.Clone()
	c.Review = res
	ex, err := e.kinds[t.Kind].Executor(ctx, c, ep)
	if err != nil {
		return res, nil, err
	}
	plan, err := ex.Plan(ctx)
	if err != nil {
		return res, plan, &problem{msg: "dry run: " + planProblem(err), err: err}
	}
	return res, plan, nil
}

// reviewOn reviews script with the reviewer of database on instance,
// whose DSN is target.
func (e *Engine) reviewOn(ctx context.Context, instance string, target DSN, database, script string) (*review.Result, error) {
	cfg, err := conn.ParseDSN(string(target))
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", instance, err)
	}
	db, err := conn.Open(ctx, cfg, conn.Options{MaxConns: 2, Logger: e.logger})
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", instance, err)
	}
	defer db.Close()
	r, err := e.reviewerFor(ctx, instance, db, database)
	if err != nil {
		return nil, fmt.Errorf("reviewer for %s: %w", instance, err)
	}
	res, err := r.Review(ctx, script)
	if err != nil {
		return nil, fmt.Errorf("review: %w", err)
	}
	return res, nil
}

// Check reviews script as the review of a SQL change on database of
// instance would, at Submit, and stores nothing: the self-service SQL
// check. An unknown instance gives an error wrapping ErrUnknownInstance,
// an invalid database name or an empty script one wrapping
// ErrInvalidRequest or ErrEmptySQL; a failing review is a Result whose
// Summary.Pass is false, not an error.
func (e *Engine) Check(ctx context.Context, instance, database, script string) (*review.Result, error) {
	in, err := e.registry.Get(instance)
	if err != nil {
		return nil, wrapf(err, "check")
	}
	if err := schema.ValidateName("database", database); err != nil {
		return nil, fmt.Errorf("%w: check: %v", ErrInvalidRequest, err)
	}
	if strings.TrimSpace(script) == "" {
		return nil, wrapf(ErrEmptySQL, "check")
	}
	target, err := dsn(ctx, e.secrets, in)
	if err != nil {
		return nil, wrapf(err, "check")
	}
	res, err := e.reviewOn(ctx, instance, target, database, script)
	if err != nil {
		return nil, wrapf(err, "check")
	}
	return res, nil
}

// planProblem is the text of a failed dry run for a ticket. The
// executors' hints name Go options, which a ticket's submitter does not
// set: the hint of a target that holds rows names the ticket's field
// instead.
func planProblem(err error) string {
	var ee *migrate.EndpointError
	if errors.As(err, &ee) && errors.Is(ee, migrate.ErrNotEmpty) && ee.Hint != "" {
		return strings.Replace(err.Error(), ee.Error(), ee.Problem()+" (if they may go, resubmit with the migration's replace set)", 1)
	}
	return err.Error()
}

func failedFindings(r *review.Result) string {
	var parts []string
	for _, st := range r.Statements {
		for _, f := range st.Findings {
			if f.Level >= review.LevelError {
				parts = append(parts, fmt.Sprintf("statement %d: %s: %s", st.Index+1, f.Rule, f.Message))
			}
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d error(s), %d warning(s) at policy %s", r.Summary.Errors, r.Summary.Warnings, r.Summary.Policy)
	}
	return strings.Join(parts, "; ")
}

func reviewDetail(r *review.Result) string {
	if r == nil {
		return ""
	}
	var b strings.Builder
	s := r.Summary
	fmt.Fprintf(&b, "policy %s: pass %v, %d statement(s), %d error(s), %d warning(s), %d notice(s), risk %s",
		s.Policy, s.Pass, s.Statements, s.Errors, s.Warnings, s.Notices, s.Risk)
	for _, st := range r.Statements {
		rows := "?"
		if st.AffectedRows != nil {
			rows = fmt.Sprint(*st.AffectedRows)
		}
		fmt.Fprintf(&b, "\n  #%d %s %s, ~%s rows, risk %s", st.Index+1, st.Kind, st.Type, rows, st.Risk)
		for _, f := range st.Findings {
			fmt.Fprintf(&b, "\n     %s %s: %s", f.Level, f.Rule, f.Message)
		}
	}
	return b.String()
}

// transition applies c with the engine's clock.
func (e *Engine) transition(ctx context.Context, c Change) (*Ticket, error) {
	c.At = e.now()
	t, err := e.store.Transition(ctx, c)
	if err != nil {
		return nil, err
	}
	e.logger.Info("ticket transition", "ticket", t.ID, "action", string(c.Action), "to", t.State.String(), "actor", c.Actor)
	return t, nil
}

func (e *Engine) caseOf(t *Ticket) (Case, error) {
	c := Case{Ticket: t.Clone()}
	var err error
	if c.Target, err = e.registry.Get(t.Instance); err != nil {
		return c, err
	}
	if src := t.SourceInstance(); src != "" {
		in, err := e.registry.Get(src)
		if err != nil {
			return c, err
		}
		c.Source = &in
	}
	return c, nil
}

// advance runs the automatic decisions of the current steps, then queues
// or schedules an approved ticket.
func (e *Engine) advance(ctx context.Context, t *Ticket) (*Ticket, error) {
	for t.State == StatePendingApproval {
		steps := e.chains[t.Kind]
		if t.Step >= len(steps) {
			return t, e.stepError(t)
		}
		st := steps[t.Step]
		c, err := e.caseOf(t)
		if err != nil {
			return t, err
		}
		d, err := st.Approver.Decide(ctx, c)
		if err != nil {
			e.logger.Warn("approver failed; a person decides", "ticket", t.ID, "step", st.Name, "err", err)
			d = Decision{Verdict: Wait, Reason: fmt.Sprintf("the approver failed (%v); a person decides", err)}
		}
		switch d.Verdict {
		case Approve:
			if t, err = e.decide(ctx, t, "auto:"+st.Name, d.Reason, true); err != nil {
				return t, err
			}
		case Reject:
			return e.decide(ctx, t, "auto:"+st.Name, d.Reason, false)
		default:
			// Recorded, so that no engine takes the step for one still
			// owed its automatic decision.
			next, err := e.transition(ctx, Change{Ticket: t.ID, Version: t.Version, Action: ActionAwait, To: StatePendingApproval, Actor: SystemActor,
				Comment: fmt.Sprintf("step %d (%s): %s", t.Step+1, st.Name, d.Reason),
				Update:  func(t *Ticket) error { t.Awaiting = true; return nil }})
			if err != nil {
				return t, err
			}
			who, err := st.Approver.Approvers(ctx, c)
			if err != nil {
				e.logger.Warn("approver list failed", "ticket", t.ID, "step", st.Name, "err", err)
			}
			e.notifyTo(next, EventApprovalRequested, SystemActor, d.Reason,
				fmt.Sprintf("step %d of %d (%s): %s", t.Step+1, len(steps), st.Name, e.describe(t)), who)
			return next, nil
		}
	}
	return e.release(ctx, t)
}

// stepError reports a ticket whose step is not in its kind's chain (the
// chain was shortened after it was filed).
func (e *Engine) stepError(t *Ticket) error {
	return fmt.Errorf("workflow: ticket #%d is at approval step %d, but the chain of %s has %d step(s); cancel and resubmit it",
		t.ID, t.Step+1, t.Kind, len(e.chains[t.Kind]))
}

// decide approves or rejects the current step of t as actor.
func (e *Engine) decide(ctx context.Context, t *Ticket, actor, comment string, approve bool) (*Ticket, error) {
	steps := e.chains[t.Kind]
	step := t.Step
	action, to := ActionReject, StateRejected
	if approve {
		action, to = ActionApprove, StatePendingApproval
		if step+1 >= len(steps) {
			to = StateApproved
		}
	}
	at := e.now()
	next, err := e.transition(ctx, Change{Ticket: t.ID, Version: t.Version, Action: action, To: to, Actor: actor,
		Comment: fmt.Sprintf("step %d (%s): %s", step+1, steps[step].Name, comment),
		Update: func(t *Ticket) error {
			t.Approvals = append(t.Approvals, Approval{Step: step, Name: steps[step].Name, Actor: actor, Approve: approve, Comment: comment, At: at})
			t.Awaiting = false
			if approve && step+1 < len(steps) {
				t.Step = step + 1
			}
			if !approve {
				t.FinishedAt = at
			}
			return nil
		}})
	if err != nil {
		return nil, err
	}
	kind := EventApproved
	if !approve {
		kind = EventRejected
	}
	e.notify(ctx, next, kind, actor, comment, fmt.Sprintf("step %d of %d (%s)", step+1, len(steps), steps[step].Name))
	return next, nil
}

// release queues an approved ticket, or schedules it for its window.
func (e *Engine) release(ctx context.Context, t *Ticket) (*Ticket, error) {
	if t.State != StateApproved {
		return t, nil
	}
	if t.Window != nil && !t.Window.Open(e.now()) {
		next, err := e.transition(ctx, Change{Ticket: t.ID, Version: t.Version, Action: ActionSchedule, To: StateScheduled, Actor: SystemActor,
			Comment: windowText(t.Window)})
		if err != nil {
			return t, err
		}
		e.notify(ctx, next, EventScheduled, SystemActor, windowText(t.Window), "")
		return next, nil
	}
	return e.transition(ctx, Change{Ticket: t.ID, Version: t.Version, Action: ActionEnqueue, To: StateQueued, Actor: SystemActor, Comment: "waiting for a worker"})
}

func windowText(w *Window) string {
	f := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Format(time.RFC3339)
	}
	return fmt.Sprintf("runs in the window %s to %s", f(w.NotBefore), f(w.NotAfter))
}

// Approve approves the current step of ticket id as actor. The submitter
// gets ErrSelfApproval, someone outside the step's approvers
// ErrNotApprover, a ticket not pending approval a *TransitionError, and a
// ticket decided concurrently a *ConflictError.
func (e *Engine) Approve(ctx context.Context, id int64, actor, comment string) (*Ticket, error) {
	return e.personDecides(ctx, id, actor, comment, true)
}

// Reject rejects ticket id at its current step, which ends it; the rules
// of Approve apply.
func (e *Engine) Reject(ctx context.Context, id int64, actor, comment string) (*Ticket, error) {
	return e.personDecides(ctx, id, actor, comment, false)
}

func (e *Engine) personDecides(ctx context.Context, id int64, actor, comment string, approve bool) (*Ticket, error) {
	action, to := ActionApprove, StateApproved
	if !approve {
		action, to = ActionReject, StateRejected
	}
	if strings.TrimSpace(actor) == "" {
		return nil, fmt.Errorf("%w: ticket #%d: no actor", ErrInvalidRequest, id)
	}
	d, err := e.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	t := d.Ticket
	if t.Submitter == actor {
		return nil, wrapf(ErrSelfApproval, "ticket #%d, %s", id, actor)
	}
	if t.State != StatePendingApproval {
		return nil, CheckTransition(id, t.State, action, to)
	}
	steps := e.chains[t.Kind]
	who, err := e.Approvers(ctx, t)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(who, actor) {
		return nil, wrapf(ErrNotApprover, "ticket #%d, step %d (%s), %s", id, t.Step+1, steps[t.Step].Name, actor)
	}
	t, err = e.decide(ctx, t, actor, comment, approve)
	if err != nil || !approve {
		return t, err
	}
	next, err := e.advance(ctx, t)
	if errors.Is(err, ErrConflict) {
		// The decision stands; someone else moved the ticket on since.
		return e.current(ctx, id)
	}
	return next, err
}

// Approvers returns the people who may decide the current step of t in
// person, its submitter left out; nil when t is not pending approval.
func (e *Engine) Approvers(ctx context.Context, t *Ticket) ([]string, error) {
	if t.State != StatePendingApproval {
		return nil, nil
	}
	steps := e.chains[t.Kind]
	if t.Step >= len(steps) {
		return nil, e.stepError(t)
	}
	c, err := e.caseOf(t)
	if err != nil {
		return nil, err
	}
	who, err := steps[t.Step].Approver.Approvers(ctx, c)
	if err != nil {
		return nil, wrapf(err, "ticket #%d: approvers of step %d", t.ID, t.Step+1)
	}
	return slices.DeleteFunc(who, func(name string) bool { return name == t.Submitter }), nil
}

// Retry reviews ticket id again after its review failed (a server was
// unreachable, credentials were wrong, the target has changed since): it
// goes back to submitted, as actor asked, and through the review and the
// automatic approval steps as at Submit; the submitter and the CC list
// hear of it (EventRetried, then EventReviewed). The ticket is returned as
// it stands after that.
//
// A live move whose rollback window stopped (source_fenced) is queued
// again instead, as actor asked, who must be allowed to approve its
// cutover (MayCutOver): its next run goes back to the window, the reverse
// sync resuming from its position; the submitter and the CC list hear of
// it (EventRetried). A ticket in another state gives a *TransitionError.
func (e *Engine) Retry(ctx context.Context, id int64, actor, comment string) (*Ticket, error) {
	if strings.TrimSpace(actor) == "" {
		return nil, fmt.Errorf("%w: ticket #%d: no actor", ErrInvalidRequest, id)
	}
	d, err := e.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if d.Ticket.State == StateSourceFenced {
		if err := e.MayCutOver(ctx, d.Ticket, actor); err != nil {
			return nil, err
		}
		return e.reopenWindow(ctx, d.Ticket, actor, cmp.Or(comment, "run the reverse sync again"), ActionRetry, EventRetried)
	}
	t, err := e.transition(ctx, Change{Ticket: id, Version: d.Ticket.Version, Action: ActionRetry, To: StateSubmitted, Actor: actor,
		Comment: cmp.Or(comment, "review again"),
		Update: func(t *Ticket) error {
			t.Review, t.Plan = nil, nil
			t.setError("", nil)
			return nil
		}})
	if err != nil {
		return nil, err
	}
	e.notify(ctx, t, EventRetried, actor, comment, "reviewed again: "+e.describe(t))
	next, err := e.moveOn(ctx, t)
	if errors.Is(err, ErrConflict) {
		return e.current(ctx, id)
	}
	return next, err
}

// Cancel cancels ticket id: before it runs, or while it runs (its
// executor's context is canceled; a worker in another process notices at
// its next heartbeat). A finished ticket gives a *TransitionError. A live
// move's sync stops and leaves the target as it is (see LiveMoveKind); a
// cutover under way is abandoned and the source's writes restored.
func (e *Engine) Cancel(ctx context.Context, id int64, actor, comment string) (*Ticket, error) {
	if strings.TrimSpace(actor) == "" {
		return nil, fmt.Errorf("%w: ticket #%d: no actor", ErrInvalidRequest, id)
	}
	d, err := e.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	t := d.Ticket
	at := e.now()
	next, err := e.transition(ctx, Change{Ticket: id, Version: t.Version, Action: ActionCancel, To: StateCanceled, Actor: actor, Comment: comment,
		Update: func(t *Ticket) error { t.FinishedAt = at; return nil }})
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if cancel := e.running[id]; cancel != nil {
		cancel()
	}
	e.mu.Unlock()
	e.notify(ctx, next, EventCanceled, actor, comment, "")
	return next, nil
}

// Cutover approves the cutover of live move id (a kind with
// KindSpec.Cutover) as actor, who must be one of the approvers of the last
// step of the kind's chain, and never the submitter (ErrNotApprover,
// ErrSelfApproval). A ticket awaiting its cutover goes to cutting_over,
// recorded with actor and comment, and the worker holding it cuts over:
// it stops writes on the source, waits until the target holds everything,
// verifies and switches (see migrate.Sync.Cutover). Success ends the
// ticket succeeded with the cutover's report in Report.Cutover; a refusal
// or failure (not in sync any more, the drain, the catch-up timeout,
// verification, the switch) is recorded as cutover_failed and the ticket
// awaits another cutover, the sync going on. A running ticket, not in
// sync yet, refuses the cutover: the refusal is recorded, and the error
// wraps migrate.ErrNotInSync. Other states give a *TransitionError.
func (e *Engine) Cutover(ctx context.Context, id int64, actor, comment string) (*Ticket, error) {
	if strings.TrimSpace(actor) == "" {
		return nil, fmt.Errorf("%w: ticket #%d: no actor", ErrInvalidRequest, id)
	}
	for attempt := 1; ; attempt++ {
		d, err := e.store.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		t := d.Ticket
		if err := e.MayCutOver(ctx, t, actor); err != nil {
			return nil, err
		}
		next, err := e.cutover(ctx, t, actor, comment)
		if errors.Is(err, ErrConflict) && attempt < 3 {
			continue // its worker moved it meanwhile (in sync now): decide on what it is now
		}
		return next, err
	}
}

// MayCutOver returns nil when actor may approve the cutover of t (see
// Cutover), whatever t's state, and otherwise the error Cutover would
// give: ErrNoCutover, ErrSelfApproval or ErrNotApprover.
func (e *Engine) MayCutOver(ctx context.Context, t *Ticket, actor string) error {
	steps := e.chains[t.Kind]
	if !e.kinds[t.Kind].Cutover || len(steps) == 0 {
		return wrapf(ErrNoCutover, "ticket #%d (%s)", t.ID, t.Kind)
	}
	if t.Submitter == actor {
		return wrapf(ErrSelfApproval, "ticket #%d, cutover, %s", t.ID, actor)
	}
	who, err := e.cutoverApprovers(ctx, t)
	if err != nil {
		return err
	}
	if !slices.Contains(who, actor) {
		return wrapf(ErrNotApprover, "ticket #%d, cutover (approvers of step %s), %s", t.ID, steps[len(steps)-1].Name, actor)
	}
	return nil
}

// cutoverApprovers are the people who may approve t's cutover: the
// approvers of the last step of its kind's chain.
func (e *Engine) cutoverApprovers(ctx context.Context, t *Ticket) ([]string, error) {
	steps := e.chains[t.Kind]
	if len(steps) == 0 {
		return nil, nil
	}
	c, err := e.caseOf(t)
	if err != nil {
		return nil, err
	}
	who, err := steps[len(steps)-1].Approver.Approvers(ctx, c)
	if err != nil {
		return nil, wrapf(err, "ticket #%d: approvers of the cutover", t.ID)
	}
	return who, nil
}

// cutover records actor's cutover of t: approved when t awaits it,
// refused when t runs but is not in sync yet.
func (e *Engine) cutover(ctx context.Context, t *Ticket, actor, comment string) (*Ticket, error) {
	switch t.State {
	case StateAwaitingCutover:
		next, err := e.transition(ctx, Change{Ticket: t.ID, Version: t.Version, Action: ActionCutover, To: StateCuttingOver, Actor: actor, Comment: comment,
			Update: func(t *Ticket) error { t.setError("", nil); return nil }}) // the last cutover's failure is history
		if err != nil {
			return nil, err
		}
		e.notify(ctx, next, EventCutoverApproved, actor, comment, "worker "+next.Worker+" cuts over: "+e.describe(next))
		return next, nil
	case StateRunning:
		why := "the sync is not in sync yet"
		if p := t.Progress; p != nil && p.Phase != "" {
			why += " (" + syncText(p) + ")"
		}
		note := "refused: " + why
		if comment != "" {
			note += "; " + comment
		}
		next, err := e.transition(ctx, Change{Ticket: t.ID, Version: t.Version, Action: ActionCutover, To: StateRunning, Actor: actor, Comment: note})
		if err != nil {
			return nil, err
		}
		e.notify(ctx, next, EventCutoverFailed, actor, comment, note)
		return next, wrapf(migrate.ErrNotInSync, "ticket #%d: cutover refused (recorded): %s", t.ID, why)
	}
	return nil, CheckTransition(t.ID, t.State, ActionCutover, StateCuttingOver)
}

// Get returns ticket id with its review, results, progress and audit
// trail.
func (e *Engine) Get(ctx context.Context, id int64) (*Detail, error) { return e.store.Get(ctx, id) }

// List returns the tickets f selects, newest first.
func (e *Engine) List(ctx context.Context, f Filter) ([]*Ticket, error) { return e.store.List(ctx, f) }

// notify sends an event to the submitter and the CC list.
func (e *Engine) notify(_ context.Context, t *Ticket, kind EventKind, actor, comment, detail string) {
	e.notifyTo(t, kind, actor, comment, detail, nil)
}

// notifyTo sends an event to extra (the approvers) or, when extra is nil,
// to the submitter and the CC list.
func (e *Engine) notifyTo(t *Ticket, kind EventKind, actor, comment, detail string, extra []string) {
	if e.dispatcher == nil {
		return
	}
	to := extra
	if to == nil {
		to = append([]string{t.Submitter}, t.CC...)
	}
	slices.Sort(to)
	to = slices.Compact(to)
	e.dispatcher.Send(Event{
		Kind: kind, TicketID: t.ID, TicketKind: string(t.Kind), Title: t.Title, Submitter: t.Submitter,
		Instance: t.Instance, Database: t.Database, State: t.State.String(), Actor: actor, Comment: comment,
		Detail: detail, Recipients: to, At: e.now(),
	})
}
