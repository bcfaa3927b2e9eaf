// Package shard routes sharding keys to the databases and tables that hold
// them: hashed, jump, range and directory layouts, resharding plans and
// cross-shard merges.
package shard
