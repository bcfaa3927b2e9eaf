// Package dualwrite is reserved for dual writes during a live migration:
// the application's writes reach the old and the new database, the second
// through a transactional retry outbox. It holds no code yet.
package dualwrite
