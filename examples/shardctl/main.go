// Command shardctl works with sharded tables laid out by package shard:
// where keys go, what a change of layout moves, and what the layout is in
// Vitess.
//
//	shardctl route   [-method md5|jump|crc32|mod -shards N -table-template T -database-template D | -layout FILE] [-int] < keys
//	shardctl plan    -from FILE -to FILE [-json] [-sample N] [-dsn [instance=]DSN ...]
//	shardctl vschema -layout FILE
//	shardctl split   -source DSN -database DB -table T -key COLUMN -layout FILE -dsn [instance=]DSN ... [-dry-run] [-json]
//	shardctl verify  -layout FILE -dsn [instance=]DSN ... -key COLUMN (-from FILE [-from-dsn [instance=]DSN ...] | -source DSN -database DB -table T) [-json]
//	shardctl query   -layout FILE -dsn [instance=]DSN ... [-select COLS -where SQL -order COLS -limit N | -count -sum COLS ... -group COLS] [-json]
//
// Passwords never go on the command line: DSNs leave them out, and
// SHIFTGATE_SHARD_PASSWORD (shard servers, -dsn) and
// SHIFTGATE_SOURCE_PASSWORD (split's -source) hold them.
//
// Each subcommand lives in its own file and registers itself in commands;
// "shardctl help" lists them. Layout files are JSON, or YAML when named
// .yaml or .yml (see shard.Layout).
//
// Exit status: 0 done; 1 the work failed in part (keys that did not route,
// a layout Vitess cannot take as it is, a split or query that failed on a
// server); 2 bad usage or input. verify: 0 clean, 1 differences, 2 bad
// usage or an error.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/shiftgate/shiftgate/internal/termtext"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK      = 0
	exitPartial = 1
	exitUsage   = 2
)

// command is one subcommand.
type command struct {
	summary string
	run     func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// commands holds the subcommands by name; each file registers its own.
var commands = map[string]command{}

func register(name string, c command) {
	if _, dup := commands[name]; dup {
		panic("shardctl: subcommand " + name + " registered twice")
	}
	commands[name] = c
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "shardctl: unknown subcommand %q\n", termtext.Line(args[0]))
		usage(stderr)
		return exitUsage
	}
	return c.run(args[1:], stdin, stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: shardctl <subcommand> [flags]  (shardctl <subcommand> -h for its flags)")
	fmt.Fprintln(w, "\nsubcommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
}

// newFlags returns the flag set of subcommand name, writing its usage and
// errors to stderr.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("shardctl "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: shardctl %s %s\n\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs; it returns the exit status to stop with,
// or -1 to go on. Positional arguments are refused.
func parseFlags(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments: %s\n", fs.Name(), termtext.Line(strings.Join(fs.Args(), " ")))
		return exitUsage
	}
	return -1
}

// fail prints err for subcommand name and returns status.
func fail(stderr io.Writer, name string, status int, err error) int {
	fmt.Fprintf(stderr, "shardctl %s: %s\n", name, termtext.Line(err.Error()))
	return status
}
