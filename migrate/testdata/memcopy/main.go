// Command memcopy runs one migrate.Copier copy described by the JSON in
// $MEMCOPY_SPEC and prints its peak resident memory (VmHWM, KiB) and the
// report as JSON. The memory test builds it without the race detector,
// whose shadow memory would swamp the measurement.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/shiftgate/shiftgate/migrate"
)

type spec struct {
	Source, Target, Database, TargetDatabase, CheckpointDB string
	Budget                                                 int64
	Threads                                                int
	Method                                                 int
}

func main() {
	var s spec
	if err := json.Unmarshal([]byte(os.Getenv("MEMCOPY_SPEC")), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	c, err := migrate.NewCopier(s.Source, s.Target, s.Database, migrate.WithTargetDatabase(s.TargetDatabase),
		migrate.WithCheckpointDatabase(s.CheckpointDB), migrate.WithMemoryBudget(s.Budget), migrate.WithThreads(s.Threads),
		migrate.WithWriteMethod(migrate.WriteMethod(s.Method)), migrate.WithSegmentRows(20))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	report, err := c.Run(context.Background(), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out := map[string]any{"vmhwm_kib": vmHWM(), "rows": report.Rows, "bytes": report.Bytes}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

func vmHWM() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb
		}
	}
	return -1
}
