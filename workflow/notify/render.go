package notify

import (
	"strconv"
	"strings"

	"github.com/shiftgate/shiftgate/internal/termtext"
	"github.com/shiftgate/shiftgate/workflow"
)

// field is one labelled line of a message.
type field struct{ Label, Value string }

// subject is e's subject line with the characters that act on a terminal
// or hide text escaped (termtext.Line): titles are user text.
func subject(e workflow.Event) string { return termtext.Line(e.Subject()) }

// fields lists what every message shows about e, empty values left out.
// Values are user, script and server text, escaped as termtext does:
// one-line fields with Line, the comment and the detail with Block.
func fields(e workflow.Event) []field {
	target := e.Instance
	if e.Database != "" {
		if target != "" {
			target += " / "
		}
		target += e.Database
	}
	all := []field{
		{"Ticket", termtext.Line(strings.TrimSpace("#" + strconv.FormatInt(e.TicketID, 10) + " " + e.TicketKind))},
		{"Title", termtext.Line(e.Title)},
		{"State", termtext.Line(e.State)},
		{"Actor", termtext.Line(e.Actor)},
		{"Submitter", termtext.Line(e.Submitter)},
		{"Target", termtext.Line(target)},
		{"Comment", termtext.Block(e.Comment)},
		{"Detail", termtext.Block(e.Detail)},
	}
	out := all[:0]
	for _, f := range all {
		if strings.TrimSpace(f.Value) != "" {
			out = append(out, f)
		}
	}
	return out
}

// oneLine folds line breaks so that a value stays inside its markdown line,
// and defuses mention markup in it (see noMentions).
func oneLine(s string) string {
	return noMentions(strings.Join(strings.Fields(strings.ReplaceAll(s, "\r", "")), " "))
}

// noMentions breaks the mention markup of the chat services in text that
// people wrote (a title, a comment): WeCom's <@userid> and Feishu's
// <at id=...>, so that "<@all>" in a comment cannot ping a whole group. A
// zero-width space after the '<' keeps the text readable. Mentions the
// notifier adds itself, from its resolver, are not passed through here.
func noMentions(s string) string {
	if !strings.Contains(s, "<") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] != '<' {
			continue
		}
		rest := strings.ToLower(s[i+1:])
		if strings.HasPrefix(rest, "@") || strings.HasPrefix(rest, "at ") || strings.HasPrefix(rest, "at>") {
			b.WriteString("\u200b")
		}
	}
	return b.String()
}

// markdown renders e in the markdown most Chinese chat robots accept: a
// heading, one bold-labelled line per field, and a link.
func markdown(e workflow.Event, heading string) string {
	var b strings.Builder
	b.WriteString(heading)
	b.WriteString(noMentions(subject(e)))
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
	b.WriteString(subject(e))
	b.WriteString("\n\n")
	for _, f := range fields(e) {
		b.WriteString(f.Label + ": " + f.Value + "\n")
	}
	if e.URL != "" {
		b.WriteString("Link: " + e.URL + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}
