package notify

import (
	"context"
	"strings"

	"github.com/shiftgate/shiftgate/workflow"
)

// WeCom posts to a WeCom (企业微信) group robot (群机器人). Without
// mentions, or when every mentioned person has a user ID, it sends
// markdown, mentioning with the "<@userid>" extension the robot accepts in
// markdown content:
//
//	{"msgtype":"markdown","markdown":{"content":"## …\n\n<@u1>"}}
//
// When a mentioned person is known only by mobile number it sends text,
// since only text messages take mentioned_mobile_list:
//
//	{"msgtype":"text","text":{"content":"…","mentioned_list":["u1"],"mentioned_mobile_list":["138…"]}}
//
// An answer with errcode != 0 is an error; -1 (system busy) may succeed
// later, any other code is permanent.
type WeCom struct {
	ep  endpoint
	cfg *config
}

var _ workflow.Notifier = (*WeCom)(nil)

// NewWeCom returns a WeCom robot posting to webhookURL
// ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…"). Options:
// WithMentions, WithHTTPClient, WithClock.
func NewWeCom(webhookURL string, opts ...WeComOption) (*WeCom, error) {
	ep, err := parseEndpoint("wecom", webhookURL, 0)
	if err != nil {
		return nil, err
	}
	cfg, err := newConfig("wecom", opts, WeComOption.weCom)
	if err != nil {
		return nil, err
	}
	return &WeCom{ep: ep, cfg: cfg}, nil
}

type weComText struct {
	Content             string   `json:"content"`
	MentionedList       []string `json:"mentioned_list,omitempty"`
	MentionedMobileList []string `json:"mentioned_mobile_list,omitempty"`
}

type weComMsg struct {
	MsgType  string `json:"msgtype"`
	Markdown *struct {
		Content string `json:"content"`
	} `json:"markdown,omitempty"`
	Text *weComText `json:"text,omitempty"`
}

// Notify posts e.
func (w *WeCom) Notify(ctx context.Context, e workflow.Event) error {
	mentions := w.cfg.resolve(e.Recipients)
	needText := false
	var ids, mobiles []string
	for _, m := range mentions {
		if m.UserID != "" {
			ids = append(ids, m.UserID)
		} else {
			mobiles = append(mobiles, m.Mobile)
			needText = true
		}
	}
	var m weComMsg
	if needText {
		m.MsgType = "text"
		m.Text = &weComText{Content: plainText(e), MentionedList: ids, MentionedMobileList: mobiles}
	} else {
		content := markdown(e, "## ")
		if len(ids) > 0 {
			tags := make([]string, len(ids))
			for i, id := range ids {
				tags[i] = "<@" + id + ">"
			}
			content += "\n\n" + strings.Join(tags, " ")
		}
		m.MsgType = "markdown"
		m.Markdown = &struct {
			Content string `json:"content"`
		}{content}
	}
	body, err := marshal(m)
	if err != nil {
		return w.ep.errorf(true, "encoding message: %v", err)
	}
	r, err := w.ep.post(ctx, w.cfg.client, w.ep.url, body, nil)
	if err != nil {
		return err
	}
	return w.ep.codeError(r, "errcode", "errmsg", map[int]bool{-1: true})
}
