//go:build unix && !linux

package sandbox

import "syscall"

// procAttr puts a child in its own process group. Pdeathsig exists only on
// Linux; elsewhere a crashed test binary may leave mariadbd running.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
