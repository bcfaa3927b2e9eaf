//go:build unix

package sandbox

import (
	"errors"
	"os"
	"syscall"
)

// killGroup kills the process group p leads.
func killGroup(p *os.Process) error { return syscall.Kill(-p.Pid, syscall.SIGKILL) }

// processAlive reports whether a process with this pid exists. Signal 0 only
// checks; EPERM means it exists but belongs to someone else.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
