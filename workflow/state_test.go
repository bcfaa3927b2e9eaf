package workflow_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/workflow"
)

var allStates = []workflow.State{
	workflow.StateNone, workflow.StateSubmitted, workflow.StateReviewFailed, workflow.StatePendingApproval,
	workflow.StateApproved, workflow.StateRejected, workflow.StateScheduled, workflow.StateQueued,
	workflow.StateRunning, workflow.StateSucceeded, workflow.StateFailed, workflow.StateCanceled, workflow.StateOutcomeUnknown,
	workflow.StateAwaitingCutover, workflow.StateCuttingOver,
}

var allActions = []workflow.Action{
	workflow.ActionSubmit, workflow.ActionReview, workflow.ActionApprove, workflow.ActionReject,
	workflow.ActionSchedule, workflow.ActionEnqueue, workflow.ActionStart, workflow.ActionSucceed,
	workflow.ActionFail, workflow.ActionAbandon, workflow.ActionRequeue, workflow.ActionCancel,
	workflow.ActionAwait, workflow.ActionResume, workflow.ActionSynced, workflow.ActionCutover, workflow.ActionCutoverFailed,
}

func TestCheckTransitionFollowsTheTable(t *testing.T) {
	allowed := map[workflow.Transition]bool{}
	for _, tr := range workflow.Transitions() {
		allowed[tr] = true
	}
	for _, from := range allStates {
		for _, a := range allActions {
			for _, to := range allStates {
				err := workflow.CheckTransition(7, from, a, to)
				tr := workflow.Transition{From: from, Action: a, To: to}
				if allowed[tr] {
					assert.NoError(t, err, "%v", tr)
					continue
				}
				var te *workflow.TransitionError
				require.ErrorAs(t, err, &te, "%v", tr)
				assert.True(t, errors.Is(err, workflow.ErrTransition))
				assert.Equal(t, workflow.TransitionError{Ticket: 7, State: from, Action: a, To: to}, *te)
			}
		}
	}
}

func TestStoriesOfTheMachine(t *testing.T) {
	// The paths the issue names, step by step.
	paths := map[string][]workflow.Transition{
		"two-step approval then run": {
			{From: workflow.StateNone, Action: workflow.ActionSubmit, To: workflow.StateSubmitted},
			{From: workflow.StateSubmitted, Action: workflow.ActionReview, To: workflow.StatePendingApproval},
			{From: workflow.StatePendingApproval, Action: workflow.ActionApprove, To: workflow.StatePendingApproval},
			{From: workflow.StatePendingApproval, Action: workflow.ActionApprove, To: workflow.StateApproved},
			{From: workflow.StateApproved, Action: workflow.ActionSchedule, To: workflow.StateScheduled},
			{From: workflow.StateScheduled, Action: workflow.ActionEnqueue, To: workflow.StateQueued},
			{From: workflow.StateQueued, Action: workflow.ActionStart, To: workflow.StateRunning},
			{From: workflow.StateRunning, Action: workflow.ActionSucceed, To: workflow.StateSucceeded},
		},
		"migration resumed after its worker died": {
			{From: workflow.StateQueued, Action: workflow.ActionStart, To: workflow.StateRunning},
			{From: workflow.StateRunning, Action: workflow.ActionRequeue, To: workflow.StateQueued},
			{From: workflow.StateQueued, Action: workflow.ActionStart, To: workflow.StateRunning},
		},
		"statements abandoned by their worker": {
			{From: workflow.StateRunning, Action: workflow.ActionAbandon, To: workflow.StateFailed},
		},
		"worker died during a statement": {
			{From: workflow.StateRunning, Action: workflow.ActionAbandon, To: workflow.StateOutcomeUnknown},
		},
		"worker died after every statement, the reaper finishes it": {
			{From: workflow.StateRunning, Action: workflow.ActionSucceed, To: workflow.StateSucceeded},
		},
		"a person's step, taken over by another engine after a crash": {
			{From: workflow.StateSubmitted, Action: workflow.ActionResume, To: workflow.StateSubmitted},
			{From: workflow.StateSubmitted, Action: workflow.ActionReview, To: workflow.StatePendingApproval},
			{From: workflow.StatePendingApproval, Action: workflow.ActionResume, To: workflow.StatePendingApproval},
			{From: workflow.StatePendingApproval, Action: workflow.ActionAwait, To: workflow.StatePendingApproval},
			{From: workflow.StatePendingApproval, Action: workflow.ActionApprove, To: workflow.StateApproved},
			{From: workflow.StateApproved, Action: workflow.ActionResume, To: workflow.StateApproved},
		},
		"live move: a cutover too early, in sync, a refused cutover, a crash, then cut over": {
			{From: workflow.StateQueued, Action: workflow.ActionStart, To: workflow.StateRunning},
			{From: workflow.StateRunning, Action: workflow.ActionCutover, To: workflow.StateRunning},
			{From: workflow.StateRunning, Action: workflow.ActionSynced, To: workflow.StateAwaitingCutover},
			{From: workflow.StateAwaitingCutover, Action: workflow.ActionCutover, To: workflow.StateCuttingOver},
			{From: workflow.StateCuttingOver, Action: workflow.ActionCutoverFailed, To: workflow.StateAwaitingCutover},
			{From: workflow.StateAwaitingCutover, Action: workflow.ActionRequeue, To: workflow.StateQueued},
			{From: workflow.StateQueued, Action: workflow.ActionStart, To: workflow.StateRunning},
			{From: workflow.StateRunning, Action: workflow.ActionSynced, To: workflow.StateAwaitingCutover},
			{From: workflow.StateAwaitingCutover, Action: workflow.ActionCutover, To: workflow.StateCuttingOver},
			{From: workflow.StateCuttingOver, Action: workflow.ActionSucceed, To: workflow.StateSucceeded},
		},
	}
	for name, steps := range paths {
		for _, s := range steps {
			assert.NoError(t, workflow.CheckTransition(1, s.From, s.Action, s.To), "%s: %v", name, s)
		}
	}
	err := workflow.CheckTransition(42, workflow.StateRejected, workflow.ActionApprove, workflow.StateApproved)
	assert.EqualError(t, err, "workflow: ticket #42 is rejected: cannot approve it (to approved)")
	assert.Error(t, workflow.CheckTransition(42, workflow.StateSucceeded, workflow.ActionCancel, workflow.StateCanceled),
		"a finished ticket cannot be canceled")
}

func TestFinalStates(t *testing.T) {
	var final []workflow.State
	for _, s := range allStates {
		if s.Final() {
			final = append(final, s)
		}
	}
	assert.Equal(t, []workflow.State{workflow.StateRejected,
		workflow.StateSucceeded, workflow.StateFailed, workflow.StateCanceled, workflow.StateOutcomeUnknown}, final)
}

func TestStateNames(t *testing.T) {
	for _, s := range allStates {
		b, err := json.Marshal(s)
		require.NoError(t, err)
		var back workflow.State
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, s, back)
	}
	assert.Equal(t, `"pending_approval"`, mustJSON(t, workflow.StatePendingApproval))
	assert.Equal(t, "outcome_unknown", workflow.StateOutcomeUnknown.String())
	_, err := workflow.ParseState("limbo")
	assert.EqualError(t, err, `workflow: unknown state "limbo"`)
	assert.Equal(t, "State(99)", workflow.State(99).String())
	assert.Equal(t, "awaiting_cutover", workflow.StateAwaitingCutover.String())
	assert.Equal(t, "cutting_over", workflow.StateCuttingOver.String())
}

func TestLeasedStates(t *testing.T) {
	var leased []workflow.State
	for _, s := range allStates {
		if s.Leased() {
			leased = append(leased, s)
		}
	}
	assert.Equal(t, []workflow.State{workflow.StateRunning, workflow.StateAwaitingCutover, workflow.StateCuttingOver}, leased)
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
