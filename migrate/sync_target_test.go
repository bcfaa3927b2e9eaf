package migrate

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"

	"github.com/shiftgate/shiftgate/internal/binlog"
)

// targetGone is conn.Lost (tested there) without the source's lost
// replication connection, which the stream reconnects itself.
func TestTargetGone(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	assert.True(t, targetGone(fmt.Errorf("apply: stream %q: %w", "s", refused)), "connection refused")
	assert.True(t, targetGone(&mysql.MySQLError{Number: 1053, Message: "Server shutdown in progress"}), "server shutdown")
	assert.False(t, targetGone(&mysql.MySQLError{Number: 1213}), "deadlock")
	assert.False(t, targetGone(fmt.Errorf("read changes: %w", errors.Join(binlog.ErrConnection, refused))), "replication connection lost")
}
