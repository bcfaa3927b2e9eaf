package workflowtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/workflow"
)

// Kinds lists every workflow.EventKind, in the order of a ticket's life.
var Kinds = []workflow.EventKind{
	workflow.EventSubmitted,
	workflow.EventReviewed,
	workflow.EventApprovalRequested,
	workflow.EventApproved,
	workflow.EventRejected,
	workflow.EventScheduled,
	workflow.EventStarted,
	workflow.EventProgress,
	workflow.EventInSync,
	workflow.EventCutoverApproved,
	workflow.EventCutoverFailed,
	workflow.EventWindowOpen,
	workflow.EventCutBackApproved,
	workflow.EventCutBackFailed,
	workflow.EventEndWindow,
	workflow.EventFinished,
	workflow.EventFailed,
	workflow.EventRetried,
	workflow.EventCanceled,
}

// SampleEvent returns a fully populated event of the given kind whose title
// carries tag, with Chinese text so that encodings are exercised.
// Recipients are "alice" (the submitter), "bob" (an approver) and "carol"
// (CC); a Notifier under test maps them as it needs.
func SampleEvent(kind workflow.EventKind, id int64, tag string) workflow.Event {
	return workflow.Event{
		Kind:       kind,
		TicketID:   id,
		TicketKind: "data_migration",
		Title:      "迁移 shop 到 test-2 " + tag,
		Submitter:  "alice",
		Instance:   "prod-1",
		Database:   "shop",
		State:      string(kind),
		Actor:      "bob",
		Comment:    "看起来没问题 & <ok>",
		Detail:     "3 tables, about 120000 rows",
		Recipients: []string{"alice", "bob", "carol"},
		URL:        "https://dba.example.com/tickets/" + strconv.FormatInt(id, 10),
		At:         time.Date(2026, 5, 4, 10, 20, 30, 0, time.UTC),
	}
}

// TestNotifier is the conformance suite for workflow.Notifier
// implementations. newNotifier is called once per subtest and returns a
// fresh Notifier wired to a fresh Inbox that receives its deliveries.
//
// The suite checks that the Notifier
//   - delivers every EventKind, with the title and ticket number readable;
//   - returns an error wrapping context.Canceled, and delivers nothing, for
//     a context canceled before the call;
//   - returns an error wrapping context.DeadlineExceeded when the endpoint
//     does not answer before the deadline;
//   - is safe for concurrent use (run the suite with -race);
//   - returns errors that name the endpoint, never contain a secret (see
//     SecretHolder), and wrap workflow.ErrPermanent exactly when the
//     endpoint refuses the delivery for good.
func TestNotifier(t *testing.T, newNotifier func(t *testing.T) (workflow.Notifier, Inbox)) {
	t.Helper()
	t.Run("DeliversEveryKind", func(t *testing.T) {
		n, in := newNotifier(t)
		for i, kind := range Kinds {
			e := SampleEvent(kind, int64(100+i), "kind-"+string(kind))
			if err := n.Notify(context.Background(), e); err != nil {
				t.Fatalf("Notify(%s): %v", kind, err)
			}
			msgs := in.Messages()
			if len(msgs) != i+1 {
				t.Fatalf("after %d events the inbox holds %d messages", i+1, len(msgs))
			}
			requireMessage(t, msgs[i:], e)
		}
	})
	t.Run("CanceledContext", func(t *testing.T) {
		n, in := newNotifier(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := n.Notify(ctx, SampleEvent(workflow.EventApproved, 7, "canceled"))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Notify with a canceled context: got %v, want an error wrapping context.Canceled", err)
		}
		checkSecrets(t, in, err)
		if got := len(in.Messages()); got != 0 {
			t.Fatalf("Notify with a canceled context delivered %d messages", got)
		}
	})
	t.Run("Deadline", func(t *testing.T) {
		n, in := newNotifier(t)
		in.SetMode(Stall)
		defer in.SetMode(Accept)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- n.Notify(ctx, SampleEvent(workflow.EventStarted, 8, "deadline")) }()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Notify to a stalled endpoint: got %v, want an error wrapping context.DeadlineExceeded", err)
			}
			checkEndpoint(t, in, err)
			checkSecrets(t, in, err)
		case <-time.After(30 * time.Second):
			t.Fatal("Notify to a stalled endpoint ignored its context's deadline")
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		n, in := newNotifier(t)
		const workers, each = 6, 3
		var wg sync.WaitGroup
		events := make(chan workflow.Event, workers*each)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					e := SampleEvent(Kinds[(w+i)%len(Kinds)], int64(1000+w*each+i), fmt.Sprintf("c-%d-%d", w, i))
					if err := n.Notify(context.Background(), e); err != nil {
						t.Errorf("concurrent Notify: %v", err)
					}
					events <- e
				}
			}()
		}
		wg.Wait()
		close(events)
		msgs := in.Messages()
		if len(msgs) != workers*each {
			t.Fatalf("%d concurrent deliveries, the inbox holds %d", workers*each, len(msgs))
		}
		for e := range events {
			requireMessage(t, msgs, e)
		}
	})
	t.Run("TemporaryFailure", func(t *testing.T) {
		n, in := newNotifier(t)
		in.SetMode(FailTemporarily)
		err := n.Notify(context.Background(), SampleEvent(workflow.EventFailed, 9, "temporary"))
		if err == nil {
			t.Fatal("Notify to an endpoint failing temporarily returned nil")
		}
		if errors.Is(err, workflow.ErrPermanent) {
			t.Fatalf("a temporary failure was marked permanent: %v", err)
		}
		checkEndpoint(t, in, err)
		checkSecrets(t, in, err)
		in.SetMode(Accept)
		e := SampleEvent(workflow.EventFailed, 9, "temporary-retried")
		if err := n.Notify(context.Background(), e); err != nil {
			t.Fatalf("Notify after the endpoint recovered: %v", err)
		}
		requireMessage(t, in.Messages(), e)
	})
	t.Run("PermanentFailure", func(t *testing.T) {
		n, in := newNotifier(t)
		in.SetMode(RejectPermanently)
		err := n.Notify(context.Background(), SampleEvent(workflow.EventRejected, 10, "permanent"))
		if !errors.Is(err, workflow.ErrPermanent) {
			t.Fatalf("Notify to an endpoint that rejects for good: got %v, want an error wrapping workflow.ErrPermanent", err)
		}
		checkEndpoint(t, in, err)
		checkSecrets(t, in, err)
	})
}

func requireMessage(t *testing.T, msgs []Message, e workflow.Event) {
	t.Helper()
	id := "#" + strconv.FormatInt(e.TicketID, 10)
	for _, m := range msgs {
		if strings.Contains(m.Text, e.Title) && strings.Contains(m.Text, id) {
			return
		}
	}
	var texts []string
	for _, m := range msgs {
		texts = append(texts, m.Text)
	}
	t.Fatalf("no delivered message shows title %q and ticket %s; messages:\n%s", e.Title, id, strings.Join(texts, "\n----\n"))
}

func checkEndpoint(t *testing.T, in Inbox, err error) {
	t.Helper()
	if !strings.Contains(err.Error(), in.Endpoint()) {
		t.Errorf("error does not name the endpoint %q: %v", in.Endpoint(), err)
	}
}

func checkSecrets(t *testing.T, in Inbox, err error) {
	t.Helper()
	sh, ok := in.(SecretHolder)
	if !ok || err == nil {
		return
	}
	for _, s := range sh.Secrets() {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error reveals a secret: %v", err)
		}
	}
}
