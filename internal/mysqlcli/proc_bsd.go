//go:build unix && !linux

package mysqlcli

import (
	"os"
	"syscall"
)

// sysProcAttr puts a client in a process group of its own. Only Linux can
// have the kernel kill a client whose caller died; elsewhere a client of a
// caller killed with SIGKILL runs until its server connection ends.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// optionsFile returns the read end of a pipe holding text: there is no
// memfd outside Linux. A client can read it once only, which the mysql,
// mariadb, mysqldump and mariadb-dump clients need (mydumper does not
// work with it).
func optionsFile(text string) (*os.File, error) { return pipeFile(text) }
