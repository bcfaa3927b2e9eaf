package notify

import (
	"context"
	"strconv"
	"strings"

	"github.com/shiftgate/shiftgate/workflow"
)

// Slack posts to a Slack incoming webhook: a text fallback (shown in
// notifications) plus Block Kit blocks:
//
//	{"text":"[shiftgate] ticket #42 approved: …",
//	 "blocks":[{"type":"header","text":{"type":"plain_text","text":"…"}},
//	           {"type":"section","text":{"type":"mrkdwn","text":"*Ticket:* #42 …"}},
//	           {"type":"context","elements":[{"type":"mrkdwn","text":"<@U123>"}]}]}
//
// Text from the event is escaped (&, <, >) so that it cannot ping a
// channel. Slack answers "ok"; it reports configuration errors as HTTP
// 400/403/404/410 with a short code in the body (invalid_payload,
// channel_not_found, …), which are permanent.
type Slack struct {
	ep  endpoint
	cfg *config
}

var _ workflow.Notifier = (*Slack)(nil)

// NewSlack returns a Slack incoming webhook posting to webhookURL
// ("https://hooks.slack.com/services/T…/B…/…"). Options: WithMentions (the
// resolver gives Slack member IDs such as "U123"), WithHTTPClient,
// WithClock.
func NewSlack(webhookURL string, opts ...SlackOption) (*Slack, error) {
	ep, err := parseEndpoint("slack", webhookURL, 2) // mask /services/<T>/<B>/<token>
	if err != nil {
		return nil, err
	}
	cfg, err := newConfig("slack", opts, SlackOption.slack)
	if err != nil {
		return nil, err
	}
	return &Slack{ep: ep, cfg: cfg}, nil
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackMsg struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Notify posts e.
func (s *Slack) Notify(ctx context.Context, e workflow.Event) error {
	subj := subject(e)
	header := subj
	if r := []rune(header); len(r) > 150 { // Slack's limit for header text
		header = string(r[:149]) + "…"
	}
	var b strings.Builder
	for _, f := range fields(e) {
		b.WriteString("*" + f.Label + ":* " + slackEscaper.Replace(oneLine(f.Value)) + "\n")
	}
	if e.URL != "" {
		b.WriteString("<" + slackEscaper.Replace(e.URL) + "|Open ticket #" + strconv.FormatInt(e.TicketID, 10) + ">\n")
	}
	m := slackMsg{
		Text: slackEscaper.Replace(subj),
		Blocks: []slackBlock{
			{Type: "header", Text: &slackText{"plain_text", header}},
			{Type: "section", Text: &slackText{"mrkdwn", strings.TrimRight(b.String(), "\n")}},
		},
	}
	var at []string
	for _, p := range s.cfg.resolve(e.Recipients) {
		if p.UserID != "" {
			at = append(at, "<@"+p.UserID+">")
		}
	}
	if len(at) > 0 {
		m.Blocks = append(m.Blocks, slackBlock{Type: "context", Elements: []slackText{{"mrkdwn", strings.Join(at, " ")}}})
	}
	body, err := marshal(m)
	if err != nil {
		return s.ep.errorf(true, "encoding message: %v", err)
	}
	r, err := s.ep.post(ctx, s.cfg.client, s.ep.url, body, nil)
	if err != nil {
		return err
	}
	if r.status < 200 || r.status > 299 {
		return s.ep.httpStatusError(r)
	}
	if got := strings.TrimSpace(string(r.body)); got != "ok" {
		// A 200 that is not "ok" is not documented; treat it as transient.
		return s.ep.errorf(false, "answer %s instead of ok", snippet(r.body))
	}
	return nil
}
