//go:build !amd64 || purego

package shard

// md5Padded returns the MD5 digest (RFC 1321) of the message that w holds
// padded to one block (the message bytes, 0x80, zeros, and the message's
// length in bits in w[7]), as its big-endian halves: hi is bytes 0-7 of
// the digest, lo bytes 8-15.
func md5Padded(w *[8]uint64) (hi, lo uint64) { return md5Halves(md5BlockGeneric(w)) }
