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

// TestDemo walks the demo's story with each transport, the handoff from
// the binlog sync, the relay's SIGKILL and (nats) the broker's restart
// included, with a short step: it fails if any step fails or if the two
// databases differ at the end.
func TestDemo(t *testing.T) {
	for _, transport := range []string{transportDirect, transportNATS} {
		t.Run(transport, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			if err := run(ctx, options{rows: 500, rate: 100, step: 500 * time.Millisecond, transport: transport}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
