// Package dualwrite wraps an application's writes so that they reach both the
// old and the new database during a live migration; the write to the
// secondary goes through a transactional retry outbox so that none is lost.
package dualwrite
