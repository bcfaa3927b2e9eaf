package migrate_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/migrate"
)

// TestCopierMemoryStaysInBudget copies 200 rows of 1 MiB and one of 6 MiB of tabs (12 MiB escaped),
// many more bytes than the budget, in a separate process built without the
// race detector, and checks its peak RSS against the budget.
func TestCopierMemoryStaysInBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program and copies 330 MiB")
	}
	// The large row needs a larger packet than the default 16 MiB when
	// written by INSERT (escaped) in the statement that creates it.
	for _, s := range servers {
		db := sandboxtest.Open(t, s, "")
		var old int64
		require.NoError(t, db.QueryRow("SELECT @@GLOBAL.max_allowed_packet").Scan(&old))
		sandboxtest.Exec(t, db, "SET GLOBAL max_allowed_packet = 64 << 20")
		t.Cleanup(func() {
			if db, err := s.Open(""); err == nil {
				_, _ = db.Exec(fmt.Sprintf("SET GLOBAL max_allowed_packet = %d", old))
				db.Close()
			}
		})
	}
	src := sandboxtest.NewDatabase(t, servers[0], "blobs")
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], src),
		"CREATE TABLE big (id INT NOT NULL PRIMARY KEY, b LONGBLOB NOT NULL, note VARCHAR(20))",
		"INSERT INTO big SELECT seq, CONCAT(REPEAT(UNHEX('00FF5C0A09'), 209715), CHAR(seq)), 'x' FROM seq_1_to_200",
		"INSERT INTO big VALUES (1000, REPEAT('\\t', 6 << 20), NULL)",
		"CREATE TABLE small (id INT NOT NULL PRIMARY KEY, v VARCHAR(100) NOT NULL)",
		"INSERT INTO small SELECT seq, REPEAT('v', seq % 100) FROM seq_1_to_100000")

	bin := filepath.Join(t.TempDir(), "memcopy")
	build := exec.Command("go", "build", "-o", bin, "./testdata/memcopy")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	const budget = 128 << 20
	for _, method := range []migrate.WriteMethod{migrate.WriteLoadData, migrate.WriteInsert} {
		t.Run(method.String(), func(t *testing.T) {
			dst := targetName(t, servers[1])
			spec, _ := json.Marshal(map[string]any{"Source": servers[0].DSN(""), "Target": servers[1].DSN(""), "Database": src,
				"TargetDatabase": dst, "CheckpointDB": dst + "_cp", "Budget": budget, "Threads": 4, "Method": int(method)})
			t.Cleanup(func() {
				if db, err := servers[1].Open(""); err == nil {
					_, _ = db.Exec("DROP DATABASE IF EXISTS `" + dst + "_cp`")
					db.Close()
				}
			})
			cmd := exec.Command(bin)
			cmd.Env = append(os.Environ(), "MEMCOPY_SPEC="+string(spec))
			out, err := cmd.Output()
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			require.NoError(t, err, "memcopy: %s", stderr)
			var res struct {
				VmHWM int64 `json:"vmhwm_kib"`
				Rows  int64 `json:"rows"`
				Bytes int64 `json:"bytes"`
			}
			require.NoError(t, json.Unmarshal(out, &res))
			t.Logf("%s: %d rows, %.0f MiB copied with a %d MiB budget: peak RSS %.1f MiB", method, res.Rows, float64(res.Bytes)/(1<<20), budget>>20, float64(res.VmHWM)/1024)
			assert.Equal(t, int64(100_201), res.Rows)
			assert.Greater(t, res.Bytes, int64(2*budget), "the copy must move much more than the budget")
			assert.Less(t, res.VmHWM*1024, int64(budget), "peak RSS over the budget")
			assertCopied(t, src, servers[1], dst)
		})
	}
}
