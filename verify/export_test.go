package verify

import (
	"context"
	"database/sql"
)

// WithLeafRows, WithWait and WithoutCRC32C export withLeafRows, withWait
// and withoutCRC32C for the tests.
var (
	WithLeafRows  = withLeafRows
	WithWait      = withWait
	WithoutCRC32C = withoutCRC32C
)

// Field exports field.
type Field = field

// HashFunc exports hashFunc: the row hash functions.
type HashFunc = hashFunc

// The row hash functions.
const (
	HashCRC32C = hashCRC32C
	HashCRC32  = hashCRC32
)

// EncodeRow exports encodeRow.
var EncodeRow = encodeRow

// RowHash is the Go mirror of the row hash with h.
func RowHash(h HashFunc, enc []byte) uint64 { return h.rowHash(enc) }

// RowHashFunc is the row hash function v's comparisons use.
func (v *Verifier) RowHashFunc(ctx context.Context) (HashFunc, error) {
	return v.hashes.choose(ctx, &v.cfg, server{v.src, "source"}, server{v.dst, "target"})
}

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

// ChecksumSQL returns the SELECT list of a chunk checksum of p's source
// with the row hash function h.
func ChecksumSQL(ctx context.Context, db *sql.DB, p TablePair, h HashFunc) (string, error) {
	t, err := prepare(ctx, newDefCache(db), newDefCache(db), p, 0)
	if err != nil {
		return "", err
	}
	t.hash = h
	return t.hashSQL(false), nil
}
