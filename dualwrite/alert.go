package dualwrite

import (
	"context"

	"github.com/shiftgate/shiftgate/workflow"
)

// NotifierAlerter returns an Alerter that tells recipients about each dead
// letter through n, as a workflow EventFailed event of ticket kind
// "dualwrite" (TicketID is the outbox entry's id).
func NotifierAlerter(n workflow.Notifier, database string, recipients []string) Alerter {
	return AlertFunc(func(ctx context.Context, d DeadLetter) error {
		return n.Notify(ctx, workflow.Event{
			Kind:       workflow.EventFailed,
			TicketID:   int64(d.ID),
			TicketKind: "dualwrite",
			Title:      "change of " + d.Table + " key " + d.Key + " moved to the dead-letter table",
			Database:   database,
			State:      "dead_letter",
			Actor:      "system",
			Detail:     d.Error,
			Recipients: recipients,
			At:         d.FailedAt,
		})
	})
}
