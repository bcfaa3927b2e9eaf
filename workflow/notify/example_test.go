package notify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/notify"
)

// A DingTalk robot with 加签 and mentions by mobile number, posting to a
// local stand-in for oapi.dingtalk.com that prints what it receives.
func ExampleNewDingTalk() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		q := r.URL.Query()
		fmt.Println("timestamp:", q.Get("timestamp"))
		fmt.Println("sign:", q.Get("sign"))
		fmt.Println(string(body))
		fmt.Fprint(w, `{"errcode":0,"errmsg":"ok"}`)
	}))
	defer srv.Close()

	phones := map[string]string{"bob": "13800000002"}
	robot, err := notify.NewDingTalk(srv.URL+"/robot/send?access_token=TOKEN",
		notify.WithSecret("SECexample"),
		notify.WithMentions(func(user string) (notify.Mention, bool) {
			p, ok := phones[user]
			return notify.Mention{Mobile: p}, ok
		}),
		notify.WithClock(func() time.Time { return time.UnixMilli(1777890030123) }))
	if err != nil {
		panic(err)
	}
	err = robot.Notify(context.Background(), workflow.Event{
		Kind: workflow.EventApprovalRequested, TicketID: 42, Title: "迁移 shop 到 test-2",
		State: "pending_approval", Actor: "alice", Recipients: []string{"bob"},
	})
	fmt.Println("err:", err)
	// Output:
	// timestamp: 1777890030123
	// sign: +MgNxIK+ycezo+LP/HnaF92Ry6UTPlI0rEVE04hP4VU=
	// {"msgtype":"markdown","markdown":{"title":"[shiftgate] ticket #42 awaits your approval: 迁移 shop 到 test-2","text":"### [shiftgate] ticket #42 awaits your approval: 迁移 shop 到 test-2\n\n**Ticket:** #42\n\n**Title:** 迁移 shop 到 test-2\n\n**State:** pending_approval\n\n**Actor:** alice\n\n@13800000002"},"at":{"atMobiles":["13800000002"],"isAtAll":false}}
	// err: <nil>
}

// A generic webhook receiver checks the signature with notify.Signature.
func ExampleNewWebhook() {
	const secret = "shared-secret"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ok := r.Header.Get(notify.HeaderSignature) == notify.Signature(secret, body)
		fmt.Println(r.Header.Get(notify.HeaderEvent), "signature valid:", ok)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	hook, err := notify.NewWebhook(srv.URL+"/shiftgate", notify.WithSecret(secret))
	if err != nil {
		panic(err)
	}
	err = hook.Notify(context.Background(), workflow.Event{Kind: workflow.EventFinished, TicketID: 7, Title: "copy shop"})
	fmt.Println("err:", err)
	// Output:
	// finished signature valid: true
	// err: <nil>
}

// Errors name the endpoint, never the token, and say whether a retry can
// help.
func ExampleSlack_Notify_error() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "channel_not_found", http.StatusNotFound)
	}))
	defer srv.Close()
	slack, err := notify.NewSlack(srv.URL + "/services/T000/B000/SECRET-TOKEN")
	if err != nil {
		panic(err)
	}
	err = slack.Notify(context.Background(), workflow.Event{Kind: workflow.EventFailed, TicketID: 9, Title: "alter orders"})
	fmt.Println(err != nil, errors.Is(err, workflow.ErrPermanent))
	// Output:
	// true true
}
