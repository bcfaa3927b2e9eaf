package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/shiftgate/shiftgate/internal/termtext"
	"github.com/shiftgate/shiftgate/shard"
)

func init() {
	register("vschema", command{summary: "print the Vitess VSchema of a layout that maps onto Vitess as it is", run: runVSchema})
}

// runVSchema prints the layout's Vitess VSchema on stdout (the file
// vtctldclient ApplyVSchema --vschema-file reads) and, on stderr, which
// Vitess shard serves which layout shard. A layout that does not map
// directly exits 1 with the reasons; shard/VITESS.md describes the way
// there through MoveTables and Reshard.
func runVSchema(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("vschema", "-layout FILE", stderr)
	file := fs.String("layout", "", "layout file")
	if st := parseFlags(fs, args); st >= 0 {
		return st
	}
	if *file == "" {
		fs.Usage()
		return exitUsage
	}
	l, err := shard.LoadLayout(*file)
	if err != nil {
		return fail(stderr, "vschema", exitUsage, err)
	}
	ks, err := l.Vitess()
	if errors.Is(err, shard.ErrNotVitessDirect) {
		fail(stderr, "vschema", exitPartial, err)
		fmt.Fprintln(stderr, "shardctl vschema: move it with Vitess MoveTables and Reshard instead: see shard/VITESS.md")
		return exitPartial
	}
	if err != nil {
		return fail(stderr, "vschema", exitUsage, err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(ks.VSchema); err != nil {
		return fail(stderr, "vschema", exitPartial, err)
	}
	for _, s := range ks.Shards {
		fmt.Fprintf(stderr, "vitess shard %s serves shard %d %s\n", termtext.Line(s.Name), s.Location.Shard, termtext.Line(s.Location.String()))
	}
	for _, n := range ks.Notes {
		fmt.Fprintf(stderr, "note: %s\n", termtext.Line(n))
	}
	return exitOK
}
