package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Notifier delivers an event to people: by email, chat or webhook.
//
// Contract: Notify delivers e once or returns an error that names the
// channel and the recipient or endpoint at fault. It honours ctx's deadline
// and cancellation. It must be safe for concurrent use. The engine calls it
// only after the transition the event describes has committed, calls each
// notifier independently (one failing notifier never delays or blocks
// another, nor the ticket), and retries failed deliveries with backoff; a
// Notifier therefore does not retry on its own, and should return errors
// wrapping ErrPermanent for deliveries that cannot succeed on retry (a
// rejected recipient, a malformed configuration).
//
// workflowtest.TestNotifier is the conformance suite for implementations;
// Dispatcher is the fan-out with retries that the engine uses.
type Notifier interface {
	Notify(ctx context.Context, e Event) error
}

// ErrPermanent marks a delivery error that retrying cannot fix.
var ErrPermanent = errors.New("workflow: permanent delivery failure")

// EventKind names a step in a ticket's life that people are told about.
type EventKind string

// The events of a ticket's life.
const (
	EventSubmitted         EventKind = "submitted"
	EventReviewed          EventKind = "reviewed"
	EventApprovalRequested EventKind = "approval_requested"
	EventApproved          EventKind = "approved"
	EventRejected          EventKind = "rejected"
	EventScheduled         EventKind = "scheduled"
	EventStarted           EventKind = "started"
	EventProgress          EventKind = "progress"
	EventFinished          EventKind = "finished"
	EventFailed            EventKind = "failed"
	EventCanceled          EventKind = "canceled"
	// EventRetried: a person asked for a ticket to run again, to the
	// submitter and the CC list: the review of a ticket whose review
	// failed (Engine.Retry; the new review follows as EventReviewed) or
	// the copy of a failed table of a failed migration (Engine.RetryTable;
	// the detail names the table).
	EventRetried EventKind = "retried"
	// The events of a live move (KindLiveMove): its sync caught up and
	// it awaits a cutover (to the cutover's approvers, the submitter and
	// the CC list); a person approved the cutover; the cutover was
	// refused or failed and the sync goes on. A successful cutover ends
	// the ticket with EventFinished, whose detail is the cutover's report.
	EventInSync          EventKind = "in_sync"
	EventCutoverApproved EventKind = "cutover_approved"
	EventCutoverFailed   EventKind = "cutover_failed"
	// The events of a live move's rollback window (Migration.Reverse): it
	// cut over and the reverse sync runs (to the cutover's approvers, the
	// submitter and the CC list); a person approved the cut-back; the
	// cut-back was refused or failed and the reverse sync goes on; a
	// person closed the window. Either end is EventFinished.
	EventWindowOpen      EventKind = "window_open"
	EventCutBackApproved EventKind = "cutback_approved"
	EventCutBackFailed   EventKind = "cutback_failed"
	EventEndWindow       EventKind = "end_window"
)

// Event is one notification: what happened to which ticket, who did it,
// and who should hear about it.
type Event struct {
	Kind EventKind `json:"kind"`
	// TicketID, TicketKind and Title identify the ticket.
	TicketID   int64  `json:"ticket_id"`
	TicketKind string `json:"ticket_kind"`
	Title      string `json:"title"`
	// Submitter is the user who filed the ticket.
	Submitter string `json:"submitter"`
	// Instance and Database are the target of the work.
	Instance string `json:"instance"`
	Database string `json:"database"`
	// State is the ticket's state after the event.
	State string `json:"state"`
	// Actor did what the event reports ("system" for the engine's own
	// steps); Comment is what they wrote.
	Actor   string `json:"actor"`
	Comment string `json:"comment,omitempty"`
	// Detail is a one-paragraph account: the review summary, the error, the
	// progress line.
	Detail string `json:"detail,omitempty"`
	// Recipients are the user names (or addresses) to tell: the current
	// step's approvers, the submitter and the ticket's CC list, as the
	// event calls for. Notifiers map them to addresses as they need.
	Recipients []string `json:"recipients"`
	// URL links to the ticket in the host application, if it has one.
	URL string    `json:"url,omitempty"`
	At  time.Time `json:"at"`
}

// Subject is a one-line summary of e, such as
// "[shiftgate] ticket #42 approved: copy shop to test-2".
func (e Event) Subject() string {
	return fmt.Sprintf("[shiftgate] ticket #%d %s: %s", e.TicketID, kindWords[e.Kind], e.Title)
}

var kindWords = map[EventKind]string{
	EventSubmitted:         "submitted",
	EventReviewed:          "reviewed",
	EventApprovalRequested: "awaits your approval",
	EventApproved:          "approved",
	EventRejected:          "rejected",
	EventScheduled:         "scheduled",
	EventStarted:           "started",
	EventProgress:          "in progress",
	EventFinished:          "finished",
	EventFailed:            "FAILED",
	EventCanceled:          "canceled",
	EventRetried:           "retried",
	EventInSync:            "is in sync and awaits its cutover",
	EventCutoverApproved:   "cutover approved",
	EventCutoverFailed:     "cutover FAILED",
	EventWindowOpen:        "cut over, its rollback window is open",
	EventCutBackApproved:   "cut-back approved",
	EventCutBackFailed:     "cut-back FAILED",
	EventEndWindow:         "rollback window closing",
}
