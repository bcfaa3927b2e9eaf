//go:build amd64 && !purego

package shard

// md5Block is one MD5 compression of blk from the initial state
// (md5block_amd64.s): md5BlockGeneric, in fewer cycles.
//
//go:noescape
func md5Block(blk *[8]uint64) (a, b, c, d uint32)
