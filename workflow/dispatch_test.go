package workflow_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/workflowtest"
)

func event(i int) workflow.Event {
	return workflowtest.SampleEvent(workflowtest.Kinds[i%len(workflowtest.Kinds)], int64(i), fmt.Sprint(i))
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func fast(cfg workflow.DispatcherConfig) workflow.DispatcherConfig {
	cfg.BaseDelay = time.Millisecond
	cfg.MaxDelay = 4 * time.Millisecond
	return cfg
}

// One notifier that always fails and one that hangs do not hold up a
// healthy one, nor Send.
func TestDispatcherIsolatesNotifiers(t *testing.T) {
	healthy, failing, slow := &workflowtest.Recorder{Name: "healthy"}, &workflowtest.Recorder{Name: "failing"}, &workflowtest.Recorder{Name: "slow"}
	failing.FailNext(-1, nil)
	release := slow.Block()
	defer release()
	const n, queue = 40, 16
	var hooked sync.Map
	d, err := workflow.NewDispatcher(map[string]workflow.Notifier{"healthy": healthy, "failing": failing, "slow": slow},
		fast(workflow.DispatcherConfig{QueueSize: queue, MaxAttempts: 3, OnFailure: func(f workflow.Failure) { hooked.Store(f.Notifier+fmt.Sprint(f.Event.TicketID), f) }}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		d.Send(event(i)) // never blocks, though slow's queue fills up
		// Pace Send by the healthy notifier, whose queue must not overflow.
		if _, err := healthy.Wait(waitCtx(t), i+1); err != nil {
			t.Fatalf("healthy notifier held up: %v", err)
		}
	}
	for i, e := range healthy.Events() {
		if e.TicketID != int64(i) {
			t.Fatalf("healthy got ticket %d at position %d", e.TicketID, i)
		}
	}
	st := d.Stats()
	if st["slow"].Dropped < n-queue-1 { // at most queue waiting and 1 in flight
		t.Errorf("slow notifier: %+v, want the overflow dropped", st["slow"])
	}
	release()
	if err := d.Close(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	st = d.Stats()
	// The failing notifier's retries make it slow too: it may drop some.
	ff := st["failing"]
	if st["healthy"].Delivered != n || st["healthy"].Dropped != 0 || ff.Failed == 0 || ff.Failed+ff.Dropped != n || ff.Retries != 2*ff.Failed {
		t.Errorf("stats %+v", st)
	}
	if int64(len(slow.Events())) != st["slow"].Delivered || st["slow"].Delivered+st["slow"].Dropped != n {
		t.Errorf("slow: delivered %d, stats %+v", len(slow.Events()), st["slow"])
	}
	if calls := failing.Calls(); int64(calls) != 3*ff.Failed {
		t.Errorf("failing notifier called %d times, want %d (3 attempts each)", calls, 3*ff.Failed)
	}
	var dropped, failed int
	for _, f := range d.Failures() {
		switch {
		case f.Notifier != "healthy" && errors.Is(f.Err, workflow.ErrQueueFull) && f.Attempts == 0:
			dropped++
		case f.Notifier == "failing" && errors.Is(f.Err, workflowtest.ErrInjected) && f.Attempts == 3 && !f.Permanent:
			failed++
		default:
			t.Errorf("unexpected failure %+v", f)
		}
		if _, ok := hooked.Load(f.Notifier + fmt.Sprint(f.Event.TicketID)); !ok {
			t.Errorf("OnFailure missed %s #%d", f.Notifier, f.Event.TicketID)
		}
	}
	if int64(dropped) != st["slow"].Dropped+ff.Dropped || int64(failed) != ff.Failed {
		t.Errorf("failures: %d dropped, %d failed", dropped, failed)
	}
}

func TestDispatcherRetriesThenDelivers(t *testing.T) {
	r := &workflowtest.Recorder{}
	r.FailNext(2, errors.New("connection reset"))
	d, err := workflow.NewDispatcher(map[string]workflow.Notifier{"r": r}, fast(workflow.DispatcherConfig{MaxAttempts: 5}))
	if err != nil {
		t.Fatal(err)
	}
	d.Send(event(1))
	if _, err := r.Wait(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if r.Calls() != 3 || len(d.Failures()) != 0 || d.Stats()["r"].Retries != 2 || d.Stats()["r"].Delivered != 1 {
		t.Fatalf("calls %d, failures %v, stats %+v", r.Calls(), d.Failures(), d.Stats())
	}
}

func TestDispatcherDoesNotRetryPermanentErrors(t *testing.T) {
	r := &workflowtest.Recorder{}
	r.FailNext(-1, fmt.Errorf("recipient rejected: %w", workflow.ErrPermanent))
	d, err := workflow.NewDispatcher(map[string]workflow.Notifier{"r": r}, fast(workflow.DispatcherConfig{MaxAttempts: 5}))
	if err != nil {
		t.Fatal(err)
	}
	d.Send(event(1))
	if err := d.Close(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	f := d.Failures()
	if r.Calls() != 1 || len(f) != 1 || !f[0].Permanent || f[0].Attempts != 1 || !strings.Contains(f[0].Err.Error(), "recipient rejected") {
		t.Fatalf("calls %d, failures %+v", r.Calls(), f)
	}
}

func TestDispatcherSurvivesPanics(t *testing.T) {
	ok := &workflowtest.Recorder{}
	d, err := workflow.NewDispatcher(map[string]workflow.Notifier{"ok": ok, "bad": panicky{}}, fast(workflow.DispatcherConfig{}))
	if err != nil {
		t.Fatal(err)
	}
	d.Send(event(1))
	if err := d.Close(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	f := d.Failures()
	if len(ok.Events()) != 1 || len(f) != 1 || !f[0].Permanent || !strings.Contains(f[0].Err.Error(), "panicked: boom") {
		t.Fatalf("events %d, failures %+v", len(ok.Events()), f)
	}
}

type panicky struct{}

func (panicky) Notify(context.Context, workflow.Event) error { panic("boom") }

// Close waits for queued events; if its context ends first it abandons
// the rest, records them, and returns the context's error.
func TestDispatcherClose(t *testing.T) {
	r := &workflowtest.Recorder{}
	d, err := workflow.NewDispatcher(map[string]workflow.Notifier{"r": r}, fast(workflow.DispatcherConfig{}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		d.Send(event(i))
	}
	if err := d.Close(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if len(r.Events()) != 10 {
		t.Fatalf("Close drained %d of 10", len(r.Events()))
	}
	d.Send(event(11))
	if f := d.Failures(); len(f) != 1 || !errors.Is(f[0].Err, workflow.ErrDispatcherClosed) {
		t.Fatalf("Send after Close: %+v", f)
	}
	if err := d.Close(waitCtx(t)); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	stuck := &workflowtest.Recorder{}
	stuck.Block() // never released
	d, err = workflow.NewDispatcher(map[string]workflow.Notifier{"stuck": stuck}, fast(workflow.DispatcherConfig{AttemptTimeout: time.Hour}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		d.Send(event(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := d.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a stuck notifier: %v", err)
	}
	if f := d.Failures(); len(f) != 3 || d.Stats()["stuck"].Failed != 3 {
		t.Fatalf("abandoned events not recorded: %+v", f)
	}
}

func TestDispatcherFailureHistoryIsBounded(t *testing.T) {
	r := &workflowtest.Recorder{}
	r.FailNext(-1, workflow.ErrPermanent)
	d, err := workflow.NewDispatcher(map[string]workflow.Notifier{"r": r}, workflow.DispatcherConfig{FailureHistory: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		d.Send(event(i))
	}
	if err := d.Close(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	f := d.Failures()
	if len(f) != 3 || f[0].Event.TicketID != 2 || f[2].Event.TicketID != 4 {
		t.Fatalf("history %+v", f)
	}
}

func TestNewDispatcherRejectsBadInput(t *testing.T) {
	r := &workflowtest.Recorder{}
	for _, tc := range []struct {
		n    map[string]workflow.Notifier
		cfg  workflow.DispatcherConfig
		want string
	}{
		{nil, workflow.DispatcherConfig{}, "no notifiers"},
		{map[string]workflow.Notifier{"": r}, workflow.DispatcherConfig{}, "empty name"},
		{map[string]workflow.Notifier{"mail": nil}, workflow.DispatcherConfig{}, `notifier "mail" is nil`},
		{map[string]workflow.Notifier{"r": r}, workflow.DispatcherConfig{QueueSize: -1}, "QueueSize is negative"},
		{map[string]workflow.Notifier{"r": r}, workflow.DispatcherConfig{BaseDelay: time.Minute, MaxDelay: time.Second}, "MaxDelay 1s is less than BaseDelay 1m0s"},
	} {
		if _, err := workflow.NewDispatcher(tc.n, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}

func ExampleDispatcher() {
	email, chat := &workflowtest.Recorder{Name: "email"}, &workflowtest.Recorder{Name: "dingtalk"}
	chat.FailNext(-1, fmt.Errorf("robot token revoked: %w", workflow.ErrPermanent))
	d, err := workflow.NewDispatcher(map[string]workflow.Notifier{"email": email, "dingtalk": chat}, workflow.DispatcherConfig{})
	if err != nil {
		panic(err)
	}
	d.Send(workflow.Event{Kind: workflow.EventApproved, TicketID: 42, Title: "copy shop to test-2", Actor: "bob"})
	_ = d.Close(context.Background())
	for _, e := range email.Events() {
		fmt.Println("email:", e.Subject())
	}
	for _, f := range d.Failures() {
		fmt.Printf("%s: ticket #%d after %d attempt(s), permanent=%v: %v\n", f.Notifier, f.Event.TicketID, f.Attempts, f.Permanent, f.Err)
	}
	// Output:
	// email: [shiftgate] ticket #42 approved: copy shop to test-2
	// dingtalk: ticket #42 after 1 attempt(s), permanent=true: workflowtest: recorder dingtalk: robot token revoked: workflow: permanent delivery failure
}
