package verify

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/termtext"
	"github.com/shiftgate/shiftgate/shard"
)

// The kinds of difference only a sharded verify reports (ShardDiff).
const (
	// Misplaced: the source's row is in one shard that is not the one its
	// key routes to, and not in that one.
	Misplaced DiffKind = "misplaced"
	// Duplicated: the source's row is in several shards (with or without
	// the one its key routes to).
	Duplicated DiffKind = "duplicated"
)

// ShardDiff is one key whose rows in the shards are not exactly one copy
// of the source's row in the shard the key routes to. Values are exact
// SQL literals, in the order of ShardedReport.Columns.
//
//   - Missing: the source's row is in no shard.
//   - Extra: shards hold the key, which is not on the source.
//   - Changed: the row is in its shard only, with other values.
//   - Misplaced: the row is in one other shard only (Columns names the
//     columns whose values differ there, if any).
//   - Duplicated: the row is in several shards; Columns names the
//     columns that differ in the copy in its own shard, if any.
type ShardDiff struct {
	Kind DiffKind `json:"kind"`
	// Key is the row key's values, in the order of ShardedReport.Key.
	Key []string `json:"key"`
	// Shard is the number of the shard the source's row routes to (0 for
	// Extra: the source has no row of the key).
	Shard int `json:"shard,omitempty"`
	// Source is the source's row (all kinds but Extra).
	Source []string `json:"source,omitempty"`
	// Found lists the shards that hold the key, in shard order, with their
	// row (empty for Missing).
	Found []ShardRow `json:"found,omitempty"`
	// Columns names the columns whose values differ from the source's
	// (see the kinds above).
	Columns []string `json:"columns,omitempty"`
}

// ShardRow is a row of a key in one shard.
type ShardRow struct {
	Shard  int      `json:"shard"`
	Values []string `json:"values"`
}

// ShardReport is what one shard must change to hold exactly the source's
// rows that route to it: its TableReport against the source table
// restricted to those rows (Rows counts them, TargetRows the shard's),
// whose Diffs are the rows to delete (Extra), insert (Missing) and update
// (Changed) there. It is what the repair of the shard runs.
type ShardReport struct {
	Location shard.Location `json:"location"`
	// Server is the shard's server, as @@hostname:@@port.
	Server string `json:"server"`
	*TableReport
}

// SourceShard is one table of a source layout and its server (as
// @@hostname:@@port).
type SourceShard struct {
	Location shard.Location `json:"location"`
	Server   string         `json:"server"`
}

// ShardedReport is the result of ShardedVerifier.Verify.
type ShardedReport struct {
	// Source is the source's server, as @@hostname:@@port.
	// For a source layout (NewResharded) they are those of its first
	// table, and SourceShards lists all its tables.
	Source         string `json:"source"`
	SourceDatabase string `json:"source_database"`
	SourceTable    string `json:"source_table"`
	// SourceShards lists the tables of a source layout, in shard order
	// (empty for one source table).
	SourceShards []SourceShard `json:"source_shards,omitempty"`
	// ShardKey is the column (quoted) or expression rows are routed on.
	ShardKey string `json:"shard_key"`
	// Key is the row key rows are matched and chunked by; Columns the
	// columns compared.
	Key      []string      `json:"key"`
	Columns  []string      `json:"columns"`
	Snapshot string        `json:"snapshot"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	// Rows are the source's rows compared, ShardRows the rows of all
	// shards in the same key ranges.
	Rows      int64 `json:"rows"`
	ShardRows int64 `json:"shard_rows"`
	// Chunks is the number of source key ranges checksummed;
	// DifferingChunks those where some shard differed.
	Chunks          int `json:"chunks"`
	DifferingChunks int `json:"differing_chunks"`
	// The differing keys by kind.
	Missing    int64 `json:"missing"`
	Extra      int64 `json:"extra"`
	Changed    int64 `json:"changed"`
	Misplaced  int64 `json:"misplaced"`
	Duplicated int64 `json:"duplicated"`
	// Diffs lists the differing keys in key order; at most the sample
	// limit (see WithSampleLimit), in which case Truncated is set.
	Diffs     []ShardDiff `json:"diffs,omitempty"`
	Truncated bool        `json:"truncated,omitempty"`
	// Shards has one report per location, in the router's order: what
	// each shard must change for the keys in Diffs.
	Shards []*ShardReport `json:"shards"`
	// Unverified lists the shards that cannot be compared with the source
	// as defined; when it is not empty no row was compared.
	Unverified []*Unverified `json:"unverified,omitempty"`

	batchRows int
}

// Differences is the number of differing keys.
func (r *ShardedReport) Differences() int64 {
	return r.Missing + r.Extra + r.Changed + r.Misplaced + r.Duplicated
}

// Clean reports whether the shards hold exactly the source's rows, each
// once and where it routes: every shard was compared, no key differs and
// the compared columns are defined alike in every shard.
func (r *ShardedReport) Clean() bool {
	if len(r.Unverified) > 0 || r.Differences() > 0 {
		return false
	}
	for _, s := range r.Shards {
		if len(s.ColumnDiffs) > 0 {
			return false
		}
	}
	return true
}

// WriteJSON writes the report as indented JSON.
func (r *ShardedReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for people: a summary line, a line per
// differing key listed, a line per shard that differs, then the shards not
// compared. Names, values and messages are escaped with termtext.
func (r *ShardedReport) WriteText(w io.Writer) error {
	var b strings.Builder
	line := termtext.Line
	verdict := "equal"
	switch {
	case len(r.Unverified) > 0:
		verdict = fmt.Sprintf("%d shards not compared", len(r.Unverified))
	case r.Differences() > 0:
		verdict = fmt.Sprintf("%d differing keys: %d missing, %d extra, %d changed, %d misplaced, %d duplicated",
			r.Differences(), r.Missing, r.Extra, r.Changed, r.Misplaced, r.Duplicated)
	}
	from := line(r.Source) + " " + line(r.SourceDatabase) + "." + line(r.SourceTable)
	if len(r.SourceShards) > 0 {
		from = fmt.Sprintf("%d source shards (first %s)", len(r.SourceShards), from)
	}
	fmt.Fprintf(&b, "verify %s -> %d shards on %s: %d rows (shards %d), %d chunks, %s in %v\n",
		from, len(r.Shards), line(r.ShardKey), r.Rows, r.ShardRows, r.Chunks, verdict, r.Duration.Round(time.Millisecond))
	key := line("(" + strings.Join(r.Key, ", ") + ")")
	for _, d := range r.Diffs {
		fmt.Fprintf(&b, "  %-10s %s = (%s)", d.Kind, key, line(strings.Join(d.Key, ", ")))
		if d.Shard > 0 {
			fmt.Fprintf(&b, ", routes to shard %d", d.Shard)
		}
		if len(d.Found) > 0 {
			shards := make([]string, len(d.Found))
			for i, f := range d.Found {
				shards[i] = fmt.Sprint(f.Shard)
			}
			fmt.Fprintf(&b, ", in shard %s", strings.Join(shards, ", "))
		}
		if len(d.Columns) > 0 {
			fmt.Fprintf(&b, ", columns %s differ", line(strings.Join(d.Columns, ", ")))
		}
		b.WriteByte('\n')
	}
	if r.Truncated {
		fmt.Fprintf(&b, "  ... %d more not listed (sample limit)\n", r.Differences()-int64(len(r.Diffs)))
	}
	for _, s := range r.Shards {
		if s.Differences() == 0 && len(s.ColumnDiffs) == 0 {
			continue
		}
		fmt.Fprintf(&b, "  shard %d %s on %s: %d rows (shard %d), %d to insert, %d to delete, %d to update\n",
			s.Location.Shard, line(s.Location.String()), line(s.Server), s.Rows, s.TargetRows, s.Missing, s.Extra, s.Changed)
		for _, c := range s.ColumnDiffs {
			fmt.Fprintf(&b, "    column %s is %s in the shard, %s on the source\n", line(c.Column), line(c.Target), line(c.Source))
		}
	}
	for _, u := range r.Unverified {
		fmt.Fprintf(&b, "  shard %s.%s: not compared: %s table: %s\n", line(u.TargetDatabase), line(u.TargetTable), u.Side, line(u.Reason))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Instances lists the layout's instances (Location.Instance), in the
// order of their first shard.
func (r *ShardedReport) Instances() []string {
	var out []string
	for _, s := range r.Shards {
		if !slices.Contains(out, s.Location.Instance) {
			out = append(out, s.Location.Instance)
		}
	}
	return out
}

// InstanceReport is the part of r about the shards of one instance, as a
// Report of the source against that server: its WriteRepairSQL writes the
// SQL that repairs them, to run on that server. It is nil for an instance
// the layout does not have.
func (r *ShardedReport) InstanceReport(instance string) *Report {
	var out *Report
	for _, s := range r.Shards {
		if s.Location.Instance != instance {
			continue
		}
		if out == nil {
			out = &Report{Source: r.Source, Target: s.Server, Snapshot: r.Snapshot, Started: r.Started, Duration: r.Duration, batchRows: r.batchRows}
		}
		out.Tables = append(out.Tables, s.TableReport)
	}
	return out
}

// WriteRepairSQL writes the SQL that repairs the shards of one instance
// (see InstanceReport and Report.WriteRepairSQL): deletes of the rows
// that do not belong there (extra, misplaced or duplicated copies), then
// inserts and updates of the rows that are missing or changed there.
func (r *ShardedReport) WriteRepairSQL(w io.Writer, instance string) error {
	ir := r.InstanceReport(instance)
	if ir == nil {
		return fmt.Errorf("verify: repair: no shard on instance %q", instance)
	}
	return ir.WriteRepairSQL(w)
}

// Repair applies the report's repair to every shard (see WriteRepairSQL),
// one transaction per batch: first the inserts and updates on every
// instance, then the deletes, so that a repair stopped part-way leaves a
// row duplicated rather than in no shard. On error the batches before it
// stay committed; verifying again shows what is left.
//
// Before anything is changed, on any instance, it refuses a shard to
// change that is a source table itself (ErrSameTable: a layout that
// shares tables with the source layout is repaired by hand, or by the
// host's own steps) and a shard whose triggers fire
// on its repair's statements (ErrTriggers, naming them), as
// Verifier.Repair does.
func (v *ShardedVerifier) Repair(ctx context.Context, r *ShardedReport) (*RepairResult, error) {
	if r == nil {
		return nil, errors.New("verify: repair: nil report")
	}
	res := &RepairResult{Complete: !r.Truncated}
	type step struct {
		iv              *Verifier
		upserts, delete []batch
	}
	var steps []step
	for _, name := range r.Instances() {
		host, ok := v.hosts[name]
		if !ok || host == nil {
			return res, fmt.Errorf("verify: repair: no host for instance %q", name)
		}
		ir := r.InstanceReport(name)
		// Only the shards the repair writes to are checked: a shard that
		// is also a source table (NewResharded) and has nothing to change
		// is no reason to refuse.
		ir.Tables = slices.DeleteFunc(ir.Tables, func(t *TableReport) bool { return len(t.Diffs) == 0 })
		batches := ir.batches(v.cfg.batchRows)
		if len(batches) == 0 {
			continue
		}
		iv := &Verifier{src: v.srcHosts[v.sources[0].Instance], dst: host, cfg: v.cfg.config}
		if err := iv.repairCheck(ctx, ir); err != nil {
			return res, fmt.Errorf("verify: instance %q: %w", name, err)
		}
		if err := v.refuseSources(ctx, host, ir); err != nil {
			return res, fmt.Errorf("verify: instance %q: %w", name, err)
		}
		st := step{iv: iv}
		for _, bt := range batches {
			if bt.deleted > 0 {
				st.delete = append(st.delete, bt)
			} else {
				st.upserts = append(st.upserts, bt)
			}
		}
		steps = append(steps, st)
	}
	for _, deletes := range []bool{false, true} {
		for _, st := range steps {
			batches := st.upserts
			if deletes {
				batches = st.delete
			}
			if len(batches) == 0 {
				continue
			}
			if err := st.iv.repairApply(ctx, batches, res); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// refuseSources refuses, with an error wrapping ErrSameTable, a table of
// ir (on host) that is one of the source's tables other than the first
// (which repairCheck checks).
func (v *ShardedVerifier) refuseSources(ctx context.Context, host *sql.DB, ir *Report) error {
	if len(v.sources) == 1 {
		return nil
	}
	dstID, err := conn.Identify(ctx, host)
	if err != nil {
		return fmt.Errorf("repair: %w", err)
	}
	ids := map[string]conn.Identity{}
	for _, l := range v.sources[1:] {
		id, ok := ids[l.Instance]
		if !ok {
			if id, err = conn.Identify(ctx, v.srcHosts[l.Instance]); err != nil {
				return fmt.Errorf("repair: %s: %w", v.sourceName(l.Instance), err)
			}
			ids[l.Instance] = id
		}
		for _, t := range ir.Tables {
			if err := sameTable(id, dstID, TablePair{SourceDatabase: l.Database, SourceTable: l.Table, TargetDatabase: t.TargetDatabase, TargetTable: t.TargetTable}); err != nil {
				return err
			}
		}
	}
	return nil
}
