//go:build unix

package mysqlcli

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// errPlatform is nil: Unix systems have /dev/fd.
var errPlatform error

// killGroup kills the process group of a started cmd with SIGKILL.
func killGroup(cmd *exec.Cmd) error {
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// pipeFile returns the read end of a pipe that holds text and whose write
// end is closed. text must fit in the pipe (see maxOptionsText).
func pipeFile(text string) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	_, err = w.WriteString(text)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = r.Close()
		return nil, err
	}
	return r, nil
}
