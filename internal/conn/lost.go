package conn

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"

	"github.com/go-sql-driver/mysql"
)

// Lost reports whether err says that the connection to a server, or the
// server itself, went away: the dial refused or timed out, the connection
// reset, closed, killed or lost mid-reply, the server shutting down or out
// of connections. Trying again once the server answers gets past such an
// error. A refusal by a server that answers (access denied, a setting, an
// SQL error), a lock wait, a deadlock and the end of a context are not.
func Lost(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, ErrTimeout) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040, 1053, 1927, 2006, 2013: // too many connections, shutdown, connection killed, gone away, lost
			return true
		}
	}
	return false
}
