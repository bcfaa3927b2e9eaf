//go:build linux

package sandbox

import "syscall"

// procAttr puts a child in its own process group (so terminal signals sent to
// the test's group do not reach it first) and asks the kernel to SIGKILL it
// when the thread that started it dies, so a crashed test binary does not
// leave mariadbd running.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
