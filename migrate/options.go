package migrate

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shiftgate/shiftgate/internal/schema"
)

// PipeOption configures a Pipe. Options validate their arguments; NewPipe
// returns the first error.
type PipeOption func(*pipeConfig) error

type pipeConfig struct {
	tables           []string
	targetDatabase   string
	replace          bool
	skip             map[ObjectKind]bool
	charset          string
	dumpProgram      string
	loadProgram      string
	tempDir          string
	logger           *slog.Logger
	progressInterval time.Duration
}

// WithTables copies only the named tables (or views) of the source database
// instead of all of it. Triggers of those tables are copied with them;
// routines and events belong to the database and are not.
func WithTables(names ...string) PipeOption {
	return func(c *pipeConfig) error {
		if len(names) == 0 {
			return errors.New("WithTables: no table named")
		}
		seen := map[string]bool{}
		for _, n := range names {
			if err := schema.ValidateName("table", n); err != nil {
				return fmt.Errorf("WithTables: %w", err)
			}
			if seen[n] {
				return fmt.Errorf("WithTables: table %q named twice", n)
			}
			seen[n] = true
		}
		c.tables = append([]string(nil), names...)
		return nil
	}
}

// WithTargetDatabase writes into a database of another name on the target
// (by default the source database's name). It is created, with the source
// database's character set and collation, if it does not exist.
func WithTargetDatabase(name string) PipeOption {
	return func(c *pipeConfig) error {
		if err := schema.ValidateName("target database", name); err != nil {
			return fmt.Errorf("WithTargetDatabase: %w", err)
		}
		c.targetDatabase = name
		return nil
	}
}

// WithReplace allows the copy to drop and replace target tables that already
// hold rows. Without it such tables make Plan and Run fail with ErrNotEmpty
// before anything is changed.
func WithReplace() PipeOption {
	return func(c *pipeConfig) error { c.replace = true; return nil }
}

// WithoutObjects leaves the given kinds of schema object out of the copy.
// By default views, procedures, functions, triggers and events are copied.
// Procedures and functions can only be skipped together.
func WithoutObjects(kinds ...ObjectKind) PipeOption {
	return func(c *pipeConfig) error {
		for _, k := range kinds {
			switch k {
			case KindView, KindTrigger, KindEvent:
				c.skip[k] = true
			case KindProcedure, KindFunction:
				c.skip[KindProcedure], c.skip[KindFunction] = true, true
			default:
				return fmt.Errorf("WithoutObjects: unknown object kind %q", k)
			}
		}
		return nil
	}
}

// WithCharset sets the connection character set of both clients
// (default utf8mb4).
func WithCharset(charset string) PipeOption {
	return func(c *pipeConfig) error {
		if charset == "" {
			return errors.New("WithCharset: empty character set")
		}
		for _, r := range charset {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
				return fmt.Errorf("WithCharset: %q is not a character set name", charset)
			}
		}
		c.charset = charset
		return nil
	}
}

// WithClientPrograms sets the dump and load programs instead of looking up
// mariadb-dump (or mysqldump) and mariadb (or mysql) on PATH. An empty
// string keeps the lookup for that side.
func WithClientPrograms(dump, load string) PipeOption {
	return func(c *pipeConfig) error {
		c.dumpProgram, c.loadProgram = dump, load
		return nil
	}
}

// WithTempDir sets where the private option files holding credentials are
// created (default: the system temp directory).
func WithTempDir(dir string) PipeOption {
	return func(c *pipeConfig) error {
		if dir == "" {
			return errors.New("WithTempDir: empty directory")
		}
		c.tempDir = dir
		return nil
	}
}

// WithLogger sets the logger (default: discard). Credentials are never logged.
func WithLogger(l *slog.Logger) PipeOption {
	return func(c *pipeConfig) error {
		if l == nil {
			return errors.New("WithLogger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithProgressInterval sets how often Run reports progress between table
// boundaries (default 1s).
func WithProgressInterval(d time.Duration) PipeOption {
	return func(c *pipeConfig) error {
		if d <= 0 {
			return fmt.Errorf("WithProgressInterval: %v is not positive", d)
		}
		c.progressInterval = d
		return nil
	}
}
