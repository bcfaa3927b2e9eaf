package review

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestFinalShape checks that the rules on a table's shape judge a table
// the script creates as the script leaves it, and report on the
// statement to change (line is its line; 0 when nothing must be
// reported).
func TestFinalShape(t *testing.T) {
	cases := []struct {
		rule, script string
		line         int
		message      string
	}{
		{"table.require-pk", "CREATE TABLE t (id BIGINT NOT NULL, a INT);\nALTER TABLE t ADD PRIMARY KEY (id)", 0, ""},
		{"table.require-pk", "CREATE TABLE t (id BIGINT NOT NULL);\nALTER TABLE t ADD COLUMN a INT", 1, "declare one in this CREATE TABLE"},
		{"table.require-pk", "CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY);\nALTER TABLE t DROP PRIMARY KEY", 1, "has no primary key"},
		{"table.require-pk", "CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY);\nDROP INDEX `PRIMARY` ON t", 1, "has no primary key"},
		{"table.require-pk", "CREATE TABLE t (id BIGINT NOT NULL);\nDROP TABLE t", 0, ""},
		{"table.require-pk", "CREATE TABLE t (id BIGINT NOT NULL);\nRENAME TABLE t TO t2;\nALTER TABLE t2 ADD PRIMARY KEY (id)", 0, ""},
		{"table.require-pk", "CREATE TABLE t (id BIGINT NOT NULL);\nALTER TABLE t RENAME TO t2;\nCREATE TABLE t (id BIGINT PRIMARY KEY)", 1, "table t has no primary key"},
		{"table.pk-integer", "CREATE TABLE t (code VARCHAR(32) NOT NULL, a INT);\nALTER TABLE t ADD PRIMARY KEY (code)", 2, "code of table t is varchar(32)"},
		{"table.pk-integer", "CREATE TABLE t (code VARCHAR(32) NOT NULL PRIMARY KEY, id BIGINT NOT NULL);\nALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (id)", 0, ""},
		{"table.pk-unsigned", "CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY);\nALTER TABLE t MODIFY id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT", 0, ""},
		{"table.pk-unsigned", "CREATE TABLE t (id BIGINT UNSIGNED NOT NULL PRIMARY KEY);\nALTER TABLE t MODIFY id BIGINT NOT NULL", 1, "not UNSIGNED"},
		{"table.pk-auto-increment", "CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY);\nALTER TABLE t MODIFY id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT", 0, ""},
		{"table.require-comment", "CREATE TABLE t (id BIGINT PRIMARY KEY);\nALTER TABLE t COMMENT 'orders'", 0, ""},
		{"table.require-comment", "CREATE TABLE t (id BIGINT PRIMARY KEY) COMMENT 'orders';\nALTER TABLE t COMMENT ''", 1, "no comment"},
		{"table.required-columns", "CREATE TABLE t (id BIGINT PRIMARY KEY, created_at DATETIME NOT NULL);\nALTER TABLE t ADD COLUMN updated_at DATETIME NOT NULL", 0, ""},
		{"table.required-columns", "CREATE TABLE t (id BIGINT PRIMARY KEY, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);\nALTER TABLE t DROP COLUMN updated_at", 1, "lacks required column updated_at"},
		{"ddl.merge-alters", "CREATE TABLE t (id BIGINT PRIMARY KEY);\nALTER TABLE t ADD COLUMN a INT", 2, "created by statement 1 at line 1; declare this change in its CREATE TABLE"},
		{"ddl.merge-alters", "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT);\nCREATE INDEX idx_a ON t (a)", 2, "created by statement 1"},
		{"ddl.merge-alters", "CREATE TABLE t2 LIKE big;\nALTER TABLE t2 ADD COLUMN c INT", 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			got := reviewWith(t, tc.rule, nil, tc.script)
			if tc.line == 0 {
				assert.Empty(t, got, "%s on %q", tc.rule, tc.script)
				return
			}
			if assert.Len(t, got, 1, "%s on %q", tc.rule, tc.script) {
				assert.Equal(t, tc.line, got[0].Position.Line, tc.script)
				assert.Contains(t, got[0].Message, tc.message)
			}
		})
	}
}
