// Package mysqlcli runs the MySQL and MariaDB command-line clients
// (mariadb-dump, mariadb, mydumper) safely: it finds them, hands them
// credentials in a descriptor they inherit instead of a file, the command
// line or the environment, bounds how long they may take to log in, strips
// secrets from their environment, and runs them in their own process group
// so that cancellation leaves no process behind.
package mysqlcli
