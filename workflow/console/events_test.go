package console_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/console"
)

// TestEvents: the stream sends the ticket's summary, a new one when it
// changes, and ends once the ticket is final.
func TestEvents(t *testing.T) {
	f := newFixture(t, workflow.NewMemoryStore())
	d := f.submit("alice", "test", "UPDATE orders SET amount = 9 WHERE id = 9")
	req, _ := http.NewRequestWithContext(t.Context(), "GET", fmt.Sprintf("%s/console/api/tickets/%d/events", f.srv.URL, d.ID), nil)
	req.Header.Set("X-User", "alice")
	req.Header.Set("X-Groups", "eng")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	lines := bufio.NewScanner(res.Body)
	next := func() (string, console.TicketSummary) {
		t.Helper()
		var event string
		var s console.TicketSummary
		for lines.Scan() {
			line := lines.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "ticket":
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &s); err != nil {
					t.Fatal(err)
				}
			case line == "" && event != "":
				return event, s
			}
		}
		t.Fatalf("stream ended: %v", lines.Err())
		return "", s
	}
	if ev, s := next(); ev != "ticket" || s.State != "pending_approval" {
		t.Fatalf("first event %s %+v", ev, s)
	}
	if st := f.call("bob", "POST", fmt.Sprintf("/api/tickets/%d/approve", d.ID), nil, nil); st != http.StatusOK {
		t.Fatalf("approve: %d", st)
	}
	// The stream may have caught it approved, before it was queued.
	ev, s := next()
	for ev == "ticket" && s.State == "approved" {
		ev, s = next()
	}
	if ev != "ticket" || s.State != "queued" {
		t.Fatalf("after approval: %s %+v", ev, s)
	}
	if ran, err := f.engine.RunOnce(t.Context()); !ran || err != nil {
		t.Fatal(ran, err)
	}
	// The stream may have caught it running.
	ev, s = next()
	for ev == "ticket" && s.State == "running" {
		ev, s = next()
	}
	if ev != "ticket" || s.State != "succeeded" || s.Progress == nil || s.Progress.Percent != 100 {
		t.Fatalf("after the run: %s %+v %+v", ev, s, s.Progress)
	}
	if ev, _ := next(); ev != "end" {
		t.Fatalf("last event %s", ev)
	}
	// An unknown ticket is an error, not a stream.
	f.wantError(http.StatusNotFound, "not_found", "alice", "GET", "/api/tickets/99/events", nil)
}
