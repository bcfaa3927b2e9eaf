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

// checkMD5Short compares md5Short and md5BlockGeneric on key (at most
// maxShortMD5 bytes) with crypto/md5.
func checkMD5Short(t *testing.T, key []byte) {
	t.Helper()
	want := md5.Sum(key)
	var blk [64]byte
	copy(blk[:], key)
	hi, lo := md5Short(&blk, len(key))
	require.Equal(t, binary.BigEndian.Uint64(want[:8]), hi, "md5Short of %d bytes %x", len(key), key)
	require.Equal(t, binary.BigEndian.Uint64(want[8:]), lo, "md5Short of %d bytes %x", len(key), key)
	// blk now holds the padded block.
	a, b, c, d := md5BlockGeneric(&blk)
	var got [16]byte
	for i, w := range []uint32{a, b, c, d} {
		binary.LittleEndian.PutUint32(got[4*i:], w)
	}
	require.Equal(t, want, got, "md5BlockGeneric of %d bytes %x", len(key), key)
}

// TestMD5MatchesCryptoMD5: for every key length from 0 to 200 (one block
// and md5Short up to 55 bytes, crypto/md5 beyond), random keys hash as
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

// FuzzMD5Int checks that integer keys route as their decimal text does.
func FuzzMD5Int(f *testing.F) {
	f.Add(int64(0), uint64(7), uint32(32))
	f.Add(int64(math.MinInt64), uint64(math.MaxUint64), uint32(37))
	f.Fuzz(func(t *testing.T, i int64, u uint64, n uint32) {
		if n == 0 {
			return
		}
		s, err := NewHash(MD5, int(n))
		require.NoError(t, err)
		for _, c := range []struct {
			k    Key
			text string
		}{{Int(i), fmt.Sprint(i)}, {Uint(u), fmt.Sprint(u)}} {
			got, err := s.Shard(c.k)
			require.NoError(t, err)
			want, err := s.Shard(String(c.text))
			require.NoError(t, err)
			require.Equal(t, want, got, "key %s, N=%d", c.text, n)
		}
	})
}

// TestMD5IntDigits routes integer keys on either side of every power of
// ten, and the extremes, as their decimal text.
func TestMD5IntDigits(t *testing.T) {
	s, err := NewHash(MD5, 37)
	require.NoError(t, err)
	var us []uint64
	for p := uint64(1); ; p *= 10 {
		us = append(us, p-1, p, p+1)
		if p > math.MaxUint64/10 {
			break
		}
	}
	us = append(us, math.MaxUint64, math.MaxInt64, 1<<63)
	check := func(k Key, text string) {
		got, err := s.Shard(k)
		require.NoError(t, err)
		want, err := s.Shard(String(text))
		require.NoError(t, err)
		require.Equal(t, want, got, text)
	}
	for _, u := range us {
		check(Uint(u), strconv.FormatUint(u, 10))
		if u <= math.MaxInt64 {
			check(Int(int64(u)), strconv.FormatInt(int64(u), 10))
			check(Int(-int64(u)), strconv.FormatInt(-int64(u), 10))
		}
	}
	check(Int(math.MinInt64), "-9223372036854775808")
	var b [20]byte
	for _, u := range us {
		require.Equal(t, strconv.FormatUint(u, 10), string(b[:putDecimal(b[:], u)]))
	}
}
