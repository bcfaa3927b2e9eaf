package mysqlcli

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Earlier versions of this package wrote each server's options, password
// included, to legacyFile in a directory legacyPrefix* of the temp
// directory, and a caller killed with SIGKILL left them there.
const (
	legacyPrefix = "shiftgate-client-"
	legacyFile   = "client.cnf"
	// legacyStaleAfter spares the files of a run of an earlier version in
	// progress whose clients have not read them yet.
	legacyStaleAfter = time.Hour
)

// RemoveStale removes the option files that earlier versions of this
// package left in tempDir ("" for the system temp directory) when their
// process was killed: directories named shiftgate-client-* that hold
// nothing but client.cnf and were last changed more than an hour ago.
// Nothing else is touched. It is best-effort: what it cannot remove, it
// logs.
func RemoveStale(tempDir string, logger *slog.Logger) {
	if tempDir == "" {
		tempDir = os.TempDir()
	}
	entries, err := os.ReadDir(tempDir)
	if err != nil {
		logger.Debug("mysqlcli: listing the temp directory for stale option files", "dir", tempDir, "err", err)
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), legacyPrefix) {
			continue
		}
		dir := filepath.Join(tempDir, e.Name())
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < legacyStaleAfter {
			continue
		}
		inside, err := os.ReadDir(dir)
		if err != nil || len(inside) > 1 || len(inside) == 1 && inside[0].Name() != legacyFile {
			continue // not ours to judge, or another user's
		}
		if err := os.Remove(filepath.Join(dir, legacyFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			logger.Warn("mysqlcli: removing a stale option file", "dir", dir, "err", err)
			continue
		}
		if err := os.Remove(dir); err != nil {
			logger.Warn("mysqlcli: removing a stale option file's directory", "dir", dir, "err", err)
			continue
		}
		logger.Info("mysqlcli: removed a stale option file left by a killed run", "dir", dir)
	}
}
