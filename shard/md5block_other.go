//go:build !amd64 || purego

package shard

func md5Block(blk *[64]byte) (a, b, c, d uint32) { return md5BlockGeneric(blk) }
