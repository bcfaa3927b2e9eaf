package shard

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// maxShortMD5 is the longest input one block holds: 55 bytes, the 0x80
// padding byte and the 64-bit length fill the 64 bytes.
const maxShortMD5 = 55

// The one-block MD5 (md5Padded, in md5block_*.go) takes its block as
// eight little-endian 64-bit words that the caller builds in registers
// (padString, padDecimal) and stores whole. Byte stores into the block
// would cost more than the formatting: the compression's 32-bit loads
// then span several recent stores, which the CPU cannot forward, and each
// such load waits for the stores to reach the cache.

// md5Halves is the MD5 digest of the final state a, b, c, d (each
// little-endian) as md5Padded returns it: big-endian halves.
func md5Halves(a, b, c, d uint32) (hi, lo uint64) {
	hi = uint64(bits.ReverseBytes32(a))<<32 | uint64(bits.ReverseBytes32(b))
	lo = uint64(bits.ReverseBytes32(c))<<32 | uint64(bits.ReverseBytes32(d))
	return hi, lo
}

// padString writes s, len(s) <= maxShortMD5, padded to one block into w,
// which must be zero: whole words of s, then the last 0 to 7 bytes and
// 0x80 as one word, then the length. It reads no byte outside s.
func padString(w *[8]uint64, s string) {
	all := unsafe.Slice(unsafe.StringData(s), len(s))
	b := all
	k := 0
	for len(b) >= 8 {
		w[k&7] = binary.LittleEndian.Uint64(b)
		b = b[8:]
		k++
	}
	r := len(b)
	t := uint64(0x80) << (8 * r & 63)
	switch {
	case r == 0:
	case len(all) >= 8:
		// The last 8 bytes of s, shifted down to its last r.
		t |= binary.LittleEndian.Uint64(all[len(all)-8:]) >> ((64 - 8*r) & 63)
	case r >= 4:
		// Two 4-byte loads that overlap when r < 8.
		t |= uint64(binary.LittleEndian.Uint32(b)) | uint64(binary.LittleEndian.Uint32(b[r-4:]))<<(8*(r-4)&63)
	default:
		// 1 to 3 bytes: the first, the middle and the last.
		t |= uint64(b[0]) | uint64(b[r>>1])<<(8*(r>>1)&63) | uint64(b[r-1])<<(8*(r-1)&63)
	}
	w[k&7] = t
	w[7] = uint64(len(s)) << 3
}

// padDecimal writes the decimal text of u (with a leading '-' if neg),
// Python's str of the key, padded to one block into w, which must be zero.
// The digits are formatted eight at a time in a register (digitLanes),
// with leading zeros, then shifted into place together with the 0x80 that
// follows them.
func padDecimal(w *[8]uint64, u uint64, neg bool) {
	// nd is the number of digits: floor(log10(u)) + 1 from the bit length
	// (Bit Twiddling Hacks, "IntegerLog10"); 1 for 0.
	t := bits.Len64(u) * 1233 >> 12
	nd := t + 1
	if u < decimalPow[t&31] {
		nd = max(t, 1)
	}
	// The digits right-aligned in 8, 16 or 24 bytes of words x0, x1, x2 (in
	// text order), followed by the 0x80 word, are shifted down by the s
	// bits of leading zeros, 0 <= s <= 56: word x_i contributes x_i >> s
	// to w_i and x_i << (64 - s), written x_i << 1 << (63 - s) so that
	// the shift counts stay below 64, to w_(i-1).
	var w0, w1, w2 uint64
	switch {
	case nd <= 8:
		s := uint(64-8*nd) & 63
		x := digits8(u)
		w0, w1 = x>>s|0x100<<(63-s), 0x80>>s
	case nd <= 16:
		// The 4-digit groups from quotients computed side by side, not
		// one from the other: a shorter chain than digits8(u/1e8) and
		// digits8(u%1e8).
		s := uint(128-8*nd) & 63
		q4, q8, q12 := u/1e4, u/1e8, u/1e12
		x0, x1 := digits4x2(q12, q8-q12*1e4), digits4x2(q4-q8*1e4, u-q4*1e4)
		w0, w1, w2 = x0>>s|x1<<1<<(63-s), x1>>s|0x100<<(63-s), 0x80>>s
	default:
		s := uint(192-8*nd) & 63
		q4, q8, q12, q16 := u/1e4, u/1e8, u/1e12, u/1e16
		x0, x1, x2 := digits4x2(0, q16), digits4x2(q12-q16*1e4, q8-q12*1e4), digits4x2(q4-q8*1e4, u-q4*1e4)
		w0, w1, w2 = x0>>s|x1<<1<<(63-s), x1>>s|x2<<1<<(63-s), x2>>s|0x100<<(63-s)
	}
	n := nd
	if neg {
		// The '-' goes first and the rest one byte up: the text and its
		// 0x80 are then at most 22 bytes, still in w0 to w2.
		w0, w1, w2 = w0<<8|'-', w1<<8|w0>>56, w2<<8|w1>>56
		n++
	}
	w[0], w[1], w[2], w[7] = w0, w1, w2, uint64(n)<<3
}

// digits8 returns the eight decimal digits of x < 10^8, leading zeros
// included, as ASCII in text order from the low byte up: digits4x2 of
// x/10^4 and x%10^4, with the two halves put in their lanes as
// x<<32 - hi*(10^4<<32 - 1), one multiplication after the quotient.
func digits8(x uint64) uint64 {
	hi := x / 1e4
	return digitLanes(x<<32 - hi*(1e4<<32-1))
}

// digits4x2 returns the decimal digits of hi and lo, both below 10^4, as
// digits8 returns those of hi*10^4 + lo.
func digits4x2(hi, lo uint64) uint64 { return digitLanes(lo<<32 | hi) }

// digitLanes returns the ASCII digits of the two 4-digit numbers in the
// 32-bit lanes of v (the first four digits in the low lane). The digits
// are split in lanes of one word (SWAR): each 4-digit number into two
// 2-digit quarters in 16-bit lanes, each into two digits in bytes. The
// divisions are multiplications by reciprocals exact for the lane's range
// (q*5243>>19 is q/100 for q < 43699, q*103>>10 is q/10 for q < 179), and
// each split, (v - q*d)<<k | q, is computed as v<<k - q*(d<<k - 1): one
// multiplication after q rather than a multiplication and three
// operations. The latency of the chain is what counts: the first word of
// the block waits for it.
func digitLanes(v uint64) uint64 {
	q := v * 5243 >> 19 & 0x0000007f_0000007f
	v = v<<16 - q*(100<<16-1)
	q = v * 103 >> 10 & 0x000f_000f_000f_000f
	// The ASCII '0's are added to v, off the chain.
	return v<<8 + 0x30303030_30303030 - q*(10<<8-1)
}

// decimalPow[i] is 10^i for i <= 19, the largest index padDecimal uses;
// 32 entries let it index with t&31, without a bounds check.
var decimalPow = [32]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// md5BlockGeneric is RFC 1321's compression in Go: the 64 steps over the
// words of blk, from the initial state, one block, the state added at the
// end. md5Padded is md5Halves of it (in assembly on amd64).
func md5BlockGeneric(blk *[8]uint64) (a, b, c, d uint32) {
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
		f += a + md5K[i] + uint32(blk[x>>1]>>(32*(x&1)))
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
