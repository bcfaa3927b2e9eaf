// Package workflowtest is the test kit for workflow's plug-in interfaces: the
// conformance suite TestNotifier that every workflow.Notifier runs, the
// inboxes it reads deliveries from, and Recorder, an in-memory Notifier for
// engine and dispatcher tests.
package workflowtest
