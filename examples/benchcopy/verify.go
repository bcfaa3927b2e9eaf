//go:build linux

package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/verify"
)

// The verify benchmark: verify.Verifier against the plain whole-table
// checksum a user would otherwise run, SELECT COUNT(*),
// BIT_XOR(CRC32(CONCAT_WS('#', columns...))) over each table on both
// servers in parallel, on the same data in the same run.
var (
	verifyMode    = flag.String("verify", "on", "benchmark verify after the copies: on, off, or only (skip the copies)")
	verifyThreads = flag.Int("verify-threads", 4, "verify: chunks compared at a time")
	verifyRuns    = flag.Int("verify-runs", 3, "verify: timed runs of each way, alternating")
)

// verifyGoal is the target ratio verify/plain checksum.
const verifyGoal = 1.3

// verifyOnly reports whether the copies are skipped.
func verifyOnly() bool { return *verifyMode == "only" }

// benchVerify creates the same dataset under another name on the target
// (the generator is deterministic, so it equals the source row for row;
// no copy has to be kept), times both ways of comparing it with the
// source, then damages two rows and checks that verify pinpoints them.
func benchVerify(ctx context.Context, b *bench, scale int) error {
	switch *verifyMode {
	case "off":
		return nil
	case "on", "only":
	default:
		return fmt.Errorf("-verify %q: want on, off or only", *verifyMode)
	}
	if *verifyRuns < 1 {
		return fmt.Errorf("-verify-runs %d is not positive", *verifyRuns)
	}
	target := database + "_verify"
	logf("verify: creating the same dataset on the target as %s", target)
	start := time.Now()
	done := alive("generating data on the target")
	if _, err := b.dstDB.ExecContext(ctx, "DROP DATABASE IF EXISTS "+schema.QuoteIdent(target)); err != nil {
		done()
		return err
	}
	err := sampledata.Create(ctx, b.dstDB, target, scale)
	done()
	if err != nil {
		return err
	}
	defer func() {
		if _, err := b.dstDB.ExecContext(context.Background(), "DROP DATABASE "+schema.QuoteIdent(target)); err != nil {
			logf("verify: drop %s: %v", target, err)
		}
	}()
	logf("verify: generated in %v", since(start))

	pairs := make([]verify.TablePair, len(b.tables))
	lists := make([]string, len(b.tables))
	for i, t := range b.tables {
		pairs[i] = verify.TablePair{SourceDatabase: database, SourceTable: t, TargetDatabase: target, TargetTable: t}
		def, err := schema.LoadTable(ctx, b.srcDB, database, t)
		if err != nil {
			return err
		}
		var cols []string
		for _, c := range def.InsertableColumns() {
			cols = append(cols, schema.QuoteIdent(c.Name))
		}
		lists[i] = strings.Join(cols, ", ")
	}
	v, err := verify.New(b.srcDB, b.dstDB, verify.WithParallelism(*verifyThreads))
	if err != nil {
		return err
	}
	// For information: the same comparison cut into chunks from the start.
	chunked, err := verify.New(b.srcDB, b.dstDB, verify.WithParallelism(*verifyThreads), verify.WithWholeTables(0))
	if err != nil {
		return err
	}

	// One untimed pass of each warms the buffer pools.
	logf("verify: warming up")
	if _, err := plainChecksum(ctx, b, target, lists); err != nil {
		return err
	}
	if _, err := v.Verify(ctx, pairs...); err != nil {
		return err
	}
	cpu, err := cpuMeter(ctx, b.srcDB, b.dstDB)
	if err != nil {
		return err
	}
	var plainS, verifyS, chunkedS, plainCPU, verifyCPU []float64
	chunks := 0
	for i := range *verifyRuns {
		c0, err := cpu()
		if err != nil {
			return err
		}
		s, err := plainChecksum(ctx, b, target, lists)
		if err != nil {
			return err
		}
		plainS = append(plainS, s)
		c1, err := cpu()
		if err != nil {
			return err
		}
		plainCPU = append(plainCPU, c1-c0)
		for _, way := range []struct {
			v     *verify.Verifier
			times *[]float64
		}{{v, &verifyS}, {chunked, &chunkedS}} {
			c0, err := cpu()
			if err != nil {
				return err
			}
			start := time.Now()
			rep, err := way.v.Verify(ctx, pairs...)
			if err != nil {
				return err
			}
			*way.times = append(*way.times, time.Since(start).Seconds())
			if way.v == v {
				c1, err := cpu()
				if err != nil {
					return err
				}
				verifyCPU = append(verifyCPU, c1-c0)
			}
			if !rep.Clean() {
				return fmt.Errorf("verify reports %d differences between equal databases", rep.Differences())
			}
			if way.v == chunked {
				chunks = 0
				for _, t := range rep.Tables {
					chunks += t.Chunks
				}
			}
		}
		logf("verify: run %d: plain checksum %.2f s (servers' CPU %.2f s), verify %.2f s (servers' CPU %.2f s), verify in chunks from the start %.2f s",
			i+1, s, plainCPU[i], verifyS[i], verifyCPU[i], chunkedS[i])
	}

	// Damage two rows: verify must name exactly them.
	// (customers, not orders: a trigger on orders would add a third row)
	if _, err := b.dstDB.ExecContext(ctx, "UPDATE "+schema.QualifiedName(target, "customers")+" SET name = CONCAT(name, ' ') WHERE id = ?", max(scale/10, 1)); err != nil {
		return err
	}
	if _, err := b.dstDB.ExecContext(ctx, "DELETE FROM "+schema.QualifiedName(target, "order_items")+" WHERE order_id = ? AND line = 3", scale/3+1); err != nil {
		return err
	}
	start = time.Now()
	damaged, err := v.Verify(ctx, pairs...)
	if err != nil {
		return err
	}
	pinpoint := time.Since(start).Seconds()
	var found []string
	for _, t := range damaged.Tables {
		for _, d := range t.Diffs {
			found = append(found, fmt.Sprintf("%s %s.%s (%s)", d.Kind, t.TargetTable, strings.Join(t.Key, ","), strings.Join(d.Key, ",")))
		}
	}

	mp, mv, mc := median(plainS), median(verifyS), median(chunkedS)
	ratio := mv / mp
	fmt.Printf("\nverify: %d rows in %d tables, %d threads (medians of %d runs each, alternating, after a warm-up)\n",
		damaged.Rows(), len(damaged.Tables), *verifyThreads, *verifyRuns)
	fmt.Printf("  plain COUNT(*) + BIT_XOR(CRC32(CONCAT_WS(...))) per table, both servers in parallel:  %.2f s\n", mp)
	fmt.Printf("  verify.Verifier (count + XOR of CRC32C * 4294967291 row hashes; equal tables whole): %.2f s\n", mv)
	fmt.Printf("  for information: verify in chunks from the start (WithWholeTables(0), %d chunks):   %.2f s (%.3fx plain)\n", chunks, mc, mc/mp)
	fmt.Printf("  time ratio verify/plain: %.3f  goal <= %.1f  %s\n", ratio, verifyGoal, verdict(ratio <= verifyGoal))
	pc, vc := median(plainCPU), median(verifyCPU)
	fmt.Printf("  for information: CPU seconds of both servers, plain %.2f s, verify %.2f s: ratio %.3f (what the time ratio is on an idle machine; on a busy one verify's %d threads get a larger share of the CPU than the plain checksum's one per server)\n",
		pc, vc, vc/pc, *verifyThreads)
	fmt.Printf("  after damaging 2 target rows, verify found %d in %.2f s: %s  %s\n",
		damaged.Differences(), pinpoint, strings.Join(found, "; "), verdict(damaged.Differences() == 2 && len(found) == 2))
	return nil
}

// plainChecksum runs the whole-table checksum of every table on both
// servers in parallel (one query per server at a time) and returns the
// seconds it took. It fails if the two sides disagree.
func plainChecksum(ctx context.Context, b *bench, target string, lists []string) (float64, error) {
	start := time.Now()
	for i, t := range b.tables {
		var wg sync.WaitGroup
		var res [2][2]sql.NullInt64
		var errs [2]error
		for side, db := range []*sql.DB{b.srcDB, b.dstDB} {
			name := schema.QualifiedName(database, t)
			if side == 1 {
				name = schema.QualifiedName(target, t)
			}
			wg.Go(func() {
				q := "SELECT COUNT(*), BIT_XOR(CRC32(CONCAT_WS('#', " + lists[i] + "))) FROM " + name
				errs[side] = db.QueryRowContext(ctx, q).Scan(&res[side][0], &res[side][1])
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return 0, fmt.Errorf("plain checksum of %s: %w", t, err)
			}
		}
		if res[0] != res[1] {
			return 0, fmt.Errorf("plain checksum of %s differs: %v and %v", t, res[0], res[1])
		}
	}
	return time.Since(start).Seconds(), nil
}

// cpuMeter returns a function that reads the CPU seconds the servers of
// dbs have used so far (user and system time of their processes, from
// /proc/<pid>/stat; the servers are local throwaway ones).
func cpuMeter(ctx context.Context, dbs ...*sql.DB) (func() (float64, error), error) {
	var stats []string
	for _, db := range dbs {
		var pidFile string
		if err := db.QueryRowContext(ctx, "SELECT @@pid_file").Scan(&pidFile); err != nil {
			return nil, fmt.Errorf("server pid file: %w", err)
		}
		pid, err := os.ReadFile(pidFile)
		if err != nil {
			return nil, fmt.Errorf("server pid: %w", err)
		}
		stats = append(stats, "/proc/"+strings.TrimSpace(string(pid))+"/stat")
	}
	return func() (float64, error) {
		total := 0.0
		for _, path := range stats {
			s, err := processCPU(path)
			if err != nil {
				return 0, err
			}
			total += s
		}
		return total, nil
	}, nil
}

// clockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat (100 on
// every Linux architecture Go supports).
const clockTicks = 100

// processCPU reads the user and system CPU seconds of a process from its
// /proc/<pid>/stat.
func processCPU(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("server CPU: %w", err)
	}
	// The command name in parentheses may hold spaces: count fields from
	// after it; utime and stime are fields 14 and 15 of the line.
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("server CPU: %s: %d fields", path, len(f))
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("server CPU: %s: %w", path, err)
		}
		ticks += n
	}
	return float64(ticks) / clockTicks, nil
}
