//go:build !linux

package main

import (
	"fmt"
	"os"
)

// main says why nothing runs: the benchmark reads peak memory with
// getrusage and starts its throwaway servers and client programs the Linux
// way.
func main() {
	fmt.Fprintln(os.Stderr, "benchsync: runs on Linux only (peak-memory readings and throwaway servers need it)")
	os.Exit(1)
}
