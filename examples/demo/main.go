// Command demo runs story 1 of shiftgate end to end on throwaway servers: it
// starts two MariaDB servers, creates the sample "shop" database on the
// first, shows the dry run of copying it to the second with the copydb
// tool, runs the copy with progress, and proves the copy equal with verify.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"time"

	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/verify"
)

func main() {
	copydb := flag.String("copydb", "copydb", "path of the copydb program")
	scale := flag.Int("scale", 200000, "orders in the sample database (rows: 4.2 x scale)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *copydb, *scale); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, copydb string, scale int) error {
	step("starting two throwaway MariaDB servers")
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	servers, err := sandbox.StartN(ctx, 2, sandbox.Options{Logger: logger})
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}()
	source, target := servers[0], servers[1]
	fmt.Printf("  source %s, target %s\n", source.Addr(), target.Addr())

	customers, products, orders, items := sampledata.Size(scale)
	step(fmt.Sprintf("creating database shop on the source: %d customers, %d products, %d orders, %d order items",
		customers, products, orders, items))
	srcDB, err := source.Open("")
	if err != nil {
		return err
	}
	defer srcDB.Close()
	start := time.Now()
	if err := sampledata.Create(ctx, srcDB, "shop", scale); err != nil {
		return err
	}
	fmt.Printf("  done in %v\n", time.Since(start).Round(time.Millisecond))

	// The DSNs reach copydb through its environment, never its command line.
	env := append(os.Environ(),
		"SHIFTGATE_SOURCE_DSN="+source.DSN(""),
		"SHIFTGATE_TARGET_DSN="+target.DSN(""))

	step("dry run: copydb -database shop -target-database shop_copy -dry-run")
	if err := runTool(ctx, env, copydb, "-database", "shop", "-target-database", "shop_copy", "-mode", "pipe", "-dry-run"); err != nil {
		return err
	}
	step("copy: copydb -database shop -target-database shop_copy -mode pipe")
	if err := runTool(ctx, env, copydb, "-database", "shop", "-target-database", "shop_copy", "-mode", "pipe", "-progress", "500ms"); err != nil {
		return err
	}
	step("a second copy into the now non-empty target is refused before anything changes")
	err = runTool(ctx, env, copydb, "-database", "shop", "-target-database", "shop_copy", "-mode", "pipe")
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return fmt.Errorf("second copy: want a refusal, got %v", err)
	}

	step("verifying the copy with verify: chunked checksums on both sides")
	dstDB, err := target.Open("")
	if err != nil {
		return err
	}
	defer dstDB.Close()
	return compare(ctx, srcDB, "shop", dstDB, "shop_copy")
}

func step(msg string) { fmt.Printf("\n== %s\n", msg) }

func runTool(ctx context.Context, env []string, program string, args ...string) error {
	cmd := exec.CommandContext(ctx, program, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stdout, os.Stdout
	return cmd.Run()
}

// compare proves the copy with verify: chunked checksums of every table,
// and the exact rows if any differ.
func compare(ctx context.Context, src *sql.DB, srcName string, dst *sql.DB, dstName string) error {
	v, err := verify.New(src, dst)
	if err != nil {
		return err
	}
	report, err := v.VerifyDatabase(ctx, srcName, dstName)
	if err != nil {
		return err
	}
	if err := report.WriteText(os.Stdout); err != nil {
		return err
	}
	if !report.Clean() {
		return fmt.Errorf("%s differs from %s", dstName, srcName)
	}
	return nil
}
