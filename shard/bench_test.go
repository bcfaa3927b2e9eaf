package shard_test

import (
	"crypto/md5"
	"math"
	"testing"

	"github.com/shiftgate/shiftgate/shard"
)

// Run with: go test -run '^$' -bench . -benchmem ./shard/
func benchRoute(b *testing.B, m shard.Method, k shard.Key) { benchRouteN(b, m, 32, k) }

func benchRouteN(b *testing.B, m shard.Method, n int, k shard.Key) {
	r, err := (&shard.Layout{Method: m, Shards: n, Database: "db01", Table: "test_{n}"}).Router()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Route(k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRouteMD5String(b *testing.B) {
	benchRoute(b, shard.MD5, shard.String("user-2718281828"))
}

// BenchmarkRouteMD5StringN37: a shard count that is not a power of two
// takes the whole 128-bit remainder (two divisions).
func BenchmarkRouteMD5StringN37(b *testing.B) {
	benchRouteN(b, shard.MD5, 37, shard.String("user-2718281828"))
}

func BenchmarkRouteMD5Int(b *testing.B) { benchRoute(b, shard.MD5, shard.Int(2718281828)) }

// BenchmarkRouteMD5IntN37 and the extremes: 20 digits, 19 and a sign,
// and the remainder of a shard count that is not a power of two.
func BenchmarkRouteMD5IntN37(b *testing.B) {
	benchRouteN(b, shard.MD5, 37, shard.Int(2718281828))
}
func BenchmarkRouteMD5IntMin(b *testing.B) { benchRoute(b, shard.MD5, shard.Int(math.MinInt64)) }
func BenchmarkRouteMD5UintMax(b *testing.B) {
	benchRoute(b, shard.MD5, shard.Uint(math.MaxUint64))
}

func BenchmarkRouteMD5LongString(b *testing.B) {
	benchRoute(b, shard.MD5, shard.String("a string key longer than thirty-two bytes, to rule out stack copies"))
}

func BenchmarkRouteJumpInt(b *testing.B) { benchRoute(b, shard.Jump, shard.Int(2718281828)) }
func BenchmarkRouteJumpString(b *testing.B) {
	benchRoute(b, shard.Jump, shard.String("user-2718281828"))
}
func BenchmarkRouteCRC32String(b *testing.B) {
	benchRoute(b, shard.CRC32, shard.String("user-2718281828"))
}
func BenchmarkRouteModInt(b *testing.B)   { benchRoute(b, shard.Mod, shard.Int(2718281828)) }
func BenchmarkRouteCRC32Int(b *testing.B) { benchRoute(b, shard.CRC32, shard.Int(2718281828)) }

// BenchmarkMD5Sum is crypto/md5 alone on the key of
// BenchmarkRouteMD5String, for comparison: the recipe hashes keys of up to
// 55 bytes with its own one-block MD5 (md5Padded), keys longer than that
// with crypto/md5 (BenchmarkRouteMD5LongString).
func BenchmarkMD5Sum(b *testing.B) {
	key := []byte("user-2718281828")
	b.ReportAllocs()
	for b.Loop() {
		sink = md5.Sum(key)
	}
}

var sink [md5.Size]byte
