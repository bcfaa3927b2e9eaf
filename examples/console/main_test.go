package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestConsoleDemo starts the demo on a small sample database and loads
// its sign-in page and ticket list, so that "make console" cannot rot
// unnoticed.
func TestConsoleDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pages := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, "127.0.0.1:0", 200, func(url string) {
			var got []string
			for _, p := range []string{"login", "", "submit"} {
				req, _ := http.NewRequestWithContext(ctx, "GET", url+p, nil)
				req.AddCookie(&http.Cookie{Name: "shiftgate_demo_user", Value: "alice"})
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					got = append(got, err.Error())
					continue
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				got = append(got, string(b))
			}
			pages <- strings.Join(got, "\n")
			cancel()
		})
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	got := <-pages
	for _, want := range []string{"login-alice", "login-dba", "close stale orders", `value="live_move"`} {
		if !strings.Contains(got, want) {
			t.Errorf("pages lack %q:\n%s", want, got)
		}
	}
}
