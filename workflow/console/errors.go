package console

import (
	"errors"
	"net/http"

	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/workflow"
)

// Errors of the console itself.
var (
	// ErrForbidden: the caller's roles do not allow the request.
	ErrForbidden = errors.New("console: forbidden")
	// ErrBadRequest: the request cannot be read (malformed JSON, a bad
	// parameter).
	ErrBadRequest = errors.New("console: bad request")
	// ErrNoRollback: the ticket is not a finished SQL change whose
	// succeeded statements all have rollback SQL.
	ErrNoRollback = errors.New("console: no rollback SQL")
	// ErrUnavailable: the SQL check could not review against the
	// instance (credentials that do not resolve, a server that does not
	// answer).
	ErrUnavailable = errors.New("console: instance unavailable")
)

// errorCodes maps the errors callers branch on to the API's codes and
// HTTP statuses; the first that matches wins.
var errorCodes = []struct {
	err    error
	code   string
	status int
}{
	{ErrUnauthenticated, "unauthenticated", http.StatusUnauthorized},
	{ErrForbidden, "forbidden", http.StatusForbidden},
	{ErrBadRequest, "bad_request", http.StatusBadRequest},
	{workflow.ErrSelfApproval, "self_approval", http.StatusForbidden},
	{workflow.ErrNotApprover, "not_approver", http.StatusForbidden},
	{workflow.ErrNotFound, "not_found", http.StatusNotFound},
	{workflow.ErrUnknownInstance, "unknown_instance", http.StatusUnprocessableEntity},
	{workflow.ErrEmptySQL, "empty_sql", http.StatusUnprocessableEntity},
	{workflow.ErrInvalidRequest, "invalid_request", http.StatusUnprocessableEntity},
	{workflow.ErrNotRetryable, "not_retryable", http.StatusConflict},
	{ErrNoRollback, "no_rollback", http.StatusConflict},
	{workflow.ErrNoCutover, "no_cutover", http.StatusConflict},
	{migrate.ErrNotInSync, "not_in_sync", http.StatusConflict},
	{migrate.ErrSwitchPending, "switch_pending", http.StatusConflict},
	{migrate.ErrCatchUpTimeout, "catch_up_timeout", http.StatusConflict},
	{workflow.ErrOutcomeUnknown, "outcome_unknown", http.StatusConflict},
	{workflow.ErrTransition, "impossible_transition", http.StatusConflict},
	{workflow.ErrConflict, "conflict", http.StatusConflict},
	{ErrUnavailable, "instance_unavailable", http.StatusBadGateway},
}

// errorOf returns the API error of err and its status. Errors it does not
// know are internal: their message stays in the log.
func errorOf(err error) (ErrorBody, int) {
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return ErrorBody{Code: c.code, Message: err.Error()}, c.status
		}
	}
	return ErrorBody{Code: "internal", Message: "internal error; the server log has its details"}, http.StatusInternalServerError
}
