package shard

import (
	"errors"
	"fmt"
	"math"
)

// DirectoryEntry pins one key to a shard.
type DirectoryEntry struct {
	Key   Key
	Shard int
}

// Directory is a Scheme that looks keys up in an explicit table first (hot
// keys placed by hand) and routes every other key with a fallback scheme.
// Integer keys are compared by value whatever their kind (Int(7) and
// Uint(7) are one key); an integer key and a string key never match each
// other (Int(7) is not String("7")).
type Directory struct {
	fallback Scheme
	ints     map[int64]int
	uints    map[uint64]int // keys above MaxInt64
	strs     map[string]int
	entries  []DirectoryEntry
}

var _ Scheme = (*Directory)(nil)

// NewDirectory returns a Directory over fallback. Entries are integer or
// string keys with shards from 1 to fallback.Shards(); a key listed twice
// is an error naming it.
func NewDirectory(fallback Scheme, entries []DirectoryEntry) (*Directory, error) {
	if fallback == nil {
		return nil, errors.New("shard: directory: no fallback scheme")
	}
	d := &Directory{fallback: fallback, ints: map[int64]int{}, uints: map[uint64]int{}, strs: map[string]int{},
		entries: append([]DirectoryEntry(nil), entries...)}
	for _, e := range entries {
		if e.Shard < 1 || e.Shard > fallback.Shards() {
			return nil, fmt.Errorf("shard: directory entry %s: shard %d is not between 1 and %d", e.Key, e.Shard, fallback.Shards())
		}
		var dup bool
		switch k := normalInt(e.Key); k.kind {
		case KindInt:
			_, dup = d.ints[k.i]
			d.ints[k.i] = e.Shard
		case KindUint:
			_, dup = d.uints[k.u]
			d.uints[k.u] = e.Shard
		case KindString:
			_, dup = d.strs[k.s]
			d.strs[k.s] = e.Shard
		default:
			return nil, fmt.Errorf("shard: directory entry %s: keys are integers or strings, not %s", e.Key, e.Key.kind)
		}
		if dup {
			return nil, fmt.Errorf("shard: directory entry %s: key listed twice", e.Key)
		}
	}
	return d, nil
}

// normalInt turns a Uint key that fits an int64 into an Int key.
func normalInt(k Key) Key {
	if k.kind == KindUint && k.u <= math.MaxInt64 {
		return Int(int64(k.u))
	}
	return k
}

// Shard is the key's directory entry, or the fallback's answer.
func (d *Directory) Shard(k Key) (int, error) {
	var n int
	var ok bool
	switch k := normalInt(k); k.kind {
	case KindInt:
		n, ok = d.ints[k.i]
	case KindUint:
		n, ok = d.uints[k.u]
	case KindString:
		n, ok = d.strs[k.s]
	}
	if ok {
		return n, nil
	}
	return d.fallback.Shard(k)
}

// Shards is the fallback's shard count.
func (d *Directory) Shards() int { return d.fallback.Shards() }

// Method is the fallback's method.
func (d *Directory) Method() Method { return d.fallback.Method() }

// Fallback is the scheme for keys not in the directory.
func (d *Directory) Fallback() Scheme { return d.fallback }

// Entries returns the entries as given; callers must not modify it.
func (d *Directory) Entries() []DirectoryEntry { return d.entries }
