package dualwrite

import (
	"os"
	"testing"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// servers: the primary and the secondary.
var servers []*sandbox.Server

func TestMain(m *testing.M) {
	// The kill tests run this binary again as the process they kill.
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(sandboxtest.Main(m, 2, &servers))
}
