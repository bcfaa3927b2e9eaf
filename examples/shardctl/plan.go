package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/shiftgate/shiftgate/internal/cliflag"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/termtext"
	"github.com/shiftgate/shiftgate/shard"
)

func init() {
	register("plan", command{summary: "plan a move from one layout to another: what each shard sends where", run: runPlan})
}

// passwordEnv holds the password of -dsn DSNs that have none.
const passwordEnv = "SHIFTGATE_SHARD_PASSWORD"

// dsnList is the repeatable -dsn flag: [instance=]DSN.
type dsnList map[string]string

func (d dsnList) String() string { return "" }

func (d dsnList) Set(v string) error {
	inst, dsn := "", v
	if i := strings.IndexByte(v, '='); i >= 0 && !strings.ContainsAny(v[:i], "@/():") {
		inst, dsn = v[:i], v[i+1:]
	}
	if _, dup := d[inst]; dup {
		return fmt.Errorf("instance %q given twice", inst)
	}
	d[inst] = dsn
	return nil
}

// runPlan prints the plan from -from to -to: text, or JSON with -json.
// With -dsn, one per server of the -from layout (instance=DSN, or a bare
// DSN for a layout without instances), the plan uses the servers' row
// estimates. Passwords: leave them out of the DSN and set
// SHIFTGATE_SHARD_PASSWORD.
func runPlan(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("plan", "-from FILE -to FILE [-json] [-sample N] [-dsn [instance=]DSN ...]", stderr)
	from := fs.String("from", "", "layout file the keys are in now")
	to := fs.String("to", "", "layout file to move them to")
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	sample := fs.Int("sample", shard.DefaultSampleKeys, "keys to sample when the fractions cannot be computed exactly")
	dsns := dsnList{}
	fs.Var(dsns, "dsn", "`[instance=]DSN` of a server of the -from layout, for row estimates (repeat per instance; password from "+passwordEnv+")")
	if st := parseFlags(fs, args); st >= 0 {
		return st
	}
	if *from == "" || *to == "" {
		fs.Usage()
		return exitUsage
	}
	a, err := shard.LoadLayout(*from)
	if err != nil {
		return fail(stderr, "plan", exitUsage, err)
	}
	b, err := shard.LoadLayout(*to)
	if err != nil {
		return fail(stderr, "plan", exitUsage, err)
	}
	opts := []shard.PlanOption{shard.WithSampleKeys(*sample)}
	if len(dsns) > 0 {
		rows, err := estimate(a, dsns, stderr)
		if err != nil {
			return fail(stderr, "plan", exitPartial, err)
		}
		opts = append(opts, shard.WithRows(rows))
	}
	p, err := shard.NewPlan(a, b, opts...)
	if err != nil {
		return fail(stderr, "plan", exitUsage, err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(p); err != nil {
			return fail(stderr, "plan", exitPartial, err)
		}
		return exitOK
	}
	printPlan(stdout, p)
	return exitOK
}

// estimate connects to each server and reads the row estimates of layout l.
func estimate(l *shard.Layout, dsns dsnList, stderr io.Writer) (map[int]int64, error) {
	ctx := context.Background()
	dbs := map[string]*sql.DB{}
	defer func() {
		for _, db := range dbs {
			db.Close()
		}
	}()
	for inst, dsn := range dsns {
		cfg, err := cliflag.DSN("shardctl plan", "dsn", dsn, passwordEnv, true, stderr)
		if err != nil {
			return nil, fmt.Errorf("instance %q: %w", inst, err)
		}
		db, err := conn.Open(ctx, cfg, conn.Options{})
		if err != nil {
			return nil, fmt.Errorf("instance %q: %w", inst, err)
		}
		dbs[inst] = db
	}
	return shard.EstimateRows(ctx, l, dbs)
}

func printPlan(w io.Writer, p *shard.Plan) {
	fmt.Fprintf(w, "basis: %s\n", termtext.Line(p.Basis))
	moved := fmt.Sprintf("moved: %.2f%% of the keys", 100*p.MovedFraction)
	if p.MovedRows != nil {
		moved += fmt.Sprintf(", about %d rows", *p.MovedRows)
	}
	fmt.Fprintln(w, moved)
	count := map[shard.Action]int{}
	for _, s := range p.Sources {
		count[s.Action]++
	}
	fmt.Fprintf(w, "source shards: %d keep, %d move whole, %d split by rows\n", count[shard.Keep], count[shard.MoveTable], count[shard.MoveRows])
	for _, s := range p.Sources {
		rows := ""
		if s.Rows != nil {
			rows = fmt.Sprintf(", about %d rows", *s.Rows)
		}
		fmt.Fprintf(w, "\nshard %d %s%s: %s\n", s.Shard, termtext.Line(s.Location.String()), rows, s.Action)
		for _, f := range s.Targets {
			line := fmt.Sprintf("  -> shard %d %s %.4f", f.Shard, termtext.Line(f.Location.String()), f.Fraction)
			if f.Rows != nil {
				line += fmt.Sprintf(" (about %d rows)", *f.Rows)
			}
			if f.Stays {
				line += " stays"
			}
			fmt.Fprintln(w, line)
		}
	}
	if len(p.Pinned) > 0 {
		fmt.Fprintln(w, "\npinned keys that move:")
		for _, c := range p.Pinned {
			fmt.Fprintf(w, "  %s: %s -> %s\n", termtext.Line(c.Key), termtext.Line(c.From.String()), termtext.Line(c.To.String()))
		}
	}
}
