package review

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestColumnVisibility checks which INVISIBLE and VISIBLE words
// columnVisibility blanks: those of column definitions, not those of
// indexes, names, strings or comments.
func TestColumnVisibility(t *testing.T) {
	for _, tc := range []struct {
		in, out string
		names   []invisibleColumn
	}{
		{"CREATE TABLE t (a INT, b INT INVISIBLE)", "CREATE TABLE t (a INT, b INT          )", []invisibleColumn{{0, "b"}}},
		{"create table if not exists d.t (`x y` int default 1 invisible comment 'INVISIBLE', c int visible)",
			"create table if not exists d.t (`x y` int default 1           comment 'INVISIBLE', c int        )", []invisibleColumn{{0, "x y"}}},
		{"CREATE TABLE t (a INT, KEY k (a) INVISIBLE)", "", nil},
		{"CREATE TABLE t (invisible INT, visible INT /* INVISIBLE */, p INT REFERENCES invisible (id)) -- invisible", "", nil},
		{"CREATE TABLE t (a VARCHAR(10) INVISIBLE, b INT AS (a + 1) VIRTUAL INVISIBLE)", "CREATE TABLE t (a VARCHAR(10)          , b INT AS (a + 1) VIRTUAL          )", []invisibleColumn{{0, "a"}, {0, "b"}}},
		{"ALTER TABLE t ADD COLUMN c INT INVISIBLE AFTER invisible, ALTER INDEX k INVISIBLE, ADD INDEX j (a) INVISIBLE",
			"ALTER TABLE t ADD COLUMN c INT           AFTER invisible, ALTER INDEX k INVISIBLE, ADD INDEX j (a) INVISIBLE", []invisibleColumn{{0, "c"}}},
		{"ALTER TABLE t ADD (c INT INVISIBLE, d INT), MODIFY COLUMN IF EXISTS e INT INVISIBLE, CHANGE f g INT\nINVISIBLE",
			"ALTER TABLE t ADD (c INT          , d INT), MODIFY COLUMN IF EXISTS e INT          , CHANGE f g INT\n         ", []invisibleColumn{{0, "c"}, {0, "e"}, {0, "g"}}},
		{"ALTER TABLE t WAIT 5 MODIFY a INT VISIBLE", "ALTER TABLE t WAIT 5 MODIFY a INT        ", nil},
		{"CREATE TABLE a (x INT, y INT INVISIBLE); CREATE TABLE b (z INT INVISIBLE)", "CREATE TABLE a (x INT, y INT          ); CREATE TABLE b (z INT          )", []invisibleColumn{{0, "y"}, {1, "z"}}},
		{"SELECT invisible FROM t", "", nil},
	} {
		out, names := columnVisibility(tc.in)
		want := tc.out
		if want == "" {
			want = tc.in
		}
		assert.Equal(t, want, out, tc.in)
		assert.Equal(t, len(tc.in), len(out), tc.in)
		assert.Equal(t, tc.names, names, tc.in)
	}
}
