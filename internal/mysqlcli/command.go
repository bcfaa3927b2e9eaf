package mysqlcli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
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
	return "", fmt.Errorf("%w: none of %v is on PATH (install %s)", ErrNoClient, names, debianPackage(names[0]))
}

// debianPackage names the Debian package that ships program.
func debianPackage(program string) string {
	switch program {
	case "mydumper", "myloader":
		return "mydumper"
	}
	return "mariadb-client"
}

// Cmd is a program prepared by Command or Options.Command, with the
// credentials Options.Attach handed it. Start it with Start or Run, never
// with the embedded exec.Cmd's Start, Run, Output or CombinedOutput: Start
// first checks that every attached server answers within its connect
// timeout, and closes this process's copies of the attached descriptors
// once the program holds its own.
type Cmd struct {
	*exec.Cmd
	ctx      context.Context
	attached []*Options
	files    []*os.File // this process's copies of the attached descriptors
}

// Command prepares program to run in a process group of its own, with an
// environment stripped of secrets (see clientEnv). When ctx is done, the
// whole group is killed with SIGKILL; on Linux the program is also killed
// when the calling process dies, so no client outlives its caller.
func Command(ctx context.Context, program string, args ...string) *Cmd {
	cmd := exec.CommandContext(ctx, program, args...)
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = clientEnv()
	return &Cmd{Cmd: cmd, ctx: ctx}
}

// Start checks that each attached server completes a login within its
// connect timeout (an error wrapping ErrConnectTimeout names the first
// that does not), then starts the program. The attached descriptors are
// released whether or not it starts.
func (c *Cmd) Start() error {
	defer c.release()
	for _, o := range c.attached {
		if err := o.probe(c.ctx); err != nil {
			return err
		}
	}
	return c.Cmd.Start()
}

// Run starts the program as Start does and waits for it to exit.
func (c *Cmd) Run() error {
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// release closes this process's copies of the attached descriptors: the
// program holds its own once started, and the kernel frees them with the
// last copy.
func (c *Cmd) release() {
	for _, f := range c.files {
		_ = f.Close()
	}
	c.files = nil
}

// KillGroup kills the process group of a started cmd with SIGKILL (on
// systems without process groups, the process only).
func KillGroup(cmd *Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return killGroup(cmd.Cmd)
}

// passedEnv lists the environment variables a program started by Command
// gets from its caller, besides those starting with LC_: what a client needs
// to find its libraries and plugins, speak the user's language and verify
// TLS certificates, and what Windows needs to run a program at all.
// Anything else stays out, because any process of the same user can read a
// program's environment (/proc/PID/environ on Linux): the SHIFTGATE_*
// variables with DSNs and passwords, MYSQL_PWD, MYSQL_HOST and the like
// (which would also change what the clients connect to), and whatever other
// secret the caller's environment holds.
var passedEnv = []string{
	"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
	"LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "MARIADB_PLUGIN_DIR", "LIBMYSQL_PLUGIN_DIR",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "OPENSSL_CONF",
	"SYSTEMROOT", "WINDIR", "TEMP", "TMP",
}

// clientEnv is the part of the caller's environment that passedEnv lets
// through (names compared ignoring case, as Windows does).
func clientEnv() []string {
	env := []string{}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "LC_") || slices.ContainsFunc(passedEnv, func(p string) bool { return strings.EqualFold(p, name) }) {
			env = append(env, kv)
		}
	}
	return env
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
	out := &LimitedBuffer{Max: 1 << 20}
	cmd := Command(ctx, program, "--no-defaults", "--help")
	cmd.Stdout = out
	return cmd.Run() == nil && strings.Contains(out.String(), "--"+option)
}
