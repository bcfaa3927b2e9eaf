package workflow_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/review"
	"github.com/shiftgate/shiftgate/workflow"
)

// flushCache is a host application's own executor: the work of a ticket
// kind the host registers.
type flushCache struct{ target string }

func (f flushCache) Plan(context.Context) (*migrate.Plan, error) {
	return &migrate.Plan{Scope: migrate.Scope{Executor: "flush-cache", Target: f.target}, Steps: []string{"FLUSH TABLES"}}, nil
}

func (f flushCache) Run(_ context.Context, progress migrate.ProgressFunc) (*migrate.Report, error) {
	progress(migrate.Progress{TablesDone: 1, TablesTotal: 1})
	return &migrate.Report{Scope: migrate.Scope{Executor: "flush-cache", Target: f.target}, Started: time.Now(), Duration: time.Millisecond}, nil
}

// A ticket of a kind the host registers, from submit to finish: the
// engine reviews it with the executor's dry run, waits for a DBA (never the
// submitter), runs it and keeps the audit trail.
func Example() {
	ctx := context.Background()
	registry, _ := workflow.NewRegistry(workflow.Instance{Name: "prod-1", Address: "10.0.0.5:3306",
		Tags: map[string]string{"env": "prod"}, Credentials: "vault://db/prod-1"})
	reviewer, _ := review.New()
	engine, err := workflow.New(workflow.NewMemoryStore(), registry,
		workflow.StaticSecrets{"vault://db/prod-1": {User: "ops", Password: "s3cret"}}, reviewer,
		workflow.WithKind("flush_cache", workflow.KindSpec{
			Executor: func(_ context.Context, t *workflow.Ticket, ep workflow.Endpoints) (migrate.Executor, error) {
				return flushCache{target: ep.Target.String()}, nil // String hides the password
			}}),
		workflow.WithChain("flush_cache", workflow.Step{Name: "dba", Approver: &workflow.Group{Name: "dba", Members: []string{"alice", "bob"}}}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	t, _ := engine.Submit(ctx, workflow.Request{Kind: "flush_cache", Title: "flush prod-1", Submitter: "alice", Instance: "prod-1", Database: "shop"})
	fmt.Println("submitted:", t.State, "plan:", t.Plan.Steps)
	_, err = engine.Approve(ctx, t.ID, "alice", "I am a DBA too")
	fmt.Println(err)
	t, _ = engine.Approve(ctx, t.ID, "bob", "ok")
	fmt.Println("approved:", t.State)
	if ran, err := engine.RunOnce(ctx); !ran || err != nil {
		fmt.Println(ran, err)
	}
	d, _ := engine.Get(ctx, t.ID)
	fmt.Println("target:", d.Ticket.Report.Target)
	for _, a := range d.Audit {
		fmt.Printf("%-6s %-8s %s -> %s\n", a.Actor, a.Action, a.From, a.To)
	}
	// Output:
	// submitted: pending_approval plan: [FLUSH TABLES]
	// workflow: ticket #1, alice: the submitter cannot approve or reject their own ticket
	// approved: queued
	// target: ops@10.0.0.5:3306
	// alice  submit   none -> submitted
	// system review   submitted -> pending_approval
	// system await    pending_approval -> pending_approval
	// bob    approve  pending_approval -> approved
	// system enqueue  approved -> queued
	// system start    queued -> running
	// system succeed  running -> succeeded
}
