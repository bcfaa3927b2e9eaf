package migrate

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/binlog"
)

// targetGone tells the target's connection-level failures, which the sync
// waits out, from everything else, which stops it.
func TestTargetGone(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", fmt.Errorf("apply: stream %q: %w", "s", refused), true},
		{"invalid connection", fmt.Errorf("apply: %w", mysql.ErrInvalidConn), true},
		{"bad connection", driver.ErrBadConn, true},
		{"server shutdown", &mysql.MySQLError{Number: 1053, Message: "Server shutdown in progress"}, true},
		{"connection killed", &mysql.MySQLError{Number: 1927, Message: "Connection was killed"}, true},
		{"gone away", &mysql.MySQLError{Number: 2006}, true},
		{"deadlock", &mysql.MySQLError{Number: 1213}, false},
		{"lock wait", &mysql.MySQLError{Number: 1205}, false},
		{"duplicate key", &mysql.MySQLError{Number: 1062}, false},
		{"canceled", fmt.Errorf("apply: %w", context.Canceled), false},
		{"replication connection lost", fmt.Errorf("read changes: %w", errors.Join(binlog.ErrConnection, refused)), false},
		{"nil", nil, false},
		{"other", errors.New("table has no column c"), false},
	} {
		if got := targetGone(tc.err); got != tc.want {
			t.Errorf("%s: targetGone(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
