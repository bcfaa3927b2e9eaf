package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/internal/termtext"
	"github.com/shiftgate/shiftgate/shard"
)

func init() {
	register("route", command{summary: "print the shard and location of each key read from stdin", run: runRoute})
}

// runRoute reads keys from stdin, one a line (a trailing \r is dropped),
// and prints key<TAB>shard<TAB>location for each. Keys are strings, hashed
// as their UTF-8 bytes, unless -int; mod and integer range layouts read
// integers, time range layouts dates (2006-01-02) or RFC 3339 times. A key
// that does not parse or route is reported on stderr with its line number,
// the others are still printed, and the exit status is 1.
func runRoute(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("route", "[-method M -shards N -table-template T -database-template D -tables-per-database K | -layout FILE] [-int] < keys", stderr)
	method := fs.String("method", "md5", "routing method: md5, jump, crc32 or mod")
	shards := fs.Int("shards", 0, "number of shards N (required without -layout)")
	tableT := fs.String("table-template", "test_{n}", "table name template: {n} shard, {m} database, {k} table within the database")
	dbT := fs.String("database-template", "db", "database name template")
	perDB := fs.Int("tables-per-database", 0, "tables per database K (0: all in one database)")
	layoutFile := fs.String("layout", "", "layout file (JSON, or YAML when named .yaml/.yml) instead of the flags above")
	ints := fs.Bool("int", false, "keys are integers (jump hashes them as 64-bit numbers, md5 and crc32 their decimal text)")
	if st := parseFlags(fs, args); st >= 0 {
		return st
	}
	l, err := layoutFromFlags(fs, *layoutFile, shard.Layout{Method: shard.Method(*method), Shards: *shards,
		Database: *dbT, Table: *tableT, TablesPerDatabase: *perDB})
	if err != nil {
		return fail(stderr, "route", exitUsage, err)
	}
	r, err := l.Router()
	if err != nil {
		return fail(stderr, "route", exitUsage, err)
	}
	parse := keyParser(r.Scheme(), *ints)
	in := bufio.NewReaderSize(stdin, 64<<10)
	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()
	status := exitOK
	for line := 1; ; line++ {
		s, err := in.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			out.Flush()
			return fail(stderr, "route", exitUsage, fmt.Errorf("reading keys: %w", err))
		}
		if s == "" && err != nil {
			break
		}
		s = strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
		k, perr := parse(s)
		var loc shard.Location
		if perr == nil {
			loc, perr = r.Route(k)
		}
		if perr != nil {
			out.Flush()
			fmt.Fprintf(stderr, "shardctl route: line %d: %s\n", line, termtext.Line(perr.Error()))
			status = exitPartial
		} else {
			fmt.Fprintf(out, "%s\t%d\t%s\n", termtext.Line(s), loc.Shard, termtext.Line(loc.String()))
		}
		if err != nil {
			break
		}
	}
	return status
}

// layoutFromFlags loads the -layout file, or builds the layout from the
// other flags; giving both is an error.
func layoutFromFlags(fs *flag.FlagSet, file string, fromFlags shard.Layout) (*shard.Layout, error) {
	if file == "" {
		if fromFlags.Shards == 0 {
			return nil, errors.New("-shards N or -layout FILE is required")
		}
		return &fromFlags, fromFlags.Validate()
	}
	var clash []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "method", "shards", "table-template", "database-template", "tables-per-database":
			clash = append(clash, "-"+f.Name)
		}
	})
	if len(clash) > 0 {
		return nil, fmt.Errorf("-layout and %s: the layout file says it all; give one or the other", strings.Join(clash, ", "))
	}
	return shard.LoadLayout(file)
}

// keyParser returns how to read a key line for scheme s.
func keyParser(s shard.Scheme, ints bool) func(string) (shard.Key, error) {
	if d, ok := s.(*shard.Directory); ok {
		s = d.Fallback()
	}
	kind := shard.KindString
	switch {
	case ints || s.Method() == shard.Mod:
		kind = shard.KindInt
	case s.Method() == shard.Range:
		kind = s.(*shard.Ranges).KeyKind()
		if kind == shard.KindNone {
			kind = shard.KindInt
		}
	}
	switch kind {
	case shard.KindInt:
		return func(s string) (shard.Key, error) {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return shard.Int(i), nil
			}
			if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				return shard.Uint(u), nil
			}
			return shard.Key{}, fmt.Errorf("key %q is not a 64-bit integer", s)
		}
	case shard.KindTime:
		return func(s string) (shard.Key, error) {
			for _, f := range []string{"2006-01-02", time.RFC3339Nano, "2006-01-02 15:04:05"} {
				if t, err := time.Parse(f, s); err == nil {
					return shard.Time(t), nil
				}
			}
			return shard.Key{}, fmt.Errorf("key %q is not a date (2006-01-02) or time (RFC 3339, or 2006-01-02 15:04:05 UTC)", s)
		}
	}
	return func(s string) (shard.Key, error) { return shard.String(s), nil }
}
