//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// cutoverSignalName names the signal that triggers the cutover.
const cutoverSignalName = "SIGUSR1"

// cutoverSignals delivers SIGUSR1.
func cutoverSignals() <-chan os.Signal {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	return ch
}
