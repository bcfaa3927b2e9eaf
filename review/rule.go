package review

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// Category groups rules by what they look at.
type Category string

// The rule categories.
const (
	CategoryNaming Category = "naming" // names of tables, columns, indexes
	CategoryTable  Category = "table"  // table definitions
	CategoryColumn Category = "column" // column definitions
	CategoryIndex  Category = "index"  // index definitions
	CategoryDDL    Category = "ddl"    // the safety of schema changes
	CategoryDML    Category = "dml"    // the safety and cost of reads and writes
	CategoryScript Category = "script" // the script as a whole
)

// Param is a setting of a rule that a policy can change.
type Param struct {
	Name string `json:"name"`
	// Default is the value when the policy sets none: an int, bool, string
	// or []string. A policy's value must be of the same type.
	Default any    `json:"default"`
	Summary string `json:"summary"`
}

// Rule is one check. Check is a plain function that looks at one statement
// through a *Check and reports findings; rules carry no state of their own.
type Rule struct {
	// ID is stable and names the rule in policies and findings:
	// lower-case category and name joined by a dot, e.g. "table.require-pk".
	ID       string   `json:"id"`
	Category Category `json:"category"`
	// Level is the default level of the rule's findings; LevelNone means
	// the rule is off unless a policy turns it on.
	Level   Level   `json:"level"`
	Summary string  `json:"summary"`
	Params  []Param `json:"params,omitempty"`
	// Fires is an example script that the rule reports under its default
	// parameters; Passes is a similar one it does not report. Examples may
	// refer to a table "big" of 50 million rows and otherwise create the
	// tables they use.
	Fires  string `json:"fires"`
	Passes string `json:"passes"`
	// ExampleParams are the parameters Fires and Passes are reviewed
	// under, for rules whose defaults report nothing (an empty denylist);
	// nil means the defaults.
	ExampleParams map[string]any `json:"example_params,omitempty"`
	// Live marks a rule that needs a catalog that can EXPLAIN (a
	// RowEstimator such as LiveCatalog): its examples fire only against a
	// server that has their tables.
	Live bool `json:"live,omitempty"`
	// Peers names the equivalent checks of other review tools (Bytebase
	// rules, goInception options), for users coming from them; Rules
	// fills it for the built-in rules.
	Peers []string `json:"peers,omitempty"`
	// Check looks at c.Stmt() and calls c.Report for each problem.
	Check func(c *Check) `json:"-"`
	// Routines makes the reviewer also call Check for statements on
	// stored programs that the parser cannot read (CREATE TRIGGER,
	// FUNCTION, EVENT...): c.Stmt() is nil then, and c.Routine()
	// describes the statement. Without it a rule sees parsed statements
	// only.
	Routines bool `json:"routines,omitempty"`
	// final, for rules on a table's shape, judges each table the script
	// creates in its state at the end of the script.
	final func(c *Check, sh *shape)
}

var ruleIDPattern = regexp.MustCompile(`^[a-z][a-z0-9]*(\.[a-z0-9]+(-[a-z0-9]+)*)+$`)

// validate checks that r is complete and well formed.
func (r *Rule) validate() error {
	if !ruleIDPattern.MatchString(r.ID) {
		return fmt.Errorf("review: rule %q: ID must be lower-case words joined by dots and dashes, like table.require-pk", r.ID)
	}
	if r.Check == nil {
		return fmt.Errorf("review: rule %s: Check is nil", r.ID)
	}
	if r.Level < LevelNone || r.Level > LevelError {
		return fmt.Errorf("review: rule %s: invalid level %d", r.ID, int(r.Level))
	}
	if r.Summary == "" {
		return fmt.Errorf("review: rule %s: no summary", r.ID)
	}
	if r.Category == "" {
		return fmt.Errorf("review: rule %s: no category", r.ID)
	}
	seen := map[string]bool{}
	for _, p := range r.Params {
		if p.Name == "" || seen[p.Name] {
			return fmt.Errorf("review: rule %s: parameter name %q empty or repeated", r.ID, p.Name)
		}
		seen[p.Name] = true
		switch p.Default.(type) {
		case int, bool, string, []string:
		default:
			return fmt.Errorf("review: rule %s: parameter %s: default %v (%T) is not an int, bool, string or []string", r.ID, p.Name, p.Default, p.Default)
		}
	}
	return nil
}

// Rules returns the built-in rules, sorted by ID. The slice is a copy.
func Rules() []Rule {
	return slices.Clone(builtinRules)
}

// builtinRules is every rule of this package, sorted by ID at init.
var builtinRules []Rule

func init() {
	for _, group := range [][]Rule{namingRules, tableRules, columnRules, indexRules, ddlRules, dmlRules, scriptRules} {
		builtinRules = append(builtinRules, group...)
	}
	slices.SortFunc(builtinRules, func(a, b Rule) int { return strings.Compare(a.ID, b.ID) })
	for i := range builtinRules {
		builtinRules[i].Peers = peerEquivalents[builtinRules[i].ID]
		if err := builtinRules[i].validate(); err != nil {
			panic(err)
		}
		if i > 0 && builtinRules[i].ID == builtinRules[i-1].ID {
			panic("review: duplicate rule " + builtinRules[i].ID)
		}
	}
}

// Check is what a rule's Check function sees of one statement: the parsed
// statement, the schema before it runs, the rule's parameters, and a way to
// report findings. It is only valid during the call.
type Check struct {
	ctx   context.Context
	rv    *run
	st    *stmtState
	rule  *compiledRule
	index int
}

// Context returns the context of the Review call.
func (c *Check) Context() context.Context { return c.ctx }

// Stmt returns the parsed statement; it is nil only for rules that set
// Routines, on a statement the parser could not read.
func (c *Check) Stmt() ast.StmtNode { return c.st.node }

// Routine describes the statement when it creates, changes or drops a
// stored program (procedure, function, trigger, event), parsed or not;
// it is nil for other statements.
func (c *Check) Routine() *Routine { return c.st.routine }

// Text returns the statement's text as written in the script.
func (c *Check) Text() string { return c.st.res.Text }

// Kind returns the statement's kind.
func (c *Check) Kind() Kind { return c.st.res.Kind }

// Database returns the default database in force for the statement: the
// reviewer's default or the last USE before it. It may be "".
func (c *Check) Database() string { return c.st.database }

// Server returns the server flavour the script is reviewed for.
func (c *Check) Server() Server { return c.rv.r.server }

// Table returns the definition of the table tn names as it is just before
// the statement runs (after the script's earlier DDL), or nil if the table
// does not exist or the catalog cannot tell. An empty schema in tn means
// the default database.
func (c *Check) Table(tn *ast.TableName) *TableDef {
	def, _ := c.rv.lookup(c.ctx, c.qualify(tn))
	return def
}

// Missing reports whether the catalog knows that the table tn names does
// not exist just before the statement runs. It is false when the catalog
// cannot tell.
func (c *Check) Missing(tn *ast.TableName) bool {
	_, state := c.rv.lookup(c.ctx, c.qualify(tn))
	return state == tableMissing
}

func (c *Check) qualify(tn *ast.TableName) tableKey {
	db := tn.Schema.O
	if db == "" {
		db = c.st.database
	}
	return tableKey{db: db, name: tn.Name.O}
}

// AffectedRows returns the estimate of rows the statement changes, if any.
func (c *Check) AffectedRows() (int64, bool) {
	if p := c.st.res.AffectedRows; p != nil {
		return *p, true
	}
	return 0, false
}

// TableRows returns the catalog's row estimate of the statement's main
// table, if known.
func (c *Check) TableRows() (int64, bool) {
	if p := c.st.res.TableRows; p != nil {
		return *p, true
	}
	return 0, false
}

// Algorithm returns the predicted ALTER algorithm ("INSTANT", "INPLACE",
// "COPY"), or "" for statements that are not table changes.
func (c *Check) Algorithm() string { return c.st.res.Algorithm }

// Prior returns the reviews of the statements before this one in the
// script, findings possibly incomplete. The slice must not be changed.
// A rule that scans it for every statement is quadratic in the script;
// look back only for statements that are rare, or keep to the statement.
func (c *Check) Prior() []Statement { return c.rv.res.Statements[:c.index] }

// Int returns the int parameter name of the rule. It panics if the rule
// declares no such int parameter: that is a bug in the rule.
func (c *Check) Int(name string) int { return c.param(name).(int) }

// Bool returns the bool parameter name of the rule.
func (c *Check) Bool(name string) bool { return c.param(name).(bool) }

// String returns the string parameter name of the rule.
func (c *Check) String(name string) string { return c.param(name).(string) }

// Strings returns the []string parameter name of the rule. The slice must
// not be changed.
func (c *Check) Strings(name string) []string { return c.param(name).([]string) }

func (c *Check) param(name string) any {
	for i := range c.rule.rule.Params {
		if c.rule.rule.Params[i].Name == name {
			return c.rule.params[i]
		}
	}
	panic(fmt.Sprintf("review: rule %s has no parameter %q", c.rule.rule.ID, name))
}

// Report adds a finding at the statement's start. The message should name
// the table, column or index at fault.
func (c *Check) Report(format string, args ...any) {
	c.ReportAt(0, format, args...)
}

// ReportAt adds a finding at byte offset off within the statement's text
// (as expressions' OriginTextPosition give it); an offset outside the text
// means the statement's start.
func (c *Check) ReportAt(off int, format string, args ...any) {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	pos := c.st.res.Position
	if off > 0 && off < len(c.st.res.Text) {
		pos = advancePosition(pos, c.st.res.Text[:off])
	}
	c.st.res.Findings = append(c.st.res.Findings, Finding{Rule: c.rule.rule.ID, Level: c.rule.level, Message: msg, Position: pos})
}

// reportOn adds a finding of the rule to the earlier statement i, at its
// start, for rules that learn only later that it is at fault.
func (c *Check) reportOn(i int, format string, args ...any) {
	st := &c.rv.res.Statements[i]
	st.Findings = append(st.Findings, Finding{Rule: c.rule.rule.ID, Level: c.rule.level, Message: fmt.Sprintf(format, args...), Position: st.Position})
	st.Level = max(st.Level, c.rule.level)
}

// advancePosition returns the position just after text, which starts at p.
func advancePosition(p Position, text string) Position {
	p.Offset += len(text)
	if nl := strings.LastIndexByte(text, '\n'); nl >= 0 {
		p.Line += strings.Count(text, "\n")
		p.Column = 1 + countRunes(text[nl+1:])
	} else {
		p.Column += countRunes(text)
	}
	return p
}

func countRunes(s string) int {
	n := 0
	for range s {
		n++
	}
	return n
}

// ErrUnknownRule is wrapped by errors about a rule ID no rule has.
var ErrUnknownRule = errors.New("unknown rule")
