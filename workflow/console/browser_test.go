package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/console"
)

// browser starts a headless chromium (Debian's package "chromium") for
// t, or skips t when there is none and CI is not set.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is missing: %v", err)
		}
		t.Skip("chromium is not installed (Debian package chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1280, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// screenshots is where the browser tests write their screenshots:
// $SHIFTGATE_SCREENSHOTS, or a temporary directory.
func screenshots(t *testing.T) string {
	dir := os.Getenv("SHIFTGATE_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// do runs steps with a deadline, failing t with what was being done.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	get(t, ctx, what, chromedp.Steps(steps...))
}

// get runs a with a deadline and returns its value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// shot saves a full-page screenshot as name.png.
func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func signIn(base, user string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(base+"/login"),
		chromedp.Click(chromedp.ID("login-"+user)),
		chromedp.WaitVisible(chromedp.ID("tickets")),
	)
}

// TestBrowserStory, in chromium: alice checks a script and sees the
// findings at their line and column, submits it, has no approve button
// and is refused when she approves through the API anyway; bob approves;
// the progress bar reaches 100 as the ticket runs; the audit trail shows
// every step. The ticket's title and SQL hold markup, shown as text.
func TestBrowserStory(t *testing.T) {
	f := newFixtureOf(t, workflow.NewMemoryStore(), console.DemoUsers{
		"alice": {console.RoleEngineer}, "bob": {console.RoleReviewer}, "dba": {console.RoleReviewer, console.RoleAdmin}})
	ctx := browser(t) // after the fixture: closed before its server, which waits for the page's event stream
	dir := screenshots(t)
	base := f.srv.URL + "/console"
	const evil = `<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">`

	// The check shows findings inline.
	do(t, ctx, "check", signIn(base, "alice"),
		chromedp.Navigate(base+"/submit"),
		chromedp.WaitVisible(chromedp.ID("sql")),
		chromedp.SetValue(chromedp.ID("instance"), "test"),
		chromedp.SendKeys(chromedp.ID("database"), f.db),
		chromedp.SendKeys(chromedp.ID("sql"), "UPDATE orders SET amount = 1 WHERE id = 1;\nDELETE FROM orders"),
		chromedp.Click(chromedp.ID("check-button")),
		chromedp.WaitVisible(chromedp.CSS(".finding-list li")),
	)
	findings := get(t, ctx, "findings", chromedp.Text(chromedp.ID("findings")))
	shot(t, ctx, dir, "1-check")
	if !strings.Contains(findings, "line 2, column 1") || !strings.Contains(findings, "dml.require-where") || !strings.Contains(findings, "Fails") {
		t.Fatalf("findings: %q", findings)
	}

	// Submit a script that passes, with markup in its title and SQL.
	do(t, ctx, "submit",
		chromedp.SendKeys(chromedp.ID("title"), "fix "+evil),
		chromedp.SetValue(chromedp.ID("sql"), "UPDATE orders SET amount = 1 WHERE id = 1 /* "+evil+" */"),
		chromedp.Click(chromedp.ID("submit-button")),
		chromedp.WaitVisible(chromedp.ID("audit")),
	)
	shot(t, ctx, dir, "2-submitted")
	title := get(t, ctx, "title", chromedp.Text(chromedp.CSS("h1")))
	sqlText := get(t, ctx, "sql", chromedp.Text(chromedp.ID("ticket-sql")))
	pwned := get(t, ctx, "pwned", chromedp.Evaluate[bool](`window.pwned !== undefined`))
	elements := get(t, ctx, "elements", chromedp.Evaluate[int](`document.querySelectorAll("main script, main img").length`))
	if !strings.Contains(title, evil) || !strings.Contains(sqlText, evil) || pwned || elements != 0 {
		t.Fatalf("markup not shown as text: title %q, sql %q, pwned %v, elements %d", title, sqlText, pwned, elements)
	}
	if state := get(t, ctx, "state", chromedp.Text(chromedp.ID("state"))); state != "pending_approval" {
		t.Fatalf("state %q", state)
	}
	location := get(t, ctx, "location", chromedp.Location())
	var id int64
	if _, err := fmt.Sscanf(location[strings.LastIndex(location, "/")+1:], "%d", &id); err != nil {
		t.Fatalf("location %s: %v", location, err)
	}

	// alice sees no approve button, and the API refuses her.
	approveButtons := get(t, ctx, "buttons", chromedp.Evaluate[int](`document.querySelectorAll("#action-approve").length`))
	refusal := get(t, ctx, "approve as alice", chromedp.Evaluate[string](
		fmt.Sprintf(`fetch(%q, {method: "POST"}).then(r => r.json()).then(b => b.error.code)`, fmt.Sprintf("%s/api/tickets/%d/approve", base, id)),
		chromedp.EvalAwaitPromise))
	if approveButtons != 0 || refusal != "self_approval" {
		t.Fatalf("alice: %d approve button(s), API says %q", approveButtons, refusal)
	}

	// bob approves; the engine runs the ticket while the page watches.
	do(t, ctx, "bob approves", signIn(base, "bob"),
		chromedp.Navigate(fmt.Sprintf("%s/tickets/%d", base, id)),
		chromedp.WaitVisible(chromedp.ID("action-approve")),
	)
	shot(t, ctx, dir, "3-reviewer")
	do(t, ctx, "approve",
		chromedp.SendKeys(chromedp.ID("comment"), "looks fine"),
		chromedp.Click(chromedp.ID("action-approve")),
		chromedp.WaitVisible(chromedp.CSS(`#state.state-queued`)),
	)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.engine.Run(runCtx) }()
	defer func() { stop(); <-done }()
	do(t, ctx, "run", chromedp.WaitVisible(chromedp.CSS(`#state.state-succeeded`)))
	shot(t, ctx, dir, "4-succeeded")
	progress := get(t, ctx, "progress", chromedp.AttributeValue(chromedp.ID("progress"), "value"))
	audit := get(t, ctx, "audit", chromedp.Text(chromedp.ID("audit")))
	if progress.Value != "100" {
		t.Errorf("progress bar at %q", progress.Value)
	}
	for _, want := range []string{"alice", "submit", "bob", "approve", "looks fine", "succeed"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit trail lacks %q: %s", want, audit)
		}
	}
	t.Logf("screenshots in %s", dir)
}
