// Package schema reads what a MySQL or MariaDB server holds: databases,
// tables with size estimates, views, routines, triggers, events and the
// current user's privileges. It also quotes identifiers.
package schema
