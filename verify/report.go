package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/internal/schema"
	"github.com/shiftgate/shiftgate/internal/termtext"
)

// DiffKind says how a row differs.
type DiffKind string

// The kinds of difference.
const (
	// Missing: the row is on the source but not on the target.
	Missing DiffKind = "missing"
	// Extra: the row is on the target but not on the source.
	Extra DiffKind = "extra"
	// Changed: the row is on both sides with different values.
	Changed DiffKind = "changed"
)

// RowDiff is one differing row. Values are exact SQL literals ('text',
// X'00FF', 12.50, NULL), in the order of TableReport.Columns.
type RowDiff struct {
	Kind DiffKind `json:"kind"`
	// Key is the row key's values, in the order of TableReport.Key.
	Key []string `json:"key"`
	// Source is the row on the source (Missing, Changed).
	Source []string `json:"source,omitempty"`
	// Target is the row on the target (Extra, Changed).
	Target []string `json:"target,omitempty"`
	// Columns names the columns whose values differ (Changed).
	Columns []string `json:"columns,omitempty"`
}

// TableReport is the result for one table pair.
type TableReport struct {
	SourceDatabase string `json:"source_database"`
	SourceTable    string `json:"source_table"`
	TargetDatabase string `json:"target_database"`
	TargetTable    string `json:"target_table"`
	// Key is the row key the rows were matched and chunked by.
	Key []string `json:"key"`
	// Columns are the columns compared.
	Columns []string `json:"columns"`
	Where   string   `json:"where,omitempty"`
	// Rows and TargetRows are the rows compared on each side.
	Rows       int64 `json:"rows"`
	TargetRows int64 `json:"target_rows"`
	// Chunks is the number of chunks checksummed; DifferingChunks those
	// whose rows were then compared; Rechecked those that differed at
	// first but matched on a recheck (see WithRecheck).
	Chunks          int `json:"chunks"`
	DifferingChunks int `json:"differing_chunks"`
	Rechecked       int `json:"rechecked,omitempty"`
	// SettledRows counts rows that differed but were equal when read
	// again after the recheck delay (see WithRecheck): not reported.
	SettledRows int64 `json:"settled_rows,omitempty"`
	// Missing, Extra and Changed count the differing rows.
	Missing int64 `json:"missing"`
	Extra   int64 `json:"extra"`
	Changed int64 `json:"changed"`
	// Diffs lists differing rows in key order; at most the sample limit
	// (see WithSampleLimit), in which case Truncated is set.
	Diffs     []RowDiff `json:"diffs,omitempty"`
	Truncated bool      `json:"truncated,omitempty"`
	// ColumnDiffs lists the compared columns defined differently on the
	// two sides (type, collation or NULL): their values are compared all
	// the same, but the target may not hold every value the source can.
	ColumnDiffs []ColumnDiff `json:"column_diffs,omitempty"`
	// TargetTriggers are the triggers of the target table. Repair refuses a
	// table whose triggers fire on its statements (see Repair).
	TargetTriggers []Trigger     `json:"target_triggers,omitempty"`
	Duration       time.Duration `json:"duration_ns"`
}

// ColumnDiff is a compared column defined differently on the two sides.
// Source and Target are its definitions as "varchar(45) COLLATE
// utf8mb4_general_ci NOT NULL" (integer display widths left out).
type ColumnDiff struct {
	Column string `json:"column"`
	Source string `json:"source"`
	Target string `json:"target"`
}

// TableName names a table.
type TableName struct {
	Database string `json:"database"`
	Table    string `json:"table"`
}

// Trigger is a trigger of a target table.
type Trigger struct {
	Name string `json:"name"`
	// Timing is BEFORE or AFTER; Event is INSERT, UPDATE or DELETE.
	Timing string `json:"timing"`
	Event  string `json:"event"`
}

func (t Trigger) String() string {
	return schema.QuoteIdent(t.Name) + " (" + t.Timing + " " + t.Event + ")"
}

// Unverified is a table pair Verify could not compare, with the reason.
type Unverified struct {
	SourceDatabase string `json:"source_database"`
	SourceTable    string `json:"source_table"`
	TargetDatabase string `json:"target_database"`
	TargetTable    string `json:"target_table"`
	// Side is the side at fault.
	Side Side `json:"side"`
	// Reason says why, such as "does not exist" or "no primary key or
	// unique NOT NULL key".
	Reason string `json:"reason"`
	// Err is the error, a *TableError wrapping one of the sentinel errors
	// (ErrNotFound, ErrNoKey, ErrMismatch, ErrUnsupported).
	Err error `json:"-"`
}

// Differences is the number of differing rows.
func (t *TableReport) Differences() int64 { return t.Missing + t.Extra + t.Changed }

// Report is the result of Verify.
type Report struct {
	// Source and Target are the servers, as @@hostname:@@port.
	Source   string         `json:"source"`
	Target   string         `json:"target"`
	Snapshot string         `json:"snapshot"`
	Started  time.Time      `json:"started"`
	Duration time.Duration  `json:"duration_ns"`
	Tables   []*TableReport `json:"tables"`
	// Unverified lists the pairs that could not be compared, in the order
	// given; the others are in Tables.
	Unverified []*Unverified `json:"unverified,omitempty"`
	// TargetOnly names the tables of the target database that have no
	// table of the same name on the source (VerifyDatabase fills it): not
	// compared.
	TargetOnly []TableName `json:"target_only,omitempty"`

	batchRows int
}

// Differences is the number of differing rows over all tables.
func (r *Report) Differences() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Differences()
	}
	return n
}

// ColumnDiffs is the number of columns defined differently on the two
// sides over all tables.
func (r *Report) ColumnDiffs() int {
	n := 0
	for _, t := range r.Tables {
		n += len(t.ColumnDiffs)
	}
	return n
}

// Complete reports whether every pair given was compared.
func (r *Report) Complete() bool { return len(r.Unverified) == 0 }

// Clean reports whether the target matches: every pair was compared, no
// row differs and the compared columns are defined alike.
func (r *Report) Clean() bool {
	return r.Complete() && r.Differences() == 0 && r.ColumnDiffs() == 0
}

// SameDifferences reports whether r and other list the same differing
// rows, with the same values on both sides: a repair between the two
// verifications changed nothing.
func (r *Report) SameDifferences(other *Report) bool {
	return slices.EqualFunc(r.Tables, other.Tables, func(a, b *TableReport) bool {
		return a.TargetDatabase == b.TargetDatabase && a.TargetTable == b.TargetTable &&
			a.Missing == b.Missing && a.Extra == b.Extra && a.Changed == b.Changed &&
			slices.EqualFunc(a.Diffs, b.Diffs, func(x, y RowDiff) bool {
				return x.Kind == y.Kind && slices.Equal(x.Key, y.Key) && slices.Equal(x.Source, y.Source) && slices.Equal(x.Target, y.Target)
			})
	})
}

// Rows is the number of source rows compared over all tables.
func (r *Report) Rows() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Rows
	}
	return n
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for people: a line per table, a line per
// differing row listed and per column defined differently, then the pairs
// not compared with the reason. Names, values and messages are escaped
// with termtext: nothing in them acts on a terminal.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	line := termtext.Line
	var verdict []string
	if n := r.Differences(); n > 0 {
		verdict = append(verdict, fmt.Sprintf("%d differing rows", n))
	}
	if n := r.ColumnDiffs(); n > 0 {
		verdict = append(verdict, fmt.Sprintf("%d columns defined differently", n))
	}
	if n := len(r.Unverified); n > 0 {
		verdict = append(verdict, fmt.Sprintf("%d tables not compared", n))
	}
	if len(verdict) == 0 {
		verdict = append(verdict, "equal")
	}
	fmt.Fprintf(&b, "verify %s -> %s: %d tables, %d rows, %s in %v\n",
		line(r.Source), line(r.Target), len(r.Tables), r.Rows(), strings.Join(verdict, ", "), r.Duration.Round(time.Millisecond))
	for _, t := range r.Tables {
		fmt.Fprintf(&b, "  %s.%s -> %s.%s: %d rows (target %d), %d chunks",
			line(t.SourceDatabase), line(t.SourceTable), line(t.TargetDatabase), line(t.TargetTable), t.Rows, t.TargetRows, t.Chunks)
		if t.DifferingChunks > 0 {
			fmt.Fprintf(&b, " (%d differing)", t.DifferingChunks)
		}
		if t.Rechecked > 0 {
			fmt.Fprintf(&b, " (%d equal on recheck)", t.Rechecked)
		}
		if t.SettledRows > 0 {
			fmt.Fprintf(&b, " (%d rows equal on recheck)", t.SettledRows)
		}
		if t.Differences() == 0 {
			b.WriteString(", equal")
		} else {
			fmt.Fprintf(&b, ", %d missing, %d extra, %d changed", t.Missing, t.Extra, t.Changed)
		}
		fmt.Fprintf(&b, " in %v\n", t.Duration.Round(time.Millisecond))
		for _, c := range t.ColumnDiffs {
			fmt.Fprintf(&b, "    column %s is %s on the target, %s on the source\n", line(c.Column), line(c.Target), line(c.Source))
		}
		key := line("(" + strings.Join(t.Key, ", ") + ")")
		for _, d := range t.Diffs {
			fmt.Fprintf(&b, "    %-7s %s = (%s)", d.Kind, key, line(strings.Join(d.Key, ", ")))
			if d.Kind == Changed {
				var parts []string
				for _, c := range d.Columns {
					i := indexOf(t.Columns, c)
					parts = append(parts, fmt.Sprintf("%s: %s -> %s", line(c), line(d.Target[i]), line(d.Source[i])))
				}
				fmt.Fprintf(&b, ": %s (target -> source)", strings.Join(parts, ", "))
			}
			b.WriteByte('\n')
		}
		if t.Truncated {
			fmt.Fprintf(&b, "    ... %d more not listed (sample limit)\n", t.Differences()-int64(len(t.Diffs)))
		}
	}
	for _, u := range r.Unverified {
		fmt.Fprintf(&b, "  %s.%s -> %s.%s: not compared: %s table: %s\n", line(u.SourceDatabase), line(u.SourceTable),
			line(u.TargetDatabase), line(u.TargetTable), u.Side, line(u.Reason))
	}
	for _, n := range r.TargetOnly {
		fmt.Fprintf(&b, "  target table %s.%s is not on the source: not compared\n", line(n.Database), line(n.Table))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}
