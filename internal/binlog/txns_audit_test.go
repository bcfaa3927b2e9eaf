package binlog_test

import (
	"testing"

	"github.com/shiftgate/shiftgate/internal/binlog"
)

// TestTxnsBehind counts the transactions a position lacks of another.
func TestTxnsBehind(t *testing.T) {
	const uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	for _, c := range []struct {
		flavor, have, want string
		n                  int64
	}{
		{binlog.MariaDB, "0-1-10", "0-1-10", 0},
		{binlog.MariaDB, "0-1-10", "0-1-15", 5},
		{binlog.MariaDB, "0-1-10", "0-2-12", 2},                    // another server of the domain
		{binlog.MariaDB, "0-1-10,1-1-3", "0-1-12,1-1-7,2-1-4", 10}, // a domain have lacks
		{binlog.MariaDB, "0-1-20", "0-1-15", 0},                    // ahead
		{binlog.MySQL, uuid + ":1-10", uuid + ":1-15", 5},
		{binlog.MySQL, uuid + ":1-10", uuid + ":1-10", 0},
	} {
		n, err := binlog.TxnsBehind(c.flavor, c.have, c.want)
		if err != nil || n != c.n {
			t.Errorf("TxnsBehind(%s, %q, %q) = %d, %v; want %d", c.flavor, c.have, c.want, n, err, c.n)
		}
	}
	if _, err := binlog.TxnsBehind(binlog.MariaDB, "0-1-x", "0-1-1"); err == nil {
		t.Error("TxnsBehind of a bad position: no error")
	}
}
