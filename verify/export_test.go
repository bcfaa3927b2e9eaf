package verify

// WithLeafRows exports withLeafRows for the tests.
var WithLeafRows = withLeafRows

// EncodeRow and RowHash export the Go mirror of the row hash.
var (
	EncodeRow = encodeRow
	RowHash   = rowHash
)
