package notify

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"time"
)

// Mention is how a chat service addresses one person: by the service's
// user ID, or by mobile number where the service allows it (DingTalk,
// WeCom).
type Mention struct {
	UserID string
	Mobile string
}

// MentionResolver maps a workflow user name (an entry of
// workflow.Event.Recipients) to the person to mention; ok is false for users
// the service does not know, who are then left out.
type MentionResolver func(user string) (m Mention, ok bool)

// Options are checked at compile time against the constructor they are
// given to: each constructor takes its own option interface
// (DingTalkOption, FeishuOption, SlackOption, WeComOption, WebhookOption,
// SMTPOption), and an option several notifiers take has a type that
// satisfies each of their interfaces: Option (WithClock) for all of them,
// HTTPOption (WithHTTPClient) for the five that post over HTTP,
// MentionOption (WithMentions) for the four chat services, SigningOption
// (WithSecret) for DingTalk, Feishu and Webhook. WithHeader given to
// NewDingTalk does not compile.

// DingTalkOption configures a DingTalk notifier (NewDingTalk).
type DingTalkOption interface{ dingTalk(*config) error }

// FeishuOption configures a Feishu notifier (NewFeishu).
type FeishuOption interface{ feishu(*config) error }

// SlackOption configures a Slack notifier (NewSlack).
type SlackOption interface{ slack(*config) error }

// WeComOption configures a WeCom notifier (NewWeCom).
type WeComOption interface{ weCom(*config) error }

// WebhookOption configures a generic Webhook (NewWebhook).
type WebhookOption interface{ webhook(*config) error }

// SMTPOption configures an SMTP notifier (NewSMTP).
type SMTPOption interface{ smtp(*smtpConfig) error }

// MentionOption is an option of the chat services: DingTalk, Feishu,
// Slack and WeCom.
type MentionOption interface {
	DingTalkOption
	FeishuOption
	SlackOption
	WeComOption
}

// HTTPOption is an option of every notifier that posts over HTTP: the
// chat services and Webhook.
type HTTPOption interface {
	MentionOption
	WebhookOption
}

// SigningOption is an option of the notifiers that sign their requests:
// DingTalk, Feishu and Webhook.
type SigningOption interface {
	DingTalkOption
	FeishuOption
	WebhookOption
}

// Option is an option of every notifier.
type Option interface {
	HTTPOption
	SMTPOption
}

// httpOption is an HTTPOption.
type httpOption func(*config) error

func (o httpOption) dingTalk(c *config) error { return o(c) }
func (o httpOption) feishu(c *config) error   { return o(c) }
func (o httpOption) slack(c *config) error    { return o(c) }
func (o httpOption) weCom(c *config) error    { return o(c) }
func (o httpOption) webhook(c *config) error  { return o(c) }

// mentionOption is a MentionOption.
type mentionOption func(*config) error

func (o mentionOption) dingTalk(c *config) error { return o(c) }
func (o mentionOption) feishu(c *config) error   { return o(c) }
func (o mentionOption) slack(c *config) error    { return o(c) }
func (o mentionOption) weCom(c *config) error    { return o(c) }

// signingOption is a SigningOption.
type signingOption func(*config) error

func (o signingOption) dingTalk(c *config) error { return o(c) }
func (o signingOption) feishu(c *config) error   { return o(c) }
func (o signingOption) webhook(c *config) error  { return o(c) }

// webhookOption is an option only a Webhook takes.
type webhookOption func(*config) error

func (o webhookOption) webhook(c *config) error { return o(c) }

// clockOption is an Option that sets the clock of any notifier.
type clockOption func(now *func() time.Time) error

func (o clockOption) dingTalk(c *config) error { return c.clock(o) }
func (o clockOption) feishu(c *config) error   { return c.clock(o) }
func (o clockOption) slack(c *config) error    { return c.clock(o) }
func (o clockOption) weCom(c *config) error    { return c.clock(o) }
func (o clockOption) webhook(c *config) error  { return c.clock(o) }
func (o clockOption) smtp(c *smtpConfig) error { return o(&c.now) }

func (c *config) clock(o clockOption) error {
	if err := o(&c.now); err != nil {
		return err
	}
	return c.mark("WithClock")
}

type config struct {
	set      map[string]bool
	client   *http.Client
	secret   string
	mentions MentionResolver
	header   http.Header
	now      func() time.Time
}

// newConfig applies opts with apply (the constructor's option interface
// method).
func newConfig[O comparable](service string, opts []O, apply func(O, *config) error) (*config, error) {
	c := &config{set: map[string]bool{}, client: http.DefaultClient, now: time.Now, header: http.Header{}}
	var none O
	for _, o := range opts {
		if o == none {
			return nil, fmt.Errorf("notify: %s: nil option", service)
		}
		if err := apply(o, c); err != nil {
			return nil, fmt.Errorf("notify: %s: %w", service, err)
		}
	}
	return c, nil
}

func (c *config) mark(name string) error {
	if c.set[name] && name != "WithHeader" {
		return fmt.Errorf("option %s given twice", name)
	}
	c.set[name] = true
	return nil
}

// WithHTTPClient sends requests with client instead of http.DefaultClient.
func WithHTTPClient(client *http.Client) HTTPOption {
	return httpOption(func(c *config) error {
		if client == nil {
			return errors.New("WithHTTPClient: nil client")
		}
		c.client = client
		return c.mark("WithHTTPClient")
	})
}

// WithSecret sets the signing secret: DingTalk's 加签 secret, Feishu's
// signature secret, or the HMAC-SHA256 key of a generic Webhook. The secret
// never appears in an error.
func WithSecret(secret string) SigningOption {
	return signingOption(func(c *config) error {
		if secret == "" {
			return errors.New("WithSecret: empty secret")
		}
		c.secret = secret
		return c.mark("WithSecret")
	})
}

// WithMentions mentions each of an event's recipients that r resolves.
func WithMentions(r MentionResolver) MentionOption {
	return mentionOption(func(c *config) error {
		if r == nil {
			return errors.New("WithMentions: nil resolver")
		}
		c.mentions = r
		return c.mark("WithMentions")
	})
}

// WithHeader adds a header to every request of a generic Webhook, such as
// an Authorization header the receiver expects. It may be given several
// times.
func WithHeader(key, value string) WebhookOption {
	return webhookOption(func(c *config) error {
		if key == "" || strings.ContainsFunc(key, func(r rune) bool {
			return r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r)
		}) {
			return fmt.Errorf("WithHeader: invalid header name %q", key)
		}
		if strings.ContainsAny(value, "\r\n") {
			return fmt.Errorf("WithHeader: header %s: value contains a line break", key)
		}
		c.header.Add(textproto.CanonicalMIMEHeaderKey(key), value)
		return c.mark("WithHeader")
	})
}

// WithClock replaces time.Now for signing timestamps and headers (the
// Date header of an SMTP message); tests use it to check signatures and
// messages against fixed values.
func WithClock(now func() time.Time) Option {
	return clockOption(func(dst *func() time.Time) error {
		if now == nil {
			return errors.New("WithClock: nil clock")
		}
		*dst = now
		return nil
	})
}

func (c *config) resolve(recipients []string) []Mention {
	if c.mentions == nil {
		return nil
	}
	var out []Mention
	seen := map[Mention]bool{}
	for _, u := range recipients {
		m, ok := c.mentions(u)
		if !ok || (m.UserID == "" && m.Mobile == "") || seen[m] {
			continue
		}
		seen[m] = true
		out = append(out, m)
	}
	return out
}
