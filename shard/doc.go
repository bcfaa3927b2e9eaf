// Package shard is reserved for routing sharding keys to the databases and
// tables that hold them (hash, jump and range layouts), resharding plans and
// cross-shard merges. It holds no code yet.
package shard
