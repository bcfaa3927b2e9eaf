//go:build !amd64 || purego

package shard

func md5Block(blk *[8]uint64) (a, b, c, d uint32) { return md5BlockGeneric(blk) }
