// Package copyengine copies rows out of source tables chunk by chunk:
// keyset-chunked reads on consistent snapshot readers, adaptive chunk
// sizing, scheduling of segments across tables and threads, and a
// pluggable Writer that takes each chunk to its destination together with
// its checkpoint.
//
// migrate.Copier writes each chunk into one target table (LOAD DATA or
// INSERT, its segment's checkpoint in the same transaction);
// migrate.Split routes each row to a shard and writes a chunk as one
// transaction per shard server.
package copyengine
