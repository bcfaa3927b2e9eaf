package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/shiftgate/shiftgate/workflow"
)

// Feishu posts to a Feishu (飞书) or Lark custom bot (自定义机器人) as an
// interactive message card:
//
//	{"msg_type":"interactive",
//	 "card":{"config":{"wide_screen_mode":true},
//	         "header":{"title":{"tag":"plain_text","content":"…"},"template":"green"},
//	         "elements":[{"tag":"div","text":{"tag":"lark_md","content":"…<at id=ou_1></at>"}}]},
//	 "timestamp":"1777890030","sign":"…"}
//
// Mentions use the card markdown tag <at id=…></at> with the person's
// open_id or user_id. With WithSecret the body carries timestamp (seconds)
// and sign, the base64 HMAC-SHA256 of an empty message keyed with
// "timestamp\nsecret". An answer with code != 0 is a permanent error
// (Feishu reports signature and keyword problems this way).
type Feishu struct {
	ep  endpoint
	cfg *config
}

var _ workflow.Notifier = (*Feishu)(nil)

// NewFeishu returns a Feishu/Lark bot posting to webhookURL
// ("https://open.feishu.cn/open-apis/bot/v2/hook/…" or the larksuite.com
// equivalent). Options: WithSecret, WithMentions, WithHTTPClient, WithClock.
func NewFeishu(webhookURL string, opts ...FeishuOption) (*Feishu, error) {
	ep, err := parseEndpoint("feishu", webhookURL, 5) // mask the hook token: /open-apis/bot/v2/hook/<token>
	if err != nil {
		return nil, err
	}
	cfg, err := newConfig("feishu", opts, FeishuOption.feishu)
	if err != nil {
		return nil, err
	}
	return &Feishu{ep: ep, cfg: cfg}, nil
}

type larkText struct {
	Tag     string `json:"tag"`
	Content string `json:"content"`
}

type feishuMsg struct {
	Timestamp string `json:"timestamp,omitempty"`
	Sign      string `json:"sign,omitempty"`
	MsgType   string `json:"msg_type"`
	Card      struct {
		Config struct {
			WideScreenMode bool `json:"wide_screen_mode"`
		} `json:"config"`
		Header struct {
			Title    larkText `json:"title"`
			Template string   `json:"template"`
		} `json:"header"`
		Elements []any `json:"elements"`
	} `json:"card"`
}

// feishuColors are the card header colours by event.
var feishuColors = map[workflow.EventKind]string{
	workflow.EventApprovalRequested: "orange",
	workflow.EventApproved:          "green",
	workflow.EventFinished:          "green",
	workflow.EventRejected:          "red",
	workflow.EventFailed:            "red",
	workflow.EventCanceled:          "grey",
}

// Notify posts e.
func (f *Feishu) Notify(ctx context.Context, e workflow.Event) error {
	var m feishuMsg
	m.MsgType = "interactive"
	m.Card.Config.WideScreenMode = true
	m.Card.Header.Title = larkText{"plain_text", noMentions(subject(e))}
	m.Card.Header.Template = feishuColors[e.Kind]
	if m.Card.Header.Template == "" {
		m.Card.Header.Template = "blue"
	}
	var b strings.Builder
	for _, fl := range fields(e) {
		b.WriteString("**" + fl.Label + ":** " + oneLine(fl.Value) + "\n")
	}
	if e.URL != "" {
		b.WriteString("[Open ticket #" + strconv.FormatInt(e.TicketID, 10) + "](" + e.URL + ")\n")
	}
	var at []string
	for _, p := range f.cfg.resolve(e.Recipients) {
		if p.UserID != "" {
			at = append(at, "<at id="+p.UserID+"></at>")
		}
	}
	if len(at) > 0 {
		b.WriteString(strings.Join(at, " "))
	}
	m.Card.Elements = []any{map[string]any{"tag": "div", "text": larkText{"lark_md", strings.TrimRight(b.String(), "\n")}}}
	if f.cfg.secret != "" {
		m.Timestamp, m.Sign = FeishuSign(f.cfg.secret, f.cfg.now().Unix())
	}
	body, err := marshal(m)
	if err != nil {
		return f.ep.errorf(true, "encoding message: %v", err)
	}
	r, err := f.ep.post(ctx, f.cfg.client, f.ep.url, body, nil)
	if err != nil {
		return err
	}
	return f.ep.codeError(r, "code", "msg", nil)
}

// FeishuSign returns the timestamp and sign body fields of Feishu's
// signature check for a time in Unix seconds.
func FeishuSign(secret string, unix int64) (timestamp, sign string) {
	timestamp = strconv.FormatInt(unix, 10)
	m := hmac.New(sha256.New, []byte(timestamp+"\n"+secret))
	return timestamp, base64.StdEncoding.EncodeToString(m.Sum(nil))
}
