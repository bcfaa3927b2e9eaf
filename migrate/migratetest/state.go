package migratetest

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/shiftgate/shiftgate/internal/schema"
)

// DatabaseState fingerprints database on db for comparisons: every base
// table with its row count and CHECKSUM TABLE, and the names of its views,
// routines, triggers and events. It does not include the database's name, so
// a copy under another name has the same state. A missing database has the
// state "no database".
func DatabaseState(t testing.TB, db *sql.DB, database string) string {
	t.Helper()
	var b strings.Builder
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", database).Scan(&n); err != nil {
		t.Fatalf("DatabaseState %s: %v", database, err)
	}
	if n == 0 {
		return "no database"
	}
	for _, line := range queryStrings(t, db, `
		SELECT CONCAT(LOWER(TABLE_TYPE), ' ', TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?
		UNION ALL SELECT CONCAT(LOWER(ROUTINE_TYPE), ' ', ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?
		UNION ALL SELECT CONCAT('trigger ', TRIGGER_NAME, ' on ', EVENT_OBJECT_TABLE) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?
		UNION ALL SELECT CONCAT('event ', EVENT_NAME) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?
		ORDER BY 1`, database, database, database, database) {
		b.WriteString(line)
		if name, ok := strings.CutPrefix(line, "base table "); ok {
			rows, sum, err := schema.Checksum(context.Background(), db, database, name)
			if err != nil {
				t.Fatalf("DatabaseState: %v", err)
			}
			fmt.Fprintf(&b, " rows=%d checksum=%d", rows, sum)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func queryStrings(t testing.TB, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatalf("scan: %v", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("rows: %v", err)
	}
	return out
}
