package shard

import (
	"bytes"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pythonRecipes computes the routing recipes independently, in Python:
// md5 and crc32 (hashlib, zlib) of the UTF-8 bytes of string keys and of
// str() of integer keys, the paper's jump hash over 64-bit integers, and
// Python's floored %. It reads {"strings", "ints", "ns"} as JSON on stdin
// and writes {"md5": {key: [shard per n]}, ...}.
const pythonRecipes = `
import hashlib, json, sys, zlib
req = json.load(sys.stdin)
ns = req["ns"]
def md5(b): return [int(hashlib.md5(b).hexdigest(), 16) % n + 1 for n in ns]
def crc(b): return [zlib.crc32(b) % n + 1 for n in ns]
def jump(key, n):
    key &= (1 << 64) - 1
    b, j = -1, 0
    while j < n:
        b = j
        key = (key * 2862933555777941757 + 1) & ((1 << 64) - 1)
        j = int(float(b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b + 1
out = {"ns": ns, "md5": {}, "crc32": {}, "md5int": {}, "crc32int": {}, "jump": {}, "mod": {}}
for s in req["strings"]:
    b = s.encode("utf-8")
    out["md5"][s] = md5(b)
    out["crc32"][s] = crc(b)
for i in req["ints"]:
    b = str(i).encode("utf-8")
    out["md5int"][str(i)] = md5(b)
    out["crc32int"][str(i)] = crc(b)
    out["jump"][str(i)] = [jump(i, n) for n in ns if n < 2**31]
    out["mod"][str(i)] = [i % n + 1 for n in ns]
json.dump(out, sys.stdout, ensure_ascii=False, sort_keys=True, indent=1)
`

// vectors is the Python output: expected shards per key and shard count.
type vectors struct {
	Ns       []int            `json:"ns"`
	MD5      map[string][]int `json:"md5"`
	CRC32    map[string][]int `json:"crc32"`
	MD5Int   map[string][]int `json:"md5int"`
	CRC32Int map[string][]int `json:"crc32int"`
	Jump     map[string][]int `json:"jump"`
	Mod      map[string][]int `json:"mod"`
}

var (
	vectorNs = []int{1, 2, 3, 7, 10, 32, 33, 64, 100, 1000, 65537, 1<<31 - 1, 4294967311, 1<<62 + 3, math.MaxInt64}
	// vectorStrings: empty, ASCII, multi-byte UTF-8 (2, 3 and 4 bytes), NUL,
	// longer than one MD5 block.
	vectorStrings = []string{"", "a", "abc", "user-1", "name_42", "张三", "Ünïcödé", "😀 emoji", "nul\x00inside",
		"tab\tand\nnewline", strings.Repeat("long key ", 30)}
	vectorInts = []int64{0, 1, -1, 7, -7, 42, 1000000, 2718281828, math.MaxInt64, math.MinInt64}
)

// checkVectors compares every built-in scheme with v.
func checkVectors(t *testing.T, v vectors) {
	t.Helper()
	require.NotEmpty(t, v.Ns)
	count := 0
	for i, n := range v.Ns {
		schemes := map[Method]Scheme{}
		for _, m := range []Method{MD5, CRC32, Mod, Jump} {
			if m == Jump && n > math.MaxInt32 {
				continue
			}
			s, err := NewHash(m, n)
			require.NoError(t, err)
			schemes[m] = s
		}
		check := func(m Method, want map[string][]int, k Key, name string) {
			t.Helper()
			w, ok := want[name]
			require.True(t, ok, "no vector for %s key %q", m, name)
			if i >= len(w) {
				return
			}
			got, err := schemes[m].Shard(k)
			require.NoError(t, err)
			assert.Equal(t, w[i], got, "%s of %s, N=%d", m, k, n)
			count++
		}
		for s := range v.MD5 {
			check(MD5, v.MD5, String(s), s)
			check(CRC32, v.CRC32, String(s), s)
		}
		for name := range v.MD5Int {
			var x int64
			_, err := fmt.Sscan(name, &x)
			require.NoError(t, err)
			check(MD5, v.MD5Int, Int(x), name)
			check(CRC32, v.CRC32Int, Int(x), name)
			check(Mod, v.Mod, Int(x), name)
			if x >= 0 {
				check(MD5, v.MD5Int, Uint(uint64(x)), name)
				check(Mod, v.Mod, Uint(uint64(x)), name)
			}
			if n <= math.MaxInt32 {
				check(Jump, v.Jump, Int(x), name)
				check(Jump, v.Jump, Uint(uint64(x)), name)
			}
		}
	}
	require.Greater(t, count, 100)
}

// TestRecipesMatchPython runs the recipes in Python (hashlib, zlib) on
// keys that include the empty key, multi-byte UTF-8 and shard counts that
// are not powers of two (some above 2^32 and 2^62, so every bit of the
// 128-bit digest counts), and compares every answer.
func TestRecipesMatchPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: the recipes are checked against the committed vectors only (TestCommittedVectors)")
	}
	rng := rand.New(rand.NewPCG(16, 4))
	strs := append([]string(nil), vectorStrings...)
	for range 300 {
		var b strings.Builder
		for range rng.IntN(40) {
			// ASCII, Latin, CJK and astral characters.
			switch rng.IntN(4) {
			case 0:
				b.WriteRune(rune(' ' + rng.IntN(95)))
			case 1:
				b.WriteRune(rune(0xC0 + rng.IntN(0x180)))
			case 2:
				b.WriteRune(rune(0x4E00 + rng.IntN(0x5000)))
			default:
				b.WriteRune(rune(0x1F300 + rng.IntN(0x300)))
			}
		}
		strs = append(strs, b.String())
	}
	ints := append([]int64(nil), vectorInts...)
	for range 300 {
		ints = append(ints, int64(rng.Uint64()))
	}
	req, err := json.Marshal(map[string]any{"strings": strs, "ints": ints, "ns": vectorNs})
	require.NoError(t, err)
	cmd := exec.Command(py, "-c", pythonRecipes)
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "python3: %s", stderr.String())
	var v vectors
	require.NoError(t, json.Unmarshal(out, &v))
	uniq := map[string]bool{}
	for _, s := range strs {
		uniq[s] = true
	}
	require.Equal(t, len(uniq), len(v.MD5), "keys Python answered for")
	checkVectors(t, v)
}

// TestCommittedVectors checks the recipes against testdata/vectors.json,
// which the Python above wrote for vectorStrings, vectorInts and vectorNs
// (pythonRecipes given those inputs as JSON on stdin).
func TestCommittedVectors(t *testing.T) {
	data, err := os.ReadFile("testdata/vectors.json")
	require.NoError(t, err)
	var v vectors
	require.NoError(t, json.Unmarshal(data, &v))
	require.Equal(t, len(vectorStrings), len(v.MD5), "keys in the vectors")
	checkVectors(t, v)
	// Two answers anyone can check by hand in Python:
	// int(md5(b"").hexdigest(), 16) % 32 + 1 == 31 and
	// int(md5("张三".encode()).hexdigest(), 16) % 32 + 1 == 20.
	assert.Equal(t, v.MD5[""][5], 31)
	assert.Equal(t, v.MD5["张三"][5], 20)
}

// TestJumpStringHash pins the 64-bit hash of string keys under Jump to
// XXH64 with seed 0, by the reference implementation's published values.
func TestJumpStringHash(t *testing.T) {
	for s, want := range map[string]uint64{"": 0xef46db3751d8e999, "a": 0xd24ec4f1a98c6e5b, "abc": 0x44bc2cf5ad770999} {
		assert.Equal(t, want, xxhash.Sum64String(s), "XXH64(%q)", s)
		j, err := NewHash(Jump, 1000)
		require.NoError(t, err)
		got, err := j.Shard(String(s))
		require.NoError(t, err)
		assert.Equal(t, int(jumpHash(want, 1000))+1, got)
	}
}

func TestSchemeErrors(t *testing.T) {
	_, err := NewHash(MD5, 0)
	assert.EqualError(t, err, "shard: method md5: 0 shards: need at least 1")
	_, err = NewHash("sha1", 4)
	assert.ErrorContains(t, err, `unknown method "sha1"`)
	_, err = NewHash(Jump, math.MaxInt32+1)
	assert.ErrorContains(t, err, "at most 2147483647")
	m, err := NewHash(Mod, 4)
	require.NoError(t, err)
	_, err = m.Shard(String("x"))
	assert.True(t, errors.Is(err, ErrKeyKind))
	assert.EqualError(t, err, "shard: method mod: string key: key kind not supported by the routing method")
	for _, meth := range []Method{MD5, Jump, CRC32} {
		s, err := NewHash(meth, 4)
		require.NoError(t, err)
		_, err = s.Shard(Time(time.Now()))
		assert.ErrorIs(t, err, ErrKeyKind, "%s", meth)
	}
}

// chiSquareCritical is the chi-square distribution's upper 0.1% point for
// df degrees of freedom, by the Wilson-Hilferty approximation (within 0.2%
// of the tables for df >= 10: 61.10 for df = 31).
func chiSquareCritical(df int) float64 {
	const z = 3.090232 // standard normal upper 0.1% point
	d := float64(df)
	c := 1 - 2/(9*d) + z*math.Sqrt(2/(9*d))
	return d * c * c * c
}

// TestDistributionChiSquare routes 1M keys (string keys for the hashes of
// text, integer keys for jump and mod, from a fixed seed) into 32 and 37
// shards and checks the counts with a chi-square test at the 0.1% level:
// a sound hash fails it one run in a thousand, and the seed is fixed.
func TestDistributionChiSquare(t *testing.T) {
	const keys = 1_000_000
	for _, tc := range []struct {
		m    Method
		ints bool
	}{{MD5, false}, {MD5, true}, {CRC32, false}, {Jump, true}, {Jump, false}, {Mod, true}} {
		for _, n := range []int{32, 37} {
			t.Run(fmt.Sprintf("%s/ints=%v/N=%d", tc.m, tc.ints, n), func(t *testing.T) {
				s, err := NewHash(tc.m, n)
				require.NoError(t, err)
				rng := rand.New(rand.NewPCG(2024, uint64(n)))
				counts := make([]int, n)
				buf := make([]byte, 0, 16)
				for range keys {
					var k Key
					if tc.ints {
						k = Int(int64(rng.Uint64()))
					} else {
						buf = buf[:0]
						for range 6 + rng.IntN(10) {
							buf = append(buf, byte('a'+rng.IntN(26)))
						}
						k = String(string(buf))
					}
					got, err := s.Shard(k)
					require.NoError(t, err)
					counts[got-1]++
				}
				exp := float64(keys) / float64(n)
				chi := 0.0
				for _, c := range counts {
					chi += (float64(c) - exp) * (float64(c) - exp) / exp
				}
				limit := chiSquareCritical(n - 1)
				assert.Less(t, chi, limit, "chi-square %.2f over %d shards: counts %v", chi, n, counts)
			})
		}
	}
}

func TestChiSquareCritical(t *testing.T) {
	// Table values (NIST/SEMATECH e-Handbook, upper 0.1% points).
	assert.InDelta(t, 61.098, chiSquareCritical(31), 0.2)
	assert.InDelta(t, 67.985, chiSquareCritical(36), 0.2)
}

// FuzzMD5 checks the recipe against math/big on any key and shard count.
func FuzzMD5(f *testing.F) {
	f.Add("", uint64(32))
	f.Add("张三", uint64(33))
	f.Add("user-1", uint64(1<<62+3))
	f.Fuzz(func(t *testing.T, key string, n uint64) {
		if n == 0 || n > math.MaxInt64 {
			return
		}
		s, err := NewHash(MD5, int(n))
		require.NoError(t, err)
		got, err := s.Shard(String(key))
		require.NoError(t, err)
		h := md5Big(key)
		want := new(big.Int).Mod(h, new(big.Int).SetUint64(n)).Uint64() + 1
		require.Equal(t, want, uint64(got))
	})
}

func md5Big(key string) *big.Int {
	sum := md5sum([]byte(key))
	return new(big.Int).SetBytes(sum[:])
}

// FuzzJump checks jump's contract: shards 1..N, and growing N by one moves
// a key only to the new shard.
func FuzzJump(f *testing.F) {
	f.Add(int64(0), uint16(1))
	f.Add(int64(-1), uint16(32))
	f.Add(int64(math.MaxInt64), uint16(1000))
	f.Fuzz(func(t *testing.T, key int64, n uint16) {
		if n == 0 || n == math.MaxUint16 {
			return
		}
		a, _ := NewHash(Jump, int(n))
		b, _ := NewHash(Jump, int(n)+1)
		x, err := a.Shard(Int(key))
		require.NoError(t, err)
		y, err := b.Shard(Int(key))
		require.NoError(t, err)
		require.True(t, x >= 1 && x <= int(n))
		require.True(t, y == x || y == int(n)+1, "key %d: %d shards -> %d, %d shards -> %d", key, n, x, n+1, y)
	})
}

// FuzzCRC32Int checks the integer path (its own table loop) against the
// library over the decimal text.
func FuzzCRC32Int(f *testing.F) {
	f.Add(int64(0), uint32(7))
	f.Add(int64(math.MinInt64), uint32(32))
	f.Fuzz(func(t *testing.T, key int64, n uint32) {
		if n == 0 {
			return
		}
		s, _ := NewHash(CRC32, int(n))
		a, err := s.Shard(Int(key))
		require.NoError(t, err)
		b, err := s.Shard(String(fmt.Sprint(key)))
		require.NoError(t, err)
		require.Equal(t, b, a)
	})
}

// TestFuzzShort runs each fuzz target's seeds plus a few hundred random
// inputs, so the properties run in every test run.
func TestFuzzShort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		key := fmt.Sprint(rng.Uint64())
		n := rng.Uint64N(1<<40) + 1
		s, err := NewHash(MD5, int(n))
		require.NoError(t, err)
		got, err := s.Shard(String(key))
		require.NoError(t, err)
		want := new(big.Int).Mod(md5Big(key), new(big.Int).SetUint64(n)).Uint64() + 1
		require.Equal(t, want, uint64(got))
	}
}

func md5sum(b []byte) [16]byte { return md5.Sum(b) }
