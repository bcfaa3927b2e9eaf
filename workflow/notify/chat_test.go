package notify_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/notify"
	"github.com/shiftgate/shiftgate/workflow/workflowtest"
)

var update = flag.Bool("update", false, "rewrite the golden payloads in testdata")

// fixedNow is the clock of every signing test: 2026-05-04 10:20:30.123 UTC.
var fixedNow = time.Date(2026, 5, 4, 10, 20, 30, 123e6, time.UTC)

func clock() time.Time { return fixedNow }

const (
	dingToken   = "ding-access-token-0123456789"
	dingSecret  = "SECdingsecret0123456789abcdef"
	weComKey    = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
	feishuHook  = "f00dfeed-hook-token-0123"
	feishuKey   = "feishu-sign-secret-abc"
	slackToken  = "XXXXslacktokenXXXXXXXXXX"
	hookSecret  = "generic-webhook-secret"
	hookBearer  = "Bearer generic-auth-token"
	wrongSecret = "not-the-secret"
)

var people = map[string]notify.Mention{
	"alice": {UserID: "u_alice", Mobile: "13800000001"},
	"bob":   {Mobile: "13800000002"},
	"carol": {UserID: "u_carol"},
}

func mobiles(user string) (notify.Mention, bool) { m, ok := people[user]; return m, ok }

// ids resolves to user IDs only, as Feishu and Slack need.
func ids(user string) (notify.Mention, bool) {
	m, ok := people[user]
	if !ok || m.UserID == "" {
		return notify.Mention{}, false
	}
	return notify.Mention{UserID: m.UserID}, true
}

type service struct {
	name  string
	inbox workflowtest.HTTPInboxConfig
	path  string // webhook path and query on the inbox, holding the token
	build func(url string) (workflow.Notifier, error)
}

var jsonCT = http.Header{"Content-Type": {"application/json"}}

func services() []service {
	return []service{
		{
			name: "dingtalk",
			inbox: workflowtest.HTTPInboxConfig{
				OK:        workflowtest.HTTPResponse{Status: 200, Body: `{"errcode":0,"errmsg":"ok"}`, Header: jsonCT},
				Temporary: workflowtest.HTTPResponse{Status: 200, Body: `{"errcode":-1,"errmsg":"系统繁忙"}`, Header: jsonCT},
				Permanent: workflowtest.HTTPResponse{Status: 200, Body: `{"errcode":310000,"errmsg":"sign not match"}`, Header: jsonCT},
				Secrets:   []string{dingToken, dingSecret},
			},
			path: "/robot/send?access_token=" + dingToken,
			build: func(u string) (workflow.Notifier, error) {
				return notify.NewDingTalk(u, notify.WithSecret(dingSecret), notify.WithMentions(mobiles), notify.WithClock(clock))
			},
		},
		{
			name: "wecom",
			inbox: workflowtest.HTTPInboxConfig{
				OK:        workflowtest.HTTPResponse{Status: 200, Body: `{"errcode":0,"errmsg":"ok"}`, Header: jsonCT},
				Temporary: workflowtest.HTTPResponse{Status: 200, Body: `{"errcode":-1,"errmsg":"system busy"}`, Header: jsonCT},
				Permanent: workflowtest.HTTPResponse{Status: 200, Body: `{"errcode":93000,"errmsg":"invalid webhook url"}`, Header: jsonCT},
				Secrets:   []string{weComKey},
			},
			path: "/cgi-bin/webhook/send?key=" + weComKey,
			build: func(u string) (workflow.Notifier, error) {
				return notify.NewWeCom(u, notify.WithMentions(ids))
			},
		},
		{
			name: "feishu",
			inbox: workflowtest.HTTPInboxConfig{
				OK:        workflowtest.HTTPResponse{Status: 200, Body: `{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}`, Header: jsonCT},
				Temporary: workflowtest.HTTPResponse{Status: 503, Body: `upstream unavailable`},
				Permanent: workflowtest.HTTPResponse{Status: 200, Body: `{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}`, Header: jsonCT},
				Secrets:   []string{feishuHook, feishuKey},
			},
			path: "/open-apis/bot/v2/hook/" + feishuHook,
			build: func(u string) (workflow.Notifier, error) {
				return notify.NewFeishu(u, notify.WithSecret(feishuKey), notify.WithMentions(ids), notify.WithClock(clock))
			},
		},
		{
			name: "slack",
			inbox: workflowtest.HTTPInboxConfig{
				OK:        workflowtest.HTTPResponse{Status: 200, Body: "ok"},
				Temporary: workflowtest.HTTPResponse{Status: 500, Body: "rollup_error"},
				Permanent: workflowtest.HTTPResponse{Status: 404, Body: "channel_not_found"},
				Secrets:   []string{slackToken},
			},
			path: "/services/T000/B000/" + slackToken,
			build: func(u string) (workflow.Notifier, error) {
				return notify.NewSlack(u, notify.WithMentions(ids))
			},
		},
		{
			name: "webhook",
			inbox: workflowtest.HTTPInboxConfig{
				// The receiver decodes the workflow.Event it is sent.
				Text: func(body []byte) (string, error) {
					var e workflow.Event
					if err := json.Unmarshal(body, &e); err != nil {
						return "", err
					}
					return e.Subject() + "\n#" + strconv.FormatInt(e.TicketID, 10), nil
				},
				Secrets: []string{hookSecret, hookBearer},
			},
			path: "/hooks/shiftgate",
			build: func(u string) (workflow.Notifier, error) {
				return notify.NewWebhook(u, notify.WithSecret(hookSecret), notify.WithHeader("Authorization", hookBearer), notify.WithClock(clock))
			},
		},
	}
}

func TestConformance(t *testing.T) {
	for _, s := range services() {
		t.Run(s.name, func(t *testing.T) {
			workflowtest.TestNotifier(t, func(t *testing.T) (workflow.Notifier, workflowtest.Inbox) {
				in := workflowtest.NewHTTPInbox(t, s.inbox)
				n, err := s.build(in.URL() + s.path)
				if err != nil {
					t.Fatal(err)
				}
				return n, in
			})
		})
	}
}

// TestPayloads checks the exact request each service receives for one
// event against testdata/<service>.golden (run with -update to rewrite
// after checking the new payload by hand).
func TestPayloads(t *testing.T) {
	for _, s := range services() {
		t.Run(s.name, func(t *testing.T) {
			in := workflowtest.NewHTTPInbox(t, s.inbox)
			n, err := s.build(in.URL() + s.path)
			if err != nil {
				t.Fatal(err)
			}
			e := workflowtest.SampleEvent(workflow.EventApprovalRequested, 42, "golden")
			if err := n.Notify(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			reqs := in.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost {
				t.Errorf("method %s", r.Method)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, r.Body, "", "  "); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, r.Body)
			}
			got := "POST " + r.URL.Path + "\n" + sortedQuery(r.URL.Query()) + "\n" + pretty.String() + "\n"
			golden := filepath.Join("testdata", s.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("payload differs from %s:\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
		})
	}
}

func sortedQuery(q map[string][]string) string {
	var parts []string
	for _, k := range []string{"access_token", "key", "timestamp", "sign"} {
		if v, ok := q[k]; ok {
			parts = append(parts, k+"="+strings.Join(v, ","))
		}
	}
	return strings.Join(parts, "&")
}

// The signatures are recomputed here from the services' documented
// recipes, independently of the package's helpers.

func TestDingTalkSigning(t *testing.T) {
	in := workflowtest.NewHTTPInbox(t, services()[0].inbox)
	n, err := notify.NewDingTalk(in.URL()+"/robot/send?access_token="+dingToken, notify.WithSecret(dingSecret), notify.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), workflowtest.SampleEvent(workflow.EventSubmitted, 1, "sign")); err != nil {
		t.Fatal(err)
	}
	q := in.Requests()[0].URL.Query()
	ts := "1777890030123" // milliseconds of fixedNow
	mac := hmac.New(sha256.New, []byte(dingSecret))
	fmt.Fprintf(mac, "%s\n%s", ts, dingSecret)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if q.Get("timestamp") != ts || q.Get("sign") != want || q.Get("access_token") != dingToken {
		t.Fatalf("query %v, want timestamp=%s sign=%s and the access token kept", q, ts, want)
	}
	// The raw query must carry the base64 sign URL-encoded.
	if raw := in.Requests()[0].URL.RawQuery; strings.Contains(want, "+") && strings.Contains(raw, "+") {
		t.Errorf("sign is not URL-encoded in %s", raw)
	}
}

func TestFeishuSigning(t *testing.T) {
	in := workflowtest.NewHTTPInbox(t, services()[2].inbox)
	n, err := notify.NewFeishu(in.URL()+"/open-apis/bot/v2/hook/"+feishuHook, notify.WithSecret(feishuKey), notify.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), workflowtest.SampleEvent(workflow.EventSubmitted, 1, "sign")); err != nil {
		t.Fatal(err)
	}
	var body struct{ Timestamp, Sign string }
	if err := json.Unmarshal(in.Requests()[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	ts := "1777890030" // seconds of fixedNow
	mac := hmac.New(sha256.New, []byte(ts+"\n"+feishuKey))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if body.Timestamp != ts || body.Sign != want {
		t.Fatalf("timestamp %q sign %q, want %q %q", body.Timestamp, body.Sign, ts, want)
	}
}

func TestWebhookSignature(t *testing.T) {
	in := workflowtest.NewHTTPInbox(t, workflowtest.HTTPInboxConfig{})
	n, err := notify.NewWebhook(in.URL()+"/hook", notify.WithSecret(hookSecret), notify.WithHeader("X-Team", "dba"), notify.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	e := workflowtest.SampleEvent(workflow.EventFinished, 5, "sig")
	if err := n.Notify(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	r := in.Requests()[0]
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write(r.Body)
	want := fmt.Sprintf("sha256=%x", mac.Sum(nil))
	if got := r.Header.Get(notify.HeaderSignature); !hmac.Equal([]byte(got), []byte(want)) {
		t.Errorf("signature %q, want %q", got, want)
	}
	if r.Header.Get("X-Team") != "dba" || r.Header.Get(notify.HeaderEvent) != "finished" || r.Header.Get(notify.HeaderTimestamp) != "1777890030" {
		t.Errorf("headers %v", r.Header)
	}
	var back workflow.Event
	if err := json.Unmarshal(r.Body, &back); err != nil || back.Title != e.Title || back.TicketID != 5 {
		t.Errorf("body does not decode to the event: %v %+v", err, back)
	}
}

// WeCom markdown cannot carry mobile mentions: a recipient known only by
// mobile turns the message into text with mentioned_mobile_list.
func TestWeComMobileMentionsUseText(t *testing.T) {
	in := workflowtest.NewHTTPInbox(t, services()[1].inbox)
	n, err := notify.NewWeCom(in.URL()+"/cgi-bin/webhook/send?key="+weComKey, notify.WithMentions(mobiles))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), workflowtest.SampleEvent(workflow.EventFailed, 3, "mobile")); err != nil {
		t.Fatal(err)
	}
	var m struct {
		MsgType string `json:"msgtype"`
		Text    struct {
			Content             string   `json:"content"`
			MentionedList       []string `json:"mentioned_list"`
			MentionedMobileList []string `json:"mentioned_mobile_list"`
		} `json:"text"`
	}
	if err := json.Unmarshal(in.Requests()[0].Body, &m); err != nil {
		t.Fatal(err)
	}
	if m.MsgType != "text" || strings.Join(m.Text.MentionedList, ",") != "u_alice,u_carol" ||
		strings.Join(m.Text.MentionedMobileList, ",") != "13800000002" || !strings.Contains(m.Text.Content, "ticket #3 FAILED") {
		t.Errorf("unexpected message %+v", m)
	}
}

func TestHTTPStatusMapping(t *testing.T) {
	for _, tc := range []struct {
		status    int
		permanent bool
	}{{400, true}, {401, true}, {403, true}, {404, true}, {410, true}, {408, false}, {429, false}, {500, false}, {502, false}} {
		in := workflowtest.NewHTTPInbox(t, workflowtest.HTTPInboxConfig{Permanent: workflowtest.HTTPResponse{Status: tc.status, Body: "nope"}})
		in.SetMode(workflowtest.RejectPermanently)
		n, err := notify.NewWebhook(in.URL() + "/h")
		if err != nil {
			t.Fatal(err)
		}
		err = n.Notify(context.Background(), workflowtest.SampleEvent(workflow.EventStarted, 1, "s"))
		if err == nil || errors.Is(err, workflow.ErrPermanent) != tc.permanent {
			t.Errorf("HTTP %d: got %v, permanent want %v", tc.status, err, tc.permanent)
		}
	}
}

func TestConstructionErrors(t *testing.T) {
	secretURL := "https://oapi.dingtalk.com/robot/send?access_token=" + dingToken
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"bad url", errOf(notify.NewDingTalk("::not a url?access_token=" + dingToken)), `dingtalk: webhook URL "::not a url" does not parse`},
		{"relative url", errOf(notify.NewSlack("/services/T/B/" + slackToken)), "slack: webhook URL"},
		{"ftp url", errOf(notify.NewWebhook("ftp://example.com/x")), "not an absolute http(s) URL"},
		{"empty secret", errOf(notify.NewDingTalk(secretURL, notify.WithSecret(""))), "WithSecret: empty secret"},
		{"nil option", errOf(notify.NewFeishu("https://open.feishu.cn/open-apis/bot/v2/hook/x", nil)), "nil option"},
		{"bad header", errOf(notify.NewWebhook("https://example.com/h", notify.WithHeader("Bad Header", "x"))), `invalid header name "Bad Header"`},
		{"nil client", errOf(notify.NewWeCom("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", notify.WithHTTPClient(nil))), "nil client"},
		{"nil mentions", errOf(notify.NewSlack("https://hooks.slack.com/services/T/B/x", notify.WithMentions(nil))), "nil resolver"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: got %v, want it to contain %q", tc.name, tc.err, tc.want)
		}
		if tc.err != nil && (strings.Contains(tc.err.Error(), dingToken) || strings.Contains(tc.err.Error(), slackToken)) {
			t.Errorf("%s: error reveals a token: %v", tc.name, tc.err)
		}
	}
}

func errOf[T any](_ T, err error) error { return err }

// Errors name the endpoint without its token, even for a transport error.
func TestErrorsHideTokens(t *testing.T) {
	n, err := notify.NewSlack("http://127.0.0.1:1/services/T000/B000/" + slackToken)
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(context.Background(), workflowtest.SampleEvent(workflow.EventStarted, 1, "x"))
	if err == nil || strings.Contains(err.Error(), slackToken) || !strings.Contains(err.Error(), "http://127.0.0.1:1/services/***/***/***") {
		t.Fatalf("got %v", err)
	}
	d, err := notify.NewDingTalk("http://127.0.0.1:1/robot/send?access_token="+dingToken, notify.WithSecret(dingSecret))
	if err != nil {
		t.Fatal(err)
	}
	err = d.Notify(context.Background(), workflowtest.SampleEvent(workflow.EventStarted, 1, "x"))
	if err == nil || strings.Contains(err.Error(), dingToken) || strings.Contains(err.Error(), "sign=") {
		t.Fatalf("got %v", err)
	}
}

// hostile is an event whose user and server text holds terminal control
// sequences: a screen clear, a title change, a bell, a NUL, a carriage
// return and a right-to-left override.
func hostile() workflow.Event {
	e := workflowtest.SampleEvent(workflow.EventFailed, 77, "hostile")
	e.Title = "fix orders\x1b[2J\x1b[1;1H"
	e.Actor = "bob\u202e"
	e.Database = "shop\x00"
	e.Comment = "ERROR 1064\r\nnear '\x1b]0;owned\x07'"
	e.Detail = "UPDATE orders SET note = '\x1b[8mhidden'\n\tWHERE id = 1"
	return e
}

// requireEscaped fails if text holds a control character other than a
// newline or a tab, or the override, and checks the escapes are shown.
func requireEscaped(t *testing.T, what, text string) {
	t.Helper()
	if i := strings.IndexFunc(text, func(r rune) bool { return (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || r == '\u202e' }); i >= 0 {
		t.Errorf("%s holds the raw control character %q: %q", what, text[i:i+1], text)
	}
	for _, shown := range []string{`\x1b[2J`, `\u{202E}`, `\x1b]0;owned\x07`} {
		if !strings.Contains(text, shown) {
			t.Errorf("%s does not show %s: %q", what, shown, text)
		}
	}
}

// TestUserTextEscaped: chat messages show control characters from user
// and server text as escapes; the generic webhook's JSON stays raw.
func TestUserTextEscaped(t *testing.T) {
	for _, s := range services() {
		t.Run(s.name, func(t *testing.T) {
			in := workflowtest.NewHTTPInbox(t, s.inbox)
			n, err := s.build(in.URL() + s.path)
			if err != nil {
				t.Fatal(err)
			}
			e := hostile()
			if err := n.Notify(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			body := in.Requests()[0].Body
			if s.name == "webhook" {
				var got workflow.Event
				if err := json.Unmarshal(body, &got); err != nil || got.Title != e.Title || got.Comment != e.Comment || got.Detail != e.Detail {
					t.Fatalf("the webhook's JSON changed user text: %+v, %v", got, err)
				}
				return
			}
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatal(err)
			}
			var texts []string
			var walk func(v any)
			walk = func(v any) {
				switch v := v.(type) {
				case string:
					texts = append(texts, v)
				case []any:
					for _, x := range v {
						walk(x)
					}
				case map[string]any:
					for _, x := range v {
						walk(x)
					}
				}
			}
			walk(v)
			requireEscaped(t, s.name+" message", strings.Join(texts, "\n"))
		})
	}
}
