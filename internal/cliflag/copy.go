package cliflag

import (
	"errors"
	"flag"
	"fmt"

	"github.com/shiftgate/shiftgate/migrate"
)

// Copy is the flags of a program's native copy (the Copier's engine):
// -threads, -lock-free, -defer-indexes, -write, -memory, -rows-per-second
// and -bytes-per-second.
type Copy struct {
	Threads                       int
	LockFree, DeferIndexes        bool
	WriteMethod                   string
	MemoryMiB                     int64
	RowsPerSecond, BytesPerSecond float64
}

// Register defines the flags on fs; prefix starts each usage text (such as
// "copy: ").
func (c *Copy) Register(fs *flag.FlagSet, prefix string) {
	fs.IntVar(&c.Threads, "threads", 0, prefix+"chunks copied at once (default 4)")
	fs.BoolVar(&c.LockFree, "lock-free", false, prefix+"take no lock on the source: the copy is not one consistent snapshot")
	fs.BoolVar(&c.DeferIndexes, "defer-indexes", true, prefix+"add secondary indexes and foreign keys after the rows (false: create tables whole)")
	fs.StringVar(&c.WriteMethod, "write", "", prefix+"load-data (default) or insert")
	fs.Int64Var(&c.MemoryMiB, "memory", 0, prefix+"memory budget in MiB (default 256)")
	fs.Float64Var(&c.RowsPerSecond, "rows-per-second", 0, prefix+"at most this many rows per second (0: no limit)")
	fs.Float64Var(&c.BytesPerSecond, "bytes-per-second", 0, prefix+"at most this many bytes per second (0: no limit)")
}

// Options turns the flags into Copier options (each also a SyncOption);
// an unknown -write is an error naming the flag.
func (c *Copy) Options() ([]migrate.CopierOption, error) {
	opts := []migrate.CopierOption{migrate.WithDeferredIndexes(c.DeferIndexes)}
	if c.Threads != 0 {
		opts = append(opts, migrate.WithThreads(c.Threads))
	}
	if c.LockFree {
		opts = append(opts, migrate.WithSnapshot(migrate.SnapshotNone))
	}
	switch c.WriteMethod {
	case "":
	case "load-data":
		opts = append(opts, migrate.WithWriteMethod(migrate.WriteLoadData))
	case "insert":
		opts = append(opts, migrate.WithWriteMethod(migrate.WriteInsert))
	default:
		return nil, fmt.Errorf("-write %q: unknown method (want load-data or insert)", c.WriteMethod)
	}
	if c.MemoryMiB != 0 {
		opts = append(opts, migrate.WithMemoryBudget(c.MemoryMiB<<20))
	}
	if c.RowsPerSecond != 0 || c.BytesPerSecond != 0 {
		opts = append(opts, migrate.WithRateLimit(c.RowsPerSecond, c.BytesPerSecond))
	}
	return opts, nil
}

// CopyOptionFlags names the flags of Copy by the library option each sets,
// for OptionFlag.
var CopyOptionFlags = map[string]string{
	"WithThreads":         "-threads",
	"WithSnapshot":        "-lock-free",
	"WithDeferredIndexes": "-defer-indexes",
	"WithWriteMethod":     "-write",
	"WithMemoryBudget":    "-memory",
	"WithRateLimit":       "-rows-per-second, -bytes-per-second",
}

// OptionFlag renders err naming the flag at fault instead of the library
// option it set: a *migrate.OptionError whose option flags (or
// CopyOptionFlags) names reads "-flag: reason"; any other error is
// returned as it reads.
func OptionFlag(err error, flags map[string]string) string {
	var oe *migrate.OptionError
	if errors.As(err, &oe) {
		if flag, ok := flags[oe.Option]; ok {
			return flag + ": " + oe.Err.Error()
		}
		if flag, ok := CopyOptionFlags[oe.Option]; ok {
			return flag + ": " + oe.Err.Error()
		}
	}
	return err.Error()
}
