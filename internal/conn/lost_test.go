package conn

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// Lost tells a server or connection that went away from a server that
// answered with a refusal.
func TestLost(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", &Error{Endpoint: "h:1", Stage: StageDial, Err: refused}, true},
		{"connect timeout", &Error{Endpoint: "h:1", Stage: StageHandshake, Err: fmt.Errorf("%w after 10s", ErrTimeout)}, true},
		{"handshake cut", fmt.Errorf("binlog: %w", &Error{Endpoint: "h:1", Stage: StageHandshake, Err: mysql.ErrInvalidConn}), true},
		{"bad connection", driver.ErrBadConn, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"too many connections", &mysql.MySQLError{Number: 1040}, true},
		{"server shutdown", &mysql.MySQLError{Number: 1053}, true},
		{"connection killed", &mysql.MySQLError{Number: 1927}, true},
		{"gone away", &mysql.MySQLError{Number: 2006}, true},
		{"lost", &mysql.MySQLError{Number: 2013}, true},
		{"access denied", &Error{Endpoint: "h:1", Stage: StageHandshake, Err: &mysql.MySQLError{Number: 1045}}, false},
		{"deadlock", &mysql.MySQLError{Number: 1213}, false},
		{"lock wait", &mysql.MySQLError{Number: 1205}, false},
		{"syntax", &mysql.MySQLError{Number: 1064}, false},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), false},
		{"deadline", context.DeadlineExceeded, false},
		{"nil", nil, false},
		{"other", errors.New("SHOW BINARY LOGS lists no file"), false},
	} {
		if got := Lost(tc.err); got != tc.want {
			t.Errorf("%s: Lost(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
