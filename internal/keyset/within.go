package keyset

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/shiftgate/shiftgate/internal/schema"
)

// NextUpperIn is NextUpper restricted to the range r: it returns the key of
// the n-th row after r.Lower (from the start when nil) that is at most
// r.Upper (no limit when nil) and matches the optional extra predicate with
// its arguments. ok is false when fewer than n such rows remain; the rest
// of r is then one chunk.
func (k Key) NextUpperIn(ctx context.Context, q schema.Querier, database, table string, r Range, n int, extra string, extraArgs ...any) (upper Values, ok bool, err error) {
	if n < 1 {
		return nil, false, fmt.Errorf("keyset: chunk of %d rows", n)
	}
	where, args := k.Where(r)
	if extra != "" {
		where = "(" + extra + ") AND " + where
		args = append(append([]any(nil), extraArgs...), args...)
	}
	query := fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT 1 OFFSET %d",
		k.List(), schema.QualifiedName(database, table), where, k.OrderBy(), n-1)
	upper = make(Values, len(k.Columns))
	ptrs := make([]any, len(upper))
	for i := range upper {
		ptrs[i] = &upper[i]
	}
	err = q.QueryRowContext(ctx, query, args...).Scan(ptrs...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("keyset: chunk boundary of %s: %w", schema.QualifiedName(database, table), err)
	}
	return upper, true, nil
}
