package shard

import (
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"
	"strconv"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// Method names how a layout assigns keys to shards.
type Method string

// The routing methods. The hashed ones (MD5, Jump, CRC32) and Mod take a
// shard count N and give shards 1..N; see each constant for the recipe,
// which is part of the contract: a layout keeps its keys where they are
// across releases.
const (
	// MD5 is the seed's recipe, byte-exact with Python's
	// int(md5(key.encode("utf-8")).hexdigest(), 16) % N + 1: the whole
	// 128-bit digest, read big-endian, modulo N, plus one. String keys are
	// hashed as their UTF-8 bytes; integer keys as their decimal text
	// (Python's str(key)), so Int(42) routes like String("42").
	MD5 Method = "md5"
	// Jump is Lamping and Veach's jump consistent hash: bucket b of the
	// paper is shard b+1. An integer key is the 64-bit input itself
	// (two's complement for negative keys); a string key is first hashed
	// with XXH64, seed 0, of its UTF-8 bytes (github.com/cespare/xxhash/v2).
	Jump Method = "jump"
	// CRC32 is crc32(key) % N + 1 with the IEEE polynomial (Python's
	// zlib.crc32, MySQL's CRC32()), over the UTF-8 bytes of a string key or
	// the decimal text of an integer key.
	CRC32 Method = "crc32"
	// Mod is key % N + 1 for integer keys. A negative key takes the floored
	// remainder, as Python's % does: -1 with N = 4 is shard 4. (MySQL's
	// MOD(-1, 4) is -1: the SQL for the same routing is
	// MOD(MOD(key, N) + N, N) + 1.) String keys cannot be routed by Mod.
	Mod Method = "mod"
	// Range assigns each shard a half-open interval [from, to) of integer
	// or time keys; see Interval.
	Range Method = "range"
)

// Sentinel errors callers branch on.
var (
	// ErrKeyKind: the scheme cannot route a key of that kind (a string key
	// under Mod, a time key under a hash).
	ErrKeyKind = errors.New("key kind not supported by the routing method")
	// ErrNoShard: no shard holds the key (outside every range).
	ErrNoShard = errors.New("no shard holds the key")
)

// A Scheme assigns a key its shard number, from 1 to Shards(). Shard is
// deterministic, safe for concurrent use and allocates nothing for the key
// kinds it supports; other kinds are an error wrapping ErrKeyKind.
type Scheme interface {
	Shard(k Key) (int, error)
	Shards() int
	// Method is the scheme's method, for plans and messages.
	Method() Method
}

// NewHash returns the Scheme of a hashed or modulo method (MD5, Jump,
// CRC32, Mod) over n shards.
func NewHash(m Method, n int) (Scheme, error) {
	if n < 1 {
		return nil, fmt.Errorf("shard: method %s: %d shards: need at least 1", m, n)
	}
	switch m {
	case MD5:
		return newMD5Scheme(uint64(n)), nil
	case Jump:
		if n > math.MaxInt32 {
			return nil, fmt.Errorf("shard: method jump: %d shards: at most %d", n, math.MaxInt32)
		}
		return jumpScheme{n: int64(n)}, nil
	case CRC32:
		return crcScheme{n: uint64(n)}, nil
	case Mod:
		return modScheme{n: uint64(n)}, nil
	case Range:
		return nil, fmt.Errorf("shard: method range: build it with NewRanges")
	}
	return nil, fmt.Errorf("shard: unknown method %q (want md5, jump, crc32, mod or range)", m)
}

// keyBytes returns the bytes a text hash reads for k: the UTF-8 bytes of a
// string key (shared, not copied: hashes only read them), or the decimal
// text of an integer key written into buf.
func keyBytes(k Key, buf *[20]byte) ([]byte, bool) {
	switch k.kind {
	case KindString:
		return unsafe.Slice(unsafe.StringData(k.s), len(k.s)), true
	case KindInt:
		return strconv.AppendInt(buf[:0], k.i, 10), true
	case KindUint:
		return strconv.AppendUint(buf[:0], k.u, 10), true
	}
	return nil, false
}

func kindError(m Method, kind KeyKind) error {
	return fmt.Errorf("shard: method %s: %s key: %w", m, kind, ErrKeyKind)
}

// md5Scheme has pointer methods: an interface call then reaches Shard
// directly, with the key in registers, rather than through a wrapper that
// copies the receiver and passes the key on the stack.
type md5Scheme struct {
	n    uint64
	pow2 bool // n is a power of two: 2^64 is 0 modulo n, only the low half counts
	// small: n < 2^30, and r32, r64, r96 are 2^32, 2^64, 2^96 modulo n
	// (see rem).
	small         bool
	r32, r64, r96 uint64
}

func newMD5Scheme(n uint64) *md5Scheme {
	s := &md5Scheme{n: n, pow2: n&(n-1) == 0, small: n < 1<<30}
	if s.small {
		s.r32, s.r64, s.r96 = 1<<32%n, bits.Rem64(1, 0, n), bits.Rem64(1<<32, 0, n)
	}
	return s
}

func (s *md5Scheme) Shards() int    { return int(s.n) }
func (s *md5Scheme) Method() Method { return MD5 }

func (s *md5Scheme) Shard(k Key) (int, error) { return s.shard(&k) }

// shard is Shard with the key by pointer: Map.Route calls it directly, so
// that the 64-byte key is not copied again on the way (Key is too large for
// the compiler to keep in registers: each call by value stores it to the
// stack and loads it back).
func (s *md5Scheme) shard(k *Key) (int, error) {
	// Keys of at most maxShortMD5 bytes are one MD5 block, built on the
	// stack and hashed by md5Padded; longer ones by crypto/md5.
	var w [8]uint64
	switch k.kind {
	case KindString:
		if len(k.s) > maxShortMD5 {
			d := md5.Sum(unsafe.Slice(unsafe.StringData(k.s), len(k.s)))
			return s.rem(binary.BigEndian.Uint64(d[:8]), binary.BigEndian.Uint64(d[8:])), nil
		}
		padString(&w, k.s)
	case KindInt:
		if k.i < 0 {
			padDecimal(&w, -uint64(k.i), true)
		} else {
			padDecimal(&w, uint64(k.i), false)
		}
	case KindUint:
		padDecimal(&w, k.u, false)
	default:
		return 0, kindError(MD5, k.kind)
	}
	return s.rem(md5Padded(&w)), nil
}

// rem is the shard of the 128-bit big-endian digest hi*2^64 + lo: the
// digest modulo n, plus one.
func (s *md5Scheme) rem(hi, lo uint64) int {
	if s.pow2 {
		return int(lo&(s.n-1)) + 1
	}
	if s.small {
		// The digest's 32-bit words h1 h0 l1 l0 weighted by 2^96, 2^64,
		// 2^32 and 1 modulo n: each product is below 2^62 and their
		// sum below 2^64, so one division instead of two.
		v := hi>>32*s.r96 + hi&(1<<32-1)*s.r64 + lo>>32*s.r32 + lo&(1<<32-1)
		return int(v%s.n) + 1
	}
	return int(bits.Rem64(hi%s.n, lo, s.n)) + 1
}

type jumpScheme struct{ n int64 }

func (s jumpScheme) Shards() int    { return int(s.n) }
func (s jumpScheme) Method() Method { return Jump }

func (s jumpScheme) Shard(k Key) (int, error) {
	var x uint64
	switch k.kind {
	case KindInt:
		x = uint64(k.i)
	case KindUint:
		x = k.u
	case KindString:
		x = xxhash.Sum64String(k.s)
	default:
		return 0, kindError(Jump, k.kind)
	}
	return int(jumpHash(x, s.n)) + 1, nil
}

// jumpHash is the paper's JumpConsistentHash(key, num_buckets).
func jumpHash(key uint64, n int64) int64 {
	b, j := int64(-1), int64(0)
	for j < n {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return b
}

type crcScheme struct{ n uint64 }

func (s crcScheme) Shards() int    { return int(s.n) }
func (s crcScheme) Method() Method { return CRC32 }

func (s crcScheme) Shard(k Key) (int, error) {
	var sum uint32
	switch k.kind {
	case KindString:
		sum = crc32.ChecksumIEEE(unsafe.Slice(unsafe.StringData(k.s), len(k.s)))
	case KindInt, KindUint:
		// The decimal text is at most 20 bytes: a table loop here keeps
		// the buffer on the stack (crc32's assembly would move it to the
		// heap).
		var buf [20]byte
		b, _ := keyBytes(k, &buf)
		sum = ^uint32(0)
		for _, c := range b {
			sum = crc32.IEEETable[byte(sum)^c] ^ sum>>8
		}
		sum = ^sum
	default:
		return 0, kindError(CRC32, k.kind)
	}
	return int(uint64(sum)%s.n) + 1, nil
}

type modScheme struct{ n uint64 }

func (s modScheme) Shards() int    { return int(s.n) }
func (s modScheme) Method() Method { return Mod }

func (s modScheme) Shard(k Key) (int, error) {
	switch k.kind {
	case KindInt:
		r := k.i % int64(s.n)
		if r < 0 {
			r += int64(s.n)
		}
		return int(r) + 1, nil
	case KindUint:
		return int(k.u%s.n) + 1, nil
	}
	return 0, kindError(Mod, k.kind)
}
