package main

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sampledata"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

var servers []*sandbox.Server

func TestMain(m *testing.M) {
	os.Exit(sandboxtest.Main(m, 2, &servers))
}

func passwordless(s *sandbox.Server) string {
	cfg := s.Config("")
	cfg.Passwd = ""
	return cfg.FormatDSN()
}

// TestVerifydbReportsRepairsAndExits builds the same sample database on
// both servers (the generator is deterministic), damages the target, and
// runs verifydb: a report, repair SQL and exit 1; then -repair and exit 0.
func TestVerifydbReportsRepairsAndExits(t *testing.T) {
	ctx := context.Background()
	src := sandboxtest.NewDatabase(t, servers[0], "shop")
	dst := sandboxtest.NewDatabase(t, servers[1], "shop_copy")
	require.NoError(t, sampledata.Create(ctx, sandboxtest.Open(t, servers[0], ""), src, 300))
	require.NoError(t, sampledata.Create(ctx, sandboxtest.Open(t, servers[1], ""), dst, 300))
	tdb := sandboxtest.Open(t, servers[1], dst)
	sandboxtest.Exec(t, tdb,
		"SET SESSION foreign_key_checks = 0",
		"DELETE FROM order_items WHERE order_id = 7 AND line = 2",
		"UPDATE products SET image = UNHEX('00FF') WHERE id = 5",
		"UPDATE customers SET city = '' WHERE id = 7")
	t.Setenv("SHIFTGATE_SOURCE_PASSWORD", servers[0].Password())
	t.Setenv("SHIFTGATE_TARGET_PASSWORD", servers[1].Password())
	args := []string{"-source", passwordless(servers[0]), "-target", passwordless(servers[1]), "-database", src, "-target-database", dst}

	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	require.Equal(t, 1, code, "stderr: %s", errOut.String())
	assert.Contains(t, out.String(), "3 differing rows")
	assert.Contains(t, out.String(), "missing (order_id, line) = (7, 2)")
	assert.Contains(t, out.String(), "changed (id) = (7): city: '' -> NULL")
	assert.Contains(t, out.String(), "changed (id) = (5): image: X'00FF' -> X'00FF0A09")
	assert.Contains(t, out.String(), "INSERT INTO `"+dst+"`.`order_items`")
	assert.NotContains(t, out.String()+errOut.String(), servers[0].Password())
	assert.NotContains(t, errOut.String(), "warning")

	out.Reset()
	errOut.Reset()
	code = run(append(args, "-repair", "-json"), &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errOut.String(), out.String())
	assert.Contains(t, errOut.String(), "repair round 1: 0 rows deleted, 3 written")

	// A table only the target has is named, not compared.
	sandboxtest.Exec(t, tdb, "CREATE TABLE only_here (id INT PRIMARY KEY)")
	out.Reset()
	errOut.Reset()
	code = run(args, &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	assert.Contains(t, errOut.String(), "target table "+dst+".only_here is not on the source")

	out.Reset()
	errOut.Reset()
	code = run(append(args, "-tables", "orders,customers"), &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	assert.Contains(t, out.String(), "2 tables, 360 rows, equal")

	// A password on the command line works but draws a warning.
	out.Reset()
	errOut.Reset()
	code = run([]string{"-source", servers[0].DSN(""), "-target", passwordless(servers[1]), "-database", src, "-target-database", dst}, &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	assert.Contains(t, errOut.String(), "warning: the -source DSN holds a password")
	assert.NotContains(t, out.String()+errOut.String(), servers[0].Password())

	assert.Equal(t, 2, run([]string{"-database", src}, &out, &errOut))
	assert.Equal(t, 2, run(append(args, "-snapshot", "sometimes"), &out, &errOut))
}
