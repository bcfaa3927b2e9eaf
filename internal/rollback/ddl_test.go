package rollback_test

import (
	"errors"
	"testing"

	"github.com/shiftgate/shiftgate/internal/rollback"
	"github.com/shiftgate/shiftgate/internal/rowchange"
)

func TestDDLInverse(t *testing.T) {
	const before = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `a``b` int(11) DEFAULT NULL COMMENT 'x, y',\n  PRIMARY KEY (`id`),\n  KEY `k` (`a``b`)\n) ENGINE=InnoDB"
	const withIndex = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `a``b` int(11) DEFAULT NULL COMMENT 'x, y',\n  PRIMARY KEY (`id`),\n  KEY `k` (`a``b`),\n  KEY `a``b_2` (`a``b`,`id`)\n) ENGINE=InnoDB"
	tbl := rowchange.Table{Schema: "d", Name: "t"}
	for _, c := range []struct {
		stmt, before, after, want string
		err                       error
	}{
		{stmt: "ALTER TABLE t ADD INDEX (`a``b`, id)", before: before, after: withIndex, want: "ALTER TABLE `d`.`t` DROP INDEX `a``b_2`;\n"},
		{stmt: "ALTER TABLE t MODIFY `a``b` BIGINT", before: before, after: before, want: "ALTER TABLE `d`.`t` CHANGE COLUMN `a``b` `a``b` int(11) DEFAULT NULL COMMENT 'x, y' AFTER `id`;\n"},
		{stmt: "ALTER TABLE t DROP INDEX k", before: before, after: before, want: "ALTER TABLE `d`.`t` ADD KEY `k` (`a``b`);\n"},
		{stmt: "ALTER TABLE t DROP PRIMARY KEY", before: before, after: before, want: "ALTER TABLE `d`.`t` ADD PRIMARY KEY (`id`);\n"},
		{stmt: "RENAME TABLE t TO u, e.v TO t", want: "RENAME TABLE `d`.`t` TO `e`.`v`, `d`.`u` TO `d`.`t`;\n"},
		{stmt: "CREATE INDEX i ON t (id)", before: before, want: "DROP INDEX `i` ON `d`.`t`;\n"},
		{stmt: "ALTER TABLE t MODIFY nope INT", before: before, err: rollback.ErrNoInverse},
		{stmt: "CREATE TABLE IF NOT EXISTS t (id INT)", before: before, err: rollback.ErrNoInverse},
		{stmt: "DROP TABLE t", err: rollback.ErrDataDropped},
		{stmt: "TRUNCATE t", err: rollback.ErrDataDropped},
		{stmt: "DROP DATABASE d", err: rollback.ErrDataDropped},
		{stmt: "ALTER TABLE t ADD COLUMN c INT, DROP COLUMN id", err: rollback.ErrDataDropped},
		{stmt: "ALTER TABLE t ENGINE=InnoDB", err: rollback.ErrNoInverse},
		{stmt: "CREATE VIEW v AS SELECT 1", err: rollback.ErrNoInverse},
		{stmt: "ALTER TABLE", err: rollback.ErrNoInverse},
	} {
		d, err := rollback.ParseDDL(c.stmt, "d")
		var got string
		if err == nil {
			got, err = d.Inverse(map[rowchange.Table]string{tbl: c.before}, map[rowchange.Table]string{tbl: c.after})
		}
		switch {
		case c.err != nil && !errors.Is(err, c.err):
			t.Errorf("%s: error %v, want %v", c.stmt, err, c.err)
		case c.err == nil && err != nil:
			t.Errorf("%s: %v", c.stmt, err)
		case got != c.want:
			t.Errorf("%s:\n got %q\nwant %q", c.stmt, got, c.want)
		}
	}
}
