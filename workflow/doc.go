// Package workflow runs database work as tickets: submit, automatic review,
// a chain of approvers, asynchronous execution by migrate executors,
// notifications at every step and an audit trail of every transition.
//
// A failed ticket keeps its error's identity wherever it is read back
// (another process, after a restart, the console's JSON): Ticket.ErrorCode
// names the condition with a stable code (ErrorCode), and Ticket.Err
// returns an error that errors.Is matches against the condition's
// sentinels, such as migrate.ErrNotVerified.
package workflow
