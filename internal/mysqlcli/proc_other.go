//go:build !unix

package mysqlcli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
)

// sysProcAttr sets nothing: process groups are a Unix feature.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// killGroup kills the started cmd. Without process groups, processes the
// client started itself are not reached.
func killGroup(cmd *exec.Cmd) error { return cmd.Process.Kill() }

// errPlatform says why the clients cannot get their options here: they
// read them from an inherited descriptor named /dev/fd/N, which only Unix
// systems have.
var errPlatform = fmt.Errorf("handing options to a client needs /dev/fd (Linux or another Unix), not %s: %w", runtime.GOOS, errors.ErrUnsupported)

// optionsFile fails with errPlatform.
func optionsFile(string) (*os.File, error) { return nil, errPlatform }
