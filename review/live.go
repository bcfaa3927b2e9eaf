package review

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/schema"
)

// LiveCatalog reads table definitions and sizes from a server's
// information_schema, and estimates affected rows with EXPLAIN. It
// implements Catalog and RowEstimator and is safe for concurrent use. It
// only reads: EXPLAIN never runs the statement.
type LiveCatalog struct {
	db *sql.DB
}

var (
	_ Catalog      = (*LiveCatalog)(nil)
	_ RowEstimator = (*LiveCatalog)(nil)
)

// NewLiveCatalog returns a catalog reading through db, whose user needs
// SELECT on the reviewed tables (for EXPLAIN) and access to their
// information_schema rows.
func NewLiveCatalog(db *sql.DB) (*LiveCatalog, error) {
	if db == nil {
		return nil, errors.New("review: NewLiveCatalog: nil *sql.DB")
	}
	return &LiveCatalog{db: db}, nil
}

// Table implements Catalog with internal/schema.LoadTable. An empty
// database cannot be looked up and gives an error wrapping ErrUnknown.
func (l *LiveCatalog) Table(ctx context.Context, database, table string) (*TableDef, error) {
	if database == "" {
		return nil, fmt.Errorf("table %s: no database selected: %w", schema.QuoteIdent(table), ErrUnknown)
	}
	return schema.LoadTable(ctx, l.db, database, table)
}

// EstimateRows implements RowEstimator: it runs EXPLAIN statement with
// database as the default database and returns the optimizer's row
// estimate: for UPDATE and DELETE the rows examined in the changed table,
// for INSERT ... SELECT the product of the rows of the SELECT's tables.
// These are estimates from index statistics, not counts, and can be far off
// in both directions.
func (l *LiveCatalog) EstimateRows(ctx context.Context, database, statement string) (int64, error) {
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("review: explain: %w", err)
	}
	defer conn.Close()
	restore, err := useDatabase(ctx, conn, database)
	if err != nil {
		return 0, err
	}
	defer restore()
	rows, err := conn.QueryContext(ctx, "EXPLAIN "+statement)
	if err != nil {
		if _, ok := errors.AsType[*mysql.MySQLError](err); ok {
			return 0, fmt.Errorf("review: explain: %w: %w", ErrExplainRefused, err)
		}
		return 0, fmt.Errorf("review: explain: %w", err)
	}
	defer rows.Close()
	isInsert := strings.HasPrefix(strings.ToUpper(strings.TrimSpace(statement)), "INSERT") ||
		strings.HasPrefix(strings.ToUpper(strings.TrimSpace(statement)), "REPLACE")
	return explainEstimate(rows, isInsert)
}

// refusal returns the server's message in an error of EstimateRows that
// wraps ErrExplainRefused, or the error's text.
func refusal(err error) string {
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok {
		return fmt.Sprintf("%s (error %d)", me.Message, me.Number)
	}
	return err.Error()
}

// useDatabase makes database the default database of conn, unless it is
// empty or already the default, and returns the function that restores
// the previous default. When there was none, or restoring it fails,
// restore retires conn from the pool instead, so that no later user of
// the pool inherits the database.
func useDatabase(ctx context.Context, conn *sql.Conn, database string) (restore func(), err error) {
	var current sql.NullString
	if err := conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&current); err != nil {
		return nil, fmt.Errorf("review: explain: %w", err)
	}
	if database == "" || current.String == database {
		return func() {}, nil
	}
	if _, err := conn.ExecContext(ctx, "USE "+schema.QuoteIdent(database)); err != nil {
		return nil, fmt.Errorf("review: explain in %s: %w", schema.QuoteIdent(database), err)
	}
	return func() {
		var err error
		if current.Valid {
			_, err = conn.ExecContext(context.WithoutCancel(ctx), "USE "+schema.QuoteIdent(current.String))
		}
		if !current.Valid || err != nil {
			// The pooled connection keeps the database: retire it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}, nil
}

// explainEstimate reads the row estimate from the rows of an EXPLAIN:
// for an INSERT or REPLACE (isInsert) the product of the rows of the
// outer query's tables (subqueries left out, capped near 2^40), else the
// first estimate, that of the changed table. Rows without a numeric
// estimate are skipped; none at all is an error.
func explainEstimate(rows *sql.Rows, isInsert bool) (int64, error) {
	cols, err := rows.Columns()
	if err != nil {
		return 0, fmt.Errorf("review: explain: %w", err)
	}
	rowsCol, selectCol := -1, -1
	for i, c := range cols {
		switch strings.ToLower(c) {
		case "rows":
			rowsCol = i
		case "select_type":
			selectCol = i
		}
	}
	if rowsCol < 0 {
		return 0, errors.New("review: explain: no rows column")
	}
	var product int64 = 1
	var first int64 = -1
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, fmt.Errorf("review: explain: %w", err)
		}
		var n int64
		if !vals[rowsCol].Valid {
			continue // the INSERT target row of MySQL 8
		}
		if _, err := fmt.Sscan(vals[rowsCol].String, &n); err != nil {
			continue
		}
		if first < 0 {
			first = n
		}
		if selectCol >= 0 && !strings.EqualFold(vals[selectCol].String, "SIMPLE") && !strings.EqualFold(vals[selectCol].String, "PRIMARY") && !strings.EqualFold(vals[selectCol].String, "INSERT") {
			continue // subqueries
		}
		if n > 0 && product < 1<<40 {
			product *= n
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("review: explain: %w", err)
	}
	if first < 0 {
		return 0, errors.New("review: explain: no row estimate")
	}
	if isInsert {
		return product, nil
	}
	return first, nil
}
