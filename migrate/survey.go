package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/conn"
	"github.com/shiftgate/shiftgate/internal/schema"
)

// survey is what a copy executor's dry run reads from both servers before
// it plans: the source database, the selected tables and views, its
// routines, the target's tables, whether the source writes a binary log,
// and every problem found, each naming its endpoint and object.
type survey struct {
	plan     *Plan
	src, dst *sql.DB
	sourceDB schema.Database
	// tables are the selected source tables and views, in copy order.
	tables   []schema.Table
	routines []schema.Routine
	// targetHas reports that the target database exists; targetTables
	// are its tables and views by name.
	targetHas    bool
	targetTables map[string]schema.Table
	binlog       bool
	problems     []error
}

// surveyParams pin the survey's sql_mode: SHOW CREATE TABLE prints names
// in double quotes under a server's ANSI_QUOTES, and the statements it
// gives must read the same on the Copier's writer sessions.
var surveyParams = map[string]string{"sql_mode": "''"}

// takeSurvey connects to both servers and reads them for a copy of the
// selected tables of plan.SourceDatabase into plan.TargetDatabase. It
// returns an error (and no survey) when it cannot go on: a side cannot be
// reached, or the source database or its table list cannot be read. Other
// problems accumulate in the survey. Close the survey when done.
func takeSurvey(ctx context.Context, plan *Plan, cfg *config, source, target *mysql.Config) (*survey, error) {
	s := &survey{plan: plan, targetTables: map[string]schema.Table{}}
	tables := cfg.tables
	var err error
	if s.src, err = cfg.open(ctx, Source, source, 2, surveyParams, false); err != nil {
		return nil, err
	}
	if s.dst, err = cfg.open(ctx, Target, target, 2, surveyParams, false); err != nil {
		s.src.Close()
		return nil, err
	}
	if err := s.refuseSameDatabase(ctx); err != nil {
		s.Close()
		return nil, err
	}
	srcDatabase := "database " + schema.QuoteIdent(plan.SourceDatabase)
	if s.sourceDB, err = schema.LookupDatabase(ctx, s.src, plan.SourceDatabase); errors.Is(err, ErrNotFound) {
		return nil, s.fatal(srcDatabase, ErrNotFound)
	} else if err != nil {
		return nil, s.fatal(srcDatabase, err)
	}
	all, err := schema.Tables(ctx, s.src, plan.SourceDatabase)
	if err != nil {
		return nil, s.fatal(srcDatabase, err)
	}
	var missing []string
	s.tables, missing = selectTables(all, tables)
	for _, name := range missing {
		s.sourceProblem("table "+schema.QualifiedName(plan.SourceDatabase, name), ErrNotFound)
	}
	if s.routines, err = schema.Routines(ctx, s.src, plan.SourceDatabase); err != nil {
		s.sourceProblem(srcDatabase, err)
	}
	dstDatabase := "database " + schema.QuoteIdent(plan.TargetDatabase)
	if _, err := schema.LookupDatabase(ctx, s.dst, plan.TargetDatabase); err == nil {
		s.targetHas = true
		list, err := schema.Tables(ctx, s.dst, plan.TargetDatabase)
		if err != nil {
			s.targetProblem(dstDatabase, err)
		}
		for _, t := range list {
			s.targetTables[t.Name] = t
		}
	} else if !errors.Is(err, schema.ErrNotFound) {
		s.targetProblem(dstDatabase, err)
	}
	if len(tables) > 0 {
		s.checkViews(ctx, all)
	}
	binlog, err := schema.Variable(ctx, s.src, "log_bin")
	if err != nil {
		s.sourceProblem(serverFault, err)
	}
	s.binlog = binlog == "ON"
	return s, nil
}

// checkViews records a problem for each view among the selected tables
// that reads a table or view of the source database that is neither
// selected nor on the target: the view could not be created there. all
// are the source database's tables and views.
func (s *survey) checkViews(ctx context.Context, all []schema.Table) {
	selected := map[string]bool{}
	for _, t := range s.tables {
		selected[t.Name] = true
	}
	ref := regexp.MustCompile("`" + regexp.QuoteMeta(strings.ReplaceAll(s.plan.SourceDatabase, "`", "``")) + "`\\.`((?:[^`]|``)+)`")
	for _, v := range s.tables {
		if !v.View {
			continue
		}
		var def string
		if err := s.src.QueryRowContext(ctx, "SELECT VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
			s.plan.SourceDatabase, v.Name).Scan(&def); err != nil {
			s.sourceProblem("view "+schema.QualifiedName(s.plan.SourceDatabase, v.Name), fmt.Errorf("read definition: %w", err))
			continue
		}
		var missing []string
		for _, m := range ref.FindAllStringSubmatch(def, -1) {
			name := strings.ReplaceAll(m[1], "``", "`")
			if selected[name] || slices.Contains(missing, name) || !slices.ContainsFunc(all, func(t schema.Table) bool { return t.Name == name }) {
				continue
			}
			if _, onTarget := s.targetTables[name]; !onTarget {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			s.hintedProblem(Source, "view "+schema.QualifiedName(s.plan.SourceDatabase, v.Name),
				fmt.Errorf("%w: it reads %s, which the copy does not include and the target does not have", ErrViewDependency, strings.Join(missing, ", ")),
				"name them in WithTables too")
		}
	}
}

// refuseSameDatabase returns an error wrapping ErrSameDatabase when the
// source and the target are one server, identified by what it is rather
// than by how the DSNs spell it (127.0.0.1, localhost, an alias), and the
// copy would write into the database it reads.
func (s *survey) refuseSameDatabase(ctx context.Context) error {
	srcID, err := conn.Identify(ctx, s.src)
	if err != nil {
		return &EndpointError{Side: Source, Endpoint: s.plan.Source, Object: serverFault, Err: err}
	}
	dstID, err := conn.Identify(ctx, s.dst)
	if err != nil {
		return &EndpointError{Side: Target, Endpoint: s.plan.Target, Object: serverFault, Err: err}
	}
	if !srcID.Same(dstID) {
		return nil
	}
	same := s.plan.SourceDatabase == s.plan.TargetDatabase
	if !same && strings.EqualFold(s.plan.SourceDatabase, s.plan.TargetDatabase) {
		// Database names are case-insensitive unless lower_case_table_names=0.
		v, err := schema.Variable(ctx, s.src, "lower_case_table_names")
		same = err != nil || v != "0"
	}
	if !same {
		return nil
	}
	return fmt.Errorf("migrate: %s: %w: database %s on source %s and target %s, which are one server (%s); nothing was changed",
		s.plan.Executor, ErrSameDatabase, schema.QuoteIdent(s.plan.SourceDatabase), s.plan.Source, s.plan.Target, srcID)
}

// fatal closes the survey and returns its problems with err added.
func (s *survey) fatal(object string, err error) error {
	s.sourceProblem(object, err)
	s.Close()
	return errors.Join(s.problems...)
}

// Close closes both connections.
func (s *survey) Close() {
	s.src.Close()
	s.dst.Close()
}

func (s *survey) sourceProblem(object string, err error) {
	s.problems = append(s.problems, &EndpointError{Side: Source, Endpoint: s.plan.Source, Object: object, Err: err})
}

func (s *survey) targetProblem(object string, err error) {
	s.problems = append(s.problems, &EndpointError{Side: Target, Endpoint: s.plan.Target, Object: object, Err: err})
}

// hintedProblem records a problem of side with a hint of what lets the
// copy go through (see EndpointError.Hint).
func (s *survey) hintedProblem(side Side, object string, err error, hint string) {
	endpoint := s.plan.Source
	if side == Target {
		endpoint = s.plan.Target
	}
	s.problems = append(s.problems, &EndpointError{Side: side, Endpoint: endpoint, Object: object, Err: err, Hint: hint})
}

// targetState reports whether the target table called name exists and,
// when countRows, whether it holds rows. A view of that name on the target
// is a problem: the copy cannot replace it with a table. (Looking for rows
// waits for the table's metadata lock; a resume, which needs no answer,
// must not queue behind an ALTER TABLE that a killed run left running.)
func (s *survey) targetState(ctx context.Context, name string, countRows bool) (exists, hasRows bool) {
	t, ok := s.targetTables[name]
	if !ok {
		return false, false
	}
	if t.View {
		s.targetProblem("table "+schema.QualifiedName(s.plan.TargetDatabase, name), errors.New("is a view on the target"))
		return true, false
	}
	if !countRows {
		return true, false
	}
	hasRows, err := schema.HasRows(ctx, s.dst, s.plan.TargetDatabase, name)
	if err != nil {
		s.targetProblem("table "+schema.QualifiedName(s.plan.TargetDatabase, name), err)
	}
	return true, hasRows
}

// err returns every problem found, joined, or nil.
func (s *survey) err() error { return errors.Join(s.problems...) }

// requirePrivileges checks that the current user on side holds need on
// database (for SELECT, a table-level grant on each of tables is enough)
// and records a problem naming what is missing. It returns the privileges
// for further checks, or nil when they could not be read.
func (s *survey) requirePrivileges(ctx context.Context, side Side, database string, need, tables []string) *schema.Privileges {
	db, problem := s.src, s.sourceProblem
	if side == Target {
		db, problem = s.dst, s.targetProblem
	}
	object := "database " + schema.QuoteIdent(database)
	privs, err := schema.LoadPrivileges(ctx, db, database)
	if err != nil {
		problem(object, err)
		return nil
	}
	missing := privs.Missing("", need...)
	if i := slices.Index(missing, "SELECT"); i >= 0 && len(tables) > 0 && !slices.ContainsFunc(tables, func(t string) bool { return !privs.Has("SELECT", t) }) {
		missing = slices.Delete(missing, i, i+1)
	}
	if len(missing) > 0 {
		problem(object,
			fmt.Errorf("%w: user %s lacks %s", ErrPrivilege, privs.User, strings.Join(missing, ", ")))
	}
	return privs
}

// requireBinlogMonitor records a problem when the source writes a binary
// log but privs cannot read the position of the copy in it.
func (s *survey) requireBinlogMonitor(privs *schema.Privileges) {
	if privs != nil && s.binlog && !privs.HasAny("BINLOG MONITOR", "REPLICATION CLIENT", "SUPER") {
		s.sourceProblem(serverFault, fmt.Errorf("%w: user %s lacks BINLOG MONITOR (or REPLICATION CLIENT), needed to record the binlog position of the copy", ErrPrivilege, privs.User))
	}
}

// copyPrivileges returns what a copy configured by cfg needs on each side.
// The source user must be able to see every object of a kind that is
// copied: information_schema hides the triggers, events and views it may
// not read, and the copy would skip them without a word. The target user
// must be able to create the tables and the objects found (objects).
func copyPrivileges(cfg *config, objects []Object) (source, target []string) {
	source = []string{"SELECT"}
	if !cfg.skip[KindView] {
		source = append(source, "SHOW VIEW")
	}
	if !cfg.skip[KindTrigger] {
		source = append(source, "TRIGGER")
	}
	if !cfg.skip[KindEvent] && len(cfg.tables) == 0 {
		source = append(source, "EVENT")
	}
	kinds := map[ObjectKind]bool{}
	for _, o := range objects {
		kinds[o.Kind] = true
	}
	target = []string{"CREATE", "DROP", "INSERT", "ALTER"}
	if kinds[KindView] {
		target = append(target, "CREATE VIEW")
	}
	if kinds[KindTrigger] {
		target = append(target, "TRIGGER")
	}
	if kinds[KindEvent] {
		target = append(target, "EVENT")
	}
	if kinds[KindProcedure] || kinds[KindFunction] {
		target = append(target, "CREATE ROUTINE", "ALTER ROUTINE")
	}
	return source, target
}
