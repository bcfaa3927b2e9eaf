package sandbox

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

var staleMu sync.Mutex

// removeStale removes sandbox directories under base that were left behind
// by processes that no longer exist (a test binary that panicked or was
// killed before Close). A directory is stale when its owner.pid names a dead
// process, or when it has no owner.pid and is older than staleNoOwnerAt (a
// young one may be in the middle of being created). A directory whose
// mariadbd is still alive is left alone: removeStale never signals anything.
// Errors are logged, not returned: cleanup is best-effort.
func removeStale(base string, logger *slog.Logger) {
	staleMu.Lock() // StartN's goroutines would otherwise race for the same directories
	defer staleMu.Unlock()
	entries, err := os.ReadDir(base)
	if err != nil {
		logger.Debug("sandbox: listing base directory for stale sandboxes", "dir", base, "err", err)
		return
	}
	self := os.Getpid()
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), dirPrefix) {
			continue
		}
		dir := filepath.Join(base, e.Name())
		owner, err := readPID(filepath.Join(dir, ownerPIDFile))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			info, serr := e.Info()
			if serr != nil || time.Since(info.ModTime()) < staleNoOwnerAt {
				continue
			}
		case err != nil:
			continue // unreadable or garbage: not ours to judge
		case owner == self || processAlive(owner):
			continue
		}
		if pid, err := readPID(filepath.Join(dir, serverPIDFile)); err == nil && processAlive(pid) {
			logger.Warn("sandbox: stale sandbox still has a live server, leaving it", "dir", dir, "pid", pid)
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			logger.Warn("sandbox: removing stale sandbox", "dir", dir, "err", err)
			continue
		}
		logger.Info("sandbox: removed stale sandbox", "dir", dir, "owner_pid", owner)
	}
}

// readPID reads a file holding a decimal process id.
func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, errors.New("bad pid file")
	}
	return pid, nil
}
