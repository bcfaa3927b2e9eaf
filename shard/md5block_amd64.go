//go:build amd64 && !purego

package shard

// md5Padded returns the MD5 digest (RFC 1321) of the message that w holds
// padded to one block (the message bytes, 0x80, zeros, and the message's
// length in bits in w[7]), as its big-endian halves: hi is bytes 0-7 of
// the digest, lo bytes 8-15. It is crypto/md5.Sum for one block, without
// the digest state, the buffering and the copies, with a compression whose
// dependency chain is shorter than crypto/md5's (md5block_amd64.s):
// routing by the seed's recipe spends most of its time here.
//
//go:noescape
func md5Padded(w *[8]uint64) (hi, lo uint64)
