package migrate

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
)

// lostSide tells which server went away, and fails Run on a refusal even
// when a lost connection comes with it.
func TestLostSide(t *testing.T) {
	r := &syncRun{s: &Sync{}}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	denied := &mysql.MySQLError{Number: 1045, Message: "Access denied"}
	src := func(err error) error { return &EndpointError{Side: Source, Endpoint: "s:1", Err: err} }
	dst := func(err error) error { return &EndpointError{Side: Target, Endpoint: "t:1", Err: err} }
	for _, tc := range []struct {
		name string
		err  error
		side Side
		lost bool
	}{
		{"source down", src(fmt.Errorf("%w: %w", ErrConnect, refused)), Source, true},
		{"source wrapped", fmt.Errorf("copy: %w", src(refused)), Source, true},
		{"source refuses", src(denied), Source, false},
		{"target down", dst(refused), Target, true},
		{"no side", fmt.Errorf("apply: %w", refused), Target, true},
		{"joined, source down", errors.Join(src(refused), src(&mysql.MySQLError{Number: 2013})), Source, true},
		{"joined, a refusal", errors.Join(src(refused), src(denied)), Source, false},
		{"joined, both sides", errors.Join(src(refused), dst(refused)), Target, false},
	} {
		side, lost := r.lostSide(tc.err)
		assert.Equal(t, tc.lost, lost, tc.name)
		if tc.lost {
			assert.Equal(t, tc.side, side, tc.name)
		}
	}
}
