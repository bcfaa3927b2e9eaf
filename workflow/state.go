package workflow

import (
	"errors"
	"fmt"
	"slices"
)

// State is where a ticket is in its life. The zero value is StateNone, the
// state before submission.
type State uint8

// The states of a ticket.
const (
	StateNone            State = iota // not submitted yet
	StateSubmitted                    // waiting for the automatic review
	StateReviewFailed                 // the review found errors or could not run: resubmit a corrected ticket, or retry the review
	StatePendingApproval              // waiting for the current approval step
	StateApproved                     // every step approved; waiting to be queued or scheduled
	StateRejected                     // an approver rejected it: final
	StateScheduled                    // approved, waiting for its execution window
	StateQueued                       // waiting for a worker
	StateRunning                      // a worker holds its lease and runs it
	StateSucceeded                    // done: final
	StateFailed                       // the work failed, or its worker died mid-run: final, but for a person's retry of a failed table (Engine.RetryTable)
	StateCanceled                     // canceled by a person: final
	// StateOutcomeUnknown: its worker died while a statement ran, so
	// whether that statement changed the target is unknown: final. A
	// person checks the target; resubmitting the same SQL needs
	// Request.ConfirmOutcomeUnknown.
	StateOutcomeUnknown
	// StateAwaitingCutover: a live move (KindLiveMove) caught up with its
	// source and follows it; its worker holds the lease and keeps it in
	// sync until a person cuts over (Engine.Cutover). Its progress shows
	// the sync's current phase and lag.
	StateAwaitingCutover
	// StateCuttingOver: a person approved the cutover; the worker holding
	// the ticket stops writes on the source, waits for the target, verifies
	// and switches. It ends succeeded, or back in awaiting_cutover when the
	// cutover is refused.
	StateCuttingOver
	// StateRollbackWindow: a live move made with Migration.Reverse cut
	// over and keeps a way back: the application writes the target, the
	// source stays fenced, and the worker holding the ticket applies the
	// target's writes back to the source (migrate.ReverseSync). Its
	// progress shows the reverse sync's phase and lag. A person ends it
	// with a cut-back (Engine.CutBack) or by closing the window
	// (Engine.EndWindow); it cannot be canceled, which would leave the
	// source fenced with no one to release it.
	StateRollbackWindow
	// StateCuttingBack: a person approved the cut-back; the worker fences
	// the target, waits for the source, verifies and switches back. It
	// ends succeeded, or back in rollback_window when the cut-back is
	// refused.
	StateCuttingBack
	// StateEndingWindow: a person closed the rollback window; the worker
	// stops the reverse sync and restores the source's writes, the
	// application staying on the target. It ends succeeded.
	StateEndingWindow
	// StateSourceFenced: a live move's rollback window stopped otherwise
	// than by a cut-back, its end or a shutdown (the reverse sync failed:
	// DDL on the target, a refusal; or closing the window failed). No
	// worker holds it; the application writes the target and the SOURCE
	// STAYS FENCED until a person acts. A cutover approver closes the
	// window (Engine.EndWindow: queued, the next run restores the source's
	// writes and ends the ticket succeeded) or retries the reverse sync
	// (Engine.Retry: queued, the next run goes back to the window). It
	// cannot be canceled, which would leave the source fenced for good.
	StateSourceFenced
)

var stateNames = [...]string{
	StateNone:            "none",
	StateSubmitted:       "submitted",
	StateReviewFailed:    "review_failed",
	StatePendingApproval: "pending_approval",
	StateApproved:        "approved",
	StateRejected:        "rejected",
	StateScheduled:       "scheduled",
	StateQueued:          "queued",
	StateRunning:         "running",
	StateSucceeded:       "succeeded",
	StateFailed:          "failed",
	StateCanceled:        "canceled",
	StateOutcomeUnknown:  "outcome_unknown",
	StateAwaitingCutover: "awaiting_cutover",
	StateCuttingOver:     "cutting_over",
	StateRollbackWindow:  "rollback_window",
	StateCuttingBack:     "cutting_back",
	StateEndingWindow:    "ending_window",
	StateSourceFenced:    "source_fenced",
}

// String returns the state's stable name, such as "pending_approval"; the
// same name is stored and encoded in JSON.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// MarshalText encodes s as its name.
func (s State) MarshalText() ([]byte, error) {
	if int(s) >= len(stateNames) {
		return nil, fmt.Errorf("workflow: unknown state %d", uint8(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText decodes a state name.
func (s *State) UnmarshalText(b []byte) error {
	st, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = st
	return nil
}

// ParseState returns the state called name.
func ParseState(name string) (State, error) {
	for i, n := range stateNames {
		if n == name {
			return State(i), nil
		}
	}
	return StateNone, fmt.Errorf("workflow: unknown state %q", name)
}

// Final reports whether no transition leaves s but a person's retry of
// one of a failed migration's tables (ActionRetryTable): the ticket's
// life is over unless someone reopens it so.
func (s State) Final() bool {
	for _, t := range transitions {
		if t.From == s && t.Action != ActionRetryTable {
			return false
		}
	}
	return s != StateNone
}

// Leased reports whether a worker holds the ticket's lease and runs its
// executor in s: running, or a live move's states after it (see
// leasedStates). Heartbeats extend the lease only in these states, and
// the reaper requeues or ends tickets in them whose lease expired.
func (s State) Leased() bool { return slices.Contains(leasedStates, s) }

// leasedStates are the states in which a worker holds the ticket.
var leasedStates = []State{StateRunning, StateAwaitingCutover, StateCuttingOver, StateRollbackWindow, StateCuttingBack, StateEndingWindow}

// Action is what a person or the engine does to a ticket.
type Action string

// The actions on a ticket.
const (
	ActionSubmit   Action = "submit"   // file the ticket
	ActionReview   Action = "review"   // the automatic review passes or fails it
	ActionApprove  Action = "approve"  // approve the current step (the last one approves the ticket)
	ActionReject   Action = "reject"   // reject the ticket at the current step
	ActionSchedule Action = "schedule" // wait for the execution window
	ActionEnqueue  Action = "enqueue"  // hand it to the workers
	ActionStart    Action = "start"    // a worker claimed it
	ActionSucceed  Action = "succeed"  // the work finished
	ActionFail     Action = "fail"     // the work failed
	ActionAbandon  Action = "abandon"  // its worker died while running statements: never re-run
	ActionRequeue  Action = "requeue"  // its worker died while running a resumable migration
	ActionCancel   Action = "cancel"   // a person canceled it
	ActionAwait    Action = "await"    // the current step's approver leaves it to a person
	ActionResume   Action = "resume"   // an engine takes over a ticket that a dead process left between two steps
	ActionRetry    Action = "retry"    // review a ticket again after its review failed, or run a stopped rollback window's reverse sync again
	// ActionRetryTable: a person queues a failed migration again to copy
	// one of its failed tables alone (Engine.RetryTable).
	ActionRetryTable Action = "retry_table"
	// The actions of a live move (KindLiveMove).
	ActionSynced        Action = "synced"         // its worker reports the sync caught up: it awaits a cutover
	ActionCutover       Action = "cutover"        // a person approves the cutover (or is refused, recorded, while it is not in sync)
	ActionCutoverFailed Action = "cutover_failed" // the cutover was refused or failed; the sync goes on
	// The actions of a live move's rollback window (Migration.Reverse).
	ActionOpenWindow    Action = "open_window"    // it cut over and keeps a way back: the reverse sync runs
	ActionCutBack       Action = "cutback"        // a person approves the cut-back
	ActionCutBackFailed Action = "cutback_failed" // the cut-back was refused or failed; the reverse sync goes on
	ActionEndWindow     Action = "end_window"     // a person closes the rollback window without a cut-back
)

// Transition is one allowed change of state.
type Transition struct {
	From   State
	Action Action
	To     State
}

// transitions is the whole state machine: a change not listed here is
// impossible. Actions with two outcomes (review, approve, abandon) list
// both. The self-transitions (await, resume) change no state: they record
// who holds the ticket's next step, under the same version check.
var transitions = []Transition{
	{StateNone, ActionSubmit, StateSubmitted},
	{StateSubmitted, ActionReview, StatePendingApproval},
	{StateSubmitted, ActionReview, StateReviewFailed},
	{StateSubmitted, ActionCancel, StateCanceled},
	{StateSubmitted, ActionResume, StateSubmitted},
	{StateReviewFailed, ActionRetry, StateSubmitted},
	{StateReviewFailed, ActionCancel, StateCanceled},
	{StatePendingApproval, ActionApprove, StatePendingApproval}, // a step approved, another follows
	{StatePendingApproval, ActionApprove, StateApproved},        // the last step approved
	{StatePendingApproval, ActionReject, StateRejected},
	{StatePendingApproval, ActionCancel, StateCanceled},
	{StatePendingApproval, ActionAwait, StatePendingApproval},
	{StatePendingApproval, ActionResume, StatePendingApproval},
	{StateApproved, ActionSchedule, StateScheduled},
	{StateApproved, ActionEnqueue, StateQueued},
	{StateApproved, ActionCancel, StateCanceled},
	{StateApproved, ActionResume, StateApproved},
	{StateScheduled, ActionEnqueue, StateQueued},
	{StateScheduled, ActionCancel, StateCanceled},
	{StateQueued, ActionStart, StateRunning},
	{StateQueued, ActionCancel, StateCanceled},
	{StateRunning, ActionSucceed, StateSucceeded},
	{StateRunning, ActionFail, StateFailed},
	{StateFailed, ActionRetryTable, StateQueued},       // a person retries one of its tables: see Final
	{StateRunning, ActionAbandon, StateFailed},         // died between statements: what ran is known
	{StateRunning, ActionAbandon, StateOutcomeUnknown}, // died during a statement
	{StateRunning, ActionRequeue, StateQueued},
	{StateRunning, ActionCancel, StateCanceled},
	// A live move: in sync, a person's cutover, and its outcome. A cutover
	// asked for while running (not in sync yet) is refused and recorded
	// without a change of state.
	{StateRunning, ActionSynced, StateAwaitingCutover},
	{StateRunning, ActionCutover, StateRunning},
	{StateAwaitingCutover, ActionCutover, StateCuttingOver},
	{StateCuttingOver, ActionCutoverFailed, StateAwaitingCutover},
	{StateCuttingOver, ActionSucceed, StateSucceeded},
	{StateAwaitingCutover, ActionFail, StateFailed},
	{StateCuttingOver, ActionFail, StateFailed},
	{StateAwaitingCutover, ActionAbandon, StateFailed},
	{StateCuttingOver, ActionAbandon, StateFailed},
	{StateAwaitingCutover, ActionRequeue, StateQueued},
	{StateCuttingOver, ActionRequeue, StateQueued},
	{StateAwaitingCutover, ActionCancel, StateCanceled},
	{StateCuttingOver, ActionCancel, StateCanceled},
	// A live move's rollback window (Migration.Reverse): opened by its
	// cutover, or by a run resumed after it; closed by a cut-back or by a
	// person. No cancel: the source stays fenced until the window closes.
	{StateCuttingOver, ActionOpenWindow, StateRollbackWindow},
	{StateRunning, ActionOpenWindow, StateRollbackWindow},
	{StateRollbackWindow, ActionCutBack, StateCuttingBack},
	{StateCuttingBack, ActionCutBackFailed, StateRollbackWindow},
	{StateCuttingBack, ActionSucceed, StateSucceeded},
	{StateRollbackWindow, ActionEndWindow, StateEndingWindow},
	{StateEndingWindow, ActionSucceed, StateSucceeded},
	{StateRollbackWindow, ActionFail, StateFailed},
	{StateCuttingBack, ActionFail, StateFailed},
	{StateEndingWindow, ActionFail, StateFailed},
	{StateRollbackWindow, ActionRequeue, StateQueued},
	{StateCuttingBack, ActionRequeue, StateQueued},
	{StateEndingWindow, ActionRequeue, StateQueued},
	// A rollback window that stopped (the reverse sync failed, or closing
	// the window did) leaves the source fenced: the ticket waits for a
	// person, who closes the window or retries the reverse sync; both
	// queue it again. A run resumed past the cutover may stop so before it
	// recorded the window, hence the failures from running and
	// cutting_over.
	{StateRunning, ActionFail, StateSourceFenced},
	{StateCuttingOver, ActionFail, StateSourceFenced},
	{StateRollbackWindow, ActionFail, StateSourceFenced},
	{StateCuttingBack, ActionFail, StateSourceFenced},
	{StateEndingWindow, ActionFail, StateSourceFenced},
	{StateSourceFenced, ActionEndWindow, StateQueued},
	{StateSourceFenced, ActionRetry, StateQueued},
}

// Transitions returns a copy of the state machine's table.
func Transitions() []Transition { return append([]Transition(nil), transitions...) }

// ErrTransition is wrapped by every TransitionError.
var ErrTransition = errors.New("impossible transition")

// TransitionError reports an action that the ticket's state does not allow,
// or an outcome the action cannot have.
type TransitionError struct {
	Ticket int64
	State  State
	Action Action
	To     State
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("workflow: ticket #%d is %s: cannot %s it (to %s)", e.Ticket, e.State, e.Action, e.To)
}

// Unwrap returns ErrTransition.
func (e *TransitionError) Unwrap() error { return ErrTransition }

// CheckTransition returns nil when action may move ticket from from to to,
// and a *TransitionError otherwise.
func CheckTransition(ticket int64, from State, action Action, to State) error {
	for _, t := range transitions {
		if t.From == from && t.Action == action && t.To == to {
			return nil
		}
	}
	return &TransitionError{Ticket: ticket, State: from, Action: action, To: to}
}
