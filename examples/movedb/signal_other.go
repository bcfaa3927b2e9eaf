//go:build !unix

package main

import "os"

// cutoverSignalName is empty: no signal triggers the cutover here.
const cutoverSignalName = ""

// cutoverSignals delivers nothing: there is no SIGUSR1.
func cutoverSignals() <-chan os.Signal { return nil }
