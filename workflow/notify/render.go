package notify

import (
	"strconv"
	"strings"

	"github.com/shiftgate/shiftgate/workflow"
)

// field is one labelled line of a message.
type field struct{ Label, Value string }

// fields lists what every message shows about e, empty values left out.
func fields(e workflow.Event) []field {
	target := e.Instance
	if e.Database != "" {
		if target != "" {
			target += " / "
		}
		target += e.Database
	}
	all := []field{
		{"Ticket", strings.TrimSpace("#" + strconv.FormatInt(e.TicketID, 10) + " " + e.TicketKind)},
		{"Title", e.Title},
		{"State", e.State},
		{"Actor", e.Actor},
		{"Submitter", e.Submitter},
		{"Target", target},
		{"Comment", e.Comment},
		{"Detail", e.Detail},
	}
	out := all[:0]
	for _, f := range all {
		if strings.TrimSpace(f.Value) != "" {
			out = append(out, f)
		}
	}
	return out
}

// oneLine folds line breaks so that a value stays inside its markdown line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\r", "")), " ")
}

// markdown renders e in the markdown most Chinese chat robots accept: a
// heading, one bold-labelled line per field, and a link.
func markdown(e workflow.Event, heading string) string {
	var b strings.Builder
	b.WriteString(heading)
	b.WriteString(e.Subject())
	b.WriteString("\n\n")
	for _, f := range fields(e) {
		b.WriteString("**" + f.Label + ":** " + oneLine(f.Value) + "\n\n")
	}
	if e.URL != "" {
		b.WriteString("[Open ticket #" + strconv.FormatInt(e.TicketID, 10) + "](" + e.URL + ")\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// plainText renders e as plain text, one field per line.
func plainText(e workflow.Event) string {
	var b strings.Builder
	b.WriteString(e.Subject())
	b.WriteString("\n\n")
	for _, f := range fields(e) {
		b.WriteString(f.Label + ": " + f.Value + "\n")
	}
	if e.URL != "" {
		b.WriteString("Link: " + e.URL + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}
