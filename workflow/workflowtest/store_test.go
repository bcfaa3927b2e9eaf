package workflowtest_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/workflowtest"
)

// brokenStore wraps a MemoryStore with one fault that TestStore must
// catch.
type brokenStore struct {
	*workflow.MemoryStore
	fault string
}

func (b brokenStore) Create(ctx context.Context, t *workflow.Ticket, at time.Time) (*workflow.Ticket, bool, error) {
	if b.fault == "ignores-client-key" {
		t = t.Clone()
		t.ClientKey = ""
	}
	return b.MemoryStore.Create(ctx, t, at)
}

func (b brokenStore) Transition(ctx context.Context, c workflow.Change) (*workflow.Ticket, error) {
	if b.fault == "no-version-check" {
		if d, err := b.MemoryStore.Get(ctx, c.Ticket); err == nil {
			c.Version = d.Ticket.Version
		}
	}
	return b.MemoryStore.Transition(ctx, c)
}

func (b brokenStore) Heartbeat(ctx context.Context, beat workflow.Beat) (workflow.State, error) {
	if b.fault == "any-worker-beats" {
		if d, err := b.MemoryStore.Get(ctx, beat.Ticket); err == nil && d.Ticket.Worker != "" {
			beat.Worker = d.Ticket.Worker
		}
	}
	return b.MemoryStore.Heartbeat(ctx, beat)
}

func (b brokenStore) Get(ctx context.Context, id int64) (*workflow.Detail, error) {
	d, err := b.MemoryStore.Get(ctx, id)
	if err == nil && b.fault == "loses-audit" {
		d.Audit = d.Audit[:1]
	}
	return d, err
}

func (b brokenStore) List(ctx context.Context, f workflow.Filter) ([]*workflow.Ticket, error) {
	l, err := b.MemoryStore.List(ctx, f)
	if b.fault == "oldest-first" {
		slices.Reverse(l)
	}
	return l, err
}

func TestMemoryStoreConforms(t *testing.T) {
	workflowtest.TestStore(t, func(t *testing.T) workflow.Store { return workflow.NewMemoryStore() })
}

// TestBrokenStoreHelper runs the suite on a broken store when
// TestSuiteCatchesBrokenStores asks it to.
func TestBrokenStoreHelper(t *testing.T) {
	fault := os.Getenv("WORKFLOWTEST_STORE_FAULT")
	if fault == "" {
		t.Skip("run by TestSuiteCatchesBrokenStores")
	}
	workflowtest.TestStore(t, func(t *testing.T) workflow.Store {
		return brokenStore{workflow.NewMemoryStore(), fault}
	})
}

// The suite fails each kind of broken store, saying what is wrong.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	for _, tc := range []struct{ fault, subtest, want string }{
		{"no-version-check", "Transition", "stale version"},
		{"no-version-check", "ConcurrentTransitionsOneWins", "want ErrConflict"},
		{"ignores-client-key", "IdempotentClientKey", "second Create with the same key"},
		{"any-worker-beats", "Heartbeat", "Heartbeat by another worker"},
		{"loses-audit", "Transition", "audit:"},
		{"oldest-first", "List", "all, newest first"},
	} {
		t.Run(tc.fault+"/"+tc.subtest, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenStoreHelper$/^"+tc.subtest+"$", "-test.v")
			cmd.Env = append(os.Environ(), "WORKFLOWTEST_STORE_FAULT="+tc.fault)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a store with fault %s:\n%s", tc.fault, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("the suite failed without saying %q:\n%s", tc.want, out)
			}
		})
	}
}
