package verify_test

import (
	"context"
	"sync"
	"testing"

	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/verify"
)

// BenchmarkVerify verifies the sample database (84,000 rows in five
// tables) between the two servers: go test -run '^$' -bench Verify ./verify/
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	src := sandboxtest.NewDatabase(b, servers[0], "bench")
	dst := sandboxtest.NewDatabase(b, servers[1], "bench")
	sdb, ddb := sandboxtest.Open(b, servers[0], ""), sandboxtest.Open(b, servers[1], "")
	var wg sync.WaitGroup
	var errs [2]error
	wg.Go(func() { errs[0] = sampledata.Create(ctx, sdb, src, 20000) })
	wg.Go(func() { errs[1] = sampledata.Create(ctx, ddb, dst, 20000) })
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	pairs, err := verify.DatabasePairs(ctx, sdb, src, dst)
	if err != nil {
		b.Fatal(err)
	}
	v, err := verify.New(sdb, ddb)
	if err != nil {
		b.Fatal(err)
	}
	var rows int64
	for b.Loop() {
		rep, err := v.Verify(ctx, pairs...)
		if err != nil {
			b.Fatal(err)
		}
		if !rep.Clean() {
			b.Fatalf("%d differences", rep.Differences())
		}
		rows = rep.Rows()
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
