package dualwrite

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shiftgate/shiftgate/internal/rowchange"
	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// Entry is one captured change as the outbox holds it: the state of the
// row of Key in Table after the capturing transaction, or its deletion.
type Entry struct {
	ID      uint64 `json:"id"`
	Bucket  int    `json:"bucket"`
	Version uint64 `json:"version"` // the key's version: 1, 2, ... per key
	Table   string `json:"table"`   // the declared table, on the primary
	// Key is the primary key values' text as a JSON array (binary values
	// in base64).
	Key string `json:"key"`
	// Row is the row as a JSON object by column name (binary values in
	// base64, TIMESTAMP as seconds since the epoch); nil for a deletion.
	Row      json.RawMessage `json:"row,omitempty"`
	Created  time.Time       `json:"created"`
	Attempts int             `json:"attempts,omitempty"`
}

// createdMicros reads created_at (UTC) as microseconds since the epoch,
// whatever the driver's parseTime.
const createdMicros = "TIMESTAMPDIFF(MICROSECOND, '1970-01-01', created_at)"

// Deleted reports an entry that records the row's deletion.
func (e *Entry) Deleted() bool { return e.Row == nil }

// shapes caches the shapes of changes, by target table and columns.
type shapes struct {
	mu sync.Mutex
	m  map[string]*rowchange.Shape
}

func (s *shapes) get(t rowchange.Table, cols []string, key []string) *rowchange.Shape {
	id := t.Name + "\x00" + strings.Join(cols, "\x00")
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh, ok := s.m[id]; ok {
		return sh
	}
	sh := &rowchange.Shape{Table: t, Columns: cols}
	for _, k := range key {
		if i := slices.Index(cols, k); i >= 0 {
			sh.Key = append(sh.Key, i)
		}
	}
	if s.m == nil {
		s.m = map[string]*rowchange.Shape{}
	}
	s.m[id] = sh
	return sh
}

// Change turns e into the change its target table takes: an Insert (a
// put by key) of the mapped row, or a Delete of the mapped key. The
// change's table is the target table in the primary's database name (an
// applier puts it in its own database).
func (o *Outbox) Change(e *Entry) (rowchange.Change, error) {
	tb, ok := o.tables[e.Table]
	if !ok {
		return rowchange.Change{}, fmt.Errorf("dualwrite: outbox entry %d: table %q: %w", e.ID, e.Table, ErrUnknownTable)
	}
	row, err := tb.decode(e)
	if err != nil {
		return rowchange.Change{}, fmt.Errorf("dualwrite: outbox entry %d of table %s: %w", e.ID, tb.qname, err)
	}
	if tb.Map != nil {
		if row, err = tb.Map(row); err != nil {
			return rowchange.Change{}, fmt.Errorf("dualwrite: outbox entry %d of table %s: mapping: %w", e.ID, tb.qname, err)
		}
	}
	cols := make([]string, 0, len(row))
	for c := range row {
		cols = append(cols, c)
	}
	slices.Sort(cols)
	values := make([]any, len(cols))
	for i, c := range cols {
		values[i] = row[c]
	}
	sh := o.shapes.get(rowchange.Table{Schema: o.database, Name: tb.target}, cols, tb.key)
	if e.Deleted() {
		return rowchange.Change{Shape: sh, Op: rowchange.Delete, Before: values}, nil
	}
	return rowchange.Change{Shape: sh, Op: rowchange.Insert, After: values}, nil
}

// decode reads e's row, or its key for a deletion, by column name.
func (tb *table) decode(e *Entry) (Row, error) {
	if e.Deleted() {
		var texts []string
		if err := json.Unmarshal([]byte(e.Key), &texts); err != nil || len(texts) != len(tb.key) {
			return nil, fmt.Errorf("key %s: %w", e.Key, ErrKey)
		}
		row := Row{}
		for i, name := range tb.key {
			v, err := decodeValue(tb.def.Column(name), strconv.Quote(texts[i]))
			if err != nil {
				return nil, err
			}
			row[name] = v
		}
		return row, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(e.Row, &raw); err != nil {
		return nil, fmt.Errorf("row: %w", err)
	}
	row := make(Row, len(raw))
	for name, r := range raw {
		c := tb.def.Column(name)
		if c == nil {
			return nil, fmt.Errorf("column %s: %w", schema.QuoteIdent(name), schema.ErrNotFound)
		}
		v, err := decodeValue(c, string(r))
		if err != nil {
			return nil, err
		}
		row[c.Name] = v
	}
	return row, nil
}

// decodeValue reads one captured JSON value of column c as a rowchange
// value.
func decodeValue(c *schema.Column, raw string) (any, error) {
	if raw == "null" {
		return nil, nil
	}
	text := raw
	if strings.HasPrefix(raw, `"`) {
		if err := json.Unmarshal([]byte(raw), &text); err != nil {
			return nil, fmt.Errorf("column %s: %w", schema.QuoteIdent(c.Name), err)
		}
	}
	bad := func(err error) error {
		return fmt.Errorf("column %s: value %q: %w", schema.QuoteIdent(c.Name), text, err)
	}
	switch c.DataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year":
		if c.Unsigned {
			v, err := strconv.ParseUint(text, 10, 64)
			if err != nil {
				return nil, bad(err)
			}
			return v, nil
		}
		v, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, bad(err)
		}
		return v, nil
	case "bit":
		v, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return nil, bad(err)
		}
		return v, nil
	case "float":
		v, err := strconv.ParseFloat(text, 32)
		if err != nil {
			return nil, bad(err)
		}
		return float32(v), nil
	case "double", "real":
		v, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, bad(err)
		}
		return v, nil
	case "timestamp":
		return timestampText(text)
	}
	if rowcodec.KindOf(c.DataType) == rowcodec.Binary {
		v, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return nil, bad(err)
		}
		return v, nil
	}
	return text, nil
}

// timestampText turns UNIX_TIMESTAMP's seconds into UTC SQL text; 0 is
// the zero TIMESTAMP. Text that is not a number (a key the host gave) is
// returned as it is.
func timestampText(secs string) (any, error) {
	r, ok := new(big.Rat).SetString(secs)
	if !ok {
		return secs, nil
	}
	if r.Sign() == 0 {
		return "0000-00-00 00:00:00", nil
	}
	micros := new(big.Rat).Mul(r, big.NewRat(1e6, 1))
	us := new(big.Int).Quo(micros.Num(), micros.Denom()).Int64()
	return time.UnixMicro(us).UTC().Format("2006-01-02 15:04:05.000000"), nil
}
