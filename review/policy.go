package review

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Policy sets the level and parameters of rules, and what fails a script.
// A host application can keep policies as JSON or YAML (see ParsePolicy);
// the same names are used in both:
//
//	name: prod
//	base: prod            # start from a built-in policy: dev or prod
//	fail_level: warning   # a warning or error fails the script
//	big_table_rows: 1000000
//	rules:
//	  dml.require-limit: {level: error}
//	  table.max-columns: {params: {max: 80}}
//	  column.require-comment: {level: off}
//
// Rules the policy does not name keep their base policy's settings, or
// their defaults.
type Policy struct {
	Name string `json:"name" yaml:"name"`
	// Base names a built-in policy ("dev" or "prod") this one starts from.
	Base string `json:"base,omitempty" yaml:"base,omitempty"`
	// FailLevel is the lowest finding level that fails a script; the zero
	// value means LevelError.
	FailLevel Level `json:"fail_level,omitempty" yaml:"fail_level,omitempty"`
	// BigTableRows is the row count from which a table counts as big and
	// raises a statement's risk; 0 means 1,000,000.
	BigTableRows int64 `json:"big_table_rows,omitempty" yaml:"big_table_rows,omitempty"`
	// BigAffectedRows is the estimated affected-row count from which a
	// statement's risk is raised; 0 means 10,000.
	BigAffectedRows int64 `json:"big_affected_rows,omitempty" yaml:"big_affected_rows,omitempty"`
	// Rules maps rule IDs to their settings.
	Rules map[string]RuleConfig `json:"rules,omitempty" yaml:"rules,omitempty"`
}

// RuleConfig is a policy's setting of one rule.
type RuleConfig struct {
	// Level replaces the rule's default level; "off" (LevelNone) disables
	// the rule. Nil keeps the default.
	Level *Level `json:"level,omitempty" yaml:"level,omitempty"`
	// Params replaces some of the rule's parameters, by name.
	Params map[string]any `json:"params,omitempty" yaml:"params,omitempty"`
}

// Lvl returns a pointer to l, for RuleConfig.Level.
func Lvl(l Level) *Level { return &l }

// ParsePolicy reads a policy written as JSON (when data starts with "{")
// or YAML. Unknown fields are errors. Rule IDs and parameters are checked
// when the policy is given to New.
func ParsePolicy(data []byte) (*Policy, error) {
	var p Policy
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("{")) {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		dec.UseNumber()
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("review: policy JSON: %w", err)
		}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(trimmed))
		dec.KnownFields(true)
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("review: policy YAML: %w", err)
		}
	}
	if p.Name == "" {
		return nil, fmt.Errorf("review: policy has no name")
	}
	return &p, nil
}

// DefaultPolicy returns the policy of each rule's defaults, named "default".
func DefaultPolicy() *Policy { return &Policy{Name: "default"} }

// DevPolicy returns the built-in "dev" policy, for development databases:
// destructive statements are warnings, naming, comment and
// documentation rules are notices or off, and only errors fail.
func DevPolicy() *Policy {
	return &Policy{
		Name:            "dev",
		FailLevel:       LevelError,
		BigTableRows:    10_000_000,
		BigAffectedRows: 1_000_000,
		Rules: map[string]RuleConfig{
			"ddl.drop-table":          {Level: Lvl(LevelWarning)},
			"ddl.drop-database":       {Level: Lvl(LevelWarning)},
			"ddl.truncate":            {Level: Lvl(LevelWarning)},
			"ddl.lossy-type-change":   {Level: Lvl(LevelWarning)},
			"table.require-comment":   {Level: Lvl(LevelNotice)},
			"column.require-comment":  {Level: Lvl(LevelOff)},
			"table.required-columns":  {Level: Lvl(LevelNotice)},
			"script.mixed-ddl-dml":    {Level: Lvl(LevelOff)},
			"script.use-statement":    {Level: Lvl(LevelOff)},
			"dml.select-star":         {Level: Lvl(LevelOff)},
			"dml.max-affected-rows":   {Params: map[string]any{"max": 1_000_000}},
			"ddl.big-table-alter":     {Params: map[string]any{"rows": 10_000_000}},
			"script.query-in-change":  {Level: Lvl(LevelOff)},
			"naming.no-backup-names":  {Level: Lvl(LevelOff)},
			"dml.require-where":       {Level: Lvl(LevelWarning)},
			"dml.always-true-where":   {Level: Lvl(LevelWarning)},
			"script.banned-statement": {Params: map[string]any{"types": []string{"SHUTDOWN", "KILL"}}},
		},
	}
}

// ProdPolicy returns the built-in "prod" policy, for production databases:
// every rule at its default level or stricter, LIMIT required on UPDATE and
// DELETE, and a warning fails the script.
func ProdPolicy() *Policy {
	return &Policy{
		Name:            "prod",
		FailLevel:       LevelWarning,
		BigTableRows:    1_000_000,
		BigAffectedRows: 10_000,
		Rules: map[string]RuleConfig{
			"dml.require-limit":     {Level: Lvl(LevelWarning)},
			"ddl.alter-copy":        {Level: Lvl(LevelError)},
			"ddl.big-table-alter":   {Level: Lvl(LevelWarning)},
			"dml.max-affected-rows": {Level: Lvl(LevelError)},
			"ddl.drop-column":       {Level: Lvl(LevelError)},
			"dml.multi-table":       {Level: Lvl(LevelError)},
			"dml.select-star":       {Level: Lvl(LevelWarning)},
			"script.mixed-ddl-dml":  {Level: Lvl(LevelError)},
			"column.no-timestamp":   {Level: Lvl(LevelWarning)},
		},
	}
}

// LevelOff is LevelNone, for turning rules off in a policy.
const LevelOff = LevelNone

// builtinPolicy returns the built-in policy called name, or nil.
func builtinPolicy(name string) *Policy {
	switch name {
	case "dev":
		return DevPolicy()
	case "prod":
		return ProdPolicy()
	case "default":
		return DefaultPolicy()
	}
	return nil
}

// BuiltinPolicy returns a fresh copy of the built-in policy called name
// ("default", "dev" or "prod"), or an error naming it.
func BuiltinPolicy(name string) (*Policy, error) {
	if p := builtinPolicy(name); p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("review: no built-in policy %q (want default, dev or prod)", name)
}

// compiledRule is a rule with its level and parameter values under a policy.
type compiledRule struct {
	rule   *Rule
	level  Level
	params []any // in rule.Params order
}

// compiledPolicy is a policy resolved against a rule set.
type compiledPolicy struct {
	name            string
	failLevel       Level
	bigTableRows    int64
	bigAffectedRows int64
	all             []compiledRule // every rule, off ones included, by ID
	active          []compiledRule // the rules that are on
}

// compilePolicy resolves p (the default policy when nil) against rules
// (sorted by ID): p's settings over its base's, if it names one. An
// unknown base or rule, an unknown parameter or a value out of range is
// an error naming p.
func compilePolicy(p *Policy, rules []Rule) (*compiledPolicy, error) {
	if p == nil {
		p = DefaultPolicy()
	}
	cp := &compiledPolicy{name: p.Name, failLevel: LevelError, bigTableRows: 1_000_000, bigAffectedRows: 10_000}
	layers := []*Policy{p}
	if p.Base != "" {
		base := builtinPolicy(p.Base)
		if base == nil {
			return nil, fmt.Errorf("review: policy %s: unknown base policy %q (want default, dev or prod)", p.Name, p.Base)
		}
		layers = []*Policy{base, p}
	}
	settings := map[string]RuleConfig{}
	for _, l := range layers {
		if err := cp.applyLayer(l, settings); err != nil {
			return nil, err
		}
	}
	byID := map[string]*Rule{}
	for i := range rules {
		byID[rules[i].ID] = &rules[i]
	}
	for _, id := range slices.Sorted(maps.Keys(settings)) {
		if byID[id] == nil {
			return nil, fmt.Errorf("review: policy %s: rule %q: %w", p.Name, id, ErrUnknownRule)
		}
	}
	for i := range rules {
		cr, err := cp.compileRule(&rules[i], settings[rules[i].ID])
		if err != nil {
			return nil, err
		}
		cp.all = append(cp.all, cr)
		if cr.level != LevelNone {
			cp.active = append(cp.active, cr)
		}
	}
	return cp, nil
}

// applyLayer applies the policy layer l over what earlier layers set: its
// fail level and thresholds when set (not zero) replace cp's, and its
// rule settings merge into settings by rule ID (a level replaces, params
// are merged name by name). An invalid fail level or a negative threshold
// is an error.
func (cp *compiledPolicy) applyLayer(l *Policy, settings map[string]RuleConfig) error {
	if l.FailLevel < LevelNone || l.FailLevel > LevelError {
		return fmt.Errorf("review: policy %s: invalid fail_level %d", cp.name, int(l.FailLevel))
	}
	if l.FailLevel != LevelNone {
		cp.failLevel = l.FailLevel
	}
	if l.BigTableRows < 0 || l.BigAffectedRows < 0 {
		return fmt.Errorf("review: policy %s: negative big_table_rows or big_affected_rows", cp.name)
	}
	if l.BigTableRows > 0 {
		cp.bigTableRows = l.BigTableRows
	}
	if l.BigAffectedRows > 0 {
		cp.bigAffectedRows = l.BigAffectedRows
	}
	for _, id := range slices.Sorted(maps.Keys(l.Rules)) {
		cfg := l.Rules[id]
		prev := settings[id]
		if cfg.Level != nil {
			prev.Level = cfg.Level
		}
		if len(cfg.Params) > 0 {
			merged := maps.Clone(prev.Params)
			if merged == nil {
				merged = map[string]any{}
			}
			maps.Copy(merged, cfg.Params)
			prev.Params = merged
		}
		settings[id] = prev
	}
	return nil
}

// compileRule is r under the policy's settings cfg for it: cfg's level
// or r's default, and each parameter converted to the type of its
// default (a pattern also compiled), or its default when cfg does not
// set it. An invalid level, an unknown parameter or a value that does not
// convert is an error naming the policy and the rule.
func (cp *compiledPolicy) compileRule(r *Rule, cfg RuleConfig) (compiledRule, error) {
	cr := compiledRule{rule: r, level: r.Level, params: make([]any, len(r.Params))}
	if cfg.Level != nil {
		if *cfg.Level < LevelNone || *cfg.Level > LevelError {
			return compiledRule{}, fmt.Errorf("review: policy %s: rule %s: invalid level %d", cp.name, r.ID, int(*cfg.Level))
		}
		cr.level = *cfg.Level
	}
	for name := range cfg.Params {
		if !slices.ContainsFunc(r.Params, func(p Param) bool { return p.Name == name }) {
			return compiledRule{}, fmt.Errorf("review: policy %s: rule %s has no parameter %q", cp.name, r.ID, name)
		}
	}
	for j, prm := range r.Params {
		cr.params[j] = prm.Default
		v, ok := cfg.Params[prm.Name]
		if !ok {
			continue
		}
		conv, err := convertParam(v, prm.Default)
		if err != nil {
			return compiledRule{}, fmt.Errorf("review: policy %s: rule %s: parameter %s: %w", cp.name, r.ID, prm.Name, err)
		}
		if prm.Name == "pattern" {
			if _, err := compiled(conv.(string)); err != nil {
				return compiledRule{}, fmt.Errorf("review: policy %s: rule %s: parameter pattern: %w", cp.name, r.ID, err)
			}
		}
		cr.params[j] = conv
	}
	return cr, nil
}

// convertParam converts a value decoded from JSON or YAML (or set in Go) to
// the type of def.
func convertParam(v, def any) (any, error) {
	switch def.(type) {
	case int:
		switch n := v.(type) {
		case int:
			return n, nil
		case int64:
			return int(n), nil
		case uint64:
			if n <= math.MaxInt {
				return int(n), nil
			}
		case float64:
			if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
				return int(n), nil
			}
		case json.Number:
			if i, err := n.Int64(); err == nil {
				return int(i), nil
			}
		}
		return nil, fmt.Errorf("want an integer, got %v (%T)", v, v)
	case bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("want true or false, got %v (%T)", v, v)
	case string:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, fmt.Errorf("want a string, got %v (%T)", v, v)
	case []string:
		switch l := v.(type) {
		case []string:
			return slices.Clone(l), nil
		case []any:
			out := make([]string, 0, len(l))
			for _, e := range l {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("want a list of strings, got element %v (%T)", e, e)
				}
				out = append(out, s)
			}
			return out, nil
		case string:
			return strings.Fields(strings.ReplaceAll(l, ",", " ")), nil
		}
		return nil, fmt.Errorf("want a list of strings, got %v (%T)", v, v)
	}
	return nil, fmt.Errorf("unsupported parameter type %T", def)
}
