package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// doSwitch is the cutover's switch: it runs -switch-command, or asks on
// stderr and waits for "switched" or "abort" on stdin (run's loop
// answers).
func (m *move) doSwitch(ctx context.Context) error { return m.switchBy(ctx, m.switchArgv) }

// doSwitchBack is the cut-back's switch (-reverse): -switch-back-command,
// or the same question on stderr.
func (m *move) doSwitchBack(ctx context.Context) error { return m.switchBy(ctx, m.switchBackArgv) }

// switchBy runs argv, or asks on stderr and waits for "switched" or
// "abort" on stdin when argv is nil.
func (m *move) switchBy(ctx context.Context, argv []string) error {
	if argv != nil {
		return m.runSwitchCommand(ctx, argv)
	}
	reply := make(chan error, 1)
	select {
	case m.confirms <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// switchOutputMax bounds what is kept of the switch command's output.
const switchOutputMax = 64 << 10

// runSwitchCommand runs argv (-switch-command or -switch-back-command)
// within -switch-timeout and prints its output, escaped, on stderr once it
// ended.
func (m *move) runSwitchCommand(ctx context.Context, argv []string) error {
	ctx, cancel := context.WithTimeout(ctx, m.o.switchTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = m.switchEnv
	cmd.WaitDelay = time.Second
	out := &limitedBuffer{max: switchOutputMax}
	cmd.Stdout, cmd.Stderr = out, out
	m.con.say("switch: running %q", argv)
	err := cmd.Run()
	for l := range strings.Lines(out.String()) {
		m.con.say("switch: %s", strings.TrimRight(l, "\n"))
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("switch command %s did not finish within %s (-switch-timeout): %w", argv[0], m.o.switchTimeout, err)
	}
	return fmt.Errorf("switch command %s: %w", argv[0], err)
}

// limitedBuffer keeps the first max bytes written to it; it is safe for
// the two writers (stdout, stderr) of a command.
type limitedBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	max       int
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room < len(p) {
		b.buf.Write(p[:max(room, 0)])
		b.truncated = true
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.truncated {
		return b.buf.String() + "\n... (output truncated)"
	}
	return b.buf.String()
}

// splitCommand splits a command line into arguments as a shell would for
// plain words: blanks separate them; 'single quotes' keep everything
// between them; "double quotes" keep everything but \" and \\; a
// backslash outside quotes keeps the next character. Nothing else is
// special: no variables, globs, pipes or redirections.
func splitCommand(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inArg := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("unterminated ' quote")
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inArg = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i == len(s) {
				return nil, errors.New(`unterminated " quote`)
			}
			inArg = true
		case c == '\\':
			if i+1 == len(s) {
				return nil, errors.New("trailing backslash")
			}
			i++
			cur.WriteByte(s[i])
			inArg = true
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	if len(args) == 0 {
		return nil, errors.New("no program named")
	}
	return args, nil
}

// switchEnv is the switch command's environment: environ without the
// credentials (MYSQL_PWD, and the SHIFTGATE_ variables that hold a DSN or
// a password) and without MOVEDB_ variables, plus what the move is about.
func switchEnv(environ []string, source, target, database, targetDatabase string) []string {
	env := make([]string, 0, len(environ)+4)
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if isCredential(name) || strings.HasPrefix(name, "MOVEDB_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "MOVEDB_SOURCE="+source, "MOVEDB_TARGET="+target,
		"MOVEDB_DATABASE="+database, "MOVEDB_TARGET_DATABASE="+targetDatabase)
}

func isCredential(name string) bool {
	return name == "MYSQL_PWD" || strings.HasPrefix(name, "SHIFTGATE_") && (strings.Contains(name, "PASSWORD") || strings.Contains(name, "DSN"))
}
