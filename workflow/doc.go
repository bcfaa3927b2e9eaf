// Package workflow runs database work as tickets: submit, automatic review,
// a chain of approvers, asynchronous execution by migrate executors,
// notifications at every step and an audit trail of every transition.
package workflow
