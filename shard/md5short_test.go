package shard

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// paddedBlock is RFC 1321's padding of msg (at most maxShortMD5 bytes)
// to one block, byte by byte.
func paddedBlock(msg []byte) [64]byte {
	var blk [64]byte
	n := copy(blk[:], msg)
	blk[n] = 0x80
	binary.LittleEndian.PutUint64(blk[56:], uint64(n)<<3)
	return blk
}

// blockBytes is w in memory order.
func blockBytes(w *[8]uint64) [64]byte {
	var blk [64]byte
	for i, x := range w {
		binary.LittleEndian.PutUint64(blk[8*i:], x)
	}
	return blk
}

// checkMD5Block compares the padded block w of msg with paddedBlock, and
// md5Padded and md5BlockGeneric on it with crypto/md5.
func checkMD5Block(t *testing.T, w *[8]uint64, msg []byte) {
	t.Helper()
	require.Equal(t, paddedBlock(msg), blockBytes(w), "block of %d bytes %x", len(msg), msg)
	want := md5.Sum(msg)
	hi, lo := md5Padded(w)
	require.Equal(t, binary.BigEndian.Uint64(want[:8]), hi, "md5Padded of %d bytes %x", len(msg), msg)
	require.Equal(t, binary.BigEndian.Uint64(want[8:]), lo, "md5Padded of %d bytes %x", len(msg), msg)
	hi, lo = md5Halves(md5BlockGeneric(w))
	require.Equal(t, binary.BigEndian.Uint64(want[:8]), hi, "md5BlockGeneric of %d bytes %x", len(msg), msg)
	require.Equal(t, binary.BigEndian.Uint64(want[8:]), lo, "md5BlockGeneric of %d bytes %x", len(msg), msg)
}

// checkMD5Short checks padString and the one-block MD5 on key (at most
// maxShortMD5 bytes).
func checkMD5Short(t *testing.T, key []byte) {
	t.Helper()
	var w [8]uint64
	padString(&w, string(key))
	checkMD5Block(t, &w, key)
}

// TestMD5MatchesCryptoMD5: for every key length from 0 to 200 (one block
// and md5Padded up to 55 bytes, crypto/md5 beyond), random keys hash as
// crypto/md5 hashes them and route as math/big reduces the digest.
func TestMD5MatchesCryptoMD5(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 55))
	var schemes []Scheme
	for _, n := range []int{1, 32, 37, 1000, 1<<30 - 1, 1<<30 + 1, 1<<32 + 15, 1<<62 + 3, math.MaxInt64} {
		s, err := NewHash(MD5, n)
		require.NoError(t, err)
		schemes = append(schemes, s)
	}
	for n := 0; n <= 200; n++ {
		for range 25 {
			key := make([]byte, n)
			for i := range key {
				key[i] = byte(rng.Uint32())
			}
			if n <= maxShortMD5 {
				checkMD5Short(t, key)
			}
			sum := md5.Sum(key)
			h := new(big.Int).SetBytes(sum[:])
			for _, s := range schemes {
				got, err := s.Shard(String(string(key)))
				require.NoError(t, err)
				want := new(big.Int).Mod(h, big.NewInt(int64(s.Shards()))).Int64() + 1
				require.Equal(t, want, int64(got), "%d-byte key %x, N=%d", n, key, s.Shards())
			}
		}
	}
}

// FuzzMD5Short checks the one-block MD5 (assembly where there is one, and
// the Go steps) against crypto/md5.
func FuzzMD5Short(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("user-2718281828"))
	f.Add(make([]byte, maxShortMD5))
	f.Fuzz(func(t *testing.T, key []byte) {
		if len(key) > maxShortMD5 {
			key = key[:maxShortMD5]
		}
		checkMD5Short(t, key)
	})
}

// FuzzMD5Int checks that integer keys are padded as their decimal text
// (strconv) and route as the recipe computed with crypto/md5 and math/big.
func FuzzMD5Int(f *testing.F) {
	f.Add(int64(0), uint64(7), uint32(32))
	f.Add(int64(math.MinInt64), uint64(math.MaxUint64), uint32(37))
	f.Add(int64(-1), uint64(1e19), uint32(1000))
	f.Add(int64(math.MaxInt64), uint64(99999999), uint32(3))
	f.Add(int64(-9999999999999999), uint64(1e16), uint32(1<<30+1))
	f.Fuzz(func(t *testing.T, i int64, u uint64, n uint32) {
		if n == 0 {
			return
		}
		s, err := NewHash(MD5, int(n))
		require.NoError(t, err)
		for _, c := range []struct {
			k    Key
			text string
			u    uint64
			neg  bool
		}{
			{Int(i), strconv.FormatInt(i, 10), uint64(i), false},
			{Uint(u), strconv.FormatUint(u, 10), u, false},
		} {
			if c.k.Kind() == KindInt && i < 0 {
				c.u, c.neg = -uint64(i), true
			}
			var w [8]uint64
			padDecimal(&w, c.u, c.neg)
			checkMD5Block(t, &w, []byte(c.text))
			got, err := s.Shard(c.k)
			require.NoError(t, err)
			require.Equal(t, md5Ref(c.text, int64(n)), int64(got), "key %s, N=%d", c.text, n)
		}
	})
}

// md5Ref is the seed's recipe computed independently: crypto/md5 of text,
// the digest as a big integer, modulo n, plus one.
func md5Ref(text string, n int64) int64 {
	sum := md5.Sum([]byte(text))
	h := new(big.Int).SetBytes(sum[:])
	return new(big.Int).Mod(h, big.NewInt(n)).Int64() + 1
}

// TestMD5IntDigits: integer keys of every length from 1 to 20 digits (on
// either side of every power of ten, and random ones), negative ones,
// math.MinInt64 and math.MaxUint64 are padded as their decimal text and
// route as the recipe computed with crypto/md5 and math/big.
func TestMD5IntDigits(t *testing.T) {
	var us []uint64
	for p := uint64(1); ; p *= 10 {
		us = append(us, p-1, p, p+1, 2*p-1, 9*p)
		if p > math.MaxUint64/10 {
			break
		}
	}
	us = append(us, math.MaxUint64, math.MaxUint64-1, math.MaxInt64, 1<<63, 1<<63+1)
	rng := rand.New(rand.NewPCG(16, 20))
	for range 2000 {
		// Uniform in the number of bits, so every length is drawn.
		us = append(us, rng.Uint64()>>rng.UintN(64))
	}
	var schemes []Scheme
	for _, n := range []int{1, 32, 37, 1000, 1<<30 + 1, math.MaxInt64} {
		s, err := NewHash(MD5, n)
		require.NoError(t, err)
		schemes = append(schemes, s)
	}
	check := func(k Key, text string, u uint64, neg bool) {
		t.Helper()
		var w [8]uint64
		padDecimal(&w, u, neg)
		checkMD5Block(t, &w, []byte(text))
		for _, s := range schemes {
			got, err := s.Shard(k)
			require.NoError(t, err)
			require.Equal(t, md5Ref(text, int64(s.Shards())), int64(got), "key %s, N=%d", text, s.Shards())
		}
	}
	for _, u := range us {
		check(Uint(u), strconv.FormatUint(u, 10), u, false)
		if u <= math.MaxInt64 {
			check(Int(int64(u)), strconv.FormatInt(int64(u), 10), u, false)
			check(Int(-int64(u)), strconv.FormatInt(-int64(u), 10), u, u != 0)
		}
	}
	check(Int(math.MinInt64), "-9223372036854775808", 1<<63, true)
}

// TestDigits8: digits8 works on independent lanes of one word, so every
// value of the low half (x < 10^4), every value of the high half (x a
// multiple of 10^4) and random values cover it.
func TestDigits8(t *testing.T) {
	check := func(x uint64) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], digits8(x))
		if want := fmt.Sprintf("%08d", x); string(b[:]) != want {
			t.Fatalf("digits8(%d) = %q, want %q", x, b[:], want)
		}
	}
	for x := range uint64(1e4) {
		check(x)
		check(x * 1e4)
		check(x*1e4 + 9999 - x)
	}
	rng := rand.New(rand.NewPCG(8, 8))
	for range 100000 {
		check(rng.Uint64N(1e8))
	}
}

// TestMD5Rem: the remainder step, on random and extreme digests, for
// shard counts of each path (power of two, below 2^30, above), as
// math/big computes it.
func TestMD5Rem(t *testing.T) {
	ns := []uint64{1, 2, 3, 5, 7, 32, 37, 1000, 1<<30 - 1, 1<<30 - 3, 1 << 30, 1<<30 + 1, 1<<32 + 15, math.MaxInt64}
	rng := rand.New(rand.NewPCG(30, 64))
	for range 200 {
		ns = append(ns, rng.Uint64N(1<<30-3)+3)
	}
	digests := [][2]uint64{{0, 0}, {0, 1}, {math.MaxUint64, math.MaxUint64}, {math.MaxUint64, 0}, {0, math.MaxUint64}}
	for range 500 {
		digests = append(digests, [2]uint64{rng.Uint64(), rng.Uint64()})
	}
	for _, n := range ns {
		s := newMD5Scheme(n)
		for _, d := range digests {
			h := new(big.Int).Lsh(new(big.Int).SetUint64(d[0]), 64)
			h.Or(h, new(big.Int).SetUint64(d[1]))
			want := new(big.Int).Mod(h, new(big.Int).SetUint64(n)).Int64() + 1
			require.Equal(t, want, int64(s.rem(d[0], d[1])), "digest %016x%016x, N=%d", d[0], d[1], n)
		}
	}
}
