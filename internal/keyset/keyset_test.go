package keyset_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/internal/schema"
)

var servers []*sandbox.Server

func TestMain(m *testing.M) {
	os.Exit(sandboxtest.Main(m, 1, &servers))
}

func TestPredicates(t *testing.T) {
	k := keyset.NewKey("a", "b`x", "c")
	where, args := k.After(keyset.Values{1, 2, 3})
	assert.Equal(t, "((`a` > ?) OR (`a` = ? AND `b``x` > ?) OR (`a` = ? AND `b``x` = ? AND `c` > ?))", where)
	assert.Equal(t, []any{1, 1, 2, 1, 2, 3}, args)
	where, args = k.AtMost(keyset.Values{1, 2, 3})
	assert.Equal(t, "((`a` < ?) OR (`a` = ? AND `b``x` < ?) OR (`a` = ? AND `b``x` = ? AND `c` <= ?))", where)
	assert.Len(t, args, 6)
	where, args = k.Where(keyset.Range{})
	assert.Equal(t, "1=1", where)
	assert.Empty(t, args)
}

// TestWalkVisitsEveryRowOnce walks tables with composite, string and
// case-insensitive keys in chunks and checks that the chunks partition the
// table exactly.
func TestWalkVisitsEveryRowOnce(t *testing.T) {
	ctx := context.Background()
	dbName := sandboxtest.NewDatabase(t, servers[0], "keyset")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db,
		"CREATE TABLE comp (a INT NOT NULL, b VARCHAR(10) COLLATE utf8mb4_general_ci NOT NULL, v INT, PRIMARY KEY (a, b))",
		"INSERT INTO comp SELECT s.seq % 7, CONCAT(ELT(1 + s.seq % 3, 'x', 'Y', 'z'), s.seq), s.seq FROM seq_1_to_1000 s",
		"CREATE TABLE uk (id INT NULL, code VARBINARY(8) NOT NULL, UNIQUE KEY (code))",
		"INSERT INTO uk SELECT NULL, UNHEX(LPAD(HEX(s.seq * 7919 % 65536), 4, '0')) FROM seq_0_to_499 s")
	for _, table := range []string{"comp", "uk"} {
		def, err := schema.LoadTable(ctx, db, dbName, table)
		require.NoError(t, err)
		k, err := keyset.ForTable(def)
		require.NoError(t, err)
		var total int
		for _, size := range []int{1, 13, 100, 5000} {
			seen := map[string]bool{}
			var lower keyset.Values
			for chunk := 0; ; chunk++ {
				upper, ok, err := k.NextUpper(ctx, db, dbName, table, lower, size, "")
				require.NoError(t, err)
				r := keyset.Range{Lower: lower}
				if ok {
					r.Upper = upper
				}
				where, args := k.Where(r)
				rows, err := db.Query(fmt.Sprintf("SELECT CONCAT_WS('|', %s) FROM %s WHERE %s", k.List(), table, where), args...)
				require.NoError(t, err)
				n := 0
				for rows.Next() {
					var key string
					require.NoError(t, rows.Scan(&key))
					require.False(t, seen[key], "%s: row %s in two chunks", table, key)
					seen[key] = true
					n++
				}
				require.NoError(t, rows.Close())
				if !ok {
					assert.Less(t, n, size+1)
					break
				}
				assert.Equal(t, size, n, "%s: chunk %d", table, chunk)
				lower = upper
			}
			require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+table).Scan(&total))
			assert.Len(t, seen, total, "%s at chunk size %d", table, size)
		}
	}
}

func TestSizer(t *testing.T) {
	s := keyset.NewSizer(100*time.Millisecond, 1000, 10, 4000)
	assert.Equal(t, 1000, s.Size())
	s.Observe(1000, 10*time.Millisecond) // far too fast: at most double
	assert.Equal(t, 1500, s.Size())
	s.Observe(1500, 50*time.Millisecond)
	assert.Equal(t, 2250, s.Size())
	s.Observe(100, time.Second) // a short last chunk says nothing
	assert.Equal(t, 2250, s.Size())
	for range 30 {
		s.Observe(s.Size(), 10*time.Second)
	}
	assert.Equal(t, 10, s.Size(), "never below Min")
	for range 20 {
		s.Observe(s.Size(), time.Millisecond)
	}
	assert.Equal(t, 4000, s.Size(), "never above Max")
}
