//go:build !linux

package main

import (
	"fmt"
	"os"
)

// main says why nothing runs: the benchmark starts throwaway servers the
// Linux way.
func main() {
	fmt.Fprintln(os.Stderr, "benchsplit: runs on Linux only (throwaway servers need it)")
	os.Exit(1)
}
