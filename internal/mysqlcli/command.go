package mysqlcli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// ErrNoClient reports that a client program is not installed.
var ErrNoClient = errors.New("mysqlcli: client program not found")

// Find returns the path of the first of names found on PATH. When explicit is
// not empty it is used instead and must exist.
func Find(explicit string, names ...string) (string, error) {
	if explicit != "" {
		p, err := exec.LookPath(explicit)
		if err != nil {
			return "", fmt.Errorf("%w: %s: %v", ErrNoClient, explicit, err)
		}
		return p, nil
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: none of %v is on PATH (install mariadb-client)", ErrNoClient, names)
}

// Command prepares program to run in a process group of its own. When ctx is
// done, the whole group is killed with SIGKILL, and the process is also
// killed if the calling process dies, so no client outlives its caller.
func Command(ctx context.Context, program string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, program, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return KillGroup(cmd) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = clientEnv()
	return cmd
}

// clientEnv is the caller's environment without the variables through which
// the clients would pick up a password or option files other than ours.
func clientEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MYSQL_PWD=") && !strings.HasPrefix(kv, "MARIADB_PWD=") &&
			!strings.HasPrefix(kv, "MYSQL_HOST=") && !strings.HasPrefix(kv, "MYSQL_TCP_PORT=") {
			env = append(env, kv)
		}
	}
	return env
}

// KillGroup kills the process group of a started cmd with SIGKILL.
func KillGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// LimitedBuffer keeps the first Max bytes written to it and counts the rest,
// so a chatty process cannot make its caller run out of memory.
type LimitedBuffer struct {
	Max       int
	buf       []byte
	truncated int64
}

// Write implements io.Writer; it never fails.
func (b *LimitedBuffer) Write(p []byte) (int, error) {
	room := b.Max - len(b.buf)
	if room > len(p) {
		room = len(p)
	}
	if room > 0 {
		b.buf = append(b.buf, p[:room]...)
	}
	b.truncated += int64(len(p) - max(room, 0))
	return len(p), nil
}

// String returns what was kept, noting how much was dropped.
func (b *LimitedBuffer) String() string {
	if b.truncated > 0 {
		return fmt.Sprintf("%s... [%d more bytes]", b.buf, b.truncated)
	}
	return string(b.buf)
}

// Supports reports whether program lists option (without its leading
// dashes) in its --help output, for options that only some versions or
// forks of the clients have.
func Supports(ctx context.Context, program, option string) bool {
	out, err := Command(ctx, program, "--no-defaults", "--help").Output()
	return err == nil && bytes.Contains(out, []byte("--"+option))
}
