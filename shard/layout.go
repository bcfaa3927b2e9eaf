package shard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Layout declares a sharded table: how keys map to shard numbers (Method,
// Shards, Ranges, Directory) and where each shard lives (Database, Table,
// TablesPerDatabase, Instances). Shard n of N lives in database number
// m = (n-1)/K + 1 as its table number k = (n-1)%K + 1, where K is
// TablesPerDatabase; the names come from the templates, whose placeholders
// are {n}, {m} and {k}, optionally zero-padded ({n:2} gives 01..32).
//
// The seed's 32 tables in one database:
//
//	{"method": "md5", "shards": 32, "database": "db01", "table": "test_{n}"}
//
// Four databases of eight tables on two servers:
//
//	method: md5
//	shards: 32
//	tables_per_database: 8
//	database: db{m}
//	table: test_{n}
//	instances:
//	  - {name: a, databases: "1-2"}
//	  - {name: b, databases: "3-4"}
//
// A Layout is plain data: Validate (or Router) checks it, and every error
// names the entry at fault.
type Layout struct {
	Method Method `json:"method" yaml:"method"`
	// Shards is N. A range layout may leave it 0: one shard per range.
	Shards int `json:"shards,omitempty" yaml:"shards,omitempty"`
	// Database and Table are name templates.
	Database string `json:"database" yaml:"database"`
	Table    string `json:"table" yaml:"table"`
	// TablesPerDatabase is K; 0 means all N tables in one database.
	// N must be a multiple of K.
	TablesPerDatabase int `json:"tables_per_database,omitempty" yaml:"tables_per_database,omitempty"`
	// Instances places the databases on servers; empty means one server
	// (Location.Instance ""). Together they hold databases 1..M exactly
	// once.
	Instances []Instance `json:"instances,omitempty" yaml:"instances,omitempty"`
	// Ranges are the intervals of a range layout (Method Range only).
	Ranges []RangeSpec `json:"ranges,omitempty" yaml:"ranges,omitempty"`
	// Directory pins hot keys to shards ahead of Method.
	Directory []DirectorySpec `json:"directory,omitempty" yaml:"directory,omitempty"`
	// Column names the sharding key column (informational; the Vitess
	// VSchema needs it).
	Column string `json:"column,omitempty" yaml:"column,omitempty"`
}

// Instance is one server of a layout and the database numbers it holds:
// "m" or "m1-m2".
type Instance struct {
	Name      string `json:"name" yaml:"name"`
	Databases string `json:"databases" yaml:"databases"`
}

// RangeSpec is one shard's interval [From, To) in a layout file; an absent
// bound is open.
type RangeSpec struct {
	Shard int   `json:"shard" yaml:"shard"`
	From  Bound `json:"from,omitzero" yaml:"from,omitempty"`
	To    Bound `json:"to,omitzero" yaml:"to,omitempty"`
}

// DirectorySpec pins Key to Shard in a layout file. Key is an integer key
// when written as a number, else a string key.
type DirectorySpec struct {
	Key   DirKey `json:"key" yaml:"key"`
	Shard int    `json:"shard" yaml:"shard"`
}

// Bound is a range bound in a layout file: an integer, or a date
// (2006-01-02, UTC) or time (RFC 3339) in a string. The zero Bound is open.
type Bound struct{ Key Key }

// IsZero reports an open bound.
func (b Bound) IsZero() bool { return b.Key.kind == KindNone }

// MarshalJSON writes an integer, or a time as an RFC 3339 string.
func (b Bound) MarshalJSON() ([]byte, error) {
	switch b.Key.kind {
	case KindInt:
		return []byte(strconv.FormatInt(b.Key.i, 10)), nil
	case KindTime:
		return json.Marshal(b.Key.t.Format(time.RFC3339Nano))
	}
	return []byte("null"), nil
}

// UnmarshalJSON reads an integer, a date or time string, or null.
func (b *Bound) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*b = Bound{}
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		return b.parse(s, true)
	}
	return b.parse(string(data), false)
}

// UnmarshalYAML reads an integer or a date or time.
func (b *Bound) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a range bound is an integer or a date", n.Line)
	}
	if n.Tag == "!!null" {
		*b = Bound{}
		return nil
	}
	if err := b.parse(n.Value, n.Tag == "!!str"); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

func (b *Bound) parse(s string, quoted bool) error {
	if !quoted {
		i, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			b.Key = Int(i)
			return nil
		}
	}
	for _, f := range []string{"2006-01-02", time.RFC3339Nano} {
		if t, err := time.Parse(f, s); err == nil {
			b.Key = Time(t)
			return nil
		}
	}
	return fmt.Errorf("range bound %q: not an integer, a date (2006-01-02) or an RFC 3339 time", s)
}

// DirKey is a directory key in a layout file: a number is an integer key,
// a string a string key.
type DirKey struct{ Key Key }

// MarshalJSON writes an integer key as a number, a string key as a string.
func (d DirKey) MarshalJSON() ([]byte, error) {
	if d.Key.kind == KindInt {
		return []byte(strconv.FormatInt(d.Key.i, 10)), nil
	}
	return json.Marshal(d.Key.s)
}

// UnmarshalJSON reads a number or a string.
func (d *DirKey) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		d.Key = String(s)
		return nil
	}
	i, err := strconv.ParseInt(string(data), 10, 64)
	if err != nil {
		return fmt.Errorf("directory key %s: not an integer or a string", data)
	}
	d.Key = Int(i)
	return nil
}

// UnmarshalYAML reads an integer or a string.
func (d *DirKey) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a directory key is an integer or a string", n.Line)
	}
	if n.Tag == "!!int" {
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if err != nil {
			return fmt.Errorf("line %d: directory key %s: %w", n.Line, n.Value, err)
		}
		d.Key = Int(i)
		return nil
	}
	d.Key = String(n.Value)
	return nil
}

// LoadLayout reads a layout file: YAML when its name ends in .yaml or
// .yml, else JSON. Unknown fields are errors; the layout is validated.
func LoadLayout(path string) (*Layout, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("shard: layout: %w", err)
	}
	format := "json"
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".yaml" || ext == ".yml" {
		format = "yaml"
	}
	l, err := ParseLayout(data, format)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// ParseLayout decodes a layout from JSON or YAML (format "json" or
// "yaml") and validates it.
func ParseLayout(data []byte, format string) (*Layout, error) {
	var l Layout
	switch format {
	case "json":
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return nil, fmt.Errorf("shard: layout: %w", err)
		}
	case "yaml":
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&l); err != nil {
			return nil, fmt.Errorf("shard: layout: %w", err)
		}
	default:
		return nil, fmt.Errorf("shard: layout format %q: want json or yaml", format)
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return &l, nil
}

// Validate checks the layout: a known method, at least one shard, sound
// templates, instances that hold every database once, ranges without gaps
// or overlaps, directory entries within the shards, and no two shards at
// one location.
func (l *Layout) Validate() error {
	_, err := l.Router()
	return err
}

// Router validates the layout and returns its Router.
func (l *Layout) Router() (*Map, error) {
	s, err := l.Scheme()
	if err != nil {
		return nil, err
	}
	locs, err := l.locations(s.Shards())
	if err != nil {
		return nil, err
	}
	return NewMap(s, locs)
}

// Scheme validates the key-to-shard half of the layout and returns it.
func (l *Layout) Scheme() (Scheme, error) {
	var s Scheme
	var err error
	if l.Method == Range {
		rs := make([]Interval, len(l.Ranges))
		for i, r := range l.Ranges {
			rs[i] = Interval{Shard: r.Shard, From: r.From.Key, To: r.To.Key}
		}
		if l.Shards != 0 && l.Shards != len(rs) {
			return nil, fmt.Errorf("shard: layout: %d shards but %d ranges", l.Shards, len(rs))
		}
		s, err = NewRanges(rs)
	} else {
		if len(l.Ranges) > 0 {
			return nil, fmt.Errorf("shard: layout: method %s: ranges are for method range", l.Method)
		}
		s, err = NewHash(l.Method, l.Shards)
	}
	if err != nil {
		return nil, err
	}
	if len(l.Directory) == 0 {
		return s, nil
	}
	es := make([]DirectoryEntry, len(l.Directory))
	for i, d := range l.Directory {
		es[i] = DirectoryEntry{Key: d.Key.Key, Shard: d.Shard}
	}
	return NewDirectory(s, es)
}

// MaxShards bounds the shards of a Layout (each is a table to name and,
// later, to create).
const MaxShards = 1 << 16

// locations names the n shards' locations.
func (l *Layout) locations(n int) ([]Location, error) {
	if n > MaxShards {
		return nil, fmt.Errorf("shard: layout: %d shards: at most %d", n, MaxShards)
	}
	dbT, err := parseTemplate(l.Database)
	if err != nil {
		return nil, fmt.Errorf("shard: layout: database: %w", err)
	}
	tT, err := parseTemplate(l.Table)
	if err != nil {
		return nil, fmt.Errorf("shard: layout: table: %w", err)
	}
	k := l.TablesPerDatabase
	switch {
	case k == 0:
		k = n
	case k < 0:
		return nil, fmt.Errorf("shard: layout: tables_per_database %d: need at least 1", k)
	case n%k != 0:
		return nil, fmt.Errorf("shard: layout: %d shards is not a multiple of tables_per_database %d", n, k)
	}
	m := n / k
	if m > 1 && !dbT.has('m') && !tT.has('m') && !tT.has('n') && len(l.Instances) <= 1 {
		return nil, fmt.Errorf("shard: layout: %d databases but neither the database template %q nor the table template %q tells them apart (use {m})", m, l.Database, l.Table)
	}
	inst, err := l.instanceOf(m)
	if err != nil {
		return nil, err
	}
	locs := make([]Location, n)
	where := make(map[Location]int, n)
	for i := range locs {
		sn, mi, ki := i+1, i/k+1, i%k+1
		loc := Location{Shard: sn, Instance: inst[mi], Database: dbT.expand(sn, mi, ki), Table: tT.expand(sn, mi, ki)}
		for what, name := range map[string]string{"database": loc.Database, "table": loc.Table} {
			if err := checkName(name); err != nil {
				return nil, fmt.Errorf("shard: layout: shard %d: %s name %q: %w", sn, what, name, err)
			}
		}
		key := loc
		key.Shard = 0
		if prev, ok := where[key]; ok {
			return nil, fmt.Errorf("shard: layout: shards %d and %d are both at %s: the templates must tell shards apart", prev, sn, key)
		}
		where[key] = sn
		locs[i] = loc
	}
	return locs, nil
}

// checkName refuses names MariaDB and MySQL cannot create.
func checkName(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case len(s) > 64:
		return errors.New("longer than 64 characters")
	case strings.HasSuffix(s, " "):
		return errors.New("ends in a space")
	case strings.ContainsRune(s, 0):
		return errors.New("contains NUL")
	}
	return nil
}

// instanceOf maps database numbers 1..m to instance names.
func (l *Layout) instanceOf(m int) (map[int]string, error) {
	out := make(map[int]string, m)
	if len(l.Instances) == 0 {
		return out, nil
	}
	names := map[string]bool{}
	for _, in := range l.Instances {
		if in.Name == "" {
			return nil, fmt.Errorf("shard: layout: instance holding databases %q: no name", in.Databases)
		}
		if names[in.Name] {
			return nil, fmt.Errorf("shard: layout: instance %q listed twice", in.Name)
		}
		names[in.Name] = true
		lo, hi, err := parseSpan(in.Databases)
		if err != nil {
			return nil, fmt.Errorf("shard: layout: instance %q: databases: %w", in.Name, err)
		}
		for d := lo; d <= hi; d++ {
			if d > m {
				return nil, fmt.Errorf("shard: layout: instance %q: database %d: the layout has %d databases", in.Name, d, m)
			}
			if prev, ok := out[d]; ok {
				return nil, fmt.Errorf("shard: layout: instances %q and %q overlap: both hold database %d", prev, in.Name, d)
			}
			out[d] = in.Name
		}
	}
	for d := 1; d <= m; d++ {
		if _, ok := out[d]; !ok {
			return nil, fmt.Errorf("shard: layout: instances leave a gap: no instance holds database %d", d)
		}
	}
	return out, nil
}

// parseSpan reads "m" or "m1-m2".
func parseSpan(s string) (int, int, error) {
	a, b, isSpan := strings.Cut(strings.TrimSpace(s), "-")
	lo, err := strconv.Atoi(strings.TrimSpace(a))
	hi := lo
	if err == nil && isSpan {
		hi, err = strconv.Atoi(strings.TrimSpace(b))
	}
	if err != nil || lo < 1 || hi < lo {
		return 0, 0, fmt.Errorf("%q: want a database number or a span like 1-4", s)
	}
	return lo, hi, nil
}

// Map is the Router of a layout: a Scheme that numbers the shards and the
// location of each.
type Map struct {
	scheme Scheme
	locs   []Location
}

var _ Router = (*Map)(nil)

// NewMap returns the Router that sends shard n of s to locs[n-1]. There is
// one location per shard, numbered in order, no two alike.
func NewMap(s Scheme, locs []Location) (*Map, error) {
	if s == nil {
		return nil, errors.New("shard: no scheme")
	}
	if len(locs) != s.Shards() {
		return nil, fmt.Errorf("shard: %d locations for %d shards", len(locs), s.Shards())
	}
	seen := make(map[Location]int, len(locs))
	for i, l := range locs {
		if l.Shard != i+1 {
			return nil, fmt.Errorf("shard: location %s: numbered %d, in place %d", l, l.Shard, i+1)
		}
		l.Shard = 0
		if prev, ok := seen[l]; ok {
			return nil, fmt.Errorf("shard: shards %d and %d are both at %s", prev, i+1, l)
		}
		seen[l] = i + 1
	}
	return &Map{scheme: s, locs: append([]Location(nil), locs...)}, nil
}

// Route returns the location of k's shard.
func (m *Map) Route(k Key) (Location, error) {
	var n int
	var err error
	if s, ok := m.scheme.(*md5Scheme); ok {
		n, err = s.shard(&k)
	} else {
		n, err = m.scheme.Shard(k)
	}
	if err != nil {
		return Location{}, err
	}
	return m.locs[n-1], nil
}

// Locations lists every location in shard order; callers must not modify
// it.
func (m *Map) Locations() []Location { return m.locs }

// Scheme is the key-to-shard-number half of the router.
func (m *Map) Scheme() Scheme { return m.scheme }
