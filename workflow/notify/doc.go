// Package notify delivers workflow events to people: SMTP email, a generic
// JSON webhook, and the group-robot webhooks of DingTalk, WeCom (企业微信),
// Feishu/Lark and Slack. Every type here is a workflow.Notifier and passes
// workflowtest.TestNotifier.
//
// Notifiers deliver once and do not retry: workflow.Dispatcher does that.
// Their errors name the endpoint (host and path, never a token, secret or
// password) and wrap workflow.ErrPermanent when a retry cannot help: an
// HTTP 4xx other than 408 and 429, or a service error code that reports a
// configuration problem (a bad token, a signature mismatch, a missing
// keyword).
package notify
