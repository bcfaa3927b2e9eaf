//go:build !linux

package main

import (
	"fmt"
	"os"
)

// main says why nothing runs: the benchmark starts its throwaway server
// and hands pt-online-schema-change its credentials the Linux way.
func main() {
	fmt.Fprintln(os.Stderr, "benchalter: runs on Linux only (throwaway servers and option files in inherited descriptors need it)")
	os.Exit(1)
}
