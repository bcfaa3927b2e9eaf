package workflow_test

import (
	"os"
	"testing"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// servers are the throwaway servers of this package's tests: [0] plays the
// production instance and holds the MySQL store's database, [1] the test
// instance.
var servers []*sandbox.Server

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(child())
	}
	os.Exit(sandboxtest.Main(m, 2, &servers))
}
