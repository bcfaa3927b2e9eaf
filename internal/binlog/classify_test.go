package binlog

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/rowchange"
)

// TestClassify: errors of the replication connection are retried (a lost
// connection) or stop Run with the sentinel of their condition. The
// messages are MariaDB 10.11's.
func TestClassify(t *testing.T) {
	s := &Stream{dsn: &mysql.Config{Addr: "db1:3306"}}
	for _, c := range []struct {
		err   error
		want  error
		retry bool
	}{
		{fmt.Errorf("io.ReadFull(header) failed: %w", gomysql.ErrBadConn), ErrConnection, true},
		{&gomysql.MyError{Code: 1236, Message: "Could not find GTID state requested by slave in any binlog files. Probably the slave state is too old and required binlog files have been purged."}, ErrPurged, false},
		{&gomysql.MyError{Code: 1236, Message: "Error: connecting slave requested to start from GTID 0-1-99, which is not in the master's binlog"}, ErrPositionAhead, false},
		{&gomysql.MyError{Code: 1045, Message: "Access denied for user 'x'@'h'"}, nil, false},
		{&gomysql.MyError{Code: 1927, Message: "Connection was killed"}, ErrConnection, true},
	} {
		got := s.classify(c.err)
		var ce *connError
		if errors.As(got, &ce) != c.retry || c.want != nil && !errors.Is(got, c.want) {
			t.Errorf("classify(%v) = %v; want retry %v, %v", c.err, got, c.retry, c.want)
		}
	}
}

// TestClassifyConcurrent: streams classify statements concurrently
// through the shared parser pool; each reads the tables of its own
// statement (run with -race).
func TestClassifyConcurrent(t *testing.T) {
	follows := func(rowchange.Table) bool { return true }
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				name := fmt.Sprintf("t%d_%d", g, i)
				kind, tables := classify("db", "ALTER TABLE "+name+" ADD COLUMN c INT", follows, nil)
				if kind != stmtDDL || len(tables) != 1 || tables[0] != (rowchange.Table{Schema: "db", Name: name}) {
					t.Errorf("classify(ALTER TABLE %s) = %v, %v", name, kind, tables)
					return
				}
			}
		})
	}
	wg.Wait()
}
