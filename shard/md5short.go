package shard

import (
	"encoding/binary"
	"math/bits"
)

// maxShortMD5 is the longest input md5Short takes: 55 bytes, the 0x80
// padding byte and the 64-bit length fill one 64-byte block.
const maxShortMD5 = 55

// md5Short returns the MD5 digest (RFC 1321) of blk[:n], n <= maxShortMD5,
// as its big-endian halves: hi is bytes 0-7 of the digest, lo bytes 8-15.
// blk[n:] must be zero; md5Short writes the padding into it. It is
// crypto/md5.Sum for one block, without the digest state, the buffering
// and the copies, and on amd64 with a compression whose dependency chain
// is shorter than crypto/md5's (md5block_amd64.s): routing by the seed's
// recipe spends most of its time here.
func md5Short(blk *[64]byte, n int) (hi, lo uint64) {
	blk[n] = 0x80
	binary.LittleEndian.PutUint64(blk[56:], uint64(n)<<3)
	a, b, c, d := md5Block(blk)
	// The digest is a, b, c, d little-endian: byte-swap each word.
	hi = uint64(bits.ReverseBytes32(a))<<32 | uint64(bits.ReverseBytes32(b))
	lo = uint64(bits.ReverseBytes32(c))<<32 | uint64(bits.ReverseBytes32(d))
	return hi, lo
}

// md5BlockGeneric is md5Block in Go: RFC 1321's 64 steps over the words
// of blk, from the initial state, one block, the state added at the end.
func md5BlockGeneric(blk *[64]byte) (a, b, c, d uint32) {
	const a0, b0, c0, d0 = 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476
	a, b, c, d = a0, b0, c0, d0
	for i := range 64 {
		var f uint32
		var x int
		switch i / 16 {
		case 0:
			f, x = (c^d)&b^d, i
		case 1:
			f, x = b&d|c&^d, (5*i+1)%16
		case 2:
			f, x = b^c^d, (3*i+5)%16
		default:
			f, x = c^(b|^d), 7*i%16
		}
		f += a + md5K[i] + binary.LittleEndian.Uint32(blk[4*x:])
		a, b, c, d = d, b+bits.RotateLeft32(f, int(md5Shift[i/16][i%4])), b, c
	}
	return a + a0, b + b0, c + c0, d + d0
}

// md5K[i] is the constant of step i, floor(abs(sin(i+1)) * 2^32).
var md5K = [64]uint32{
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee,
	0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
	0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
	0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
	0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa,
	0xd62f105d, 0x2441453, 0xd8a1e681, 0xe7d3fbc8,
	0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
	0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
	0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
	0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
	0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x4881d05,
	0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
	0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039,
	0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
	0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
	0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
}

// md5Shift[r] are the rotations of round r's steps, in turn.
var md5Shift = [4][4]uint8{{7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}}
