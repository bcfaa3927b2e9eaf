// Command console starts two throwaway MariaDB servers with the sample
// "shop" database, registers them as instances (prod-1 tagged env=prod,
// test-2 tagged env=test), and serves the workflow console over them with
// demo identities: alice (engineer), bob (reviewer) and dba (reviewer and
// admin), chosen on its sign-in page without a password. It takes SQL
// changes (with the SQL that undoes them), data migrations and live moves
// (with their cutover). Tickets are kept in a MySQL store on test-2 and
// run by the engine in the background. It prints the console's URL and
// runs until interrupted. Run it with "make console".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/termtext"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/review"
	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/console"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address the console listens on")
	scale := flag.Int("scale", 20000, "orders in the sample database (rows: 4.2 x scale)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := run(ctx, *addr, *scale, func(url string) {
		fmt.Printf("\nThe console is at %s\nSign in as alice (engineer), bob (reviewer) or dba (admin). Ctrl-C stops it.\n", url)
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "console: %s\n", termtext.Line(err.Error()))
		os.Exit(1)
	}
}

// rollbackServerID is the replica server id with which SQL changes read
// their own row changes back from the binary log.
const rollbackServerID = 930101

// run serves the demo console on addr until ctx ends, calling ready with
// its URL once it listens.
func run(ctx context.Context, addr string, scale int, ready func(url string)) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fmt.Println("starting two throwaway MariaDB servers")
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
	fmt.Println("loading the sample database shop on prod-1 and test-2")
	for _, s := range servers {
		db, err := s.Open("")
		if err != nil {
			return err
		}
		err = sampledata.Create(ctx, db, "shop", scale)
		db.Close()
		if err != nil {
			return err
		}
	}

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
	storeDB, err := test.Open("")
	if err != nil {
		return err
	}
	defer storeDB.Close()
	if _, err := storeDB.ExecContext(ctx, "CREATE DATABASE shiftgate"); err != nil {
		return err
	}
	if storeDB, err = test.Open("shiftgate"); err != nil {
		return err
	}
	defer storeDB.Close()
	store, err := workflow.NewMySQLStore(ctx, storeDB)
	if err != nil {
		return err
	}
	// The prod policy on prod-1, the default elsewhere.
	reviewer, err := workflow.LiveReviewByTags([]workflow.TagReview{{Tags: map[string]string{"env": "prod"},
		Options: []review.Option{review.WithPolicy(review.ProdPolicy())}}})
	if err != nil {
		return err
	}
	dbas := &workflow.Group{Name: "dba", Members: []string{"bob", "dba"}}
	engine, err := workflow.New(store, registry, secrets, reviewer,
		workflow.WithChain(workflow.KindSQLChange, workflow.Step{Name: "auto-or-dba", Approver: &workflow.AutoApprover{
			Kinds: []review.Kind{review.KindDML}, MaxRisk: review.RiskModerate, MaxAffectedRows: 1000,
			Unless: map[string]string{"env": "prod"}, Else: dbas}}),
		workflow.WithChain(workflow.KindDataMigration, workflow.Step{Name: "dba", Approver: dbas}),
		// Live moves: bob or dba approves the move, then its cutover
		// once it is in sync (the cutover button of its page).
		workflow.WithChain(workflow.KindLiveMove, workflow.Step{Name: "dba", Approver: dbas}),
		// SQL changes keep the SQL that undoes them, which a ticket's page
		// files as a new ticket (its rollback button).
		workflow.WithKind(workflow.KindSQLChange, workflow.SQLChangeKind(migrate.WithRollbackSQL(rollbackServerID, 0))),
		workflow.WithLogger(logger), workflow.WithPollInterval(200*time.Millisecond))
	if err != nil {
		return err
	}
	h, err := console.New(engine, console.DemoUsers{
		"alice": {console.RoleEngineer},
		"bob":   {console.RoleReviewer},
		"dba":   {console.RoleReviewer, console.RoleAdmin},
	}, console.WithPrefix("/console"), console.WithLogger(logger))
	if err != nil {
		return err
	}
	// A first ticket, so that the list is not empty.
	if _, err := engine.Submit(ctx, workflow.Request{Kind: workflow.KindSQLChange, Title: "close stale orders", Submitter: "alice",
		Instance: "prod-1", Database: "shop", SQL: "UPDATE orders SET status = 'closed' WHERE id <= 10 LIMIT 10"}); err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("/console/", h)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); _ = engine.Run(runCtx) }()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	ready(fmt.Sprintf("http://%s/console/", ln.Addr()))
	err = <-served
	cancel()
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
