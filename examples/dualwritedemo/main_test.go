package main

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	// The demo runs its own executable as the relay it kills.
	if len(os.Args) == 3 && os.Args[1] == "-relay" {
		if err := runRelay(context.Background(), os.Args[2]); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestDemo walks the demo's story, the handoff from the binlog sync
// included, with a short step: it fails if any step fails or if the two
// databases differ at the end.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	if err := run(ctx, 500, 100, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
