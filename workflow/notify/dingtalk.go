package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/shiftgate/shiftgate/workflow"
)

// DingTalk posts to a DingTalk group's custom robot (自定义机器人) as a
// markdown message:
//
//	{"msgtype":"markdown",
//	 "markdown":{"title":"…","text":"### …"},
//	 "at":{"atMobiles":["138…"],"atUserIds":["u1"],"isAtAll":false}}
//
// Mentioned people are also named in the text ("@138…"), which DingTalk
// needs to show the mention. With WithSecret (加签) the request carries
// timestamp (milliseconds) and sign query parameters, sign being the
// base64 HMAC-SHA256 of "timestamp\nsecret" keyed with the secret. An
// answer with errcode != 0 is an error; -1 (system busy) and 90030
// (webhook over limit) may succeed later, any other code is permanent.
type DingTalk struct {
	ep  endpoint
	cfg *config
}

var _ workflow.Notifier = (*DingTalk)(nil)

// NewDingTalk returns a DingTalk robot posting to webhookURL
// ("https://oapi.dingtalk.com/robot/send?access_token=…"). Options:
// WithSecret, WithMentions, WithHTTPClient, WithClock.
func NewDingTalk(webhookURL string, opts ...DingTalkOption) (*DingTalk, error) {
	ep, err := parseEndpoint("dingtalk", webhookURL, 0)
	if err != nil {
		return nil, err
	}
	cfg, err := newConfig("dingtalk", opts, DingTalkOption.dingTalk)
	if err != nil {
		return nil, err
	}
	return &DingTalk{ep: ep, cfg: cfg}, nil
}

type dingTalkMsg struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"markdown"`
	At struct {
		AtMobiles []string `json:"atMobiles,omitempty"`
		AtUserIDs []string `json:"atUserIds,omitempty"`
		IsAtAll   bool     `json:"isAtAll"`
	} `json:"at"`
}

// Notify posts e.
func (d *DingTalk) Notify(ctx context.Context, e workflow.Event) error {
	var m dingTalkMsg
	m.MsgType = "markdown"
	m.Markdown.Title = subject(e)
	text := markdown(e, "### ")
	var at []string
	for _, p := range d.cfg.resolve(e.Recipients) {
		if p.Mobile != "" {
			m.At.AtMobiles = append(m.At.AtMobiles, p.Mobile)
			at = append(at, "@"+p.Mobile)
		} else {
			m.At.AtUserIDs = append(m.At.AtUserIDs, p.UserID)
			at = append(at, "@"+p.UserID)
		}
	}
	if len(at) > 0 {
		text += "\n\n" + strings.Join(at, " ")
	}
	m.Markdown.Text = text
	body, err := marshal(m)
	if err != nil {
		return d.ep.errorf(true, "encoding message: %v", err)
	}
	u := *d.ep.url
	if d.cfg.secret != "" {
		ts, sign := DingTalkSign(d.cfg.secret, d.cfg.now().UnixMilli())
		q := u.Query()
		q.Set("timestamp", ts)
		q.Set("sign", sign)
		u.RawQuery = q.Encode()
	}
	r, err := d.ep.post(ctx, d.cfg.client, &u, body, nil)
	if err != nil {
		return err
	}
	return d.ep.codeError(r, "errcode", "errmsg", map[int]bool{-1: true, 90030: true})
}

// DingTalkSign returns the timestamp and sign query parameters of DingTalk's
// 加签 for a time in Unix milliseconds (sign before URL encoding).
func DingTalkSign(secret string, unixMilli int64) (timestamp, sign string) {
	timestamp = strconv.FormatInt(unixMilli, 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp + "\n" + secret))
	return timestamp, base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// codeError checks a JSON answer carrying a numeric code field (DingTalk
// and WeCom errcode, Feishu code): non-2xx is an HTTP error; a code other
// than 0 is an error, permanent unless listed in transient.
func (ep endpoint) codeError(r response, codeField, msgField string, transient map[int]bool) error {
	if r.status < 200 || r.status > 299 {
		return ep.httpStatusError(r)
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &v); err != nil {
		return ep.errorf(false, "answer is not JSON: %s", snippet(r.body))
	}
	raw, ok := v[codeField]
	if !ok {
		return ep.errorf(false, "answer has no %s: %s", codeField, snippet(r.body))
	}
	var code int
	if err := json.Unmarshal(raw, &code); err != nil {
		return ep.errorf(false, "answer's %s is not a number: %s", codeField, snippet(r.body))
	}
	if code == 0 {
		return nil
	}
	var msg string
	_ = json.Unmarshal(v[msgField], &msg)
	return ep.errorf(!transient[code], "%s %d: %s", codeField, code, msg)
}
