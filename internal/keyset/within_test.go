package keyset_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// TestNextUpperInSplitsARange splits a key range with a filter into chunks
// and checks that the chunks partition exactly the filtered rows of the
// range.
func TestNextUpperInSplitsARange(t *testing.T) {
	ctx := context.Background()
	dbName := sandboxtest.NewDatabase(t, servers[0], "within")
	db := sandboxtest.Open(t, servers[0], dbName)
	sandboxtest.Exec(t, db,
		"CREATE TABLE c (a INT NOT NULL, b VARCHAR(10) COLLATE utf8mb4_general_ci NOT NULL, PRIMARY KEY (a, b))",
		"INSERT INTO c SELECT s.seq % 5, CONCAT(ELT(1 + s.seq % 3, 'x', 'Y', 'z'), s.seq) FROM seq_1_to_500 s")
	k := keyset.NewKey("a", "b")
	whole := keyset.Range{Lower: keyset.Values{1, "y"}, Upper: keyset.Values{3, "Y3"}}
	where, args := k.Where(whole)
	var want int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM c WHERE b NOT LIKE 'z%' AND "+where, args...).Scan(&want))
	require.Positive(t, want)

	lower := whole.Lower
	got := 0
	for {
		upper, ok, err := k.NextUpperIn(ctx, db, dbName, "c", keyset.Range{Lower: lower, Upper: whole.Upper}, 7, "b NOT LIKE ?", "z%")
		require.NoError(t, err)
		r := keyset.Range{Lower: lower, Upper: whole.Upper}
		if ok {
			r.Upper = upper
		}
		w, a := k.Where(r)
		var n int
		require.NoError(t, db.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM c WHERE b NOT LIKE 'z%%' AND %s", w), a...).Scan(&n))
		got += n
		if !ok {
			assert.LessOrEqual(t, n, 7)
			break
		}
		assert.Equal(t, 7, n)
		lower = upper
	}
	assert.Equal(t, want, got)

	_, _, err := k.NextUpperIn(ctx, db, dbName, "c", whole, 0, "")
	assert.Error(t, err)
}
