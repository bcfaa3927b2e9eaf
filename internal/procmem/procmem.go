// Package procmem reads this process's memory figures from /proc (Linux),
// for the benchmark programs' peak-memory goals.
package procmem

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ResetPeak resets this process's VmHWM to its current RSS (Linux 4.0+).
func ResetPeak() error {
	f, err := os.OpenFile("/proc/self/clear_refs", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString("5")
	return errors.Join(err, f.Close())
}

// StatusKiB returns a "kB" field of /proc/self/status, such as VmHWM (the
// peak resident memory) or VmRSS.
func StatusKiB(field string) (int64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/self/status %s: %w", field, err)
		}
		return kb, nil
	}
	return 0, fmt.Errorf("/proc/self/status has no %s", field)
}
