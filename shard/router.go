package shard

import (
	"fmt"
	"time"
)

// Location is where one shard lives.
type Location struct {
	// Shard is the shard's number, from 1.
	Shard int `json:"shard"`
	// Instance names the server that holds it, as the layout names it (""
	// when the layout has one server).
	Instance string `json:"instance,omitempty"`
	Database string `json:"database"`
	Table    string `json:"table"`
}

// String is instance/database.table, for messages.
func (l Location) String() string {
	s := l.Database + "." + l.Table
	if l.Instance != "" {
		s = l.Instance + "/" + s
	}
	return s
}

// Router maps a sharding key to the location that holds it.
//
// Contract: Route is safe for concurrent use, deterministic (one key, one
// location, for the life of the layout) and allocates nothing for the
// keys its method supports; it returns an error naming the key's kind
// when the method cannot route it. Locations lists every location in
// shard order; callers must not modify it.
type Router interface {
	Route(k Key) (Location, error)
	Locations() []Location
}

// KeyKind is the kind of value a Key holds.
type KeyKind uint8

// The kinds of sharding key.
const (
	KindNone KeyKind = iota
	KindInt
	KindUint
	KindString
	KindTime
)

func (k KeyKind) String() string {
	switch k {
	case KindInt:
		return "int"
	case KindUint:
		return "uint"
	case KindString:
		return "string"
	case KindTime:
		return "time"
	}
	return "none"
}

// Key is a sharding key. It is a small value, built by Int, Uint, String
// or Time, so that routing one allocates nothing.
type Key struct {
	kind KeyKind
	i    int64
	u    uint64
	s    string
	t    time.Time
}

// Int is an integer key.
func Int(v int64) Key { return Key{kind: KindInt, i: v} }

// Uint is an unsigned integer key.
func Uint(v uint64) Key { return Key{kind: KindUint, u: v} }

// String is a string key; hashed routers hash its UTF-8 bytes.
func String(s string) Key { return Key{kind: KindString, s: s} }

// Time is a date or time key, for range layouts.
func Time(t time.Time) Key { return Key{kind: KindTime, t: t} }

// Kind is the kind of value k holds.
func (k Key) Kind() KeyKind { return k.kind }

// Int returns an integer key's value.
func (k Key) Int() int64 { return k.i }

// Uint returns an unsigned key's value.
func (k Key) Uint() uint64 { return k.u }

// Str returns a string key's value.
func (k Key) Str() string { return k.s }

// Time returns a time key's value.
func (k Key) Time() time.Time { return k.t }

// String formats the key for messages.
func (k Key) String() string {
	switch k.kind {
	case KindInt:
		return fmt.Sprint(k.i)
	case KindUint:
		return fmt.Sprint(k.u)
	case KindString:
		return fmt.Sprintf("%q", k.s)
	case KindTime:
		return k.t.Format(time.RFC3339Nano)
	}
	return "<none>"
}
