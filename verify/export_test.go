package verify

import (
	"context"
	"database/sql"
)

// WithLeafRows and WithWait export withLeafRows and withWait for the tests.
var (
	WithLeafRows = withLeafRows
	WithWait     = withWait
)

// Field exports field.
type Field = field

// EncodeRow and RowHash export the Go mirror of the row hash.
var (
	EncodeRow = encodeRow
	RowHash   = rowHash
)

// RowEncodingSQL returns the source side's row encoding expression for p,
// the value expressions selected for its columns and their fields.
func RowEncodingSQL(ctx context.Context, db *sql.DB, p TablePair) (enc string, values []string, fields []Field, err error) {
	t, err := prepare(ctx, newDefCache(db), newDefCache(db), p, 0)
	if err != nil {
		return "", nil, nil, err
	}
	for _, c := range t.cols {
		values = append(values, c.src)
		fields = append(fields, c.field)
	}
	return t.encodingSQL(false), values, fields, nil
}

// ChecksumSQL returns the SELECT list of a chunk checksum of p's source.
func ChecksumSQL(ctx context.Context, db *sql.DB, p TablePair) (string, error) {
	t, err := prepare(ctx, newDefCache(db), newDefCache(db), p, 0)
	if err != nil {
		return "", err
	}
	return t.hashSQL(false), nil
}
