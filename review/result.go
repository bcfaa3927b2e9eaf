package review

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Level is how serious a finding is. The zero value, LevelNone, means no
// finding; in a policy it turns a rule off.
type Level int

// The levels, from least to most serious.
const (
	LevelNone Level = iota
	LevelNotice
	LevelWarning
	LevelError
)

var levelNames = [...]string{"none", "notice", "warning", "error"}

// String returns "none", "notice", "warning" or "error".
func (l Level) String() string {
	if l < LevelNone || l > LevelError {
		return fmt.Sprintf("Level(%d)", int(l))
	}
	return levelNames[l]
}

// ParseLevel reads a level name as String writes it; "off" is a synonym of
// "none". Case is ignored.
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "none", "off":
		return LevelNone, nil
	case "notice":
		return LevelNotice, nil
	case "warning", "warn":
		return LevelWarning, nil
	case "error":
		return LevelError, nil
	}
	return LevelNone, fmt.Errorf("review: unknown level %q (want off, notice, warning or error)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (l Level) MarshalText() ([]byte, error) {
	if l < LevelNone || l > LevelError {
		return nil, fmt.Errorf("review: invalid level %d", int(l))
	}
	return []byte(levelNames[l]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *Level) UnmarshalText(b []byte) error {
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// Kind classifies a statement.
type Kind string

// The statement kinds.
const (
	KindDDL   Kind = "ddl"   // changes schema: CREATE, ALTER, DROP, TRUNCATE, RENAME
	KindDML   Kind = "dml"   // changes rows: INSERT, REPLACE, UPDATE, DELETE, LOAD DATA
	KindQuery Kind = "query" // reads: SELECT, SHOW, EXPLAIN, DESCRIBE
	KindOther Kind = "other" // everything else: USE, SET, transactions, grants
)

// Risk is how much harm a statement can do if it is wrong.
type Risk int

// The risk levels.
const (
	RiskLow Risk = iota
	RiskModerate
	RiskHigh
)

var riskNames = [...]string{"low", "moderate", "high"}

// String returns "low", "moderate" or "high".
func (r Risk) String() string {
	if r < RiskLow || r > RiskHigh {
		return fmt.Sprintf("Risk(%d)", int(r))
	}
	return riskNames[r]
}

// MarshalText implements encoding.TextMarshaler.
func (r Risk) MarshalText() ([]byte, error) {
	if r < RiskLow || r > RiskHigh {
		return nil, fmt.Errorf("review: invalid risk %d", int(r))
	}
	return []byte(riskNames[r]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Risk) UnmarshalText(b []byte) error {
	for i, n := range riskNames {
		if strings.EqualFold(n, string(b)) {
			*r = Risk(i)
			return nil
		}
	}
	return fmt.Errorf("review: unknown risk %q", b)
}

// Finding is one problem a rule found in a statement.
type Finding struct {
	// Rule is the ID of the rule that found it ("parse.error" for a
	// statement the parser cannot read).
	Rule  string `json:"rule"`
	Level Level  `json:"level"`
	// Message says what is wrong and names the table, column or index.
	Message string `json:"message"`
	// Position is where in the script the problem is: the statement's
	// start unless the rule could point closer.
	Position Position `json:"position"`
}

// Statement is the review of one statement of a script.
type Statement struct {
	// Index counts statements from 0 in script order.
	Index int `json:"index"`
	// Text is the statement as written in the script, comments inside it
	// included, without its delimiter.
	Text string `json:"text"`
	// Position is where Text starts; End is the byte offset just after it.
	Position Position `json:"position"`
	End      int      `json:"end"`
	Kind     Kind     `json:"kind"`
	// Type names the statement: "CREATE TABLE", "UPDATE", "SET".
	Type string `json:"type"`
	// Tables are the tables the statement changes or reads, as
	// database.table when the database is known.
	Tables []string `json:"tables"`
	// Findings are in rule order; never nil.
	Findings []Finding `json:"findings"`
	// Level is the highest level among Findings.
	Level Level `json:"level"`
	Risk  Risk  `json:"risk"`
	// AffectedRows estimates how many rows an UPDATE, DELETE or INSERT ...
	// SELECT changes, from the catalog's EXPLAIN; nil when there is no
	// estimate. It is the optimizer's estimate, not a count, and can be far
	// off.
	AffectedRows *int64 `json:"affected_rows,omitempty"`
	// TableRows is the catalog's estimate of the rows in the statement's
	// main table before it runs; nil when unknown.
	TableRows *int64 `json:"table_rows,omitempty"`
	// Algorithm is the predicted way the server runs an ALTER TABLE,
	// CREATE INDEX or DROP INDEX: "INSTANT", "INPLACE" or "COPY" (COPY when
	// the statement asks for ALGORITHM=COPY); empty for other statements.
	Algorithm string `json:"algorithm,omitempty"`
	// Routine describes a statement that creates, changes or drops a
	// stored program (procedure, function, trigger, event); nil for
	// other statements.
	Routine *Routine `json:"routine,omitempty"`
}

// Summary sums up a script's review.
type Summary struct {
	// Policy names the policy the script was reviewed under.
	Policy     string `json:"policy"`
	Statements int    `json:"statements"`
	Errors     int    `json:"errors"`
	Warnings   int    `json:"warnings"`
	Notices    int    `json:"notices"`
	// Level is the highest level of any finding.
	Level Level `json:"level"`
	// Risk is the highest risk of any statement.
	Risk Risk `json:"risk"`
	// Pass is false when a finding reaches the policy's FailLevel.
	Pass bool `json:"pass"`
	// Notes say what the review could not do, such as catalog lookups that
	// failed; never nil.
	Notes []string `json:"notes"`
}

// Result is the review of a whole script. Its JSON encoding is stable:
// fields are only ever added.
type Result struct {
	Statements []Statement `json:"statements"`
	Summary    Summary     `json:"summary"`
}

// Findings returns every finding of every statement in script order.
func (r *Result) Findings() []Finding {
	var out []Finding
	for i := range r.Statements {
		out = append(out, r.Statements[i].Findings...)
	}
	return out
}

// JSON returns the result as indented JSON.
func (r *Result) JSON() ([]byte, error) {
	return json.MarshalIndent(r, "", "  ")
}
