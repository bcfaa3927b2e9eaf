package migrate

import (
	"errors"
	"fmt"
	"testing"

	"github.com/shiftgate/shiftgate/internal/dumpscan"
	"github.com/shiftgate/shiftgate/internal/mysqlcli"
)

// A client program that cannot log in within the connect timeout fails
// the Pipe with the errors a pool's timeout has: ErrTimeout and ErrConnect.
// (A silent host fails the survey's pool first, so this reaches the
// client's own error directly.)
func TestProcessErrorOfAClientConnectTimeout(t *testing.T) {
	s := &pipeRun{plan: &Plan{Scope: Scope{Source: "127.0.0.1:1", Target: "127.0.0.1:2"}}, scan: dumpscan.New()}
	cmd := mysqlcli.Command(t.Context(), "mariadb")
	err := s.processError(Target, cmd, fmt.Errorf("%w: connect to 127.0.0.1:2: handshake: timed out", mysqlcli.ErrConnectTimeout), &mysqlcli.LimitedBuffer{Max: 1})
	var pe *ProcessError
	if !errors.As(err, &pe) || pe.Side != Target || pe.Endpoint != "127.0.0.1:2" {
		t.Fatalf("%v: want a *ProcessError of the target", err)
	}
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, ErrConnect) {
		t.Errorf("%v: ErrTimeout %v, ErrConnect %v; want both", err, errors.Is(err, ErrTimeout), errors.Is(err, ErrConnect))
	}
}
