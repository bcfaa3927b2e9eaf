package migrate_test

import (
	"os"
	"testing"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// servers are the throwaway source [0] and target [1] shared by the tests of
// this package; tests isolate themselves by database name.
var servers []*sandbox.Server

func TestMain(m *testing.M) {
	// The resume test runs this binary again as the copier it kills.
	if spec := os.Getenv(copierChildEnv); spec != "" {
		os.Exit(copierChild(spec))
	}
	os.Exit(sandboxtest.Main(m, 2, &servers))
}
