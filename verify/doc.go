// Package verify proves that a target holds the same data as its source:
// checksums first (whole tables up to a size, then chunks for the larger
// ones and those that differ), then the exact rows that differ, then the
// SQL that repairs the target. NewSharded does the same for one table
// split into shards: every source row exactly once, in its shard.
package verify
