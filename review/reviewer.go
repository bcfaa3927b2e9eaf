package review

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // literal values; parsing panics without a driver

	"github.com/shiftgate/shiftgate/internal/schema"
)

// Server is the server flavour a script is reviewed for. It decides how
// ALTER TABLE algorithms are predicted.
type Server string

// The supported server flavours.
const (
	MariaDB1011 Server = "mariadb-10.11"
	MySQL80     Server = "mysql-8.0"
)

// Option configures a Reviewer. Options validate their arguments; New
// returns the first error.
type Option func(*config) error

type config struct {
	policy   *Policy
	catalog  Catalog
	database string
	logger   *slog.Logger
	server   Server
	extra    []Rule
}

// WithPolicy reviews under p instead of DefaultPolicy. Its rule IDs and
// parameters are checked by New against the built-in rules and those of
// WithRules. New copies what it needs: changing p afterwards has no effect.
func WithPolicy(p *Policy) Option {
	return func(c *config) error {
		if p == nil {
			return errors.New("review: WithPolicy: nil policy")
		}
		c.policy = p
		return nil
	}
}

// WithCatalog makes the review schema-aware: tables are looked up in cat
// (for example a LiveCatalog), with the script's own DDL applied on top.
// Without a catalog only the script's own DDL is known.
func WithCatalog(cat Catalog) Option {
	return func(c *config) error {
		if cat == nil {
			return errors.New("review: WithCatalog: nil catalog")
		}
		c.catalog = cat
		return nil
	}
}

// WithDefaultDatabase sets the database that unqualified table names refer
// to until the script says USE.
func WithDefaultDatabase(name string) Option {
	return func(c *config) error {
		if err := schema.ValidateName("database", name); err != nil {
			return fmt.Errorf("review: WithDefaultDatabase: %w", err)
		}
		c.database = name
		return nil
	}
}

// WithLogger logs catalog errors and rule failures to l (by default
// nothing is logged).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("review: WithLogger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithServer reviews for server flavour s. It decides how ALTER TABLE
// algorithms are predicted and which executable comments (/*!NNNNN ... */,
// /*M!NNNNNN ... */) the server runs: those of its version or older, for
// /*M! only on MariaDB. Without WithServer, algorithms are predicted as on
// MariaDB1011 and every executable comment counts as run, whatever its
// version: the safe assumption when the server is not known.
func WithServer(s Server) Option {
	return func(c *config) error {
		if s != MariaDB1011 && s != MySQL80 {
			return fmt.Errorf("review: WithServer: unknown server %q (want %s or %s)", s, MariaDB1011, MySQL80)
		}
		c.server = s
		return nil
	}
}

// WithRules adds the host application's own rules to the built-in ones.
// Each must be valid (see Rule) and have an ID no other rule has.
func WithRules(rules ...Rule) Option {
	return func(c *config) error {
		for i := range rules {
			if err := rules[i].validate(); err != nil {
				return fmt.Errorf("WithRules: %w", err)
			}
		}
		c.extra = append(c.extra, rules...)
		return nil
	}
}

// Reviewer reviews SQL scripts. It is safe for concurrent use.
type Reviewer struct {
	policy   *compiledPolicy
	rules    []Rule
	catalog  Catalog
	database string
	logger   *slog.Logger
	server   Server
	target   target // what executable comments run
}

// New returns a Reviewer configured by opts.
func New(opts ...Option) (*Reviewer, error) {
	var c config
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("review: nil option")
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	rules := Rules()
	for _, r := range c.extra {
		if slices.ContainsFunc(rules, func(b Rule) bool { return b.ID == r.ID }) {
			return nil, fmt.Errorf("review: WithRules: rule %s already exists", r.ID)
		}
		rules = append(rules, r)
	}
	slices.SortFunc(rules, func(a, b Rule) int { return strings.Compare(a.ID, b.ID) })
	cp, err := compilePolicy(c.policy, rules)
	if err != nil {
		return nil, err
	}
	logger := c.logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	tgt := targetOf(c.server)
	if c.server == "" {
		c.server = MariaDB1011
	}
	return &Reviewer{policy: cp, rules: rules, catalog: c.catalog, database: c.database, logger: logger, server: c.server, target: tgt}, nil
}

// Rules returns every rule the reviewer knows, sorted by ID, with Level and
// parameter defaults as the policy sets them (LevelNone for rules that are
// off).
func (r *Reviewer) Rules() []Rule {
	out := make([]Rule, len(r.policy.all))
	for i, cr := range r.policy.all {
		out[i] = *cr.rule
		out[i].Level = cr.level
		out[i].Params = slices.Clone(cr.rule.Params)
		for j := range out[i].Params {
			out[i].Params[j].Default = cr.params[j]
		}
	}
	return out
}

// parserBox holds a pooled parser; a parser is not safe for concurrent use.
type parserBox struct{ p *parser.Parser }

var parserPool = sync.Pool{New: func() any { return &parserBox{p: parser.New()} }}

// run is the state of one Review call.
type run struct {
	r     *Reviewer
	res   *Result
	cat   *ScriptCatalog
	notes map[string]bool
	chk   Check
	sum   scriptSummary
	// created are the tables the script creates, by their current name,
	// for the rules that judge their final shape.
	created map[tableKey]*created
	// nodes and conds are the buffers of Check.nodes and Check.condNodes,
	// reused statement by statement.
	nodes, conds []ast.Node
	// tableNames are the names describe gave tables, shared by the
	// statements' Tables.
	tableNames map[tableKey]string
	// cols and scopes are the buffers of Check.resolution: the column
	// references of the statement under review and the resolver's stack.
	cols   resolution
	scopes []*scope
	owners []ast.Node
	// tables is the buffer of script.unknown-table's table references.
	tables []*ast.TableName
	// slab holds the statements' Tables (see keepStrings).
	slab []string
}

// scriptSummary is what the script-wide rules need of the statements
// reviewed so far, kept up to date statement by statement so that no rule
// scans the statements before its own.
type scriptSummary struct {
	ddl, dml bool // a DDL, a DML statement was reviewed
	// altered maps a table, as Statement.Tables names it, to the index of
	// the first CREATE TABLE, ALTER TABLE, CREATE INDEX or DROP INDEX on it.
	altered map[string]int
	// queries are the indexes of the queries before the first DDL or DML
	// statement that the rules saw (one the parser could read).
	queries []int
}

// note adds the statement res to the summary once the rules ran on it;
// parsed is false for a statement the parser could not read, creates is
// true for a CREATE TABLE with its own column list.
func (s *scriptSummary) note(res *Statement, parsed, creates bool) {
	switch res.Kind {
	case KindDDL, KindDML:
		if parsed {
			s.queries = nil
		}
	case KindQuery:
		if !s.ddl && !s.dml {
			s.queries = append(s.queries, res.Index)
		}
	}
	s.ddl = s.ddl || res.Kind == KindDDL
	s.dml = s.dml || res.Kind == KindDML
	switch {
	case res.Type == "ALTER TABLE", res.Type == "CREATE INDEX", res.Type == "DROP INDEX", creates:
		if len(res.Tables) == 0 {
			break
		}
		if _, ok := s.altered[res.Tables[0]]; !ok {
			if s.altered == nil {
				s.altered = map[string]int{}
			}
			s.altered[res.Tables[0]] = res.Index
		}
	}
}

// stmtState is what the rules see of one statement.
type stmtState struct {
	node     ast.StmtNode
	stmt     Statement  // the review while parsing
	res      *Statement // the review in the result, once reviewing
	database string
	// execs are the executable comments of the statement the target runs.
	execs []execComment
	// invisible are the columns the statement declares INVISIBLE (see
	// columnVisibility), with stmt 0.
	invisible []invisibleColumn
	// algoWhy says why the statement gets its Algorithm; requested is the
	// ALGORITHM clause it names, "" for none.
	algoWhy, requested string
	// cols is the statement's column references resolved, once a rule
	// asked (see Check.column).
	cols *resolution
	// routine describes a statement on a stored program, nil for others.
	routine *Routine
	// explained is true once the statement was EXPLAINed on the catalog's
	// server (see run.explain), explainErr the error that returned.
	explained  bool
	explainErr error
	// derived holds what rules derive from node, each computed once a
	// rule asked (see Check.columnDefs and the like), so that the rules of
	// one statement share it.
	derived derived
}

// derived is what the rules derive from a statement; done records which
// parts are computed.
type derived struct {
	done      derivedParts
	cols      []newColumn
	declTable *ast.TableName
	decl      []declIndex
	idxTable  *ast.TableName
	indexes   []indexView
	idxKnown  bool
	names     []name
	after     afterState // see tableAfter
}

// derivedParts is a set of the parts of derived.
type derivedParts uint8

const (
	derivedCols derivedParts = 1 << iota
	derivedDecl
	derivedIndexes
	derivedNames
	derivedConds
	derivedNodes
	derivedAfter
)

// once reports whether part still has to be computed, and marks it done.
func (d *derived) once(part derivedParts) bool {
	if d.done&part != 0 {
		return false
	}
	d.done |= part
	return true
}

func (rv *run) lookup(ctx context.Context, k tableKey) (*TableDef, tableState) {
	def, state, err := rv.cat.lookup(ctx, k)
	if err != nil && !errors.Is(err, ErrUnknown) && !rv.notes[k.String()] {
		rv.notes[k.String()] = true
		rv.r.logger.WarnContext(ctx, "review: catalog lookup failed", "table", k.String(), "err", err)
		rv.res.Summary.Notes = append(rv.res.Summary.Notes, fmt.Sprintf("catalog: table %s: %v; schema checks on it skipped", k, err))
	}
	return def, state
}

// Review reviews script: it splits it into statements, parses each as the
// target server reads it (executable comments included, see WithServer),
// runs the policy's rules and sums up. It returns an error only when ctx
// ends; a statement that cannot be parsed is a "parse.error" finding and
// the rest of the script is still reviewed. Time is linear in the script;
// memory beyond the script is that of the Result: statements are reviewed
// one by one as they are parsed.
func (r *Reviewer) Review(ctx context.Context, script string) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rv := &run{r: r, res: &Result{Statements: make([]Statement, 0, 8)}, cat: NewScriptCatalog(r.catalog), notes: map[string]bool{}}
	rv.res.Summary.Policy = r.policy.name
	rv.res.Summary.Notes = []string{}
	box := parserPool.Get().(*parserBox)
	defer parserPool.Put(box)

	// Review each statement as soon as it is parsed: the rules of a
	// statement look only at those before it (through the catalog and the
	// script summary), and its syntax tree is garbage once they ran.
	var states []stmtState
	sp := newSplitter(script)
	db := r.database
	for {
		pc, ok := sp.next()
		if !ok {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		states = rv.parse(box.p, pc, &db, states[:0])
		for i := range states {
			st := &states[i]
			st.stmt.Index = len(rv.res.Statements)
			rv.res.Statements = append(rv.res.Statements, st.stmt)
			st.res = &rv.res.Statements[st.stmt.Index]
			rv.review(ctx, st)
			rv.sum.note(st.res, st.node != nil, plainCreate(st.node) != nil)
			*st = stmtState{}
		}
	}
	rv.judgeShapes(ctx)
	rv.summarize()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return rv.res, nil
}

// parse parses one piece into statements appended to out (several when a
// custom delimiter holds several ;-separated statements). *db is the
// default database, which USE statements change.
func (rv *run) parse(p *parser.Parser, pc piece, db *string, out []stmtState) []stmtState {
	text, execs := serverText(pc.text, pc.execs, rv.r.target)
	text, invisible := columnVisibility(text)
	nodes, _, err := p.ParseSQL(text)
	if err == nil && len(nodes) > 1 && pc.delim != ";" {
		sp := newSplitter(pc.text)
		for {
			sub, ok := sp.next()
			if !ok {
				break
			}
			sub.pos = advancePosition(pc.pos, pc.text[:sub.pos.Offset])
			sub.delim = ";"
			out = rv.parse(p, sub, db, out)
		}
		return out
	}
	st := stmtState{database: *db, execs: execs, invisible: invisible, stmt: Statement{Text: pc.text, Position: pc.pos, End: pc.pos.Offset + len(pc.text), Tables: []string{}, Findings: []Finding{}}}
	switch {
	case err != nil:
		if unsupportedByParser(text) {
			st.routine = recognizeRoutine(text)
		}
		rv.parseFailure(&st.stmt, st.routine, text, err)
	case len(nodes) == 0:
		st.stmt.Kind, st.stmt.Type = KindOther, "EMPTY"
	default:
		st.node = nodes[0]
		st.stmt.Kind, st.stmt.Type = classify(st.node)
		switch n := st.node.(type) {
		case *ast.UseStmt:
			*db = n.DBName
		case *ast.ProcedureInfo, *ast.DropProcedureStmt:
			st.routine = recognizeRoutine(text)
		}
	}
	st.stmt.Routine = st.routine
	return append(out, st)
}

var parseErrPattern = regexp.MustCompile(`(?s)line (\d+) column (\d+) near "(.*)"`)

// parseFailure fills res for a statement the parser cannot read; srv is
// its text as the server reads it (see serverText), routine what the
// statement does to a stored program if it was recognised.
func (rv *run) parseFailure(res *Statement, routine *Routine, srv string, err error) {
	msg := strings.TrimSpace(err.Error())
	pos := res.Position
	if m := parseErrPattern.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		pos = advancePosition(res.Position, res.Text[:errorOffset(srv, line, col, m[3])])
	}
	res.Kind, res.Type = guessKind(srv)
	if routine != nil {
		res.Kind, res.Type = KindDDL, routine.Action+" "+routine.Kind
	}
	id, text := "parse.error", "cannot parse statement: "+msg
	switch {
	case routine != nil:
		id, text = "parse.unsupported", fmt.Sprintf("%s %s is not understood by the TiDB parser; rules saw its kind, name and table but not its body", res.Type, routine.Name)
	case unsupportedByParser(srv):
		id, text = "parse.unsupported", fmt.Sprintf("%s is not understood by the TiDB parser; the statement was not checked", res.Type)
	}
	for _, cr := range rv.r.policy.active {
		if cr.rule.ID == id {
			res.Findings = append(res.Findings, Finding{Rule: id, Level: cr.level, Message: text, Position: pos})
		}
	}
	res.Level = maxLevel(res.Findings)
	res.Risk = baseRisk(res.Type)
}

// errorOffset turns the parser's line and column within text, and the
// text near the error, into an offset in text.
func errorOffset(text string, line, col int, near string) int {
	lineOff := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(text[lineOff:], '\n')
		if i < 0 {
			break
		}
		lineOff += i + 1
	}
	off := -1
	switch {
	case strings.HasSuffix(text, near):
		off = len(text) - len(near)
	case near != "":
		if i := strings.Index(text[lineOff:], near); i >= 0 {
			off = lineOff + i
		}
	}
	if off < 0 {
		off = min(lineOff+max(col-1, 0), len(text))
	}
	return off
}

// unsupportedByParser reports statements MySQL accepts that the TiDB parser
// does not: triggers, functions, events and some DROP forms.
func unsupportedByParser(text string) bool {
	w := leadingWords(text, make([]string, 0, 6))
	if len(w) < 2 {
		return false
	}
	switch w[0] {
	case "CREATE":
		for _, x := range w[1:] {
			switch x {
			case "TRIGGER", "FUNCTION", "EVENT", "PROCEDURE", "AGGREGATE", "PACKAGE":
				return true
			}
		}
	case "DROP", "ALTER":
		switch w[1] {
		case "TRIGGER", "FUNCTION", "EVENT", "PROCEDURE", "PACKAGE":
			return true
		}
	}
	return false
}

// leadingWords appends to out the leading upper-cased words of text, up
// to out's capacity, skipping DEFINER= clauses; callers pass a buffer that
// can live on their stack.
func leadingWords(text string, out []string) []string {
	i := 0
	for len(out) < cap(out) && i < len(text) {
		for i < len(text) && !isWordByte(text[i]) {
			i++
		}
		j := i
		for j < len(text) && isWordByte(text[j]) {
			j++
		}
		if j == i {
			break
		}
		w := strings.ToUpper(text[i:j])
		i = j
		if w == "DEFINER" {
			// skip "= user@host"
			for i < len(text) && (text[i] == ' ' || text[i] == '=') {
				i++
			}
			for i < len(text) && text[i] != ' ' && text[i] != '\n' && text[i] != '\t' {
				i++
			}
			continue
		}
		out = append(out, w)
	}
	return out
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// guessKind classifies a statement the parser could not read by its first
// words.
func guessKind(text string) (Kind, string) {
	w := leadingWords(text, make([]string, 0, 3))
	if len(w) == 0 {
		return KindOther, "UNKNOWN"
	}
	typ := w[0]
	switch w[0] {
	case "CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE":
		if len(w) > 1 {
			obj := w[1]
			if (obj == "OR" || obj == "UNIQUE" || obj == "TEMPORARY" || obj == "SQL" || obj == "AGGREGATE") && len(w) > 2 {
				obj = w[2]
			}
			typ += " " + obj
		}
		return KindDDL, typ
	case "INSERT", "UPDATE", "DELETE", "REPLACE", "LOAD":
		return KindDML, typ
	case "SELECT", "SHOW", "EXPLAIN", "DESC", "DESCRIBE", "WITH":
		return KindQuery, typ
	}
	return KindOther, typ
}

func maxLevel(fs []Finding) Level {
	l := LevelNone
	for _, f := range fs {
		l = max(l, f.Level)
	}
	return l
}

// review classifies a parsed statement, estimates its size, runs the
// rules and applies it to the script's catalog.
func (rv *run) review(ctx context.Context, st *stmtState) {
	res := st.res
	if st.node == nil {
		if st.routine != nil {
			rv.reviewRoutine(ctx, st)
		}
		return
	}
	main, hasMain := rv.describe(ctx, st)
	if hasMain {
		if def, state := rv.lookup(ctx, main); state == tableFound && def != nil && (def.Rows > 0 || def.DataLength > 0) {
			n := def.Rows
			res.TableRows = &n
		}
	}
	rv.estimate(ctx, st, hasMain)
	if res.Kind == KindDDL {
		res.Algorithm, st.algoWhy, st.requested = rv.predictAlgorithm(ctx, st)
		if st.requested == algoCopy && res.Algorithm != algoCopy {
			// Both servers copy when asked to, whatever the change needs.
			res.Algorithm, st.algoWhy = algoCopy, "the statement asks for ALGORITHM=COPY"
		}
	}

	c := &rv.chk
	*c = Check{ctx: ctx, rv: rv, st: st, index: res.Index}
	for i := range rv.r.policy.active {
		cr := &rv.r.policy.active[i]
		c.rule = cr
		rv.runRule(ctx, c)
	}
	res.Level = maxLevel(res.Findings)
	res.Risk = rv.risk(res)
	if res.Kind == KindDDL {
		rv.track(ctx, st)
		rv.cat.apply(ctx, st.database, st.node, st.invisible, 0)
	}
}

// reviewRoutine runs the rules that look at stored programs on a
// statement the parser could not read but the reviewer recognised.
func (rv *run) reviewRoutine(ctx context.Context, st *stmtState) {
	res := st.res
	if r := st.routine; r.Table != "" {
		t := r.Table
		if r.TableDatabase != "" {
			t = r.TableDatabase + "." + t
		} else if st.database != "" {
			t = st.database + "." + t
		}
		res.Tables = append(res.Tables, t)
	}
	c := &rv.chk
	*c = Check{ctx: ctx, rv: rv, st: st, index: res.Index}
	for i := range rv.r.policy.active {
		cr := &rv.r.policy.active[i]
		if cr.rule.Routines {
			c.rule = cr
			rv.runRule(ctx, c)
		}
	}
	res.Level = maxLevel(res.Findings)
}

// runRule runs one rule, turning a panic into a finding.
func (rv *run) runRule(ctx context.Context, c *Check) {
	defer func() {
		if p := recover(); p != nil {
			rv.r.logger.ErrorContext(ctx, "review: rule panicked", "rule", c.rule.rule.ID, "panic", p)
			c.st.res.Findings = append(c.st.res.Findings, Finding{Rule: c.rule.rule.ID, Level: LevelNotice,
				Message: fmt.Sprintf("rule %s failed on this statement: %v", c.rule.rule.ID, p), Position: c.st.res.Position})
		}
	}()
	c.rule.rule.Check(c)
}

// describe fills res.Tables and returns the statement's main table, if it
// has one.
func (rv *run) describe(ctx context.Context, st *stmtState) (tableKey, bool) {
	var buf [4]*ast.TableName
	names := buf[:0]
	switch n := st.node.(type) {
	case *ast.CreateTableStmt:
		names = append(names, n.Table)
		if n.Select != nil {
			names = tableNames(n.Select, names)
		}
	case *ast.AlterTableStmt:
		names = append(names, n.Table)
	case *ast.DropTableStmt:
		names = n.Tables
	case *ast.TruncateTableStmt:
		names = append(names, n.Table)
	case *ast.CreateIndexStmt:
		names = append(names, n.Table)
	case *ast.DropIndexStmt:
		names = append(names, n.Table)
	case *ast.RenameTableStmt:
		for _, t := range n.TableToTables {
			names = append(names, t.OldTable)
		}
	case *ast.InsertStmt:
		names = tableNames(n.Table, names)
		if n.Select != nil {
			names = tableNames(n.Select, names)
		}
	case *ast.UpdateStmt:
		names = tableNames(n.TableRefs, names)
	case *ast.DeleteStmt:
		if n.IsMultiTable {
			names = deleteTargets(n)
		}
		names = tableNames(n.TableRefs, names)
	case *ast.SelectStmt:
		names = tableNames(n.From, names)
	}
	var main tableKey
	found := false
	var sbuf [4]string
	list := sbuf[:0]
	for _, tn := range names {
		if tn == nil || tn.Name.O == "" {
			continue
		}
		k := qualified(st.database, tn)
		if !found {
			main, found = k, true
		}
		s, ok := rv.tableNames[k]
		if !ok {
			s = k.name
			if k.db != "" {
				s = k.db + "." + k.name
			}
			if rv.tableNames == nil {
				rv.tableNames = map[tableKey]string{}
			}
			rv.tableNames[k] = s
		}
		if !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	if len(list) > 0 {
		st.res.Tables = rv.keepStrings(list)
	}
	return main, found
}

// keepStrings returns a copy of list from the run's slab, which the
// statements' Tables share; its capacity is its length, so that an
// append copies it.
func (rv *run) keepStrings(list []string) []string {
	if cap(rv.slab)-len(rv.slab) < len(list) {
		rv.slab = make([]string, 0, max(256, len(list)))
	}
	start := len(rv.slab)
	rv.slab = append(rv.slab, list...)
	return rv.slab[start:len(rv.slab):len(rv.slab)]
}

// tableNames appends the base tables that n reads or writes (not those of
// subqueries in expressions).
func tableNames(n ast.Node, out []*ast.TableName) []*ast.TableName {
	switch n := n.(type) {
	case *ast.TableRefsClause:
		if n != nil {
			return tableNames(n.TableRefs, out)
		}
	case *ast.Join:
		if n == nil {
			return out
		}
		out = tableNames(n.Left, out)
		if n.Right != nil {
			out = tableNames(n.Right, out)
		}
	case *ast.TableSource:
		return tableNames(n.Source, out)
	case *ast.TableName:
		return append(out, n)
	case *ast.SelectStmt:
		if n.From != nil {
			return tableNames(n.From, out)
		}
	case *ast.SetOprStmt:
		if n.SelectList != nil {
			for _, s := range n.SelectList.Selects {
				out = tableNames(s, out)
			}
		}
	}
	return out
}

// deleteTargets returns the tables a DELETE removes rows from: for a
// multi-table DELETE those its target list names, an alias read as the
// table it stands for (DELETE o FROM orders o JOIN ...); else its table.
func deleteTargets(n *ast.DeleteStmt) []*ast.TableName {
	if !n.IsMultiTable || n.Tables == nil {
		return tableNames(n.TableRefs, nil)
	}
	out := make([]*ast.TableName, 0, len(n.Tables.Tables))
	for _, tn := range n.Tables.Tables {
		out = append(out, aliasedTable(n.TableRefs, tn))
	}
	return out
}

// aliasedTable returns the table of FROM clause n that tn names, by its
// alias or else its name; tn itself when none does.
func aliasedTable(n ast.Node, tn *ast.TableName) *ast.TableName {
	switch n := n.(type) {
	case *ast.TableRefsClause:
		if n != nil {
			return aliasedTable(n.TableRefs, tn)
		}
	case *ast.Join:
		if n == nil {
			return tn
		}
		if t := aliasedTable(n.Left, tn); t != tn {
			return t
		}
		if n.Right != nil {
			return aliasedTable(n.Right, tn)
		}
	case *ast.TableSource:
		src, ok := n.Source.(*ast.TableName)
		switch {
		case !ok:
		case n.AsName.L != "":
			if tn.Schema.L == "" && n.AsName.L == tn.Name.L {
				return src
			}
		case src.Name.L == tn.Name.L && (tn.Schema.L == "" || tn.Schema.L == src.Schema.L):
			return src
		}
	}
	return tn
}

// estimate fills res.AffectedRows for data changes: all rows of the table
// for a single-table UPDATE or DELETE without WHERE (or with an always
// true one, such as 1 = 1), else EXPLAIN through the catalog when it can.
func (rv *run) estimate(ctx context.Context, st *stmtState, hasMain bool) {
	res := st.res
	explain := false
	switch n := st.node.(type) {
	case *ast.UpdateStmt:
		if (n.Where == nil || alwaysTrue(n.Where)) && !n.MultipleTable && n.Limit == nil && res.TableRows != nil {
			v := *res.TableRows
			res.AffectedRows = &v
			return
		}
		explain = true
	case *ast.DeleteStmt:
		if (n.Where == nil || alwaysTrue(n.Where)) && !n.IsMultiTable && n.Limit == nil && res.TableRows != nil {
			v := *res.TableRows
			res.AffectedRows = &v
			return
		}
		explain = true
	case *ast.InsertStmt:
		explain = n.Select != nil
	}
	if !explain || !hasMain {
		return
	}
	if n, ok := rv.explain(ctx, st); ok {
		res.AffectedRows = &n
	}
}

// explain EXPLAINs the statement through the catalog, when it is a
// RowEstimator and the server has every table of the statement (EXPLAIN
// of a table the script creates fails), and returns its row estimate. It
// records that it ran, and its error, in st.
func (rv *run) explain(ctx context.Context, st *stmtState) (int64, bool) {
	st.explained = true
	est, ok := rv.r.catalog.(RowEstimator)
	if !ok {
		return 0, false
	}
	for _, t := range st.res.Tables {
		db, name, found := strings.Cut(t, ".")
		if !found {
			db, name = "", t
		}
		if rv.cat.createdHere(tableKey{db, name}) {
			return 0, false
		}
	}
	n, err := est.EstimateRows(ctx, st.database, st.res.Text)
	if err != nil {
		st.explainErr = err
		rv.r.logger.DebugContext(ctx, "review: no row estimate", "statement", st.res.Index, "err", err)
		return 0, false
	}
	return n, true
}

// risk rates a reviewed statement.
func (rv *run) risk(res *Statement) Risk {
	r := baseRisk(res.Type)
	if r == RiskLow && res.Kind == KindQuery {
		return r
	}
	big := res.TableRows != nil && *res.TableRows >= rv.r.policy.bigTableRows ||
		res.AffectedRows != nil && *res.AffectedRows >= rv.r.policy.bigAffectedRows
	if big && r < RiskHigh && (res.Kind == KindDDL || res.Kind == KindDML) {
		r++
	}
	return r
}

// baseRisk rates a statement type before sizes: high for what destroys
// data, moderate for what changes tables or many rows, low otherwise.
func baseRisk(typ string) Risk {
	switch typ {
	case "DROP TABLE", "DROP DATABASE", "TRUNCATE TABLE", "DROP SCHEMA":
		return RiskHigh
	case "ALTER TABLE", "UPDATE", "DELETE", "REPLACE", "RENAME TABLE", "CREATE INDEX", "DROP INDEX", "INSERT SELECT", "LOAD DATA":
		return RiskModerate
	}
	return RiskLow
}

// summarize fills the result's summary.
func (rv *run) summarize() {
	s := &rv.res.Summary
	s.Statements = len(rv.res.Statements)
	for i := range rv.res.Statements {
		st := &rv.res.Statements[i]
		st.Index = i
		for _, f := range st.Findings {
			switch f.Level {
			case LevelError:
				s.Errors++
			case LevelWarning:
				s.Warnings++
			case LevelNotice:
				s.Notices++
			}
		}
		s.Level = max(s.Level, st.Level)
		s.Risk = max(s.Risk, st.Risk)
	}
	s.Pass = s.Level < rv.r.policy.failLevel
}
