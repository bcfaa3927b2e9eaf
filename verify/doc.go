// Package verify proves that a target holds the same data as its source:
// checksums first (whole tables up to a size, then chunks for the larger
// ones and those that differ), then the exact rows that differ, then the
// SQL that repairs the target. NewSharded does the same for one table
// split into shards: every source row exactly once, in its shard.
//
// The checksums are computed by the servers with CRC32C() where every
// server of a comparison has it (MariaDB 10.8 and later), else with
// CRC32() (MySQL, older MariaDB): see Verifier.Verify. The CRC32() path is
// tested on MariaDB with CRC32C() hidden, not against a MySQL server.
package verify
