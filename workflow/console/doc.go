// Package console is the web console and JSON API of a workflow.Engine:
// an http.Handler a host mounts under any prefix with one line, with the
// host's identities and the console's role checks.
//
// # JSON API
//
// Every route is under Prefix+"/api/"; the handler serves its OpenAPI 3
// document at Prefix+"/api/openapi.json". Request and response bodies are
// the types of this package, whose JSON form is stable: fields are only
// ever added. Times are RFC 3339 strings; every duration is an integer
// number of milliseconds in a field whose name ends in "_ms". Approval
// steps count from 1, statements (index) from 0 as in review.Result.
// Errors are an ErrorResponse with the HTTP status of their Code:
//
//	unauthenticated        401  the Identifier found no user
//	forbidden              403  the caller's roles do not allow it
//	self_approval          403  the submitter decides their own ticket
//	not_approver           403  not an approver of the current step
//	cross_origin           403  a browser sent a state change from another origin
//	bad_request            400  malformed JSON, a bad parameter or id
//	not_found              404  no such ticket
//	unknown_instance       422  no such instance in the registry
//	empty_sql              422  a SQL change or check without SQL
//	invalid_request        422  a request that cannot become a ticket
//	outcome_unknown        409  the same SQL's earlier run has an unknown outcome
//	not_retryable          409  the table cannot be retried alone
//	no_rollback            409  not a finished SQL change with rollback SQL
//	no_cutover             409  the ticket's kind has no cutover
//	not_in_sync            409  a live move not in sync yet (the refusal is recorded)
//	switch_pending         409  a live move's cutover recorded its switch and is not finished
//	catch_up_timeout       409  a live move's target did not catch up within the cutover's timeout
//	impossible_transition  409  the ticket's state does not allow the action
//	conflict               409  the ticket changed concurrently
//	instance_unavailable   502  the SQL check could not reach its instance
//	internal               500  anything else (the details go to the log)
//
// # Roles
//
// The host's Identifier turns a request into a User with roles.
// Engineers submit and cancel or retry their own tickets (a review, or
// a failed table of a migration); reviewers also
// decide the approval steps they are approvers of, and approve the cutover
// of a live move in sync when they approve the last step of its chain
// (never on their own tickets), and so its cut-back or the end of its
// rollback window (cutback, endwindow) when it has one; admins cancel and
// retry any ticket (a live move in its rollback window cannot be
// canceled).
// Anyone who may submit to a finished SQL change's target may file its
// rollback SQL as a new ticket, reviewed and approved as any other.
// Submitting to instances with given tags can be kept to some roles
// (WithSubmitRoles).
//
// # Web console
//
// The same handler serves pages (ticket list, detail, submit, SQL check)
// rendered with html/template and a small script, all embedded: nothing
// is fetched from elsewhere. State-changing requests are refused when a
// browser sends them from another origin (http.CrossOriginProtection),
// and every response carries a strict Content-Security-Policy.
package console
