package workflowtest_test

import (
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
