// Package shard maps a sharding key to the physical database and table that
// holds it (hash, jump and range layouts), plans resharding, and merges the
// results of queries that span several shards.
package shard
