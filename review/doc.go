// Package review checks SQL scripts before they run: it parses them with the
// TiDB parser, applies a registry of rules and estimates the rows and risk of
// each statement. It never executes anything.
package review
