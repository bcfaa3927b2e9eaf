// Command movedb moves a database, or some of its tables, from one MySQL or
// MariaDB server to another while the application keeps writing to them
// (migrate.Sync): a snapshot copy, then the source's binary log applied to
// the target (catching up, then in sync) until the cutover is triggered;
// the cutover stops writes to the moved tables on the source, waits until
// the target holds everything the source logged, verifies every table,
// switches the application to the target and restores the source's
// writes. The write pause lasts about the verification's time.
//
//	movedb plan    -source DSN -target DSN -database NAME [flags]
//	movedb run     -source DSN -target DSN -database NAME [flags]
//	movedb reverse -source DSN -target DSN -database NAME [flags]
//	movedb end     -source DSN -target DSN -database NAME [flags]
//
// plan is the dry run: it changes nothing and lists the tables and their
// keys, checks the source's binary log settings and privileges, says what
// the cutover locks and lists the steps; with -json as one JSON document.
// It exits 0 when the move can run, 1 when it cannot (every problem named).
//
// run copies, then follows the binary log, writing a progress line to
// stderr (phase, lag in time and transactions behind, rows copied and
// applied, rows/s) every -progress;
// with -json, the same status as JSON lines on stdout, one object per line
// with "event": "progress", "cutover_started", "cutover_failed",
// "switch_waiting", then one of "done", "stopped" or "failed" with the
// report. A run copies the tables, or resumes: an interrupted copy goes on
// from its checkpoint, an interrupted sync from the position saved on the
// target with the last transaction applied.
//
// The cutover is triggered in the running process by a line "cutover" on
// stdin, by SIGUSR1 (not on Windows), or, with -cutover-when-in-sync,
// automatically once the lag is under -max-lag (up to -cutover-attempts
// failed attempts). Other stdin lines: "status" prints the status now,
// "stop" stops like SIGINT. A cutover is refused while copying or catching
// up. Writes stop on the source as -fence says (flush-tables: a read lock
// held by movedb on the moved tables; accounts: the -account accounts lose
// their write privileges on them, restored afterwards; read-only: the
// whole server). Then the switch points the application at the target:
// -switch-command runs a program (split into arguments like a shell line
// with quotes, but run without a shell, with movedb's environment minus
// the credentials, plus MOVEDB_SOURCE, MOVEDB_TARGET (host:port),
// MOVEDB_DATABASE and MOVEDB_TARGET_DATABASE, within -switch-timeout);
// without it movedb asks on stderr and waits for a line "switched" on
// stdin once you switched the application ("abort" abandons the cutover).
// A movedb stopped during or after the switch runs it again when rerun,
// before anything else: the switch command must be idempotent.
// A failed cutover (refused drain, catch-up timeout, differences found by
// verification, a switch command that exits non-zero or an "abort")
// restores the source's writes and the sync goes on: trigger it again.
//
// SIGINT, SIGTERM or a "stop" line stop the run, leaving the move
// resumable: a cutover under way is abandoned and the source's writes
// restored, and the next run of the same command resumes where it
// stopped. A second SIGINT kills movedb at once; that is resumable too
// (the next run restores the source's writes first if a cutover held
// them). To start over instead, drop the target database and the move's
// rows in the _shiftgate database on the target. Once a move cut over, do
// not run it again: the run would resume following the source into the
// target the application now writes to; it refuses (the cutover is
// recorded on the target).
//
// With -reverse (which needs -fence accounts or read-only), the cutover
// keeps a way back for a rollback window (migrate.WithReverseSync): the
// source stays fenced after the switch, and run tells so when it exits.
// reverse, given the same flags, then applies what the application writes
// to the target back into the source, with the same progress lines ("reverse
// sync: in sync, lag ...") and -json events (with "reverse": true), until
// the cut-back: a line "cutback" on stdin, SIGUSR1, or
// -cutover-when-in-sync; it is the cutover with the roles swapped (the
// target's writes stopped, the source caught up and verified), and its
// switch runs -switch-back-command, or asks on stderr for "switched" as
// the cutover does. A cut-back that fails restores the target's writes and
// the reverse sync goes on. reverse exits 0 once cut back (the application
// is on the source again, both sides writable, the window closed); stopped
// or killed, running it again resumes (a cut-back killed after its switch
// back is finished by that run: it runs the switch back again). end closes
// the window without switching back: the source's writes are restored and
// the application stays on the target.
//
// DSNs are in go-sql-driver form, user:password@tcp(host:port)/. Keep the
// password off the command line, where other users can read it: leave it
// out of the DSN and set SHIFTGATE_SOURCE_PASSWORD and
// SHIFTGATE_TARGET_PASSWORD, or give the whole DSNs in SHIFTGATE_SOURCE_DSN
// and SHIFTGATE_TARGET_DSN instead of the flags. The source account needs
// REPLICATION SLAVE and BINLOG MONITOR (or REPLICATION CLIENT) besides what
// the copy needs, and what -fence needs; the source's binary log must be
// ROW, FULL row image, FULL row metadata, with GTIDs (plan checks).
//
// Names and server messages in the text output are escaped (termtext),
// the JSON output holds them as they are.
//
// Exit status:
//
//	0  run: cut over (the application is on the target);
//	   reverse: cut back (the application is on the source);
//	   end: the rollback window is closed;
//	   plan: the move can run
//	1  failed (the message says why and whether running again resumes),
//	   or the plan found problems
//	2  bad usage
//	3  run, reverse: stopped by SIGINT, SIGTERM or "stop"; run the same
//	   command again to resume
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/shiftgate/shiftgate/internal/cliflag"
	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/termtext"

	"github.com/shiftgate/shiftgate/migrate"
)

// Exit statuses.
const (
	exitDone    = 0
	exitFailed  = 1
	exitUsage   = 2
	exitStopped = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, the next one kills movedb at once.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, cutoverSignals())
	stop()
	os.Exit(code)
}

const usageText = `usage: movedb plan|run|reverse|end -source DSN -target DSN -database NAME [flags]

  plan     check and describe the move, changing nothing
  run      copy, sync, and cut over when triggered: a line "cutover" on stdin,
           SIGUSR1, or -cutover-when-in-sync; SIGINT, SIGTERM or a line "stop"
           stop the move, resumable by running the same command again
  reverse  after a cutover with -reverse: apply the target's writes back to
           the source, and cut back when triggered: a line "cutback" on
           stdin, SIGUSR1, or -cutover-when-in-sync (-reverse implied)
  end      after a cutover with -reverse: close the rollback window without
           cutting back, restoring the source's writes (-reverse implied)

Exit status:
  0  run: cut over; reverse: cut back; end: window closed; plan: the move can run
  1  failed, or the plan found problems
  2  bad usage
  3  run, reverse: stopped, resumable (run the same command again)

Flags:
`

type options struct {
	source, target   string
	database         string
	tables           string
	targetDatabase   string
	skipObjects      string
	replace          bool
	json, verbose    bool
	progressInterval time.Duration
	// the copy
	copy cliflag.Copy
	// the sync and its cutover
	serverID          uint64
	maxLag            time.Duration
	fence             string
	accounts          accountList
	drainWait         time.Duration
	kill              bool
	cutoverTimeout    time.Duration
	sourceWait        time.Duration
	targetWait        time.Duration
	pendingSwitch     string
	ddl               string
	switchCommand     string
	switchTimeout     time.Duration
	cutoverWhenInSync bool
	cutoverAttempts   int
	// the rollback window
	reverse           bool
	switchBackCommand string
	// set names the flags given on the command line.
	set map[string]bool
}

// accountList is the repeatable -account flag.
type accountList []string

func (a *accountList) String() string { return strings.Join(*a, ",") }

func (a *accountList) Set(s string) error {
	*a = append(*a, s)
	return nil
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	if len(args) == 0 || !slices.Contains([]string{"plan", "run", "reverse", "end"}, args[0]) {
		newFlagSet(&options{}, stderr).Usage()
		switch {
		case len(args) == 0:
		case args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help":
			return exitDone
		default:
			fmt.Fprintf(stderr, "movedb: unknown command %q (want plan, run, reverse or end)\n", args[0]) // %q escapes
		}
		return exitUsage
	}
	command := args[0]
	o := options{set: map[string]bool{}}
	fs := newFlagSet(&o, stderr)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitDone
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "movedb: unexpected arguments %q\n", fs.Args()) // %q escapes
		return exitUsage
	}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if command == "reverse" || command == "end" {
		o.reverse = true
	}
	m, err := newMove(o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "movedb: %s\n", termtext.Line(cliflag.OptionFlag(err, optionFlags)))
		return exitUsage
	}
	switch command {
	case "plan":
		return m.plan(ctx, stdout, stderr)
	case "end":
		return m.end(ctx, stdout, stderr)
	case "reverse":
		rv, err := m.sync.Reverse()
		if err != nil {
			fmt.Fprintf(stderr, "movedb: %s\n", termtext.Line(cliflag.OptionFlag(err, optionFlags)))
			return exitUsage
		}
		m.back, m.exec, m.cut = true, rv, rv.CutBack
	default:
		m.exec, m.cut = m.sync, m.sync.Cutover
	}
	return m.run(ctx, stdin, stdout, stderr, signals)
}

func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("movedb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.source, "source", os.Getenv("SHIFTGATE_SOURCE_DSN"), "source DSN, user@tcp(host:port)/ (default $SHIFTGATE_SOURCE_DSN)")
	fs.StringVar(&o.target, "target", os.Getenv("SHIFTGATE_TARGET_DSN"), "target DSN (default $SHIFTGATE_TARGET_DSN)")
	fs.StringVar(&o.database, "database", "", "source database to move (required)")
	fs.StringVar(&o.tables, "tables", "", "comma-separated tables to move (default: the whole database)")
	fs.StringVar(&o.targetDatabase, "target-database", "", "target database name (default: the source name)")
	fs.StringVar(&o.skipObjects, "skip-objects", "", "comma-separated kinds not to copy: view, procedure, function, trigger, event")
	fs.BoolVar(&o.replace, "replace", false, "replace target tables that already hold rows")
	fs.BoolVar(&o.json, "json", false, "plan: print the plan as JSON; run: write the status as JSON lines on stdout")
	fs.BoolVar(&o.verbose, "v", false, "log what happens to stderr")
	fs.DurationVar(&o.progressInterval, "progress", time.Second, "interval between progress lines")
	o.copy.Register(fs, "")
	fs.Uint64Var(&o.serverID, "server-id", 0, "server id to read the binary log with, unique among the source's replicas (default: derived from the target)")
	fs.DurationVar(&o.maxLag, "max-lag", migrate.DefaultMaxLag, "in sync under this lag; cutover is refused above it")
	fs.StringVar(&o.fence, "fence", "flush-tables", "how cutover stops writes on the source: flush-tables, accounts (needs -account) or read-only")
	fs.Var(&o.accounts, "account", "application account user@host whose writes the cutover stops (-fence accounts; checked by read-only); repeatable")
	fs.DurationVar(&o.drainWait, "drain-wait", 10*time.Second, "cutover's wait for the lock, or for the accounts' sessions to finish")
	fs.BoolVar(&o.kill, "kill", false, "-fence accounts: kill the accounts' sessions still active after -drain-wait instead of abandoning the cutover")
	fs.DurationVar(&o.cutoverTimeout, "cutover-timeout", migrate.DefaultCutoverTimeout, "cutover's wait, writes stopped, for the target to apply everything")
	fs.DurationVar(&o.sourceWait, "source-wait", migrate.DefaultSourceWait, "how long the sync waits for a source that went away before it fails (resumable)")
	fs.DurationVar(&o.targetWait, "target-wait", migrate.DefaultTargetWait, "how long the sync waits for a target that went away before it fails (resumable)")
	fs.StringVar(&o.pendingSwitch, "pending-switch", "refuse", "-fence flush-tables, after a crash past the switch with source writes since: refuse, abandon (the application never wrote the target: sync them and cut over again) or finish (it was switched: finish without them)")
	fs.StringVar(&o.ddl, "ddl", "stop", "schema change of a moved table on the source: stop, skip or apply")
	fs.StringVar(&o.switchCommand, "switch-command", "", "program run (without a shell) at cutover to point the application at the target; non-zero exit abandons the cutover (default: ask, wait for \"switched\" on stdin)")
	fs.DurationVar(&o.switchTimeout, "switch-timeout", 30*time.Second, "bound on -switch-command's run")
	fs.BoolVar(&o.cutoverWhenInSync, "cutover-when-in-sync", false, "cut over automatically once in sync")
	fs.IntVar(&o.cutoverAttempts, "cutover-attempts", 3, "-cutover-when-in-sync: failed cutovers before movedb stops (exit 1)")
	fs.BoolVar(&o.reverse, "reverse", false, "run: keep the source fenced after the cutover for a rollback window, then use movedb reverse (to carry the target's writes back and cut back) or movedb end (needs -fence accounts or read-only)")
	fs.StringVar(&o.switchBackCommand, "switch-back-command", "", "-reverse: program run (without a shell) at the cut-back to point the application back at the source (default: ask, wait for \"switched\" on stdin)")
	return fs
}

// move is a configured move.
type move struct {
	o    options
	sync *migrate.Sync
	// switchArgv is -switch-command split, switchBackArgv
	// -switch-back-command; nil: the switch is confirmed on stdin.
	switchArgv, switchBackArgv []string
	// exec is what run drives and cut its cutover: the move, or (back)
	// its reverse sync and cut-back.
	exec executor
	cut  func(context.Context) (*migrate.CutoverReport, error)
	back bool
	// switchEnv is the switch command's environment.
	switchEnv []string
	// confirms carries a switch waiting for "switched" on stdin to run's
	// loop.
	confirms chan chan<- error
	// con is where run writes.
	con *console
}

// optionFlags are the flags that set each library option (the copy's are
// cliflag.CopyOptionFlags).
var optionFlags = map[string]string{
	"WithTables":           "-tables",
	"WithTargetDatabase":   "-target-database",
	"WithoutObjects":       "-skip-objects",
	"WithProgressInterval": "-progress",
	"WithServerID":         "-server-id",
	"WithMaxLag":           "-max-lag",
	"WithFence":            "-fence, -account",
	"WithDrainWait":        "-drain-wait",
	"WithCutoverTimeout":   "-cutover-timeout",
	"WithSourceWait":       "-source-wait",
	"WithTargetWait":       "-target-wait",
	"WithPendingSwitch":    "-pending-switch",
	"WithDDL":              "-ddl",
	"WithReverseSync":      "-reverse",
}

func newMove(o options, stderr io.Writer) (*move, error) {
	if o.database == "" {
		return nil, errors.New("-database is required")
	}
	source, err := cliflag.SideDSN("movedb", "source", o.source, o.set["source"], stderr)
	if err != nil {
		return nil, err
	}
	target, err := cliflag.SideDSN("movedb", "target", o.target, o.set["target"], stderr)
	if err != nil {
		return nil, err
	}
	opts, err := syncOptions(o, stderr)
	if err != nil {
		return nil, err
	}
	m := &move{o: o, confirms: make(chan chan<- error)}
	if o.switchCommand != "" {
		if m.switchArgv, err = splitCommand(o.switchCommand); err != nil {
			return nil, fmt.Errorf("-switch-command: %w", err)
		}
		if _, err := exec.LookPath(m.switchArgv[0]); err != nil {
			return nil, fmt.Errorf("-switch-command: %w", err)
		}
	}
	if o.switchBackCommand != "" {
		if m.switchBackArgv, err = splitCommand(o.switchBackCommand); err != nil {
			return nil, fmt.Errorf("-switch-back-command: %w", err)
		}
		if _, err := exec.LookPath(m.switchBackArgv[0]); err != nil {
			return nil, fmt.Errorf("-switch-back-command: %w", err)
		}
	}
	m.switchEnv = switchEnv(os.Environ(), endpoint(source), endpoint(target), o.database, o.targetDB())
	opts = append(opts, migrate.WithSwitch(m.doSwitch))
	if o.reverse {
		opts = append(opts, migrate.WithReverseSync(m.doSwitchBack))
	}
	if m.sync, err = migrate.NewSync(source, target, o.database, opts...); err != nil {
		return nil, err
	}
	return m, nil
}

// targetDB is the target database's name.
func (o options) targetDB() string {
	if o.targetDatabase == "" {
		return o.database
	}
	return o.targetDatabase
}

// endpoint is the host:port of a DSN that SideDSN accepted.
func endpoint(dsn string) string {
	cfg, err := conn.ParseDSN(dsn)
	if err != nil {
		return ""
	}
	return conn.Endpoint(cfg)
}

// syncOptions turns the flags into Sync options, refusing the flags that
// do not go together.
func syncOptions(o options, stderr io.Writer) ([]migrate.SyncOption, error) {
	only := func(flags []string, cond bool, what string) error {
		var given []string
		for _, f := range flags {
			if o.set[f] {
				given = append(given, "-"+f)
			}
		}
		if len(given) > 0 && !cond {
			return fmt.Errorf("%s: only with %s", strings.Join(given, ", "), what)
		}
		return nil
	}
	if err := errors.Join(
		only([]string{"kill"}, o.fence == "accounts", "-fence accounts"),
		only([]string{"switch-timeout"}, o.switchCommand != "", "-switch-command"),
		only([]string{"cutover-attempts"}, o.cutoverWhenInSync, "-cutover-when-in-sync"),
		only([]string{"switch-back-command"}, o.reverse, "-reverse"),
	); err != nil {
		return nil, err
	}
	if o.cutoverAttempts < 1 {
		return nil, fmt.Errorf("-cutover-attempts: %d is not positive", o.cutoverAttempts)
	}
	if o.switchTimeout <= 0 {
		return nil, fmt.Errorf("-switch-timeout: %v is not positive", o.switchTimeout)
	}
	logger := slog.New(slog.DiscardHandler)
	if o.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	opts := []migrate.SyncOption{
		migrate.WithLogger(logger), migrate.WithProgressInterval(o.progressInterval),
		migrate.WithMaxLag(o.maxLag), migrate.WithCutoverTimeout(o.cutoverTimeout),
		migrate.WithDrainWait(o.drainWait, o.kill),
		migrate.WithSourceWait(o.sourceWait), migrate.WithTargetWait(o.targetWait),
	}
	if o.tables != "" {
		opts = append(opts, migrate.WithTables(cliflag.List(o.tables)...))
	}
	if o.targetDatabase != "" {
		opts = append(opts, migrate.WithTargetDatabase(o.targetDatabase))
	}
	if o.replace {
		opts = append(opts, migrate.WithReplace())
	}
	if o.skipObjects != "" {
		var kinds []migrate.ObjectKind
		for _, k := range cliflag.List(o.skipObjects) {
			kinds = append(kinds, migrate.ObjectKind(k))
		}
		opts = append(opts, migrate.WithoutObjects(kinds...))
	}
	copyOpts, err := o.copy.Options()
	if err != nil {
		return nil, err
	}
	for _, c := range copyOpts {
		opts = append(opts, c)
	}
	if o.set["server-id"] {
		if o.serverID > math.MaxUint32 {
			return nil, fmt.Errorf("-server-id: %d is above %d", o.serverID, uint32(math.MaxUint32))
		}
		opts = append(opts, migrate.WithServerID(uint32(o.serverID)))
	}
	fences := map[string]migrate.FenceMethod{"flush-tables": migrate.FenceFlushTables, "accounts": migrate.FenceAccounts, "read-only": migrate.FenceReadOnly}
	method, ok := fences[o.fence]
	if !ok {
		return nil, fmt.Errorf("-fence %q: unknown method (want flush-tables, accounts or read-only)", o.fence)
	}
	opts = append(opts, migrate.WithFence(method, o.accounts...))
	decisions := map[string]migrate.PendingSwitch{"refuse": migrate.PendingSwitchRefuse, "abandon": migrate.PendingSwitchAbandon, "finish": migrate.PendingSwitchFinish}
	decision, ok := decisions[o.pendingSwitch]
	if !ok {
		return nil, fmt.Errorf("-pending-switch %q: unknown decision (want refuse, abandon or finish)", o.pendingSwitch)
	}
	opts = append(opts, migrate.WithPendingSwitch(decision))
	policies := map[string]migrate.DDLPolicy{"stop": migrate.DDLStop, "skip": migrate.DDLSkip, "apply": migrate.DDLApply}
	policy, ok := policies[o.ddl]
	if !ok {
		return nil, fmt.Errorf("-ddl %q: unknown policy (want stop, skip or apply)", o.ddl)
	}
	return append(opts, migrate.WithDDL(policy)), nil
}

// plan runs the dry run and prints it.
func (m *move) plan(ctx context.Context, stdout, stderr io.Writer) int {
	plan, err := m.sync.Plan(ctx)
	if plan != nil {
		m.printPlan(stdout, plan)
	}
	if err != nil {
		fmt.Fprintf(stderr, "movedb: the move cannot run:\n%s\n", describe(err))
		return exitFailed
	}
	return exitDone
}

// triggers says in words what triggers the cutover.
func (m *move) triggers() []string {
	t := []string{`a line "cutover" on stdin`}
	if cutoverSignalName != "" {
		t = append(t, cutoverSignalName)
	}
	if m.o.cutoverWhenInSync {
		t = append(t, fmt.Sprintf("automatically once in sync (lag under %s), up to %d failed attempts", m.o.maxLag, m.o.cutoverAttempts))
	}
	return t
}

// switchStep says in words how the cutover switches the application.
func (m *move) switchStep() string {
	if m.switchArgv == nil {
		return `ask on stderr, and wait for a line "switched" on stdin once the application points at the target ("abort" abandons the cutover)`
	}
	return fmt.Sprintf("run %q without a shell, within %s; a non-zero exit abandons the cutover", m.switchArgv, m.o.switchTimeout)
}

func (m *move) printPlan(w io.Writer, plan *migrate.Plan) {
	if m.o.json {
		writeJSON(w, struct {
			*migrate.Plan
			Triggers      []string `json:"cutover_triggers"`
			SwitchCommand []string `json:"switch_command,omitempty"`
			Switch        string   `json:"switch"`
		}{plan, m.triggers(), m.switchArgv, m.switchStep()}, "  ")
		return
	}
	line := termtext.Line
	fmt.Fprintf(w, "plan (%s): %s/%s -> %s/%s\n", plan.Executor, line(plan.Source), line(plan.SourceDatabase), line(plan.Target), line(plan.TargetDatabase))
	fmt.Fprintf(w, "  %-32s %12s %12s  %-24s %s\n", "table", "rows (est.)", "data bytes", "key", "target")
	for _, t := range plan.Tables {
		state := "absent"
		switch {
		case t.Resume:
			state = fmt.Sprintf("resume copy after %d rows", t.CheckpointRows)
		case t.TargetHasRows:
			state = "exists, HAS ROWS"
		case t.TargetExists:
			state = "exists, empty"
		}
		key := "(" + strings.Join(t.Key, ", ") + ")"
		if len(t.Key) == 0 {
			key = "-"
		}
		name := t.Name
		if t.TargetName != "" && t.TargetName != t.Name {
			name += " -> " + t.TargetName
		}
		fmt.Fprintf(w, "  %-32s %12d %12d  %-24s %s\n", line(name), t.Rows, t.DataBytes, line(key), state)
	}
	for _, o := range plan.Objects {
		fmt.Fprintf(w, "  %s %s\n", o.Kind, line(o.Name))
	}
	for _, l := range plan.Locks {
		fmt.Fprintf(w, "  lock: %s\n", line(l))
	}
	for i, s := range plan.Steps {
		fmt.Fprintf(w, "  step %d: %s\n", i+1, line(s))
	}
	fmt.Fprintf(w, "  cutover: on %s\n", line(strings.Join(m.triggers(), ", or ")))
	fmt.Fprintf(w, "  switch: %s\n", line(m.switchStep()))
}

// describe renders err for the terminal, one problem a line, with hints
// in movedb's flags instead of the library's option names, and with names
// and server messages escaped.
func describe(err error) string {
	var lines []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		lines = append(lines, termtext.Line(problem(err))+withHint(hint(err)))
	}
	walk(err)
	return strings.Join(lines, "\n")
}

func withHint(h string) string {
	if h == "" {
		return ""
	}
	return "\n  hint: " + h
}

// hint says in movedb's flags what lets the move go through.
func hint(err error) string {
	switch {
	case errors.Is(err, migrate.ErrNotEmpty):
		return "add -replace to let the copy replace them"
	case errors.Is(err, migrate.ErrNoKey):
		return "a sync matches rows by key: give the table a primary key, or leave it out with -tables"
	case errors.Is(err, migrate.ErrSnapshotPrivilege):
		return "grant RELOAD, or copy without a consistent snapshot with -lock-free"
	case errors.Is(err, migrate.ErrViewDependency):
		return "name those tables in -tables too"
	case errors.Is(err, migrate.ErrSameDatabase):
		return "name another target database with -target-database"
	case errors.Is(err, migrate.ErrSchemaChange):
		return "make the same change on the target and run again with -ddl skip, or run again with -ddl apply"
	case errors.Is(err, migrate.ErrRowsDiffer):
		return "start over: drop the target database and the move's rows in _shiftgate on the target"
	case errors.Is(err, migrate.ErrSwitchPending):
		return "the cutover reached the switch and is not finished: when the source took changes after the lock ended, run again with -pending-switch abandon if the application never wrote the target, or -pending-switch finish if it was switched; else make the switch work and run again"
	case errors.Is(err, migrate.ErrNoReverse):
		return "no rollback window is open: it needs a cutover made by movedb run -reverse, and ends with a cut-back or movedb end"
	case errors.Is(err, migrate.ErrCutOver):
		return "the application is on the target: with a rollback window open (-reverse), use movedb reverse or movedb end"
	case errors.Is(err, migrate.ErrBinlogSettings), errors.Is(err, migrate.ErrPrivilege):
		return ""
	case migrate.Transient(err):
		return "run the same movedb command again: it resumes where it stopped"
	}
	return ""
}

func writeJSON(w io.Writer, v any, indent string) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", indent)
	_ = enc.Encode(v)
}

// executor is what run drives: a move (migrate.Sync) or its reverse sync.
type executor interface {
	Run(ctx context.Context, progress migrate.ProgressFunc) (*migrate.Report, error)
	Phase() migrate.Phase
}

// end closes the rollback window of a move cut over with -reverse.
func (m *move) end(ctx context.Context, stdout, stderr io.Writer) int {
	rv, err := m.sync.Reverse()
	if err == nil {
		err = rv.End(ctx)
	}
	if err != nil {
		fmt.Fprintf(stderr, "movedb: the rollback window is not closed:\n%s\n", describe(err))
		if m.o.json {
			writeJSON(stdout, event{Event: "failed", Reverse: true, Error: err.Error(), Time: time.Now()}, "")
		}
		return exitFailed
	}
	if m.o.json {
		writeJSON(stdout, event{Event: "window_ended", Reverse: true, Time: time.Now()}, "")
	} else {
		fmt.Fprintln(stdout, "rollback window closed: the source's writes are restored; the application stays on the target")
	}
	return exitDone
}
