// Package verify proves that a target holds the same data as its source (or
// one source as N shards): chunked checksums first, then the exact rows that
// differ, then the SQL that repairs the target.
package verify
