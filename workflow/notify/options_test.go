package notify_test

import (
	"testing"

	"github.com/shiftgate/shiftgate/internal/compilecheck"
)

// misuse gives options to notifier constructors. Each function named bad*
// must fail to type-check with its comment's text; the others must
// type-check.
const misuse = `package misuse

import (
	"net/http"
	"time"

	"github.com/shiftgate/shiftgate/workflow/notify"
)

func good() {
	now := func() time.Time { return time.Time{} }
	_, _ = notify.NewDingTalk("u", notify.WithSecret("s"), notify.WithMentions(nil), notify.WithHTTPClient(http.DefaultClient), notify.WithClock(now))
	_, _ = notify.NewFeishu("u", notify.WithSecret("s"), notify.WithMentions(nil), notify.WithHTTPClient(http.DefaultClient), notify.WithClock(now))
	_, _ = notify.NewSlack("u", notify.WithMentions(nil), notify.WithHTTPClient(http.DefaultClient), notify.WithClock(now))
	_, _ = notify.NewWeCom("u", notify.WithMentions(nil), notify.WithHTTPClient(http.DefaultClient), notify.WithClock(now))
	_, _ = notify.NewWebhook("u", notify.WithSecret("s"), notify.WithHeader("k", "v"), notify.WithHTTPClient(http.DefaultClient), notify.WithClock(now))
	_, _ = notify.NewSMTP("h:25", "a@b", notify.WithTLS(notify.NoTLS), notify.WithClock(now))
}

func badHeaderToDingTalk() { // notify.WebhookOption does not implement notify.DingTalkOption
	_, _ = notify.NewDingTalk("u", notify.WithHeader("k", "v"))
}

func badSecretToSlack() { // notify.SigningOption does not implement notify.SlackOption
	_, _ = notify.NewSlack("u", notify.WithSecret("s"))
}

func badMentionsToWebhook() { // notify.MentionOption does not implement notify.WebhookOption
	_, _ = notify.NewWebhook("u", notify.WithMentions(nil))
}

func badHTTPClientToSMTP() { // notify.HTTPOption does not implement notify.SMTPOption
	_, _ = notify.NewSMTP("h:25", "a@b", notify.WithHTTPClient(http.DefaultClient))
}

func badSMTPOptionToWeCom() { // notify.SMTPOption does not implement notify.WeComOption
	_, _ = notify.NewWeCom("u", notify.WithTLS(notify.NoTLS))
}
`

// TestOptionsMisappliedDoNotCompile type-checks misuse: an option given to
// a notifier it does not apply to is a compile error, not a run-time one.
func TestOptionsMisappliedDoNotCompile(t *testing.T) {
	compilecheck.Expect(t, misuse)
}
