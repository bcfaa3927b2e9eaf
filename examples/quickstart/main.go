// Command quickstart runs stories 1 and 2 of shiftgate end to end on
// throwaway servers, through workflow tickets: it starts two MariaDB
// servers, loads the sample "shop" database on the first, registers both
// as instances (prod-1 tagged env=prod, test-2 tagged env=test), files a
// data-migration ticket (copy shop from prod-1 to test-2) and a SQL-change
// ticket on prod-1, shows their automatic review, approves them as a second
// user, executes them in the background with progress lines (and checks
// the copy with verify), delivers every
// notification to an in-process SMTP server and to webhook receivers that
// print what they get, and prints each ticket's detail with its audit
// trail. A last small change on test-2 passes automatically. Run it with
// "make demo".
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/termtext"
	"github.com/shiftgate/shiftgate/review"
	"github.com/shiftgate/shiftgate/verify"
	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/notify"
)

func main() {
	scale := flag.Int("scale", 100000, "orders in the sample database (rows: 4.2 x scale)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	begin := time.Now()
	if err := run(ctx, *scale); err != nil {
		fmt.Fprintf(os.Stderr, "quickstart: %s\n", termtext.Line(err.Error()))
		os.Exit(1)
	}
	fmt.Printf("\nquickstart finished in %v\n", time.Since(begin).Round(100*time.Millisecond))
	fmt.Println("The same tickets through pages and a JSON API: make console")
}

// out serialises output from the notification sinks and the main flow,
// which goes to stdout. Text from users, scripts and servers in it goes
// through termtext (see line).
var (
	out    sync.Mutex
	stdout io.Writer = os.Stdout
)

func say(format string, args ...any) {
	out.Lock()
	defer out.Unlock()
	fmt.Fprintf(stdout, format+"\n", args...)
}

// line is s made safe to print on one terminal line.
func line(s string) string { return termtext.Line(s) }

func step(msg string) { say("\n== %s", msg) }

func run(ctx context.Context, scale int) error {
	step("starting two throwaway MariaDB servers")
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	servers, err := sandbox.StartN(ctx, 2, sandbox.Options{Logger: logger})
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}()
	prod, test := servers[0], servers[1]

	customers, products, orders, items := sampledata.Size(scale)
	step(fmt.Sprintf("loading the sample database shop on prod-1: %d customers, %d products, %d orders, %d order items",
		customers, products, orders, items))
	prodDB, err := prod.Open("")
	if err != nil {
		return err
	}
	defer prodDB.Close()
	start := time.Now()
	if err := sampledata.Create(ctx, prodDB, "shop", scale); err != nil {
		return err
	}
	say("  done in %v", time.Since(start).Round(time.Millisecond))

	step("registering the instances (credentials are references, resolved when connecting)")
	secrets := workflow.StaticSecrets{
		"vault://db/prod-1": {User: prod.User(), Password: prod.Password()},
		"vault://db/test-2": {User: test.User(), Password: test.Password()},
	}
	registry, err := workflow.NewRegistry(
		workflow.Instance{Name: "prod-1", Address: prod.Addr(), Tags: map[string]string{"env": "prod"}, Credentials: "vault://db/prod-1"},
		workflow.Instance{Name: "test-2", Address: test.Addr(), Tags: map[string]string{"env": "test"}, Credentials: "vault://db/test-2"},
	)
	if err != nil {
		return err
	}
	for _, in := range registry.List() {
		say("  %-7s %-16s env=%-5s credentials %s", line(in.Name), line(in.Address), line(in.Tags["env"]), line(in.Credentials))
	}

	step("starting the notification sinks: an SMTP server and two webhook receivers")
	mailAddr, closeMail, err := startMailSink()
	if err != nil {
		return err
	}
	defer closeMail()
	hook := httptest.NewServer(http.HandlerFunc(webhookSink))
	defer hook.Close()
	slack := httptest.NewServer(http.HandlerFunc(slackSink))
	defer slack.Close()
	say("  smtp %s, webhook %s, slack-format webhook %s", mailAddr, hook.URL, slack.URL)
	email, err := notify.NewSMTP(mailAddr, "Shiftgate <dba@example.com>", notify.WithTLS(notify.NoTLS),
		notify.WithAddresses(func(user string) (string, bool) { return user + "@example.com", true }))
	if err != nil {
		return err
	}
	webhook, err := notify.NewWebhook(hook.URL + "/shiftgate")
	if err != nil {
		return err
	}
	slackHook, err := notify.NewSlack(slack.URL + "/services/T000/B000/XXXX")
	if err != nil {
		return err
	}

	step("opening the workflow engine: tickets stored in database shiftgate on test-2")
	metaDB, err := test.Open("")
	if err != nil {
		return err
	}
	defer metaDB.Close()
	if _, err := metaDB.ExecContext(ctx, "CREATE DATABASE shiftgate"); err != nil {
		return err
	}
	storeDB, err := test.Open("shiftgate")
	if err != nil {
		return err
	}
	defer storeDB.Close()
	store, err := workflow.NewMySQLStore(ctx, storeDB)
	if err != nil {
		return err
	}
	dbas := &workflow.Group{Name: "dba", Members: []string{"bob", "carol"}}
	reviewer, err := workflow.LiveReview(review.WithPolicy(review.DefaultPolicy()))
	if err != nil {
		return err
	}
	engine, err := workflow.New(store, registry, secrets, reviewer,
		workflow.WithChain(workflow.KindSQLChange, workflow.Step{Name: "auto-or-dba", Approver: &workflow.AutoApprover{
			Kinds: []review.Kind{review.KindDML}, MaxRisk: review.RiskModerate, MaxAffectedRows: 1000,
			Unless: map[string]string{"env": "prod"}, Else: dbas}}),
		workflow.WithChain(workflow.KindDataMigration, workflow.Step{Name: "dba", Approver: dbas}),
		workflow.WithNotifier("email", email), workflow.WithNotifier("webhook", webhook), workflow.WithNotifier("slack", slackHook),
		workflow.WithDispatcherConfig(workflow.DispatcherConfig{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}),
		workflow.WithLease(3*time.Second), workflow.WithPollInterval(200*time.Millisecond), workflow.WithWorkers(2),
		workflow.WithLogger(logger))
	if err != nil {
		return err
	}
	say("  approval chains: sql_change: automatic for DML under 1000 rows outside prod, else dba {bob, carol}; data_migration: dba")

	step("alice files a data-migration ticket: copy shop from prod-1 to test-2 (copier)")
	move, err := engine.Submit(ctx, workflow.Request{ClientKey: "quickstart-move", Kind: workflow.KindDataMigration,
		Title: "copy shop to test-2", Submitter: "alice", CC: []string{"carol"}, Instance: "test-2", Database: "shop",
		Migration: &workflow.Migration{SourceInstance: "prod-1", SourceDatabase: "shop", Method: workflow.MethodCopier}})
	if err != nil {
		return err
	}
	settle()
	printReview(move)

	step("alice files a SQL-change ticket on prod-1")
	change, err := engine.Submit(ctx, workflow.Request{ClientKey: "quickstart-change", Kind: workflow.KindSQLChange,
		Title: "cancel suspicious orders", Submitter: "alice", CC: []string{"dave"}, Instance: "prod-1", Database: "shop",
		SQL: "UPDATE orders SET status = 'canceled', note = 'fraud check' WHERE id BETWEEN 1000 AND 1199 AND status = 'new';\n" +
			"UPDATE products SET price = price * 0.9 WHERE id = 17;"})
	if err != nil {
		return err
	}
	settle()
	printReview(change)

	step("starting the worker pool in the background (claims with a lease and heartbeats)")
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan struct{})
	go func() { defer close(runDone); _ = engine.Run(runCtx) }()
	defer func() { stopRun(); <-runDone }()

	step("alice may not approve her own ticket; bob approves the copy, which runs at once")
	if _, err := engine.Approve(ctx, move.ID, "alice", "lgtm"); errors.Is(err, workflow.ErrSelfApproval) {
		say("  alice approves #%d: refused: %v", move.ID, err)
	} else {
		return fmt.Errorf("self-approval was not refused: %v", err)
	}
	if err := approve(ctx, engine, move.ID); err != nil {
		return err
	}
	if err := watch(ctx, engine, move.ID); err != nil {
		return err
	}

	step("checking the copy with verify: chunked checksums on both servers")
	testDB, err := test.Open("")
	if err != nil {
		return err
	}
	defer testDB.Close()
	if err := compare(ctx, prodDB, testDB, "shop"); err != nil {
		return err
	}

	step("bob approves the SQL change on prod-1 now that the copy is done")
	if err := approve(ctx, engine, change.ID); err != nil {
		return err
	}
	if err := watch(ctx, engine, change.ID); err != nil {
		return err
	}

	step("a small change on test-2 passes the automatic approver and runs")
	small, err := engine.Submit(ctx, workflow.Request{Kind: workflow.KindSQLChange, Title: "fix a customer's city",
		Submitter: "alice", Instance: "test-2", Database: "shop", SQL: "UPDATE customers SET city = 'Hangzhou' WHERE id = 42"})
	if err != nil {
		return err
	}
	settle()
	printReview(small)
	if err := watch(ctx, engine, small.ID); err != nil {
		return err
	}

	for _, id := range []int64{move.ID, change.ID, small.ID} {
		d, err := engine.Get(ctx, id)
		if err != nil {
			return err
		}
		printDetail(d)
	}

	stopRun()
	<-runDone
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := engine.Close(closeCtx); err != nil {
		return err
	}
	if f := engine.NotificationFailures(); len(f) > 0 {
		return fmt.Errorf("%d notification(s) failed, the first: %v", len(f), f[0].Err)
	}
	return nil
}

func approve(ctx context.Context, engine *workflow.Engine, id int64) error {
	t, err := engine.Approve(ctx, id, "bob", "checked, go ahead")
	if err != nil {
		return err
	}
	say("  bob approves #%d: now %s", id, t.State)
	return nil
}

// settle gives the notification sinks a moment, so that their lines come
// before the next step's.
func settle() { time.Sleep(300 * time.Millisecond) }

func printReview(t *workflow.Ticket) {
	say("  ticket #%d %q: %s", t.ID, t.Title, t.State)
	if r := t.Review; r != nil {
		s := r.Summary
		say("  automatic review (policy %s): pass %v, %d error(s), %d warning(s), risk %s", s.Policy, s.Pass, s.Errors, s.Warnings, s.Risk)
		for _, st := range r.Statements {
			rows := "?"
			if st.AffectedRows != nil {
				rows = fmt.Sprint(*st.AffectedRows)
			}
			say("    #%d %-6s ~%s row(s), risk %-8s %s", st.Index+1, line(st.Type), rows, st.Risk, line(st.Text))
			for _, f := range st.Findings {
				say("       %s %s: %s", f.Level, f.Rule, line(f.Message))
			}
		}
	}
	if p := t.Plan; p != nil && len(p.Tables) > 0 {
		say("  dry run (%s %s/%s -> %s/%s):", p.Executor, line(t.SourceInstance()), line(p.SourceDatabase), line(t.Instance), line(p.TargetDatabase))
		for _, tp := range p.Tables {
			say("    %-12s ~%d rows, %d chunk(s)", line(tp.Name), tp.Rows, tp.Chunks)
		}
	}
	for _, a := range t.Approvals {
		say("  step %s decided by %s: approve=%v (%s)", line(a.Name), line(a.Actor), a.Approve, line(a.Comment))
	}
}

// watch prints the stored progress of the tickets until all are final.
func watch(ctx context.Context, e *workflow.Engine, ids ...int64) error {
	last := map[int64]string{}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		done := 0
		for _, id := range ids {
			d, err := e.Get(ctx, id)
			if err != nil {
				return err
			}
			t := d.Ticket
			state := t.State.String()
			if t.Progress != nil && t.State == workflow.StateRunning {
				state += ": " + progressLine(t)
			}
			if state != last[id] {
				say("  #%d %s", id, state)
				last[id] = state
			}
			if t.State.Final() {
				done++
			}
		}
		if done == len(ids) {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("tickets did not finish in 5 minutes")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func progressLine(t *workflow.Ticket) string {
	p := t.Progress
	if t.Kind == workflow.KindSQLChange {
		return fmt.Sprintf("statement %d of %d done, %d row(s) so far, %s", p.TablesDone, p.TablesTotal, p.Rows, line(p.Table))
	}
	return line(p.String())
}

func printDetail(d *workflow.Detail) {
	t := d.Ticket
	step(fmt.Sprintf("ticket #%d %q (%s) by %s: %s", t.ID, t.Title, line(string(t.Kind)), line(t.Submitter), t.State))
	if t.Error != "" {
		say("  error: %s", line(t.Error))
	}
	for _, r := range t.Results {
		say("  statement %d %-9s %5d row(s) %8s  %s", r.Index+1, r.Status, r.AffectedRows, r.Duration.Round(time.Microsecond*100), line(shorten(r.Text)))
		if r.Error != "" {
			say("      error: %s", line(r.Error))
		}
		for _, w := range r.Warnings {
			say("      warning: %s", line(w))
		}
	}
	if r := t.Report; r != nil && t.Results == nil {
		say("  copied %d table(s), %d rows, %d bytes in %v (write method %s)", len(r.Tables), r.Rows, r.Bytes, r.Duration.Round(time.Millisecond), r.WriteMethod)
	}
	say("  audit trail:")
	for _, a := range d.Audit {
		say("%s", strings.TrimRight(fmt.Sprintf("    %s  %-17s %-9s %-16s -> %-16s %s", a.At.Format("15:04:05.000"), line(a.Actor), a.Action, a.From, a.To, line(a.Comment)), " "))
	}
}

// compare proves that database is the same on both servers with verify:
// chunked checksums of every table, and the exact rows if any differ.
func compare(ctx context.Context, src, dst *sql.DB, database string) error {
	v, err := verify.New(src, dst)
	if err != nil {
		return err
	}
	report, err := v.VerifyDatabase(ctx, database, database)
	if err != nil {
		return err
	}
	for _, t := range report.Tables {
		say("  %-12s %8d rows compared in %d chunks: %d missing, %d extra, %d changed",
			line(t.SourceTable), t.Rows, t.Chunks, t.Missing, t.Extra, t.Changed)
	}
	if !report.Clean() {
		return fmt.Errorf("%s differs between the servers", database)
	}
	return nil
}

func shorten(s string) string {
	if len(s) > 70 {
		return s[:67] + "..."
	}
	return s
}

// webhookSink prints the generic JSON webhook's deliveries.
func webhookSink(w http.ResponseWriter, r *http.Request) {
	var e workflow.Event
	if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	msg := fmt.Sprintf("  [webhook] #%d %s by %s, state %s, to %s", e.TicketID, line(r.Header.Get(notify.HeaderEvent)), line(e.Actor), line(e.State), line(strings.Join(e.Recipients, ",")))
	if e.Comment != "" {
		msg += ": " + line(e.Comment)
	}
	say("%s", msg)
}

// slackSink prints the text of Slack-format deliveries.
func slackSink(w http.ResponseWriter, r *http.Request) {
	var m struct {
		Text string `json:"text"`
	}
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_, _ = io.WriteString(w, "ok")
	say("  [slack]   %s", line(firstLine(m.Text)))
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// startMailSink starts an in-process SMTP server (emersion/go-smtp) that
// prints each message's recipients and subject.
func startMailSink() (string, func(), error) {
	s := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &mailSession{}, nil }))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go func() { _ = s.Serve(l) }()
	return l.Addr().String(), func() { _ = s.Close() }, nil
}

type mailSession struct{ to []string }

func (s *mailSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *mailSession) Reset()        { s.to = nil }
func (s *mailSession) Logout() error { return nil }
func (s *mailSession) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		subject = m.Header.Get("Subject")
	}
	say("  [mail]    to %s: %s", line(strings.Join(s.to, ", ")), line(subject))
	return nil
}
