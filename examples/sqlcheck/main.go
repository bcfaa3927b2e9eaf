// Command sqlcheck reviews a SQL script with package review: the
// self-service "check my SQL" before a change is submitted.
//
// Usage:
//
//	sqlcheck [-dsn DSN [-connect-timeout 10s]] [-db NAME] [-policy FILE|dev|prod] [-server mariadb-10.11|mysql-8.0] [-format text|json] [FILE]
//	sqlcheck -list-rules [-policy ...] [-format text|json]
//
// -server names the server the script will run on. It decides how ALTER
// TABLE algorithms are predicted and which executable comments
// (/*!NNNNN ... */, /*M!NNNNNN ... */) count as run; without it algorithms
// are predicted as on mariadb-10.11 and every executable comment counts as
// run, whatever its version.
//
// The script is read from FILE, or from standard input when FILE is absent
// or "-". Without -dsn the review uses only the script itself; with -dsn
// (go-sql-driver form, user@tcp(host:port)/database) it also checks
// tables, columns and indexes on the server and estimates affected rows
// with EXPLAIN. Keep the password out of the DSN and set
// SHIFTGATE_DSN_PASSWORD instead: a password on the command line is
// visible to other users and draws a warning. The password is never
// printed. A server that does not complete the connection within
// -connect-timeout is an error naming it; the catalog's queries are bounded
// to a minute each.
//
// The text report escapes control characters from the script, the policy
// and the server (a script cannot hide its findings by moving the cursor);
// -format json keeps them as they are.
//
// Exit status, by the highest level found:
//
//	0  no findings, or notices only
//	1  warnings
//	2  errors; also -h, which prints the usage, as the other programs do
//	3  the review could not run (bad flags, unreadable file or policy, no connection)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shiftgate/shiftgate/internal/cliflag"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/termtext"
	"github.com/shiftgate/shiftgate/review"
)

// Exit statuses.
const (
	exitClean   = 0
	exitWarning = 1
	exitError   = 2
	exitFailed  = 3
	// exitUsage is the status after -h, as in the other programs.
	exitUsage = 2
)

// passwordEnv holds the password when the DSN has none.
const passwordEnv = "SHIFTGATE_DSN_PASSWORD"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sqlcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("dsn", "", "server to check the schema on, user@tcp(host:port)/database (password from $"+passwordEnv+")")
	connectTimeout := fs.Duration("connect-timeout", conn.DefaultConnectTimeout, "give up connecting (dial and handshake) to the -dsn server after this long")
	dbName := fs.String("db", "", "default database (default: the DSN's database)")
	policyArg := fs.String("policy", "default", "policy: a JSON or YAML file, or a built-in name (default, dev, prod)")
	server := fs.String("server", "", "server the script runs on, for ALTER algorithms and executable comments: mariadb-10.11 or mysql-8.0 (default: unknown, every executable comment counts as run)")
	format := fs.String("format", "text", "output format: text or json")
	listRules := fs.Bool("list-rules", false, "print every rule with its ID, level under the policy and summary (with -format json: parameters, examples and the equivalent Bytebase and goInception checks too), and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitUsage
		}
		return exitFailed
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "sqlcheck: %s\n", termtext.Line(err.Error()))
		return exitFailed
	}
	if *format != "text" && *format != "json" {
		return fail(fmt.Errorf("-format %q: want text or json", *format))
	}
	if fs.NArg() > 1 {
		return fail(errors.New("give at most one script file"))
	}
	policy, err := loadPolicy(*policyArg)
	if err != nil {
		return fail(err)
	}
	opts := []review.Option{review.WithPolicy(policy)}
	if *server != "" {
		opts = append(opts, review.WithServer(review.Server(*server)))
	}
	database := *dbName
	if *dsn != "" {
		cfg, err := cliflag.DSN("sqlcheck", "dsn", *dsn, passwordEnv, true, stderr)
		if err != nil {
			return fail(err)
		}
		if database == "" {
			database = cfg.DBName
		}
		// The catalog runs short metadata queries and EXPLAIN only, so
		// reads are bounded too.
		db, err := conn.Open(context.Background(), cfg, conn.Options{
			Timeouts: conn.Timeouts{Connect: *connectTimeout, Read: time.Minute},
			Logger:   slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if err != nil {
			return fail(fmt.Errorf("-dsn: %w", err))
		}
		defer db.Close()
		cat, err := review.NewLiveCatalog(db)
		if err != nil {
			return fail(err)
		}
		opts = append(opts, review.WithCatalog(cat))
	}
	if database != "" {
		opts = append(opts, review.WithDefaultDatabase(database))
	}
	r, err := review.New(opts...)
	if err != nil {
		return fail(err)
	}
	if *listRules {
		if *format == "json" {
			// the rule reference's data: IDs, levels under the policy,
			// parameters, examples and the peers' equivalents
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(r.Rules()); err != nil {
				return fail(err)
			}
			return exitClean
		}
		printRules(stdout, r.Rules())
		return exitClean
	}

	var script []byte
	if name := fs.Arg(0); name == "" || name == "-" {
		script, err = io.ReadAll(stdin)
	} else {
		script, err = os.ReadFile(name)
	}
	if err != nil {
		return fail(err)
	}
	res, err := r.Review(context.Background(), string(script))
	if err != nil {
		return fail(err)
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(res)
	} else {
		err = res.WriteText(stdout)
	}
	if err != nil {
		return fail(err)
	}
	switch res.Summary.Level {
	case review.LevelError:
		return exitError
	case review.LevelWarning:
		return exitWarning
	}
	return exitClean
}

// loadPolicy returns the built-in policy called arg, or the one in file arg.
func loadPolicy(arg string) (*review.Policy, error) {
	if p, err := review.BuiltinPolicy(arg); err == nil {
		return p, nil
	}
	data, err := os.ReadFile(arg)
	if err != nil {
		return nil, fmt.Errorf("-policy: %w", err)
	}
	p, err := review.ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("-policy %s: %w", arg, err)
	}
	return p, nil
}

func printRules(w io.Writer, rules []review.Rule) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tLEVEL\tSUMMARY")
	for _, r := range rules {
		summary := r.Summary
		var params []string
		for _, p := range r.Params {
			params = append(params, fmt.Sprintf("%s=%v", p.Name, p.Default))
		}
		if len(params) > 0 {
			summary += " [" + strings.Join(params, " ") + "]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.ID, r.Level, termtext.Line(summary))
	}
	_ = tw.Flush()
}
