package console

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/shiftgate/shiftgate/migrate"
)

// TestErrorOfMoveErrors: the live move's errors a caller branches on get
// their own codes, not "internal".
func TestErrorOfMoveErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
	}{
		{fmt.Errorf("ticket #3: cutover: %w", migrate.ErrNotInSync), "not_in_sync"},
		{fmt.Errorf("ticket #3: cutover: %w: switch: unreachable", migrate.ErrSwitchPending), "switch_pending"},
		{fmt.Errorf("ticket #3: cutover: %w: it did not apply the source's position", migrate.ErrCatchUpTimeout), "catch_up_timeout"},
	} {
		body, status := errorOf(tc.err)
		assert.Equal(t, tc.code, body.Code, "%v", tc.err)
		assert.Equal(t, http.StatusConflict, status, "%v", tc.err)
		assert.Equal(t, tc.err.Error(), body.Message)
	}
}
