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

// Option configures a webhook-style notifier. Each constructor accepts only
// the options that apply to its service and reports any other as an error.
type Option func(*config) error

type config struct {
	set      map[string]bool
	client   *http.Client
	secret   string
	mentions MentionResolver
	header   http.Header
	now      func() time.Time
}

func newConfig(service string, allowed []string, opts []Option) (*config, error) {
	c := &config{set: map[string]bool{}, client: http.DefaultClient, now: time.Now, header: http.Header{}}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("notify: %s: nil Option", service)
		}
		if err := o(c); err != nil {
			return nil, fmt.Errorf("notify: %s: %w", service, err)
		}
	}
	for name := range c.set {
		ok := false
		for _, a := range allowed {
			ok = ok || a == name
		}
		if !ok {
			return nil, fmt.Errorf("notify: %s: option %s does not apply to %s", service, name, service)
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
func WithHTTPClient(client *http.Client) Option {
	return func(c *config) error {
		if client == nil {
			return errors.New("WithHTTPClient: nil client")
		}
		c.client = client
		return c.mark("WithHTTPClient")
	}
}

// WithSecret sets the signing secret: DingTalk's 加签 secret, Feishu's
// signature secret, or the HMAC-SHA256 key of a generic Webhook. The secret
// never appears in an error.
func WithSecret(secret string) Option {
	return func(c *config) error {
		if secret == "" {
			return errors.New("WithSecret: empty secret")
		}
		c.secret = secret
		return c.mark("WithSecret")
	}
}

// WithMentions mentions each of an event's recipients that r resolves.
func WithMentions(r MentionResolver) Option {
	return func(c *config) error {
		if r == nil {
			return errors.New("WithMentions: nil resolver")
		}
		c.mentions = r
		return c.mark("WithMentions")
	}
}

// WithHeader adds a header to every request of a generic Webhook, such as
// an Authorization header the receiver expects. It may be given several
// times.
func WithHeader(key, value string) Option {
	return func(c *config) error {
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
	}
}

// WithClock replaces time.Now for signing timestamps and headers; tests use
// it to check signatures against fixed values.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("WithClock: nil clock")
		}
		c.now = now
		return c.mark("WithClock")
	}
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
