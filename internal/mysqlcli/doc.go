// Package mysqlcli runs the MySQL and MariaDB command-line clients
// (mariadb-dump, mariadb, mydumper) safely: it finds them, hands them
// credentials through a private option file instead of the command line,
// and runs them in their own process group so that cancellation leaves no
// process behind.
package mysqlcli
