//go:build linux

package mysqlcli

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// sysProcAttr puts a client in a process group of its own and has the
// kernel kill it with SIGKILL when the thread that started it dies, so no
// client outlives a caller that was killed.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// optionsFile returns a sealed in-memory file (memfd) holding text, on no
// file system: the kernel frees it with its last descriptor, also when
// every process holding one was killed. Each open of /dev/fd/N opens it
// anew at its start, so a client that reads its options once per connection
// (mydumper and myloader do) finds them every time. Its mode is 0400: a
// memfd starts as 0777, and the clients ignore world-writable option files.
func optionsFile(text string) (*os.File, error) {
	fd, err := unix.MemfdCreate("shiftgate-client-options", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "memfd:shiftgate-client-options")
	_, err = f.WriteString(text)
	if err == nil {
		err = f.Chmod(0o400)
	}
	if err == nil {
		_, err = unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE)
	}
	if err == nil {
		_, err = f.Seek(0, 0)
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}
