//go:build windows

package sandbox

import (
	"os"
	"syscall"
)

// procAttr has nothing to set on Windows: there are no process groups to
// join and no parent-death signal, so a crashed test binary may leave
// mariadbd running.
func procAttr() *syscall.SysProcAttr { return nil }

// killGroup kills p alone: Windows has no process groups to signal.
func killGroup(p *os.Process) error { return p.Kill() }

// processAlive reports whether a process with this pid exists.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}
