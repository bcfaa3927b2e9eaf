//go:build amd64 && !purego

#include "textflag.h"

// Each step is a = b + ((a + x[index] + const + f(b, c, d)) <<< shift),
// as in RFC 1321, with the additions ordered so that only f's last
// operation and what follows wait for b (the previous step's result):
// the steps are a chain, and its length is the time. R9 holds f.
// md5BlockGeneric (md5short.go) is the same in Go; the tests compare both
// with crypto/md5.

// f = (b & c) | (^b & d), as ((c ^ d) & b) ^ d.
#define STEP1(a, b, c, d, index, const, shift) \
	ADDL $const, a; \
	ADDL (index*4)(SI), a; \
	MOVL c, R9; \
	XORL d, R9; \
	ANDL b, R9; \
	XORL d, R9; \
	ADDL R9, a; \
	ROLL $shift, a; \
	ADDL b, a

// g = (b & d) | (c & ^d), as (c & ^d) + (b & d): the two never share a bit.
#define STEP2(a, b, c, d, index, const, shift) \
	ADDL $const, a; \
	ADDL (index*4)(SI), a; \
	MOVL d, R9; \
	NOTL R9; \
	ANDL c, R9; \
	ADDL R9, a; \
	MOVL d, R9; \
	ANDL b, R9; \
	ADDL R9, a; \
	ROLL $shift, a; \
	ADDL b, a

// h = b ^ c ^ d, as (c ^ d) ^ b.
#define STEP3(a, b, c, d, index, const, shift) \
	ADDL $const, a; \
	ADDL (index*4)(SI), a; \
	MOVL c, R9; \
	XORL d, R9; \
	XORL b, R9; \
	ADDL R9, a; \
	ROLL $shift, a; \
	ADDL b, a

// i = c ^ (b | ^d).
#define STEP4(a, b, c, d, index, const, shift) \
	ADDL $const, a; \
	ADDL (index*4)(SI), a; \
	MOVL d, R9; \
	NOTL R9; \
	ORL b, R9; \
	XORL c, R9; \
	ADDL R9, a; \
	ROLL $shift, a; \
	ADDL b, a

// func md5Padded(w *[8]uint64) (hi, lo uint64)
TEXT ·md5Padded(SB), NOSPLIT, $0-24
	MOVQ w+0(FP), SI
	MOVL $0x67452301, AX
	MOVL $0xefcdab89, BX
	MOVL $0x98badcfe, CX
	MOVL $0x10325476, DX
	STEP1(AX, BX, CX, DX, 0, 0xd76aa478, 7)
	STEP1(DX, AX, BX, CX, 1, 0xe8c7b756, 12)
	STEP1(CX, DX, AX, BX, 2, 0x242070db, 17)
	STEP1(BX, CX, DX, AX, 3, 0xc1bdceee, 22)
	STEP1(AX, BX, CX, DX, 4, 0xf57c0faf, 7)
	STEP1(DX, AX, BX, CX, 5, 0x4787c62a, 12)
	STEP1(CX, DX, AX, BX, 6, 0xa8304613, 17)
	STEP1(BX, CX, DX, AX, 7, 0xfd469501, 22)
	STEP1(AX, BX, CX, DX, 8, 0x698098d8, 7)
	STEP1(DX, AX, BX, CX, 9, 0x8b44f7af, 12)
	STEP1(CX, DX, AX, BX, 10, 0xffff5bb1, 17)
	STEP1(BX, CX, DX, AX, 11, 0x895cd7be, 22)
	STEP1(AX, BX, CX, DX, 12, 0x6b901122, 7)
	STEP1(DX, AX, BX, CX, 13, 0xfd987193, 12)
	STEP1(CX, DX, AX, BX, 14, 0xa679438e, 17)
	STEP1(BX, CX, DX, AX, 15, 0x49b40821, 22)

	STEP2(AX, BX, CX, DX, 1, 0xf61e2562, 5)
	STEP2(DX, AX, BX, CX, 6, 0xc040b340, 9)
	STEP2(CX, DX, AX, BX, 11, 0x265e5a51, 14)
	STEP2(BX, CX, DX, AX, 0, 0xe9b6c7aa, 20)
	STEP2(AX, BX, CX, DX, 5, 0xd62f105d, 5)
	STEP2(DX, AX, BX, CX, 10, 0x2441453, 9)
	STEP2(CX, DX, AX, BX, 15, 0xd8a1e681, 14)
	STEP2(BX, CX, DX, AX, 4, 0xe7d3fbc8, 20)
	STEP2(AX, BX, CX, DX, 9, 0x21e1cde6, 5)
	STEP2(DX, AX, BX, CX, 14, 0xc33707d6, 9)
	STEP2(CX, DX, AX, BX, 3, 0xf4d50d87, 14)
	STEP2(BX, CX, DX, AX, 8, 0x455a14ed, 20)
	STEP2(AX, BX, CX, DX, 13, 0xa9e3e905, 5)
	STEP2(DX, AX, BX, CX, 2, 0xfcefa3f8, 9)
	STEP2(CX, DX, AX, BX, 7, 0x676f02d9, 14)
	STEP2(BX, CX, DX, AX, 12, 0x8d2a4c8a, 20)

	STEP3(AX, BX, CX, DX, 5, 0xfffa3942, 4)
	STEP3(DX, AX, BX, CX, 8, 0x8771f681, 11)
	STEP3(CX, DX, AX, BX, 11, 0x6d9d6122, 16)
	STEP3(BX, CX, DX, AX, 14, 0xfde5380c, 23)
	STEP3(AX, BX, CX, DX, 1, 0xa4beea44, 4)
	STEP3(DX, AX, BX, CX, 4, 0x4bdecfa9, 11)
	STEP3(CX, DX, AX, BX, 7, 0xf6bb4b60, 16)
	STEP3(BX, CX, DX, AX, 10, 0xbebfbc70, 23)
	STEP3(AX, BX, CX, DX, 13, 0x289b7ec6, 4)
	STEP3(DX, AX, BX, CX, 0, 0xeaa127fa, 11)
	STEP3(CX, DX, AX, BX, 3, 0xd4ef3085, 16)
	STEP3(BX, CX, DX, AX, 6, 0x4881d05, 23)
	STEP3(AX, BX, CX, DX, 9, 0xd9d4d039, 4)
	STEP3(DX, AX, BX, CX, 12, 0xe6db99e5, 11)
	STEP3(CX, DX, AX, BX, 15, 0x1fa27cf8, 16)
	STEP3(BX, CX, DX, AX, 2, 0xc4ac5665, 23)

	STEP4(AX, BX, CX, DX, 0, 0xf4292244, 6)
	STEP4(DX, AX, BX, CX, 7, 0x432aff97, 10)
	STEP4(CX, DX, AX, BX, 14, 0xab9423a7, 15)
	STEP4(BX, CX, DX, AX, 5, 0xfc93a039, 21)
	STEP4(AX, BX, CX, DX, 12, 0x655b59c3, 6)
	STEP4(DX, AX, BX, CX, 3, 0x8f0ccc92, 10)
	STEP4(CX, DX, AX, BX, 10, 0xffeff47d, 15)
	STEP4(BX, CX, DX, AX, 1, 0x85845dd1, 21)
	STEP4(AX, BX, CX, DX, 8, 0x6fa87e4f, 6)
	STEP4(DX, AX, BX, CX, 15, 0xfe2ce6e0, 10)
	STEP4(CX, DX, AX, BX, 6, 0xa3014314, 15)
	STEP4(BX, CX, DX, AX, 13, 0x4e0811a1, 21)
	STEP4(AX, BX, CX, DX, 4, 0xf7537e82, 6)
	STEP4(DX, AX, BX, CX, 11, 0xbd3af235, 10)
	STEP4(CX, DX, AX, BX, 2, 0x2ad7d2bb, 15)
	STEP4(BX, CX, DX, AX, 9, 0xeb86d391, 21)

	ADDL $0x67452301, AX
	ADDL $0xefcdab89, BX
	ADDL $0x98badcfe, CX
	ADDL $0x10325476, DX
	// The digest is a, b, c, d little-endian: hi = a b, lo = c d, each
	// byte-swapped.
	BSWAPL AX
	BSWAPL BX
	BSWAPL CX
	BSWAPL DX
	SHLQ $32, AX
	ORQ  BX, AX
	SHLQ $32, CX
	ORQ  DX, CX
	MOVQ AX, hi+8(FP)
	MOVQ CX, lo+16(FP)
	RET
