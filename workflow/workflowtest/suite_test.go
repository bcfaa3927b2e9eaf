package workflowtest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/workflowtest"
)

func TestRecorderConforms(t *testing.T) {
	workflowtest.TestNotifier(t, func(t *testing.T) (workflow.Notifier, workflowtest.Inbox) {
		r := &workflowtest.Recorder{Name: "rec-1"}
		return r, r
	})
}

// broken wraps a Recorder with one fault that the suite must catch.
type broken struct {
	r     *workflowtest.Recorder
	fault string
}

func (b broken) Notify(ctx context.Context, e workflow.Event) error {
	switch b.fault {
	case "ignores-context":
		ctx = context.Background()
	case "drops-progress":
		if e.Kind == workflow.EventProgress {
			return nil
		}
	}
	err := b.r.Notify(ctx, e)
	if err == nil {
		return nil
	}
	switch b.fault {
	case "always-permanent":
		return fmt.Errorf("%w: %w", err, workflow.ErrPermanent)
	case "never-permanent":
		return errors.New(err.Error())
	case "anonymous-errors":
		return fmt.Errorf("delivery failed: %w", errors.Unwrap(err))
	case "leaks-secret":
		return fmt.Errorf("%w (token hunter2)", err)
	}
	return err
}

type secretRecorder struct{ *workflowtest.Recorder }

func (secretRecorder) Secrets() []string { return []string{"hunter2"} }

// TestBrokenNotifierHelper runs the suite on a broken notifier when
// TestSuiteCatchesBrokenNotifiers asks it to.
func TestBrokenNotifierHelper(t *testing.T) {
	fault := os.Getenv("WORKFLOWTEST_FAULT")
	if fault == "" {
		t.Skip("run by TestSuiteCatchesBrokenNotifiers")
	}
	workflowtest.TestNotifier(t, func(t *testing.T) (workflow.Notifier, workflowtest.Inbox) {
		r := &workflowtest.Recorder{Name: "rec-broken"}
		return broken{r, fault}, secretRecorder{r}
	})
}

// The suite fails each kind of broken notifier, with a message that says
// what is wrong.
func TestSuiteCatchesBrokenNotifiers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the test binary again")
	}
	for _, tc := range []struct{ fault, subtest, want string }{
		{"ignores-context", "CanceledContext", "want an error wrapping context.Canceled"},
		{"drops-progress", "DeliversEveryKind", "after 8 events the inbox holds 7 messages"},
		{"always-permanent", "TemporaryFailure", "a temporary failure was marked permanent"},
		{"never-permanent", "PermanentFailure", "want an error wrapping workflow.ErrPermanent"},
		{"anonymous-errors", "TemporaryFailure", `error does not name the endpoint "rec-broken"`},
		{"leaks-secret", "PermanentFailure", "error reveals a secret"},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenNotifierHelper$/^"+tc.subtest+"$", "-test.v")
			cmd.Env = append(os.Environ(), "WORKFLOWTEST_FAULT="+tc.fault)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a notifier that %s:\n%s", tc.fault, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("the suite failed without saying %q:\n%s", tc.want, out)
			}
		})
	}
}
