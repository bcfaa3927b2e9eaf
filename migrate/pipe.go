package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/dumpscan"
	"github.com/shiftgate/shiftgate/internal/mysqlcli"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// Pipe copies a database, or some of its tables, by streaming mariadb-dump
// (or mysqldump) into the mariadb (or mysql) client: the seed's
// "mysqldump --single-transaction | mysql" job, done safely.
//
//   - The dump is one consistent snapshot (--single-transaction) and the
//     report carries the source binlog position and GTID of that snapshot.
//   - Nothing is buffered beyond a fixed 256 KiB: memory does not grow with
//     the database.
//   - Credentials reach the clients in descriptors they inherit, never in
//     a file, on a command line, in their environment or in a log.
//   - Every client is bounded by a connect timeout (10 s).
//   - Target tables that hold rows are not replaced unless WithReplace says so.
//   - Cancellation kills both clients' process groups.
//
// A Pipe cannot resume: a copy that stops part-way is rerun with WithReplace.
type Pipe struct {
	source, target *mysql.Config
	database       string
	cfg            config
	running        runGuard
}

var _ Executor = (*Pipe)(nil)

const pipeBufferSize = 256 << 10

// NewPipe prepares a copy of database from the server at sourceDSN to the
// server at targetDSN. DSNs are in go-sql-driver form, such as
// "user:password@tcp(host:3306)/"; their database part is ignored. It
// connects to nothing: call Plan for a dry run.
func NewPipe(sourceDSN, targetDSN, database string, opts ...PipeOption) (*Pipe, error) {
	cfg := config{
		executorConfig:   executorConfig{logger: slog.New(slog.DiscardHandler)},
		skip:             map[ObjectKind]bool{},
		charset:          "utf8mb4",
		progressInterval: time.Second,
	}
	src, dst, err := prepare("pipe", sourceDSN, targetDSN, database, &cfg, func(c *config) error {
		return applyOptions(opts, PipeOption.applyPipe, c)
	})
	if err != nil {
		return nil, err
	}
	return &Pipe{source: src, target: dst, database: database, cfg: cfg}, nil
}

// Plan connects to both servers and checks, without changing anything, that
// the copy can run: the source database and tables exist, both users hold
// the privileges needed, and no target table that holds rows would be
// replaced (unless WithReplace). It lists the source tables with row and
// byte estimates and the objects that will be copied.
func (p *Pipe) Plan(ctx context.Context) (*Plan, error) {
	plan, _, err := p.plan(ctx)
	return plan, err
}

// pipeFacts are what the plan learned that Run needs.
type pipeFacts struct {
	sourceDB   schema.Database
	targetHas  bool // target database exists
	binlog     bool // source has a binary log: capture the position
	tableNames []string
	views      []string
}

func (p *Pipe) plan(ctx context.Context) (*Plan, *pipeFacts, error) {
	plan := &Plan{Scope: Scope{
		Executor:       "pipe",
		Source:         conn.Endpoint(p.source),
		Target:         conn.Endpoint(p.target),
		SourceDatabase: p.database,
		TargetDatabase: p.cfg.targetDatabase,
	}}
	s, err := takeSurvey(ctx, plan, &p.cfg, p.source, p.target)
	if err != nil {
		return plan, nil, err
	}
	defer s.Close()
	facts := &pipeFacts{sourceDB: s.sourceDB, targetHas: s.targetHas, binlog: s.binlog}
	plan.Objects = p.cfg.objects(s.tables, s.routines)

	var notEmpty []string
	for _, t := range s.tables {
		if t.View {
			facts.views = append(facts.views, t.Name)
			continue
		}
		facts.tableNames = append(facts.tableNames, t.Name)
		tp := TablePlan{Name: t.Name, TargetName: t.Name, Engine: t.Engine, Rows: t.Rows, DataBytes: t.DataLength, IndexBytes: t.IndexLength}
		tp.TargetExists, tp.TargetHasRows = s.targetState(ctx, t.Name, true)
		if tp.TargetHasRows {
			notEmpty = append(notEmpty, t.Name)
		}
		plan.Tables = append(plan.Tables, tp)
	}
	if len(notEmpty) > 0 && !p.cfg.replace {
		s.hintedProblem(Target, "database "+schema.QuoteIdent(p.cfg.targetDatabase),
			fmt.Errorf("%w: %s hold rows; the copy would replace them", ErrNotEmpty, strings.Join(notEmpty, ", ")), "allow it with WithReplace")
	}
	p.checkPrivileges(ctx, s, facts)
	plan.Locks, plan.Steps = p.describe(plan, facts, s.tables)
	return plan, facts, s.err()
}

// checkPrivileges records the privileges each side lacks for this copy.
func (p *Pipe) checkPrivileges(ctx context.Context, s *survey, facts *pipeFacts) {
	srcNeed, dstNeed := copyPrivileges(&p.cfg, s.plan.Objects)
	s.requireBinlogMonitor(s.requirePrivileges(ctx, Source, p.database, srcNeed, append(slices.Clone(facts.tableNames), facts.views...)))
	s.requirePrivileges(ctx, Target, p.cfg.targetDatabase, dstNeed, nil)
}

// describe says what will be locked and what Run will do.
func (p *Pipe) describe(plan *Plan, facts *pipeFacts, tables []schema.Table) (locks, steps []string) {
	locks = append(locks, "source: no table locks; one REPEATABLE READ consistent-snapshot transaction stays open for the whole dump (it holds back purge)")
	for _, t := range tables {
		if !t.View && !strings.EqualFold(t.Engine, "InnoDB") {
			locks = append(locks, fmt.Sprintf("source: table %s uses engine %s, which a consistent snapshot does not cover: writes during the dump make it inconsistent", t.Name, t.Engine))
		}
	}
	locks = append(locks, "target: each table is dropped and recreated, and is incomplete until its rows have loaded")
	if !facts.targetHas {
		steps = append(steps, fmt.Sprintf("create database %s on the target with %s / %s", schema.QuoteIdent(plan.TargetDatabase), facts.sourceDB.Charset, facts.sourceDB.Collation))
	}
	steps = append(steps, fmt.Sprintf("stream %d table(s) and %d object(s) from mariadb-dump --single-transaction into the mariadb client", len(plan.Tables), len(plan.Objects)))
	if facts.binlog {
		steps = append(steps, "record the source binlog file, position and GTID of the snapshot")
	} else {
		steps = append(steps, "source has no binary log: no position is recorded")
	}
	return locks, steps
}

// Run copies the data. See Executor for the contract.
func (p *Pipe) Run(ctx context.Context, progress ProgressFunc) (*Report, error) {
	if err := p.running.enter(ctx, "pipe "+p.database); err != nil {
		return nil, err
	}
	defer p.running.leave()

	dumpProgram, err := mysqlcli.Find(p.cfg.dumpProgram, "mariadb-dump", "mysqldump")
	if err != nil {
		return nil, fmt.Errorf("migrate: pipe: dump program: %w", err)
	}
	loadProgram, err := mysqlcli.Find(p.cfg.loadProgram, "mariadb", "mysql")
	if err != nil {
		return nil, fmt.Errorf("migrate: pipe: load program: %w", err)
	}
	plan, facts, err := p.plan(ctx)
	if err != nil {
		return nil, err
	}
	mysqlcli.RemoveStale(p.cfg.tempDir, p.cfg.logger)
	srcOpts, err := mysqlcli.NewOptions(p.source, p.cfg.timeouts.Connect)
	if err != nil {
		return nil, fmt.Errorf("migrate: pipe: source: %w", err)
	}
	dstOpts, err := mysqlcli.NewOptions(p.target, p.cfg.timeouts.Connect)
	if err != nil {
		return nil, fmt.Errorf("migrate: pipe: target: %w", err)
	}

	s := &pipeRun{
		p: p, plan: plan, progress: progress, scan: dumpscan.New(),
		report: &Report{Scope: plan.Scope, Objects: plan.Objects, Started: time.Now()},
	}
	for _, t := range plan.Tables {
		s.estimate += t.DataBytes
	}
	// Everything above changed nothing; from here on the target changes.
	if err := p.prepareTarget(ctx, plan, facts); err != nil {
		return nil, err
	}
	loadArgs := p.loadArgs()
	// MariaDB's client echoes the whole failing statement (rows and all)
	// before the error; keep the error itself only.
	if mysqlcli.Supports(ctx, loadProgram, "print-query-on-error") {
		loadArgs = append(loadArgs, "--skip-print-query-on-error")
	}
	dump, err := srcOpts.Command(ctx, dumpProgram, p.dumpArgs(facts)...)
	if err != nil {
		return nil, fmt.Errorf("migrate: pipe: source: %w", err)
	}
	load, err := dstOpts.Command(ctx, loadProgram, loadArgs...)
	if err != nil {
		return nil, fmt.Errorf("migrate: pipe: target: %w", err)
	}
	p.cfg.logger.Info("pipe started", "source", plan.Source, "target", plan.Target,
		"database", p.database, "target_database", plan.TargetDatabase, "tables", len(plan.Tables))
	err = s.stream(ctx, dump, load)
	s.finish(err == nil)
	if err == nil {
		if missing := notDone(s.report); len(missing) > 0 {
			err = s.missingTables(missing)
		}
	}
	if err != nil {
		p.cfg.logger.Error("pipe failed", "database", p.database, "err", err)
		return s.report, err
	}
	p.cfg.logger.Info("pipe finished", "database", p.database, "rows", s.report.Rows,
		"bytes", s.report.Bytes, "duration", s.report.Duration, "position", s.report.Position.String())
	return s.report, nil
}

// prepareTarget creates the target database if it is missing and, with
// WithReplace, drops the target tables the copy replaces before it starts,
// so that a replaced table's old definition cannot break the foreign keys
// of the tables created before it.
func (p *Pipe) prepareTarget(ctx context.Context, plan *Plan, facts *pipeFacts) error {
	var replaced []string
	for _, t := range plan.Tables {
		if t.TargetExists {
			replaced = append(replaced, schema.QualifiedName(plan.TargetDatabase, t.TargetName))
		}
	}
	if facts.targetHas && len(replaced) == 0 {
		return nil
	}
	dst, err := p.cfg.open(ctx, Target, p.target, 1, nil, true)
	if err != nil {
		return err
	}
	defer dst.Close()
	conn, err := dst.Conn(ctx)
	if err != nil {
		return &EndpointError{Side: Target, Endpoint: plan.Target, Object: serverFault, Err: fmt.Errorf("%w: %w", ErrConnect, err)}
	}
	defer conn.Close()
	var stmts []string
	if !facts.targetHas {
		stmts = append(stmts, fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s CHARACTER SET %s COLLATE %s",
			schema.QuoteIdent(plan.TargetDatabase), facts.sourceDB.Charset, facts.sourceDB.Collation))
	}
	if len(replaced) > 0 {
		stmts = append(stmts, "SET SESSION foreign_key_checks = 0", "DROP TABLE IF EXISTS "+strings.Join(replaced, ", "))
		p.cfg.logger.Info("pipe drops target tables to replace them", "target", plan.Target, "tables", len(replaced))
	}
	for _, stmt := range stmts {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return &EndpointError{Side: Target, Endpoint: plan.Target, Object: "database " + schema.QuoteIdent(plan.TargetDatabase),
				Err: fmt.Errorf("prepare: %w", err)}
		}
	}
	return nil
}

func (p *Pipe) dumpArgs(facts *pipeFacts) []string {
	args := []string{
		"--single-transaction", "--quick", "--skip-add-locks", "--comments",
		"--default-character-set=" + p.cfg.charset, "--max-allowed-packet=1G",
	}
	if p.cfg.skip[KindTrigger] {
		args = append(args, "--skip-triggers")
	} else {
		args = append(args, "--triggers")
	}
	if len(p.cfg.tables) == 0 {
		if !p.cfg.skip[KindProcedure] {
			args = append(args, "--routines")
		}
		if !p.cfg.skip[KindEvent] {
			args = append(args, "--events")
		}
	}
	if facts.binlog {
		args = append(args, "--master-data=2", "--gtid")
	}
	if p.cfg.skip[KindView] {
		for _, v := range facts.views {
			args = append(args, "--ignore-table="+p.database+"."+v)
		}
	}
	args = append(args, "--", p.database)
	return append(args, p.cfg.tables...)
}

func (p *Pipe) loadArgs() []string {
	return []string{
		"--default-character-set=" + p.cfg.charset, "--max-allowed-packet=1G",
		"--database=" + p.cfg.targetDatabase,
	}
}

// pipeRun is the state of one Run.
type pipeRun struct {
	p         *Pipe
	plan      *Plan
	progress  ProgressFunc
	scan      *dumpscan.Scanner
	report    *Report
	estimate  int64
	lastEmit  time.Time
	lastTable string
}

const stderrLimit = 16 << 10

var atLine = regexp.MustCompile(`at line (\d+)`)

// stream runs both clients and copies the dump into the load until the dump
// ends, one side fails, or ctx is done.
func (s *pipeRun) stream(ctx context.Context, dump, load *mysqlcli.Cmd) error {
	dumpErr, loadErr := &mysqlcli.LimitedBuffer{Max: stderrLimit}, &mysqlcli.LimitedBuffer{Max: stderrLimit}
	dump.Stderr, load.Stderr = dumpErr, loadErr
	load.Stdout = loadErr
	in, err := load.StdinPipe()
	if err != nil {
		return fmt.Errorf("migrate: pipe: %w", err)
	}
	out, err := dump.StdoutPipe()
	if err != nil {
		return fmt.Errorf("migrate: pipe: %w", err)
	}
	if err := load.Start(); err != nil {
		return s.processError(Target, load, err, loadErr)
	}
	if err := dump.Start(); err != nil {
		_ = in.Close()
		_ = mysqlcli.KillGroup(load)
		_ = load.Wait()
		return s.processError(Source, dump, err, dumpErr)
	}

	writeFailed := false
	buf := make([]byte, pipeBufferSize)
	for {
		n, rerr := out.Read(buf)
		if n > 0 {
			_, _ = s.scan.Write(buf[:n])
			if _, werr := in.Write(buf[:n]); werr != nil {
				writeFailed = true
				break
			}
			s.maybeEmit(false)
		}
		if rerr != nil {
			break // io.EOF, or the dump was killed: its exit status tells
		}
	}
	if writeFailed {
		_ = mysqlcli.KillGroup(dump)
	}
	dumpWait := dump.Wait()
	if dumpWait != nil {
		// Do not let the target commit the tail of a broken dump.
		_ = mysqlcli.KillGroup(load)
	}
	_ = in.Close()
	loadWait := load.Wait()

	// The side that failed first is the cause: a failed load makes the
	// write fail and we kill the dump; a failed dump makes us kill the load.
	dumpFailedFirst := dumpWait != nil && !writeFailed
	switch {
	case ctx.Err() != nil:
		return s.incomplete(fmt.Errorf("canceled: %w", ctx.Err()))
	case dumpFailedFirst:
		return s.incomplete(s.processError(Source, dump, dumpWait, dumpErr))
	case loadWait != nil:
		return s.incomplete(s.processError(Target, load, loadWait, loadErr))
	case writeFailed:
		return s.incomplete(s.processError(Target, load, io.ErrClosedPipe, loadErr))
	}
	return nil
}

// processError builds the error of one failed client.
func (s *pipeRun) processError(side Side, cmd *mysqlcli.Cmd, err error, stderr *mysqlcli.LimitedBuffer) error {
	if errors.Is(err, ErrTimeout) {
		err = fmt.Errorf("%w: %w", ErrConnect, err)
	}
	e := &ProcessError{Side: side, Endpoint: s.plan.Source, Program: filepath.Base(cmd.Path), Stderr: stderr.String(), Err: err}
	if cur, ok := s.scan.Current(); ok {
		e.Table = cur.Name
	}
	if side == Target {
		e.Endpoint = s.plan.Target
		if m := atLine.FindStringSubmatch(e.Stderr); m != nil {
			e.Line, _ = strconv.ParseInt(m[1], 10, 64)
			if sec, ok := s.scan.SectionAt(e.Line); ok {
				e.Table = sec.Name
			}
		}
	}
	return e
}

// incomplete builds the error of a run that stopped. The target holds the
// tables whose data sections lie before the section it stopped at: the one
// the target reported an error at, or else the one being streamed.
func (s *pipeRun) incomplete(err error) error {
	e := &IncompleteError{Op: s.op(), Remedy: "run the copy again with WithReplace to start over", Err: err}
	stop, ok := s.scan.Current()
	var pe *ProcessError
	if errors.As(err, &pe) && pe.Side == Target && pe.Line > 0 {
		stop, ok = s.scan.SectionAt(pe.Line)
	}
	if ok && (stop.Kind == dumpscan.SectionTableData || stop.Kind == dumpscan.SectionTableStructure) {
		e.Partial = stop.Name
	}
	s.account(stop.StartLine)
	for _, t := range s.report.Tables {
		if t.Done {
			e.Done = append(e.Done, t.Name)
		}
	}
	return e
}

func (s *pipeRun) op() string {
	return fmt.Sprintf("pipe %s to %s/%s", s.plan.SourceDatabase, s.plan.Target, s.plan.TargetDatabase)
}

// missingTables is the error of a dump that ended without the rows of the
// planned tables missing: they vanished from the source during the copy.
func (s *pipeRun) missingTables(missing []string) error {
	e := &IncompleteError{Op: s.op(), Err: fmt.Errorf("table(s) %s were not in the dump: dropped on the source during the copy?", strings.Join(missing, ", "))}
	for _, t := range s.report.Tables {
		if t.Done {
			e.Done = append(e.Done, t.Name)
		}
	}
	return e
}

// account folds the scan into the report: a table is done when its data
// section started before line stop and is not the section at stop.
// stop = math.MaxInt64 counts every table seen.
func (s *pipeRun) account(stop int64) {
	rows := map[string]int64{}
	done := map[string]bool{}
	for _, sec := range s.scan.Sections() {
		if sec.Kind != dumpscan.SectionTableData {
			continue
		}
		rows[sec.Name] += sec.Rows
		done[sec.Name] = sec.StartLine < stop
	}
	s.report.Tables = s.report.Tables[:0]
	for _, t := range s.plan.Tables {
		s.report.Tables = append(s.report.Tables, TableReport{Name: t.Name, TargetName: t.TargetName, Rows: rows[t.Name], Done: done[t.Name]})
	}
	s.report.Rows = s.scan.Rows()
	s.report.Bytes = s.scan.Bytes()
}

// maybeEmit reports progress at table boundaries and every interval.
func (s *pipeRun) maybeEmit(final bool) {
	cur, _ := s.scan.Current()
	table := ""
	if cur.Kind == dumpscan.SectionTableData {
		table = cur.Name
	}
	now := time.Now()
	if !final && table == s.lastTable && now.Sub(s.lastEmit) < s.p.cfg.progressInterval {
		return
	}
	s.lastEmit, s.lastTable = now, table
	if s.progress == nil {
		return
	}
	s.progress(s.snapshot(final, table, now))
}

func (s *pipeRun) snapshot(final bool, table string, now time.Time) Progress {
	stop := int64(math.MaxInt64)
	if cur, ok := s.scan.Current(); ok && !final && cur.Kind == dumpscan.SectionTableData {
		stop = cur.StartLine // still streaming
	}
	s.account(stop)
	done := 0
	for _, t := range s.report.Tables {
		if t.Done {
			done++
		}
	}
	pr := Progress{
		Table: table, TablesDone: done, TablesTotal: len(s.plan.Tables),
		Rows: s.report.Rows, Bytes: s.report.Bytes, BytesEstimate: s.estimate,
		Elapsed: now.Sub(s.report.Started),
	}
	// Too early an estimate is noise: wait for a second and a MiB.
	if !final && pr.Elapsed >= time.Second && pr.Bytes >= 1<<20 && s.estimate > pr.Bytes {
		rate := float64(pr.Bytes) / pr.Elapsed.Seconds()
		pr.ETA = time.Duration(float64(s.estimate-pr.Bytes) / rate * float64(time.Second))
	}
	return pr
}

// finish completes the report after the clients have exited and, when the
// copy succeeded, reports the final progress.
func (s *pipeRun) finish(succeeded bool) {
	if succeeded {
		s.maybeEmit(true)
		s.account(math.MaxInt64)
	}
	s.report.Duration = time.Since(s.report.Started)
	pos := s.scan.Position()
	s.report.Position = Position{File: pos.File, Pos: pos.Pos, GTID: pos.GTID}
	// The dump reads one snapshot and writes its position in its header.
	s.report.Consistent = true
}
