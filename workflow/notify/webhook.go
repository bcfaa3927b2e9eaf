package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"github.com/shiftgate/shiftgate/workflow"
)

// Webhook headers. The signature is "sha256=" and the lower-case hex
// HMAC-SHA256 of the body, keyed with the WithSecret secret, as GitHub's
// webhooks do; receivers compare it with hmac.Equal.
const (
	HeaderEvent     = "X-Shiftgate-Event"
	HeaderSignature = "X-Shiftgate-Signature-256"
	HeaderTimestamp = "X-Shiftgate-Timestamp"
)

// Webhook POSTs each event as JSON (workflow.Event's own encoding) to a URL.
// Any 2xx answer is success; the body is not read.
type Webhook struct {
	ep  endpoint
	cfg *config
}

var _ workflow.Notifier = (*Webhook)(nil)

// NewWebhook returns a Webhook posting to rawURL. Options: WithSecret (sign
// the body), WithHeader, WithHTTPClient, WithClock.
func NewWebhook(rawURL string, opts ...WebhookOption) (*Webhook, error) {
	ep, err := parseEndpoint("webhook", rawURL, 0)
	if err != nil {
		return nil, err
	}
	cfg, err := newConfig("webhook", opts, WebhookOption.webhook)
	if err != nil {
		return nil, err
	}
	return &Webhook{ep: ep, cfg: cfg}, nil
}

// Notify posts e.
func (w *Webhook) Notify(ctx context.Context, e workflow.Event) error {
	body, err := marshal(e)
	if err != nil {
		return w.ep.errorf(true, "encoding event: %v", err)
	}
	h := w.cfg.header.Clone()
	h.Set(HeaderEvent, string(e.Kind))
	h.Set(HeaderTimestamp, strconv.FormatInt(w.cfg.now().Unix(), 10))
	if w.cfg.secret != "" {
		h.Set(HeaderSignature, Signature(w.cfg.secret, body))
	}
	r, err := w.ep.post(ctx, w.cfg.client, w.ep.url, body, h)
	if err != nil {
		return err
	}
	if r.status < 200 || r.status > 299 {
		return w.ep.httpStatusError(r)
	}
	return nil
}

// Signature is the value of the HeaderSignature header for body: what a
// receiver computes to check a delivery.
func Signature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
