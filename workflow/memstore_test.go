package workflow_test

import (
	"testing"

	"github.com/shiftgate/shiftgate/workflow"
	"github.com/shiftgate/shiftgate/workflow/workflowtest"
)

func TestMemoryStore(t *testing.T) {
	workflowtest.TestStore(t, func(t *testing.T) workflow.Store { return workflow.NewMemoryStore() })
}
