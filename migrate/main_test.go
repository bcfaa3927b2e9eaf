package migrate_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/verify"
)

// servers are the throwaway source [0] and target [1] shared by the tests of
// this package; tests isolate themselves by database name.
var servers []*sandbox.Server

func TestMain(m *testing.M) {
	// The resume tests run this binary again as the copier, split, merge,
	// rebalance, sync or online alter they kill.
	if spec := os.Getenv(copierChildEnv); spec != "" {
		os.Exit(copierChild(spec))
	}
	if spec := os.Getenv(splitChildEnv); spec != "" {
		os.Exit(splitChild(spec))
	}
	if spec := os.Getenv(syncChildEnv); spec != "" {
		os.Exit(syncChild(spec))
	}
	if spec := os.Getenv(switchChildEnv); spec != "" {
		os.Exit(switchChild(spec))
	}
	if spec := os.Getenv(cutBackChildEnv); spec != "" {
		os.Exit(cutBackChild(spec))
	}
	if spec := os.Getenv(mergeChildEnv); spec != "" {
		os.Exit(mergeChild(spec))
	}
	if spec := os.Getenv(rebalanceChildEnv); spec != "" {
		os.Exit(rebalanceChild(spec))
	}
	if spec := os.Getenv(alterChildEnv); spec != "" {
		os.Exit(alterChild(spec))
	}
	os.Exit(sandboxtest.Main(sandboxtest.Examples(m, &servers, prepareExamples), 2, &servers))
}

// exampleShop is the sample database the examples copy; they copy it to
// the target under these names.
const (
	exampleShop       = "example_shop"
	examplePipeTarget = "example_shop_pipe"
	exampleCopyTarget = "example_shop_copy"
)

// prepareExamples creates the examples' sample database on the source, and
// returns the cleanup that drops it and their copies.
func prepareExamples(ctx context.Context, source, target *sandbox.Server) (func(), error) {
	db, err := source.Open("")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+exampleShop); err != nil {
		return nil, err
	}
	if err := sampledata.Create(ctx, db, exampleShop, 100); err != nil {
		return nil, err
	}
	return func() {
		if db, err := source.Open(""); err == nil {
			_, _ = db.Exec("DROP DATABASE IF EXISTS " + exampleShop)
			db.Close()
		}
		if db, err := target.Open(""); err == nil {
			for _, stmt := range []string{
				"DROP DATABASE IF EXISTS " + examplePipeTarget,
				"DROP DATABASE IF EXISTS " + exampleCopyTarget,
				"DELETE FROM _shiftgate.copy_segments WHERE target_db = '" + exampleCopyTarget + "'",
				"DELETE FROM _shiftgate.copy_runs WHERE target_db = '" + exampleCopyTarget + "'",
			} {
				_, _ = db.Exec(stmt)
			}
			db.Close()
		}
	}, nil
}

// assertCopied checks that database dst on target holds exactly what src on
// the source server holds, two ways: the same tables, objects, row counts
// and CHECKSUM TABLE (migratetest.DatabaseState), and no differing row
// found by verify.
func assertCopied(t *testing.T, src string, target *sandbox.Server, dst string) {
	t.Helper()
	assert.Equal(t, state(t, servers[0], src), state(t, target, dst), "target differs from source")
	ctx := context.Background()
	srcDB, dstDB := sandboxtest.Open(t, servers[0], ""), sandboxtest.Open(t, target, "")
	v, err := verify.New(srcDB, dstDB)
	require.NoError(t, err)
	pairs, err := verify.DatabasePairs(ctx, srcDB, src, dst)
	require.NoError(t, err)
	report, err := v.Verify(ctx, pairs...)
	require.NoError(t, err)
	if !report.Clean() {
		var b strings.Builder
		_ = report.WriteText(&b)
		t.Errorf("verify found differences between %s and %s:\n%s", src, dst, b.String())
	}
}
