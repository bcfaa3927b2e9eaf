// Package natsbox starts throwaway nats-server processes with JetStream
// for tests and demos, as package sandbox starts MariaDB servers.
package natsbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ErrNoServerBinary is wrapped when nats-server is not installed.
var ErrNoServerBinary = errors.New("nats-server not found (Debian package nats-server)")

// readyTimeout bounds the wait for a started server to accept connections.
const readyTimeout = 30 * time.Second

// Server is a nats-server with JetStream on 127.0.0.1, its store in a
// temporary directory. Its methods are safe for concurrent use.
type Server struct {
	bin  string
	dir  string
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start starts a server on a free port with its store in a new temporary
// directory under baseDir ("" for os.TempDir()), and waits until it
// accepts connections.
func Start(ctx context.Context, baseDir string) (*Server, error) {
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nats-server"); serr != nil {
			return nil, fmt.Errorf("natsbox: %w", ErrNoServerBinary)
		}
		bin = "/usr/sbin/nats-server"
	}
	dir, err := os.MkdirTemp(baseDir, "shiftgate-nats-*")
	if err != nil {
		return nil, fmt.Errorf("natsbox: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("natsbox: free port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	s := &Server{bin: bin, dir: dir, port: port}
	if err := s.launch(ctx); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// URL is the server's client URL.
func (s *Server) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

// Dir is the server's temporary directory (its JetStream store and log).
func (s *Server) Dir() string { return s.dir }

func (s *Server) launch(ctx context.Context) error {
	cmd := exec.Command(s.bin, "-a", "127.0.0.1", "-p", strconv.Itoa(s.port), "-js", "-sd", filepath.Join(s.dir, "store"),
		"-l", filepath.Join(s.dir, "nats.log"))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("natsbox: starting %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.port), time.Second)
		if err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("natsbox: nats-server on port %d exited at start (log in %s)", s.port, s.dir)
		case <-ctx.Done():
			s.Stop()
			return fmt.Errorf("natsbox: nats-server on port %d not ready: %w", s.port, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop stops the server (SIGTERM, SIGKILL after 10 s) and keeps its store:
// Restart starts it again on the same port.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Restart starts the stopped server again, on its port with its store.
func (s *Server) Restart(ctx context.Context) error { return s.launch(ctx) }

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	s.Stop()
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("natsbox: %w", err)
	}
	return nil
}
