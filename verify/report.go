package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
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
	Diffs     []RowDiff     `json:"diffs,omitempty"`
	Truncated bool          `json:"truncated,omitempty"`
	Duration  time.Duration `json:"duration_ns"`
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

// Clean reports whether no table has a differing row.
func (r *Report) Clean() bool { return r.Differences() == 0 }

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

// WriteText writes the report for people: a line per table, and a line per
// differing row listed.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	verdict := "equal"
	if !r.Clean() {
		verdict = fmt.Sprintf("%d differing rows", r.Differences())
	}
	fmt.Fprintf(&b, "verify %s -> %s: %d tables, %d rows, %s in %v\n",
		r.Source, r.Target, len(r.Tables), r.Rows(), verdict, r.Duration.Round(time.Millisecond))
	for _, t := range r.Tables {
		fmt.Fprintf(&b, "  %s.%s -> %s.%s: %d rows (target %d), %d chunks",
			t.SourceDatabase, t.SourceTable, t.TargetDatabase, t.TargetTable, t.Rows, t.TargetRows, t.Chunks)
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
		key := "(" + strings.Join(t.Key, ", ") + ")"
		for _, d := range t.Diffs {
			fmt.Fprintf(&b, "    %-7s %s = (%s)", d.Kind, key, strings.Join(d.Key, ", "))
			if d.Kind == Changed {
				var parts []string
				for _, c := range d.Columns {
					i := indexOf(t.Columns, c)
					parts = append(parts, fmt.Sprintf("%s: %s -> %s", c, d.Target[i], d.Source[i]))
				}
				fmt.Fprintf(&b, ": %s (target -> source)", strings.Join(parts, ", "))
			}
			b.WriteByte('\n')
		}
		if t.Truncated {
			fmt.Fprintf(&b, "    ... %d more not listed (sample limit)\n", t.Differences()-int64(len(t.Diffs)))
		}
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
