// Package rowcodec classifies column types and encodes row values: LOAD DATA
// fields and SQL literals that read the same under every sql_mode.
package rowcodec
